//! `cargo xtask`: the project's own tooling.
//!
//! * `cargo xtask ci` — everything CI checks (fmt, clippy, tests on this kernel and on Debian
//!   12's kernels in a VM, 32-bit and musl tests, docs, no_std build, miri, fuzz smoke).
//! * `cargo xtask vm` — only the kernel tests on Debian 12's 6.1 and 6.12 kernels, in qemu.
//! * `cargo xtask publishable` — only the packaging check: each crate builds from its package.
//! * `cargo xtask lint` — house rules the compiler does not check (function length).
//! * `cargo xtask fixtures` — captures real kernel replies into `conntrack-wire/tests/fixtures`.
//! * `cargo xtask fuzz [SECONDS]` — runs every fuzz target.
//! * `cargo xtask bench` — installs the peers, runs the benchmarks, writes BENCHMARKS.md.
//! * `cargo xtask demo` — runs `ctrack demo`.

mod bench;
mod ci;
mod fixtures;
mod lint;
mod vm;

use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let r = match args.first().map(String::as_str) {
        Some("ci") => ci::run(),
        Some("fixtures") => fixtures::run(),
        Some("lint") => lint::run(),
        Some("vm") => ci::vm(),
        Some("publishable") => ci::publishable(),
        Some("fuzz") => ci::fuzz(args.get(1).and_then(|s| s.parse().ok()).unwrap_or(60)),
        Some("bench") => bench::run(),
        Some("demo") => sh(
            "cargo",
            &[
                "run",
                "--release",
                "-p",
                "conntrack",
                "--features",
                "cli",
                "--bin",
                "ctrack",
                "--",
                "demo",
            ],
        ),
        _ => {
            eprintln!(
                "usage: cargo xtask <ci | vm | publishable | lint | fixtures | fuzz [SECONDS] | bench | demo>"
            );
            return ExitCode::from(2);
        }
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs a command from the workspace root, failing on a non-zero exit.
pub(crate) fn sh(cmd: &str, args: &[&str]) -> Result<(), String> {
    sh_env(cmd, args, &[])
}

/// Runs a command with extra environment variables.
pub(crate) fn sh_env(cmd: &str, args: &[&str], env: &[(&str, &str)]) -> Result<(), String> {
    eprintln!("$ {} {}", cmd, args.join(" "));
    let st = Command::new(cmd)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(root())
        .status()
        .map_err(|e| format!("cannot run {cmd}: {e}"))?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("`{cmd} {}` failed: {st}", args.join(" ")))
    }
}

/// Returns the workspace root.
pub(crate) fn root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Into::into)
        .unwrap_or_default()
}

/// Returns the workspace's declared minimum Rust version (`rust-version` in the root
/// `Cargo.toml`).
pub(crate) fn workspace_rust_version() -> Result<String, String> {
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).map_err(|e| e.to_string())?;
    manifest
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .map(|v| v.trim().trim_matches('"').to_owned())
        .ok_or_else(|| "no rust-version in the workspace's Cargo.toml".into())
}

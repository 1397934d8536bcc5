//! `cargo xtask ci` and `cargo xtask fuzz`.

use crate::{sh, sh_env};

/// The fuzz targets, one per parser or builder family (see `fuzz/fuzz_targets`).
pub(crate) const FUZZ_TARGETS: &[&str] = &["messages", "conn", "exp", "roundtrip"];

/// Returns whether a command runs successfully (quietly).
fn works(cmd: &str, args: &[&str]) -> bool {
    std::process::Command::new(cmd)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Installs what the checks need when it is missing, so that `cargo xtask ci` works on a fresh
/// machine by itself (`.ci/run` does the same up front).
fn prepare() -> Result<(), String> {
    let apt = [
        "conntrack",
        "nftables",
        "iproute2",
        "iputils-ping",
        "libnetfilter-conntrack-dev",
        "pkg-config",
    ];
    if !works("conntrack", &["--version"])
        || !works("pkg-config", &["--exists", "libnetfilter_conntrack"])
    {
        let mut args = vec!["install", "-y", "-q", "--no-install-recommends"];
        args.extend(apt);
        sh("apt-get", &args)?;
    }
    if !works("rustup", &["target", "list", "--installed"]) {
        return Err("rustup is needed to add the thumbv7em target and nightly miri".into());
    }
    sh("rustup", &["target", "add", "thumbv7em-none-eabihf"])?;
    if !works("cargo", &["+nightly", "miri", "--version"]) {
        sh(
            "rustup",
            &["toolchain", "install", "nightly", "--profile", "minimal"],
        )?;
        sh(
            "rustup",
            &[
                "component",
                "add",
                "--toolchain",
                "nightly",
                "miri",
                "rust-src",
            ],
        )?;
    }
    if !works("cargo", &["fuzz", "--version"]) {
        sh("cargo", &["install", "cargo-fuzz", "--locked"])?;
    }
    Ok(())
}

pub(crate) fn run() -> Result<(), String> {
    prepare()?;
    sh("cargo", &["fmt", "--all", "--check"])?;
    sh(
        "cargo",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    sh("cargo", &["test", "--workspace", "--all-features"])?;
    // every benchmark once, on a small table, so none can rot (no timing is checked)
    sh(
        "cargo",
        &["bench", "-p", "conntrack-benches", "--", "--test"],
    )?;
    sh_env(
        "cargo",
        &["doc", "--workspace", "--no-deps", "--all-features"],
        &[("RUSTDOCFLAGS", "-D warnings")],
    )?;
    sh(
        "cargo",
        &[
            "build",
            "-p",
            "conntrack-wire",
            "--no-default-features",
            "--target",
            "thumbv7em-none-eabihf",
        ],
    )?;
    sh(
        "cargo",
        &[
            "build",
            "-p",
            "conntrack-wire",
            "--no-default-features",
            "--features",
            "heapless,defmt",
            "--target",
            "thumbv7em-none-eabihf",
        ],
    )?;
    sh_env(
        "cargo",
        &["+nightly", "miri", "test", "-p", "conntrack-wire"],
        &[("MIRIFLAGS", "-Zmiri-disable-isolation")],
    )?;
    fuzz(30)
}

pub(crate) fn fuzz(seconds: u32) -> Result<(), String> {
    let t = format!("-max_total_time={seconds}");
    for target in FUZZ_TARGETS {
        sh_env(
            "cargo",
            &[
                "+nightly",
                "fuzz",
                "run",
                "--fuzz-dir",
                "fuzz",
                target,
                "--",
                &t,
                "-rss_limit_mb=2048",
            ],
            &[],
        )?;
    }
    Ok(())
}

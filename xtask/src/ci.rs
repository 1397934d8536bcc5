//! `cargo xtask ci` and `cargo xtask fuzz`.

use crate::{sh, sh_env};

/// The fuzz targets, one per parser or builder family (see `fuzz/fuzz_targets`).
pub(crate) const FUZZ_TARGETS: &[&str] = &["messages", "conn", "exp", "roundtrip"];

pub(crate) fn run() -> Result<(), String> {
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

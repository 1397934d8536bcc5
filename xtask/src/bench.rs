//! `cargo xtask bench`: installs the peers (Debian packages), runs the offline and live
//! benchmarks side by side, and writes BENCHMARKS.md with the command and the output.

use crate::{root, sh};
use std::process::Command;

pub(crate) fn run() -> Result<(), String> {
    if !nix::unistd::geteuid().is_root() {
        return Err(
            "cargo xtask bench needs root (private network namespaces, ctnetlink, apt-get)".into(),
        );
    }
    sh(
        "apt-get",
        &[
            "install",
            "-y",
            "-q",
            "--no-install-recommends",
            "conntrack",
            "nftables",
            "libnetfilter-conntrack-dev",
            "pkg-config",
        ],
    )?;
    let run = |bench: &str| -> Result<String, String> {
        eprintln!("$ cargo bench -p conntrack-benches --bench {bench}");
        let out = Command::new("cargo")
            .args(["bench", "-p", "conntrack-benches", "--bench", bench])
            .current_dir(root())
            .output()
            .map_err(|e| e.to_string())?;
        eprint!("{}", String::from_utf8_lossy(&out.stderr));
        if !out.status.success() {
            return Err(format!("bench {bench} failed"));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let live = run("live")?;
    let decode = run("decode")?;
    let kernel = Command::new("uname")
        .arg("-r")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let date = Command::new("date")
        .arg("-u")
        .arg("+%Y-%m-%d")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let text = format!(
        "# Benchmarks\n\nProduced by `cargo xtask bench` (as root) on {date}, kernel {kernel}, {cpus} CPUs. \
Every row of a table was measured in the same run, side by side (interleaved rounds; the live \
section states how many). Ratios are to the floor row of the same operation. Do not edit: run the command again. \
Where a one-thread event drain spends its time, and what keeps it under 0.95x of the floor, is \
profiled in `docs/drain-profile.md`.\n\n\
## Live (`benches/benches/live/main.rs`, a private network namespace)\n\n{live}\n\
## Offline decode of the captured fixtures (`benches/benches/decode.rs`)\n\n```\n{decode}```\n"
    );
    std::fs::write(root().join("BENCHMARKS.md"), text).map_err(|e| e.to_string())?;
    eprintln!("wrote BENCHMARKS.md");
    Ok(())
}

//! `cargo xtask ci` and `cargo xtask fuzz`.

use crate::{sh, sh_env};

/// The fuzz targets, one per parser or builder family (see `fuzz/fuzz_targets`).
pub(crate) const FUZZ_TARGETS: &[&str] = &["messages", "conn", "exp", "roundtrip", "bpf"];

/// Returns whether a command runs successfully (quietly).
fn works(cmd: &str, args: &[&str]) -> bool {
    std::process::Command::new(cmd)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Installs what the checks need when it is missing, so that `cargo xtask ci` is the one
/// command that prepares a fresh Debian machine (as root): conntrack-tools (the independent
/// oracle), nftables and iproute2 (test namespaces), ping, libnetfilter_conntrack (the C
/// peer the benchmarks link), the label map, the no_std target, nightly miri, cargo-fuzz.
/// Runs `apt-get` (through sudo as an ordinary user: for installing packages only).
fn apt_get(args: &[&str]) -> Result<(), String> {
    if nix::unistd::geteuid().is_root() {
        sh_env("apt-get", args, &[("DEBIAN_FRONTEND", "noninteractive")])
    } else {
        let mut a = vec!["DEBIAN_FRONTEND=noninteractive", "apt-get"];
        a.extend_from_slice(args);
        sh("sudo", &a)
    }
}

fn prepare() -> Result<(), String> {
    let apt = [
        "conntrack",
        "nftables",
        "iproute2",
        "iputils-ping",
        "libnetfilter-conntrack-dev",
        "pkg-config",
        "gcc",
        "gcc-multilib",
        // `ctrack exporter`'s tests: a real Prometheus server and promtool.
        "prometheus",
        // `ctrack top`'s tests: a terminal to run it in.
        "tmux",
    ];
    if !works("conntrack", &["--version"])
        || !works("promtool", &["--version"])
        || !works("tmux", &["-V"])
        || !works("nft", &["--version"])
        || !works("ip", &["-V"])
        || !works("ping", &["-V"])
        || !works("pkg-config", &["--exists", "libnetfilter_conntrack"])
        || !std::path::Path::new("/usr/lib/gcc/x86_64-linux-gnu/12/32").exists()
    {
        if apt_get(&["update", "-q"]).is_err() {
            eprintln!("apt-get update failed; trying the cached package lists");
        }
        let mut args = vec!["install", "-y", "-q", "--no-install-recommends"];
        args.extend(apt);
        apt_get(&args)?;
    }
    // The tests compare label output, which conntrack-tools prints by name only with a map.
    crate::fixtures::ensure_connlabel_conf()?;
    if !works("rustup", &["target", "list", "--installed"]) {
        return Err("rustup is needed to add the thumbv7em target and nightly miri".into());
    }
    // The no_std codec for a microcontroller; the static musl builds, 64-bit and 32-bit;
    // 32-bit glibc (the compat system-call paths); the ARM routers and servers.
    sh(
        "rustup",
        &[
            "target",
            "add",
            "thumbv7em-none-eabihf",
            "x86_64-unknown-linux-musl",
            "i686-unknown-linux-musl",
            "i686-unknown-linux-gnu",
            "aarch64-unknown-linux-musl",
            "armv7-unknown-linux-gnueabihf",
        ],
    )?;
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
    sh("cargo", &["+nightly", "miri", "setup"])?;
    if !works("cargo", &["fuzz", "--version"]) {
        sh("cargo", &["install", "cargo-fuzz", "--locked"])?;
    }
    Ok(())
}

pub(crate) fn run() -> Result<(), String> {
    prepare()?;
    static_checks()?;
    crate::lint::run()?;
    let root = nix::unistd::geteuid().is_root();
    tests(root)?;
    feature_matrix(root)?;
    publishable()?;
    other_targets(root)?;
    benches_once(root)?;
    docs_and_no_std()?;
    miri_and_fuzz()
}

/// Formatting and clippy.
fn static_checks() -> Result<(), String> {
    sh("cargo", &["fmt", "--all", "--check"])?;
    sh(
        "cargo",
        &[
            "clippy",
            "--locked",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    Ok(())
}

/// The workspace's tests: as root, then again as an ordinary user and on Debian 12's kernels
/// in a VM; as an ordinary user, all but the tests that need the initial namespace's root.
fn tests(root: bool) -> Result<(), String> {
    if root {
        sh(
            "cargo",
            &["test", "--locked", "--workspace", "--all-features"],
        )?;
        // And the kernel tests once more as an ordinary user (uid 65534), where each runs
        // itself inside a user namespace: nothing but the *_needs_root tests may need root.
        unprivileged_kernel_tests()?;
        // And on Debian 12's kernels, in a VM: every test must pass there too, asserting the
        // documented fallback where the older kernel lacks a feature.
        crate::vm::run(&test_binaries()?)?;
    } else {
        // Each kernel test runs in a user namespace of its own; the few that need the
        // initial namespace's root (named *_needs_root) are left out, and said so.
        sh(
            "cargo",
            &[
                "test",
                "--locked",
                "--workspace",
                "--all-features",
                "--",
                "--skip",
                "needs_root",
            ],
        )?;
        eprintln!(
            "note: the tests named *_needs_root were skipped (they need root in the initial \
             namespace): run `sudo cargo xtask ci` or `cargo test -- needs_root` as root to include them"
        );
        eprintln!(
            "note: the kernel tests on Debian 12's 6.1 and 6.12 kernels (in a VM) were skipped: \
             they load modules in the guest, which needs root (run `sudo cargo xtask ci`)"
        );
    }
    Ok(())
}

/// Every benchmark once, on a small table, so that none can rot (no timing is checked).
fn benches_once(root: bool) -> Result<(), String> {
    if root {
        sh(
            "cargo",
            &["bench", "-p", "conntrack-benches", "--", "--test"],
        )?;
    } else {
        // The live bench forces 256 MiB receive buffers (SO_RCVBUFFORCE): root only.
        sh(
            "cargo",
            &[
                "bench",
                "-p",
                "conntrack-benches",
                "--bench",
                "decode",
                "--",
                "--test",
            ],
        )?;
        eprintln!("note: the live benchmark was skipped (it needs root for its receive buffers)");
    }
    Ok(())
}

/// The docs (no warnings) and the codec's `no_std` builds.
fn docs_and_no_std() -> Result<(), String> {
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
    Ok(())
}

/// The codec under miri, every fuzz target for a while, and every input the fuzzer kept
/// replayed on a 32-bit target.
fn miri_and_fuzz() -> Result<(), String> {
    sh_env(
        "cargo",
        &["+nightly", "miri", "test", "-p", "conntrack-wire"],
        &[("MIRIFLAGS", "-Zmiri-disable-isolation")],
    )?;
    fuzz(30)?;
    // Every input the fuzzer kept, through the same checks on a 32-bit target.
    sh_env(
        "cargo",
        &[
            "test",
            "-p",
            "conntrack-wire",
            "--target",
            "i686-unknown-linux-gnu",
            "--features",
            "testing",
            "--test",
            "fuzz_corpus",
        ],
        &[("FUZZ_CORPUS_REQUIRED", "1")],
    )
}

/// The `conntrack` crate's tests with no features and with each feature alone (all of them
/// together ran above), so that no feature leans on another without saying so.
fn feature_matrix(root: bool) -> Result<(), String> {
    for features in ["", "tokio", "serde", "testing", "cli"] {
        let mut args = vec![
            "test",
            "--locked",
            "-p",
            "conntrack",
            "--no-default-features",
        ];
        if !features.is_empty() {
            args.extend(["--features", features]);
        }
        if !root {
            args.extend(["--", "--skip", "needs_root"]);
        }
        sh("cargo", &args)?;
    }
    Ok(())
}

/// The crates as they would be published: the declared minimum Rust version builds them
/// (with the locked dependencies), and `cargo package` lists each one's files and makes and
/// builds the three packages.
pub(crate) fn publishable() -> Result<(), String> {
    let msrv = crate::workspace_rust_version()?;
    sh(
        "rustup",
        &["toolchain", "install", &msrv, "--profile", "minimal"],
    )?;
    sh(
        "cargo",
        &[
            &format!("+{msrv}"),
            "check",
            "--locked",
            "-p",
            "conntrack-wire",
            "-p",
            "conntrack-sock",
            "-p",
            "conntrack",
            "--all-features",
        ],
    )?;
    for krate in ["conntrack-wire", "conntrack-sock", "conntrack"] {
        sh(
            "cargo",
            &[
                "package",
                "--locked",
                "--allow-dirty",
                "--list",
                "-p",
                krate,
            ],
        )?;
    }
    forget_unpacked_local_packages()?;
    // Together: `conntrack` depends on the other two by path and version, and cargo resolves
    // them from the packages it makes in the same run (a temporary local registry), so each
    // package is built from its own files alone.
    sh(
        "cargo",
        &[
            "package",
            "--locked",
            "--allow-dirty",
            "-p",
            "conntrack-wire",
            "-p",
            "conntrack-sock",
            "-p",
            "conntrack",
        ],
    )?;
    Ok(())
}

/// Removes what earlier runs unpacked from cargo's temporary package registry.
///
/// `cargo package` unpacks the workspace's own packages under
/// `$CARGO_HOME/registry/src/-<hash of the registry's path>/`, and reuses an unpacked copy it
/// finds there: a machine that ran this check before from the same path (CI's checkout) would
/// verify `conntrack` against an earlier commit's `conntrack-wire`. Only the workspace's own
/// packages are removed, and only from nameless (local) registries.
fn forget_unpacked_local_packages() -> Result<(), String> {
    let home = std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".cargo")))
        .ok_or("neither CARGO_HOME nor HOME is set")?;
    let Ok(registries) = std::fs::read_dir(home.join("registry/src")) else {
        return Ok(());
    };
    for registry in registries.flatten() {
        if !registry.file_name().to_string_lossy().starts_with('-') {
            continue;
        }
        for krate in std::fs::read_dir(registry.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = krate.file_name().to_string_lossy().into_owned();
            if name.starts_with("conntrack-wire-") || name.starts_with("conntrack-sock-") {
                std::fs::remove_dir_all(krate.path())
                    .map_err(|e| format!("removing {}: {e}", krate.path().display()))?;
            }
        }
    }
    Ok(())
}

/// The kernel tests on other C libraries and word sizes (the control-message layout, the C
/// library's types and 32-bit arithmetic differ there), the wire tests on 32-bit, and the
/// library crates built for ARM.
fn other_targets(root: bool) -> Result<(), String> {
    // Static musl builds (small containers).
    sh(
        "cargo",
        &[
            "build",
            "-p",
            "conntrack",
            "--features",
            "cli,tokio",
            "--target",
            "x86_64-unknown-linux-musl",
        ],
    )?;
    for target in [
        "i686-unknown-linux-gnu",
        "i686-unknown-linux-musl",
        "x86_64-unknown-linux-musl",
    ] {
        let mut t = vec![
            "test",
            "-p",
            "conntrack",
            "--all-features",
            "--target",
            target,
            "--test",
            "kernel",
            "--test",
            "events",
            "--test",
            "faults",
            "--test",
            "mirror",
        ];
        if !root {
            t.extend(["--", "--skip", "needs_root"]);
        }
        sh("cargo", &t)?;
    }
    sh(
        "cargo",
        &[
            "test",
            "-p",
            "conntrack-wire",
            "--target",
            "i686-unknown-linux-gnu",
        ],
    )?;
    // 64-bit and 32-bit ARM (OpenWrt routers, Graviton servers). The standard library for
    // armv7-unknown-linux-musleabihf is not on the mirror this CI reaches (404), so 32-bit
    // ARM is built against glibc: the same word size and ABI for this code.
    for target in [
        "aarch64-unknown-linux-musl",
        "armv7-unknown-linux-gnueabihf",
    ] {
        sh(
            "cargo",
            &[
                "build",
                "-p",
                "conntrack-wire",
                "-p",
                "conntrack-sock",
                "-p",
                "conntrack",
                "--features",
                "conntrack/tokio,conntrack/serde",
                "--target",
                target,
            ],
        )?;
    }
    Ok(())
}

/// `cargo xtask vm`: only the kernel tests on Debian 12's kernels, in a VM (root).
pub(crate) fn vm() -> Result<(), String> {
    crate::vm::run(&test_binaries()?)
}

/// The `conntrack` crate's integration test binaries (built), relative to the checkout.
fn test_binaries() -> Result<Vec<String>, String> {
    let out = std::process::Command::new("cargo")
        .args(["test", "-p", "conntrack", "--all-features", "--no-run"])
        .current_dir(crate::root())
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err("cargo test --no-run failed".into());
    }
    // "  Executable tests/kernel.rs (target/debug/deps/kernel-0123abcd)"
    let listing = String::from_utf8_lossy(&out.stderr);
    let binaries: Vec<String> = listing
        .lines()
        .filter(|l| l.trim_start().starts_with("Executable tests/"))
        .filter_map(|l| l.rsplit_once('(')?.1.strip_suffix(')').map(String::from))
        .collect();
    if binaries.is_empty() {
        return Err("no kernel test binaries found".into());
    }
    Ok(binaries)
}

/// Runs the `conntrack` crate's test binaries as uid 65534 (with `setpriv`), leaving out the
/// tests named `*_needs_root`.
fn unprivileged_kernel_tests() -> Result<(), String> {
    let binaries = test_binaries()?;
    // Copied, with ctrack, where uid 65534 can reach them whatever the checkout's path.
    let dir = std::env::temp_dir().join(format!("conntrack-unprivileged-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let copy = |from: &std::path::Path| -> Result<String, String> {
        let to = dir.join(from.file_name().unwrap_or_default());
        std::fs::copy(from, &to).map_err(|e| format!("{}: {e}", from.display()))?;
        Ok(to.to_string_lossy().into_owned())
    };
    let run = (|| -> Result<(), String> {
        let ctrack = copy(&crate::root().join("target/debug/ctrack"))?;
        sh("chmod", &["-R", "a+rX", &dir.to_string_lossy()])?;
        for b in &binaries {
            let exe = copy(&crate::root().join(b))?;
            sh_env(
                "setpriv",
                &[
                    "--reuid=65534",
                    "--regid=65534",
                    "--clear-groups",
                    &exe,
                    "--skip",
                    "needs_root",
                ],
                &[("CTRACK_BIN", &ctrack)],
            )?;
        }
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&dir);
    run
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

//! The kernel tests on Debian 12's kernels (6.1 LTS, and 6.12 from its security updates),
//! booted in qemu with this machine's root file system through virtme-ng, under software
//! emulation (`/dev/kvm` is not usable for a stock kernel here).
//!
//! The guest sees the host's root read-only, with throw-away layers over /tmp, /var and
//! /etc, so the test binaries run from the checkout's `target/`, and the guest script lives
//! there too. The guest prints one `vm-result: N failed` line that decides the outcome.

use crate::{root, sh, sh_env};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The Debian kernels tested: an `apt-cache search` pattern for each, newest build taken.
const KERNELS: &[(&str, &str)] = &[
    ("6.1 LTS (Debian 12)", r"^linux-image-6\.1\.0-[0-9]+-amd64$"),
    (
        "6.12 (Debian 12 security updates)",
        r"^linux-image-6\.12\.[0-9]+\+deb12-amd64$",
    ),
];

/// Modules the tests use; on a stock kernel they are modules, loaded on demand or here.
const MODULES: &[&str] = &[
    "nf_conntrack_netlink",
    "nf_nat",
    "nf_conntrack_ftp",
    "nf_nat_ftp",
    "nf_conntrack_sip",
    "nf_tables",
    "nft_ct",
    "nft_nat",
];

/// Output of a command, or an error naming it.
fn output(cmd: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {cmd}: {e}"))?;
    if !out.status.success() {
        return Err(format!("`{cmd} {}` failed", args.join(" ")));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Installs qemu, busybox, the kernels and virtme-ng (in a venv under `target/`); returns
/// each kernel's label and image path.
fn prepare() -> Result<Vec<(String, PathBuf)>, String> {
    let mut packages = vec!["qemu-system-x86".to_string(), "busybox-static".to_string()];
    let mut images = Vec::new();
    for (label, pattern) in KERNELS {
        let found = output("apt-cache", &["search", "--names-only", pattern])?;
        let newest = found
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .max_by(|a, b| version_key(a).cmp(&version_key(b)))
            .ok_or_else(|| format!("no Debian package matches {pattern}"))?
            .to_string();
        let release = newest.trim_start_matches("linux-image-").to_string();
        images.push((
            label.to_string(),
            PathBuf::from(format!("/boot/vmlinuz-{release}")),
        ));
        packages.push(newest);
    }
    if !Path::new("/usr/bin/qemu-system-x86_64").exists()
        || images.iter().any(|(_, p)| !p.exists())
        || !Path::new("/bin/busybox").exists()
    {
        let mut args = vec!["install", "-y", "-q", "--no-install-recommends"];
        args.extend(packages.iter().map(String::as_str));
        // virtme-ng boots the image without an initramfs: skip building one (minutes).
        sh_env(
            "apt-get",
            &args,
            &[("DEBIAN_FRONTEND", "noninteractive"), ("INITRD", "No")],
        )?;
    }
    let venv = root().join("target/vng-venv");
    if !venv.join("bin/vng").exists() {
        sh("python3", &["-m", "venv", &venv.to_string_lossy()])?;
        sh(
            &venv.join("bin/pip").to_string_lossy(),
            &["install", "-q", "virtme-ng"],
        )?;
    }
    Ok(images)
}

/// Boots `image` and runs the guest script; returns what the guest printed and how vng
/// ended.
fn boot(image: &Path, guest: &Path, path: &str) -> Result<(String, String), String> {
    let mut child = Command::new("vng")
        .args([
            "--run",
            &image.to_string_lossy(),
            "--disable-kvm",
            "--force-9p",
            "--memory",
            "4G",
            "--cpus",
            "2",
            "--exec",
            &format!("bash {}", guest.display()),
        ])
        .env("PATH", path)
        .current_dir(root())
        .stdout(Stdio::piped())
        // Piped, never inherited: qemu opens its console on /proc/self/fd/2, and when that is
        // a file (a CI log) it would truncate it.
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run vng: {e}"))?;
    let err = child.stderr.take().map(|mut e| {
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut e, &mut std::io::stderr());
        })
    });
    // Echoed line by line as the guest prints (a run takes minutes under emulation); read to
    // the end whatever the bytes (a line that is not UTF-8 must not stop the reading).
    let mut text = String::new();
    if let Some(out) = child.stdout.take() {
        let mut r = BufReader::new(out);
        let mut line = Vec::new();
        while r.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
            let l = String::from_utf8_lossy(&line);
            eprint!("{l}");
            text.push_str(&l);
            line.clear();
        }
    }
    let status = child
        .wait()
        .map_or_else(|e| e.to_string(), |s| s.to_string());
    if let Some(t) = err {
        let _ = t.join();
    }
    Ok((text, status))
}

/// Orders `linux-image-6.1.0-57-amd64` after `-9-`: the numbers compared as numbers.
fn version_key(name: &str) -> Vec<u64> {
    name.split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect()
}

/// Runs `binaries` (paths relative to the checkout) and `ctrack --version` as root on each
/// Debian kernel, in a VM. Needs root (to install the packages).
pub(crate) fn run(binaries: &[String]) -> Result<(), String> {
    let kernels = prepare()?;
    let dir = root().join("target/vm");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let r = root();
    let mut script =
        String::from("#!/bin/bash\n# Written by cargo xtask ci: runs inside the VM.\n");
    script += &format!("cd '{}'\n", r.display());
    script += &format!(
        "for m in {}; do modprobe \"$m\" || echo \"no module $m\"; done\n",
        MODULES.join(" ")
    );
    // The table's limit scales with the guest's memory; the burst tests create 250,000.
    script += "sysctl -qw net.netfilter.nf_conntrack_max=1048576\n";
    script += "failed=0\nexport CTRACK_BIN=\"$PWD/target/debug/ctrack\"\n";
    script += "uname -r\n\"$CTRACK_BIN\" --version | tee /tmp/features\n";
    script += "grep -q '^flush by zone: ' /tmp/features || failed=$((failed+1))\n";
    for b in binaries {
        script += &format!("echo \"== {b}\"\n'{b}' --test-threads=2 || failed=$((failed+1))\n");
    }
    script += "echo \"vm-result: $failed failed\"\n";
    let guest = dir.join("guest.sh");
    std::fs::write(&guest, script).map_err(|e| e.to_string())?;
    let vng = root().join("target/vng-venv/bin");
    let path = format!(
        "{}:{}",
        vng.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut failures = Vec::new();
    for (label, image) in kernels {
        eprintln!("== the kernel tests on {label}: {}", image.display());
        // One retry when the VM ends without a result (it did once, with no output at all).
        let mut result = None;
        for attempt in 1..=2 {
            let (text, status) = boot(&image, &guest, &path)?;
            result = text
                .lines()
                .find_map(|l| l.strip_prefix("vm-result: "))
                .map(String::from);
            if result.is_some() {
                break;
            }
            eprintln!("== {label}: the VM ended without a result ({status}), attempt {attempt}");
        }
        match result.as_deref() {
            Some("0 failed") => eprintln!("== {label}: every test passed"),
            Some(r) => failures.push(format!("{label}: {r}")),
            None => failures.push(format!("{label}: the VM printed no result, twice")),
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!("kernel tests in the VM: {}", failures.join("; ")))
    }
}

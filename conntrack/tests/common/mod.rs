//! Helpers of the kernel tests: a fresh network namespace per test, and conntrack-tools as the
//! independent oracle.
#![allow(dead_code)]

#[path = "../../../conntrack-wire/tests/ctlist/mod.rs"]
pub mod ctlist;

use std::process::Command;

/// Moves the calling test thread into a new, empty network namespace (its own conntrack
/// table). Fails loudly when not root: a kernel test must never pass without the kernel.
pub fn netns() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "kernel tests need root (CAP_SYS_ADMIN for unshare, CAP_NET_ADMIN for ctnetlink): run them as root"
    );
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
        .expect("unshare(CLONE_NEWNET) on the test thread");
}

/// Runs conntrack-tools with `args` in the calling thread's namespace, returning stdout.
pub fn conntrack(args: &[&str]) -> String {
    let out = Command::new("conntrack")
        .args(args)
        .output()
        .expect("conntrack-tools is installed (apt-get install conntrack)");
    assert!(
        out.status.success(),
        "conntrack {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs conntrack-tools expecting failure; returns stderr.
pub fn conntrack_fails(args: &[&str]) -> String {
    let out = Command::new("conntrack")
        .args(args)
        .output()
        .expect("conntrack-tools is installed");
    assert!(
        !out.status.success(),
        "conntrack {} should fail",
        args.join(" ")
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `conntrack -L` lines with ids, for `extra` filter flags.
pub fn list(extra: &[&str]) -> Vec<ctlist::Line> {
    let mut args = vec!["-L", "-o", "extended,id"];
    args.extend_from_slice(extra);
    ctlist::parse(&conntrack(&args))
}

/// The set of ids `conntrack -L` prints for `extra` filter flags.
pub fn list_ids(extra: &[&str]) -> std::collections::BTreeSet<u32> {
    list(extra)
        .iter()
        .map(|l| l.trailer["id"].parse().unwrap())
        .collect()
}

pub mod table;

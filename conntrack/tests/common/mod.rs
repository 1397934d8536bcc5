//! Helpers of the kernel tests: a fresh network namespace per test, and conntrack-tools as the
//! independent oracle.
#![allow(dead_code)]

/// Starts a kernel test in a fresh network namespace: as root directly, as an ordinary user
/// by running the test again inside a user namespace (see `rerun_in_user_namespace`).
#[allow(unused_macros)]
macro_rules! netns {
    () => {
        if common::rerun_in_user_namespace() {
            return;
        }
        common::netns();
    };
}

/// Starts a kernel test whose helpers make their own namespaces: as an ordinary user, the
/// test runs again inside a user namespace.
#[allow(unused_macros)]
macro_rules! userns {
    () => {
        if common::rerun_in_user_namespace() {
            return;
        }
    };
}

#[path = "../../../conntrack-wire/tests/ctlist/mod.rs"]
pub mod ctlist;

use std::process::Command;

/// Starts a kernel test: as root, goes on in the test's own thread; as an ordinary user, runs
/// this very test again in a child process inside a new user namespace (`unshare --user
/// --map-root-user --net`), where it is root over its own network namespaces, and returns
/// `true`: the caller then returns, with the child's verdict already asserted.
pub fn rerun_in_user_namespace() -> bool {
    if nix::unistd::geteuid().is_root() {
        return false;
    }
    let name = std::thread::current()
        .name()
        .expect("libtest names each test's thread after the test")
        .to_string();
    let exe = std::env::current_exe().expect("the test binary's path");
    let status = Command::new("unshare")
        .env(IN_USER_NAMESPACE, "1")
        .args(["--user", "--map-root-user", "--net", "--"])
        .arg(exe)
        .args([name.as_str(), "--exact", "--nocapture", "--test-threads=1"])
        .status()
        .expect("unshare (util-linux) runs");
    assert!(
        status.success(),
        "{name} failed in its user namespace (or unprivileged user namespaces are switched \
         off: sysctl kernel.unprivileged_userns_clone / kernel.apparmor_restrict_unprivileged_userns)"
    );
    true
}

/// Set in the environment of a test run again inside a user namespace.
const IN_USER_NAMESPACE: &str = "CONNTRACK_TEST_IN_USER_NAMESPACE";

/// Starts a kernel test that needs privileges in the initial user namespace (for example
/// `SO_RCVBUFFORCE` beyond `net.core.rmem_max`): as an ordinary user it fails at once,
/// saying so, rather than pass without testing anything. Such tests end in `_needs_root`;
/// `cargo test -- --skip needs_root` leaves them out.
pub fn needs_root() {
    assert!(
        nix::unistd::geteuid().is_root() && std::env::var_os(IN_USER_NAMESPACE).is_none(),
        "this test needs root in the initial user namespace (run the suite as root, as \
         `cargo xtask ci` does, or skip these with `cargo test -- --skip needs_root`)"
    );
}

/// Moves the calling test thread into a new, empty network namespace (its own conntrack
/// table). Must follow [`rerun_in_user_namespace`] (the `netns!` macro does both).
pub fn netns() {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
        .expect("unshare(CLONE_NEWNET) on the test thread");
}

/// The `ctrack` binary under test: `CTRACK_BIN` when set (`cargo xtask ci` copies the binaries
/// where an unprivileged user can reach them), else the one cargo built.
#[cfg(feature = "cli")]
pub fn ctrack_bin() -> String {
    std::env::var("CTRACK_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_ctrack").to_string())
}

/// Runs a command in the calling thread's namespace, failing the test if it fails.
#[allow(dead_code)]
pub fn run(cmd: &str, args: &[&str]) {
    let st = Command::new(cmd)
        .args(args)
        .status()
        .unwrap_or_else(|e| panic!("{cmd} runs: {e}"));
    assert!(st.success(), "{cmd} {args:?}");
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

/// The event listeners of the calling thread's network namespace (`NETLINK_NETFILTER`
/// sockets subscribed to a group, from `/proc/thread-self/net/netlink`), each with the bytes
/// its receive queue holds.
pub fn listeners() -> Vec<u64> {
    let t = std::fs::read_to_string("/proc/thread-self/net/netlink").unwrap_or_default();
    t.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (proto, groups, rmem) = (f.get(1)?, f.get(3)?, f.get(4)?);
            (*proto == "12" && u64::from_str_radix(groups, 16).ok()? != 0)
                .then(|| rmem.parse().ok())
                .flatten()
        })
        .collect()
}

/// Waits until at least `n` listeners have subscribed (instead of sleeping a guess: under
/// emulation, starting a listener can take seconds). Panics after a minute.
pub fn wait_for_listeners(n: usize) {
    let t = std::time::Instant::now();
    while listeners().len() < n {
        assert!(
            t.elapsed() < std::time::Duration::from_secs(60),
            "only {} of {n} listeners subscribed",
            listeners().len()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Waits until every listener has read everything queued for it (each receive queue empty
/// twice in a row, 50 ms apart): the kernel queues an event while the change happens, so
/// after this a listener has received every event so far. Panics after a minute.
pub fn wait_until_drained() {
    let t = std::time::Instant::now();
    let mut quiet = 0;
    while quiet < 2 {
        assert!(
            t.elapsed() < std::time::Duration::from_secs(60),
            "listeners still hold {:?} bytes",
            listeners()
        );
        quiet = if listeners().iter().all(|&b| b == 0) {
            quiet + 1
        } else {
            0
        };
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

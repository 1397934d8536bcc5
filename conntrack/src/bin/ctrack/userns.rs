//! A private network namespace for the demo, made without root: an ordinary user creates a
//! user namespace (in which it is root) together with the network namespace, so that it
//! holds `CAP_NET_ADMIN` over that namespace's conntrack table and nothing else.

use crate::{R, bad};
use nix::sched::{CloneFlags, unshare};
use nix::unistd::{getegid, geteuid};

/// What to do where unprivileged user namespaces are switched off.
const USERNS_OFF: &str = "unprivileged user namespaces are switched off on this machine \
(sysctl kernel.unprivileged_userns_clone=0, AppArmor's \
kernel.apparmor_restrict_unprivileged_userns=1, or user.max_user_namespaces=0): run it with \
sudo, or allow them with `sudo sysctl -w kernel.unprivileged_userns_clone=1` (Debian), \
`sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0` (Ubuntu) or \
`sudo sysctl -w user.max_user_namespaces=15000`";

/// Moves the calling process into a new network namespace of its own: directly as root, and
/// inside a new user namespace that maps the caller to root otherwise. Must be called while
/// the process has one thread (a user namespace cannot be entered by a threaded process).
pub fn private_netns() -> R<()> {
    if geteuid().is_root() {
        return unshare(CloneFlags::CLONE_NEWNET)
            .map_err(|e| bad(format!("cannot make a network namespace: {e}")));
    }
    let (uid, gid) = (geteuid(), getegid());
    unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNET).map_err(|e| match e {
        nix::errno::Errno::EPERM | nix::errno::Errno::EACCES | nix::errno::Errno::ENOSPC => {
            bad(format!("cannot make a user namespace ({e}): {USERNS_OFF}"))
        }
        e => bad(format!("cannot make a user namespace: {e}")),
    })?;
    // Map the caller to root inside (an unprivileged process may map only itself, and must
    // give up setgroups before it may write its gid map).
    let write = |file: &str, text: String| {
        std::fs::write(format!("/proc/self/{file}"), text)
            .map_err(|e| bad(format!("cannot write /proc/self/{file}: {e}: {USERNS_OFF}")))
    };
    write("setgroups", "deny".into())?;
    write("uid_map", format!("0 {uid} 1"))?;
    write("gid_map", format!("0 {gid} 1"))?;
    Ok(())
}

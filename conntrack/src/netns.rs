//! Which network namespace a handle or an event stream works in.

use conntrack_sock::Socket;
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::sync::Arc;

/// A network namespace other than the caller's: a path to open, or a descriptor the caller
/// already holds (as go-conntrack's `Config.NetNS` takes one, for example one inherited from
/// a parent, or opened before dropping privileges). The calling thread is never moved: a
/// short-lived helper thread enters the namespace, opens the socket and exits.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Netns {
    /// A namespace file: `/var/run/netns/NAME`, `/proc/PID/ns/net`.
    Path(PathBuf),
    /// An open namespace descriptor (shared between clones of the configuration; closed
    /// when the last one is dropped).
    Fd(Arc<OwnedFd>),
}

impl Netns {
    /// Opens a socket in the namespace.
    pub(crate) fn open_socket(&self) -> std::io::Result<Socket> {
        match self {
            Netns::Path(p) => Socket::open_in_netns(p),
            Netns::Fd(fd) => Socket::open_in_netns_fd(fd.as_fd()),
        }
    }
}

impl From<PathBuf> for Netns {
    fn from(p: PathBuf) -> Self {
        Netns::Path(p)
    }
}

impl From<OwnedFd> for Netns {
    fn from(fd: OwnedFd) -> Self {
        Netns::Fd(Arc::new(fd))
    }
}

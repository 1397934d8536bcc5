//! # conntrack-sock
//!
//! The thin transport of the conntrack workspace: a `NETLINK_NETFILTER` socket that moves
//! bytes between the kernel and caller buffers, and never parses them (parsing is
//! `conntrack-wire`'s job). All `unsafe` code of the workspace is in the private `sys` module.
//!
//! ```
//! use conntrack_sock::Socket;
//! let sock = Socket::open()?;
//! println!("port id {}", sock.port_id());
//! # Ok::<(), std::io::Error>(())
//! ```
#![deny(missing_docs)]
// The unsafe policy, checked by the compiler: nowhere but in `sys`.
#![deny(unsafe_code)]

mod arena;
mod socket;
#[allow(unsafe_code)]
mod sys;
#[cfg(feature = "traffic")]
#[doc(hidden)]
pub mod traffic;

pub use arena::{Arena, DEFAULT_SLOT_LEN, RecvMeta};
pub use socket::{Group, MemInfo, SockOpt, Socket};

/// Drops `CAP_NET_ADMIN` from the calling thread only (its effective and permitted sets), for
/// the tests of the unprivileged path (feature `testing`; not part of the API). Irreversible
/// for the thread; other threads are unaffected.
#[cfg(feature = "testing")]
#[doc(hidden)]
pub fn drop_net_admin_on_this_thread() -> std::io::Result<()> {
    sys::drop_thread_cap(12) // CAP_NET_ADMIN
}

/// Asks the kernel to back the whole pages of `spare` (typically `Vec::spare_capacity_mut`
/// of a large vector about to be filled) with transparent huge pages, where the system allows
/// them (`/sys/kernel/mm/transparent_hugepage/enabled` set to `madvise` or `always`). Filling
/// 200 MB then takes about a hundred page faults instead of fifty thousand. Advisory only:
/// nothing changes where huge pages are unavailable, and contents are never touched.
pub fn advise_huge_pages<T>(spare: &mut [std::mem::MaybeUninit<T>]) {
    sys::advise_huge(spare)
}

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

//! # conntrack
//!
//! Fast, safe access to the Linux kernel's connection-tracking table over ctnetlink, with no
//! C bindings: dumps (owned, or streamed as borrowed views with no allocation per entry),
//! kernel-side filters, get/create/update/delete, flushes, batches, statistics and
//! expectations.
//!
//! The workspace has three layers, re-exported here:
//!
//! * [`wire`] (`conntrack-wire`): the zero-copy, `no_std` codec;
//! * [`sock`] (`conntrack-sock`): the `NETLINK_NETFILTER` transport;
//! * this crate: [`Nfct`], the request/reply state machine and owned values.
//!
//! ```no_run
//! use conntrack::{Conn, Family, Nfct, Key};
//! use conntrack::wire::ct::TcpState;
//!
//! let nfct = Nfct::open()?;
//! let c = Conn::tcp("10.0.0.1:40000".parse().unwrap(), "10.0.0.2:80".parse().unwrap())
//!     .with_tcp_state(TcpState::Established)
//!     .with_timeout(300)
//!     .with_mark(7);
//! nfct.create(&c)?;
//! let key = Key { tuple: c.tuple_orig.unwrap(), ..Default::default() };
//! assert_eq!(nfct.get(&key)?.mark, Some(7));
//! nfct.delete(&key)?;
//! # Ok::<(), conntrack::Error>(())
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod batch;
mod error;
pub mod events;
mod exchange;
mod flow;
mod kernel;
mod mirror;
mod netns;
mod nfct;
mod pipeline;
#[cfg(feature = "tokio")]
pub mod stream;

pub use batch::{BatchOp, BatchReport, Outcome};
pub use conntrack_sock as sock;
pub use conntrack_wire as wire;
pub use conntrack_wire::ct::{Status, TcpState, Tuple};
pub use conntrack_wire::request::{Dir, DumpFilter, FlushFilter, Key};
pub use conntrack_wire::{Conn, Exp};
pub use error::{Error, Op, Result};
pub use flow::DumpFlow;
pub use kernel::{Feature, Features, Reason};
pub use mirror::Mirror;
pub use netns::Netns;
pub use nfct::{Config, Diff, DumpKind, Family, Nfct};

/// The README's examples, compiled as doctests so that they keep up with the API.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
mod readme {}

/// The guide for go-conntrack users, compiled as doctests likewise.
#[cfg(doctest)]
#[doc = include_str!("../../MIGRATING-FROM-GO.md")]
mod migrating_from_go {}

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

//! # conntrack-wire
//!
//! A zero-copy, `no_std` codec for ctnetlink, the netlink protocol of the Linux kernel's
//! connection tracking (`NETLINK_NETFILTER`, subsystems `NFNL_SUBSYS_CTNETLINK` and
//! `NFNL_SUBSYS_CTNETLINK_EXP`). Bytes in, views out; reprs in, bytes out. No I/O.
//!
//! ## The contract
//!
//! * **Validate once, never panic after.** Every view (`ConnView`, `TupleView`,
//!   `ProtoInfoView`, `ExpView`, `CpuStatsView`, ...) is built by a `new_checked` that walks
//!   its attributes and nests once and checks the length of every known attribute. After
//!   that, no getter can panic; each returns `Option` (`None` when the attribute is absent).
//!   The crate denies `indexing_slicing`, `unwrap_used`, `expect_used` and `panic` outside
//!   tests, and forbids `unsafe`.
//! * **No allocation on the decode path.** Views borrow the datagram. Owned types (`Conn`,
//!   `Exp`, ...) need feature `alloc`.
//! * **Byte order comes from the attribute type**, never from `NLA_F_NET_BYTEORDER`.
//!   Netlink headers are host-endian; ctnetlink payloads are big-endian except the
//!   `CTA_FILTER_*_FLAGS` words and the label bitmap, which are host-endian.
//! * **Unknown is not an error.** Unknown attributes are kept and reachable
//!   (`attrs()`, `unknown()`); enums mapping kernel values end in `Unknown(n)`.
//! * **Emitting never panics.** Builders write into a caller buffer through [`Emitter`]; a
//!   short buffer is [`Error::BufferTooSmall`] with the size needed.
//!
//! ## Features
//! `std` (default, implies `alloc`), `alloc` (owned types), `defmt` (`defmt::Format` for
//! views, owned types and errors), `heapless` ([`buf::MsgBuf`]).
//!
//! ```
//! use conntrack_wire::{Messages, MessageKind};
//! let dump = include_bytes!("../tests/fixtures/dump_ct.bin");
//! for msg in Messages::new(dump) {
//!     let msg = msg?;
//!     match msg.kind() {
//!         MessageKind::Conntrack(_) => {
//!             let ct = msg.conn()?;
//!             let _ = (ct.id(), ct.mark(), ct.tuple_orig().and_then(|t| t.src()));
//!         }
//!         MessageKind::Done => break,
//!         _ => {}
//!     }
//! }
//! # Ok::<(), conntrack_wire::Error>(())
//! ```
#![cfg_attr(not(feature = "std"), no_std)]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]

#[cfg(feature = "alloc")]
extern crate alloc;

mod attr;
#[cfg(feature = "heapless")]
pub mod buf;
pub mod consts;
pub mod ct;
mod emit;
mod error;
pub mod exp;
pub mod filter;
mod header;
mod message;
pub mod request;
pub mod scalar;
mod shape;
pub mod stats;
mod table;
#[cfg(feature = "testing")]
#[doc(hidden)]
pub mod testing;

pub use attr::{Attr, Attrs};
#[cfg(feature = "alloc")]
pub use ct::Conn;
pub use ct::{ConnDecoder, ConnView, TupleView};
pub use emit::{Emitter, Mark};
pub use error::{Error, Result};
#[cfg(feature = "alloc")]
pub use exp::Exp;
pub use exp::ExpView;
pub use header::{NfGenMsg, NlAttr, NlMsgErr, NlMsgHdr, align};
pub use message::{CtMsg, DoneMsg, ErrorMsg, ExpMsg, ExtAck, Message, MessageKind, Messages};

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

//! # conntrack
//!
//! Fast, safe access to the Linux kernel's connection-tracking table over ctnetlink, with no
//! C bindings.
//!
//! This crate is the public face of the workspace. Today it re-exports its two layers:
//!
//! * [`wire`] (`conntrack-wire`): the zero-copy, `no_std` codec — borrowed views over every
//!   ctnetlink object, owned values, and request builders;
//! * [`sock`] (`conntrack-sock`): the `NETLINK_NETFILTER` transport — sockets, multicast
//!   groups, batch receive into a reusable arena.
//!
//! The `Nfct` handle (request/acknowledge state machine, dumps, mutations, events) is built on
//! these two and is the next piece of work.
//!
//! ```no_run
//! use conntrack::{sock::Socket, wire};
//! use wire::request::{self, DumpFilter};
//!
//! let sock = Socket::open()?;
//! let mut req = [0u8; 64];
//! let n = request::emit_into(&mut req, |e| {
//!     request::ct_dump(e, 1, wire::consts::AF_INET, &DumpFilter::default())
//! })
//! .expect("64 bytes hold a plain dump request");
//! sock.send(&req[..n])?;
//! let mut buf = vec![0u8; 32 * 1024];
//! 'dump: loop {
//!     let meta = sock.recv(&mut buf)?;
//!     for msg in wire::Messages::new(&buf[..meta.len]) {
//!         let msg = msg.expect("the kernel sends well-formed messages");
//!         match msg.kind() {
//!             wire::MessageKind::Conntrack(_) => {
//!                 let ct = msg.conn().expect("valid entry");
//!                 println!("{:?} mark={:?}", ct.tuple_orig().and_then(|t| t.src()), ct.mark());
//!             }
//!             _ => break 'dump,
//!         }
//!     }
//! }
//! # Ok::<(), std::io::Error>(())
//! ```
#![deny(missing_docs)]

pub use conntrack_sock as sock;
pub use conntrack_wire as wire;

//! Conntrack entries and their parts, one module per netlink object.

mod conn;
pub mod counters;
#[cfg(feature = "alloc")]
mod ext;
pub mod helper;
pub mod labels;
pub mod nat;
#[cfg(feature = "alloc")]
mod owned;
#[cfg(feature = "alloc")]
mod packed;
pub mod protoinfo;
pub mod secctx;
pub mod seqadj;
pub mod status;
pub mod synproxy;
pub mod timestamp;
pub mod tuple;

pub use conn::{ConnDecoder, ConnView};
pub use counters::{Counters, CountersView};
#[cfg(feature = "alloc")]
pub use ext::ConnExt;
#[cfg(feature = "alloc")]
pub use helper::Helper;
pub use helper::HelperView;
pub use labels::{Labels, LabelsView, set_label};
pub use nat::{Nat, NatView};
#[cfg(feature = "alloc")]
pub use owned::Conn;
pub use protoinfo::{
    DccpInfo, DccpInfoView, DccpRole, DccpState, ProtoInfo, ProtoInfoView, SctpInfo, SctpInfoView,
    SctpState, TcpFlags, TcpInfo, TcpInfoView, TcpState,
};
pub use secctx::SecCtxView;
pub use seqadj::{SeqAdj, SeqAdjView};
pub use status::Status;
pub use synproxy::{Synproxy, SynproxyView};
pub use timestamp::{Timestamp, TimestampView};
pub use tuple::{Proto, Tuple, TupleView};

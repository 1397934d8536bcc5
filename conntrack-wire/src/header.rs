//! Fixed netlink headers, read in place with `zerocopy`.
//!
//! Netlink headers are host-endian (`native_endian`); `nfgenmsg.res_id` is big-endian.
//! Every struct is `Unaligned`, so it can be read from any offset of any buffer.

use zerocopy::byteorder::{native_endian, network_endian};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// `struct nlmsghdr` (uapi `linux/netlink.h`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct NlMsgHdr {
    /// Length of the message including this header.
    pub nlmsg_len: native_endian::U32,
    /// Message type.
    pub nlmsg_type: native_endian::U16,
    /// `NLM_F_*` flags.
    pub nlmsg_flags: native_endian::U16,
    /// Sequence number.
    pub nlmsg_seq: native_endian::U32,
    /// Sending port id.
    pub nlmsg_pid: native_endian::U32,
}

/// `struct nfgenmsg` (uapi `linux/netfilter/nfnetlink.h`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct NfGenMsg {
    /// Address family (`AF_*`).
    pub nfgen_family: u8,
    /// Version, `NFNETLINK_V0`.
    pub version: u8,
    /// Resource id, big-endian (the CPU number in per-CPU statistics replies).
    pub res_id: network_endian::U16,
}

/// `struct nlattr` (uapi `linux/netlink.h`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct NlAttr {
    /// Length including this header, excluding trailing padding.
    pub nla_len: native_endian::U16,
    /// Type, with the `NLA_F_NESTED` and `NLA_F_NET_BYTEORDER` bits.
    pub nla_type: native_endian::U16,
}

/// `struct nlmsgerr` without its trailing copy of the request (uapi `linux/netlink.h`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct NlMsgErr {
    /// Negative errno, or 0 for an acknowledgement.
    pub error: native_endian::I32,
    /// The header of the request this answers.
    pub msg: NlMsgHdr,
}

const _: () = assert!(core::mem::size_of::<NlMsgHdr>() == 16);
const _: () = assert!(core::mem::size_of::<NfGenMsg>() == 4);
const _: () = assert!(core::mem::size_of::<NlAttr>() == 4);
const _: () = assert!(core::mem::size_of::<NlMsgErr>() == 20);

/// Rounds `len` up to the netlink alignment of 4 bytes.
#[inline]
pub const fn align(len: usize) -> usize {
    (len + 3) & !3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_reads_host_endian_and_res_id_big_endian() {
        let mut bytes = [0u8; 20];
        bytes[..4].copy_from_slice(&20u32.to_ne_bytes());
        bytes[4..6].copy_from_slice(&0x0101u16.to_ne_bytes());
        bytes[16] = 2;
        bytes[18] = 0x12;
        bytes[19] = 0x34;
        let (h, rest) = NlMsgHdr::ref_from_prefix(&bytes).unwrap();
        assert_eq!(h.nlmsg_len.get(), 20);
        assert_eq!(h.nlmsg_type.get(), 0x0101);
        let (g, _) = NfGenMsg::ref_from_prefix(rest).unwrap();
        assert_eq!(g.nfgen_family, 2);
        assert_eq!(g.res_id.get(), 0x1234);
    }

    #[test]
    fn align_rounds_up() {
        assert_eq!(align(0), 0);
        assert_eq!(align(1), 4);
        assert_eq!(align(4), 4);
        assert_eq!(align(5), 8);
    }
}

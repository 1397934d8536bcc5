//! go-conntrack's test vectors, as facts about the wire: the `CT_NEW` request of
//! libnetfilter_conntrack's `conntrack_create.c` example, the family flushes, the mark filter
//! nest of a filtered dump, and the classic-BPF program go-conntrack attaches for a mark
//! filter. Each is rebuilt here with this crate's builders (or run through its BPF
//! interpreter) and checked field by field, so a Go user can see that both libraries speak the
//! same bytes; where this crate deliberately sends something else, the test says why.
#![cfg(feature = "alloc")]

use conntrack_wire::consts::*;
use conntrack_wire::ct::TupleView;
use conntrack_wire::filter::bpf::{self, EventFilter, Insn, Match};
use conntrack_wire::request::{self, DumpFilter, FlushFilter};
use conntrack_wire::{Conn, ConnView, MessageKind, Messages};
use std::net::IpAddr;

/// The 128 attribute bytes (after the 4-byte `nfgenmsg`: 132 in all) of go-conntrack's
/// `conntrack_create.c` request: an entry 1.1.1.1:22 -> 2.2.2.2:10, protocol 17, its reply
/// tuple, timeout 100 and a TCP protocol-info nest with state 8.
const CREATE_ATTRS: [u8; 128] = [
    0x34, 0x00, 0x01, 0x80, // CTA_TUPLE_ORIG, nested, 52 bytes
    0x14, 0x00, 0x01, 0x80, // CTA_TUPLE_IP, nested
    0x08, 0x00, 0x01, 0x00, 1, 1, 1, 1, // CTA_IP_V4_SRC
    0x08, 0x00, 0x02, 0x00, 2, 2, 2, 2, // CTA_IP_V4_DST
    0x1c, 0x00, 0x02, 0x80, // CTA_TUPLE_PROTO, nested
    0x05, 0x00, 0x01, 0x00, 17, 0, 0, 0, // CTA_PROTO_NUM
    0x06, 0x00, 0x02, 0x00, 0, 22, 0, 0, // CTA_PROTO_SRC_PORT (big-endian)
    0x06, 0x00, 0x03, 0x00, 0, 10, 0, 0, // CTA_PROTO_DST_PORT
    0x34, 0x00, 0x02, 0x80, // CTA_TUPLE_REPLY
    0x14, 0x00, 0x01, 0x80, //
    0x08, 0x00, 0x01, 0x00, 2, 2, 2, 2, //
    0x08, 0x00, 0x02, 0x00, 1, 1, 1, 1, //
    0x1c, 0x00, 0x02, 0x80, //
    0x05, 0x00, 0x01, 0x00, 17, 0, 0, 0, //
    0x06, 0x00, 0x02, 0x00, 0, 10, 0, 0, //
    0x06, 0x00, 0x03, 0x00, 0, 22, 0, 0, //
    0x08, 0x00, 0x07, 0x00, 0, 0, 0, 100, // CTA_TIMEOUT (big-endian)
    0x10, 0x00, 0x04, 0x80, // CTA_PROTOINFO, nested
    0x0c, 0x00, 0x01, 0x80, // CTA_PROTOINFO_TCP, nested
    0x05, 0x00, 0x01, 0x00, 8, 0, 0, 0, // CTA_PROTOINFO_TCP_STATE
];

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn tuple_is(t: Option<TupleView<'_>>, src: &str, dst: &str, sport: u16, dport: u16) {
    let t = t.expect("tuple");
    assert_eq!((t.src(), t.dst()), (Some(ip(src)), Some(ip(dst))));
    assert_eq!(t.proto_num(), Some(17));
    assert_eq!((t.src_port(), t.dst_port()), (Some(sport), Some(dport)));
}

/// The top-level attributes of `attrs`, each as its bytes, sorted by type.
fn top_level(attrs: &[u8]) -> Vec<(u16, Vec<u8>)> {
    let mut v = Vec::new();
    let mut at = 0;
    while at + 4 <= attrs.len() {
        let len = usize::from(u16::from_ne_bytes([attrs[at], attrs[at + 1]]));
        let kind = u16::from_ne_bytes([attrs[at + 2], attrs[at + 3]]) & 0x3fff;
        v.push((kind, attrs[at..at + len].to_vec()));
        at += (len + 3) & !3;
    }
    v.sort();
    v
}

#[test]
fn go_create_request_decodes_and_is_rebuilt_attribute_for_attribute() {
    let v = ConnView::new_checked(&CREATE_ATTRS).unwrap();
    tuple_is(v.tuple_orig(), "1.1.1.1", "2.2.2.2", 22, 10);
    tuple_is(v.tuple_reply(), "2.2.2.2", "1.1.1.1", 10, 22);
    assert_eq!(v.timeout(), Some(100));
    let tcp = v.protoinfo().and_then(|p| p.tcp()).expect("tcp info");
    assert_eq!(tcp.state(), Some(8));
    // Rebuilt from the decoded values with this crate's create request: the same attributes.
    // This crate writes them in its own order (the kernel does not care), so they are compared
    // one by one; the request differs only in its `nfgenmsg.res_id`, which go-conntrack sets
    // to the subsystem id and this crate leaves 0 (the kernel ignores it for ctnetlink).
    let c = Conn::parse(&v);
    assert_eq!(
        c.status, None,
        "the vector carries no status (the kernel would say EBUSY)"
    );
    let mut buf = vec![0u8; 256];
    let n = request::emit_into(&mut buf, |e| request::ct_create(e, 1, AF_INET, &c)).unwrap();
    let msg = &buf[..n];
    assert_eq!(u16::from_ne_bytes([msg[4], msg[5]]), 1 << 8); // CTNETLINK << 8 | CT_NEW
    assert_eq!(
        u16::from_ne_bytes([msg[6], msg[7]]),
        NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL
    );
    assert_eq!(&msg[16..18], &[AF_INET, 0]); // family, version 0
    assert_eq!(top_level(&msg[20..]), top_level(&CREATE_ATTRS));
    assert_eq!(msg.len(), 20 + CREATE_ATTRS.len());
}

#[test]
fn family_flushes_differ_from_go_on_purpose() {
    for family in [AF_INET, AF_INET6] {
        let mut buf = [0u8; 64];
        let n = request::emit_into(&mut buf, |e| {
            request::ct_flush(e, 1, family, &FlushFilter::default())
        })
        .unwrap();
        assert_eq!(n, 20, "a bare nlmsghdr + nfgenmsg, as go-conntrack sends");
        assert_eq!(u16::from_ne_bytes([buf[4], buf[5]]), 1 << 8 | 2); // CT_DELETE
        assert_eq!(
            u16::from_ne_bytes([buf[6], buf[7]]),
            NLM_F_REQUEST | NLM_F_ACK
        );
        // go-conntrack sends version 0 ([family, 0, 0, 0]), which the kernel reads as "every
        // family": its IPv4 flush empties the IPv6 table too. Version 1 makes the kernel
        // honour the family.
        assert_eq!(&buf[16..20], &[family, 1, 0, 0]);
    }
    // A flush of everything is the same request in both libraries.
    let mut buf = [0u8; 64];
    request::emit_into(&mut buf, |e| {
        request::ct_flush(e, 1, AF_UNSPEC, &FlushFilter::default())
    })
    .unwrap();
    assert_eq!(&buf[16..20], &[AF_UNSPEC, 0, 0, 0]);
}

#[test]
fn go_mark_filter_nest_is_the_same_bytes() {
    // go-conntrack's Query with Mark 0x11111111 and MarkMask 0xffffffff appends CTA_MARK then
    // CTA_MARK_MASK, both big-endian.
    let go: [u8; 16] = [
        0x08, 0x00, 0x08, 0x00, 0x11, 0x11, 0x11, 0x11, 0x08, 0x00, 0x15, 0x00, 0xff, 0xff, 0xff,
        0xff,
    ];
    let f = DumpFilter {
        mark: Some((0x1111_1111, 0xffff_ffff)),
        ..Default::default()
    };
    let mut buf = [0u8; 64];
    let n = request::emit_into(&mut buf, |e| request::ct_dump(e, 1, AF_INET, &f)).unwrap();
    assert_eq!(&buf[20..n], &go);
    assert_eq!(
        u16::from_ne_bytes([buf[6], buf[7]]),
        NLM_F_REQUEST | NLM_F_DUMP
    );
}

/// go-conntrack's program for a mark filter `mark == 1` (mask 0xffffffff), as raw classic-BPF
/// instructions: non-conntrack messages pass, then the mark attribute is looked up with
/// `SKF_AD_NLATTR`, masked and compared. (Its subsystem test reads offset 5, so it is written
/// for little-endian machines.)
fn go_mark_program() -> Vec<Insn> {
    let i = |code: u16, jt: u8, jf: u8, k: u32| Insn { code, jt, jf, k };
    vec![
        i(0x01, 0, 0, 4),           // ldx #4
        i(0x50, 0, 0, 1),           // ldb [x + 1]: the subsystem
        i(0x15, 1, 0, 1),           // jeq #CTNETLINK
        i(0x06, 0, 0, 0xffff_ffff), // ret #-1: not conntrack, pass
        i(0x00, 0, 0, 0x14),        // ld #20: after nlmsghdr and nfgenmsg
        i(0x01, 0, 0, 8),           // ldx #CTA_MARK
        i(0x30, 0, 0, 0xffff_f00c), // ld SKF_AD_NLATTR
        i(0x15, 2, 0, 0),           // jeq #0: no mark
        i(0x07, 0, 0, 0),           // tax
        i(0x40, 0, 0, 4),           // ld [x + 4]: the mark
        i(0x07, 0, 0, 0),           // tax
        i(0x54, 0, 0, 0xffff_ffff), // and #mask
        i(0x15, 2, 0, 1),           // jeq #1
        i(0x87, 0, 0, 0),           // txa
        i(0x06, 0, 0, 0),           // ret #0: drop
        i(0x06, 0, 0, 0xffff_ffff), // ret #-1: pass
    ]
}

#[test]
#[cfg(target_endian = "little")]
fn go_mark_program_and_ours_agree_on_every_event() {
    let ours = EventFilter {
        mark: Match::any([(1, 0xffff_ffff)]),
        ..Default::default()
    }
    .compile()
    .unwrap();
    let go = go_mark_program();
    let flow = |mark: Option<u32>| {
        let mut c = Conn::udp("10.0.0.1:1".parse().unwrap(), "10.0.0.2:2".parse().unwrap());
        c.mark = mark;
        c
    };
    let mut seen = 0;
    for (mark, want) in [
        (Some(1), true),
        (Some(2), false),
        (Some(0x101), false),
        (None, false),
    ] {
        let mut buf = vec![0u8; 512];
        let n = request::emit_into(&mut buf, |e| request::ct_create(e, 1, AF_INET, &flow(mark)))
            .unwrap();
        let pkt = &buf[..n];
        for m in Messages::new(pkt) {
            assert!(matches!(m.unwrap().kind(), MessageKind::Conntrack(_)));
        }
        assert_eq!(bpf::run(&go, pkt) != 0, want, "go's program, mark {mark:?}");
        assert_eq!(bpf::run(&ours, pkt) != 0, want, "ours, mark {mark:?}");
        seen += 1;
    }
    // A message of another subsystem passes both.
    let mut buf = vec![0u8; 64];
    let n = request::emit_into(&mut buf, |e| request::exp_dump(e, 1, AF_INET)).unwrap();
    assert_ne!(bpf::run(&go, &buf[..n]), 0);
    assert_ne!(bpf::run(&ours, &buf[..n]), 0);
    assert_eq!(seen, 4);
}

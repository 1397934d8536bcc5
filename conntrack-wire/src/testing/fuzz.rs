//! The fuzz targets' bodies, shared by `fuzz/fuzz_targets` (libFuzzer) and by
//! `tests/fuzz_corpus.rs`, which replays a saved corpus through them on any target (32-bit
//! included) without libFuzzer.

use crate::consts::*;
use crate::filter::bpf::{self, EventFilter, Match, Shard};
use crate::{Conn, ConnDecoder, ConnView, Emitter, Exp, ExpView, MessageKind, Messages};
use core::net::{Ipv4Addr, Ipv6Addr};

/// Any datagram: walk, classify and view every message; nothing may panic.
pub fn messages(data: &[u8]) {
    for m in Messages::new(data) {
        let Ok(m) = m else { break };
        match m.kind() {
            MessageKind::Conntrack(_) => {
                let _ = m.conn().map(|c| Conn::parse(&c));
            }
            MessageKind::Expect(_) => {
                let _ = m.exp().map(|x| Exp::parse(&x));
            }
            MessageKind::CtStatsCpu => {
                let _ = m.cpu_stats().map(|s| s.found());
            }
            MessageKind::CtStats => {
                let _ = m.global_stats().map(|s| s.entries());
            }
            MessageKind::ExpStatsCpu => {
                let _ = m.exp_stats().map(|s| s.create());
            }
            MessageKind::Error => {
                let _ = m.error().map(|e| (e.errno(), e.ext_ack().msg));
            }
            MessageKind::Done => {
                let _ = m.done();
            }
            _ => {}
        }
    }
}

/// The remembered path and the walk agree on `b` (the same view, or the same error).
fn same(b: &[u8], layouts: &mut ConnDecoder) {
    assert_eq!(
        format!("{:?}", layouts.view(b)),
        format!("{:?}", ConnView::new_checked(b))
    );
}

/// Any attribute bytes as a conntrack entry: the checked view, every getter, the owned copy;
/// and the remembered-layout path (`ConnDecoder::view`), which must return exactly what
/// the walk returns for the bytes, for same-length variants of them, and for prefixes.
pub fn conn(data: &[u8]) {
    if let Ok(v) = ConnView::new_checked(data) {
        for t in [v.tuple_orig(), v.tuple_reply(), v.tuple_master()]
            .into_iter()
            .flatten()
        {
            let _ = (t.src(), t.dst(), t.src_port(), t.icmpv6_code(), t.zone());
        }
        let _ = v
            .protoinfo()
            .map(|p| (p.tcp().map(|t| t.flags_reply()), p.sctp(), p.dccp()));
        let _ = v.nat_src().map(|n| (n.min_ip(), n.max_port()));
        let _ = v.labels().map(|l| l.iter().count());
        let _ = Conn::parse(&v);
    }
    let Some((&sel, msg)) = data.split_first() else {
        return;
    };
    let mut layouts = ConnDecoder::new();
    // A layout is remembered the second time its length comes up.
    same(msg, &mut layouts);
    same(msg, &mut layouts);
    if msg.is_empty() {
        return;
    }
    // Same-length variants, one byte changed each (a header or a payload byte), then
    // prefixes: each must read as the walk reads it, whatever is remembered.
    let mut m = msg.to_vec();
    for i in 0..m.len().min(16) {
        let pos = (usize::from(sel) * 31 + i * 17) % m.len();
        m[pos] ^= sel | 1;
        same(&m, &mut layouts);
        same(msg, &mut layouts);
    }
    for cut in [msg.len() / 2, msg.len() - 1] {
        same(&msg[..cut], &mut layouts);
    }
}

/// Any attribute bytes as an expectation: the checked view, every getter, the owned copy.
pub fn exp(data: &[u8]) {
    if let Ok(v) = ExpView::new_checked(data) {
        let _ = (v.helper_name(), v.expect_fn(), v.nat().map(|n| n.tuple()));
        let _ = Exp::parse(&v);
    }
}

/// Builders: whatever parses re-emits into any buffer size without panicking, and a
/// successful emission parses back to the same value.
pub fn roundtrip(data: &[u8]) {
    let Some((&cap, rest)) = data.split_first() else {
        return;
    };
    let Ok(v) = ConnView::new_checked(rest) else {
        return;
    };
    let c = Conn::parse(&v);
    let mut buf = vec![0xa5u8; usize::from(cap) * 8];
    let mut e = Emitter::new(&mut buf);
    c.emit(&mut e);
    if let Ok(n) = e.finish() {
        let v2 = ConnView::new_checked(&buf[..n]).expect("emitted bytes parse");
        assert_eq!(Conn::parse(&v2), c);
    }
}

/// Reads the fuzzer's bytes as values; zero once they run out.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u8(&mut self) -> u8 {
        let (&b, rest) = self.0.split_first().unwrap_or((&0, &[]));
        self.0 = rest;
        b
    }
    fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }
    fn u32(&mut self) -> u32 {
        u32::from_be_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    /// A criterion: active when bit `bit` of `on` is set, with one to three values.
    fn crit<T>(&mut self, on: u64, bit: u32, mut value: impl FnMut(&mut Self) -> T) -> Match<T> {
        if on & (1 << bit) == 0 {
            return Match::default();
        }
        let head = self.u8();
        let values = (0..=head % 3).map(|_| value(self)).collect();
        Match {
            values,
            negate: head & 0x80 != 0,
        }
    }
}

/// An arbitrary event filter, read from the front of the fuzzer's bytes.
fn event_filter(b: &mut Bytes<'_>) -> EventFilter {
    let on = (u64::from(b.u32()) << 32) | u64::from(b.u32());
    let v4 = |b: &mut Bytes<'_>| (Ipv4Addr::from(b.u32()), b.u8() % 40);
    let v6 = |b: &mut Bytes<'_>| {
        let hi = u128::from(b.u32()) << 96;
        (Ipv6Addr::from(hi | u128::from(b.u16())), b.u8() % 140)
    };
    let mut f = EventFilter {
        family: b.crit(on, 0, |b| {
            [AF_INET, AF_INET6, b.u8()][usize::from(b.u8() % 3)]
        }),
        l4proto: b.crit(on, 1, Bytes::u8),
        orig_src_v4: b.crit(on, 2, v4),
        orig_dst_v4: b.crit(on, 3, v4),
        reply_src_v4: b.crit(on, 4, v4),
        reply_dst_v4: b.crit(on, 5, v4),
        orig_src_v6: b.crit(on, 6, v6),
        orig_dst_v6: b.crit(on, 7, v6),
        reply_src_v6: b.crit(on, 8, v6),
        reply_dst_v6: b.crit(on, 9, v6),
        orig_src_port: b.crit(on, 10, Bytes::u16),
        orig_dst_port: b.crit(on, 11, Bytes::u16),
        reply_src_port: b.crit(on, 12, Bytes::u16),
        reply_dst_port: b.crit(on, 13, Bytes::u16),
        icmp_type: b.crit(on, 14, Bytes::u8),
        icmp_code: b.crit(on, 15, Bytes::u8),
        icmp_id: b.crit(on, 16, Bytes::u16),
        tcp_state: b.crit(on, 17, Bytes::u8),
        mark: b.crit(on, 18, |b| (b.u32(), b.u32())),
        zone: b.crit(on, 19, Bytes::u16),
        status: b.crit(on, 20, |b| (b.u32(), b.u32())),
        secmark: b.crit(on, 21, Bytes::u32),
        id: b.crit(on, 22, Bytes::u32),
        reply_l4proto: b.crit(on, 24, Bytes::u8),
        reply_icmp_type: b.crit(on, 25, Bytes::u8),
        reply_icmp_code: b.crit(on, 26, Bytes::u8),
        reply_icmp_id: b.crit(on, 27, Bytes::u16),
        master_l4proto: b.crit(on, 28, Bytes::u8),
        master_src_v4: b.crit(on, 29, v4),
        master_dst_v4: b.crit(on, 30, v4),
        master_src_v6: b.crit(on, 31, v6),
        master_dst_v6: b.crit(on, 32, v6),
        master_src_port: b.crit(on, 33, Bytes::u16),
        master_dst_port: b.crit(on, 34, Bytes::u16),
        tcp_flags_orig: b.crit(on, 35, |b| (b.u8(), b.u8())),
        tcp_flags_reply: b.crit(on, 36, |b| (b.u8(), b.u8())),
        tcp_wscale_orig: b.crit(on, 37, Bytes::u8),
        tcp_wscale_reply: b.crit(on, 38, Bytes::u8),
        sctp_state: b.crit(on, 39, Bytes::u8),
        sctp_vtag_orig: b.crit(on, 40, Bytes::u32),
        sctp_vtag_reply: b.crit(on, 41, Bytes::u32),
        dccp_state: b.crit(on, 42, Bytes::u8),
        dccp_role: b.crit(on, 43, Bytes::u8),
        timeout: b.crit(on, 44, |b| (b.u32(), b.u32())),
        use_count: b.crit(on, 45, |b| (u32::from(b.u8()), u32::from(b.u8()))),
        labels: b.crit(on, 46, |b| u16::from(b.u8()) % 140),
        shard: None,
    };
    if on & (1 << 23) != 0 {
        let count = u32::from(b.u8() % 5);
        f.shard = Some(Shard {
            count,
            index: u32::from(b.u8()) % count.max(1),
        });
    }
    f
}

/// The BPF compiler: an arbitrary filter either compiles or is refused with an error, and a
/// compiled program's verdict on an arbitrary conntrack event (a valid netlink and nfgenmsg
/// header around arbitrary attributes) equals the user-space evaluation whenever the event's
/// attributes validate (the kernel sends nothing else).
pub fn bpf(data: &[u8]) {
    let mut b = Bytes(data);
    let f = event_filter(&mut b);
    let Ok(prog) = f.compile() else {
        return;
    };
    let kind =
        [IPCTNL_MSG_CT_NEW, IPCTNL_MSG_CT_DELETE, IPCTNL_MSG_CT_GET][usize::from(b.u8() % 3)];
    let family = [AF_INET, AF_INET6, b.u8()][usize::from(b.u8() % 3)];
    let attrs = b.0;
    let len = 20 + attrs.len();
    let Ok(len32) = u32::try_from(len) else {
        return;
    };
    let mut pkt = Vec::with_capacity(len);
    pkt.extend_from_slice(&len32.to_ne_bytes());
    let ty = (u16::from(NFNL_SUBSYS_CTNETLINK) << 8) | u16::from(kind);
    pkt.extend_from_slice(&ty.to_ne_bytes());
    pkt.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    pkt.extend_from_slice(&[family, 0, 0, 0]);
    pkt.extend_from_slice(attrs);
    let Some(Ok(m)) = Messages::new(&pkt).next() else {
        return;
    };
    if m.conn().is_err() {
        return;
    }
    let kernel = bpf::run(&prog, m.bytes()) != 0;
    assert_eq!(kernel, f.matches(&m), "filter {f:?} on {pkt:?}");
}

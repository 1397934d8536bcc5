//! The fuzz targets' bodies, shared by `fuzz/fuzz_targets` (libFuzzer) and by
//! `tests/fuzz_corpus.rs`, which replays a saved corpus through them on any target (32-bit
//! included) without libFuzzer.

use crate::{Conn, ConnDecoder, ConnView, Emitter, Exp, ExpView, MessageKind, Messages};

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

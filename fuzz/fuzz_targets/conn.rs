//! Any attribute bytes as a conntrack entry: the checked view, every getter, the owned copy;
//! and the remembered-layout path (`ConnView::new_remembered`), which must return exactly what
//! the walk returns for the bytes, for same-length variants of them, and for prefixes.
#![no_main]
use conntrack_wire::{Conn, ConnLayouts, ConnView};
use libfuzzer_sys::fuzz_target;

/// The remembered path and the walk agree on `b` (the same view, or the same error).
fn same(b: &[u8], layouts: &mut ConnLayouts) {
    assert_eq!(
        format!("{:?}", ConnView::new_remembered(b, layouts)),
        format!("{:?}", ConnView::new_checked(b))
    );
}

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = ConnView::new_checked(data) {
        for t in [v.tuple_orig(), v.tuple_reply(), v.tuple_master()].into_iter().flatten() {
            let _ = (t.src(), t.dst(), t.src_port(), t.icmpv6_code(), t.zone());
        }
        let _ = v.protoinfo().map(|p| (p.tcp().map(|t| t.flags_reply()), p.sctp(), p.dccp()));
        let _ = v.nat_src().map(|n| (n.min_ip(), n.max_port()));
        let _ = v.labels().map(|l| l.iter().count());
        let _ = Conn::parse(&v);
    }
    let Some((&sel, msg)) = data.split_first() else {
        return;
    };
    let mut layouts = ConnLayouts::new();
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
});

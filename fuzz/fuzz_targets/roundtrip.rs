//! Builders: whatever parses re-emits into any buffer size without panicking, and a successful
//! emission parses back to the same value.
#![no_main]
use conntrack_wire::{Conn, ConnView, Emitter};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&cap, rest)) = data.split_first() else { return };
    let Ok(v) = ConnView::new_checked(rest) else { return };
    let c = Conn::parse(&v);
    let mut buf = vec![0xa5u8; usize::from(cap) * 8];
    let mut e = Emitter::new(&mut buf);
    c.emit(&mut e);
    if let Ok(n) = e.finish() {
        let v2 = ConnView::new_checked(&buf[..n]).expect("emitted bytes parse");
        assert_eq!(Conn::parse(&v2), c);
    }
});

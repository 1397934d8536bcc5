//! Any attribute bytes as a conntrack entry: the checked view, every getter, the owned copy.
#![no_main]
use conntrack_wire::{Conn, ConnView};
use libfuzzer_sys::fuzz_target;

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
});

//! Any datagram: walk, classify and view every message; nothing may panic.
#![no_main]
use conntrack_wire::{Conn, Exp, MessageKind, Messages};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
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
});

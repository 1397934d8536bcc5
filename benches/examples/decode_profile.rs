//! Decodes the captured dump fixture many times: a target for `perf record`.
use conntrack_wire::{MessageKind, Messages};
const DUMP: &[u8] = include_bytes!("../../conntrack-wire/tests/fixtures/dump_ct.bin");
fn main() {
    let mut acc = 0u64;
    let iters: u32 = std::env::var("ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    for _ in 0..iters {
        for m in Messages::new(std::hint::black_box(DUMP)).flatten() {
            if let MessageKind::Conntrack(_) = m.kind() {
                let c = m.conn().unwrap();
                for t in [c.tuple_orig(), c.tuple_reply()].into_iter().flatten() {
                    acc += t.src().map_or(0, |a| a.is_ipv4() as u64)
                        + u64::from(t.src_port().unwrap_or(0));
                }
                acc += u64::from(c.mark().unwrap_or(0))
                    + c.counters_orig().and_then(|k| k.packets()).unwrap_or(0);
                acc += c
                    .protoinfo()
                    .and_then(|p| p.tcp())
                    .and_then(|t| t.state())
                    .unwrap_or(0) as u64;
            }
        }
    }
    println!("{acc}");
}

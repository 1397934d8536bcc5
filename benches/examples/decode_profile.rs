//! Decodes the captured dump fixture many times: a target for `perf record` and callgrind.
//! `MODE=floor` walks TLVs only; `MODE=owned` builds `Conn`s; default reads borrowed views.
//! `FIXTURE=events` decodes the captured event stream instead of the dump.
use conntrack_wire::{Attrs, Conn, MessageKind, Messages};
const DUMP: &[u8] = include_bytes!("../../conntrack-wire/tests/fixtures/dump_ct.bin");
const EVENTS: &[u8] = include_bytes!("../../conntrack-wire/tests/fixtures/events.bin");

fn walk(b: &[u8], n: &mut u64) {
    for a in Attrs::new(b).flatten() {
        *n += u64::from(a.kind());
        if a.is_nested_flag() {
            walk(a.payload(), n);
        }
    }
}

fn main() {
    let mut acc = 0u64;
    let iters: u32 = std::env::var("ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let mode = std::env::var("MODE").unwrap_or_default();
    let bytes = match std::env::var("FIXTURE").as_deref() {
        Ok("events") => EVENTS,
        _ => DUMP,
    };
    for _ in 0..iters {
        for m in Messages::new(std::hint::black_box(bytes)).flatten() {
            let MessageKind::Conntrack(_) = m.kind() else {
                continue;
            };
            match mode.as_str() {
                "floor" => {
                    if let Ok(b) = m.attr_bytes() {
                        walk(b, &mut acc);
                    }
                }
                "owned" => {
                    let c = Conn::parse(&m.conn().unwrap());
                    acc += u64::from(c.id.unwrap_or(0));
                }
                _ => {
                    let c = m.conn().unwrap();
                    for t in [c.tuple_orig(), c.tuple_reply()].into_iter().flatten() {
                        acc += t.src().map_or(0, |a| a.is_ipv4() as u64)
                            + t.dst().map_or(0, |a| a.is_ipv4() as u64)
                            + u64::from(t.src_port().unwrap_or(0) ^ t.dst_port().unwrap_or(0))
                            + u64::from(t.proto_num().unwrap_or(0));
                    }
                    acc += u64::from(
                        c.status().map_or(0, |s| s.bits())
                            ^ c.timeout().unwrap_or(0)
                            ^ c.mark().unwrap_or(0),
                    );
                    acc += u64::from(c.id().unwrap_or(0) ^ c.use_count().unwrap_or(0))
                        + u64::from(c.zone().unwrap_or(0));
                    for k in [c.counters_orig(), c.counters_reply()]
                        .into_iter()
                        .flatten()
                    {
                        acc += k.packets().unwrap_or(0) + k.bytes().unwrap_or(0);
                    }
                    acc ^= c.timestamp().and_then(|t| t.start()).unwrap_or(0);
                    acc += c
                        .protoinfo()
                        .and_then(|p| p.tcp())
                        .and_then(|t| t.state())
                        .unwrap_or(0) as u64;
                }
            }
        }
    }
    println!("{acc}");
}

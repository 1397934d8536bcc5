//! Decodes the captured dump fixture many times: a target for `perf record` and callgrind.
//! `MODE=floor` walks TLVs only; `MODE=owned` builds `Conn`s; `MODE=walked` reads borrowed
//! views of every message walked (`Message::conn`); default reads borrowed views through one
//! `ConnDecoder` per pass (`ConnDecoder::conn`).
//! `FIXTURE=events` decodes the captured event stream instead of the dump; `FILE=path` decodes
//! the bytes in `path` (e.g. saved by `dump_profile` with `SAVE=path`).
use conntrack_benches::{touch_all, walk_tlv};
use conntrack_wire::{Conn, ConnDecoder, MessageKind, Messages};
const DUMP: &[u8] = conntrack_wire::testing::fixtures::DUMP_CT;
const EVENTS: &[u8] = conntrack_wire::testing::fixtures::EVENTS;

fn main() {
    let mut acc = 0u64;
    let iters: u32 = std::env::var("ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let mode = std::env::var("MODE").unwrap_or_default();
    let file = std::env::var("FILE").map(|p| std::fs::read(p).expect("FILE readable"));
    let bytes = match (&file, std::env::var("FIXTURE").as_deref()) {
        (Ok(b), _) => b.as_slice(),
        (_, Ok("events")) => EVENTS,
        _ => DUMP,
    };
    for _ in 0..iters {
        let mut layouts = ConnDecoder::new();
        for m in Messages::new(std::hint::black_box(bytes)).flatten() {
            let MessageKind::Conntrack(_) = m.kind() else {
                continue;
            };
            match mode.as_str() {
                "floor" => {
                    if let Ok(b) = m.attr_bytes() {
                        walk_tlv(b, &mut acc);
                    }
                }
                "owned" => {
                    let c = Conn::parse(&layouts.conn(&m).unwrap());
                    acc += u64::from(c.id.unwrap_or(0));
                }
                "walked" => acc += touch_all(&m.conn().unwrap()),
                _ => acc += touch_all(&layouts.conn(&m).unwrap()),
            }
        }
    }
    println!("{acc}");
}

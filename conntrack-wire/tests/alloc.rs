//! Decoding allocates nothing: every fixture walked through the borrowed views, touching every
//! getter, under an allocator that counts this thread's allocations.

mod common;

use common::FIXTURES;
use conntrack_wire::{MessageKind, Messages, TupleView};

mod counting;

fn touch_tuple(t: Option<TupleView<'_>>, acc: &mut u64) {
    if let Some(t) = t {
        *acc += t.src().map_or(0, |a| a.is_ipv4() as u64)
            + t.dst().map_or(0, |a| a.is_ipv6() as u64)
            + u64::from(t.proto_num().unwrap_or(0))
            + u64::from(t.src_port().unwrap_or(0))
            + u64::from(t.dst_port().unwrap_or(0))
            + u64::from(t.icmp_id().unwrap_or(0))
            + u64::from(t.icmp_type().unwrap_or(0))
            + u64::from(t.icmpv6_type().unwrap_or(0))
            + u64::from(t.zone().unwrap_or(0));
    }
}

fn walk_all() -> u64 {
    let mut acc = 0u64;
    for (_, bytes) in FIXTURES {
        for m in Messages::new(bytes) {
            let m = m.unwrap();
            match m.kind() {
                MessageKind::Conntrack(_) => {
                    let c = m.conn().unwrap();
                    touch_tuple(c.tuple_orig(), &mut acc);
                    touch_tuple(c.tuple_reply(), &mut acc);
                    touch_tuple(c.tuple_master(), &mut acc);
                    acc += u64::from(c.status().map_or(0, |s| s.bits()));
                    acc += u64::from(
                        c.timeout().unwrap_or(0) ^ c.mark().unwrap_or(0) ^ c.id().unwrap_or(0),
                    );
                    acc += u64::from(c.use_count().unwrap_or(0)) + u64::from(c.zone().unwrap_or(0));
                    for cnt in [c.counters_orig(), c.counters_reply()]
                        .into_iter()
                        .flatten()
                    {
                        acc += cnt.packets().unwrap_or(0) + cnt.bytes().unwrap_or(0);
                    }
                    if let Some(ts) = c.timestamp() {
                        acc ^= ts.start().unwrap_or(0) ^ ts.stop().unwrap_or(0);
                    }
                    acc ^= c.timestamp_event().unwrap_or(0);
                    if let Some(p) = c.protoinfo() {
                        if let Some(t) = p.tcp() {
                            acc += u64::from(
                                t.state().unwrap_or(0) + t.wscale_original().unwrap_or(0),
                            );
                            acc += u64::from(t.flags_original().map_or(0, |f| f.flags));
                        }
                        if let Some(s) = p.sctp() {
                            acc += u64::from(s.vtag_original().unwrap_or(0));
                        }
                    }
                    acc += c
                        .helper()
                        .and_then(|h| h.name())
                        .map_or(0, |n| n.len() as u64);
                    acc += c.labels().map_or(0, |l| l.iter().count() as u64);
                    acc += c
                        .secctx()
                        .and_then(|s| s.name())
                        .map_or(0, |n| n.len() as u64);
                    acc += c
                        .seq_adj_orig()
                        .and_then(|s| s.correction_pos())
                        .unwrap_or(0) as u64;
                    acc += c.synproxy().and_then(|s| s.isn()).unwrap_or(0) as u64;
                    acc += c.unknown().count() as u64;
                    for a in c.attrs() {
                        acc += u64::from(a.unwrap().kind());
                    }
                }
                MessageKind::Expect(_) => {
                    let x = m.exp().unwrap();
                    touch_tuple(x.tuple(), &mut acc);
                    touch_tuple(x.mask(), &mut acc);
                    touch_tuple(x.master(), &mut acc);
                    acc += u64::from(
                        x.timeout().unwrap_or(0) ^ x.id().unwrap_or(0) ^ x.class().unwrap_or(0),
                    );
                    acc += x.helper_name().map_or(0, |n| n.len() as u64);
                }
                MessageKind::CtStatsCpu => {
                    acc += u64::from(m.cpu_stats().unwrap().insert().unwrap_or(0))
                }
                MessageKind::CtStats => {
                    acc += u64::from(m.global_stats().unwrap().entries().unwrap_or(0))
                }
                MessageKind::ExpStatsCpu => {
                    acc += u64::from(m.exp_stats().unwrap().new().unwrap_or(0))
                }
                MessageKind::Error => acc += m.error().unwrap().errno() as u64,
                MessageKind::Done => acc += m.done().unwrap().status as u64,
                _ => {}
            }
        }
    }
    acc
}

#[test]
fn borrowed_decode_allocates_nothing() {
    let before = counting::count();
    let acc = walk_all();
    let after = counting::count();
    assert!(acc > 0);
    assert_eq!(after - before, 0, "allocations while decoding the fixtures");
    // The counter works: an allocation is seen.
    let v = std::hint::black_box(vec![1u8; 10]);
    assert_eq!(counting::count() - after, 1);
    drop(v);
}

/// An owned entry allocates only for what has no fixed size (a helper name, a security
/// context, attributes this version does not know, and the list of those) and for its
/// extension, once, when it carries any rare attribute (`ConnExt`). The common entry (tuples,
/// status, timeout, mark, counters, use, id, zone, TCP state) allocates nothing.
#[test]
fn owned_parse_allocates_only_for_strings_and_unknown_attributes() {
    const RARE: [u16; 12] = conntrack_wire::ct::ConnExt::KINDS;
    let (mut entries, mut labelled, mut expected, mut made) = (0, 0, 0u64, 0u64);
    let (mut common, mut common_made) = (0, 0u64);
    for (_, bytes) in FIXTURES {
        for m in Messages::new(bytes).flatten() {
            let MessageKind::Conntrack(_) = m.kind() else {
                continue;
            };
            let Ok(v) = m.conn() else { continue };
            let unknown = v.unknown().count() as u64;
            expected += u64::from(v.helper().and_then(|h| h.name()).is_some())
                + u64::from(v.secctx().and_then(|s| s.name()).is_some())
                + unknown
                + u64::from(unknown > 0);
            let proto_rare = v
                .protoinfo()
                .is_some_and(|p| p.tcp().is_none() || p.sctp().is_some() || p.dccp().is_some());
            // A synproxy nest of zeros (every entry made over ctnetlink has one) is a bit.
            let synproxy_rare = v
                .synproxy()
                .is_some_and(|s| (s.isn(), s.its(), s.tsoff()) != (Some(0), Some(0), Some(0)));
            // An event's own time is inline, but for a DESTROY event (whose stop time is).
            let event_rare =
                v.timestamp_event().is_some() && v.timestamp().is_some_and(|t| t.stop().is_some());
            let rare = RARE.iter().any(|&k| v.has(k))
                || unknown > 0
                || proto_rare
                || synproxy_rare
                || event_rare;
            expected += u64::from(rare);
            labelled += usize::from(v.labels().is_some());
            let before = counting::count();
            let c = conntrack_wire::Conn::parse(&v);
            let n = counting::count() - before;
            made += n;
            if !rare {
                common += 1;
                common_made += n;
            }
            std::hint::black_box(c);
            entries += 1;
        }
    }
    assert!(
        entries > 0 && labelled > 0,
        "{entries} entries, {labelled} labelled"
    );
    assert_eq!(
        made, expected,
        "allocations while parsing {entries} owned entries"
    );
    assert_eq!(common_made, 0, "allocations for {common} common entries");
}

/// The captured entries all carry a rare attribute (the capture turns timestamps and labels
/// on), so the common entry is made from each of them: its common attributes alone, emitted
/// and parsed again. Parsing it allocates nothing.
#[test]
fn the_common_entry_parses_without_allocating() {
    let mut entries = 0;
    for (_, bytes) in FIXTURES {
        for m in Messages::new(bytes).flatten() {
            let MessageKind::Conntrack(_) = m.kind() else {
                continue;
            };
            let Ok(v) = m.conn() else { continue };
            let full = conntrack_wire::Conn::parse(&v);
            let mut common = conntrack_wire::Conn::default();
            common.tuple_orig = full.tuple_orig;
            common.tuple_reply = full.tuple_reply;
            common.status = full.status;
            common.timeout = full.timeout;
            common.mark = full.mark;
            common.set_counters_orig(full.counters_orig());
            common.set_counters_reply(full.counters_reply());
            common.use_count = full.use_count;
            common.id = full.id;
            common.zone = full.zone;
            common.set_protoinfo(
                full.protoinfo()
                    .filter(|p| p.sctp.is_none() && p.dccp.is_none()),
            );
            let mut buf = vec![0u8; 4096];
            let mut e = conntrack_wire::Emitter::new(&mut buf);
            common.emit(&mut e);
            let len = e.len();
            let view = conntrack_wire::ConnView::new_checked(&buf[..len]).unwrap();
            let before = counting::count();
            let again = conntrack_wire::Conn::parse(&view);
            assert_eq!(counting::count() - before, 0, "allocations for {again:?}");
            assert_eq!(again, common);
            entries += 1;
        }
    }
    assert!(entries > 0);
}

//! The filter's tests: the compiled program and the user-space evaluation agree.
use super::eval::*;
use super::*;
use crate::consts::*;
use alloc::vec::Vec;
use core::net::{Ipv4Addr, Ipv6Addr};

use crate::{MessageKind, Messages};

const EVENTS: &[u8] = include_bytes!("../../../tests/fixtures/events.bin");

#[allow(clippy::vec_init_then_push)]
fn filters() -> Vec<EventFilter> {
    let lo = Ipv4Addr::LOCALHOST;
    // Entry ids of the captured events, for the id criterion.
    let ids: Vec<u32> = Messages::new(EVENTS)
        .filter_map(|m| m.ok()?.conn().ok()?.id())
        .collect();
    let mut v = Vec::new();
    v.push(EventFilter::default());
    v.push(EventFilter {
        l4proto: Match::any([IPPROTO_TCP]),
        ..Default::default()
    });
    v.push(EventFilter {
        l4proto: Match::none([IPPROTO_TCP, IPPROTO_UDP]),
        ..Default::default()
    });
    v.push(EventFilter {
        orig_src_v4: Match::any([(lo, 32)]),
        ..Default::default()
    });
    v.push(EventFilter {
        orig_src_v4: Match::any([(Ipv4Addr::new(10, 0, 0, 0), 8)]),
        ..Default::default()
    });
    v.push(EventFilter {
        orig_dst_v4: Match::none([(lo, 8)]),
        ..Default::default()
    });
    v.push(EventFilter {
        orig_src_v6: Match::any([(Ipv6Addr::LOCALHOST, 128)]),
        ..Default::default()
    });
    v.push(EventFilter {
        reply_src_v6: Match::any([("2001:db8::".parse().unwrap(), 32)]),
        ..Default::default()
    });
    v.push(EventFilter {
        family: Match::any([AF_INET6]),
        ..Default::default()
    });
    v.push(EventFilter {
        orig_dst_port: Match::any([80, 21, 53]),
        ..Default::default()
    });
    v.push(EventFilter {
        reply_src_port: Match::none([80]),
        ..Default::default()
    });
    v.push(EventFilter {
        tcp_state: Match::any([3]),
        ..Default::default()
    });
    v.push(EventFilter {
        tcp_state: Match::none([3, 7]),
        ..Default::default()
    });
    v.push(EventFilter {
        mark: Match::any([(0x2a, 0xff)]),
        ..Default::default()
    });
    v.push(EventFilter {
        mark: Match::none([(0, u32::MAX)]),
        ..Default::default()
    });
    v.push(EventFilter {
        zone: Match::any([5, 3]),
        ..Default::default()
    });
    v.push(EventFilter {
        zone: Match::any([0]),
        ..Default::default()
    });
    v.push(EventFilter {
        status: Match::any([(IPS_ASSURED, IPS_ASSURED)]),
        ..Default::default()
    });
    v.push(EventFilter {
        status: Match::none([(IPS_SEEN_REPLY, IPS_SEEN_REPLY), (0, IPS_ASSURED)]),
        ..Default::default()
    });
    v.push(EventFilter {
        secmark: Match::none([1, 2]),
        ..Default::default()
    });
    v.push(EventFilter {
        id: Match::any(ids.iter().copied().step_by(2)),
        ..Default::default()
    });
    v.push(EventFilter {
        icmp_type: Match::any([8, 128]),
        ..Default::default()
    });
    v.push(EventFilter {
        icmp_id: Match::none([1]),
        l4proto: Match::any([IPPROTO_ICMP, IPPROTO_ICMPV6]),
        ..Default::default()
    });
    v.push(EventFilter {
        orig_dst_port: Match::any(0..1000u16),
        ..Default::default()
    });
    v.push(EventFilter {
        orig_dst_port: Match::none(0..1000u16),
        ..Default::default()
    });
    v.push(EventFilter {
        orig_src_v6: Match::any((0..300u16).map(|i| (Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, i), 128))),
        ..Default::default()
    });
    v.push(EventFilter {
        l4proto: Match::any([IPPROTO_TCP]),
        orig_src_v4: Match::any([(lo, 32)]),
        orig_dst_port: Match::any((1..=100).collect::<Vec<u16>>()),
        mark: Match::any([(0x2a, 0xffff_ffff), (0, 0xffff_ffff)]),
        ..Default::default()
    });
    // The criteria of the reply and master tuples, protocol state, ranges and labels.
    v.push(EventFilter {
        reply_l4proto: Match::any([IPPROTO_UDP, IPPROTO_SCTP]),
        ..Default::default()
    });
    v.push(EventFilter {
        reply_icmp_type: Match::any([0, 129]),
        reply_icmp_code: Match::any([0]),
        ..Default::default()
    });
    v.push(EventFilter {
        reply_icmp_id: Match::none([1]),
        l4proto: Match::any([IPPROTO_ICMP, IPPROTO_ICMPV6]),
        ..Default::default()
    });
    v.push(EventFilter {
        master_l4proto: Match::none([IPPROTO_TCP]),
        ..Default::default()
    });
    v.push(EventFilter {
        master_src_v4: Match::any([(lo, 8)]),
        master_dst_port: Match::any([21]),
        ..Default::default()
    });
    v.push(EventFilter {
        master_src_v6: Match::none([(Ipv6Addr::LOCALHOST, 128)]),
        ..Default::default()
    });
    // SYN seen (0x02) in the original direction, with any other flags.
    v.push(EventFilter {
        tcp_flags_orig: Match::any([(0x02, 0x02)]),
        ..Default::default()
    });
    v.push(EventFilter {
        tcp_flags_reply: Match::none([(0, 0xff)]),
        tcp_wscale_orig: Match::any(0..15u8),
        ..Default::default()
    });
    v.push(EventFilter {
        tcp_wscale_reply: Match::any([7]),
        ..Default::default()
    });
    v.push(EventFilter {
        sctp_state: Match::any([2, 4]),
        ..Default::default()
    });
    v.push(EventFilter {
        sctp_vtag_orig: Match::any([5, 7]),
        sctp_vtag_reply: Match::none([6]),
        ..Default::default()
    });
    v.push(EventFilter {
        dccp_state: Match::any([1, 4]),
        dccp_role: Match::none([0]),
        ..Default::default()
    });
    v.push(EventFilter {
        timeout: Match::any([(1, 120), (400, 600)]),
        ..Default::default()
    });
    v.push(EventFilter {
        timeout: Match::none([(0, 0)]),
        use_count: Match::any([(1, 1)]),
        ..Default::default()
    });
    v.push(EventFilter {
        labels: Match::any([1, 2, 33, 127]),
        ..Default::default()
    });
    v.push(EventFilter {
        labels: Match::none([1]),
        ..Default::default()
    });
    for (count, index) in [(1, 0), (2, 0), (2, 1), (3, 2)] {
        v.push(EventFilter {
            shard: Some(Shard { count, index }),
            ..Default::default()
        });
    }
    v.push(EventFilter {
        l4proto: Match::any([IPPROTO_UDP]),
        shard: Some(Shard { count: 2, index: 1 }),
        ..Default::default()
    });
    v
}

#[test]
fn shards_split_the_events_exactly_and_keep_each_entry_whole() {
    let msgs: Vec<_> = Messages::new(EVENTS).map(Result::unwrap).collect();
    for count in [2u32, 3] {
        let progs: Vec<_> = (0..count)
            .map(|index| {
                EventFilter {
                    shard: Some(Shard { count, index }),
                    ..Default::default()
                }
                .compile()
                .unwrap()
            })
            .collect();
        let mut owner = alloc::collections::BTreeMap::new();
        let mut per = alloc::vec![0usize; count as usize];
        for m in &msgs {
            let taken: Vec<usize> = (0..progs.len())
                .filter(|&i| run(&progs[i], m.bytes()) != 0)
                .collect();
            assert_eq!(taken.len(), 1, "message seq {} in {taken:?}", m.seq());
            per[taken[0]] += 1;
            if let Some(id) = m.conn().ok().and_then(|c| c.id()) {
                assert_eq!(*owner.entry(id).or_insert(taken[0]), taken[0]);
            }
        }
        assert!(per.iter().all(|&n| n > 0), "{count} shards: {per:?}");
    }
    assert_eq!(
        EventFilter {
            shard: Some(Shard { count: 2, index: 2 }),
            ..Default::default()
        }
        .compile(),
        Err(BpfError::BadShard { count: 2, index: 2 })
    );
    assert!(matches!(
        EventFilter {
            shard: Some(Shard { count: 0, index: 0 }),
            ..Default::default()
        }
        .compile(),
        Err(BpfError::BadShard { .. })
    ));
}

#[test]
fn compiled_programs_agree_with_userspace_on_every_captured_event() {
    let msgs: Vec<_> = Messages::new(EVENTS).map(Result::unwrap).collect();
    assert!(msgs.len() > 40);
    // Under miri, a sample (the interpreter is slow there); natively, everything.
    let msgs: Vec<_> = msgs
        .into_iter()
        .step_by(if cfg!(miri) { 9 } else { 1 })
        .collect();
    for f in filters()
        .into_iter()
        .step_by(if cfg!(miri) { 4 } else { 1 })
    {
        let prog = f.compile().unwrap();
        let mut hits = 0;
        for m in &msgs {
            let want = f.matches(m);
            let got = run(&prog, m.bytes()) != 0;
            assert_eq!(
                got,
                want,
                "filter {f:?} on message seq {} type {:#x}",
                m.seq(),
                m.nlmsg_type()
            );
            hits += usize::from(want);
        }
        let _ = hits;
    }
}

#[test]
#[cfg_attr(
    miri,
    ignore = "slow under miri; the cross-check above covers the same code"
)]
fn filters_select_something_and_reject_something() {
    let msgs: Vec<_> = Messages::new(EVENTS).map(Result::unwrap).collect();
    for f in filters().into_iter().skip(1) {
        let n = msgs
            .iter()
            .filter(|m| matches!(m.kind(), MessageKind::Conntrack(_)) && f.matches(m))
            .count();
        let total = msgs
            .iter()
            .filter(|m| matches!(m.kind(), MessageKind::Conntrack(_)))
            .count();
        assert!(
            n < total
                || f.mark.negate
                || f.zone.values == [0]
                // no captured event carries a secmark (0 for all)
                || f.secmark.active()
                // no captured event is of an expected connection (none has a master tuple)
                || f.master_l4proto.negate
                || f.master_src_v6.negate
                || f.shard.is_some_and(|s| s.count == 1),
            "filter {f:?} rejects nothing"
        );
    }
}

#[test]
fn ipv4_criteria_let_ipv6_events_through() {
    let msgs: Vec<_> = Messages::new(EVENTS).map(Result::unwrap).collect();
    let f = EventFilter {
        orig_src_v4: Match::any([(Ipv4Addr::new(192, 0, 2, 1), 32)]),
        ..Default::default()
    };
    let prog = f.compile().unwrap();
    let v6: Vec<_> = msgs
        .iter()
        .filter(|m| m.family() == Ok(AF_INET6) && matches!(m.kind(), MessageKind::Conntrack(_)))
        .collect();
    assert!(!v6.is_empty());
    assert!(v6.iter().all(|m| run(&prog, m.bytes()) != 0));
}

#[test]
fn long_programs_are_refused_not_truncated() {
    let f = EventFilter {
        orig_src_v6: Match::any(
            (0..1000u16).map(|i| (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, i), 128)),
        ),
        ..Default::default()
    };
    assert!(matches!(f.compile(), Err(BpfError::TooLong { .. })));
    let ok = EventFilter {
        orig_dst_port: Match::any(0..1000u16),
        ..Default::default()
    };
    let p = ok.compile().unwrap();
    assert!(p.len() <= BPF_MAXINSNS);
    assert!(matches!(
        EventFilter {
            orig_src_v4: Match::any([(Ipv4Addr::LOCALHOST, 33)]),
            ..Default::default()
        }
        .compile(),
        Err(BpfError::BadPrefix { len: 33 })
    ));
}

#[test]
fn v6_prefix_masks_split_across_words() {
    assert_eq!(v6_masks(40), [u32::MAX, 0xff00_0000, 0, 0]);
    assert_eq!(v6_masks(128), [u32::MAX; 4]);
    assert_eq!(v6_masks(0), [0; 4]);
    assert_eq!(v4_mask(24), 0xffff_ff00);
}

//! Property tests: parse(emit(x)) == x for every owned type, emitted into `0xa5`-filled buffers
//! of exactly the measured size; every shorter buffer is an error.
#![allow(clippy::type_complexity)]

use conntrack_wire::ct::*;
use conntrack_wire::exp::ExpNat;
use conntrack_wire::filter::Filter;
use conntrack_wire::{Conn, ConnView, Emitter, Error, Exp, ExpView};
use proptest::prelude::*;
use std::net::IpAddr;

/// A struct value built field by field from its default (the owned types are
/// `#[non_exhaustive]`, so other crates cannot write them as literals).
macro_rules! fill {
    ($t:ident { $($f:ident $(: $v:expr)?),* $(,)? }) => {{
        let mut x = $t::default();
        $( fill!(@set x, $f $(, $v)?); )*
        x
    }};
    (@set $x:ident, $f:ident) => { $x.$f = $f; };
    (@set $x:ident, $f:ident, $v:expr) => { $x.$f = $v; };
}

fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(IpAddr::from),
        any::<[u8; 16]>().prop_map(IpAddr::from)
    ]
}

fn tuple() -> BoxedStrategy<Tuple> {
    (
        proptest::option::of(ip()),
        proptest::option::of(ip()),
        (
            any::<Option<u8>>(),
            any::<Option<u16>>(),
            any::<Option<u16>>(),
            any::<Option<u16>>(),
            any::<Option<u8>>(),
        ),
        (
            any::<Option<u8>>(),
            any::<Option<u16>>(),
            any::<Option<u8>>(),
            any::<Option<u8>>(),
        ),
        any::<Option<u16>>(),
    )
        .prop_map(|(src, dst, a, b, zone)| {
            fill!(Tuple {
                src,
                dst,
                proto: fill!(Proto {
                    num: a.0,
                    src_port: a.1,
                    dst_port: a.2,
                    icmp_id: a.3,
                    icmp_type: a.4,
                    icmp_code: b.0,
                    icmpv6_id: b.1,
                    icmpv6_type: b.2,
                    icmpv6_code: b.3,
                }),
                zone,
            })
        })
        .boxed()
}

fn nat() -> impl Strategy<Value = Nat> {
    (
        proptest::option::of(ip()),
        proptest::option::of(ip()),
        any::<Option<u16>>(),
        any::<Option<u16>>(),
    )
        .prop_map(|(min_ip, max_ip, min_port, max_port)| {
            fill!(Nat {
                min_ip,
                max_ip,
                min_port,
                max_port,
            })
        })
}

fn protoinfo() -> impl Strategy<Value = ProtoInfo> {
    let tcp = (
        any::<Option<u8>>(),
        any::<Option<u8>>(),
        any::<Option<u8>>(),
        any::<Option<(u8, u8)>>(),
        any::<Option<(u8, u8)>>(),
    )
        .prop_map(|(s, wo, wr, fo, fr)| {
            fill!(TcpInfo {
                state: s,
                wscale_original: wo,
                wscale_reply: wr,
                flags_original: fo.map(|(flags, mask)| TcpFlags { flags, mask }),
                flags_reply: fr.map(|(flags, mask)| TcpFlags { flags, mask }),
            })
        });
    let dccp = (
        any::<Option<u8>>(),
        any::<Option<u8>>(),
        any::<Option<u64>>(),
    )
        .prop_map(|(state, role, handshake_seq)| {
            fill!(DccpInfo {
                state,
                role,
                handshake_seq,
            })
        });
    let sctp = (
        any::<Option<u8>>(),
        any::<Option<u32>>(),
        any::<Option<u32>>(),
    )
        .prop_map(|(state, vtag_original, vtag_reply)| {
            fill!(SctpInfo {
                state,
                vtag_original,
                vtag_reply,
            })
        });
    (
        proptest::option::of(tcp),
        proptest::option::of(dccp),
        proptest::option::of(sctp),
    )
        .prop_map(|(tcp, dccp, sctp)| fill!(ProtoInfo { tcp, dccp, sctp }))
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..max)
}

fn name() -> impl Strategy<Value = String> {
    "[a-z0-9_-]{0,15}"
}

fn conn() -> BoxedStrategy<Conn> {
    let a = (
        proptest::option::of(tuple()),
        proptest::option::of(tuple()),
        proptest::option::of(tuple()),
        any::<Option<u32>>(),
        any::<Option<u32>>(),
        proptest::option::of(protoinfo()),
        proptest::option::of((
            proptest::option::of(name()),
            proptest::option::of(bytes(24)),
        )),
        proptest::option::of(nat()),
        proptest::option::of(nat()),
    );
    let b = (
        any::<(
            Option<u32>,
            Option<u32>,
            Option<u32>,
            Option<u32>,
            Option<u32>,
            Option<u32>,
        )>(),
        any::<Option<(u64, u64)>>(),
        any::<Option<(u64, u64)>>(),
        any::<Option<(Option<u32>, Option<u32>, Option<u32>)>>(),
        any::<Option<(Option<u32>, Option<u32>, Option<u32>)>>(),
        any::<Option<u16>>(),
        proptest::option::of(name()),
        any::<Option<(Option<u64>, Option<u64>)>>(),
        any::<Option<u64>>(),
    );
    let c = (
        proptest::option::of(bytes(17).prop_map(|b| Labels::from_bytes(&b).unwrap())),
        proptest::option::of(bytes(17).prop_map(|b| Labels::from_bytes(&b).unwrap())),
        any::<Option<(Option<u32>, Option<u32>, Option<u32>)>>(),
        any::<Option<(Option<u32>, Option<u32>, bool)>>(),
        proptest::collection::vec((28u16..200, bytes(12)), 0..3),
    );
    (a.boxed(), b.boxed(), c.boxed())
        .prop_map(|(a, b, c)| {
            let counters = |x: Option<(u64, u64)>| x.map(|(p, b)| Counters::new(p, b));
            let seqadj = |x: Option<(Option<u32>, Option<u32>, Option<u32>)>| {
                x.map(|(correction_pos, offset_before, offset_after)| {
                    fill!(SeqAdj {
                        correction_pos,
                        offset_before,
                        offset_after,
                    })
                })
            };
            let mut conn = fill!(Conn {
                tuple_orig: a.0,
                tuple_reply: a.1,
                status: a.3.map(Status),
                timeout: b.0.0,
                mark: b.0.1,
                use_count: b.0.3,
                id: b.0.4,
                zone: b.5,
            });
            conn.set_protoinfo(a.5);
            conn.set_counters_orig(counters(b.1));
            conn.set_counters_reply(counters(b.2));
            conn.set_timestamp(b.7.map(|(start, stop)| fill!(Timestamp { start, stop })));
            conn.set_labels(c.0);
            conn.set_timestamp_event(b.8);
            conn.set_synproxy(c.2.map(|(isn, its, tsoff)| fill!(Synproxy { isn, its, tsoff })));
            let x = conn.ext_mut();
            x.tuple_master = a.2;
            x.status_mask = a.4.map(Status);
            x.helper = a.6.map(|(name, info)| fill!(Helper { name, info }));
            x.nat_src = a.7;
            x.nat_dst = a.8;
            x.mark_mask = b.0.2;
            x.secmark = b.0.5;
            x.seq_adj_orig = seqadj(b.3);
            x.seq_adj_reply = seqadj(b.4);
            x.secctx = b.6;
            x.labels_mask = c.1;
            x.filter = c.3.map(|(orig_flags, reply_flags, zone)| {
                fill!(Filter {
                    orig_flags,
                    reply_flags,
                    zone,
                })
            });
            x.unknown = c.4;
            conn
        })
        .boxed()
}

fn exp() -> impl Strategy<Value = Exp> {
    (
        (
            proptest::option::of(tuple()),
            proptest::option::of(tuple()),
            proptest::option::of(tuple()),
        ),
        any::<(
            Option<u32>,
            Option<u32>,
            Option<u16>,
            Option<u32>,
            Option<u32>,
        )>(),
        (proptest::option::of(name()), proptest::option::of(name())),
        proptest::option::of((any::<Option<u32>>(), proptest::option::of(tuple()))),
        proptest::collection::vec((12u16..200, bytes(12)), 0..3),
    )
        .prop_map(|(t, n, s, nat, unknown)| {
            fill!(Exp {
                master: t.0,
                tuple: t.1,
                mask: t.2,
                timeout: n.0,
                id: n.1,
                zone: n.2,
                flags: n.3,
                class: n.4,
                helper_name: s.0,
                expect_fn: s.1,
                nat: nat.map(|(dir, tuple)| fill!(ExpNat { dir, tuple })),
                unknown,
            })
        })
}

/// Emits with `f` into a buffer of exactly the measured size, pre-filled with 0xa5, after
/// checking that every shorter buffer is refused.
fn emit_exact(f: impl Fn(&mut Emitter<'_>)) -> Vec<u8> {
    let mut m = Emitter::new(&mut []);
    f(&mut m);
    let need = match m.finish() {
        Ok(0) => 0,
        Err(Error::BufferTooSmall { need }) => need,
        other => panic!("{other:?}"),
    };
    for short in [0, need / 2, need.saturating_sub(1)] {
        if short < need {
            let mut b = vec![0xa5u8; short];
            let mut e = Emitter::new(&mut b);
            f(&mut e);
            assert_eq!(e.finish(), Err(Error::BufferTooSmall { need }));
        }
    }
    let mut buf = vec![0xa5u8; need];
    let mut e = Emitter::new(&mut buf);
    f(&mut e);
    assert_eq!(e.finish(), Ok(need));
    buf
}

proptest! {
    #![proptest_config(ProptestConfig { cases: if cfg!(miri) { 4 } else { 512 }, ..ProptestConfig::default() })]

    #[test]
    fn conn_round_trips(c in conn()) {
        let b = emit_exact(|e| c.emit(e));
        let v = ConnView::new_checked(&b).unwrap();
        prop_assert_eq!(Conn::parse(&v), c);
    }

    #[test]
    fn exp_round_trips(x in exp()) {
        let b = emit_exact(|e| x.emit(e));
        let v = ExpView::new_checked(&b).unwrap();
        prop_assert_eq!(Exp::parse(&v), x);
    }

    #[test]
    fn tuple_round_trips(t in tuple()) {
        let b = emit_exact(|e| t.emit_nest(e, 1));
        let v = TupleView::new_checked(&b[4..]).unwrap();
        prop_assert_eq!(Tuple::parse(&v), t);
    }

    #[test]
    fn arbitrary_bytes_never_panic(b in bytes(512)) {
        for m in conntrack_wire::Messages::new(&b) {
            let Ok(m) = m else { break };
            let _ = m.conn().map(|c| Conn::parse(&c));
            let _ = m.exp().map(|x| Exp::parse(&x));
            let _ = m.error();
            let _ = m.done();
        }
        let _ = ConnView::new_checked(&b).map(|c| Conn::parse(&c));
        let _ = ExpView::new_checked(&b).map(|x| Exp::parse(&x));
    }
}

/// A label bitmap longer than the 16 bytes any kernel sends cannot be an owned [`Labels`]: it
/// is kept, bytes and position in the type space, in `unknown`, and emitted back unchanged.
#[test]
fn oversized_label_bitmap_is_kept_in_unknown() {
    use conntrack_wire::consts::{CTA_LABELS, CTA_MARK};
    let long: Vec<u8> = (1..=20).collect();
    let b = emit_exact(|e| {
        e.put_u32_be(CTA_MARK, 7);
        e.put(CTA_LABELS, &long);
    });
    let c = Conn::parse(&ConnView::new_checked(&b).unwrap());
    assert_eq!(c.mark, Some(7));
    assert_eq!(c.labels(), None);
    assert_eq!(c.ext().unknown, vec![(CTA_LABELS, long.clone())]);
    assert_eq!(emit_exact(|e| c.emit(e)), b);
}

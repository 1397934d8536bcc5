//! The fixtures parse to exactly what conntrack-tools printed for the same table
//! (`conntrack -L -o extended,id,timestamp,labels`, saved beside the bytes at capture time).

mod common;
mod ctlist;

use common::{fixture, messages};
use conntrack_wire::MessageKind;
use conntrack_wire::ct::{SctpState, Status, TcpState, TupleView};
use ctlist::{Line, parse_line};
use std::collections::HashMap;

fn check_tuple(t: &TupleView<'_>, want: &HashMap<String, String>, ctx: &str) {
    assert_eq!(t.src().unwrap().to_string(), want["src"], "{ctx} src");
    assert_eq!(t.dst().unwrap().to_string(), want["dst"], "{ctx} dst");
    if let Some(p) = want.get("sport") {
        assert_eq!(t.src_port().unwrap().to_string(), *p, "{ctx} sport");
        assert_eq!(
            t.dst_port().unwrap().to_string(),
            want["dport"],
            "{ctx} dport"
        );
    }
    if let Some(ty) = want.get("type") {
        let (ty2, code, id) = match (t.icmp_type(), t.icmpv6_type()) {
            (Some(x), _) => (x, t.icmp_code().unwrap(), t.icmp_id().unwrap()),
            (None, Some(x)) => (x, t.icmpv6_code().unwrap(), t.icmpv6_id().unwrap()),
            _ => panic!("{ctx}: no ICMP fields"),
        };
        assert_eq!(ty2.to_string(), *ty, "{ctx} type");
        assert_eq!(code.to_string(), want["code"], "{ctx} code");
        assert_eq!(id.to_string(), want["id"], "{ctx} id");
    }
}

#[test]
fn dump_matches_conntrack_list() {
    let text = include_str!("fixtures/dump_ct.conntrack.txt");
    let lines: Vec<Line> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(parse_line)
        .collect();
    let by_id: HashMap<String, &Line> =
        lines.iter().map(|l| (l.trailer["id"].clone(), l)).collect();
    let msgs = messages(fixture("dump_ct.bin"));
    let mut checked = 0;
    for m in &msgs {
        let MessageKind::Conntrack(_) = m.kind() else {
            continue;
        };
        let ct = m.conn().unwrap();
        let id = ct.id().unwrap().to_string();
        let want = by_id
            .get(&id)
            .unwrap_or_else(|| panic!("id {id} not printed by conntrack -L"));
        let ctx = format!("entry {id}");
        let fam = m.family().unwrap();
        assert_eq!(
            want.family.as_deref(),
            Some(if fam == 2 { "ipv4" } else { "ipv6" }),
            "{ctx} family"
        );
        let orig = ct.tuple_orig().unwrap();
        let reply = ct.tuple_reply().unwrap();
        assert_eq!(orig.proto_num(), Some(want.proto), "{ctx} proto");
        check_tuple(&orig, &want.tuples[0], &format!("{ctx} orig"));
        check_tuple(&reply, &want.tuples[1], &format!("{ctx} reply"));
        // conntrack -L ran right after the dump: its countdown may be a second or two lower.
        let t = ct.timeout().unwrap();
        assert!(
            t >= want.timeout && t - want.timeout <= 2,
            "{ctx} timeout {t} vs {}",
            want.timeout
        );
        let st = ct.status().unwrap();
        assert_eq!(
            !st.contains(Status::SEEN_REPLY),
            want.unreplied,
            "{ctx} UNREPLIED"
        );
        assert_eq!(st.contains(Status::ASSURED), want.assured, "{ctx} ASSURED");
        for (dir, c) in [
            (0, ct.counters_orig().unwrap()),
            (1, ct.counters_reply().unwrap()),
        ] {
            assert_eq!(
                c.packets().unwrap().to_string(),
                want.tuples[dir]["packets"],
                "{ctx} packets"
            );
            assert_eq!(
                c.bytes().unwrap().to_string(),
                want.tuples[dir]["bytes"],
                "{ctx} bytes"
            );
        }
        assert_eq!(
            ct.mark().unwrap().to_string(),
            want.trailer["mark"],
            "{ctx} mark"
        );
        assert_eq!(
            ct.use_count().unwrap().to_string(),
            want.trailer["use"],
            "{ctx} use"
        );
        match want.trailer.get("zone") {
            Some(z) => assert_eq!(ct.zone().unwrap().to_string(), *z, "{ctx} zone"),
            None => assert!(ct.zone().unwrap_or(0) == 0, "{ctx} zone"),
        }
        assert_eq!(
            ct.helper().and_then(|h| h.name()).map(String::from),
            want.trailer.get("helper").cloned(),
            "{ctx} helper"
        );
        let labels: Vec<String> = ct
            .labels()
            .map(|l| l.iter().map(|n| format!("label{n}")).collect())
            .unwrap_or_default();
        let want_labels: Vec<String> = want
            .trailer
            .get("labels")
            .map(|s| s.split(',').map(String::from).collect())
            .unwrap_or_default();
        assert_eq!(labels, want_labels, "{ctx} labels");
        assert_eq!(
            ct.timestamp().and_then(|t| t.start()).is_some(),
            want.trailer.contains_key("delta-time"),
            "{ctx} timestamp"
        );
        match (&want.state, ct.protoinfo()) {
            (Some(s), Some(p)) if want.proto == 6 => {
                assert_eq!(
                    TcpState::from(p.tcp().unwrap().state().unwrap()).name(),
                    s,
                    "{ctx} tcp state"
                )
            }
            (Some(s), Some(p)) if want.proto == 132 => {
                assert_eq!(
                    SctpState::from(p.sctp().unwrap().state().unwrap()).name(),
                    s,
                    "{ctx} sctp state"
                )
            }
            (None, _) => {}
            (s, p) => panic!("{ctx}: state {s:?} vs protoinfo {}", p.is_some()),
        }
        checked += 1;
    }
    assert_eq!(
        checked,
        lines.len(),
        "every line of conntrack -L has an entry in the dump"
    );
    assert!(checked >= 15);
}

#[test]
fn expectation_matches_conntrack_list_expect() {
    let text = include_str!("fixtures/dump_exp.conntrack.txt");
    let tok: Vec<&str> = text.split_whitespace().collect();
    let kv: Vec<(&str, &str)> = tok[1..].iter().filter_map(|t| t.split_once('=')).collect();
    let get = |k: &str, nth: usize| {
        kv.iter()
            .filter(|(a, _)| *a == k)
            .nth(nth)
            .map(|(_, v)| *v)
            .unwrap()
    };
    let msgs = messages(fixture("dump_exp.bin"));
    let exps: Vec<_> = msgs
        .iter()
        .filter(|m| matches!(m.kind(), MessageKind::Expect(_)))
        .collect();
    assert_eq!(exps.len(), 1);
    let x = exps[0].exp().unwrap();
    let timeout: u32 = tok[0].parse().unwrap();
    assert!(x.timeout().unwrap() >= timeout && x.timeout().unwrap() - timeout <= 2);
    let t = x.tuple().unwrap();
    assert_eq!(t.proto_num().unwrap().to_string(), get("proto", 0));
    assert_eq!(t.src().unwrap().to_string(), get("src", 0));
    assert_eq!(t.dst().unwrap().to_string(), get("dst", 0));
    assert_eq!(t.src_port().unwrap().to_string(), get("sport", 0));
    assert_eq!(t.dst_port().unwrap().to_string(), get("dport", 0));
    let mask = x.mask().unwrap();
    assert_eq!(mask.src().unwrap().to_string(), get("mask-src", 0));
    assert_eq!(mask.dst().unwrap().to_string(), get("mask-dst", 0));
    assert_eq!(mask.src_port().unwrap().to_string(), get("sport", 1));
    assert_eq!(mask.dst_port().unwrap().to_string(), get("dport", 1));
    let master = x.master().unwrap();
    assert_eq!(master.src().unwrap().to_string(), get("master-src", 0));
    assert_eq!(master.dst().unwrap().to_string(), get("master-dst", 0));
    assert_eq!(master.src_port().unwrap().to_string(), get("sport", 2));
    assert_eq!(master.dst_port().unwrap().to_string(), get("dport", 2));
    assert_eq!(x.class().unwrap().to_string(), get("class", 0));
    assert_eq!(x.helper_name().unwrap(), get("helper", 0));
}

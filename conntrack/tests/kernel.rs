//! `Nfct` against the real kernel, each test in its own network namespace, cross-checked with
//! conntrack-tools.

#[macro_use]
mod common;

use common::{conntrack, list, list_ids, netns};
use conntrack::wire::consts::*;
use conntrack::wire::ct::{SctpState, Status, TcpState, Tuple};
use conntrack::{
    BatchOp, Conn, DumpFilter, Error, Exp, Family, Feature, FlushFilter, Key, Nfct, Op, Outcome,
    Reason,
};
use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn key_of(c: &Conn) -> Key {
    Key {
        tuple: c.tuple_orig.unwrap(),
        zone: c.zone,
        ..Default::default()
    }
}

/// A varied set of entries: TCP/UDP/ICMP/ICMPv6/SCTP, IPv4 and IPv6, marks, zones, labels.
fn varied() -> Vec<Conn> {
    vec![
        Conn::tcp(sa("10.0.0.1:40000"), sa("10.0.0.2:80"))
            .with_tcp_state(TcpState::Established)
            .with_timeout(300)
            .with_mark(7)
            .with_status(Status::ASSURED | Status::SEEN_REPLY),
        Conn::tcp(sa("10.0.0.1:40001"), sa("10.0.0.3:443"))
            .with_tcp_state(TcpState::SynSent)
            .with_timeout(120)
            .with_zone(3),
        Conn::udp(sa("10.0.0.4:5000"), sa("10.0.0.5:53"))
            .with_timeout(600)
            .with_mark(0x107),
        Conn::icmp_echo(ip("10.0.0.6"), ip("10.0.0.7"), 77).with_timeout(600),
        Conn::tcp(sa("[2001:db8::1]:40002"), sa("[2001:db8::2]:80"))
            .with_tcp_state(TcpState::Established)
            .with_timeout(300)
            .with_mark(7),
        Conn::udp(sa("[2001:db8::3]:5001"), sa("[2001:db8::4]:53"))
            .with_timeout(600)
            .with_zone(3),
        Conn::icmp_echo(ip("2001:db8::5"), ip("2001:db8::6"), 78).with_timeout(600),
        Conn::flow(IPPROTO_SCTP, sa("10.0.0.8:1000"), sa("10.0.0.9:2000"))
            .with_sctp(SctpState::Established, 11, 12)
            .with_timeout(200)
            .with_mark(9),
        Conn::flow(
            IPPROTO_SCTP,
            sa("[2001:db8::7]:1001"),
            sa("[2001:db8::8]:2001"),
        )
        .with_sctp(SctpState::CookieWait, 13, 14)
        .with_timeout(200),
    ]
}

/// Checks one `conntrack -L` line against an entry we created.
fn assert_line_matches(l: &common::ctlist::Line, c: &Conn) {
    let o = c.tuple_orig.unwrap();
    let r = c.tuple_reply.unwrap();
    let ctx = format!("{l:?}");
    assert_eq!(l.proto, o.proto.num.unwrap(), "{ctx}");
    for (t, want) in [(&l.tuples[0], &o), (&l.tuples[1], &r)] {
        assert_eq!(t["src"], want.src.unwrap().to_string(), "{ctx}");
        assert_eq!(t["dst"], want.dst.unwrap().to_string(), "{ctx}");
        if let Some(p) = want.proto.src_port {
            assert_eq!(t["sport"], p.to_string(), "{ctx}");
            assert_eq!(
                t["dport"],
                want.proto.dst_port.unwrap().to_string(),
                "{ctx}"
            );
        }
        if let Some(id) = want.proto.icmp_id.or(want.proto.icmpv6_id) {
            assert_eq!(t["id"], id.to_string(), "{ctx}");
            assert_eq!(
                t["type"],
                want.proto
                    .icmp_type
                    .or(want.proto.icmpv6_type)
                    .unwrap()
                    .to_string(),
                "{ctx}"
            );
        }
    }
    assert_eq!(l.trailer["mark"], c.mark.unwrap_or(0).to_string(), "{ctx}");
    assert_eq!(
        l.trailer.get("zone").cloned(),
        c.zone.map(|z| z.to_string()),
        "{ctx}"
    );
    let t = c.timeout.unwrap();
    assert!(
        l.timeout <= t && t - l.timeout <= 2,
        "{ctx}: timeout {} vs {t}",
        l.timeout
    );
    if let Some(s) = c.protoinfo().and_then(|p| p.tcp).and_then(|t| t.state) {
        assert_eq!(l.state.as_deref(), Some(TcpState::from(s).name()), "{ctx}");
    }
    if let Some(s) = c.protoinfo().and_then(|p| p.sctp).and_then(|t| t.state) {
        assert_eq!(l.state.as_deref(), Some(SctpState::from(s).name()), "{ctx}");
    }
    assert_eq!(
        l.assured,
        c.status.unwrap().contains(Status::ASSURED),
        "{ctx}"
    );
}

fn same_flow(l: &common::ctlist::Line, c: &Conn) -> bool {
    let o = c.tuple_orig.unwrap();
    l.proto == o.proto.num.unwrap()
        && l.tuples[0]["src"] == o.src.unwrap().to_string()
        && l.tuples[0]["dst"] == o.dst.unwrap().to_string()
        && o.proto
            .src_port
            .is_none_or(|p| l.tuples[0]["sport"] == p.to_string())
}

#[test]
fn what_we_create_conntrack_lists() {
    netns!();
    let nfct = Nfct::open().unwrap();
    let all = varied();
    for c in &all {
        nfct.create(c)
            .unwrap_or_else(|e| panic!("create {c:?}: {e}"));
    }
    let lines = list(&["-f", "ipv4"])
        .into_iter()
        .chain(list(&["-f", "ipv6"]))
        .collect::<Vec<_>>();
    assert_eq!(lines.len(), all.len());
    for c in &all {
        let l = lines
            .iter()
            .find(|l| same_flow(l, c))
            .unwrap_or_else(|| panic!("conntrack -L lacks {c:?}"));
        assert_line_matches(l, c);
    }
    // and our own dump agrees on the count and the ids conntrack printed
    let ours: BTreeSet<u32> = nfct
        .dump(Family::Any)
        .unwrap()
        .iter()
        .map(|c| c.id.unwrap())
        .collect();
    let theirs: BTreeSet<u32> = lines
        .iter()
        .map(|l| l.trailer["id"].parse().unwrap())
        .collect();
    assert_eq!(ours, theirs);
}

#[test]
fn what_conntrack_inserts_we_read_back() {
    netns!();
    for args in [
        &[
            "-I",
            "-p",
            "tcp",
            "-s",
            "10.1.0.1",
            "-d",
            "10.1.0.2",
            "--sport",
            "1",
            "--dport",
            "2",
            "--state",
            "ESTABLISHED",
            "-t",
            "100",
            "-u",
            "ASSURED",
            "-m",
            "5",
            "--zone",
            "4",
        ][..],
        &[
            "-I",
            "-p",
            "udp",
            "-s",
            "2001:db8::1",
            "-d",
            "2001:db8::2",
            "--sport",
            "3",
            "--dport",
            "4",
            "-t",
            "50",
        ][..],
        &[
            "-I",
            "-p",
            "icmp",
            "-s",
            "10.1.0.3",
            "-d",
            "10.1.0.4",
            "--icmp-type",
            "8",
            "--icmp-code",
            "0",
            "--icmp-id",
            "99",
            "-t",
            "29",
        ][..],
        &[
            "-I",
            "-p",
            "icmpv6",
            "-s",
            "2001:db8::3",
            "-d",
            "2001:db8::4",
            "--icmpv6-type",
            "128",
            "--icmpv6-code",
            "0",
            "--icmpv6-id",
            "98",
            "-t",
            "29",
        ][..],
        &[
            "-I",
            "-p",
            "sctp",
            "-s",
            "10.1.0.5",
            "-d",
            "10.1.0.6",
            "--sport",
            "5",
            "--dport",
            "6",
            "--state",
            "ESTABLISHED",
            "--orig-vtag",
            "1",
            "--reply-vtag",
            "2",
            "-t",
            "70",
        ][..],
    ] {
        conntrack(args);
    }
    let nfct = Nfct::open().unwrap();
    let ours = nfct.dump(Family::Any).unwrap();
    let lines = list(&["-f", "ipv4"])
        .into_iter()
        .chain(list(&["-f", "ipv6"]))
        .collect::<Vec<_>>();
    assert_eq!(ours.len(), 5);
    assert_eq!(lines.len(), 5);
    for l in &lines {
        let id: u32 = l.trailer["id"].parse().unwrap();
        let c = ours.iter().find(|c| c.id == Some(id)).expect("same ids");
        assert_line_matches(l, c);
        assert_eq!(l.trailer["use"], c.use_count.unwrap().to_string());
    }
}

#[test]
fn get_update_delete_by_tuple_and_id() {
    netns!();
    let nfct = Nfct::open().unwrap();
    for c in varied() {
        nfct.create(&c).unwrap();
        let k = key_of(&c);
        let got = nfct.get(&k).unwrap();
        assert_eq!(got.tuple_orig.unwrap().src, c.tuple_orig.unwrap().src);
        assert_eq!(got.mark.unwrap_or(0), c.mark.unwrap_or(0));
        assert_eq!(got.zone, c.zone);
        // the borrowed lookup sees the same entry, field for field
        let viewed = nfct.get_with(&k, Conn::parse).unwrap();
        assert_eq!(
            (viewed.id, viewed.mark, viewed.zone),
            (got.id, got.mark, got.zone)
        );
        assert_eq!(viewed.tuple_orig, got.tuple_orig);
        assert_eq!(viewed.tuple_reply, got.tuple_reply);
        assert_eq!(nfct.get_with(&k, |v| v.id()).unwrap(), got.id);
        // update: new mark and timeout, seen by conntrack-tools
        let mut u = Conn::for_tuple(c.tuple_orig.unwrap());
        u.zone = c.zone;
        u.mark = Some(0xbeef);
        u.timeout = Some(1000);
        nfct.update(&u).unwrap();
        let l = list(&[]).into_iter().find(|l| same_flow(l, &c)).unwrap();
        assert_eq!(l.trailer["mark"], 0xbeef.to_string());
        assert!(l.timeout > 990);
        // by id
        let id = nfct.get(&k).unwrap().id.unwrap();
        assert_eq!(nfct.get_by_id(id).unwrap().id, Some(id));
        // delete by tuple with the wrong id is refused; by id works
        let wrong = Key {
            id: Some(id.wrapping_add(1)),
            ..k
        };
        assert!(matches!(nfct.delete(&wrong), Err(Error::NotFound { .. })));
        // a get with the wrong id finds nothing (the kernel ignores the id of a get)
        assert!(matches!(nfct.get(&wrong), Err(Error::NotFound { .. })));
        let right = Key { id: Some(id), ..k };
        assert_eq!(nfct.get(&right).unwrap().id, Some(id));
        nfct.delete_by_id(id).unwrap();
        assert!(matches!(nfct.get(&k), Err(Error::NotFound { .. })));
        assert!(matches!(nfct.delete(&k), Err(Error::NotFound { .. })));
    }
    assert!(list(&[]).is_empty());
}

#[test]
fn bad_input_is_refused_and_changes_nothing() {
    netns!();
    let nfct = Nfct::open().unwrap();
    let c = Conn::tcp(sa("10.2.0.1:1"), sa("10.2.0.2:2"))
        .with_tcp_state(TcpState::Established)
        .with_timeout(100);
    nfct.create(&c).unwrap();
    // the entries (ids and every field but the countdown) before the bad requests
    let snapshot = || {
        let mut v: Vec<String> = list(&[])
            .into_iter()
            .map(|l| {
                let sorted = |m: &std::collections::HashMap<String, String>| {
                    m.iter()
                        .filter(|(k, _)| k.as_str() != "delta-time")
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect::<std::collections::BTreeMap<_, _>>()
                };
                format!(
                    "{:?} {:?} {:?} {:?} {:?}",
                    sorted(&l.tuples[0]),
                    sorted(&l.tuples[1]),
                    l.state,
                    l.assured,
                    sorted(&l.trailer)
                )
            })
            .collect();
        v.sort();
        v
    };
    let before = snapshot();
    // duplicate
    assert!(matches!(nfct.create(&c), Err(Error::Exists { .. })));
    // no IPS_CONFIRMED, no timeout, contradictory tuples, missing ports
    let mut unconfirmed = Conn::tcp(sa("10.2.0.3:1"), sa("10.2.0.4:2")).with_timeout(10);
    unconfirmed.status = Some(Status::SEEN_REPLY);
    let e = nfct.create(&unconfirmed).unwrap_err();
    assert!(
        matches!(e, Error::Invalid { .. }) && e.to_string().contains("IPS_CONFIRMED"),
        "{e}"
    );
    let no_timeout = Conn::tcp(sa("10.2.0.3:1"), sa("10.2.0.4:2"));
    assert!(matches!(
        nfct.create(&no_timeout),
        Err(Error::Invalid { .. })
    ));
    let mut mixed = Conn::tcp(sa("10.2.0.3:1"), sa("10.2.0.4:2")).with_timeout(10);
    mixed.tuple_reply = Conn::tcp(sa("[2001:db8::1]:2"), sa("[2001:db8::2]:1")).tuple_orig;
    assert!(matches!(nfct.create(&mixed), Err(Error::Invalid { .. })));
    let mut no_ports = key_of(&c);
    no_ports.tuple.proto.dst_port = None;
    assert!(matches!(nfct.get(&no_ports), Err(Error::Invalid { .. })));
    assert!(matches!(nfct.delete(&no_ports), Err(Error::Invalid { .. })));
    // missing entries
    let missing = key_of(&Conn::tcp(sa("10.9.9.9:1"), sa("10.9.9.9:2")));
    assert!(matches!(nfct.get(&missing), Err(Error::NotFound { .. })));
    assert!(matches!(
        nfct.get_with(&missing, |v| v.id()),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        nfct.get_with(&no_ports, |v| v.id()),
        Err(Error::Invalid { .. })
    ));
    assert!(matches!(nfct.delete(&missing), Err(Error::NotFound { .. })));
    assert!(matches!(
        nfct.update(&Conn::for_tuple(missing.tuple).with_mark(1)),
        Err(Error::NotFound { .. })
    ));
    // a flush filter that would flush everything
    assert!(matches!(
        nfct.flush_filtered(Family::Any, &FlushFilter::default()),
        Err(Error::Invalid { .. })
    ));
    // CTA_FILTER_ZONE, which the running kernel may not know: a dump is never refused (the
    // attribute is sent only where the probe found it; the zone is matched in user space)
    let f = DumpFilter {
        zone: Some(0),
        filter_zone: true,
        ..Default::default()
    };
    assert_eq!(nfct.dump_filtered(Family::Ipv4, &f).unwrap().len(), 1);
    assert_eq!(snapshot(), before, "the table changed");
}

#[test]
#[cfg(feature = "testing")]
fn without_cap_net_admin_everything_is_permission_denied() {
    netns!();
    let nfct = Nfct::open().unwrap();
    let c = Conn::udp(sa("10.3.0.1:1"), sa("10.3.0.2:2")).with_timeout(100);
    nfct.create(&c).unwrap();
    let before = list_ids(&[]);
    // A thread spawned from this one shares its namespace; it drops CAP_NET_ADMIN for itself.
    let c2 = c.clone();
    std::thread::spawn(move || {
        conntrack::sock::drop_net_admin_on_this_thread().unwrap();
        let nfct = Nfct::open().unwrap();
        let e = nfct.dump(Family::Any).unwrap_err();
        assert!(matches!(e, Error::PermissionDenied { .. }), "{e}");
        assert!(e.to_string().contains("CAP_NET_ADMIN"));
        assert!(matches!(
            nfct.delete(&key_of(&c2)),
            Err(Error::PermissionDenied { .. })
        ));
        assert!(matches!(
            nfct.flush(Family::Any),
            Err(Error::PermissionDenied { .. })
        ));
        let d = Conn::udp(sa("10.3.0.3:1"), sa("10.3.0.4:2")).with_timeout(100);
        assert!(matches!(
            nfct.create(&d),
            Err(Error::PermissionDenied { .. })
        ));
    })
    .join()
    .unwrap();
    assert_eq!(list_ids(&[]), before);
}

fn populate(nfct: &Nfct) -> Vec<Conn> {
    let all = varied();
    let r = nfct.batch(&all.iter().cloned().map(BatchOp::Create).collect::<Vec<_>>());
    assert!(r.all_applied(), "{r:?}");
    all
}

fn ids(v: &[Conn]) -> BTreeSet<u32> {
    v.iter().map(|c| c.id.unwrap()).collect()
}

#[test]
fn filtered_dumps_equal_conntrack_tools_filters() {
    netns!();
    let nfct = Nfct::open().unwrap();
    populate(&nfct);
    let t = |src: Option<&str>, dst: Option<&str>, proto: Option<u8>, dport: Option<u16>| {
        let mut t = Tuple::from_addrs(src.map(ip), dst.map(ip));
        t.proto.num = proto;
        t.proto.dst_port = dport;
        t
    };
    let cases: Vec<(DumpFilter, Family, Vec<&str>)> = vec![
        (
            DumpFilter {
                mark: Some((7, 0xffff_ffff)),
                ..Default::default()
            },
            Family::Any,
            vec!["-m", "7"],
        ),
        (
            DumpFilter {
                mark: Some((7, 0xff)),
                ..Default::default()
            },
            Family::Any,
            vec!["-m", "7/0xff"],
        ),
        (
            DumpFilter {
                status: Some((Status::ASSURED, Status::ASSURED)),
                ..Default::default()
            },
            Family::Any,
            vec!["-u", "ASSURED"],
        ),
        (
            DumpFilter {
                zone: Some(3),
                ..Default::default()
            },
            Family::Any,
            vec!["-w", "3"],
        ),
        (
            DumpFilter {
                orig: Some(t(Some("10.0.0.1"), None, None, None)),
                ..Default::default()
            },
            Family::Ipv4,
            vec!["-s", "10.0.0.1"],
        ),
        (
            DumpFilter {
                orig: Some(t(None, Some("2001:db8::2"), None, None)),
                ..Default::default()
            },
            Family::Ipv6,
            vec!["-f", "ipv6", "-d", "2001:db8::2"],
        ),
        (
            DumpFilter {
                orig: Some(t(Some("2001:db8::3"), None, None, None)),
                ..Default::default()
            },
            Family::Ipv6,
            vec!["-f", "ipv6", "-s", "2001:db8::3"],
        ),
        (
            DumpFilter {
                orig: Some(t(None, None, Some(IPPROTO_TCP), Some(80))),
                ..Default::default()
            },
            Family::Ipv4,
            vec!["-p", "tcp", "--dport", "80"],
        ),
        (
            DumpFilter {
                reply: Some(t(Some("10.0.0.5"), None, None, None)),
                ..Default::default()
            },
            Family::Ipv4,
            vec!["-r", "10.0.0.5"],
        ),
        (
            DumpFilter {
                orig: Some(t(None, None, Some(IPPROTO_UDP), None)),
                ..Default::default()
            },
            Family::Ipv6,
            vec!["-f", "ipv6", "-p", "udp"],
        ),
        (
            DumpFilter {
                orig: Some(t(None, None, Some(IPPROTO_TCP), None)),
                ..Default::default()
            },
            Family::Any,
            vec!["-p", "tcp"],
        ),
        (
            DumpFilter {
                orig: Some(t(Some("10.0.0.1"), None, Some(IPPROTO_TCP), Some(443))),
                mark: Some((0, 0xffff_ffff)),
                ..Default::default()
            },
            Family::Any,
            vec!["-s", "10.0.0.1", "-p", "tcp", "--dport", "443", "-m", "0"],
        ),
    ];
    for (f, fam, flags) in cases {
        let ours = ids(&nfct
            .dump_filtered(fam, &f)
            .unwrap_or_else(|e| panic!("{flags:?}: {e}")));
        // conntrack -L lists every family unless told otherwise.
        let mut args = flags.clone();
        if fam == Family::Ipv4 {
            args.extend(["-f", "ipv4"]);
        }
        assert_eq!(ours, list_ids(&args), "filter {flags:?}");
        assert!(
            !ours.is_empty(),
            "filter {flags:?} matched nothing: the case tests nothing"
        );
    }
}

/// A dump selected by an event filter (the streams' filter language) lists what
/// conntrack-tools lists for the same selection (a network with a prefix, a mark with a mask,
/// the latter also sent to the kernel), and what the criteria select on the whole table.
#[test]
fn dumps_selected_by_event_filters_equal_conntrack_tools_and_the_criteria() {
    netns!();
    use conntrack::events::{EventFilter, Match};
    use std::net::Ipv4Addr;
    let nfct = Nfct::open().unwrap();
    populate(&nfct);
    let all = nfct.dump(Family::Any).unwrap();
    let net = EventFilter {
        family: Match::any([AF_INET]),
        orig_dst_v4: Match::any([(Ipv4Addr::new(10, 0, 0, 0), 29)]),
        ..Default::default()
    };
    assert_eq!(
        ids(&nfct.dump_selected(Family::Any, &net).unwrap()),
        common::list_ids(&["-d", "10.0.0.0/29"]),
    );
    let marked = EventFilter {
        mark: Match::any([(7, 0xff)]),
        ..Default::default()
    };
    assert_eq!(
        ids(&nfct.dump_selected(Family::Any, &marked).unwrap()),
        common::list_ids(&["-m", "7/0xff"]),
    );
    // Criteria conntrack -L has no option for: checked against the owned entries.
    let odd = EventFilter {
        orig_dst_port: Match::none([80, 443]),
        timeout: Match::any([(150, 400)]),
        ..Default::default()
    };
    let want: BTreeSet<u32> = all
        .iter()
        .filter(|c| {
            let t = c.tuple_orig.unwrap();
            !matches!(t.proto.dst_port, Some(80 | 443))
                && (150..=400).contains(&c.timeout.unwrap_or(0))
        })
        .map(|c| c.id.unwrap())
        .collect();
    assert!(!want.is_empty() && want.len() < all.len(), "{want:?}");
    assert_eq!(ids(&nfct.dump_selected(Family::Any, &odd).unwrap()), want);
    // A selection an event stream would refuse is refused here too, before anything is sent.
    let bad = EventFilter {
        orig_src_v4: Match::any([(Ipv4Addr::LOCALHOST, 33)]),
        ..Default::default()
    };
    assert!(matches!(
        nfct.dump_selected(Family::Any, &bad),
        Err(Error::Invalid { op: Op::Dump, .. })
    ));
}

#[test]
fn flushes_whole_filtered_and_by_tuple() {
    netns!();
    let nfct = Nfct::open().unwrap();
    populate(&nfct);
    let n = nfct.dump(Family::Any).unwrap().len();
    // mark-filtered flush: exactly the mark-7 entries go
    let marked = list_ids(&["-m", "7"]).len(); // every family
    assert_eq!(marked, 2);
    nfct.flush_filtered(
        Family::Any,
        &FlushFilter {
            mark: Some((7, 0xffff_ffff)),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(nfct.count(Family::Any).unwrap(), n - marked);
    assert!(list_ids(&["-m", "7"]).is_empty());
    // zone-filtered flush
    let zoned = nfct
        .dump_filtered(
            Family::Any,
            &DumpFilter {
                zone: Some(3),
                ..Default::default()
            },
        )
        .unwrap()
        .len();
    assert!(zoned > 0);
    let zf = FlushFilter {
        zone: Some(3),
        ..Default::default()
    };
    assert!(nfct.features().probed, "{:?}", nfct.features());
    if nfct.features().flush_zone {
        nfct.flush_filtered(Family::Any, &zf).unwrap();
    } else {
        // The documented refusal on kernels without the zone flush (before 6.8): nothing
        // changes, and flush_matching deletes the same selection exactly.
        eprintln!("this kernel has no zone flush: checking the refusal and flush_matching");
        let r = nfct.flush_filtered(Family::Any, &zf);
        assert!(
            matches!(
                r,
                Err(Error::Unsupported {
                    op: Op::Flush,
                    feature: Feature::FlushZone,
                    reason: Reason::Absent,
                })
            ),
            "{r:?}"
        );
        assert_eq!(nfct.count(Family::Any).unwrap(), n - marked);
        let done = nfct
            .flush_matching(
                Family::Any,
                &DumpFilter {
                    zone: Some(3),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(done.len(), zoned);
        assert!(done.iter().all(|(_, o)| o.is_applied()), "{done:?}");
    }
    assert_eq!(nfct.count(Family::Any).unwrap(), n - marked - zoned);
    // tuple "flush": by dump + delete
    let mut t = Tuple::default();
    t.proto.num = Some(IPPROTO_SCTP);
    let deleted = nfct
        .flush_matching(
            Family::Any,
            &DumpFilter {
                orig: Some(t),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(deleted.len(), 2, "both SCTP entries, IPv4 and IPv6");
    assert!(deleted.iter().all(|(_, o)| o.is_applied()), "{deleted:?}");
    assert!(list(&["-p", "sctp"]).is_empty());
    // family flush: IPv4 goes, IPv6 stays
    nfct.flush(Family::Ipv4).unwrap();
    assert!(list(&["-f", "ipv4"]).is_empty());
    assert!(!list(&["-f", "ipv6"]).is_empty());
    nfct.flush(Family::Any).unwrap();
    assert_eq!(nfct.count(Family::Any).unwrap(), 0);
}

#[test]
fn batch_reports_one_result_per_item() {
    netns!();
    let nfct = Nfct::open().unwrap();
    let mut ops: Vec<BatchOp> = (0..3000u32)
        .map(|i| {
            let src = SocketAddr::new(IpAddr::from([10, 4, (i >> 8) as u8, i as u8]), 1000);
            BatchOp::Create(Conn::udp(src, sa("10.5.0.1:53")).with_timeout(100))
        })
        .collect();
    ops.push(ops[0].clone()); // duplicate
    ops.push(BatchOp::Create(Conn::udp(
        sa("10.6.0.1:1"),
        sa("10.6.0.2:2"),
    ))); // no timeout
    ops.push(BatchOp::Delete(key_of(&Conn::udp(
        sa("10.7.0.1:1"),
        sa("10.7.0.2:2"),
    )))); // missing
    // The default handle builds the next send on a helper thread (on two CPUs); the serial one
    // does everything on the caller's: both report the same.
    let serial = Nfct::open_with(conntrack::Config::default().pipeline(false)).unwrap();
    for h in [&nfct, &serial] {
        let report = h.batch(&ops);
        assert!(report.stopped.is_none(), "{:?}", report.stopped);
        let r = &report.outcomes;
        assert_eq!(r.len(), 3003);
        assert!(r[..3000].iter().all(Outcome::is_applied));
        assert!(matches!(r[3000], Outcome::Failed(Error::Exists { .. })));
        assert!(matches!(r[3001], Outcome::Failed(Error::Invalid { .. })));
        assert!(matches!(r[3002], Outcome::Failed(Error::NotFound { .. })));
        assert_eq!(nfct.count(Family::Ipv4).unwrap(), 3000);
        assert_eq!(conntrack(&["-C"]).trim(), "3000");
        nfct.flush(Family::Any).unwrap();
    }
}

#[test]
fn batch_longer_than_the_send_buffer_is_split() {
    netns!();
    common::table::add_label_user();
    let nfct = Nfct::open().unwrap();
    let conn = |i: u32| {
        let mut a = [0u8; 16];
        a[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        a[12..].copy_from_slice(&i.to_be_bytes());
        Conn::tcp(
            SocketAddr::new(IpAddr::from(a), 1000),
            sa("[2001:db8::1]:443"),
        )
        .with_tcp_state(TcpState::Established)
        .with_timeout(100)
        .with_mark(i)
        .with_zone(7)
        .with_labels(&[(i % 128) as usize])
    };
    // The test means something only if 1,024 such requests (the most one send carries) are
    // longer than the send buffer allows.
    let mut one = vec![0u8; 1024];
    let len = conntrack::wire::request::emit_into(&mut one, |e| {
        conntrack::wire::request::ct_create(e, 1, AF_INET6, &conn(0))
    })
    .unwrap();
    let sndbuf = conntrack_sock::Socket::open()
        .unwrap()
        .send_buffer()
        .unwrap();
    assert!(
        1024 * len > sndbuf,
        "{len}-byte requests fit {sndbuf} bytes"
    );
    let ops: Vec<BatchOp> = (0..5000).map(|i| BatchOp::Create(conn(i))).collect();
    nfct.batch(&ops).into_result().unwrap();
    assert_eq!(nfct.count(Family::Ipv6).unwrap(), 5000);
    assert_eq!(conntrack(&["-C"]).trim(), "5000");
    let got = nfct.get(&key_of(&conn(4321))).unwrap();
    assert_eq!(got.mark, Some(4321));
    let bits = got.labels().unwrap();
    let labels = conntrack::wire::ct::LabelsView::new(&bits);
    assert_eq!(labels.iter().collect::<Vec<_>>(), [4321 % 128]);
}

#[test]
fn statistics_agree_with_the_table() {
    netns!();
    let nfct = Nfct::open().unwrap();
    populate(&nfct);
    let g = nfct.stats().unwrap();
    assert_eq!(g.entries, Some(nfct.count(Family::Any).unwrap() as u32));
    assert!(g.max_entries.unwrap() > 0);
    let cpus = nfct.stats_cpu().unwrap();
    assert_eq!(
        cpus.len(),
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .max(cpus.len())
    );
    assert!(
        cpus.iter()
            .all(|(_, s)| s.found.is_some() && s.insert.is_some())
    );
    assert!(!nfct.exp_stats_cpu().unwrap().is_empty());
}

#[test]
fn expectations_create_get_delete_flush() {
    netns!();
    let nfct = Nfct::open().unwrap();
    let master = Conn::tcp(sa("10.8.0.1:40000"), sa("10.8.0.2:21"))
        .with_tcp_state(TcpState::Established)
        .with_status(Status::ASSURED | Status::SEEN_REPLY)
        .with_timeout(300)
        .with_helper("ftp");
    nfct.create(&master).unwrap();
    let x = Exp::reverse_to_port(&master.tuple_orig.unwrap(), 50000, 100);
    let tuple = x.tuple.unwrap();
    nfct.exp_create(&x).unwrap();
    assert!(matches!(
        nfct.exp_create(&x),
        Err(Error::Exists { .. }) | Err(Error::Kernel { .. })
    ));
    let listed = conntrack(&["-L", "expect"]);
    assert!(
        listed.contains("dport=50000") && listed.contains("master-src=10.8.0.1"),
        "{listed}"
    );
    let all = nfct.exp_dump(Family::Any).unwrap();
    assert_eq!(all.len(), 1);
    let got = nfct.exp_get(&tuple, None).unwrap();
    assert_eq!(got.tuple.unwrap().proto.dst_port, Some(50000));
    assert_eq!(got.master.unwrap().src, Some(ip("10.8.0.1")));
    assert_eq!(got.helper_name.as_deref(), Some("ftp"));
    nfct.exp_delete(&tuple, None).unwrap();
    assert!(matches!(
        nfct.exp_get(&tuple, None),
        Err(Error::NotFound { .. })
    ));
    nfct.exp_create(&x).unwrap();
    nfct.exp_flush(Family::Any).unwrap();
    assert!(nfct.exp_dump(Family::Any).unwrap().is_empty());
    assert!(conntrack(&["-L", "expect"]).trim().is_empty());
}

#[test]
fn one_handle_many_threads_never_cross_replies() {
    netns!();
    let nfct = Nfct::open().unwrap();
    let conns: Vec<Conn> = (0..8u8)
        .map(|i| {
            Conn::udp(
                SocketAddr::new(IpAddr::from([10, 9, 0, i]), 1000 + u16::from(i)),
                sa("10.9.1.1:53"),
            )
            .with_timeout(100)
            .with_mark(u32::from(i))
        })
        .collect();
    for c in &conns {
        nfct.create(c).unwrap();
    }
    std::thread::scope(|s| {
        for c in &conns {
            let nfct = &nfct;
            s.spawn(move || {
                for _ in 0..200 {
                    let got = nfct.get(&key_of(c)).unwrap();
                    assert_eq!(got.mark, c.mark);
                    assert_eq!(got.tuple_orig.unwrap().src, c.tuple_orig.unwrap().src);
                }
            });
        }
    });
}

#[test]
fn long_dumps_read_on_two_threads_equal_single_threaded_and_conntrack_tools() {
    netns!();
    let nfct = Nfct::open().unwrap();
    // 20,000 entries: about a hundred datagrams, many batches, so the pipeline takes over.
    let ops: Vec<BatchOp> = (0..20_000u32)
        .map(|i| {
            let [_, a, b, c] = i.to_be_bytes();
            let src = SocketAddr::new(IpAddr::from([10, a, b, c]), 1000 + (i % 50_000) as u16);
            BatchOp::Create(
                Conn::udp(src, sa("192.0.2.9:53"))
                    .with_timeout(600)
                    .with_mark(i % 5),
            )
        })
        .collect();
    nfct.batch(&ops).into_result().unwrap();
    let nfct = Nfct::open_with(conntrack::Config::default().pipeline(true)).unwrap();
    let serial = Nfct::open_with(conntrack::Config::default().pipeline(false)).unwrap();
    let key = |c: &Conn| (c.id, c.tuple_orig.and_then(|t| t.src), c.mark);
    let mut piped: Vec<_> = nfct.dump(Family::Any).unwrap().iter().map(key).collect();
    let mut single: Vec<_> = serial.dump(Family::Any).unwrap().iter().map(key).collect();
    piped.sort();
    single.sort();
    assert_eq!(piped.len(), 20_000);
    assert_eq!(piped, single);
    let ids: BTreeSet<u32> = piped.iter().filter_map(|k| k.0).collect();
    assert_eq!(ids, list_ids(&[]));
    // The handle stays usable: a filtered dump, a count and a get after the long dumps.
    let f = DumpFilter {
        mark: Some((3, 0xffff_ffff)),
        ..Default::default()
    };
    assert_eq!(nfct.dump_filtered(Family::Any, &f).unwrap().len(), 4_000);
    assert_eq!(nfct.count(Family::Any).unwrap(), 20_000);
    let first = Conn::udp(sa("10.0.0.0:1000"), sa("192.0.2.9:53"));
    assert_eq!(nfct.get(&key_of(&first)).unwrap().mark, Some(0));
}

#[test]
fn open_in_another_namespace_by_path_and_by_descriptor() {
    netns!();
    let path = format!("/proc/self/task/{}/ns/net", nix::unistd::gettid());
    let fd: std::os::fd::OwnedFd = std::fs::File::open(&path).unwrap().into();
    let here = Nfct::open().unwrap();
    here.create(&Conn::udp(sa("10.10.0.1:1"), sa("10.10.0.2:2")).with_timeout(100))
        .unwrap();
    let counts = std::thread::spawn(move || {
        // This thread moves into yet another empty namespace, then reaches ours by path and
        // by descriptor; opening there must not move the thread.
        netns();
        let own = Nfct::open().unwrap().count(Family::Any).unwrap();
        let nfct = Nfct::open_with(conntrack::Config::default().netns(path)).unwrap();
        let by_path = nfct.count(Family::Any).unwrap();
        let fd2 = fd.try_clone().unwrap();
        let by_fd = Nfct::open_with(conntrack::Config::default().netns_fd(fd))
            .unwrap()
            .count(Family::Any)
            .unwrap();
        // An event stream opened by descriptor listens there, not here.
        let cfg = conntrack::events::EventConfig::default().netns_fd(fd2);
        let mut ev = conntrack::events::Events::open_with(cfg).unwrap();
        nfct.create(&Conn::udp(sa("10.10.0.3:1"), sa("10.10.0.4:2")).with_timeout(100))
            .unwrap();
        let heard = ev.recv().unwrap().len();
        let own_again = Nfct::open().unwrap().count(Family::Any).unwrap();
        (own, by_path, by_fd, heard, own_again)
    });
    assert_eq!(counts.join().unwrap(), (0, 1, 1, 1, 0));
}

/// Labels are kept only when the namespace has a label user: an nftables `ct label` rule.
#[test]
fn labels_and_nat_round_trip() {
    netns!();
    common::table::add_label_user();
    let nfct = Nfct::open().unwrap();
    let c = Conn::tcp(sa("10.11.0.1:1000"), sa("10.11.0.2:80"))
        .with_tcp_state(TcpState::Established)
        .with_timeout(100)
        .with_labels(&[0, 5, 127]);
    nfct.create(&c).unwrap();
    let got = nfct.get(&key_of(&c)).unwrap();
    let bits = got.labels().unwrap();
    let labels = conntrack::wire::ct::LabelsView::new(&bits);
    assert_eq!(labels.iter().collect::<Vec<_>>(), [0, 5, 127]);
    // conntrack-tools names labels through /etc/xtables/connlabel.conf (`cargo xtask ci` installs the
    // identity map `N labelN`).
    let out = conntrack(&["-L", "-o", "labels"]);
    assert!(out.contains("labels=label0,label5,label127"), "{out}");

    // Source NAT given at create time: the kernel rewrites the reply tuple and marks the entry.
    let mut n = Conn::tcp(sa("10.11.1.1:2000"), sa("10.11.1.2:80"))
        .with_tcp_state(TcpState::Established)
        .with_timeout(100);
    n.ext_mut().nat_src = Some(conntrack::wire::ct::Nat::range(
        ip("192.168.77.1"),
        ip("192.168.77.1"),
    ));
    nfct.create(&n).unwrap();
    let got = nfct.get(&key_of(&n)).unwrap();
    assert_eq!(
        got.tuple_reply.unwrap().dst,
        Some(ip("192.168.77.1")),
        "{got:?}"
    );
    let st = got.status.unwrap();
    assert!(
        st.contains(Status::SRC_NAT) && st.contains(Status::SRC_NAT_DONE),
        "{:?}",
        st.names().collect::<Vec<_>>()
    );
    let l = list(&["-s", "10.11.1.1"]);
    assert_eq!(l.len(), 1);
    assert_eq!(l[0].tuples[1]["dst"], "192.168.77.1");
    // A reply given already translated plus the NAT range: the kernel keeps the reply tuple.
    let mut m = Conn::tcp(sa("10.11.2.1:2000"), sa("10.11.2.2:80"))
        .with_tcp_state(TcpState::Established)
        .with_timeout(100);
    m.tuple_reply = Conn::tcp(sa("10.11.2.2:80"), sa("192.168.77.2:2000")).tuple_orig;
    m.ext_mut().nat_src = Some(conntrack::wire::ct::Nat::range(
        ip("192.168.77.2"),
        ip("192.168.77.2"),
    ));
    nfct.create(&m).unwrap();
    let got = nfct.get(&key_of(&m)).unwrap();
    assert_eq!(got.tuple_reply.unwrap().dst, Some(ip("192.168.77.2")));
    assert!(got.status.unwrap().contains(Status::SRC_NAT_DONE));
}

/// The kernel's IPv6 `CTA_FILTER` address match is inverted up to 6.18; `Features` must say so
/// exactly when the running kernel does it, since the library relies on that to filter in
/// user space instead.
#[test]
fn ipv6_cta_filter_inversion_is_detected_correctly() {
    userns!();
    use conntrack::wire::request::{self, DumpFilter};
    use conntrack::wire::{MessageKind, Messages};
    netns();
    let nfct = Nfct::open().unwrap();
    let a = Conn::udp(sa("[2001:db8::a]:1"), sa("[2001:db8::b]:2")).with_timeout(100);
    let b = Conn::udp(sa("[2001:db8::c]:1"), sa("[2001:db8::d]:2")).with_timeout(100);
    nfct.create(&a).unwrap();
    nfct.create(&b).unwrap();
    // A raw filtered dump, bypassing the library's user-space check.
    let sock = conntrack::sock::Socket::open().unwrap();
    let f = DumpFilter {
        orig: Some(Tuple::from_addrs(Some(ip("2001:db8::a")), None)),
        ..Default::default()
    };
    let mut buf = vec![0u8; 256];
    let n = request::emit_into(&mut buf, |e| request::ct_dump(e, 1, AF_INET6, &f)).unwrap();
    sock.send(&buf[..n]).unwrap();
    let mut srcs = Vec::new();
    let mut rx = vec![0u8; 65536];
    'outer: loop {
        let m = sock.recv(&mut rx).unwrap();
        for msg in Messages::new(&rx[..m.len]) {
            let msg = msg.unwrap();
            match msg.kind() {
                MessageKind::Conntrack(_) => {
                    srcs.push(msg.conn().unwrap().tuple_orig().unwrap().src().unwrap())
                }
                _ => break 'outer,
            }
        }
    }
    let inverted = srcs == [ip("2001:db8::c")];
    let correct = srcs == [ip("2001:db8::a")];
    assert!(inverted || correct, "kernel returned {srcs:?}");
    let ft = nfct.features();
    assert!(ft.probed, "the probe did not run: {ft:?}");
    assert_eq!(
        ft.ipv6_filter_inverted, inverted,
        "kernel returned {srcs:?}"
    );
    assert_eq!(ft.dump_tuple_ipv6, correct, "kernel returned {srcs:?}");
    // whatever the kernel does, the library returns exactly the match
    let got = nfct.dump_filtered(Family::Ipv6, &f).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].tuple_orig.unwrap().src, Some(ip("2001:db8::a")));
}

/// The send timeout (go-conntrack's `WriteTimeout`) reaches the socket, and a handle opened
/// with one works as usual.
#[test]
fn send_timeout_is_set_on_the_socket() {
    netns!();
    let sock = conntrack::sock::Socket::open().unwrap();
    assert_eq!(sock.send_timeout().unwrap(), None);
    let t = std::time::Duration::from_millis(1500);
    sock.set_send_timeout(Some(t)).unwrap();
    assert_eq!(sock.send_timeout().unwrap(), Some(t));
    sock.set_send_timeout(None).unwrap();
    assert_eq!(sock.send_timeout().unwrap(), None);
    let nfct = Nfct::open_with(conntrack::Config::default().send_timeout(t)).unwrap();
    nfct.create(&Conn::udp(sa("10.12.0.1:1"), sa("10.12.0.2:2")).with_timeout(100))
        .unwrap();
    assert_eq!(nfct.count(Family::Any).unwrap(), 1);
}

/// `Nfct::set_option` (go-conntrack's `SetOption`): request-socket options are set and the
/// handle keeps working; event-socket options are refused.
#[test]
fn socket_options_can_be_set_on_the_handle() {
    netns!();
    use conntrack::sock::SockOpt;
    let nfct = Nfct::open().unwrap();
    let c = Conn::udp(sa("10.13.0.1:1"), sa("10.13.0.2:2")).with_timeout(100);
    nfct.create(&c).unwrap();
    nfct.set_option(SockOpt::GetStrictChk, true).unwrap();
    assert_eq!(nfct.dump(Family::Any).unwrap().len(), 1);
    // Without extended acks the kernel's errors still arrive, only without their message.
    nfct.set_option(SockOpt::ExtAck, false).unwrap();
    assert!(matches!(nfct.create(&c), Err(Error::Exists { .. })));
    nfct.set_option(SockOpt::ExtAck, true).unwrap();
    for opt in [SockOpt::ListenAllNsid, SockOpt::BroadcastError] {
        let r = nfct.set_option(opt, true);
        assert!(matches!(r, Err(Error::Invalid { .. })), "{opt:?}: {r:?}");
    }
}

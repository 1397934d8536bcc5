//! Event streams against the real kernel, each test in its own network namespace.

#[macro_use]
mod common;

use common::{conntrack, netns};
use conntrack::events::{Event, EventConfig, EventKind, EventView, Events, Groups};
use conntrack::wire::ct::{Status, TcpState};
use conntrack::{BatchOp, Conn, Exp, Family, Key, Nfct};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Collects owned events until `want` have arrived or `limit` passes.
fn collect(ev: &mut Events, want: usize, limit: Duration) -> Vec<Event> {
    ev.set_nonblocking(true).unwrap();
    let start = Instant::now();
    let mut out = Vec::new();
    while out.len() < want && start.elapsed() < limit {
        let b = ev.recv().unwrap();
        if b.is_empty() {
            std::thread::sleep(Duration::from_millis(5));
        }
        out.extend(b.to_vec());
    }
    out
}

fn kinds(v: &[Event]) -> Vec<EventKind> {
    v.iter()
        .map(|e| match e {
            Event::Conn { kind, .. } | Event::Exp { kind, .. } => *kind,
            other => panic!("unexpected {other:?}"),
        })
        .collect()
}

#[test]
fn a_stream_without_groups_is_refused() {
    netns!();
    let err = Events::open_with(EventConfig::default().groups(Groups::NONE)).unwrap_err();
    assert!(
        matches!(&err, conntrack::Error::Invalid { what, .. } if what.contains("no group")),
        "{err:?}"
    );
    // One group is enough.
    Events::open_with(EventConfig::default().groups(Groups {
        destroy: true,
        ..Groups::NONE
    }))
    .unwrap();
}

#[test]
fn shards_receive_every_event_exactly_once_each_entry_in_order() {
    netns!();
    let mut shards = Events::open_shards(EventConfig::default(), 2).unwrap();
    let nfct = Nfct::open().unwrap();
    let conns: Vec<Conn> = (0..2000u32)
        .map(|i| {
            let src = SocketAddr::new(IpAddr::from([10, 30, (i >> 8) as u8, i as u8]), 1000);
            Conn::udp(src, sa("10.31.0.1:53")).with_timeout(100)
        })
        .collect();
    let creates: Vec<BatchOp> = conns.iter().cloned().map(BatchOp::Create).collect();
    nfct.batch(&creates).into_result().unwrap();
    let deletes: Vec<BatchOp> = conns
        .iter()
        .map(|c| {
            BatchOp::Delete(Key {
                tuple: c.tuple_orig.unwrap(),
                ..Default::default()
            })
        })
        .collect();
    nfct.batch(&deletes).into_result().unwrap();
    let mut got: Vec<Vec<(u32, EventKind)>> = vec![Vec::new(); shards.len()];
    let start = Instant::now();
    while got.iter().map(Vec::len).sum::<usize>() < 4000
        && start.elapsed() < Duration::from_secs(10)
    {
        for (ev, out) in shards.iter_mut().zip(got.iter_mut()) {
            ev.set_nonblocking(true).unwrap();
            for e in ev.recv().unwrap().to_vec() {
                match e {
                    Event::Conn { kind, conn, .. } => out.push((conn.id.unwrap(), kind)),
                    other => panic!("unexpected {other:?}"),
                }
            }
        }
    }
    for ev in &mut shards {
        assert_eq!(ev.pending_loss().unwrap(), 0);
    }
    // Both shares hold some, together exactly NEW and DESTROY of every entry, and each
    // entry's two events sit in one share, NEW first.
    assert!(
        got.iter().all(|g| !g.is_empty()),
        "{:?}",
        got.iter().map(Vec::len).collect::<Vec<_>>()
    );
    assert_eq!(got.iter().map(Vec::len).sum::<usize>(), 4000);
    let mut owner: HashMap<u32, (usize, Vec<EventKind>)> = HashMap::new();
    for (i, g) in got.iter().enumerate() {
        for (id, kind) in g {
            let o = owner.entry(*id).or_insert((i, Vec::new()));
            assert_eq!(o.0, i, "entry {id} in two shares");
            o.1.push(*kind);
        }
    }
    assert_eq!(owner.len(), 2000);
    assert!(
        owner
            .values()
            .all(|(_, k)| k == &[EventKind::New, EventKind::Destroy])
    );
    // Bad shard requests are refused, not widened.
    assert!(matches!(
        Events::open_shards(EventConfig::default(), 0),
        Err(conntrack::Error::Invalid { .. })
    ));
}

#[test]
fn library_mutations_yield_their_events_in_order() {
    netns!();
    let mut ev = Events::open_with(EventConfig::default()).unwrap();
    let nfct = Nfct::open().unwrap();
    let c = Conn::tcp(sa("10.20.0.1:1000"), sa("10.20.0.2:80"))
        .with_tcp_state(TcpState::Established)
        .with_timeout(100)
        .with_mark(3)
        .with_zone(2);
    nfct.create(&c).unwrap();
    let key = Key {
        tuple: c.tuple_orig.unwrap(),
        zone: Some(2),
        ..Default::default()
    };
    let u = Conn::for_tuple(c.tuple_orig.unwrap())
        .with_zone(2)
        .with_mark(4);
    nfct.update(&u).unwrap();
    nfct.delete(&key).unwrap();
    let got = collect(&mut ev, 3, Duration::from_secs(5));
    assert_eq!(
        kinds(&got),
        [EventKind::New, EventKind::Update, EventKind::Destroy]
    );
    let conns: Vec<&Conn> = got
        .iter()
        .map(|e| match e {
            Event::Conn { conn, .. } => conn,
            _ => unreachable!(),
        })
        .collect();
    let id = conns[0].id.unwrap();
    assert!(conns.iter().all(|x| x.id == Some(id) && x.zone == Some(2)));
    assert_eq!(conns[0].tuple_orig.unwrap().src, c.tuple_orig.unwrap().src);
    assert_eq!(conns[0].mark, Some(3));
    assert_eq!(conns[1].mark, Some(4));
    assert_eq!(
        conns[0]
            .protoinfo()
            .and_then(|p| p.tcp)
            .and_then(|t| t.state),
        Some(3)
    );
    assert_eq!(conns[0].tuple_reply.unwrap().proto.src_port, Some(80));
}

#[test]
fn conntrack_tools_mutations_yield_the_same_events() {
    netns!();
    let mut ev = Events::open_with(EventConfig::default()).unwrap();
    conntrack(&[
        "-I",
        "-p",
        "udp",
        "-s",
        "10.21.0.1",
        "-d",
        "10.21.0.2",
        "--sport",
        "1",
        "--dport",
        "2",
        "-t",
        "100",
        "-m",
        "1",
    ]);
    conntrack(&[
        "-U",
        "-p",
        "udp",
        "-s",
        "10.21.0.1",
        "-d",
        "10.21.0.2",
        "--sport",
        "1",
        "--dport",
        "2",
        "-m",
        "9",
    ]);
    conntrack(&["-D", "-p", "udp", "-s", "10.21.0.1"]);
    let got = collect(&mut ev, 3, Duration::from_secs(5));
    assert_eq!(
        kinds(&got),
        [EventKind::New, EventKind::Update, EventKind::Destroy]
    );
    let Event::Conn { conn, .. } = &got[1] else {
        unreachable!()
    };
    assert_eq!(conn.mark, Some(9));
    assert_eq!(conn.tuple_orig.unwrap().proto.dst_port, Some(2));
}

#[test]
fn expectation_events() {
    netns!();
    let cfg = EventConfig::default().groups(Groups::ALL);
    let mut ev = Events::open_with(cfg).unwrap();
    let nfct = Nfct::open().unwrap();
    let master = Conn::tcp(sa("10.22.0.1:40000"), sa("10.22.0.2:21"))
        .with_tcp_state(TcpState::Established)
        .with_status(Status::ASSURED | Status::SEEN_REPLY)
        .with_timeout(300)
        .with_helper("ftp");
    nfct.create(&master).unwrap();
    let ip = |s: &str| -> IpAddr { s.parse().unwrap() };
    let x = Exp::reverse_to_port(&master.tuple_orig.unwrap(), 50001, 100);
    let tuple = x.tuple.unwrap();
    nfct.exp_create(&x).unwrap();
    nfct.exp_delete(&tuple, None).unwrap();
    let got = collect(&mut ev, 3, Duration::from_secs(5));
    assert_eq!(
        kinds(&got),
        [EventKind::New, EventKind::ExpNew, EventKind::ExpDestroy]
    );
    let Event::Exp { exp, .. } = &got[1] else {
        unreachable!()
    };
    assert_eq!(exp.tuple.unwrap().proto.dst_port, Some(50001));
    assert_eq!(exp.master.unwrap().src, Some(ip("10.22.0.1")));
}

/// 200,000 creates and the flush that follows: every event is received or counted as lost,
/// and received + lost equals what the kernel generated.
#[test]
fn burst_every_event_received_or_counted() {
    userns!();
    const N: u32 = 200_000;
    netns();
    let ev = Events::open_with(EventConfig::default()).unwrap();
    let granted = ev.granted().clone();
    let consumer = std::thread::spawn(move || {
        let mut ev = ev;
        ev.set_nonblocking(true).unwrap();
        let (mut new, mut destroy, mut lost, mut other) = (0u64, 0u64, 0u64, 0u64);
        let mut idle_since = Instant::now();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(120) {
            let b = ev.recv().unwrap();
            if b.is_empty() {
                if new + destroy + lost >= 2 * u64::from(N)
                    || idle_since.elapsed() > Duration::from_secs(5)
                {
                    break;
                }
                std::thread::sleep(Duration::from_millis(1));
                continue;
            }
            idle_since = Instant::now();
            for e in b.iter() {
                match e {
                    EventView::Conn {
                        kind: EventKind::New,
                        view: _,
                        ..
                    } => new += 1,
                    EventView::Conn {
                        kind: EventKind::Destroy,
                        view: _,
                        ..
                    } => destroy += 1,
                    EventView::Overrun { lost: l } => lost += l,
                    _ => other += 1,
                }
            }
        }
        (new, destroy, lost, other)
    });
    let nfct = Nfct::open().unwrap();
    let ops: Vec<BatchOp> = (0..N)
        .map(|i| {
            let src = SocketAddr::new(
                IpAddr::from([10, 30 + (i >> 16) as u8, (i >> 8) as u8, i as u8]),
                2000,
            );
            BatchOp::Create(Conn::udp(src, sa("192.0.2.9:53")).with_timeout(600))
        })
        .collect();
    let t = Instant::now();
    nfct.batch(&ops).into_result().unwrap();
    let created = t.elapsed();
    assert_eq!(nfct.count(Family::Any).unwrap(), N as usize);
    nfct.flush(Family::Any).unwrap();
    assert_eq!(nfct.count(Family::Any).unwrap(), 0);
    let (new, destroy, lost, other) = consumer.join().unwrap();
    println!(
        "burst of {N} creates in {created:?} + flush: received {new} NEW and {destroy} DESTROY, lost {lost}, other {other}; buffer {granted:?}"
    );
    assert_eq!(other, 0);
    assert_eq!(
        new + destroy + lost,
        2 * u64::from(N),
        "received + lost must equal generated"
    );
}

#[test]
fn event_thread_delivers_in_order_and_counts_every_loss() {
    userns!();
    const N: u32 = 20_000;
    netns();
    // A small buffer and a consumer that does not read during the burst: the helper thread
    // fills its three batches, the socket overflows, and every loss must still be counted.
    let cfg = EventConfig::default().recv_buffer(256 << 10);
    let mut ev = Events::open_with(cfg).unwrap().spawn().unwrap();
    let nfct = Nfct::open().unwrap();
    let ops: Vec<BatchOp> = (0..N)
        .map(|i| {
            let [_, _, a, b] = i.to_be_bytes();
            let src = SocketAddr::new(IpAddr::from([10, 40, a, b]), 3000);
            BatchOp::Create(
                Conn::udp(src, sa("192.0.2.9:53"))
                    .with_timeout(600)
                    .with_mark(i),
            )
        })
        .collect();
    nfct.batch(&ops).into_result().unwrap();
    let (mut new, mut lost, mut last_mark) = (0u64, 0u64, None);
    while new + lost < u64::from(N) {
        let Some(got) = ev.recv_timeout(Duration::from_secs(10)).unwrap() else {
            break;
        };
        for e in got.batch().iter() {
            match e {
                EventView::Conn {
                    kind: EventKind::New,
                    view: c,
                    ..
                } => {
                    // Marks were created in increasing order: events keep that order.
                    let m = c.mark().unwrap();
                    assert!(last_mark.is_none_or(|l| m > l), "{m} after {last_mark:?}");
                    last_mark = Some(m);
                    assert_eq!(c.tuple_orig().unwrap().dst_port(), Some(53));
                    new += 1;
                }
                EventView::Overrun { lost: l } => lost += l,
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    println!("event thread: received {new}, lost {lost} of {N}");
    assert_eq!(
        new + lost,
        u64::from(N),
        "received + lost must equal generated"
    );
    assert!(
        lost > 0,
        "a 256 KiB buffer must overflow under {N} unread events"
    );
    // Dropping the stream stops its thread promptly.
    let t = Instant::now();
    drop(ev);
    assert!(t.elapsed() < Duration::from_secs(1));
}

/// Needs root: `ip netns attach` names the peer namespace under /var/run/netns, which only
/// the initial namespace's root may mount.
#[test]
fn events_from_another_namespace_carry_its_id_needs_root() {
    common::needs_root();
    netns!();
    let cfg = EventConfig::default().all_namespaces(true);
    let mut ev = Events::open_with(cfg).unwrap();
    let name = format!("ct-evtest-{}", std::process::id());
    let (tx, rx) = std::sync::mpsc::channel();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let peer = std::thread::spawn(move || {
        netns();
        tx.send(nix::unistd::gettid().as_raw()).unwrap();
        go_rx.recv().unwrap();
        conntrack(&[
            "-I",
            "-p",
            "udp",
            "-s",
            "10.23.0.1",
            "-d",
            "10.23.0.2",
            "--sport",
            "1",
            "--dport",
            "2",
            "-t",
            "100",
        ]);
    });
    let tid = rx.recv().unwrap();
    // Name the peer namespace and give it id 7 as seen from ours.
    let ip = |args: &[&str]| {
        let st = std::process::Command::new("ip")
            .args(args)
            .status()
            .expect("iproute2 is installed");
        assert!(st.success(), "ip {args:?}");
    };
    ip(&["netns", "attach", &name, &tid.to_string()]);
    ip(&["netns", "set", &name, "7"]);
    go_tx.send(()).unwrap();
    peer.join().unwrap();
    let got = collect(&mut ev, 1, Duration::from_secs(5));
    ip(&["netns", "delete", &name]);
    assert_eq!(got.len(), 1, "{got:?}");
    let Event::Conn {
        kind, conn, nsid, ..
    } = &got[0]
    else {
        panic!("{got:?}")
    };
    assert_eq!(*kind, EventKind::New);
    assert_eq!(*nsid, Some(7));
    assert_eq!(
        conn.tuple_orig.unwrap().src,
        Some("10.23.0.1".parse().unwrap())
    );
}

#[test]
fn resync_reports_what_changed() {
    netns!();
    let nfct = Nfct::open().unwrap();
    let a = Conn::udp(sa("10.24.0.1:1"), sa("10.24.0.2:2")).with_timeout(100);
    let b = Conn::udp(sa("10.24.0.3:1"), sa("10.24.0.4:2")).with_timeout(100);
    nfct.create(&a).unwrap();
    nfct.create(&b).unwrap();
    let mut known = HashMap::new();
    let d = nfct.resync(Family::Any, &mut known).unwrap();
    assert_eq!((d.added.len(), d.changed.len(), d.removed.len()), (2, 0, 0));
    // while "events were lost": one new, one changed, one destroyed
    let c = Conn::udp(sa("10.24.0.5:1"), sa("10.24.0.6:2")).with_timeout(100);
    nfct.create(&c).unwrap();
    nfct.update(&Conn::for_tuple(a.tuple_orig.unwrap()).with_mark(5))
        .unwrap();
    nfct.delete(&Key {
        tuple: b.tuple_orig.unwrap(),
        ..Default::default()
    })
    .unwrap();
    let d = nfct.resync(Family::Any, &mut known).unwrap();
    assert_eq!(d.added.len(), 1);
    assert_eq!(d.added[0].tuple_orig, c.tuple_orig);
    assert_eq!(d.changed.len(), 1);
    assert_eq!(d.changed[0].mark, Some(5));
    assert_eq!(d.removed.len(), 1);
    assert_eq!(d.removed[0].tuple_orig, b.tuple_orig);
    assert_eq!(known.len(), 2);
    let d = nfct.resync(Family::Any, &mut known).unwrap();
    assert_eq!(d, conntrack::Diff::default());
}

/// For several filters, what the kernel delivers through the compiled BPF program equals the
/// user-space evaluation of the same filter over an unfiltered stream of the same workload.
#[test]
fn bpf_filters_deliver_exactly_the_userspace_matches() {
    userns!();
    use conntrack::events::{EventFilter, Match};
    use conntrack::wire::consts::*;
    use std::net::Ipv4Addr;
    netns();
    let filters = [
        EventFilter {
            l4proto: Match::any([IPPROTO_TCP]),
            ..Default::default()
        },
        EventFilter {
            orig_src_v4: Match::any([(Ipv4Addr::new(10, 40, 0, 0), 16)]),
            ..Default::default()
        },
        EventFilter {
            orig_src_v6: Match::any([("2001:db8:40::".parse().unwrap(), 48)]),
            ..Default::default()
        },
        EventFilter {
            orig_dst_port: Match::none([80, 443]),
            ..Default::default()
        },
        EventFilter {
            mark: Match::any([(0x10, 0xf0)]),
            zone: Match::any([0, 7]),
            ..Default::default()
        },
        EventFilter {
            tcp_state: Match::any([3]),
            family: Match::any([AF_INET6]),
            ..Default::default()
        },
        EventFilter {
            icmp_type: Match::any([8, 128]),
            ..Default::default()
        },
        EventFilter {
            orig_dst_port: Match::any(1..900u16),
            ..Default::default()
        },
        EventFilter {
            status: Match::any([(IPS_ASSURED, IPS_ASSURED)]),
            ..Default::default()
        },
        EventFilter {
            status: Match::none([(0, IPS_SEEN_REPLY)]),
            secmark: Match::any([0]),
            ..Default::default()
        },
    ];
    let (raw, mut streams) = reference_and_filtered_streams(&filters);
    // workload: varied entries, updated, then deleted
    let nfct = Nfct::open().unwrap();
    let mut made = Vec::new();
    for i in 0..40u16 {
        let v6 = i % 3 == 0;
        let (s, d) = if v6 {
            (
                format!("[2001:db8:{}::{}]:{}", 40 + i % 2, i + 1, 1000 + i),
                format!("[2001:db8:99::1]:{}", [80, 443, 22, 53][usize::from(i % 4)]),
            )
        } else {
            (
                format!("10.{}.0.{}:{}", 40 + i % 2, i + 1, 1000 + i),
                format!("10.99.0.1:{}", [80, 443, 22, 53][usize::from(i % 4)]),
            )
        };
        let c = match i % 5 {
            0 | 1 => Conn::tcp(sa(&s), sa(&d)).with_tcp_state(if i % 2 == 0 {
                TcpState::Established
            } else {
                TcpState::SynSent
            }),
            2 | 3 => Conn::udp(sa(&s), sa(&d)),
            _ => Conn::icmp_echo(sa(&s).ip(), sa(&d).ip(), i),
        }
        .with_timeout(100)
        .with_mark(u32::from(i) * 8)
        .with_zone(if i % 7 == 0 { 7 } else { 0 })
        // some assured, some seen-reply, for the status filters
        .with_status(conntrack::Status(match i % 4 {
            1 => IPS_ASSURED,
            2 => IPS_SEEN_REPLY,
            _ => 0,
        }));
        let mut c = c;
        if c.zone == Some(0) {
            c.zone = None;
        }
        nfct.create(&c).unwrap();
        made.push(c);
    }
    for c in &made {
        let mut u = Conn::for_tuple(c.tuple_orig.unwrap()).with_mark(c.mark.unwrap() ^ 0x10);
        u.zone = c.zone;
        nfct.update(&u).unwrap();
    }
    nfct.flush(Family::Any).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert_filtered_streams_match(&filters, raw, &mut streams, 120);
}

/// The criteria of the reply and master tuples, protocol state, timeout and use ranges and
/// labels: what the kernel delivers through each compiled program equals the user-space
/// evaluation over an unfiltered stream of the same workload (TCP, UDP, ICMP and SCTP
/// entries with varied timeouts, SCTP states and tags, labels, and expected connections
/// whose master is one of the others).
#[test]
fn bpf_filters_on_state_master_ranges_and_labels_deliver_the_userspace_matches() {
    userns!();
    use conntrack::events::{EventFilter, Match};
    use conntrack::wire::consts::*;
    use conntrack::wire::ct::SctpState;
    use std::net::Ipv4Addr;
    netns();
    common::table::add_label_user();
    let filters = [
        EventFilter {
            reply_l4proto: Match::any([IPPROTO_SCTP]),
            ..Default::default()
        },
        EventFilter {
            reply_icmp_type: Match::any([0]),
            ..Default::default()
        },
        EventFilter {
            master_src_v4: Match::any([(Ipv4Addr::new(10, 60, 0, 0), 16)]),
            master_dst_port: Match::any([21]),
            ..Default::default()
        },
        EventFilter {
            master_l4proto: Match::none([IPPROTO_TCP]),
            ..Default::default()
        },
        EventFilter {
            tcp_flags_orig: Match::any([(0, 0)]),
            tcp_wscale_orig: Match::any(0..15u8),
            ..Default::default()
        },
        EventFilter {
            sctp_state: Match::any([u8::from(SctpState::Established)]),
            ..Default::default()
        },
        EventFilter {
            sctp_vtag_orig: Match::any([11, 13]),
            sctp_vtag_reply: Match::none([12]),
            ..Default::default()
        },
        EventFilter {
            timeout: Match::any([(1, 150), (290, 310)]),
            ..Default::default()
        },
        // Events carry no CTA_USE (only dumps do): the use count reads 0 on every event.
        EventFilter {
            use_count: Match::any([(0, 0)]),
            timeout: Match::none([(141, u32::MAX)]),
            ..Default::default()
        },
        EventFilter {
            labels: Match::any([2, 33]),
            ..Default::default()
        },
        EventFilter {
            labels: Match::none([1]),
            l4proto: Match::any([IPPROTO_UDP]),
            ..Default::default()
        },
    ];
    let (raw, mut streams) = reference_and_filtered_streams(&filters);
    let nfct = Nfct::open().unwrap();
    let mut made = Vec::new();
    for i in 0..24u16 {
        let (s, d) = (
            sa(&format!("10.60.{}.{}:{}", i % 2, i + 1, 2000 + i)),
            sa(&format!("10.61.0.1:{}", [21, 80, 5060][usize::from(i % 3)])),
        );
        let c = match i % 4 {
            0 => Conn::tcp(s, d).with_tcp_state(TcpState::Established),
            1 => Conn::udp(s, d).with_labels(if i % 8 == 1 { &[1] } else { &[2, 33] }),
            2 => Conn::icmp_echo(s.ip(), d.ip(), i),
            _ => Conn::flow(IPPROTO_SCTP, s, d).with_sctp(
                if i % 8 == 3 {
                    SctpState::Established
                } else {
                    SctpState::CookieWait
                },
                u32::from(10 + i % 4),
                u32::from(12 + i % 2),
            ),
        }
        .with_timeout([100, 300, 500][usize::from(i % 3)]);
        nfct.create(&c).unwrap();
        made.push(c);
    }
    // Expected connections: UDP flows whose master is one of the TCP entries.
    for (j, master) in made.clone().iter().step_by(4).take(3).enumerate() {
        let mut c = Conn::udp(sa(&format!("10.62.0.{}:3000", j + 1)), sa("10.63.0.1:4000"))
            .with_timeout(200);
        c.ext_mut().tuple_master = master.tuple_orig;
        nfct.create(&c).unwrap();
        made.push(c);
    }
    for c in &made {
        nfct.update(&Conn::for_tuple(c.tuple_orig.unwrap()).with_timeout(140))
            .unwrap();
    }
    nfct.flush(Family::Any).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert_filtered_streams_match(&filters, raw, &mut streams, 3 * made.len());
}

/// An unfiltered raw event socket (the reference) and one stream per filter, all opened
/// before the workload.
fn reference_and_filtered_streams(
    filters: &[conntrack::events::EventFilter],
) -> (conntrack::sock::Socket, Vec<Events>) {
    let raw = conntrack::sock::Socket::open().unwrap();
    for g in [
        conntrack::sock::Group::New,
        conntrack::sock::Group::Update,
        conntrack::sock::Group::Destroy,
    ] {
        raw.join_group(g).unwrap();
    }
    raw.set_recv_buffer(16 << 20).unwrap();
    let streams = filters
        .iter()
        .map(|f| Events::open_with(EventConfig::default().filter(f.clone())).unwrap())
        .collect();
    (raw, streams)
}

/// Each filtered stream delivered exactly the events of the reference stream (`total` of
/// them) that the filter accepts in user space, and each filter selects some but not all.
fn assert_filtered_streams_match(
    filters: &[conntrack::events::EventFilter],
    raw: conntrack::sock::Socket,
    streams: &mut [Events],
    total: usize,
) {
    use conntrack::wire::Messages;
    // reference: every event, and which of them each filter accepts in user space
    let mut reference = Vec::new();
    let mut buf = vec![0u8; 65536];
    let mut raw = raw;
    raw.set_nonblocking(true).unwrap();
    while let Ok(m) = raw.recv(&mut buf) {
        for msg in Messages::new(&buf[..m.len]) {
            let msg = msg.unwrap();
            let id = msg.conn().unwrap().id().unwrap();
            let hits: Vec<bool> = filters.iter().map(|f| f.matches(&msg)).collect();
            reference.push((msg.kind(), id, hits));
        }
    }
    assert_eq!(
        reference.len(),
        total,
        "NEW, UPDATE and DESTROY of every entry"
    );
    for (i, ev) in streams.iter_mut().enumerate() {
        let want: Vec<(EventKind, u32)> = reference
            .iter()
            .filter(|r| r.2[i])
            .map(|(k, id, _)| {
                let kind = match k {
                    conntrack::wire::MessageKind::Conntrack(conntrack::wire::CtMsg::New) => {
                        EventKind::New
                    }
                    conntrack::wire::MessageKind::Conntrack(conntrack::wire::CtMsg::Update) => {
                        EventKind::Update
                    }
                    _ => EventKind::Destroy,
                };
                (kind, *id)
            })
            .collect();
        let got: Vec<(EventKind, u32)> = collect(ev, want.len(), Duration::from_secs(2))
            .into_iter()
            .map(|e| match e {
                Event::Conn { kind, conn, .. } => (kind, conn.id.unwrap()),
                other => panic!("{other:?}"),
            })
            .collect();
        // nothing more arrives
        std::thread::sleep(Duration::from_millis(50));
        assert!(
            ev.recv().unwrap().is_empty(),
            "filter {i} delivered extra events"
        );
        assert_eq!(got, want, "filter {i}: {:?}", filters[i]);
        assert!(
            !want.is_empty() && want.len() < total,
            "filter {i} selects {} of {total}: the case tests nothing",
            want.len()
        );
    }
}

#[cfg(feature = "tokio")]
#[test]
fn tokio_stream_yields_batches() {
    userns!();
    use conntrack::stream::EventStream;
    use futures_core::Stream;
    use std::future::poll_fn;
    use std::pin::Pin;
    netns();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut stream =
            EventStream::new(Events::open_with(EventConfig::default()).unwrap()).unwrap();
        let nfct = Nfct::open().unwrap();
        let c = Conn::udp(sa("10.25.0.1:1"), sa("10.25.0.2:2")).with_timeout(100);
        nfct.create(&c).unwrap();
        nfct.delete(&Key {
            tuple: c.tuple_orig.unwrap(),
            ..Default::default()
        })
        .unwrap();
        let mut got = Vec::new();
        while got.len() < 2 {
            let next = tokio::time::timeout(
                Duration::from_secs(5),
                poll_fn(|cx| Pin::new(&mut stream).poll_next(cx)),
            )
            .await
            .expect("events within 5 s");
            got.extend(next.unwrap().unwrap());
        }
        assert_eq!(kinds(&got), [EventKind::New, EventKind::Destroy]);
    });
}

//! Partial failures, panics and reentry, against the real kernel, each test in its own
//! network namespace: every batch operation gets its outcome whatever fails midway, and no
//! failure hangs, deadlocks or leaves the handle unusable.

#[macro_use]
mod common;

use common::conntrack;
use conntrack::wire::consts::*;
use conntrack::wire::ct::{Status, TcpState};
use conntrack::{BatchOp, Config, Conn, DumpFilter, Error, Exp, Family, Key, Nfct, Outcome};
use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::ops::ControlFlow;

fn udp(i: u32) -> Conn {
    Conn::udp(
        SocketAddr::new(IpAddr::from([10, 20, (i >> 8) as u8, i as u8]), 1000),
        "10.21.0.1:53".parse().unwrap(),
    )
    .with_timeout(300)
    .with_mark(i)
}

/// The marks of the entries conntrack-tools lists (each test entry carries its index).
fn marks() -> BTreeSet<u32> {
    common::list(&[])
        .iter()
        .map(|l| l.trailer["mark"].parse().unwrap())
        .collect()
}

fn fill(nfct: &Nfct, n: u32) {
    let ops: Vec<BatchOp> = (0..n).map(|i| BatchOp::Create(udp(i))).collect();
    nfct.batch(&ops).into_result().unwrap();
}

#[test]
fn a_request_the_kernel_rejects_midway_fails_alone() {
    netns!();
    for pipeline in [false, true] {
        let nfct = Nfct::open_with(Config::default().pipeline(pipeline)).unwrap();
        let mut ops: Vec<BatchOp> = (0..2000).map(|i| BatchOp::Create(udp(i))).collect();
        // In the middle of the second send: an entry created earlier in the same batch, and
        // an update of an entry that does not exist.
        ops[1500] = BatchOp::Create(udp(3));
        ops[1501] = BatchOp::Update(udp(9999));
        let r = nfct.batch(&ops);
        assert!(r.stopped.is_none(), "{:?}", r.stopped);
        for (i, o) in r.outcomes.iter().enumerate() {
            match i {
                1500 => assert!(matches!(o, Outcome::Failed(Error::Exists { .. })), "{o:?}"),
                1501 => assert!(
                    matches!(o, Outcome::Failed(Error::NotFound { .. })),
                    "{o:?}"
                ),
                _ => assert!(o.is_applied(), "{i}: {o:?}"),
            }
        }
        let want: BTreeSet<u32> = (0..2000).filter(|i| *i != 1500 && *i != 1501).collect();
        assert_eq!(marks(), want, "pipeline {pipeline}");
        nfct.flush(Family::Any).unwrap();
    }
}

#[test]
fn an_item_too_large_to_encode_fails_before_anything_is_sent() {
    netns!();
    let nfct = Nfct::open().unwrap();
    let mut ops: Vec<BatchOp> = (0..10).map(|i| BatchOp::Create(udp(i))).collect();
    // A helper name longer than an attribute can hold (u16 length).
    ops.insert(
        3,
        BatchOp::Create(udp(100).with_helper(&"x".repeat(70_000))),
    );
    // Unknown attributes that add up to more than one send can carry.
    let mut huge = udp(101);
    huge.ext_mut().unknown = (0..40).map(|k| (200 + k, vec![0u8; 60_000])).collect();
    ops.insert(7, BatchOp::Update(huge));
    let r = nfct.batch(&ops);
    assert!(r.stopped.is_none(), "{:?}", r.stopped);
    assert!(
        matches!(r.outcomes[3], Outcome::Failed(Error::Wire { .. })),
        "{:?}",
        r.outcomes[3]
    );
    assert!(
        matches!(r.outcomes[7], Outcome::Failed(Error::Invalid { .. })),
        "{:?}",
        r.outcomes[7]
    );
    assert_eq!(r.applied(), 10);
    assert_eq!(marks(), (0..10).collect());
}

#[cfg(feature = "testing")]
#[test]
fn a_receive_timeout_after_some_sends_reports_applied_unknown_and_unsent() {
    netns!();
    // Acknowledgements lost after the 1,500th: the second send's later requests are
    // applied by the kernel but never acknowledged; the batch meets its receive timeout.
    let cfg = Config::default()
        .timeout(std::time::Duration::from_millis(300))
        .lose_acks_after(1500);
    let nfct = Nfct::open_with(cfg).unwrap();
    let ops: Vec<BatchOp> = (0..4000).map(|i| BatchOp::Create(udp(i))).collect();
    let r = nfct.batch(&ops);
    let stopped = r.stopped.as_ref().expect("the batch stops at the timeout");
    assert!(matches!(stopped, Error::Io { .. }), "{stopped}");
    let applied: BTreeSet<u32> = (0..4000u32)
        .filter(|&i| r.outcomes[i as usize].is_applied())
        .collect();
    let unknown: BTreeSet<u32> = (0..4000u32)
        .filter(|&i| matches!(r.outcomes[i as usize], Outcome::Unknown))
        .collect();
    let unsent: BTreeSet<u32> = (0..4000u32)
        .filter(|&i| matches!(r.outcomes[i as usize], Outcome::NotSent))
        .collect();
    assert_eq!(applied, (0..1500).collect(), "acknowledged: applied");
    assert!(!unknown.is_empty() && !unsent.is_empty(), "{unknown:?}");
    assert_eq!(applied.len() + unknown.len() + unsent.len(), 4000);
    // The kernel applied every request it was sent, and none it was not.
    let table = marks();
    assert!(applied.is_subset(&table) && unknown.is_subset(&table));
    assert!(table.is_disjoint(&unsent), "an unsent request was applied");
    assert_eq!(table.len(), applied.len() + unknown.len());
    // The handle drains what the broken batch left and goes on working.
    assert_eq!(nfct.count(Family::Any).unwrap(), table.len());
    assert_eq!(nfct.get(&key(&udp(5))).unwrap().mark, Some(5));
}

fn key(c: &Conn) -> Key {
    Key {
        tuple: c.tuple_orig.unwrap(),
        ..Default::default()
    }
}

#[test]
fn a_panicking_dump_callback_returns_and_the_handle_stays_usable() {
    netns!();
    let setup = Nfct::open().unwrap();
    // Several arenas' worth of datagrams (an arena holds 8, a datagram about 140 entries).
    fill(&setup, 3000);
    for pipeline in [true, false] {
        let nfct = Nfct::open_with(Config::default().pipeline(pipeline)).unwrap();
        let mut seen = 0;
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            nfct.dump_with(Family::Any, &DumpFilter::default(), |_| {
                seen += 1;
                if seen == 1500 {
                    panic!("callback panics");
                }
            })
        }));
        assert!(r.is_err(), "the panic propagates");
        assert_eq!(seen, 1500);
        // The next calls on the same handle work and see the whole table.
        assert_eq!(
            nfct.dump(Family::Any).unwrap().len(),
            3000,
            "pipeline {pipeline}"
        );
        assert_eq!(nfct.count(Family::Any).unwrap(), 3000);
        assert_eq!(nfct.get(&key(&udp(7))).unwrap().mark, Some(7));
    }
}

#[test]
fn calling_the_handle_from_its_own_callback_is_an_error() {
    netns!();
    let nfct = Nfct::open().unwrap();
    fill(&nfct, 300);
    let mut inner = Vec::new();
    nfct.dump_with(Family::Any, &DumpFilter::default(), |c| {
        if inner.len() < 3 {
            inner.push(nfct.get_by_id(c.id().unwrap()).map(|_| ()));
            inner.push(nfct.batch(&[BatchOp::Create(udp(1000))]).into_result());
        }
    })
    .unwrap();
    assert_eq!(inner.len(), 4);
    assert!(
        inner
            .iter()
            .all(|r| matches!(r, Err(Error::Reentrant { .. }))),
        "{inner:?}"
    );
    // Nothing was sent from inside, and the handle works after.
    assert_eq!(nfct.count(Family::Any).unwrap(), 300);
    // Other threads wait for the lock instead of failing.
    std::thread::scope(|s| {
        let h = s.spawn(|| nfct.count(Family::Any));
        nfct.dump_with(Family::Any, &DumpFilter::default(), |_| {})
            .unwrap();
        assert_eq!(h.join().unwrap().unwrap(), 300);
    });
}

#[test]
fn an_early_stop_leaves_nothing_behind() {
    netns!();
    let nfct = Nfct::open().unwrap();
    fill(&nfct, 3000);
    for pipeline in [true, false] {
        let h = Nfct::open_with(Config::default().pipeline(pipeline)).unwrap();
        let mut seen = 0;
        h.dump_with(Family::Any, &DumpFilter::default(), |_| {
            seen += 1;
            if seen == 10 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap();
        assert_eq!(seen, 10, "the callback is not called after the stop");
        let id = h.dump(Family::Any).unwrap()[2999].id.unwrap();
        // get_by_id stops at the hit; the next request still works.
        assert_eq!(h.get_by_id(id).unwrap().id, Some(id));
        h.delete_by_id(id).unwrap();
        assert_eq!(h.count(Family::Any).unwrap(), 2999);
        // Put the deleted entry back (its index is the mark missing from the table).
        let have = marks();
        let gone = (0..3000).find(|i| !have.contains(i)).unwrap();
        h.create(&udp(gone)).unwrap();
    }
}

/// The kernel's expectation flush ignores the family it is sent with; `exp_flush` of one
/// family must leave the other family's expectations in place.
#[test]
fn expectation_flush_of_one_family_keeps_the_other() {
    netns!();
    let nfct = Nfct::open().unwrap();
    let masters = [
        Conn::tcp(
            "10.8.0.1:40000".parse().unwrap(),
            "10.8.0.2:21".parse().unwrap(),
        ),
        Conn::tcp(
            "[2001:db8::1]:40000".parse().unwrap(),
            "[2001:db8::2]:21".parse().unwrap(),
        ),
    ];
    let create = |nfct: &Nfct| {
        for m in &masters {
            let m = m
                .clone()
                .with_tcp_state(TcpState::Established)
                .with_status(Status::ASSURED | Status::SEEN_REPLY)
                .with_timeout(300)
                .with_helper("ftp");
            let _ = nfct.create(&m);
            nfct.exp_create(&Exp::reverse_to_port(&m.tuple_orig.unwrap(), 50000, 100))
                .unwrap();
        }
        assert_eq!(nfct.exp_dump(Family::Any).unwrap().len(), 2);
    };
    // What the kernel does with a family flush, sent raw.
    create(&nfct);
    let sock = conntrack::sock::Socket::open().unwrap();
    let mut buf = vec![0u8; 64];
    let n = conntrack::wire::request::emit_into(&mut buf, |e| {
        conntrack::wire::request::exp_flush(e, 1, AF_INET)
    })
    .unwrap();
    sock.send(&buf[..n]).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(50));
    let left = nfct.exp_dump(Family::Any).unwrap().len();
    assert_eq!(
        left, 0,
        "this kernel's expectation flush keeps to the family: Nfct::exp_flush may use it"
    );
    // The library's family flush: IPv4 goes, IPv6 stays.
    create(&nfct);
    let done = nfct.exp_flush(Family::Ipv4).unwrap();
    assert_eq!(done.len(), 1);
    assert!(done[0].1.is_applied(), "{done:?}");
    let left = nfct.exp_dump(Family::Any).unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].tuple.unwrap().family(), Some(AF_INET6));
    // conntrack-tools lists expectations of one family (IPv4 unless -f says otherwise).
    assert!(conntrack(&["-L", "expect"]).trim().is_empty());
    let listed = conntrack(&["-L", "expect", "-f", "ipv6"]);
    assert!(listed.contains("2001:db8::"), "{listed}");
    nfct.exp_flush(Family::Any).unwrap();
    assert!(conntrack(&["-L", "expect", "-f", "ipv6"]).trim().is_empty());
}

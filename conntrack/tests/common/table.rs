//! A varied table for the mutation tests: IPv4 and IPv6; TCP, UDP, ICMP and SCTP; marks,
//! zones, statuses, protocol states, a helper, labels and source NAT.

use conntrack::wire::consts::*;
use conntrack::wire::ct::{Nat, SctpState, Status, TcpState};
use conntrack::{BatchOp, Conn, Nfct};
use std::net::{IpAddr, SocketAddr};

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Adds an nftables rule that sets a label, so that the namespace keeps labels given on
/// create (the kernel drops them where nothing uses labels).
pub fn add_label_user() {
    for cmd in [
        "add table inet lbl",
        "add chain inet lbl c { type filter hook output priority 0 ; }",
        "add rule inet lbl c ct label set 1",
    ] {
        let st = std::process::Command::new("nft")
            .args(cmd.split(' '))
            .status()
            .expect("nftables is installed (apt-get install nftables)");
        assert!(st.success(), "nft {cmd}");
    }
}

/// The entries of the varied table.
pub fn entries() -> Vec<Conn> {
    let est = |c: Conn| c.with_tcp_state(TcpState::Established);
    let mut v = vec![
        est(Conn::tcp(sa("10.0.0.1:40000"), sa("10.0.0.2:80")))
            .with_timeout(300)
            .with_mark(7)
            .with_status(Status::ASSURED | Status::SEEN_REPLY),
        Conn::tcp(sa("10.0.0.1:40001"), sa("10.0.0.3:443"))
            .with_tcp_state(TcpState::SynSent)
            .with_timeout(120)
            .with_zone(3),
        est(Conn::tcp(sa("10.0.0.1:40002"), sa("10.0.0.2:22"))).with_timeout(300),
        est(Conn::tcp(sa("10.0.0.4:40003"), sa("10.0.0.2:22")))
            .with_timeout(300)
            .with_mark(0x107)
            .with_labels(&[1, 2]),
        Conn::tcp(sa("10.0.0.5:40004"), sa("10.0.0.6:21"))
            .with_tcp_state(TcpState::TimeWait)
            .with_timeout(600)
            .with_helper("ftp"),
        est(Conn::tcp(sa("10.0.0.5:40005"), sa("10.0.0.6:21")))
            .with_timeout(300)
            .with_helper("ftp")
            .with_labels(&[1]),
        Conn::udp(sa("10.0.0.4:5000"), sa("10.0.0.5:53"))
            .with_timeout(600)
            .with_mark(0x107),
        Conn::udp(sa("10.0.0.4:5001"), sa("10.0.0.5:53"))
            .with_timeout(600)
            .with_zone(3)
            .with_status(Status::ASSURED),
        Conn::udp(sa("10.0.0.7:123"), sa("10.0.0.8:123")).with_timeout(600),
        Conn::icmp_echo(ip("10.0.0.6"), ip("10.0.0.7"), 77).with_timeout(600),
        Conn::icmp_echo(ip("10.0.0.6"), ip("10.0.0.9"), 78)
            .with_timeout(600)
            .with_mark(7),
        Conn::flow(IPPROTO_SCTP, sa("10.0.0.8:1000"), sa("10.0.0.9:2000"))
            .with_sctp(SctpState::Established, 11, 12)
            .with_timeout(200)
            .with_mark(9),
        est(Conn::tcp(sa("[2001:db8::1]:40002"), sa("[2001:db8::2]:80")))
            .with_timeout(300)
            .with_mark(7),
        Conn::tcp(sa("[2001:db8::1]:40003"), sa("[2001:db8::2]:22"))
            .with_tcp_state(TcpState::SynSent)
            .with_timeout(300)
            .with_labels(&[2]),
        Conn::udp(sa("[2001:db8::3]:5001"), sa("[2001:db8::4]:53"))
            .with_timeout(600)
            .with_zone(3),
        Conn::udp(sa("[2001:db8::3]:5002"), sa("[2001:db8::4]:53"))
            .with_timeout(600)
            .with_status(Status::ASSURED | Status::SEEN_REPLY),
        Conn::icmp_echo(ip("2001:db8::5"), ip("2001:db8::6"), 78).with_timeout(600),
        Conn::flow(
            IPPROTO_SCTP,
            sa("[2001:db8::7]:1001"),
            sa("[2001:db8::8]:2001"),
        )
        .with_sctp(SctpState::CookieWait, 13, 14)
        .with_timeout(200),
    ];
    // Source NAT: the reply comes back to the translated address.
    for (i, port) in [(1u8, 80u16), (2, 22)] {
        let mut n = est(Conn::tcp(
            SocketAddr::from(([10, 0, 1, i], 2000)),
            SocketAddr::from(([10, 0, 2, 1], port)),
        ))
        .with_timeout(300)
        .with_mark(u32::from(i));
        n.ext_mut().nat_src = Some(Nat::range(ip("192.168.77.1"), ip("192.168.77.1")));
        v.push(n);
    }
    // Zones that apply to one direction only (zone-orig=3, zone-reply=3): the kernel's zone
    // filter counts them as zone 3, conntrack-tools' `-w` as zone 0.
    for (i, reply) in [(1u8, false), (2, true)] {
        let mut c =
            Conn::udp(SocketAddr::from(([10, 0, 5, i], 9000)), sa("10.0.5.9:53")).with_timeout(60);
        let t = if reply {
            c.tuple_reply.as_mut()
        } else {
            c.tuple_orig.as_mut()
        };
        if let Some(t) = t {
            t.zone = Some(3);
        }
        v.push(c);
    }
    // Zones and marks on more of each kind.
    for i in 0..6u16 {
        v.push(
            Conn::udp(
                SocketAddr::from(([10, 0, 3, i as u8], 7000 + i)),
                sa("10.0.4.1:53"),
            )
            .with_timeout(600)
            .with_zone(i % 3)
            .with_mark(u32::from(i) << 8),
        );
    }
    v
}

/// Fills the calling thread's (fresh) namespace with [`entries`]; returns how many.
pub fn fill(nfct: &Nfct) -> usize {
    add_label_user();
    let ops: Vec<BatchOp> = entries().into_iter().map(BatchOp::Create).collect();
    let r = nfct.batch(&ops);
    assert!(r.all_applied(), "{r:?}");
    ops.len()
}

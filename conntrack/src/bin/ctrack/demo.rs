//! `ctrack demo`: a self-contained tour in a private network namespace.
//!
//! The process moves into a new network namespace (its own, empty conntrack table; started
//! by an ordinary user, inside a new user namespace in which it is root), brings up
//! loopback, makes real TCP, UDP and ICMP traffic, adds an FTP-style expectation, and shows
//! the table, a filtered view, live events and statistics. The namespace belongs to this
//! process alone, so it disappears when the process ends, however it ends (Ctrl-C included).

use crate::args::DemoArgs;
use crate::format::{self, Options};
use crate::{R, bad, now_ns};
use conntrack::events::{EventConfig, EventView, Events, Groups};
use conntrack::wire::consts::*;
use conntrack::wire::ct::{Status, TcpState, Tuple};
use conntrack::{Conn, DumpFilter, Exp, Family, Nfct};
use conntrack_sock::traffic::http_exchange;
use nix::sys::socket::{
    self, AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType, SockaddrIn,
    SockaddrIn6,
};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, TcpListener, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// Brings up `lo` (ifindex 1 in a new namespace) with one RTM_NEWLINK request.
fn loopback_up() -> R<()> {
    let fd = socket::socket(
        AddressFamily::Netlink,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkRoute,
    )
    .map_err(|e| bad(format!("rtnetlink socket: {e}")))?;
    let mut m = Vec::with_capacity(32);
    m.extend_from_slice(&32u32.to_ne_bytes()); // nlmsg_len
    m.extend_from_slice(&16u16.to_ne_bytes()); // RTM_NEWLINK
    m.extend_from_slice(&5u16.to_ne_bytes()); // NLM_F_REQUEST | NLM_F_ACK
    m.extend_from_slice(&1u32.to_ne_bytes()); // seq
    m.extend_from_slice(&0u32.to_ne_bytes()); // pid
    m.extend_from_slice(&[0, 0, 0, 0]); // ifi_family, pad, ifi_type
    m.extend_from_slice(&1i32.to_ne_bytes()); // ifi_index: lo
    m.extend_from_slice(&1u32.to_ne_bytes()); // ifi_flags: IFF_UP
    m.extend_from_slice(&1u32.to_ne_bytes()); // ifi_change: IFF_UP
    socket::sendto(
        fd.as_raw_fd(),
        &m,
        &NetlinkAddr::new(0, 0),
        MsgFlags::empty(),
    )
    .map_err(|e| bad(format!("bring lo up: {e}")))?;
    let mut buf = [0u8; 256];
    let n = socket::recv(fd.as_raw_fd(), &mut buf, MsgFlags::empty())
        .map_err(|e| bad(format!("bring lo up: {e}")))?;
    let err = buf
        .get(16..20)
        .filter(|_| n >= 20)
        .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
    match err {
        Some(0) => Ok(()),
        Some(e) => Err(bad(format!(
            "bring lo up: {}",
            std::io::Error::from_raw_os_error(-e)
        ))),
        None => Err(bad("bring lo up: short reply")),
    }
}

/// Turns connection tracking on in the namespace: conntrack hooks are registered only once
/// something uses them, so this adds an nftables table `inet ctrack_demo` with one output-hook
/// rule that reads `ct state` (what `nft add rule inet ctrack_demo out ct state new` would
/// do), sent as one nfnetlink batch, with no nft binary needed.
// Long: one nfnetlink batch built message by message (table, chain, rule); split, it would hide the batch's order.
fn enable_tracking() -> R<()> {
    const NFNL_SUBSYS_NFTABLES: u16 = 10;
    const NFT_MSG_NEWTABLE: u16 = 0;
    const NFT_MSG_NEWCHAIN: u16 = 3;
    const NFT_MSG_NEWRULE: u16 = 6;
    const NFPROTO_INET: u8 = 1;
    const NF_INET_LOCAL_OUT: u32 = 3;
    let ty = |m: u16| (NFNL_SUBSYS_NFTABLES << 8) | m;
    let mut buf = vec![0u8; 1024];
    let mut e = conntrack::wire::Emitter::new(&mut buf);
    let create = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_ACK;
    let m = e.begin_message(
        NFNL_MSG_BATCH_BEGIN,
        NLM_F_REQUEST,
        1,
        AF_UNSPEC,
        NFNL_SUBSYS_NFTABLES,
    );
    e.end_message(m);
    let m = e.begin_message(ty(NFT_MSG_NEWTABLE), create, 2, NFPROTO_INET, 0);
    e.put_str(1, "ctrack_demo"); // NFTA_TABLE_NAME
    e.end_message(m);
    let m = e.begin_message(ty(NFT_MSG_NEWCHAIN), create, 3, NFPROTO_INET, 0);
    e.put_str(1, "ctrack_demo"); // NFTA_CHAIN_TABLE
    e.put_str(3, "out"); // NFTA_CHAIN_NAME
    e.nest(4, |e| {
        e.put_u32_be(1, NF_INET_LOCAL_OUT); // NFTA_HOOK_HOOKNUM
        e.put_u32_be(2, 0); // NFTA_HOOK_PRIORITY
    });
    e.put_str(7, "filter"); // NFTA_CHAIN_TYPE
    e.end_message(m);
    let m = e.begin_message(
        ty(NFT_MSG_NEWRULE),
        create | NLM_F_APPEND,
        4,
        NFPROTO_INET,
        0,
    );
    e.put_str(1, "ctrack_demo"); // NFTA_RULE_TABLE
    e.put_str(2, "out"); // NFTA_RULE_CHAIN
    e.nest(4, |e| {
        // NFTA_RULE_EXPRESSIONS
        e.nest(1, |e| {
            // NFTA_LIST_ELEM
            e.put_str(1, "ct"); // NFTA_EXPR_NAME
            e.nest(2, |e| {
                // NFTA_EXPR_DATA
                e.put_u32_be(1, 1); // NFTA_CT_DREG: NFT_REG_1
                e.put_u32_be(2, 0); // NFTA_CT_KEY: NFT_CT_STATE
            });
        });
    });
    e.end_message(m);
    let m = e.begin_message(
        NFNL_MSG_BATCH_END,
        NLM_F_REQUEST,
        5,
        AF_UNSPEC,
        NFNL_SUBSYS_NFTABLES,
    );
    e.end_message(m);
    let n = e
        .finish()
        .map_err(|x| bad(format!("nftables batch: {x}")))?;
    let sock = conntrack::sock::Socket::open().map_err(|x| bad(format!("netlink socket: {x}")))?;
    sock.set_recv_timeout(Some(Duration::from_secs(2)))
        .map_err(|x| bad(x.to_string()))?;
    sock.send(&buf[..n])
        .map_err(|x| bad(format!("nftables batch: {x}")))?;
    let mut acks = 0;
    let mut rx = vec![0u8; 8192];
    while acks < 3 {
        let meta = sock
            .recv(&mut rx)
            .map_err(|x| bad(format!("nftables batch reply: {x}")))?;
        for msg in conntrack::wire::Messages::new(&rx[..meta.len.min(rx.len())]) {
            let msg = msg.map_err(|x| bad(format!("nftables reply: {x}")))?;
            if let Ok(err) = msg.error() {
                if !err.is_ack() {
                    return Err(bad(format!(
                        "enabling connection tracking (nftables) failed: {}",
                        std::io::Error::from_raw_os_error(err.errno())
                    )));
                }
                acks += 1;
            }
        }
    }
    Ok(())
}

/// Sets a sysctl of the namespace; returns whether it took.
fn sysctl(name: &str, v: &str) -> bool {
    std::fs::write(format!("/proc/sys/{}", name.replace('.', "/")), v).is_ok()
}

/// One ICMP echo through an unprivileged ICMP datagram socket (allowed for our group by the
/// namespace-local `ping_group_range`).
fn ping(dst: IpAddr) -> R<()> {
    let (af, proto) = match dst {
        IpAddr::V4(_) => (AddressFamily::Inet, SockProtocol::Icmp),
        IpAddr::V6(_) => (AddressFamily::Inet6, SockProtocol::IcmpV6),
    };
    let fd = socket::socket(af, SockType::Datagram, SockFlag::SOCK_CLOEXEC, proto)
        .map_err(|e| bad(format!("icmp socket: {e}")))?;
    let ty = if dst.is_ipv4() { 8u8 } else { 128 };
    let mut pkt = [
        ty, 0, 0, 0, 0, 0, 0, 1, b'c', b't', b'r', b'a', b'c', b'k', 0, 0,
    ];
    if dst.is_ipv4() {
        // the kernel fills in id and checksum for ICMP datagram sockets on IPv6 only; compute
        let sum = checksum(&pkt);
        pkt[2..4].copy_from_slice(&sum.to_be_bytes());
    }
    let r = match dst {
        IpAddr::V4(a) => socket::sendto(
            fd.as_raw_fd(),
            &pkt,
            &SockaddrIn::from(std::net::SocketAddrV4::new(a, 0)),
            MsgFlags::empty(),
        ),
        IpAddr::V6(a) => socket::sendto(
            fd.as_raw_fd(),
            &pkt,
            &SockaddrIn6::from(std::net::SocketAddrV6::new(a, 0, 0, 0)),
            MsgFlags::empty(),
        ),
    };
    r.map_err(|e| bad(format!("ping {dst}: {e}")))?;
    let mut buf = [0u8; 64];
    let _ = socket::recv(fd.as_raw_fd(), &mut buf, MsgFlags::MSG_DONTWAIT);
    Ok(())
}

fn checksum(b: &[u8]) -> u16 {
    let mut s: u32 = b
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// Real traffic: TCP with data both ways (kept open), a closed TCP connection, UDP, ICMP.
fn traffic() -> R<Vec<Box<dyn Send>>> {
    let e = |x: std::io::Error| bad(format!("demo traffic: {x}"));
    let mut keep: Vec<Box<dyn Send>> = Vec::new();
    let l4 = TcpListener::bind("127.0.0.1:8080").map_err(e)?;
    let l6 = TcpListener::bind("[::1]:8080").map_err(e)?;
    for (addr, l) in [
        ("127.0.0.1:8080", &l4),
        ("[::1]:8080", &l6),
        ("127.0.0.1:8080", &l4),
    ] {
        let (c, s) = http_exchange(addr, l).map_err(e)?;
        keep.push(Box::new(c));
        keep.push(Box::new(s));
    }
    let u4 = UdpSocket::bind("127.0.0.1:0").map_err(e)?;
    let u6 = UdpSocket::bind("[::1]:0").map_err(e)?;
    u4.send_to(b"dns?", (Ipv4Addr::LOCALHOST, 53)).map_err(e)?;
    u6.send_to(b"dns?", (Ipv6Addr::LOCALHOST, 53)).map_err(e)?;
    keep.push(Box::new((u4, u6, l4, l6)));
    ping(IpAddr::V4(Ipv4Addr::LOCALHOST))?;
    ping(IpAddr::V6(Ipv6Addr::LOCALHOST))?;
    Ok(keep)
}

/// An FTP-style expectation: a control connection with the ftp helper, expecting a data
/// connection back to the client.
fn expectation(nfct: &Nfct) -> R<()> {
    let master = Conn::tcp(
        "127.0.0.1:40021".parse().map_err(|_| bad("addr"))?,
        "127.0.0.1:21".parse().map_err(|_| bad("addr"))?,
    )
    .with_tcp_state(TcpState::Established)
    .with_status(Status::ASSURED | Status::SEEN_REPLY)
    .with_timeout(300)
    .with_helper("ftp");
    nfct.create(&master)?;
    let master_tuple = master.tuple_orig.ok_or_else(|| bad("master tuple"))?;
    nfct.exp_create(&Exp::reverse_to_port(&master_tuple, 50010, 300))?;
    Ok(())
}

fn print_table(nfct: &Nfct, f: &DumpFilter, o: Options) -> R<usize> {
    let mut n = 0;
    let now = now_ns();
    nfct.dump_with(Family::Any, f, |c| {
        let owned = Conn::parse(c);
        println!(
            "  {}",
            format::line(&owned, owned.family().unwrap_or(0), o, now)
        );
        n += 1;
    })?;
    Ok(n)
}

pub fn run(a: &DemoArgs) -> R<()> {
    // As root, a new network namespace; as anyone else, a user namespace with it.
    crate::userns::private_netns()?;
    loopback_up()?;
    enable_tracking()?;
    let _ = sysctl("net.netfilter.nf_conntrack_acct", "1");
    let _ = sysctl("net.netfilter.nf_conntrack_timestamp", "1");
    // Every group may ping; in a user namespace only the groups mapped there can be named
    // (the caller's, as 0), so the wide range is tried first and the narrow one after.
    if !sysctl("net.ipv4.ping_group_range", "0 2147483647") {
        let _ = sysctl("net.ipv4.ping_group_range", "0 0");
    }
    println!("== ctrack demo: a private network namespace with its own, empty conntrack table");
    let nfct = Nfct::open()?;
    let mut events = Events::open_with(EventConfig::default().groups(Groups::ALL))?;
    events.set_nonblocking(true)?;

    let keep = traffic()?;
    expectation(&nfct)?;
    let o = Options {
        extended: true,
        id: true,
        labels: true,
        ..Options::default()
    };
    println!(
        "\n== the table after real TCP, UDP and ICMP traffic over loopback (ctrack list -o extended,id)"
    );
    let n = print_table(&nfct, &DumpFilter::default(), o)?;
    println!("  ({n} entries)");

    println!("\n== filtered in the kernel: TCP to port 8080 (ctrack list -p tcp --dport 8080)");
    let mut t = Tuple::default();
    t.proto.num = Some(IPPROTO_TCP);
    t.proto.dst_port = Some(8080);
    print_table(
        &nfct,
        &DumpFilter {
            orig: Some(t),
            ..Default::default()
        },
        o,
    )?;

    println!("\n== the expectation table (ctrack list expect)");
    for x in nfct.exp_dump(Family::Any)? {
        println!("  {}", format::exp_line(&x, Options::default()));
    }

    busiest_flows()?;
    one_scrape()?;

    live_events(&nfct, &mut events, keep, a.seconds)?;

    print_stats(&nfct)?;
    println!("\n== done: the namespace ends with this process");
    Ok(())
}

/// `top --once` sorted by rate: two counter reads a second apart while one UDP flow sends.
fn busiest_flows() -> R<()> {
    println!(
        "\n== the busiest flows: counters read twice, one second apart (ctrack top --once --sort rate --limit 6)"
    );
    let args = crate::args::TopArgs {
        once: true,
        sort: crate::top::SortKey::Rate,
        group: crate::top::GroupKey::None,
        limit: 6,
        interval: 1.0,
        counters_interval: 5.0,
        enable_acct: false,
        recheck_interval: 60,
        filter: crate::args::Filter::default(),
    };
    let sel = crate::selection::Selection::default();
    let e = |x: std::io::Error| bad(format!("demo traffic: {x}"));
    let udp = UdpSocket::bind("127.0.0.1:0").map_err(e)?;
    // The flow exists before the first read, so that its rate is measured.
    udp.send_to(&[0u8; 1000], (Ipv4Addr::LOCALHOST, 9999))
        .map_err(e)?;
    std::thread::scope(|s| {
        s.spawn(|| {
            let end = Instant::now() + Duration::from_millis(1300);
            while Instant::now() < end {
                let _ = udp.send_to(&[0u8; 1000], (Ipv4Addr::LOCALHOST, 9999));
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        crate::top::once(&None, &args, &sel)
    })
}

/// One scrape of `ctrack exporter`, served in this process for the occasion.
fn one_scrape() -> R<()> {
    use std::io::{Read, Write};
    println!("\n== one Prometheus scrape (ctrack exporter; a few of its series)");
    let args = crate::args::ExporterArgs {
        listen: "127.0.0.1:0".into(),
        max_series: 1000,
        top_remotes: 0,
        recheck_interval: 60,
        buffer: None,
    };
    let mut exporter = crate::exporter::Exporter::start(&None, &args)?;
    let addr = exporter.addr();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let body = std::thread::scope(|s| {
        let server = s.spawn(|| exporter.serve(&stop, Some(1)));
        let e = |x: std::io::Error| bad(format!("scrape: {x}"));
        let mut c = std::net::TcpStream::connect(&addr).map_err(e)?;
        write!(c, "GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n").map_err(e)?;
        let mut text = String::new();
        c.read_to_string(&mut text).map_err(e)?;
        server
            .join()
            .unwrap_or_else(|_| Err(bad("the exporter panicked")))?;
        Ok::<_, crate::Fail>(text)
    })?;
    let shown = body.lines().filter(|l| {
        [
            "conntrack_entries{",
            "conntrack_table_",
            "conntrack_events_total",
        ]
        .iter()
        .any(|p| l.starts_with(p))
    });
    for l in shown {
        println!("  {l}");
    }
    Ok(())
}

/// Prints the events of `seconds` while the flows of `keep` close and new ones open.
fn live_events(nfct: &Nfct, events: &mut Events, keep: Vec<Box<dyn Send>>, seconds: f64) -> R<()> {
    println!(
        "\n== live events for {:.1} s while connections close and new ones open (ctrack events)",
        seconds
    );
    let start = Instant::now();
    let mut churn = Some(keep);
    let mut shown = 0u64;
    while start.elapsed().as_secs_f64() < seconds {
        if start.elapsed() > Duration::from_millis(300) {
            if let Some(k) = churn.take() {
                drop(k); // closes the TCP connections: UPDATE events
                let _ = traffic(); // and new flows: NEW events
                let _ = nfct.flush(Family::Ipv6); // and DESTROY events
            }
        }
        let b = events.recv()?;
        for e in b.iter() {
            let now = now_ns();
            match e {
                EventView::Conn { kind, view: v, .. } => {
                    let c = Conn::parse(&v);
                    let mut line = String::from("  ");
                    let fam = c.family().unwrap_or(0);
                    format::write_event_line(&mut line, kind, &c, fam, Options::default(), now);
                    println!("{line}");
                    shown += 1;
                }
                EventView::Exp { view: v, .. } => {
                    println!(
                        "  [EXPECT] {}",
                        format::exp_line(&conntrack::Exp::parse(&v), Options::default())
                    );
                    shown += 1;
                }
                EventView::Overrun { lost } => println!("  [OVERRUN] {lost} events lost"),
                _ => {}
            }
        }
        if b.is_empty() {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    println!("  ({shown} events)");
    Ok(())
}

/// Prints the global and per-CPU statistics.
fn print_stats(nfct: &Nfct) -> R<()> {
    println!("\n== statistics (ctrack stats, ctrack count)");
    let g = nfct.stats()?;
    println!(
        "  entries={} max={}",
        g.entries.unwrap_or(0),
        g.max_entries.unwrap_or(0)
    );
    for (cpu, s) in nfct.stats_cpu()? {
        println!(
            "  cpu={cpu} found={} invalid={} insert={} drop={} early_drop={}",
            s.found.unwrap_or(0),
            s.invalid.unwrap_or(0),
            s.insert.unwrap_or(0),
            s.drop.unwrap_or(0),
            s.early_drop.unwrap_or(0)
        );
    }
    Ok(())
}

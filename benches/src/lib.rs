//! Shared pieces of the benchmarks: the libnetfilter_conntrack peer (C, built by `build.rs`),
//! the TLV-walking floor, and the field reader every decode case runs.

use conntrack::events::{Batch, EventView, Events};
use conntrack::{BatchOp, Conn, Nfct};
use conntrack_wire::{Attrs, ConnView};
use std::net::{IpAddr, SocketAddr};

unsafe extern "C" {
    fn nfct_peer_dump(family: u8, sum: *mut u64) -> std::os::raw::c_long;
    fn nfct_peer_parse(buf: *const u8, len: usize, sum: *mut u64) -> std::os::raw::c_long;
    fn nfct_peer_collect(family: u8, bytes: *mut u64) -> std::os::raw::c_long;
}

/// Dumps the table with libnetfilter_conntrack (parse + field reads per entry); returns the
/// number of entries.
pub fn peer_dump(family: u8) -> Option<u64> {
    let mut sum = 0u64;
    // SAFETY: the C function only writes through `sum`, which is a valid u64 for the call.
    let n = unsafe { nfct_peer_dump(family, &mut sum) };
    std::hint::black_box(sum);
    u64::try_from(n).ok()
}

/// Dumps the table with libnetfilter_conntrack into an array of plain C structs (tuples,
/// ports, status, timeout, mark, id, use, zone, labels, TCP state) that stays allocated until
/// the process exits; returns the entry count and the array's bytes.
pub fn peer_collect(family: u8) -> Option<(u64, u64)> {
    let mut bytes = 0u64;
    // SAFETY: the C function only writes through `bytes`, which is a valid u64 for the call.
    let n = unsafe { nfct_peer_collect(family, &mut bytes) };
    Some((u64::try_from(n).ok()?, bytes))
}

/// Parses captured bytes with libnetfilter_conntrack's `nfct_nlmsg_parse`; returns the count.
pub fn peer_parse(buf: &[u8]) -> u64 {
    let mut sum = 0u64;
    // SAFETY: `buf` is valid for `len` bytes and only read; `sum` is a valid u64.
    let n = unsafe { nfct_peer_parse(buf.as_ptr(), buf.len(), &mut sum) };
    std::hint::black_box(sum);
    u64::try_from(n).unwrap_or(0)
}

/// Walks every attribute of a nest and its sub-nests without interpreting any (the floor);
/// adds each attribute's type to `n`.
pub fn walk_tlv(b: &[u8], n: &mut u64) {
    for a in Attrs::new(b).flatten() {
        *n += u64::from(a.kind());
        if a.is_nested_flag() {
            walk_tlv(a.payload(), n);
        }
    }
}

/// Reads every field a flow exporter reads from a conntrack entry through the borrowed view.
pub fn touch_all(c: &ConnView<'_>) -> u64 {
    let mut acc = 0u64;
    for t in [c.tuple_orig(), c.tuple_reply()].into_iter().flatten() {
        acc +=
            t.src().map_or(0, |a| a.is_ipv4() as u64) + t.dst().map_or(0, |a| a.is_ipv6() as u64);
        acc += u64::from(t.proto_num().unwrap_or(0))
            + u64::from(t.src_port().unwrap_or(0) ^ t.dst_port().unwrap_or(0));
        acc += u64::from(t.icmp_id().or(t.icmpv6_id()).unwrap_or(0))
            + u64::from(t.icmp_type().unwrap_or(0))
            + u64::from(t.zone().unwrap_or(0));
    }
    acc += u64::from(
        c.status().map_or(0, |s| s.bits()) ^ c.timeout().unwrap_or(0) ^ c.mark().unwrap_or(0),
    );
    acc += u64::from(c.id().unwrap_or(0) ^ c.use_count().unwrap_or(0))
        + u64::from(c.zone().unwrap_or(0));
    for k in [c.counters_orig(), c.counters_reply()]
        .into_iter()
        .flatten()
    {
        acc += k.packets().unwrap_or(0) + k.bytes().unwrap_or(0);
    }
    acc ^= c.timestamp().and_then(|t| t.start()).unwrap_or(0);
    if let Some(p) = c.protoinfo() {
        acc += p.tcp().map_or(0, |t| {
            u64::from(t.state().unwrap_or(0)) + u64::from(t.wscale_original().unwrap_or(0))
        });
    }
    acc += c.labels().map_or(0, |l| l.bytes().len() as u64)
        + c.helper()
            .and_then(|h| h.name())
            .map_or(0, |n| n.len() as u64);
    acc
}

/// Reads every field of every conntrack event of a batch; returns (events, checksum).
pub fn touch_events(b: &Batch<'_>) -> (u64, u64) {
    let (mut k, mut acc) = (0u64, 0u64);
    for e in b.iter() {
        if let EventView::Conn { view: c, .. } = e {
            acc ^= touch_all(&c);
            k += 1;
        }
    }
    (k, acc)
}

/// Drains a non-blocking stream until it is empty, reading every field of every conntrack
/// event; returns (events, checksum).
pub fn drain_events(ev: &mut Events) -> (u64, u64) {
    let (mut k, mut acc) = (0u64, 0u64);
    loop {
        let b = ev.recv().unwrap();
        if b.is_empty() {
            return (k, acc);
        }
        let (got, sum) = touch_events(&b);
        k += got;
        acc ^= sum;
    }
}

/// Drains non-blocking streams (the shares of `Events::open_shards`) on one thread each,
/// reading every field of every conntrack event; returns (events, checksum) over all of them.
pub fn drain_shards(streams: Vec<Events>) -> (u64, u64) {
    std::thread::scope(|sc| {
        let hs: Vec<_> = streams
            .into_iter()
            .map(|mut ev| {
                sc.spawn(move || {
                    ev.set_nonblocking(true).unwrap();
                    drain_events(&mut ev)
                })
            })
            .collect();
        hs.into_iter()
            .map(|h| h.join().unwrap())
            .fold((0, 0), |(k, a), (n, b)| (k + n, a ^ b))
    })
}

/// With `PAUSE_MS=n` in the environment, prints the process id and sleeps `n` ms: time for
/// `perf record -p` to attach between a profiling example's setup and the part it profiles.
pub fn pause_for_profiler() {
    if let Some(ms) = std::env::var("PAUSE_MS").ok().and_then(|v| v.parse().ok()) {
        eprintln!("ready; pid {}", std::process::id());
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}

/// Entry `i` of the benchmark table: TCP, UDP, ICMP and IPv6 TCP in turn, with marks and zones.
pub fn varied_conn(i: u32) -> Conn {
    let port = 1024 + (i % 60_000) as u16;
    let c = match i % 4 {
        0 => Conn::tcp(
            SocketAddr::new(
                IpAddr::from([10, (i >> 16) as u8, (i >> 8) as u8, i as u8]),
                port,
            ),
            "192.0.2.1:443".parse().unwrap(),
        )
        .with_tcp_state(conntrack::wire::ct::TcpState::Established),
        1 => Conn::udp(
            SocketAddr::new(
                IpAddr::from([10, 100 + (i >> 16) as u8, (i >> 8) as u8, i as u8]),
                port,
            ),
            "192.0.2.2:53".parse().unwrap(),
        ),
        2 => Conn::icmp_echo(
            IpAddr::from([10, 200 + (i >> 16) as u8, (i >> 8) as u8, i as u8]),
            "192.0.2.3".parse().unwrap(),
            i as u16,
        ),
        _ => {
            let mut a = [0u8; 16];
            a[0] = 0x20;
            a[1] = 0x01;
            a[2] = 0x0d;
            a[3] = 0xb8;
            a[12..16].copy_from_slice(&i.to_be_bytes());
            Conn::tcp(
                SocketAddr::new(IpAddr::from(a), port),
                "[2001:db8::1]:443".parse().unwrap(),
            )
            .with_tcp_state(conntrack::wire::ct::TcpState::Established)
        }
    };
    c.with_timeout(3600)
        .with_mark(i % 8)
        .with_zone((i % 3) as u16)
        .with_labels(&[(i % 128) as usize])
}

/// Loads an nftables rule that uses conntrack labels into the caller's network namespace, so
/// that the kernel gives new entries the labels extension (without it, ctnetlink refuses to
/// set labels). The rule matches a mark nothing sets; only its presence matters.
pub fn enable_labels() {
    use std::io::Write as _;
    let mut nft = std::process::Command::new("nft")
        .args(["-f", "-"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("nft (Debian package nftables) installed");
    nft.stdin
        .take()
        .expect("piped stdin")
        .write_all(
            b"table inet ctbench {\n chain out {\n  type filter hook output priority 0;\n  \
              meta mark 0x5eed ct label set 127\n }\n}\n",
        )
        .expect("write the ruleset");
    assert!(
        nft.wait().expect("nft ran").success(),
        "nft -f refused the ruleset"
    );
}

/// The keys of the get benchmark: `n` UDP entries of the benchmark table (entries `4i + 1`).
pub fn get_keys(n: u32) -> Vec<conntrack::wire::request::Key> {
    (0..n)
        .map(|i| {
            let c = varied_conn(i * 4 + 1);
            conntrack::wire::request::Key {
                tuple: c.tuple_orig.expect("an original tuple"),
                zone: c.zone,
                ..Default::default()
            }
        })
        .collect()
}

/// Prebuilt get requests (sequence number 7) for `keys`, for the raw floors.
pub fn get_requests(keys: &[conntrack::wire::request::Key]) -> Vec<Vec<u8>> {
    use conntrack::wire::{consts::AF_INET, request};
    keys.iter()
        .map(|k| {
            let mut b = vec![0u8; 256];
            let len = request::emit_into(&mut b, |e| request::ct_get(e, 7, AF_INET, k))
                .expect("a get request fits 256 bytes");
            b.truncate(len);
            b
        })
        .collect()
}

/// Creates the entries `from..to` of the benchmark table, 10,000 per batch.
pub fn fill_varied(nfct: &Nfct, from: u32, to: u32) {
    let mut i = from;
    while i < to {
        let end = (i + 10_000).min(to);
        let ops: Vec<BatchOp> = (i..end).map(|k| BatchOp::Create(varied_conn(k))).collect();
        nfct.batch(&ops).into_result().expect("create");
        i = end;
    }
}

/// Counts the messages of one datagram by their headers alone; `true` once the dump is done.
/// Creates `n` UDP entries 10.0.0.0+i:1024 -> 192.0.2.2:53, 10,000 per batch.
pub fn fill_udp(nfct: &Nfct, n: u32) {
    for chunk in (0..n).collect::<Vec<_>>().chunks(10_000) {
        let ops: Vec<BatchOp> = chunk
            .iter()
            .map(|&i| {
                let src = SocketAddr::new(IpAddr::from((0x0a00_0000 + i).to_be_bytes()), 1024);
                BatchOp::Create(
                    Conn::udp(src, SocketAddr::from(([192, 0, 2, 2], 53))).with_timeout(3600),
                )
            })
            .collect();
        nfct.batch(&ops).into_result().expect("create");
    }
}

/// Decodes captured bytes with the Rust crate netlink-packet-netfilter (owned
/// `NetlinkMessage<NetfilterMessage>` per message) and reads every field it models: both
/// tuples (addresses, protocol, ports), status, timeout, mark and the TCP protocol info.
/// Returns the number of conntrack messages decoded and a checksum of the fields.
pub fn npn_parse(buf: &[u8]) -> (u64, u64) {
    use netlink_packet_core::{NetlinkMessage, NetlinkPayload, Nla};
    use netlink_packet_netfilter::NetfilterMessage;
    use netlink_packet_netfilter::NetfilterMessageInner as Inner;
    use netlink_packet_netfilter::conntrack::{ConntrackAttribute as A, ConntrackMessage as M};

    let (mut k, mut acc) = (0u64, 0u64);
    let mut off = 0;
    while off + 16 <= buf.len() {
        let Ok(msg) = NetlinkMessage::<NetfilterMessage>::deserialize(&buf[off..]) else {
            break;
        };
        let len = msg.header.length as usize;
        if len < 16 {
            break;
        }
        off += (len + 3) & !3;
        let NetlinkPayload::InnerMessage(m) = msg.payload else {
            continue;
        };
        let attrs = match m.inner {
            Inner::Conntrack(M::New(a) | M::Get(a) | M::Delete(a)) => a,
            _ => continue,
        };
        k += 1;
        for a in &attrs {
            acc = acc.rotate_left(5)
                ^ match a {
                    A::CtaTupleOrig(t) | A::CtaTupleReply(t) => npn_tuple(t),
                    A::CtaProtoInfo(p) => npn_protoinfo(p),
                    A::CtaStatus(s) => u64::from(s.bits()),
                    A::CtaTimeout(v) | A::CtaMark(v) => u64::from(*v),
                    A::Other(n) => n.value_len() as u64,
                    _ => 0,
                };
        }
    }
    (k, acc)
}

fn npn_tuple(t: &[netlink_packet_netfilter::conntrack::Tuple]) -> u64 {
    use netlink_packet_netfilter::conntrack::{IPTuple, ProtoTuple, Tuple};
    let mut acc = 0u64;
    for part in t {
        match part {
            Tuple::Ip(ip) => {
                for a in ip {
                    if let IPTuple::SourceAddress(x) | IPTuple::DestinationAddress(x) = a {
                        acc ^= match x {
                            IpAddr::V4(v) => u64::from(v.to_bits()),
                            IpAddr::V6(v) => v.to_bits() as u64,
                        };
                    }
                }
            }
            Tuple::Proto(p) => {
                for a in p {
                    acc ^= match a {
                        ProtoTuple::Protocol(pr) => u64::from(u8::from(*pr)),
                        ProtoTuple::SourcePort(v) | ProtoTuple::DestinationPort(v) => u64::from(*v),
                        _ => 0,
                    };
                }
            }
            _ => {}
        }
    }
    acc
}

fn npn_protoinfo(p: &[netlink_packet_netfilter::conntrack::ProtoInfo]) -> u64 {
    use netlink_packet_netfilter::conntrack::{ProtoInfo, ProtoInfoTCP};
    let mut acc = 0u64;
    for i in p {
        if let ProtoInfo::TCP(t) = i {
            for a in t {
                if let ProtoInfoTCP::State(s) = a {
                    acc ^= u64::from(*s);
                }
            }
        }
    }
    acc
}

/// Opens a socket and sends the plain dump request every floor uses.
pub fn start_dump() -> conntrack_sock::Socket {
    let sock = conntrack_sock::Socket::open().unwrap();
    let mut req = [0u8; 64];
    let n = conntrack::wire::request::emit_into(&mut req, |e| {
        conntrack::wire::request::ct_dump(
            e,
            1,
            conntrack::wire::consts::AF_UNSPEC,
            &conntrack::wire::request::DumpFilter::default(),
        )
    })
    .unwrap();
    sock.send(&req[..n]).unwrap();
    sock
}

/// Streams a whole dump through borrowed views, reading every field of every entry; returns
/// (entries, checksum).
pub fn stream_dump(nfct: &Nfct) -> (u64, u64) {
    let (mut k, mut acc) = (0u64, 0u64);
    nfct.dump_with(
        conntrack::Family::Any,
        &conntrack::wire::request::DumpFilter::default(),
        |c| {
            acc ^= touch_all(c);
            k += 1;
        },
    )
    .unwrap();
    (k, acc)
}

/// The get floor: sends one prebuilt get request and reads datagrams into `buf` until the
/// reply (or an error) arrives, walking only netlink headers (the request asks for no ACK).
pub fn raw_get(sock: &conntrack_sock::Socket, req: &[u8], buf: &mut [u8]) {
    use conntrack_wire::{MessageKind, Messages};
    sock.send(req).unwrap();
    loop {
        let m = sock.recv(buf).unwrap();
        if Messages::new(&buf[..m.len])
            .flatten()
            .any(|x| matches!(x.kind(), MessageKind::Error | MessageKind::Conntrack(_)))
        {
            return;
        }
    }
}

/// The get floor that also walks every attribute of the reply (interpreting none): what any
/// decoder reading every field of the reply costs at least. Returns the walk's sum.
pub fn raw_get_tlv(sock: &conntrack_sock::Socket, req: &[u8], buf: &mut [u8]) -> u64 {
    use conntrack_wire::Messages;
    raw_get(sock, req, buf);
    let len = buf
        .get(..4)
        .map_or(0, |h| u32::from_ne_bytes([h[0], h[1], h[2], h[3]]) as usize);
    let mut n = 0;
    for m in Messages::new(buf.get(..len).unwrap_or(&[])).flatten() {
        if let Ok(b) = m.attr_bytes() {
            walk_tlv(b, &mut n);
        }
    }
    n
}

//! `cargo xtask fixtures`: captures real ctnetlink bytes from the running kernel.
//!
//! Everything happens in a private network namespace (this process unshares `CLONE_NEWNET`),
//! so the host's table is neither read nor changed. The table is filled with real traffic over
//! loopback (TCP in several states, UDP, ICMP, ICMPv6, an FTP control connection that makes an
//! expectation), nftables rules that set marks, zones, labels, a helper and NAT, and
//! `conntrack -I` for what needs no traffic (SCTP, zones, marks). conntrack-tools' own view of
//! the same table is saved beside the bytes, as the oracle for the tests.

use conntrack_sock::traffic::http_exchange;
use conntrack_sock::{Group, Socket};
use conntrack_wire::consts::*;
use conntrack_wire::ct::{Status, Tuple};
use conntrack_wire::request::{self, DumpFilter, FlushFilter, Key};
use conntrack_wire::{Conn, Emitter, MessageKind, Messages};
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const RULES: &str = r#"
table inet fx {
  ct helper ftp-h { type "ftp" protocol tcp; }
  chain raw_out { type filter hook output priority raw; policy accept;
    udp dport 5353 ct zone set 5
  }
  chain out { type filter hook output priority filter; policy accept;
    tcp dport 21 ct helper set "ftp-h"
    tcp dport 80 ct mark set 0x2a
    udp dport 53 ct label set 1
    ct state new ct label set 127
  }
  chain in { type filter hook input priority filter; policy accept;
    tcp dport 9 drop
  }
}
table ip nat {
  chain out { type nat hook output priority -100; policy accept;
    tcp dport 8080 dnat to 127.0.0.1:80
  }
  chain post { type nat hook postrouting priority 100; policy accept; }
}
"#;

fn dir() -> PathBuf {
    crate::root().join("conntrack-wire/tests/fixtures")
}

fn cmd(c: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(c)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {c}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{c} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn write_sysctl(name: &str, v: &str) -> Result<(), String> {
    std::fs::write(Path::new("/proc/sys").join(name.replace('.', "/")), v)
        .map_err(|e| format!("sysctl {name}: {e}"))
}

/// Sends `req` and collects every reply datagram until the exchange ends: `NLMSG_DONE` for a
/// dump, an `NLMSG_ERROR` (error or ACK), or the first reply of a request without `NLM_F_ACK`.
/// (The global-statistics reply carries `NLM_F_MULTI` although no `NLMSG_DONE` follows it.)
fn transact(sock: &Socket, req: &[u8]) -> Result<Vec<u8>, String> {
    let req_flags = Messages::new(req)
        .next()
        .and_then(Result::ok)
        .map_or(0, |m| m.flags());
    let dump = req_flags & NLM_F_DUMP == NLM_F_DUMP;
    let ack = req_flags & NLM_F_ACK != 0;
    sock.send(req).map_err(|e| format!("send: {e}"))?;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let m = sock.recv(&mut buf).map_err(|e| format!("recv: {e}"))?;
        if m.truncated {
            return Err("reply datagram truncated".into());
        }
        let d = &buf[..m.len];
        out.extend_from_slice(d);
        let mut end = false;
        for msg in Messages::new(d) {
            let msg = msg.map_err(|e| format!("kernel reply does not parse: {e}"))?;
            match msg.kind() {
                MessageKind::Done | MessageKind::Error => end = true,
                _ if !dump && !ack => end = true,
                _ => {}
            }
        }
        if end {
            return Ok(out);
        }
    }
}

fn build(f: impl FnOnce(&mut Emitter<'_>)) -> Vec<u8> {
    let mut buf = vec![0u8; 4096];
    let n = request::emit_into(&mut buf, f).unwrap_or(0);
    buf.truncate(n);
    buf
}

fn save(name: &str, bytes: &[u8]) -> Result<(), String> {
    std::fs::write(dir().join(name), bytes).map_err(|e| format!("write {name}: {e}"))?;
    eprintln!("  {name}: {} bytes", bytes.len());
    Ok(())
}

fn tcp_tuple(src: IpAddr, dst: IpAddr, sport: u16, dport: u16) -> Tuple {
    Tuple::from_addrs(Some(src), Some(dst))
        .with_proto(IPPROTO_TCP)
        .with_ports(Some(sport), Some(dport))
}

pub(crate) fn run() -> Result<(), String> {
    if !nix::unistd::geteuid().is_root() {
        return Err("cargo xtask fixtures needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN to make a private network namespace)".into());
    }
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
        .map_err(|e| format!("unshare(CLONE_NEWNET): {e}"))?;
    cmd("ip", &["link", "set", "lo", "up"])?;
    write_sysctl("net.netfilter.nf_conntrack_acct", "1")?;
    write_sysctl("net.netfilter.nf_conntrack_timestamp", "1")?;
    ensure_connlabel_conf()?;
    let rules = std::env::temp_dir().join("conntrack-fixtures.nft");
    std::fs::write(&rules, RULES).map_err(|e| e.to_string())?;
    cmd("nft", &["-f", rules.to_str().unwrap_or_default()])?;
    std::fs::create_dir_all(dir()).map_err(|e| e.to_string())?;

    let mut events = event_socket()?;
    let keep = traffic()?;
    let lo4 = IpAddr::V4(Ipv4Addr::LOCALHOST);
    seed_entries()?;
    std::thread::sleep(Duration::from_millis(100));
    let sock = Socket::open().map_err(|e| format!("socket: {e}"))?;
    let _ = sock.set_option(conntrack_sock::SockOpt::ExtAck, true);
    capture_dumps(&sock)?;
    capture_mutations(&sock)?;
    // Tear down: close the connections, flush expectations and the table (DESTROY events).
    drop(keep);
    std::thread::sleep(Duration::from_millis(50));
    transact(&sock, &build(|e| request::exp_flush(e, 40, AF_UNSPEC)))?;
    transact(
        &sock,
        &build(|e| request::ct_flush(e, 41, AF_UNSPEC, &FlushFilter::default())),
    )?;
    std::thread::sleep(Duration::from_millis(100));
    events.set_nonblocking(true).map_err(|e| e.to_string())?;
    let mut ev = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match events.recv(&mut buf) {
            Ok(m) => ev.extend_from_slice(&buf[..m.len.min(buf.len())]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => return Err(format!("event recv: {e}")),
        }
    }
    save("events.bin", &ev)?;
    write_readme(&lo4)
}

/// The event listener; it exists before any entry, so every entry gets event state.
fn event_socket() -> Result<Socket, String> {
    let events = Socket::open().map_err(|e| format!("event socket: {e}"))?;
    for g in [
        Group::New,
        Group::Update,
        Group::Destroy,
        Group::ExpNew,
        Group::ExpDestroy,
    ] {
        events
            .join_group(g)
            .map_err(|e| format!("join {g:?}: {e}"))?;
    }
    events
        .set_recv_buffer(16 << 20)
        .map_err(|e| e.to_string())?;
    Ok(events)
}

/// Entries made by conntrack-tools: SCTP (IPv4, IPv6), a zoned and marked TCP entry, a
/// marked UDP entry with a status.
fn seed_entries() -> Result<(), String> {
    for args in [
        &[
            "-I",
            "-p",
            "sctp",
            "-s",
            "10.0.0.1",
            "-d",
            "10.0.0.2",
            "--sport",
            "1000",
            "--dport",
            "2000",
            "--state",
            "ESTABLISHED",
            "--orig-vtag",
            "5",
            "--reply-vtag",
            "6",
            "-t",
            "500",
            "-u",
            "ASSURED",
        ][..],
        &[
            "-I",
            "-p",
            "sctp",
            "-s",
            "2001:db8::1",
            "-d",
            "2001:db8::2",
            "--sport",
            "1001",
            "--dport",
            "2001",
            "--state",
            "COOKIE_WAIT",
            "--orig-vtag",
            "7",
            "--reply-vtag",
            "8",
            "-t",
            "500",
        ][..],
        &[
            "-I", "-p", "tcp", "-s", "10.0.0.1", "-d", "10.0.0.2", "--sport", "1002", "--dport",
            "443", "--state", "SYN_RECV", "-t", "500", "--zone", "3", "-m", "7",
        ][..],
        &[
            "-I",
            "-p",
            "udp",
            "-s",
            "2001:db8::3",
            "-d",
            "2001:db8::4",
            "--sport",
            "1003",
            "--dport",
            "53",
            "-t",
            "500",
            "-m",
            "0x100",
            "-u",
            "SEEN_REPLY",
        ][..],
    ] {
        cmd("conntrack", args)?;
    }
    Ok(())
}

/// The dumps (entries, expectations, statistics, a kernel-filtered dump) and
/// conntrack-tools' listings of the same table.
fn capture_dumps(sock: &Socket) -> Result<(), String> {
    eprintln!("capturing into {}", dir().display());
    save(
        "dump_ct.bin",
        &transact(
            sock,
            &build(|e| request::ct_dump(e, 1, AF_UNSPEC, &DumpFilter::default())),
        )?,
    )?;
    let oracle = cmd("conntrack", &["-L", "-o", "extended,id,timestamp,labels"])?;
    save("dump_ct.conntrack.txt", oracle.as_bytes())?;
    save(
        "dump_exp.bin",
        &transact(sock, &build(|e| request::exp_dump(e, 2, AF_UNSPEC)))?,
    )?;
    save(
        "dump_exp.conntrack.txt",
        cmd("conntrack", &["-L", "expect", "-o", "id"])
            .unwrap_or_default()
            .as_bytes(),
    )?;
    save(
        "stats_cpu.bin",
        &transact(sock, &build(|e| request::ct_stats_cpu(e, 3)))?,
    )?;
    save(
        "stats.bin",
        &transact(sock, &build(|e| request::ct_stats(e, 4)))?,
    )?;
    save(
        "exp_stats_cpu.bin",
        &transact(sock, &build(|e| request::exp_stats_cpu(e, 5)))?,
    )?;
    let f = DumpFilter {
        mark: Some((0x2a, 0xff)),
        ..Default::default()
    };
    save(
        "dump_ct_mark.bin",
        &transact(sock, &build(|e| request::ct_dump(e, 6, AF_INET, &f)))?,
    )?;
    Ok(())
}

/// Get, create, update and delete, their acknowledgements, and their errors.
fn capture_mutations(sock: &Socket) -> Result<(), String> {
    let ten = |x| IpAddr::V4(Ipv4Addr::new(10, 0, 0, x));
    let sctp = tcp_tuple(ten(1), ten(2), 1000, 2000);
    let mut sctp_key = Key {
        tuple: sctp,
        ..Default::default()
    };
    sctp_key.tuple.proto.num = Some(IPPROTO_SCTP);
    let mut replies = Vec::new();
    replies.extend(transact(
        sock,
        &build(|e| request::ct_get(e, 10, AF_INET, &sctp_key)),
    )?);
    save("get_reply.bin", &replies)?;
    let missing = Key {
        tuple: tcp_tuple(ten(9), ten(9), 1, 1),
        ..Default::default()
    };
    let new = Conn::for_tuple(tcp_tuple(ten(20), ten(21), 3000, 80))
        .with_tuple_reply(tcp_tuple(ten(21), ten(20), 80, 3000))
        .with_status(Status::CONFIRMED | Status::SEEN_REPLY | Status::ASSURED)
        .with_timeout(300)
        .with_mark(9)
        .with_tcp_state(conntrack_wire::ct::TcpState::Established);
    let mut unconfirmed = new.clone();
    unconfirmed.status = Some(Status::SEEN_REPLY);
    unconfirmed.tuple_orig = Some(tcp_tuple(ten(22), ten(23), 3000, 80));
    unconfirmed.tuple_reply = Some(tcp_tuple(ten(23), ten(22), 80, 3000));
    let update = Conn::for_tuple(tcp_tuple(ten(20), ten(21), 3000, 80))
        .with_mark(10)
        .with_timeout(200);
    let new_key = Key {
        tuple: tcp_tuple(ten(20), ten(21), 3000, 80),
        ..Default::default()
    };
    let mut acks = Vec::new();
    acks.extend(transact(
        sock,
        &build(|e| request::ct_create(e, 20, AF_INET, &new)),
    )?);
    acks.extend(transact(
        sock,
        &build(|e| request::ct_update(e, 21, AF_INET, &update)),
    )?);
    acks.extend(transact(
        sock,
        &build(|e| request::ct_delete(e, 22, AF_INET, &new_key)),
    )?);
    save("acks.bin", &acks)?;
    let mut errors = Vec::new();
    errors.extend(transact(
        sock,
        &build(|e| request::ct_get(e, 30, AF_INET, &missing)),
    )?); // ENOENT
    errors.extend(transact(
        sock,
        &build(|e| request::ct_create(e, 31, AF_INET, &new)),
    )?); // created again
    errors.extend(transact(
        sock,
        &build(|e| request::ct_create(e, 32, AF_INET, &new)),
    )?); // EEXIST
    errors.extend(transact(
        sock,
        &build(|e| request::ct_create(e, 33, AF_INET, &unconfirmed)),
    )?); // no IPS_CONFIRMED
    errors.extend(transact(
        sock,
        &build(|e| request::ct_delete(e, 34, AF_INET, &missing)),
    )?); // ENOENT
    save("errors.bin", &errors)?;
    Ok(())
}

/// Traffic over loopback; the returned sockets keep their entries (and the expectation) alive.
fn traffic() -> Result<Vec<Box<dyn Send>>, String> {
    let e = |x: std::io::Error| x.to_string();
    let mut keep: Vec<Box<dyn Send>> = Vec::new();
    let l4 = TcpListener::bind("127.0.0.1:80").map_err(e)?;
    let l6 = TcpListener::bind("[::1]:80").map_err(e)?;
    let ftp = TcpListener::bind("127.0.0.1:21").map_err(e)?;
    // established, with data both ways (counters); 8080 is DNATed to 80
    for (addr, l) in [
        ("127.0.0.1:80", &l4),
        ("127.0.0.1:8080", &l4),
        ("[::1]:80", &l6),
    ] {
        let (c, s) = http_exchange(addr, l).map_err(e)?;
        keep.push(Box::new(c));
        keep.push(Box::new(s));
    }
    // closed by the client: FIN_WAIT / TIME_WAIT / CLOSE states
    {
        let c = TcpStream::connect("127.0.0.1:80").map_err(e)?;
        let (s, _) = l4.accept().map_err(e)?;
        drop(c);
        drop(s);
    }
    // SYN_SENT: the SYN to port 9 is dropped by the input rule
    let _ = TcpStream::connect_timeout(
        &"127.0.0.1:9".parse().map_err(|_| "addr")?,
        Duration::from_millis(200),
    );
    // ftp control connection: the client's PORT command makes an expectation
    let mut c = TcpStream::connect("127.0.0.1:21").map_err(e)?;
    let (s, _) = ftp.accept().map_err(e)?;
    // The helper parses a command only after a line end it has seen in the same direction.
    c.write_all(b"USER anonymous\r\n").map_err(e)?;
    std::thread::sleep(Duration::from_millis(50));
    c.write_all(b"PORT 127,0,0,1,200,10\r\n").map_err(e)?;
    keep.push(Box::new(c));
    keep.push(Box::new(s));
    // UDP: plain, labelled (53) and zoned (5353), IPv4 and IPv6
    let u4 = UdpSocket::bind("127.0.0.1:0").map_err(e)?;
    let u6 = UdpSocket::bind("[::1]:0").map_err(e)?;
    for port in [53u16, 5353, 4000] {
        u4.send_to(b"hello", (Ipv4Addr::LOCALHOST, port))
            .map_err(e)?;
        u6.send_to(b"hello", (Ipv6Addr::LOCALHOST, port))
            .map_err(e)?;
    }
    keep.push(Box::new(u4));
    keep.push(Box::new(u6));
    // ICMP and ICMPv6 echo
    cmd("ping", &["-c", "1", "-W", "1", "127.0.0.1"])?;
    cmd("ping", &["-6", "-c", "1", "-W", "1", "::1"])?;
    keep.push(Box::new((l4, l6, ftp)));
    std::thread::sleep(Duration::from_millis(200));
    Ok(keep)
}

/// conntrack-tools prints labels by name only with a label map; install the identity map
/// (`labelN`) when the machine has none.
pub(crate) fn ensure_connlabel_conf() -> Result<(), String> {
    let p = Path::new("/etc/xtables/connlabel.conf");
    if p.exists() {
        return Ok(());
    }
    let map: String = (0..128).map(|i| format!("{i} label{i}\n")).collect();
    if nix::unistd::geteuid().is_root() {
        std::fs::create_dir_all("/etc/xtables").map_err(|e| e.to_string())?;
        return std::fs::write(p, map).map_err(|e| e.to_string());
    }
    // An ordinary user: write it aside, and install it with sudo.
    let tmp = std::env::temp_dir().join(format!("connlabel-{}.conf", std::process::id()));
    std::fs::write(&tmp, map).map_err(|e| e.to_string())?;
    let tmp_path = tmp.to_string_lossy().into_owned();
    let r = crate::sh(
        "sudo",
        &[
            "install",
            "-D",
            "-m",
            "644",
            &tmp_path,
            "/etc/xtables/connlabel.conf",
        ],
    );
    let _ = std::fs::remove_file(&tmp);
    r
}

fn write_readme(_lo: &IpAddr) -> Result<(), String> {
    let kernel = cmd("uname", &["-r"])?.trim().to_string();
    let ct = Command::new("conntrack")
        .arg("--version")
        .output()
        .map(|o| {
            let mut s = String::from_utf8_lossy(&o.stdout).into_owned();
            s.push_str(&String::from_utf8_lossy(&o.stderr));
            s.trim().to_string()
        });
    let text = format!(
        "# Fixtures: real ctnetlink bytes\n\n\
Captured by `cargo xtask fixtures` (source: `xtask/src/fixtures.rs`) as root, in a private network \
namespace, on kernel `{kernel}` with `{}`. Do not edit by hand: run the command again.\n\n\
The table was filled with real loopback traffic (TCP established, closing, SYN_SENT; TCP via DNAT \
8080->80; an FTP control connection whose PORT command made an expectation; UDP and ICMP over IPv4 \
and IPv6), nftables rules setting a mark (tcp/80), a zone (udp/5353), labels (1 and 127), the ftp \
helper and DNAT, and `conntrack -I` entries (SCTP IPv4/IPv6, TCP with zone and mark, UDP IPv6 with \
mark); `nf_conntrack_acct` and `nf_conntrack_timestamp` were on.\n\n\
Each `.bin` file holds the datagrams of one exchange, concatenated (each is whole netlink messages):\n\n\
| file | what |\n|---|---|\n\
| dump_ct.bin | `IPCTNL_MSG_CT_GET` dump, AF_UNSPEC |\n\
| dump_ct.conntrack.txt | `conntrack -L -o extended,id,timestamp,labels` right after it (the oracle) |\n\
| dump_ct_mark.bin | dump filtered by mark 0x2a/0xff, AF_INET |\n\
| dump_exp.bin / dump_exp.conntrack.txt | expectation dump and `conntrack -L expect -o id` |\n\
| stats_cpu.bin, stats.bin, exp_stats_cpu.bin | per-CPU, global and expectation statistics |\n\
| get_reply.bin | reply to a get of the SCTP entry |\n\
| acks.bin | ACKs of a create, an update and a delete |\n\
| errors.bin | ENOENT (get), ACK then EEXIST (create twice), the reply to a create without IPS_CONFIRMED, ENOENT (delete) |\n\
| events.bin | every event of the capture (NEW, UPDATE, DESTROY, expectation NEW/DESTROY) |\n",
        ct.unwrap_or_default()
    );
    std::fs::write(dir().join("README.md"), text).map_err(|e| e.to_string())
}

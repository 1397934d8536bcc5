//! `-o save`: each entry as the conntrack(8) command line that makes it again, in
//! conntrack-tools' order (`-A -t T -u BITS [-w Z] [--orig-zone Z] [--reply-zone Z] -s -d
//! -r|-g -q|-n -p PROTO ...`), plus the mark and labels (`-m`, `-l`), which conntrack-tools
//! leaves out and a restore would lose; and `-R FILE`, which loads such lines back in one
//! batch.

use crate::args::{Cli, Cmd};
use crate::options::{self, Command};
use crate::{R, bad, build_entry, open, report, update_of};
use clap::Parser;
use conntrack::wire::consts::*;
use conntrack::wire::ct::{DccpState, SctpState, Status, TcpState, Tuple};
use conntrack::{BatchOp, Conn, Error, Outcome};
use std::fmt::Write;

/// The status bits a saved line names, in bit order, as conntrack-tools names them.
const STATUS_NAMES: [(u32, &str); 4] = [
    (IPS_EXPECTED, "EXPECTED"),
    (IPS_SEEN_REPLY, "SEEN_REPLY"),
    (IPS_ASSURED, "ASSURED"),
    (IPS_FIXED_TIMEOUT, "FIXED_TIMEOUT"),
];

/// Appends the `-o save` line of `c` (no newline).
pub fn write_line(s: &mut String, c: &Conn) {
    let (Some(o), Some(r)) = (c.tuple_orig, c.tuple_reply) else {
        return;
    };
    s.push_str("-A ");
    if let Some(t) = c.timeout {
        let _ = write!(s, "-t {t} ");
    }
    if let Some(st) = c.status {
        let names: Vec<&str> = STATUS_NAMES
            .iter()
            .filter(|(bit, _)| st.bits() & bit != 0)
            .map(|(_, n)| *n)
            .collect();
        let names = if names.is_empty() {
            "UNSET".to_string()
        } else {
            names.join(",")
        };
        let _ = write!(s, "-u {names} ");
    }
    // ctrack's additions: what conntrack-tools does not save and a restore would lose.
    if let Some(m) = c.mark.filter(|m| *m != 0) {
        let _ = write!(s, "-m {m} ");
    }
    if let Some(l) = &c.labels() {
        let names = crate::labelmap::names(conntrack::wire::ct::LabelsView::new(l).iter());
        if !names.is_empty() {
            let _ = write!(s, "-l {} ", names.join(","));
        }
    }
    if let Some(m) = c.ext().secmark {
        let _ = write!(s, "-c {m} ");
    }
    if let Some(z) = c.zone {
        let _ = write!(s, "-w {z} ");
    }
    if let Some(z) = o.zone {
        let _ = write!(s, "--orig-zone {z} ");
    }
    if let Some(z) = r.zone {
        let _ = write!(s, "--reply-zone {z} ");
    }
    write_addresses(s, c, &o, &r);
    write_proto(s, c, &o, &r);
    let end = s.trim_end().len();
    s.truncate(end);
}

/// `-s -d`, then the reply addresses, named as NAT where the entry was translated (which a
/// restore then applies again).
fn write_addresses(s: &mut String, c: &Conn, o: &Tuple, r: &Tuple) {
    let done = |bit: Status| c.status.is_none_or(|st| st.contains(bit));
    let dnat = done(Status::DST_NAT_DONE) && r.src != o.dst;
    let snat = done(Status::SRC_NAT_DONE) && r.dst != o.src;
    for (flag, a) in [
        ("-s", o.src),
        ("-d", o.dst),
        (if dnat { "-g" } else { "-r" }, r.src),
        (if snat { "-n" } else { "-q" }, r.dst),
    ] {
        if let Some(a) = a {
            let _ = write!(s, "{flag} {a} ");
        }
    }
}

/// `-p NAME` and the protocol's own options.
fn write_proto(s: &mut String, c: &Conn, o: &Tuple, r: &Tuple) {
    let Some(num) = o.proto.num else { return };
    let ports = |s: &mut String, names: [&str; 4]| {
        for (name, p) in names.into_iter().zip([
            o.proto.src_port,
            o.proto.dst_port,
            r.proto.src_port,
            r.proto.dst_port,
        ]) {
            if let Some(p) = p {
                let _ = write!(s, "{name} {p} ");
            }
        }
    };
    const PORTS: [&str; 4] = ["--sport", "--dport", "--reply-port-src", "--reply-port-dst"];
    let info = c.protoinfo();
    match num {
        IPPROTO_TCP => {
            s.push_str("-p tcp ");
            ports(s, PORTS);
            if let Some(st) = info.and_then(|p| p.tcp).and_then(|t| t.state) {
                let _ = write!(s, "--state {} ", TcpState::from(st).name());
            }
        }
        IPPROTO_UDP => {
            s.push_str("-p udp ");
            ports(s, PORTS);
        }
        IPPROTO_UDPLITE => {
            s.push_str("-p udplite ");
            ports(s, PORTS);
        }
        IPPROTO_SCTP => {
            s.push_str("-p sctp ");
            ports(s, PORTS);
            write_sctp(s, info.and_then(|p| p.sctp));
        }
        IPPROTO_DCCP => {
            s.push_str("-p dccp ");
            ports(s, PORTS);
            write_dccp(s, info.and_then(|p| p.dccp));
        }
        IPPROTO_GRE => {
            s.push_str("-p gre ");
            ports(
                s,
                ["--srckey", "--dstkey", "--reply-key-src", "--reply-key-dst"],
            );
        }
        IPPROTO_ICMP | IPPROTO_ICMPV6 => write_icmp(s, num, o),
        other => {
            let _ = write!(s, "-p {other} ");
        }
    }
}

/// The SCTP options: state and verification tags.
fn write_sctp(s: &mut String, x: Option<conntrack::wire::ct::SctpInfo>) {
    let Some(x) = x else { return };
    if let Some(st) = x.state {
        let _ = write!(s, "--state {} ", SctpState::from(st).name());
    }
    if let Some(v) = x.vtag_original {
        let _ = write!(s, "--orig-vtag {} ", vtag_to_cli(v));
    }
    if let Some(v) = x.vtag_reply {
        let _ = write!(s, "--reply-vtag {} ", vtag_to_cli(v));
    }
}

/// The DCCP options: state and role.
fn write_dccp(s: &mut String, x: Option<conntrack::wire::ct::DccpInfo>) {
    let Some(x) = x else { return };
    if let Some(st) = x.state {
        let _ = write!(s, "--state {} ", DccpState::from(st).name());
    }
    match x.role {
        Some(0) => s.push_str("--role client "),
        Some(1) => s.push_str("--role server "),
        _ => {}
    }
}

/// `-p icmp` or `-p icmpv6` and the original tuple's type, code and id.
fn write_icmp(s: &mut String, num: u8, o: &Tuple) {
    let (name, (kind, code, id)) = if num == IPPROTO_ICMP {
        (
            "icmp",
            (o.proto.icmp_type, o.proto.icmp_code, o.proto.icmp_id),
        )
    } else {
        (
            "icmpv6",
            (o.proto.icmpv6_type, o.proto.icmpv6_code, o.proto.icmpv6_id),
        )
    };
    let _ = write!(s, "-p {name} ");
    if let Some(t) = kind {
        let _ = write!(s, "--{name}-type {t} ");
    }
    if let Some(c) = code {
        let _ = write!(s, "--{name}-code {c} ");
    }
    if let Some(i) = id {
        let _ = write!(s, "--{name}-id {i} ");
    }
}

/// An SCTP verification tag as conntrack-tools writes and reads it on the command line: the
/// attribute's bytes in host order (it converts the tag twice), so that `--orig-vtag N` makes
/// the same entry here as there, and a saved line loads into either.
pub fn vtag_to_cli(v: u32) -> u32 {
    u32::from_ne_bytes(v.to_be_bytes())
}

/// The tag `--orig-vtag N` means; see [`vtag_to_cli`].
pub fn vtag_from_cli(n: u32) -> u32 {
    u32::from_be_bytes(n.to_ne_bytes())
}

/// `-R FILE`: creates the entries of the `-A`/`-I` lines of a file (as `-o save` writes
/// them), in one batch, each line's outcome reported by its number; an `-A` line whose entry
/// exists updates it instead. Every line is checked before anything is sent: a line that does
/// not parse, or is another command, stops the load with nothing changed.
pub fn load(netns: &Option<String>, path: &str) -> R<()> {
    let text = std::fs::read_to_string(path).map_err(|e| bad(format!("{path}: {e}")))?;
    let mut lines = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = |e: String| bad(format!("{path}:{}: {e}", i + 1));
        let cli = Cli::try_parse_from(std::iter::once("ctrack").chain(line.split_whitespace()))
            .map_err(|e| at(e.to_string().lines().next().unwrap_or("").to_string()))?;
        let (add, f) = match cli.cmd {
            Some(Cmd::Add(f)) => (true, f),
            Some(Cmd::Create(f)) => (false, f),
            _ => return Err(at("only -A and -I lines can be loaded".into())),
        };
        options::check(Command::Create, f.table, &f).map_err(at)?;
        let c = build_entry(&f).map_err(|e| at(e.0))?;
        lines.push((i + 1, add, f, c));
    }
    let nfct = open(netns)?;
    let ops: Vec<BatchOp> = lines.iter().map(|l| BatchOp::Create(l.3.clone())).collect();
    let r = nfct.batch(&ops);
    let mut outcomes = Vec::with_capacity(lines.len());
    let mut updated = 0;
    for ((n, add, f, _), out) in lines.iter().zip(r.outcomes) {
        match out {
            Outcome::Failed(Error::Exists { .. }) if *add => {
                match update_of(netns, f) {
                    Ok(()) => updated += 1,
                    Err(e) => eprintln!("ctrack: {path}:{n}: {}", e.0),
                }
                outcomes.push(Outcome::Applied);
            }
            Outcome::Failed(e) => {
                eprintln!("ctrack: {path}:{n}:");
                outcomes.push(Outcome::Failed(e));
            }
            other => outcomes.push(other),
        }
    }
    if updated > 0 {
        eprintln!("ctrack: {updated} existing flow entries were updated instead.");
    }
    report("flow entries", "loaded", &outcomes, r.stopped)
}

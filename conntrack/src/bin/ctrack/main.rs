//! `ctrack`: conntrack-tools' `conntrack`, rebuilt on the conntrack crate.

mod args;
mod demo;

use args::{Cli, Cmd, EventArgs, Filter, Table};
use clap::Parser;
use conntrack::events::{EventConfig, EventFilter, EventKind, EventView, Events, Groups, Match};
use conntrack::format::{self, Options};
use conntrack::wire::consts::*;
use conntrack::wire::ct::{Labels, Status, TcpState, Tuple};
use conntrack::{BatchOp, Config, Conn, DumpFilter, Error, Family, FlushFilter, Key, Nfct};
use std::io::Write;
use std::net::IpAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

/// A user-facing failure: one line, and the exit code.
struct Fail(String);

impl From<Error> for Fail {
    fn from(e: Error) -> Self {
        let hint = match &e {
            Error::PermissionDenied { .. } => ": run as root or grant CAP_NET_ADMIN",
            Error::NotFound { .. } => "",
            Error::Unsupported { .. } => ": nothing was changed",
            _ => "",
        };
        Fail(format!("{e}{hint}"))
    }
}

fn bad(s: impl Into<String>) -> Fail {
    Fail(s.into())
}

type R<T> = Result<T, Fail>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Fail(msg)) => {
            eprintln!("ctrack: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn netns_path(n: &str) -> String {
    if n.contains('/') {
        n.to_string()
    } else {
        format!("/var/run/netns/{n}")
    }
}

fn open(netns: &Option<String>) -> R<Nfct> {
    let mut cfg = Config::default();
    if let Some(n) = netns {
        cfg = cfg.netns(netns_path(n));
    }
    Ok(Nfct::open_with(cfg)?)
}

fn run(cli: Cli) -> R<()> {
    match cli.cmd {
        Cmd::List(f) => list(&cli.netns, &f),
        Cmd::Get(f) => get(&cli.netns, &f),
        Cmd::Create(f) => create(&cli.netns, &f),
        Cmd::Update(f) => update(&cli.netns, &f),
        Cmd::Delete(f) => delete(&cli.netns, &f),
        Cmd::Flush(f) => flush(&cli.netns, &f),
        Cmd::Events(e) => events(&cli.netns, &e),
        Cmd::Stats(f) => stats(&cli.netns, &f),
        Cmd::Count(f) => count(&cli.netns, &f),
        Cmd::Demo(d) => demo::run(&d),
    }
}

// ------------------------------------------------------------------ parsing helpers

fn proto_num(s: &str) -> R<u8> {
    Ok(match s.to_ascii_lowercase().as_str() {
        "tcp" => IPPROTO_TCP,
        "udp" => IPPROTO_UDP,
        "icmp" => IPPROTO_ICMP,
        "icmpv6" | "ipv6-icmp" => IPPROTO_ICMPV6,
        "sctp" => IPPROTO_SCTP,
        "dccp" => IPPROTO_DCCP,
        "gre" => IPPROTO_GRE,
        "udplite" => IPPROTO_UDPLITE,
        n => n.parse().map_err(|_| {
            bad(format!(
                "unknown protocol `{s}`: use tcp, udp, icmp, icmpv6, sctp, dccp or a number"
            ))
        })?,
    })
}

fn addr(s: &str, what: &str) -> R<IpAddr> {
    s.parse()
        .map_err(|_| bad(format!("invalid {what} address `{s}`")))
}

fn num(s: &str, what: &str) -> R<u32> {
    let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u32::from_str_radix(h, 16),
        None => s.parse(),
    };
    r.map_err(|_| bad(format!("invalid {what} `{s}`")))
}

fn mark(s: &str) -> R<(u32, u32)> {
    match s.split_once('/') {
        Some((v, m)) => Ok((num(v, "mark")?, num(m, "mark mask")?)),
        None => Ok((num(s, "mark")?, u32::MAX)),
    }
}

fn status(s: &str) -> R<Status> {
    let mut st = Status::default();
    for part in s.split(',') {
        let bit = match part.trim().to_ascii_uppercase().as_str() {
            "EXPECTED" => Status::EXPECTED,
            "SEEN_REPLY" => Status::SEEN_REPLY,
            "ASSURED" => Status::ASSURED,
            "CONFIRMED" => Status::CONFIRMED,
            "SRC_NAT" | "SNAT" => Status::SRC_NAT,
            "DST_NAT" | "DNAT" => Status::DST_NAT,
            "SEQ_ADJUST" => Status::SEQ_ADJUST,
            "SRC_NAT_DONE" => Status::SRC_NAT_DONE,
            "DST_NAT_DONE" => Status::DST_NAT_DONE,
            "DYING" => Status::DYING,
            "FIXED_TIMEOUT" => Status::FIXED_TIMEOUT,
            "TEMPLATE" => Status::TEMPLATE,
            "HELPER" => Status::HELPER,
            "OFFLOAD" => Status::OFFLOAD,
            "HW_OFFLOAD" => Status::HW_OFFLOAD,
            other => return Err(bad(format!("unknown status `{other}`"))),
        };
        st = st | bit;
    }
    Ok(st)
}

fn state_num(proto: u8, s: &str) -> R<u8> {
    let up = s.to_ascii_uppercase();
    let found = (0u8..=16).find(|&n| match proto {
        IPPROTO_SCTP => conntrack::wire::ct::SctpState::from(n).name() == up,
        IPPROTO_DCCP => conntrack::wire::ct::DccpState::from(n).name() == up,
        _ => TcpState::from(n).name() == up,
    });
    found.ok_or_else(|| bad(format!("unknown state `{s}`")))
}

fn labels(s: &str) -> R<Vec<usize>> {
    s.split(',')
        .map(|p| {
            let p = p.trim();
            p.strip_prefix("label")
                .unwrap_or(p)
                .parse::<usize>()
                .ok()
                .filter(|n| *n < 128)
                .ok_or_else(|| bad(format!("invalid label `{p}`: use labelN or N, N < 128")))
        })
        .collect()
}

fn family(f: &Filter) -> R<Family> {
    match f.family.as_deref() {
        None => Ok(Family::Any),
        Some("ipv4") | Some("inet") | Some("4") => Ok(Family::Ipv4),
        Some("ipv6") | Some("inet6") | Some("6") => Ok(Family::Ipv6),
        Some(o) => Err(bad(format!("unknown family `{o}`: use ipv4 or ipv6"))),
    }
}

fn options(f: &Filter) -> R<(Options, bool)> {
    let mut o = Options::default();
    let mut json = false;
    if let Some(s) = &f.output {
        for p in s.split(',') {
            match p {
                "extended" => o.extended = true,
                "id" => o.id = true,
                "labels" => o.labels = true,
                "timestamp" => o.timestamp = true,
                "json" => json = true,
                other => {
                    return Err(bad(format!(
                        "unknown output `{other}`: use extended, id, timestamp, labels or json"
                    )));
                }
            }
        }
    }
    Ok((o, json))
}

fn orig_tuple(f: &Filter) -> R<Option<Tuple>> {
    let mut t = Tuple {
        src: f.src.as_deref().map(|s| addr(s, "source")).transpose()?,
        dst: f
            .dst
            .as_deref()
            .map(|s| addr(s, "destination"))
            .transpose()?,
        ..Default::default()
    };
    t.proto.num = f.proto.as_deref().map(proto_num).transpose()?;
    t.proto.src_port = f.sport;
    t.proto.dst_port = f.dport;
    let v6 = t.src.or(t.dst).is_some_and(|a| a.is_ipv6()) || t.proto.num == Some(IPPROTO_ICMPV6);
    if v6 {
        (t.proto.icmpv6_type, t.proto.icmpv6_code, t.proto.icmpv6_id) =
            (f.icmp_type, f.icmp_code, f.icmp_id);
    } else {
        (t.proto.icmp_type, t.proto.icmp_code, t.proto.icmp_id) =
            (f.icmp_type, f.icmp_code, f.icmp_id);
    }
    if (t.proto.src_port.is_some() || t.proto.dst_port.is_some() || f.icmp_type.is_some())
        && t.proto.num.is_none()
    {
        return Err(bad("ports and ICMP fields need a protocol (-p)"));
    }
    Ok((t != Tuple::default()).then_some(t))
}

fn reply_tuple(f: &Filter) -> R<Option<Tuple>> {
    let mut t = Tuple {
        src: f
            .reply_src
            .as_deref()
            .map(|s| addr(s, "reply source"))
            .transpose()?,
        dst: f
            .reply_dst
            .as_deref()
            .map(|s| addr(s, "reply destination"))
            .transpose()?,
        ..Default::default()
    };
    t.proto.src_port = f.reply_sport;
    t.proto.dst_port = f.reply_dport;
    if t == Tuple::default() {
        return Ok(None);
    }
    t.proto.num = f.proto.as_deref().map(proto_num).transpose()?;
    if (t.proto.src_port.is_some() || t.proto.dst_port.is_some()) && t.proto.num.is_none() {
        return Err(bad("reply ports need a protocol (-p)"));
    }
    Ok(Some(t))
}

/// The kernel-side part of a filter, and the user-space rest (state, labels).
fn dump_filter(f: &Filter) -> R<(DumpFilter, Option<u8>, Option<Vec<usize>>)> {
    let mut d = DumpFilter {
        orig: orig_tuple(f)?,
        reply: reply_tuple(f)?,
        zone: f.zone,
        ..Default::default()
    };
    if let Some(m) = &f.mark {
        let (v, mask) = mark(m)?;
        d.mark = Some((v & mask, mask));
    }
    if let Some(s) = &f.status {
        let st = status(s)?;
        d.status = Some((st, st));
    }
    let proto = d.orig.and_then(|t| t.proto.num).unwrap_or(IPPROTO_TCP);
    let state = f
        .state
        .as_deref()
        .map(|s| state_num(proto, s))
        .transpose()?;
    let labels = f.label.as_deref().map(labels).transpose()?;
    Ok((d, state, labels))
}

fn extra_match(
    c: &conntrack::wire::ConnView<'_>,
    state: Option<u8>,
    labels: &Option<Vec<usize>>,
) -> bool {
    if let Some(s) = state {
        let p = c.protoinfo();
        let got = p.and_then(|p| {
            p.tcp()
                .and_then(|t| t.state())
                .or_else(|| p.sctp().and_then(|t| t.state()))
                .or_else(|| p.dccp().and_then(|t| t.state()))
        });
        if got != Some(s) {
            return false;
        }
    }
    if let Some(want) = labels {
        let Some(l) = c.labels() else { return false };
        if !want.iter().all(|n| l.contains(*n)) {
            return false;
        }
    }
    true
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

fn print_conn(out: &mut impl Write, c: &Conn, fam: u8, o: Options, json: bool) {
    let s = if json {
        format::json(c, fam, None)
    } else {
        format::line(c, fam, o, now_ns())
    };
    let _ = writeln!(out, "{s}");
}

// ------------------------------------------------------------------ commands

fn list(netns: &Option<String>, f: &Filter) -> R<()> {
    let nfct = open(netns)?;
    let (o, json) = options(f)?;
    let fam = family(f)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if f.table == Table::Expect {
        let v = nfct.exp_dump(fam)?;
        for x in &v {
            let _ = writeln!(out, "{}", format::exp_line(x, o));
        }
        let _ = out.flush();
        eprintln!("ctrack: {} expectations have been shown.", v.len());
        return Ok(());
    }
    let (d, state, labels) = dump_filter(f)?;
    let mut n = 0;
    let now = now_ns();
    nfct.dump_each(fam, &d, |c| {
        if !extra_match(c, state, &labels) {
            return;
        }
        let fam = c
            .tuple_orig()
            .and_then(|t| t.src())
            .map_or(0, |a| if a.is_ipv4() { AF_INET } else { AF_INET6 });
        let owned = Conn::parse(c);
        let s = if json {
            format::json(&owned, fam, None)
        } else {
            format::line(&owned, fam, o, now)
        };
        let _ = writeln!(out, "{s}");
        n += 1;
    })?;
    let _ = out.flush();
    eprintln!("ctrack: {n} flow entries have been shown.");
    Ok(())
}

fn key(f: &Filter) -> R<Key> {
    let t = orig_tuple(f)?
        .ok_or_else(|| bad("get needs the original tuple: -p, -s, -d and ports or ICMP fields"))?;
    Ok(Key {
        tuple: t,
        zone: f.zone,
        ..Default::default()
    })
}

fn get(netns: &Option<String>, f: &Filter) -> R<()> {
    let nfct = open(netns)?;
    let (o, json) = options(f)?;
    if f.table == Table::Expect {
        let t = orig_tuple(f)?.ok_or_else(|| bad("get expect needs the expected tuple"))?;
        let x = nfct.exp_get(&t, f.zone)?;
        println!("{}", format::exp_line(&x, o));
        return Ok(());
    }
    let c = nfct.get(&key(f)?)?;
    print_conn(&mut std::io::stdout(), &c, c.family().unwrap_or(0), o, json);
    eprintln!("ctrack: 1 flow entries have been shown.");
    Ok(())
}

fn build_conn(f: &Filter) -> R<Conn> {
    let orig =
        orig_tuple(f)?.ok_or_else(|| bad("create needs -p, -s, -d and ports or ICMP fields"))?;
    let (Some(src), Some(dst), Some(proto)) = (orig.src, orig.dst, orig.proto.num) else {
        return Err(bad("create needs -p, -s and -d"));
    };
    let mut reply = Tuple {
        src: Some(dst),
        dst: Some(src),
        ..Default::default()
    };
    reply.proto.num = Some(proto);
    reply.proto.src_port = orig.proto.dst_port;
    reply.proto.dst_port = orig.proto.src_port;
    let p = &orig.proto;
    reply.proto.icmp_id = p.icmp_id;
    reply.proto.icmp_code = p.icmp_code;
    reply.proto.icmp_type = p.icmp_type.map(|t| if t == 8 { 0 } else { t });
    reply.proto.icmpv6_id = p.icmpv6_id;
    reply.proto.icmpv6_code = p.icmpv6_code;
    reply.proto.icmpv6_type = p.icmpv6_type.map(|t| if t == 128 { 129 } else { t });
    if let Some(r) = reply_tuple(f)? {
        reply.src = r.src.or(reply.src);
        reply.dst = r.dst.or(reply.dst);
        reply.proto.src_port = r.proto.src_port.or(reply.proto.src_port);
        reply.proto.dst_port = r.proto.dst_port.or(reply.proto.dst_port);
    }
    let mut c = Conn {
        tuple_orig: Some(orig),
        tuple_reply: Some(reply),
        status: Some(Status::CONFIRMED),
        ..Default::default()
    };
    apply_fields(&mut c, f, proto)?;
    Ok(c)
}

/// Sets the fields a create or update changes.
fn apply_fields(c: &mut Conn, f: &Filter, proto: u8) -> R<()> {
    c.timeout = f.timeout.or(c.timeout);
    if let Some(m) = &f.mark {
        let (v, mask) = mark(m)?;
        c.mark = Some(v);
        if mask != u32::MAX {
            c.mark_mask = Some(mask);
        }
    }
    c.zone = f.zone.or(c.zone);
    if let Some(s) = &f.status {
        c.status = Some(c.status.unwrap_or_default() | status(s)?);
    }
    if let Some(s) = &f.state {
        let n = state_num(proto, s)?;
        let mut x = std::mem::take(c);
        x = if proto == IPPROTO_SCTP {
            x.with_sctp(
                conntrack::wire::ct::SctpState::from(n),
                f.orig_vtag.unwrap_or(0),
                f.reply_vtag.unwrap_or(0),
            )
        } else {
            x.with_tcp_state(TcpState::from(n))
        };
        *c = x;
    }
    if let Some(l) = &f.label {
        let bits = Labels::from_labels(&labels(l)?);
        c.labels_mask = Some(bits);
        c.labels = Some(bits);
    }
    if let Some(h) = &f.helper {
        *c = std::mem::take(c).with_helper(h);
    }
    Ok(())
}

fn create(netns: &Option<String>, f: &Filter) -> R<()> {
    if f.table == Table::Expect {
        return Err(bad(
            "creating expectations from the command line is not supported; use the library's Nfct::exp_create",
        ));
    }
    let nfct = open(netns)?;
    let (o, json) = options(f)?;
    let mut c = build_conn(f)?;
    if c.timeout.is_none() {
        return Err(bad("create needs a timeout (-t)"));
    }
    if c.status.is_some_and(|s| !s.contains(Status::CONFIRMED)) {
        c.status = c.status.map(|s| s | Status::CONFIRMED);
    }
    nfct.create(&c)?;
    let got = nfct.get(&Key {
        tuple: c.tuple_orig.unwrap_or_default(),
        zone: c.zone,
        ..Default::default()
    })?;
    print_conn(
        &mut std::io::stdout(),
        &got,
        got.family().unwrap_or(0),
        o,
        json,
    );
    eprintln!("ctrack: 1 flow entries have been created.");
    Ok(())
}

/// The entries a selection names: by kernel-side and user-space filters.
fn select(nfct: &Nfct, f: &Filter, selection_only: bool) -> R<Vec<Conn>> {
    let (mut d, state, labels) = dump_filter(f)?;
    if selection_only {
        // in update, -m/-u/--state/-l are new values, not filters
        d.mark = None;
        d.status = None;
    }
    let (state, labels) = if selection_only {
        (None, None)
    } else {
        (state, labels)
    };
    let mut v = Vec::new();
    nfct.dump_each(family(f)?, &d, |c| {
        if extra_match(c, state, &labels) {
            v.push(Conn::parse(c));
        }
    })?;
    Ok(v)
}

fn update(netns: &Option<String>, f: &Filter) -> R<()> {
    let nfct = open(netns)?;
    let (o, json) = options(f)?;
    let targets = select(&nfct, f, true)?;
    if targets.is_empty() {
        return Err(Fail(
            Error::NotFound {
                op: conntrack::Op::Update,
            }
            .to_string(),
        ));
    }
    let mut ops = Vec::new();
    for t in &targets {
        let mut u = Conn {
            tuple_orig: t.tuple_orig,
            zone: t.zone,
            ..Default::default()
        };
        apply_fields(
            &mut u,
            f,
            t.tuple_orig.and_then(|x| x.proto.num).unwrap_or(0),
        )?;
        u.zone = t.zone;
        ops.push(BatchOp::Update(u));
    }
    let res = nfct.batch(&ops)?;
    let mut n = 0;
    for (t, r) in targets.iter().zip(res) {
        match r {
            Ok(()) => {
                n += 1;
                let k = Key {
                    tuple: t.tuple_orig.unwrap_or_default(),
                    zone: t.zone,
                    ..Default::default()
                };
                if let Ok(c) = nfct.get(&k) {
                    print_conn(&mut std::io::stdout(), &c, c.family().unwrap_or(0), o, json);
                }
            }
            Err(e) => eprintln!("ctrack: {e}"),
        }
    }
    eprintln!("ctrack: {n} flow entries have been updated.");
    Ok(())
}

fn delete(netns: &Option<String>, f: &Filter) -> R<()> {
    let nfct = open(netns)?;
    let (o, json) = options(f)?;
    if f.table == Table::Expect {
        let t = orig_tuple(f)?.ok_or_else(|| bad("delete expect needs the expected tuple"))?;
        nfct.exp_delete(&t, f.zone)?;
        eprintln!("ctrack: 1 expectations have been deleted.");
        return Ok(());
    }
    let targets = select(&nfct, f, false)?;
    let ops: Vec<BatchOp> = targets
        .iter()
        .filter_map(|c| {
            Some(BatchOp::Delete(Key {
                tuple: c.tuple_orig?,
                zone: c.zone,
                id: c.id,
                ..Default::default()
            }))
        })
        .collect();
    let res = nfct.batch(&ops)?;
    let mut n = 0;
    for (c, r) in targets.iter().zip(res) {
        match r {
            Ok(()) => {
                n += 1;
                print_conn(&mut std::io::stdout(), c, c.family().unwrap_or(0), o, json);
            }
            Err(Error::NotFound { .. }) => {}
            Err(e) => eprintln!("ctrack: {e}"),
        }
    }
    if n == 0 && !targets.is_empty() {
        return Err(bad("no entry could be deleted"));
    }
    eprintln!("ctrack: {n} flow entries have been deleted.");
    Ok(())
}

fn flush(netns: &Option<String>, f: &Filter) -> R<()> {
    let nfct = open(netns)?;
    let fam = family(f)?;
    if f.table == Table::Expect {
        nfct.exp_flush(fam)?;
        eprintln!("ctrack: expectation table has been emptied.");
        return Ok(());
    }
    if f.src.is_some()
        || f.dst.is_some()
        || f.proto.is_some()
        || f.state.is_some()
        || f.label.is_some()
        || f.reply_src.is_some()
        || f.reply_dst.is_some()
    {
        return Err(bad(
            "flush filters by mark, status and zone only; use delete (-D) to remove entries by tuple, state or label",
        ));
    }
    let ff = FlushFilter {
        mark: f
            .mark
            .as_deref()
            .map(mark)
            .transpose()?
            .map(|(v, m)| (v & m, m)),
        status: f.status.as_deref().map(status).transpose()?.map(|s| (s, s)),
        zone: f.zone,
    };
    if ff.is_empty() {
        nfct.flush(fam)?;
    } else {
        nfct.flush_filtered(fam, &ff)?;
    }
    eprintln!("ctrack: connection tracking table has been emptied.");
    Ok(())
}

fn stats(netns: &Option<String>, f: &Filter) -> R<()> {
    let nfct = open(netns)?;
    if f.table == Table::Expect {
        for (cpu, s) in nfct.exp_stats_cpu()? {
            println!(
                "cpu={cpu:<4}\tnew={} create={} delete={}",
                s.new.unwrap_or(0),
                s.create.unwrap_or(0),
                s.delete.unwrap_or(0)
            );
        }
        return Ok(());
    }
    for (cpu, s) in nfct.stats_cpu()? {
        let z = |v: Option<u32>| v.unwrap_or(0);
        println!(
            "cpu={cpu:<4}\tfound={} invalid={} insert={} insert_failed={} drop={} early_drop={} error={} search_restart={} clash_resolve={} chaintoolong={} ",
            z(s.found),
            z(s.invalid),
            z(s.insert),
            z(s.insert_failed),
            z(s.drop),
            z(s.early_drop),
            z(s.error),
            z(s.search_restart),
            z(s.clash_resolve),
            z(s.chain_toolong)
        );
    }
    Ok(())
}

fn count(netns: &Option<String>, f: &Filter) -> R<()> {
    let nfct = open(netns)?;
    if f.table == Table::Expect {
        println!("{}", nfct.exp_dump(family(f)?)?.len());
        return Ok(());
    }
    let g = nfct.stats()?;
    println!("{}", g.entries.unwrap_or(0));
    Ok(())
}

fn event_filter(f: &Filter) -> R<EventFilter> {
    let mut ef = EventFilter::default();
    if let Some(p) = &f.proto {
        ef.l4proto = Match::any([proto_num(p)?]);
    }
    let net = |a: IpAddr,
               v4: &mut Match<(std::net::Ipv4Addr, u8)>,
               v6: &mut Match<(std::net::Ipv6Addr, u8)>| match a {
        IpAddr::V4(a) => *v4 = Match::any([(a, 32)]),
        IpAddr::V6(a) => *v6 = Match::any([(a, 128)]),
    };
    let mut strict = None;
    for (s, v4, v6) in [
        (&f.src, &mut ef.orig_src_v4, &mut ef.orig_src_v6),
        (&f.dst, &mut ef.orig_dst_v4, &mut ef.orig_dst_v6),
        (&f.reply_src, &mut ef.reply_src_v4, &mut ef.reply_src_v6),
        (&f.reply_dst, &mut ef.reply_dst_v4, &mut ef.reply_dst_v6),
    ] {
        if let Some(s) = s {
            let a = addr(s, "filter")?;
            strict = Some(if a.is_ipv4() { AF_INET } else { AF_INET6 });
            net(a, v4, v6);
        }
    }
    // An address filter on the command line means "this address", so events of the other
    // family must not pass (the library's default would let them through).
    if let Some(fam) = strict {
        ef.family = Match::any([fam]);
    }
    if let Some(fam) = f.family.as_deref() {
        ef.family = Match::any([if fam.contains('6') { AF_INET6 } else { AF_INET }]);
    }
    if let Some(p) = f.sport {
        ef.orig_src_port = Match::any([p]);
    }
    if let Some(p) = f.dport {
        ef.orig_dst_port = Match::any([p]);
    }
    if let Some(m) = &f.mark {
        ef.mark = Match::any([mark(m)?]);
    }
    if let Some(z) = f.zone {
        ef.zone = Match::any([z]);
    }
    if let Some(s) = &f.state {
        ef.tcp_state = Match::any([state_num(IPPROTO_TCP, s)?]);
    }
    Ok(ef)
}

fn events(netns: &Option<String>, a: &EventArgs) -> R<()> {
    let f = &a.filter;
    let (o, json) = options(f)?;
    let mut groups = Groups {
        new: false,
        update: false,
        destroy: false,
        exp_new: false,
        exp_destroy: false,
    };
    let expect = f.table == Table::Expect;
    for e in a
        .events
        .as_deref()
        .unwrap_or("NEW,UPDATE,DESTROY")
        .split(',')
    {
        match (e.trim().to_ascii_uppercase().as_str(), expect) {
            ("NEW", false) => groups.new = true,
            ("UPDATE", false) => groups.update = true,
            ("DESTROY", false) => groups.destroy = true,
            ("NEW", true) => groups.exp_new = true,
            ("DESTROY", true) => groups.exp_destroy = true,
            ("UPDATE", true) => {}
            (other, _) => {
                return Err(bad(format!(
                    "unknown event type `{other}`: use NEW, UPDATE or DESTROY"
                )));
            }
        }
    }
    let mut cfg = EventConfig {
        groups,
        filter: Some(event_filter(f)?),
        ..Default::default()
    };
    if let Some(b) = a.buffer {
        cfg.recv_buffer = b;
    }
    cfg.netns = netns.as_deref().map(|n| netns_path(n).into());
    let mut ev = Events::open(cfg)?;
    if let Some(w) = &ev.granted().warning {
        eprintln!("ctrack: warning: {w}");
    }
    let stop = conntrack::sock::catch_interrupts()
        .map_err(|e| bad(format!("cannot catch signals: {e}")))?;
    ev.socket()
        .set_recv_timeout(Some(Duration::from_millis(200)))
        .map_err(|e| bad(e.to_string()))?;
    let start = Instant::now();
    let (mut new, mut upd, mut del, mut lost, mut bad_n) = (0u64, 0u64, 0u64, 0u64, 0u64);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    'outer: loop {
        if stop.load(std::sync::atomic::Ordering::SeqCst)
            || a.duration
                .is_some_and(|d| start.elapsed().as_secs_f64() >= d)
        {
            break;
        }
        let batch = ev.recv()?;
        for e in batch.iter() {
            match e {
                EventView::Conn {
                    kind,
                    view: Ok(v),
                    nsid,
                    portid,
                } => {
                    match kind {
                        EventKind::New => new += 1,
                        EventKind::Update => upd += 1,
                        _ => del += 1,
                    }
                    let c = Conn::parse(&v);
                    let fam = c.family().unwrap_or(0);
                    let mut line = if json {
                        format::json(&c, fam, Some(kind))
                    } else {
                        format::event_line(kind, &c, fam, o, now_ns())
                    };
                    if portid != 0 && !json {
                        line.push_str(&format!(" [USERSPACE] portid={portid}"));
                        if let Some(name) = progname(portid) {
                            line.push_str(&format!(" progname={name}"));
                        }
                    }
                    if let Some(n) = nsid {
                        line.push_str(&format!(" nsid={n}"));
                    }
                    if o.timestamp {
                        let t = c.timestamp_event.unwrap_or_else(now_ns);
                        line = format!(
                            "[{}.{:06}] {line}",
                            t / 1_000_000_000,
                            (t % 1_000_000_000) / 1000
                        );
                    }
                    let _ = writeln!(out, "{line}");
                }
                EventView::Exp {
                    kind, view: Ok(v), ..
                } => {
                    match kind {
                        EventKind::ExpNew => new += 1,
                        _ => del += 1,
                    }
                    let x = conntrack::Exp::parse(&v);
                    let tag = if kind == EventKind::ExpNew {
                        "[NEW]"
                    } else {
                        "[DESTROY]"
                    };
                    let _ = writeln!(out, "{tag:>9} {}", format::exp_line(&x, o));
                }
                EventView::Overrun { lost: n } => {
                    lost += n;
                    let _ = writeln!(out, "[OVERRUN] {n} events lost");
                }
                _ => bad_n += 1,
            }
            if a.count.is_some_and(|c| new + upd + del >= c) {
                break 'outer;
            }
        }
        let _ = out.flush();
    }
    let _ = out.flush();
    lost += ev.pending_loss()?;
    if a.summary {
        eprintln!(
            "ctrack: {} events: {new} new, {upd} update, {del} destroy; {lost} lost; {bad_n} malformed; {:.1}s",
            new + upd + del,
            start.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// The name of the process owning the ctnetlink socket with port id `portid`, found the way
/// conntrack-tools finds it: the socket's inode from /proc/net/netlink, then the process with
/// a descriptor on that inode.
fn progname(portid: u32) -> Option<String> {
    let table = std::fs::read_to_string("/proc/net/netlink").ok()?;
    let inode = table.lines().skip(1).find_map(|l| {
        let t: Vec<&str> = l.split_whitespace().collect();
        (t.get(1) == Some(&"12") && t.get(2).and_then(|p| p.parse::<u32>().ok()) == Some(portid))
            .then(|| t.get(9).map(|s| s.to_string()))?
    })?;
    let target = format!("socket:[{inode}]");
    for proc_entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let pid = proc_entry.file_name();
        if !pid.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(proc_entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if std::fs::read_link(fd.path()).is_ok_and(|l| l.to_string_lossy() == target) {
                return std::fs::read_to_string(proc_entry.path().join("comm"))
                    .ok()
                    .map(|s| s.trim().to_string());
            }
        }
    }
    None
}

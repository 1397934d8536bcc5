//! `ctrack`: conntrack-tools' `conntrack`, rebuilt on the conntrack crate.

mod args;
mod census;
mod demo;
mod events;
mod expect;
mod exporter;
mod format;
mod labelmap;
mod live;
mod nat;
mod net;
mod options;
mod parse;
mod save;
mod selection;
mod top;
mod userns;
mod xml;

use args::{Cli, Cmd, Filter, Table};
use clap::Parser;
use conntrack::wire::consts::*;
use conntrack::wire::ct::{DccpState, Labels, Status, TcpState};
use conntrack::{BatchOp, Config, Conn, DumpKind, Error, Key, Nfct, Outcome};
use format::Options;
use options::Command;
use parse::{family, mark, options, state_num, status};
use selection::{Role, Selection, orig_tuple, reply_tuple};
use std::io::Write;
use std::process::ExitCode;
use std::time::SystemTime;

/// A user-facing failure: one line, and the exit code.
#[derive(Debug)]
pub struct Fail(String);

impl From<Error> for Fail {
    fn from(e: Error) -> Self {
        let hint = match &e {
            Error::PermissionDenied { .. } => ": run as root or grant CAP_NET_ADMIN",
            Error::Unsupported { .. } => ": nothing was changed",
            _ => "",
        };
        Fail(format!("{e}{hint}"))
    }
}

/// A failure with this message.
pub fn bad(s: impl Into<String>) -> Fail {
    Fail(s.into())
}

/// The result of a command step.
pub type R<T> = Result<T, Fail>;

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

/// The path of `--netns`: a name under /var/run/netns, or a path.
pub fn netns_path(n: &str) -> String {
    if n.contains('/') {
        n.to_string()
    } else {
        format!("/var/run/netns/{n}")
    }
}

pub(crate) fn open(netns: &Option<String>) -> R<Nfct> {
    let mut cfg = Config::default();
    if let Some(n) = netns {
        cfg = cfg.netns(netns_path(n));
    }
    Ok(Nfct::open_with(cfg)?)
}

/// `--version` and `features`: the version, then what the probe found.
fn features(netns: &Option<String>, version: bool) -> R<()> {
    if version {
        println!("ctrack {}", env!("CARGO_PKG_VERSION"));
    }
    print!("{}", open(netns)?.features());
    Ok(())
}

fn run(cli: Cli) -> R<()> {
    let Some(cmd) = &cli.cmd else {
        if cli.version {
            return features(&cli.netns, true);
        }
        return Err(bad("a command is needed (see ctrack --help)"));
    };
    if cli.version {
        return features(&cli.netns, true);
    }
    // Every command's options are checked against the commands x options table before
    // anything is opened or sent.
    let (cmd, f) = match cmd {
        Cmd::List(f) => (Command::List, f),
        Cmd::Get(f) => (Command::Get, f),
        Cmd::Create(f) => (Command::Create, f),
        // Create or update: the options of a create (an update takes what applies to it).
        Cmd::Add(f) => (Command::Create, f),
        Cmd::Update(f) => (Command::Update, f),
        Cmd::Delete(f) => (Command::Delete, f),
        Cmd::Flush(f) => (Command::Flush, f),
        Cmd::Events(e) => (Command::Events, &e.filter),
        Cmd::Stats(f) => (Command::Stats, f),
        Cmd::Count(f) => (Command::Count, f),
        Cmd::Load(l) => return save::load(&cli.netns, &l.file),
        Cmd::Demo(d) => return demo::run(d),
        Cmd::Features => return features(&cli.netns, false),
        Cmd::Exporter(a) => return exporter::run(&cli.netns, a),
        Cmd::Top(a) => return top::run(&cli.netns, a),
    };
    options::check(cmd, f.table, f).map_err(Fail)?;
    let Some(cmd) = cli.cmd else { return Ok(()) };
    match cmd {
        Cmd::List(f) => list(&cli.netns, &f),
        Cmd::Get(f) => get(&cli.netns, &f),
        Cmd::Create(f) => create(&cli.netns, &f),
        Cmd::Add(f) => add(&cli.netns, &f),
        Cmd::Update(f) => update(&cli.netns, &f),
        Cmd::Delete(f) => delete(&cli.netns, &f),
        Cmd::Flush(f) => flush(&cli.netns, &f),
        Cmd::Events(e) => events::run(&cli.netns, &e),
        Cmd::Stats(f) => stats(&cli.netns, &f),
        Cmd::Count(f) => count(&cli.netns, &f),
        Cmd::Load(_) | Cmd::Demo(_) | Cmd::Features | Cmd::Exporter(_) | Cmd::Top(_) => Ok(()),
    }
}

/// Nanoseconds since the epoch.
pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

fn print_conn(out: &mut impl Write, c: &Conn, o: Options, json: bool) {
    let fam = c.family().unwrap_or(0);
    if json {
        let _ = format::write_json(out, c, fam, None);
        let _ = writeln!(out);
    } else if o.save {
        let mut line = String::new();
        save::write_line(&mut line, c);
        let _ = writeln!(out, "{line}");
    } else if o.xml {
        let mut line = String::new();
        xml::write_flow(&mut line, c, None, o, now_ns());
        let _ = writeln!(out, "{line}");
    } else {
        let _ = writeln!(out, "{}", format::line(c, fam, o, now_ns()));
    }
}

fn print_exp(out: &mut impl Write, x: &conntrack::Exp, o: Options, json: bool) {
    if json {
        let _ = format::write_exp_json(out, x, None);
        let _ = writeln!(out);
    } else if o.xml {
        let mut line = String::new();
        xml::write_exp(&mut line, x, None, o, now_ns());
        let _ = writeln!(out, "{line}");
    } else {
        let _ = writeln!(out, "{}", format::exp_line(x, o));
    }
}

// ------------------------------------------------------------------ commands

fn list(netns: &Option<String>, f: &Filter) -> R<()> {
    let nfct = open(netns)?;
    let (o, json) = options(f)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if f.table == Table::Expect {
        let v = nfct.exp_dump(family(f)?)?;
        let xml = o.xml && !json;
        if xml && !v.is_empty() {
            let _ = out.write_all(xml::EXP_HEADER.as_bytes());
        }
        for x in &v {
            print_exp(&mut out, x, o, json);
        }
        if xml && !v.is_empty() {
            let _ = out.write_all(xml::EXP_FOOTER.as_bytes());
        }
        let _ = out.flush();
        eprintln!("ctrack: {} expectations have been shown.", v.len());
        return Ok(());
    }
    let sel = Selection::of(f, Role::Select)?;
    if let Some(opt) = options::zero_selector(f).filter(|_| f.zero) {
        return Err(bad(format!(
            "option {} cannot be used with -z/--zero: the kernel zeroes the counters of every entry it dumps, and a selection it might not apply exactly would zero entries outside it; only -f selects with -z",
            opt.flag()
        )));
    }
    let mut n = 0;
    let now = now_ns();
    let mut line = String::with_capacity(512);
    let mut print = |c: &conntrack::wire::ConnView<'_>| {
        if !sel.matches(c) {
            return;
        }
        let owned = Conn::parse(c);
        let fam = owned.family().unwrap_or(0);
        if json {
            let _ = format::write_json(&mut out, &owned, fam, None);
            let _ = out.write_all(b"\n");
        } else {
            line.clear();
            if o.save {
                save::write_line(&mut line, &owned);
            } else if o.xml {
                if n == 0 {
                    line.push_str(xml::HEADER);
                }
                xml::write_flow(&mut line, &owned, None, o, now);
            } else {
                format::write_line(&mut line, &owned, fam, o, now);
            }
            line.push('\n');
            let _ = out.write_all(line.as_bytes());
        }
        n += 1;
    };
    let kind = match (f.table, f.zero) {
        (Table::Dying, _) => Some(DumpKind::Dying),
        (Table::Unconfirmed, _) => Some(DumpKind::Unconfirmed),
        (_, true) => Some(DumpKind::ZeroCounters),
        _ => None,
    };
    match kind {
        Some(kind) => nfct.dump_kind_with(kind, sel.family, &mut print)?,
        None => nfct.dump_with(sel.family, &sel.filter, &mut print)?,
    }
    if o.xml && !o.save && !json && n > 0 {
        let _ = out.write_all(xml::FOOTER.as_bytes());
    }
    let _ = out.flush();
    eprintln!("ctrack: {n} flow entries have been shown.");
    Ok(())
}

fn get(netns: &Option<String>, f: &Filter) -> R<()> {
    let nfct = open(netns)?;
    let (o, json) = options(f)?;
    let t = orig_tuple(f)?.ok_or_else(|| bad("get needs the original tuple"))?;
    if f.table == Table::Expect {
        let x = nfct.exp_get(&t, f.zone)?;
        if o.xml && !json {
            // conntrack-tools prints the header (and no footer) for a get.
            print!("{}", xml::EXP_HEADER);
        }
        print_exp(&mut std::io::stdout(), &x, o, json);
        return Ok(());
    }
    let c = nfct.get(&Key {
        tuple: t,
        zone: f.zone,
        id: f.id,
        ..Default::default()
    })?;
    if o.xml && !o.save && !json {
        // conntrack-tools prints the header (and no footer) for a get.
        print!("{}", xml::HEADER);
    }
    print_conn(&mut std::io::stdout(), &c, o, json);
    eprintln!("ctrack: 1 flow entries have been shown.");
    Ok(())
}

fn build_conn(f: &Filter) -> R<Conn> {
    let orig =
        orig_tuple(f)?.ok_or_else(|| bad("create needs -p, -s, -d and ports or ICMP fields"))?;
    let (Some(_), Some(_), Some(proto)) = (orig.src, orig.dst, orig.proto.num) else {
        return Err(bad("create needs -p, -s and -d"));
    };
    let mut orig = orig;
    orig.zone = f.orig_zone;
    let mut reply = orig.inverted();
    reply.zone = f.reply_zone;
    if let Some(r) = reply_tuple(f)? {
        reply.src = r.src.or(reply.src);
        reply.dst = r.dst.or(reply.dst);
        reply.proto.src_port = r.proto.src_port.or(reply.proto.src_port);
        reply.proto.dst_port = r.proto.dst_port.or(reply.proto.dst_port);
    }
    let mut c = Conn::for_tuple(orig)
        .with_tuple_reply(reply)
        .with_status(Status::CONFIRMED);
    if let Some(v) = &f.src_nat {
        let arg = v.as_deref().map(nat::NatArg::parse).transpose()?;
        c.ext_mut().nat_src = Some(arg.unwrap_or_default().range("--src-nat")?);
    }
    if let Some(v) = &f.dst_nat {
        let arg = v.as_deref().map(nat::NatArg::parse).transpose()?;
        c.ext_mut().nat_dst = Some(arg.unwrap_or_default().range("--dst-nat")?);
    }
    apply_fields(&mut c, f, proto)?;
    Ok(c)
}

/// Sets the values a create or an update sets: timeout, mark, status, protocol state,
/// labels (create), helper and SCTP verification tags (create).
fn apply_fields(c: &mut Conn, f: &Filter, proto: u8) -> R<()> {
    c.timeout = f.timeout.or(c.timeout);
    if let Some(m) = &f.mark {
        let (v, mask) = mark(m)?;
        c.mark = Some(v);
        if mask != u32::MAX {
            c.ext_mut().mark_mask = Some(mask);
        }
    }
    if let Some(s) = &f.status {
        c.status = Some(c.status.unwrap_or_default() | status(s)?);
    }
    if f.role.is_some() && (proto != IPPROTO_DCCP || f.state.is_none()) {
        return Err(bad(
            "--role is the role of a dccp entry, set with its --state",
        ));
    }
    if let Some(s) = &f.state {
        let n = state_num(proto, s)?;
        let x = std::mem::take(c);
        *c = match (proto, &f.role) {
            (IPPROTO_TCP, _) => x.with_tcp_state(TcpState::from(n)),
            (IPPROTO_SCTP, _) => x.with_sctp(
                conntrack::wire::ct::SctpState::from(n),
                save::vtag_from_cli(f.orig_vtag.unwrap_or(0)),
                save::vtag_from_cli(f.reply_vtag.unwrap_or(0)),
            ),
            (IPPROTO_DCCP, Some(r)) => x.with_dccp(DccpState::from(n), parse::dccp_role(r)?),
            (IPPROTO_DCCP, None) => {
                return Err(bad(
                    "--state of a dccp entry needs --role client or server (the kernel sets the two together)",
                ));
            }
            _ => {
                return Err(bad(
                    "--state can be set for tcp, sctp and dccp entries only",
                ));
            }
        };
    }
    Ok(())
}

fn create(netns: &Option<String>, f: &Filter) -> R<()> {
    if f.table == Table::Expect {
        return expect::create(netns, f);
    }
    create_or_update(netns, f, false)
}

/// Creates the entry of `f`; where it exists already, updates it if `or_update` (`-A`).
fn create_or_update(netns: &Option<String>, f: &Filter, or_update: bool) -> R<()> {
    let (o, json) = options(f)?;
    let c = build_entry(f)?;
    let nfct = open(netns)?;
    match nfct.create(&c) {
        Err(Error::Exists { .. }) if or_update => return update_of(netns, f),
        r => r?,
    }
    // Created: what follows only shows it, and cannot undo the create.
    let key = Key {
        tuple: c.tuple_orig.unwrap_or_default(),
        zone: c.zone,
        ..Default::default()
    };
    match nfct.get(&key) {
        Ok(got) => print_conn(&mut std::io::stdout(), &got, o, json),
        Err(e) => eprintln!("ctrack: warning: created, but reading it back failed: {e}"),
    }
    eprintln!("ctrack: 1 flow entries have been created.");
    Ok(())
}

/// The entry a create (`-I`, `-A`, a loaded line) makes of `f`.
fn build_entry(f: &Filter) -> R<Conn> {
    let mut c = build_conn(f)?;
    if let Some(l) = &f.label {
        let bits = Labels::from_labels(&labelmap::bits(l)?);
        c.ext_mut().labels_mask = Some(bits);
        c.set_labels(Some(bits));
    }
    if let Some(h) = &f.helper {
        c = c.with_helper(h);
    }
    c.zone = f.zone;
    c.status = c.status.map(|s| s | Status::CONFIRMED);
    Ok(c)
}

/// The update `-A` makes of an entry that exists: it selects the entry by its tuple and zone
/// and sets what an update sets (labels are added); the create-only options are not for it.
fn update_of(netns: &Option<String>, f: &Filter) -> R<()> {
    let mut u = f.clone();
    (u.helper, u.orig_vtag, u.reply_vtag) = (None, None, None);
    (u.src_nat, u.dst_nat) = (None, None);
    (u.label_add, u.label) = (u.label.take(), None);
    update(netns, &u)
}

/// `-A`: creates the entry, or, where it exists, updates it with the values an update sets
/// (mark, status bits, added to the entry's own, protocol state, timeout, labels).
fn add(netns: &Option<String>, f: &Filter) -> R<()> {
    create_or_update(netns, f, true)
}

/// The entries a selection names, as owned values (they are printed after the change).
pub(crate) fn select(nfct: &Nfct, sel: &Selection) -> R<Vec<Conn>> {
    let mut v = Vec::new();
    nfct.dump_with(sel.family, &sel.filter, |c| {
        if sel.matches(c) {
            v.push(Conn::parse(c));
        }
    })?;
    Ok(v)
}

/// Prints the counts of a batch's outcomes and fails when any operation failed or was left
/// unanswered; an entry that vanished before its turn (ENOENT) is counted, not a failure.
pub(crate) fn report(
    noun: &str,
    what: &str,
    outcomes: &[Outcome],
    stopped: Option<Error>,
) -> R<()> {
    let (mut done, mut gone, mut failed, mut unsent, mut unknown) = (0, 0, 0, 0, 0);
    for o in outcomes {
        match o {
            Outcome::Applied => done += 1,
            Outcome::Failed(Error::NotFound { .. }) => gone += 1,
            Outcome::Failed(e) => {
                failed += 1;
                eprintln!("ctrack: {e}");
            }
            Outcome::NotSent => unsent += 1,
            _ => unknown += 1,
        }
    }
    eprintln!("ctrack: {done} {noun} have been {what}.");
    if gone > 0 {
        eprintln!("ctrack: {gone} selected {noun} were gone before their turn.");
    }
    if let Some(e) = stopped {
        eprintln!("ctrack: stopped early: {e}");
    }
    if failed + unsent + unknown > 0 {
        return Err(bad(format!(
            "{failed} failed, {unsent} not sent, {unknown} sent without an answer (may or may not be {what})"
        )));
    }
    Ok(())
}

fn update(netns: &Option<String>, f: &Filter) -> R<()> {
    let (o, json) = options(f)?;
    let relabel = f.label_add.is_some() || f.label_del.is_some();
    if f.mark.is_none()
        && f.status.is_none()
        && f.state.is_none()
        && f.timeout.is_none()
        && !relabel
    {
        return Err(bad(
            "update needs a value to set: -m, -u, --state, -t, --label-add or --label-del",
        ));
    }
    let labels = relabeling(f)?;
    if f.state.is_some() {
        selection::state(f)?;
    }
    let sel = Selection::of(f, Role::Target)?;
    let nfct = open(netns)?;
    let targets = select(&nfct, &sel)?;
    let mut ops = Vec::with_capacity(targets.len());
    for t in &targets {
        let mut u = Conn::default();
        u.tuple_orig = t.tuple_orig;
        u.zone = t.zone;
        // Status bits can only be set: the kernel refuses an update that would clear one
        // (EBUSY), so the new bits are added to the entry's own.
        u.status = t.status.filter(|_| f.status.is_some());
        apply_fields(
            &mut u,
            f,
            t.tuple_orig.and_then(|x| x.proto.num).unwrap_or(0),
        )?;
        if let Some((bits, mask)) = labels {
            u.set_labels(Some(bits));
            u.ext_mut().labels_mask = Some(mask);
        }
        ops.push(BatchOp::Update(u));
    }
    let r = nfct.batch(&ops);
    for (t, out) in targets.iter().zip(&r.outcomes) {
        if out.is_applied() {
            let k = Key {
                tuple: t.tuple_orig.unwrap_or_default(),
                zone: t.zone,
                ..Default::default()
            };
            if let Ok(c) = nfct.get(&k) {
                print_conn(&mut std::io::stdout(), &c, o, json);
            }
        }
    }
    report("flow entries", "updated", &r.outcomes, r.stopped)
}

/// The labels and mask of `--label-add` (set these bits) or `--label-del` (clear these, or
/// every bit without a list): the kernel changes only the bits under the mask.
fn relabeling(f: &Filter) -> R<Option<(Labels, Labels)>> {
    Ok(match (&f.label_add, &f.label_del) {
        (Some(_), Some(_)) => {
            return Err(bad("give --label-add or --label-del, not both"));
        }
        (Some(add), None) => {
            let bits = Labels::from_labels(&labelmap::bits(add)?);
            Some((bits, bits))
        }
        (None, Some(del)) => {
            let mask = match del {
                Some(d) => Labels::from_labels(&labelmap::bits(d)?),
                None => Labels::from_labels(&(0..128).collect::<Vec<_>>()),
            };
            Some((Labels::from_labels(&[]), mask))
        }
        (None, None) => None,
    })
}

fn delete(netns: &Option<String>, f: &Filter) -> R<()> {
    let (o, json) = options(f)?;
    if f.table == Table::Expect {
        return expect::delete(netns, f);
    }
    let sel = Selection::of(f, Role::Select)?;
    let nfct = open(netns)?;
    let targets = select(&nfct, &sel)?;
    let ops: Vec<BatchOp> = targets
        .iter()
        // A dumped entry always has its original tuple; without one the kernel refuses the
        // delete (EINVAL), which is reported like any failure.
        .map(|c| BatchOp::Delete(c.key().unwrap_or_default()))
        .collect();
    let r = nfct.batch(&ops);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for (c, outcome) in targets.iter().zip(&r.outcomes) {
        if outcome.is_applied() {
            print_conn(&mut out, c, o, json);
        }
    }
    let _ = out.flush();
    report("flow entries", "deleted", &r.outcomes, r.stopped)
}

fn flush(netns: &Option<String>, f: &Filter) -> R<()> {
    let fam = family(f)?;
    if f.table == Table::Expect {
        let done = open(netns)?.exp_flush(fam)?;
        if fam == conntrack::Family::Any {
            eprintln!("ctrack: expectation table has been emptied.");
            return Ok(());
        }
        let (outcomes, _): (Vec<Outcome>, Vec<_>) = done.into_iter().map(|(x, o)| (o, x)).unzip();
        return report("expectations", "deleted", &outcomes, None);
    }
    let ff = conntrack::FlushFilter {
        mark: f
            .mark
            .as_deref()
            .map(mark)
            .transpose()?
            .map(|(v, m)| (v & m, m)),
        status: f.status.as_deref().map(status).transpose()?.map(|s| (s, s)),
        zone: None,
    };
    let nfct = open(netns)?;
    // One kernel request where the kernel honours every part of the filter; otherwise (and
    // for `-w`, whose conntrack-tools meaning is not the kernel's) the entries `-L` selects
    // with the same options, deleted one by one with their tuple and id.
    let whole = fam == conntrack::Family::Any && ff.is_empty();
    if f.zone.is_none() && (whole || nfct.features().flush_honours(fam, &ff).is_ok()) {
        if ff.is_empty() {
            nfct.flush(fam)?;
            eprintln!("ctrack: connection tracking table has been emptied.");
        } else {
            nfct.flush_filtered(fam, &ff)?;
            eprintln!("ctrack: the selected entries have been flushed.");
        }
        return Ok(());
    }
    let sel = Selection::of(f, Role::Select)?;
    let ops: Vec<BatchOp> = select(&nfct, &sel)?
        .iter()
        // A dumped entry always has its original tuple; without one the kernel refuses the
        // delete (EINVAL), which is reported like any failure.
        .map(|c| BatchOp::Delete(c.key().unwrap_or_default()))
        .collect();
    let r = nfct.batch(&ops);
    report("flow entries", "flushed", &r.outcomes, r.stopped)
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

//! `ctrack events` (`-E`): the event stream, filtered by the same selection as `list`.

use crate::args::{EventArgs, Table};
use crate::parse::options;
use crate::selection::{Role, Selection};
use crate::{R, bad, netns_path, now_ns};
use conntrack::Conn;
use conntrack::events::{EventConfig, EventKind, EventView, Events, Groups};
use conntrack::format::{self, Options};
use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, Instant};

/// The groups of `-e` for the table.
fn groups(mask: Option<&str>, table: Table) -> R<Groups> {
    let mut g = Groups {
        new: false,
        update: false,
        destroy: false,
        exp_new: false,
        exp_destroy: false,
    };
    let expect = table == Table::Expect;
    for e in mask.unwrap_or("NEW,UPDATE,DESTROY").split(',') {
        match (e.trim().to_ascii_uppercase().as_str(), expect) {
            ("NEW", false) => g.new = true,
            ("UPDATE", false) => g.update = true,
            ("DESTROY", false) => g.destroy = true,
            ("NEW", true) => g.exp_new = true,
            ("DESTROY", true) => g.exp_destroy = true,
            // The kernel sends no update events of expectations: asked for alone, nothing
            // would ever come. Part of the default mask, it is simply none.
            ("UPDATE", true) if mask.is_none() => {}
            ("UPDATE", true) => {
                return Err(bad(
                    "expectations have no UPDATE events: use NEW or DESTROY",
                ));
            }
            (other, _) => {
                return Err(bad(format!(
                    "unknown event type `{other}`: use NEW, UPDATE or DESTROY"
                )));
            }
        }
    }
    Ok(g)
}

/// Counts of what was received.
#[derive(Default)]
struct Totals {
    new: u64,
    update: u64,
    destroy: u64,
    lost: u64,
    malformed: u64,
}

impl Totals {
    fn events(&self) -> u64 {
        self.new + self.update + self.destroy
    }
}

/// Runs `events` until interrupted, `--count` or `--duration`.
pub fn run(netns: &Option<String>, a: &EventArgs) -> R<()> {
    let f = &a.filter;
    let (o, json) = options(f)?;
    let sel = Selection::of(f, Role::Select)?;
    let mut cfg = EventConfig {
        groups: groups(a.events.as_deref(), f.table)?,
        filter: (f.table == Table::Conntrack).then(|| sel.event_filter()),
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
    let mut t = Totals::default();
    let mut names = ProgNames::default();
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
            print_event(&mut out, e, &sel, o, json, &mut t, &mut names);
            if a.count.is_some_and(|c| t.events() >= c) {
                break 'outer;
            }
        }
        let _ = out.flush();
    }
    let _ = out.flush();
    t.lost += ev.pending_loss()?;
    if a.summary {
        eprintln!(
            "ctrack: {} events: {} new, {} update, {} destroy; {} lost; {} malformed; {:.1}s",
            t.events(),
            t.new,
            t.update,
            t.destroy,
            t.lost,
            t.malformed,
            start.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// Prints one event that the selection selects, and counts it.
fn print_event(
    out: &mut impl Write,
    e: EventView<'_>,
    sel: &Selection,
    o: Options,
    json: bool,
    t: &mut Totals,
    names: &mut ProgNames,
) {
    match e {
        EventView::Conn {
            kind,
            view: Ok(v),
            nsid,
            portid,
        } => {
            if !sel.matches(&v) {
                return;
            }
            match kind {
                EventKind::New => t.new += 1,
                EventKind::Update => t.update += 1,
                _ => t.destroy += 1,
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
                if let Some(name) = names.get(portid) {
                    line.push_str(&format!(" progname={name}"));
                }
            }
            if let Some(n) = nsid {
                line.push_str(&format!(" nsid={n}"));
            }
            if o.timestamp {
                let ts = c.timestamp_event.unwrap_or_else(now_ns);
                line = format!(
                    "[{}.{:06}] {line}",
                    ts / 1_000_000_000,
                    (ts % 1_000_000_000) / 1000
                );
            }
            let _ = writeln!(out, "{line}");
        }
        EventView::Exp {
            kind, view: Ok(v), ..
        } => {
            let tag = if kind == EventKind::ExpNew {
                t.new += 1;
                "[NEW]"
            } else {
                t.destroy += 1;
                "[DESTROY]"
            };
            let x = conntrack::Exp::parse(&v);
            let _ = writeln!(out, "{tag:>9} {}", format::exp_line(&x, o));
        }
        EventView::Overrun { lost: n } => {
            t.lost += n;
            let _ = writeln!(out, "[OVERRUN] {n} events lost");
        }
        _ => t.malformed += 1,
    }
}

/// The names of the processes owning ctnetlink sockets, by port id, looked up once each.
#[derive(Default)]
struct ProgNames(HashMap<u32, Option<String>>);

impl ProgNames {
    fn get(&mut self, portid: u32) -> Option<&str> {
        self.0
            .entry(portid)
            .or_insert_with(|| progname(portid))
            .as_deref()
    }
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

//! `ctrack events` (`-E`): the event stream, filtered by the same selection as `list`.

use crate::args::{EventArgs, Table};
use crate::format::{self, Options};
use crate::parse::options;
use crate::selection::{Role, Selection};
use crate::{R, bad, netns_path, now_ns};
use conntrack::Conn;
use conntrack::events::{EventConfig, EventKind, EventView, Events, Groups};
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt::Write as _;
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
    for e in mask.unwrap_or("ALL").split(',') {
        let e = e.trim().to_ascii_uppercase();
        // As conntrack-tools compares them: the given word against the start of each name.
        let is = |name: &str| !e.is_empty() && name.starts_with(e.as_str());
        if is("ALL") {
            (g.new, g.update, g.destroy) = (!expect, !expect, !expect);
            (g.exp_new, g.exp_destroy) = (expect, expect);
        } else if is("NEW") {
            (g.new, g.exp_new) = (!expect, expect);
        } else if is("UPDATES") {
            if expect {
                // The kernel sends no update events of expectations: asked for alone, nothing
                // would ever come.
                return Err(bad(
                    "expectations have no UPDATES events: use NEW, DESTROY or ALL",
                ));
            }
            g.update = true;
        } else if is("DESTROY") {
            (g.destroy, g.exp_destroy) = (!expect, expect);
        } else {
            return Err(bad(format!(
                "unknown event type `{e}`: use ALL, NEW, UPDATES or DESTROY"
            )));
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
    let mut cfg = EventConfig::default().groups(groups(a.events.as_deref(), f.table)?);
    if f.table == Table::Conntrack {
        cfg = cfg.filter(sel.event_filter());
    }
    if let Some(b) = a.buffer {
        cfg = cfg.recv_buffer(b);
    }
    if let Some(n) = netns {
        cfg = cfg.netns(netns_path(n));
    }
    let mut ev = Events::open_with(cfg)?;
    if let Some(w) = &ev.granted().warning {
        eprintln!("ctrack: warning: {w}");
    }
    // SIGINT and SIGTERM end the loop (the summary is still printed); the socket's receive
    // timeout wakes the loop to notice.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, std::sync::Arc::clone(&stop))
            .map_err(|e| bad(format!("cannot catch signals: {e}")))?;
    }
    ev.socket()
        .set_recv_timeout(Some(Duration::from_millis(200)))
        .map_err(|e| bad(e.to_string()))?;
    let start = Instant::now();
    let mut p = Printer {
        sel,
        o,
        json,
        line: String::with_capacity(512),
        t: Totals::default(),
        names: ProgNames::default(),
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, stdout.lock());
    'outer: loop {
        if stop.load(std::sync::atomic::Ordering::SeqCst)
            || a.duration
                .is_some_and(|d| start.elapsed().as_secs_f64() >= d)
        {
            break;
        }
        let batch = ev.recv()?;
        for e in batch.iter() {
            p.event(&mut out, e);
            if a.count.is_some_and(|c| p.t.events() >= c) {
                break 'outer;
            }
        }
        let _ = out.flush();
    }
    if p.o.xml && !p.json && p.t.events() > 0 {
        let footer = if f.table == Table::Expect {
            crate::xml::EXP_FOOTER
        } else {
            crate::xml::FOOTER
        };
        let _ = out.write_all(footer.as_bytes());
    }
    let _ = out.flush();
    let t = &mut p.t;
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

/// What printing an event needs besides the event: the selection, the output options, a
/// line buffer reused for every event, the totals and the program names.
struct Printer {
    sel: Selection,
    o: Options,
    json: bool,
    line: String,
    t: Totals,
    names: ProgNames,
}

impl Printer {
    /// Prints one event that the selection selects, and counts it.
    fn event(&mut self, out: &mut impl Write, e: EventView<'_>) {
        self.line.clear();
        match e {
            EventView::Conn {
                kind,
                view: v,
                nsid,
                port_id: portid,
            } => {
                if !self.conn_event(out, kind, &v, nsid, portid) {
                    return;
                }
            }
            EventView::Exp { kind, view: v, .. } => {
                if kind == EventKind::ExpNew {
                    self.t.new += 1;
                } else {
                    self.t.destroy += 1;
                }
                let x = conntrack::Exp::parse(&v);
                if self.json {
                    let _ = format::write_exp_json(out, &x, Some(kind));
                    let _ = out.write_all(b"\n");
                    return;
                }
                if self.o.xml {
                    if self.t.events() == 1 {
                        self.line.push_str(crate::xml::EXP_HEADER);
                    }
                    crate::xml::write_exp(&mut self.line, &x, Some(kind), self.o, now_ns());
                    self.line.push('\n');
                    let _ = out.write_all(self.line.as_bytes());
                    return;
                }
                let tag = if kind == EventKind::ExpNew {
                    "[NEW]"
                } else {
                    "[DESTROY]"
                };
                let _ = write!(self.line, "{tag:>9} ");
                format::write_exp_line(&mut self.line, &x, self.o);
            }
            EventView::Overrun { lost: n } => {
                self.t.lost += n;
                if self.json {
                    let _ = writeln!(out, "{{\"event\":\"OVERRUN\",\"lost\":{n}}}");
                    return;
                }
                let _ = write!(self.line, "[OVERRUN] {n} events lost");
            }
            _ => {
                self.t.malformed += 1;
                return;
            }
        }
        self.line.push('\n');
        let _ = out.write_all(self.line.as_bytes());
    }

    /// Counts a selected conntrack event and writes it: JSON straight to `out` (then
    /// `false`), text into the line buffer (then `true`). `false` too when not selected.
    fn conn_event(
        &mut self,
        out: &mut impl Write,
        kind: EventKind,
        v: &conntrack::wire::ConnView<'_>,
        nsid: Option<i32>,
        portid: u32,
    ) -> bool {
        if !self.sel.matches(v) {
            return false;
        }
        match kind {
            EventKind::New => self.t.new += 1,
            EventKind::Update => self.t.update += 1,
            _ => self.t.destroy += 1,
        }
        let c = Conn::parse(v);
        let fam = c.family().unwrap_or(0);
        if self.json {
            let _ = format::write_json(out, &c, fam, Some(kind));
            let _ = out.write_all(b"\n");
            return false;
        }
        if self.o.xml {
            // As conntrack-tools: the header before the first event.
            if self.t.events() == 1 {
                self.line.push_str(crate::xml::HEADER);
            }
            crate::xml::write_flow(&mut self.line, &c, Some(kind), self.o, now_ns());
        } else {
            self.text_event(kind, &c, fam);
        }
        if portid != 0 {
            let _ = write!(self.line, " [USERSPACE] portid={portid}");
            if let Some(name) = self.names.get(portid) {
                let _ = write!(self.line, " progname={name}");
            }
        }
        if let Some(n) = nsid {
            let _ = write!(self.line, " nsid={n}");
        }
        true
    }

    /// Writes a conntrack event as conntrack-tools' text line (without the requester).
    fn text_event(&mut self, kind: EventKind, c: &Conn, fam: u8) {
        if self.o.timestamp {
            // conntrack -E -o timestamp: the time of printing, then a tab.
            let now = now_ns();
            let _ = write!(
                self.line,
                "[{:08}.{:06}]\t",
                now / 1_000_000_000,
                (now % 1_000_000_000) / 1000
            );
        }
        format::write_event_line(&mut self.line, kind, c, fam, self.o, now_ns());
    }
}

/// The names of the processes owning ctnetlink sockets, by port id. A name is looked up
/// once (a scan of every process's descriptors) and kept while the port id stays with the
/// same socket: at most once a second per port id, the socket's inode is read again from
/// /proc/net/netlink (one small file), and only a new inode, a reused port id, costs a new
/// scan. A burst of events from one requester thus costs one scan, not one per event.
#[derive(Default)]
struct ProgNames(HashMap<u32, Known>);

/// What is known of one port id.
struct Known {
    inode: Option<u64>,
    name: Option<String>,
    checked: Instant,
}

impl ProgNames {
    fn get(&mut self, portid: u32) -> Option<&str> {
        let fresh = |inode: Option<u64>| Known {
            inode,
            name: inode.and_then(owner_name),
            checked: Instant::now(),
        };
        match self.0.entry(portid) {
            Entry::Vacant(e) => {
                e.insert(fresh(netlink_inode(portid)));
            }
            Entry::Occupied(mut e) if e.get().checked.elapsed() >= Duration::from_secs(1) => {
                let inode = netlink_inode(portid);
                if inode == e.get().inode {
                    e.get_mut().checked = Instant::now();
                } else {
                    e.insert(fresh(inode));
                }
            }
            Entry::Occupied(_) => {}
        }
        self.0.get(&portid)?.name.as_deref()
    }
}

/// The inode of the ctnetlink socket bound to `portid`, from /proc/net/netlink.
fn netlink_inode(portid: u32) -> Option<u64> {
    let table = std::fs::read_to_string("/proc/net/netlink").ok()?;
    table.lines().skip(1).find_map(|l| {
        let t: Vec<&str> = l.split_whitespace().collect();
        (t.get(1) == Some(&"12") && t.get(2).and_then(|p| p.parse::<u32>().ok()) == Some(portid))
            .then(|| t.get(9).and_then(|s| s.parse().ok()))?
    })
}

/// The name of the process with a descriptor on socket `inode`, found the way
/// conntrack-tools finds it.
fn owner_name(inode: u64) -> Option<String> {
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

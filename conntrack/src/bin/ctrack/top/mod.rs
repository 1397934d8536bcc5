//! `ctrack top`: the table as a live, sorted, grouped view (`--once`: one text table).
//!
//! The interactive view is kept from the event stream ([`crate::live`]): the table is dumped
//! at start and after a loss only. Events carry no counters (but on DESTROY), so byte and
//! packet counts come from counter samples: while the view is sorted by bytes, packets or
//! rate, a dump every `--counters-interval` seconds reads them (and rates are the difference
//! of two samples); sorted by age or timeout, nothing is dumped.

mod rows;
mod screen;

pub use rows::{GroupKey, SortKey};

use crate::args::{Filter, Table, TopArgs};
use crate::options::{self, Command};
use crate::selection::{Role, Selection};
use crate::{Fail, R, bad, netns_path, now_ns, open};
use conntrack::wire::request;
use conntrack::wire::{ConnView, Messages};
use conntrack::{Conn, Nfct};
use rows::{Key, Row, Sample};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Runs `top`.
pub fn run(netns: &Option<String>, a: &TopArgs) -> R<()> {
    let f = &a.filter;
    check(f)?;
    let sel = Selection::of(f, Role::Select)?;
    if a.enable_acct {
        sysctl(netns, "nf_conntrack_acct", Some("1"))?;
    }
    if !(a.interval > 0.0 && a.counters_interval >= 0.0) {
        return Err(bad(
            "--interval must be above 0 and --counters-interval at least 0",
        ));
    }
    if a.once {
        once(netns, a, &sel)
    } else {
        screen::run(netns, a, sel, options::any_given(f))
    }
}

/// The selection options of `list` select; nothing else of `list` applies.
fn check(f: &Filter) -> R<()> {
    if f.table != Table::Conntrack {
        return Err(bad("top shows the conntrack table only"));
    }
    if f.output.is_some() || f.zero {
        return Err(bad(
            "options -o and -z cannot be used with top: it prints its own table and changes nothing",
        ));
    }
    options::check(Command::List, f.table, f).map_err(Fail)
}

/// Reads (and with `value`, first writes) `net.netfilter.NAME` in the namespace `netns`
/// (this one when `None`): `/proc/sys/net` shows the namespace of the thread that opens it,
/// so another namespace is entered by a thread of its own.
pub fn sysctl(netns: &Option<String>, name: &str, value: Option<&str>) -> R<String> {
    let path = format!("/proc/sys/net/netfilter/{name}");
    let io = move || -> Result<String, String> {
        if let Some(v) = value {
            std::fs::write(&path, v).map_err(|e| format!("cannot set {path}: {e}"))?;
        }
        std::fs::read_to_string(&path)
            .map(|s| s.trim().to_string())
            .map_err(|e| format!("cannot read {path}: {e}"))
    };
    let Some(n) = netns else {
        return io().map_err(Fail);
    };
    let ns = std::fs::File::open(netns_path(n)).map_err(|e| bad(format!("{n}: {e}")))?;
    std::thread::scope(|s| {
        s.spawn(|| {
            nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET)
                .map_err(|e| format!("cannot enter {n}: {e}"))?;
            io()
        })
        .join()
        .unwrap_or_else(|_| Err("the sysctl thread panicked".into()))
    })
    .map_err(Fail)
}

/// What the header says about accounting: short on screen, whole with `--once`.
fn acct_note(netns: &Option<String>, short: bool) -> String {
    match sysctl(netns, "nf_conntrack_acct", None).as_deref() {
        Ok("0") if short => "counters: OFF, see --enable-acct".into(),
        Ok("0") => "counters: off (net.netfilter.nf_conntrack_acct=0; --enable-acct turns them on for new entries)".into(),
        Ok(_) => "counters: on".into(),
        Err(e) => format!("counters: unknown ({})", e.0),
    }
}

/// The key of an entry's samples.
fn key(c: &Conn) -> Option<Key> {
    Some((c.tuple_orig?, c.zone.unwrap_or(0)))
}

/// Rows for `entries`, with rates against `prev` (samples taken `secs` earlier), grouped
/// and sorted.
fn table<'a>(
    entries: impl Iterator<Item = (&'a Conn, Option<Sample>)>,
    prev: &HashMap<Key, Sample>,
    secs: f64,
    sort: SortKey,
    group: GroupKey,
) -> Vec<Row> {
    let now = now_ns();
    let v: Vec<Row> = entries
        .map(|(c, fresh)| {
            let earlier = key(c).and_then(|k| prev.get(&k)).map(|p| (*p, secs));
            let mut r = rows::entry_row(c, now, earlier);
            if let Some(s) = fresh {
                (r.bytes, r.packets) = (s.bytes, s.packets);
                r.timeout = s.timeout.unwrap_or(r.timeout);
            }
            r
        })
        .collect();
    let mut v = rows::group(v, group);
    rows::sort(&mut v, sort);
    v
}

/// `--once`: one dump (two, `--interval` apart, when sorted by rate), one text table.
pub fn once(netns: &Option<String>, a: &TopArgs, sel: &Selection) -> R<()> {
    let nfct = open(netns)?;
    let mut prev = HashMap::new();
    let mut secs = 0.0;
    if a.sort == SortKey::Rate {
        let t0 = Instant::now();
        prev = crate::select(&nfct, sel)?
            .iter()
            .filter_map(|c| Some((key(c)?, Sample::of(c))))
            .collect();
        std::thread::sleep(Duration::from_secs_f64(a.interval));
        secs = t0.elapsed().as_secs_f64();
    }
    let entries = crate::select(&nfct, sel)?;
    let max = nfct.stats().ok().and_then(|g| g.max_entries);
    let rows = table(
        entries.iter().map(|c| (c, None)),
        &prev,
        secs,
        a.sort,
        a.group,
    );
    let mut out = String::new();
    out.push_str(&format!(
        "ctrack top: {} entries of {}; {}; sorted by {}; grouped by {}\n",
        entries.len(),
        max.map_or_else(|| "?".into(), |m| m.to_string()),
        acct_note(netns, false),
        a.sort.name(),
        a.group.name()
    ));
    out.push_str(&rows::header(a.group));
    out.push('\n');
    let limit = if a.limit == 0 { rows.len() } else { a.limit };
    for r in rows.iter().take(limit) {
        out.push_str(&rows::line(r, a.group, true));
        out.push('\n');
    }
    use std::io::Write;
    std::io::stdout()
        .write_all(out.as_bytes())
        .map_err(|e| bad(e.to_string()))
}

/// Whether an owned entry is selected: it is encoded as the kernel would send it and
/// checked by the same code as a dump's entries.
pub fn selected(sel: &Selection, c: &Conn, buf: &mut [u8]) -> bool {
    let fam = c.family().unwrap_or(0);
    let Ok(n) = request::emit_into(buf, |e| request::ct_create(e, 0, fam, c)) else {
        return false;
    };
    let view: Option<ConnView<'_>> = Messages::new(&buf[..n])
        .next()
        .and_then(|m| m.ok())
        .and_then(|m| m.conn().ok());
    view.is_some_and(|v| sel.matches(&v))
}

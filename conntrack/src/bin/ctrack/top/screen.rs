//! The full-screen view of `top` (ratatui on crossterm): a header with the table's size,
//! event rates, losses and resyncs; the rows; a line of keys. The terminal is restored on
//! exit, on an error, on SIGINT/SIGTERM and on a panic.

use super::*;
use crate::live::{EventCounts, Shared};
use crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use crossterm::terminal::{self, EnterAlternateScreen, LeaveAlternateScreen};
use crossterm::{cursor, execute};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Modifier, Style};
use ratatui::widgets::{Paragraph, Row as Line, Table};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

/// Puts the terminal back as it was: cooked mode, main screen, cursor shown.
fn restore() {
    let _ = terminal::disable_raw_mode();
    let _ = execute!(std::io::stdout(), LeaveAlternateScreen, cursor::Show);
}

/// Restores the terminal when dropped (at the end, and on every early return).
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        restore();
    }
}

/// What the view shows besides the rows, and the state of its counter samples.
struct View {
    sort: SortKey,
    group: GroupKey,
    /// The latest counter sample, the one before it, and the seconds between them.
    samples: HashMap<Key, Sample>,
    prev: HashMap<Key, Sample>,
    secs: f64,
    sampled_at: Option<Instant>,
    /// Event counts at the previous frame, and the rates since (new, update, destroy).
    events: EventCounts,
    events_at: Instant,
    rates: [f64; 3],
}

impl View {
    /// Reads every entry's counters with one dump.
    fn sample(&mut self, nfct: &Nfct) -> R<()> {
        let mut fresh = HashMap::with_capacity(self.samples.len());
        nfct.dump_with(conntrack::Family::Any, &Default::default(), |c| {
            if let Some(t) = c.tuple_orig() {
                let k = (conntrack::Tuple::parse(&t), c.zone().unwrap_or(0));
                fresh.insert(k, Sample::of(&Conn::parse(c)));
            }
        })?;
        let now = Instant::now();
        self.secs = self
            .sampled_at
            .map_or(0.0, |t| now.duration_since(t).as_secs_f64());
        self.prev = std::mem::replace(&mut self.samples, fresh);
        self.sampled_at = Some(now);
        Ok(())
    }

    /// Whether a counter sample is due.
    fn sample_due(&self, every: f64) -> bool {
        self.sort.needs_counters()
            && self
                .sampled_at
                .is_none_or(|t| every > 0.0 && t.elapsed().as_secs_f64() >= every)
    }

    /// Event rates since the previous frame.
    fn tick(&mut self, now: EventCounts) {
        let secs = self.events_at.elapsed().as_secs_f64();
        if secs >= 0.5 {
            let d = |a: u64, b: u64| a.saturating_sub(b) as f64 / secs;
            self.rates = [
                d(now.new, self.events.new),
                d(now.update, self.events.update),
                d(now.destroy, self.events.destroy),
            ];
            self.events = now;
            self.events_at = Instant::now();
        }
    }
}

/// The header's facts, read under the lock.
struct Facts {
    kept: usize,
    lost: u64,
    resyncs: u64,
    last_resync: SystemTime,
    silent: usize,
}

/// Runs the full-screen view until `q`, Esc, Ctrl-C, SIGINT or SIGTERM.
pub fn run(netns: &Option<String>, a: &TopArgs, sel: Selection, filtered: bool) -> R<()> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .map_err(|e| bad(format!("cannot catch signals: {e}")))?;
    }
    let recheck = Duration::from_secs(a.recheck_interval);
    let mut shared = Shared::start(netns, false, None, recheck)?;
    let nfct = open(netns)?;
    let acct = acct_note(netns, true);
    let max = nfct.stats().ok().and_then(|g| g.max_entries);
    let term_err = |e: std::io::Error| bad(format!("terminal: {e}"));
    terminal::enable_raw_mode().map_err(term_err)?;
    let _restore = Restore;
    execute!(std::io::stdout(), EnterAlternateScreen, cursor::Hide).map_err(term_err)?;
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        hook(info);
    }));
    let mut term = Terminal::new(CrosstermBackend::new(std::io::stdout())).map_err(term_err)?;
    let mut v = View {
        sort: a.sort,
        group: a.group,
        samples: HashMap::new(),
        prev: HashMap::new(),
        secs: 0.0,
        sampled_at: None,
        events: shared.lock().events,
        events_at: Instant::now(),
        rates: [0.0; 3],
    };
    let mut buf = vec![0u8; 8192];
    while !stop.load(Ordering::SeqCst) {
        shared.failed()?;
        if v.sample_due(a.counters_interval) {
            v.sample(&nfct)?;
        }
        let (rows, facts) = {
            let l = shared.lock();
            v.tick(l.events);
            let entries = l
                .mirror
                .iter()
                .filter(|c| !filtered || selected(&sel, c, &mut buf))
                .map(|c| (c, key(c).and_then(|k| v.samples.get(&k)).copied()));
            let rows = table(entries, &v.prev, v.secs, v.sort, v.group);
            let facts = Facts {
                kept: l.mirror.len(),
                lost: l.mirror.lost(),
                resyncs: l.mirror.resyncs(),
                last_resync: l.last_resync,
                silent: l.silent.len(),
            };
            (rows, facts)
        };
        let head = header(&v, &facts, max, &acct, rows.len(), filtered, a);
        term.draw(|f| draw(f, &head, &rows, v.group))
            .map_err(term_err)?;
        if !event::poll(Duration::from_secs_f64(a.interval)).map_err(term_err)? {
            continue;
        }
        let Event::Key(k) = event::read().map_err(term_err)? else {
            continue;
        };
        if k.kind != KeyEventKind::Press {
            continue;
        }
        match k.code {
            KeyCode::Char('q') | KeyCode::Esc => break,
            KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => break,
            KeyCode::Char('s') => v.sort = v.sort.next(),
            KeyCode::Char('g') => v.group = v.group.next(),
            _ => {}
        }
    }
    Ok(())
}

/// The header's three lines.
fn header(
    v: &View,
    f: &Facts,
    max: Option<u32>,
    acct: &str,
    shown: usize,
    filtered: bool,
    a: &TopArgs,
) -> [String; 3] {
    let when = chrono::DateTime::<chrono::Local>::from(f.last_resync).format("%H:%M:%S");
    let unit = if v.group == GroupKey::None {
        "rows"
    } else {
        "groups"
    };
    let counters = match v.sampled_at {
        Some(t) if v.sort.needs_counters() => format!(
            "read {:.0}s ago, every {}s",
            t.elapsed().as_secs_f64(),
            a.counters_interval
        ),
        _ => "as of last dump/event".into(),
    };
    [
        format!(
            "ctrack top: {} entries of {}; {shown} {unit}{}",
            f.kept,
            max.map_or_else(|| "?".into(), |m| m.to_string()),
            if filtered { " (filtered)" } else { "" }
        ),
        format!(
            "events/s new {:.1} update {:.1} destroy {:.1}; lost {}; resyncs {} (last {when}); unheard {}",
            v.rates[0], v.rates[1], v.rates[2], f.lost, f.resyncs, f.silent
        ),
        format!(
            "sort: {}  group: {}  {acct} ({counters})",
            v.sort.name(),
            v.group.name()
        ),
    ]
}

/// Draws one frame.
fn draw(f: &mut ratatui::Frame<'_>, head: &[String; 3], rows: &[Row], group: GroupKey) {
    let [top, body, keys] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(f.area());
    f.render_widget(Paragraph::new(head.join("\n")), top);
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let visible = rows.iter().take(usize::from(body.height));
    let (titles, widths): (Vec<&str>, Vec<Constraint>) = if group == GroupKey::None {
        (
            vec![
                "PROTO",
                "SOURCE",
                "DESTINATION",
                "STATE",
                "BYTES",
                "B/S",
                "TIMEOUT",
            ],
            vec![
                Constraint::Length(7),
                Constraint::Fill(1),
                Constraint::Fill(1),
                Constraint::Length(11),
                Constraint::Length(7),
                Constraint::Length(7),
                Constraint::Length(7),
            ],
        )
    } else {
        (
            vec![
                group.name(),
                "ENTRIES",
                "BYTES",
                "B/S",
                "PACKETS",
                "TIMEOUT",
            ],
            vec![
                Constraint::Fill(1),
                Constraint::Length(8),
                Constraint::Length(7),
                Constraint::Length(7),
                Constraint::Length(8),
                Constraint::Length(7),
            ],
        )
    };
    let lines: Vec<Line<'_>> = visible
        .map(|r| {
            let n = |x: u64| rows::human(x as f64);
            if group == GroupKey::None {
                Line::new(vec![
                    r.label.clone(),
                    r.src.clone(),
                    r.dst.clone(),
                    r.state.clone(),
                    n(r.bytes),
                    rows::human(r.bps),
                    r.timeout.to_string(),
                ])
            } else {
                Line::new(vec![
                    r.label.clone(),
                    r.entries.to_string(),
                    n(r.bytes),
                    rows::human(r.bps),
                    n(r.packets),
                    r.timeout.to_string(),
                ])
            }
        })
        .collect();
    let table = Table::new(lines, widths).header(Line::new(titles).style(bold));
    f.render_widget(table, body);
    f.render_widget(
        Paragraph::new("s: sort by bytes/packets/rate/age/timeout  g: group  q: quit").style(bold),
        keys,
    );
}

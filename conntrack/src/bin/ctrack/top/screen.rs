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
    /// The selection: its options as typed, and whether it selects anything.
    sel: Selection,
    filter_text: String,
    filtered: bool,
    /// The filter being typed after `/`, and the last message (an error, a change).
    typing: Option<String>,
    message: String,
    /// What the header says about accounting.
    acct: String,
}

/// The selection options of `list`, parsed alone (the filter typed after `/`).
#[derive(clap::Parser)]
#[command(no_binary_name = true)]
struct TypedFilter {
    #[command(flatten)]
    f: Filter,
}

impl View {
    /// Applies a typed filter, or says why it cannot.
    fn set_filter(&mut self, text: &str) {
        use clap::Parser;
        let parsed = TypedFilter::try_parse_from(text.split_whitespace())
            .map_err(|e| {
                let text = e.to_string();
                let first = text.lines().next().unwrap_or_default();
                first.trim_start_matches("error: ").to_string()
            })
            .and_then(|t| {
                check(&t.f).map_err(|e| e.0)?;
                let sel = Selection::of(&t.f, Role::Select).map_err(|e| e.0)?;
                Ok((sel, options::any_given(&t.f)))
            });
        match parsed {
            Ok((sel, filtered)) => {
                (self.sel, self.filtered) = (sel, filtered);
                self.filter_text = text.trim().to_string();
                self.message.clear();
            }
            Err(e) => self.message = format!("filter `{}` not applied: {e}", text.trim()),
        }
    }
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
    let max = nfct.stats().ok().and_then(|g| g.max_entries);
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
        sel,
        // A selection given on the command line shows as "(filtered)"; `/` replaces it.
        filter_text: String::new(),
        filtered,
        typing: None,
        message: String::new(),
        acct: acct_note(netns, true),
    };
    let mut buf = vec![0u8; 8192];
    while !stop.load(Ordering::SeqCst) {
        shared.failed()?;
        if v.sample_due(a.counters_interval) {
            v.sample(&nfct)?;
        }
        let (rows, facts) = v.rows(&shared, &mut buf);
        let head = header(&v, &facts, max, rows.len(), a);
        let keys = match &v.typing {
            Some(t) => format!("filter (list's options; Enter applies, Esc cancels): {t}_"),
            None if !v.message.is_empty() => v.message.clone(),
            None => KEYS.into(),
        };
        term.draw(|f| draw(f, &head, &rows, v.group, &keys))
            .map_err(term_err)?;
        if !event::poll(Duration::from_secs_f64(a.interval)).map_err(term_err)? {
            continue;
        }
        if let Event::Key(k) = event::read().map_err(term_err)? {
            if k.kind == KeyEventKind::Press && v.key(k, netns) {
                break;
            }
        }
    }
    Ok(())
}

/// A terminal error as the command's error.
fn term_err(e: std::io::Error) -> Fail {
    bad(format!("terminal: {e}"))
}

impl View {
    /// The rows of the selected entries and the header's facts, under the lock.
    fn rows(&mut self, shared: &Shared, buf: &mut [u8]) -> (Vec<Row>, Facts) {
        let l = shared.lock();
        self.tick(l.events);
        let entries = l
            .mirror
            .iter()
            .filter(|c| !self.filtered || selected(&self.sel, c, buf))
            .map(|c| (c, key(c).and_then(|k| self.samples.get(&k)).copied()));
        let rows = table(entries, &self.prev, self.secs, self.sort, self.group);
        let facts = Facts {
            kept: l.mirror.len(),
            lost: l.mirror.lost(),
            resyncs: l.mirror.resyncs(),
            last_resync: l.last_resync,
            silent: l.silent.len(),
        };
        (rows, facts)
    }

    /// Handles a key; returns whether to quit.
    fn key(&mut self, k: event::KeyEvent, netns: &Option<String>) -> bool {
        if k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL) {
            return true;
        }
        if let Some(t) = self.typing.as_mut() {
            match k.code {
                KeyCode::Enter => {
                    let text = std::mem::take(t);
                    self.typing = None;
                    self.set_filter(&text);
                }
                KeyCode::Esc => self.typing = None,
                KeyCode::Backspace => {
                    t.pop();
                }
                KeyCode::Char(c) => t.push(c),
                _ => {}
            }
            return false;
        }
        self.message.clear();
        match k.code {
            KeyCode::Char('q') | KeyCode::Esc => return true,
            KeyCode::Char('s') => self.sort = self.sort.next(),
            KeyCode::Char('g') => self.group = self.group.next(),
            KeyCode::Char('/') => self.typing = Some(self.filter_text.clone()),
            KeyCode::Char('a') => match sysctl(netns, "nf_conntrack_acct", Some("1")) {
                Ok(_) => {
                    self.acct = acct_note(netns, true);
                    self.message = "accounting on: new entries count bytes and packets".into();
                }
                Err(e) => self.message = e.0,
            },
            _ => {}
        }
        false
    }
}

/// The line of keys.
const KEYS: &str = "s: sort  g: group  /: filter  a: accounting on  q: quit";

/// The header's three lines.
fn header(v: &View, f: &Facts, max: Option<u32>, shown: usize, a: &TopArgs) -> [String; 3] {
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
            match (v.filtered, v.filter_text.is_empty()) {
                (false, _) => String::new(),
                (true, true) => " (filtered)".into(),
                (true, false) => format!(" (filter: {})", v.filter_text),
            }
        ),
        format!(
            "new/upd/del per s {:.1}/{:.1}/{:.1}; lost {}; resyncs {} ({when}); unheard {}",
            v.rates[0], v.rates[1], v.rates[2], f.lost, f.resyncs, f.silent
        ),
        format!(
            "sort: {}  group: {}  {} ({counters})",
            v.sort.name(),
            v.group.name(),
            v.acct
        ),
    ]
}

/// Draws one frame.
fn draw(f: &mut ratatui::Frame<'_>, head: &[String; 3], rows: &[Row], group: GroupKey, keys: &str) {
    let [top, body, keys_area] = Layout::vertical([
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
    f.render_widget(Paragraph::new(keys.to_string()).style(bold), keys_area);
}

//! The table kept live from the event stream, for `top` and `exporter`: a [`Mirror`] (one
//! dump at start and after every loss, events otherwise), a [`Census`] of it kept as entries
//! come and go, and counts of the events received.

use crate::census::Census;
use crate::{R, bad, netns_path};
use conntrack::events::{Batch, EventConfig, EventKind, EventView, Events, Groups};
use conntrack::wire::ct::Tuple;
use conntrack::{Mirror, Nfct};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

/// Events received, by type.
#[derive(Debug, Default, Clone, Copy)]
pub struct EventCounts {
    pub new: u64,
    pub update: u64,
    pub destroy: u64,
    pub exp_new: u64,
    pub exp_destroy: u64,
    /// Datagrams that did not decode (counted, never applied).
    pub malformed: u64,
}

/// The live table and what is known about how it was kept.
#[derive(Debug)]
pub struct Live {
    pub mirror: Mirror,
    pub census: Census,
    pub events: EventCounts,
    /// When the mirror was last loaded from a dump.
    pub last_resync: SystemTime,
    /// Entries loaded by the first dump that no event has named since. Where
    /// `net.netfilter.nf_conntrack_events` is 2 (the default), the kernel gives an entry
    /// events only if an event listener existed when it was created (in any namespace, on
    /// recent kernels), so these may change or go without a word; dumps re-check them until
    /// none is left (see [`Live::recheck`]).
    pub silent: HashSet<(Tuple, u16)>,
}

impl Live {
    /// Applies every event of a batch: the mirror and the census change together.
    pub fn apply_batch(&mut self, batch: &Batch<'_>, nfct: &Nfct) -> R<()> {
        for ev in batch.iter() {
            match &ev {
                EventView::Conn { kind, view, .. } => {
                    match kind {
                        EventKind::New => self.events.new += 1,
                        EventKind::Update => self.events.update += 1,
                        _ => self.events.destroy += 1,
                    }
                    let key = view.tuple_orig().map(|t| Tuple::parse(&t));
                    let zone = view.zone().unwrap_or(0);
                    if let Some(k) = key.filter(|_| !self.silent.is_empty()) {
                        self.silent.remove(&(k, zone));
                    }
                    if let Some(old) = key.and_then(|k| self.mirror.get(&k, zone)) {
                        self.census.count(old, false);
                    }
                    self.mirror.apply(&ev, nfct)?;
                    if let Some(new) = key.and_then(|k| self.mirror.get(&k, zone)) {
                        self.census.count(new, true);
                    }
                }
                EventView::Exp { kind, .. } => {
                    if *kind == EventKind::ExpNew {
                        self.events.exp_new += 1;
                    } else {
                        self.events.exp_destroy += 1;
                    }
                }
                EventView::Overrun { .. } => {
                    // The mirror resynchronises with a dump; the census is counted afresh.
                    self.mirror.apply(&ev, nfct)?;
                    self.reloaded();
                }
                _ => self.events.malformed += 1,
            }
        }
        Ok(())
    }
}

impl Live {
    /// After a dump: the census counted afresh, the silent entries that are gone forgotten.
    fn reloaded(&mut self) {
        self.census.rebuild(self.mirror.iter());
        let m = &self.mirror;
        self.silent.retain(|(t, z)| m.get(t, *z).is_some());
        self.last_resync = SystemTime::now();
    }

    /// Reloads the mirror with a dump if silent entries remain and the last dump is older
    /// than `every`; returns whether it did.
    pub fn recheck(&mut self, nfct: &Nfct, every: Duration) -> R<bool> {
        let due = self
            .last_resync
            .elapsed()
            .is_ok_and(|age| age >= every && !every.is_zero());
        if self.silent.is_empty() || !due {
            return Ok(false);
        }
        self.mirror.resync(nfct)?;
        self.reloaded();
        Ok(true)
    }
}

/// The live table shared with the thread that keeps it.
pub struct Shared {
    live: Arc<Mutex<Live>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<R<()>>>,
}

impl Shared {
    /// Opens the event stream (first, so nothing is missed), loads the table with one dump,
    /// and starts the thread that applies every event from then on. `remotes` also counts
    /// entries by remote address; `buffer` is the socket's receive buffer; `recheck` is how
    /// often silent entries are re-checked with a dump (see [`Live::silent`]; zero: never).
    pub fn start(
        netns: &Option<String>,
        remotes: bool,
        buffer: Option<usize>,
        recheck: Duration,
    ) -> R<Self> {
        let mut cfg = EventConfig::default().groups(Groups::ALL);
        if let Some(b) = buffer {
            cfg = cfg.recv_buffer(b);
        }
        if let Some(n) = netns {
            cfg = cfg.netns(netns_path(n));
        }
        let events = Events::open_with(cfg)?;
        if let Some(w) = &events.granted().warning {
            eprintln!("ctrack: warning: {w}");
        }
        events
            .socket()
            .set_recv_timeout(Some(Duration::from_millis(200)))
            .map_err(|e| bad(e.to_string()))?;
        let nfct = crate::open(netns)?;
        let mut mirror = Mirror::new();
        mirror.resync(&nfct)?;
        let mut census = Census::new(remotes);
        census.rebuild(mirror.iter());
        let silent = mirror
            .iter()
            .filter_map(|c| Some((c.tuple_orig?, c.zone.unwrap_or(0))))
            .collect();
        let live = Arc::new(Mutex::new(Live {
            mirror,
            census,
            events: EventCounts::default(),
            last_resync: SystemTime::now(),
            silent,
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (live, stop) = (Arc::clone(&live), Arc::clone(&stop));
            std::thread::Builder::new()
                .name("ctrack-events".into())
                .spawn(move || keep(events, nfct, &live, &stop, recheck))
                .map_err(|e| bad(format!("cannot start the event thread: {e}")))?
        };
        Ok(Shared {
            live,
            stop,
            thread: Some(thread),
        })
    }

    /// The live table, locked (the event thread waits meanwhile: hold it briefly).
    pub fn lock(&self) -> MutexGuard<'_, Live> {
        // A panic in the event thread while it held the lock leaves the table as it was.
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The event thread's error, if it has ended (it ends only on an error).
    pub fn failed(&mut self) -> R<()> {
        if self.thread.as_ref().is_some_and(|t| t.is_finished()) {
            if let Some(t) = self.thread.take() {
                return t
                    .join()
                    .unwrap_or_else(|_| Err(bad("the event thread panicked")));
            }
        }
        Ok(())
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The event thread: receives and applies until stopped or until an error.
fn keep(
    mut events: Events,
    nfct: Nfct,
    live: &Mutex<Live>,
    stop: &AtomicBool,
    recheck: Duration,
) -> R<()> {
    while !stop.load(Ordering::SeqCst) {
        let batch = events.recv()?;
        let mut l = live.lock().unwrap_or_else(|p| p.into_inner());
        l.apply_batch(&batch, &nfct)?;
        // Events queued during the dump are applied after it, in order.
        l.recheck(&nfct, recheck)?;
    }
    Ok(())
}

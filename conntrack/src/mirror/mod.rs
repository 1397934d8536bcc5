//! [`Mirror`]: a copy of the conntrack table kept from an event stream, resynchronised with a
//! dump whenever the stream reports a loss.

use crate::error::Result;
use crate::events::{Batch, EventKind, EventView, Shard};
use crate::{DumpFilter, Family, Nfct};
use conntrack_wire::Conn;
use conntrack_wire::ConnView;
use conntrack_wire::ct::Tuple;
use table::{Key, Table};

mod table;

/// A copy of the conntrack table (or of one [`Shard`] of it), kept from an event stream.
///
/// Entries are keyed by their original tuple and zone, which the table keeps unique, and not
/// by their id: `CTA_ID` is a 32-bit hash, and two live entries share one often enough (about
/// one pair in 100,000 entries, about a hundred pairs in a million).
///
/// Use: open the event stream first (unfiltered, or one shard of
/// [`crate::events::Events::open_shards`]), then [`Mirror::resync`] once to load the table,
/// then hand every received batch to [`Mirror::apply_batch`]. An entry created between the
/// two steps is both dumped and announced by an event; that is harmless, as is every event
/// applied after a dump that already showed its effect.
///
/// What it guarantees: once every event received so far has been applied and the stream has
/// reported no loss since the last resynchronisation, the mirror holds exactly the entries
/// the table held when the last applied event was sent, with their tuples, status, mark,
/// zone, labels, helper and protocol state as of their last event (or the last dump). A
/// loss ([`EventView::Overrun`]) makes [`Mirror::apply`] resynchronise at once with a dump;
/// the stream reports a loss only after every event queued before it (see
/// [`EventView::Overrun`]), so no event older than the dump is applied after it.
///
/// What may lag: timeouts, counters and timestamps change without events, so they are as of
/// the entry's last event or dump. An UPDATE event carries only the parts that changed (and
/// a DESTROY event only some), so an event updates the parts it carries and keeps the rest.
/// While a resynchronising dump runs, entries may change; the events of those changes are
/// queued and applied after it, in order, so the mirror converges to the table.
///
/// What the kernel may not announce: where `net.netfilter.nf_conntrack_events` is 2 (the
/// default), an entry gets events only if an event listener existed when it was created (on
/// recent kernels a listener in any namespace counts). Entries older than every listener
/// may change or go without an event; while such entries may remain, call
/// [`Mirror::resync`] now and then (`ctrack exporter` does, until the entries it loaded at
/// start have all been heard from or gone), or set the sysctl to 1 before they are made.
///
/// What it costs: the entries sit in one dense vector (an entry is 256 bytes, see
/// [`Conn`]), found through a hash table of their positions (about 10 bytes per entry), so a
/// mirror of a million entries takes about 270 MB.
#[derive(Debug, Default, Clone)]
pub struct Mirror {
    entries: Table,
    shard: Option<Shard>,
    resyncs: u64,
    lost: u64,
}

/// The key of an entry that a view carries.
fn key(c: &ConnView<'_>) -> Option<Key> {
    Some((Tuple::parse(&c.tuple_orig()?), c.zone().unwrap_or(0)))
}

impl Mirror {
    /// An empty mirror of the whole table.
    ///
    /// ```no_run
    /// use conntrack::events::{EventConfig, Events};
    /// use conntrack::{Mirror, Nfct};
    /// let mut events = Events::open_with(EventConfig::default())?;
    /// let nfct = Nfct::open()?;
    /// let mut mirror = Mirror::new();
    /// mirror.resync(&nfct)?;
    /// loop {
    ///     mirror.apply_batch(&events.recv()?, &nfct)?;
    ///     println!("{} entries", mirror.len());
    /// }
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty mirror of one share of the table (the entries whose id `shard` holds), for
    /// the stream of that share.
    ///
    /// ```no_run
    /// use conntrack::events::{EventConfig, Events, Shard};
    /// use conntrack::Mirror;
    /// let mirror = Mirror::for_shard(Shard { count: 2, index: 0 });
    /// ```
    pub fn for_shard(shard: Shard) -> Self {
        Mirror {
            shard: Some(shard),
            ..Self::default()
        }
    }

    fn holds(&self, c: &ConnView<'_>) -> bool {
        self.shard.is_none_or(|s| s.holds(c.id().unwrap_or(0)))
    }

    /// Replaces the mirror's content with a dump of the table (its share of it). Called by
    /// [`Mirror::apply`] on every loss; call it once after opening the stream.
    ///
    /// ```no_run
    /// use conntrack::{Mirror, Nfct};
    /// let mut mirror = Mirror::new();
    /// mirror.resync(&Nfct::open()?)?;
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn resync(&mut self, nfct: &Nfct) -> Result<()> {
        // Room for the table as counted now, and a little growth while the dump runs, so
        // that a large table does not double the vector at its end.
        let expected = nfct.count(Family::Any).unwrap_or(0);
        let mut fresh = Table::with_capacity(expected + expected / 32 + 64);
        let shard = self.shard;
        nfct.dump_with(Family::Any, &DumpFilter::default(), |c| {
            if shard.is_none_or(|s| s.holds(c.id().unwrap_or(0))) && c.tuple_orig().is_some() {
                // A tuple listed twice (replaced while the dump ran): the later one wins.
                fresh.upsert(Conn::parse(c), |old, new| *old = new);
            }
        })?;
        self.entries = fresh;
        self.resyncs += 1;
        Ok(())
    }

    /// Applies one event: NEW and UPDATE insert or update the entry, DESTROY removes it, a
    /// loss resynchronises with a dump (through `nfct`). Expectation events and malformed
    /// datagrams change nothing.
    ///
    /// ```no_run
    /// use conntrack::events::{EventConfig, Events};
    /// use conntrack::{Mirror, Nfct};
    /// let (mut events, nfct) = (Events::open_with(EventConfig::default())?, Nfct::open()?);
    /// let mut mirror = Mirror::new();
    /// mirror.resync(&nfct)?;
    /// for ev in events.recv()?.iter() {
    ///     mirror.apply(&ev, &nfct)?;
    /// }
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn apply(&mut self, ev: &EventView<'_>, nfct: &Nfct) -> Result<()> {
        match ev {
            EventView::Conn { kind, view: v, .. } => {
                let Some(k) = key(v).filter(|_| self.holds(v)) else {
                    return Ok(());
                };
                match kind {
                    EventKind::Destroy => {
                        self.entries.remove(&k);
                    }
                    _ => self.entries.upsert(Conn::parse(v), Conn::merge),
                }
            }
            EventView::Overrun { lost } => {
                self.lost += lost;
                self.resync(nfct)?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Applies every event of a batch, in order (see [`Mirror::apply`]).
    pub fn apply_batch(&mut self, batch: &Batch<'_>, nfct: &Nfct) -> Result<()> {
        batch.iter().try_for_each(|ev| self.apply(&ev, nfct))
    }

    /// Returns the entry with original tuple `tuple` in zone `zone` (0: the default zone).
    pub fn get(&self, tuple: &Tuple, zone: u16) -> Option<&Conn> {
        self.entries.get(&(*tuple, zone))
    }

    /// Returns the number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Returns whether the mirror holds no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.len() == 0
    }

    /// Returns the entries, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Conn> {
        self.entries.iter()
    }

    /// Returns the bytes that the mirror holds on the heap for its entries and their index
    /// (an entry's [`conntrack_wire::ct::ConnExt`], when it has one, is not counted).
    pub fn heap_bytes(&self) -> usize {
        self.entries.heap_bytes()
    }

    /// Returns how many times the mirror was loaded from a dump.
    pub fn resyncs(&self) -> u64 {
        self.resyncs
    }

    /// Returns how many events the stream reported lost.
    pub fn lost(&self) -> u64 {
        self.lost
    }
}

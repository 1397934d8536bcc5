//! Event streams: NEW / UPDATE / DESTROY and expectation events, received in batches with
//! `recvmmsg`, with every loss reported as an [`Event::Overrun`] item.

use crate::error::{Error, Op, Result};
use conntrack_sock::{Arena, Group, SockOpt, Socket};
pub use conntrack_wire::filter::bpf::{EventFilter, Match, Shard};
use conntrack_wire::{
    Conn, ConnDecoder, ConnView, CtMsg, Exp, ExpMsg, ExpView, MessageKind, Messages,
};
use std::path::PathBuf;

mod loss;
mod thread;

use loss::Losses;
pub use thread::{EventThread, Received};

/// Which events to receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Groups {
    /// Conntrack NEW events (`NFNLGRP_CONNTRACK_NEW`).
    pub new: bool,
    /// Conntrack UPDATE events (`NFNLGRP_CONNTRACK_UPDATE`).
    pub update: bool,
    /// Conntrack DESTROY events (`NFNLGRP_CONNTRACK_DESTROY`).
    pub destroy: bool,
    /// Expectation NEW events (`NFNLGRP_CONNTRACK_EXP_NEW`).
    pub exp_new: bool,
    /// Expectation DESTROY events (`NFNLGRP_CONNTRACK_EXP_DESTROY`).
    pub exp_destroy: bool,
}

impl Groups {
    /// No group; a base to switch single groups on, e.g.
    /// `Groups { new: true, ..Groups::NONE }` for NEW events only.
    pub const NONE: Groups = Groups {
        new: false,
        update: false,
        destroy: false,
        exp_new: false,
        exp_destroy: false,
    };
    /// Every conntrack and expectation group.
    pub const ALL: Groups = Groups {
        new: true,
        update: true,
        destroy: true,
        exp_new: true,
        exp_destroy: true,
    };
    /// NEW, UPDATE and DESTROY of conntrack entries.
    pub const CONNTRACK: Groups = Groups {
        new: true,
        update: true,
        destroy: true,
        exp_new: false,
        exp_destroy: false,
    };

    fn list(self) -> impl Iterator<Item = Group> {
        [
            (self.new, Group::New),
            (self.update, Group::Update),
            (self.destroy, Group::Destroy),
            (self.exp_new, Group::ExpNew),
            (self.exp_destroy, Group::ExpDestroy),
        ]
        .into_iter()
        .filter_map(|(on, g)| on.then_some(g))
    }
}

impl Default for Groups {
    fn default() -> Self {
        Groups::CONNTRACK
    }
}

/// How to open an event stream: [`EventConfig::default`], then a setter per field to change.
///
/// ```
/// use conntrack::events::{EventConfig, Groups};
/// let cfg = EventConfig::default().groups(Groups::ALL).recv_buffer(16 << 20);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EventConfig {
    /// The groups to join.
    pub groups: Groups,
    /// Receive buffer to ask for. The default, 64 MiB, holds about 50,000 queued events.
    pub recv_buffer: usize,
    /// Reliable mode: sets `NETLINK_BROADCAST_ERROR`, so the kernel sees failed deliveries
    /// (and, with `nf_conntrack_events=1`, retries DESTROY events instead of dropping them).
    pub reliable: bool,
    /// Receive events of every peer network namespace (`NETLINK_LISTEN_ALL_NSID`), each
    /// tagged with its namespace id.
    pub all_namespaces: bool,
    /// The network namespace to listen in; `None` for the caller's own.
    pub netns: Option<crate::Netns>,
    /// Datagrams received per `recvmmsg` at most (events arrive one per datagram).
    pub batch: usize,
    /// A kernel-side filter: compiled to classic BPF and attached to the socket, so events
    /// that do not match are dropped by the kernel before they are queued.
    pub filter: Option<EventFilter>,
}

impl Default for EventConfig {
    fn default() -> Self {
        EventConfig {
            groups: Groups::default(),
            recv_buffer: 64 << 20,
            reliable: false,
            all_namespaces: false,
            netns: None,
            batch: 256,
            filter: None,
        }
    }
}

impl EventConfig {
    /// Sets the groups to join.
    pub fn groups(mut self, g: Groups) -> Self {
        self.groups = g;
        self
    }

    /// Sets the receive buffer to ask for, in bytes.
    pub fn recv_buffer(mut self, bytes: usize) -> Self {
        self.recv_buffer = bytes;
        self
    }

    /// Turns reliable mode (`NETLINK_BROADCAST_ERROR`) on or off.
    pub fn reliable(mut self, on: bool) -> Self {
        self.reliable = on;
        self
    }

    /// Receives the events of every peer network namespace (`NETLINK_LISTEN_ALL_NSID`).
    pub fn all_namespaces(mut self, on: bool) -> Self {
        self.all_namespaces = on;
        self
    }

    /// Listens in the network namespace at `path` (`/var/run/netns/NAME`, `/proc/PID/ns/net`).
    pub fn netns(mut self, path: impl Into<PathBuf>) -> Self {
        self.netns = Some(crate::Netns::Path(path.into()));
        self
    }

    /// Works in the network namespace of the open descriptor `ns` (from
    /// `/proc/PID/ns/net`, or inherited); see [`crate::Netns`].
    ///
    /// ```no_run
    /// let ns = std::fs::File::open("/proc/1/ns/net")?;
    /// let cfg = conntrack::events::EventConfig::default().netns_fd(ns.into());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn netns_fd(mut self, ns: std::os::fd::OwnedFd) -> Self {
        self.netns = Some(ns.into());
        self
    }

    /// Sets the most datagrams received per `recvmmsg`.
    pub fn batch(mut self, n: usize) -> Self {
        self.batch = n;
        self
    }

    /// Sets the kernel-side filter (compiled to classic BPF when the stream opens).
    pub fn filter(mut self, f: EventFilter) -> Self {
        self.filter = Some(f);
        self
    }
}

/// What the kernel granted when the stream was opened.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Granted {
    /// The receive buffer the kernel reports (twice the usable size, as `SO_RCVBUF` does).
    pub recv_buffer: usize,
    /// Whether `SO_RCVBUFFORCE` was allowed; if not, the buffer is capped by
    /// `net.core.rmem_max`.
    pub forced: bool,
    /// A warning when the buffer is smaller than asked for.
    pub warning: Option<String>,
}

/// The kind of a conntrack or expectation event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EventKind {
    /// A new entry (`NLM_F_CREATE|NLM_F_EXCL` set).
    New,
    /// A changed entry.
    Update,
    /// A removed entry.
    Destroy,
    /// A new expectation.
    ExpNew,
    /// A removed expectation.
    ExpDestroy,
}

/// One event borrowed from the receive arena.
// A ConnView is large (its indexes live inline, so decoding never allocates); events are
// produced one at a time by an iterator, so the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum EventView<'a> {
    /// A conntrack event.
    Conn {
        /// NEW, UPDATE or DESTROY.
        kind: EventKind,
        /// The entry.
        view: ConnView<'a>,
        /// The source namespace id, with `all_namespaces`.
        nsid: Option<i32>,
        /// The port id of the netlink socket whose request caused the event (0: the kernel's
        /// own traffic), as conntrack-tools prints it with `[USERSPACE] portid=`.
        port_id: u32,
    },
    /// An expectation event.
    Exp {
        /// ExpNew or ExpDestroy.
        kind: EventKind,
        /// The expectation.
        view: ExpView<'a>,
        /// The source namespace id, with `all_namespaces`.
        nsid: Option<i32>,
    },
    /// Events the kernel dropped because the receive buffer was full: exactly `lost` of them.
    /// The item comes after every event that was queued before the loss (events queued
    /// after it may come before or after the item), so a consumer that resynchronises with
    /// a dump here never applies an event older than the dump afterwards. A
    /// [`crate::Mirror`] does this; see also [`crate::Nfct::resync`].
    Overrun {
        /// The number of dropped events.
        lost: u64,
    },
    /// A message that could not be read: a truncated datagram, bytes that are no netlink
    /// message, or an event whose attributes do not validate. Reported, never fatal: the
    /// stream goes on. This is the one way a malformed event is reported.
    Malformed {
        /// The event's kind, when the message header could be read.
        kind: Option<EventKind>,
        /// Why.
        error: conntrack_wire::Error,
    },
}

/// An owned event.
// Conn is large and Overrun small; boxing would add an allocation to every event for the sake
// of the rare overrun item.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A conntrack event.
    Conn {
        /// NEW, UPDATE or DESTROY.
        kind: EventKind,
        /// The entry.
        conn: Conn,
        /// The source namespace id.
        nsid: Option<i32>,
        /// The port id of the socket whose request caused the event (0: the kernel).
        port_id: u32,
    },
    /// An expectation event.
    Exp {
        /// ExpNew or ExpDestroy.
        kind: EventKind,
        /// The expectation.
        exp: Exp,
        /// The source namespace id.
        nsid: Option<i32>,
    },
    /// `lost` events were dropped here.
    Overrun {
        /// The number of dropped events.
        lost: u64,
    },
    /// An event that did not parse; the stream goes on (see [`EventView::Malformed`]).
    Malformed {
        /// The event's kind, when the message header could be read.
        kind: Option<EventKind>,
        /// Why.
        error: conntrack_wire::Error,
    },
}

impl EventView<'_> {
    /// Copies the event out of the arena.
    ///
    /// ```no_run
    /// use conntrack::events::{EventConfig, EventView, Events, Groups};
    /// let mut events = Events::open_with(EventConfig::default())?;
    /// let first = events.recv()?.iter().next().map(|e| e.to_event());
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn to_event(&self) -> Event {
        match *self {
            EventView::Conn {
                kind,
                view: v,
                nsid,
                port_id,
            } => Event::Conn {
                kind,
                conn: Conn::parse(&v),
                nsid,
                port_id,
            },
            EventView::Exp {
                kind,
                view: v,
                nsid,
            } => Event::Exp {
                kind,
                exp: Exp::parse(&v),
                nsid,
            },
            EventView::Overrun { lost } => Event::Overrun { lost },
            EventView::Malformed { kind, error } => Event::Malformed { kind, error },
        }
    }
}

/// A subscription to conntrack events.
///
/// ```no_run
/// use conntrack::events::{EventConfig, EventView, Events};
/// let mut events = Events::open_with(EventConfig::default())?;
/// loop {
///     let batch = events.recv()?;
///     for ev in batch.iter() {
///         match ev {
///             EventView::Conn { kind, view: c, .. } => println!("{kind:?} id={:?}", c.id()),
///             EventView::Overrun { lost } => eprintln!("lost {lost} events: resync with a dump"),
///             _ => {}
///         }
///     }
/// }
/// # Ok::<(), conntrack::Error>(())
/// ```
pub struct Events {
    sock: Socket,
    arena: Arena,
    losses: Losses,
    granted: Granted,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events")
            .field("granted", &self.granted)
            .finish()
    }
}

/// Event datagrams are small (one event each); 8 KiB leaves room for every attribute.
const EVENT_SLOT: usize = 8 * 1024;

impl Events {
    /// Opens a stream with the default [`EventConfig`] (the conntrack groups, a 64 MiB
    /// buffer).
    ///
    /// ```no_run
    /// use conntrack::events::Events;
    /// let events = Events::open()?;
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn open() -> Result<Self> {
        Self::open_with(EventConfig::default())
    }

    /// Opens a socket, joins the groups, sizes the buffer, and turns on loss counting.
    ///
    /// ```no_run
    /// use conntrack::events::{EventConfig, EventView, Events, Groups};
    /// let events = Events::open_with(EventConfig::default().groups(Groups::ALL))?;
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn open_with(cfg: EventConfig) -> Result<Self> {
        if cfg.groups == Groups::NONE {
            return Err(Error::Invalid {
                op: Op::Open,
                what: "EventConfig::groups selects no group: the stream would never receive".into(),
            });
        }
        let io = |e| Error::io(Op::Open, e);
        let sock = match &cfg.netns {
            Some(n) => n.open_socket().map_err(io)?,
            None => Socket::open().map_err(io)?,
        };
        let (got, forced) = sock.set_recv_buffer(cfg.recv_buffer).map_err(io)?;
        let warning = (got < cfg.recv_buffer).then(|| {
            format!(
                "receive buffer is {got} bytes, not {} (SO_RCVBUFFORCE refused; raise net.core.rmem_max): bursts may overrun",
                cfg.recv_buffer
            )
        });
        // Losses are counted exactly with SO_MEMINFO, so ENOBUFS would only interrupt reads.
        sock.set_option(SockOpt::NoEnobufs, true).map_err(io)?;
        if cfg.reliable {
            sock.set_option(SockOpt::BroadcastError, true).map_err(io)?;
        }
        if cfg.all_namespaces {
            sock.set_option(SockOpt::ListenAllNsid, true).map_err(io)?;
        }
        if let Some(f) = &cfg.filter {
            let prog = f.compile().map_err(|e| Error::Invalid {
                op: Op::Open,
                what: e.to_string(),
            })?;
            let raw: Vec<(u16, u8, u8, u32)> =
                prog.iter().map(|i| (i.code, i.jt, i.jf, i.k)).collect();
            sock.attach_filter(&raw).map_err(io)?;
        }
        for g in cfg.groups.list() {
            sock.join_group(g).map_err(io)?;
        }
        let losses = Losses::new(&sock).map_err(io)?;
        let arena = Arena::new(cfg.batch.max(1), EVENT_SLOT).map_err(io)?;
        Ok(Events {
            sock,
            arena,
            losses,
            granted: Granted {
                recv_buffer: got,
                forced,
                warning,
            },
        })
    }

    /// Opens `n` streams that share the events between them (see [`Shard`]): each is a
    /// socket of its own whose kernel-side filter keeps one share (on top of `cfg.filter`, if
    /// any), so that `n` threads can each receive and decode one share in parallel. Every
    /// entry's events arrive on one stream, in order; the order between entries of different
    /// streams is not kept. Each stream counts its own losses.
    ///
    /// ```no_run
    /// use conntrack::events::{EventConfig, EventView, Events};
    /// let streams = Events::open_shards(EventConfig::default(), 2)?;
    /// let threads: Vec<_> = streams
    ///     .into_iter()
    ///     .map(|mut ev| {
    ///         std::thread::spawn(move || loop {
    ///             let batch = ev.recv().unwrap();
    ///             println!("{} events, {} lost", batch.len(), batch.lost());
    ///         })
    ///     })
    ///     .collect();
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn open_shards(cfg: EventConfig, n: u32) -> Result<Vec<Events>> {
        let invalid = |what: &str| Error::Invalid {
            op: Op::Open,
            what: what.into(),
        };
        if n == 0 {
            return Err(invalid("open_shards needs at least one shard"));
        }
        if cfg.filter.as_ref().is_some_and(|f| f.shard.is_some()) {
            return Err(invalid(
                "EventConfig::filter already selects a shard; open_shards sets them",
            ));
        }
        (0..n)
            .map(|index| {
                let mut c = cfg.clone();
                let mut f = c.filter.take().unwrap_or_default();
                f.shard = Some(Shard { count: n, index });
                c.filter = Some(f);
                Events::open_with(c)
            })
            .collect()
    }

    /// Returns what the kernel granted.
    ///
    /// ```no_run
    /// use conntrack::events::{EventConfig, EventView, Events, Groups};
    /// let events = Events::open_with(EventConfig::default())?;
    /// if let Some(w) = &events.granted().warning {
    ///     eprintln!("{w}");
    /// }
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn granted(&self) -> &Granted {
        &self.granted
    }

    /// Returns the socket, for polling (it implements `AsFd`).
    ///
    /// ```no_run
    /// use conntrack::events::{EventConfig, EventView, Events, Groups};
    /// let events = Events::open_with(EventConfig::default())?;
    /// let fd = std::os::fd::AsFd::as_fd(events.socket());
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn socket(&self) -> &Socket {
        &self.sock
    }

    /// Switches non-blocking mode: [`Events::recv`] then returns an empty batch instead of
    /// waiting.
    ///
    /// ```no_run
    /// use conntrack::events::{EventConfig, EventView, Events, Groups};
    /// let mut events = Events::open_with(EventConfig::default())?;
    /// events.set_nonblocking(true)?;
    /// let batch = events.recv()?; // empty at once if nothing is queued
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn set_nonblocking(&mut self, on: bool) -> Result<()> {
        self.sock
            .set_nonblocking(on)
            .map_err(|e| Error::io(Op::SetOption, e))
    }

    /// Receives the next batch: blocks for the first event, then takes every event already
    /// queued, up to the batch size, in one `recvmmsg`.
    ///
    /// ```no_run
    /// use conntrack::events::{EventConfig, EventView, Events, Groups};
    /// let mut events = Events::open_with(EventConfig::default())?;
    /// let batch = events.recv()?;
    /// println!("{} datagrams, {} lost", batch.len(), batch.lost());
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn recv(&mut self) -> Result<Batch<'_>> {
        let io = |e| Error::io(Op::Recv, e);
        let n = recv_events(&self.sock, &mut self.arena).map_err(io)?;
        let lost = self
            .losses
            .after_recv(&self.sock, received_bytes(&self.arena))
            .map_err(io)?;
        Ok(Batch {
            arena: &self.arena,
            n,
            lost,
        })
    }

    /// Returns the number of events dropped so far that no batch has reported yet.
    ///
    /// ```no_run
    /// use conntrack::events::{EventConfig, EventView, Events, Groups};
    /// let mut events = Events::open_with(EventConfig::default())?;
    /// println!("{} lost so far", events.pending_loss()?);
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn pending_loss(&mut self) -> Result<u64> {
        self.losses
            .pending(&self.sock)
            .map_err(|e| Error::io(Op::Recv, e))
    }
}

/// Receives one batch of event datagrams. Nothing queued (non-blocking, or the receive
/// timeout passed) and an overrun (`ENOBUFS`, which the loss counter reports exactly) are
/// empty batches, not errors.
fn recv_events(sock: &Socket, arena: &mut Arena) -> std::io::Result<usize> {
    match sock.recv_batch(arena) {
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) || e.raw_os_error() == Some(nix::errno::Errno::ENOBUFS as i32) =>
        {
            Ok(0)
        }
        r => r,
    }
}

/// The bytes of the datagrams the last receive put in `arena`.
fn received_bytes(arena: &Arena) -> u64 {
    arena.iter().map(|(d, _)| d.len() as u64).sum()
}

/// One batch of events, borrowed from the arena until the next [`Events::recv`].
#[derive(Debug)]
pub struct Batch<'a> {
    arena: &'a Arena,
    n: usize,
    lost: u64,
}

impl<'a> Batch<'a> {
    /// Returns the number of datagrams received.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Returns whether nothing was received and nothing was lost.
    pub fn is_empty(&self) -> bool {
        self.n == 0 && self.lost == 0
    }

    /// Returns how many events the kernel dropped since the previous batch.
    ///
    /// ```no_run
    /// use conntrack::events::{EventConfig, EventView, Events, Groups};
    /// let mut events = Events::open_with(EventConfig::default())?;
    /// if events.recv()?.lost() > 0 { /* resynchronise */ }
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn lost(&self) -> u64 {
        self.lost
    }

    /// Returns the events in order, then an [`EventView::Overrun`] if any were lost.
    ///
    /// ```no_run
    /// use conntrack::events::{EventConfig, EventView, Events, Groups};
    /// let mut events = Events::open_with(EventConfig::default())?;
    /// for ev in events.recv()?.iter() {
    ///     if let EventView::Overrun { lost } = ev { eprintln!("lost {lost}"); }
    /// }
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = EventView<'a>> + 'a {
        BatchIter {
            arena: self.arena,
            next: 0,
            n: self.n,
            msgs: None,
            lost: self.lost,
            layouts: ConnDecoder::new(),
        }
    }

    /// Copies the batch into owned events.
    ///
    /// ```no_run
    /// use conntrack::events::{EventConfig, EventView, Events, Groups};
    /// let mut events = Events::open_with(EventConfig::default())?;
    /// let owned = events.recv()?.to_vec();
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn to_vec(&self) -> Vec<Event> {
        self.iter().map(|e| e.to_event()).collect()
    }
}

/// The events of a [`Batch`], datagram by datagram.
///
/// Written out rather than composed from iterator adapters: an [`EventView`] is over 200
/// bytes, and each adapter layer would move it once more (measured on a profiled backlog
/// drain; see BENCHMARKS.md).
struct BatchIter<'a> {
    arena: &'a Arena,
    /// The next datagram to open.
    next: usize,
    n: usize,
    /// The messages left in the open datagram, and its source namespace.
    msgs: Option<(Messages<'a>, Option<i32>)>,
    /// Events lost, reported once after the last datagram.
    lost: u64,
    /// The layouts of the batch's entries so far: events of one kind are laid out alike.
    layouts: ConnDecoder,
}

impl<'a> Iterator for BatchIter<'a> {
    type Item = EventView<'a>;

    #[inline]
    fn next(&mut self) -> Option<EventView<'a>> {
        loop {
            if let Some((msgs, nsid)) = &mut self.msgs {
                match msgs.next() {
                    Some(Ok(m)) => match classify(m, *nsid, &mut self.layouts) {
                        Some(e) => return Some(e),
                        None => continue,
                    },
                    Some(Err(error)) => return Some(EventView::Malformed { kind: None, error }),
                    None => self.msgs = None,
                }
            }
            if self.next < self.n {
                let i = self.next;
                self.next += 1;
                let Some((d, meta)) = self.arena.get(i) else {
                    continue;
                };
                if meta.truncated {
                    return Some(EventView::Malformed {
                        kind: None,
                        error: conntrack_wire::Error::Truncated {
                            need: meta.len,
                            have: d.len(),
                        },
                    });
                }
                self.msgs = Some((Messages::new(d), meta.nsid));
                continue;
            }
            if self.lost > 0 {
                let lost = std::mem::take(&mut self.lost);
                return Some(EventView::Overrun { lost });
            }
            return None;
        }
    }
}

#[inline]
fn classify<'a>(
    m: conntrack_wire::Message<'a>,
    nsid: Option<i32>,
    layouts: &mut ConnDecoder,
) -> Option<EventView<'a>> {
    let kind = match m.kind() {
        MessageKind::Conntrack(CtMsg::New) => EventKind::New,
        MessageKind::Conntrack(CtMsg::Update) => EventKind::Update,
        MessageKind::Conntrack(CtMsg::Delete) => EventKind::Destroy,
        MessageKind::Expect(ExpMsg::New) => EventKind::ExpNew,
        MessageKind::Expect(ExpMsg::Delete) => EventKind::ExpDestroy,
        _ => return None,
    };
    let malformed = |error| EventView::Malformed {
        kind: Some(kind),
        error,
    };
    Some(match kind {
        EventKind::ExpNew | EventKind::ExpDestroy => match m.exp() {
            Ok(view) => EventView::Exp { kind, view, nsid },
            Err(e) => malformed(e),
        },
        _ => match layouts.conn(&m) {
            Ok(view) => EventView::Conn {
                kind,
                view,
                nsid,
                port_id: m.pid(),
            },
            Err(e) => malformed(e),
        },
    })
}

impl Iterator for Events {
    type Item = Result<Vec<Event>>;

    /// Blocks for the next non-empty batch and returns it as owned events.
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.recv() {
                Ok(b) if b.is_empty() => continue,
                Ok(b) => return Some(Ok(b.to_vec())),
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use conntrack_wire::consts::*;

    /// A conntrack NEW event (no `NLM_F_CREATE`: an update) whose one attribute, `CTA_MARK`,
    /// is five bytes long instead of four.
    fn bad_event() -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&32u32.to_ne_bytes());
        let ty = (u16::from(NFNL_SUBSYS_CTNETLINK) << 8) | u16::from(IPCTNL_MSG_CT_NEW);
        b.extend_from_slice(&ty.to_ne_bytes());
        b.extend_from_slice(&[0; 10]);
        b.extend_from_slice(&[AF_INET, 0, 0, 0]);
        b.extend_from_slice(&9u16.to_ne_bytes());
        b.extend_from_slice(&CTA_MARK.to_ne_bytes());
        b.extend_from_slice(&[0, 0, 0, 7, 0, 0, 0, 0]);
        b
    }

    #[test]
    fn a_malformed_event_is_reported_one_way_with_its_kind() {
        let bytes = bad_event();
        let m = Messages::new(&bytes).next().unwrap().unwrap();
        let e = classify(m, None, &mut ConnDecoder::default()).unwrap();
        assert!(
            matches!(
                e,
                EventView::Malformed {
                    kind: Some(EventKind::Update),
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(matches!(
            e.to_event(),
            Event::Malformed {
                kind: Some(EventKind::Update),
                ..
            }
        ));
    }
}

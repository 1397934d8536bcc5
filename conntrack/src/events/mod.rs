//! Event streams: NEW / UPDATE / DESTROY and expectation events, received in batches with
//! `recvmmsg`, with every loss reported as an [`Event::Overrun`] item.

use crate::error::{Error, Op, Result};
use conntrack_sock::{Arena, Group, SockOpt, Socket};
pub use conntrack_wire::filter::bpf::{EventFilter, Match, Shard};
use conntrack_wire::{
    Conn, ConnDecoder, ConnView, CtMsg, Exp, ExpMsg, ExpView, MessageKind, Messages,
};
use std::path::PathBuf;

mod batch;
mod config;
mod loss;
mod thread;
mod view;

pub use batch::Batch;
pub use config::{EventConfig, Groups};
use loss::Losses;
pub use thread::{EventThread, Received};
pub use view::{Event, EventKind, EventView};

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

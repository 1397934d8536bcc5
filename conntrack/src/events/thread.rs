//! An event stream received on a helper thread: [`Events::spawn`].
//!
//! The helper thread does nothing but `recvmmsg` into a ring of arenas and count losses, so
//! the socket is drained at the kernel's pace while the caller decodes (on another core) the
//! batches already received. Two things follow for a consumer that cannot keep up for a
//! moment: the kernel's socket buffer stays as empty as the ring allows, and the ring (three
//! batches) absorbs the burst before the socket buffer has to.

use super::{Batch, Events, Granted, received_bytes, recv_events};
use crate::error::{Error, Op, Result};
use crate::pipeline::spin;
use conntrack_sock::Arena;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::Duration;

/// Batches in flight: one being received, one being decoded, one ready in between.
const DEPTH: usize = 3;

/// How often the helper thread looks up from an idle socket, to notice a stop.
const TICK: Duration = Duration::from_millis(50);

/// A filled arena: its datagram count and the events lost since the previous one.
type Filled = io::Result<(Arena, usize, u64)>;

/// An event stream whose receiving runs on a helper thread; see [`Events::spawn`].
///
/// Dropping it stops the thread (within 50 ms) and closes the socket.
#[derive(Debug)]
pub struct EventThread {
    full: Receiver<Filled>,
    free: SyncSender<Arena>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    granted: Granted,
}

/// One batch received by an [`EventThread`]; its arena goes back to the thread on drop.
#[derive(Debug)]
pub struct Received {
    arena: Option<Arena>,
    n: usize,
    lost: u64,
    free: SyncSender<Arena>,
}

impl Received {
    /// Returns the batch: the events in order, then an overrun if any were lost.
    ///
    /// ```no_run
    /// use conntrack::events::{EventConfig, EventView, Events};
    /// let mut events = Events::open_with(EventConfig::default())?.spawn()?;
    /// let got = events.recv()?;
    /// for ev in got.batch().iter() {
    ///     if let EventView::Conn { kind, view: c, .. } = ev {
    ///         println!("{kind:?} {:?}", c.id());
    ///     }
    /// }
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn batch(&self) -> Batch<'_> {
        match &self.arena {
            Some(arena) => Batch {
                arena,
                n: self.n,
                lost: self.lost,
            },
            // Never: the arena is only taken on drop.
            None => unreachable!("a received batch holds its arena until dropped"),
        }
    }
}

impl Drop for Received {
    fn drop(&mut self) {
        if let Some(a) = self.arena.take() {
            // The thread may have stopped; then the arena is simply freed.
            let _ = self.free.try_send(a);
        }
    }
}

impl Events {
    /// Moves the receiving onto a helper thread, which drains the socket into a ring of three
    /// batches while the caller decodes; see [`EventThread`]. Costs two more arenas of
    /// [`EventConfig::batch`](super::EventConfig::batch) slots of 8 KiB.
    ///
    /// ```no_run
    /// use conntrack::events::{EventConfig, Events};
    /// let mut events = Events::open_with(EventConfig::default())?.spawn()?;
    /// loop {
    ///     let got = events.recv()?;
    ///     println!("{} events, {} lost", got.batch().len(), got.batch().lost());
    /// }
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn spawn(self) -> Result<EventThread> {
        let io = |e| Error::io(Op::Open, e);
        let Events {
            mut sock,
            arena,
            mut losses,
            granted,
        } = self;
        sock.set_nonblocking(false).map_err(io)?;
        sock.set_recv_timeout(Some(TICK)).map_err(io)?;
        let (full_tx, full) = sync_channel::<Filled>(DEPTH);
        let (free, free_rx) = sync_channel::<Arena>(DEPTH);
        let (slots, slot_len) = (arena.slots(), arena.slot_len());
        let _ = free.try_send(arena);
        for _ in 1..DEPTH {
            let _ = free.try_send(Arena::new(slots, slot_len).map_err(io)?);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let halt = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("conntrack-events".into())
            .spawn(move || {
                let mut lost = 0;
                let mut arena = None;
                while !halt.load(Ordering::Relaxed) {
                    let mut a = match arena.take() {
                        Some(a) => a,
                        None => match spin(&free_rx).map_or_else(|| free_rx.recv_timeout(TICK), Ok)
                        {
                            Ok(a) => a,
                            Err(RecvTimeoutError::Timeout) => continue,
                            Err(RecvTimeoutError::Disconnected) => return,
                        },
                    };
                    let counted = recv_events(&sock, &mut a)
                        .and_then(|n| Ok((n, losses.after_recv(&sock, received_bytes(&a))?)));
                    let n = match counted {
                        Ok((n, l)) => {
                            lost += l;
                            n
                        }
                        Err(e) => {
                            let _ = full_tx.send(Err(e));
                            return;
                        }
                    };
                    if n == 0 && lost == 0 {
                        arena = Some(a);
                        continue;
                    }
                    if full_tx.send(Ok((a, n, std::mem::take(&mut lost)))).is_err() {
                        return;
                    }
                }
            })
            .map_err(io)?;
        Ok(EventThread {
            full,
            free,
            stop,
            thread: Some(thread),
            granted,
        })
    }
}

impl EventThread {
    /// Returns what the kernel granted when the stream was opened.
    ///
    /// ```no_run
    /// use conntrack::events::{EventConfig, Events};
    /// let events = Events::open_with(EventConfig::default())?.spawn()?;
    /// assert!(events.granted().recv_buffer > 0);
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn granted(&self) -> &Granted {
        &self.granted
    }

    /// Blocks for the next batch (never empty: it holds events, a loss, or both).
    ///
    /// ```no_run
    /// use conntrack::events::{EventConfig, Events};
    /// let mut events = Events::open_with(EventConfig::default())?.spawn()?;
    /// let got = events.recv()?;
    /// assert!(!got.batch().is_empty());
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn recv(&mut self) -> Result<Received> {
        if let Some(filled) = spin(&self.full) {
            return self.received(filled);
        }
        match self.full.recv() {
            Ok(filled) => self.received(filled),
            Err(_) => Err(Error::io(
                Op::Recv,
                io::Error::from(io::ErrorKind::BrokenPipe),
            )),
        }
    }

    /// Waits at most `timeout` for the next batch; `None` if none came.
    ///
    /// ```no_run
    /// use conntrack::events::{EventConfig, Events};
    /// use std::time::Duration;
    /// let mut events = Events::open_with(EventConfig::default())?.spawn()?;
    /// if let Some(got) = events.recv_timeout(Duration::from_millis(100))? {
    ///     println!("{} datagrams", got.batch().len());
    /// }
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Option<Received>> {
        if let Some(filled) = spin(&self.full) {
            return self.received(filled).map(Some);
        }
        match self.full.recv_timeout(timeout) {
            Ok(filled) => self.received(filled).map(Some),
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => Err(Error::io(
                Op::Recv,
                io::Error::from(io::ErrorKind::BrokenPipe),
            )),
        }
    }

    fn received(&self, filled: Filled) -> Result<Received> {
        let (arena, n, lost) = filled.map_err(|e| Error::io(Op::Recv, e))?;
        Ok(Received {
            arena: Some(arena),
            n,
            lost,
            free: self.free.clone(),
        })
    }
}

impl Drop for EventThread {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Close the batch channel first: a thread blocked handing over a batch then stops.
        let (_, closed) = sync_channel(0);
        drop(std::mem::replace(&mut self.full, closed));
        if let Some(t) = self.thread.take() {
            // The thread looks up at least every TICK; a panic there has nothing to report.
            let _ = t.join();
        }
    }
}

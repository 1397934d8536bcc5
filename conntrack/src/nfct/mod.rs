//! [`Nfct`]: the handle for every ctnetlink query and mutation.

mod config;
mod dump;
mod entry;
mod expect;
mod family;
mod flush;
mod io;
mod stats;

pub use config::Config;
pub use dump::{Diff, DumpKind};
pub use family::Family;

use crate::batch::{BatchOp, Outcome};
use crate::error::{Error, Op, Result};
use crate::exchange::{Exchange, Step};
use crate::flow::DumpFlow;
use crate::kernel::{Features, Reason};
use conntrack_sock::{Arena, DEFAULT_SLOT_LEN, RecvMeta, SockOpt, Socket};
use conntrack_wire::consts::*;
use conntrack_wire::ct::{Status, Tuple};
use conntrack_wire::request::{self, DumpFilter, FlushFilter, Key};
use conntrack_wire::stats::{CpuStats, ExpStats, GlobalStats};
use conntrack_wire::{Conn, ConnDecoder, ConnView, Emitter, Exp, Message, MessageKind, Messages};
use std::ops::{ControlFlow, Deref, DerefMut};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// The buffer of a single-reply exchange: a get reply is built in one default-size skb
/// (`NLMSG_DEFAULT_SIZE`, about 8 KiB), so twice that always holds it.
const REPLY_LEN: usize = 16 * 1024;

/// From this size on, a dump's result vector asks for transparent huge pages.
const HUGE_RESULT: usize = 8 << 20;

/// At most this many entries are reserved ahead of a whole-table owned dump (from the
/// kernel's entry count); a longer table grows the vector as it comes.
const PRESIZE_CAP: usize = 1 << 20;

pub(crate) struct Inner {
    pub(crate) sock: Socket,
    arena: Arena,
    /// The arenas of [`crate::pipeline`], kept between dumps.
    pipeline: Vec<Arena>,
    /// Receives the one datagram of a single-reply exchange: one `recvmsg` into one buffer
    /// costs the kernel less than a `recvmmsg` over the arena's slots.
    reply: Vec<u8>,
    /// Receives a batch's acknowledgements (one datagram each), [`ACK_SLOTS`] per
    /// `recvmmsg`; allocated on the first batch.
    pub(crate) acks: Option<Arena>,
    pub(crate) seq: u32,
    pub(crate) req: Vec<u8>,
    /// An exchange was left before its end (an error, an early stop, a panic in a callback):
    /// the socket may still hold its replies, or the kernel may still be producing a dump.
    /// The next call drains them first.
    pub(crate) dirty: bool,
    /// The layouts of the conntrack messages received last (see [`ConnDecoder`]).
    layouts: Box<ConnDecoder>,
}

/// A handle to the kernel's connection-tracking table (one `NETLINK_NETFILTER` socket).
///
/// Every method is one request/reply exchange, matched by sequence number and port id; the
/// handle may be shared between threads (exchanges are serialised, so no caller ever sees
/// another's reply). A call made from inside one of the handle's own callbacks (a dump
/// closure), on the thread running the outer call, fails with [`Error::Reentrant`] instead
/// of deadlocking. A call that ends early (an error, a stop, a panic in a callback) leaves
/// the handle usable: whatever the kernel still had to send is read and dropped before the
/// next request.
///
/// ```no_run
/// use conntrack::{Family, Nfct};
/// let nfct = Nfct::open()?;
/// for c in nfct.dump(Family::Any)? {
///     println!("{:?} -> {:?}", c.tuple_orig.and_then(|t| t.src), c.tuple_orig.and_then(|t| t.dst));
/// }
/// # Ok::<(), conntrack::Error>(())
/// ```
pub struct Nfct {
    inner: Mutex<Inner>,
    /// The thread holding `inner` (its [`thread_token`]), 0 when none: a call from inside a
    /// callback of the same handle, on the same thread, is refused instead of deadlocking.
    owner: AtomicUsize,
    /// Slots per arena and whether long dumps are pipelined (from the [`Config`]).
    slots: usize,
    pub(crate) pipeline: bool,
    /// Test hook (feature `testing`): a batch drops acknowledgements after this many.
    pub(crate) lose_acks_after: Option<usize>,
    port_id: u32,
}

impl std::fmt::Debug for Nfct {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Nfct")
            .field("port_id", &self.port_id)
            .finish()
    }
}

pub(crate) fn build(
    req: &mut Vec<u8>,
    f: impl Fn(&mut Emitter<'_>),
) -> std::result::Result<(), conntrack_wire::Error> {
    loop {
        let mut e = Emitter::new(req);
        f(&mut e);
        match e.finish() {
            Ok(n) => {
                req.truncate(n);
                return Ok(());
            }
            Err(conntrack_wire::Error::BufferTooSmall { need }) => req.resize(need, 0),
            Err(e) => return Err(e),
        }
    }
}

/// A token for the calling thread, unique among live threads: the address of a thread-local.
fn thread_token() -> usize {
    thread_local!(static TOKEN: u8 = const { 0 });
    TOKEN.with(|t| t as *const u8 as usize)
}

/// The handle's socket state, held by one call; records which thread holds it.
pub(crate) struct Held<'a> {
    guard: MutexGuard<'a, Inner>,
    owner: &'a AtomicUsize,
}

impl Deref for Held<'_> {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.guard
    }
}

impl DerefMut for Held<'_> {
    fn deref_mut(&mut self) -> &mut Inner {
        &mut self.guard
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        // Before the guard unlocks (fields drop after this).
        self.owner.store(0, Ordering::Relaxed);
    }
}

impl Inner {
    /// Reads and drops whatever an exchange left before its end left in the socket. While
    /// the kernel is producing a dump for this socket, its receive queue is never empty (each
    /// read makes the kernel queue the next part, or `NLMSG_DONE`), so reading without
    /// waiting until the queue is empty also ends an abandoned dump.
    fn drain(&mut self) -> std::io::Result<()> {
        self.sock.set_nonblocking(true)?;
        let read = loop {
            match self.sock.recv_batch(&mut self.arena) {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break Ok(()),
                // Replies lost to a full buffer while nobody read: nothing left to drop.
                Err(e) if e.raw_os_error() == Some(nix::errno::Errno::ENOBUFS as i32) => {}
                Err(e) => break Err(e),
            }
        };
        self.sock.set_nonblocking(false)?;
        read?;
        self.dirty = false;
        Ok(())
    }
}

impl Nfct {
    /// Opens a handle in the caller's network namespace with the default [`Config`].
    ///
    /// ```no_run
    /// use conntrack::{BatchOp, Config, Conn, DumpFilter, Exp, Family, FlushFilter, Key, Nfct};
    /// let nfct = Nfct::open()?;
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn open() -> Result<Self> {
        Self::open_with(Config::default())
    }

    /// Opens a handle with `config`.
    ///
    /// ```no_run
    /// use conntrack::{BatchOp, Config, Conn, DumpFilter, Exp, Family, FlushFilter, Key, Nfct};
    /// let nfct = Nfct::open_with(Config::default())?;
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn open_with(config: Config) -> Result<Self> {
        let io = |e| Error::io(Op::Open, e);
        let sock = match &config.netns {
            Some(n) => n.open_socket().map_err(io)?,
            None => Socket::open().map_err(io)?,
        };
        Self::from_socket(sock, config)
    }

    /// Makes a handle of an open socket (`config.netns` is not used: the socket's namespace
    /// is the handle's).
    pub(crate) fn from_socket(sock: Socket, config: Config) -> Result<Self> {
        let io = |e| Error::io(Op::Open, e);
        if let Some(b) = config.recv_buffer {
            sock.set_recv_buffer(b).map_err(io)?;
        }
        // Extended acks where the kernel has them; errors without the echoed request.
        let _ = sock.set_option(SockOpt::ExtAck, true);
        let _ = sock.set_option(SockOpt::CapAck, true);
        sock.set_recv_timeout(Some(config.timeout)).map_err(io)?;
        if let Some(t) = config.send_timeout {
            sock.set_send_timeout(Some(t)).map_err(io)?;
        }
        let arena = Arena::new(config.arena_slots.max(1), DEFAULT_SLOT_LEN).map_err(io)?;
        let port_id = sock.port_id();
        Ok(Nfct {
            inner: Mutex::new(Inner {
                sock,
                arena,
                reply: vec![0; REPLY_LEN],
                pipeline: Vec::new(),
                acks: None,
                seq: 0,
                req: Vec::with_capacity(512),
                layouts: Box::new(ConnDecoder::new()),
                dirty: false,
            }),
            owner: AtomicUsize::new(0),
            slots: config.arena_slots.max(1),
            pipeline: config.pipeline,
            lose_acks_after: config.lose_acks_after,
            port_id,
        })
    }

    /// Returns which ctnetlink filters the running kernel applies, found by trying each on
    /// a scratch table in a network namespace of the probe's own (see [`Features`]),
    /// never from the kernel's release number. The first call probes (a few milliseconds)
    /// and the answer is kept for the process; without `CAP_SYS_ADMIN` the probe cannot run,
    /// nothing is kept, and every feature reads as absent ([`Features::probed`] is false).
    ///
    /// ```no_run
    /// use conntrack::{BatchOp, Config, Conn, DumpFilter, Exp, Family, FlushFilter, Key, Nfct};
    /// let nfct = Nfct::open()?;
    /// if !nfct.features().flush_zone {
    ///     eprintln!("this kernel cannot flush by zone: flush_matching will dump and delete");
    /// }
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn features(&self) -> Features {
        crate::kernel::features()
    }

    /// Turns a netlink option of the handle's socket on or off (go-conntrack's `SetOption`).
    /// `ExtAck` and `CapAck` (on by default: error messages, and errors without the echoed
    /// request), `GetStrictChk` and `NoEnobufs` can be set; the event-socket options
    /// (`BroadcastError`, `ListenAllNsid`) mean nothing on a request socket and are refused
    /// with [`Error::Invalid`] (set them on [`crate::events::Events::socket`]).
    ///
    /// ```no_run
    /// use conntrack::{Nfct, sock::SockOpt};
    /// Nfct::open()?.set_option(SockOpt::GetStrictChk, true)?;
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn set_option(&self, opt: SockOpt, on: bool) -> Result<()> {
        let op = Op::SetOption;
        if matches!(opt, SockOpt::BroadcastError | SockOpt::ListenAllNsid) {
            return Err(Error::Invalid {
                op,
                what: format!(
                    "{opt:?} is an event-socket option; set it on Events::socket() instead"
                ),
            });
        }
        let held = self.lock(op)?;
        held.sock.set_option(opt, on).map_err(|e| Error::io(op, e))
    }

    /// Returns the socket's port id.
    ///
    /// ```no_run
    /// use conntrack::{BatchOp, Config, Conn, DumpFilter, Exp, Family, FlushFilter, Key, Nfct};
    /// println!("port id {}", Nfct::open()?.port_id());
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn port_id(&self) -> u32 {
        self.port_id
    }

    /// Takes the handle's socket for one call of `op`. A call from inside a callback of the
    /// same handle (same thread, lock held) fails with [`Error::Reentrant`] instead of
    /// deadlocking. Whatever an abandoned exchange left in the socket is drained first.
    pub(crate) fn lock(&self, op: Op) -> Result<Held<'_>> {
        let me = thread_token();
        if self.owner.load(Ordering::Relaxed) == me {
            return Err(Error::Reentrant { op });
        }
        // A panic in a callback poisons the mutex; the state it guards stays consistent
        // (the `dirty` flag marks an exchange left midway).
        let guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        self.owner.store(me, Ordering::Relaxed);
        let mut held = Held {
            guard,
            owner: &self.owner,
        };
        if held.dirty {
            held.drain().map_err(|e| Error::io(op, e))?;
        }
        Ok(held)
    }
}

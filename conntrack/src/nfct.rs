//! [`Nfct`]: the handle for every ctnetlink query and mutation.

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
use std::net::IpAddr;
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

/// An address family selector for dumps and flushes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Family {
    /// Every family (`AF_UNSPEC`).
    #[default]
    Any,
    /// IPv4 (`AF_INET`).
    Ipv4,
    /// IPv6 (`AF_INET6`).
    Ipv6,
}

impl Family {
    /// Returns the `AF_*` value.
    ///
    /// ```
    /// use conntrack::{BatchOp, Config, Conn, DumpFilter, Exp, Family, FlushFilter, Key, Nfct};
    /// assert_eq!(Family::Ipv4.af(), 2);
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn af(self) -> u8 {
        match self {
            Family::Any => AF_UNSPEC,
            Family::Ipv4 => AF_INET,
            Family::Ipv6 => AF_INET6,
        }
    }

    /// Returns the family of an address.
    ///
    /// ```
    /// use conntrack::{BatchOp, Config, Conn, DumpFilter, Exp, Family, FlushFilter, Key, Nfct};
    /// assert_eq!(Family::of("::1".parse().unwrap()), Family::Ipv6);
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn of(a: IpAddr) -> Self {
        if a.is_ipv4() {
            Family::Ipv4
        } else {
            Family::Ipv6
        }
    }
}

/// How to open an [`Nfct`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// Network namespace to work in (`/var/run/netns/NAME`, `/proc/PID/ns/net`); `None` for the
    /// caller's own.
    pub netns: Option<crate::Netns>,
    /// Receive buffer to ask for (forced with `SO_RCVBUFFORCE` when allowed); `None` keeps the
    /// system default.
    pub recv_buffer: Option<usize>,
    /// How long to wait for each kernel reply before giving up.
    pub timeout: Duration,
    /// How long one send may block (`SO_SNDTIMEO`; go-conntrack's `WriteTimeout`); `None`
    /// (the default) for no limit. Netlink sends to the kernel are processed as they are
    /// sent and rarely block; a send that times out fails with an I/O error and sends
    /// nothing (a batch reports it as the error that stopped it).
    pub send_timeout: Option<Duration>,
    /// Datagram slots of the receive arena (each 32 KiB; default 8, one `recvmmsg` per
    /// 8 datagrams). More slots save few system calls (a dump datagram holds about a hundred
    /// entries) and cost cache: with the pipeline, three arenas of 16 slots made a 250,000-entry
    /// dump about 2% slower than three of 8, and three of 64 about 10% slower (measured with
    /// `benches/examples/dump_profile.rs`).
    pub arena_slots: usize,
    /// Reads a dump longer than one batch on two threads: a helper thread receives (the
    /// kernel builds a dump inside those reads) while the caller's thread decodes, so the
    /// decode can overlap the kernel's work. The caller's closures still run on its own
    /// thread. Uses three more arenas, allocated on the first long dump. Likewise, a
    /// [`Nfct::batch`] of more than one send builds the next send on a helper thread while the
    /// kernel applies the previous one. On by default where
    /// the process may run on more than one CPU (`std::thread::available_parallelism`); what it
    /// gains is measured in the repository's BENCHMARKS.md (rows "owned Conn", with and
    /// without the pipeline). Off, everything runs on the caller's thread.
    pub pipeline: bool,
    /// Fault injection for tests (feature `testing`): see [`Config::lose_acks_after`].
    lose_acks_after: Option<usize>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            netns: None,
            recv_buffer: Some(4 << 20),
            timeout: Duration::from_secs(30),
            send_timeout: None,
            arena_slots: 8,
            pipeline: std::thread::available_parallelism().is_ok_and(|n| n.get() > 1),
            lose_acks_after: None,
        }
    }
}

impl Config {
    /// Works in the network namespace at `path`.
    ///
    /// ```no_run
    /// use conntrack::{BatchOp, Config, Conn, DumpFilter, Exp, Family, FlushFilter, Key, Nfct};
    /// let nfct = Nfct::open_with(Config::default().netns("/var/run/netns/blue"))?;
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn netns(mut self, path: impl Into<PathBuf>) -> Self {
        self.netns = Some(crate::Netns::Path(path.into()));
        self
    }

    /// Works in the network namespace of the open descriptor `ns` (from
    /// `/proc/PID/ns/net`, or inherited); see [`crate::Netns`].
    ///
    /// ```no_run
    /// let ns = std::fs::File::open("/proc/1/ns/net")?;
    /// let cfg = conntrack::Config::default().netns_fd(ns.into());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn netns_fd(mut self, ns: std::os::fd::OwnedFd) -> Self {
        self.netns = Some(ns.into());
        self
    }

    /// Asks for a receive buffer of `bytes`.
    ///
    /// ```no_run
    /// use conntrack::{BatchOp, Config, Conn, DumpFilter, Exp, Family, FlushFilter, Key, Nfct};
    /// let nfct = Nfct::open_with(Config::default().recv_buffer(16 << 20))?;
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn recv_buffer(mut self, bytes: usize) -> Self {
        self.recv_buffer = Some(bytes);
        self
    }

    /// Sets the reply timeout.
    ///
    /// ```no_run
    /// use conntrack::{BatchOp, Config, Conn, DumpFilter, Exp, Family, FlushFilter, Key, Nfct};
    /// let nfct = Nfct::open_with(Config::default().timeout(std::time::Duration::from_secs(5)))?;
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    /// Sets the send timeout (see the field).
    ///
    /// ```no_run
    /// use conntrack::{Config, Nfct};
    /// let nfct = Nfct::open_with(Config::default().send_timeout(std::time::Duration::from_secs(2)))?;
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn send_timeout(mut self, t: Duration) -> Self {
        self.send_timeout = Some(t);
        self
    }

    /// Turns the two-thread reading of long dumps ([`Config::pipeline`]) on or off.
    ///
    /// ```no_run
    /// use conntrack::{Config, Nfct};
    /// // Long dumps received on a helper thread, decoded on the caller's.
    /// let nfct = Nfct::open_with(Config::default().pipeline(true))?;
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn pipeline(mut self, on: bool) -> Self {
        self.pipeline = on;
        self
    }

    /// Sets the datagram slots of each receive arena (at least 1; see the field).
    ///
    /// ```no_run
    /// use conntrack::{Config, Nfct};
    /// let nfct = Nfct::open_with(Config::default().arena_slots(16))?;
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn arena_slots(mut self, n: usize) -> Self {
        self.arena_slots = n.max(1);
        self
    }

    /// Test hook: a [`Nfct::batch`] reads `n` acknowledgement datagrams, then drops every
    /// further one unread, as if the kernel's acknowledgements were lost; the batch then
    /// meets its receive timeout with operations sent and unanswered. For fault tests only.
    #[cfg(feature = "testing")]
    #[doc(hidden)]
    pub fn lose_acks_after(mut self, n: usize) -> Self {
        self.lose_acks_after = Some(n);
        self
    }
}

/// What [`Nfct::resync`] found changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Diff {
    /// Entries that were not known.
    pub added: Vec<Conn>,
    /// Known entries whose state changed (mark, status, protocol state, labels, ...).
    pub changed: Vec<Conn>,
    /// Known entries that no longer exist.
    pub removed: Vec<Conn>,
}

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

    /// Runs one exchange: builds the request with `f`, sends it, and hands each reply payload to
    /// `on_item` until the kernel ends the exchange.
    pub(crate) fn exchange(
        &self,
        op: Op,
        f: impl Fn(&mut Emitter<'_>, u32),
        mut on_item: impl FnMut(Message<'_>, &mut ConnDecoder) -> Result<()>,
    ) -> Result<()> {
        self.exchange_until(op, f, |m, layouts| {
            on_item(m, layouts).map(ControlFlow::Continue)
        })
    }

    /// [`Nfct::exchange`] whose `on_item` may stop the exchange early (`ControlFlow::Break`):
    /// the rest of the replies are then left for the next call to drain.
    fn exchange_until(
        &self,
        op: Op,
        f: impl Fn(&mut Emitter<'_>, u32),
        mut on_item: impl FnMut(Message<'_>, &mut ConnDecoder) -> Result<ControlFlow<()>>,
    ) -> Result<()> {
        let mut g = self.lock(op)?;
        let inner = &mut *g;
        inner.seq = inner.seq.wrapping_add(1).max(1);
        let seq = inner.seq;
        build(&mut inner.req, |e| f(e, seq)).map_err(|source| Error::Wire { op, source })?;
        let flags = Messages::new(&inner.req)
            .next()
            .and_then(|m| m.ok())
            .map_or(0, |m| m.flags());
        let mut x = Exchange::new(op, seq, self.port_id, flags);
        // Until the exchange ends, the socket holds (or the kernel still makes) its replies:
        // a call that returns early, by error, stop or panic, leaves them to the next drain.
        inner.dirty = true;
        inner.sock.send(&inner.req).map_err(|e| Error::io(op, e))?;
        let mut result = Ok(());
        let layouts = &mut *inner.layouts;
        let mut feed = |d: &[u8], meta: RecvMeta, x: &mut Exchange| -> Result<ControlFlow<()>> {
            if meta.truncated {
                return Err(Error::Wire {
                    op,
                    source: conntrack_wire::Error::Truncated {
                        need: meta.len,
                        have: d.len(),
                    },
                });
            }
            for m in Messages::new(d) {
                let m = m.map_err(|source| Error::Wire { op, source })?;
                match x.feed(m) {
                    Step::Skip | Step::Done => {}
                    Step::Item(m) if result.is_ok() => match on_item(m, layouts) {
                        Ok(ControlFlow::Continue(())) => {}
                        Ok(ControlFlow::Break(())) => return Ok(ControlFlow::Break(())),
                        Err(e) => result = Err(e),
                    },
                    Step::Item(_) => {}
                    Step::Failed(e) => {
                        if result.is_ok() {
                            result = Err(e);
                        }
                    }
                }
            }
            Ok(ControlFlow::Continue(()))
        };
        let mut batches = 0;
        'recv: while !x.finished() {
            // A dump longer than one batch: read the rest on a helper thread.
            if batches == 1 && self.pipeline && x.is_dump() {
                let Inner { sock, pipeline, .. } = inner;
                crate::pipeline::finish(sock, pipeline, self.slots, &mut x, op, &mut feed)?;
                break;
            }
            batches += 1;
            if x.single_reply() {
                let meta = inner
                    .sock
                    .recv(&mut inner.reply)
                    .map_err(|e| Error::io(op, e))?;
                let d = inner.reply.get(..meta.len).unwrap_or(&[]);
                if feed(d, meta, &mut x)?.is_break() {
                    break;
                }
                continue;
            }
            inner
                .sock
                .recv_batch(&mut inner.arena)
                .map_err(|e| Error::io(op, e))?;
            for (d, meta) in inner.arena.iter() {
                if feed(d, meta, &mut x)?.is_break() {
                    break 'recv;
                }
            }
        }
        // A stop leaves the exchange unfinished; a finished one left nothing behind, unless
        // a later datagram of the same batch was not fed (it was read all the same).
        inner.dirty = !x.finished();
        result
    }

    /// Returns the filter as sent to the kernel and the family to dump. A dump is never
    /// refused and never probes: every filtered dump is checked again in user space, so a
    /// filter the kernel ignores costs only speed, and the result is exact on any kernel. IPv6
    /// address matches are left to user space unless a probe found them right (some kernels
    /// invert them), and tuple filters, which the kernel accepts only for one address family,
    /// are left to user space for `Family::Any` unless the filter's addresses name the family.
    fn kernel_filter(&self, family: Family, f: &DumpFilter) -> (Family, DumpFilter) {
        if *f == DumpFilter::default() {
            return (family, *f);
        }
        let mut k = *f;
        let mut family = family;
        // Mark, status, zone and tuple fields are sent whatever the kernel: one that does not
        // know a filter ignores it and returns more, which the user-space check removes. So a
        // dump needs no probe; a probe already made (for a flush) is used for the two cases
        // where sending would return less or fail.
        let ft = crate::kernel::cached().unwrap_or_default();
        if k.status.is_some_and(|(_, m)| m.bits() == 0) {
            k.status = None; // the kernel refuses an empty status mask (EINVAL)
        }
        // Tuple zones: what the kernel compares there has changed between releases, and a
        // tuple zone next to `CTA_ZONE` is refused (EINVAL); they are matched in user space.
        for t in [&mut k.orig, &mut k.reply].into_iter().flatten() {
            t.zone = None;
        }
        if family == Family::Any && (k.orig.is_some() || k.reply.is_some()) {
            let named = [&k.orig, &k.reply]
                .into_iter()
                .flatten()
                .find_map(|t| t.src.or(t.dst));
            match named {
                Some(a) => family = Family::of(a),
                None => {
                    k.orig = None;
                    k.reply = None;
                }
            }
        }
        // IPv6 addresses: some kernels invert the match (they would return less).
        if !ft.dump_tuple_ipv6 {
            for t in [&mut k.orig, &mut k.reply].into_iter().flatten() {
                if t.src.is_some_and(|a| a.is_ipv6()) {
                    t.src = None;
                }
                if t.dst.is_some_and(|a| a.is_ipv6()) {
                    t.dst = None;
                }
            }
        }
        // A proto-less port or ICMP filter is refused by the kernel (EINVAL): keep it in user space.
        for t in [&mut k.orig, &mut k.reply] {
            if t.is_some_and(|t| t.proto.num.is_none() && t.proto != Default::default()) {
                *t = None;
            }
        }
        // `CTA_FILTER_ZONE` only where the kernel knows it (it refuses it otherwise).
        k.filter_zone &= ft.filter_zone_attr && k.zone.is_some();
        for t in [&mut k.orig, &mut k.reply] {
            if *t == Some(Tuple::default()) {
                *t = None;
            }
        }
        (family, k)
    }

    /// Streams a dump as borrowed views straight out of the receive arena: no copy and no
    /// allocation per entry, and memory stays constant whatever the table size. Entries are
    /// filtered in the kernel where it can, and always checked again in user space, so `f`
    /// sees exactly the matching entries.
    ///
    /// `f` returns `()` to go on, or a `ControlFlow` whose `Break` stops the dump at that
    /// entry (see [`DumpFlow`]). `f` must not call this handle: such a call fails with
    /// [`Error::Reentrant`] (use a second `Nfct`, or act after the dump returns). A panic in
    /// `f` propagates to the caller; the handle stays usable.
    ///
    /// ```no_run
    /// use conntrack::{BatchOp, Config, Conn, DumpFilter, Exp, Family, FlushFilter, Key, Nfct};
    /// let mut tcp = 0;
    /// Nfct::open()?.dump_with(Family::Any, &DumpFilter::default(), |ct| {
    ///     tcp += usize::from(ct.tuple_orig().and_then(|t| t.proto_num()) == Some(6));
    /// })?;
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn dump_with<R: DumpFlow>(
        &self,
        family: Family,
        filter: &DumpFilter,
        mut f: impl FnMut(&ConnView<'_>) -> R,
    ) -> Result<()> {
        let (kfamily, kf) = self.kernel_filter(family, filter);
        let exact = *filter != DumpFilter::default();
        self.exchange_until(
            Op::Dump,
            |e, seq| request::ct_dump(e, seq, kfamily.af(), &kf),
            |m, layouts| {
                if let MessageKind::Conntrack(_) = m.kind() {
                    let v = layouts.conn(&m).map_err(|source| Error::Wire {
                        op: Op::Dump,
                        source,
                    })?;
                    if !exact || filter.matches(&v) {
                        return Ok(f(&v).flow());
                    }
                }
                Ok(ControlFlow::Continue(()))
            },
        )
    }

    /// Dumps the table of `family` into owned entries.
    ///
    /// ```no_run
    /// use conntrack::{BatchOp, Config, Conn, DumpFilter, Exp, Family, FlushFilter, Key, Nfct};
    /// for c in Nfct::open()?.dump(Family::Ipv4)? {
    ///     println!("{:?}", c.tuple_orig);
    /// }
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn dump(&self, family: Family) -> Result<Vec<Conn>> {
        self.dump_filtered(family, &DumpFilter::default())
    }

    /// Dumps the entries of `family` that match `filter` (applied in the kernel where possible,
    /// and checked again in user space).
    ///
    /// ```no_run
    /// use conntrack::{BatchOp, Config, Conn, DumpFilter, Exp, Family, FlushFilter, Key, Nfct};
    /// let f = DumpFilter { mark: Some((7, 0xff)), ..Default::default() };
    /// let marked = Nfct::open()?.dump_filtered(Family::Any, &f)?;
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn dump_filtered(&self, family: Family, filter: &DumpFilter) -> Result<Vec<Conn>> {
        // For a whole-table dump, size the vector once from the kernel's entry count (one
        // short round trip): growing it by doubling would copy every entry again and fault in
        // twice the memory. Capacity nobody writes to costs address space, not memory. The
        // reservation is capped, and every growth is fallible: a table too large for memory
        // is an error, not an abort.
        let expect = if *filter == DumpFilter::default() {
            self.stats().ok().and_then(|s| s.entries).unwrap_or(0) as usize
        } else {
            0
        }
        .min(PRESIZE_CAP);
        let mut v = Vec::new();
        if v.try_reserve_exact(expect + expect / 32).is_ok()
            && std::mem::size_of_val(v.spare_capacity_mut()) >= HUGE_RESULT
        {
            conntrack_sock::advise_huge_pages(v.spare_capacity_mut());
        }
        let mut out_of_memory = false;
        self.dump_with(family, filter, |c| {
            if v.len() == v.capacity() && v.try_reserve(v.len().max(1024)).is_err() {
                out_of_memory = true;
                return ControlFlow::Break(());
            }
            v.push(Conn::parse(c));
            ControlFlow::Continue(())
        })?;
        if out_of_memory {
            return Err(Error::io(
                Op::Dump,
                std::io::Error::new(
                    std::io::ErrorKind::OutOfMemory,
                    format!("no memory for more than {} entries", v.len()),
                ),
            ));
        }
        Ok(v)
    }

    /// Counts the entries of `family` (a dump that decodes nothing but the message headers).
    ///
    /// ```no_run
    /// use conntrack::{BatchOp, Config, Conn, DumpFilter, Exp, Family, FlushFilter, Key, Nfct};
    /// println!("{} entries", Nfct::open()?.count(Family::Any)?);
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn count(&self, family: Family) -> Result<usize> {
        let mut n = 0;
        self.exchange(
            Op::Dump,
            |e, seq| request::ct_dump(e, seq, family.af(), &DumpFilter::default()),
            |m, _| {
                n += usize::from(matches!(m.kind(), MessageKind::Conntrack(_)));
                Ok(())
            },
        )?;
        Ok(n)
    }

    pub(crate) fn check_key(op: Op, k: &Key) -> Result<u8> {
        Self::check_tuple(op, &k.tuple)
    }

    /// Checks that a request's tuple names one entry: addresses of one family, a protocol,
    /// and both ports where the protocol has them; returns the address family.
    fn check_tuple(op: Op, t: &Tuple) -> Result<u8> {
        let (Some(src), Some(dst), Some(proto)) = (t.src, t.dst, t.proto.num) else {
            return Err(Error::Invalid {
                op,
                what: "the tuple needs a source, a destination and a protocol".into(),
            });
        };
        if src.is_ipv4() != dst.is_ipv4() {
            return Err(Error::Invalid {
                op,
                what: "source and destination are of different families".into(),
            });
        }
        let ports = matches!(
            proto,
            IPPROTO_TCP | IPPROTO_UDP | IPPROTO_SCTP | IPPROTO_DCCP | IPPROTO_UDPLITE
        );
        if ports && (t.proto.src_port.is_none() || t.proto.dst_port.is_none()) {
            return Err(Error::Invalid {
                op,
                what: format!("protocol {proto} needs both ports in the tuple"),
            });
        }
        Ok(Family::of(src).af())
    }

    /// Gets one entry by tuple (and zone); `key.id`, if set, must match too.
    ///
    /// ```no_run
    /// use conntrack::{BatchOp, Config, Conn, DumpFilter, Exp, Family, FlushFilter, Key, Nfct};
    /// let c = Conn::udp("10.0.0.1:5353".parse().unwrap(), "10.0.0.2:53".parse().unwrap());
    /// let found = Nfct::open()?.get(&Key { tuple: c.tuple_orig.unwrap(), ..Default::default() })?;
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn get(&self, key: &Key) -> Result<Conn> {
        self.get_with(key, Conn::parse)
    }

    /// Gets one entry by its tuple and hands its borrowed view to `f`, whose result is
    /// returned: no allocation and no copy of the entry, for hot paths that read a few fields
    /// (the state, a mark, the counters). Errors as [`Nfct::get`].
    ///
    /// ```no_run
    /// use conntrack::{BatchOp, Config, Conn, DumpFilter, Exp, Family, FlushFilter, Key, Nfct};
    /// let c = Conn::tcp("10.0.0.1:1234".parse().unwrap(), "10.0.0.2:80".parse().unwrap());
    /// let key = Key { tuple: c.tuple_orig.unwrap(), ..Default::default() };
    /// let mark = Nfct::open()?.get_with(&key, |v| v.mark())?;
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn get_with<R>(&self, key: &Key, f: impl FnOnce(&ConnView<'_>) -> R) -> Result<R> {
        let af = Self::check_key(Op::Get, key)?;
        let mut f = Some(f);
        let mut out = None;
        self.exchange(
            Op::Get,
            |e, seq| request::ct_get(e, seq, af, key),
            |m, layouts| {
                let v = layouts.conn(&m).map_err(|source| Error::Wire {
                    op: Op::Get,
                    source,
                })?;
                if let Some(f) = f.take() {
                    out = Some(f(&v));
                }
                Ok(())
            },
        )?;
        out.ok_or(Error::NotFound { op: Op::Get })
    }

    /// Gets one entry by its id (`CTA_ID`). The kernel has no lookup by id, so this walks a dump.
    ///
    /// ```no_run
    /// use conntrack::{BatchOp, Config, Conn, DumpFilter, Exp, Family, FlushFilter, Key, Nfct};
    /// let c = Nfct::open()?.get_by_id(1234)?;
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn get_by_id(&self, id: u32) -> Result<Conn> {
        let mut out = None;
        self.dump_with(Family::Any, &DumpFilter::default(), |c| {
            if c.id() != Some(id) {
                return ControlFlow::Continue(());
            }
            out = Some(Conn::parse(c));
            ControlFlow::Break(())
        })?;
        out.ok_or(Error::NotFound { op: Op::Get })
    }

    pub(crate) fn check_conn(op: Op, c: &Conn, create: bool) -> Result<u8> {
        let orig = c.tuple_orig.as_ref().or(c.tuple_reply.as_ref());
        let Some(t) = orig else {
            return Err(Error::Invalid {
                op,
                what: "the entry needs an original or reply tuple".into(),
            });
        };
        let af = Self::check_tuple(op, t)?;
        if let (Some(o), Some(r)) = (&c.tuple_orig, &c.tuple_reply) {
            if o.family() != r.family() || o.proto.num != r.proto.num {
                return Err(Error::Invalid {
                    op,
                    what: "original and reply tuples disagree on family or protocol".into(),
                });
            }
        }
        if create {
            if c.tuple_orig.is_none() || c.tuple_reply.is_none() {
                return Err(Error::Invalid {
                    op,
                    what: "a create needs both the original and the reply tuple".into(),
                });
            }
            if c.timeout.is_none() {
                return Err(Error::Invalid {
                    op,
                    what: "a create needs a timeout".into(),
                });
            }
            if !c.status.unwrap_or_default().contains(Status::CONFIRMED) {
                return Err(Error::Invalid {
                    op,
                    what: "a create needs IPS_CONFIRMED in its status".into(),
                });
            }
        }
        Ok(af)
    }

    /// Creates an entry (it must not exist). See [`Conn::flow`] for building one.
    ///
    /// ```no_run
    /// use conntrack::{BatchOp, Config, Conn, DumpFilter, Exp, Family, FlushFilter, Key, Nfct};
    /// let c = Conn::udp("10.0.0.1:5353".parse().unwrap(), "10.0.0.2:53".parse().unwrap()).with_timeout(30);
    /// Nfct::open()?.create(&c)?;
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn create(&self, c: &Conn) -> Result<()> {
        let af = Self::check_conn(Op::Create, c, true)?;
        self.exchange(
            Op::Create,
            |e, seq| request::ct_create(e, seq, af, c),
            |_, _| Ok(()),
        )
    }

    /// Updates an existing entry, named by its tuple: the fields set in `c` are changed.
    ///
    /// ```no_run
    /// use conntrack::{Conn, Nfct, Tuple};
    /// let t = Tuple::flow(17, "10.0.0.1:5353".parse().unwrap(), "10.0.0.2:53".parse().unwrap());
    /// Nfct::open()?.update(&Conn::for_tuple(t).with_mark(9))?;
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn update(&self, c: &Conn) -> Result<()> {
        let af = Self::check_conn(Op::Update, c, false)?;
        self.exchange(
            Op::Update,
            |e, seq| request::ct_update(e, seq, af, c),
            |_, _| Ok(()),
        )
    }

    /// Deletes the entry named by `key` (tuple, zone, and optionally id).
    ///
    /// ```no_run
    /// use conntrack::{BatchOp, Config, Conn, DumpFilter, Exp, Family, FlushFilter, Key, Nfct};
    /// let c = Conn::udp("10.0.0.1:5353".parse().unwrap(), "10.0.0.2:53".parse().unwrap());
    /// Nfct::open()?.delete(&Key { tuple: c.tuple_orig.unwrap(), ..Default::default() })?;
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn delete(&self, key: &Key) -> Result<()> {
        let af = Self::check_key(Op::Delete, key)?;
        self.exchange(
            Op::Delete,
            |e, seq| request::ct_delete(e, seq, af, key),
            |_, _| Ok(()),
        )
    }

    /// Deletes the entry with id `id`: its tuple is looked up in a dump and the delete carries
    /// both tuple and id, so a reused tuple is never deleted by mistake.
    ///
    /// ```no_run
    /// use conntrack::{BatchOp, Config, Conn, DumpFilter, Exp, Family, FlushFilter, Key, Nfct};
    /// Nfct::open()?.delete_by_id(1234)?;
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn delete_by_id(&self, id: u32) -> Result<()> {
        let c = self.get_by_id(id).map_err(|e| match e {
            Error::NotFound { .. } => Error::NotFound { op: Op::Delete },
            e => e,
        })?;
        let (Some(tuple), zone) = (c.tuple_orig, c.zone) else {
            return Err(Error::NotFound { op: Op::Delete });
        };
        self.delete(&Key {
            tuple,
            zone,
            id: Some(id),
            ..Default::default()
        })
    }

    /// Refuses a flush the running kernel would widen (see [`Features::flush_honours`]). A
    /// flush of everything needs no probe.
    fn check_flush(&self, family: Family, filter: &FlushFilter) -> Result<()> {
        if family == Family::Any && filter.is_empty() {
            return Ok(());
        }
        let (ft, why) = match crate::kernel::probed() {
            Ok(ft) => (ft, None),
            Err(e) => (Features::default(), Some(e)),
        };
        ft.flush_honours(family, filter)
            .map_err(|feature| Error::Unsupported {
                op: Op::Flush,
                feature,
                reason: match why {
                    None => Reason::Absent,
                    Some(e) => Reason::NotProbed(Box::new(e)),
                },
            })
    }

    /// Flushes every entry of `family` (`Family::Any`: the whole table). A flush of one
    /// family is refused with [`Error::Unsupported`] where the kernel would flush every family
    /// (see [`Nfct::features`]); [`Nfct::flush_matching`] is exact on every kernel.
    ///
    /// ```no_run
    /// use conntrack::{BatchOp, Config, Conn, DumpFilter, Exp, Family, FlushFilter, Key, Nfct};
    /// Nfct::open()?.flush(Family::Ipv6)?;
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn flush(&self, family: Family) -> Result<()> {
        let f = FlushFilter::default();
        self.check_flush(family, &f)?;
        self.exchange(
            Op::Flush,
            |e, seq| request::ct_flush(e, seq, family.af(), &f),
            |_, _| Ok(()),
        )
    }

    /// Flushes the entries of `family` that match `filter` in the kernel, in one request. A
    /// filter part the running kernel does not honour on a flush (it would flush more: see
    /// [`Nfct::features`]) is refused with [`Error::Unsupported`], and so is every filter when
    /// the kernel could not be probed; [`Nfct::flush_matching`] deletes the same selection
    /// exactly on every kernel, entry by entry. An empty filter is refused with
    /// [`Error::Invalid`] (use [`Nfct::flush`]). The zone is the entry's zone id whichever
    /// directions it applies to, as for [`DumpFilter::zone`].
    ///
    /// ```no_run
    /// use conntrack::{BatchOp, Config, Conn, DumpFilter, Exp, Family, FlushFilter, Key, Nfct};
    /// Nfct::open()?.flush_filtered(Family::Any, &FlushFilter { zone: Some(3), ..Default::default() })?;
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn flush_filtered(&self, family: Family, filter: &FlushFilter) -> Result<()> {
        let op = Op::Flush;
        if filter.is_empty() {
            return Err(Error::Invalid {
                op,
                what: "an empty flush filter would flush everything; call flush()".into(),
            });
        }
        self.check_flush(family, filter)?;
        self.exchange(
            op,
            |e, seq| request::ct_flush(e, seq, family.af(), filter),
            |_, _| Ok(()),
        )
    }

    /// Deletes every entry of `family` matching `filter`, tuple fields included (which the
    /// kernel cannot flush by): a filtered dump, then a batch of deletes by tuple, zone and
    /// id (so that an entry whose tuple was reused meanwhile is never deleted). Returns each
    /// selected entry's key with its [`Outcome`]; an entry that vanished between the dump and
    /// its delete is `Outcome::Failed(Error::NotFound { .. })`. `Err` means nothing was
    /// deleted (the dump failed, or the batch could not start).
    ///
    /// ```no_run
    /// use conntrack::{BatchOp, Config, Conn, DumpFilter, Exp, Family, FlushFilter, Key, Nfct};
    /// let mut t = conntrack::wire::ct::Tuple::default();
    /// t.proto.num = Some(17);
    /// t.proto.dst_port = Some(53);
    /// let done = Nfct::open()?.flush_matching(Family::Any, &DumpFilter { orig: Some(t), ..Default::default() })?;
    /// let deleted = done.iter().filter(|(_, o)| o.is_applied()).count();
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn flush_matching(
        &self,
        family: Family,
        filter: &DumpFilter,
    ) -> Result<Vec<(Key, Outcome)>> {
        let mut ops = Vec::new();
        self.dump_with(family, filter, |c| {
            if let Some(t) = c.tuple_orig() {
                ops.push(BatchOp::Delete(Key {
                    tuple: Tuple::parse(&t),
                    zone: c.zone(),
                    id: c.id(),
                    ..Default::default()
                }));
            }
        })?;
        let report = self.batch(&ops);
        if report
            .outcomes
            .iter()
            .all(|o| matches!(o, Outcome::NotSent))
        {
            if let Some(e) = report.stopped {
                return Err(e);
            }
        }
        Ok(ops
            .into_iter()
            .zip(report.outcomes)
            .filter_map(|(op, o)| match op {
                BatchOp::Delete(k) => Some((k, o)),
                _ => None,
            })
            .collect())
    }

    /// Dumps `family` and reports what changed since `known` (the caller's last view of the
    /// table, by entry id), then brings `known` up to date. This is how an event consumer
    /// recovers after an [`crate::events::Event::Overrun`]: every entry created, changed or
    /// destroyed while events were lost shows up in the returned [`Diff`]. Timeouts, counters,
    /// timestamps and the use count change constantly and are not counted as changes.
    /// [`crate::Mirror`] keeps such a map from a stream and calls this for you; it keys entries
    /// by tuple and zone, since ids are 32-bit hashes that two live entries may share (about
    /// one pair in 100,000 entries), in which case `known` holds only one of them.
    ///
    /// ```no_run
    /// use conntrack::{BatchOp, Config, Conn, DumpFilter, Exp, Family, FlushFilter, Key, Nfct};
    /// let nfct = Nfct::open()?;
    /// let mut known = std::collections::HashMap::new();
    /// let diff = nfct.resync(Family::Any, &mut known)?;
    /// println!("{} new, {} changed, {} gone", diff.added.len(), diff.changed.len(), diff.removed.len());
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn resync(
        &self,
        family: Family,
        known: &mut std::collections::HashMap<u32, Conn>,
    ) -> Result<Diff> {
        fn stable(c: &Conn) -> Conn {
            let mut c = c.clone();
            c.timeout = None;
            c.counters_orig = None;
            c.counters_reply = None;
            c.timestamp = None;
            c.use_count = None;
            c
        }
        let mut seen = std::collections::HashSet::new();
        let mut diff = Diff::default();
        self.dump_with(family, &DumpFilter::default(), |v| {
            let Some(id) = v.id() else { return };
            seen.insert(id);
            let c = Conn::parse(v);
            match known.get(&id) {
                None => diff.added.push(c.clone()),
                Some(old) if stable(old) != stable(&c) => diff.changed.push(c.clone()),
                Some(_) => {}
            }
            known.insert(id, c);
        })?;
        let gone: Vec<u32> = known
            .keys()
            .filter(|id| !seen.contains(id))
            .copied()
            .collect();
        for id in gone {
            if let Some(c) = known.remove(&id) {
                let fam_ok = family == Family::Any || c.family() == Some(family.af());
                if fam_ok {
                    diff.removed.push(c);
                } else {
                    known.insert(id, c);
                }
            }
        }
        Ok(diff)
    }

    /// Returns the per-CPU conntrack statistics, indexed by CPU.
    ///
    /// ```no_run
    /// use conntrack::{BatchOp, Config, Conn, DumpFilter, Exp, Family, FlushFilter, Key, Nfct};
    /// for (cpu, s) in Nfct::open()?.stats_cpu()? {
    ///     println!("cpu {cpu}: {:?} inserted", s.insert);
    /// }
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn stats_cpu(&self) -> Result<Vec<(u16, CpuStats)>> {
        let mut v = Vec::new();
        self.exchange(Op::Stats, request::ct_stats_cpu, |m, _| {
            let s = m.cpu_stats().map_err(|source| Error::Wire {
                op: Op::Stats,
                source,
            })?;
            v.push((m.res_id().unwrap_or(0), CpuStats::parse(&s)));
            Ok(())
        })?;
        Ok(v)
    }

    /// Returns the global statistics: the number of entries and the table's maximum.
    ///
    /// ```no_run
    /// use conntrack::{BatchOp, Config, Conn, DumpFilter, Exp, Family, FlushFilter, Key, Nfct};
    /// let g = Nfct::open()?.stats()?;
    /// println!("{:?} of {:?}", g.entries, g.max_entries);
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn stats(&self) -> Result<GlobalStats> {
        let mut out = None;
        self.exchange(Op::Stats, request::ct_stats, |m, _| {
            let s = m.global_stats().map_err(|source| Error::Wire {
                op: Op::Stats,
                source,
            })?;
            out = Some(GlobalStats::parse(&s));
            Ok(())
        })?;
        out.ok_or(Error::Kernel {
            op: Op::Stats,
            errno: nix::errno::Errno::ENODATA as i32,
            message: None,
        })
    }

    /// Returns the per-CPU expectation statistics, indexed by CPU.
    ///
    /// ```no_run
    /// use conntrack::{BatchOp, Config, Conn, DumpFilter, Exp, Family, FlushFilter, Key, Nfct};
    /// let per_cpu = Nfct::open()?.exp_stats_cpu()?;
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn exp_stats_cpu(&self) -> Result<Vec<(u16, ExpStats)>> {
        let mut v = Vec::new();
        self.exchange(Op::Stats, request::exp_stats_cpu, |m, _| {
            let s = m.exp_stats().map_err(|source| Error::Wire {
                op: Op::Stats,
                source,
            })?;
            v.push((m.res_id().unwrap_or(0), ExpStats::parse(&s)));
            Ok(())
        })?;
        Ok(v)
    }

    /// Dumps the expectation table of `family`.
    ///
    /// ```no_run
    /// use conntrack::{BatchOp, Config, Conn, DumpFilter, Exp, Family, FlushFilter, Key, Nfct};
    /// for x in Nfct::open()?.exp_dump(Family::Any)? {
    ///     println!("{:?} by {:?}", x.tuple, x.helper_name);
    /// }
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn exp_dump(&self, family: Family) -> Result<Vec<Exp>> {
        let mut v = Vec::new();
        self.exchange(
            Op::ExpDump,
            |e, seq| request::exp_dump(e, seq, family.af()),
            |m, _| {
                if let MessageKind::Expect(_) = m.kind() {
                    let x = m.exp().map_err(|source| Error::Wire {
                        op: Op::ExpDump,
                        source,
                    })?;
                    v.push(Exp::parse(&x));
                }
                Ok(())
            },
        )?;
        Ok(v)
    }

    fn tuple_af(op: Op, t: &Tuple) -> Result<u8> {
        t.family().ok_or_else(|| Error::Invalid {
            op,
            what: "the expected tuple needs addresses".into(),
        })
    }

    /// Gets the expectation for the expected tuple `tuple` in `zone`.
    ///
    /// ```no_run
    /// use conntrack::{BatchOp, Config, Conn, DumpFilter, Exp, Family, FlushFilter, Key, Nfct};
    /// let master = Conn::tcp("10.0.0.1:40000".parse().unwrap(), "10.0.0.2:21".parse().unwrap());
    /// let x = Exp::reverse_to_port(&master.tuple_orig.unwrap(), 50000, 60);
    /// let found = Nfct::open()?.exp_get(&x.tuple.unwrap(), None)?;
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn exp_get(&self, tuple: &Tuple, zone: Option<u16>) -> Result<Exp> {
        let af = Self::tuple_af(Op::ExpGet, tuple)?;
        let mut out = None;
        self.exchange(
            Op::ExpGet,
            |e, seq| request::exp_get(e, seq, af, tuple, zone),
            |m, _| {
                let x = m.exp().map_err(|source| Error::Wire {
                    op: Op::ExpGet,
                    source,
                })?;
                out = Some(Exp::parse(&x));
                Ok(())
            },
        )?;
        out.ok_or(Error::NotFound { op: Op::ExpGet })
    }

    /// Creates an expectation. Its master (`x.master`) must exist and have a helper.
    ///
    /// ```no_run
    /// use conntrack::{BatchOp, Config, Conn, DumpFilter, Exp, Family, FlushFilter, Key, Nfct};
    /// let master = Conn::tcp("10.0.0.1:40000".parse().unwrap(), "10.0.0.2:21".parse().unwrap());
    /// Nfct::open()?.exp_create(&Exp::reverse_to_port(&master.tuple_orig.unwrap(), 50000, 60))?;
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn exp_create(&self, x: &Exp) -> Result<()> {
        let op = Op::ExpCreate;
        let (Some(master), Some(tuple), Some(_)) = (&x.master, &x.tuple, &x.mask) else {
            return Err(Error::Invalid {
                op,
                what: "an expectation needs master, tuple and mask".into(),
            });
        };
        let af = Self::tuple_af(op, tuple)?;
        if master.family() != Some(af) {
            return Err(Error::Invalid {
                op,
                what: "master and expected tuple are of different families".into(),
            });
        }
        self.exchange(
            op,
            |e, seq| request::exp_create(e, seq, af, x),
            |_, _| Ok(()),
        )
    }

    /// Deletes the expectation for the expected tuple `tuple` in `zone`.
    ///
    /// ```no_run
    /// use conntrack::{BatchOp, Config, Conn, DumpFilter, Exp, Family, FlushFilter, Key, Nfct};
    /// let master = Conn::tcp("10.0.0.1:40000".parse().unwrap(), "10.0.0.2:21".parse().unwrap());
    /// let x = Exp::reverse_to_port(&master.tuple_orig.unwrap(), 50000, 60);
    /// Nfct::open()?.exp_delete(&x.tuple.unwrap(), None)?;
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn exp_delete(&self, tuple: &Tuple, zone: Option<u16>) -> Result<()> {
        let af = Self::tuple_af(Op::ExpDelete, tuple)?;
        self.exchange(
            Op::ExpDelete,
            |e, seq| request::exp_delete(e, seq, af, tuple, zone, None),
            |_, _| Ok(()),
        )
    }

    /// Flushes the expectation table of `family`. The kernel's expectation flush removes
    /// every expectation whatever the family it is sent with (a test checks this against the
    /// running kernel), so for `Family::Any` one flush request empties the table and the
    /// returned list is empty, while for one family the expectations of that family are
    /// dumped and deleted one by one (by tuple and zone), and each comes back with its
    /// [`Outcome`]: the other family's expectations are never touched. An expectation that
    /// vanished between the dump and its delete is `Outcome::Failed(Error::NotFound { .. })`.
    ///
    /// ```no_run
    /// use conntrack::{BatchOp, Config, Conn, DumpFilter, Exp, Family, FlushFilter, Key, Nfct};
    /// Nfct::open()?.exp_flush(Family::Any)?;
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn exp_flush(&self, family: Family) -> Result<Vec<(Exp, Outcome)>> {
        if family == Family::Any {
            self.exchange(
                Op::ExpFlush,
                |e, seq| request::exp_flush(e, seq, family.af()),
                |_, _| Ok(()),
            )?;
            return Ok(Vec::new());
        }
        let mut done = Vec::new();
        for x in self.exp_dump(family)? {
            // The kernel's dump already keeps to the family; check it again all the same.
            let Some(t) = x.tuple.filter(|t| t.family() == Some(family.af())) else {
                continue;
            };
            let outcome = match self.exp_delete(&t, x.zone) {
                Ok(()) => Outcome::Applied,
                Err(e @ Error::Reentrant { .. }) => return Err(e),
                Err(e) => Outcome::Failed(e),
            };
            done.push((x, outcome));
        }
        Ok(done)
    }
}

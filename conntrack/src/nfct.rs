//! [`Nfct`]: the handle for every ctnetlink query and mutation.

use crate::error::{Error, Op, Result};
use crate::exchange::{Exchange, Step};
use crate::filter;
use crate::kernel::{Features, KernelVersion};
use conntrack_sock::{Arena, DEFAULT_SLOT_LEN, RecvMeta, SockOpt, Socket};
use conntrack_wire::consts::*;
use conntrack_wire::ct::{Status, Tuple};
use conntrack_wire::request::{self, DumpFilter, FlushFilter, Key};
use conntrack_wire::stats::{CpuStats, ExpStats, GlobalStats};
use conntrack_wire::{Conn, ConnLayouts, ConnView, Emitter, Exp, Message, MessageKind, Messages};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::mpsc::sync_channel;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// The buffer of a single-reply exchange: a get reply is built in one default-size skb
/// (`NLMSG_DEFAULT_SIZE`, about 8 KiB), so twice that always holds it.
const REPLY_LEN: usize = 16 * 1024;

/// Acknowledgements received per `recvmmsg` by a batch, into slots of [`ACK_SLOT`] bytes (an
/// acknowledgement is 36 bytes with `NETLINK_CAP_ACK`; an error's extended ack adds a message
/// and an offset, far below the slot).
const ACK_SLOTS: usize = 256;
const ACK_SLOT: usize = 4096;

/// From this size on, a dump's result vector asks for transparent huge pages.
const HUGE_RESULT: usize = 8 << 20;

/// Room kept free in a batch's send for the next message: a create with every attribute set
/// is well under this; a longer one makes the batch retry with fewer messages per send.
const SOFT_MESSAGE_LEN: usize = 2048;

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
    /// ```no_run
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
    /// ```no_run
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
    pub netns: Option<PathBuf>,
    /// Receive buffer to ask for (forced with `SO_RCVBUFFORCE` when allowed); `None` keeps the
    /// system default.
    pub recv_buffer: Option<usize>,
    /// How long to wait for each kernel reply before giving up.
    pub timeout: Duration,
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
    /// the process may run on more than one CPU (`std::thread::available_parallelism`): on the
    /// 2-CPU machine of BENCHMARKS.md, the owned dump of 250,000 entries took 1.40x the raw
    /// single-threaded reader's time on one thread and 1.04x with the pipeline. Off,
    /// everything runs on the caller's thread.
    pub pipeline: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            netns: None,
            recv_buffer: Some(4 << 20),
            timeout: Duration::from_secs(30),
            arena_slots: 8,
            pipeline: std::thread::available_parallelism().is_ok_and(|n| n.get() > 1),
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
        self.netns = Some(path.into());
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
}

/// Builds the sends of a batch: from `plan[start]` on, as many requests as one send may
/// carry (at most `budget`, within `max_send` bytes).
struct Chunker<'a> {
    /// `(index into ops, address family)` of each operation to send.
    plan: &'a [(usize, u8)],
    ops: &'a [BatchOp],
    /// The sequence number of `plan[0]`.
    base: u32,
    budget: usize,
    max_send: usize,
}

impl Chunker<'_> {
    /// Builds the send starting at `plan[start]` into `buf`; returns how many requests it holds.
    fn emit(&self, buf: &mut Vec<u8>, start: usize) -> Result<usize> {
        let mut take = self.budget.min(self.plan.len() - start);
        // Room for a whole send, so that `build` emits it once (a buffer shorter than the
        // send would be grown and the send emitted again).
        if buf.len() < self.max_send + SOFT_MESSAGE_LEN {
            buf.resize(self.max_send + SOFT_MESSAGE_LEN, 0);
        }
        loop {
            let emitted = std::cell::Cell::new(0usize);
            build(buf, |e| {
                emitted.set(0);
                for (i, &(idx, af)) in self.plan[start..start + take].iter().enumerate() {
                    // Stop before a message that may not fit; one always goes.
                    if i > 0 && e.len() + SOFT_MESSAGE_LEN > self.max_send {
                        break;
                    }
                    let seq = self.base.wrapping_add((start + i) as u32);
                    match &self.ops[idx] {
                        BatchOp::Create(c) => request::ct_create(e, seq, af, c),
                        BatchOp::Update(c) => request::ct_update(e, seq, af, c),
                        BatchOp::Delete(k) => request::ct_delete(e, seq, af, k),
                    }
                    emitted.set(i + 1);
                }
            })
            .map_err(|source| Error::Wire {
                op: Op::Create,
                source,
            })?;
            let n = emitted.get();
            if buf.len() > self.max_send && n > 1 {
                // Messages longer than the soft estimate: send fewer.
                take = n / 2;
                continue;
            }
            return Ok(n);
        }
    }
}

/// One mutation of a [`Nfct::batch`].
#[derive(Debug, Clone)]
pub enum BatchOp {
    /// Create an entry.
    Create(Conn),
    /// Update an entry.
    Update(Conn),
    /// Delete the entry named by a key.
    Delete(Key),
}

impl BatchOp {
    /// The operation, for errors.
    fn op(&self) -> Op {
        match self {
            BatchOp::Create(_) => Op::Create,
            BatchOp::Update(_) => Op::Update,
            BatchOp::Delete(_) => Op::Delete,
        }
    }
}

/// What [`Nfct::resync`] found changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diff {
    /// Entries that were not known.
    pub added: Vec<Conn>,
    /// Known entries whose state changed (mark, status, protocol state, labels, ...).
    pub changed: Vec<Conn>,
    /// Known entries that no longer exist.
    pub removed: Vec<Conn>,
}

struct Inner {
    sock: Socket,
    arena: Arena,
    /// The arenas of [`crate::pipeline`], kept between dumps.
    pipeline: Vec<Arena>,
    /// Receives the one datagram of a single-reply exchange: one `recvmsg` into one buffer
    /// costs the kernel less than a `recvmmsg` over the arena's slots.
    reply: Vec<u8>,
    /// Receives a batch's acknowledgements (one datagram each), [`ACK_SLOTS`] per
    /// `recvmmsg`; allocated on the first batch.
    acks: Option<Arena>,
    seq: u32,
    req: Vec<u8>,
    /// The layouts of the conntrack messages received last (see [`ConnLayouts`]).
    layouts: Box<ConnLayouts>,
}

/// A handle to the kernel's connection-tracking table (one `NETLINK_NETFILTER` socket).
///
/// Every method is one request/reply exchange, matched by sequence number and port id; the
/// handle may be shared between threads (exchanges are serialised, so no caller ever sees
/// another's reply).
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
    /// Slots per arena and whether long dumps are pipelined (from the [`Config`]).
    slots: usize,
    pipeline: bool,
    features: Features,
    port_id: u32,
    filter_zone: std::sync::OnceLock<bool>,
}

impl std::fmt::Debug for Nfct {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Nfct")
            .field("port_id", &self.port_id)
            .field("features", &self.features)
            .finish()
    }
}

fn build(
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
            Some(p) => Socket::open_in_netns(p).map_err(io)?,
            None => Socket::open().map_err(io)?,
        };
        if let Some(b) = config.recv_buffer {
            sock.set_recv_buffer(b).map_err(io)?;
        }
        // Extended acks where the kernel has them; errors without the echoed request.
        let _ = sock.set_option(SockOpt::ExtAck, true);
        let _ = sock.set_option(SockOpt::CapAck, true);
        sock.set_recv_timeout(Some(config.timeout)).map_err(io)?;
        let arena = Arena::new(config.arena_slots.max(1), DEFAULT_SLOT_LEN).map_err(io)?;
        let version = KernelVersion::running().unwrap_or(KernelVersion { major: 0, minor: 0 });
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
                layouts: Box::new(ConnLayouts::new()),
            }),
            slots: config.arena_slots.max(1),
            pipeline: config.pipeline,
            features: Features::of(version),
            port_id,
            filter_zone: std::sync::OnceLock::new(),
        })
    }

    /// Returns what the running kernel supports.
    ///
    /// ```no_run
    /// use conntrack::{BatchOp, Config, Conn, DumpFilter, Exp, Family, FlushFilter, Key, Nfct};
    /// let nfct = Nfct::open()?;
    /// if !nfct.features().dump_zone {
    ///     eprintln!("this kernel cannot filter dumps by zone");
    /// }
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn features(&self) -> Features {
        self.features
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

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs one exchange: builds the request with `f`, sends it, and hands each reply payload to
    /// `on_item` until the kernel ends the exchange.
    fn exchange(
        &self,
        op: Op,
        f: impl Fn(&mut Emitter<'_>, u32),
        mut on_item: impl FnMut(Message<'_>, &mut ConnLayouts) -> Result<()>,
    ) -> Result<()> {
        let mut g = self.lock();
        let inner = &mut *g;
        inner.seq = inner.seq.wrapping_add(1).max(1);
        let seq = inner.seq;
        build(&mut inner.req, |e| f(e, seq)).map_err(|source| Error::Wire { op, source })?;
        let flags = Messages::new(&inner.req)
            .next()
            .and_then(|m| m.ok())
            .map_or(0, |m| m.flags());
        let mut x = Exchange::new(op, seq, self.port_id, flags);
        inner.sock.send(&inner.req).map_err(|e| Error::io(op, e))?;
        let mut result = Ok(());
        let layouts = &mut *inner.layouts;
        let mut feed = |d: &[u8], meta: RecvMeta, x: &mut Exchange| -> Result<()> {
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
                    Step::Item(m) => {
                        if result.is_ok() {
                            result = on_item(m, layouts);
                        }
                    }
                    Step::Failed(e) => {
                        if result.is_ok() {
                            result = Err(e);
                        }
                    }
                }
            }
            Ok(())
        };
        let mut batches = 0;
        while !x.finished() {
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
                feed(d, meta, &mut x)?;
                continue;
            }
            inner
                .sock
                .recv_batch(&mut inner.arena)
                .map_err(|e| Error::io(op, e))?;
            for (d, meta) in inner.arena.iter() {
                feed(d, meta, &mut x)?;
            }
        }
        result
    }

    fn check_dump_filter(&self, op: Op, f: &DumpFilter) -> Result<()> {
        let ft = self.features;
        let need = |ok: bool, what: &str| -> Result<()> {
            if ok {
                Ok(())
            } else {
                Err(Error::Unsupported {
                    op,
                    what: format!("{what} (kernel {})", ft.version),
                })
            }
        };
        if f.mark.is_some() {
            need(ft.dump_mark, "mark filter needs Linux 3.4")?;
        }
        if f.status.is_some() {
            need(ft.dump_status, "status filter needs Linux 5.15")?;
        }
        if f.zone.is_some() {
            need(ft.dump_zone, "zone filter needs Linux 6.8")?;
        }
        if f.orig.is_some() || f.reply.is_some() {
            need(ft.dump_tuple, "tuple filter (CTA_FILTER) needs Linux 5.8")?;
        }
        if f.filter_zone && !self.probe_filter_zone()? {
            return Err(Error::Unsupported {
                op,
                what: format!(
                    "CTA_FILTER_ZONE (zone matching inside CTA_FILTER): kernel {} rejects it under NETLINK_GET_STRICT_CHK",
                    ft.version
                ),
            });
        }
        Ok(())
    }

    /// Probes whether the kernel knows `CTA_FILTER_ZONE`: with `NETLINK_GET_STRICT_CHK`, the
    /// kernel rejects unknown attributes inside `CTA_FILTER`, so a filtered dump either starts
    /// (known) or fails at once (unknown). The answer is cached.
    pub fn probe_filter_zone(&self) -> Result<bool> {
        if let Some(v) = self.filter_zone.get() {
            return Ok(*v);
        }
        let op = Op::Probe;
        let sock = Socket::open().map_err(|e| Error::io(op, e))?;
        sock.set_option(SockOpt::GetStrictChk, true)
            .map_err(|e| Error::io(op, e))?;
        sock.set_recv_timeout(Some(Duration::from_secs(5)))
            .map_err(|e| Error::io(op, e))?;
        let t = Tuple {
            zone: Some(0),
            ..Default::default()
        };
        let f = DumpFilter {
            orig: Some(t),
            filter_zone: true,
            ..Default::default()
        };
        let mut req = Vec::new();
        build(&mut req, |e| request::ct_dump(e, 1, AF_INET, &f))
            .map_err(|source| Error::Wire { op, source })?;
        sock.send(&req).map_err(|e| Error::io(op, e))?;
        let mut x = Exchange::new(op, 1, sock.port_id(), NLM_F_REQUEST | NLM_F_DUMP);
        let mut buf = vec![0u8; DEFAULT_SLOT_LEN];
        let mut known = true;
        while !x.finished() {
            let m = sock.recv(&mut buf).map_err(|e| Error::io(op, e))?;
            for msg in Messages::new(buf.get(..m.len).unwrap_or(&[])) {
                let msg = msg.map_err(|source| Error::Wire { op, source })?;
                if let Step::Failed(_) = x.feed(msg) {
                    known = false;
                }
            }
        }
        let _ = self.filter_zone.set(known);
        Ok(known)
    }

    /// Returns the filter as sent to the kernel and the family to dump: IPv6 address matches
    /// are left to user space where the kernel inverts them, and tuple filters, which the
    /// kernel accepts only for one address family, are left to user space for `Family::Any`
    /// unless the filter's addresses name the family.
    fn kernel_filter(&self, family: Family, f: &DumpFilter) -> (Family, DumpFilter) {
        let mut k = *f;
        let mut family = family;
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
        if self.features.ipv6_filter_inverted {
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
        if k.orig.is_none() && k.reply.is_none() {
            k.filter_zone = false;
        }
        (family, k)
    }

    /// Streams a dump as borrowed views straight out of the receive arena: no copy and no
    /// allocation per entry, and memory stays constant whatever the table size. Entries are
    /// filtered in the kernel where it can, and always checked again in user space, so `f`
    /// sees exactly the matching entries.
    ///
    /// ```no_run
    /// use conntrack::{BatchOp, Config, Conn, DumpFilter, Exp, Family, FlushFilter, Key, Nfct};
    /// let mut tcp = 0;
    /// Nfct::open()?.dump_each(Family::Any, &DumpFilter::default(), |ct| {
    ///     tcp += usize::from(ct.tuple_orig().and_then(|t| t.proto_num()) == Some(6));
    /// })?;
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn dump_each(
        &self,
        family: Family,
        filter: &DumpFilter,
        mut f: impl FnMut(&ConnView<'_>),
    ) -> Result<()> {
        self.check_dump_filter(Op::Dump, filter)?;
        let (kfamily, kf) = self.kernel_filter(family, filter);
        let exact = *filter != DumpFilter::default();
        self.exchange(
            Op::Dump,
            |e, seq| request::ct_dump(e, seq, kfamily.af(), &kf),
            |m, layouts| {
                if let MessageKind::Conntrack(_) = m.kind() {
                    let v = m.conn_remembered(layouts).map_err(|source| Error::Wire {
                        op: Op::Dump,
                        source,
                    })?;
                    if !exact || filter::matches(filter, &v) {
                        f(&v);
                    }
                }
                Ok(())
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
        // twice the memory. Capacity nobody writes to costs address space, not memory.
        let expect = if *filter == DumpFilter::default() {
            self.stats().ok().and_then(|s| s.entries).unwrap_or(0) as usize
        } else {
            0
        };
        let mut v = Vec::with_capacity(expect + expect / 32);
        if std::mem::size_of_val(v.spare_capacity_mut()) >= HUGE_RESULT {
            conntrack_sock::advise_huge_pages(v.spare_capacity_mut());
        }
        self.dump_each(family, filter, |c| v.push(Conn::parse(c)))?;
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

    fn check_key(op: Op, k: &Key) -> Result<u8> {
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
                let v = m.conn_remembered(layouts).map_err(|source| Error::Wire {
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
        self.dump_each(Family::Any, &DumpFilter::default(), |c| {
            if out.is_none() && c.id() == Some(id) {
                out = Some(Conn::parse(c));
            }
        })?;
        out.ok_or(Error::NotFound { op: Op::Get })
    }

    fn check_conn(op: Op, c: &Conn, create: bool) -> Result<u8> {
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
    /// use conntrack::{BatchOp, Config, Conn, DumpFilter, Exp, Family, FlushFilter, Key, Nfct};
    /// let c = Conn::udp("10.0.0.1:5353".parse().unwrap(), "10.0.0.2:53".parse().unwrap());
    /// Nfct::open()?.update(&Conn { tuple_orig: c.tuple_orig, mark: Some(9), ..Default::default() })?;
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

    fn check_flush_family(&self, family: Family) -> Result<()> {
        if family != Family::Any && !self.features.flush_family {
            return Err(Error::Unsupported {
                op: Op::Flush,
                what: format!(
                    "a flush of one family (kernel {}): the kernel would flush every family",
                    self.features.version
                ),
            });
        }
        Ok(())
    }

    /// Flushes every entry of `family` (`Family::Any`: the whole table).
    ///
    /// ```no_run
    /// use conntrack::{BatchOp, Config, Conn, DumpFilter, Exp, Family, FlushFilter, Key, Nfct};
    /// Nfct::open()?.flush(Family::Ipv6)?;
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn flush(&self, family: Family) -> Result<()> {
        self.check_flush_family(family)?;
        let f = FlushFilter::default();
        self.exchange(
            Op::Flush,
            |e, seq| request::ct_flush(e, seq, family.af(), &f),
            |_, _| Ok(()),
        )
    }

    /// Flushes the entries of `family` that match `filter` in the kernel. A filter the running
    /// kernel would ignore (and so widen into a full flush) is refused with
    /// [`Error::Unsupported`]; an empty filter is refused with [`Error::Invalid`] (use
    /// [`Nfct::flush`]).
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
        self.check_flush_family(family)?;
        let ft = self.features;
        let refuse = |what: &str| {
            Err(Error::Unsupported {
                op,
                what: format!(
                    "{what} (kernel {}): the kernel would flush everything",
                    ft.version
                ),
            })
        };
        if filter.mark.is_some() && !ft.flush_mark {
            return refuse("mark-filtered flush needs Linux 5.9");
        }
        if filter.status.is_some() && !ft.flush_status {
            return refuse("status-filtered flush needs Linux 5.15");
        }
        if filter.zone.is_some() && !ft.flush_zone {
            return refuse("zone-filtered flush needs Linux 6.8");
        }
        self.exchange(
            op,
            |e, seq| request::ct_flush(e, seq, family.af(), filter),
            |_, _| Ok(()),
        )
    }

    /// Deletes every entry of `family` matching `filter`, tuple fields included (which the
    /// kernel cannot flush by): a filtered dump, then a batch of deletes by tuple and id.
    /// Returns how many entries were deleted (entries that vanished meanwhile are not counted).
    ///
    /// ```no_run
    /// use conntrack::{BatchOp, Config, Conn, DumpFilter, Exp, Family, FlushFilter, Key, Nfct};
    /// let mut t = conntrack::wire::ct::Tuple::default();
    /// t.proto.num = Some(17);
    /// t.proto.dst_port = Some(53);
    /// let n = Nfct::open()?.flush_matching(Family::Any, &DumpFilter { orig: Some(t), ..Default::default() })?;
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn flush_matching(&self, family: Family, filter: &DumpFilter) -> Result<usize> {
        let mut keys = Vec::new();
        self.dump_each(family, filter, |c| {
            if let Some(t) = c.tuple_orig() {
                keys.push(BatchOp::Delete(Key {
                    tuple: Tuple::parse(&t),
                    zone: c.zone(),
                    id: c.id(),
                    ..Default::default()
                }));
            }
        })?;
        let results = self.batch(&keys)?;
        let mut n = 0;
        for r in results {
            match r {
                Ok(()) => n += 1,
                Err(Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }

    /// Applies many creates, updates and deletes with as few `sendmsg` calls as the buffers
    /// allow (a send must fit the send buffer, its acknowledgements the receive buffer).
    /// Returns one result per operation, in order; invalid operations fail alone without
    /// being sent. With [`Config::pipeline`] on, a helper thread builds the next send while
    /// the kernel applies the previous one. A batch longer than the receive buffer holds
    /// acknowledgements for grows the buffer to 1 MiB (`SO_RCVBUFFORCE`, which needs
    /// `CAP_NET_ADMIN`; never shrunk), so that one send carries up to 1,024 requests.
    ///
    /// ```no_run
    /// use conntrack::{BatchOp, Config, Conn, DumpFilter, Exp, Family, FlushFilter, Key, Nfct};
    /// let ops: Vec<BatchOp> = (1..=100u8)
    ///     .map(|i| BatchOp::Create(Conn::udp(std::net::SocketAddr::from(([10, 0, 0, i], 1000)), "10.1.0.1:53".parse().unwrap()).with_timeout(30)))
    ///     .collect();
    /// let failed = Nfct::open()?.batch(&ops)?.iter().filter(|r| r.is_err()).count();
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn batch(&self, ops: &[BatchOp]) -> Result<Vec<Result<()>>> {
        let mut results: Vec<Result<()>> = Vec::with_capacity(ops.len());
        let mut plan = Vec::with_capacity(ops.len());
        for op in ops {
            let checked = match op {
                BatchOp::Create(c) => Self::check_conn(Op::Create, c, true),
                BatchOp::Update(c) => Self::check_conn(Op::Update, c, false),
                BatchOp::Delete(k) => Self::check_key(Op::Delete, k),
            };
            match checked {
                Ok(af) => {
                    plan.push((results.len(), af));
                    results.push(Ok(()));
                }
                Err(e) => results.push(Err(e)),
            }
        }
        let mut g = self.lock();
        let inner = &mut *g;
        // Each acknowledgement costs roughly 1 KiB of receive buffer (the skb, not the 36 bytes).
        let ack_budget =
            |sock: &Socket| (sock.recv_buffer().unwrap_or(212_992) / 1024 / 2).clamp(1, 1024);
        let mut budget = ack_budget(&inner.sock);
        if plan.len() > budget && budget < 1024 {
            // A batch longer than the buffer holds acknowledgements for would go out in many
            // small sends: grow the buffer (only ever grown, and kept for the socket's life) so
            // that one send carries up to 1,024 requests. Without the privilege to force it
            // past `net.core.rmem_max`, the smaller sends stay.
            if inner.sock.set_recv_buffer(1024 * 1024).is_ok() {
                budget = ack_budget(&inner.sock);
            }
        }
        // And one send must fit in the send buffer (netlink refuses longer with EMSGSIZE).
        let max_send = inner
            .sock
            .send_buffer()
            .unwrap_or(212_992)
            .saturating_sub(32)
            .max(4096);
        if plan.is_empty() {
            return Ok(results);
        }
        // Operation `plan[i]` is sent with sequence number `base + i`.
        let base = inner.seq.wrapping_add(1);
        inner.seq = base.wrapping_add(plan.len() as u32 - 1);
        let chunker = Chunker {
            plan: &plan,
            ops,
            base,
            budget,
            max_send,
        };
        let Inner {
            sock, acks, req, ..
        } = inner;
        let acks = match acks {
            Some(a) => a,
            empty => {
                empty.insert(Arena::new(ACK_SLOTS, ACK_SLOT).map_err(|e| Error::io(Op::Create, e))?)
            }
        };
        let port_id = self.port_id;
        let mut deliver = |buf: &[u8], start: usize, n: usize| -> Result<()> {
            sock.send(buf).map_err(|e| Error::io(Op::Create, e))?;
            let chunk = &plan[start..start + n];
            let first_seq = base.wrapping_add(start as u32);
            let mut pending = n;
            while pending > 0 {
                sock.recv_batch(acks)
                    .map_err(|e| Error::io(Op::Create, e))?;
                for (d, _) in acks.iter() {
                    for m in Messages::new(d).flatten() {
                        if m.kind() != MessageKind::Error {
                            continue;
                        }
                        let i = m.seq().wrapping_sub(first_seq) as usize;
                        let Some(&(idx, _)) = chunk.get(i) else {
                            continue;
                        };
                        // The common case, an acknowledgement (errno 0) addressed to us,
                        // leaves the result as it was filled: Ok.
                        if (m.pid() == port_id || m.pid() == 0)
                            && m.error().is_ok_and(|e| e.is_ack())
                        {
                            pending -= 1;
                            continue;
                        }
                        let op = ops[idx].op();
                        let mut x = Exchange::new(op, m.seq(), port_id, NLM_F_REQUEST | NLM_F_ACK);
                        results[idx] = match x.feed(m) {
                            Step::Done => Ok(()),
                            Step::Failed(e) => Err(e),
                            _ => continue,
                        };
                        pending -= 1;
                    }
                }
            }
            Ok(())
        };
        if self.pipeline && plan.len() > budget {
            // Two threads: a helper builds the next send while this one sends the previous
            // and reads its acknowledgements (the kernel applies a send inside `sendmsg`).
            let bufs = [std::mem::take(req), Vec::new()];
            std::thread::scope(|sc| {
                let (full_tx, full_rx) = sync_channel::<Result<(Vec<u8>, usize, usize)>>(1);
                let (free_tx, free_rx) = sync_channel::<Vec<u8>>(bufs.len());
                for b in bufs {
                    let _ = free_tx.send(b);
                }
                let chunker = &chunker;
                sc.spawn(move || {
                    let mut start = 0;
                    while start < chunker.plan.len() {
                        let Ok(mut buf) = free_rx.recv() else { return };
                        let built = chunker.emit(&mut buf, start);
                        let n = *built.as_ref().unwrap_or(&0);
                        let stop = built.is_err();
                        if full_tx.send(built.map(|n| (buf, start, n))).is_err() || stop {
                            return;
                        }
                        start += n;
                    }
                });
                let mut result = Ok(());
                for built in full_rx.iter() {
                    let delivered =
                        built.and_then(|(buf, start, n)| deliver(&buf, start, n).map(|()| buf));
                    match delivered {
                        Ok(buf) => {
                            let _ = free_tx.send(buf);
                        }
                        Err(e) => {
                            result = Err(e);
                            break;
                        }
                    }
                }
                // Dropping both ends releases a helper blocked on either channel.
                drop(full_rx);
                drop(free_tx);
                result
            })?;
        } else {
            let mut start = 0;
            while start < plan.len() {
                let n = chunker.emit(req, start)?;
                deliver(req, start, n)?;
                start += n;
            }
        }
        Ok(results)
    }

    /// Dumps `family` and reports what changed since `known` (the caller's last view of the
    /// table, by entry id), then brings `known` up to date. This is how an event consumer
    /// recovers after an [`crate::events::Event::Overrun`]: every entry created, changed or
    /// destroyed while events were lost shows up in the returned [`Diff`]. Timeouts, counters,
    /// timestamps and the use count change constantly and are not counted as changes.
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
            Conn {
                timeout: None,
                counters_orig: None,
                counters_reply: None,
                timestamp: None,
                use_count: None,
                ..c.clone()
            }
        }
        let mut seen = std::collections::HashSet::new();
        let mut diff = Diff::default();
        self.dump_each(family, &DumpFilter::default(), |v| {
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

    /// Flushes the expectation table of `family`.
    ///
    /// ```no_run
    /// use conntrack::{BatchOp, Config, Conn, DumpFilter, Exp, Family, FlushFilter, Key, Nfct};
    /// Nfct::open()?.exp_flush(Family::Any)?;
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn exp_flush(&self, family: Family) -> Result<()> {
        self.exchange(
            Op::ExpFlush,
            |e, seq| request::exp_flush(e, seq, family.af()),
            |_, _| Ok(()),
        )
    }
}

//! [`Nfct::batch`]: many creates, updates and deletes in few sends, with one [`Outcome`] per
//! operation whatever happens: a kernel refusal, an operation that cannot be encoded, a send
//! or a receive that fails midway.

use crate::error::{Error, Op, Result};
use crate::exchange::{Exchange, Step};
use crate::nfct::{Inner, Nfct, build};
use conntrack_sock::{Arena, Socket};
use conntrack_wire::consts::*;
use conntrack_wire::request::{self, Key};
use conntrack_wire::{Conn, Messages};
use std::sync::mpsc::sync_channel;

/// Acknowledgements received per `recvmmsg` by a batch, into slots of [`ACK_SLOT`] bytes (an
/// acknowledgement is 36 bytes with `NETLINK_CAP_ACK`; an error's extended ack adds a message
/// and an offset, far below the slot).
const ACK_SLOTS: usize = 256;
const ACK_SLOT: usize = 4096;

/// Room kept free in a batch's send for the next message: an entry whose parts are all of
/// fixed size encodes well under this (a unit test checks it); a longer one makes the batch
/// retry with fewer messages per send.
pub(crate) const SOFT_MESSAGE_LEN: usize = 2048;

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

    /// Checks the operation before anything is sent; returns its address family.
    fn check(&self) -> Result<u8> {
        match self {
            BatchOp::Create(c) => Nfct::check_conn(Op::Create, c, true),
            BatchOp::Update(c) => Nfct::check_conn(Op::Update, c, false),
            BatchOp::Delete(k) => Nfct::check_key(Op::Delete, k),
        }
    }

    /// Writes the request with sequence number `seq`.
    fn emit(&self, e: &mut conntrack_wire::Emitter<'_>, seq: u32, af: u8) {
        match self {
            BatchOp::Create(c) => request::ct_create(e, seq, af, c),
            BatchOp::Update(c) => request::ct_update(e, seq, af, c),
            BatchOp::Delete(k) => request::ct_delete(e, seq, af, k),
        }
    }

    /// Returns whether the request may be longer than [`SOFT_MESSAGE_LEN`] or fail to
    /// encode: only entries with parts of variable length (helper name and data, security
    /// context, unknown attributes) can.
    fn variable_length(&self) -> bool {
        match self {
            BatchOp::Create(c) | BatchOp::Update(c) => {
                let x = c.ext();
                x.helper.is_some() || x.secctx.is_some() || !x.unknown.is_empty()
            }
            BatchOp::Delete(_) => false,
        }
    }
}

/// What became of one operation of a [`Nfct::batch`].
#[derive(Debug)]
#[non_exhaustive]
pub enum Outcome {
    /// The kernel acknowledged the operation: it was applied.
    Applied,
    /// The operation was refused: by the kernel (the error carries the errno and the
    /// extended-ack message), or before anything was sent because it is invalid or cannot be
    /// encoded ([`Error::Invalid`], [`Error::Wire`]).
    Failed(Error),
    /// The operation was never sent: the batch stopped before its send (see
    /// [`BatchReport::stopped`]). The kernel never saw it.
    NotSent,
    /// The operation was sent but no acknowledgement arrived before the batch stopped: the
    /// kernel may or may not have applied it.
    Unknown,
}

impl Outcome {
    /// Returns whether the operation was applied.
    pub fn is_applied(&self) -> bool {
        matches!(self, Outcome::Applied)
    }

    /// Returns the error of a failed operation.
    pub fn error(&self) -> Option<&Error> {
        match self {
            Outcome::Failed(e) => Some(e),
            _ => None,
        }
    }
}

/// The outcome of every operation of a [`Nfct::batch`], in the order given, and the error
/// that stopped the batch early, if one did.
#[derive(Debug)]
#[non_exhaustive]
pub struct BatchReport {
    /// One outcome per operation, in the order of the operations.
    pub outcomes: Vec<Outcome>,
    /// The error that stopped the batch before every operation was answered (a failed send
    /// or receive); `None` when every operation has its answer.
    pub stopped: Option<Error>,
}

impl BatchReport {
    /// Returns how many operations were applied.
    pub fn applied(&self) -> usize {
        self.outcomes.iter().filter(|o| o.is_applied()).count()
    }

    /// Returns whether every operation was applied.
    pub fn all_applied(&self) -> bool {
        self.outcomes.iter().all(Outcome::is_applied)
    }

    /// Returns `Ok` when every operation was applied, else the first error: the one that
    /// stopped the batch, or the first operation's that failed, or [`Error::Io`] for an
    /// operation left unanswered.
    pub fn into_result(self) -> Result<()> {
        if let Some(e) = self.stopped {
            return Err(e);
        }
        for o in self.outcomes {
            match o {
                Outcome::Applied => {}
                Outcome::Failed(e) => return Err(e),
                Outcome::NotSent | Outcome::Unknown => {
                    return Err(Error::io(
                        Op::Batch,
                        std::io::Error::other("an operation was left unanswered"),
                    ));
                }
            }
        }
        Ok(())
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
                    self.ops[idx].emit(e, seq, af);
                    emitted.set(i + 1);
                }
            })
            .map_err(|source| Error::Wire {
                op: Op::Batch,
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

/// The sending side of one batch: the socket, the acknowledgement arena and the outcomes.
struct Delivery<'a> {
    sock: &'a Socket,
    acks: &'a mut Arena,
    plan: &'a [(usize, u8)],
    ops: &'a [BatchOp],
    base: u32,
    port_id: u32,
    outcomes: &'a mut [Outcome],
    /// Test hook: acknowledgement datagrams dropped unread after this many were read.
    lose_acks_after: Option<usize>,
    acks_read: usize,
}

impl Delivery<'_> {
    /// Sends `buf` (requests `plan[start..start + n]`) and reads their acknowledgements. On
    /// error the requests of a failed send stay [`Outcome::NotSent`] and those of a send left
    /// unanswered [`Outcome::Unknown`].
    fn deliver(&mut self, buf: &[u8], start: usize, n: usize) -> Result<()> {
        self.sock.send(buf).map_err(|e| Error::io(Op::Batch, e))?;
        let chunk = &self.plan[start..start + n];
        for &(idx, _) in chunk {
            self.outcomes[idx] = Outcome::Unknown;
        }
        let first_seq = self.base.wrapping_add(start as u32);
        let mut pending = n;
        while pending > 0 {
            self.sock
                .recv_batch(self.acks)
                .map_err(|e| Error::io(Op::Batch, e))?;
            for (d, _) in self.acks.iter() {
                self.acks_read += 1;
                if self.lose_acks_after.is_some_and(|k| self.acks_read > k) {
                    continue;
                }
                for m in Messages::new(d).flatten() {
                    if m.kind() != conntrack_wire::MessageKind::Error {
                        continue;
                    }
                    let i = m.seq().wrapping_sub(first_seq) as usize;
                    let Some(&(idx, _)) = chunk.get(i) else {
                        continue;
                    };
                    if !matches!(self.outcomes[idx], Outcome::Unknown) {
                        continue;
                    }
                    // The common case, an acknowledgement (errno 0) addressed to us.
                    let answer = if (m.pid() == self.port_id || m.pid() == 0)
                        && m.error().is_ok_and(|e| e.is_ack())
                    {
                        Outcome::Applied
                    } else {
                        let op = self.ops[idx].op();
                        let mut x =
                            Exchange::new(op, m.seq(), self.port_id, NLM_F_REQUEST | NLM_F_ACK);
                        match x.feed(m) {
                            Step::Done => Outcome::Applied,
                            Step::Failed(e) => Outcome::Failed(e),
                            _ => continue,
                        }
                    };
                    self.outcomes[idx] = answer;
                    pending -= 1;
                }
            }
        }
        Ok(())
    }
}

impl Nfct {
    /// Applies many creates, updates and deletes with as few `sendmsg` calls as the buffers
    /// allow (a send must fit the send buffer, its acknowledgements the receive buffer), and
    /// reports one [`Outcome`] per operation, in order, in every case: applied, failed (with
    /// the kernel's errno and extended-ack message), not sent, or unknown (sent, never
    /// acknowledged).
    ///
    /// Every operation is checked before the first send, its encoded size included: an
    /// invalid one fails alone and is never sent. A send or receive that fails stops the
    /// batch ([`BatchReport::stopped`]); the operations already answered keep their outcome.
    ///
    /// With [`crate::Config::pipeline`] on, a helper thread builds the next send while the
    /// kernel applies the previous one. A batch longer than the receive buffer holds
    /// acknowledgements for grows the buffer to 1 MiB (`SO_RCVBUFFORCE`, which needs
    /// `CAP_NET_ADMIN`; never shrunk), so that one send carries up to 1,024 requests.
    ///
    /// ```no_run
    /// use conntrack::{BatchOp, Conn, Nfct};
    /// let ops: Vec<BatchOp> = (1..=100u8)
    ///     .map(|i| BatchOp::Create(Conn::udp(std::net::SocketAddr::from(([10, 0, 0, i], 1000)), "10.1.0.1:53".parse().unwrap()).with_timeout(30)))
    ///     .collect();
    /// let report = Nfct::open()?.batch(&ops);
    /// println!("{} of {} applied", report.applied(), ops.len());
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn batch(&self, ops: &[BatchOp]) -> BatchReport {
        let mut outcomes: Vec<Outcome> = Vec::with_capacity(ops.len());
        let mut plan = Vec::with_capacity(ops.len());
        for (i, op) in ops.iter().enumerate() {
            match op.check() {
                Ok(af) => {
                    plan.push((i, af));
                    outcomes.push(Outcome::NotSent);
                }
                Err(e) => outcomes.push(Outcome::Failed(e)),
            }
        }
        let mut report = BatchReport {
            outcomes,
            stopped: None,
        };
        if plan.is_empty() {
            return report;
        }
        let mut g = match self.lock(Op::Batch) {
            Ok(g) => g,
            Err(e) => {
                report.stopped = Some(e);
                return report;
            }
        };
        if let Err(e) = self.send_batch(&mut g, ops, plan, &mut report.outcomes) {
            report.stopped = Some(e);
        }
        report
    }

    /// Sends the planned operations of a batch, filling in their outcomes.
    fn send_batch(
        &self,
        inner: &mut Inner,
        ops: &[BatchOp],
        mut plan: Vec<(usize, u8)>,
        outcomes: &mut [Outcome],
    ) -> Result<()> {
        let (budget, max_send) = send_limits(&inner.sock, plan.len());
        check_sizes(ops, &mut plan, outcomes, max_send, &mut inner.req);
        if plan.is_empty() {
            return Ok(());
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
            sock,
            acks,
            req,
            dirty,
            ..
        } = inner;
        let acks = match acks {
            Some(a) => a,
            empty => {
                empty.insert(Arena::new(ACK_SLOTS, ACK_SLOT).map_err(|e| Error::io(Op::Batch, e))?)
            }
        };
        // Until every acknowledgement is read, the socket may hold some for the next call
        // to drain.
        *dirty = true;
        let mut d = Delivery {
            sock,
            acks,
            plan: &plan,
            ops,
            base,
            port_id: self.port_id(),
            outcomes,
            lose_acks_after: self.lose_acks_after,
            acks_read: 0,
        };
        if self.pipeline && plan.len() > budget {
            pipelined(&chunker, &mut d, req)?;
        } else {
            let mut start = 0;
            while start < plan.len() {
                let n = chunker.emit(req, start)?;
                d.deliver(req, start, n)?;
                start += n;
            }
        }
        *dirty = false;
        Ok(())
    }
}

/// How many requests one send may carry (their acknowledgements must fit the receive
/// buffer, grown once if a batch of `planned` would need many small sends) and how many bytes
/// one send may have (netlink refuses a send longer than the send buffer with EMSGSIZE).
fn send_limits(sock: &Socket, planned: usize) -> (usize, usize) {
    // Each acknowledgement costs roughly 1 KiB of receive buffer (the skb, not the 36 bytes).
    let ack_budget =
        |sock: &Socket| (sock.recv_buffer().unwrap_or(212_992) / 1024 / 2).clamp(1, 1024);
    let mut budget = ack_budget(sock);
    // Grown only ever, and kept for the socket's life, so that one send carries up to 1,024
    // requests. Without the privilege to force it past `net.core.rmem_max`, the smaller sends
    // stay.
    if planned > budget && budget < 1024 && sock.set_recv_buffer(1024 * 1024).is_ok() {
        budget = ack_budget(sock);
    }
    let max_send = sock
        .send_buffer()
        .unwrap_or(212_992)
        .saturating_sub(32)
        .max(4096);
    (budget, max_send)
}

/// Checks, before the first send, that every operation whose length is not bounded encodes
/// and fits one send; those that do not fail alone and leave the plan.
fn check_sizes(
    ops: &[BatchOp],
    plan: &mut Vec<(usize, u8)>,
    outcomes: &mut [Outcome],
    max_send: usize,
    scratch: &mut Vec<u8>,
) {
    plan.retain(|&(idx, af)| {
        let op = &ops[idx];
        if !op.variable_length() {
            return true;
        }
        let failed = match build(scratch, |e| op.emit(e, 0, af)) {
            Err(source) => Error::Wire {
                op: op.op(),
                source,
            },
            Ok(()) if scratch.len() > max_send => Error::Invalid {
                op: op.op(),
                what: format!(
                    "the request is {} bytes, more than one send carries ({max_send} bytes)",
                    scratch.len()
                ),
            },
            Ok(()) => return true,
        };
        outcomes[idx] = Outcome::Failed(failed);
        false
    });
}

/// Two threads: a helper builds the next send while this one sends the previous and reads
/// its acknowledgements (the kernel applies a send inside `sendmsg`).
fn pipelined(chunker: &Chunker<'_>, d: &mut Delivery<'_>, req: &mut Vec<u8>) -> Result<()> {
    let bufs = [std::mem::take(req), Vec::new()];
    std::thread::scope(|sc| {
        let (full_tx, full_rx) = sync_channel::<Result<(Vec<u8>, usize, usize)>>(1);
        let (free_tx, free_rx) = sync_channel::<Vec<u8>>(bufs.len());
        for b in bufs {
            let _ = free_tx.send(b);
        }
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
                built.and_then(|(buf, start, n)| d.deliver(&buf, start, n).map(|()| buf));
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
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use conntrack_wire::ct::{Labels, Status, TcpState, Tuple};

    /// An entry with every part of fixed size set encodes within [`SOFT_MESSAGE_LEN`]: the
    /// bound that lets [`check_sizes`] skip the trial encoding of such entries.
    #[test]
    fn fixed_size_entries_fit_the_soft_message_length() {
        let mut c = Conn::tcp(
            "[2001:db8::1]:1000".parse().unwrap(),
            "[2001:db8::2]:80".parse().unwrap(),
        )
        .with_tcp_state(TcpState::Established)
        .with_timeout(30)
        .with_mark(7);
        let master: Tuple = c.tuple_orig.unwrap();
        c.ext_mut().tuple_master = Some(master);
        c.status = Some(Status::CONFIRMED | Status::ASSURED);
        c.ext_mut().status_mask = Some(Status::ASSURED);
        c.ext_mut().mark_mask = Some(0xff);
        c.zone = Some(3);
        c.ext_mut().secmark = Some(1);
        c.set_labels(Some(Labels::from_labels(&[1, 127])));
        c.ext_mut().labels_mask = Some(Labels::from_labels(&[1, 127]));
        c.id = Some(1);
        c.use_count = Some(1);
        let mut all = vec![c];
        for m in Messages::new(conntrack_wire::testing::fixtures::DUMP_CT).flatten() {
            if let Ok(v) = m.conn() {
                let mut c = Conn::parse(&v);
                let x = c.ext_mut();
                (x.helper, x.secctx, x.unknown) = (None, None, Vec::new());
                all.push(c);
            }
        }
        assert!(all.len() > 10);
        for c in all {
            let op = BatchOp::Create(c.clone());
            assert!(!op.variable_length());
            let mut buf = Vec::new();
            build(&mut buf, |e| op.emit(e, 1, AF_INET6)).unwrap();
            assert!(buf.len() < SOFT_MESSAGE_LEN, "{} bytes", buf.len());
        }
    }
}

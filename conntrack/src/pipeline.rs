//! The rest of a long dump read on two threads: a helper thread receives datagrams into a
//! ring of arenas while the caller's thread decodes the ones already received.
//!
//! A dump is produced by the kernel inside the reader's `recvmsg` calls, so a single thread
//! alternates between waiting for the kernel and decoding. With the receiving on its own
//! thread, the kernel produces the next datagrams while the caller decodes the previous ones:
//! on a machine with two free cores the dump then takes as long as the kernel needs, and the
//! decode costs no wall time as long as it is faster than the kernel.
//!
//! The caller's thread keeps everything that is not `Send`: the exchange's item callback,
//! hence the user's closure. The helper thread only receives, and watches the message headers
//! (with a copy of the [`Exchange`]) to know when the dump has ended.

use crate::error::{Error, Op, Result};
use crate::exchange::Exchange;
use conntrack_sock::{Arena, DEFAULT_SLOT_LEN, RecvMeta, Socket};
use conntrack_wire::Messages;
use std::io;
use std::ops::ControlFlow;
use std::sync::mpsc::{Receiver, TryRecvError, sync_channel};
use std::time::{Duration, Instant};

/// Feeds one received datagram (its bytes and metadata) to the exchange; `Break` stops the
/// exchange early.
pub(crate) type Feed<'f> =
    dyn FnMut(&[u8], RecvMeta, &mut Exchange) -> Result<ControlFlow<()>> + 'f;

/// Arenas in flight: one being filled, one being decoded, one ready in between.
pub(crate) const DEPTH: usize = 3;

/// Polls `rx` for up to [`SPIN`] before the caller blocks on it: between two threads that
/// hand batches to each other every few hundred microseconds, a blocking wait would put the
/// CPU to sleep at each hand-over, and on a virtual machine a sleeping CPU can take
/// milliseconds to wake. An idle stream still blocks after the first millisecond.
pub(crate) fn spin<T>(rx: &Receiver<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        for _ in 0..64 {
            match rx.try_recv() {
                Ok(v) => return Some(v),
                // The sender is gone: the blocking receive reports it at once.
                Err(TryRecvError::Disconnected) => return None,
                Err(TryRecvError::Empty) => std::hint::spin_loop(),
            }
        }
        if start.elapsed() > SPIN {
            return None;
        }
        std::thread::yield_now();
    }
}

/// How long [`spin`] polls.
const SPIN: Duration = Duration::from_millis(1);

/// Reads the rest of exchange `x` from `sock` on a helper thread, feeding every datagram to
/// `feed` on this thread, in order. `pool` keeps the arenas between calls (`slots` datagrams
/// of [`DEFAULT_SLOT_LEN`] each); they are allocated on first use.
///
/// Returns the first error: a failed receive, or one returned by `feed` (after which the
/// rest of the dump is still read). When `feed` stops the exchange (`Break`) or panics, the
/// helper stops after its current receive and the rest is left in the socket for the
/// caller to drain: the channels live inside the thread scope, so a panic unwinding out of
/// `feed` drops them, which releases the helper, and the scope then joins it and goes on
/// unwinding (no thread is left blocked, no lock is kept).
pub(crate) fn finish(
    sock: &Socket,
    pool: &mut Vec<Arena>,
    slots: usize,
    x: &mut Exchange,
    op: Op,
    feed: &mut Feed<'_>,
) -> Result<()> {
    while pool.len() < DEPTH {
        pool.push(Arena::new(slots, DEFAULT_SLOT_LEN).map_err(|e| Error::io(op, e))?);
    }
    let mut watch = x.clone();
    std::thread::scope(|s| {
        let (full_tx, full_rx) = sync_channel::<(Arena, io::Result<usize>)>(DEPTH);
        let (free_tx, free_rx) = sync_channel::<Arena>(DEPTH);
        for a in pool.drain(..) {
            // Capacity DEPTH holds them all: this never blocks, nor fails (the receiver lives).
            let _ = free_tx.send(a);
        }
        let receiver = s.spawn(move || {
            while let Some(mut arena) = spin(&free_rx).or_else(|| free_rx.recv().ok()) {
                let r = sock.recv_batch(&mut arena);
                let end = match &r {
                    Err(_) => true,
                    Ok(_) => {
                        let mut truncated = false;
                        for (d, meta) in arena.iter() {
                            truncated |= meta.truncated;
                            for m in Messages::new(d).flatten() {
                                watch.feed(m);
                            }
                        }
                        truncated || watch.finished()
                    }
                };
                // The caller stopped taking (an early stop, or a panic): stop too.
                if full_tx.send((arena, r)).is_err() || end {
                    break;
                }
            }
            // Hand back the channel, with the arenas never filled again.
            free_rx
        });
        let mut result = Ok(());
        // Ends when the receiver drops its sender, that is when it has stopped.
        while let Some((arena, r)) = spin(&full_rx).or_else(|| full_rx.recv().ok()) {
            let step = match r {
                Err(e) => Err(Error::io(op, e)),
                Ok(_) => arena
                    .iter()
                    .try_fold(ControlFlow::Continue(()), |flow, (d, meta)| match flow {
                        ControlFlow::Continue(()) => feed(d, meta, x),
                        stop => Ok(stop),
                    }),
            };
            if let Err(std::sync::mpsc::SendError(a)) = free_tx.send(arena) {
                pool.push(a);
            }
            match step {
                Ok(ControlFlow::Continue(())) => {}
                Ok(ControlFlow::Break(())) => break,
                Err(e) => {
                    if result.is_ok() {
                        result = Err(e);
                    }
                }
            }
        }
        // Release a helper blocked on either channel, then take back its arenas.
        drop(full_rx);
        drop(free_tx);
        if let Ok(free_rx) = receiver.join() {
            pool.extend(free_rx.try_iter());
        }
        result
    })
}

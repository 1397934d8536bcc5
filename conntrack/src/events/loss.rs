//! Where a loss is reported in the stream: after every event that was queued before it.
//!
//! The kernel counts the events it drops for a full receive buffer (`SK_MEMINFO_DROPS`), and
//! the count is read after each receive. When it has moved, older events may still wait in
//! the queue, ahead of anything queued after the loss: reporting the loss at once would put
//! it before them, and a consumer that resynchronises on the report would then apply those
//! older events after its fresh dump (a NEW event of an entry whose DESTROY was lost would
//! bring back an entry that no longer exists). So a loss is held back until at least as many
//! bytes as the queue held when the loss was seen have been read (lengths are counted
//! against the queue's `truesize` accounting, which is larger, so this errs towards reading
//! more), or until the queue is seen empty. Events read meanwhile are newer than the loss or
//! older and ahead of it; either may precede the report.

use conntrack_sock::Socket;
use std::io;

/// Loss accounting of one event socket.
#[derive(Debug, Clone)]
pub(crate) struct Losses {
    /// The kernel's drop count when last read.
    drops: u32,
    /// Losses counted and not reported yet.
    pending: u64,
    /// Bytes still to read before `pending` may be reported.
    owed: u64,
}

impl Losses {
    /// Starts counting from the socket's current drop count.
    pub(crate) fn new(sock: &Socket) -> io::Result<Self> {
        Ok(Losses {
            drops: sock.drops()?,
            pending: 0,
            owed: 0,
        })
    }

    /// Accounts for a receive that read `bytes` bytes of datagrams; returns the losses to
    /// report after them (0 while older events may still be queued).
    pub(crate) fn after_recv(&mut self, sock: &Socket, bytes: u64) -> io::Result<u64> {
        let m = sock.meminfo()?;
        self.owed = self.owed.saturating_sub(bytes);
        let new = u64::from(m.drops.wrapping_sub(self.drops));
        self.drops = m.drops;
        if new > 0 {
            self.pending += new;
            self.owed = self.owed.max(u64::from(m.rmem_alloc));
        }
        if m.rmem_alloc == 0 {
            // Nothing queued: every event older than the losses has been read.
            self.owed = 0;
        }
        if self.owed == 0 {
            Ok(std::mem::take(&mut self.pending))
        } else {
            Ok(0)
        }
    }

    /// Returns the losses counted so far and not reported yet (reading the count anew).
    pub(crate) fn pending(&mut self, sock: &Socket) -> io::Result<u64> {
        let now = sock.drops()?;
        self.pending += u64::from(now.wrapping_sub(self.drops));
        self.drops = now;
        Ok(self.pending)
    }
}

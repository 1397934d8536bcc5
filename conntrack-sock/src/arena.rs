//! The receive arena: datagram slots allocated once with `mmap` and reused for every batch.

use crate::sys::{Mapping, MmsgState, RawMeta};
use std::io;

/// The default slot size: the kernel never builds a ctnetlink dump datagram larger than 32 KiB.
pub const DEFAULT_SLOT_LEN: usize = 32 * 1024;

/// What the kernel said about one received datagram.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecvMeta {
    /// Bytes received (the full datagram length if it was truncated).
    pub len: usize,
    /// The datagram did not fit its slot (`MSG_TRUNC`): only the slot's bytes were kept.
    pub truncated: bool,
    /// The source network namespace id, with `NETLINK_LISTEN_ALL_NSID`.
    pub nsid: Option<i32>,
}

/// A reusable set of datagram slots for batch receive, mapped once and pre-faulted.
pub struct Arena {
    map: Mapping,
    slot_len: usize,
    slots: usize,
    metas: Vec<RawMeta>,
    mmsg: MmsgState,
    filled: usize,
}

impl std::fmt::Debug for Arena {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Arena")
            .field("slot_len", &self.slot_len)
            .field("slots", &self.slots)
            .finish()
    }
}

impl Arena {
    /// Maps `slots` slots of `slot_len` bytes each.
    ///
    /// ```
    /// use conntrack_sock::Arena;
    /// let arena = Arena::new(256, 8192)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new(slots: usize, slot_len: usize) -> io::Result<Self> {
        let total = slots
            .checked_mul(slot_len)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?;
        Ok(Arena {
            map: Mapping::new(total)?,
            slot_len,
            slots,
            metas: vec![RawMeta::default(); slots],
            mmsg: MmsgState::new(slots),
            filled: 0,
        })
    }

    /// Returns the number of slots.
    ///
    /// ```
    /// use conntrack_sock::Arena;
    /// assert_eq!(Arena::new(4, 4096)?.slots(), 4);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn slots(&self) -> usize {
        self.slots
    }

    /// Returns the slot size in bytes.
    ///
    /// ```
    /// use conntrack_sock::Arena;
    /// assert_eq!(Arena::new(4, 4096)?.slot_len(), 4096);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn slot_len(&self) -> usize {
        self.slot_len
    }

    pub(crate) fn parts(&mut self) -> (&mut [u8], usize, &mut [RawMeta], &mut MmsgState) {
        (
            self.map.as_mut_slice(),
            self.slot_len,
            &mut self.metas,
            &mut self.mmsg,
        )
    }

    pub(crate) fn set_filled(&mut self, n: usize) {
        self.filled = n;
    }

    /// Returns the number of datagrams of the last batch.
    ///
    /// ```
    /// use conntrack_sock::Arena;
    /// assert_eq!(Arena::new(4, 4096)?.len(), 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        self.filled
    }

    /// Returns whether the last batch was empty.
    ///
    /// ```
    /// use conntrack_sock::Arena;
    /// assert!(Arena::new(4, 4096)?.is_empty());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.filled == 0
    }

    /// Returns datagram `i` of the last batch and what the kernel said about it.
    ///
    /// ```
    /// use conntrack_sock::Arena;
    /// assert!(Arena::new(4, 4096)?.get(0).is_none());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn get(&self, i: usize) -> Option<(&[u8], RecvMeta)> {
        if i >= self.filled {
            return None;
        }
        let m = self.metas.get(i)?;
        let start = i * self.slot_len;
        let kept = m.len.min(self.slot_len);
        let bytes = self.map.as_slice().get(start..start + kept)?;
        Some((
            bytes,
            RecvMeta {
                len: m.len,
                truncated: m.flags & libc::MSG_TRUNC != 0,
                nsid: m.nsid,
            },
        ))
    }

    /// Returns the datagrams of the last batch in order.
    ///
    /// ```
    /// use conntrack_sock::Arena;
    /// assert_eq!(Arena::new(4, 4096)?.iter().count(), 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], RecvMeta)> {
        (0..self.filled).filter_map(move |i| self.get(i))
    }
}

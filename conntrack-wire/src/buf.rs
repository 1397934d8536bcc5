//! A fixed-capacity message buffer on `heapless::Vec`, for targets without an allocator.

use crate::emit::Emitter;
use crate::error::Result;

/// A request buffer of at most `N` bytes that needs no allocator.
///
/// ```
/// use conntrack_wire::{buf::MsgBuf, consts::AF_INET, request};
/// let mut b = MsgBuf::<64>::new();
/// b.emit(|e| request::ct_stats(e, 1)).unwrap();
/// assert_eq!(b.as_slice().len(), 20);
/// ```
#[derive(Debug, Clone, Default)]
pub struct MsgBuf<const N: usize> {
    v: heapless::Vec<u8, N>,
}

impl<const N: usize> MsgBuf<N> {
    /// Creates an empty buffer.
    pub fn new() -> Self {
        MsgBuf {
            v: heapless::Vec::new(),
        }
    }

    /// Appends the messages written by `f`; on error (too small) the buffer is unchanged.
    pub fn emit(&mut self, f: impl FnOnce(&mut Emitter<'_>)) -> Result<usize> {
        let start = self.v.len();
        // Grow to full capacity, emit into the free tail, then cut back to what was written.
        let _ = self.v.resize(N, 0);
        let tail = self.v.get_mut(start..).unwrap_or(&mut []);
        let r = {
            let mut e = Emitter::new(tail);
            f(&mut e);
            e.finish()
        };
        let keep = match r {
            Ok(n) => start + n,
            Err(_) => start,
        };
        self.v.truncate(keep);
        r
    }

    /// Returns the bytes written so far.
    pub fn as_slice(&self) -> &[u8] {
        &self.v
    }

    /// Empties the buffer.
    pub fn clear(&mut self) {
        self.v.clear();
    }
}

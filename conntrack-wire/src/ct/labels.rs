//! `CTA_LABELS` / `CTA_LABELS_MASK`: the connection label bitmap (up to 128 labels).
//!
//! The kernel sends the bitmap as an array of host-endian words: label `n` is bit `n % 32` of
//! 32-bit word `n / 32`, the layout conntrack-tools reads.

/// A borrowed label bitmap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LabelsView<'a> {
    bytes: &'a [u8],
}

impl<'a> LabelsView<'a> {
    /// Wraps the payload of `CTA_LABELS` or `CTA_LABELS_MASK`.
    #[inline]
    pub fn new(bytes: &'a [u8]) -> Self {
        LabelsView { bytes }
    }

    /// Returns the raw bitmap bytes.
    #[inline]
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Returns whether label `n` is set.
    #[inline]
    pub fn contains(&self, n: usize) -> bool {
        let w = n / 32;
        let Some(word) = self.bytes.get(w * 4..w * 4 + 4) else {
            return false;
        };
        let Some(word) = crate::attr::ne_u32(word) else {
            return false;
        };
        word & (1 << (n % 32)) != 0
    }

    /// Returns the set labels in increasing order.
    #[inline]
    pub fn iter(&self) -> impl Iterator<Item = usize> + 'a {
        let this = *self;
        (0..self.bytes.len() / 4 * 32).filter(move |&n| this.contains(n))
    }

    /// Returns whether no label is set.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.bytes.iter().all(|&b| b == 0)
    }
}

/// Writes label `n` into a bitmap of host-endian 32-bit words; returns `false` if `n` is
/// beyond the bitmap.
#[inline]
pub fn set_label(bitmap: &mut [u8], n: usize) -> bool {
    let w = n / 32;
    let Some(word) = bitmap.get_mut(w * 4..w * 4 + 4) else {
        return false;
    };
    let mut v = [0u8; 4];
    v.copy_from_slice(word);
    let x = u32::from_ne_bytes(v) | (1 << (n % 32));
    word.copy_from_slice(&x.to_ne_bytes());
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_and_read_back() {
        let mut b = [0u8; 16];
        assert!(set_label(&mut b, 1));
        assert!(set_label(&mut b, 127));
        assert!(!set_label(&mut b, 128));
        let v = LabelsView::new(&b);
        assert_eq!(v.iter().collect::<Vec<_>>(), [1, 127]);
        assert!(!v.is_empty());
    }
}

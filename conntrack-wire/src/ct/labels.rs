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

/// An owned label bitmap of at most [`Labels::MAX_LEN`] bytes (128 labels, the most the kernel
/// keeps), stored inline: an owned entry needs no allocation for its labels.
///
/// It dereferences to the bitmap bytes, in the kernel's layout (see [`LabelsView`]).
///
/// ```
/// use conntrack_wire::ct::Labels;
/// let l = Labels::from_labels(&[1, 127]);
/// assert_eq!(l.len(), 16);
/// assert_eq!(l.view().iter().collect::<Vec<_>>(), [1, 127]);
/// assert_eq!(Labels::from_bytes(&l), Some(l));
/// assert!(Labels::from_bytes(&[0; 20]).is_none());
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Labels {
    /// Bytes in use; the rest of `bytes` is zero.
    len: u8,
    bytes: [u8; Labels::MAX_LEN],
}

impl Labels {
    /// The longest bitmap: 16 bytes, 128 labels (`XT_CONNLABEL_MAXBIT` + 1), the size the
    /// kernel sends and the most it accepts.
    pub const MAX_LEN: usize = 16;

    /// Copies a bitmap; `None` if it is longer than [`Labels::MAX_LEN`].
    #[inline]
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        let mut l = Labels {
            len: u8::try_from(b.len()).ok()?,
            bytes: [0; Labels::MAX_LEN],
        };
        l.bytes.get_mut(..b.len())?.copy_from_slice(b);
        Some(l)
    }

    /// A full-size bitmap with labels `labels` set (numbers 0 to 127; larger ones are ignored).
    #[inline]
    pub fn from_labels(labels: &[usize]) -> Self {
        let mut l = Labels {
            len: Labels::MAX_LEN as u8,
            bytes: [0; Labels::MAX_LEN],
        };
        for &n in labels {
            set_label(&mut l.bytes, n);
        }
        l
    }

    /// Returns the bitmap bytes.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or(&[])
    }

    /// Returns a view of the bitmap, to test and list labels.
    #[inline]
    pub fn view(&self) -> LabelsView<'_> {
        LabelsView::new(self.as_bytes())
    }
}

impl core::ops::Deref for Labels {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl AsRef<[u8]> for Labels {
    #[inline]
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl core::fmt::Debug for Labels {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("Labels").field(&self.as_bytes()).finish()
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for Labels {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "Labels({=[u8]})", self.as_bytes())
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

/// Serialised as the list of the label numbers set (`[1, 127]`).
#[cfg(feature = "serde")]
impl serde::Serialize for Labels {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.view().iter())
    }
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

    #[test]
    fn owned_labels_keep_their_length() {
        let short = Labels::from_bytes(&[1, 0, 0, 0]).unwrap();
        assert_eq!(&*short, &[1, 0, 0, 0]);
        assert_eq!(short.view().iter().collect::<Vec<_>>(), [0]);
        assert_ne!(short, Labels::from_labels(&[0]));
        assert_eq!(Labels::from_bytes(&[]).unwrap().len(), 0);
        assert!(Labels::from_bytes(&[0; 16]).is_some());
        assert!(Labels::from_bytes(&[0; 17]).is_none());
        assert_eq!(
            Labels::from_labels(&[3, 200])
                .view()
                .iter()
                .collect::<Vec<_>>(),
            [3]
        );
    }
}

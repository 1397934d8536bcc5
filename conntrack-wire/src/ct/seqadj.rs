//! `CTA_SEQ_ADJ_ORIG` / `CTA_SEQ_ADJ_REPLY`: TCP sequence adjustment (NAT helpers, synproxy).

use crate::consts::*;
use crate::scalar::{Be32, scalar_nest};

scalar_nest! {
    /// A borrowed sequence-adjustment nest.
    view SeqAdjView;
    /// Sequence adjustment of one direction; see [`SeqAdjView`].
    repr SeqAdj;
    nest CTA_SEQ_ADJ_ORIG, max 3;
    /// Returns `CTA_SEQADJ_CORRECTION_POS` (big-endian).
    correction_pos: CTA_SEQADJ_CORRECTION_POS => Be32;
    /// Returns `CTA_SEQADJ_OFFSET_BEFORE` (big-endian).
    offset_before: CTA_SEQADJ_OFFSET_BEFORE => Be32;
    /// Returns `CTA_SEQADJ_OFFSET_AFTER` (big-endian).
    offset_after: CTA_SEQADJ_OFFSET_AFTER => Be32;
}

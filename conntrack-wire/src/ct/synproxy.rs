//! `CTA_SYNPROXY`: SYN proxy state.

use crate::consts::*;
use crate::scalar::{Be32, scalar_nest};

scalar_nest! {
    /// A borrowed `CTA_SYNPROXY` nest.
    view SynproxyView;
    /// SYN proxy state; see [`SynproxyView`].
    repr Synproxy;
    nest CTA_SYNPROXY, max 3;
    /// Returns the initial sequence number (`CTA_SYNPROXY_ISN`, big-endian).
    isn: CTA_SYNPROXY_ISN => Be32;
    /// Returns the timestamp (`CTA_SYNPROXY_ITS`, big-endian).
    its: CTA_SYNPROXY_ITS => Be32;
    /// Returns the timestamp offset (`CTA_SYNPROXY_TSOFF`, big-endian).
    tsoff: CTA_SYNPROXY_TSOFF => Be32;
}

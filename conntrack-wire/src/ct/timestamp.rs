//! `CTA_TIMESTAMP`: start and stop times in nanoseconds (needs `nf_conntrack_timestamp=1`).

use crate::consts::*;
use crate::scalar::{Be64, scalar_nest};

scalar_nest! {
    /// A borrowed `CTA_TIMESTAMP` nest.
    view TimestampView;
    /// Start and stop times; see [`TimestampView`].
    repr Timestamp;
    nest CTA_TIMESTAMP, max 3;
    /// Returns the start time in ns since the epoch (`CTA_TIMESTAMP_START`, big-endian).
    start: CTA_TIMESTAMP_START => Be64;
    /// Returns the stop time in ns since the epoch (`CTA_TIMESTAMP_STOP`, big-endian).
    stop: CTA_TIMESTAMP_STOP => Be64;
}

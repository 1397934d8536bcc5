//! Filters: the kernel-side `CTA_FILTER` dump/flush filter.
//!
//! (The classic-BPF event filter compiler will live beside it in this directory.)

mod cta_filter;

pub use cta_filter::{Filter, FilterView, filter_flags_for};

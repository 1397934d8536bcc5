//! Filters: the kernel-side `CTA_FILTER` dump/flush filter.
//!
//! and, with feature `alloc`, the classic-BPF event filter compiler ([`bpf`]).

#[cfg(feature = "alloc")]
pub mod bpf;
mod cta_filter;

pub use cta_filter::{Filter, FilterView, filter_flags_for};

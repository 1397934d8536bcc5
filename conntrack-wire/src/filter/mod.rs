//! Filters: the kernel-side `CTA_FILTER` dump/flush filter, the user-space evaluation of a
//! dump filter ([`crate::request::DumpFilter::matches`]), and, with feature `alloc`, the
//! classic-BPF event filter compiler ([`bpf`]).

#[cfg(feature = "alloc")]
pub mod bpf;
mod cta_filter;
mod dump_match;

pub use cta_filter::{Filter, FilterView, filter_flags_for};

//! Statistics: per-CPU conntrack (`CTA_STATS_*`), global (`CTA_STATS_GLOBAL_*`) and per-CPU
//! expectation (`CTA_STATS_EXP_*`) counters. All values are big-endian `u32`.

use crate::consts::*;
use crate::scalar::{Be32, scalar_nest};

scalar_nest! {
    /// A borrowed per-CPU conntrack statistics message (`IPCTNL_MSG_CT_GET_STATS_CPU` reply);
    /// the CPU number is the message's `res_id`.
    view CpuStatsView;
    /// Per-CPU conntrack statistics; see [`CpuStatsView`].
    repr CpuStats;
    nest 0, max 15;
    /// Returns `CTA_STATS_SEARCHED` (no longer sent by the kernel).
    searched: CTA_STATS_SEARCHED => Be32;
    /// Returns `CTA_STATS_FOUND`.
    found: CTA_STATS_FOUND => Be32;
    /// Returns `CTA_STATS_NEW` (no longer sent by the kernel).
    new: CTA_STATS_NEW => Be32;
    /// Returns `CTA_STATS_INVALID`.
    invalid: CTA_STATS_INVALID => Be32;
    /// Returns `CTA_STATS_IGNORE` (no longer sent by the kernel).
    ignore: CTA_STATS_IGNORE => Be32;
    /// Returns `CTA_STATS_DELETE` (no longer sent by the kernel).
    delete: CTA_STATS_DELETE => Be32;
    /// Returns `CTA_STATS_DELETE_LIST` (no longer sent by the kernel).
    delete_list: CTA_STATS_DELETE_LIST => Be32;
    /// Returns `CTA_STATS_INSERT`.
    insert: CTA_STATS_INSERT => Be32;
    /// Returns `CTA_STATS_INSERT_FAILED`.
    insert_failed: CTA_STATS_INSERT_FAILED => Be32;
    /// Returns `CTA_STATS_DROP`.
    drop: CTA_STATS_DROP => Be32;
    /// Returns `CTA_STATS_EARLY_DROP`.
    early_drop: CTA_STATS_EARLY_DROP => Be32;
    /// Returns `CTA_STATS_ERROR`.
    error: CTA_STATS_ERROR => Be32;
    /// Returns `CTA_STATS_SEARCH_RESTART`.
    search_restart: CTA_STATS_SEARCH_RESTART => Be32;
    /// Returns `CTA_STATS_CLASH_RESOLVE`.
    clash_resolve: CTA_STATS_CLASH_RESOLVE => Be32;
    /// Returns `CTA_STATS_CHAIN_TOOLONG`.
    chain_toolong: CTA_STATS_CHAIN_TOOLONG => Be32;
}

scalar_nest! {
    /// A borrowed global conntrack statistics message (`IPCTNL_MSG_CT_GET_STATS` reply).
    view GlobalStatsView;
    /// Global conntrack statistics; see [`GlobalStatsView`].
    repr GlobalStats;
    nest 0, max 2;
    /// Returns the number of entries (`CTA_STATS_GLOBAL_ENTRIES`).
    entries: CTA_STATS_GLOBAL_ENTRIES => Be32;
    /// Returns the table limit (`CTA_STATS_GLOBAL_MAX_ENTRIES`).
    max_entries: CTA_STATS_GLOBAL_MAX_ENTRIES => Be32;
}

scalar_nest! {
    /// A borrowed per-CPU expectation statistics message (`IPCTNL_MSG_EXP_GET_STATS_CPU` reply).
    view ExpStatsView;
    /// Per-CPU expectation statistics; see [`ExpStatsView`].
    repr ExpStats;
    nest 0, max 3;
    /// Returns `CTA_STATS_EXP_NEW`.
    new: CTA_STATS_EXP_NEW => Be32;
    /// Returns `CTA_STATS_EXP_CREATE`.
    create: CTA_STATS_EXP_CREATE => Be32;
    /// Returns `CTA_STATS_EXP_DELETE`.
    delete: CTA_STATS_EXP_DELETE => Be32;
}

//! Statistics: per-CPU and global conntrack counters, per-CPU expectation counters.

use super::*;

impl Nfct {
    /// Returns the per-CPU conntrack statistics, indexed by CPU.
    ///
    /// ```no_run
    /// use conntrack::{BatchOp, Config, Conn, DumpFilter, Exp, Family, FlushFilter, Key, Nfct};
    /// for (cpu, s) in Nfct::open()?.stats_cpu()? {
    ///     println!("cpu {cpu}: {:?} inserted", s.insert);
    /// }
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn stats_cpu(&self) -> Result<Vec<(u16, CpuStats)>> {
        let mut v = Vec::new();
        self.exchange(Op::Stats, request::ct_stats_cpu, |m, _| {
            let s = m.cpu_stats().map_err(|source| Error::Wire {
                op: Op::Stats,
                source,
            })?;
            v.push((m.res_id().unwrap_or(0), CpuStats::parse(&s)));
            Ok(())
        })?;
        Ok(v)
    }

    /// Returns the global statistics: the number of entries and the table's maximum.
    ///
    /// ```no_run
    /// use conntrack::{BatchOp, Config, Conn, DumpFilter, Exp, Family, FlushFilter, Key, Nfct};
    /// let g = Nfct::open()?.stats()?;
    /// println!("{:?} of {:?}", g.entries, g.max_entries);
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn stats(&self) -> Result<GlobalStats> {
        let mut out = None;
        self.exchange(Op::Stats, request::ct_stats, |m, _| {
            let s = m.global_stats().map_err(|source| Error::Wire {
                op: Op::Stats,
                source,
            })?;
            out = Some(GlobalStats::parse(&s));
            Ok(())
        })?;
        out.ok_or(Error::Kernel {
            op: Op::Stats,
            errno: nix::errno::Errno::ENODATA as i32,
            message: None,
        })
    }

    /// Returns the per-CPU expectation statistics, indexed by CPU.
    ///
    /// ```no_run
    /// use conntrack::{BatchOp, Config, Conn, DumpFilter, Exp, Family, FlushFilter, Key, Nfct};
    /// let per_cpu = Nfct::open()?.exp_stats_cpu()?;
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn exp_stats_cpu(&self) -> Result<Vec<(u16, ExpStats)>> {
        let mut v = Vec::new();
        self.exchange(Op::Stats, request::exp_stats_cpu, |m, _| {
            let s = m.exp_stats().map_err(|source| Error::Wire {
                op: Op::Stats,
                source,
            })?;
            v.push((m.res_id().unwrap_or(0), ExpStats::parse(&s)));
            Ok(())
        })?;
        Ok(v)
    }
}

//! Flushes: whole, kernel-filtered (refused where the kernel would widen them), exact.

use super::*;

impl Nfct {
    /// Refuses a flush the running kernel would widen (see [`Features::flush_honours`]). A
    /// flush of everything needs no probe.
    fn check_flush(&self, family: Family, filter: &FlushFilter) -> Result<()> {
        if family == Family::Any && filter.is_empty() {
            return Ok(());
        }
        let (ft, why) = match crate::kernel::probed() {
            Ok(ft) => (ft, None),
            Err(e) => (Features::default(), Some(e)),
        };
        ft.flush_honours(family, filter)
            .map_err(|feature| Error::Unsupported {
                op: Op::Flush,
                feature,
                reason: match why {
                    None => Reason::Absent,
                    Some(e) => Reason::NotProbed(Box::new(e)),
                },
            })
    }

    /// Flushes every entry of `family` (`Family::Any`: the whole table). A flush of one
    /// family is refused with [`Error::Unsupported`] where the kernel would flush every family
    /// (see [`Nfct::features`]); [`Nfct::flush_matching`] is exact on every kernel.
    ///
    /// ```no_run
    /// use conntrack::{BatchOp, Config, Conn, DumpFilter, Exp, Family, FlushFilter, Key, Nfct};
    /// Nfct::open()?.flush(Family::Ipv6)?;
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn flush(&self, family: Family) -> Result<()> {
        let f = FlushFilter::default();
        self.check_flush(family, &f)?;
        self.request(Op::Flush, |e, seq| {
            request::ct_flush(e, seq, family.af(), &f)
        })
    }

    /// Flushes the entries of `family` that match `filter` in the kernel, in one request. A
    /// filter part the running kernel does not honour on a flush (it would flush more: see
    /// [`Nfct::features`]) is refused with [`Error::Unsupported`], and so is every filter when
    /// the kernel could not be probed; [`Nfct::flush_matching`] deletes the same selection
    /// exactly on every kernel, entry by entry. An empty filter is refused with
    /// [`Error::Invalid`] (use [`Nfct::flush`]). The zone is the entry's zone id whichever
    /// directions it applies to, as for [`DumpFilter::zone`].
    ///
    /// ```no_run
    /// use conntrack::{BatchOp, Config, Conn, DumpFilter, Exp, Family, FlushFilter, Key, Nfct};
    /// Nfct::open()?.flush_filtered(Family::Any, &FlushFilter { zone: Some(3), ..Default::default() })?;
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn flush_filtered(&self, family: Family, filter: &FlushFilter) -> Result<()> {
        let op = Op::Flush;
        if filter.is_empty() {
            return Err(Error::Invalid {
                op,
                what: "an empty flush filter would flush everything; call flush()".into(),
            });
        }
        self.check_flush(family, filter)?;
        self.request(op, |e, seq| request::ct_flush(e, seq, family.af(), filter))
    }

    /// Deletes every entry of `family` matching `filter`, tuple fields included (which the
    /// kernel cannot flush by): a filtered dump, then a batch of deletes by tuple, zone and
    /// id (so that an entry whose tuple was reused meanwhile is never deleted). Returns each
    /// selected entry's key with its [`Outcome`]; an entry that vanished between the dump and
    /// its delete is `Outcome::Failed(Error::NotFound { .. })`. `Err` means nothing was
    /// deleted (the dump failed, or the batch could not start).
    ///
    /// ```no_run
    /// use conntrack::{BatchOp, Config, Conn, DumpFilter, Exp, Family, FlushFilter, Key, Nfct};
    /// let mut t = conntrack::wire::ct::Tuple::default();
    /// t.proto.num = Some(17);
    /// t.proto.dst_port = Some(53);
    /// let done = Nfct::open()?.flush_matching(Family::Any, &DumpFilter { orig: Some(t), ..Default::default() })?;
    /// let deleted = done.iter().filter(|(_, o)| o.is_applied()).count();
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn flush_matching(
        &self,
        family: Family,
        filter: &DumpFilter,
    ) -> Result<Vec<(Key, Outcome)>> {
        let mut ops = Vec::new();
        self.dump_with(family, filter, |c| {
            if let Some(t) = c.tuple_orig() {
                ops.push(BatchOp::Delete(Key {
                    tuple: Tuple::parse(&t),
                    zone: c.zone(),
                    id: c.id(),
                    ..Default::default()
                }));
            }
        })?;
        let report = self.batch(&ops);
        if report
            .outcomes
            .iter()
            .all(|o| matches!(o, Outcome::NotSent))
        {
            if let Some(e) = report.stopped {
                return Err(e);
            }
        }
        Ok(ops
            .into_iter()
            .zip(report.outcomes)
            .filter_map(|(op, o)| match op {
                BatchOp::Delete(k) => Some((k, o)),
                _ => None,
            })
            .collect())
    }
}

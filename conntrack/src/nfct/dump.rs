//! Dumps: the kernel-side filter, streamed and owned dumps, counts, and resync.

use super::*;
use conntrack_wire::filter::bpf::{BpfError, EventFilter, Match};

/// What [`Nfct::resync`] found changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Diff {
    /// Entries that were not known.
    pub added: Vec<Conn>,
    /// Known entries whose state changed (mark, status, protocol state, labels, ...).
    pub changed: Vec<Conn>,
    /// Known entries that no longer exist.
    pub removed: Vec<Conn>,
}

impl Nfct {
    /// Returns the filter as sent to the kernel and the family to dump. A dump is never
    /// refused and never probes: every filtered dump is checked again in user space, so a
    /// filter the kernel ignores costs only speed, and the result is exact on any kernel. IPv6
    /// address matches are left to user space unless a probe found them right (some kernels
    /// invert them), and tuple filters, which the kernel accepts only for one address family,
    /// are left to user space for `Family::Any` unless the filter's addresses name the family.
    fn kernel_filter(&self, family: Family, f: &DumpFilter) -> (Family, DumpFilter) {
        if *f == DumpFilter::default() {
            return (family, *f);
        }
        let mut k = *f;
        let mut family = family;
        // Mark, status, zone and tuple fields are sent whatever the kernel: one that does not
        // know a filter ignores it and returns more, which the user-space check removes. So a
        // dump needs no probe; a probe already made (for a flush) is used for the two cases
        // where sending would return less or fail.
        let ft = crate::kernel::cached().unwrap_or_default();
        if k.status.is_some_and(|(_, m)| m.bits() == 0) {
            k.status = None; // the kernel refuses an empty status mask (EINVAL)
        }
        // Tuple zones: what the kernel compares there has changed between releases, and a
        // tuple zone next to `CTA_ZONE` is refused (EINVAL); they are matched in user space.
        for t in [&mut k.orig, &mut k.reply].into_iter().flatten() {
            t.zone = None;
        }
        if family == Family::Any && (k.orig.is_some() || k.reply.is_some()) {
            let named = [&k.orig, &k.reply]
                .into_iter()
                .flatten()
                .find_map(|t| t.src.or(t.dst));
            match named {
                Some(a) => family = Family::of(a),
                None => {
                    k.orig = None;
                    k.reply = None;
                }
            }
        }
        // IPv6 addresses: some kernels invert the match (they would return less).
        if !ft.dump_tuple_ipv6 {
            for t in [&mut k.orig, &mut k.reply].into_iter().flatten() {
                if t.src.is_some_and(|a| a.is_ipv6()) {
                    t.src = None;
                }
                if t.dst.is_some_and(|a| a.is_ipv6()) {
                    t.dst = None;
                }
            }
        }
        // A proto-less port or ICMP filter is refused by the kernel (EINVAL): keep it in user space.
        for t in [&mut k.orig, &mut k.reply] {
            if t.is_some_and(|t| t.proto.num.is_none() && t.proto != Default::default()) {
                *t = None;
            }
        }
        // `CTA_FILTER_ZONE` only where the kernel knows it (it refuses it otherwise).
        k.filter_zone &= ft.filter_zone_attr && k.zone.is_some();
        for t in [&mut k.orig, &mut k.reply] {
            if *t == Some(Tuple::default()) {
                *t = None;
            }
        }
        (family, k)
    }

    /// Streams a dump as borrowed views straight out of the receive arena: no copy and no
    /// allocation per entry, and memory stays constant whatever the table size. Entries are
    /// filtered in the kernel where it can, and always checked again in user space, so `f`
    /// sees exactly the matching entries.
    ///
    /// `f` returns `()` to go on, or a `ControlFlow` whose `Break` stops the dump at that
    /// entry (see [`DumpFlow`]). `f` must not call this handle: such a call fails with
    /// [`Error::Reentrant`] (use a second `Nfct`, or act after the dump returns). A panic in
    /// `f` propagates to the caller; the handle stays usable.
    ///
    /// ```no_run
    /// use conntrack::{BatchOp, Config, Conn, DumpFilter, Exp, Family, FlushFilter, Key, Nfct};
    /// let mut tcp = 0;
    /// Nfct::open()?.dump_with(Family::Any, &DumpFilter::default(), |ct| {
    ///     tcp += usize::from(ct.tuple_orig().and_then(|t| t.proto_num()) == Some(6));
    /// })?;
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn dump_with<R: DumpFlow>(
        &self,
        family: Family,
        filter: &DumpFilter,
        f: impl FnMut(&ConnView<'_>) -> R,
    ) -> Result<()> {
        let (kfamily, kf) = self.kernel_filter(family, filter);
        let exact = *filter != DumpFilter::default();
        self.dump_where(kfamily, &kf, |_, v| !exact || filter.matches(v), f)
    }

    /// Dumps with the kernel-side filter `kf` and hands `f` each entry that `keep` keeps.
    fn dump_where<R: DumpFlow>(
        &self,
        family: Family,
        kf: &DumpFilter,
        keep: impl Fn(&Message<'_>, &ConnView<'_>) -> bool,
        f: impl FnMut(&ConnView<'_>) -> R,
    ) -> Result<()> {
        self.dump_request(|e, seq| request::ct_dump(e, seq, family.af(), kf), keep, f)
    }

    /// Sends the dump request that `request` builds and hands `f` each entry that `keep`
    /// keeps.
    fn dump_request<R: DumpFlow>(
        &self,
        request: impl Fn(&mut Emitter<'_>, u32),
        keep: impl Fn(&Message<'_>, &ConnView<'_>) -> bool,
        mut f: impl FnMut(&ConnView<'_>) -> R,
    ) -> Result<()> {
        self.exchange_until(Op::Dump, request, |m, layouts| {
            if let MessageKind::Conntrack(_) = m.kind() {
                let v = layouts.conn(&m).map_err(|source| Error::Wire {
                    op: Op::Dump,
                    source,
                })?;
                if keep(&m, &v) {
                    return Ok(f(&v).flow());
                }
            }
            Ok(ControlFlow::Continue(()))
        })
    }

    /// Dumps the entries of `family` that an [`EventFilter`] selects: the filter language of
    /// event streams (networks with prefixes, lists and negation, ports, protocol state,
    /// mark and status with masks, zone, ranges, labels, ...) for a dump, evaluated by the
    /// same code as an event stream's ([`EventFilter::matches`]), so that one selection
    /// serves both. The parts a kernel-side dump filter expresses exactly (one mark or one
    /// status with its mask, not negated) are sent to the kernel as well, which then skips
    /// the other entries. A filter an event stream would refuse (a prefix or label bit out
    /// of range, a bad shard) is [`Error::Invalid`].
    ///
    /// ```no_run
    /// use conntrack::events::{EventFilter, Match};
    /// use conntrack::{Family, Nfct};
    /// let f = EventFilter {
    ///     orig_src_v4: Match::any([("10.0.0.0".parse().unwrap(), 8)]),
    ///     orig_dst_port: Match::none([22]),
    ///     ..Default::default()
    /// };
    /// let mut n = 0;
    /// Nfct::open()?.dump_selected_with(Family::Ipv4, &f, |_| n += 1)?;
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn dump_selected_with<R: DumpFlow>(
        &self,
        family: Family,
        filter: &EventFilter,
        f: impl FnMut(&ConnView<'_>) -> R,
    ) -> Result<()> {
        if let Err(
            e
            @ (BpfError::BadPrefix { .. } | BpfError::BadLabel { .. } | BpfError::BadShard { .. }),
        ) = filter.compile()
        {
            // (A filter too long for a socket program is still a fine dump selection.)
            return Err(Error::Invalid {
                op: Op::Dump,
                what: e.to_string(),
            });
        }
        let (kfamily, kf) = self.kernel_filter(family, &kernel_part(filter));
        self.dump_where(kfamily, &kf, |m, _| filter.matches(m), f)
    }

    /// Dumps the entries an [`EventFilter`] selects into owned entries; see
    /// [`Nfct::dump_selected_with`].
    ///
    /// ```no_run
    /// use conntrack::events::{EventFilter, Match};
    /// use conntrack::{Family, Nfct};
    /// let f = EventFilter { labels: Match::any([1]), ..Default::default() };
    /// let labelled = Nfct::open()?.dump_selected(Family::Any, &f)?;
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn dump_selected(&self, family: Family, filter: &EventFilter) -> Result<Vec<Conn>> {
        let mut v = Vec::new();
        self.dump_selected_with(family, filter, |c| v.push(Conn::parse(c)))?;
        Ok(v)
    }

    /// Dumps one of the kernel's other lists of `family`, or the table while zeroing its
    /// counters (see [`DumpKind`]), handing each entry to `f`.
    ///
    /// ```no_run
    /// use conntrack::{DumpKind, Family, Nfct};
    /// let nfct = Nfct::open()?;
    /// // Read and reset the byte and packet counters of every IPv4 entry, in one pass.
    /// nfct.dump_kind_with(DumpKind::ZeroCounters, Family::Ipv4, |ct| {
    ///     println!("{:?}", ct.counters_orig().and_then(|c| c.bytes()));
    /// })?;
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn dump_kind_with<R: DumpFlow>(
        &self,
        kind: DumpKind,
        family: Family,
        f: impl FnMut(&ConnView<'_>) -> R,
    ) -> Result<()> {
        let af = family.af();
        let request = |e: &mut Emitter<'_>, seq| match kind {
            DumpKind::ZeroCounters => request::ct_dump_ctrzero(e, seq, af, &DumpFilter::default()),
            DumpKind::Dying => request::ct_dump_dying(e, seq, af),
            DumpKind::Unconfirmed => request::ct_dump_unconfirmed(e, seq, af),
        };
        self.dump_request(request, |_, _| true, f)
    }

    /// Like [`Nfct::dump_kind_with`], into owned entries.
    ///
    /// ```no_run
    /// use conntrack::{DumpKind, Family, Nfct};
    /// let dying = Nfct::open()?.dump_kind(DumpKind::Dying, Family::Any)?;
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn dump_kind(&self, kind: DumpKind, family: Family) -> Result<Vec<Conn>> {
        let mut v = Vec::new();
        self.dump_kind_with(kind, family, |c| v.push(Conn::parse(c)))?;
        Ok(v)
    }

    /// Dumps the table of `family` into owned entries.
    ///
    /// ```no_run
    /// use conntrack::{BatchOp, Config, Conn, DumpFilter, Exp, Family, FlushFilter, Key, Nfct};
    /// for c in Nfct::open()?.dump(Family::Ipv4)? {
    ///     println!("{:?}", c.tuple_orig);
    /// }
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn dump(&self, family: Family) -> Result<Vec<Conn>> {
        self.dump_filtered(family, &DumpFilter::default())
    }

    /// Dumps the entries of `family` that match `filter` (applied in the kernel where possible,
    /// and checked again in user space).
    ///
    /// ```no_run
    /// use conntrack::{BatchOp, Config, Conn, DumpFilter, Exp, Family, FlushFilter, Key, Nfct};
    /// let f = DumpFilter { mark: Some((7, 0xff)), ..Default::default() };
    /// let marked = Nfct::open()?.dump_filtered(Family::Any, &f)?;
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn dump_filtered(&self, family: Family, filter: &DumpFilter) -> Result<Vec<Conn>> {
        // For a whole-table dump, size the vector once from the kernel's entry count (one
        // short round trip): growing it by doubling would copy every entry again and fault in
        // twice the memory. Capacity nobody writes to costs address space, not memory. The
        // reservation is capped, and every growth is fallible: a table too large for memory
        // is an error, not an abort.
        let expect = if *filter == DumpFilter::default() {
            self.stats().ok().and_then(|s| s.entries).unwrap_or(0) as usize
        } else {
            0
        }
        .min(PRESIZE_CAP);
        let mut v = Vec::new();
        if v.try_reserve_exact(expect + expect / 32).is_ok()
            && std::mem::size_of_val(v.spare_capacity_mut()) >= HUGE_RESULT
        {
            conntrack_sock::advise_huge_pages(v.spare_capacity_mut());
        }
        let mut out_of_memory = false;
        self.dump_with(family, filter, |c| {
            if v.len() == v.capacity() && v.try_reserve(v.len().max(1024)).is_err() {
                out_of_memory = true;
                return ControlFlow::Break(());
            }
            v.push(Conn::parse(c));
            ControlFlow::Continue(())
        })?;
        if out_of_memory {
            return Err(Error::io(
                Op::Dump,
                std::io::Error::new(
                    std::io::ErrorKind::OutOfMemory,
                    format!("no memory for more than {} entries", v.len()),
                ),
            ));
        }
        Ok(v)
    }

    /// Counts the entries of `family` (a dump that decodes nothing but the message headers).
    ///
    /// ```no_run
    /// use conntrack::{BatchOp, Config, Conn, DumpFilter, Exp, Family, FlushFilter, Key, Nfct};
    /// println!("{} entries", Nfct::open()?.count(Family::Any)?);
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn count(&self, family: Family) -> Result<usize> {
        let mut n = 0;
        self.exchange(
            Op::Dump,
            |e, seq| request::ct_dump(e, seq, family.af(), &DumpFilter::default()),
            |m, _| {
                n += usize::from(matches!(m.kind(), MessageKind::Conntrack(_)));
                Ok(())
            },
        )?;
        Ok(n)
    }

    /// Dumps `family` and reports what changed since `known` (the caller's last view of the
    /// table, by entry id), then brings `known` up to date. This is how an event consumer
    /// recovers after an [`crate::events::Event::Overrun`]: every entry created, changed or
    /// destroyed while events were lost shows up in the returned [`Diff`]. Timeouts, counters,
    /// timestamps and the use count change constantly and are not counted as changes.
    /// [`crate::Mirror`] keeps such a map from a stream and calls this for you; it keys entries
    /// by tuple and zone, since ids are 32-bit hashes that two live entries may share (about
    /// one pair in 100,000 entries), in which case `known` holds only one of them.
    ///
    /// ```no_run
    /// use conntrack::{BatchOp, Config, Conn, DumpFilter, Exp, Family, FlushFilter, Key, Nfct};
    /// let nfct = Nfct::open()?;
    /// let mut known = std::collections::HashMap::new();
    /// let diff = nfct.resync(Family::Any, &mut known)?;
    /// println!("{} new, {} changed, {} gone", diff.added.len(), diff.changed.len(), diff.removed.len());
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn resync(
        &self,
        family: Family,
        known: &mut std::collections::HashMap<u32, Conn>,
    ) -> Result<Diff> {
        fn stable(c: &Conn) -> Conn {
            let mut c = c.clone();
            c.timeout = None;
            c.set_counters_orig(None);
            c.set_counters_reply(None);
            c.use_count = None;
            c.set_timestamp(None);
            c
        }
        let mut seen = std::collections::HashSet::new();
        let mut diff = Diff::default();
        self.dump_with(family, &DumpFilter::default(), |v| {
            let Some(id) = v.id() else { return };
            seen.insert(id);
            let c = Conn::parse(v);
            match known.get(&id) {
                None => diff.added.push(c.clone()),
                Some(old) if stable(old) != stable(&c) => diff.changed.push(c.clone()),
                Some(_) => {}
            }
            known.insert(id, c);
        })?;
        let gone: Vec<u32> = known
            .keys()
            .filter(|id| !seen.contains(id))
            .copied()
            .collect();
        for id in gone {
            if let Some(c) = known.remove(&id) {
                let fam_ok = family == Family::Any || c.family() == Some(family.af());
                if fam_ok {
                    diff.removed.push(c);
                } else {
                    known.insert(id, c);
                }
            }
        }
        Ok(diff)
    }
}

/// The part of an event filter that a kernel-side dump filter expresses exactly: one mark
/// and one status criterion with their masks, not negated (the kernel compares
/// `value & mask`, as the event filter does).
fn kernel_part(f: &EventFilter) -> DumpFilter {
    let one = |m: &Match<(u32, u32)>| match (m.values.as_slice(), m.negate) {
        ([(v, mask)], false) => Some((v & mask, *mask)),
        _ => None,
    };
    DumpFilter {
        mark: one(&f.mark),
        status: one(&f.status).map(|(v, m)| (Status(v), Status(m))),
        ..Default::default()
    }
}

/// A dump other than the plain table's; see [`Nfct::dump_kind_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DumpKind {
    /// The table, each entry's byte and packet counters zeroed as it is dumped
    /// (`IPCTNL_MSG_CT_GET_CTRZERO`): the entries show the counts before the zeroing, and no
    /// count is lost between the read and the reset. Every entry of the family is zeroed:
    /// no filter is offered, since a kernel that ignored one would zero more than asked.
    ZeroCounters,
    /// The dying list: entries removed from the table but still referenced
    /// (`IPCTNL_MSG_CT_GET_DYING`).
    Dying,
    /// The unconfirmed list: entries of packets not yet past the confirm hook
    /// (`IPCTNL_MSG_CT_GET_UNCONFIRMED`).
    Unconfirmed,
}

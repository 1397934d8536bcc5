//! Expectations: dump, get, create, delete, flush.

use super::*;

impl Nfct {
    /// Dumps the expectation table of `family`.
    ///
    /// ```no_run
    /// use conntrack::{BatchOp, Config, Conn, DumpFilter, Exp, Family, FlushFilter, Key, Nfct};
    /// for x in Nfct::open()?.exp_dump(Family::Any)? {
    ///     println!("{:?} by {:?}", x.tuple, x.helper_name);
    /// }
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn exp_dump(&self, family: Family) -> Result<Vec<Exp>> {
        let mut v = Vec::new();
        self.exchange(
            Op::ExpDump,
            |e, seq| request::exp_dump(e, seq, family.af()),
            |m, _| {
                if let MessageKind::Expect(_) = m.kind() {
                    let x = m.exp().map_err(|source| Error::Wire {
                        op: Op::ExpDump,
                        source,
                    })?;
                    v.push(Exp::parse(&x));
                }
                Ok(())
            },
        )?;
        Ok(v)
    }

    fn tuple_af(op: Op, t: &Tuple) -> Result<u8> {
        t.family().ok_or_else(|| Error::Invalid {
            op,
            what: "the expected tuple needs addresses".into(),
        })
    }

    /// Gets the expectation for the expected tuple `tuple` in `zone`.
    ///
    /// ```no_run
    /// use conntrack::{BatchOp, Config, Conn, DumpFilter, Exp, Family, FlushFilter, Key, Nfct};
    /// let master = Conn::tcp("10.0.0.1:40000".parse().unwrap(), "10.0.0.2:21".parse().unwrap());
    /// let x = Exp::reverse_to_port(&master.tuple_orig.unwrap(), 50000, 60);
    /// let found = Nfct::open()?.exp_get(&x.tuple.unwrap(), None)?;
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn exp_get(&self, tuple: &Tuple, zone: Option<u16>) -> Result<Exp> {
        let af = Self::tuple_af(Op::ExpGet, tuple)?;
        let mut out = None;
        self.exchange(
            Op::ExpGet,
            |e, seq| request::exp_get(e, seq, af, tuple, zone),
            |m, _| {
                let x = m.exp().map_err(|source| Error::Wire {
                    op: Op::ExpGet,
                    source,
                })?;
                out = Some(Exp::parse(&x));
                Ok(())
            },
        )?;
        out.ok_or(Error::NotFound { op: Op::ExpGet })
    }

    /// Creates an expectation. Its master (`x.master`) must exist and have a helper.
    ///
    /// ```no_run
    /// use conntrack::{BatchOp, Config, Conn, DumpFilter, Exp, Family, FlushFilter, Key, Nfct};
    /// let master = Conn::tcp("10.0.0.1:40000".parse().unwrap(), "10.0.0.2:21".parse().unwrap());
    /// Nfct::open()?.exp_create(&Exp::reverse_to_port(&master.tuple_orig.unwrap(), 50000, 60))?;
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn exp_create(&self, x: &Exp) -> Result<()> {
        let op = Op::ExpCreate;
        let (Some(master), Some(tuple), Some(_)) = (&x.master, &x.tuple, &x.mask) else {
            return Err(Error::Invalid {
                op,
                what: "an expectation needs master, tuple and mask".into(),
            });
        };
        let af = Self::tuple_af(op, tuple)?;
        if master.family() != Some(af) {
            return Err(Error::Invalid {
                op,
                what: "master and expected tuple are of different families".into(),
            });
        }
        self.request(op, |e, seq| request::exp_create(e, seq, af, x))
    }

    /// Deletes the expectation for the expected tuple `tuple` in `zone`.
    ///
    /// ```no_run
    /// use conntrack::{BatchOp, Config, Conn, DumpFilter, Exp, Family, FlushFilter, Key, Nfct};
    /// let master = Conn::tcp("10.0.0.1:40000".parse().unwrap(), "10.0.0.2:21".parse().unwrap());
    /// let x = Exp::reverse_to_port(&master.tuple_orig.unwrap(), 50000, 60);
    /// Nfct::open()?.exp_delete(&x.tuple.unwrap(), None)?;
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn exp_delete(&self, tuple: &Tuple, zone: Option<u16>) -> Result<()> {
        let af = Self::tuple_af(Op::ExpDelete, tuple)?;
        self.request(Op::ExpDelete, |e, seq| {
            request::exp_delete(e, seq, af, tuple, zone, None)
        })
    }

    /// Flushes the expectation table of `family`. The kernel's expectation flush removes
    /// every expectation whatever the family it is sent with (a test checks this against the
    /// running kernel), so for `Family::Any` one flush request empties the table and the
    /// returned list is empty, while for one family the expectations of that family are
    /// dumped and deleted one by one (by tuple and zone), and each comes back with its
    /// [`Outcome`]: the other family's expectations are never touched. An expectation that
    /// vanished between the dump and its delete is `Outcome::Failed(Error::NotFound { .. })`.
    ///
    /// ```no_run
    /// use conntrack::{BatchOp, Config, Conn, DumpFilter, Exp, Family, FlushFilter, Key, Nfct};
    /// Nfct::open()?.exp_flush(Family::Any)?;
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn exp_flush(&self, family: Family) -> Result<Vec<(Exp, Outcome)>> {
        if family == Family::Any {
            self.request(Op::ExpFlush, |e, seq| {
                request::exp_flush(e, seq, family.af())
            })?;
            return Ok(Vec::new());
        }
        // The kernel's dump already keeps to the family; check it again all the same.
        self.exp_delete_matching(family, |x| {
            x.tuple.and_then(|t| t.family()) == Some(family.af())
        })
    }

    /// Deletes the expectations of `family` that `selected` picks: dumps them, then deletes
    /// each by its expected tuple, zone and id (so that an expectation created meanwhile with
    /// the same tuple is never hit), and returns each with its [`Outcome`]. One that vanished
    /// between the dump and its delete is `Outcome::Failed(Error::NotFound { .. })`.
    ///
    /// ```no_run
    /// use conntrack::{Family, Nfct};
    /// let nfct = Nfct::open()?;
    /// let ftp = nfct.exp_delete_matching(Family::Any, |x| x.helper_name.as_deref() == Some("ftp"))?;
    /// println!("{} ftp expectations deleted", ftp.len());
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn exp_delete_matching(
        &self,
        family: Family,
        mut selected: impl FnMut(&Exp) -> bool,
    ) -> Result<Vec<(Exp, Outcome)>> {
        let mut done = Vec::new();
        for x in self.exp_dump(family)? {
            if x.tuple.is_none() || !selected(&x) {
                continue;
            }
            let outcome = match self.exp_delete_exact(&x) {
                Ok(()) => Outcome::Applied,
                Err(e @ Error::Reentrant { .. }) => return Err(e),
                Err(e) => Outcome::Failed(e),
            };
            done.push((x, outcome));
        }
        Ok(done)
    }

    /// Deletes the expectation `x` names: its expected tuple and zone, and its id when it has
    /// one (the kernel then deletes nothing unless the id matches: `Error::NotFound`).
    ///
    /// ```no_run
    /// use conntrack::{Family, Nfct};
    /// let nfct = Nfct::open()?;
    /// for x in nfct.exp_dump(Family::Any)? {
    ///     nfct.exp_delete_exact(&x)?;
    /// }
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn exp_delete_exact(&self, x: &Exp) -> Result<()> {
        let op = Op::ExpDelete;
        let Some(tuple) = &x.tuple else {
            return Err(Error::Invalid {
                op,
                what: "an expectation is deleted by its expected tuple".into(),
            });
        };
        let af = Self::tuple_af(op, tuple)?;
        self.request(op, |e, seq| {
            request::exp_delete(e, seq, af, tuple, x.zone, x.id)
        })
    }
}

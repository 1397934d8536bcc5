//! One entry: checks of keys and entries, get, create, update, delete.

use super::*;

impl Nfct {
    pub(crate) fn check_key(op: Op, k: &Key) -> Result<u8> {
        Self::check_tuple(op, &k.tuple)
    }

    /// Checks that a request's tuple names one entry: addresses of one family, a protocol,
    /// and both ports where the protocol has them; returns the address family.
    fn check_tuple(op: Op, t: &Tuple) -> Result<u8> {
        let (Some(src), Some(dst), Some(proto)) = (t.src, t.dst, t.proto.num) else {
            return Err(Error::Invalid {
                op,
                what: "the tuple needs a source, a destination and a protocol".into(),
            });
        };
        if src.is_ipv4() != dst.is_ipv4() {
            return Err(Error::Invalid {
                op,
                what: "source and destination are of different families".into(),
            });
        }
        let ports = matches!(
            proto,
            IPPROTO_TCP | IPPROTO_UDP | IPPROTO_SCTP | IPPROTO_DCCP | IPPROTO_UDPLITE
        );
        if ports && (t.proto.src_port.is_none() || t.proto.dst_port.is_none()) {
            return Err(Error::Invalid {
                op,
                what: format!("protocol {proto} needs both ports in the tuple"),
            });
        }
        Ok(Family::of(src).af())
    }

    /// Gets one entry by tuple (and zone); `key.id`, if set, must match too.
    ///
    /// ```no_run
    /// use conntrack::{BatchOp, Config, Conn, DumpFilter, Exp, Family, FlushFilter, Key, Nfct};
    /// let c = Conn::udp("10.0.0.1:5353".parse().unwrap(), "10.0.0.2:53".parse().unwrap());
    /// let found = Nfct::open()?.get(&Key { tuple: c.tuple_orig.unwrap(), ..Default::default() })?;
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn get(&self, key: &Key) -> Result<Conn> {
        self.get_with(key, Conn::parse)
    }

    /// Gets one entry by its tuple and hands its borrowed view to `f`, whose result is
    /// returned: no allocation and no copy of the entry, for hot paths that read a few fields
    /// (the state, a mark, the counters). Errors as [`Nfct::get`]; a key with an id finds
    /// only the entry with that id ([`Error::NotFound`] for another, which the kernel would
    /// return: it looks the tuple up and ignores the id).
    ///
    /// ```no_run
    /// use conntrack::{BatchOp, Config, Conn, DumpFilter, Exp, Family, FlushFilter, Key, Nfct};
    /// let c = Conn::tcp("10.0.0.1:1234".parse().unwrap(), "10.0.0.2:80".parse().unwrap());
    /// let key = Key { tuple: c.tuple_orig.unwrap(), ..Default::default() };
    /// let mark = Nfct::open()?.get_with(&key, |v| v.mark())?;
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn get_with<R>(&self, key: &Key, f: impl FnOnce(&ConnView<'_>) -> R) -> Result<R> {
        let af = Self::check_key(Op::Get, key)?;
        let mut f = Some(f);
        let mut out = None;
        self.exchange(
            Op::Get,
            |e, seq| request::ct_get(e, seq, af, key),
            |m, layouts| {
                let v = layouts.conn(&m).map_err(|source| Error::Wire {
                    op: Op::Get,
                    source,
                })?;
                // The kernel looks an entry up by its tuple and ignores a `CTA_ID` in a get: an
                // entry with another id (a newer one that reuses the tuple) is not this one.
                if key.id.is_none_or(|id| v.id() == Some(id)) {
                    if let Some(f) = f.take() {
                        out = Some(f(&v));
                    }
                }
                Ok(())
            },
        )?;
        out.ok_or(Error::NotFound { op: Op::Get })
    }

    /// Gets one entry by its id (`CTA_ID`). The kernel has no lookup by id, so this walks a dump.
    ///
    /// ```no_run
    /// use conntrack::{BatchOp, Config, Conn, DumpFilter, Exp, Family, FlushFilter, Key, Nfct};
    /// let c = Nfct::open()?.get_by_id(1234)?;
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn get_by_id(&self, id: u32) -> Result<Conn> {
        let mut out = None;
        self.dump_with(Family::Any, &DumpFilter::default(), |c| {
            if c.id() != Some(id) {
                return ControlFlow::Continue(());
            }
            out = Some(Conn::parse(c));
            ControlFlow::Break(())
        })?;
        out.ok_or(Error::NotFound { op: Op::Get })
    }

    pub(crate) fn check_conn(op: Op, c: &Conn, create: bool) -> Result<u8> {
        let orig = c.tuple_orig.as_ref().or(c.tuple_reply.as_ref());
        let Some(t) = orig else {
            return Err(Error::Invalid {
                op,
                what: "the entry needs an original or reply tuple".into(),
            });
        };
        let af = Self::check_tuple(op, t)?;
        if let (Some(o), Some(r)) = (&c.tuple_orig, &c.tuple_reply) {
            if o.family() != r.family() || o.proto.num != r.proto.num {
                return Err(Error::Invalid {
                    op,
                    what: "original and reply tuples disagree on family or protocol".into(),
                });
            }
        }
        if create {
            if c.tuple_orig.is_none() || c.tuple_reply.is_none() {
                return Err(Error::Invalid {
                    op,
                    what: "a create needs both the original and the reply tuple".into(),
                });
            }
            if c.timeout.is_none() {
                return Err(Error::Invalid {
                    op,
                    what: "a create needs a timeout".into(),
                });
            }
            if !c.status.unwrap_or_default().contains(Status::CONFIRMED) {
                return Err(Error::Invalid {
                    op,
                    what: "a create needs IPS_CONFIRMED in its status".into(),
                });
            }
        }
        Ok(af)
    }

    /// Creates an entry (it must not exist). See [`Conn::flow`] for building one.
    ///
    /// ```no_run
    /// use conntrack::{BatchOp, Config, Conn, DumpFilter, Exp, Family, FlushFilter, Key, Nfct};
    /// let c = Conn::udp("10.0.0.1:5353".parse().unwrap(), "10.0.0.2:53".parse().unwrap()).with_timeout(30);
    /// Nfct::open()?.create(&c)?;
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn create(&self, c: &Conn) -> Result<()> {
        let af = Self::check_conn(Op::Create, c, true)?;
        self.request(Op::Create, |e, seq| request::ct_create(e, seq, af, c))
    }

    /// Updates an existing entry, named by its tuple: the fields set in `c` are changed.
    ///
    /// ```no_run
    /// use conntrack::{Conn, Nfct, Tuple};
    /// let t = Tuple::flow(17, "10.0.0.1:5353".parse().unwrap(), "10.0.0.2:53".parse().unwrap());
    /// Nfct::open()?.update(&Conn::for_tuple(t).with_mark(9))?;
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn update(&self, c: &Conn) -> Result<()> {
        let af = Self::check_conn(Op::Update, c, false)?;
        self.request(Op::Update, |e, seq| request::ct_update(e, seq, af, c))
    }

    /// Deletes the entry named by `key` (tuple, zone, and optionally id).
    ///
    /// ```no_run
    /// use conntrack::{BatchOp, Config, Conn, DumpFilter, Exp, Family, FlushFilter, Key, Nfct};
    /// let c = Conn::udp("10.0.0.1:5353".parse().unwrap(), "10.0.0.2:53".parse().unwrap());
    /// Nfct::open()?.delete(&Key { tuple: c.tuple_orig.unwrap(), ..Default::default() })?;
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn delete(&self, key: &Key) -> Result<()> {
        let af = Self::check_key(Op::Delete, key)?;
        self.request(Op::Delete, |e, seq| request::ct_delete(e, seq, af, key))
    }

    /// Deletes the entry with id `id`: its tuple is looked up in a dump and the delete carries
    /// both tuple and id, so a reused tuple is never deleted by mistake.
    ///
    /// ```no_run
    /// use conntrack::{BatchOp, Config, Conn, DumpFilter, Exp, Family, FlushFilter, Key, Nfct};
    /// Nfct::open()?.delete_by_id(1234)?;
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn delete_by_id(&self, id: u32) -> Result<()> {
        let c = self.get_by_id(id).map_err(|e| match e {
            Error::NotFound { .. } => Error::NotFound { op: Op::Delete },
            e => e,
        })?;
        let (Some(tuple), zone) = (c.tuple_orig, c.zone) else {
            return Err(Error::NotFound { op: Op::Delete });
        };
        self.delete(&Key {
            tuple,
            zone,
            id: Some(id),
            ..Default::default()
        })
    }
}

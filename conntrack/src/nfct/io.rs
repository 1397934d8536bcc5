//! The exchange: one request sent, its replies fed to the state machine.

use super::*;

impl Nfct {
    /// Runs one exchange: builds the request with `f`, sends it, and hands each reply payload to
    /// `on_item` until the kernel ends the exchange.
    pub(crate) fn exchange(
        &self,
        op: Op,
        f: impl Fn(&mut Emitter<'_>, u32),
        mut on_item: impl FnMut(Message<'_>, &mut ConnDecoder) -> Result<()>,
    ) -> Result<()> {
        self.exchange_until(op, f, |m, layouts| {
            on_item(m, layouts).map(ControlFlow::Continue)
        })
    }

    /// Runs one exchange whose only reply is the kernel's acknowledgement (a mutation).
    pub(super) fn request(&self, op: Op, f: impl Fn(&mut Emitter<'_>, u32)) -> Result<()> {
        self.exchange(op, f, |_, _| Ok(()))
    }

    /// [`Nfct::exchange`] whose `on_item` may stop the exchange early (`ControlFlow::Break`):
    /// the rest of the replies are then left for the next call to drain.
    pub(super) fn exchange_until(
        &self,
        op: Op,
        f: impl Fn(&mut Emitter<'_>, u32),
        mut on_item: impl FnMut(Message<'_>, &mut ConnDecoder) -> Result<ControlFlow<()>>,
    ) -> Result<()> {
        let mut g = self.lock(op)?;
        let inner = &mut *g;
        inner.seq = inner.seq.wrapping_add(1).max(1);
        let seq = inner.seq;
        build(&mut inner.req, |e| f(e, seq)).map_err(|source| Error::Wire { op, source })?;
        let flags = Messages::new(&inner.req)
            .next()
            .and_then(|m| m.ok())
            .map_or(0, |m| m.flags());
        let mut x = Exchange::new(op, seq, self.port_id, flags);
        // Until the exchange ends, the socket holds (or the kernel still makes) its replies:
        // a call that returns early, by error, stop or panic, leaves them to the next drain.
        inner.dirty = true;
        inner.sock.send(&inner.req).map_err(|e| Error::io(op, e))?;
        let mut result = Ok(());
        let layouts = &mut *inner.layouts;
        let mut feed = |d: &[u8], meta: RecvMeta, x: &mut Exchange| {
            feed_datagram(d, meta, x, op, &mut result, &mut |m| on_item(m, layouts))
        };
        let mut batches = 0;
        'recv: while !x.finished() {
            // A dump longer than one batch: read the rest on a helper thread.
            if batches == 1 && self.pipeline && x.is_dump() {
                let Inner { sock, pipeline, .. } = inner;
                crate::pipeline::finish(sock, pipeline, self.slots, &mut x, op, &mut feed)?;
                break;
            }
            batches += 1;
            if x.single_reply() {
                let meta = inner
                    .sock
                    .recv(&mut inner.reply)
                    .map_err(|e| Error::io(op, e))?;
                let d = inner.reply.get(..meta.len).unwrap_or(&[]);
                if feed(d, meta, &mut x)?.is_break() {
                    break;
                }
                continue;
            }
            inner
                .sock
                .recv_batch(&mut inner.arena)
                .map_err(|e| Error::io(op, e))?;
            for (d, meta) in inner.arena.iter() {
                if feed(d, meta, &mut x)?.is_break() {
                    break 'recv;
                }
            }
        }
        // A stop leaves the exchange unfinished; a finished one left nothing behind, unless
        // a later datagram of the same batch was not fed (it was read all the same).
        inner.dirty = !x.finished();
        result
    }
}

/// Feeds one received datagram to the exchange: each reply item goes to `on_item` until an
/// error is recorded in `result` (later items are read and dropped, so that the exchange
/// still ends); a `Break` from `on_item` stops at once.
fn feed_datagram(
    d: &[u8],
    meta: RecvMeta,
    x: &mut Exchange,
    op: Op,
    result: &mut Result<()>,
    on_item: &mut impl FnMut(Message<'_>) -> Result<ControlFlow<()>>,
) -> Result<ControlFlow<()>> {
    if meta.truncated {
        return Err(Error::Wire {
            op,
            source: conntrack_wire::Error::Truncated {
                need: meta.len,
                have: d.len(),
            },
        });
    }
    for m in Messages::new(d) {
        let m = m.map_err(|source| Error::Wire { op, source })?;
        match x.feed(m) {
            Step::Skip | Step::Done => {}
            Step::Item(m) if result.is_ok() => match on_item(m) {
                Ok(ControlFlow::Continue(())) => {}
                Ok(ControlFlow::Break(())) => return Ok(ControlFlow::Break(())),
                Err(e) => *result = Err(e),
            },
            Step::Item(_) => {}
            Step::Failed(e) => {
                if result.is_ok() {
                    *result = Err(e);
                }
            }
        }
    }
    Ok(ControlFlow::Continue(()))
}

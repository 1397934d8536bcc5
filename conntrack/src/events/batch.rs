//! [`Batch`]: one `recvmmsg` worth of datagrams, and the events in them.

use super::*;

/// One batch of events, borrowed from the arena until the next [`Events::recv`].
#[derive(Debug)]
pub struct Batch<'a> {
    pub(super) arena: &'a Arena,
    pub(super) n: usize,
    pub(super) lost: u64,
}

impl<'a> Batch<'a> {
    /// Returns the number of datagrams received.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Returns whether nothing was received and nothing was lost.
    pub fn is_empty(&self) -> bool {
        self.n == 0 && self.lost == 0
    }

    /// Returns how many events the kernel dropped since the previous batch.
    ///
    /// ```no_run
    /// use conntrack::events::{EventConfig, EventView, Events, Groups};
    /// let mut events = Events::open_with(EventConfig::default())?;
    /// if events.recv()?.lost() > 0 { /* resynchronise */ }
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn lost(&self) -> u64 {
        self.lost
    }

    /// Returns the events in order, then an [`EventView::Overrun`] if any were lost.
    ///
    /// ```no_run
    /// use conntrack::events::{EventConfig, EventView, Events, Groups};
    /// let mut events = Events::open_with(EventConfig::default())?;
    /// for ev in events.recv()?.iter() {
    ///     if let EventView::Overrun { lost } = ev { eprintln!("lost {lost}"); }
    /// }
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = EventView<'a>> + 'a {
        BatchIter {
            arena: self.arena,
            next: 0,
            n: self.n,
            msgs: None,
            lost: self.lost,
            layouts: ConnDecoder::new(),
        }
    }

    /// Copies the batch into owned events.
    ///
    /// ```no_run
    /// use conntrack::events::{EventConfig, EventView, Events, Groups};
    /// let mut events = Events::open_with(EventConfig::default())?;
    /// let owned = events.recv()?.to_vec();
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn to_vec(&self) -> Vec<Event> {
        self.iter().map(|e| e.to_event()).collect()
    }
}

/// The events of a [`Batch`], datagram by datagram.
///
/// Written out rather than composed from iterator adapters: an [`EventView`] is over 200
/// bytes, and each adapter layer would move it once more (measured on a profiled backlog
/// drain; see BENCHMARKS.md).
struct BatchIter<'a> {
    arena: &'a Arena,
    /// The next datagram to open.
    next: usize,
    n: usize,
    /// The messages left in the open datagram, and its source namespace.
    msgs: Option<(Messages<'a>, Option<i32>)>,
    /// Events lost, reported once after the last datagram.
    lost: u64,
    /// The layouts of the batch's entries so far: events of one kind are laid out alike.
    layouts: ConnDecoder,
}

impl<'a> Iterator for BatchIter<'a> {
    type Item = EventView<'a>;

    #[inline]
    fn next(&mut self) -> Option<EventView<'a>> {
        loop {
            if let Some((msgs, nsid)) = &mut self.msgs {
                match msgs.next() {
                    Some(Ok(m)) => match classify(m, *nsid, &mut self.layouts) {
                        Some(e) => return Some(e),
                        None => continue,
                    },
                    Some(Err(error)) => return Some(EventView::Malformed { kind: None, error }),
                    None => self.msgs = None,
                }
            }
            if self.next < self.n {
                let i = self.next;
                self.next += 1;
                let Some((d, meta)) = self.arena.get(i) else {
                    continue;
                };
                if meta.truncated {
                    return Some(EventView::Malformed {
                        kind: None,
                        error: conntrack_wire::Error::Truncated {
                            need: meta.len,
                            have: d.len(),
                        },
                    });
                }
                self.msgs = Some((Messages::new(d), meta.nsid));
                continue;
            }
            if self.lost > 0 {
                let lost = std::mem::take(&mut self.lost);
                return Some(EventView::Overrun { lost });
            }
            return None;
        }
    }
}

#[inline]
fn classify<'a>(
    m: conntrack_wire::Message<'a>,
    nsid: Option<i32>,
    layouts: &mut ConnDecoder,
) -> Option<EventView<'a>> {
    let kind = match m.kind() {
        MessageKind::Conntrack(CtMsg::New) => EventKind::New,
        MessageKind::Conntrack(CtMsg::Update) => EventKind::Update,
        MessageKind::Conntrack(CtMsg::Delete) => EventKind::Destroy,
        MessageKind::Expect(ExpMsg::New) => EventKind::ExpNew,
        MessageKind::Expect(ExpMsg::Delete) => EventKind::ExpDestroy,
        _ => return None,
    };
    let malformed = |error| EventView::Malformed {
        kind: Some(kind),
        error,
    };
    Some(match kind {
        EventKind::ExpNew | EventKind::ExpDestroy => match m.exp() {
            Ok(view) => EventView::Exp { kind, view, nsid },
            Err(e) => malformed(e),
        },
        _ => match layouts.conn(&m) {
            Ok(view) => EventView::Conn {
                kind,
                view,
                nsid,
                port_id: m.pid(),
            },
            Err(e) => malformed(e),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use conntrack_wire::consts::*;

    /// A conntrack NEW event (no `NLM_F_CREATE`: an update) whose one attribute, `CTA_MARK`,
    /// is five bytes long instead of four.
    fn bad_event() -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&32u32.to_ne_bytes());
        let ty = (u16::from(NFNL_SUBSYS_CTNETLINK) << 8) | u16::from(IPCTNL_MSG_CT_NEW);
        b.extend_from_slice(&ty.to_ne_bytes());
        b.extend_from_slice(&[0; 10]);
        b.extend_from_slice(&[AF_INET, 0, 0, 0]);
        b.extend_from_slice(&9u16.to_ne_bytes());
        b.extend_from_slice(&CTA_MARK.to_ne_bytes());
        b.extend_from_slice(&[0, 0, 0, 7, 0, 0, 0, 0]);
        b
    }

    #[test]
    fn a_malformed_event_is_reported_one_way_with_its_kind() {
        let bytes = bad_event();
        let m = Messages::new(&bytes).next().unwrap().unwrap();
        let e = classify(m, None, &mut ConnDecoder::default()).unwrap();
        assert!(
            matches!(
                e,
                EventView::Malformed {
                    kind: Some(EventKind::Update),
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(matches!(
            e.to_event(),
            Event::Malformed {
                kind: Some(EventKind::Update),
                ..
            }
        ));
    }
}

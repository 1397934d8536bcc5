//! The events: borrowed ([`EventView`]) and owned ([`Event`]).

use super::*;

/// The kind of a conntrack or expectation event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EventKind {
    /// A new entry (`NLM_F_CREATE|NLM_F_EXCL` set).
    New,
    /// A changed entry.
    Update,
    /// A removed entry.
    Destroy,
    /// A new expectation.
    ExpNew,
    /// A removed expectation.
    ExpDestroy,
}

/// One event borrowed from the receive arena.
// A ConnView is large (its indexes live inline, so decoding never allocates); events are
// produced one at a time by an iterator, so the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum EventView<'a> {
    /// A conntrack event.
    Conn {
        /// NEW, UPDATE or DESTROY.
        kind: EventKind,
        /// The entry.
        view: ConnView<'a>,
        /// The source namespace id, with `all_namespaces`.
        nsid: Option<i32>,
        /// The port id of the netlink socket whose request caused the event (0: the kernel's
        /// own traffic), as conntrack-tools prints it with `[USERSPACE] portid=`.
        port_id: u32,
    },
    /// An expectation event.
    Exp {
        /// ExpNew or ExpDestroy.
        kind: EventKind,
        /// The expectation.
        view: ExpView<'a>,
        /// The source namespace id, with `all_namespaces`.
        nsid: Option<i32>,
    },
    /// Events the kernel dropped because the receive buffer was full: exactly `lost` of them.
    /// The item comes after every event that was queued before the loss (events queued
    /// after it may come before or after the item), so a consumer that resynchronises with
    /// a dump here never applies an event older than the dump afterwards. A
    /// [`crate::Mirror`] does this; see also [`crate::Nfct::resync`].
    Overrun {
        /// The number of dropped events.
        lost: u64,
    },
    /// A message that could not be read: a truncated datagram, bytes that are no netlink
    /// message, or an event whose attributes do not validate. Reported, never fatal: the
    /// stream goes on. This is the one way a malformed event is reported.
    Malformed {
        /// The event's kind, when the message header could be read.
        kind: Option<EventKind>,
        /// Why.
        error: conntrack_wire::Error,
    },
}

/// An owned event.
// Conn is large and Overrun small; boxing would add an allocation to every event for the sake
// of the rare overrun item.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A conntrack event.
    Conn {
        /// NEW, UPDATE or DESTROY.
        kind: EventKind,
        /// The entry.
        conn: Conn,
        /// The source namespace id.
        nsid: Option<i32>,
        /// The port id of the socket whose request caused the event (0: the kernel).
        port_id: u32,
    },
    /// An expectation event.
    Exp {
        /// ExpNew or ExpDestroy.
        kind: EventKind,
        /// The expectation.
        exp: Exp,
        /// The source namespace id.
        nsid: Option<i32>,
    },
    /// `lost` events were dropped here.
    Overrun {
        /// The number of dropped events.
        lost: u64,
    },
    /// An event that did not parse; the stream goes on (see [`EventView::Malformed`]).
    Malformed {
        /// The event's kind, when the message header could be read.
        kind: Option<EventKind>,
        /// Why.
        error: conntrack_wire::Error,
    },
}

impl EventView<'_> {
    /// Copies the event out of the arena.
    ///
    /// ```no_run
    /// use conntrack::events::{EventConfig, EventView, Events, Groups};
    /// let mut events = Events::open_with(EventConfig::default())?;
    /// let first = events.recv()?.iter().next().map(|e| e.to_event());
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn to_event(&self) -> Event {
        match *self {
            EventView::Conn {
                kind,
                view: v,
                nsid,
                port_id,
            } => Event::Conn {
                kind,
                conn: Conn::parse(&v),
                nsid,
                port_id,
            },
            EventView::Exp {
                kind,
                view: v,
                nsid,
            } => Event::Exp {
                kind,
                exp: Exp::parse(&v),
                nsid,
            },
            EventView::Overrun { lost } => Event::Overrun { lost },
            EventView::Malformed { kind, error } => Event::Malformed { kind, error },
        }
    }
}

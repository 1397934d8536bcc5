//! The inline parts of an owned entry that need no `Option` tag each: counters, timestamps,
//! TCP state and labels, packed with one word of presence bits and byte-aligned, so that the
//! whole entry stays at 256 bytes (feature `alloc`). Private: [`Conn`] reads and writes them
//! through its accessors.

use super::*;

const COUNTERS_ORIG: u16 = 1 << 0;
const COUNTERS_REPLY: u16 = 1 << 1;
const TIMESTAMP: u16 = 1 << 2;
const TIMESTAMP_START: u16 = 1 << 3;
const TIMESTAMP_STOP: u16 = 1 << 4;
const LABELS: u16 = 1 << 5;
const TCP: u16 = 1 << 6;
const TCP_STATE: u16 = 1 << 7;
const TCP_WSCALE_ORIGINAL: u16 = 1 << 8;
const TCP_WSCALE_REPLY: u16 = 1 << 9;
const TCP_FLAGS_ORIGINAL: u16 = 1 << 10;
const TCP_FLAGS_REPLY: u16 = 1 << 11;
const SYNPROXY_ZERO: u16 = 1 << 12;
const TIMESTAMP_EVENT: u16 = 1 << 13;

/// Packed parts. Every byte of a part that is absent is zero, so that the derived equality
/// and hash see only what is present.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub(crate) struct Packed {
    /// Packets and bytes of the original direction, then of the reply direction.
    counters: [[u8; 8]; 4],
    /// Start, and stop or (when there is no stop: every event but DESTROY) the event's
    /// time, ns.
    times: [[u8; 8]; 2],
    /// State, window scales (original, reply), flags and mask (original, reply).
    tcp: [u8; 7],
    labels: Labels,
    bits: u16,
}

impl Packed {
    fn has(&self, bit: u16) -> bool {
        self.bits & bit != 0
    }

    fn mark(&mut self, bit: u16, on: bool) {
        if on {
            self.bits |= bit;
        } else {
            self.bits &= !bit;
        }
    }

    /// The counters of the original direction (`reply` false) or the reply direction.
    pub(crate) fn counters(&self, reply: bool) -> Option<Counters> {
        let [op, ob, rp, rb] = self.counters.map(u64::from_ne_bytes);
        let (bit, p, b) = if reply {
            (COUNTERS_REPLY, rp, rb)
        } else {
            (COUNTERS_ORIG, op, ob)
        };
        self.has(bit).then(|| Counters::new(p, b))
    }

    /// Sets (or with `None` removes) one direction's counters.
    pub(crate) fn set_counters(&mut self, reply: bool, c: Option<Counters>) {
        let bit = if reply { COUNTERS_REPLY } else { COUNTERS_ORIG };
        self.mark(bit, c.is_some());
        let c = c.unwrap_or_default();
        let [op, ob, rp, rb] = &mut self.counters;
        let (p, b) = if reply { (rp, rb) } else { (op, ob) };
        (*p, *b) = (c.packets.to_ne_bytes(), c.bytes.to_ne_bytes());
    }

    /// `CTA_TIMESTAMP`.
    pub(crate) fn timestamp(&self) -> Option<Timestamp> {
        let [start, stop] = self.times.map(u64::from_ne_bytes);
        self.has(TIMESTAMP).then(|| Timestamp {
            start: self.has(TIMESTAMP_START).then_some(start),
            stop: self.has(TIMESTAMP_STOP).then_some(stop),
        })
    }

    /// Sets (or removes) `CTA_TIMESTAMP`; clears an event time held here (the caller keeps
    /// it: see [`Packed::set_event`]).
    pub(crate) fn set_timestamp(&mut self, t: Option<Timestamp>) {
        self.mark(TIMESTAMP, t.is_some());
        self.mark(TIMESTAMP_EVENT, false);
        let t = t.unwrap_or_default();
        self.mark(TIMESTAMP_START, t.start.is_some());
        self.mark(TIMESTAMP_STOP, t.stop.is_some());
        self.times = [t.start, t.stop].map(|v| v.unwrap_or(0).to_ne_bytes());
    }

    /// Whether the stop time is held (and the event time, then, cannot be).
    pub(crate) fn has_stop(&self) -> bool {
        self.has(TIMESTAMP_STOP)
    }

    /// `CTA_TIMESTAMP_EVENT`, when held here.
    pub(crate) fn event(&self) -> Option<u64> {
        let [_, event] = self.times.map(u64::from_ne_bytes);
        self.has(TIMESTAMP_EVENT).then_some(event)
    }

    /// Holds (or with `None` drops) the event time in the stop time's place; returns `false`,
    /// holding nothing, when a stop time is there.
    pub(crate) fn set_event(&mut self, e: Option<u64>) -> bool {
        if self.has_stop() {
            return e.is_none();
        }
        self.mark(TIMESTAMP_EVENT, e.is_some());
        let [_, slot] = &mut self.times;
        *slot = e.unwrap_or(0).to_ne_bytes();
        true
    }

    /// `CTA_LABELS`.
    pub(crate) fn labels(&self) -> Option<Labels> {
        self.has(LABELS).then_some(self.labels)
    }

    /// Sets (or removes) `CTA_LABELS`.
    pub(crate) fn set_labels(&mut self, l: Option<Labels>) {
        self.mark(LABELS, l.is_some());
        self.labels = l.unwrap_or_default();
    }

    /// A `CTA_SYNPROXY` of zeros: the kernel gives one to every entry made over ctnetlink
    /// (conntrackd's replicas, for one) and nothing else uses it, so it takes one bit here
    /// rather than an extension per entry.
    pub(crate) fn synproxy_zero(&self) -> bool {
        self.has(SYNPROXY_ZERO)
    }

    /// Marks (or clears) a `CTA_SYNPROXY` of zeros.
    pub(crate) fn set_synproxy_zero(&mut self, on: bool) {
        self.mark(SYNPROXY_ZERO, on)
    }

    /// TCP state held inline (a `CTA_PROTOINFO` with TCP state alone).
    pub(crate) fn tcp(&self) -> Option<TcpInfo> {
        if !self.has(TCP) {
            return None;
        }
        let [state, wso, wsr, fo, fom, fr, frm] = self.tcp;
        Some(TcpInfo {
            state: self.has(TCP_STATE).then_some(state),
            wscale_original: self.has(TCP_WSCALE_ORIGINAL).then_some(wso),
            wscale_reply: self.has(TCP_WSCALE_REPLY).then_some(wsr),
            flags_original: self.has(TCP_FLAGS_ORIGINAL).then_some(TcpFlags {
                flags: fo,
                mask: fom,
            }),
            flags_reply: self.has(TCP_FLAGS_REPLY).then_some(TcpFlags {
                flags: fr,
                mask: frm,
            }),
        })
    }

    /// Sets (or removes) the inline TCP state.
    pub(crate) fn set_tcp(&mut self, t: Option<TcpInfo>) {
        self.mark(TCP, t.is_some());
        let t = t.unwrap_or_default();
        let (fo, fr) = (t.flags_original, t.flags_reply);
        self.mark(TCP_STATE, t.state.is_some());
        self.mark(TCP_WSCALE_ORIGINAL, t.wscale_original.is_some());
        self.mark(TCP_WSCALE_REPLY, t.wscale_reply.is_some());
        self.mark(TCP_FLAGS_ORIGINAL, fo.is_some());
        self.mark(TCP_FLAGS_REPLY, fr.is_some());
        let (fo, fr) = (fo.unwrap_or_default(), fr.unwrap_or_default());
        self.tcp = [
            t.state.unwrap_or(0),
            t.wscale_original.unwrap_or(0),
            t.wscale_reply.unwrap_or(0),
            fo.flags,
            fo.mask,
            fr.flags,
            fr.mask,
        ];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_part_reads_back_as_set_and_clearing_restores_the_default() {
        let mut p = Packed::default();
        let c = Counters::new(3, 4000);
        p.set_counters(true, Some(c));
        assert_eq!((p.counters(false), p.counters(true)), (None, Some(c)));
        let t = Timestamp {
            start: Some(17),
            stop: None,
        };
        p.set_timestamp(Some(t));
        assert_eq!(p.timestamp(), Some(t));
        let l = Labels::from_labels(&[0, 127]);
        p.set_labels(Some(l));
        assert_eq!(p.labels(), Some(l));
        let tcp = TcpInfo {
            state: Some(3),
            flags_reply: Some(TcpFlags {
                flags: 0x23,
                mask: 0x23,
            }),
            ..TcpInfo::default()
        };
        p.set_tcp(Some(tcp));
        assert_eq!(p.tcp(), Some(tcp));
        p.set_tcp(Some(TcpInfo::default()));
        assert_eq!(p.tcp(), Some(TcpInfo::default()), "an empty nest is kept");
        p.set_counters(true, None);
        p.set_timestamp(None);
        p.set_labels(None);
        p.set_tcp(None);
        assert!(p.set_event(Some(9)));
        assert_eq!(p.event(), Some(9));
        p.set_timestamp(Some(Timestamp {
            start: Some(1),
            stop: Some(2),
        }));
        assert_eq!(p.event(), None, "a stop time takes the place");
        assert!(!p.set_event(Some(9)));
        p.set_timestamp(None);
        p.set_synproxy_zero(true);
        assert!(p.synproxy_zero());
        p.set_synproxy_zero(false);
        assert!(p == Packed::default(), "cleared parts leave nothing behind");
    }
}

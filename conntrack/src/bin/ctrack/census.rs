//! Counts of the mirrored entries by family, protocol, TCP state and zone (and, when asked,
//! by remote address), kept as entries come and go, so that reading them costs the number
//! of series and not the number of entries.

use conntrack::Conn;
use conntrack::wire::consts::*;
use std::collections::HashMap;
use std::net::IpAddr;

/// What an entry is counted under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Category {
    /// `AF_INET` or `AF_INET6` (0: unknown).
    pub family: u8,
    /// The layer-4 protocol number.
    pub proto: u8,
    /// The TCP state (TCP entries only).
    pub tcp_state: Option<u8>,
    /// `CTA_ZONE` (0 without one).
    pub zone: u16,
}

impl Category {
    /// The category of an entry.
    pub fn of(c: &Conn) -> Self {
        let t = c.tuple_orig.unwrap_or_default();
        let proto = t.proto.num.unwrap_or(0);
        Category {
            family: match t.src {
                Some(IpAddr::V4(_)) => AF_INET,
                Some(IpAddr::V6(_)) => AF_INET6,
                None => 0,
            },
            proto,
            tcp_state: if proto == IPPROTO_TCP {
                c.protoinfo().and_then(|p| p.tcp).and_then(|t| t.state)
            } else {
                None
            },
            zone: c.zone.unwrap_or(0),
        }
    }
}

/// The remote end of an entry, as `--top-remotes` counts it: the original destination (the
/// host a connection was opened to).
pub fn remote(c: &Conn) -> Option<IpAddr> {
    c.tuple_orig.and_then(|t| t.dst)
}

/// Entry counts by category, and by remote address when enabled.
#[derive(Debug, Default)]
pub struct Census {
    counts: HashMap<Category, u64>,
    remotes: Option<HashMap<IpAddr, u64>>,
}

/// Adds `delta` (+1 or -1) to a count, dropping it at zero.
fn bump<K: std::hash::Hash + Eq>(m: &mut HashMap<K, u64>, k: K, add: bool) {
    if add {
        *m.entry(k).or_insert(0) += 1;
    } else if let Some(n) = m.get_mut(&k) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            m.remove(&k);
        }
    }
}

impl Census {
    /// An empty census; `remotes` also counts entries by remote address.
    pub fn new(remotes: bool) -> Self {
        Census {
            counts: HashMap::new(),
            remotes: remotes.then(HashMap::new),
        }
    }

    /// Counts an entry in (`add`) or out.
    pub fn count(&mut self, c: &Conn, add: bool) {
        bump(&mut self.counts, Category::of(c), add);
        if let (Some(m), Some(a)) = (self.remotes.as_mut(), remote(c)) {
            bump(m, a, add);
        }
    }

    /// Counts `entries` afresh (after a resynchronisation).
    pub fn rebuild<'a>(&mut self, entries: impl Iterator<Item = &'a Conn>) {
        self.counts.clear();
        if let Some(m) = self.remotes.as_mut() {
            m.clear();
        }
        for c in entries {
            self.count(c, true);
        }
    }

    /// The counts, largest first (ties in category order), at most `cap` of them; the rest
    /// summed into the second value.
    pub fn series(&self, cap: usize) -> (Vec<(Category, u64)>, u64) {
        let mut v: Vec<(Category, u64)> = self.counts.iter().map(|(k, n)| (*k, *n)).collect();
        v.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let rest = v.iter().skip(cap).map(|(_, n)| n).sum();
        v.truncate(cap);
        (v, rest)
    }

    /// The `n` remote addresses with the most entries (none unless enabled).
    pub fn top_remotes(&self, n: usize) -> Vec<(IpAddr, u64)> {
        let Some(m) = &self.remotes else {
            return Vec::new();
        };
        let mut v: Vec<(IpAddr, u64)> = m.iter().map(|(k, n)| (*k, *n)).collect();
        v.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v.truncate(n);
        v
    }

    /// The number of entries counted.
    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use conntrack::wire::ct::{TcpState, Tuple};

    fn conn(src: [u8; 4], dst: [u8; 4], proto: u8, zone: u16) -> Conn {
        let t = Tuple::from_addrs(Some(src.into()), Some(dst.into()))
            .with_proto(proto)
            .with_ports(Some(1), Some(2));
        let c = Conn::for_tuple(t).with_zone(zone);
        if proto == IPPROTO_TCP {
            c.with_tcp_state(TcpState::Established)
        } else {
            c
        }
    }

    #[test]
    fn counts_follow_entries_in_and_out() {
        let mut c = Census::new(true);
        let a = conn([10, 0, 0, 1], [10, 0, 0, 9], IPPROTO_TCP, 0);
        let b = conn([10, 0, 0, 2], [10, 0, 0, 9], IPPROTO_TCP, 0);
        let u = conn([10, 0, 0, 3], [10, 0, 0, 8], IPPROTO_UDP, 7);
        for x in [&a, &b, &u] {
            c.count(x, true);
        }
        let (s, rest) = c.series(10);
        assert_eq!(rest, 0);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].1, 2);
        assert_eq!(s[0].0.tcp_state, Some(3));
        assert_eq!((s[1].0.proto, s[1].0.zone, s[1].1), (IPPROTO_UDP, 7, 1));
        assert_eq!(c.top_remotes(1), vec![(IpAddr::from([10, 0, 0, 9]), 2)]);
        let (s, rest) = c.series(1);
        assert_eq!((s.len(), rest), (1, 1), "the capped series are summed");
        c.count(&a, false);
        c.count(&u, false);
        assert_eq!(c.total(), 1);
        assert_eq!(
            c.series(10).0.len(),
            1,
            "a count that reaches zero is dropped"
        );
        c.rebuild([&a, &b].into_iter());
        assert_eq!(c.total(), 2);
    }
}

//! [`Family`]: the address family a dump or flush selects.

use conntrack_wire::consts::{AF_INET, AF_INET6, AF_UNSPEC};
use std::net::IpAddr;

/// An address family selector for dumps and flushes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Family {
    /// Every family (`AF_UNSPEC`).
    #[default]
    Any,
    /// IPv4 (`AF_INET`).
    Ipv4,
    /// IPv6 (`AF_INET6`).
    Ipv6,
}

impl Family {
    /// Returns the `AF_*` value.
    ///
    /// ```
    /// use conntrack::{BatchOp, Config, Conn, DumpFilter, Exp, Family, FlushFilter, Key, Nfct};
    /// assert_eq!(Family::Ipv4.af(), 2);
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn af(self) -> u8 {
        match self {
            Family::Any => AF_UNSPEC,
            Family::Ipv4 => AF_INET,
            Family::Ipv6 => AF_INET6,
        }
    }

    /// Returns the family of an address.
    ///
    /// ```
    /// use conntrack::{BatchOp, Config, Conn, DumpFilter, Exp, Family, FlushFilter, Key, Nfct};
    /// assert_eq!(Family::of("::1".parse().unwrap()), Family::Ipv6);
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn of(a: IpAddr) -> Self {
        if a.is_ipv4() {
            Family::Ipv4
        } else {
            Family::Ipv6
        }
    }
}

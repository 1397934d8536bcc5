//! The NAT options: `-n/--src-nat`, `-g/--dst-nat`, `-j/--any-nat`, each with an optional
//! `ADDR[:PORT]` (`[ADDR6]:PORT` for IPv6). As selectors they follow conntrack-tools: an entry
//! is source-NATed when the kernel marked it so (`IPS_SRC_NAT_DONE`) and its reply destination
//! differs from its original source (or the ports differ); with an address or a port, the
//! translated one must equal it. On create, `--src-nat`/`--dst-nat` set the NAT to apply.

use crate::args::Filter;
use crate::parse::addr;
use crate::{R, bad};
use conntrack::wire::ConnView;
use conntrack::wire::ct::{Nat, Status, TupleView};
use std::net::IpAddr;

/// The value of one NAT option: a translated address, port, both or neither.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NatArg {
    /// The translated address.
    pub addr: Option<IpAddr>,
    /// The translated port.
    pub port: Option<u16>,
}

impl NatArg {
    /// Parses `ADDR`, `ADDR:PORT`, `[ADDR6]:PORT` or `ADDR6`.
    pub fn parse(s: &str) -> R<Self> {
        let port = |p: &str| {
            p.parse::<u16>()
                .map_err(|_| bad(format!("invalid NAT port `{p}`")))
        };
        if let Some(rest) = s.strip_prefix('[') {
            let (a, after) = rest
                .split_once(']')
                .ok_or_else(|| bad("no closing `]` around the IPv6 NAT address"))?;
            let port = match after.strip_prefix(':') {
                Some(p) => Some(port(p)?),
                None if after.is_empty() => None,
                None => return Err(bad(format!("invalid NAT address `{s}`"))),
            };
            return Ok(NatArg {
                addr: Some(addr(a, "NAT")?),
                port,
            });
        }
        match s.split_once(':') {
            Some((a, p)) if !p.contains(':') => Ok(NatArg {
                addr: Some(addr(a, "NAT")?),
                port: Some(port(p)?),
            }),
            _ => Ok(NatArg {
                addr: Some(addr(s, "NAT")?),
                port: None,
            }),
        }
    }

    /// The NAT range of a create: one address (and port).
    pub fn range(&self, what: &str) -> R<Nat> {
        let a = self
            .addr
            .ok_or_else(|| bad(format!("create needs an address with {what}")))?;
        let n = Nat::range(a, a);
        Ok(match self.port {
            Some(p) => n.with_ports(p, p),
            None => n,
        })
    }
}

/// The NAT selection of list, update, delete and events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NatFilter {
    /// `-n`: source NAT, with its value.
    pub src: Option<NatArg>,
    /// `-g`: destination NAT, with its value.
    pub dst: Option<NatArg>,
    /// `-j`: either (its value applies to both).
    pub any: bool,
}

/// The value of an optional-value option (`-n` alone, or `-n VALUE`).
fn value(v: &Option<Option<String>>) -> R<Option<NatArg>> {
    v.as_ref()
        .map(|v| {
            v.as_deref()
                .map(NatArg::parse)
                .transpose()
                .map(Option::unwrap_or_default)
        })
        .transpose()
}

impl NatFilter {
    /// The NAT selection of `f`, if any NAT option is given.
    pub fn of(f: &Filter) -> R<Option<Self>> {
        let (src, dst, any) = (value(&f.src_nat)?, value(&f.dst_nat)?, value(&f.any_nat)?);
        if any.is_some() && (src.is_some() || dst.is_some()) {
            return Err(bad(
                "cannot give --src-nat or --dst-nat with --any-nat (as conntrack-tools)",
            ));
        }
        Ok(match any {
            Some(a) => Some(NatFilter {
                src: Some(a),
                dst: Some(a),
                any: true,
            }),
            None if src.is_some() || dst.is_some() => Some(NatFilter {
                src,
                dst,
                any: false,
            }),
            None => None,
        })
    }

    /// Whether an entry passes, as conntrack-tools decides.
    pub fn matches(&self, c: &ConnView<'_>) -> bool {
        let (Some(o), Some(r)) = (c.tuple_orig(), c.tuple_reply()) else {
            return false;
        };
        // Without a status every entry counts as translated, as in conntrack-tools.
        let done = |bit: Status| c.status().is_none_or(|s| s.contains(bit));
        let src = done(Status::SRC_NAT_DONE);
        let dst = done(Status::DST_NAT_DONE);
        let has_src = self.src.is_some_and(|a| {
            has(
                a,
                src && r.dst() != o.src(),
                src && l4_dst(&r) != l4_src(&o),
                r.dst(),
                l4_dst(&r),
            )
        });
        let has_dst = self.dst.is_some_and(|a| {
            has(
                a,
                dst && r.src() != o.dst(),
                dst && l4_src(&r) != l4_dst(&o),
                r.src(),
                l4_src(&r),
            )
        });
        match (self.any, self.src.is_some(), self.dst.is_some()) {
            (true, _, _) => has_src || has_dst,
            (false, true, true) => has_src && has_dst,
            (false, true, false) => has_src,
            _ => has_dst,
        }
    }
}

/// Whether one direction of NAT matches `want`: `nat`/`pat` say whether the address/port was
/// translated, `got_addr`/`got_port` what it was translated to.
fn has(want: NatArg, nat: bool, pat: bool, got_addr: Option<IpAddr>, got_port: u16) -> bool {
    let mut hit = want.addr.is_some_and(|a| nat && got_addr == Some(a));
    if let Some(p) = want.port {
        let port_hit = pat && got_port == p;
        if want.addr.is_some() && hit && !port_hit {
            hit = false;
        }
        if want.addr.is_none() && port_hit {
            hit = true;
        }
    }
    if want.addr.is_none() && want.port.is_none() && (nat || pat) {
        hit = true;
    }
    hit
}

/// The source side of a tuple's layer-4 part: the port, or for ICMP the identifier.
fn l4_src(t: &TupleView<'_>) -> u16 {
    t.src_port().or(t.icmp_id()).or(t.icmpv6_id()).unwrap_or(0)
}

/// The destination side: the port, or for ICMP the type and code (as one big-endian word,
/// the way conntrack-tools overlays them on the port).
fn l4_dst(t: &TupleView<'_>) -> u16 {
    if let Some(p) = t.dst_port() {
        return p;
    }
    let kind = t.icmp_type().or(t.icmpv6_type());
    let code = t.icmp_code().or(t.icmpv6_code());
    match (kind, code) {
        (None, None) => 0,
        (k, c) => u16::from_be_bytes([k.unwrap_or(0), c.unwrap_or(0)]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nat_values_parse_as_conntrack_tools_takes_them() {
        let a = NatArg::parse("10.0.0.1:80").unwrap();
        assert_eq!(
            (a.addr.unwrap().to_string(), a.port),
            ("10.0.0.1".into(), Some(80))
        );
        assert_eq!(NatArg::parse("10.0.0.1").unwrap().port, None);
        let v6 = NatArg::parse("[2001:db8::1]:443").unwrap();
        assert_eq!(v6.port, Some(443));
        assert_eq!(NatArg::parse("2001:db8::1").unwrap().port, None);
        assert!(NatArg::parse("[2001:db8::1").is_err());
        assert!(NatArg::parse("10.0.0.1:x").is_err());
        assert!(NatArg::default().range("--src-nat").is_err());
    }
}

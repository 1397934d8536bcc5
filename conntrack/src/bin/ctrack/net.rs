//! Address networks of `-s 10.0.0.0/8`, `--mask-src 255.0.0.0` and the like: a selector the
//! kernel cannot filter by (its dump filter compares whole addresses), so the exact part goes
//! to the kernel and the network is checked in user space.

use crate::args::Filter;
use crate::parse::addr;
use crate::{R, bad};
use std::net::IpAddr;

/// An address and a mask of the same family: it contains the addresses equal to it under
/// the mask (any mask, as conntrack-tools takes them, not only prefixes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Net {
    /// The address.
    pub addr: IpAddr,
    /// The mask.
    pub mask: IpAddr,
}

impl Net {
    /// Whether `a` is in the network (never for an address of the other family).
    pub fn contains(&self, a: IpAddr) -> bool {
        match (self.addr, self.mask, a) {
            (IpAddr::V4(n), IpAddr::V4(m), IpAddr::V4(a)) => {
                n.to_bits() & m.to_bits() == a.to_bits() & m.to_bits()
            }
            (IpAddr::V6(n), IpAddr::V6(m), IpAddr::V6(a)) => {
                n.to_bits() & m.to_bits() == a.to_bits() & m.to_bits()
            }
            _ => false,
        }
    }

    /// The prefix length, if the mask is one (a run of ones, then zeros).
    pub fn prefix(&self) -> Option<u8> {
        let (bits, ones) = match self.mask {
            IpAddr::V4(m) => (32, m.to_bits().leading_ones()),
            IpAddr::V6(m) => (128, m.to_bits().leading_ones()),
        };
        let rest_zero = match self.mask {
            IpAddr::V4(m) => m.to_bits().checked_shl(ones).unwrap_or(0) == 0,
            IpAddr::V6(m) => m.to_bits().checked_shl(ones).unwrap_or(0) == 0,
        };
        (rest_zero && ones <= bits).then_some(ones as u8)
    }

    /// Whether the mask keeps every bit (a single address).
    pub fn is_host(&self) -> bool {
        matches!(self.prefix(), Some(32) if self.addr.is_ipv4())
            || matches!(self.prefix(), Some(128) if self.addr.is_ipv6())
    }
}

/// A mask of `len` leading ones for the family of `a`.
fn prefix_mask(a: IpAddr, len: u8, what: &str) -> R<IpAddr> {
    let len = u32::from(len);
    Ok(match a {
        IpAddr::V4(_) if len <= 32 => {
            IpAddr::V4((u32::MAX.checked_shl(32 - len).unwrap_or(0)).into())
        }
        IpAddr::V6(_) if len <= 128 => {
            IpAddr::V6((u128::MAX.checked_shl(128 - len).unwrap_or(0)).into())
        }
        _ => return Err(bad(format!("invalid {what} prefix length /{len}"))),
    })
}

/// Parses `ADDR`, `ADDR/LEN` or `ADDR` with a separate mask option.
fn net(s: &str, mask: Option<&str>, what: &str) -> R<Net> {
    let (a, len) = match s.split_once('/') {
        Some((a, len)) => (
            addr(a, what)?,
            Some(
                len.parse::<u8>()
                    .map_err(|_| bad(format!("invalid {what} prefix `/{len}`")))?,
            ),
        ),
        None => (addr(s, what)?, None),
    };
    let mask = match (len, mask) {
        (Some(_), Some(_)) => {
            return Err(bad(format!(
                "the {what} has a prefix and a mask option: give one"
            )));
        }
        (Some(l), None) => prefix_mask(a, l, what)?,
        (None, Some(m)) => {
            let m = addr(m, &format!("{what} mask"))?;
            if m.is_ipv4() != a.is_ipv4() {
                return Err(bad(format!("the {what} mask is of another family")));
            }
            m
        }
        (None, None) => prefix_mask(a, if a.is_ipv4() { 32 } else { 128 }, what)?,
    };
    Ok(Net { addr: a, mask })
}

/// The networks of the four addresses (original source and destination, reply source and
/// destination), and `f` with every address that is not a single host taken out: what is
/// left names whole addresses, for the kernel.
pub fn split(f: &Filter) -> R<(Filter, [Option<Net>; 4])> {
    if f.mask_src.is_some() && f.src.is_none() {
        return Err(bad("--mask-src needs -s/--src"));
    }
    if f.mask_dst.is_some() && f.dst.is_none() {
        return Err(bad("--mask-dst needs -d/--dst"));
    }
    let mut exact = f.clone();
    let mut nets = [None; 4];
    let fields: [(&mut Option<String>, Option<&str>, &str); 4] = [
        (&mut exact.src, f.mask_src.as_deref(), "source"),
        (&mut exact.dst, f.mask_dst.as_deref(), "destination"),
        (&mut exact.reply_src, None, "reply source"),
        (&mut exact.reply_dst, None, "reply destination"),
    ];
    for (i, (field, mask, what)) in fields.into_iter().enumerate() {
        let Some(s) = field.clone() else { continue };
        let n = net(&s, mask, what)?;
        if n.is_host() {
            *field = Some(n.addr.to_string());
        } else {
            *field = None;
            nets[i] = Some(n);
        }
    }
    Ok((exact, nets))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_prefixes_and_masks() {
        let n = net("10.1.2.3/8", None, "source").unwrap();
        assert!(n.contains("10.200.0.1".parse().unwrap()));
        assert!(!n.contains("11.0.0.1".parse().unwrap()));
        assert!(!n.contains("::1".parse().unwrap()));
        assert_eq!(n.prefix(), Some(8));
        let m = net("10.0.0.5", Some("255.0.0.255"), "source").unwrap();
        assert_eq!(m.prefix(), None);
        assert!(m.contains("10.9.9.5".parse().unwrap()));
        assert!(!m.contains("10.9.9.6".parse().unwrap()));
        assert!(net("2001:db8::1/128", None, "source").unwrap().is_host());
        assert!(net("10.0.0.1/33", None, "source").is_err());
        assert!(net("10.0.0.1/8", Some("255.0.0.0"), "source").is_err());
        assert!(net("10.0.0.1", Some("ffff::"), "source").is_err());
        assert_eq!(net("0.0.0.0/0", None, "source").unwrap().prefix(), Some(0));
    }
}

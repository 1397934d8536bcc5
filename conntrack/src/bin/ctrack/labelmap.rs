//! Connection-label names: `/etc/xtables/connlabel.conf` (or the file named by
//! `CTRACK_CONNLABEL_CONF`), lines of `BIT NAME`, as iptables, nftables and conntrack-tools read
//! it. Labels are parsed by name, or as `labelN` or `N`; printed by name, or as `labelN` when
//! no map file exists (conntrack-tools then prints none).

use crate::{R, bad};
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// The default map file.
const DEFAULT: &str = "/etc/xtables/connlabel.conf";

/// Bit numbers to names, when a map file exists.
type Map = BTreeMap<usize, String>;

/// The map, read once.
fn map() -> Option<&'static Map> {
    static MAP: OnceLock<Option<Map>> = OnceLock::new();
    MAP.get_or_init(|| {
        let path = std::env::var("CTRACK_CONNLABEL_CONF").unwrap_or_else(|_| DEFAULT.into());
        std::fs::read_to_string(path).ok().map(|text| parse(&text))
    })
    .as_ref()
}

/// Parses a map file: `BIT NAME` per line; blank lines and `#` comments skipped, as are lines
/// that do not parse (the kernel keeps bits 0 to 127).
fn parse(text: &str) -> Map {
    text.lines()
        .filter_map(|l| {
            let l = l.split('#').next()?.trim();
            let (bit, name) = l.split_once(char::is_whitespace)?;
            let bit: usize = bit.parse().ok().filter(|b| *b < 128)?;
            Some((bit, name.trim().to_string()))
        })
        .collect()
}

/// The bits of a comma-separated list of labels.
pub fn bits(s: &str) -> R<Vec<usize>> {
    s.split(',').map(|p| bit(p.trim(), map())).collect()
}

fn bit(p: &str, map: Option<&Map>) -> R<usize> {
    if let Some((b, _)) = map.and_then(|m| m.iter().find(|(_, n)| *n == p)) {
        return Ok(*b);
    }
    p.strip_prefix("label")
        .unwrap_or(p)
        .parse::<usize>()
        .ok()
        .filter(|n| *n < 128)
        .ok_or_else(|| {
            bad(format!(
                "unknown label `{p}`: a name of the label map, labelN or N (N < 128)"
            ))
        })
}

/// The printed names of the set bits, in order: mapped names only when a map exists.
pub fn names(bits: impl Iterator<Item = usize>) -> Vec<String> {
    names_in(bits, map())
}

fn names_in(bits: impl Iterator<Item = usize>, map: Option<&Map>) -> Vec<String> {
    match map {
        Some(m) => bits.filter_map(|b| m.get(&b).cloned()).collect(),
        None => bits.map(|b| format!("label{b}")).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_bits_through_a_map() {
        let m = parse("# comment\n1 web\n2 db # trailing\n\nbad line\n200 too-big\n33 ssh\n");
        assert_eq!(m.len(), 3);
        assert_eq!(bit("db", Some(&m)).unwrap(), 2);
        assert_eq!(bit("label5", Some(&m)).unwrap(), 5);
        assert_eq!(bit("7", None).unwrap(), 7);
        assert!(bit("nope", Some(&m)).is_err());
        assert!(bit("label128", None).is_err());
        assert_eq!(names_in([1, 5, 33].into_iter(), Some(&m)), ["web", "ssh"]);
        assert_eq!(names_in([5].into_iter(), None), ["label5"]);
    }
}

//! `-I expect` and `-D expect`: making and removing expectations.
//!
//! A create names the master by its original tuple (`-s`, `-d`, `-p`, `--sport`,
//! `--dport`), the expected connection by `--tuple-src`, `--tuple-dst` and
//! `--tuple-port-*`, which parts of it must match by `--mask-*` (exact where not given), and
//! how long it waits by `-t`, as conntrack-tools does. A delete names the expectation by
//! its expected tuple (with `-i`, the id it must have), or takes every expectation of one
//! helper (`--helper`), which conntrack-tools cannot.

use crate::args::Filter;
use crate::parse::{addr, family};
use crate::selection::orig_tuple;
use crate::{R, bad, open, report};
use conntrack::wire::ct::Tuple;
use conntrack::{Exp, Outcome};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Creates the expectation `f` describes.
pub fn create(netns: &Option<String>, f: &Filter) -> R<()> {
    let x = build(f)?;
    open(netns)?.exp_create(&x)?;
    eprintln!("ctrack: 1 expectations have been created.");
    Ok(())
}

/// The expectation of a create: master, expected tuple, mask, timeout, zone, helper.
fn build(f: &Filter) -> R<Exp> {
    let master = orig_tuple(f)?.ok_or_else(|| bad("create expect needs the master's tuple"))?;
    let proto = master.proto.num.unwrap_or(0);
    if !matches!(proto, 6 | 17 | 33 | 132 | 136) {
        return Err(bad(
            "create expect needs a protocol with ports (-p tcp, udp, sctp, dccp or udplite)",
        ));
    }
    let (src, dst) = (
        addr(f.tuple_src.as_deref().unwrap_or_default(), "--tuple-src")?,
        addr(f.tuple_dst.as_deref().unwrap_or_default(), "--tuple-dst")?,
    );
    let masks = (
        mask(f.mask_src.as_deref(), src, "--mask-src")?,
        mask(f.mask_dst.as_deref(), dst, "--mask-dst")?,
    );
    let family_of = |a: IpAddr| a.is_ipv4();
    if [src, dst, masks.0, masks.1]
        .iter()
        .any(|a| family_of(*a) != master.src.is_none_or(|m| m.is_ipv4()))
    {
        return Err(bad(
            "the master's, the expected tuple's and the masks' addresses must be of one family",
        ));
    }
    let tuple = Tuple::from_addrs(Some(src), Some(dst))
        .with_proto(proto)
        // The kernel needs both ports of a tuple; one not given is 0 (and masked out).
        .with_ports(f.tuple_sport.or(Some(0)), f.tuple_dport.or(Some(0)));
    // A port given is matched exactly unless a mask says otherwise; one not given, not at all.
    let port_mask = |given: Option<u16>, m: Option<u16>| m.or(given.map(|_| u16::MAX)).or(Some(0));
    let mask = Tuple::from_addrs(Some(masks.0), Some(masks.1))
        .with_proto(proto)
        .with_ports(
            port_mask(f.tuple_sport, f.mask_sport),
            port_mask(f.tuple_dport, f.mask_dport),
        );
    let mut x = Exp::default();
    x.master = Some(master);
    x.tuple = Some(tuple);
    x.mask = Some(mask);
    x.timeout = f.timeout;
    x.zone = f.zone;
    x.helper_name = f.helper.clone();
    Ok(x)
}

/// A mask address: the one given, or all ones of `like`'s family.
fn mask(given: Option<&str>, like: IpAddr, what: &str) -> R<IpAddr> {
    match given {
        Some(s) => addr(s, what),
        None if like.is_ipv4() => Ok(IpAddr::V4(Ipv4Addr::from(u32::MAX))),
        None => Ok(IpAddr::V6(Ipv6Addr::from(u128::MAX))),
    }
}

/// Deletes the expectation of `f`'s tuple (and id), or every expectation of `--helper`.
pub fn delete(netns: &Option<String>, f: &Filter) -> R<()> {
    let nfct = open(netns)?;
    if let Some(helper) = &f.helper {
        if f.src.is_some() || f.dst.is_some() || f.proto.is_some() || f.id.is_some() {
            return Err(bad(
                "delete expect takes either the expected tuple or --helper, not both",
            ));
        }
        let fam = family(f)?;
        let done = nfct.exp_delete_matching(fam, |x| {
            x.helper_name.as_deref() == Some(helper.as_str())
                && f.zone.is_none_or(|z| x.zone == Some(z))
        })?;
        let outcomes: Vec<Outcome> = done.into_iter().map(|(_, o)| o).collect();
        return report("expectations", "deleted", &outcomes, None);
    }
    let t =
        orig_tuple(f)?.ok_or_else(|| bad("delete expect needs the expected tuple or --helper"))?;
    if t.src.is_none() || t.dst.is_none() || t.proto.num.is_none() {
        return Err(bad("delete expect needs -s, -d and -p (or --helper)"));
    }
    let mut x = Exp::default();
    x.tuple = Some(t);
    x.zone = f.zone;
    x.id = f.id;
    nfct.exp_delete_exact(&x)?;
    eprintln!("ctrack: 1 expectations have been deleted.");
    Ok(())
}

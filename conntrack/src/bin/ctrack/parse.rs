//! Parsing of option values, as conntrack-tools spells them.

use crate::args::Filter;
use crate::format::Options;
use crate::{R, bad};
use conntrack::Family;
use conntrack::wire::consts::*;
use conntrack::wire::ct::{Status, TcpState};
use std::net::IpAddr;

pub fn proto_num(s: &str) -> R<u8> {
    Ok(match s.to_ascii_lowercase().as_str() {
        "tcp" => IPPROTO_TCP,
        "udp" => IPPROTO_UDP,
        "icmp" => IPPROTO_ICMP,
        "icmpv6" | "ipv6-icmp" => IPPROTO_ICMPV6,
        "sctp" => IPPROTO_SCTP,
        "dccp" => IPPROTO_DCCP,
        "gre" => IPPROTO_GRE,
        "udplite" => IPPROTO_UDPLITE,
        n => n.parse().map_err(|_| {
            bad(format!(
                "unknown protocol `{s}`: use tcp, udp, icmp, icmpv6, sctp, dccp or a number"
            ))
        })?,
    })
}

pub fn addr(s: &str, what: &str) -> R<IpAddr> {
    s.parse()
        .map_err(|_| bad(format!("invalid {what} address `{s}`")))
}

pub fn num(s: &str, what: &str) -> R<u32> {
    let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u32::from_str_radix(h, 16),
        None => s.parse(),
    };
    r.map_err(|_| bad(format!("invalid {what} `{s}`")))
}

pub fn mark(s: &str) -> R<(u32, u32)> {
    match s.split_once('/') {
        Some((v, m)) => Ok((num(v, "mark")?, num(m, "mark mask")?)),
        None => Ok((num(s, "mark")?, u32::MAX)),
    }
}

pub fn status(s: &str) -> R<Status> {
    let mut st = Status::default();
    for part in s.split(',') {
        let bit = match part.trim().to_ascii_uppercase().as_str() {
            "EXPECTED" => Status::EXPECTED,
            "SEEN_REPLY" => Status::SEEN_REPLY,
            "ASSURED" => Status::ASSURED,
            "CONFIRMED" => Status::CONFIRMED,
            "SRC_NAT" | "SNAT" => Status::SRC_NAT,
            "DST_NAT" | "DNAT" => Status::DST_NAT,
            "SEQ_ADJUST" => Status::SEQ_ADJUST,
            "SRC_NAT_DONE" => Status::SRC_NAT_DONE,
            "DST_NAT_DONE" => Status::DST_NAT_DONE,
            "DYING" => Status::DYING,
            "FIXED_TIMEOUT" => Status::FIXED_TIMEOUT,
            "TEMPLATE" => Status::TEMPLATE,
            "HELPER" => Status::HELPER,
            "OFFLOAD" => Status::OFFLOAD,
            "HW_OFFLOAD" => Status::HW_OFFLOAD,
            // conntrack-tools' name for no bit (what `-o save` writes for an entry with none).
            "UNSET" => Status::default(),
            other => return Err(bad(format!("unknown status `{other}`"))),
        };
        st = st | bit;
    }
    Ok(st)
}

pub fn state_num(proto: u8, s: &str) -> R<u8> {
    let up = s.to_ascii_uppercase();
    let found = (0u8..=16).find(|&n| match proto {
        IPPROTO_SCTP => conntrack::wire::ct::SctpState::from(n).name() == up,
        IPPROTO_DCCP => conntrack::wire::ct::DccpState::from(n).name() == up,
        _ => TcpState::from(n).name() == up,
    });
    found.ok_or_else(|| bad(format!("unknown state `{s}`")))
}

/// The address family of `-f`; `Family::Any` when not given.
pub fn family(f: &Filter) -> R<Family> {
    match f.family.as_deref() {
        None => Ok(Family::Any),
        Some("ipv4") | Some("inet") | Some("4") => Ok(Family::Ipv4),
        Some("ipv6") | Some("inet6") | Some("6") => Ok(Family::Ipv6),
        Some(o) => Err(bad(format!("unknown family `{o}`: use ipv4 or ipv6"))),
    }
}

pub fn options(f: &Filter) -> R<(Options, bool)> {
    let mut o = Options::default();
    let mut json = false;
    if let Some(s) = &f.output {
        for p in s.split(',') {
            match p {
                "extended" => o.extended = true,
                "id" => o.id = true,
                "labels" => o.labels = true,
                "timestamp" => o.timestamp = true,
                "ktimestamp" => o.ktimestamp = true,
                "xml" => o.xml = true,
                // conntrack-tools accepts it and changes nothing: an event caused by a
                // program is always marked `[USERSPACE] portid=N progname=NAME`.
                "userspace" => {}
                "save" => o.save = true,
                "json" => json = true,
                other => {
                    return Err(bad(format!(
                        "unknown output `{other}`: use extended, id, timestamp, ktimestamp, labels, userspace, save, xml or json"
                    )));
                }
            }
        }
    }
    if o.save
        && (o
            != Options {
                save: true,
                ..Options::default()
            }
            || json)
    {
        return Err(bad(
            "cannot combine save output with any other output type, use -o save only",
        ));
    }
    if json && o.xml {
        return Err(bad("-o json cannot be combined with xml: choose one form"));
    }
    // As conntrack-tools: any option that names labels loads the label map, and with it the
    // labels are printed.
    o.labels |= f.label.is_some() || f.label_add.is_some() || f.label_del.is_some();
    Ok((o, json))
}

/// A DCCP role, `client` or `server`, or any prefix of either, in any case (as
/// conntrack-tools takes it; an empty word is refused here).
pub fn dccp_role(s: &str) -> R<conntrack::wire::ct::DccpRole> {
    use conntrack::wire::ct::DccpRole;
    let lower = s.to_ascii_lowercase();
    [DccpRole::Client, DccpRole::Server]
        .into_iter()
        .find(|r| !lower.is_empty() && r.name().starts_with(&lower))
        .ok_or_else(|| bad(format!("unknown DCCP role `{s}`: use client or server")))
}

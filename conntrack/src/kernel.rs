//! What the running kernel's ctnetlink filters do, found by trying them, never from its
//! release number (distribution kernels carry backports both ways).
//!
//! A kernel that does not know a filter attribute ignores it: a dump then returns more
//! entries than asked (harmless here: every filtered dump is checked again in user space),
//! but a flush would delete more than asked. So each filter is tried on a scratch table: a
//! new, empty network namespace of the probe's own, where four entries are created, each
//! filter is dumped and flushed, and the survivors are compared with what the filter
//! selects. The kernel's code is the same in every namespace, so the answer holds for every
//! handle of the process; it is cached once found. Creating a namespace needs
//! `CAP_SYS_ADMIN`: without it nothing is cached and [`Features::probed`] is false, and the
//! library then leaves every dump filter to user space and refuses a kernel-side filtered
//! flush (see [`crate::Nfct::flush_filtered`]; [`crate::Nfct::flush_matching`] is exact on
//! every kernel).

use crate::error::{Error, Op, Result};
use crate::nfct::{Config, Family, Nfct};
use conntrack_sock::Socket;
use conntrack_wire::consts::{AF_INET, AF_INET6, AF_UNSPEC};
use conntrack_wire::ct::{Status, Tuple};
use conntrack_wire::request::{self, DumpFilter, FlushFilter};
use conntrack_wire::{Conn, MessageKind};
use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;
use std::sync::OnceLock;
use std::time::Duration;

/// The ctnetlink filters the running kernel applies, as found by [`Nfct::features`].
///
/// A kernel that does not know a filter attribute ignores it: a dump then returns more
/// entries than asked (harmless: every filtered dump is checked again in user space), but a
/// flush would delete more than asked. So each filter is tried on a scratch table: a new,
/// empty network namespace of the probe's own, where four entries are created, each filter
/// is dumped and flushed, and the survivors are compared with what the filter selects. The
/// kernel's code is the same in every namespace, so the answer holds for every handle of the
/// process and is kept once found. Creating the namespace needs `CAP_SYS_ADMIN`: without it
/// nothing is kept and every field is `false` (unknown is treated as absent, which is always
/// safe: dump filters then run in user space, and [`Nfct::flush_filtered`] refuses;
/// [`Nfct::flush_matching`] is exact on every kernel).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Features {
    /// The probe ran (it needs `CAP_SYS_ADMIN` to create its scratch namespace).
    pub probed: bool,
    /// Dumps filtered by mark and mask (`CTA_MARK`, `CTA_MARK_MASK`).
    pub dump_mark: bool,
    /// Dumps filtered by status bits (`CTA_STATUS`, `CTA_STATUS_MASK`).
    pub dump_status: bool,
    /// Dumps filtered by a zone other than 0 (`CTA_ZONE`).
    pub dump_zone: bool,
    /// Dumps filtered by the default zone 0 (`CTA_ZONE` 0 alone, or with `CTA_FILTER_ZONE`).
    pub dump_zone_default: bool,
    /// Dumps filtered by original/reply tuple fields (`CTA_FILTER`), IPv4 addresses.
    pub dump_tuple: bool,
    /// Dumps filtered by IPv6 addresses in `CTA_FILTER`, matched the right way round.
    pub dump_tuple_ipv6: bool,
    /// The kernel inverts the IPv6 address match of `CTA_FILTER` (returns the entries that
    /// do *not* match): IPv6 address filters are then applied in user space only.
    pub ipv6_filter_inverted: bool,
    /// `CTA_FILTER_ZONE` is known (a dump with it is accepted).
    pub filter_zone_attr: bool,
    /// A flush restricted to one address family flushes only that family.
    pub flush_family: bool,
    /// Flushes filtered by mark and mask.
    pub flush_mark: bool,
    /// Flushes filtered by status bits.
    pub flush_status: bool,
    /// Flushes filtered by a zone other than 0.
    pub flush_zone: bool,
    /// Flushes filtered by the default zone 0.
    pub flush_zone_default: bool,
}

impl Features {
    /// Returns whether a flush with `filter` on `family` deletes exactly what the filter
    /// selects on this kernel, or the first part the kernel would ignore.
    pub fn flush_honours(
        &self,
        family: Family,
        filter: &FlushFilter,
    ) -> std::result::Result<(), Feature> {
        if family != Family::Any && !self.flush_family {
            return Err(Feature::FlushFamily);
        }
        if filter.mark.is_some() && !self.flush_mark {
            return Err(Feature::FlushMark);
        }
        if filter.status.is_some() && !self.flush_status {
            return Err(Feature::FlushStatus);
        }
        match filter.zone {
            Some(0) if !self.flush_zone_default => Err(Feature::FlushZoneDefault),
            Some(_) if !self.flush_zone => Err(Feature::FlushZone),
            _ => Ok(()),
        }
    }
}

/// A kernel capability that a request needs and the running kernel may lack (see
/// [`Features`]); named by [`Error::Unsupported`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Feature {
    /// A flush of one address family that flushes only that family.
    FlushFamily,
    /// A flush filtered by mark and mask.
    FlushMark,
    /// A flush filtered by status bits.
    FlushStatus,
    /// A flush filtered by a zone other than 0.
    FlushZone,
    /// A flush filtered by the default zone 0.
    FlushZoneDefault,
}

impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Feature::FlushFamily => "a flush of one address family",
            Feature::FlushMark => "a flush by mark",
            Feature::FlushStatus => "a flush by status",
            Feature::FlushZone => "a flush by zone",
            Feature::FlushZoneDefault => "a flush of the default zone 0",
        })
    }
}

/// Why a [`Feature`] is unavailable; part of [`Error::Unsupported`].
#[derive(Debug)]
#[non_exhaustive]
pub enum Reason {
    /// The probe ran and found that the running kernel ignores the filter (it would act on
    /// more entries than asked).
    Absent,
    /// The kernel could not be probed (the probe needs `CAP_SYS_ADMIN` and `CAP_NET_ADMIN`),
    /// so the feature is treated as absent; the probe's error.
    NotProbed(Box<Error>),
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Absent => {
                f.write_str("the running kernel ignores that filter and would act on more entries")
            }
            Reason::NotProbed(e) => write!(
                f,
                "the kernel's filters could not be probed ({e}; the probe needs CAP_SYS_ADMIN and CAP_NET_ADMIN)"
            ),
        }
    }
}

impl fmt::Display for Features {
    /// One `name: yes|no` line per feature, as `ctrack --version` prints them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let yn = |b: bool| if b { "yes" } else { "no" };
        if !self.probed {
            writeln!(
                f,
                "probed: no (creating a scratch network namespace needs CAP_SYS_ADMIN): \
                 dump filters run in user space, kernel-side filtered flushes are refused"
            )?;
        }
        for (name, v) in [
            ("dump filter by mark", self.dump_mark),
            ("dump filter by status", self.dump_status),
            ("dump filter by zone", self.dump_zone),
            ("dump filter by zone 0", self.dump_zone_default),
            ("dump filter by tuple (CTA_FILTER)", self.dump_tuple),
            ("dump filter by IPv6 tuple", self.dump_tuple_ipv6),
            (
                "IPv6 CTA_FILTER address match inverted",
                self.ipv6_filter_inverted,
            ),
            ("CTA_FILTER_ZONE", self.filter_zone_attr),
            ("flush of one family", self.flush_family),
            ("flush by mark", self.flush_mark),
            ("flush by status", self.flush_status),
            ("flush by zone", self.flush_zone),
            ("flush by zone 0", self.flush_zone_default),
        ] {
            writeln!(f, "{name}: {}", yn(v))?;
        }
        Ok(())
    }
}

/// The probe's answer, once found.
static PROBED: OnceLock<Features> = OnceLock::new();

/// Returns the answer if a probe already found it (never probes).
pub(crate) fn cached() -> Option<Features> {
    PROBED.get().copied()
}

/// Returns the cached answer, probing first if none is cached. A probe that cannot run
/// (no `CAP_SYS_ADMIN`, say) is not cached: the next call tries again.
pub(crate) fn probed() -> Result<Features> {
    if let Some(f) = PROBED.get() {
        return Ok(*f);
    }
    let f = probe()?;
    Ok(*PROBED.get_or_init(|| f))
}

/// Like [`probed`], with every feature absent when the probe cannot run.
pub(crate) fn features() -> Features {
    probed().unwrap_or_default()
}

/// Returns the scratch table's error, or runs every probe.
pub(crate) fn probe() -> Result<Features> {
    let sock = Socket::open_in_new_netns().map_err(|e| Error::io(Op::Probe, e))?;
    let mut cfg = Config::default();
    cfg.timeout = Duration::from_secs(5);
    cfg.pipeline = false;
    cfg.arena_slots = 1;
    cfg.recv_buffer = None;
    let t = Scratch {
        nfct: Nfct::from_socket(sock, cfg)?,
    };
    t.fill()?;
    let mut f = probe_dumps(&t);
    probe_flushes(&t, &mut f)?;
    Ok(f)
}

/// The filter on mark 1 (entries B and D).
const MARKED: (u32, u32) = (1, !0);
/// The filter on `IPS_ASSURED` (entries B and D).
const ASSURED: (Status, Status) = (Status::ASSURED, Status::ASSURED);

/// Which dump filters the kernel applies, each tried on the scratch table.
fn probe_dumps(t: &Scratch) -> Features {
    let (b, d) = (ip(B), ip(D));
    let marked = DumpFilter {
        mark: Some(MARKED),
        ..Default::default()
    };
    let assured = DumpFilter {
        status: Some(ASSURED),
        ..Default::default()
    };
    let zoned = |z| DumpFilter {
        zone: Some(z),
        ..Default::default()
    };
    let by_src = |a| DumpFilter {
        orig: Some(Tuple::from_addrs(Some(a), None)),
        ..Default::default()
    };
    let selected: BTreeSet<IpAddr> = [b, d].into();
    let rest: BTreeSet<IpAddr> = [ip(A), ip(C)].into();
    let zone_attr = DumpFilter {
        zone: Some(ZONE),
        filter_zone: true,
        ..Default::default()
    };
    let v6 = t.dump(AF_INET6, &by_src(d));
    Features {
        probed: true,
        dump_mark: t.dump(AF_UNSPEC, &marked) == Some(selected.clone()),
        dump_status: t.dump(AF_UNSPEC, &assured) == Some(selected.clone()),
        dump_zone: t.dump(AF_UNSPEC, &zoned(ZONE)) == Some(selected.clone()),
        dump_zone_default: t.dump(AF_UNSPEC, &zoned(0)) == Some(rest.clone()),
        dump_tuple: t.dump(AF_INET, &by_src(b)) == Some([b].into()),
        dump_tuple_ipv6: v6 == Some([d].into()),
        ipv6_filter_inverted: v6 == Some([ip(C)].into()),
        filter_zone_attr: t.dump(AF_UNSPEC, &zone_attr).is_some(),
        ..Default::default()
    }
}

/// Which flush filters the kernel applies, each tried on a refilled scratch table.
fn probe_flushes(t: &Scratch, f: &mut Features) -> Result<()> {
    let b = ip(B);
    let selected: BTreeSet<IpAddr> = [b, ip(D)].into();
    let rest: BTreeSet<IpAddr> = [ip(A), ip(C)].into();
    let v4: BTreeSet<IpAddr> = [ip(A), b].into();
    f.flush_family = t.flush(AF_INET6, &FlushFilter::default())? == v4;
    let flush = |filter: FlushFilter, keep: &BTreeSet<IpAddr>| -> Result<bool> {
        Ok(t.flush(AF_UNSPEC, &filter)? == *keep)
    };
    f.flush_mark = flush(
        FlushFilter {
            mark: Some(MARKED),
            ..Default::default()
        },
        &rest,
    )?;
    f.flush_status = flush(
        FlushFilter {
            status: Some(ASSURED),
            ..Default::default()
        },
        &rest,
    )?;
    f.flush_zone = flush(
        FlushFilter {
            zone: Some(ZONE),
            ..Default::default()
        },
        &rest,
    )?;
    f.flush_zone_default = flush(
        FlushFilter {
            zone: Some(0),
            ..Default::default()
        },
        &selected,
    )?;
    Ok(())
}

/// The zone of the entries a filter selects.
const ZONE: u16 = 9;
/// Source addresses of the four scratch entries: A and C plain (zone 0, mark 0), B and D
/// selected by every probe filter (zone 9, mark 1, assured).
const A: &str = "10.255.0.1";
const B: &str = "10.255.0.3";
const C: &str = "fd00:ff::1";
const D: &str = "fd00:ff::3";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
}

/// A handle on the scratch namespace's table.
struct Scratch {
    nfct: Nfct,
}

impl Scratch {
    /// Creates whichever of the four entries is missing.
    fn fill(&self) -> Result<()> {
        for (src, dst, selected) in [
            (A, "10.255.0.2", false),
            (B, "10.255.0.4", true),
            (C, "fd00:ff::2", false),
            (D, "fd00:ff::4", true),
        ] {
            let mut c = Conn::udp((ip(src), 1).into(), (ip(dst), 2).into()).with_timeout(120);
            if selected {
                c = c.with_zone(ZONE).with_mark(1).with_status(Status::ASSURED);
            }
            match self.nfct.create(&c) {
                Ok(()) | Err(Error::Exists { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// The source addresses a raw dump of `family` with `filter` returns (no user-space
    /// check), or `None` when the kernel refuses the request.
    fn dump(&self, family: u8, filter: &DumpFilter) -> Option<BTreeSet<IpAddr>> {
        let mut got = BTreeSet::new();
        self.nfct
            .exchange(
                Op::Probe,
                |e, seq| request::ct_dump(e, seq, family, filter),
                |m, _| {
                    if let MessageKind::Conntrack(_) = m.kind() {
                        if let Some(a) = m.conn().ok().and_then(|c| c.tuple_orig()?.src()) {
                            got.insert(a);
                        }
                    }
                    Ok(())
                },
            )
            .ok()?;
        Some(got)
    }

    /// Flushes with `filter` and returns the survivors' source addresses (none known if the
    /// kernel refused the flush: then nothing matches a selection), then refills the table.
    fn flush(&self, family: u8, filter: &FlushFilter) -> Result<BTreeSet<IpAddr>> {
        let refused = self
            .nfct
            .exchange(
                Op::Probe,
                |e, seq| request::ct_flush(e, seq, family, filter),
                |_, _| Ok(()),
            )
            .is_err();
        let survivors = self.dump(AF_UNSPEC, &DumpFilter::default());
        self.fill()?;
        Ok(match (refused, survivors) {
            (false, Some(s)) => s,
            _ => BTreeSet::new(),
        })
    }
}

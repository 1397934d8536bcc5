//! What the running kernel supports, from its release number and, where the kernel allows,
//! from a probe.

use std::fmt;

/// A kernel release `major.minor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct KernelVersion {
    /// Major number.
    pub major: u32,
    /// Minor number.
    pub minor: u32,
}

impl KernelVersion {
    /// Parses a release string such as `6.18.44-fc-v657`.
    pub fn parse(release: &str) -> Option<Self> {
        let mut it = release.split(|c: char| !c.is_ascii_digit());
        let major = it.next()?.parse().ok()?;
        let minor = it.next()?.parse().ok()?;
        Some(KernelVersion { major, minor })
    }

    /// Reads the running kernel's release (`uname -r`).
    pub fn running() -> Option<Self> {
        let u = nix::sys::utsname::uname().ok()?;
        Self::parse(u.release().to_str()?)
    }

    const fn at_least(self, major: u32, minor: u32) -> bool {
        self.major > major || (self.major == major && self.minor >= minor)
    }
}

impl fmt::Display for KernelVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// The ctnetlink filters a kernel applies. A kernel that does not know a filter attribute
/// ignores it silently, so a filter it lacks must be refused, never sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Features {
    /// The kernel release these were derived from.
    pub version: KernelVersion,
    /// Mark + mask on dumps (Linux 3.4).
    pub dump_mark: bool,
    /// `CTA_FILTER` on original/reply tuples in dumps (Linux 5.8).
    pub dump_tuple: bool,
    /// Status + mask on dumps (Linux 5.15).
    pub dump_status: bool,
    /// `CTA_ZONE` on dumps (Linux 6.8).
    pub dump_zone: bool,
    /// Flushes restricted to one address family (`nfgenmsg.version` 1; assumed from Linux 5.0,
    /// conservatively: an older kernel would flush every family).
    pub flush_family: bool,
    /// Mark + mask on flushes (Linux 5.9, when flush got the dump filter).
    pub flush_mark: bool,
    /// Status + mask on flushes (Linux 5.15).
    pub flush_status: bool,
    /// `CTA_ZONE` on flushes (Linux 6.8).
    pub flush_zone: bool,
    /// The kernel inverts the IPv6 address match of `CTA_FILTER` (fixed upstream in 2026, after
    /// 6.18): IPv6 address filters are then applied in user space only.
    pub ipv6_filter_inverted: bool,
}

impl Features {
    /// Derives the features of kernel `v`.
    pub fn of(v: KernelVersion) -> Self {
        Features {
            version: v,
            dump_mark: v.at_least(3, 4),
            dump_tuple: v.at_least(5, 8),
            dump_status: v.at_least(5, 15),
            dump_zone: v.at_least(6, 8),
            flush_family: v.at_least(5, 0),
            flush_mark: v.at_least(5, 9),
            flush_status: v.at_least(5, 15),
            flush_zone: v.at_least(6, 8),
            ipv6_filter_inverted: v.at_least(5, 8) && !v.at_least(6, 19),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_releases() {
        assert_eq!(
            KernelVersion::parse("6.18.44-fc-v657"),
            Some(KernelVersion {
                major: 6,
                minor: 18
            })
        );
        assert_eq!(
            KernelVersion::parse("5.4.0"),
            Some(KernelVersion { major: 5, minor: 4 })
        );
        assert_eq!(KernelVersion::parse("garbage"), None);
        let f = Features::of(KernelVersion {
            major: 5,
            minor: 10,
        });
        assert!(f.dump_tuple && !f.dump_status && !f.flush_zone);
    }
}

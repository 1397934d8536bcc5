//! [`EventConfig`]: what a stream receives, and how.

use super::*;

/// Which events to receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Groups {
    /// Conntrack NEW events (`NFNLGRP_CONNTRACK_NEW`).
    pub new: bool,
    /// Conntrack UPDATE events (`NFNLGRP_CONNTRACK_UPDATE`).
    pub update: bool,
    /// Conntrack DESTROY events (`NFNLGRP_CONNTRACK_DESTROY`).
    pub destroy: bool,
    /// Expectation NEW events (`NFNLGRP_CONNTRACK_EXP_NEW`).
    pub exp_new: bool,
    /// Expectation DESTROY events (`NFNLGRP_CONNTRACK_EXP_DESTROY`).
    pub exp_destroy: bool,
}

impl Groups {
    /// No group; a base to switch single groups on, e.g.
    /// `Groups { new: true, ..Groups::NONE }` for NEW events only.
    pub const NONE: Groups = Groups {
        new: false,
        update: false,
        destroy: false,
        exp_new: false,
        exp_destroy: false,
    };
    /// Every conntrack and expectation group.
    pub const ALL: Groups = Groups {
        new: true,
        update: true,
        destroy: true,
        exp_new: true,
        exp_destroy: true,
    };
    /// NEW, UPDATE and DESTROY of conntrack entries.
    pub const CONNTRACK: Groups = Groups {
        new: true,
        update: true,
        destroy: true,
        exp_new: false,
        exp_destroy: false,
    };

    pub(super) fn list(self) -> impl Iterator<Item = Group> {
        [
            (self.new, Group::New),
            (self.update, Group::Update),
            (self.destroy, Group::Destroy),
            (self.exp_new, Group::ExpNew),
            (self.exp_destroy, Group::ExpDestroy),
        ]
        .into_iter()
        .filter_map(|(on, g)| on.then_some(g))
    }
}

impl Default for Groups {
    fn default() -> Self {
        Groups::CONNTRACK
    }
}

/// How to open an event stream: [`EventConfig::default`], then a setter per field to change.
///
/// ```
/// use conntrack::events::{EventConfig, Groups};
/// let cfg = EventConfig::default().groups(Groups::ALL).recv_buffer(16 << 20);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EventConfig {
    /// The groups to join.
    pub groups: Groups,
    /// Receive buffer to ask for. The default, 64 MiB, holds about 50,000 queued events.
    pub recv_buffer: usize,
    /// Reliable mode: sets `NETLINK_BROADCAST_ERROR`, so the kernel sees failed deliveries
    /// (and, with `nf_conntrack_events=1`, retries DESTROY events instead of dropping them).
    pub reliable: bool,
    /// Receive events of every peer network namespace (`NETLINK_LISTEN_ALL_NSID`), each
    /// tagged with its namespace id.
    pub all_namespaces: bool,
    /// The network namespace to listen in; `None` for the caller's own.
    pub netns: Option<crate::Netns>,
    /// Datagrams received per `recvmmsg` at most (events arrive one per datagram).
    pub batch: usize,
    /// A kernel-side filter: compiled to classic BPF and attached to the socket, so events
    /// that do not match are dropped by the kernel before they are queued.
    pub filter: Option<EventFilter>,
}

impl Default for EventConfig {
    fn default() -> Self {
        EventConfig {
            groups: Groups::default(),
            recv_buffer: 64 << 20,
            reliable: false,
            all_namespaces: false,
            netns: None,
            batch: 256,
            filter: None,
        }
    }
}

impl EventConfig {
    /// Sets the groups to join.
    pub fn groups(mut self, g: Groups) -> Self {
        self.groups = g;
        self
    }

    /// Sets the receive buffer to ask for, in bytes.
    pub fn recv_buffer(mut self, bytes: usize) -> Self {
        self.recv_buffer = bytes;
        self
    }

    /// Turns reliable mode (`NETLINK_BROADCAST_ERROR`) on or off.
    pub fn reliable(mut self, on: bool) -> Self {
        self.reliable = on;
        self
    }

    /// Receives the events of every peer network namespace (`NETLINK_LISTEN_ALL_NSID`).
    pub fn all_namespaces(mut self, on: bool) -> Self {
        self.all_namespaces = on;
        self
    }

    /// Listens in the network namespace at `path` (`/var/run/netns/NAME`, `/proc/PID/ns/net`).
    pub fn netns(mut self, path: impl Into<PathBuf>) -> Self {
        self.netns = Some(crate::Netns::Path(path.into()));
        self
    }

    /// Works in the network namespace of the open descriptor `ns` (from
    /// `/proc/PID/ns/net`, or inherited); see [`crate::Netns`].
    ///
    /// ```no_run
    /// let ns = std::fs::File::open("/proc/1/ns/net")?;
    /// let cfg = conntrack::events::EventConfig::default().netns_fd(ns.into());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn netns_fd(mut self, ns: std::os::fd::OwnedFd) -> Self {
        self.netns = Some(ns.into());
        self
    }

    /// Sets the most datagrams received per `recvmmsg`.
    pub fn batch(mut self, n: usize) -> Self {
        self.batch = n;
        self
    }

    /// Sets the kernel-side filter (compiled to classic BPF when the stream opens).
    pub fn filter(mut self, f: EventFilter) -> Self {
        self.filter = Some(f);
        self
    }
}

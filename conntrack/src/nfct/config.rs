//! [`Config`]: how a handle is opened.

use super::*;

/// How to open an [`Nfct`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// Network namespace to work in (`/var/run/netns/NAME`, `/proc/PID/ns/net`); `None` for the
    /// caller's own.
    pub netns: Option<crate::Netns>,
    /// Receive buffer to ask for (forced with `SO_RCVBUFFORCE` when allowed); `None` keeps the
    /// system default.
    pub recv_buffer: Option<usize>,
    /// How long to wait for each kernel reply before giving up.
    pub timeout: Duration,
    /// How long one send may block (`SO_SNDTIMEO`; go-conntrack's `WriteTimeout`); `None`
    /// (the default) for no limit. Netlink sends to the kernel are processed as they are
    /// sent and rarely block; a send that times out fails with an I/O error and sends
    /// nothing (a batch reports it as the error that stopped it).
    pub send_timeout: Option<Duration>,
    /// Datagram slots of the receive arena (each 32 KiB; default 8, one `recvmmsg` per
    /// 8 datagrams). More slots save few system calls (a dump datagram holds about a hundred
    /// entries) and cost cache: with the pipeline, three arenas of 16 slots made a 250,000-entry
    /// dump about 2% slower than three of 8, and three of 64 about 10% slower (measured with
    /// `benches/examples/dump_profile.rs`).
    pub arena_slots: usize,
    /// Reads a dump longer than one batch on two threads: a helper thread receives (the
    /// kernel builds a dump inside those reads) while the caller's thread decodes, so the
    /// decode can overlap the kernel's work. The caller's closures still run on its own
    /// thread. Uses three more arenas, allocated on the first long dump. Likewise, a
    /// [`Nfct::batch`] of more than one send builds the next send on a helper thread while the
    /// kernel applies the previous one. On by default where
    /// the process may run on more than one CPU (`std::thread::available_parallelism`); what it
    /// gains is measured in the repository's BENCHMARKS.md (rows "owned Conn", with and
    /// without the pipeline). Off, everything runs on the caller's thread.
    pub pipeline: bool,
    /// Fault injection for tests (feature `testing`): see [`Config::lose_acks_after`].
    pub(super) lose_acks_after: Option<usize>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            netns: None,
            recv_buffer: Some(4 << 20),
            timeout: Duration::from_secs(30),
            send_timeout: None,
            arena_slots: 8,
            pipeline: std::thread::available_parallelism().is_ok_and(|n| n.get() > 1),
            lose_acks_after: None,
        }
    }
}

impl Config {
    /// Works in the network namespace at `path`.
    ///
    /// ```no_run
    /// use conntrack::{BatchOp, Config, Conn, DumpFilter, Exp, Family, FlushFilter, Key, Nfct};
    /// let nfct = Nfct::open_with(Config::default().netns("/var/run/netns/blue"))?;
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn netns(mut self, path: impl Into<PathBuf>) -> Self {
        self.netns = Some(crate::Netns::Path(path.into()));
        self
    }

    /// Works in the network namespace of the open descriptor `ns` (from
    /// `/proc/PID/ns/net`, or inherited); see [`crate::Netns`].
    ///
    /// ```no_run
    /// let ns = std::fs::File::open("/proc/1/ns/net")?;
    /// let cfg = conntrack::Config::default().netns_fd(ns.into());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn netns_fd(mut self, ns: std::os::fd::OwnedFd) -> Self {
        self.netns = Some(ns.into());
        self
    }

    /// Asks for a receive buffer of `bytes`.
    ///
    /// ```no_run
    /// use conntrack::{BatchOp, Config, Conn, DumpFilter, Exp, Family, FlushFilter, Key, Nfct};
    /// let nfct = Nfct::open_with(Config::default().recv_buffer(16 << 20))?;
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn recv_buffer(mut self, bytes: usize) -> Self {
        self.recv_buffer = Some(bytes);
        self
    }

    /// Sets the reply timeout.
    ///
    /// ```no_run
    /// use conntrack::{BatchOp, Config, Conn, DumpFilter, Exp, Family, FlushFilter, Key, Nfct};
    /// let nfct = Nfct::open_with(Config::default().timeout(std::time::Duration::from_secs(5)))?;
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    /// Sets the send timeout (see the field).
    ///
    /// ```no_run
    /// use conntrack::{Config, Nfct};
    /// let nfct = Nfct::open_with(Config::default().send_timeout(std::time::Duration::from_secs(2)))?;
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn send_timeout(mut self, t: Duration) -> Self {
        self.send_timeout = Some(t);
        self
    }

    /// Turns the two-thread reading of long dumps ([`Config::pipeline`]) on or off.
    ///
    /// ```no_run
    /// use conntrack::{Config, Nfct};
    /// // Long dumps received on a helper thread, decoded on the caller's.
    /// let nfct = Nfct::open_with(Config::default().pipeline(true))?;
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn pipeline(mut self, on: bool) -> Self {
        self.pipeline = on;
        self
    }

    /// Sets the datagram slots of each receive arena (at least 1; see the field).
    ///
    /// ```no_run
    /// use conntrack::{Config, Nfct};
    /// let nfct = Nfct::open_with(Config::default().arena_slots(16))?;
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn arena_slots(mut self, n: usize) -> Self {
        self.arena_slots = n.max(1);
        self
    }

    /// Test hook: a [`Nfct::batch`] reads `n` acknowledgement datagrams, then drops every
    /// further one unread, as if the kernel's acknowledgements were lost; the batch then
    /// meets its receive timeout with operations sent and unanswered. For fault tests only.
    #[cfg(feature = "testing")]
    #[doc(hidden)]
    pub fn lose_acks_after(mut self, n: usize) -> Self {
        self.lose_acks_after = Some(n);
        self
    }
}

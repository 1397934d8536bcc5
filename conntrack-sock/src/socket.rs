//! The `NETLINK_NETFILTER` socket.

use crate::arena::{Arena, RecvMeta};
use crate::sys;
use nix::sys::socket::{
    AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType, bind, getsockname,
    recv, sendto, socket,
};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

const SOL_NETLINK: i32 = libc::SOL_NETLINK;

/// A ctnetlink multicast group (`NFNLGRP_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Group {
    /// `NFNLGRP_CONNTRACK_NEW`.
    New,
    /// `NFNLGRP_CONNTRACK_UPDATE`.
    Update,
    /// `NFNLGRP_CONNTRACK_DESTROY`.
    Destroy,
    /// `NFNLGRP_CONNTRACK_EXP_NEW`.
    ExpNew,
    /// `NFNLGRP_CONNTRACK_EXP_UPDATE`.
    ExpUpdate,
    /// `NFNLGRP_CONNTRACK_EXP_DESTROY`.
    ExpDestroy,
}

impl Group {
    /// Returns the kernel's group number.
    ///
    /// ```
    /// use conntrack_sock::{Arena, Group, SockOpt, Socket};
    /// assert_eq!(Group::Destroy.number(), 3);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn number(self) -> u32 {
        match self {
            Group::New => 1,
            Group::Update => 2,
            Group::Destroy => 3,
            Group::ExpNew => 4,
            Group::ExpUpdate => 5,
            Group::ExpDestroy => 6,
        }
    }
}

/// A boolean netlink socket option at `SOL_NETLINK`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SockOpt {
    /// `NETLINK_NO_ENOBUFS`: do not report receive-buffer overruns with `ENOBUFS`.
    NoEnobufs,
    /// `NETLINK_EXT_ACK`: ask for extended-ack TLVs in errors.
    ExtAck,
    /// `NETLINK_CAP_ACK`: do not echo the request payload in errors.
    CapAck,
    /// `NETLINK_BROADCAST_ERROR`: make the kernel see delivery failures of broadcasts.
    BroadcastError,
    /// `NETLINK_LISTEN_ALL_NSID`: receive events of every peer network namespace.
    ListenAllNsid,
    /// `NETLINK_GET_STRICT_CHK`: strict checking of dump requests.
    GetStrictChk,
}

impl SockOpt {
    fn name(self) -> i32 {
        match self {
            SockOpt::NoEnobufs => libc::NETLINK_NO_ENOBUFS,
            SockOpt::ExtAck => libc::NETLINK_EXT_ACK,
            SockOpt::CapAck => libc::NETLINK_CAP_ACK,
            SockOpt::BroadcastError => libc::NETLINK_BROADCAST_ERROR,
            SockOpt::ListenAllNsid => libc::NETLINK_LISTEN_ALL_NSID,
            SockOpt::GetStrictChk => libc::NETLINK_GET_STRICT_CHK,
        }
    }
}

/// What [`Socket::meminfo`] reads (`SK_MEMINFO_*` of `SO_MEMINFO`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct MemInfo {
    /// Bytes the receive queue holds, counted as the kernel counts them (each datagram's
    /// buffer, `truesize`, which is more than its length): `SK_MEMINFO_RMEM_ALLOC`.
    pub rmem_alloc: u32,
    /// Datagrams dropped because the receive buffer was full: `SK_MEMINFO_DROPS`.
    pub drops: u32,
}

/// A bound `NETLINK_NETFILTER` socket.
#[derive(Debug)]
pub struct Socket {
    fd: OwnedFd,
    port_id: u32,
    nonblocking: bool,
}

impl Socket {
    /// Opens and binds a socket in the caller's network namespace (the kernel picks the port id).
    ///
    /// ```
    /// use conntrack_sock::{Arena, Group, SockOpt, Socket};
    /// let sock = Socket::open()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn open() -> io::Result<Self> {
        let fd = socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::NetlinkNetFilter,
        )?;
        bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 0))?;
        let addr: NetlinkAddr = getsockname(fd.as_raw_fd())?;
        Ok(Socket {
            fd,
            port_id: addr.pid(),
            nonblocking: false,
        })
    }

    /// Opens a socket inside the network namespace at `path` (such as `/var/run/netns/NAME` or
    /// `/proc/PID/ns/net`) without moving the caller's thread: a short-lived helper thread
    /// enters the namespace, opens the socket and exits; the socket stays in that namespace.
    ///
    /// ```no_run
    /// use conntrack_sock::{Arena, Group, SockOpt, Socket};
    /// let sock = Socket::open_in_netns(std::path::Path::new("/var/run/netns/blue"))?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn open_in_netns(path: &Path) -> io::Result<Self> {
        let ns = std::fs::File::open(path)?;
        Self::open_in_netns_fd(ns.as_fd())
    }

    /// Like [`Socket::open_in_netns`], for an already open namespace file descriptor.
    ///
    /// ```no_run
    /// use conntrack_sock::{Arena, Group, SockOpt, Socket};
    /// let ns = std::fs::File::open("/proc/1/ns/net")?;
    /// let sock = Socket::open_in_netns_fd(std::os::fd::AsFd::as_fd(&ns))?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn open_in_netns_fd(ns: BorrowedFd<'_>) -> io::Result<Self> {
        let ns = ns.try_clone_to_owned()?;
        std::thread::scope(|s| {
            s.spawn(move || {
                nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET)?;
                Socket::open()
            })
            .join()
            .map_err(|_| io::Error::other("namespace helper thread panicked"))?
        })
    }

    /// Opens a socket in a new, empty network namespace of its own (a scratch table: the
    /// namespace lives as long as the socket). A short-lived helper thread unshares its
    /// network namespace and opens the socket; the caller's thread is not moved. Needs
    /// `CAP_SYS_ADMIN` in the caller's user namespace (`EPERM` otherwise).
    ///
    /// ```no_run
    /// use conntrack_sock::{Arena, Group, SockOpt, Socket};
    /// let scratch = Socket::open_in_new_netns()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn open_in_new_netns() -> io::Result<Self> {
        std::thread::scope(|s| {
            s.spawn(|| {
                nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)?;
                Socket::open()
            })
            .join()
            .map_err(|_| io::Error::other("namespace helper thread panicked"))?
        })
    }

    /// Registers a duplicate of this socket's file descriptor with the current tokio
    /// runtime (feature `tokio`; call inside a runtime): the returned `AsyncFd` tells when
    /// the socket is readable, and the socket itself is read as usual (readiness belongs to
    /// the socket, which both descriptors name). Safe: the duplicate is owned by the
    /// `AsyncFd`, and closed only after it deregisters.
    ///
    /// ```no_run
    /// # async fn f() -> std::io::Result<()> {
    /// use conntrack_sock::Socket;
    /// let sock = Socket::open()?;
    /// let ready = sock.async_ready()?;
    /// let guard = ready.readable().await?;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "tokio")]
    pub fn async_ready(&self) -> io::Result<tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>> {
        sys::async_fd(self.fd.try_clone()?)
    }

    /// Returns the port id the kernel bound this socket to.
    ///
    /// ```no_run
    /// use conntrack_sock::{Arena, Group, SockOpt, Socket};
    /// println!("{}", Socket::open()?.port_id());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn port_id(&self) -> u32 {
        self.port_id
    }

    /// Joins a multicast group.
    ///
    /// ```no_run
    /// use conntrack_sock::{Arena, Group, SockOpt, Socket};
    /// Socket::open()?.join_group(Group::Destroy)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn join_group(&self, g: Group) -> io::Result<()> {
        sys::setsockopt_int(
            self.fd.as_fd(),
            SOL_NETLINK,
            libc::NETLINK_ADD_MEMBERSHIP,
            g.number() as i32,
        )
    }

    /// Leaves a multicast group.
    ///
    /// ```no_run
    /// use conntrack_sock::{Arena, Group, SockOpt, Socket};
    /// let s = Socket::open()?;
    /// s.join_group(Group::New)?;
    /// s.leave_group(Group::New)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn leave_group(&self, g: Group) -> io::Result<()> {
        sys::setsockopt_int(
            self.fd.as_fd(),
            SOL_NETLINK,
            libc::NETLINK_DROP_MEMBERSHIP,
            g.number() as i32,
        )
    }

    /// Turns a boolean netlink option on or off.
    ///
    /// ```no_run
    /// use conntrack_sock::{Arena, Group, SockOpt, Socket};
    /// Socket::open()?.set_option(SockOpt::NoEnobufs, true)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_option(&self, opt: SockOpt, on: bool) -> io::Result<()> {
        sys::setsockopt_int(self.fd.as_fd(), SOL_NETLINK, opt.name(), i32::from(on))
    }

    /// Sets the receive buffer: `SO_RCVBUFFORCE` (needs `CAP_NET_ADMIN` in the initial user
    /// namespace), falling back to `SO_RCVBUF` (capped by `net.core.rmem_max`). Returns the
    /// size the kernel now reports (it doubles the request for bookkeeping) and whether the
    /// forced path was taken.
    ///
    /// ```no_run
    /// use conntrack_sock::{Arena, Group, SockOpt, Socket};
    /// let (size, forced) = Socket::open()?.set_recv_buffer(64 << 20)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_recv_buffer(&self, bytes: usize) -> io::Result<(usize, bool)> {
        let v = i32::try_from(bytes).unwrap_or(i32::MAX);
        let forced =
            sys::setsockopt_int(self.fd.as_fd(), libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, v).is_ok();
        if !forced {
            sys::setsockopt_int(self.fd.as_fd(), libc::SOL_SOCKET, libc::SO_RCVBUF, v)?;
        }
        Ok((self.recv_buffer()?, forced))
    }

    /// Returns the receive buffer size the kernel reports (`SO_RCVBUF`).
    ///
    /// ```no_run
    /// use conntrack_sock::{Arena, Group, SockOpt, Socket};
    /// println!("{}", Socket::open()?.recv_buffer()?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn recv_buffer(&self) -> io::Result<usize> {
        sys::getsockopt_int(self.fd.as_fd(), libc::SOL_SOCKET, libc::SO_RCVBUF)
            .map(|v| v.max(0) as usize)
    }

    /// Returns the send buffer size the kernel reports (`SO_SNDBUF`). Netlink refuses, with
    /// `EMSGSIZE`, a datagram longer than this less 32 bytes.
    ///
    /// ```no_run
    /// use conntrack_sock::{Arena, Group, SockOpt, Socket};
    /// println!("{}", Socket::open()?.send_buffer()?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn send_buffer(&self) -> io::Result<usize> {
        sys::getsockopt_int(self.fd.as_fd(), libc::SOL_SOCKET, libc::SO_SNDBUF)
            .map(|v| v.max(0) as usize)
    }

    /// Returns the number of datagrams the kernel dropped for this socket (`SK_MEMINFO_DROPS`
    /// of `SO_MEMINFO`), counted even with `NETLINK_NO_ENOBUFS`.
    ///
    /// ```no_run
    /// use conntrack_sock::{Arena, Group, SockOpt, Socket};
    /// println!("dropped {}", Socket::open()?.drops()?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn drops(&self) -> io::Result<u32> {
        self.meminfo().map(|m| m.drops)
    }

    /// Returns the receive queue's memory and the drop count, read together (`SO_MEMINFO`).
    ///
    /// ```no_run
    /// use conntrack_sock::Socket;
    /// let m = Socket::open()?.meminfo()?;
    /// println!("{} bytes queued, {} dropped", m.rmem_alloc, m.drops);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn meminfo(&self) -> io::Result<MemInfo> {
        sys::meminfo(self.fd.as_fd()).map(|m| MemInfo {
            rmem_alloc: m[0],
            drops: m[8],
        })
    }

    /// Attaches a classic BPF program (instructions as `(code, jt, jf, k)`).
    ///
    /// ```no_run
    /// use conntrack_sock::{Arena, Group, SockOpt, Socket};
    /// // accept everything: `ret #-1`
    /// Socket::open()?.attach_filter(&[(0x06, 0, 0, u32::MAX)])?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn attach_filter(&self, prog: &[(u16, u8, u8, u32)]) -> io::Result<()> {
        let p: Vec<libc::sock_filter> = prog
            .iter()
            .map(|&(code, jt, jf, k)| libc::sock_filter { code, jt, jf, k })
            .collect();
        sys::attach_filter(self.fd.as_fd(), &p)
    }

    /// Detaches any BPF program.
    ///
    /// ```no_run
    /// use conntrack_sock::{Arena, Group, SockOpt, Socket};
    /// Socket::open()?.detach_filter()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn detach_filter(&self) -> io::Result<()> {
        sys::setsockopt_int(self.fd.as_fd(), libc::SOL_SOCKET, libc::SO_DETACH_FILTER, 0)
    }

    /// Switches non-blocking mode (receives then fail with `WouldBlock` instead of waiting).
    ///
    /// ```no_run
    /// use conntrack_sock::{Arena, Group, SockOpt, Socket};
    /// let mut s = Socket::open()?;
    /// s.set_nonblocking(true)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_nonblocking(&mut self, on: bool) -> io::Result<()> {
        use nix::fcntl::{FcntlArg, OFlag, fcntl};
        let fl = OFlag::from_bits_truncate(fcntl(self.fd.as_raw_fd(), FcntlArg::F_GETFL)?);
        let fl = if on {
            fl | OFlag::O_NONBLOCK
        } else {
            fl & !OFlag::O_NONBLOCK
        };
        fcntl(self.fd.as_raw_fd(), FcntlArg::F_SETFL(fl))?;
        self.nonblocking = on;
        Ok(())
    }

    /// Sets how long a receive may block (`SO_RCVTIMEO`); `None` blocks forever. A receive
    /// that times out fails with `WouldBlock`.
    ///
    /// ```no_run
    /// use conntrack_sock::{Arena, Group, SockOpt, Socket};
    /// Socket::open()?.set_recv_timeout(Some(std::time::Duration::from_secs(1)))?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_recv_timeout(&self, t: Option<std::time::Duration>) -> io::Result<()> {
        use nix::sys::socket::{setsockopt, sockopt::ReceiveTimeout};
        use nix::sys::time::TimeVal;
        let tv = match t {
            Some(d) => TimeVal::new(d.as_secs() as _, d.subsec_micros() as _),
            None => TimeVal::new(0, 0),
        };
        setsockopt(&self.fd, ReceiveTimeout, &tv).map_err(io::Error::from)
    }

    /// Sets how long a send may block (`SO_SNDTIMEO`; `None`: no limit, the default). A send
    /// that times out fails with `WouldBlock` (`EAGAIN`) and sends nothing.
    ///
    /// ```no_run
    /// use conntrack_sock::Socket;
    /// Socket::open()?.set_send_timeout(Some(std::time::Duration::from_secs(2)))?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_send_timeout(&self, t: Option<std::time::Duration>) -> io::Result<()> {
        use nix::sys::socket::{setsockopt, sockopt::SendTimeout};
        use nix::sys::time::TimeVal;
        let tv = match t {
            Some(d) => TimeVal::new(d.as_secs() as _, d.subsec_micros() as _),
            None => TimeVal::new(0, 0),
        };
        setsockopt(&self.fd, SendTimeout, &tv).map_err(io::Error::from)
    }

    /// Returns the send timeout (`SO_SNDTIMEO`; `None`: no limit).
    ///
    /// ```no_run
    /// use conntrack_sock::Socket;
    /// assert_eq!(Socket::open()?.send_timeout()?, None);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn send_timeout(&self) -> io::Result<Option<std::time::Duration>> {
        use nix::sys::socket::{getsockopt, sockopt::SendTimeout};
        let tv = getsockopt(&self.fd, SendTimeout).map_err(io::Error::from)?;
        let d = std::time::Duration::from_secs(tv.tv_sec().max(0) as u64)
            + std::time::Duration::from_micros(tv.tv_usec().max(0) as u64);
        Ok((!d.is_zero()).then_some(d))
    }

    /// Sends one buffer (one request, or several framed back to back) to the kernel.
    ///
    /// ```no_run
    /// use conntrack_sock::{Arena, Group, SockOpt, Socket};
    /// // an empty NLMSG_NOOP
    /// let noop = [16u8, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    /// Socket::open()?.send(&noop)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        loop {
            match sendto(
                self.fd.as_raw_fd(),
                buf,
                &NetlinkAddr::new(0, 0),
                MsgFlags::empty(),
            ) {
                Err(nix::errno::Errno::EINTR) => continue,
                r => return r.map_err(io::Error::from),
            }
        }
    }

    /// Receives one datagram into `buf`. A datagram larger than `buf` is reported with
    /// `truncated` set and its full length. A call interrupted by a signal is retried
    /// (`EINTR` is never returned; use a receive timeout to wake up periodically).
    ///
    /// ```no_run
    /// use conntrack_sock::{Arena, Group, SockOpt, Socket};
    /// let mut buf = vec![0u8; 32 * 1024];
    /// let meta = Socket::open()?.recv(&mut buf)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<RecvMeta> {
        let flags = if self.nonblocking {
            MsgFlags::MSG_TRUNC | MsgFlags::MSG_DONTWAIT
        } else {
            MsgFlags::MSG_TRUNC
        };
        loop {
            // With MSG_TRUNC, netlink returns the datagram's full length even when it was cut.
            match recv(self.fd.as_raw_fd(), buf, flags) {
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
                Ok(n) => {
                    return Ok(RecvMeta {
                        len: n,
                        truncated: n > buf.len(),
                        nsid: None,
                    });
                }
            }
        }
    }

    /// Receives a batch of datagrams into `arena` with one `recvmmsg(MSG_WAITFORONE)`: blocks
    /// for the first (unless non-blocking), then takes whatever else is queued. Returns the
    /// number received; read them with [`Arena::iter`]. `ENOBUFS` is returned as an error; a
    /// call interrupted by a signal is retried (`EINTR` is never returned).
    ///
    /// ```no_run
    /// use conntrack_sock::{Arena, Group, SockOpt, Socket};
    /// let sock = Socket::open()?;
    /// sock.join_group(Group::New)?;
    /// let mut arena = Arena::new(64, 8192)?;
    /// let n = sock.recv_batch(&mut arena)?;
    /// for (datagram, meta) in arena.iter() {
    ///     println!("{} bytes, truncated: {}", datagram.len(), meta.truncated);
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn recv_batch(&self, arena: &mut Arena) -> io::Result<usize> {
        let (buf, slot_len, metas, st) = arena.parts();
        let r = sys::recvmmsg(self.fd.as_fd(), buf, slot_len, metas, st, self.nonblocking);
        let n = *r.as_ref().unwrap_or(&0);
        arena.set_filled(n);
        r
    }
}

impl AsFd for Socket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

//! Every `unsafe` block of the workspace lives here, each with its `// SAFETY:` argument.
//!
//! These are thin wrappers over syscalls that `nix` does not cover for netlink:
//! integer socket options at `SOL_NETLINK`, `SO_MEMINFO`, `SO_ATTACH_FILTER`, `recvmmsg` into
//! caller slots, the `mmap`/`munmap` of the receive arena, and `madvise` for large
//! result vectors.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::ptr::NonNull;

/// Sets an integer socket option.
pub(crate) fn setsockopt_int(
    fd: BorrowedFd<'_>,
    level: i32,
    name: i32,
    value: i32,
) -> io::Result<()> {
    // SAFETY: `value` lives across the call and its exact size is passed; the fd is valid
    // because it is borrowed.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&value as *const i32).cast(),
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Reads an integer socket option.
pub(crate) fn getsockopt_int(fd: BorrowedFd<'_>, level: i32, name: i32) -> io::Result<i32> {
    let mut v: i32 = 0;
    let mut len = std::mem::size_of::<i32>() as libc::socklen_t;
    // SAFETY: `v` and `len` are valid for writes of the sizes given; the fd is borrowed.
    let r = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&mut v as *mut i32).cast(),
            &mut len,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(v)
    }
}

/// `SK_MEMINFO_VARS` entries of `SO_MEMINFO`; index 8 is `SK_MEMINFO_DROPS`.
pub(crate) fn meminfo(fd: BorrowedFd<'_>) -> io::Result<[u32; 9]> {
    let mut v = [0u32; 9];
    let mut len = std::mem::size_of_val(&v) as libc::socklen_t;
    // SAFETY: `v` is a writable array of `len` bytes; the kernel writes at most `len` bytes.
    let r = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_MEMINFO,
            v.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    // A kernel that reports fewer words has no drop counter: reading it as 0 would hide
    // every loss.
    if (len as usize) < std::mem::size_of_val(&v) {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("SO_MEMINFO returned {len} bytes: this kernel reports no drop count"),
        ));
    }
    Ok(v)
}

/// Attaches a classic BPF program (`SO_ATTACH_FILTER`).
pub(crate) fn attach_filter(fd: BorrowedFd<'_>, prog: &[libc::sock_filter]) -> io::Result<()> {
    let len = u16::try_from(prog.len()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let fprog = libc::sock_fprog {
        len,
        filter: prog.as_ptr().cast_mut(),
    };
    // SAFETY: `fprog` points at `prog`, which outlives the call; the kernel copies the program
    // and never writes through the pointer.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ATTACH_FILTER,
            (&fprog as *const libc::sock_fprog).cast(),
            std::mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// An anonymous, private, pre-faulted memory mapping.
pub(crate) struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is plain memory owned by this value; access goes through `&self` /
// `&mut self`, so Rust's aliasing rules apply as for a `Box<[u8]>`.
unsafe impl Send for Mapping {}
// SAFETY: as above; shared access only hands out `&[u8]`.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Maps `len` bytes (rounded up to pages by the kernel), pre-faulted with `MAP_POPULATE`.
    pub(crate) fn new(len: usize) -> io::Result<Self> {
        if len == 0 {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        // SAFETY: an anonymous private mapping with no address hint has no preconditions.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(p.cast::<u8>())
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOMEM))?;
        Ok(Mapping { ptr, len })
    }

    pub(crate) fn as_slice(&self) -> &[u8] {
        // SAFETY: the mapping is `len` readable bytes, initialised (zero) by the kernel, alive
        // for as long as `self`.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    pub(crate) fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as in `as_slice`, and `&mut self` guarantees exclusive access.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly what mmap returned; nothing borrows the mapping
        // any more because we hold `&mut self`.
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.len);
        }
    }
}

/// One datagram received by [`recvmmsg`].
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RawMeta {
    pub(crate) len: usize,
    pub(crate) flags: i32,
    pub(crate) nsid: Option<i32>,
}

/// Room for one control message carrying an `int` (the namespace id of
/// `NETLINK_LISTEN_ALL_NSID`): `CMSG_SPACE(sizeof(int))` is 24 bytes on 64-bit Linux and 16 on
/// 32-bit; 32 bytes, 8-aligned, hold it everywhere (checked at run time in `MmsgState::new`).
type CmsgBuf = [u64; 4];

/// `CMSG_SPACE(sizeof(int))` for this target.
fn cmsg_space_int() -> usize {
    // SAFETY: CMSG_SPACE only computes a size from its argument.
    unsafe { libc::CMSG_SPACE(std::mem::size_of::<libc::c_int>() as u32) as usize }
}

/// The `recvmmsg` headers of an arena, allocated once. The raw pointers inside are rewritten
/// before every call, so a stale pointer is never read.
pub(crate) struct MmsgState {
    hdrs: Vec<libc::mmsghdr>,
    iovs: Vec<libc::iovec>,
    cmsgs: Vec<CmsgBuf>,
}

// SAFETY: the pointers stored in `hdrs` and `iovs` point into buffers owned by the caller of
// `recvmmsg` and are only used during that call, on the thread that made it; moving the state
// to another thread between calls moves no live borrow.
unsafe impl Send for MmsgState {}

impl MmsgState {
    pub(crate) fn new(n: usize) -> Self {
        // SAFETY: mmsghdr and iovec are plain C structs for which all-zero bytes are valid.
        let hdrs = (0..n)
            .map(|_| unsafe { std::mem::zeroed::<libc::mmsghdr>() })
            .collect();
        let iovs = (0..n)
            .map(|_| libc::iovec {
                iov_base: std::ptr::null_mut(),
                iov_len: 0,
            })
            .collect();
        debug_assert!(cmsg_space_int() <= std::mem::size_of::<CmsgBuf>());
        MmsgState {
            hdrs,
            iovs,
            cmsgs: vec![[0u64; 4]; n],
        }
    }
}

/// Receives up to `metas.len()` datagrams with one `recvmmsg(MSG_WAITFORONE)` call.
///
/// `buf` is split into `slot_len`-byte slots. Returns how many datagrams arrived.
pub(crate) fn recvmmsg(
    fd: BorrowedFd<'_>,
    buf: &mut [u8],
    slot_len: usize,
    metas: &mut [RawMeta],
    st: &mut MmsgState,
    nonblocking: bool,
) -> io::Result<usize> {
    let n = metas
        .len()
        .min(st.hdrs.len())
        .min(buf.len() / slot_len.max(1));
    if n == 0 {
        return Ok(0);
    }
    for ((chunk, iov), (hdr, cmsg)) in buf
        .chunks_exact_mut(slot_len)
        .zip(st.iovs.iter_mut())
        .zip(st.hdrs.iter_mut().zip(st.cmsgs.iter_mut()))
        .take(n)
    {
        *iov = libc::iovec {
            iov_base: chunk.as_mut_ptr().cast(),
            iov_len: slot_len,
        };
        hdr.msg_hdr.msg_name = std::ptr::null_mut();
        hdr.msg_hdr.msg_namelen = 0;
        hdr.msg_hdr.msg_iov = iov;
        hdr.msg_hdr.msg_iovlen = 1;
        hdr.msg_hdr.msg_control = cmsg.as_mut_ptr().cast();
        // The field's type differs between C libraries (size_t in glibc, socklen_t in musl).
        hdr.msg_hdr.msg_controllen = cmsg_space_int().min(std::mem::size_of::<CmsgBuf>()) as _;
        hdr.msg_hdr.msg_flags = 0;
        hdr.msg_len = 0;
    }
    let flags = libc::MSG_WAITFORONE | if nonblocking { libc::MSG_DONTWAIT } else { 0 };
    let r = loop {
        // SAFETY: the first `n` headers point at live iovecs over distinct slots of `buf` and
        // at live control buffers of the size given; all outlive the call, and the kernel
        // writes at most `n` headers.
        let r = unsafe {
            libc::recvmmsg(
                fd.as_raw_fd(),
                st.hdrs.as_mut_ptr(),
                n as _,
                // int in glibc, unsigned in musl
                flags as _,
                std::ptr::null_mut(),
            )
        };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        break r as usize;
    };
    for (h, m) in st.hdrs.iter().zip(metas.iter_mut()).take(r) {
        let nsid = control_nsid(&h.msg_hdr);
        *m = RawMeta {
            len: h.msg_len as usize,
            flags: h.msg_hdr.msg_flags,
            nsid,
        };
    }
    Ok(r)
}

/// The namespace id of a `NETLINK_LISTEN_ALL_NSID` control message, if the kernel wrote one,
/// walked with the C library's own `CMSG_*` macros (the layout differs between 32-bit and
/// 64-bit targets and between C libraries).
fn control_nsid(h: &libc::msghdr) -> Option<i32> {
    // SAFETY: `h` was filled by recvmmsg: msg_control points at our live control buffer and
    // msg_controllen says how much of it the kernel wrote, which is what CMSG_FIRSTHDR and
    // CMSG_NXTHDR check every header against; CMSG_DATA of a header they return lies inside
    // the buffer, and the reads are unaligned-safe.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(h);
        while !c.is_null() {
            let hdr = std::ptr::read_unaligned(c);
            let need = libc::CMSG_LEN(std::mem::size_of::<libc::c_int>() as u32) as usize;
            if hdr.cmsg_level == libc::SOL_NETLINK
                && hdr.cmsg_type == libc::NETLINK_LISTEN_ALL_NSID
                && hdr.cmsg_len as usize >= need
            {
                return Some(std::ptr::read_unaligned(
                    libc::CMSG_DATA(c).cast::<libc::c_int>(),
                ));
            }
            c = libc::CMSG_NXTHDR(h, c);
        }
    }
    None
}

#[cfg(feature = "testing")]
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[cfg(feature = "testing")]
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

#[cfg(feature = "testing")]
const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// Removes capability `cap` (< 32) from the calling thread's effective and permitted sets.
/// Capabilities are per thread on Linux, so other threads keep theirs.
#[cfg(feature = "testing")]
pub(crate) fn drop_thread_cap(cap: u32) -> io::Result<()> {
    if cap >= 32 {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    let mut hdr = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: `hdr` and `data` are the v3 layouts capget expects (one header, two data words),
    // both live and writable for the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_capget,
            &mut hdr as *mut CapHeader,
            data.as_mut_ptr(),
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    data[0].effective &= !(1 << cap);
    data[0].permitted &= !(1 << cap);
    // SAFETY: as above; capset only reads `hdr` and `data`, and pid 0 names this thread.
    let r = unsafe { libc::syscall(libc::SYS_capset, &mut hdr as *mut CapHeader, data.as_ptr()) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Asks for transparent huge pages (`MADV_HUGEPAGE`) for the whole pages inside `mem`, so that
/// filling it faults once per 2 MiB instead of once per 4 KiB. Advisory: errors are ignored
/// (`EINVAL` where THP is compiled out, for one).
pub(crate) fn advise_huge<T>(mem: &mut [std::mem::MaybeUninit<T>]) {
    // SAFETY: sysconf only reads a constant of the system.
    let page = match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
        p if p > 0 => p as usize,
        _ => return,
    };
    let start = mem.as_mut_ptr() as usize;
    let end = start + std::mem::size_of_val(mem);
    let (a, b) = (start.next_multiple_of(page), end & !(page - 1));
    if b <= a {
        return;
    }
    // SAFETY: [a, b) lies inside `mem`, which is exclusively borrowed for the call, so no
    // other mapping is affected; MADV_HUGEPAGE changes only how later page faults are served
    // (and lets khugepaged merge pages), never the contents, so no Rust value is disturbed.
    unsafe {
        libc::madvise(a as *mut libc::c_void, b - a, libc::MADV_HUGEPAGE);
    }
}

/// Registers `fd` with the current tokio runtime's reactor (feature `tokio`).
#[cfg(feature = "tokio")]
pub(crate) fn async_fd(
    fd: std::os::fd::OwnedFd,
) -> io::Result<tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>> {
    // SAFETY: `register` needs the fd that `as_raw_fd` returns to be a valid, open fd that
    // stays open, and the same, for as long as the registration lives. An `OwnedFd` owns its
    // fd, returns that one fd every time, and is only closed when dropped, which happens after
    // the `AsyncFd` deregisters it (the `AsyncFd` owns it).
    unsafe { tokio::io::unix::AsyncFd::register(fd) }.map_err(|e| e.into_parts().1)
}

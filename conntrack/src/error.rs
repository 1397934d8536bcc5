//! The one error type of the `conntrack` crate.

use crate::kernel::{Feature, Reason};
use std::fmt;
use std::io;

/// The operation an error belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Op {
    /// Opening the socket.
    Open,
    /// A conntrack dump.
    Dump,
    /// A get of one entry.
    Get,
    /// A create.
    Create,
    /// An update.
    Update,
    /// A delete of one entry.
    Delete,
    /// A flush (whole or filtered).
    Flush,
    /// A statistics request.
    Stats,
    /// An expectation dump.
    ExpDump,
    /// An expectation get.
    ExpGet,
    /// An expectation create.
    ExpCreate,
    /// An expectation delete.
    ExpDelete,
    /// An expectation flush.
    ExpFlush,
    /// Probing what the running kernel supports.
    Probe,
    /// A batch of mutations.
    Batch,
    /// Setting a socket option.
    SetOption,
    /// Receiving events (or waiting for them).
    Recv,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Open => "open",
            Op::Dump => "dump",
            Op::Get => "get",
            Op::Create => "create",
            Op::Update => "update",
            Op::Delete => "delete",
            Op::Flush => "flush",
            Op::Stats => "stats",
            Op::ExpDump => "expectation dump",
            Op::ExpGet => "expectation get",
            Op::ExpCreate => "expectation create",
            Op::ExpDelete => "expectation delete",
            Op::ExpFlush => "expectation flush",
            Op::Probe => "probe",
            Op::Batch => "batch",
            Op::SetOption => "set option",
            Op::Recv => "receive",
        })
    }
}

/// Everything that can go wrong, with the operation it happened in.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The entry does not exist (`ENOENT`).
    NotFound {
        /// The operation.
        op: Op,
    },
    /// The entry already exists (`EEXIST`).
    Exists {
        /// The operation.
        op: Op,
    },
    /// The caller lacks `CAP_NET_ADMIN` in the namespace's user namespace (`EPERM`).
    PermissionDenied {
        /// The operation.
        op: Op,
    },
    /// The running kernel cannot do what was asked (and would silently do something else);
    /// nothing was sent.
    Unsupported {
        /// The operation.
        op: Op,
        /// What the request needs.
        feature: Feature,
        /// Why the running kernel cannot do it.
        reason: Reason,
    },
    /// The request is malformed or contradictory; nothing was sent.
    Invalid {
        /// The operation.
        op: Op,
        /// What is wrong.
        what: String,
    },
    /// Any other kernel error.
    Kernel {
        /// The operation.
        op: Op,
        /// The errno (positive).
        errno: i32,
        /// The kernel's extended-ack message, if it sent one.
        message: Option<String>,
    },
    /// A socket error.
    Io {
        /// The operation.
        op: Op,
        /// The I/O error.
        source: io::Error,
    },
    /// The handle was called from inside one of its own callbacks (a dump closure), on the
    /// thread that runs the outer call. Nothing was sent; call the handle after the outer call
    /// returns, or use a second [`crate::Nfct`].
    Reentrant {
        /// The operation.
        op: Op,
    },
    /// The kernel sent bytes that do not parse.
    Wire {
        /// The operation.
        op: Op,
        /// The codec error.
        source: conntrack_wire::Error,
    },
}

impl Error {
    /// Builds the error for a kernel errno, mapping the common ones to their own variants.
    pub fn from_errno(op: Op, errno: i32, message: Option<String>) -> Self {
        match errno {
            e if e == nix::errno::Errno::ENOENT as i32 => Error::NotFound { op },
            e if e == nix::errno::Errno::EEXIST as i32 => Error::Exists { op },
            e if e == nix::errno::Errno::EPERM as i32 => Error::PermissionDenied { op },
            _ => Error::Kernel { op, errno, message },
        }
    }

    /// Returns the operation.
    pub fn op(&self) -> Op {
        match self {
            Error::NotFound { op }
            | Error::Exists { op }
            | Error::PermissionDenied { op }
            | Error::Unsupported { op, .. }
            | Error::Invalid { op, .. }
            | Error::Kernel { op, .. }
            | Error::Io { op, .. }
            | Error::Reentrant { op }
            | Error::Wire { op, .. } => *op,
        }
    }

    /// Returns the errno behind the error, when there is one.
    pub fn errno(&self) -> Option<i32> {
        use nix::errno::Errno;
        match self {
            Error::NotFound { .. } => Some(Errno::ENOENT as i32),
            Error::Exists { .. } => Some(Errno::EEXIST as i32),
            Error::PermissionDenied { .. } => Some(Errno::EPERM as i32),
            Error::Kernel { errno, .. } => Some(*errno),
            Error::Io { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }

    pub(crate) fn io(op: Op, source: io::Error) -> Self {
        if source.raw_os_error() == Some(nix::errno::Errno::EPERM as i32) {
            return Error::PermissionDenied { op };
        }
        Error::Io { op, source }
    }
}

fn errno_name(e: i32) -> String {
    format!("{:?}", nix::errno::Errno::from_raw(e))
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotFound { op } => write!(f, "{op}: no such entry (ENOENT)"),
            Error::Exists { op } => write!(f, "{op}: the entry already exists (EEXIST)"),
            Error::PermissionDenied { op } => write!(
                f,
                "{op}: permission denied (EPERM): needs CAP_NET_ADMIN in the network namespace's user namespace"
            ),
            Error::Unsupported {
                op,
                feature,
                reason,
            } => {
                write!(
                    f,
                    "{op}: {feature} is not supported by the running kernel: {reason}"
                )?;
                if *op == Op::Flush {
                    f.write_str("; Nfct::flush_matching deletes exactly the selection")?;
                }
                Ok(())
            }
            Error::Invalid { op, what } => write!(f, "{op}: invalid request: {what}"),
            Error::Kernel { op, errno, message } => {
                write!(
                    f,
                    "{op}: kernel error {} ({})",
                    errno_name(*errno),
                    io::Error::from_raw_os_error(*errno)
                )?;
                if let Some(m) = message {
                    write!(f, ": {m}")?;
                }
                Ok(())
            }
            Error::Io { op, source } => write!(f, "{op}: socket error: {source}"),
            Error::Reentrant { op } => write!(
                f,
                "{op}: the handle was called from inside its own callback (it would deadlock); nothing was sent"
            ),
            Error::Wire { op, source } => write!(f, "{op}: malformed kernel message: {source}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            Error::Wire { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_mapping_and_messages() {
        assert!(matches!(
            Error::from_errno(Op::Get, 2, None),
            Error::NotFound { op: Op::Get }
        ));
        assert!(matches!(
            Error::from_errno(Op::Create, 17, None),
            Error::Exists { .. }
        ));
        let e = Error::from_errno(Op::Create, 16, Some("busy".into()));
        assert_eq!(
            e.to_string(),
            "create: kernel error EBUSY (Device or resource busy (os error 16)): busy"
        );
        assert_eq!(e.errno(), Some(16));
        assert!(
            Error::from_errno(Op::Dump, 1, None)
                .to_string()
                .contains("CAP_NET_ADMIN")
        );
    }
}

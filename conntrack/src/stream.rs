//! The event stream as an async `Stream` (feature `tokio`), built on `tokio::io::unix::AsyncFd`.

use crate::error::{Error, Op, Result};
use crate::events::{Event, Events};
use futures_core::Stream;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::unix::AsyncFd;

struct Fd(Events);

impl AsRawFd for Fd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.socket().as_fd().as_raw_fd()
    }
}

/// Events as a `Stream` of owned batches, for tokio.
///
/// ```no_run
/// # async fn f() -> Result<(), conntrack::Error> {
/// use conntrack::events::{Event, EventConfig, Events};
/// use conntrack::stream::EventStream;
/// use std::future::poll_fn;
/// use std::pin::Pin;
/// use futures_core::Stream;
///
/// let mut stream = EventStream::new(Events::open_with(EventConfig::default())?)?;
/// while let Some(batch) = poll_fn(|cx| Pin::new(&mut stream).poll_next(cx)).await {
///     for ev in batch? {
///         if let Event::Overrun { lost } = ev {
///             eprintln!("lost {lost}");
///         }
///     }
/// }
/// # Ok(()) }
/// ```
pub struct EventStream {
    fd: AsyncFd<Fd>,
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream").finish_non_exhaustive()
    }
}

impl EventStream {
    /// Wraps an event subscription (it is switched to non-blocking mode). Must be called
    /// inside a tokio runtime.
    pub fn new(mut events: Events) -> Result<Self> {
        events.set_nonblocking(true)?;
        // `AsyncFd::new` is deprecated because an arbitrary `AsRawFd` value could close its fd
        // while registered; `Fd` owns the socket (an `OwnedFd` inside `Events`) for as long as
        // the registration lives, so that cannot happen here. The replacement, `register`, is
        // `unsafe`, which this crate does not allow.
        #[allow(deprecated)]
        let fd = AsyncFd::new(Fd(events)).map_err(|e| Error::io(Op::Open, e))?;
        Ok(EventStream { fd })
    }

    /// Returns the subscription.
    pub fn get_mut(&mut self) -> &mut Events {
        &mut self.fd.get_mut().0
    }
}

impl Stream for EventStream {
    type Item = Result<Vec<Event>>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            let mut guard = match this.fd.poll_read_ready_mut(cx) {
                Poll::Ready(Ok(g)) => g,
                Poll::Ready(Err(e)) => return Poll::Ready(Some(Err(Error::io(Op::Open, e)))),
                Poll::Pending => return Poll::Pending,
            };
            match guard.get_inner_mut().0.recv() {
                Ok(b) if b.is_empty() => guard.clear_ready(),
                Ok(b) => return Poll::Ready(Some(Ok(b.to_vec()))),
                Err(e) => return Poll::Ready(Some(Err(e))),
            }
        }
    }
}

//! The event stream as an async `Stream` (feature `tokio`), built on `tokio::io::unix::AsyncFd`.

use crate::error::{Error, Op, Result};
use crate::events::{Event, Events};
use futures_core::Stream;
use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::unix::AsyncFd;

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
    /// Readiness of the subscription's socket (a duplicate descriptor, registered by
    /// `conntrack-sock`, where the workspace's unsafe code lives).
    ready: AsyncFd<OwnedFd>,
    events: Events,
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
        let ready = events
            .socket()
            .async_ready()
            .map_err(|e| Error::io(Op::Open, e))?;
        Ok(EventStream { ready, events })
    }

    /// Returns the subscription.
    pub fn get_mut(&mut self) -> &mut Events {
        &mut self.events
    }
}

impl Stream for EventStream {
    type Item = Result<Vec<Event>>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            let mut guard = match this.ready.poll_read_ready(cx) {
                Poll::Ready(Ok(g)) => g,
                Poll::Ready(Err(e)) => return Poll::Ready(Some(Err(Error::io(Op::Recv, e)))),
                Poll::Pending => return Poll::Pending,
            };
            match this.events.recv() {
                Ok(b) if b.is_empty() => guard.clear_ready(),
                Ok(b) => return Poll::Ready(Some(Ok(b.to_vec()))),
                Err(e) => return Poll::Ready(Some(Err(e))),
            }
        }
    }
}

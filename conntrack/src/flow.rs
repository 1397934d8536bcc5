//! What a dump callback returns: go on, or stop early.

use std::ops::ControlFlow;

/// The result of a dump callback ([`crate::Nfct::dump_with`]): `()` goes on to the next
/// entry; `ControlFlow::Break(())` stops the dump there (a lookup that found its entry), and
/// `ControlFlow::Continue(())` goes on. The rest of a stopped dump is never decoded; the
/// handle reads and drops it before its next request.
pub trait DumpFlow {
    /// Returns whether the dump goes on.
    fn flow(self) -> ControlFlow<()>;
}

impl DumpFlow for () {
    fn flow(self) -> ControlFlow<()> {
        ControlFlow::Continue(())
    }
}

impl DumpFlow for ControlFlow<()> {
    fn flow(self) -> ControlFlow<()> {
        self
    }
}

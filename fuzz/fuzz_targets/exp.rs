//! Any attribute bytes as an expectation: the checked view, every getter, the owned copy.
#![no_main]
use conntrack_wire::{Exp, ExpView};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = ExpView::new_checked(data) {
        let _ = (v.helper_name(), v.expect_fn(), v.nat().map(|n| n.tuple()));
        let _ = Exp::parse(&v);
    }
});

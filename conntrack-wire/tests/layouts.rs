//! Remembered layouts (`ConnDecoder`) must never change a result: over every captured
//! conntrack message, and over every byte flip and truncation of one whose layout is
//! remembered, `ConnDecoder::view` returns exactly what `ConnView::new_checked` does.
mod common;

use common::{FIXTURES, messages};
use conntrack_wire::{ConnDecoder, ConnView, MessageKind, Result};

/// The payload (after `nfgenmsg`) of every conntrack message of every fixture.
/// Strides that keep miri's run short (a sample of the messages, and of their bytes and
/// lengths); natively every message, byte and length is tried.
const STRIDE: usize = if cfg!(miri) { 151 } else { 1 };
const MESSAGES: usize = if cfg!(miri) { 16 } else { 1 };

fn conn_payloads() -> Vec<&'static [u8]> {
    FIXTURES
        .iter()
        .flat_map(|(_, b)| messages(b))
        .filter(|m| matches!(m.kind(), MessageKind::Conntrack(_)))
        .map(|m| m.payload().get(4..).expect("nfgenmsg"))
        .step_by(MESSAGES)
        .collect()
}

fn same(a: &Result<ConnView<'_>>, b: &Result<ConnView<'_>>) -> bool {
    match (a, b) {
        (Ok(a), Ok(b)) => format!("{a:?}") == format!("{b:?}"),
        (Err(a), Err(b)) => a == b,
        _ => false,
    }
}

#[test]
fn remembered_views_equal_walked_views_over_every_fixture() {
    let all = conn_payloads();
    assert!(
        all.len() > 50 / MESSAGES,
        "fixtures hold {} conntrack messages",
        all.len()
    );
    let mut layouts = ConnDecoder::new();
    // Twice through: the second pass finds most layouts remembered.
    for _ in 0..2 {
        for p in &all {
            let walked = ConnView::new_checked(p);
            assert!(walked.is_ok());
            assert!(same(&layouts.view(p), &walked));
        }
    }
}

#[test]
fn every_byte_flip_and_truncation_of_a_remembered_layout_gives_the_walked_result() {
    let mut layouts = ConnDecoder::new();
    let mut cases = 0;
    for p in conn_payloads() {
        for pos in (0..p.len()).step_by(STRIDE) {
            for x in [0x01u8, 0x04, 0x40, 0x80, 0xff] {
                // Remember the original, then read the mutated copy.
                assert!(layouts.view(p).is_ok());
                let mut m = p.to_vec();
                m[pos] ^= x;
                let walked = ConnView::new_checked(&m);
                let remembered = layouts.view(&m);
                assert!(
                    same(&remembered, &walked),
                    "byte {pos} ^ {x:#x}: {remembered:?} vs {walked:?}"
                );
                cases += 1;
            }
        }
        for cut in (0..p.len()).step_by(STRIDE) {
            assert!(layouts.view(p).is_ok());
            let walked = ConnView::new_checked(&p[..cut]);
            let remembered = layouts.view(&p[..cut]);
            assert!(same(&remembered, &walked), "cut at {cut}");
        }
    }
    assert!(cases > 10_000 / STRIDE / MESSAGES);
}

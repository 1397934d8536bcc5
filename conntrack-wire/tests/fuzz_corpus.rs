//! Replays the fuzz corpora (`fuzz/corpus/<target>/`, saved by `cargo xtask fuzz`) through
//! the fuzz targets' own bodies, without libFuzzer: so every input the fuzzer found
//! interesting is also checked on targets it cannot run on, such as 32-bit
//! `i686-unknown-linux-gnu`. With `FUZZ_CORPUS_REQUIRED` set, a missing corpus fails.

use conntrack_wire::testing::fuzz as bodies;
use std::path::Path;

/// A fuzz target's body.
type Body = fn(&[u8]);

#[test]
fn every_corpus_input_runs_without_panicking() {
    let targets: [(&str, Body); 5] = [
        ("messages", bodies::messages),
        ("conn", bodies::conn),
        ("exp", bodies::exp),
        ("roundtrip", bodies::roundtrip),
        ("bpf", bodies::bpf),
    ];
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    let mut total = 0;
    for (name, body) in targets {
        let Ok(dir) = std::fs::read_dir(root.join(name)) else {
            assert!(
                std::env::var_os("FUZZ_CORPUS_REQUIRED").is_none(),
                "no corpus for {name} under {}",
                root.display()
            );
            eprintln!("no corpus for {name}: run `cargo xtask fuzz` first");
            continue;
        };
        for f in dir.flatten() {
            let bytes = std::fs::read(f.path()).unwrap();
            body(&bytes);
            total += 1;
        }
    }
    eprintln!("{total} corpus inputs replayed on {} bits", usize::BITS);
}

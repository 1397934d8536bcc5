//! Dumps the table with borrowed views: no allocation per entry, constant memory.
//! Run as root: `cargo run -p conntrack --example dump`.

use conntrack::{DumpFilter, Family, Nfct};

fn main() -> Result<(), conntrack::Error> {
    let nfct = Nfct::open()?;
    let mut n = 0;
    nfct.dump_with(Family::Any, &DumpFilter::default(), |ct| {
        if let Some(orig) = ct.tuple_orig() {
            println!("{:?} -> {:?} mark {:?}", orig.src(), orig.dst(), ct.mark());
        }
        n += 1;
    })?;
    eprintln!("{n} entries");
    Ok(())
}

//! A kernel-filtered dump: TCP to port 443 with mark 1 in the low byte.

use conntrack::wire::ct::Tuple;
use conntrack::{DumpFilter, Family, Nfct};

fn main() -> Result<(), conntrack::Error> {
    let nfct = Nfct::open()?;
    let mut orig = Tuple::default();
    orig.proto.num = Some(6);
    orig.proto.dst_port = Some(443);
    let f = DumpFilter {
        orig: Some(orig),
        mark: Some((1, 0xff)),
        ..Default::default()
    };
    for c in nfct.dump_filtered(Family::Ipv4, &f)? {
        println!("{:?}", c.tuple_orig);
    }
    Ok(())
}

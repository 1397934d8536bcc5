//! Creates an entry, reads it back, deletes it.

use conntrack::wire::ct::TcpState;
use conntrack::{Conn, Key, Nfct};

fn main() -> Result<(), conntrack::Error> {
    let nfct = Nfct::open()?;
    let c = Conn::tcp(
        "10.0.0.1:40000".parse().unwrap(),
        "10.0.0.2:80".parse().unwrap(),
    )
    .with_tcp_state(TcpState::Established)
    .with_timeout(300)
    .with_mark(7);
    nfct.create(&c)?;
    let key = Key {
        tuple: c.tuple_orig.unwrap(),
        ..Default::default()
    };
    println!("created: {:?}", nfct.get(&key)?.id);
    nfct.delete(&key)?;
    Ok(())
}

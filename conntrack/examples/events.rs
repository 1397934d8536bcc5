//! Follows TCP events with a kernel-side filter and resynchronises after losses.

use conntrack::events::{EventConfig, EventFilter, EventView, Events, Match};
use conntrack::{Family, Nfct};

fn main() -> Result<(), conntrack::Error> {
    let filter = EventFilter {
        l4proto: Match::any([6]),
        ..Default::default()
    };
    let mut events = Events::open_with(EventConfig::default().filter(filter))?;
    if let Some(w) = &events.granted().warning {
        eprintln!("warning: {w}");
    }
    let nfct = Nfct::open()?;
    let mut known = std::collections::HashMap::new();
    loop {
        let batch = events.recv()?;
        let mut lost = false;
        for ev in batch.iter() {
            match ev {
                EventView::Conn { kind, view: ct, .. } => println!("{kind:?} {:?}", ct.id()),
                EventView::Overrun { lost: n } => {
                    eprintln!("{n} events lost");
                    lost = true;
                }
                _ => {}
            }
        }
        if lost {
            let d = nfct.resync(Family::Any, &mut known)?;
            println!(
                "resync: {} new, {} changed, {} gone",
                d.added.len(),
                d.changed.len(),
                d.removed.len()
            );
        }
    }
}

//! A `Mirror` kept from a lossy event stream equals the table at the end, whatever was lost:
//! stalled, slow, threaded and sharded readers under creates, deletes (by conntrack-tools),
//! updates and flushes that overrun a small receive buffer. Each run in a fresh namespace.

#[macro_use]
mod common;

use common::{conntrack, netns};
use conntrack::events::{EventConfig, Events, Groups};
use conntrack::wire::ct::TcpState;
use conntrack::{BatchOp, Conn, Family, Mirror, Nfct};
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// The parts of an entry that change only with an event: tuples, status, mark, zone, labels.
type Stable = (
    String,
    String,
    Option<u32>,
    Option<u32>,
    Option<u16>,
    Vec<u8>,
);

fn stable(c: &Conn) -> Stable {
    (
        format!("{:?}", c.tuple_orig),
        format!("{:?}", c.tuple_reply),
        c.status.map(|s| s.bits()),
        c.mark,
        c.zone,
        c.labels()
            .as_deref()
            .map(<[u8]>::to_vec)
            .unwrap_or_default(),
    )
}

/// An entry's identity: its original tuple and zone (ids are 32-bit hashes, and collide).
fn key(c: &Conn) -> String {
    format!("{:?} zone {:?}", c.tuple_orig, c.zone)
}

fn table(nfct: &Nfct) -> BTreeMap<String, Stable> {
    nfct.dump(Family::Any)
        .unwrap()
        .iter()
        .map(|c| (key(c), stable(c)))
        .collect()
}

fn mirrored<'a>(mirrors: impl IntoIterator<Item = &'a Mirror>) -> BTreeMap<String, Stable> {
    let mut all = BTreeMap::new();
    let mut n = 0;
    for m in mirrors {
        n += m.len();
        all.extend(m.iter().map(|c| (key(c), stable(c))));
    }
    assert_eq!(all.len(), n, "an entry is in two shards' mirrors");
    all
}

/// Entry `i` of a generation: TCP for even `i`, UDP for odd.
fn conn(generation: u8, i: u32) -> Conn {
    let src = SocketAddr::new(
        IpAddr::from([10, generation, (i >> 8) as u8, i as u8]),
        1000 + (i % 50_000) as u16,
    );
    let dst: SocketAddr = "192.0.2.1:53".parse().unwrap();
    if i % 2 == 0 {
        Conn::tcp(src, dst)
            .with_tcp_state(TcpState::Established)
            .with_timeout(600)
    } else {
        Conn::udp(src, dst).with_timeout(600)
    }
}

fn create(nfct: &Nfct, generation: u8, n: u32) {
    for start in (0..n).step_by(2000) {
        let ops: Vec<BatchOp> = (start..(start + 2000).min(n))
            .map(|i| BatchOp::Create(conn(generation, i)))
            .collect();
        nfct.batch(&ops).into_result().unwrap();
    }
}

/// The scenario: creates, `conntrack -D -p udp`, more creates.
fn creates_deletes_creates(nfct: &Nfct, scale: u32) {
    create(nfct, 1, 5 * scale);
    conntrack(&["-D", "-p", "udp"]);
    create(nfct, 2, 2 * scale);
}

/// Deletes, mark updates and a flush of one family.
fn deletes_updates_flushes(nfct: &Nfct, scale: u32) {
    create(nfct, 1, 4 * scale);
    let ops: Vec<BatchOp> = (0..4 * scale)
        .step_by(3)
        .map(|i| {
            let c = conn(1, i);
            BatchOp::Update(Conn::for_tuple(c.tuple_orig.unwrap()).with_mark(i + 1))
        })
        .collect();
    nfct.batch(&ops).into_result().unwrap();
    conntrack(&["-D", "-p", "tcp", "-m", "1"]);
    create(nfct, 2, scale);
    let six = Conn::udp(
        "[2001:db8::1]:1".parse().unwrap(),
        "[2001:db8::2]:2".parse().unwrap(),
    )
    .with_timeout(600);
    nfct.create(&six).unwrap();
    nfct.flush(Family::Ipv4).unwrap();
    create(nfct, 3, scale);
}

/// How the events are read.
#[derive(Debug, Clone, Copy)]
enum Reader {
    /// Nothing is read until the generator is done.
    Stalled,
    /// A pause after every batch, while the generator runs.
    Slow,
    /// Read and stall in turns: several overruns.
    Stuttering,
    /// Received on a helper thread (`Events::spawn`), consumed after the generator.
    Threaded,
    /// Two shards, each with its own mirror, on their own threads.
    Sharded,
}

fn config() -> EventConfig {
    EventConfig::default()
        .groups(Groups::ALL)
        .recv_buffer(256 * 1024)
}

/// Runs `generate` against a fresh namespace while `reader` keeps a mirror; checks the
/// mirror against a fresh dump at the end. Returns (losses, resyncs).
fn run(reader: Reader, generate: fn(&Nfct, u32), scale: u32) -> (u64, u64) {
    netns();
    let nfct = Nfct::open().unwrap();
    let idle = Duration::from_millis(700);
    let mut mirrors = Vec::new();
    std::thread::scope(|s| match reader {
        Reader::Sharded => {
            let shards = Events::open_shards(config(), 2).unwrap();
            let readers: Vec<_> = shards
                .into_iter()
                .enumerate()
                .map(|(i, ev)| {
                    let shard = conntrack::events::Shard {
                        count: 2,
                        index: i as u32,
                    };
                    let mut m = Mirror::for_shard(shard);
                    m.resync(&nfct).unwrap();
                    ev.socket().set_recv_timeout(Some(idle)).unwrap();
                    (ev, m)
                })
                .collect();
            s.spawn(move || generate(&Nfct::open().unwrap(), scale))
                .join()
                .unwrap();
            let handles: Vec<_> = readers
                .into_iter()
                .map(|(mut ev, mut m)| {
                    s.spawn(move || {
                        let nfct = Nfct::open().unwrap();
                        loop {
                            let b = ev.recv().unwrap();
                            if b.is_empty() {
                                return m;
                            }
                            m.apply_batch(&b, &nfct).unwrap();
                        }
                    })
                })
                .collect();
            mirrors.extend(handles.into_iter().map(|h| h.join().unwrap()));
        }
        Reader::Threaded => {
            let mut ev = Events::open_with(config()).unwrap().spawn().unwrap();
            let mut m = Mirror::new();
            m.resync(&nfct).unwrap();
            s.spawn(move || generate(&Nfct::open().unwrap(), scale))
                .join()
                .unwrap();
            while let Some(got) = ev.recv_timeout(idle).unwrap() {
                m.apply_batch(&got.batch(), &nfct).unwrap();
            }
            mirrors.push(m);
        }
        Reader::Stalled | Reader::Slow | Reader::Stuttering => {
            let mut ev = Events::open_with(config()).unwrap();
            ev.socket().set_recv_timeout(Some(idle)).unwrap();
            let mut m = Mirror::new();
            m.resync(&nfct).unwrap();
            let generator = s.spawn(move || generate(&Nfct::open().unwrap(), scale));
            let mut batches = 0u32;
            if let Reader::Stalled = reader {
                generator.join().unwrap();
            } else {
                let t = Instant::now();
                while !generator.is_finished() && t.elapsed() < Duration::from_secs(120) {
                    let b = ev.recv().unwrap();
                    m.apply_batch(&b, &nfct).unwrap();
                    batches += 1;
                    let pause = match reader {
                        Reader::Slow => 2,
                        _ if batches % 50 == 0 => 300,
                        _ => 0,
                    };
                    std::thread::sleep(Duration::from_millis(pause));
                }
                generator.join().unwrap();
            }
            loop {
                let b = ev.recv().unwrap();
                if b.is_empty() {
                    break;
                }
                m.apply_batch(&b, &nfct).unwrap();
            }
            mirrors.push(m);
        }
    });
    let want = table(&nfct);
    let got = mirrored(&mirrors);
    let ghosts: Vec<_> = got.keys().filter(|k| !want.contains_key(*k)).collect();
    let missed: Vec<_> = want.keys().filter(|k| !got.contains_key(*k)).collect();
    assert!(
        ghosts.is_empty() && missed.is_empty(),
        "{reader:?}: {} ghost entries, {} missed (table {}, mirror {})",
        ghosts.len(),
        missed.len(),
        want.len(),
        got.len()
    );
    assert_eq!(got, want, "{reader:?}: stable fields differ");
    let lost = mirrors.iter().map(Mirror::lost).sum();
    let resyncs = mirrors.iter().map(Mirror::resyncs).sum();
    (lost, resyncs)
}

#[test]
fn a_stalled_reader_recovers_exactly_ten_times() {
    userns!();
    let (lost, resyncs) = run(Reader::Stalled, creates_deletes_creates, 10_000);
    assert!(lost > 0, "the scenario overruns the buffer");
    assert!(resyncs >= 2, "the initial load and at least one resync");
    for _ in 0..9 {
        run(Reader::Stalled, creates_deletes_creates, 4_000);
    }
}

#[test]
fn deletes_updates_and_flushes_while_stalled() {
    userns!();
    let (lost, _) = run(Reader::Stalled, deletes_updates_flushes, 5_000);
    assert!(lost > 0);
}

#[test]
fn a_slow_reader_and_a_stuttering_one_recover_exactly() {
    userns!();
    run(Reader::Slow, creates_deletes_creates, 6_000);
    let (lost, resyncs) = run(Reader::Stuttering, deletes_updates_flushes, 6_000);
    assert!(lost > 0, "stutters overrun");
    assert!(resyncs >= 3, "several overruns, {resyncs} resyncs");
}

#[test]
fn threaded_and_sharded_streams_recover_exactly() {
    userns!();
    let (lost, _) = run(Reader::Threaded, creates_deletes_creates, 6_000);
    assert!(lost > 0);
    let (lost, _) = run(Reader::Sharded, deletes_updates_flushes, 6_000);
    assert!(lost > 0);
}

//! The request/reply state machine, free of I/O.
//!
//! One [`Exchange`] follows one request: it accepts only replies with the request's sequence
//! number and port id, hides multi-part framing and `NLMSG_DONE`, and turns `NLMSG_ERROR` into
//! an [`Error`] that carries the errno, the operation and the extended-ack message.

use crate::error::{Error, Op};
use conntrack_wire::consts::{NLM_F_ACK, NLM_F_DUMP};
use conntrack_wire::{Message, MessageKind};

/// What one received message means for the exchange.
#[derive(Debug)]
pub enum Step<'a> {
    /// Not ours (another sequence number or port id): ignore it.
    Skip,
    /// A reply payload (a dump entry, a get reply, statistics).
    Item(Message<'a>),
    /// The exchange ended successfully.
    Done,
    /// The exchange ended with an error.
    Failed(Error),
}

/// The state of one request awaiting its replies.
#[derive(Debug, Clone)]
pub struct Exchange {
    op: Op,
    seq: u32,
    port_id: u32,
    dump: bool,
    ack: bool,
    finished: bool,
}

impl Exchange {
    /// Starts following a request sent with `flags` (`NLM_F_*`) and `seq` from `port_id`.
    pub fn new(op: Op, seq: u32, port_id: u32, flags: u16) -> Self {
        Exchange {
            op,
            seq,
            port_id,
            dump: flags & NLM_F_DUMP == NLM_F_DUMP,
            ack: flags & NLM_F_ACK != 0,
            finished: false,
        }
    }

    /// Returns whether the exchange has ended.
    pub fn finished(&self) -> bool {
        self.finished
    }

    /// Returns whether the request expects exactly one reply datagram: neither a dump nor
    /// acknowledged, so its one reply (or error) ends it.
    pub fn single_reply(&self) -> bool {
        !self.dump && !self.ack
    }

    /// Returns whether the request is a dump (`NLM_F_DUMP`).
    pub fn is_dump(&self) -> bool {
        self.dump
    }

    /// Feeds one received message.
    pub fn feed<'a>(&mut self, msg: Message<'a>) -> Step<'a> {
        // The kernel addresses replies to our port id; 0 is accepted for kernels that leave it.
        if self.finished || msg.seq() != self.seq || (msg.pid() != self.port_id && msg.pid() != 0) {
            return Step::Skip;
        }
        match msg.kind() {
            MessageKind::Error => {
                self.finished = true;
                match msg.error() {
                    Ok(e) if e.is_ack() => Step::Done,
                    Ok(e) => {
                        let m = e.ext_ack().msg.filter(|s| !s.is_empty()).map(String::from);
                        Step::Failed(Error::from_errno(self.op, e.errno(), m))
                    }
                    Err(source) => Step::Failed(Error::Wire {
                        op: self.op,
                        source,
                    }),
                }
            }
            MessageKind::Done => {
                self.finished = true;
                match msg.done() {
                    Ok(d) if d.status == 0 => Step::Done,
                    Ok(d) => Step::Failed(Error::from_errno(
                        self.op,
                        d.status.saturating_neg(),
                        d.ext_ack.msg.map(String::from),
                    )),
                    Err(source) => Step::Failed(Error::Wire {
                        op: self.op,
                        source,
                    }),
                }
            }
            MessageKind::Overrun => {
                self.finished = true;
                Step::Failed(Error::Kernel {
                    op: self.op,
                    errno: nix::errno::Errno::ENOBUFS as i32,
                    message: None,
                })
            }
            MessageKind::Noop => Step::Skip,
            _ => {
                // A plain request without ACK ends with its one reply (the kernel even marks
                // the global statistics reply NLM_F_MULTI without sending NLMSG_DONE).
                if !self.dump && !self.ack {
                    self.finished = true;
                }
                Step::Item(msg)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use conntrack_wire::Messages;
    use conntrack_wire::consts::*;

    const DUMP: &[u8] = conntrack_wire::testing::fixtures::DUMP_CT;
    const ERRORS: &[u8] = conntrack_wire::testing::fixtures::ERRORS;
    const STATS: &[u8] = conntrack_wire::testing::fixtures::STATS;
    const GET: &[u8] = conntrack_wire::testing::fixtures::GET_REPLY;

    fn port(b: &[u8]) -> u32 {
        Messages::new(b).next().unwrap().unwrap().pid()
    }

    #[test]
    fn dump_yields_items_then_done() {
        let mut x = Exchange::new(Op::Dump, 1, port(DUMP), NLM_F_REQUEST | NLM_F_DUMP);
        let mut items = 0;
        for m in Messages::new(DUMP) {
            match x.feed(m.unwrap()) {
                Step::Item(_) => items += 1,
                Step::Done => break,
                s => panic!("{s:?}"),
            }
        }
        assert!(x.finished());
        assert!(items >= 15);
    }

    #[test]
    fn other_sequence_numbers_and_ports_are_skipped() {
        let mut x = Exchange::new(Op::Dump, 99, port(DUMP), NLM_F_REQUEST | NLM_F_DUMP);
        assert!(Messages::new(DUMP).all(|m| matches!(x.feed(m.unwrap()), Step::Skip)));
        let mut y = Exchange::new(
            Op::Dump,
            1,
            port(DUMP).wrapping_add(1),
            NLM_F_REQUEST | NLM_F_DUMP,
        );
        assert!(Messages::new(DUMP).all(|m| matches!(y.feed(m.unwrap()), Step::Skip)));
        assert!(!x.finished() && !y.finished());
    }

    #[test]
    fn errors_become_typed() {
        let p = port(ERRORS);
        let msgs: Vec<_> = Messages::new(ERRORS).map(Result::unwrap).collect();
        let mut get = Exchange::new(Op::Get, 30, p, NLM_F_REQUEST | NLM_F_ACK);
        assert!(matches!(
            get.feed(msgs[0]),
            Step::Failed(Error::NotFound { op: Op::Get })
        ));
        let mut create = Exchange::new(Op::Create, 31, p, NLM_F_REQUEST | NLM_F_ACK);
        assert!(matches!(create.feed(msgs[1]), Step::Done));
        let mut dup = Exchange::new(Op::Create, 32, p, NLM_F_REQUEST | NLM_F_ACK);
        assert!(matches!(
            dup.feed(msgs[2]),
            Step::Failed(Error::Exists { op: Op::Create })
        ));
    }

    #[test]
    fn get_reply_then_ack() {
        let msgs: Vec<_> = Messages::new(GET).map(Result::unwrap).collect();
        let mut x = Exchange::new(Op::Get, 10, port(GET), NLM_F_REQUEST | NLM_F_ACK);
        assert!(matches!(x.feed(msgs[0]), Step::Item(_)));
        assert!(!x.finished());
        assert!(matches!(x.feed(msgs[1]), Step::Done));
    }

    #[test]
    fn single_reply_without_ack_ends_the_exchange() {
        let m = Messages::new(STATS).next().unwrap().unwrap();
        let mut x = Exchange::new(Op::Stats, 4, port(STATS), NLM_F_REQUEST);
        assert!(matches!(x.feed(m), Step::Item(_)));
        assert!(x.finished());
    }
}

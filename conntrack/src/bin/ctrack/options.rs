//! The commands x options table: for every command and table, which options are required,
//! which are optional, and which are illegal. It is consulted before any request is built,
//! so an option a command does not use is an error, never silently ignored (the model is
//! conntrack-tools' own table; the entries are this tool's, which honours some options that
//! conntrack-tools refuses and refuses none that it would then ignore).

use crate::args::{Filter, Table};

/// An option that selects entries or sets a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opt {
    Src,
    Dst,
    ReplySrc,
    ReplyDst,
    Proto,
    Sport,
    Dport,
    ReplySport,
    ReplyDport,
    IcmpType,
    IcmpCode,
    IcmpId,
    Mark,
    Zone,
    Status,
    Family,
    State,
    Label,
    Timeout,
    Helper,
    OrigVtag,
    ReplyVtag,
    Output,
    Zero,
    Secmark,
    Id,
    OrigZone,
    ReplyZone,
    MaskSrc,
    MaskDst,
    SrcNat,
    DstNat,
    AnyNat,
    LabelAdd,
    LabelDel,
    TupleSrc,
    TupleDst,
    TuplePortSrc,
    TuplePortDst,
    MaskPortSrc,
    MaskPortDst,
    Role,
}

/// Every option, in the order of the table's columns.
const ALL: [Opt; 42] = [
    Opt::Src,
    Opt::Dst,
    Opt::ReplySrc,
    Opt::ReplyDst,
    Opt::Proto,
    Opt::Sport,
    Opt::Dport,
    Opt::ReplySport,
    Opt::ReplyDport,
    Opt::IcmpType,
    Opt::IcmpCode,
    Opt::IcmpId,
    Opt::Mark,
    Opt::Zone,
    Opt::Status,
    Opt::Family,
    Opt::State,
    Opt::Label,
    Opt::Timeout,
    Opt::Helper,
    Opt::OrigVtag,
    Opt::ReplyVtag,
    Opt::Output,
    Opt::Zero,
    Opt::Secmark,
    Opt::Id,
    Opt::OrigZone,
    Opt::ReplyZone,
    Opt::MaskSrc,
    Opt::MaskDst,
    Opt::SrcNat,
    Opt::DstNat,
    Opt::AnyNat,
    Opt::LabelAdd,
    Opt::LabelDel,
    Opt::TupleSrc,
    Opt::TupleDst,
    Opt::TuplePortSrc,
    Opt::TuplePortDst,
    Opt::MaskPortSrc,
    Opt::MaskPortDst,
    Opt::Role,
];

impl Opt {
    /// The option as the user spells it.
    pub fn flag(self) -> &'static str {
        match self {
            Opt::Src => "-s/--src",
            Opt::Dst => "-d/--dst",
            Opt::ReplySrc => "-r/--reply-src",
            Opt::ReplyDst => "-q/--reply-dst",
            Opt::Proto => "-p/--proto",
            Opt::Sport => "--sport",
            Opt::Dport => "--dport",
            Opt::ReplySport => "--reply-port-src",
            Opt::ReplyDport => "--reply-port-dst",
            Opt::IcmpType => "--icmp-type",
            Opt::IcmpCode => "--icmp-code",
            Opt::IcmpId => "--icmp-id",
            Opt::Mark => "-m/--mark",
            Opt::Zone => "-w/--zone",
            Opt::Status => "-u/--status",
            Opt::Family => "-f/--family",
            Opt::State => "--state",
            Opt::Label => "-l/--label",
            Opt::Timeout => "-t/--timeout",
            Opt::Helper => "--helper",
            Opt::OrigVtag => "--orig-vtag",
            Opt::ReplyVtag => "--reply-vtag",
            Opt::Output => "-o/--output",
            Opt::Zero => "-z/--zero",
            Opt::Secmark => "-c/--secmark",
            Opt::Id => "-i/--id",
            Opt::OrigZone => "--orig-zone",
            Opt::ReplyZone => "--reply-zone",
            Opt::MaskSrc => "--mask-src",
            Opt::MaskDst => "--mask-dst",
            Opt::SrcNat => "-n/--src-nat",
            Opt::DstNat => "-g/--dst-nat",
            Opt::AnyNat => "-j/--any-nat",
            Opt::LabelAdd => "--label-add",
            Opt::LabelDel => "--label-del",
            Opt::TupleSrc => "--tuple-src",
            Opt::TupleDst => "--tuple-dst",
            Opt::TuplePortSrc => "--tuple-port-src",
            Opt::TuplePortDst => "--tuple-port-dst",
            Opt::MaskPortSrc => "--mask-port-src",
            Opt::MaskPortDst => "--mask-port-dst",
            Opt::Role => "--role",
        }
    }

    /// Returns whether the option was given.
    pub fn given(self, f: &Filter) -> bool {
        match self {
            Opt::Src => f.src.is_some(),
            Opt::Dst => f.dst.is_some(),
            Opt::ReplySrc => f.reply_src.is_some(),
            Opt::ReplyDst => f.reply_dst.is_some(),
            Opt::Proto => f.proto.is_some(),
            Opt::Sport => f.sport.is_some(),
            Opt::Dport => f.dport.is_some(),
            Opt::ReplySport => f.reply_sport.is_some(),
            Opt::ReplyDport => f.reply_dport.is_some(),
            Opt::IcmpType => f.icmp_type.is_some(),
            Opt::IcmpCode => f.icmp_code.is_some(),
            Opt::IcmpId => f.icmp_id.is_some(),
            Opt::Mark => f.mark.is_some(),
            Opt::Zone => f.zone.is_some(),
            Opt::Status => f.status.is_some(),
            Opt::Family => f.family.is_some(),
            Opt::State => f.state.is_some(),
            Opt::Label => f.label.is_some(),
            Opt::Timeout => f.timeout.is_some(),
            Opt::Helper => f.helper.is_some(),
            Opt::OrigVtag => f.orig_vtag.is_some(),
            Opt::ReplyVtag => f.reply_vtag.is_some(),
            Opt::Output => f.output.is_some(),
            Opt::Zero => f.zero,
            Opt::Secmark => f.secmark.is_some(),
            Opt::Id => f.id.is_some(),
            Opt::OrigZone => f.orig_zone.is_some(),
            Opt::ReplyZone => f.reply_zone.is_some(),
            Opt::MaskSrc => f.mask_src.is_some(),
            Opt::MaskDst => f.mask_dst.is_some(),
            Opt::SrcNat => f.src_nat.is_some(),
            Opt::DstNat => f.dst_nat.is_some(),
            Opt::AnyNat => f.any_nat.is_some(),
            Opt::LabelAdd => f.label_add.is_some(),
            Opt::LabelDel => f.label_del.is_some(),
            Opt::TupleSrc => f.tuple_src.is_some(),
            Opt::TupleDst => f.tuple_dst.is_some(),
            Opt::TuplePortSrc => f.tuple_sport.is_some(),
            Opt::TuplePortDst => f.tuple_dport.is_some(),
            Opt::MaskPortSrc => f.mask_sport.is_some(),
            Opt::MaskPortDst => f.mask_dport.is_some(),
            Opt::Role => f.role.is_some(),
        }
    }
}

/// A command, as the table knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    List,
    Get,
    Create,
    Update,
    Delete,
    Flush,
    Events,
    Stats,
    Count,
}

impl Command {
    fn name(self) -> &'static str {
        match self {
            Command::List => "list (-L)",
            Command::Get => "get (-G)",
            Command::Create => "create (-I)",
            Command::Update => "update (-U)",
            Command::Delete => "delete (-D)",
            Command::Flush => "flush (-F)",
            Command::Events => "events (-E)",
            Command::Stats => "stats (-S)",
            Command::Count => "count (-C)",
        }
    }
}

/// How a command uses an option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Use {
    /// Illegal: an error.
    X,
    /// Optional.
    O,
    /// Required.
    R,
}
use Use::{O, R, X};

/// The table for the conntrack table. Columns in the order of [`ALL`]:
/// s d r q p sport dport rsport rdport icmp-type icmp-code icmp-id m w u f state l t helper
/// orig-vtag reply-vtag o z c i orig-zone reply-zone mask-src mask-dst src-nat dst-nat any-nat label-add
/// label-del tuple-src tuple-dst tuple-port-src tuple-port-dst mask-port-src mask-port-dst role.
///
/// What each command does with an option:
/// * list, delete: every selector narrows the selection (kernel-side where the kernel can,
///   checked in user space always); delete removes exactly what list shows.
/// * update: the tuple fields, zone, family and labels select; mark, status, state and
///   timeout are the new values (as in conntrack-tools).
/// * flush: the kernel flushes by family, mark, status and zone, and by nothing else (a
///   selection by tuple, state or label is `delete`'s job); a filter the running kernel would
///   widen is refused by the library.
/// * events: the selectors are compiled into a kernel-side BPF filter; status is checked in
///   user space (every event carries it); labels are illegal (events carry labels only when
///   they change, so a filter on them would drop events of labelled entries).
#[rustfmt::skip]
const CONNTRACK: [(Command, [Use; 42]); 9] = [
    //                  s  d  r  q  p  sp dp rs rd it ic ii m  w  u  f  st l  t  h  ov rv o  z  c  i  oz rz ms md n  g  j  la ld ts td tp tq mp mq ro
    (Command::List,   [O, O, O, O, O, O, O, O, O, O, O, O, O, O, O, O, O, O, X, X, X, X, O, O, O, O, O, O, O, O, O, O, O, X, X, X, X, X, X, X, X, X]),
    (Command::Get,    [R, R, X, X, R, O, O, X, X, O, O, O, X, O, X, X, X, X, X, X, X, X, O, X, X, O, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X]),
    (Command::Create, [R, R, O, O, R, O, O, O, O, O, O, O, O, O, O, X, O, O, R, O, O, O, O, X, X, X, O, O, X, X, O, O, X, X, X, X, X, X, X, X, X, O]),
    (Command::Update, [O, O, O, O, O, O, O, O, O, O, O, O, O, O, O, O, O, O, O, X, X, X, O, X, X, O, X, X, O, O, O, O, X, O, O, X, X, X, X, X, X, X]),
    (Command::Delete, [O, O, O, O, O, O, O, O, O, O, O, O, O, O, O, O, O, O, X, X, X, X, O, X, X, O, O, O, O, O, O, O, O, X, X, X, X, X, X, X, X, X]),
    (Command::Flush,  [X, X, X, X, X, X, X, X, X, X, X, X, O, O, O, O, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X]),
    (Command::Events, [O, O, O, O, O, O, O, O, O, O, O, O, O, O, O, O, O, X, X, X, X, X, O, X, O, X, O, O, O, O, O, O, O, X, X, X, X, X, X, X, X, X]),
    (Command::Stats,  [X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X]),
    (Command::Count,  [X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X]),
];

/// The table for the expectation table (same columns). An expectation is named by its
/// expected tuple (`-s`, `-d`, `-p` and ports) and zone. A create takes the master's original
/// tuple (`-s`, `-d`, `-p`, ports), the expected tuple (`--tuple-*`), its mask (`--mask-*`,
/// exact where not given) and a timeout; a delete takes the expected tuple (and `-i`, the id
/// the expectation must have) or `--helper` alone (every expectation of that helper).
#[rustfmt::skip]
const EXPECT: [(Command, [Use; 42]); 9] = [
    //                  s  d  r  q  p  sp dp rs rd it ic ii m  w  u  f  st l  t  h  ov rv o  z  c  i  oz rz ms md n  g  j  la ld ts td tp tq mp mq ro
    (Command::List,   [X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, O, X, X, X, X, X, X, O, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X]),
    (Command::Get,    [R, R, X, X, R, O, O, X, X, X, X, X, X, O, X, X, X, X, X, X, X, X, O, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X]),
    (Command::Create, [R, R, X, X, R, O, O, X, X, X, X, X, X, O, X, X, X, X, R, O, X, X, X, X, X, X, X, X, O, O, X, X, X, X, X, R, R, O, O, O, O, X]),
    (Command::Update, [X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X]),
    (Command::Delete, [O, O, X, X, O, O, O, X, X, X, X, X, X, O, X, X, X, X, X, O, X, X, X, X, X, O, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X]),
    (Command::Flush,  [X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, O, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X]),
    (Command::Events, [X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, O, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X]),
    (Command::Stats,  [X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X]),
    (Command::Count,  [X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, O, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X]),
];

/// Checks the options given to `cmd` on `table` against the table: the first illegal
/// option, or the first missing required one, is the error.
pub fn check(cmd: Command, table: Table, f: &Filter) -> Result<(), String> {
    let rows = match table {
        Table::Conntrack => &CONNTRACK,
        Table::Expect => &EXPECT,
        // The kernel's other lists are read like the table (selectors checked in user space)
        // and changed by nothing.
        Table::Dying | Table::Unconfirmed if cmd == Command::List => {
            if f.zero {
                return Err("option -z/--zero cannot be used with the dying or unconfirmed list: the kernel zeroes counters only in a dump of the table".into());
            }
            &CONNTRACK
        }
        Table::Dying | Table::Unconfirmed => {
            return Err(format!(
                "{} cannot be used on the dying or unconfirmed list: only list (-L) reads them",
                cmd.name()
            ));
        }
    };
    let Some((_, row)) = rows.iter().find(|(c, _)| *c == cmd) else {
        return Err(format!("{} has no entry in the options table", cmd.name()));
    };
    let on = match table {
        Table::Expect => " expect",
        _ => "",
    };
    for (opt, usage) in ALL.iter().zip(row) {
        match (usage, opt.given(f)) {
            (X, true) => {
                return Err(format!(
                    "option {} cannot be used with {}{on}{}",
                    opt.flag(),
                    cmd.name(),
                    hint(cmd, *opt)
                ));
            }
            (R, false) => {
                return Err(format!("{}{on} needs option {}", cmd.name(), opt.flag()));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Whether any option of the table was given.
pub fn any_given(f: &Filter) -> bool {
    ALL.iter().any(|o| o.given(f))
}

/// With `-z`, the first selector other than the family: the kernel zeroes the counters of
/// every entry it dumps, so a selection it might not apply exactly would zero entries outside
/// it (conntrack-tools zeroes them all the same; this tool refuses).
pub fn zero_selector(f: &Filter) -> Option<Opt> {
    ALL.into_iter()
        .find(|o| !matches!(o, Opt::Family | Opt::Output | Opt::Zero) && o.given(f))
}

/// Where a refused option has a command that honours it.
fn hint(cmd: Command, opt: Opt) -> &'static str {
    match (cmd, opt) {
        (Command::Flush, _) => {
            ": flush selects by family, mark, status and zone only; delete (-D) removes entries by any other selector"
        }
        (Command::Events, Opt::Label) => {
            ": events carry labels only when they change, so this filter cannot be applied exactly"
        }
        (Command::Delete, Opt::Secmark) => {
            ": an entry without a security mark matches -c (as conntrack-tools compares it), and kernels no longer send one, so it would select every entry"
        }
        (Command::List | Command::Delete, Opt::Timeout | Opt::Helper) => {
            ": it sets a value on create and is not a selector"
        }
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_option_has_a_flag_and_is_seen() {
        for o in ALL {
            assert!(o.flag().starts_with('-'));
            assert!(!o.given(&Filter::default()));
        }
    }

    #[test]
    fn flush_refuses_selectors_it_cannot_honour() {
        let f = Filter {
            dport: Some(22),
            ..Default::default()
        };
        let e = check(Command::Flush, Table::Conntrack, &f).unwrap_err();
        assert!(e.contains("--dport"), "{e}");
        let f = Filter {
            mark: Some("7".into()),
            ..Default::default()
        };
        assert!(check(Command::Flush, Table::Conntrack, &f).is_ok());
        let f = Filter {
            helper: Some("ftp".into()),
            ..Default::default()
        };
        assert!(check(Command::Delete, Table::Conntrack, &f).is_err());
    }

    #[test]
    fn required_options_are_required() {
        let e = check(Command::Get, Table::Conntrack, &Filter::default()).unwrap_err();
        assert!(e.contains("needs"), "{e}");
    }
}

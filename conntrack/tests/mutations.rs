//! Differential mutation tests: every destructive command changes exactly the entries that
//! `conntrack -L` (conntrack-tools, the independent oracle) selects with the same options, or
//! is refused and changes nothing. Each case runs in a fresh network namespace holding a
//! varied table (`common::table`), for `ctrack` and for the library calls behind it.
#![cfg(feature = "cli")]

#[macro_use]
mod common;

use common::{conntrack, netns, table};
use conntrack::wire::ct::{Status, Tuple};
use conntrack::{DumpFilter, Error, Family, FlushFilter, Nfct};
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

/// The table as conntrack-tools lists it, by id, each line without its countdown (the
/// timeout) and its reference count.
fn snapshot() -> BTreeMap<u32, String> {
    conntrack(&["-L", "-o", "extended,id,labels"])
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut tok: Vec<&str> = l.split_whitespace().collect();
            tok.remove(4);
            tok.retain(|t| !t.starts_with("use="));
            let id = tok
                .iter()
                .rev()
                .find_map(|t| t.strip_prefix("id="))
                .expect("conntrack -o id prints ids")
                .parse()
                .unwrap();
            (id, tok.join(" "))
        })
        .collect()
}

/// The ids (the last `id=` of a line: an ICMP tuple has its own) `conntrack -L` selects with `selection`.
fn oracle(selection: &[&str]) -> BTreeSet<u32> {
    let mut args = vec!["-L", "-o", "id"];
    args.extend_from_slice(selection);
    conntrack(&args)
        .lines()
        .filter_map(|l| {
            l.split_whitespace()
                .rev()
                .find_map(|t| t.strip_prefix("id="))
                .map(|id| id.parse().unwrap())
        })
        .collect()
}

/// Runs `ctrack` in the calling thread's namespace: (success, stderr).
fn ctrack(args: &[&str]) -> (bool, String) {
    let out = Command::new(common::ctrack_bin())
        .args(args)
        .output()
        .expect("ctrack runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A fresh namespace with the varied table; returns a handle and the snapshot.
fn fresh() -> (Nfct, BTreeMap<u32, String>) {
    netns();
    let nfct = Nfct::open().unwrap();
    let n = table::fill(&nfct);
    let before = snapshot();
    assert_eq!(before.len(), n, "{before:#?}");
    (nfct, before)
}

/// Checks that the table is `before` without the entries of `removed`, the rest unchanged.
fn assert_survivors(case: &str, before: &BTreeMap<u32, String>, removed: &BTreeSet<u32>) {
    let after = snapshot();
    let want: BTreeMap<u32, String> = before
        .iter()
        .filter(|(id, _)| !removed.contains(id))
        .map(|(id, l)| (*id, l.clone()))
        .collect();
    assert_eq!(
        after, want,
        "{case}: survivors differ from the table minus the selection"
    );
}

/// `ctrack -D`/`-F` with `selection`: the removed entries are exactly those `conntrack -L`
/// selects with the same options, and `ctrack -L` selects the same.
fn removes_exactly(cmd: &str, selection: &[&str]) {
    let (_, before) = fresh();
    let case = format!("ctrack {cmd} {}", selection.join(" "));
    let selected = oracle(selection);
    let mut list = vec!["-L", "-o", "id"];
    list.extend_from_slice(selection);
    let out = Command::new(common::ctrack_bin())
        .args(&list)
        .output()
        .unwrap();
    assert!(out.status.success(), "{case}: ctrack -L fails");
    let listed: BTreeSet<u32> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            l.split_whitespace()
                .rev()
                .find_map(|t| t.strip_prefix("id="))
                .map(|id| id.parse().unwrap())
        })
        .collect();
    assert_eq!(
        listed, selected,
        "{case}: ctrack -L selects what conntrack -L selects"
    );
    let mut args = vec![cmd];
    args.extend_from_slice(selection);
    let (ok, err) = ctrack(&args);
    assert!(ok, "{case} failed: {err}");
    assert_survivors(&case, &before, &selected);
}

#[test]
fn delete_removes_exactly_what_conntrack_lists() {
    userns!();
    for sel in [
        &[][..],
        &["-p", "tcp"],
        &["-p", "tcp", "--dport", "22"],
        &["-p", "tcp", "--sport", "40001"],
        &["-p", "udp", "--dport", "53", "-f", "ipv6"],
        &["-s", "10.0.0.1"],
        &["-d", "10.0.0.2"],
        &["-s", "2001:db8::1"],
        &["-r", "10.0.0.2"],
        &["-q", "192.168.77.1"],
        &["-p", "tcp", "--reply-port-src", "22"],
        &["-p", "tcp", "--reply-port-dst", "2000"],
        &["-p", "icmp", "--icmp-type", "8"],
        &["-p", "icmp", "--icmp-id", "78"],
        &["-m", "7"],
        &["-m", "0x100/0xf00"],
        &["-w", "3"],
        &["-w", "0"],
        &["-u", "ASSURED"],
        &["-u", "SEEN_REPLY"],
        &["-f", "ipv4"],
        &["-f", "ipv6"],
        &["-p", "tcp", "--state", "ESTABLISHED"],
        &["-p", "tcp", "--state", "SYN_SENT", "-f", "ipv6"],
        &["-p", "sctp"],
        &["-l", "label1"],
        &["-l", "label2"],
        &["-p", "tcp", "-m", "7", "-f", "ipv4"],
    ] {
        removes_exactly("-D", sel);
    }
}

#[test]
fn flush_removes_exactly_what_conntrack_lists() {
    userns!();
    for sel in [
        &[][..],
        &["-f", "ipv4"],
        &["-f", "ipv6"],
        &["-m", "7"],
        &["-m", "0x100/0xf00"],
        &["-w", "3"],
        &["-w", "0"],
        &["-w", "3", "-m", "0x100/0xf00"],
        &["-u", "ASSURED"],
        &["-m", "7", "-f", "ipv6"],
    ] {
        removes_exactly("-F", sel);
    }
}

/// Options each destructive command must refuse: the command fails and the table is whole.
#[test]
fn refused_commands_change_nothing() {
    userns!();
    for args in [
        &["-F", "--dport", "22"][..],
        &["-F", "-p", "tcp"],
        &["-F", "-s", "10.0.0.1"],
        &["-F", "-q", "192.168.77.1"],
        &["-F", "-l", "label1"],
        &["-F", "-p", "tcp", "--state", "ESTABLISHED"],
        &["-F", "-t", "30"],
        &["-F", "-o", "id"],
        &["-D", "--helper", "ftp"],
        &["-D", "-t", "30"],
        &["-D", "--orig-vtag", "11"],
        &["-D", "--dport", "22"],
        &["-D", "-p", "icmp", "--dport", "22"],
        &["-D", "-p", "tcp", "--icmp-type", "8"],
        &["-D", "--state", "ESTABLISHED"],
        &["-D", "-f", "ipv4", "-s", "2001:db8::1"],
        &["-D", "-f", "ipx"],
        &["-D", "-u", "NOT_A_STATUS"],
        &["-D", "-l", "label200"],
        &["-D", "-p", "tcp", "-o", "bogus"],
        &["-U", "-p", "tcp"],
        &["-U", "-p", "tcp", "--helper", "ftp", "-m", "1"],
        &["-U", "-p", "tcp", "--orig-vtag", "3", "-m", "1"],
        &["-U", "--state", "CLOSE", "-m", "1"],
        &["-F", "expect", "-p", "tcp"],
        &["-D", "expect", "-m", "7"],
    ] {
        let (_, before) = fresh();
        let (ok, err) = ctrack(args);
        assert!(!ok, "ctrack {args:?} must be refused");
        assert!(
            err.starts_with("ctrack: ") || err.contains("error:"),
            "{err}"
        );
        assert_survivors(&format!("ctrack {args:?}"), &before, &BTreeSet::new());
    }
}

/// `ctrack -U`: the entries `conntrack -L` selects with the selecting options get the new
/// values; every other entry is unchanged.
#[test]
fn update_changes_exactly_what_conntrack_lists() {
    userns!();
    // (selecting options, value options, what the updated line must contain)
    for (sel, set, want) in [
        (&["-p", "tcp"][..], &["-m", "9"][..], "mark=9"),
        (&["-s", "10.0.0.4"], &["-m", "5"], "mark=5"),
        (&["-w", "3"], &["-m", "2"], "mark=2"),
        (&["-f", "ipv6"], &["-m", "0x42"], "mark=66"),
        (&["-l", "label1"], &["-m", "4"], "mark=4"),
        (
            &["-p", "udp", "--dport", "53"],
            &["-u", "ASSURED"],
            "[ASSURED]",
        ),
        (
            &["-p", "tcp", "--dport", "22"],
            &["--state", "FIN_WAIT"],
            "FIN_WAIT",
        ),
    ] {
        let (_, before) = fresh();
        let case = format!("ctrack -U {} {}", sel.join(" "), set.join(" "));
        let selected = oracle(sel);
        assert!(!selected.is_empty(), "{case}: selects something");
        let mut args = vec!["-U"];
        args.extend_from_slice(sel);
        args.extend_from_slice(set);
        let (ok, err) = ctrack(&args);
        assert!(ok, "{case} failed: {err}");
        let after = snapshot();
        assert_eq!(
            after.keys().collect::<Vec<_>>(),
            before.keys().collect::<Vec<_>>(),
            "{case}"
        );
        for (id, line) in &after {
            if selected.contains(id) {
                assert!(line.contains(want), "{case}: {line}");
            } else {
                assert_eq!(
                    line, &before[id],
                    "{case}: an entry outside the selection changed"
                );
            }
        }
    }
}

/// The library calls behind the commands: `flush_matching` (tuple, state-free selections)
/// and `flush_filtered` remove exactly what `conntrack -L` selects.
#[test]
fn library_mutations_remove_exactly_what_conntrack_lists() {
    userns!();
    let tuple = |proto: Option<u8>, dport: Option<u16>, src: Option<&str>| {
        let mut t = Tuple::default();
        t.proto.num = proto;
        t.proto.dst_port = dport;
        t.src = src.map(|s| s.parse().unwrap());
        Some(t)
    };
    let matching: Vec<(Family, DumpFilter, &[&str])> = vec![
        (
            Family::Any,
            DumpFilter {
                orig: tuple(Some(6), Some(22), None),
                ..Default::default()
            },
            &["-p", "tcp", "--dport", "22"],
        ),
        (
            Family::Ipv6,
            DumpFilter {
                orig: tuple(Some(17), None, None),
                ..Default::default()
            },
            &["-p", "udp", "-f", "ipv6"],
        ),
        (
            Family::Any,
            DumpFilter {
                orig: tuple(None, None, Some("10.0.0.1")),
                ..Default::default()
            },
            &["-s", "10.0.0.1"],
        ),
        (
            Family::Any,
            DumpFilter {
                mark: Some((0x100, 0xf00)),
                ..Default::default()
            },
            &["-m", "0x100/0xf00"],
        ),
        (
            Family::Any,
            DumpFilter {
                zone: Some(3),
                ..Default::default()
            },
            &["-w", "3"],
        ),
        (
            Family::Any,
            DumpFilter {
                status: Some((Status::ASSURED, Status::ASSURED)),
                ..Default::default()
            },
            &["-u", "ASSURED"],
        ),
    ];
    for (family, filter, sel) in matching {
        let (nfct, before) = fresh();
        let mut selected = oracle(sel);
        if filter.zone.is_some() {
            // The library's zone is the kernel's: a zone applying to one direction counts.
            selected.extend(oracle(&["--orig-zone", "3"]));
            selected.extend(oracle(&["--reply-zone", "3"]));
        }
        let done = nfct.flush_matching(family, &filter).unwrap();
        assert!(
            done.iter().all(|(_, o)| o.is_applied()),
            "{sel:?}: {done:?}"
        );
        assert_eq!(done.len(), selected.len(), "{sel:?}");
        assert_survivors(&format!("flush_matching {sel:?}"), &before, &selected);
    }
    let filtered: Vec<(Family, FlushFilter, &[&str])> = vec![
        (
            Family::Any,
            FlushFilter {
                mark: Some((7, u32::MAX)),
                ..Default::default()
            },
            &["-m", "7"],
        ),
        (
            Family::Ipv6,
            FlushFilter {
                zone: Some(3),
                ..Default::default()
            },
            &["-w", "3", "-f", "ipv6"],
        ),
        (
            Family::Any,
            FlushFilter {
                status: Some((Status::ASSURED, Status::ASSURED)),
                ..Default::default()
            },
            &["-u", "ASSURED"],
        ),
        (Family::Ipv4, FlushFilter::default(), &["-f", "ipv4"]),
    ];
    for (family, filter, sel) in filtered {
        let (nfct, before) = fresh();
        let selected = oracle(sel);
        assert!(
            nfct.features().probed,
            "the kernel's flush filters were not probed"
        );
        if let Err(missing) = nfct.features().flush_honours(family, &filter) {
            // The documented refusal where the kernel would flush more (zones before 6.8):
            // nothing changes, and flush_matching deletes the selection exactly.
            let r = nfct.flush_filtered(family, &filter);
            assert!(
                matches!(&r, Err(Error::Unsupported { feature, .. }) if *feature == missing),
                "{sel:?}: {r:?}"
            );
            assert_survivors(&format!("refused {sel:?}"), &before, &BTreeSet::new());
            let df = DumpFilter {
                mark: filter.mark,
                status: filter.status,
                zone: filter.zone,
                ..Default::default()
            };
            let done = nfct.flush_matching(family, &df).unwrap();
            assert!(
                done.iter().all(|(_, o)| o.is_applied()),
                "{sel:?}: {done:?}"
            );
        } else if filter.is_empty() {
            nfct.flush(family).unwrap();
        } else {
            nfct.flush_filtered(family, &filter).unwrap();
        }
        assert_survivors(&format!("flush_filtered {sel:?}"), &before, &selected);
    }
}

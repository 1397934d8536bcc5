//! A parser of conntrack-tools' `conntrack -L` line format (`-o extended,id,timestamp,labels`
//! or plain), the independent oracle the tests compare against. Shared by the wire fixture
//! tests and the kernel tests of the `conntrack` crate.
#![allow(dead_code)]

use std::collections::HashMap;

/// One line of `conntrack -L`.
#[derive(Debug, Default, Clone)]
pub struct Line {
    /// `ipv4` / `ipv6` (only with `-o extended`).
    pub family: Option<String>,
    /// L4 protocol number.
    pub proto: u8,
    /// Remaining seconds.
    pub timeout: u32,
    /// TCP/SCTP/DCCP state name.
    pub state: Option<String>,
    /// Original (0) and reply (1) tuple fields.
    pub tuples: [HashMap<String, String>; 2],
    /// `[UNREPLIED]` was printed.
    pub unreplied: bool,
    /// `[ASSURED]` was printed.
    pub assured: bool,
    /// Everything after the tuples (mark, zone, use, id, labels, helper, timestamps).
    pub trailer: HashMap<String, String>,
}

const TUPLE_KEYS: &[&str] = &[
    "src", "dst", "sport", "dport", "type", "code", "id", "packets", "bytes",
];

/// Parses one line.
pub fn parse_line(l: &str) -> Line {
    let tok: Vec<&str> = l.split_whitespace().collect();
    let extended = tok[0] == "ipv4" || tok[0] == "ipv6";
    let o = if extended { 2 } else { 0 };
    let mut line = Line {
        family: extended.then(|| tok[0].to_string()),
        proto: tok[o + 1].parse().unwrap(),
        timeout: tok[o + 2].parse().unwrap(),
        ..Default::default()
    };
    let mut dir = 0usize;
    let mut srcs = 0;
    let mut in_trailer = false;
    for t in &tok[o + 3..] {
        match *t {
            "[UNREPLIED]" => line.unreplied = true,
            "[ASSURED]" => line.assured = true,
            t if t.starts_with('[') => {}
            t if !t.contains('=') => line.state = Some(t.to_string()),
            t => {
                let (k, v) = t.split_once('=').unwrap();
                if k == "src" {
                    srcs += 1;
                    dir = (srcs - 1).min(1);
                }
                if !in_trailer
                    && TUPLE_KEYS.contains(&k)
                    && !(k == "id" && line.tuples[dir].contains_key("id"))
                {
                    line.tuples[dir].insert(k.to_string(), v.to_string());
                } else {
                    in_trailer = true;
                    line.trailer.insert(k.to_string(), v.to_string());
                }
            }
        }
    }
    line
}

/// Parses the output of `conntrack -L` (one entry per non-empty line).
pub fn parse(text: &str) -> Vec<Line> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("conntrack"))
        .map(parse_line)
        .collect()
}

//! `cargo xtask lint`: house rules the compiler does not check.
//!
//! No non-test function is longer than [`MAX_LINES`] lines unless a comment line starting
//! with `// Long:` directly above it (among its doc comments and attributes) says why. Test
//! code is exempt: files under a `tests/` directory, the fuzz targets, and `#[cfg(test)]`
//! modules. The scan is textual (braces counted outside comments, string and character
//! literals), which is enough for this code base's formatting (`cargo fmt`).

use std::path::Path;

/// The longest function allowed without a written reason.
const MAX_LINES: usize = 80;

/// A function over the limit.
struct Long {
    file: String,
    line: usize,
    name: String,
    lines: usize,
    reason: bool,
}

/// Runs the check over every tracked Rust file; lists the long functions and fails if any
/// has no reason.
pub(crate) fn run() -> Result<(), String> {
    let root = crate::root();
    let out = std::process::Command::new("git")
        .args(["ls-files", "*.rs"])
        .current_dir(&root)
        .output()
        .map_err(|e| format!("git ls-files: {e}"))?;
    let mut long = Vec::new();
    for file in String::from_utf8_lossy(&out.stdout).lines() {
        if file.contains("/tests/") || file.starts_with("fuzz/") || file.ends_with("/tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(root.join(file)).map_err(|e| format!("{file}: {e}"))?;
        long.extend(scan(Path::new(file), &text));
    }
    long.sort_by_key(|l| std::cmp::Reverse(l.lines));
    let mut missing = 0;
    for l in &long {
        let why = if l.reason {
            "reason given"
        } else {
            missing += 1;
            "NO REASON"
        };
        eprintln!(
            "{:>4} lines  {}:{} {}  ({why})",
            l.lines, l.file, l.line, l.name
        );
    }
    if missing > 0 {
        return Err(format!(
            "{missing} functions over {MAX_LINES} lines without a `// Long:` reason above them"
        ));
    }
    Ok(())
}

/// The functions of one file over the limit (test modules skipped).
fn scan(path: &Path, text: &str) -> Vec<Long> {
    let lines: Vec<&str> = text.lines().collect();
    let depth_after = brace_depths(&lines);
    let mut found = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let t = lines[i].trim_start();
        if t == "#[cfg(test)]"
            && lines
                .get(i + 1)
                .is_some_and(|l| l.trim_start().starts_with("mod "))
        {
            i = block_end(&depth_after, i + 1).map_or(lines.len(), |e| e + 1);
            continue;
        }
        if let Some(name) = fn_name(t) {
            if let Some(end) = block_end(&depth_after, i) {
                let n = end - i + 1;
                if n > MAX_LINES {
                    found.push(Long {
                        file: path.display().to_string(),
                        line: i + 1,
                        name,
                        lines: n,
                        reason: has_reason(&lines, i),
                    });
                }
                i = end + 1;
                continue;
            }
        }
        i += 1;
    }
    found
}

/// The name of the function a line starts, if it starts one with a body.
fn fn_name(t: &str) -> Option<String> {
    if t.starts_with("//") || t.ends_with(';') {
        return None;
    }
    let mut words = t.split_whitespace().peekable();
    while let Some(w) = words.next() {
        match w {
            "pub" | "const" | "async" | "unsafe" | "extern" | "default" => {}
            w if w.starts_with("pub(") || w.starts_with('"') => {}
            "fn" => {
                let rest = words.next()?;
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                return (!name.is_empty()).then_some(name);
            }
            _ => return None,
        }
    }
    None
}

/// Whether a `// Long:` comment sits directly above line `i`, among its doc comments and
/// attributes.
fn has_reason(lines: &[&str], i: usize) -> bool {
    lines[..i]
        .iter()
        .rev()
        .map(|l| l.trim_start())
        .take_while(|l| l.starts_with("//") || l.starts_with("#["))
        .any(|l| l.starts_with("// Long:"))
}

/// The brace depth after each line, braces in comments and literals not counted.
fn brace_depths(lines: &[&str]) -> Vec<i64> {
    let mut depth = 0i64;
    let mut out = Vec::with_capacity(lines.len());
    for l in lines {
        let mut chars = l.chars().peekable();
        let mut in_str = false;
        while let Some(c) = chars.next() {
            match c {
                '\\' if in_str => {
                    chars.next();
                }
                '"' => in_str = !in_str,
                '/' if !in_str && chars.peek() == Some(&'/') => break,
                '\'' if !in_str => {
                    // A character literal ('{', '\'') is skipped; a lifetime is not closed.
                    let rest: String = chars.clone().take(3).collect();
                    if rest.starts_with('\\') {
                        chars.nth(2);
                    } else if rest.chars().nth(1) == Some('\'') {
                        chars.nth(1);
                    }
                }
                '{' if !in_str => depth += 1,
                '}' if !in_str => depth -= 1,
                _ => {}
            }
        }
        out.push(depth);
    }
    out
}

/// The line on which the block opened on or after line `start` closes.
fn block_end(depth_after: &[i64], start: usize) -> Option<usize> {
    let before = if start == 0 {
        0
    } else {
        depth_after[start - 1]
    };
    let mut opened = false;
    for (j, d) in depth_after.iter().enumerate().skip(start) {
        if *d > before {
            opened = true;
        }
        if opened && *d <= before {
            return Some(j);
        }
    }
    None
}

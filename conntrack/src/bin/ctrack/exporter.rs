//! `ctrack exporter`: Prometheus metrics of the table, served on `/metrics`.
//!
//! A scrape reads the census that the event thread keeps (see [`crate::live`]) and sends
//! three small statistics requests (global, per-CPU, per-CPU expectations); it never dumps
//! the table, so it costs the number of series, not the number of entries.

use crate::args::ExporterArgs;
use crate::census::Category;
use crate::live::{Live, Shared};
use crate::{R, bad, format, open};
use conntrack::Nfct;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// Labels of one series.
type Labels = Vec<(String, String)>;

/// The content type of OpenMetrics text, which Prometheus negotiates and reads.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The content type of Prometheus' text format, for clients that do not ask for OpenMetrics.
const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Whether the request's `Accept` names OpenMetrics (Prometheus' own scrapes do).
fn wants_openmetrics(req: &tiny_http::Request) -> bool {
    req.headers().iter().any(|h| {
        h.field.equiv("Accept") && h.value.as_str().contains("application/openmetrics-text")
    })
}

/// OpenMetrics text turned into Prometheus' text format 0.0.4: a counter's `# HELP` and
/// `# TYPE` name its samples (`x_total`, where OpenMetrics names the family `x`), and there
/// is no `# EOF`.
pub fn to_text_format(openmetrics: &str) -> String {
    let counters: std::collections::HashSet<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len() + 64 * counters.len());
    for line in openmetrics.lines() {
        if line == "# EOF" {
            continue;
        }
        let meta = ["# HELP ", "# TYPE "]
            .into_iter()
            .find_map(|p| line.strip_prefix(p).map(|rest| (p, rest)));
        match meta {
            Some((p, rest)) => {
                let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                if counters.contains(name) {
                    out.push_str(&format!("{p}{name}_total {tail}"));
                } else {
                    out.push_str(line);
                }
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// Runs the exporter until SIGINT or SIGTERM.
pub fn run(netns: &Option<String>, a: &ExporterArgs) -> R<()> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .map_err(|e| bad(format!("cannot catch signals: {e}")))?;
    }
    let mut e = Exporter::start(netns, a)?;
    eprintln!("ctrack: serving metrics on http://{}/metrics", e.addr());
    e.serve(&stop, None)
}

/// A running exporter: the live table, a connection for the statistics, the HTTP server.
pub struct Exporter {
    shared: Shared,
    nfct: Nfct,
    server: tiny_http::Server,
    args: ExporterArgs,
}

impl Exporter {
    /// Loads the table, starts the event thread and listens.
    pub fn start(netns: &Option<String>, a: &ExporterArgs) -> R<Self> {
        let recheck = Duration::from_secs(a.recheck_interval);
        let shared = Shared::start(netns, a.top_remotes > 0, a.buffer, recheck)?;
        let nfct = open(netns)?;
        let server = tiny_http::Server::http(a.listen.as_str())
            .map_err(|e| bad(format!("cannot listen on {}: {e}", a.listen)))?;
        Ok(Exporter {
            shared,
            nfct,
            server,
            args: a.clone(),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> String {
        self.server
            .server_addr()
            .to_ip()
            .map_or_else(|| self.args.listen.clone(), |s| s.to_string())
    }

    /// Answers requests until `stop` is set (or `max` requests are answered).
    pub fn serve(&mut self, stop: &AtomicBool, max: Option<usize>) -> R<()> {
        let mut served = 0;
        while !stop.load(Ordering::SeqCst) && max.is_none_or(|m| served < m) {
            self.shared.failed()?;
            let Some(req) = self
                .server
                .recv_timeout(Duration::from_millis(200))
                .map_err(|e| bad(format!("http: {e}")))?
            else {
                continue;
            };
            let resp = self.respond(&req);
            // A client that went away is its own business.
            let _ = req.respond(resp);
            served += 1;
        }
        Ok(())
    }

    /// The response to one request.
    fn respond(&self, req: &tiny_http::Request) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
        match (req.method(), req.url()) {
            (tiny_http::Method::Get, "/metrics") => {
                match scrape(&self.nfct, &self.shared, &self.args) {
                    Ok(body) if wants_openmetrics(req) => {
                        tiny_http::Response::from_string(body).with_header(header(CONTENT_TYPE))
                    }
                    Ok(body) => tiny_http::Response::from_string(to_text_format(&body))
                        .with_header(header(TEXT_CONTENT_TYPE)),
                    Err(e) => tiny_http::Response::from_string(format!("scrape failed: {}\n", e.0))
                        .with_status_code(500),
                }
            }
            (tiny_http::Method::Get, "/") => tiny_http::Response::from_string(
                "<html><body><a href=\"/metrics\">metrics</a></body></html>\n",
            )
            .with_header(header("text/html; charset=utf-8")),
            _ => tiny_http::Response::from_string("not found\n").with_status_code(404),
        }
    }
}

fn header(content_type: &str) -> tiny_http::Header {
    tiny_http::Header::from_bytes(&b"Content-Type"[..], content_type.as_bytes())
        .expect("a constant, valid header")
}

/// A counter holding `v`.
fn counter(v: u64) -> Counter {
    let c = Counter::default();
    c.inc_by(v);
    c
}

/// A family of counters, one per CPU, from per-CPU values.
fn per_cpu<S>(stats: &[(u16, S)], get: impl Fn(&S) -> Option<u32>) -> Family<Labels, Counter> {
    let f = Family::<Labels, Counter>::default();
    for (cpu, s) in stats {
        if let Some(v) = get(s) {
            f.get_or_create(&vec![("cpu".into(), cpu.to_string())])
                .inc_by(u64::from(v));
        }
    }
    f
}

/// Builds one response: the census and event counts (under the lock, O(series)), then the
/// kernel's statistics.
fn scrape(nfct: &Nfct, shared: &Shared, a: &ExporterArgs) -> R<String> {
    let t0 = Instant::now();
    let mut reg = Registry::default();
    register_live(&mut reg, &shared.lock(), a);
    register_kernel(&mut reg, nfct)?;
    let took = Gauge::<f64, AtomicU64>::default();
    took.set(t0.elapsed().as_secs_f64());
    reg.register(
        "conntrack_exporter_scrape_duration_seconds",
        "Time this scrape took to collect its values, before encoding",
        took,
    );
    let mut body = String::with_capacity(16 * 1024);
    encode(&mut body, &reg).map_err(|e| bad(format!("encoding metrics: {e}")))?;
    Ok(body)
}

/// A protocol's name, or its number where it has none here.
fn protocol(p: u8) -> String {
    match format::l4_name(p) {
        "unknown" => p.to_string(),
        name => name.into(),
    }
}

/// The labels of a category.
fn labels(c: &Category) -> Labels {
    let family = match c.family {
        2 => "ipv4",
        10 => "ipv6",
        _ => "unknown",
    };
    let state = c
        .tcp_state
        .map(|s| conntrack::wire::ct::TcpState::from(s).name())
        .unwrap_or("");
    vec![
        ("family".into(), family.into()),
        ("protocol".into(), protocol(c.proto)),
        ("state".into(), state.into()),
        ("zone".into(), c.zone.to_string()),
    ]
}

/// What the event thread keeps: entries by category, events, losses, resyncs.
fn register_live(reg: &mut Registry, live: &Live, a: &ExporterArgs) {
    let entries = Family::<Labels, Gauge>::default();
    let (series, rest) = live.census.series(a.max_series);
    for (c, n) in &series {
        entries.get_or_create(&labels(c)).set(*n as i64);
    }
    if rest > 0 {
        let other: Labels = ["family", "protocol", "state", "zone"]
            .iter()
            .map(|k| (k.to_string(), "other".to_string()))
            .collect();
        entries.get_or_create(&other).set(rest as i64);
    }
    reg.register(
        "conntrack_entries",
        "Entries by family, protocol, TCP state and zone, kept from the event stream (at most --max-series series; the rest under \"other\")",
        entries,
    );
    register_events(reg, live);
    if a.top_remotes > 0 {
        let remotes = Family::<Labels, Gauge>::default();
        for (addr, n) in live.census.top_remotes(a.top_remotes) {
            remotes
                .get_or_create(&vec![("address".into(), addr.to_string())])
                .set(n as i64);
        }
        reg.register(
            "conntrack_remote_entries",
            "Entries by original destination address, for the --top-remotes addresses with the most",
            remotes,
        );
    }
}

/// How the live table was kept: events by type, losses, resyncs, silent entries.
fn register_events(reg: &mut Registry, live: &Live) {
    let e = &live.events;
    let events = Family::<Labels, Counter>::default();
    for (kind, n) in [
        ("new", e.new),
        ("update", e.update),
        ("destroy", e.destroy),
        ("exp_new", e.exp_new),
        ("exp_destroy", e.exp_destroy),
    ] {
        events
            .get_or_create(&vec![("type".into(), kind.into())])
            .inc_by(n);
    }
    reg.register("conntrack_events", "Events received, by type", events);
    let kept = Gauge::<i64>::default();
    kept.set(live.census.total() as i64);
    reg.register(
        "conntrack_entries_kept",
        "Entries the exporter holds (the sum of conntrack_entries)",
        kept,
    );
    reg.register(
        "conntrack_events_malformed",
        "Event datagrams that did not decode",
        counter(e.malformed),
    );
    reg.register(
        "conntrack_events_lost",
        "Events the kernel dropped (each loss is followed by a resync)",
        counter(live.mirror.lost()),
    );
    let silent = Gauge::<i64>::default();
    silent.set(live.silent.len() as i64);
    reg.register(
        "conntrack_entries_silent",
        "Entries loaded at start that have sent no event since: where net.netfilter.nf_conntrack_events is 2, entries created before the first listener send none, so dumps re-check them every --recheck-interval until none is left",
        silent,
    );
    reg.register(
        "conntrack_resyncs",
        "Times the entries were loaded from a dump: at start, after a loss, and to re-check silent entries",
        counter(live.mirror.resyncs()),
    );
    let at = Gauge::<f64, AtomicU64>::default();
    at.set(
        live.last_resync
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64()),
    );
    reg.register(
        "conntrack_last_resync_timestamp_seconds",
        "When the entries were last loaded from a dump",
        at,
    );
}

/// The kernel's own statistics: entries and maximum, per-CPU conntrack and expectation
/// counters.
fn register_kernel(reg: &mut Registry, nfct: &Nfct) -> R<()> {
    let g = nfct.stats()?;
    for (name, help, v) in [
        (
            "conntrack_table_entries",
            "Entries in the table, as the kernel counts them",
            g.entries,
        ),
        (
            "conntrack_table_max_entries",
            "The table's maximum (nf_conntrack_max)",
            g.max_entries,
        ),
    ] {
        let gauge = Gauge::<i64>::default();
        gauge.set(i64::from(v.unwrap_or(0)));
        reg.register(name, help, gauge);
    }
    let cpu = nfct.stats_cpu()?;
    type Get = fn(&conntrack::wire::stats::CpuStats) -> Option<u32>;
    let stats: [(&str, Get); 10] = [
        ("found", |s| s.found),
        ("invalid", |s| s.invalid),
        ("insert", |s| s.insert),
        ("insert_failed", |s| s.insert_failed),
        ("drop", |s| s.drop),
        ("early_drop", |s| s.early_drop),
        ("error", |s| s.error),
        ("search_restart", |s| s.search_restart),
        ("clash_resolve", |s| s.clash_resolve),
        ("chaintoolong", |s| s.chain_toolong),
    ];
    for (name, get) in stats {
        reg.register(
            format!("conntrack_stat_{name}"),
            format!("Per-CPU statistic {name} (conntrack -S)"),
            per_cpu(&cpu, get),
        );
    }
    let exp = nfct.exp_stats_cpu()?;
    type GetExp = fn(&conntrack::wire::stats::ExpStats) -> Option<u32>;
    let stats: [(&str, GetExp); 3] = [
        ("new", |s| s.new),
        ("create", |s| s.create),
        ("delete", |s| s.delete),
    ];
    for (name, get) in stats {
        reg.register(
            format!("conntrack_expect_stat_{name}"),
            format!("Per-CPU expectation statistic {name} (conntrack -S expect)"),
            per_cpu(&exp, get),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_named_by_their_samples_in_the_text_format() {
        let om = "# HELP a_events Events.\n# TYPE a_events counter\na_events_total{type=\"new\"} 1\n# HELP b Entries.\n# TYPE b gauge\nb 2\n# EOF\n";
        assert_eq!(
            to_text_format(om),
            "# HELP a_events_total Events.\n# TYPE a_events_total counter\na_events_total{type=\"new\"} 1\n# HELP b Entries.\n# TYPE b gauge\nb 2\n"
        );
    }
}

//! Command-line arguments, modelled on conntrack-tools.

use clap::{Args, Parser, Subcommand, ValueEnum};

/// ctrack: list, change and watch the kernel's connection-tracking table.
#[derive(Debug, Parser)]
#[command(name = "ctrack", about, long_about = None, disable_version_flag = true)]
pub struct Cli {
    /// Print the version and the kernel features found by probing, then exit.
    #[arg(short = 'V', long = "version", global = true)]
    pub version: bool,
    /// Act inside another network namespace: a name under /var/run/netns or a path.
    #[arg(long, global = true, value_name = "NAME|PATH")]
    pub netns: Option<String>,
    /// The command.
    #[command(subcommand)]
    pub cmd: Option<Cmd>,
}

/// The table a command works on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum Table {
    /// The connection-tracking table.
    #[default]
    Conntrack,
    /// The expectation table.
    Expect,
    /// The dying list: entries removed from the table but still referenced (list only).
    Dying,
    /// The unconfirmed list: entries of packets not yet confirmed (list only).
    Unconfirmed,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// List entries (conntrack -L).
    #[command(short_flag = 'L', long_flag = "dump", visible_alias = "dump")]
    List(Filter),
    /// Get one entry by its tuple (conntrack -G).
    #[command(short_flag = 'G', long_flag = "get")]
    Get(Filter),
    /// Create an entry (conntrack -I).
    #[command(short_flag = 'I', long_flag = "create")]
    Create(Filter),
    /// Create an entry, or update it where it exists (conntrack -A).
    #[command(short_flag = 'A', long_flag = "add")]
    Add(Filter),
    /// Update the matching entries (conntrack -U).
    #[command(short_flag = 'U', long_flag = "update")]
    Update(Filter),
    /// Delete the matching entries (conntrack -D).
    #[command(short_flag = 'D', long_flag = "delete")]
    Delete(Filter),
    /// Flush a table (conntrack -F), optionally only entries with a mark, status or zone.
    #[command(short_flag = 'F', long_flag = "flush")]
    Flush(Filter),
    /// Print events as they happen (conntrack -E).
    #[command(short_flag = 'E', long_flag = "event")]
    Events(EventArgs),
    /// Print statistics (conntrack -S).
    #[command(short_flag = 'S', long_flag = "stats")]
    Stats(Filter),
    /// Print the number of entries (conntrack -C).
    #[command(short_flag = 'C', long_flag = "count", long_flag_alias = "counter")]
    Count(Filter),
    /// Load entries from a file of `-A`/`-I` lines, as `-o save` writes them (conntrack -R).
    #[command(short_flag = 'R', long_flag = "load-file")]
    Load(LoadArgs),
    /// Run a self-contained demonstration in a private network namespace.
    Demo(DemoArgs),
    /// A live view of the table, sorted and grouped, kept from the event stream (ctrack's
    /// own; `--once` prints one table).
    Top(TopArgs),
    /// Serve Prometheus metrics of the table on /metrics, kept from the event stream (ctrack's
    /// own).
    Exporter(ExporterArgs),
    /// Print which ctnetlink filters the running kernel applies, as probed (also printed by
    /// `--version`).
    Features,
}

/// Entry selection and fields, as conntrack-tools spells them.
#[derive(Debug, Clone, Default, Args)]
pub struct Filter {
    /// The table: conntrack (default) or expect.
    #[arg(value_enum, default_value_t)]
    pub table: Table,
    /// Layer-4 protocol (tcp, udp, icmp, icmpv6, sctp, dccp, or a number).
    #[arg(short = 'p', long = "proto", visible_alias = "protonum")]
    pub proto: Option<String>,
    /// Original source address, or a network as ADDR/LEN (a selector).
    #[arg(short = 's', long = "src", visible_alias = "orig-src")]
    pub src: Option<String>,
    /// Original destination address, or a network as ADDR/LEN (a selector).
    #[arg(short = 'd', long = "dst", visible_alias = "orig-dst")]
    pub dst: Option<String>,
    /// A mask for -s (any mask, as an address: 255.255.0.0; with `-I expect`: the mask of
    /// the expected tuple's source).
    #[arg(long = "mask-src")]
    pub mask_src: Option<String>,
    /// A mask for -d (with `-I expect`: the mask of the expected tuple's destination).
    #[arg(long = "mask-dst")]
    pub mask_dst: Option<String>,
    /// `-I expect`: the expected tuple's source address.
    #[arg(long = "tuple-src")]
    pub tuple_src: Option<String>,
    /// `-I expect`: the expected tuple's destination address.
    #[arg(long = "tuple-dst")]
    pub tuple_dst: Option<String>,
    /// `-I expect`: the expected tuple's source port.
    #[arg(long = "tuple-port-src", visible_alias = "tuple-key-src", value_parser = port)]
    pub tuple_sport: Option<u16>,
    /// `-I expect`: the expected tuple's destination port.
    #[arg(long = "tuple-port-dst", visible_alias = "tuple-key-dst", value_parser = port)]
    pub tuple_dport: Option<u16>,
    /// `-I expect`: the mask of the expected source port (default: 0xffff with
    /// `--tuple-port-src`, else 0, any port).
    #[arg(long = "mask-port-src", visible_alias = "mask-key-src", value_parser = port)]
    pub mask_sport: Option<u16>,
    /// `-I expect`: the mask of the expected destination port (likewise).
    #[arg(long = "mask-port-dst", visible_alias = "mask-key-dst", value_parser = port)]
    pub mask_dport: Option<u16>,
    /// Original source port (GRE: `--srckey`, the source key; `0x` for hexadecimal).
    #[arg(long = "sport", visible_aliases = ["orig-port-src", "srckey", "orig-key-src"], value_parser = port)]
    pub sport: Option<u16>,
    /// Original destination port (GRE: `--dstkey`).
    #[arg(long = "dport", visible_aliases = ["orig-port-dst", "dstkey", "orig-key-dst"], value_parser = port)]
    pub dport: Option<u16>,
    /// Reply source address.
    #[arg(short = 'r', long = "reply-src")]
    pub reply_src: Option<String>,
    /// Reply destination address.
    #[arg(short = 'q', long = "reply-dst")]
    pub reply_dst: Option<String>,
    /// Reply source port (GRE: `--reply-key-src`).
    #[arg(long = "reply-port-src", visible_alias = "reply-key-src", value_parser = port)]
    pub reply_sport: Option<u16>,
    /// Reply destination port (GRE: `--reply-key-dst`).
    #[arg(long = "reply-port-dst", visible_alias = "reply-key-dst", value_parser = port)]
    pub reply_dport: Option<u16>,
    /// ICMP type.
    #[arg(long = "icmp-type", visible_alias = "icmpv6-type")]
    pub icmp_type: Option<u8>,
    /// ICMP code.
    #[arg(long = "icmp-code", visible_alias = "icmpv6-code")]
    pub icmp_code: Option<u8>,
    /// ICMP identifier.
    #[arg(long = "icmp-id", visible_alias = "icmpv6-id")]
    pub icmp_id: Option<u16>,
    /// Mark, as MARK or MARK/MASK (a filter; the new value for create and update).
    #[arg(short = 'm', long = "mark")]
    pub mark: Option<String>,
    /// Zone.
    #[arg(short = 'w', long = "zone")]
    pub zone: Option<u16>,
    /// The original direction's zone (`zone-orig=`, 0 without one): a selector of list,
    /// delete and events, and set by create.
    #[arg(long = "orig-zone")]
    pub orig_zone: Option<u16>,
    /// The reply direction's zone (`zone-reply=`), likewise.
    #[arg(long = "reply-zone")]
    pub reply_zone: Option<u16>,
    /// Source NAT: a selector (the entries source-NATed, to `ADDR[:PORT]` if given) of list,
    /// update, delete and events; on create, the source NAT to apply (an address needed).
    #[arg(short = 'n', long = "src-nat", num_args = 0..=1, value_name = "ADDR[:PORT]")]
    pub src_nat: Option<Option<String>>,
    /// Destination NAT, likewise.
    #[arg(short = 'g', long = "dst-nat", num_args = 0..=1, value_name = "ADDR[:PORT]")]
    pub dst_nat: Option<Option<String>>,
    /// Either NAT (a selector of list, delete and events).
    #[arg(short = 'j', long = "any-nat", num_args = 0..=1, value_name = "ADDR[:PORT]")]
    pub any_nat: Option<Option<String>>,
    /// Entry id (a selector of list, get, update and delete).
    #[arg(short = 'i', long = "id")]
    pub id: Option<u32>,
    /// Security mark (a selector of list and events).
    #[arg(short = 'c', long = "secmark")]
    pub secmark: Option<u32>,
    /// Status bits, comma-separated (ASSURED, SEEN_REPLY, CONFIRMED, ...).
    #[arg(short = 'u', long = "status")]
    pub status: Option<String>,
    /// Address family: ipv4 or ipv6.
    #[arg(short = 'f', long = "family")]
    pub family: Option<String>,
    /// Protocol state (ESTABLISHED, SYN_SENT, ...).
    #[arg(long = "state")]
    pub state: Option<String>,
    /// Labels, comma-separated names (labelN) or numbers.
    #[arg(short = 'l', long = "label")]
    pub label: Option<String>,
    /// Labels to add to the selected entries (update), comma-separated.
    #[arg(long = "label-add", value_name = "LABELS")]
    pub label_add: Option<String>,
    /// Labels to remove from the selected entries (update); every label without a list.
    #[arg(long = "label-del", num_args = 0..=1, value_name = "LABELS")]
    pub label_del: Option<Option<String>>,
    /// Timeout in seconds (create, update).
    #[arg(short = 't', long = "timeout")]
    pub timeout: Option<u32>,
    /// Helper name (create).
    #[arg(long = "helper")]
    pub helper: Option<String>,
    /// SCTP verification tags (create).
    #[arg(long = "orig-vtag")]
    pub orig_vtag: Option<u32>,
    /// SCTP reply verification tag (create).
    #[arg(long = "reply-vtag")]
    pub reply_vtag: Option<u32>,
    /// DCCP role of the original direction: client or server (create, with --state).
    #[arg(long = "role")]
    pub role: Option<String>,
    /// Zero the counters of the listed entries in the same pass (list; every entry of the
    /// family is listed and zeroed: only -f selects with -z).
    #[arg(short = 'z', long = "zero")]
    pub zero: bool,
    /// Output: extended, id, timestamp, ktimestamp, labels, userspace, save, json (comma-separated).
    #[arg(short = 'o', long = "output")]
    pub output: Option<String>,
}

/// Options of `events`.
#[derive(Debug, Clone, Default, Args)]
pub struct EventArgs {
    /// Entry filters (applied in the kernel with BPF).
    #[command(flatten)]
    pub filter: Filter,
    /// Event types: ALL, NEW, UPDATES, DESTROY (comma-separated, any unambiguous prefix, as
    /// conntrack-tools takes them; default all).
    #[arg(short = 'e', long = "event-mask")]
    pub events: Option<String>,
    /// Stop after this many events (conntrack-tools has no such option; its `-c` is the
    /// security mark, as here).
    #[arg(long = "event-count", value_name = "N")]
    pub count: Option<u64>,
    /// Stop after this many seconds.
    #[arg(long = "duration")]
    pub duration: Option<f64>,
    /// Print totals (events per type, lost) on exit.
    #[arg(long)]
    pub summary: bool,
    /// Receive buffer in bytes.
    #[arg(long = "buffer-size", short = 'b')]
    pub buffer: Option<usize>,
}

/// Options of `load`.
#[derive(Debug, Clone, Default, Args)]
pub struct LoadArgs {
    /// The file.
    pub file: String,
}

/// Options of `top`.
#[derive(Debug, Clone, Args)]
pub struct TopArgs {
    /// Print one sorted table and exit (for scripts).
    #[arg(long)]
    pub once: bool,
    /// Sort by (largest first); `s` cycles the keys on screen.
    #[arg(long, value_enum, default_value_t)]
    pub sort: crate::top::SortKey,
    /// Group by; `g` cycles the keys on screen.
    #[arg(long, value_enum, default_value_t)]
    pub group: crate::top::GroupKey,
    /// With --once, print at most this many rows (0: all).
    #[arg(long, default_value_t = 0)]
    pub limit: usize,
    /// Seconds between screen refreshes (and, with --once --sort rate, between the two
    /// counter reads).
    #[arg(long, default_value_t = 1.0)]
    pub interval: f64,
    /// Seconds between the dumps that read counters while sorted by bytes, packets or rate
    /// (events carry none; 0: read them once).
    #[arg(long, default_value_t = 5.0)]
    pub counters_interval: f64,
    /// Turn byte and packet accounting on in the namespace first (net.netfilter.nf_conntrack_acct;
    /// it applies to entries created from then on).
    #[arg(long)]
    pub enable_acct: bool,
    /// Seconds between the dumps that re-check entries not heard from since the start (see
    /// `exporter --recheck-interval`; 0: never).
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    pub recheck_interval: u64,
    /// The entries shown: the selection options of `list`.
    #[command(flatten)]
    pub filter: Filter,
}

/// Options of `exporter`.
#[derive(Debug, Clone, Args)]
pub struct ExporterArgs {
    /// The address to serve on (the default port is outside Prometheus' allocated
    /// 9100-9999 range, which is full).
    #[arg(long, default_value = "127.0.0.1:19466", value_name = "ADDR:PORT")]
    pub listen: String,
    /// At most this many series of `conntrack_entries`; the entries of the rest are summed
    /// under labels "other".
    #[arg(long, default_value_t = 1000)]
    pub max_series: usize,
    /// Also export the entries of the N remote (original destination) addresses with the
    /// most entries (0: off).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub top_remotes: usize,
    /// Seconds between the dumps that re-check entries that existed before the exporter
    /// and have sent no event since (the kernel may never send one for them); no dump once
    /// none is left (0: never).
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    pub recheck_interval: u64,
    /// The event socket's receive buffer in bytes.
    #[arg(short = 'b', long = "buffer-size")]
    pub buffer: Option<usize>,
}

/// Options of `demo`.
#[derive(Debug, Clone, Default, Args)]
pub struct DemoArgs {
    /// Seconds of live events to show.
    #[arg(long, default_value_t = 3.0)]
    pub seconds: f64,
}

/// A port or GRE key: decimal, or hexadecimal with `0x` (as conntrack-tools prints keys).
fn port(s: &str) -> Result<u16, String> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u16::from_str_radix(h, 16),
        None => s.parse(),
    }
    .map_err(|_| format!("`{s}` is not a port (0 to 65535)"))
}

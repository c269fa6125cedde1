//! `lookout-loadgen`: the log store benchmark (BENCHMARKS.md, "Log store").
//!
//! Starts a `lookout serve` (the binary next to this one) on a free loopback port with its data
//! in a fresh directory, posts realistic JSON log lines over HTTP (NDJSON, one batch per request)
//! at a target rate from several connections while a searcher runs queries and canary lines
//! measure ingest-to-searchable latency, then measures search latency per query kind and bytes
//! on disk. The same documents are then indexed by bare tantivy in this process (one writer
//! thread, the reference rate of issue 4; zstd store) and the same query kinds are timed there,
//! so every number comes with its ratio to the baseline of the same run.
//!
//! Bounded by `--lines` and `--max-secs`; talks to 127.0.0.1 only.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use serde_json::Value;
use tantivy::collector::{Count, TopDocs};
use tantivy::query::{BooleanQuery, InvertedIndexRangeQuery, Occur, PhraseQuery, Query, RangeQuery, TermQuery};
use tantivy::schema::{FAST, INDEXED, IndexRecordOption, JsonObjectOptions, STORED, STRING, Schema, TEXT};
use tantivy::{DocSet, Index, IndexSettings, Order, TantivyDocument, Term};

/// Log store load generator and benchmark.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Lines to send.
    #[arg(long, default_value_t = 1_000_000)]
    lines: u64,
    /// Target rate, lines per second (0 = as fast as accepted).
    #[arg(long, default_value_t = 150_000)]
    rate: u64,
    /// Lines per request.
    #[arg(long, default_value_t = 2000)]
    batch: usize,
    /// Concurrent connections posting.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Stop sending after this long, whatever `--lines` says.
    #[arg(long, default_value_t = 600)]
    max_secs: u64,
    /// Timed runs per query kind.
    #[arg(long, default_value_t = 100)]
    queries: usize,
    /// Working directory (default: a temporary directory, removed at the end).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Skip the bare tantivy baseline.
    #[arg(long)]
    no_baseline: bool,
    /// Print where the index bytes go (tantivy's space usage per component and field).
    #[arg(long)]
    space: bool,
    /// A lookout.toml for the server (e.g. `[logs] index_threads`, `commit_interval_ms`).
    #[arg(long)]
    config: Option<PathBuf>,
}

const SERVICES: [&str; 8] = ["checkout", "payments", "search", "auth", "catalog", "cart", "shipping", "gateway"];
const PATHS: [&str; 6] = ["/api/orders", "/api/cart", "/api/login", "/api/search", "/api/items/{id}", "/health"];
const MESSAGES: [&str; 8] = [
    "request completed",
    "upstream request timeout after retries",
    "connection reset by peer",
    "cache miss for key",
    "user session refreshed",
    "payment authorization declined",
    "slow query on products index",
    "background job finished",
];

/// A small deterministic generator (xorshift), so runs are comparable.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One realistic line (~280 bytes): a service's access/application log in JSON.
fn line(rng: &mut Rng, i: u64, ts_ns: i64) -> String {
    let svc = SERVICES[rng.below(SERVICES.len() as u64) as usize];
    let r = rng.below(100);
    let (level, status, msg) = match r {
        0..=2 => ("error", 503, MESSAGES[1 + rng.below(2) as usize]),
        3..=4 => ("error", 500, MESSAGES[5]),
        5..=11 => ("warn", 200, MESSAGES[6]),
        12..=14 => ("debug", 200, MESSAGES[3]),
        _ => ("info", if rng.below(20) == 0 { 404 } else { 200 }, MESSAGES[[0, 4, 7][rng.below(3) as usize]]),
    };
    let latency = if level == "error" { 500 + rng.below(4500) } else { 2 + rng.below(400) };
    format!(
        concat!(
            r#"{{"timestamp":{},"level":"{}","service":"{}","host":"{}-{}","message":"{}","#,
            r#""http":{{"method":"{}","path":"{}","status":{}}},"latency_ms":{},"#,
            r#""user":{{"id":"u-{}","plan":"{}"}},"trace_id":"{:016x}{:016x}","seq":{}}}"#
        ),
        ts_ns,
        level,
        svc,
        svc,
        rng.below(12),
        msg,
        ["GET", "POST", "PUT"][rng.below(3) as usize],
        PATHS[rng.below(PATHS.len() as u64) as usize],
        status,
        latency,
        rng.below(50_000),
        ["free", "pro", "enterprise"][rng.below(3) as usize],
        rng.next(),
        rng.next(),
        i
    )
}

/// A keep-alive HTTP/1.1 connection to loopback (enough HTTP for this benchmark).
struct Conn {
    addr: String,
    r: BufReader<TcpStream>,
}

impl Conn {
    fn open(addr: &str) -> anyhow::Result<Conn> {
        let s = TcpStream::connect(addr)?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(Duration::from_secs(120)))?;
        Ok(Conn { addr: addr.to_string(), r: BufReader::new(s) })
    }

    fn request(&mut self, method: &str, target: &str, body: &[u8]) -> anyhow::Result<(u16, Vec<u8>)> {
        let head = format!(
            "{method} {target} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-ndjson\r\nContent-Length: {}\r\n\r\n",
            self.addr,
            body.len()
        );
        let s = self.r.get_mut();
        s.write_all(head.as_bytes())?;
        s.write_all(body)?;
        let mut status_line = String::new();
        self.r.read_line(&mut status_line)?;
        let status: u16 = status_line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).context("bad status line")?;
        let (mut len, mut chunked) = (0usize, false);
        loop {
            let mut h = String::new();
            self.r.read_line(&mut h)?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let lower = h.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                len = v.trim().parse()?;
            } else if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
                chunked = true;
            }
        }
        let mut out = Vec::new();
        if chunked {
            loop {
                let mut size = String::new();
                self.r.read_line(&mut size)?;
                let n = usize::from_str_radix(size.trim(), 16)?;
                let mut chunk = vec![0; n + 2];
                self.r.read_exact(&mut chunk)?;
                if n == 0 {
                    break;
                }
                out.extend_from_slice(&chunk[..n]);
            }
        } else {
            out.resize(len, 0);
            self.r.read_exact(&mut out)?;
        }
        Ok((status, out))
    }

    fn get_json(&mut self, target: &str) -> anyhow::Result<Value> {
        let (status, body) = self.request("GET", target, b"")?;
        if status != 200 {
            bail!("GET {target}: {status} {}", String::from_utf8_lossy(&body));
        }
        Ok(serde_json::from_slice(&body)?)
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn dir_bytes(p: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(p) else { return 0 };
    rd.flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

/// The query kinds timed on both sides: (name, Lookout query, or None for a histogram).
const KINDS: [(&str, &str); 5] = [
    ("term", "timeout"),
    ("phrase", "\"connection reset by peer\""),
    ("field", "service:payments"),
    ("range", "latency_ms:>4000"),
    ("histogram", ""),
];

struct Server {
    child: Child,
}
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let tmp;
    let work = match &args.dir {
        Some(d) => d.clone(),
        None => {
            tmp = tempdir()?;
            tmp.0.clone()
        }
    };
    std::fs::create_dir_all(&work)?;
    let lookout = std::env::current_exe()?.with_file_name("lookout");
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let addr = format!("127.0.0.1:{port}");
    let data = work.join("lookout-data");
    let log = std::fs::File::create(work.join("lookout.log"))?;
    let mut serve = vec![
        "serve".to_string(),
        "--no-auth".into(),
        "--listen".into(),
        addr.clone(),
        "--data-dir".into(),
        data.to_str().context("utf-8 path")?.into(),
    ];
    if let Some(c) = &args.config {
        serve.extend(["--config".to_string(), c.to_str().context("utf-8 path")?.into()]);
    }
    let child = Command::new(&lookout)
        .args(&serve)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .with_context(|| format!("cannot start {}", lookout.display()))?;
    let _server = Server { child };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(mut c) = Conn::open(&addr)
            && matches!(c.request("GET", "/health/ready", b""), Ok((200, _)))
        {
            break;
        }
        if Instant::now() > deadline {
            bail!("lookout did not become ready; see {}", work.join("lookout.log").display());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!("lookout ready on {addr}; generating {} lines", args.lines);

    // Pre-generate the batches (the generator must not be the bottleneck), timestamps over the last hour.
    let now_ns = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_nanos() as i64;
    let start_ns = now_ns - 3_600_000_000_000;
    let step = 3_600_000_000_000 / args.lines.max(1) as i64;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut batches: Vec<Vec<u8>> = Vec::new();
    let mut raw_bytes = 0u64;
    let mut cur = Vec::new();
    let mut in_batch = 0;
    for i in 0..args.lines {
        let l = line(&mut rng, i, start_ns + i as i64 * step);
        raw_bytes += l.len() as u64 + 1;
        cur.extend_from_slice(l.as_bytes());
        cur.push(b'\n');
        in_batch += 1;
        if in_batch == args.batch {
            batches.push(std::mem::take(&mut cur));
            in_batch = 0;
        }
    }
    if !cur.is_empty() {
        batches.push(cur);
    }
    let batches = Arc::new(batches);

    // Ingest at the target rate from N connections, with a searcher and canaries running.
    let next = Arc::new(AtomicU64::new(0));
    let sent_lines = Arc::new(AtomicU64::new(0));
    let retries = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let canaries = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let max = Duration::from_secs(args.max_secs);
    let mut workers = Vec::new();
    for _ in 0..args.connections {
        let (batches, next, sent_lines, retries, addr) = (batches.clone(), next.clone(), sent_lines.clone(), retries.clone(), addr.clone());
        let (rate, batch) = (args.rate, args.batch as u64);
        workers.push(std::thread::spawn(move || -> anyhow::Result<()> {
            let mut c = Conn::open(&addr)?;
            loop {
                let i = next.fetch_add(1, Ordering::AcqRel) as usize;
                let Some(body) = batches.get(i) else { return Ok(()) };
                if started.elapsed() > max {
                    return Ok(());
                }
                if rate > 0 {
                    // batch i is due at i*batch/rate seconds
                    let due = Duration::from_secs_f64(i as f64 * batch as f64 / rate as f64);
                    if let Some(wait) = due.checked_sub(started.elapsed()) {
                        std::thread::sleep(wait);
                    }
                }
                for attempt in 0..600 {
                    let (status, resp) = c.request("POST", "/api/v1/logs/ingest", body)?;
                    match status {
                        200 => break,
                        429 | 503 => {
                            retries.fetch_add(1, Ordering::Relaxed);
                            std::thread::sleep(Duration::from_millis(100));
                        }
                        s => bail!("ingest answered {s}: {}", String::from_utf8_lossy(&resp)),
                    }
                    if attempt == 599 {
                        bail!("ingest kept refusing a batch");
                    }
                }
                sent_lines.fetch_add(body.iter().filter(|b| **b == b'\n').count() as u64, Ordering::AcqRel);
            }
        }));
    }
    // Searches under load, and canaries: post one unique line, poll until searchable.
    let (d, a, canaries_sent) = (done.clone(), addr.clone(), canaries.clone());
    let prober = std::thread::spawn(move || -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
        let mut c = Conn::open(&a)?;
        let (mut under_load, mut visible) = (Vec::new(), Vec::new());
        let mut n = 0u64;
        while !d.load(Ordering::Acquire) && n < 100_000 {
            n += 1;
            let (_, q) = KINDS[(n % 4) as usize];
            let t = Instant::now();
            c.get_json(&format!("/api/v1/logs/search?q={}&limit=100&start=0", urlencode(q)))?;
            under_load.push(t.elapsed().as_secs_f64() * 1e3);
            if n.is_multiple_of(10) {
                let tag = format!("canary{n}x");
                let t = Instant::now();
                let (s, _) = c.request("POST", "/api/v1/logs/ingest", format!("{{\"message\":\"{tag}\"}}\n").as_bytes())?;
                if s == 200 {
                    canaries_sent.fetch_add(1, Ordering::AcqRel);
                    for _ in 0..2000 {
                        let v = c.get_json(&format!("/api/v1/logs/search?q={tag}&limit=1&start=0"))?;
                        if v["total"].as_u64() == Some(1) {
                            visible.push(t.elapsed().as_secs_f64() * 1e3);
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(10));
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok((under_load, visible))
    });
    for w in workers {
        w.join().map_err(|_| anyhow::anyhow!("worker panicked"))??;
    }
    let acked = started.elapsed();
    let sent = sent_lines.load(Ordering::Acquire);
    let mut c = Conn::open(&addr)?;
    let wait_until = Instant::now() + Duration::from_secs(600);
    // Every line (and canary) is searchable once the match-all count reaches them: a cheap
    // query, so that polling does not slow the server it measures (`seq:*` walked every term).
    loop {
        let v = c.get_json("/api/v1/logs/search?q=&limit=1&start=0")?;
        if v["total"].as_u64() >= Some(sent + canaries.load(Ordering::Acquire)) {
            break;
        }
        if Instant::now() > wait_until {
            bail!("not all lines became searchable");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let searchable = started.elapsed();
    done.store(true, Ordering::Release);
    let (mut under_load, mut visible) = prober.join().map_err(|_| anyhow::anyhow!("prober panicked"))??;
    let sent_raw = raw_bytes as f64 * sent as f64 / args.lines.max(1) as f64;

    // Search latency per kind, over HTTP, with ingest finished.
    let mut lookout_lat = Vec::new();
    for (name, q) in KINDS {
        let mut v = Vec::new();
        for _ in 0..args.queries {
            let t = Instant::now();
            if name == "histogram" {
                c.get_json(&format!(
                    "/api/v1/logs/histogram?q={}&start={}&end={}",
                    urlencode(q),
                    start_ns / 1_000_000_000,
                    now_ns / 1_000_000_000 + 1
                ))?;
            } else {
                c.get_json(&format!("/api/v1/logs/search?q={}&limit=100&start=0", urlencode(q)))?;
            }
            v.push(t.elapsed().as_secs_f64() * 1e3);
        }
        lookout_lat.push((name, percentile(&mut v, 0.5), percentile(&mut v, 0.99)));
    }
    std::thread::sleep(Duration::from_millis(200));
    let index_bytes = dir_bytes(&data.join("logs"));
    let wal_bytes = dir_bytes(&data.join("wal"));
    drop(_server);
    if args.space {
        let mut parts: Vec<_> = std::fs::read_dir(data.join("logs"))?.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect();
        parts.sort();
        for p in parts {
            space_report(&p.display().to_string(), &Index::open_in_dir(&p)?)?;
        }
    }

    let baseline = if args.no_baseline {
        None
    } else {
        Some(baseline(&work.join("bare-tantivy"), &batches, sent, args.queries, start_ns, now_ns, args.space)?)
    };

    println!(
        "lines sent: {sent} ({:.1} MB raw NDJSON), batch {} lines, {} connections, target rate {}/s",
        sent_raw / 1e6,
        args.batch,
        args.connections,
        args.rate
    );
    println!("429/503 retries: {}", retries.load(Ordering::Relaxed));
    let lps = sent as f64 / searchable.as_secs_f64();
    println!(
        "acknowledged: {:.0} lines/s, {:.1} MB/s ({:.1} s); all searchable after {:.1} s: {:.0} lines/s end-to-end, {:.1} MB/s",
        sent as f64 / acked.as_secs_f64(),
        sent_raw / 1e6 / acked.as_secs_f64(),
        acked.as_secs_f64(),
        searchable.as_secs_f64(),
        lps,
        sent_raw / 1e6 / searchable.as_secs_f64()
    );
    println!(
        "ingest-to-searchable (canaries under load, n={}): p50 {:.0} ms, p99 {:.0} ms",
        visible.len(),
        percentile(&mut visible, 0.5),
        percentile(&mut visible, 0.99)
    );
    println!(
        "searches under load (n={}): p50 {:.1} ms, p99 {:.1} ms",
        under_load.len(),
        percentile(&mut under_load, 0.5),
        percentile(&mut under_load, 0.99)
    );
    println!(
        "on disk: index {:.1} MB = {:.3}x raw; WAL {:.1} MB = {:.3}x raw (deleted once indexed, per 64 MB segment)",
        index_bytes as f64 / 1e6,
        index_bytes as f64 / sent_raw,
        wal_bytes as f64 / 1e6,
        wal_bytes as f64 / sent_raw
    );
    if let Some(b) = &baseline {
        println!(
            "bare tantivy: {:.0} lines/s (parse + index + commit, 1 writer thread); index {:.1} MB = {:.3}x raw",
            b.lines_per_sec,
            b.bytes as f64 / 1e6,
            b.bytes as f64 / sent_raw
        );
        println!("ratios: throughput {:.2}x bare, index size {:.2}x bare", lps / b.lines_per_sec, index_bytes as f64 / b.bytes as f64);
    }
    println!(
        "\n| query | lookout p50 ms | lookout p99 ms | bare p50 ms | bare p99 ms | p50 ratio | p99 ratio |\n|---|---|---|---|---|---|---|"
    );
    for (i, (name, p50, p99)) in lookout_lat.iter().enumerate() {
        match &baseline {
            Some(b) => {
                let (_, bp50, bp99) = b.latency[i];
                println!("| {name} | {p50:.2} | {p99:.2} | {bp50:.2} | {bp99:.2} | {:.1}x | {:.1}x |", p50 / bp50, p99 / bp99);
            }
            None => println!("| {name} | {p50:.2} | {p99:.2} | | | | |"),
        }
    }
    Ok(())
}

struct Baseline {
    lines_per_sec: f64,
    bytes: u64,
    latency: Vec<(&'static str, f64, f64)>,
}

/// The same documents into a bare tantivy index with the same schema shape, and the same query
/// kinds, in process (no HTTP, no WAL).
fn baseline(
    dir: &Path,
    batches: &[Vec<u8>],
    lines: u64,
    queries: usize,
    start_ns: i64,
    end_ns: i64,
    space: bool,
) -> anyhow::Result<Baseline> {
    std::fs::create_dir_all(dir)?;
    let mut b = Schema::builder();
    let ts = b.add_i64_field("timestamp", INDEXED | FAST);
    let level = b.add_text_field("level", STRING | FAST);
    let service = b.add_text_field("service", STRING | FAST);
    let host = b.add_text_field("host", STRING | FAST);
    let message = b.add_text_field("message", TEXT);
    let fields = b.add_json_field("fields", JsonObjectOptions::from(TEXT).set_expand_dots_enabled());
    let source = b.add_text_field("_source", STORED);
    let settings = IndexSettings { docstore_compression: tantivy::store::Compressor::Zstd(Default::default()), ..Default::default() };
    let index = Index::builder().schema(b.build()).settings(settings).create_in_dir(dir)?;
    let mut writer: tantivy::IndexWriter<TantivyDocument> = index.writer_with_num_threads(1, 128 << 20)?;
    let started = Instant::now();
    let mut n = 0u64;
    'outer: for batch in batches {
        for l in batch.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            if n >= lines {
                break 'outer;
            }
            n += 1;
            let Ok(Value::Object(mut m)) = serde_json::from_slice::<Value>(l) else { continue };
            let mut doc = TantivyDocument::default();
            doc.add_i64(ts, m.remove("timestamp").and_then(|v| v.as_i64()).unwrap_or(0));
            for (f, k) in [(level, "level"), (service, "service"), (host, "host"), (message, "message")] {
                if let Some(Value::String(s)) = m.remove(k) {
                    doc.add_text(f, &s);
                }
            }
            doc.add_field_value(fields, &tantivy::schema::OwnedValue::from(m));
            doc.add_text(source, std::str::from_utf8(l)?);
            writer.add_document(doc)?;
        }
    }
    writer.commit()?;
    let lines_per_sec = n as f64 / started.elapsed().as_secs_f64();
    writer.wait_merging_threads()?;
    if space {
        space_report("bare tantivy", &index)?;
    }
    let reader = index.reader()?;
    let searcher = reader.searcher();
    let tok = |s: &str| Term::from_field_text(message, s);
    let json_i64 = |path: &str, v: i64| {
        let mut t = Term::from_field_json_path(fields, path, true);
        t.append_type_and_fast_value(v);
        t
    };
    let in_range = |q: Box<dyn Query>| -> Box<dyn Query> {
        let r = RangeQuery::new(
            std::ops::Bound::Included(Term::from_field_i64(ts, 0)),
            std::ops::Bound::Excluded(Term::from_field_i64(ts, i64::MAX)),
        );
        Box::new(BooleanQuery::new(vec![(Occur::Must, Box::new(r) as Box<dyn Query>), (Occur::Must, q)]))
    };
    let qs: Vec<Box<dyn Query>> = vec![
        in_range(Box::new(TermQuery::new(tok("timeout"), IndexRecordOption::WithFreqs))),
        in_range(Box::new(PhraseQuery::new(vec![tok("connection"), tok("reset"), tok("by"), tok("peer")]))),
        in_range(Box::new(TermQuery::new(Term::from_field_text(service, "payments"), IndexRecordOption::Basic))),
        in_range(Box::new(InvertedIndexRangeQuery::new(
            std::ops::Bound::Excluded(json_i64("latency_ms", 4000)),
            std::ops::Bound::Included(json_i64("latency_ms", i64::MAX)),
        ))),
    ];
    let mut latency = Vec::new();
    for (i, (name, _)) in KINDS.iter().enumerate() {
        let mut v = Vec::new();
        for _ in 0..queries {
            let t = Instant::now();
            if let Some(q) = qs.get(i) {
                let top = TopDocs::with_limit(100).order_by_fast_field::<i64>("timestamp", Order::Desc);
                let (docs, _) = searcher.search(q.as_ref(), &(top, Count))?;
                for (_, addr) in docs {
                    let _: TantivyDocument = searcher.doc(addr)?;
                }
            } else {
                // histogram: every match's timestamp into 60 buckets
                let step = ((end_ns - start_ns) / 60).max(1);
                let all = tantivy::query::AllQuery;
                let mut counts = [0u64; 61];
                for seg in searcher.segment_readers() {
                    let col = seg.fast_fields().i64("timestamp")?;
                    let mut scorer = all.weight(tantivy::query::EnableScoring::disabled_from_searcher(&searcher))?.scorer(seg, 1.0)?;
                    let mut doc = scorer.doc();
                    while doc != tantivy::TERMINATED {
                        if let Some(t) = col.first(doc) {
                            let b = ((t - start_ns) / step).clamp(0, 60) as usize;
                            counts[b] += 1;
                        }
                        doc = scorer.advance();
                    }
                }
                std::hint::black_box(counts);
            }
            v.push(t.elapsed().as_secs_f64() * 1e3);
        }
        latency.push((*name, percentile(&mut v, 0.5), percentile(&mut v, 0.99)));
    }
    Ok(Baseline { lines_per_sec, bytes: dir_bytes(dir), latency })
}

/// Prints an index's bytes per component (term dictionary, postings, positions, fast fields,
/// field norms, document store) and, within each, per field, largest first.
fn space_report(name: &str, index: &Index) -> anyhow::Result<()> {
    let searcher = index.reader()?.searcher();
    let usage = searcher.space_usage()?;
    let docs = searcher.num_docs().max(1) as f64;
    let total = usage.total().get_bytes() as f64;
    println!("space of {name}: {} docs in {} segments, {:.1} MB, {:.1} bytes/doc", docs, usage.segments().len(), total / 1e6, total / docs);
    let mut by: std::collections::BTreeMap<(&'static str, String), u64> = Default::default();
    let mut store = 0u64;
    for seg in usage.segments() {
        for (component, per_field) in [
            ("termdict", seg.termdict()),
            ("postings", seg.postings()),
            ("positions", seg.positions()),
            ("fast", seg.fast_fields()),
            ("fieldnorms", seg.fieldnorms()),
        ] {
            for f in per_field.fields() {
                *by.entry((component, f.field_name().to_string())).or_default() += f.total().get_bytes();
            }
        }
        store += seg.store().total().get_bytes();
    }
    let mut rows: Vec<_> = by.into_iter().collect();
    rows.push((("store", "(all stored fields)".to_string()), store));
    rows.sort_by_key(|r| std::cmp::Reverse(r.1));
    for ((component, field), bytes) in rows.into_iter().filter(|r| r.1 > 0) {
        println!(
            "  {component:<10} {field:<24} {:>10.1} MB {:>7.1} bytes/doc {:>5.1}%",
            bytes as f64 / 1e6,
            bytes as f64 / docs,
            bytes as f64 * 100.0 / total
        );
    }
    Ok(())
}

/// A directory removed on drop.
struct TempDir(PathBuf);
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
fn tempdir() -> anyhow::Result<TempDir> {
    let p = std::env::temp_dir().join(format!("lookout-loadgen-{}", std::process::id()));
    std::fs::create_dir_all(&p)?;
    Ok(TempDir(p))
}

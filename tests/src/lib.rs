//! Harness for end-to-end tests: finds the built binaries, starts them on free loopback ports
//! in temporary directories, and waits on conditions with deadlines (never fixed sleeps).
//! Every process is killed when its handle drops, so a failing test leaves nothing running.
#![warn(missing_docs)]

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Path of a workspace binary (`lookout`, `lookout-agent`), built by `cargo build --workspace`.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> → target/<profile>/<name>
    let dir = exe.parent().and_then(Path::parent).expect("target directory");
    let path = dir.join(name);
    assert!(path.exists(), "{} not found: run `cargo build --workspace` before the end-to-end tests", path.display());
    path
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// Polls `cond` until it returns `Some` or `timeout` passes; panics with `what` on timeout.
pub fn wait_for<T>(what: &str, timeout: Duration, mut cond: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = cond() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A child process that is SIGKILLed on drop.
pub struct Proc {
    child: Option<Child>,
    /// Where its stderr goes.
    pub log: PathBuf,
}

impl Proc {
    /// Starts `program args` in `cwd`, stderr to `log`.
    pub fn start(program: &Path, args: &[&str], cwd: &Path, log: &Path) -> Proc {
        let err = File::create(log).expect("log file");
        let child = Command::new(program)
            .args(args)
            .current_dir(cwd)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        Proc { child: Some(child), log: log.to_path_buf() }
    }

    fn pid(&self) -> i32 {
        self.child.as_ref().expect("running").id() as i32
    }

    /// Sends a signal.
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on a child we own; no memory is involved.
        unsafe {
            libc::kill(self.pid(), sig);
        }
    }

    /// SIGKILL and reap.
    pub fn kill9(mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Sends `sig` and waits (with a deadline) for the exit status.
    pub fn stop_with(mut self, sig: i32, timeout: Duration) -> std::process::ExitStatus {
        self.signal(sig);
        let mut child = self.child.take().expect("running");
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("process did not exit within {timeout:?} after signal {sig}; log:\n{}", self.log_text());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The process's stderr so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A blocking HTTP client for tests.
pub fn client() -> reqwest::blocking::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::blocking::Client::builder().timeout(Duration::from_secs(30)).build().expect("client")
}

/// A `lookout serve` on a free port with its data in `data_dir`.
pub struct Aggregator {
    /// The process.
    pub proc: Proc,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl Aggregator {
    /// Starts it with authentication off (`--no-auth`: these tests are about something else)
    /// and waits until `/health/ready` answers 200.
    pub fn start(data_dir: &Path, port: u16, extra: &[&str]) -> Aggregator {
        let mut args = vec!["--no-auth"];
        args.extend_from_slice(extra);
        Aggregator::start_with_auth(data_dir, port, &args)
    }

    /// Starts it as production does, authentication on, and waits until `/health/ready`
    /// answers 200.
    pub fn start_with_auth(data_dir: &Path, port: u16, extra: &[&str]) -> Aggregator {
        let listen = format!("127.0.0.1:{port}");
        let mut args = vec!["serve", "--listen", &listen, "--data-dir", data_dir.to_str().expect("utf-8 path")];
        args.extend_from_slice(extra);
        std::fs::create_dir_all(data_dir).expect("data dir");
        let log = data_dir.parent().expect("parent").join(format!("lookout-{port}.log"));
        let proc = Proc::start(&bin("lookout"), &args, data_dir.parent().expect("parent"), &log);
        let url = format!("http://{listen}");
        let c = client();
        wait_for("lookout to become ready", Duration::from_secs(60), || {
            c.get(format!("{url}/health/ready")).send().ok().filter(|r| r.status().is_success()).map(|_| ())
        });
        Aggregator { proc, url }
    }

    /// Runs a search and returns the JSON answer.
    pub fn search(&self, q: &str, limit: usize) -> Value {
        let r = client()
            .get(format!("{}/api/v1/logs/search", self.url))
            .query(&[("q", q), ("limit", &limit.to_string()), ("order", "asc")])
            .send()
            .expect("search request");
        assert!(r.status().is_success(), "search {q:?} failed: {}", r.status());
        r.json().expect("search JSON")
    }

    /// Number of matches for `q`.
    pub fn count(&self, q: &str) -> u64 {
        self.search(q, 1)["total"].as_u64().expect("total")
    }
}

/// Prometheus remote_write 1.0 messages and helpers for the metrics tests.
pub mod remote_write {
    use prost::Message;

    pub use aggregator::tsdb::STALE_NAN;
    pub use aggregator::tsdb::remote_write::{Label, Sample, TimeSeries, WriteRequest};

    /// One series: labels (the name as `__name__`) and `(ms, value)` samples.
    pub type Series = (Vec<(String, String)>, Vec<(i64, f64)>);

    /// Snappy-compressed `WriteRequest` body.
    pub fn body(series: &[Series]) -> Vec<u8> {
        let req = WriteRequest {
            timeseries: series
                .iter()
                .map(|(labels, samples)| TimeSeries {
                    labels: labels.iter().map(|(n, v)| Label { name: n.clone(), value: v.clone() }).collect(),
                    samples: samples.iter().map(|&(timestamp, value)| Sample { value, timestamp }).collect(),
                })
                .collect(),
            ..Default::default()
        };
        snap::raw::Encoder::new().compress_vec(&req.encode_to_vec()).expect("snappy")
    }

    /// POSTs a body to `<base>/api/v1/write` (the remote_write receiver path of both Lookout and
    /// Prometheus) and returns the status and body text.
    pub fn post(base: &str, body: Vec<u8>) -> (u16, String) {
        let r = super::client()
            .post(format!("{base}/api/v1/write"))
            .header("Content-Type", "application/x-protobuf")
            .header("Content-Encoding", "snappy")
            .header("X-Prometheus-Remote-Write-Version", "0.1.0")
            .body(body)
            .send()
            .expect("remote_write request");
        let status = r.status().as_u16();
        (status, r.text().unwrap_or_default())
    }

    /// Labels from pairs.
    pub fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
    }
}

/// Runs a PromQL API call (`path` like `/api/v1/query`) with form parameters and returns the JSON.
pub fn prom_api(base: &str, path: &str, params: &[(&str, &str)]) -> (u16, Value) {
    let r = client().post(format!("{base}{path}")).form(params).send().expect("API request");
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

/// The sum of the samples on `{url}/metrics` whose line starts with `name` (a metric name and
/// a space, or a name with its labels).
pub fn metric(url: &str, name: &str) -> f64 {
    let text = client().get(format!("{url}/metrics")).send().expect("GET /metrics").text().expect("/metrics text");
    text.lines().filter(|l| l.starts_with(name)).filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum()
}

/// Appends `lines` (each followed by a newline) to `path`, creating it if needed.
pub fn append_lines(path: &Path, lines: &[String]) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).expect("open for append");
    let mut buf = String::new();
    for l in lines {
        buf.push_str(l);
        buf.push('\n');
    }
    f.write_all(buf.as_bytes()).expect("append");
}

/// A JSON log line of logical file `file`, rotation part `part`, sequence `seq`, ~250 bytes.
pub fn test_line(file: &str, part: u64, seq: u64) -> String {
    serde_json::json!({"timestamp": "2026-11-22T10:00:00Z", "level": if seq.is_multiple_of(10) { "error" } else { "info" },
        "service": "checkout", "message": format!("{file} line {seq}"), "file": file, "part": part, "seq": seq,
        "http": {"status": 200 + seq % 5, "path": "/api/v1/orders"}, "pad": "x".repeat(60)})
    .to_string()
}

/// Every hit of `q` whose `seq` field is below `n` (plus any just beyond), in the order the
/// aggregator stored them: sorted by hit id, which is `(WAL sequence << 20) | position`.
/// Fetched in windows of `seq` so each page stays under the search limit.
pub fn all_hits(agg: &Aggregator, q: &str, n: u64) -> Vec<Value> {
    const WINDOW: u64 = 4000;
    let mut out = Vec::new();
    let mut lo = 0;
    while lo <= n {
        let r = agg.search(&format!("({q}) AND seq:[{lo} TO {}]", lo + WINDOW - 1), 10_000);
        out.extend(r["hits"].as_array().cloned().unwrap_or_default());
        lo += WINDOW;
    }
    out.sort_by_key(|h| h["id"].as_str().and_then(|s| s.parse::<u64>().ok()).or_else(|| h["id"].as_u64()).unwrap_or(0));
    out
}

/// [`all_hits`] for large counts: each hit cut down to its `id` and the `file`, `part` and `seq`
/// fields that [`assert_exactly_once_in_order`] reads, page by page, so a million lines fit in
/// little memory.
pub fn all_line_keys(agg: &Aggregator, q: &str, n: u64) -> Vec<Value> {
    const WINDOW: u64 = 4000;
    let mut out = Vec::new();
    let mut lo = 0;
    while lo <= n {
        let r = agg.search(&format!("({q}) AND seq:[{lo} TO {}]", lo + WINDOW - 1), 10_000);
        for h in r["hits"].as_array().into_iter().flatten() {
            let f = &h["fields"];
            out.push(serde_json::json!({"id": h["id"], "fields": {"file": f["file"], "part": f["part"], "seq": f["seq"]}}));
        }
        lo += WINDOW;
    }
    out.sort_by_key(|h| h["id"].as_str().and_then(|s| s.parse::<u64>().ok()).or_else(|| h["id"].as_u64()).unwrap_or(0));
    out
}

/// Checks that `hits` hold, for each `(file, count)`, every `seq` in `0..count` exactly once,
/// and that within each `(file, part)` they arrived in increasing order. Panics with details.
pub fn assert_exactly_once_in_order(hits: &[Value], expected: &[(&str, u64)]) {
    use std::collections::BTreeMap;
    let mut seen: BTreeMap<(String, u64), Vec<u64>> = BTreeMap::new();
    let mut per_file: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for h in hits {
        let f = &h["fields"];
        let (Some(file), Some(seq)) = (f["file"].as_str(), f["seq"].as_u64()) else { continue };
        let part = f["part"].as_u64().unwrap_or(0);
        seen.entry((file.to_string(), part)).or_default().push(seq);
        per_file.entry(file.to_string()).or_default().push(seq);
    }
    for (file, count) in expected {
        let mut got = per_file.remove(*file).unwrap_or_default();
        got.sort_unstable();
        let dups: Vec<u64> = got.windows(2).filter(|w| w[0] == w[1]).map(|w| w[0]).take(10).collect();
        let set: std::collections::BTreeSet<u64> = got.iter().copied().collect();
        let missing: Vec<u64> = (0..*count).filter(|s| !set.contains(s)).take(10).collect();
        assert!(
            dups.is_empty() && missing.is_empty() && got.len() as u64 == *count,
            "file {file}: {} lines for {count} expected; first duplicates {dups:?}; first missing {missing:?}",
            got.len()
        );
    }
    assert!(per_file.is_empty(), "unexpected files: {:?}", per_file.keys().collect::<Vec<_>>());
    for ((file, part), seqs) in &seen {
        if let Some(w) = seqs.windows(2).find(|w| w[0] >= w[1]) {
            panic!(
                "file {file} part {part}: line {} arrived after line {} (out of order or repeated); arrival order: {}",
                w[1],
                w[0],
                runs(seqs)
            );
        }
    }
}

/// Writes an `agent.toml` in `dir` with one `file` source `app` over `include` (its extra
/// settings in `source_extra`) and a `lookout` sink `central` to `endpoint`; returns its path.
pub fn write_agent_config(dir: &Path, include: &[String], source_extra: &str, endpoint: &str, listen_port: u16) -> PathBuf {
    let cfg = format!(
        "data_dir = {:?}\nlisten = \"127.0.0.1:{listen_port}\"\n\n[sources.app]\ntype = \"file\"\ninclude = {include:?}\nglob_interval_ms = 100\npoll_interval_ms = 20\n{source_extra}\n\n[sinks.central]\ntype = \"lookout\"\ninputs = [\"app\"]\nendpoint = {endpoint:?}\nretry_initial_backoff_ms = 50\nretry_max_backoff_secs = 0.5\n[sinks.central.batch]\ntimeout_secs = 0.1\nmax_events = 2000\n",
        dir.join("agent-data").display().to_string(),
    );
    let path = dir.join("agent.toml");
    std::fs::write(&path, cfg).expect("write agent.toml");
    path
}

/// Starts `lookout-agent run --config config` in `dir`, its stderr in `agent-<n>.log`.
pub fn start_agent(dir: &Path, config: &Path, n: usize) -> Proc {
    Proc::start(&bin("lookout-agent"), &["run", "--config", config.to_str().expect("utf-8 path")], dir, &dir.join(format!("agent-{n}.log")))
}

/// Waits until `count(q)` reaches `n`, then a little longer so a duplicate would show, and
/// returns the final count.
pub fn wait_count(agg: &Aggregator, q: &str, n: u64, timeout: Duration) -> u64 {
    wait_for(&format!("{n} lines matching {q:?}"), timeout, || (agg.count(q) >= n).then_some(()));
    // Let anything still in flight (a duplicate) be indexed before the caller counts.
    let settle = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < settle {
        std::thread::sleep(Duration::from_millis(100));
    }
    agg.count(q)
}

/// `0-9 12 10-11 …`: a sequence as runs of consecutive numbers, for failure messages.
pub fn runs(seqs: &[u64]) -> String {
    let mut out = Vec::new();
    let mut i = 0;
    while i < seqs.len() && out.len() < 60 {
        let mut j = i;
        while j + 1 < seqs.len() && seqs[j + 1] == seqs[j] + 1 {
            j += 1;
        }
        out.push(if i == j { seqs[i].to_string() } else { format!("{}-{}", seqs[i], seqs[j]) });
        i = j + 1;
    }
    out.join(" ")
}

/// A real Prometheus (Debian package `prometheus`) with the remote_write receiver on, started
/// on loopback with `config` and its data under `dir`, ready; `None` when it is not installed
/// (a failure under CI=true: scripts/install-test-deps.sh installs it). Returns the process
/// and its base URL.
pub fn start_prometheus(dir: &Path, config: &Path) -> Option<(Proc, String)> {
    let Some(bin) = std::env::var_os("PATH")?.to_str()?.split(':').map(|d| PathBuf::from(d).join("prometheus")).find(|p| p.is_file())
    else {
        assert!(std::env::var_os("CI").is_none(), "no `prometheus` binary on PATH; scripts/install-test-deps.sh installs it");
        eprintln!("SKIPPED: no `prometheus` binary on PATH (scripts/install-test-deps.sh installs it)");
        return None;
    };
    let listen = format!("127.0.0.1:{}", free_port());
    let proc = Proc::start(
        &bin,
        &[
            &format!("--config.file={}", config.display()),
            &format!("--storage.tsdb.path={}", dir.join("prom-data").display()),
            &format!("--web.listen-address={listen}"),
            "--web.enable-remote-write-receiver",
        ],
        dir,
        &dir.join("prometheus.log"),
    );
    let url = format!("http://{listen}");
    let c = client();
    wait_for("prometheus to become ready", Duration::from_secs(60), || {
        c.get(format!("{url}/-/ready")).send().ok().filter(|r| r.status().is_success()).map(|_| ())
    });
    Some((proc, url))
}

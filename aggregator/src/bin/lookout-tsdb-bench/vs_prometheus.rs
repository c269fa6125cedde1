//! `lookout-tsdb-bench prometheus`: the same remote_write data into a real Prometheus and into
//! `lookout serve`, one after the other in the same run, then the same queries against both.
//!
//! Both stores cut blocks of the same range (`--block-minutes`, Prometheus through its
//! `--storage.tsdb.{min,max}-block-duration` flags, Lookout through `[metrics]
//! block_range_secs`), so "bytes per sample on disk" compares block bytes over the samples the
//! blocks' own metadata count, once both have cut every block they will cut. Memory per active
//! series is the growth of the process's resident set (VmRSS) from before to after the ingest,
//! divided by the series count. Query latency is the median of `--rounds` runs of each query,
//! alternating between the two servers.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use prost::Message;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use wire::remote_write::{Label, Sample, TimeSeries, WriteRequest};

/// Options of the run.
pub struct Opts {
    pub series: usize,
    pub hours: u32,
    /// Minutes of data (overrides `hours` when non-zero).
    pub minutes: u32,
    pub block_minutes: u32,
    pub rounds: usize,
    pub lookout: PathBuf,
    pub prometheus: PathBuf,
    pub series_per_request: usize,
    pub samples_per_series_per_request: usize,
    /// The `scrape` data set instead of `jitter` (see [`bodies`]).
    pub scrape_data: bool,
}

struct Server {
    name: &'static str,
    url: String,
    child: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(19_999)
}

/// With `LOOKOUT_BENCH_SMAPS=<dir>`, copies the process's `/proc/<pid>/smaps` there as
/// `<name>-<stage>.smaps`, to see which mappings a stage's growth is in.
fn dump_smaps(pid: u32, name: &str, stage: &str) {
    if let Some(dir) = std::env::var_os("LOOKOUT_BENCH_SMAPS") {
        let to = Path::new(&dir).join(format!("{name}-{stage}.smaps"));
        if let Err(e) = std::fs::copy(format!("/proc/{pid}/smaps"), &to) {
            eprintln!("LOOKOUT_BENCH_SMAPS: cannot write {}: {e}", to.display());
        }
    }
}

fn rss_bytes(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

fn wait_ready(c: &reqwest::blocking::Client, url: &str, path: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        if c.get(format!("{url}{path}")).send().map(|r| r.status().is_success()).unwrap_or(false) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    bail!("{url} not ready after 120 s")
}

/// One series' value in the `scrape` data set, by kind: what node_exporter reports — counters
/// with integer increments, memory in whole 4 KiB pages moving a little, ratios with two
/// decimals, constant `up`.
fn scrape_value(kind: usize, state: &mut f64, rng: &mut StdRng) -> f64 {
    match kind {
        0 => {
            *state += rng.random_range(0..50) as f64;
            *state
        }
        1 => {
            if *state == 0.0 {
                *state = 200_000_000.0;
            }
            *state = (*state + rng.random_range(-64i64..=64) as f64 * 4096.0).max(0.0);
            *state
        }
        2 => {
            *state = (*state + rng.random_range(-0.02..0.02f64)).clamp(0.0, 1.0);
            (*state * 100.0).round() / 100.0
        }
        _ => 1.0,
    }
}

/// One series' value at step `i`, by kind.
fn value(kind: usize, i: usize, state: &mut f64, rng: &mut StdRng) -> f64 {
    match kind {
        0 => {
            *state += rng.random_range(0..50) as f64;
            *state
        }
        1 => (200_000_000.0 + rng.random_range(-5_000_000i64..5_000_000) as f64).round(),
        2 => {
            *state = (*state + rng.random_range(-0.02..0.02f64)).clamp(0.0, 1.0);
            *state
        }
        _ => {
            let _ = i;
            1.0
        }
    }
}

const NAMES: [&str; 4] = ["bench_requests_total", "bench_memory_bytes", "bench_ratio", "bench_up"];

fn labels(s: usize) -> Vec<Label> {
    let kind = s % 4;
    let l = |n: &str, v: String| Label { name: n.into(), value: v };
    vec![
        l("__name__", NAMES[kind].into()),
        l("instance", format!("host-{:04}:9100", s / 40)),
        l("job", "bench".into()),
        l("series", s.to_string()),
        l("zone", format!("z{}", s % 3)),
    ]
}

/// Snappy-compressed remote_write bodies, in time order, and the sample count. Data set
/// `jitter`: each timestamp ±25 ms off its 15 s grid, full-precision random-walk ratios and
/// random memory values. Data set `scrape` (`o.scrape_data`): timestamps exactly 15 s apart
/// (Prometheus's scrape loop aligns them so), values as [`scrape_value`].
fn bodies(o: &Opts, t0: i64) -> (Vec<Vec<u8>>, u64) {
    let steps = if o.minutes > 0 { o.minutes as usize * 4 } else { (o.hours as usize) * 240 };
    let mut rng = StdRng::seed_from_u64(42);
    let mut state: Vec<f64> = (0..o.series).map(|s| if s % 4 == 2 { 0.5 } else { 0.0 }).collect();
    let offsets: Vec<i64> = (0..o.series).map(|_| rng.random_range(0..15_000)).collect();
    let mut out = Vec::new();
    let mut n = 0u64;
    let per = o.samples_per_series_per_request.max(1);
    let mut step = 0;
    while step < steps {
        let end = (step + per).min(steps);
        for group in (0..o.series).collect::<Vec<_>>().chunks(o.series_per_request.max(1)) {
            let mut req = WriteRequest::default();
            for &s in group {
                let samples = (step..end)
                    .map(|i| {
                        if o.scrape_data {
                            let ts = t0 + i as i64 * 15_000 + offsets[s];
                            return Sample { value: scrape_value(s % 4, &mut state[s], &mut rng), timestamp: ts };
                        }
                        let ts = t0 + i as i64 * 15_000 + offsets[s] + rng.random_range(-25..=25);
                        Sample { value: value(s % 4, i, &mut state[s], &mut rng), timestamp: ts }
                    })
                    .collect::<Vec<_>>();
                n += samples.len() as u64;
                req.timeseries.push(TimeSeries { labels: labels(s), samples });
            }
            let raw = req.encode_to_vec();
            out.push(snap::raw::Encoder::new().compress_vec(&raw).expect("snappy"));
        }
        step = end;
    }
    (out, n)
}

fn send_all(c: &reqwest::blocking::Client, url: &str, bodies: &[Vec<u8>]) -> anyhow::Result<Duration> {
    let t = Instant::now();
    for b in bodies {
        let r = c
            .post(format!("{url}/api/v1/write"))
            .header("Content-Type", "application/x-protobuf")
            .header("Content-Encoding", "snappy")
            .header("X-Prometheus-Remote-Write-Version", "0.1.0")
            .body(b.clone())
            .send()?;
        if !r.status().is_success() {
            bail!("{url}: remote_write answered {}: {}", r.status(), r.text().unwrap_or_default());
        }
    }
    Ok(t.elapsed())
}

fn dir_bytes(p: &Path) -> u64 {
    let mut n = 0;
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            let m = match e.metadata() {
                Ok(m) => m,
                Err(_) => continue,
            };
            n += if m.is_dir() { dir_bytes(&e.path()) } else { m.len() };
        }
    }
    n
}

/// Prometheus: (block bytes, samples in blocks, blocks).
fn prometheus_blocks(storage: &Path) -> (u64, u64, usize) {
    let (mut bytes, mut samples, mut blocks) = (0, 0, 0);
    for e in std::fs::read_dir(storage).into_iter().flatten().flatten() {
        let meta = e.path().join("meta.json");
        if let Ok(text) = std::fs::read_to_string(&meta)
            && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
        {
            samples += v["stats"]["numSamples"].as_u64().unwrap_or(0);
            bytes += dir_bytes(&e.path());
            blocks += 1;
        }
    }
    (bytes, samples, blocks)
}

/// Lookout: (block bytes, samples in blocks, blocks).
fn lookout_blocks(data: &Path) -> (u64, u64, usize) {
    let (mut bytes, mut samples, mut blocks) = (0, 0, 0);
    let dir = data.join("metrics").join("blocks");
    for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        if let Ok(b) = aggregator::tsdb::block::Block::open(&e.path()) {
            samples += b.meta.num_samples;
            bytes += b.file_bytes();
            blocks += 1;
        }
    }
    (bytes, samples, blocks)
}

/// `n` rules in groups of 100 over the generated series: recording rules aggregating rates and
/// gauges over label subsets, alerting rules with thresholds and `for`.
fn rule_file(n: usize, interval_secs: u64) -> String {
    let mut out = String::from("groups:\n");
    for g in 0..n.div_ceil(100) {
        out.push_str(&format!("  - name: bench-{g}\n    interval: {interval_secs}s\n    rules:\n"));
        for i in 0..100.min(n - g * 100) {
            let k = g * 100 + i;
            let host = format!("host-{:03}.*", k % 250);
            match k % 4 {
                0 => out.push_str(&format!(
                    "      - record: bench:requests:rate5m_{k}\n        expr: sum by (instance) (rate(bench_requests_total{{instance=~\"{host}\"}}[5m]))\n"
                )),
                1 => out.push_str(&format!(
                    "      - record: bench:memory:avg_{k}\n        expr: avg by (zone) (bench_memory_bytes{{zone=\"z{}\", instance=~\"{host}\"}})\n",
                    k % 3
                )),
                2 => out.push_str(&format!(
                    "      - alert: BenchRatioHigh{k}\n        expr: bench_ratio{{instance=~\"{host}\"}} > 0.6\n        for: 5m\n        labels: {{ severity: page }}\n        annotations: {{ summary: 'ratio {{{{ $value }}}} on {{{{ $labels.instance }}}}' }}\n"
                )),
                _ => out.push_str(&format!(
                    "      - alert: BenchTrafficLow{k}\n        expr: sum by (zone) (rate(bench_requests_total{{instance=~\"{host}\"}}[5m])) < 1\n        for: 1m\n"
                )),
            }
        }
    }
    out
}

/// `lookout-tsdb-bench rules`: `rules` rules in groups of 100 over `series` series, evaluated
/// every `interval` by Prometheus and by Lookout from the same rule file and data; reports each
/// one's evaluation time per cycle from its own `/api/v1/rules` (`evaluationTime` per group).
pub fn run_rules(o: Opts, rules: usize, interval_secs: u64, cycles: usize) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = Scratch::new("lookout-rules-bench")?;
    let d = dir.0.as_path();
    let c = reqwest::blocking::Client::builder().timeout(Duration::from_secs(300)).build()?;
    std::fs::write(d.join("rules.yml"), rule_file(rules, interval_secs))?;
    let prom_cfg = format!(
        "global:\n  scrape_interval: 15s\n  evaluation_interval: {interval_secs}s\nrule_files: [{:?}]\n",
        d.join("rules.yml").display().to_string()
    );
    let lk_cfg = format!("rule_files = [\"rules.yml\"]\n\n[rules]\nevaluation_interval_secs = {interval_secs}\n");
    let (prom, lk) = start_both(&o, d, &c, &prom_cfg, &[], &lk_cfg)?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis() as i64;
    let t0 = now - i64::from(o.minutes) * 60_000;
    let (bodies, samples) = bodies(&o, t0);
    eprintln!("{samples} samples of {} series", o.series);
    for s in [&prom, &lk] {
        let took = send_all(&c, &s.url, &bodies)?;
        eprintln!("{}: ingested in {took:?}", s.name);
    }
    // Let each evaluate `cycles` times over the data, then read what it measured.
    let mut per: Vec<(&str, Vec<f64>, f64, usize)> = Vec::new();
    std::thread::sleep(Duration::from_secs(interval_secs * cycles as u64 + 2));
    for s in [&prom, &lk] {
        let v: serde_json::Value = c.get(format!("{}/api/v1/rules", s.url)).send()?.json()?;
        let groups = v["data"]["groups"].as_array().cloned().unwrap_or_default();
        let times: Vec<f64> = groups.iter().map(|g| g["evaluationTime"].as_f64().unwrap_or(f64::NAN)).collect();
        let n_rules: usize = groups.iter().map(|g| g["rules"].as_array().map(Vec::len).unwrap_or(0)).sum();
        let errors =
            groups.iter().flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default()).filter(|r| r["health"] == "err").count();
        if errors > 0 {
            eprintln!("warning: {}: {errors} rules report errors", s.name);
        }
        let firing: usize = groups
            .iter()
            .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
            .map(|r| r["alerts"].as_array().map(Vec::len).unwrap_or(0))
            .sum();
        per.push((s.name, times, firing as f64, n_rules));
    }
    println!(
        "\n{} rules in {} groups over {} series ({samples} samples, {} min), every {interval_secs}s\n",
        rules,
        rules.div_ceil(100),
        o.series,
        o.minutes
    );
    println!("| measure | Prometheus | Lookout | Lookout / Prometheus |");
    println!("| --- | --- | --- | --- |");
    let sum = |v: &[f64]| v.iter().sum::<f64>();
    let max = |v: &[f64]| v.iter().cloned().fold(0.0, f64::max);
    println!("| rules loaded | {} | {} | |", per[0].3, per[1].3);
    println!("| alerts (pending + firing) | {} | {} | |", per[0].2, per[1].2);
    println!(
        "| cycle: sum of group evaluation times, ms | {:.0} | {:.0} | {:.2}× |",
        sum(&per[0].1) * 1000.0,
        sum(&per[1].1) * 1000.0,
        sum(&per[1].1) / sum(&per[0].1)
    );
    println!(
        "| slowest group, ms | {:.0} | {:.0} | {:.2}× |",
        max(&per[0].1) * 1000.0,
        max(&per[1].1) * 1000.0,
        max(&per[1].1) / max(&per[0].1)
    );
    Ok(())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// A scratch directory under the system temp dir, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> anyhow::Result<Scratch> {
        let root = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
        std::fs::create_dir_all(&root)?;
        Ok(Scratch(root))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Starts Prometheus (`prometheus.yml` holding `prom_cfg`, data in `d/prom`, plus `prom_args`)
/// and `lookout serve --no-auth` (`lookout.toml` holding `lk_cfg`, data in `d/lookout`), both on
/// free loopback ports, and waits until both are ready.
fn start_both(
    o: &Opts,
    d: &Path,
    c: &reqwest::blocking::Client,
    prom_cfg: &str,
    prom_args: &[String],
    lk_cfg: &str,
) -> anyhow::Result<(Server, Server)> {
    std::fs::write(d.join("prometheus.yml"), prom_cfg)?;
    std::fs::write(d.join("lookout.toml"), lk_cfg)?;
    let prom_port = free_port();
    let prom = Server {
        name: "prometheus",
        url: format!("http://127.0.0.1:{prom_port}"),
        child: Command::new(&o.prometheus)
            .arg(format!("--config.file={}", d.join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", d.join("prom").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .arg("--web.enable-remote-write-receiver")
            .args(prom_args)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(d.join("prometheus.log"))?)
            .spawn()
            .with_context(|| format!("cannot start {}", o.prometheus.display()))?,
    };
    let lk_port = free_port();
    let lk = Server {
        name: "lookout",
        url: format!("http://127.0.0.1:{lk_port}"),
        child: Command::new(&o.lookout)
            .args(["serve", "--no-auth", "--config"])
            .arg(d.join("lookout.toml"))
            .arg("--listen")
            .arg(format!("127.0.0.1:{lk_port}"))
            .arg("--data-dir")
            .arg(d.join("lookout"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(d.join("lookout.log"))?)
            .spawn()
            .with_context(|| format!("cannot start {}", o.lookout.display()))?,
    };
    wait_ready(c, &prom.url, "/-/ready")?;
    wait_ready(c, &lk.url, "/health/ready")?;
    Ok((prom, lk))
}

/// Runs the comparison and prints Markdown tables.
pub fn run(o: Opts) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = Scratch::new("lookout-vs-prometheus")?;
    let d = dir.0.as_path();
    let c = reqwest::blocking::Client::builder().timeout(Duration::from_secs(300)).build()?;
    let block = format!("{}m", o.block_minutes);
    let prom_args = [
        format!("--storage.tsdb.min-block-duration={block}"),
        format!("--storage.tsdb.max-block-duration={block}"),
        "--storage.tsdb.retention.time=30d".to_string(),
    ];
    let lk_cfg =
        format!("[metrics]\nblock_range_secs = {}\nout_of_order_window_secs = {}\n", o.block_minutes * 60, o.block_minutes * 60 / 4);
    let (prom, lk) = start_both(&o, d, &c, "global:\n  scrape_interval: 15s\n", &prom_args, &lk_cfg)?;
    let prom_data = d.join("prom");
    let lk_data = d.join("lookout");
    std::thread::sleep(Duration::from_secs(2));

    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis() as i64;
    // The data ends on a block boundary, so that both heads end up holding the same span (one
    // block range, the middle of the 0.5 to 1.5 ranges a head holds between cuts) whatever the
    // time of day: with the end anywhere, the head's share of the settled RSS varied threefold
    // from run to run.
    let range_ms = i64::from(o.block_minutes.max(1)) * 60_000;
    let t0 = (now / range_ms) * range_ms - i64::from(o.hours) * 3_600_000;
    let gen_t = Instant::now();
    let (bodies, samples) = bodies(&o, t0);
    let wire: usize = bodies.iter().map(Vec::len).sum();
    eprintln!("generated {samples} samples of {} series in {} requests ({wire} bytes) in {:?}", o.series, bodies.len(), gen_t.elapsed());

    let mut rows = Vec::new();
    for s in [&prom, &lk] {
        let before = rss_bytes(s.child.id());
        dump_smaps(s.child.id(), s.name, "before");
        let took = send_all(&c, &s.url, &bodies)?;
        std::thread::sleep(Duration::from_secs(2));
        let after = rss_bytes(s.child.id());
        dump_smaps(s.child.id(), s.name, "after");
        eprintln!("{}: {samples} samples in {took:?}", s.name);
        rows.push((s.name, took, before, after));
    }

    // Wait until neither store cuts another block (Prometheus compacts once a minute; Lookout
    // also merges its blocks, so the count of samples in blocks is what must settle).
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut last = (prometheus_blocks(&prom_data), lookout_blocks(&lk_data));
    let mut stable_since = Instant::now();
    loop {
        std::thread::sleep(Duration::from_secs(5));
        let now_b = (prometheus_blocks(&prom_data), lookout_blocks(&lk_data));
        if now_b != last {
            last = now_b;
            stable_since = Instant::now();
        }
        let enough = last.0.1 > 0 && last.1.1 > 0;
        if (enough && stable_since.elapsed() > Duration::from_secs(70)) || Instant::now() > deadline {
            break;
        }
    }
    let ((pb, ps, pn), (lb, ls, ln)) = last;
    // Resident memory again once both have cut and merged their blocks.
    let settled = [rss_bytes(prom.child.id()), rss_bytes(lk.child.id())];
    dump_smaps(prom.child.id(), prom.name, "settled");
    dump_smaps(lk.child.id(), lk.name, "settled");
    let prom_wal = dir_bytes(&prom_data.join("wal"));
    let lk_wal = dir_bytes(&lk_data.join("metrics").join("wal"));

    // Queries at the end of the data and over its whole range.
    let end = (t0 + i64::from(o.hours) * 3_600_000) as f64 / 1000.0;
    let start = t0 as f64 / 1000.0 + 600.0;
    let queries: Vec<(&str, String, bool)> = vec![
        ("sum(rate(counter[5m]))", "sum(rate(bench_requests_total[5m]))".into(), false),
        ("sum by (zone) (rate(counter[5m])), range", "sum by (zone) (rate(bench_requests_total[5m]))".into(), true),
        ("one series, range", "bench_memory_bytes{series=\"1\"}".into(), true),
        ("topk(5, ratio)", "topk(5, bench_ratio)".into(), false),
        ("avg_over_time(gauge[1h])", "avg(avg_over_time(bench_memory_bytes[1h]))".into(), false),
        ("count by (job) (up), range", "count by (job) (bench_up)".into(), true),
        ("quantile_over_time(0.9, ratio[30m]) by instance", "max by (instance) (quantile_over_time(0.9, bench_ratio[30m]))".into(), false),
    ];
    let mut qrows = Vec::new();
    for (label, q, range) in &queries {
        let mut times: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
        let mut sizes = [0usize; 2];
        for _ in 0..o.rounds.max(1) {
            for (i, s) in [&prom, &lk].iter().enumerate() {
                let t = Instant::now();
                let r = if *range {
                    c.get(format!("{}/api/v1/query_range", s.url))
                        .query(&[("query", q.as_str()), ("start", &start.to_string()), ("end", &end.to_string()), ("step", "60")])
                        .send()?
                } else {
                    c.get(format!("{}/api/v1/query", s.url)).query(&[("query", q.as_str()), ("time", &end.to_string())]).send()?
                };
                let status = r.status();
                let v: serde_json::Value = r.json()?;
                times[i].push(t.elapsed().as_secs_f64() * 1000.0);
                if !status.is_success() {
                    bail!("{} {q}: {status} {v}", s.name);
                }
                sizes[i] = v["data"]["result"].as_array().map(Vec::len).unwrap_or(0);
            }
        }
        if sizes[0] != sizes[1] {
            eprintln!("warning: {label}: prometheus returned {} series, lookout {}", sizes[0], sizes[1]);
        }
        qrows.push((label, median(times[0].clone()), median(times[1].clone()), sizes));
    }

    println!(
        "\n{} data set: {} series × {} h at 15 s = {samples} samples; {} remote_write requests ({:.1} MiB snappy); blocks of {} min\n",
        if o.scrape_data { "scrape" } else { "jitter" },
        o.series,
        o.hours,
        bodies.len(),
        wire as f64 / 1048576.0,
        o.block_minutes
    );
    println!("| measure | Prometheus | Lookout | Lookout / Prometheus |");
    println!("| --- | --- | --- | --- |");
    let (p, l) = (&rows[0], &rows[1]);
    let rate = |d: Duration| samples as f64 / d.as_secs_f64();
    println!("| remote_write ingest, samples/s | {:.0} | {:.0} | {:.2}× |", rate(p.1), rate(l.1), rate(l.1) / rate(p.1));
    let bps = |b: u64, s: u64| if s == 0 { f64::NAN } else { b as f64 / s as f64 };
    println!("| blocks cut (samples in them) | {pn} ({ps}) | {ln} ({ls}) | |");
    println!("| bytes/sample in blocks | {:.3} | {:.3} | {:.2}× |", bps(pb, ps), bps(lb, ls), bps(lb, ls) / bps(pb, ps));
    println!("| WAL bytes at the end | {prom_wal} | {lk_wal} | {:.2}× |", lk_wal as f64 / prom_wal.max(1) as f64);
    let per = |r: &(&str, Duration, u64, u64)| r.3.saturating_sub(r.2) as f64 / o.series as f64;
    println!("| RSS before → after ingest | {} → {} MiB | {} → {} MiB | |", p.2 >> 20, p.3 >> 20, l.2 >> 20, l.3 >> 20);
    println!("| RSS growth per active series | {:.0} B | {:.0} B | {:.2}× |", per(p), per(l), per(l) / per(p));
    let per_settled = |before: u64, after: u64| after.saturating_sub(before) as f64 / o.series as f64;
    let (ps_, ls_) = (per_settled(p.2, settled[0]), per_settled(l.2, settled[1]));
    println!("| RSS after blocks settled | {} MiB | {} MiB | |", settled[0] >> 20, settled[1] >> 20);
    println!("| RSS growth per active series, blocks settled | {ps_:.0} B | {ls_:.0} B | {:.2}× |", ls_ / ps_);
    println!("\n| query (median of {} runs) | series | Prometheus ms | Lookout ms | Lookout / Prometheus |", o.rounds);
    println!("| --- | --- | --- | --- | --- |");
    for (label, pm, lm, sizes) in qrows {
        println!("| {label} | {} | {pm:.1} | {lm:.1} | {:.2}× |", sizes[1], lm / pm);
    }
    Ok(())
}

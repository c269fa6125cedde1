//! Differential test: the same generated series go into a real Prometheus (the Debian package,
//! started here on loopback with its remote-write receiver) and into Lookout, both through
//! remote_write; a broad query set then runs through both HTTP APIs, instant and range, and
//! every result must be equal (labels exactly, values within a relative 1e-9). Lookout runs
//! twice: once answering from its head, once with most of the data cut into blocks on disk and
//! restarted (blocks read from their files, the head from its WAL).
//!
//! Without a `prometheus` binary (scripts/install-test-deps.sh installs it) the test says so and
//! passes, as there is nothing to compare with.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tests::remote_write::{STALE_NAN, Series, body, labels, post};
use tests::{Aggregator, client, free_port, metric, prom_api, wait_for};

const STEP_MS: i64 = 15_000;
const STEPS: i64 = 200; // 50 minutes

/// A tiny deterministic generator (no dependency, same data every run).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The data set: counters with a reset, gauges, classic histograms, a series that goes stale
/// and comes back, and a sparse one with gaps longer than the lookback.
fn generate(t0: i64) -> Vec<Series> {
    let mut rng = Lcg(42);
    let mut out: Vec<Series> = Vec::new();
    for job in ["api", "web"] {
        for inst in ["a", "b", "c"] {
            for code in ["200", "500"] {
                let mut v = 0.0;
                let mut samples = Vec::new();
                for i in 0..STEPS {
                    v += (rng.next() * 10.0).floor() + if code == "200" { 5.0 } else { 0.0 };
                    if job == "api" && inst == "a" && code == "500" && i == 100 {
                        v = 3.0; // counter reset
                    }
                    samples.push((t0 + i * STEP_MS, v));
                }
                out.push((labels(&[("__name__", "http_requests_total"), ("job", job), ("instance", inst), ("code", code)]), samples));
            }
        }
        let bounds = ["0.05", "0.1", "0.25", "0.5", "1", "+Inf"];
        let mut counts = [0.0f64; 6];
        let mut per_bucket: Vec<Vec<(i64, f64)>> = vec![Vec::new(); 6];
        for i in 0..STEPS {
            let mut c = 0.0;
            for (b, count) in counts.iter_mut().enumerate() {
                c += (rng.next() * 4.0).floor() + b as f64;
                *count += c;
                per_bucket[b].push((t0 + i * STEP_MS, *count));
            }
        }
        for (b, samples) in per_bucket.into_iter().enumerate() {
            out.push((labels(&[("__name__", "req_duration_seconds_bucket"), ("job", job), ("le", bounds[b])]), samples));
        }
    }
    for (k, inst) in ["a", "b", "c"].into_iter().enumerate() {
        let samples = (0..STEPS).map(|i| (t0 + i * STEP_MS, 20.0 + 3.0 * ((i as f64 / 17.0) + k as f64).sin() + rng.next())).collect();
        out.push((labels(&[("__name__", "node_temp"), ("instance", inst)]), samples));
    }
    let mut flappy = Vec::new();
    for i in 0..STEPS {
        if i == 80 {
            flappy.push((t0 + i * STEP_MS, f64::from_bits(STALE_NAN)));
        } else if !(80..120).contains(&i) {
            flappy.push((t0 + i * STEP_MS, (i % 7) as f64));
        }
    }
    out.push((labels(&[("__name__", "flappy"), ("instance", "x")]), flappy));
    let sparse = (0..STEPS).filter(|i| i % 40 == 0).map(|i| (t0 + i * STEP_MS, i as f64)).collect();
    out.push((labels(&[("__name__", "sparse"), ("instance", "y")]), sparse));
    out
}

/// Writes in time-ordered chunks, as a scraper's remote_write would.
fn write_all(base: &str, data: &[Series], t0: i64) {
    for chunk in 0..(STEPS / 20) {
        let (lo, hi) = (t0 + chunk * 20 * STEP_MS, t0 + (chunk + 1) * 20 * STEP_MS);
        let part: Vec<Series> = data
            .iter()
            .map(|(l, s)| (l.clone(), s.iter().copied().filter(|&(t, _)| t >= lo && t < hi).collect::<Vec<_>>()))
            .filter(|(_, s)| !s.is_empty())
            .collect();
        let (status, text) = post(base, body(&part));
        assert!(status == 204 || status == 200, "remote_write to {base}: {status} {text}");
    }
}

const QUERIES: &[&str] = &[
    "http_requests_total",
    "http_requests_total{job=\"api\",code!=\"200\"}",
    "http_requests_total{instance=~\"a|b\", job!~\"w.*\"} offset 3m",
    "rate(http_requests_total[5m])",
    "irate(http_requests_total[2m])",
    "increase(http_requests_total[10m])",
    "rate(http_requests_total[1m30s])",
    "rate(http_requests_total[5m] offset 2m)",
    "sum by (job) (rate(http_requests_total[5m]))",
    "sum without (instance) (rate(http_requests_total[5m]))",
    "avg by (code) (http_requests_total)",
    "max(node_temp) - min(node_temp)",
    "stddev(node_temp)",
    "stdvar by (job) (http_requests_total)",
    "count(http_requests_total > 500)",
    "count by (job) (http_requests_total)",
    "group(http_requests_total)",
    "topk(2, node_temp)",
    "topk(1, max_over_time(node_temp[5m]))",
    "bottomk by (job) (2, http_requests_total)",
    "quantile(0.9, node_temp)",
    "quantile by (job) (0.25, rate(http_requests_total[5m]))",
    "count_values(\"v\", flappy)",
    "histogram_quantile(0.9, sum by (le, job) (rate(req_duration_seconds_bucket[5m])))",
    "histogram_quantile(0.5, rate(req_duration_seconds_bucket[10m]))",
    "histogram_quantile(0.99, req_duration_seconds_bucket)",
    "delta(node_temp[10m])",
    "idelta(node_temp[5m])",
    "deriv(node_temp[10m])",
    "predict_linear(node_temp[10m], 600)",
    "avg_over_time(node_temp[7m])",
    "min_over_time(node_temp[7m])",
    "max_over_time(node_temp[7m])",
    "sum_over_time(node_temp[3m])",
    "count_over_time(flappy[10m])",
    "last_over_time(flappy[10m])",
    "stddev_over_time(node_temp[10m])",
    "stdvar_over_time(node_temp[10m])",
    "quantile_over_time(0.3, node_temp[10m])",
    "present_over_time(flappy[2m])",
    "changes(flappy[10m])",
    "resets(http_requests_total[30m])",
    "flappy",
    "sparse",
    "absent(nonexistent{job=\"x\"})",
    "absent(flappy)",
    "absent_over_time(flappy[1m])",
    "node_temp > 20",
    "node_temp > bool 20",
    "20 < node_temp",
    "http_requests_total / on(job, instance) group_left sum by (job, instance) (http_requests_total)",
    "rate(http_requests_total[5m]) / ignoring(code) group_left sum without (code) (rate(http_requests_total[5m]))",
    "sum by (instance) (http_requests_total) * on(instance) group_right node_temp",
    "http_requests_total and on(instance) node_temp > 20",
    "http_requests_total unless http_requests_total{code=\"500\"}",
    "node_temp or flappy",
    "node_temp == bool on(instance) node_temp",
    "clamp(node_temp, 19, 21)",
    "clamp_min(node_temp, 20)",
    "clamp_max(node_temp, 20)",
    "abs(node_temp - 20)",
    "ceil(node_temp)",
    "floor(node_temp)",
    "round(node_temp)",
    "round(node_temp, 0.5)",
    "sqrt(node_temp)",
    "exp(node_temp / 10)",
    "ln(node_temp)",
    "log2(node_temp)",
    "log10(node_temp)",
    "-node_temp",
    "node_temp % 3",
    "node_temp ^ 2",
    "label_replace(node_temp, \"host\", \"h-$1\", \"instance\", \"(.*)\")",
    "label_join(http_requests_total, \"id\", \"/\", \"job\", \"instance\")",
    "timestamp(node_temp)",
    "timestamp(sparse)",
    "time()",
    "vector(1)",
    "scalar(sum(node_temp))",
    "sum(node_temp) * 2 + 1",
    "max_over_time(node_temp[10m:1m])",
    "rate(http_requests_total[5m:30s])",
    "hour(timestamp(node_temp))",
    "day_of_week()",
    "sum(rate(http_requests_total[5m])) by (job) > 4",
];

fn num(v: &Value) -> f64 {
    match v.as_str() {
        Some("NaN") => f64::NAN,
        Some("+Inf") => f64::INFINITY,
        Some("-Inf") => f64::NEG_INFINITY,
        Some(s) => s.parse().expect("number"),
        None => v.as_f64().expect("number"),
    }
}

fn close(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

/// `metric JSON → [(t, v)]` for a vector or matrix; a scalar as one series `"scalar"`.
fn normalize(data: &Value) -> (String, BTreeMap<String, Vec<(f64, f64)>>) {
    let kind = data["resultType"].as_str().unwrap_or("?").to_string();
    let mut out = BTreeMap::new();
    match kind.as_str() {
        "scalar" | "string" => {
            out.insert("scalar".into(), vec![(data["result"][0].as_f64().unwrap(), num(&data["result"][1]))]);
        }
        "vector" => {
            for r in data["result"].as_array().unwrap() {
                out.insert(r["metric"].to_string(), vec![(r["value"][0].as_f64().unwrap(), num(&r["value"][1]))]);
            }
        }
        _ => {
            for r in data["result"].as_array().unwrap() {
                let points = r["values"].as_array().unwrap().iter().map(|p| (p[0].as_f64().unwrap(), num(&p[1]))).collect();
                out.insert(r["metric"].to_string(), points);
            }
        }
    }
    (kind, out)
}

fn compare(what: &str, prom: &Value, ours: &Value, problems: &mut Vec<String>) {
    if prom["status"] != "success" || ours["status"] != "success" {
        if prom["status"] != ours["status"] {
            problems.push(format!("{what}: prometheus {prom} vs lookout {ours}"));
        }
        return;
    }
    let (pk, p) = normalize(&prom["data"]);
    let (ok, o) = normalize(&ours["data"]);
    if pk != ok {
        problems.push(format!("{what}: result type {pk} vs {ok}"));
        return;
    }
    if p.keys().ne(o.keys()) {
        problems.push(format!(
            "{what}: series differ\n  prometheus: {:?}\n  lookout:    {:?}",
            p.keys().collect::<Vec<_>>(),
            o.keys().collect::<Vec<_>>()
        ));
        return;
    }
    for (k, pv) in &p {
        let ov = &o[k];
        if pv.len() != ov.len() {
            let pts: Vec<f64> = pv.iter().map(|x| x.0).filter(|t| !ov.iter().any(|o| o.0 == *t)).collect();
            let ots: Vec<f64> = ov.iter().map(|x| x.0).filter(|t| !pv.iter().any(|o| o.0 == *t)).collect();
            problems.push(format!(
                "{what}: {k}: {} points vs {} (only prometheus at {pts:?}, only lookout at {ots:?})",
                pv.len(),
                ov.len()
            ));
            continue;
        }
        if let Some(((pt, pvv), (ot, ovv))) = pv.iter().zip(ov).find(|((pt, pv), (ot, ov))| pt != ot || !close(*pv, *ov)) {
            problems.push(format!("{what}: {k}: prometheus ({pt}, {pvv}) vs lookout ({ot}, {ovv})"));
        }
    }
}

/// Runs every query (instant at three times, range at two steps) and the metadata endpoints
/// against both servers; differences go to `problems`, named with `who`.
fn compare_all(prom: &str, ours: &str, who: &str, t0: i64, problems: &mut Vec<String>) {
    let secs = |ms: i64| format!("{}", ms as f64 / 1000.0);
    let instants = [t0 + 10 * 60_000, t0 + 25 * 60_000 + 7_000, t0 + 49 * 60_000 + 59_000];
    let mut queries: Vec<String> = QUERIES.iter().map(|q| q.to_string()).collect();
    queries.push(format!("node_temp @ {}", secs(t0 + 20 * 60_000)));
    for q in &queries {
        for &t in &instants {
            let params = [("query", q.as_str()), ("time", &secs(t))];
            let (_, p) = prom_api(prom, "/api/v1/query", &params);
            let (_, o) = prom_api(ours, "/api/v1/query", &params);
            compare(&format!("{who}: {q} @ {t}"), &p, &o, problems);
        }
        for (start, end, step) in [(t0 + 5 * 60_000, t0 + 49 * 60_000, "60"), (t0, t0 + 50 * 60_000, "37")] {
            let params = [("query", q.as_str()), ("start", &secs(start)), ("end", &secs(end)), ("step", step)];
            let (_, p) = prom_api(prom, "/api/v1/query_range", &params);
            let (_, o) = prom_api(ours, "/api/v1/query_range", &params);
            compare(&format!("{who}: {q} range step {step}"), &p, &o, problems);
        }
    }
    // Metadata endpoints agree too.
    for (path, params) in [
        ("/api/v1/labels", vec![]),
        ("/api/v1/series", vec![("match[]", "node_temp"), ("match[]", "flappy")]),
        ("/api/v1/series", vec![("match[]", "{job=\"api\", le=\"+Inf\"}")]),
    ] {
        let (_, p) = prom_api(prom, path, &params);
        let (_, o) = prom_api(ours, path, &params);
        let sorted = |v: &Value| {
            let mut a: Vec<String> = v["data"].as_array().map(|a| a.iter().map(|x| x.to_string()).collect()).unwrap_or_default();
            a.sort();
            a
        };
        if sorted(&p) != sorted(&o) {
            problems.push(format!("{who}: {path} {params:?}: prometheus {p} vs lookout {o}"));
        }
    }
    for name in ["instance", "__name__", "le"] {
        let get = |base: &str| -> Value { client().get(format!("{base}/api/v1/label/{name}/values")).send().unwrap().json().unwrap() };
        let (p, o) = (get(prom), get(ours));
        if p["data"] != o["data"] {
            problems.push(format!("{who}: label values {name}: prometheus {p} vs lookout {o}"));
        }
    }
}

#[test]
fn promql_results_equal_prometheus() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(&cfg, "global:\n  scrape_interval: 15s\n").unwrap();
    // In CI the install script provides it, so its absence is a failure there.
    let Some((_prom, prom)) = tests::start_prometheus(dir.path(), &cfg) else { return };
    let agg = Aggregator::start(&dir.path().join("lookout-data"), free_port(), &[]);
    // The same data once more into a Lookout that cuts 10-minute blocks (and compacts them), so
    // that most of it is answered from blocks on disk rather than from the head.
    let blocks_cfg = dir.path().join("blocks.toml");
    std::fs::write(&blocks_cfg, "[metrics]\nblock_range_secs = 600\nout_of_order_window_secs = 300\n").unwrap();
    let blocks_dir = dir.path().join("lookout-blocks");
    let blocks_args = ["--config", blocks_cfg.to_str().unwrap()];
    let blocks_port = free_port();
    let blocks = Aggregator::start(&blocks_dir, blocks_port, &blocks_args);

    // Inside Prometheus's head range: the last 55 minutes, aligned to the minute.
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64;
    let t0 = (now / 60_000) * 60_000 - 55 * 60_000;
    let data = generate(t0);
    write_all(&prom, &data, t0);
    write_all(&agg.url, &data, t0);
    write_all(&blocks.url, &data, t0);

    // The head keeps 1.5 block ranges: the 40 minutes before are cut into blocks. Then a restart,
    // so the blocks are read from their files (and the head from its WAL).
    // (Counted as cuts: compaction may already have merged them into one block of a wider window,
    // depending on where the wall clock puts the window boundaries.)
    wait_for("two blocks cut", std::time::Duration::from_secs(60), || {
        (metric(&blocks.url, "lookout_tsdb_blocks_cut_total ") >= 2.0).then_some(())
    });
    let status = blocks.proc.stop_with(libc::SIGTERM, std::time::Duration::from_secs(30));
    assert!(status.success(), "lookout exited with {status}");
    let blocks = Aggregator::start(&blocks_dir, blocks_port, &blocks_args);
    let on_disk = metric(&blocks.url, "lookout_tsdb_blocks ");
    assert!(on_disk >= 1.0, "blocks after the restart: {on_disk}");

    let mut problems = Vec::new();
    compare_all(&prom, &agg.url, "head", t0, &mut problems);
    compare_all(&prom, &blocks.url, "blocks", t0, &mut problems);
    assert!(problems.is_empty(), "{} differences from Prometheus:\n{}", problems.len(), problems.join("\n"));
}

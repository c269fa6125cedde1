//! The demo workload of `lookout up`: a handful of services writing realistic JSON logs to
//! files, rotated by rename-and-create like logrotate does, so a newcomer sees real data
//! flowing through the real agent → aggregator path within seconds.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rand::Rng;
use rand::seq::IndexedRandom;
use serde_json::{Value, json};
use tokio::sync::watch;
use tracing::{debug, warn};

/// Services and the routes they log.
const SERVICES: &[(&str, &[&str])] = &[
    ("checkout", &["/api/cart", "/api/checkout", "/api/payment"]),
    ("search", &["/api/search", "/api/suggest"]),
    ("auth", &["/api/login", "/api/token/refresh", "/api/logout"]),
    ("gateway", &["/", "/static/app.js", "/api/health"]),
];
const HOSTS: &[&str] = &["web-1", "web-2", "web-3"];
const ROTATE_BYTES: u64 = 2 << 20;

/// Writes demo logs under `dir` until `stop` becomes true; `lines_per_sec` across all services.
pub async fn run(dir: PathBuf, lines_per_sec: u32, mut stop: watch::Receiver<bool>) {
    if let Err(e) = fs::create_dir_all(&dir) {
        warn!(dir = %dir.display(), error = %e, "cannot create demo log directory; demo workload off");
        return;
    }
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let per_tick = (lines_per_sec / 10).max(1);
    let mut seq: u64 = 0;
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tick.tick() => {
                for _ in 0..per_tick {
                    seq += 1;
                    let (service, line) = line(seq);
                    let path = dir.join(format!("{service}.log"));
                    if let Err(e) = append(&path, &line) {
                        debug!(error = %e, "demo write failed");
                    }
                }
            }
        }
    }
}

fn append(path: &Path, line: &str) -> std::io::Result<()> {
    if fs::metadata(path).map(|m| m.len() >= ROTATE_BYTES).unwrap_or(false) {
        // logrotate's default: rename to .1 (dropping the older one) and create a new file.
        let rotated = path.with_extension("log.1");
        let _ = fs::remove_file(&rotated);
        fs::rename(path, &rotated)?;
        File::create(path)?;
    }
    let mut f = OpenOptions::new().create(true).append(true).open(path)?;
    f.write_all(line.as_bytes())?;
    f.write_all(b"\n")
}

fn line(seq: u64) -> (&'static str, String) {
    let mut rng = rand::rng();
    let (service, routes) = *SERVICES.choose(&mut rng).expect("services");
    let route = *routes.choose(&mut rng).expect("routes");
    let host = *HOSTS.choose(&mut rng).expect("hosts");
    let roll: f64 = rng.random();
    let latency = (rng.random::<f64>().powi(3) * 1500.0 + 3.0).round();
    let trace_id = format!("{:032x}", rng.random::<u128>());
    let now = time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
    let method = if route.contains("login") || route.contains("payment") || route.contains("checkout") { "POST" } else { "GET" };
    let mut v: Value = if roll < 0.03 {
        json!({
            "level": "error", "message": format!("unhandled exception while serving {route}"),
            "http": {"method": method, "path": route, "status": 500},
            "error": {"type": "java.lang.IllegalStateException", "message": "connection pool exhausted",
                "stack": format!("java.lang.IllegalStateException: connection pool exhausted\n\tat com.shop.{service}.db.Pool.acquire(Pool.java:88)\n\tat com.shop.{service}.Handler.handle(Handler.java:41)\n\tat io.netty.channel.AbstractChannelHandlerContext.invokeChannelRead(AbstractChannelHandlerContext.java:379)")},
        })
    } else if roll < 0.08 {
        json!({"level": "warn", "message": format!("slow request {method} {route}"), "http": {"method": method, "path": route, "status": 200}, "slow": true})
    } else if roll < 0.10 && service == "checkout" {
        json!({"level": "error", "message": format!("payment declined for order A-{}", seq % 1000), "order_id": format!("A-{}", seq % 1000),
               "http": {"method": "POST", "path": "/api/payment", "status": 402}, "reason": "card_declined"})
    } else if roll < 0.25 {
        json!({"level": "debug", "message": format!("cache {} for {route}", if rng.random_bool(0.8) { "hit" } else { "miss" }), "cache": {"hit_ratio": (rng.random::<f64>() * 100.0).round() / 100.0}})
    } else {
        let status = if rng.random_bool(0.97) { 200 } else { 404 };
        json!({"level": "info", "message": format!("{method} {route} {status}"), "http": {"method": method, "path": route, "status": status}, "user_id": format!("u-{}", rng.random_range(1..500))})
    };
    let obj = v.as_object_mut().expect("object");
    obj.insert("timestamp".into(), json!(now));
    obj.insert("service".into(), json!(service));
    obj.insert("host".into(), json!(host));
    obj.insert("latency_ms".into(), json!(latency as i64));
    obj.insert("trace_id".into(), json!(trace_id));
    obj.insert("seq".into(), json!(seq));
    (service, v.to_string())
}

/// One series and its samples, as `Tsdb::write` takes them.
type Series = (crate::tsdb::Labels, Vec<(i64, f64)>);

/// Seconds between two rounds of demo metrics.
pub const METRICS_INTERVAL_SECS: u64 = 5;

/// node_exporter-like counters and gauges of the demo hosts, advanced a round at a time.
struct HostMetrics {
    cpu: Vec<[f64; 4]>,
    rx: Vec<f64>,
    tx: Vec<f64>,
    used_disk: Vec<f64>,
}

const CPU_MODES: [&str; 4] = ["idle", "user", "system", "iowait"];
const CPUS: usize = 2;
const MEM_TOTAL: f64 = 8.0 * 1024.0 * 1024.0 * 1024.0;
const DISK_SIZE: f64 = 50.0 * 1e9;

fn series(name: &str, labels: &[(&str, &str)]) -> crate::tsdb::Labels {
    let mut pairs = vec![("__name__".to_string(), name.to_string())];
    pairs.extend(labels.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    crate::tsdb::Labels::new(pairs)
}

impl HostMetrics {
    fn new() -> HostMetrics {
        HostMetrics {
            // Counters start where a host up for a few days would have them, as real ones do.
            cpu: (0..HOSTS.len() * CPUS).map(|i| [7.5e5 + i as f64 * 1e4, 2.1e5, 6.3e4, 9.8e3]).collect(),
            rx: (0..HOSTS.len()).map(|i| 3.2e11 + i as f64 * 4e10).collect(),
            tx: (0..HOSTS.len()).map(|i| 1.1e11 + i as f64 * 2e10).collect(),
            used_disk: (0..HOSTS.len()).map(|i| DISK_SIZE * (0.35 + 0.1 * i as f64)).collect(),
        }
    }

    /// Advances by `dt` seconds to `t` (Unix seconds) and returns one sample per series at `t`.
    fn round(&mut self, t: f64, dt: f64) -> Vec<(crate::tsdb::Labels, f64)> {
        let mut rng = rand::rng();
        let mut out = Vec::new();
        for (h, host) in HOSTS.iter().enumerate() {
            let instance = format!("{host}:9100");
            let base = [("instance", instance.as_str()), ("job", "node")];
            let wave = ((t / 600.0) + h as f64 * 2.1).sin();
            let busy = (0.25 + 0.18 * wave + rng.random_range(-0.05..0.05)).clamp(0.02, 0.98);
            for c in 0..CPUS {
                let cpu = &mut self.cpu[h * CPUS + c];
                let shares = [1.0 - busy, busy * 0.7, busy * 0.25, busy * 0.05];
                let cpu_label = c.to_string();
                for (m, mode) in CPU_MODES.iter().enumerate() {
                    cpu[m] += shares[m] * dt;
                    out.push((series("node_cpu_seconds_total", &[base[0], base[1], ("cpu", &cpu_label), ("mode", mode)]), cpu[m]));
                }
            }
            let available = MEM_TOTAL * (0.5 - 0.2 * wave + rng.random_range(-0.02..0.02));
            out.push((series("node_memory_MemAvailable_bytes", &base), available.round()));
            out.push((series("node_memory_MemTotal_bytes", &base), MEM_TOTAL));
            out.push((series("node_load1", &base), (busy * CPUS as f64 * 1.3 + rng.random_range(0.0..0.2)).max(0.0)));
            self.used_disk[h] = (self.used_disk[h] + rng.random_range(0.0..2e5) * dt).min(DISK_SIZE * 0.97);
            for (mount, share) in [("/", 1.0), ("/var", 0.6)] {
                let fs = [
                    base[0],
                    base[1],
                    ("device", if mount == "/" { "/dev/sda1" } else { "/dev/sdb1" }),
                    ("fstype", "ext4"),
                    ("mountpoint", mount),
                ];
                out.push((series("node_filesystem_avail_bytes", &fs), ((DISK_SIZE - self.used_disk[h]) * share).round()));
                out.push((series("node_filesystem_size_bytes", &fs), DISK_SIZE));
            }
            self.rx[h] += (4e5 + 3e5 * wave + rng.random_range(0.0..1e5)).max(0.0) * dt;
            self.tx[h] += (1.5e5 + 1e5 * wave + rng.random_range(0.0..5e4)).max(0.0) * dt;
            let dev = [base[0], base[1], ("device", "eth0")];
            out.push((series("node_network_receive_bytes_total", &dev), self.rx[h].round()));
            out.push((series("node_network_transmit_bytes_total", &dev), self.tx[h].round()));
        }
        out
    }
}

/// Feeds the metrics store of `lookout up` until `stop`: every few seconds, synthetic
/// node_exporter series for the demo hosts (so the Host overview dashboard has data without a
/// real exporter), written through the same durable path as remote_write (Lookout's own
/// `/metrics` is stored by [`crate::self_monitor`], in `up` as in `serve`). On a store that has no series yet, the last 30 minutes of the
/// host series are written first so that graphs are not empty on first start.
pub async fn metrics(state: crate::http::AppState, mut stop: watch::Receiver<bool>) {
    let mut hosts = HostMetrics::new();
    let now = || time::OffsetDateTime::now_utc().unix_timestamp_nanos() as f64 / 1e9;
    // Time of the last round written; the counters advance by the time since then.
    let mut last = now();
    let empty = {
        let db = state.metrics.tsdb.reader();
        db.head.num_series() == 0 && db.blocks.is_empty()
    };
    if empty {
        // Written oldest first, a few minutes per request: the store refuses samples further
        // behind its newest one than the out-of-order window.
        let end = now();
        let step = 15.0;
        let mut t = end - 1800.0;
        while t < end {
            let mut by_series: std::collections::BTreeMap<Vec<(String, String)>, Series> = Default::default();
            for _ in 0..10 {
                if t >= end {
                    break;
                }
                for (labels, v) in hosts.round(t, step) {
                    by_series.entry(labels.to_vec()).or_insert_with(|| (labels.clone(), Vec::new())).1.push(((t * 1000.0) as i64, v));
                }
                last = t;
                t += step;
            }
            if let Err(e) = state.metrics.tsdb.write(by_series.into_values().collect()).await {
                warn!(error = %e, "demo metrics backfill failed");
                break;
            }
        }
    }
    let mut tick = tokio::time::interval(Duration::from_secs(METRICS_INTERVAL_SECS));
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tick.tick() => {
                let t = now();
                let ts = (t * 1000.0) as i64;
                let batch: Vec<Series> =
                    hosts.round(t, (t - last).max(0.001)).into_iter().map(|(l, v)| (l, vec![(ts, v)])).collect();
                last = t;
                if let Err(e) = state.metrics.tsdb.write(batch).await {
                    debug!(error = %e, "demo metrics write failed");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_json_with_the_fields_the_ui_shows() {
        for seq in 0..200 {
            let (service, l) = line(seq);
            let v: Value = serde_json::from_str(&l).unwrap();
            assert_eq!(v["service"], service);
            for k in ["timestamp", "level", "message", "host", "latency_ms"] {
                assert!(v.get(k).is_some(), "{k} missing in {l}");
            }
        }
    }

    #[test]
    fn host_counters_only_grow() {
        let mut h = HostMetrics::new();
        let first = h.round(1000.0, 5.0);
        let second = h.round(1005.0, 5.0);
        assert_eq!(first.len(), second.len());
        for ((l1, v1), (l2, v2)) in first.iter().zip(&second) {
            assert_eq!(l1.to_vec(), l2.to_vec());
            if l1.get("__name__").is_some_and(|n| n.ends_with("_total")) {
                assert!(v2 >= v1, "{l1:?}: {v1} then {v2}");
            }
        }
        let names: std::collections::BTreeSet<_> = first.iter().filter_map(|(l, _)| l.get("__name__").map(str::to_string)).collect();
        for n in [
            "node_cpu_seconds_total",
            "node_memory_MemAvailable_bytes",
            "node_load1",
            "node_filesystem_avail_bytes",
            "node_network_receive_bytes_total",
        ] {
            assert!(names.contains(n), "{n} missing");
        }
    }

    #[test]
    fn rotates_by_rename_and_create() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("svc.log");
        let big = "x".repeat(1024);
        for _ in 0..(ROTATE_BYTES / 1024 + 2) {
            append(&path, &big).unwrap();
        }
        assert!(dir.path().join("svc.log.1").exists());
        assert!(fs::metadata(&path).unwrap().len() < ROTATE_BYTES);
    }
}

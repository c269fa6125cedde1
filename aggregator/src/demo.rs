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

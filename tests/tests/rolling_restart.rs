//! Rolling restart without loss: while an agent tails a growing file and a client pushes
//! remote_write samples, the aggregator is restarted with SIGTERM several times (as systemd,
//! Kubernetes or compose would). The agent buffers and retries while it is down, the aggregator
//! drains and exits 0, and comes back ready only after its WAL is replayed. Afterwards every line
//! is searchable exactly once and every sample is queryable exactly once.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tests::remote_write::{self, Series};
use tests::{
    Aggregator, all_hits, append_lines, assert_exactly_once_in_order, free_port, start_agent, test_line, wait_count, write_agent_config,
};

/// Upper bounds on the load (it stops earlier, once the restarts are over).
const MAX_LINES: u64 = 100_000;
const MAX_SAMPLES: i64 = 30_000;
const RESTARTS: usize = 3;

/// Pushes samples of one series (100 per second of data) in batches of 50 until `stop`, each batch
/// retried until it is acknowledged (2xx) — what a remote_write client does across an outage.
/// Returns how many it pushed.
fn push_samples(base: String, start_ms: i64, stop: Arc<AtomicBool>) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut i = 0;
    while i < MAX_SAMPLES && !stop.load(Ordering::Acquire) {
        let batch: Vec<(i64, f64)> = (i..(i + 50).min(MAX_SAMPLES)).map(|k| (start_ms + k * 10, k as f64)).collect();
        let series: Vec<Series> = vec![(remote_write::labels(&[("__name__", "rolling_restart_samples"), ("job", "test")]), batch)];
        loop {
            assert!(Instant::now() < deadline, "remote_write batch at {i} never acknowledged");
            let sent = tests::client()
                .post(format!("{base}/api/v1/write"))
                .header("Content-Type", "application/x-protobuf")
                .header("Content-Encoding", "snappy")
                .body(remote_write::body(&series))
                .send();
            match sent {
                Ok(r) if r.status().is_success() => break,
                _ => std::thread::sleep(Duration::from_millis(50)),
            }
        }
        i += 50;
        std::thread::sleep(Duration::from_millis(20));
    }
    i
}

/// Appends lines in chunks of 100 until `stop`; returns how many it wrote.
fn write_lines(app: &Path, stop: Arc<AtomicBool>) -> u64 {
    let mut seq = 0;
    while seq < MAX_LINES && !stop.load(Ordering::Acquire) {
        let chunk: Vec<String> = (seq..(seq + 100).min(MAX_LINES)).map(|s| test_line("app", 0, s)).collect();
        append_lines(app, &chunk);
        seq += chunk.len() as u64;
        std::thread::sleep(Duration::from_millis(50));
    }
    seq
}

#[test]
fn aggregator_restarts_under_load_lose_and_repeat_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let data = dir.path().join("lookout-data");
    let port = free_port();
    let mut agg = Aggregator::start(&data, port, &[]);
    let config = write_agent_config(dir.path(), &[logs.join("*.log").display().to_string()], "", &agg.url, free_port());
    let _agent = start_agent(dir.path(), &config, 1);

    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64;
    // Sample timestamps run from 5 minutes ago, 10 ms apart: inside the metrics store's
    // out-of-order window (10 minutes, anchored by the aggregator's own self-monitoring samples
    // at "now") and inside the 1h range queried at the end.
    let start_ms = now_ms - 5 * 60_000;
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (app, s) = (logs.join("app.log"), stop.clone());
        std::thread::spawn(move || write_lines(&app, s))
    };
    let pusher = {
        let (url, s) = (agg.url.clone(), stop.clone());
        std::thread::spawn(move || push_samples(url, start_ms, s))
    };

    for r in 0..RESTARTS {
        // Let some data flow, then restart in the middle of it.
        std::thread::sleep(Duration::from_millis(600));
        let status = agg.proc.stop_with(libc::SIGTERM, Duration::from_secs(30));
        assert!(status.success(), "restart {r}: aggregator exited with {status} on SIGTERM");
        std::thread::sleep(Duration::from_millis(300));
        agg = Aggregator::start(&data, port, &[]);
    }
    // Keep loading a little after the last restart, then stop; the load ran across every restart.
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Release);
    let lines = writer.join().unwrap();
    let samples = pusher.join().unwrap();
    assert!(lines < MAX_LINES && samples < MAX_SAMPLES, "the load ended before the restarts did; the test proved nothing");
    assert!(lines >= 1000 && samples >= 500, "too little load to mean anything: {lines} lines, {samples} samples");

    let n = wait_count(&agg, "file:app", lines, Duration::from_secs(90));
    assert_eq!(n, lines, "lines searchable after {RESTARTS} restarts");
    assert_exactly_once_in_order(&all_hits(&agg, "file:app", lines), &[("app", lines)]);

    let at = ((start_ms + samples * 10) / 1000 + 1).to_string();
    let (status, body) =
        tests::prom_api(&agg.url, "/api/v1/query", &[("query", "count_over_time(rolling_restart_samples[1h])"), ("time", &at)]);
    assert_eq!(status, 200, "{body}");
    let v = &body["data"]["result"][0]["value"][1];
    assert_eq!(v.as_str(), Some(samples.to_string().as_str()), "samples after {RESTARTS} restarts: {body}");
    let (_, body) = tests::prom_api(&agg.url, "/api/v1/query", &[("query", "sum_over_time(rolling_restart_samples[1h])"), ("time", &at)]);
    let expected_sum = (samples * (samples - 1) / 2).to_string();
    assert_eq!(body["data"]["result"][0]["value"][1].as_str(), Some(expected_sum.as_str()), "every sample once: {body}");
}

//! `lookout backup` while ingest continues, then `lookout restore` into a new directory: the
//! restored aggregator answers searches and PromQL queries exactly as the original did for
//! everything acknowledged before the backup started, and holds nothing twice.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tests::remote_write::{self, Series};
use tests::{Aggregator, all_hits, bin, client, free_port, prom_api, test_line};

const BATCH: u64 = 200;
const MAX_BATCHES: u64 = 2000;

/// Posts NDJSON batches of `BATCH` test lines (and one remote_write sample per line) until
/// `stop`; `acked` counts lines whose batch was acknowledged (all of a batch's samples too).
fn ingest(url: String, start_ms: i64, stop: Arc<AtomicBool>, acked: Arc<AtomicU64>) {
    let c = client();
    for b in 0..MAX_BATCHES {
        if stop.load(Ordering::Acquire) {
            return;
        }
        let seqs = b * BATCH..(b + 1) * BATCH;
        let body: String = seqs.clone().map(|s| test_line("bk", 0, s) + "\n").collect();
        let r = c.post(format!("{url}/api/v1/logs/ingest")).header("Content-Type", "application/x-ndjson").body(body).send().unwrap();
        assert!(r.status().is_success(), "ingest: {}", r.status());
        let samples: Vec<(i64, f64)> = seqs.map(|s| (start_ms + s as i64 * 10, s as f64)).collect();
        let series: Vec<Series> = vec![(remote_write::labels(&[("__name__", "backup_samples"), ("job", "test")]), samples)];
        let (status, text) = remote_write::post(&url, remote_write::body(&series));
        assert!((200..300).contains(&status), "remote_write: {status} {text}");
        acked.store((b + 1) * BATCH, Ordering::Release);
    }
}

/// `count_over_time(backup_samples[2h])` at `at_ms`: the samples of lines with `seq` up to there.
fn sample_count(url: &str, at_ms: i64) -> String {
    let at = format!("{}.{:03}", at_ms / 1000, at_ms % 1000);
    let (status, body) = prom_api(url, "/api/v1/query", &[("query", "count_over_time(backup_samples[2h])"), ("time", &at)]);
    assert_eq!(status, 200, "{body}");
    body["data"]["result"][0]["value"][1].as_str().unwrap_or("none").to_string()
}

#[test]
fn backup_under_load_restores_everything_acknowledged_before_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let agg = Aggregator::start(&data, free_port(), &[]);
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64;
    // Inside the metrics store's out-of-order window (10 minutes), which the aggregator's own
    // self-monitoring samples (at "now") anchor.
    let start_ms = now_ms - 5 * 60_000;

    let (stop, acked) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)));
    let loader = {
        let (u, s, a) = (agg.url.clone(), stop.clone(), acked.clone());
        std::thread::spawn(move || ingest(u, start_ms, s, a))
    };
    // Some data first, so the backup has WAL, partitions and samples to copy.
    tests::wait_for("first acknowledged batches", Duration::from_secs(60), || (acked.load(Ordering::Acquire) >= 10 * BATCH).then_some(()));

    let before = acked.load(Ordering::Acquire);
    let dest = dir.path().join("backup");
    let out = Command::new(bin("lookout")).arg("backup").arg(&dest).arg("--data-dir").arg(&data).output().unwrap();
    let after = acked.load(Ordering::Acquire);
    assert!(out.status.success(), "backup failed: {}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("backed up"), "{}", String::from_utf8_lossy(&out.stdout));
    stop.store(true, Ordering::Release);
    loader.join().unwrap();
    eprintln!("acknowledged lines: {before} when the backup started, {after} when it ended");
    assert!(after < MAX_BATCHES * BATCH, "ingest must still be running when the backup ends");

    // Restore builds a new directory, and refuses to overwrite one.
    let restored = dir.path().join("restored");
    let out = Command::new(bin("lookout")).arg("restore").arg(&dest).arg("--data-dir").arg(&restored).output().unwrap();
    assert!(out.status.success(), "restore failed: {}", String::from_utf8_lossy(&out.stderr));
    let out = Command::new(bin("lookout")).arg("restore").arg(&dest).arg("--data-dir").arg(&restored).output().unwrap();
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("not empty"));

    let copy = Aggregator::start(&restored, free_port(), &[]);
    // Every line acknowledged before the backup began, exactly once; lines acknowledged during the
    // backup may or may not be there, but never twice.
    tests::wait_for("restored lines searchable", Duration::from_secs(60), || {
        (copy.count(&format!("file:bk AND seq:<{before}")) == before).then_some(())
    });
    let hits = all_hits(&copy, "file:bk", after);
    let mut seqs: Vec<u64> = hits.iter().filter_map(|h| h["fields"]["seq"].as_u64()).collect();
    seqs.sort_unstable();
    let n = seqs.len();
    seqs.dedup();
    assert_eq!(seqs.len(), n, "duplicates in the restored store");
    assert!((0..before).all(|s| seqs.binary_search(&s).is_ok()), "a line acknowledged before the backup is missing");
    assert!(seqs.iter().all(|&s| s < after), "a line acknowledged after the backup is in it");

    // Same answers as the original for the part both must hold.
    let q = format!("file:bk AND seq:<{before} AND level:error");
    let strip =
        |v: serde_json::Value| v["hits"].as_array().unwrap().iter().map(|h| (h["id"].clone(), h["message"].clone())).collect::<Vec<_>>();
    assert_eq!(strip(copy.search(&q, 10_000)), strip(agg.search(&q, 10_000)));

    // Sample of line `s` is at start_ms + 10·s ms: up to `before - 1`, and everything.
    let below_ms = start_ms + before as i64 * 10 - 1;
    assert_eq!(sample_count(&agg.url, below_ms), before.to_string(), "original store");
    assert_eq!(sample_count(&copy.url, below_ms), before.to_string(), "restored store: samples acknowledged before the backup");
    let all: u64 = sample_count(&copy.url, start_ms + after as i64 * 10 + 1000).parse().unwrap();
    assert!(all >= before && all <= after, "restored samples {all} outside [{before}, {after}]");
}

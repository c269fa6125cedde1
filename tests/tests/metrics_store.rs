//! The metrics store on disk, end to end: blocks are cut, compacted and the WAL truncated while
//! remote_write traffic arrives, and a SIGKILL at any moment loses no acknowledged sample and
//! stores none twice (counted through `/api/v1/query`).

use std::path::Path;
use std::time::{Duration, Instant};

use tests::remote_write::{body, labels};
use tests::{Aggregator, client, free_port, metric, prom_api};

const SERIES: usize = 20;
/// Synthetic scrape time of request `i`: one second apart, so blocks of 20 s are cut every 20
/// requests.
const T0: i64 = 1_700_000_000_000;

fn request(i: i64) -> Vec<u8> {
    let series: Vec<_> =
        (0..SERIES).map(|s| (labels(&[("__name__", "crash_test"), ("series", &s.to_string())]), vec![(T0 + i * 1000, i as f64)])).collect();
    body(&series)
}

fn start(dir: &Path, port: u16) -> Aggregator {
    let config = dir.join("lookout.toml");
    std::fs::write(&config, "[metrics]\nblock_range_secs = 20\nout_of_order_window_secs = 0\nretention_secs = 0\n").unwrap();
    Aggregator::start(&dir.join("data"), port, &["--config", config.to_str().unwrap()])
}

fn scalar(url: &str, q: &str, t: i64) -> f64 {
    let (status, v) = prom_api(url, "/api/v1/query", &[("query", q), ("time", &(t / 1000).to_string())]);
    assert_eq!(status, 200, "{q}: {v}");
    let r = &v["data"]["result"];
    if r.as_array().is_some_and(|a| a.is_empty()) {
        return 0.0;
    }
    r[0]["value"][1].as_str().unwrap().parse().unwrap()
}

fn send(url: &str, i: i64) -> bool {
    let r = client()
        .post(format!("{url}/api/v1/write"))
        .header("Content-Type", "application/x-protobuf")
        .header("Content-Encoding", "snappy")
        .body(request(i))
        .timeout(Duration::from_secs(10))
        .send();
    matches!(r, Ok(r) if r.status().as_u16() == 204)
}

#[test]
fn sigkill_during_ingest_and_block_cuts_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    // Request indexes acknowledged (each acknowledged exactly once: an unanswered request is
    // re-sent after the restart, as a remote_write client does).
    let mut next = 0i64;
    let rounds = [700u64, 1300, 450, 1700, 900];
    for (round, ms) in rounds.iter().enumerate() {
        let agg = start(dir.path(), port);
        let deadline = Instant::now() + Duration::from_millis(*ms + 400 * round as u64);
        while Instant::now() < deadline {
            if send(&agg.url, next) {
                next += 1;
            }
        }
        // Kill while requests are in flight: a thread keeps sending the next request.
        let url = agg.url.clone();
        let pending = next;
        let inflight = std::thread::spawn(move || send(&url, pending));
        std::thread::sleep(Duration::from_millis(3));
        agg.proc.kill9();
        if inflight.join().unwrap() {
            next += 1;
        }
    }
    assert!(next > 60, "too few requests acknowledged to cover several blocks: {next}");
    let agg = start(dir.path(), port);
    // Finish with a request after the last one so the head is not empty.
    let end = T0 + next * 1000;
    let q = format!("sum(count_over_time(crash_test[{}s]))", next + 10);
    let count = scalar(&agg.url, &q, end);
    assert_eq!(count as i64, next * SERIES as i64, "every acknowledged sample once (requests 0..{next})");
    let q = format!("sum(sum_over_time(crash_test[{}s]))", next + 10);
    let sum = scalar(&agg.url, &q, end);
    assert_eq!(sum as i64, (next - 1) * next / 2 * SERIES as i64, "values intact");
    // Blocks were cut and the WAL truncated: it is smaller than all samples raw (16 B each).
    let blocks = std::fs::read_dir(dir.path().join("data/metrics/blocks"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "lkb"))
        .count();
    assert!(blocks >= 1, "no block on disk");
    assert!(metric(&agg.url, "lookout_tsdb_blocks ") >= 1.0);
    let wal: u64 = std::fs::read_dir(dir.path().join("data/metrics/wal")).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum();
    assert!(wal < (next as u64) * SERIES as u64 * 16, "WAL not truncated: {wal} bytes for {next} requests");
    // Samples older than the head are refused now, and counted.
    assert!(send(&agg.url, 0));
    assert!(metric(&agg.url, "lookout_tsdb_rejected_samples_total{reason=\"too_old\"}") >= SERIES as f64);
    assert_eq!(scalar(&agg.url, &format!("sum(count_over_time(crash_test[{}s]))", next + 10), end) as i64, next * SERIES as i64);
}

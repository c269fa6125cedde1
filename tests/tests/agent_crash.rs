//! Crashes and outages with real processes: the agent SIGKILLed again and again while lines are
//! written across rotations, and the aggregator stopped and restarted while lines keep coming.
//! Every line must arrive exactly once, in order per file.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tests::{
    Aggregator, all_hits, append_lines, assert_exactly_once_in_order, free_port, start_agent, test_line, wait_count, wait_for,
    write_agent_config,
};

/// Writes `total` lines of logical file `file` at a steady pace, renaming the file away every
/// `per_part` lines (rename-and-create rotation). Returns the writer and its progress counter.
fn writer(logs: &Path, file: &'static str, total: u64, per_part: u64, per_ms: u64) -> (std::thread::JoinHandle<()>, Arc<AtomicU64>) {
    let app = logs.join(format!("{file}.log"));
    let logs = logs.to_path_buf();
    let written = Arc::new(AtomicU64::new(0));
    let w = written.clone();
    let h = std::thread::spawn(move || {
        let mut seq = 0;
        let start = Instant::now();
        while seq < total {
            let part = seq / per_part;
            let end = (seq + 100).min(total).min((part + 1) * per_part);
            append_lines(&app, &(seq..end).map(|i| test_line(file, part, i)).collect::<Vec<_>>());
            seq = end;
            w.store(seq, Ordering::Release);
            if seq.is_multiple_of(per_part) && seq < total {
                std::fs::rename(&app, logs.join(format!("{file}.log.{part}"))).unwrap();
            }
            // pace: about `per_ms` lines per millisecond
            let due = Duration::from_millis(seq / per_ms.max(1));
            if let Some(wait) = due.checked_sub(start.elapsed()) {
                std::thread::sleep(wait);
            }
        }
    });
    (h, written)
}

#[test]
fn agent_sigkilled_ten_times_across_rotations_loses_and_repeats_nothing() {
    const TOTAL: u64 = 100_000;
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let agg = Aggregator::start(&dir.path().join("lookout-data"), free_port(), &[]);
    let config = write_agent_config(dir.path(), &[logs.join("*.log").display().to_string()], "", &agg.url, free_port());
    let mut agent = start_agent(dir.path(), &config, 0);
    // ~10 s of writing at 10 lines/ms, rotating every 10,000 lines
    let (w, written) = writer(&logs, "killed", TOTAL, 10_000, 10);
    for kill in 1..=10u64 {
        // kill at spread-out points of the stream: after the writer passed kill/11 of it
        let at = TOTAL * kill / 11;
        wait_for("the writer to progress", Duration::from_secs(120), || (written.load(Ordering::Acquire) >= at).then_some(()));
        agent.kill9();
        agent = start_agent(dir.path(), &config, kill as usize);
    }
    w.join().unwrap();
    let got = wait_count(&agg, "file:killed", TOTAL, Duration::from_secs(120));
    let hits = all_hits(&agg, "file:killed", TOTAL);
    if got != TOTAL && std::env::var_os("KEEP_TEST_DIR").is_some() {
        eprintln!("kept {}", dir.keep().display());
    }
    assert_exactly_once_in_order(&hits, &[("killed", TOTAL)]);
    assert_eq!(got, TOTAL, "lines counted by the search API");
    drop(agent);
}

#[test]
fn aggregator_stopped_and_restarted_while_lines_keep_coming_gets_them_all() {
    const TOTAL: u64 = 30_000;
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let data = dir.path().join("lookout-data");
    let port = free_port();
    let agg = Aggregator::start(&data, port, &[]);
    let config = write_agent_config(dir.path(), &[logs.join("*.log").display().to_string()], "", &agg.url, free_port());
    let _agent = start_agent(dir.path(), &config, 0);
    let (w, written) = writer(&logs, "outage", TOTAL, 10_000, 5);
    wait_for("the writer to progress", Duration::from_secs(60), || (written.load(Ordering::Acquire) >= TOTAL / 5).then_some(()));
    let status = agg.proc.stop_with(libc::SIGTERM, Duration::from_secs(30));
    assert!(status.success(), "{status:?}");
    // down while a good part of the stream (and a rotation) is written
    wait_for("the writer to progress during the outage", Duration::from_secs(60), || {
        (written.load(Ordering::Acquire) >= TOTAL * 3 / 5).then_some(())
    });
    let agg = Aggregator::start(&data, port, &[]);
    w.join().unwrap();
    if std::env::var_os("KEEP_TEST_DIR").is_some() {
        eprintln!("keeping {}", dir.path().display());
        std::mem::forget(dir);
    }
    let got = wait_count(&agg, "file:outage", TOTAL, Duration::from_secs(120));
    assert_eq!(got, TOTAL, "lines counted by the search API");
    let hits = all_hits(&agg, "file:outage", TOTAL);
    assert_exactly_once_in_order(&hits, &[("outage", TOTAL)]);
}

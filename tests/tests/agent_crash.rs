//! Crashes and outages with real processes: the agent SIGKILLed again and again while lines are
//! written across rotations, and the aggregator stopped and restarted while lines keep coming.
//! Every line must arrive exactly once, in order per file.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tests::{
    Aggregator, all_hits, all_line_keys, append_lines, assert_exactly_once_in_order, free_port, start_agent, test_line, wait_count,
    wait_for, write_agent_config,
};

/// Writes `total` lines of logical file `file` at a steady pace, renaming the file away every
/// `per_part` lines (rename-and-create rotation), about `per_sec` lines a second. Returns the
/// writer and its progress counter.
fn writer(logs: &Path, file: &'static str, total: u64, per_part: u64, per_sec: u64) -> (std::thread::JoinHandle<()>, Arc<AtomicU64>) {
    let app = logs.join(format!("{file}.log"));
    let logs = logs.to_path_buf();
    let written = Arc::new(AtomicU64::new(0));
    let w = written.clone();
    let h = std::thread::spawn(move || {
        let mut seq = 0;
        let start = Instant::now();
        while seq < total {
            let part = seq / per_part;
            let end = (seq + (per_sec / 100).clamp(1, 100)).min(total).min((part + 1) * per_part);
            append_lines(&app, &(seq..end).map(|i| test_line(file, part, i)).collect::<Vec<_>>());
            seq = end;
            w.store(seq, Ordering::Release);
            if seq.is_multiple_of(per_part) && seq < total {
                std::fs::rename(&app, logs.join(format!("{file}.log.{part}"))).unwrap();
            }
            let due = Duration::from_millis(seq * 1000 / per_sec.max(1));
            if let Some(wait) = due.checked_sub(start.elapsed()) {
                std::thread::sleep(wait);
            }
        }
    });
    (h, written)
}

/// The scale: a million lines written across ten rename-and-create rotations while the
/// agent is SIGKILLed ten times at spread-out points; every line arrives exactly once, in order
/// per file part.
#[test]
fn agent_sigkilled_ten_times_while_a_million_lines_are_written_across_rotations_loses_and_repeats_nothing() {
    const TOTAL: u64 = 1_000_000;
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let agg = Aggregator::start(&dir.path().join("lookout-data"), free_port(), &[]);
    let config = write_agent_config(dir.path(), &[logs.join("*.log").display().to_string()], "", &agg.url, free_port());
    let mut agent = start_agent(dir.path(), &config, 0);
    // ~100 s of writing at 10,000 lines/s, rotating every 100,000 lines
    let (w, written) = writer(&logs, "killed", TOTAL, 100_000, 10_000);
    for kill in 1..=10u64 {
        // kill at spread-out points of the stream: after the writer passed kill/11 of it
        let at = TOTAL * kill / 11;
        wait_for("the writer to progress", Duration::from_secs(300), || (written.load(Ordering::Acquire) >= at).then_some(()));
        agent.kill9();
        agent = start_agent(dir.path(), &config, kill as usize);
    }
    w.join().unwrap();
    let got = wait_count(&agg, "file:killed", TOTAL, Duration::from_secs(600));
    let hits = all_line_keys(&agg, "file:killed", TOTAL);
    if got != TOTAL && std::env::var_os("KEEP_TEST_DIR").is_some() {
        eprintln!("kept {}", dir.keep().display());
    }
    assert_exactly_once_in_order(&hits, &[("killed", TOTAL)]);
    assert_eq!(got, TOTAL, "lines counted by the search API");
    drop(agent);
}

/// The aggregator is down for a whole minute while two agents keep reading files that keep
/// growing and rotating: one with the default memory buffer (it stops reading when the buffer
/// is full; the files are the backlog), one with a disk buffer (it keeps reading into the
/// buffer). After the restart every line of both arrives exactly once, in order.
#[test]
fn aggregator_down_for_a_minute_while_lines_keep_coming_gets_them_all_with_either_buffer() {
    const TOTAL: u64 = 40_000;
    const PER_SEC: u64 = 500; // 80 s of writing
    const OUTAGE: Duration = Duration::from_secs(60);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("lookout-data");
    let port = free_port();
    let agg = Aggregator::start(&data, port, &[]);
    let mut agents = Vec::new();
    let mut writers = Vec::new();
    for (name, buffer) in [("outagememory", ""), ("outagedisk", "[sinks.central.buffer]\ntype = \"disk\"\nmax_bytes = 268435456\n")] {
        let home = dir.path().join(name);
        let logs = home.join("logs");
        std::fs::create_dir_all(&logs).unwrap();
        let config = write_agent_config(&home, &[logs.join("*.log").display().to_string()], "", &agg.url, free_port());
        let mut text = std::fs::read_to_string(&config).unwrap();
        text.push_str(buffer);
        std::fs::write(&config, text).unwrap();
        agents.push(start_agent(&home, &config, 0));
        writers.push(writer(&logs, name, TOTAL, 10_000, PER_SEC));
    }
    let progress = |w: &[(std::thread::JoinHandle<()>, Arc<AtomicU64>)]| w.iter().map(|(_, n)| n.load(Ordering::Acquire)).min().unwrap();
    wait_for("the writers to progress", Duration::from_secs(60), || (progress(&writers) >= TOTAL / 8).then_some(()));
    let status = agg.proc.stop_with(libc::SIGTERM, Duration::from_secs(30));
    assert!(status.success(), "{status:?}");
    let down = Instant::now();
    let before = progress(&writers);
    std::thread::sleep(OUTAGE);
    let during = progress(&writers) - before;
    let agg = Aggregator::start(&data, port, &[]);
    // The outage really was a minute of new lines (and a rotation), and lines still come after it.
    assert!(down.elapsed() >= OUTAGE && during >= 10_000, "{during} lines written during the outage");
    assert!(progress(&writers) < TOTAL, "the writers are still writing after the restart");
    for (w, _) in writers {
        w.join().unwrap();
    }
    for name in ["outagememory", "outagedisk"] {
        let q = format!("file:{name}");
        let got = wait_count(&agg, &q, TOTAL, Duration::from_secs(180));
        let hits = all_hits(&agg, &q, TOTAL);
        assert_exactly_once_in_order(&hits, &[(name, TOTAL)]);
        assert_eq!(got, TOTAL, "{name}: lines counted by the search API");
    }
    drop(agents);
}

//! The file source against real processes and real files: every way a log file changes under a
//! shipper (rotation by rename and by copytruncate under continuous writes, truncation in place,
//! deletion with unread lines, look-alike files, empty files, `read_from = "end"`), each checked
//! line by line: every line arrives exactly once, in order per file, with its fields.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tests::{
    Aggregator, Proc, all_hits, append_lines, assert_exactly_once_in_order, free_port, start_agent, test_line, wait_count, wait_for,
    write_agent_config,
};

struct Setup {
    dir: tempfile::TempDir,
    logs: PathBuf,
    agg: Aggregator,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let agg = Aggregator::start(&dir.path().join("lookout-data"), free_port(), &[]);
    Setup { dir, logs, agg }
}

impl Setup {
    fn agent(&self, include: &[&str], extra: &str) -> (PathBuf, Proc) {
        let include: Vec<String> = include.iter().map(|g| self.logs.join(g).display().to_string()).collect();
        let config = write_agent_config(self.dir.path(), &include, extra, &self.agg.url, free_port());
        let agent = start_agent(self.dir.path(), &config, 1);
        (config, agent)
    }
}

fn lines(file: &str, part: u64, from: u64, to: u64) -> Vec<String> {
    (from..to).map(|i| test_line(file, part, i)).collect()
}

/// Waits until the agent's log says it follows `path`.
fn wait_following(agent: &Proc, path: &Path) {
    let want = path.display().to_string();
    wait_for(&format!("the agent to follow {want}"), Duration::from_secs(20), || {
        agent.log_text().lines().any(|l| l.contains("following file") && l.contains(&want)).then_some(())
    });
}

/// Checks one logical file: `n` lines, exactly once, in order within each part, fields intact.
fn check(agg: &Aggregator, file: &str, n: u64) {
    let got = wait_count(agg, &format!("file:{file}"), n, Duration::from_secs(60));
    assert_eq!(got, n, "lines of {file} counted by the search API");
    let hits = all_hits(agg, &format!("file:{file}"), n);
    assert_exactly_once_in_order(&hits, &[(file, n)]);
    let h = hits.iter().find(|h| h["fields"]["seq"] == 17).expect("line 17");
    assert_eq!(h["message"], format!("{file} line 17"));
    assert_eq!(h["service"], "checkout");
    assert_eq!(h["level"], "info");
    assert_eq!(h["fields"]["http"]["status"], 202);
}

#[test]
fn rename_and_create_rotation_under_continuous_writes() {
    let s = setup();
    let (_cfg, _agent) = s.agent(&["*.log"], "");
    let app = s.logs.join("app.log");
    let mut seq = 0;
    for part in 0..5u64 {
        for _ in 0..20 {
            append_lines(&app, &lines("renamed", part, seq, seq + 100));
            seq += 100;
            // a steady writer (pacing only: correctness does not depend on it), so that each
            // file lives longer than one glob interval before it is rotated away
            std::thread::sleep(Duration::from_millis(20));
        }
        std::fs::rename(&app, s.logs.join(format!("app.log.{part}"))).unwrap();
    }
    append_lines(&app, &lines("renamed", 5, seq, seq + 100));
    seq += 100;
    check(&s.agg, "renamed", seq);
}

#[test]
fn copytruncate_under_continuous_writes_loses_and_repeats_nothing() {
    let s = setup();
    // The copies match the globs too: they must not be read again from their start.
    let (_cfg, _agent) = s.agent(&["app.log*"], "");
    let app = s.logs.join("app.log");
    append_lines(&app, &lines("copied", 0, 0, 1));
    // The rotation number, under the lock: lines of one part were written to one file between
    // two rotations, and must arrive in order.
    let lock = Arc::new(Mutex::new(0u64));
    let writer = {
        let (app, lock) = (app.clone(), lock.clone());
        std::thread::spawn(move || {
            for i in 1..20_000u64 {
                let part = lock.lock().unwrap();
                append_lines(&app, &[test_line("copied", *part, i)]);
                drop(part);
                if i % 500 == 0 {
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        })
    };
    for n in 1..=5 {
        std::thread::sleep(Duration::from_millis(300));
        // logrotate's copytruncate: copy, then truncate the original in place. Lines written
        // between the two steps are lost by any shipper, so the writer pauses for them.
        let mut part = lock.lock().unwrap();
        std::fs::copy(&app, s.logs.join(format!("app.log.{n}"))).unwrap();
        std::fs::OpenOptions::new().write(true).open(&app).unwrap().set_len(0).unwrap();
        *part += 1;
    }
    writer.join().unwrap();
    check(&s.agg, "copied", 20_000);
}

#[test]
fn a_file_truncated_in_place_is_read_again_from_its_start() {
    let s = setup();
    let (_cfg, _agent) = s.agent(&["*.log"], "");
    let app = s.logs.join("app.log");
    append_lines(&app, &lines("inplace", 0, 0, 300));
    wait_count(&s.agg, "file:inplace", 300, Duration::from_secs(30));
    std::fs::OpenOptions::new().write(true).open(&app).unwrap().set_len(0).unwrap();
    append_lines(&app, &lines("inplace", 1, 300, 350));
    check(&s.agg, "inplace", 350);
}

#[test]
fn a_deleted_file_with_unread_lines_is_read_to_its_end() {
    let s = setup();
    let (_cfg, agent) = s.agent(&["*.log"], "");
    let app = s.logs.join("app.log");
    append_lines(&app, &lines("deleted", 0, 0, 10));
    wait_count(&s.agg, "file:deleted", 10, Duration::from_secs(30));
    // Freeze the agent so the lines below are certainly unread when the file is deleted.
    agent.signal(libc::SIGSTOP);
    append_lines(&app, &lines("deleted", 0, 10, 5000));
    std::fs::remove_file(&app).unwrap();
    agent.signal(libc::SIGCONT);
    check(&s.agg, "deleted", 5000);
}

#[test]
fn two_files_with_an_identical_first_kilobyte_are_two_files() {
    let s = setup();
    let (_cfg, _agent) = s.agent(&["*.log"], "");
    // The same 2 KiB header in both files, then different lines.
    let header: Vec<String> = (0..30)
        .map(|i| format!("{{\"message\":\"shared header line {i:03}\",\"kind\":\"header\",\"pad\":\"{}\"}}", "h".repeat(40)))
        .collect();
    assert!(header.iter().map(|l| l.len() + 1).sum::<usize>() > 2048);
    for name in ["a", "b"] {
        let path = s.logs.join(format!("{name}.log"));
        append_lines(&path, &header);
        append_lines(&path, &lines(&format!("twin{name}"), 0, 0, 200));
    }
    check(&s.agg, "twina", 200);
    check(&s.agg, "twinb", 200);
    assert_eq!(wait_count(&s.agg, "kind:header", 60, Duration::from_secs(30)), 60);
    let hits = s.agg.search("kind:header", 1000)["hits"].as_array().cloned().unwrap();
    for name in ["a", "b"] {
        let src = s.logs.join(format!("{name}.log")).display().to_string();
        assert_eq!(hits.iter().filter(|h| h["source"] == src.as_str()).count(), 30, "header lines from {src}");
    }
}

#[test]
fn an_empty_file_that_grows_later_is_read() {
    let s = setup();
    let app = s.logs.join("app.log");
    std::fs::write(&app, b"").unwrap();
    let (_cfg, agent) = s.agent(&["*.log"], "");
    wait_following(&agent, &app);
    append_lines(&app, &lines("grown", 0, 0, 500));
    check(&s.agg, "grown", 500);
}

#[test]
fn read_from_end_skips_old_lines_on_first_start_only() {
    let s = setup();
    let app = s.logs.join("app.log");
    append_lines(&app, &lines("old", 0, 0, 100));
    let (config, agent) = s.agent(&["*.log"], "read_from = \"end\"");
    wait_following(&agent, &app);
    append_lines(&app, &lines("fresh", 0, 0, 100));
    check(&s.agg, "fresh", 100);
    // A restart resumes at the checkpoint: lines written while it was down are read.
    let status = agent.stop_with(libc::SIGTERM, Duration::from_secs(20));
    assert!(status.success(), "{status:?}");
    append_lines(&app, &lines("fresh", 0, 100, 150));
    let _agent = tests::start_agent(s.dir.path(), &config, 2);
    check(&s.agg, "fresh", 150);
    assert_eq!(s.agg.count("file:old"), 0);
}

#[test]
fn a_json_line_whose_log_field_holds_escaped_json_keeps_it() {
    let s = setup();
    let (_cfg, _agent) = s.agent(&["*.log"], "");
    let inner = r#"{"level":"warn","msg":"disk \"sda\" at 91%","path":"C:\\tmp","nested":{"a":[1,2]}}"#;
    let lines: Vec<String> = (0..50u64)
        .map(|i| {
            serde_json::json!({"log": format!("{inner}\n"), "stream": "stdout", "file": "docker", "seq": i, "time": "2026-11-22T10:00:00Z"})
                .to_string()
        })
        .collect();
    append_lines(&s.logs.join("app.log"), &lines);
    let got = wait_count(&s.agg, "file:docker", 50, Duration::from_secs(30));
    assert_eq!(got, 50);
    let hits = all_hits(&s.agg, "file:docker", 50);
    assert_exactly_once_in_order(&hits, &[("docker", 50)]);
    for h in &hits {
        assert_eq!(h["fields"]["log"], format!("{inner}\n"), "{h}");
        assert_eq!(h["fields"]["stream"], "stdout");
    }
}

#[test]
fn files_created_and_rotated_while_the_agent_was_down_are_read_once() {
    let s = setup();
    let (cfg, agent) = s.agent(&["*.log"], "");
    let app = s.logs.join("app.log");
    // An old rotated file, finished before the agent stops: it must not be read again when the
    // rotation below renames it.
    append_lines(&app, &lines("downtime", 0, 0, 100));
    wait_following(&agent, &app);
    wait_for("the first file to be delivered", Duration::from_secs(30), || (s.agg.count("file:downtime") >= 100).then_some(()));
    std::fs::rename(&app, s.logs.join("app.log.1")).unwrap();
    append_lines(&app, &lines("downtime", 1, 100, 200));
    wait_for("the second file to be delivered", Duration::from_secs(30), || (s.agg.count("file:downtime") >= 200).then_some(()));
    // Let the agent finish the rotated file and record that in its checkpoint, then kill it.
    std::thread::sleep(Duration::from_millis(2500));
    agent.kill9();
    // While it is down: more lines in the followed file, then two numbered rotations
    // (app.log.N → app.log.N+1, app.log → app.log.1, new app.log), so one file is created and
    // rotated out of the globs without the agent ever seeing it at a matched path.
    append_lines(&app, &lines("downtime", 1, 200, 250));
    let rotate = || {
        for n in (1..=3).rev() {
            let from = s.logs.join(format!("app.log.{n}"));
            if from.exists() {
                std::fs::rename(&from, s.logs.join(format!("app.log.{}", n + 1))).unwrap();
            }
        }
        std::fs::rename(&app, s.logs.join("app.log.1")).unwrap();
    };
    rotate();
    append_lines(&app, &lines("downtime", 2, 250, 400));
    rotate();
    append_lines(&app, &lines("downtime", 3, 400, 450));
    let agent = start_agent(s.dir.path(), &cfg, 2);
    check(&s.agg, "downtime", 450);
    assert!(agent.log_text().contains("created and rotated away while the agent was down"), "{}", agent.log_text());
}

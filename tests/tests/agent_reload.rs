//! SIGHUP reloads the agent's configuration without losing or repeating a line: pointed at a
//! different aggregator, lines shipped before the reload stay with the old one, lines written
//! after it go to the new one, each exactly once.

use std::time::Duration;

use tests::{
    Aggregator, all_hits, append_lines, assert_exactly_once_in_order, free_port, start_agent, test_line, wait_count, wait_for,
    write_agent_config,
};

#[test]
fn sighup_points_the_sink_at_another_aggregator() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let old = Aggregator::start(&dir.path().join("old-data"), free_port(), &[]);
    let new = Aggregator::start(&dir.path().join("new-data"), free_port(), &[]);
    let include = [logs.join("*.log").display().to_string()];
    let agent_port = free_port();
    let config = write_agent_config(dir.path(), &include, "", &old.url, agent_port);
    let agent = start_agent(dir.path(), &config, 1);
    let app = logs.join("app.log");
    append_lines(&app, &(0..500).map(|i| test_line("before", 0, i)).collect::<Vec<_>>());
    assert_eq!(wait_count(&old, "file:before", 500, Duration::from_secs(60)), 500);

    write_agent_config(dir.path(), &include, "", &new.url, agent_port);
    agent.signal(libc::SIGHUP);
    wait_for("the reload", Duration::from_secs(30), || {
        let log = agent.log_text();
        (log.contains("reloading configuration") && log.matches("pipeline started").count() >= 2).then_some(())
    });
    append_lines(&app, &(0..500).map(|i| test_line("after", 0, i)).collect::<Vec<_>>());
    assert_eq!(wait_count(&new, "file:after", 500, Duration::from_secs(60)), 500);
    assert_exactly_once_in_order(&all_hits(&new, "file:after", 500), &[("after", 500)]);
    assert_exactly_once_in_order(&all_hits(&old, "file:before", 500), &[("before", 500)]);
    assert_eq!(old.count("file:after"), 0, "lines after the reload went to the old aggregator");
    assert_eq!(new.count("file:before"), 0, "lines before the reload were sent again");
}

#[test]
fn console_sink_prints_each_event_as_a_json_line() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let config = dir.path().join("agent.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\nlisten = \"127.0.0.1:{}\"\n[sources.app]\ntype = \"file\"\ninclude = [{:?}]\npoll_interval_ms = 20\n[sinks.out]\ntype = \"console\"\ninputs = [\"app\"]\n",
            dir.path().join("agent-data").display().to_string(),
            free_port(),
            logs.join("*.log").display().to_string()
        ),
    )
    .unwrap();
    append_lines(&logs.join("app.log"), &(0..100).map(|i| test_line("console", 0, i)).collect::<Vec<_>>());
    let mut child = std::process::Command::new(tests::bin("lookout-agent"))
        .args(["run", "--config", config.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(dir.path().join("agent.log")).unwrap())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut seqs = Vec::new();
    while seqs.len() < 100 {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let Ok(line) = rx.recv_timeout(left) else {
            let _ = child.kill();
            panic!("only {} lines on stdout", seqs.len());
        };
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert_eq!(v["service"], "checkout");
        seqs.push(v["fields"]["seq"].as_u64().unwrap());
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(seqs, (0..100).collect::<Vec<_>>());
}

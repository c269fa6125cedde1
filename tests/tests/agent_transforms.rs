//! Transforms between a real file and a real aggregator: a `filter` drops debug lines and a
//! `redact` masks e-mail addresses; kept lines arrive exactly once, masked, and the file's
//! checkpoint still moves past the dropped lines.

use std::time::Duration;

use tests::{Aggregator, all_hits, append_lines, assert_exactly_once_in_order, free_port, start_agent, wait_count, wait_for};

#[test]
fn filter_and_redact_between_file_and_aggregator() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let agg = Aggregator::start(&dir.path().join("lookout-data"), free_port(), &[]);
    let data = dir.path().join("agent-data");
    let config = dir.path().join("agent.toml");
    std::fs::write(
        &config,
        format!(
            r#"data_dir = {data:?}
listen = "127.0.0.1:{port}"
[sources.app]
type = "file"
include = [{glob:?}]
poll_interval_ms = 20
[transforms.no_debug]
type = "filter"
inputs = ["app"]
action = "drop"
conditions = [{{ field = "level", equals = ["debug"] }}]
[transforms.masked]
type = "redact"
inputs = ["no_debug"]
builtins = ["email"]
[sinks.central]
type = "lookout"
inputs = ["masked"]
endpoint = {url:?}
[sinks.central.batch]
timeout_secs = 0.1
"#,
            data = data.display().to_string(),
            port = free_port(),
            glob = logs.join("*.log").display().to_string(),
            url = agg.url,
        ),
    )
    .unwrap();
    let _agent = start_agent(dir.path(), &config, 1);
    let app = logs.join("app.log");
    // 300 lines: every third is debug; the last 50 are all debug (dropped at the end of the file)
    let mut lines = Vec::new();
    let mut kept = 0u64;
    for i in 0..350u64 {
        let debug = i >= 300 || i % 3 == 0;
        let seq = if debug { 1_000_000 + i } else { kept };
        if !debug {
            kept += 1;
        }
        lines.push(
            serde_json::json!({"timestamp": "2026-11-22T10:00:00Z", "level": if debug { "debug" } else { "info" }, "file": if debug { "dbg" } else { "kept" },
                "seq": seq, "message": format!("order {i} placed by user{i}@example.com")})
            .to_string(),
        );
    }
    append_lines(&app, &lines);
    assert_eq!(wait_count(&agg, "file:kept", kept, Duration::from_secs(60)), kept);
    let hits = all_hits(&agg, "file:kept", kept);
    assert_exactly_once_in_order(&hits, &[("kept", kept)]);
    assert!(hits.iter().all(|h| h["message"].as_str().unwrap().ends_with("placed by [REDACTED]")), "{}", hits[0]);
    assert_eq!(agg.count("file:dbg"), 0);
    assert_eq!(agg.count("example.com"), 0);
    // the dropped lines at the end were settled: the checkpoint reaches the end of the file
    let size = std::fs::metadata(&app).unwrap().len();
    wait_for("the checkpoint to pass the dropped lines", Duration::from_secs(30), || {
        let cp: serde_json::Value = serde_json::from_slice(&std::fs::read(data.join("checkpoints/app.json")).ok()?).ok()?;
        (cp["files"][0]["offset"].as_u64()? == size).then_some(())
    });
}

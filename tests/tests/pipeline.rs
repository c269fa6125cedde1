//! The walking skeleton, with real processes and real files: lines appended to a file are
//! tailed by `lookout-agent`, shipped over OTLP/HTTP, made durable and indexed by `lookout`,
//! and come back from the search API with their fields — each exactly once, across agent
//! restarts and rename-and-create rotation.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use tests::{Aggregator, Proc, bin, free_port, wait_for};

fn append(path: &Path, lines: &[String]) {
    let mut f = OpenOptions::new().create(true).append(true).open(path).unwrap();
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
    f.sync_all().unwrap();
}

fn agent_config(dir: &Path, logs: &Path, endpoint: &str, port: u16) -> std::path::PathBuf {
    let cfg = format!(
        "data_dir = {:?}\nlisten = \"127.0.0.1:{port}\"\n\n[sources.app]\ntype = \"file\"\ninclude = [{:?}]\nglob_interval_ms = 200\npoll_interval_ms = 50\n\n[sinks.central]\ntype = \"lookout\"\ninputs = [\"app\"]\nendpoint = {endpoint:?}\n[sinks.central.batch]\ntimeout_secs = 0.2\nmax_events = 500\n",
        dir.join("agent-data").display().to_string(),
        logs.join("*.log").display().to_string(),
    );
    let path = dir.join("agent.toml");
    std::fs::write(&path, cfg).unwrap();
    path
}

fn start_agent(dir: &Path, config: &Path, n: usize) -> Proc {
    Proc::start(&bin("lookout-agent"), &["run", "--config", config.to_str().unwrap()], dir, &dir.join(format!("agent-{n}.log")))
}

fn lines(tag: &str, from: usize, to: usize) -> Vec<String> {
    (from..to)
        .map(|i| {
            serde_json::json!({"timestamp": "2026-11-22T10:00:00Z", "level": if i % 10 == 0 { "error" } else { "info" }, "service": "checkout",
                "message": format!("{tag} line {i}"), "seq": i, "tag": tag, "http": {"status": 200 + (i % 5) as u64}})
            .to_string()
        })
        .collect()
}

/// Every `seq` of `tag`, sorted, as found by the search API.
fn seqs(agg: &Aggregator, tag: &str) -> Vec<u64> {
    let r = agg.search(&format!("tag:{tag}"), 10_000);
    let mut v: Vec<u64> = r["hits"].as_array().unwrap().iter().map(|h| h["fields"]["seq"].as_u64().unwrap()).collect();
    v.sort();
    v
}

#[test]
fn lines_become_searchable_with_their_fields_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let agg = Aggregator::start(&dir.path().join("lookout-data"), free_port(), &[]);
    let config = agent_config(dir.path(), &logs, &agg.url, free_port());
    let app = logs.join("app.log");
    append(&app, &lines("first", 0, 200));
    append(&app, &["this is not json".to_string()]);
    let agent = start_agent(dir.path(), &config, 1);

    wait_for("the first 200 lines", Duration::from_secs(30), || (agg.count("tag:first") == 200).then_some(()));
    assert_eq!(seqs(&agg, "first"), (0..200).collect::<Vec<_>>());

    // fields come back structured, well-known fields lifted
    let hit = &agg.search("tag:first AND seq:17", 10)["hits"][0];
    assert_eq!(hit["service"], "checkout");
    assert_eq!(hit["level"], "info");
    assert_eq!(hit["message"], "first line 17");
    assert_eq!(hit["timestamp"], "2026-11-22T10:00:00.000000000Z");
    assert_eq!(hit["fields"]["http"]["status"], 202);
    assert_eq!(hit["source"], app.display().to_string());
    assert_eq!(agg.count("tag:first AND http.status:[203 TO 204]"), 80);
    assert_eq!(agg.count("tag:first AND level:error"), 20);

    // a non-JSON line is kept whole
    let raw = wait_for("the non-JSON line", Duration::from_secs(10), || {
        let r = agg.search("\"this is not json\"", 10);
        (r["total"] == 1).then(|| r["hits"][0].clone())
    });
    assert_eq!(raw["message"], "this is not json");
    assert_eq!(raw["fields"]["parse_error"], true);

    // restart the agent (SIGTERM): it resumes at its checkpoint, nothing is sent twice
    let status = agent.stop_with(libc::SIGTERM, Duration::from_secs(20));
    assert!(status.success(), "agent exit: {status:?}");
    append(&app, &lines("second", 0, 100));
    let agent = start_agent(dir.path(), &config, 2);
    wait_for("the second batch", Duration::from_secs(30), || (agg.count("tag:second") == 100).then_some(()));

    // rename-and-create rotation with lines written on both sides of it
    append(&app, &lines("third", 0, 50));
    std::fs::rename(&app, logs.join("app.log.1")).unwrap();
    append(&app, &lines("third", 50, 120));
    wait_for("the rotated lines", Duration::from_secs(30), || (agg.count("tag:third") >= 120).then_some(()));
    std::thread::sleep(Duration::from_millis(1500)); // let any duplicate arrive before counting
    assert_eq!(seqs(&agg, "first"), (0..200).collect::<Vec<_>>());
    assert_eq!(seqs(&agg, "second"), (0..100).collect::<Vec<_>>());
    assert_eq!(seqs(&agg, "third"), (0..120).collect::<Vec<_>>());

    // the agent's own endpoints
    let metrics = tests::client().get(format!("http://{}/metrics", agent_listen(&config))).send().unwrap().text().unwrap();
    assert!(metrics.contains("lookout_agent_events_out_total{component=\"central\",kind=\"lookout\"}"), "{metrics}");
    drop(agent);
    let metrics = tests::client().get(format!("{}/metrics", agg.url)).send().unwrap().text().unwrap();
    assert!(metrics.contains("lookout_ingest_events_total{protocol=\"otlp\"}"), "{metrics}");
}

fn agent_listen(config: &Path) -> String {
    let text = std::fs::read_to_string(config).unwrap();
    let line = text.lines().find(|l| l.starts_with("listen")).unwrap();
    line.split('"').nth(1).unwrap().to_string()
}

#[test]
fn agent_health_endpoints_answer() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let port = free_port();
    // the sink points at a closed port: the agent still runs and reports health
    let config = agent_config(dir.path(), &logs, &format!("http://127.0.0.1:{}", free_port()), port);
    let _agent = start_agent(dir.path(), &config, 1);
    let c = tests::client();
    wait_for("agent ready", Duration::from_secs(20), || {
        c.get(format!("http://127.0.0.1:{port}/health/ready")).send().ok().filter(|r| r.status() == 200).map(|_| ())
    });
    assert_eq!(c.get(format!("http://127.0.0.1:{port}/health/live")).send().unwrap().status(), 200);
}

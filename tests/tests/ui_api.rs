//! The APIs behind the UI's Dashboards and Agents pages, against the real binaries:
//! dashboards from a configured directory (relative to the config file), with broken files
//! reported and path tricks refused; agents tracked from real `lookout-agent` batches and
//! remembered across an aggregator restart.

use std::time::Duration;

use serde_json::Value;
use tests::{Aggregator, client, free_port, start_agent, wait_for, write_agent_config};

fn get(url: &str) -> (u16, Value) {
    let r = client().get(url).send().expect("request");
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

#[test]
fn dashboards_come_from_the_configured_directory_and_bad_uids_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("conf");
    std::fs::create_dir_all(conf.join("dash")).unwrap();
    std::fs::write(conf.join("lookout.toml"), "dashboards_dir = \"dash\"\n").unwrap();
    std::fs::write(
        conf.join("dash/team.json"),
        r#"{"uid":"team-a","title":"Team A","tags":["team"],"panels":[
            {"type":"timeseries","title":"ok","gridPos":{"x":0,"y":0,"w":12,"h":8},"targets":[{"expr":"rate(x[5m])"}]},
            {"type":"graph","title":"old","gridPos":{"x":12,"y":0,"w":12,"h":8}}]}"#,
    )
    .unwrap();
    std::fs::write(conf.join("dash/broken.json"), "{\"title\":").unwrap();
    std::fs::write(dir.path().join("secret.json"), r#"{"uid":"secret","title":"not a dashboard of this server"}"#).unwrap();
    let config = conf.join("lookout.toml");
    let agg = Aggregator::start(&dir.path().join("data"), free_port(), &["--config", config.to_str().unwrap()]);

    let (status, list) = get(&format!("{}/api/v1/dashboards", agg.url));
    assert_eq!(status, 200, "{list}");
    let dashboards = list["dashboards"].as_array().unwrap();
    assert_eq!(dashboards.len(), 1, "{list}");
    assert_eq!(dashboards[0]["uid"], "team-a");
    assert_eq!(dashboards[0]["title"], "Team A");
    let problems = dashboards[0]["problems"].to_string();
    assert!(problems.contains("panels[1]") && problems.contains("graph"), "{problems}");
    assert_eq!(list["errors"][0]["file"], "broken.json", "{list}");

    let (status, one) = get(&format!("{}/api/v1/dashboards/team-a", agg.url));
    assert_eq!((status, one["panels"][0]["title"].as_str()), (200, Some("ok")));
    for uid in ["..%2Fsecret", "..%2F..%2Fsecret.json", "team-a..json", "a%00b"] {
        let (status, body) = get(&format!("{}/api/v1/dashboards/{uid}", agg.url));
        assert_eq!(status, 400, "{uid}: {body}");
    }
    let (status, body) = get(&format!("{}/api/v1/dashboards/secret", agg.url));
    assert_eq!(status, 404, "{body}");
}

#[test]
fn agents_are_listed_from_their_batches_and_remembered_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = free_port();
    let agg = Aggregator::start(&data, port, &[]);
    let log = dir.path().join("app.log");
    let lines: Vec<String> =
        (0..50).map(|i| format!(r#"{{"level":"info","host":"e2e-host","service":"svc","message":"line {i}"}}"#)).collect();
    std::fs::write(&log, lines.join("\n") + "\n").unwrap();
    let config = write_agent_config(dir.path(), &[log.display().to_string()], "", &agg.url, free_port());
    let agent = start_agent(dir.path(), &config, 1);

    let url = format!("{}/api/v1/agents", agg.url);
    let listed = wait_for("the agent's 50 events in /api/v1/agents", Duration::from_secs(30), || {
        let (_, v) = get(&url);
        v["agents"].as_array().and_then(|a| a.first().cloned()).filter(|a| a["events"] == 50)
    });
    assert_eq!(listed["host"], "e2e-host");
    let version = listed["version"].as_str().unwrap();
    assert!(version.split('.').count() == 3 && version.chars().next().unwrap().is_ascii_digit(), "{listed}");
    assert_eq!(listed["stale"], false);
    assert_eq!(listed["rejected_requests"], 0);
    assert_eq!(listed["streams"].as_object().unwrap().len(), 1, "one file: {listed}");
    agent.stop_with(libc::SIGTERM, Duration::from_secs(20));

    // A retry of a stored batch counts as a duplicate; a request without a batch id is no agent.
    let post = |batch: Option<&str>| {
        let mut r = client().post(format!("{}/api/v1/logs/ingest", agg.url)).header("User-Agent", "lookout-agent/9.9.9");
        if let Some(b) = batch {
            r = r.header("Lookout-Batch", b);
        }
        r.body("{\"message\":\"x\",\"host\":\"other\"}\n").send().unwrap().status().as_u16()
    };
    assert_eq!(post(Some("manual/s.1/10")), 200);
    assert_eq!(post(Some("manual/s.1/10")), 200);
    assert_eq!(post(None), 200);
    let (_, v) = get(&url);
    let agents = v["agents"].as_array().unwrap();
    assert_eq!(agents.len(), 2, "{v}");
    let manual = agents.iter().find(|a| a["id"] == "manual").unwrap();
    assert_eq!((manual["events"].as_u64(), manual["batches"].as_u64(), manual["duplicate_batches"].as_u64()), (Some(1), Some(1), Some(1)));
    assert_eq!(manual["version"], "9.9.9");

    // Stopped and started again: both agents are still known, with their counts.
    agg.proc.stop_with(libc::SIGTERM, Duration::from_secs(30));
    let agg = Aggregator::start(&data, port, &[]);
    let (_, v) = get(&format!("{}/api/v1/agents", agg.url));
    let agents = v["agents"].as_array().unwrap();
    assert_eq!(agents.len(), 2, "{v}");
    assert!(agents.iter().any(|a| a["host"] == "e2e-host" && a["events"] == 50), "{v}");
}

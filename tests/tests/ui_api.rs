//! The APIs behind the UI's Dashboards and Agents pages, against the real binaries:
//! dashboards from a configured directory (relative to the config file), with broken files
//! reported and path tricks refused; agents tracked from real `lookout-agent` batches and
//! remembered across an aggregator restart, with the drops and buffer use the agent reports;
//! the UI's files served precompressed.

use std::time::Duration;

use serde_json::Value;
use tests::{Aggregator, append_lines, client, free_port, start_agent, wait_for, write_agent_config};

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

/// Sum of `lookout_agent_events_dropped_total` and the sink's buffer bytes on the agent's `/metrics`.
fn agent_drops_and_buffer(metrics_url: &str) -> Option<(u64, u64)> {
    let text = client().get(metrics_url).send().ok()?.text().ok()?;
    let value = |l: &str| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok());
    let dropped = text.lines().filter(|l| l.starts_with("lookout_agent_events_dropped_total{")).filter_map(value).sum::<f64>();
    let buffer = text.lines().filter(|l| l.starts_with("lookout_agent_buffer_bytes{")).filter_map(value).sum::<f64>();
    Some((dropped as u64, buffer as u64))
}

#[test]
fn agents_report_their_drops_and_buffer_use() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    // The aggregator is not running yet: the agent's small disk buffer fills and drops the rest.
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let agent_port = free_port();
    let config = dir.path().join("agent.toml");
    std::fs::write(
        &config,
        format!(
            r#"data_dir = {data:?}
listen = "127.0.0.1:{agent_port}"
[sources.app]
type = "file"
include = [{glob:?}]
poll_interval_ms = 20
[transforms.no_debug]
type = "filter"
inputs = ["app"]
action = "drop"
conditions = [{{ field = "level", equals = ["debug"] }}]
[sinks.central]
type = "lookout"
inputs = ["no_debug"]
endpoint = {url:?}
retry_initial_backoff_ms = 50
retry_max_backoff_secs = 0.5
buffer = {{ type = "disk", max_bytes = 8192, when_full = "drop_newest" }}
[sinks.central.batch]
timeout_secs = 0.1
"#,
            data = dir.path().join("agent-data").display().to_string(),
            glob = logs.join("*.log").display().to_string(),
        ),
    )
    .unwrap();
    let agent = start_agent(dir.path(), &config, 1);
    let metrics_url = format!("http://127.0.0.1:{agent_port}/metrics");
    wait_for("the agent's /metrics", Duration::from_secs(30), || agent_drops_and_buffer(&metrics_url));
    // Rounds of 40 lines (10 debug) until the buffer has refused a batch; bounded.
    let app = logs.join("app.log");
    let (mut info, mut debug) = (0u64, 0u64);
    let mut full = false;
    for round in 0..40 {
        let lines: Vec<String> = (0..40)
            .map(|i| {
                let level = if i % 4 == 0 { "debug" } else { "info" };
                if level == "debug" { debug += 1 } else { info += 1 }
                format!(r#"{{"level":"{level}","host":"drops-host","service":"svc","message":"round {round} line {i} padding padding padding"}}"#)
            })
            .collect();
        append_lines(&app, &lines);
        // Each round becomes its own batch (the file source reads what is there).
        let read = wait_for("the agent to read the round", Duration::from_secs(30), || {
            let (dropped, _) = agent_drops_and_buffer(&metrics_url)?;
            (dropped >= debug).then_some(dropped)
        });
        if read > debug {
            full = true;
            break;
        }
    }
    assert!(full, "the 8 KiB disk buffer never filled");
    // Every batch read is settled (buffered or dropped) once the checkpoint reaches the end.
    let size = std::fs::metadata(&app).unwrap().len();
    let checkpoint = dir.path().join("agent-data/checkpoints/app.json");
    wait_for("the checkpoint to reach the end of the file", Duration::from_secs(30), || {
        let cp: Value = serde_json::from_slice(&std::fs::read(&checkpoint).ok()?).ok()?;
        (cp["files"][0]["offset"].as_u64()? == size).then_some(())
    });
    let (dropped_then, buffered) = agent_drops_and_buffer(&metrics_url).unwrap();
    assert!(buffered >= 8192, "the full buffer holds at least its limit: {buffered}");
    let lost = dropped_then - debug;

    let agg = Aggregator::start(&dir.path().join("data"), port, &[]);
    let kept = info - lost;
    let stored = wait_for("the buffered lines to arrive", Duration::from_secs(60), || (agg.count("service:svc") == kept).then_some(kept));
    assert_eq!(stored, kept);
    let (dropped, _) = agent_drops_and_buffer(&metrics_url).unwrap();
    assert_eq!(dropped, dropped_then, "nothing dropped once the aggregator was up");
    let api = format!("{}/api/v1/agents", agg.url);
    let a = wait_for("the agent's drops in /api/v1/agents", Duration::from_secs(30), || {
        let (_, v) = get(&api);
        v["agents"].as_array()?.first().cloned().filter(|a| a["dropped_events"] == dropped)
    });
    assert_eq!(
        (a["host"].as_str(), a["reports_stats"].as_bool(), a["dropping"].as_bool()),
        (Some("drops-host"), Some(true), Some(true)),
        "{a}"
    );
    assert_eq!((a["buffer_max_bytes"].as_u64(), a["buffer_max_events"].as_u64()), (Some(8192), Some(0)), "{a}");
    // The latest request's own record is still held (deleted on acknowledgement).
    let bytes = a["buffer_bytes"].as_u64().unwrap();
    let used = a["buffer_use"].as_f64().unwrap();
    assert!(bytes > 0 && a["buffer_events"].as_u64().unwrap() > 0, "{a}");
    assert!((used - (bytes as f64 / 8192.0).min(1.0)).abs() < 1e-9, "{a}");
    assert_eq!(a["events"].as_u64(), Some(kept), "{a}");
    agent.stop_with(libc::SIGTERM, Duration::from_secs(20));
    // Persisted with the table.
    agg.proc.stop_with(libc::SIGTERM, Duration::from_secs(30));
    let agg = Aggregator::start(&dir.path().join("data"), port, &[]);
    let (_, v) = get(&format!("{}/api/v1/agents", agg.url));
    assert_eq!(v["agents"][0]["dropped_events"], dropped, "{v}");
}

#[test]
fn ui_files_are_served_precompressed_with_cache_headers() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let agg = Aggregator::start(&dir.path().join("data"), free_port(), &[]);
    let page = client().get(format!("{}/", agg.url)).send().unwrap().text().unwrap();
    if !page.contains("/assets/") {
        assert!(std::env::var("CI").is_err(), "the UI is not built into lookout (cd query-ui && npm ci && npm run build)");
        eprintln!("skipped: the UI is not built into this lookout binary");
        return;
    }
    // A client that does not decompress, to see the bytes on the wire.
    let raw = reqwest::blocking::Client::builder().no_gzip().no_brotli().no_deflate().no_zstd().build().unwrap();
    let fetch = |path: &str, accept: Option<&str>| {
        let mut r = raw.get(format!("{}{path}", agg.url));
        if let Some(a) = accept {
            r = r.header("Accept-Encoding", a);
        }
        let r = r.send().unwrap();
        let h = |n: &str| r.headers().get(n).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let meta = (r.status().as_u16(), h("content-encoding"), h("vary"), h("cache-control"), h("content-type"));
        (meta, r.bytes().unwrap().to_vec())
    };
    let ((status, enc, vary, cache, ctype), index) = fetch("/", Some("identity"));
    assert_eq!((status, enc.as_str(), vary.as_str(), cache.as_str()), (200, "", "accept-encoding", "no-cache"));
    assert!(ctype.starts_with("text/html"), "{ctype}");
    let html = String::from_utf8(index).unwrap();
    let script = html.split("src=\"").nth(1).and_then(|s| s.split('"').next()).expect("a script tag").to_string();
    assert!(script.starts_with("/assets/") && script.ends_with(".js"), "{script}");

    let ((_, enc, _, cache, ctype), plain) = fetch(&script, None);
    assert_eq!((enc.as_str(), cache.as_str()), ("", "public, max-age=31536000, immutable"));
    assert!(ctype.contains("javascript"), "{ctype}");
    let ((_, enc, vary, cache, ctype2), gz) = fetch(&script, Some("gzip, deflate"));
    assert_eq!(
        (enc.as_str(), vary.as_str(), cache.as_str(), ctype2.as_str()),
        ("gzip", "accept-encoding", "public, max-age=31536000, immutable", ctype.as_str())
    );
    let mut decoded = Vec::new();
    flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut decoded).unwrap();
    assert_eq!(decoded, plain, "gzip decodes to the file as built");
    assert!(gz.len() * 2 < plain.len(), "{} vs {}", gz.len(), plain.len());
    // Brotli preferred when offered; refused codings are not used.
    let ((_, enc, _, _, _), br) = fetch(&script, Some("gzip, br"));
    assert_eq!(enc, "br");
    let mut decoded = Vec::new();
    brotli_decompress(&br, &mut decoded);
    assert_eq!(decoded, plain, "brotli decodes to the file as built");
    assert_eq!(fetch(&script, Some("br;q=0, gzip")).0.1, "gzip");
    assert_eq!(fetch(&script, Some("gzip;q=0")).0.1, "");
    // A client-side route gets index.html, compressed too and never cached.
    let ((status, enc, _, cache, _), gz_index) = fetch("/logs?q=x", Some("gzip"));
    assert_eq!((status, enc.as_str(), cache.as_str()), (200, "gzip", "no-cache"));
    let mut decoded = String::new();
    flate2::read::GzDecoder::new(&gz_index[..]).read_to_string(&mut decoded).unwrap();
    assert_eq!(decoded, html);
    // API routes are untouched by any of this.
    let r = client().get(format!("{}/api/v1/agents", agg.url)).header("Accept-Encoding", "gzip").send().unwrap();
    assert!(r.headers().get("content-encoding").is_none());
}

/// Brotli-decodes with Node's zlib (Node builds the UI, so it is there wherever the UI is).
fn brotli_decompress(data: &[u8], out: &mut Vec<u8>) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("node")
        .args(["-e", "process.stdout.write(require('zlib').brotliDecompressSync(require('fs').readFileSync(0)))"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node (needed to build the UI) to decode brotli");
    child.stdin.take().unwrap().write_all(data).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "node could not decode the brotli body");
    out.extend_from_slice(&output.stdout);
}

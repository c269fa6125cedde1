//! The logs API against a real `lookout serve`: cursor pagination, permanent line links (across
//! a restart), context from the line's own host and source, top field values, live tail over
//! server-sent events, and Loki push in both encodings (JSON and snappy protobuf) with malformed
//! bodies refused whole.

use std::io::BufRead;
use std::time::Duration;

use prost::Message;
use serde_json::{Value, json};
use tests::{Aggregator, client, free_port, wait_for};

fn ndjson(agg: &Aggregator, lines: &[Value]) {
    let body: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let r = client().post(format!("{}/api/v1/logs/ingest", agg.url)).body(body).send().unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().unwrap_or_default());
}

fn get(agg: &Aggregator, path: &str, query: &[(&str, &str)]) -> (u16, Value) {
    let r = client().get(format!("{}{path}", agg.url)).query(query).send().unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

fn messages(v: &Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|h| h["message"].as_str().unwrap().to_string()).collect()
}

#[test]
fn search_pages_links_context_and_fields() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cfg = dir.path().join("lookout.toml");
    std::fs::write(&cfg, "[logs]\ncommit_interval_ms = 100\n").unwrap();
    let cfg = cfg.to_str().unwrap().to_string();
    let agg = Aggregator::start(&data, free_port(), &["--config", &cfg]);
    let lines: Vec<Value> = (0..25)
        .map(|i| {
            json!({"timestamp": format!("2026-11-22T10:00:{:02}Z", i), "level": if i % 5 == 0 { "error" } else { "info" },
                   "host": if i % 2 == 0 { "web-1" } else { "web-2" }, "service": "api", "message": format!("request {i}"),
                   "http": {"status": if i % 5 == 0 { 503 } else { 200 }}})
        })
        .collect();
    ndjson(&agg, &lines);
    wait_for("25 lines searchable", Duration::from_secs(20), || (agg.count("service:api") == 25).then_some(()));

    // cursor pagination, newest first, until next_cursor is null
    let mut seen = Vec::new();
    let mut cursor = String::new();
    for _ in 0..10 {
        let (s, page) = get(&agg, "/api/v1/logs/search", &[("q", "service:api"), ("limit", "10"), ("cursor", &cursor), ("start", "0")]);
        assert_eq!(s, 200, "{page}");
        assert_eq!(page["total"], 25);
        seen.extend(messages(&page["hits"]));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = c.to_string(),
            None => break,
        }
    }
    assert_eq!(seen, (0..25).rev().map(|i| format!("request {i}")).collect::<Vec<_>>());
    let (s, bad) = get(&agg, "/api/v1/logs/search", &[("cursor", "garbage")]);
    assert_eq!(s, 400, "{bad}");

    // context: same host (and source) only, in time order
    let (_, hit) = get(&agg, "/api/v1/logs/search", &[("q", "\"request 10\""), ("start", "0")]);
    let id = hit["hits"][0]["id"].as_str().unwrap().to_string();
    let (s, ctx) = get(&agg, "/api/v1/logs/context", &[("id", &id), ("before", "2"), ("after", "3")]);
    assert_eq!(s, 200, "{ctx}");
    assert_eq!(ctx["line"]["message"], "request 10");
    assert_eq!(messages(&ctx["before"]), ["request 6", "request 8"]);
    assert_eq!(messages(&ctx["after"]), ["request 12", "request 14", "request 16"]);
    assert_eq!(get(&agg, "/api/v1/logs/context", &[("id", "12345")]).0, 404);
    assert_eq!(get(&agg, "/api/v1/logs/context", &[("id", "x")]).0, 400);

    // top values for the current query
    let (s, f) = get(&agg, "/api/v1/logs/fields", &[("q", "service:api"), ("start", "0")]);
    assert_eq!(s, 200, "{f}");
    let field = |name: &str| f["fields"].as_array().unwrap().iter().find(|x| x["name"] == name).cloned().unwrap_or(Value::Null);
    assert_eq!(field("level")["values"], json!([{"value":"info","count":20},{"value":"error","count":5}]));
    assert_eq!(field("host")["values"], json!([{"value":"web-1","count":13},{"value":"web-2","count":12}]));
    assert_eq!(field("http.status")["values"], json!([{"value":"200","count":20},{"value":"503","count":5}]));
    let (_, f) = get(&agg, "/api/v1/logs/fields", &[("q", "level:error"), ("start", "0")]);
    assert_eq!(f["total"], 5);

    // the permanent link resolves, and still does after a restart
    let (s, line) = get(&agg, &format!("/api/v1/logs/line/{id}"), &[]);
    assert_eq!(s, 200, "{line}");
    assert_eq!(line["message"], "request 10");
    assert_eq!(get(&agg, "/api/v1/logs/line/999999999", &[]).0, 404);
    let status = agg.proc.stop_with(libc::SIGTERM, Duration::from_secs(30));
    assert!(status.success(), "{status:?}");
    let agg = Aggregator::start(&data, free_port(), &["--config", &cfg]);
    let (s, again) = get(&agg, &format!("/api/v1/logs/line/{id}"), &[]);
    assert_eq!(s, 200, "{again}");
    assert_eq!(again, line);
}

#[test]
fn tail_streams_new_matching_lines_as_server_sent_events() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("lookout.toml");
    std::fs::write(&cfg, "[logs]\ncommit_interval_ms = 100\n").unwrap();
    let agg = Aggregator::start(&dir.path().join("data"), free_port(), &["--config", cfg.to_str().unwrap()]);
    ndjson(&agg, &[json!({"level":"error","message":"old error, before the tail"})]);
    wait_for("the old line", Duration::from_secs(20), || (agg.count("old") == 1).then_some(()));

    let _ = rustls::crypto::ring::default_provider().install_default();
    let sse = reqwest::blocking::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
    let resp = sse.get(format!("{}/api/v1/logs/tail", agg.url)).query(&[("q", "level:error")]).send().unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(resp).lines() {
            let Ok(line) = line else { return };
            if let Some(data) = line.strip_prefix("data:")
                && tx.send(data.trim().to_string()).is_err()
            {
                return;
            }
        }
    });
    // the subscription is registered once the response headers are out; lines after it stream
    ndjson(&agg, &[json!({"level":"info","message":"not an error"}), json!({"level":"error","message":"live error 1"})]);
    ndjson(&agg, &[json!({"level":"error","message":"live error 2"})]);
    let mut got = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while got.len() < 2 {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let data = rx.recv_timeout(left).unwrap_or_else(|_| panic!("tail delivered only {got:?}"));
        let v: Value = serde_json::from_str(&data).unwrap();
        got.push(v["message"].as_str().unwrap().to_string());
    }
    assert_eq!(got, ["live error 1", "live error 2"]);
}

#[derive(Clone, PartialEq, Message)]
struct PushRequest {
    #[prost(message, repeated, tag = "1")]
    streams: Vec<StreamAdapter>,
}

#[derive(Clone, PartialEq, Message)]
struct StreamAdapter {
    #[prost(string, tag = "1")]
    labels: String,
    #[prost(message, repeated, tag = "2")]
    entries: Vec<EntryAdapter>,
}

#[derive(Clone, PartialEq, Message)]
struct EntryAdapter {
    #[prost(message, optional, tag = "1")]
    timestamp: Option<Timestamp>,
    #[prost(string, tag = "2")]
    line: String,
    #[prost(message, repeated, tag = "3")]
    structured_metadata: Vec<LabelPair>,
}

#[derive(Clone, PartialEq, Message)]
struct LabelPair {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(string, tag = "2")]
    value: String,
}

#[derive(Clone, PartialEq, Message)]
struct Timestamp {
    #[prost(int64, tag = "1")]
    seconds: i64,
    #[prost(int32, tag = "2")]
    nanos: i32,
}

#[test]
fn loki_push_json_and_snappy_protobuf() {
    let dir = tempfile::tempdir().unwrap();
    let agg = Aggregator::start(&dir.path().join("data"), free_port(), &[]);
    let c = client();
    let push = |ct: &str, body: Vec<u8>| {
        let r = c.post(format!("{}/loki/api/v1/push", agg.url)).header("content-type", ct).body(body).send().unwrap();
        (r.status().as_u16(), r.text().unwrap())
    };

    let json_body = json!({"streams": [{"stream": {"service_name": "checkout", "instance": "web-1:9100", "env": "prod"},
        "values": [["1795341600000000000", "plain loki line"],
                   ["1795341601000000000", "{\"level\":\"warn\",\"msg\":\"json loki line\",\"order\":{\"id\":7}}", {"trace_id": "abc123"}]]}]});
    let (s, body) = push("application/json", json_body.to_string().into_bytes());
    assert_eq!(s, 204, "{body}");

    let req = PushRequest {
        streams: vec![StreamAdapter {
            labels: r#"{job="payments", host="db-2", region="eu"}"#.into(),
            entries: vec![EntryAdapter {
                timestamp: Some(Timestamp { seconds: 1_795_341_602, nanos: 0 }),
                line: "protobuf loki line".into(),
                structured_metadata: vec![LabelPair { name: "trace_id".into(), value: "def456".into() }],
            }],
        }],
    };
    let snappy = snap::raw::Encoder::new().compress_vec(&req.encode_to_vec()).unwrap();
    let (s, body) = push("application/x-protobuf", snappy);
    assert_eq!(s, 204, "{body}");

    wait_for("three Loki lines", Duration::from_secs(20), || (agg.count("source:loki") == 3).then_some(()));
    let hit = |q: &str| agg.search(q, 10)["hits"][0].clone();
    let plain = hit("\"plain loki line\"");
    assert_eq!((plain["service"].as_str(), plain["host"].as_str()), (Some("checkout"), Some("web-1:9100")));
    assert_eq!(plain["timestamp"], "2026-11-22T10:00:00.000000000Z");
    assert_eq!(plain["fields"]["env"], "prod");
    let structured = hit("order.id:7");
    assert_eq!(structured["level"], "warn");
    assert_eq!(structured["message"], "json loki line");
    assert_eq!(structured["fields"]["trace_id"], "abc123");
    let proto = hit("trace_id:def456");
    assert_eq!((proto["service"].as_str(), proto["host"].as_str()), (Some("payments"), Some("db-2")));
    assert_eq!(proto["fields"]["region"], "eu");
    assert_eq!(agg.count("service:payments AND region:eu"), 1);

    // malformed bodies: 400 with a reason, nothing of them stored
    let bad_json =
        json!({"streams": [{"stream": {"job": "x"}, "values": [["1795341600000000000", "partial-canary"], ["yesterday", "x"]]}]});
    let (s, body) = push("application/json", bad_json.to_string().into_bytes());
    assert_eq!(s, 400, "{body}");
    assert!(body.contains("stream 0 entry 1"), "{body}");
    let (s, body) = push("application/x-protobuf", b"definitely not snappy".to_vec());
    assert_eq!(s, 400, "{body}");
    assert!(body.contains("snappy"), "{body}");
    let bad_labels = PushRequest {
        streams: vec![StreamAdapter {
            labels: "{job=unquoted}".into(),
            entries: vec![EntryAdapter {
                timestamp: Some(Timestamp { seconds: 1, nanos: 0 }),
                line: "partial-canary".into(),
                ..Default::default()
            }],
        }],
    };
    let (s, body) = push("application/x-protobuf", snap::raw::Encoder::new().compress_vec(&bad_labels.encode_to_vec()).unwrap());
    assert_eq!(s, 400, "{body}");
    assert!(body.contains("labels"), "{body}");
    let (s, _) = push("text/plain", b"x".to_vec());
    assert_eq!(s, 400);
    // a good request afterwards is stored, the bad ones never were
    let (s, _) = push(
        "application/json",
        json!({"streams":[{"stream":{},"values":[["1795341603000000000","good-canary"]]}]}).to_string().into_bytes(),
    );
    assert_eq!(s, 204);
    wait_for("the good canary", Duration::from_secs(20), || (agg.count("good-canary") == 1).then_some(()));
    assert_eq!(agg.count("partial-canary"), 0);
    assert_eq!(agg.count("source:loki"), 4);
}

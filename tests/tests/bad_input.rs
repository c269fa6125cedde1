//! Bad input gets a clear error and stores nothing: malformed bodies (400 with a reason),
//! oversized ones (413), malformed queries (400 with the position).

use std::io::Write;

use serde_json::Value;
use tests::{Aggregator, client, free_port};

#[test]
fn malformed_requests_are_refused_with_a_reason_and_store_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("lookout.toml");
    std::fs::write(&cfg, "[ingest]\nmax_body_bytes = 65536\n").unwrap();
    let agg = Aggregator::start(&dir.path().join("data"), free_port(), &["--config", cfg.to_str().unwrap()]);
    let c = client();
    let post = |path: &str, ct: &str, enc: Option<&str>, body: Vec<u8>| {
        let mut r = c.post(format!("{}{path}", agg.url)).header("content-type", ct).body(body);
        if let Some(e) = enc {
            r = r.header("content-encoding", e);
        }
        let resp = r.send().unwrap();
        let status = resp.status().as_u16();
        (status, resp.text().unwrap())
    };

    let (s, body) = post("/v1/logs", "application/x-protobuf", None, b"\x0a\xff\xff\xff\xff".to_vec());
    assert_eq!(s, 400, "{body}");
    assert!(body.contains("invalid OTLP protobuf"), "{body}");
    let (s, body) = post("/v1/logs", "application/json", None, b"{\"resourceLogs\": 3}".to_vec());
    assert_eq!(s, 400, "{body}");
    assert!(body.contains("invalid OTLP JSON"), "{body}");
    let (s, body) = post("/v1/logs", "application/x-protobuf", Some("gzip"), b"not gzip".to_vec());
    assert_eq!(s, 400, "{body}");
    assert!(body.contains("gzip"), "{body}");
    let (s, body) = post("/v1/logs", "text/plain", None, b"hello".to_vec());
    assert_eq!(s, 400, "{body}");
    assert!(body.contains("content-type"), "{body}");
    // a valid first line does not get stored when a later line is bad
    let (s, body) = post("/api/v1/logs/ingest", "application/x-ndjson", None, b"{\"message\":\"partial-canary\"}\n{broken\n".to_vec());
    assert_eq!(s, 400, "{body}");
    assert!(body.contains("line 2"), "{body}");
    // bad batch header
    let resp = c.post(format!("{}/api/v1/logs/ingest", agg.url)).header("Lookout-Batch", "a/b").body("{\"message\":\"x\"}").send().unwrap();
    assert_eq!(resp.status().as_u16(), 400);

    // oversized: raw, and a small gzip body that expands past the limit
    let (s, body) = post("/api/v1/logs/ingest", "application/x-ndjson", None, vec![b' '; 200_000]);
    assert_eq!(s, 413, "{body}");
    assert!(body.contains("exceeds the limit of 65536 bytes"), "{body}");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let line = format!("{{\"message\":\"{}\"}}\n", "x".repeat(1000));
    for _ in 0..200 {
        gz.write_all(line.as_bytes()).unwrap();
    }
    let bomb = gz.finish().unwrap();
    assert!(bomb.len() < 65536);
    let (s, body) = post("/api/v1/logs/ingest", "application/x-ndjson", Some("gzip"), bomb);
    assert_eq!(s, 413, "{body}");
    assert!(body.contains("exceeds the limit"), "{body}");

    // malformed query: 400 with the position
    let r = c.get(format!("{}/api/v1/logs/search", agg.url)).query(&[("q", "status:[500 TO")]).send().unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let v: Value = r.json().unwrap();
    assert_eq!(v["position"], 14);
    assert!(v["error"].as_str().unwrap().contains("missing upper bound"), "{v}");
    let r = c.get(format!("{}/api/v1/logs/search", agg.url)).query(&[("q", ""), ("start", "yesterday")]).send().unwrap();
    assert_eq!(r.status().as_u16(), 400);

    // a good request after all that works, and nothing of the bad ones was stored
    let (s, body) = post("/api/v1/logs/ingest", "application/x-ndjson", None, b"{\"message\":\"good-canary\"}\n".to_vec());
    assert_eq!(s, 200, "{body}");
    tests::wait_for("the good line", std::time::Duration::from_secs(20), || (agg.count("good-canary") == 1).then_some(()));
    assert_eq!(agg.count("partial-canary"), 0);
    assert_eq!(agg.count(""), 1);
}

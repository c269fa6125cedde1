//! The metrics store end to end: remote_write in, the Prometheus HTTP API out, durability across
//! SIGKILL, malformed bodies rejected without storing anything.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tests::remote_write::{STALE_NAN, body, labels, post};
use tests::{Aggregator, client, free_port, prom_api};

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

fn query(url: &str, q: &str, t: i64) -> Value {
    let (status, v) = prom_api(url, "/api/v1/query", &[("query", q), ("time", &format!("{}", t as f64 / 1000.0))]);
    assert_eq!(status, 200, "{q}: {v}");
    assert_eq!(v["status"], "success");
    v["data"].clone()
}

fn series_count(url: &str) -> usize {
    let (status, v) = prom_api(url, "/api/v1/series", &[("match[]", "{__name__=~\".+\"}")]);
    assert_eq!(status, 200, "{v}");
    v["data"].as_array().unwrap().len()
}

#[test]
fn remote_write_then_query_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let agg = Aggregator::start(&dir.path().join("data"), port, &[]);
    let t0 = (now_ms() / 60_000) * 60_000 - 30 * 60_000;
    let req = |job: &str, inst: &str, n: i64, per_step: f64| {
        (
            labels(&[("__name__", "http_requests_total"), ("job", job), ("instance", inst)]),
            (0..n).map(|i| (t0 + i * 15_000, i as f64 * per_step)).collect::<Vec<_>>(),
        )
    };
    let mut gone = (labels(&[("__name__", "gone")]), vec![(t0, 1.0), (t0 + 15_000, 2.0)]);
    gone.1.push((t0 + 30_000, f64::from_bits(STALE_NAN)));
    let (status, text) = post(&agg.url, body(&[req("api", "a", 41, 15.0), req("api", "b", 41, 30.0), gone]));
    assert_eq!(status, 204, "{text}");

    // rate over a counter growing 1/s and 2/s.
    let at = t0 + 600_000;
    let data = query(&agg.url, "sum by (job) (rate(http_requests_total[5m]))", at);
    assert_eq!(data["resultType"], "vector");
    let r = &data["result"][0];
    assert_eq!(r["metric"], serde_json::json!({"job": "api"}));
    let v: f64 = r["value"][1].as_str().unwrap().parse().unwrap();
    assert!((v - 3.0).abs() < 1e-9, "{v}");
    assert_eq!(r["value"][0].as_f64().unwrap(), at as f64 / 1000.0);
    // The staleness marker ends `gone` before the lookback would.
    assert_eq!(query(&agg.url, "gone", t0 + 15_000)["result"].as_array().unwrap().len(), 1);
    assert_eq!(query(&agg.url, "gone", t0 + 45_000)["result"].as_array().unwrap().len(), 0);

    // Range query by POST form.
    let (status, v) = prom_api(
        &agg.url,
        "/api/v1/query_range",
        &[
            ("query", "http_requests_total{instance=\"a\"}"),
            ("start", &(t0 / 1000).to_string()),
            ("end", &((t0 + 60_000) / 1000).to_string()),
            ("step", "15s"),
        ],
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["data"]["resultType"], "matrix");
    let values = v["data"]["result"][0]["values"].as_array().unwrap();
    assert_eq!(values.len(), 5);
    assert_eq!(values[4][1], "60");

    // Metadata endpoints.
    let (_, v) = prom_api(&agg.url, "/api/v1/labels", &[]);
    assert_eq!(v["data"], serde_json::json!(["__name__", "instance", "job"]));
    let r: Value = client().get(format!("{}/api/v1/label/instance/values", agg.url)).send().unwrap().json().unwrap();
    assert_eq!(r["data"], serde_json::json!(["a", "b"]));
    let r: Value = client().get(format!("{}/api/v1/label/__name__/values", agg.url)).send().unwrap().json().unwrap();
    assert_eq!(r["data"], serde_json::json!(["gone", "http_requests_total"]));
    assert_eq!(series_count(&agg.url), 3);
    let r: Value = client().get(format!("{}/api/v1/status/buildinfo", agg.url)).send().unwrap().json().unwrap();
    assert_eq!(r["status"], "success");
    assert!(r["data"]["version"].is_string());
    let r: Value = client().get(format!("{}/api/v1/metadata", agg.url)).send().unwrap().json().unwrap();
    assert_eq!(r["status"], "success");

    // SIGKILL: every acknowledged sample comes back from the WAL.
    agg.proc.kill9();
    let agg = Aggregator::start(&dir.path().join("data"), port, &[]);
    let data = query(&agg.url, "sum by (job) (rate(http_requests_total[5m]))", at);
    let v: f64 = data["result"][0]["value"][1].as_str().unwrap().parse().unwrap();
    assert!((v - 3.0).abs() < 1e-9, "{v}");
    assert_eq!(query(&agg.url, "gone", t0 + 45_000)["result"].as_array().unwrap().len(), 0, "marker replayed");
    assert_eq!(series_count(&agg.url), 3);
}

#[test]
fn malformed_remote_write_is_400_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let agg = Aggregator::start(&dir.path().join("data"), free_port(), &[]);
    let t = now_ms();
    let good = (labels(&[("__name__", "ok_metric")]), vec![(t, 1.0)]);
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"plainly not snappy".to_vec(), "snappy"),
        (snap::raw::Encoder::new().compress_vec(&[0x0a, 0xff, 0xff, 0xff]).unwrap(), "WriteRequest"),
        (body(&[good.clone(), (labels(&[("job", "no-name")]), vec![(t, 1.0)])]), "no __name__"),
        (body(&[good.clone(), (labels(&[("__name__", "x"), ("bad-label", "v")]), vec![(t, 1.0)])]), "invalid label name"),
    ];
    for (b, why) in cases {
        let (status, text) = post(&agg.url, b);
        assert_eq!(status, 400, "{why}: {text}");
        assert!(text.contains(why), "{text} should say {why}");
    }
    assert_eq!(series_count(&agg.url), 0, "nothing from a rejected request is stored");
    // A wrong encoding is refused too.
    let r = client()
        .post(format!("{}/api/v1/write", agg.url))
        .header("Content-Encoding", "gzip")
        .body(body(std::slice::from_ref(&good)))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    // Samples beyond the out-of-order window are refused one by one and counted.
    assert_eq!(post(&agg.url, body(std::slice::from_ref(&good))).0, 204);
    assert_eq!(post(&agg.url, body(&[(good.0.clone(), vec![(t - 3_600_000, 5.0)])])).0, 204);
    let metrics = client().get(format!("{}/metrics", agg.url)).send().unwrap().text().unwrap();
    assert!(metrics.contains("lookout_tsdb_rejected_samples_total{reason=\"too_old\"} 1"), "{metrics}");
    let data = query(&agg.url, "count_over_time(ok_metric[2h])", t);
    assert_eq!(data["result"][0]["value"][1], "1");
}

#[test]
fn query_errors_use_prometheus_error_types() {
    let dir = tempfile::tempdir().unwrap();
    let agg = Aggregator::start(&dir.path().join("data"), free_port(), &[]);
    let t = now_ms();
    let s = |pairs: &[(&str, &str)]| (labels(pairs), vec![(t, 1.0)]);
    assert_eq!(
        post(
            &agg.url,
            body(&[
                s(&[("__name__", "a"), ("job", "x"), ("i", "1")]),
                s(&[("__name__", "a"), ("job", "x"), ("i", "2")]),
                s(&[("__name__", "b"), ("job", "x")])
            ])
        )
        .0,
        204
    );
    let ts = format!("{}", t as f64 / 1000.0);
    let (status, v) = prom_api(&agg.url, "/api/v1/query", &[("query", "sum(rate(a[5m])"), ("time", &ts)]);
    assert_eq!((status, v["errorType"].as_str()), (400, Some("bad_data")), "{v}");
    let (status, v) = prom_api(&agg.url, "/api/v1/query", &[("query", "b + on(job) a"), ("time", &ts)]);
    assert_eq!((status, v["errorType"].as_str()), (422, Some("execution")), "{v}");
    assert!(v["error"].as_str().unwrap().contains("many-to-many"), "{v}");
    let (status, v) = prom_api(&agg.url, "/api/v1/query", &[("query", "a"), ("time", "yesterday")]);
    assert_eq!((status, v["errorType"].as_str()), (400, Some("bad_data")), "{v}");
    let (status, v) = prom_api(&agg.url, "/api/v1/query_range", &[("query", "a[5m]"), ("start", "0"), ("end", "60"), ("step", "15")]);
    assert_eq!((status, v["errorType"].as_str()), (400, Some("bad_data")), "{v}");
    let (status, v) = prom_api(&agg.url, "/api/v1/query_range", &[("query", "a"), ("start", "0"), ("end", "1000000"), ("step", "1")]);
    assert_eq!((status, v["errorType"].as_str()), (400, Some("bad_data")), "{v}");
    // GET works as well as POST, and a scalar has its own result type.
    let r: Value =
        client().get(format!("{}/api/v1/query", agg.url)).query(&[("query", "1 + 2"), ("time", "100")]).send().unwrap().json().unwrap();
    assert_eq!(r["data"], serde_json::json!({"resultType": "scalar", "result": [100, "3"]}));
}

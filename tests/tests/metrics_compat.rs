//! Clients of the Prometheus API against Lookout: `promtool query instant|range` (the real
//! binary from the Debian `prometheus` package), the exact requests Grafana's Prometheus data
//! source makes, OTLP/HTTP metrics (protobuf + gzip, JSON) and text exposition import, and the
//! query limits with Prometheus's error types.

use std::io::Write;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, metric,
    number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use serde_json::{Value, json};
use tests::remote_write::{body, labels, post};
use tests::{Aggregator, client, free_port, prom_api};

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

fn promtool() -> Option<std::path::PathBuf> {
    let p = std::path::PathBuf::from("/usr/bin/promtool");
    if p.exists() {
        return Some(p);
    }
    assert!(std::env::var("CI").as_deref() != Ok("true"), "promtool is missing: run scripts/install-test-deps.sh");
    eprintln!("promtool missing; skipped outside CI");
    None
}

/// Two counters at 15 s for 10 minutes ending a minute ago.
fn load(url: &str) -> i64 {
    let t0 = (now_ms() / 60_000) * 60_000 - 11 * 60_000;
    let s = |inst: &str, per: f64| {
        (
            labels(&[("__name__", "http_requests_total"), ("job", "api"), ("instance", inst)]),
            (0..41).map(|i| (t0 + i * 15_000, i as f64 * per)).collect::<Vec<_>>(),
        )
    };
    let (status, text) = post(url, body(&[s("a", 15.0), s("b", 30.0)]));
    assert_eq!(status, 204, "{text}");
    t0
}

#[test]
fn promtool_query_instant_and_range_work_against_lookout() {
    let Some(promtool) = promtool() else { return };
    let dir = tempfile::tempdir().unwrap();
    let agg = Aggregator::start(&dir.path().join("data"), free_port(), &[]);
    let t0 = load(&agg.url);
    let at = ((t0 + 600_000) / 1000).to_string();
    let out = Command::new(&promtool)
        .args(["query", "instant", "--time", &at, &agg.url, "sum by (job) (rate(http_requests_total[5m]))"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "promtool failed: {stdout} {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout.trim(), format!("{{job=\"api\"}} => 3 @[{at}]"));

    let (start, end) = (((t0 + 60_000) / 1000).to_string(), ((t0 + 120_000) / 1000).to_string());
    let out = Command::new(&promtool)
        .args(["query", "range", "--start", &start, "--end", &end, "--step", "30s", &agg.url, "http_requests_total{instance=\"b\"}"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "promtool failed: {stdout} {}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "http_requests_total{instance=\"b\", job=\"api\"} =>");
    assert_eq!(&lines[1..], &[format!("120 @[{start}]"), format!("180 @[{}]", (t0 + 90_000) / 1000), format!("240 @[{end}]")]);

    // A query error reaches promtool as Prometheus's error.
    let out = Command::new(&promtool).args(["query", "instant", &agg.url, "sum(("]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad_data"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn the_requests_grafana_makes_are_answered_like_prometheus() {
    let dir = tempfile::tempdir().unwrap();
    let agg = Aggregator::start(&dir.path().join("data"), free_port(), &[]);
    let t0 = load(&agg.url);
    let (start, end) = ((t0 / 1000).to_string(), ((t0 + 600_000) / 1000).to_string());
    let c = client();
    // Health check of the data source.
    let v: Value = c.get(format!("{}/api/v1/status/buildinfo", agg.url)).send().unwrap().json().unwrap();
    assert_eq!(v["status"], "success");
    assert!(v["data"]["version"].as_str().is_some_and(|s| !s.is_empty()));
    // Panels: range query as a POST form with Grafana's parameters.
    let r = c
        .post(format!("{}/api/v1/query_range", agg.url))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("query=sum%20by%20(instance)%20(rate(http_requests_total%5B1m%5D))&start={start}&end={end}&step=60"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().unwrap();
    assert_eq!(v["data"]["resultType"], "matrix");
    let res = v["data"]["result"].as_array().unwrap();
    assert_eq!(res.len(), 2);
    assert_eq!(res[0]["metric"], json!({"instance": "a"}));
    assert_eq!(res[1]["values"][5][1], "2");
    // Instant query by POST form (table panels, alert previews).
    let r = c
        .post(format!("{}/api/v1/query", agg.url))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("query=count(http_requests_total)&time={end}"))
        .send()
        .unwrap();
    let v: Value = r.json().unwrap();
    assert_eq!(v["data"]["result"][0]["value"][1], "2");
    // Query editor: metric names, label names for a selector, series, label values.
    let v: Value = c.get(format!("{}/api/v1/label/__name__/values?start={start}&end={end}", agg.url)).send().unwrap().json().unwrap();
    assert_eq!(v["data"], json!(["http_requests_total"]));
    let v: Value = c
        .get(format!("{}/api/v1/labels", agg.url))
        .query(&[("match[]", "http_requests_total"), ("start", &start), ("end", &end)])
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(v["data"], json!(["__name__", "instance", "job"]));
    let v: Value = c
        .get(format!("{}/api/v1/series", agg.url))
        .query(&[("match[]", "http_requests_total{instance=\"a\"}"), ("start", &start), ("end", &end)])
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(v["data"], json!([{"__name__": "http_requests_total", "instance": "a", "job": "api"}]));
    let v: Value = c
        .get(format!("{}/api/v1/label/instance/values", agg.url))
        .query(&[("match[]", "http_requests_total{job=\"api\"}"), ("start", &start), ("end", &end)])
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(v["data"], json!(["a", "b"]));
    // Time outside the data: nothing.
    let v: Value = c.get(format!("{}/api/v1/label/__name__/values?start=1000&end=2000", agg.url)).send().unwrap().json().unwrap();
    assert_eq!(v["data"], json!([]));
}

#[test]
fn query_limits_answer_with_prometheus_error_types() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("lookout.toml");
    std::fs::write(&config, "[metrics]\nmax_samples_per_query = 50\nmax_series = 1\n").unwrap();
    let agg = Aggregator::start(&dir.path().join("data"), free_port(), &["--config", config.to_str().unwrap()]);
    let t0 = load(&agg.url);
    let at = ((t0 + 600_000) / 1000).to_string();
    // 82 samples under the range selector: over the limit of 50.
    let (status, v) = prom_api(&agg.url, "/api/v1/query", &[("query", "count_over_time(http_requests_total[10m])"), ("time", &at)]);
    assert_eq!(status, 422, "{v}");
    assert_eq!(v["errorType"], "execution");
    assert!(v["error"].as_str().unwrap().contains("too many samples"), "{v}");
    // A small query still runs.
    let (status, v) = prom_api(&agg.url, "/api/v1/query", &[("query", "http_requests_total{instance=\"a\"}"), ("time", &at)]);
    assert_eq!(status, 200, "{v}");
    // Two series match, the limit is one.
    let (status, v) = prom_api(&agg.url, "/api/v1/series", &[("match[]", "http_requests_total")]);
    assert_eq!(status, 422, "{v}");
    assert_eq!(v["errorType"], "execution");
}

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue { key: k.into(), value: Some(AnyValue { value: Some(any_value::Value::StringValue(v.into())) }), ..Default::default() }
}

#[test]
fn otlp_metrics_and_text_import_are_translated_to_prometheus_series() {
    let dir = tempfile::tempdir().unwrap();
    let agg = Aggregator::start(&dir.path().join("data"), free_port(), &[]);
    let t = now_ms() - 60_000;
    let ns = (t as u64) * 1_000_000;
    let req = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![kv("service.name", "checkout"), kv("service.instance.id", "pod-1"), kv("k8s.namespace.name", "shop")],
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope { name: "test".into(), ..Default::default() }),
                metrics: vec![
                    Metric {
                        name: "http.server.requests".into(),
                        unit: "{request}".into(),
                        description: "Requests served".into(),
                        data: Some(metric::Data::Sum(Sum {
                            data_points: vec![NumberDataPoint {
                                attributes: vec![kv("http.method", "GET")],
                                time_unix_nano: ns,
                                value: Some(number_data_point::Value::AsInt(42)),
                                ..Default::default()
                            }],
                            aggregation_temporality: AggregationTemporality::Cumulative as i32,
                            is_monotonic: true,
                        })),
                        ..Default::default()
                    },
                    Metric {
                        name: "http.server.duration".into(),
                        unit: "s".into(),
                        data: Some(metric::Data::Histogram(Histogram {
                            data_points: vec![HistogramDataPoint {
                                time_unix_nano: ns,
                                count: 10,
                                sum: Some(3.5),
                                bucket_counts: vec![2, 5, 3],
                                explicit_bounds: vec![0.1, 0.5],
                                ..Default::default()
                            }],
                            aggregation_temporality: AggregationTemporality::Cumulative as i32,
                        })),
                        ..Default::default()
                    },
                    Metric {
                        name: "queue.delta".into(),
                        data: Some(metric::Data::Sum(Sum {
                            data_points: vec![NumberDataPoint {
                                time_unix_nano: ns,
                                value: Some(number_data_point::Value::AsInt(1)),
                                ..Default::default()
                            }],
                            aggregation_temporality: AggregationTemporality::Delta as i32,
                            is_monotonic: true,
                        })),
                        ..Default::default()
                    },
                ],
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    };
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&req.encode_to_vec()).unwrap();
    let r = client()
        .post(format!("{}/v1/metrics", agg.url))
        .header("Content-Type", "application/x-protobuf")
        .header("Content-Encoding", "gzip")
        .body(gz.finish().unwrap())
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/x-protobuf");
    let at = (t / 1000 + 1).to_string();
    let q = |expr: &str| {
        let (status, v) = prom_api(&agg.url, "/api/v1/query", &[("query", expr), ("time", &at)]);
        assert_eq!(status, 200, "{v}");
        v["data"]["result"].clone()
    };
    assert_eq!(
        q("http_server_requests_total")[0]["metric"],
        json!({"__name__": "http_server_requests_total", "http_method": "GET", "job": "checkout", "instance": "pod-1"})
    );
    assert_eq!(q("http_server_requests_total")[0]["value"][1], "42");
    assert_eq!(q("http_server_duration_seconds_bucket{le=\"0.5\"}")[0]["value"][1], "7");
    assert_eq!(q("http_server_duration_seconds_bucket{le=\"+Inf\"}")[0]["value"][1], "10");
    assert_eq!(q("http_server_duration_seconds_sum")[0]["value"][1], "3.5");
    assert_eq!(q("http_server_duration_seconds_count")[0]["value"][1], "10");
    // rank 5 falls in (0.1, 0.5] holding 2..7: 0.1 + 0.4 * 3/5.
    let p50: f64 = q("histogram_quantile(0.5, http_server_duration_seconds_bucket)")[0]["value"][1].as_str().unwrap().parse().unwrap();
    assert!((p50 - 0.34).abs() < 1e-12, "{p50}");
    assert_eq!(
        q("target_info")[0]["metric"],
        json!({"__name__": "target_info", "job": "checkout", "instance": "pod-1", "k8s_namespace_name": "shop"})
    );
    assert_eq!(q("queue_delta_total").as_array().unwrap().len(), 0, "delta sums are dropped");
    let md: Value = client().get(format!("{}/api/v1/metadata?metric=http_server_requests_total", agg.url)).send().unwrap().json().unwrap();
    assert_eq!(md["data"]["http_server_requests_total"][0], json!({"type": "counter", "help": "Requests served", "unit": "{request}"}));

    // JSON encoding, answered in JSON with the dropped points as a partial success.
    let json_body = json!({"resourceMetrics": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "cart"}}]},
    "scopeMetrics": [{"metrics": [
        {"name": "cart.items", "unit": "1", "gauge": {"dataPoints": [{"timeUnixNano": ns.to_string(), "asDouble": 0.25}]}},
        {"name": "cart.delta", "sum": {"aggregationTemporality": 1, "isMonotonic": true, "dataPoints": [{"timeUnixNano": ns.to_string(), "asInt": "3"}]}}
    ]}]}]});
    let r = client().post(format!("{}/v1/metrics", agg.url)).json(&json_body).send().unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().unwrap();
    assert_eq!(v["partialSuccess"]["rejectedDataPoints"], 1, "{v}");
    assert_eq!(q("cart_items_ratio")[0]["value"][1], "0.25");
    assert_eq!(q("cart_items_ratio")[0]["metric"]["job"], "cart");

    // Malformed bodies: 400 with the reason, nothing stored.
    let r = client()
        .post(format!("{}/v1/metrics", agg.url))
        .header("Content-Type", "application/x-protobuf")
        .body(vec![0xff, 0xff, 0xff])
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = client()
        .post(format!("{}/v1/metrics", agg.url))
        .header("Content-Type", "application/json")
        .body("{\"resourceMetrics\": 5}")
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);

    // Exposition text import.
    let text = format!(
        "# HELP jobs_done_total Jobs.\n# TYPE jobs_done_total counter\njobs_done_total{{queue=\"a\"}} 7 {t}\njobs_done_total{{queue=\"b\"}} 9 {t}\n"
    );
    let r = client().post(format!("{}/api/v1/import/prometheus", agg.url)).body(text).send().unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(q("sum(jobs_done_total)")[0]["value"][1], "16");
    let md: Value = client().get(format!("{}/api/v1/metadata?metric=jobs_done_total", agg.url)).send().unwrap().json().unwrap();
    assert_eq!(md["data"]["jobs_done_total"][0]["type"], "counter");
    let r = client().post(format!("{}/api/v1/import/prometheus", agg.url)).body("ok_metric 1\nthis is not a sample\n").send().unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().unwrap().contains("line 2"));
    assert_eq!(q("ok_metric").as_array().unwrap().len(), 0, "a rejected body stores nothing");
}

//! Rule evaluation end to end: a real `lookout serve` with a rule file, samples pushed by
//! remote_write, logs by NDJSON; alerts observed going pending → firing → resolved in
//! `/api/v1/alerts`, recorded series and `ALERTS` queried back, alerts received by a local HTTP
//! server standing in for Alertmanager, reloads by `POST /-/reload` and SIGHUP, and
//! `lookout rules check` on broken and shipped files (plus `promtool check rules` on the shipped
//! Prometheus-format files).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tests::remote_write::{body, labels, post};
use tests::{Aggregator, bin, client, free_port, prom_api, wait_for};

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

/// A minimal HTTP/1.1 server that records `POST /api/v2/alerts` bodies, as Alertmanager's API
/// receives them (JSON array of postable alerts, `Content-Type: application/json`).
struct FakeAlertmanager {
    url: String,
    posts: Arc<Mutex<Vec<Value>>>,
}

impl FakeAlertmanager {
    fn start() -> FakeAlertmanager {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let posts: Arc<Mutex<Vec<Value>>> = Arc::default();
        let p = posts.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let p = p.clone();
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut out = stream;
                    loop {
                        let mut request_line = String::new();
                        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
                            return;
                        }
                        let mut len = 0usize;
                        let mut ctype = String::new();
                        loop {
                            let mut h = String::new();
                            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                                return;
                            }
                            let h = h.trim_end();
                            if h.is_empty() {
                                break;
                            }
                            let (k, v) = h.split_once(':').unwrap_or((h, ""));
                            match k.to_ascii_lowercase().as_str() {
                                "content-length" => len = v.trim().parse().unwrap_or(0),
                                "content-type" => ctype = v.trim().to_string(),
                                _ => {}
                            }
                        }
                        let mut body = vec![0; len];
                        reader.read_exact(&mut body).unwrap();
                        let ok = request_line.starts_with("POST /api/v2/alerts ") && ctype == "application/json";
                        if ok {
                            p.lock().unwrap().push(serde_json::from_slice(&body).expect("alerts JSON"));
                        }
                        let status = if ok { "200 OK" } else { "400 Bad Request" };
                        let _ = out.write_all(format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n").as_bytes());
                    }
                });
            }
        });
        FakeAlertmanager { url, posts }
    }

    /// Every alert received so far, flattened.
    fn alerts(&self) -> Vec<Value> {
        self.posts.lock().unwrap().iter().flat_map(|b| b.as_array().cloned().unwrap_or_default()).collect()
    }
}

fn get(url: &str) -> Value {
    let r = client().get(url).send().unwrap();
    assert!(r.status().is_success(), "{url}: {}", r.status());
    r.json().unwrap()
}

fn alerts(agg: &Aggregator) -> Vec<Value> {
    let v = get(&format!("{}/api/v1/alerts", agg.url));
    assert_eq!(v["status"], "success");
    v["data"]["alerts"].as_array().unwrap().clone()
}

fn query(agg: &Aggregator, q: &str) -> Vec<Value> {
    let (status, v) = prom_api(&agg.url, "/api/v1/query", &[("query", q)]);
    assert_eq!(status, 200, "{q}: {v}");
    v["data"]["result"].as_array().unwrap().clone()
}

fn write_config(dir: &Path, extra: &str) -> PathBuf {
    let cfg = dir.join("lookout.toml");
    std::fs::write(&cfg, format!("rule_files = [\"rules/*.yml\"]\n[rules]\nevaluation_interval_secs = 1\n{extra}")).unwrap();
    cfg
}

const RULES: &str = r#"groups:
  - name: queues
    interval: 1s
    rules:
      - record: job:queue_depth:max
        expr: max by (job) (queue_depth)
      - alert: QueueTooDeep
        expr: job:queue_depth:max > 100
        for: 3s
        labels:
          severity: page
        annotations:
          summary: "{{ $labels.job }} queue at {{ $value }} in {{ $externalLabels.cluster }}"
"#;

fn push(agg: &Aggregator, v: f64) {
    let (status, text) =
        post(&agg.url, body(&[(labels(&[("__name__", "queue_depth"), ("job", "worker"), ("instance", "a")]), vec![(now_ms(), v)])]));
    assert_eq!(status, 204, "{text}");
}

#[test]
fn alert_goes_pending_firing_resolved_and_reaches_alertmanager() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("rules")).unwrap();
    let rules = dir.path().join("rules/queues.yml");
    std::fs::write(&rules, RULES).unwrap();
    let am = FakeAlertmanager::start();
    let cfg = write_config(dir.path(), &format!("alertmanager_urls = [{:?}]\nexternal_labels = {{ cluster = \"e2e\" }}\n", am.url));
    let agg = Aggregator::start(&dir.path().join("data"), free_port(), &["--config", cfg.to_str().unwrap()]);

    push(&agg, 150.0);
    // Pending first (for: 3s), then firing.
    let pending = wait_for("pending alert", Duration::from_secs(20), || alerts(&agg).into_iter().find(|a| a["state"] == "pending"));
    assert_eq!(pending["labels"], serde_json::json!({"alertname": "QueueTooDeep", "job": "worker", "severity": "page"}));
    assert_eq!(pending["annotations"]["summary"], "worker queue at 150 in e2e");
    assert_eq!(pending["value"], "1.5e+02");
    let t_pending = Instant::now();
    assert!(am.alerts().is_empty(), "pending alerts are not sent");
    let firing = wait_for("firing alert", Duration::from_secs(20), || alerts(&agg).into_iter().find(|a| a["state"] == "firing"));
    assert!(t_pending.elapsed() >= Duration::from_millis(1500), "fired too early: {:?}", t_pending.elapsed());
    assert_eq!(firing["activeAt"], pending["activeAt"]);

    // Recorded series and ALERTS are queryable.
    let rec = query(&agg, "job:queue_depth:max");
    assert_eq!(rec.len(), 1, "{rec:?}");
    assert_eq!(rec[0]["metric"], serde_json::json!({"__name__": "job:queue_depth:max", "job": "worker"}));
    assert_eq!(rec[0]["value"][1], "150");
    let series = query(&agg, "ALERTS{alertname=\"QueueTooDeep\"}");
    assert_eq!(series.len(), 1, "{series:?}");
    assert_eq!(series[0]["metric"]["alertstate"], "firing");
    assert_eq!(series[0]["metric"]["severity"], "page");
    let for_state = query(&agg, "ALERTS_FOR_STATE{alertname=\"QueueTooDeep\"}");
    assert_eq!(for_state.len(), 1);
    let active_at: f64 = for_state[0]["value"][1].as_str().unwrap().parse().unwrap();
    assert!((now_ms() as f64 / 1000.0 - active_at).abs() < 60.0, "{active_at}");

    // Alertmanager got it with external labels, annotations and a future endsAt.
    let got = wait_for("alert at Alertmanager", Duration::from_secs(10), || am.alerts().into_iter().next());
    assert_eq!(got["labels"], serde_json::json!({"alertname": "QueueTooDeep", "job": "worker", "severity": "page", "cluster": "e2e"}));
    assert_eq!(got["annotations"], serde_json::json!({"summary": "worker queue at 150 in e2e"}));
    assert!(got["generatorURL"].as_str().unwrap().contains("/graph?g0.expr=job%3Aqueue_depth%3Amax"), "{got}");
    assert!(got["startsAt"].as_str().unwrap() < got["endsAt"].as_str().unwrap());

    // The rules API reports both rules healthy.
    let r = get(&format!("{}/api/v1/rules", agg.url));
    let g = &r["data"]["groups"][0];
    assert_eq!(g["name"], "queues");
    assert_eq!(g["interval"], 1, "whole seconds as Prometheus writes them");
    assert_eq!(g["rules"][0]["type"], "recording");
    assert_eq!(g["rules"][0]["health"], "ok");
    assert_eq!(g["rules"][1]["type"], "alerting");
    assert_eq!(g["rules"][1]["state"], "firing");
    assert_eq!(g["rules"][1]["duration"], 3);
    assert_eq!(g["rules"][1]["alerts"].as_array().unwrap().len(), 1);
    let only_rec = get(&format!("{}/api/v1/rules?type=record", agg.url));
    assert_eq!(only_rec["data"]["groups"][0]["rules"].as_array().unwrap().len(), 1);

    // Resolve: the value drops; Alertmanager is told (endsAt not in the future any more).
    push(&agg, 5.0);
    wait_for("alert to resolve", Duration::from_secs(20), || alerts(&agg).is_empty().then_some(()));
    let resolved = wait_for("resolved alert at Alertmanager", Duration::from_secs(10), || {
        let now = iso_now();
        am.alerts().into_iter().find(|a| a["endsAt"].as_str().unwrap() <= now.as_str())
    });
    assert_eq!(resolved["labels"]["alertname"], "QueueTooDeep");
    assert!(query(&agg, "ALERTS").is_empty(), "ALERTS ends with a stale marker");

    // POST /-/reload picks up an edited file; unchanged rules keep running.
    std::fs::write(&rules, RULES.replace("> 100", "> 1")).unwrap();
    let r = client().post(format!("{}/-/reload", agg.url)).send().unwrap();
    assert_eq!(r.status(), 200);
    wait_for("edited rule to fire", Duration::from_secs(20), || alerts(&agg).into_iter().find(|a| a["state"] != "inactive").map(|_| ()));
    let q = get(&format!("{}/api/v1/rules", agg.url));
    assert_eq!(q["data"]["groups"][0]["rules"][1]["query"], "job:queue_depth:max > 1");

    // SIGHUP too.
    std::fs::write(
        dir.path().join("rules/extra.yml"),
        "groups:\n  - name: extra\n    rules:\n      - record: two\n        expr: vector(2)\n",
    )
    .unwrap();
    agg.proc.signal(libc::SIGHUP);
    wait_for("SIGHUP reload", Duration::from_secs(10), || {
        let v = get(&format!("{}/api/v1/rules", agg.url));
        v["data"]["groups"].as_array().unwrap().iter().any(|g| g["name"] == "extra").then_some(())
    });

    // A broken edit is refused with file:line, and the running rules stay.
    std::fs::write(&rules, RULES.replace("max by (job) (queue_depth)", "max by (job) (queue_depth")).unwrap();
    let r = client().post(format!("{}/-/reload", agg.url)).send().unwrap();
    assert_eq!(r.status(), 400);
    let text = r.text().unwrap();
    assert!(text.contains("queues.yml:6:") && text.contains("could not parse expression"), "{text}");
    let v = get(&format!("{}/api/v1/rules", agg.url));
    assert_eq!(v["data"]["groups"].as_array().unwrap().len(), 2);
}

fn iso_now() -> String {
    // RFC 3339 of now, comparable as a string with Lookout's UTC timestamps (both ...Z).
    let out = Command::new("date").args(["-u", "+%Y-%m-%dT%H:%M:%S"]).output().unwrap();
    format!("{}Z", String::from_utf8_lossy(&out.stdout).trim())
}

#[test]
fn log_rule_fires_from_ingested_error_lines() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("rules")).unwrap();
    std::fs::write(
        dir.path().join("rules/logs.yml"),
        r#"groups:
  - name: logs
    interval: 1s
    rules:
      - alert: ManyErrors
        log_query: 'level:error'
        window: 5m
        group_by: [service]
        threshold: '> 3'
        annotations:
          summary: "{{ $labels.service }}: {{ $value }} errors"
      - record: service:errors:count5m
        log_query: 'level:error'
        window: 5m
        group_by: [service]
"#,
    )
    .unwrap();
    let cfg = write_config(dir.path(), "");
    let agg = Aggregator::start(&dir.path().join("data"), free_port(), &["--config", cfg.to_str().unwrap()]);
    let mut lines = String::new();
    for i in 0..5 {
        lines.push_str(&format!("{{\"level\":\"error\",\"service\":\"pay\",\"message\":\"charge failed {i}\"}}\n"));
    }
    for i in 0..2 {
        lines.push_str(&format!("{{\"level\":\"error\",\"service\":\"web\",\"message\":\"timeout {i}\"}}\n"));
    }
    lines.push_str("{\"level\":\"info\",\"service\":\"web\",\"message\":\"ok\"}\n");
    let r = client().post(format!("{}/api/v1/logs/ingest", agg.url)).body(lines).send().unwrap();
    assert!(r.status().is_success(), "{}", r.status());

    let a = wait_for("log alert", Duration::from_secs(20), || alerts(&agg).into_iter().find(|a| a["state"] == "firing"));
    assert_eq!(a["labels"], serde_json::json!({"alertname": "ManyErrors", "service": "pay"}));
    assert_eq!(a["annotations"]["summary"], "pay: 5 errors");
    assert_eq!(alerts(&agg).len(), 1, "web has only 2 errors");
    let rec = wait_for("recorded log counts", Duration::from_secs(10), || {
        let r = query(&agg, "service:errors:count5m");
        (r.len() == 2).then_some(r)
    });
    let by: std::collections::BTreeMap<String, String> =
        rec.iter().map(|s| (s["metric"]["service"].as_str().unwrap().to_string(), s["value"][1].as_str().unwrap().to_string())).collect();
    assert_eq!(by, [("pay".to_string(), "5".to_string()), ("web".to_string(), "2".to_string())].into());
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

#[test]
fn rules_check_reports_file_line_and_exits_nonzero() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("broken.yml");
    std::fs::write(
        &bad,
        "groups:\n  - name: a\n    rules:\n      - alert: A\n        expr: rate(x[5m]\n      - record: bad name\n        expr: up\n",
    )
    .unwrap();
    let out = Command::new(bin("lookout")).args(["rules", "check", bad.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("broken.yml:5:15: could not parse expression"), "{err}");
    assert!(err.contains("broken.yml:6:17: invalid recording rule name: bad name"), "{err}");

    // The shipped rules pass our checker...
    let shipped: Vec<PathBuf> = std::fs::read_dir(repo_root().join("rules"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    assert!(shipped.len() >= 3);
    let out = Command::new(bin("lookout")).arg("rules").arg("check").args(&shipped).output().unwrap();
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));

    // ...and promtool, for the files in Prometheus's own format (logs.yml has Lookout's keys).
    match Command::new("promtool").arg("check").arg("rules").args(shipped.iter().filter(|p| !p.ends_with("logs.yml"))).output() {
        Ok(out) => {
            assert!(out.status.success(), "promtool: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
        }
        Err(e) => {
            assert!(std::env::var("CI").as_deref() != Ok("true"), "promtool is required in CI (scripts/install-test-deps.sh): {e}");
            eprintln!("promtool not installed; skipping its check");
        }
    }
    // promtool rejects the same broken file (our errors are a superset of its).
    if let Ok(out) = Command::new("promtool").args(["check", "rules", bad.to_str().unwrap()]).output() {
        assert!(!out.status.success());
    }
}

/// `for` state across a SIGKILL and an outage longer than the PromQL lookback: the alert is
/// pending (`for: 40s`), the aggregator is killed, stays down well past the lookback delta
/// (3 s here), and on restart the alert takes its original active-since time back from
/// `ALERTS_FOR_STATE` (read over the 1 h outage tolerance, the default) and fires 40 s after
/// the original start — before a restarted timer could have fired.
#[test]
fn for_timer_survives_sigkill_and_an_outage_longer_than_the_lookback() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("rules")).unwrap();
    std::fs::write(
        dir.path().join("rules/restore.yml"),
        "groups:\n  - name: restore\n    interval: 1s\n    rules:\n      - alert: LongPending\n        expr: vector(1)\n        for: 40s\n",
    )
    .unwrap();
    let cfg = dir.path().join("lookout.toml");
    std::fs::write(
        &cfg,
        "rule_files = [\"rules/*.yml\"]\n[rules]\nevaluation_interval_secs = 1\nfor_grace_period_secs = 1\n[metrics]\nlookback_delta_secs = 3\n",
    )
    .unwrap();
    let data = dir.path().join("data");
    let for_state = |agg: &Aggregator| -> Option<f64> {
        let v = query(agg, "ALERTS_FOR_STATE{alertname=\"LongPending\"}");
        v.first().map(|s| s["value"][1].as_str().unwrap().parse::<f64>().unwrap())
    };
    let state = |agg: &Aggregator| -> Option<String> {
        alerts(agg).iter().find(|a| a["labels"]["alertname"] == "LongPending").map(|a| a["state"].as_str().unwrap().to_string())
    };

    let agg = Aggregator::start(&data, free_port(), &["--config", cfg.to_str().unwrap()]);
    let since = wait_for("the alert to be pending with ALERTS_FOR_STATE", Duration::from_secs(30), || for_state(&agg));
    assert_eq!(state(&agg).as_deref(), Some("pending"));
    // A few more evaluations write ALERTS_FOR_STATE again, then the crash.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(state(&agg).as_deref(), Some("pending"));
    agg.proc.kill9();
    let crashed = now_ms() as f64 / 1000.0;

    // Down for more than twice the lookback: an instant selector no longer sees the series.
    std::thread::sleep(Duration::from_secs(8));
    let agg = Aggregator::start(&data, free_port(), &["--config", cfg.to_str().unwrap()]);
    let restarted = now_ms() as f64 / 1000.0;
    assert!(restarted - crashed >= 8.0);
    assert!(restarted < since + 40.0, "the restart must come before the original firing time (took too long)");

    // The restored start, not the restart time, is what the new process writes.
    let restored =
        wait_for("ALERTS_FOR_STATE to carry the original start", Duration::from_secs(20), || for_state(&agg).filter(|v| *v == since));
    assert_eq!(restored, since);
    assert_eq!(state(&agg).as_deref(), Some("pending"));

    // It fires at since + 40 s; a restarted timer would not fire before restarted + 40 s.
    let deadline = restarted + 38.0;
    let fired_at = loop {
        let now = now_ms() as f64 / 1000.0;
        if state(&agg).as_deref() == Some("firing") {
            break now;
        }
        assert!(now < deadline, "not firing {:.1} s after the original start (restart {:.1} s after it)", now - since, restarted - since);
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(fired_at >= since + 40.0, "fired {:.1} s after the original start, before `for` elapsed", fired_at - since);
}

//! Alert dispatch end to end, with the real `lookout` binary: Alertmanager API v2, grouping and
//! dedup, Slack/Twilio requests checked by local HTTP servers exactly as those services would
//! receive them, the webhook JSON, a real SMTP conversation (aiosmtpd with AUTH), escalation
//! Slack → SMS and acknowledgement, SIGKILL and restart without resending, a real Prometheus
//! using Lookout as its Alertmanager, and amtool managing silences.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tests::{Aggregator, Proc, client, free_port, wait_for};

/// One HTTP request as a local server saw it.
#[derive(Debug, Clone)]
struct Request {
    method: String,
    path: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
    /// When it was read completely.
    at: Instant,
}

impl Request {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    fn form(&self) -> HashMap<String, String> {
        let mut out = HashMap::new();
        for pair in String::from_utf8_lossy(&self.body).split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            out.insert(decode(k), decode(v));
        }
        out
    }
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).expect("percent escape"));
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).expect("utf-8 form value")
}

/// A tiny HTTP/1.1 server recording every request and answering with `status`.
struct Recorder {
    url: String,
    requests: Arc<Mutex<Vec<Request>>>,
    status: Arc<AtomicU16>,
}

impl Recorder {
    fn start(reply_body: &'static str) -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let status = Arc::new(AtomicU16::new(200));
        let (reqs, st) = (requests.clone(), status.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let mut reader = BufReader::new(conn.try_clone().expect("clone"));
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() || line.is_empty() {
                    continue;
                }
                let mut parts = line.split_whitespace();
                let method = parts.next().unwrap_or_default().to_string();
                let path = parts.next().unwrap_or_default().to_string();
                let mut headers = HashMap::new();
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
                        break;
                    }
                    if let Some((k, v)) = h.split_once(':') {
                        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
                    }
                }
                let len: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
                let mut body = vec![0; len];
                let _ = reader.read_exact(&mut body);
                reqs.lock().unwrap().push(Request { method, path, headers, body, at: Instant::now() });
                let code = st.load(Ordering::SeqCst);
                let _ = write!(
                    conn,
                    "HTTP/1.1 {code} X\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply_body}",
                    reply_body.len()
                );
            }
        });
        Recorder { url, requests, status }
    }

    fn all(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    fn wait_n(&self, n: usize, timeout: Duration) -> Vec<Request> {
        wait_for(&format!("{n} requests at {}", self.url), timeout, || {
            let r = self.all();
            (r.len() >= n).then_some(r)
        })
    }
}

/// Asserts nothing more arrives for `d` (bounded; used only after the expected traffic).
fn assert_quiet(r: &Recorder, n: usize, d: Duration, what: &str) {
    let end = Instant::now() + d;
    while Instant::now() < end {
        let got = r.all();
        assert!(
            got.len() <= n,
            "{what}: expected {n} requests, got {}: {:#?}",
            got.len(),
            got.iter().map(|x| String::from_utf8_lossy(&x.body).to_string()).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn start(dir: &Path, am_yaml: &str) -> Aggregator {
    let am = dir.join("alertmanager.yml");
    std::fs::write(&am, am_yaml).expect("write alertmanager.yml");
    let cfg = dir.join("lookout.toml");
    std::fs::write(&cfg, format!("alerting_config = {:?}\n", am.display().to_string())).expect("write lookout.toml");
    Aggregator::start(&dir.join("data"), free_port(), &["--config", cfg.to_str().unwrap()])
}

fn restart(dir: &Path, url: &str) -> Aggregator {
    let port: u16 = url.rsplit(':').next().unwrap().parse().unwrap();
    let cfg = dir.join("lookout.toml");
    Aggregator::start(&dir.join("data"), port, &["--config", cfg.to_str().unwrap()])
}

fn post_alerts(url: &str, alerts: Value) {
    let r = client().post(format!("{url}/api/v2/alerts")).json(&alerts).send().expect("post alerts");
    let status = r.status();
    assert_eq!(status, 200, "POST /api/v2/alerts: {}", r.text().unwrap_or_default());
}

fn get_alerts(url: &str, query: &str) -> Vec<Value> {
    let r = client().get(format!("{url}/api/v2/alerts{query}")).send().expect("get alerts");
    assert_eq!(r.status(), 200);
    r.json::<Vec<Value>>().expect("alerts JSON")
}

fn now_rfc3339(offset_secs: i64) -> String {
    // Seconds since the epoch to RFC 3339 without extra crates: let the aggregator accept it.
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64 + offset_secs;
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", secs / 3600, secs % 3600 / 60, secs % 60)
}

fn python_with_aiosmtpd() -> Option<&'static str> {
    ["python3", "/usr/bin/python3"].into_iter().find(|p| {
        Command::new(p).args(["-c", "import aiosmtpd"]).stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
    })
}

fn require(what: &str, found: bool) -> bool {
    if found {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{what} is missing: run scripts/install-test-deps.sh");
    }
    eprintln!("skipping: {what} is missing (run scripts/install-test-deps.sh)");
    false
}

const SMTP_SERVER: &str = r#"
import sys, time
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import AuthResult
port, maildir, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
def check(server, session, envelope, mechanism, auth_data):
    return AuthResult(success=(auth_data.login == user.encode() and auth_data.password == password.encode()))
c = Controller(Mailbox(maildir), hostname="127.0.0.1", port=port, authenticator=check, auth_required=True, auth_require_tls=False)
c.start()
print("ready", flush=True)
while True:
    time.sleep(3600)
"#;

fn maildir_messages(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for sub in ["new", "cur"] {
        if let Ok(rd) = std::fs::read_dir(dir.join(sub)) {
            for e in rd.flatten() {
                out.push(std::fs::read_to_string(e.path()).unwrap_or_default());
            }
        }
    }
    out
}

/// Webhook JSON, Slack Block Kit, a real email over SMTP with AUTH, dedup and resolved
/// notifications, the v2 alert and group API, and the delivery log.
#[test]
fn grouped_notifications_reach_webhook_slack_and_email_once() {
    let Some(python) = python_with_aiosmtpd() else {
        assert!(!require("python3 with aiosmtpd (Debian python3-aiosmtpd)", false));
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let webhook = Recorder::start("");
    let slack = Recorder::start("ok");
    let smtp_port = free_port();
    let maildir = dir.path().join("maildir");
    let script = dir.path().join("smtp.py");
    std::fs::write(&script, SMTP_SERVER).unwrap();
    let smtp_log = dir.path().join("smtp.log");
    let _smtp = Proc::start(
        Path::new(python),
        &[script.to_str().unwrap(), &smtp_port.to_string(), maildir.to_str().unwrap(), "alerts", "pa55word"],
        dir.path(),
        &smtp_log,
    );
    wait_for("SMTP server", Duration::from_secs(20), || std::net::TcpStream::connect(("127.0.0.1", smtp_port)).ok());
    std::fs::write(dir.path().join("smtp-password"), "pa55word\n").unwrap();
    // The Slack URL is a secret: from a file (inline ones are refused by default).
    std::fs::write(dir.path().join("slack-url"), format!("{}/services/T000/B000/XXXX\n", slack.url)).unwrap();
    let yaml = format!(
        r#"
global:
  smtp_smarthost: 127.0.0.1:{smtp_port}
  smtp_from: lookout@example.org
  smtp_require_tls: false
  external_url: http://lookout.example
route:
  receiver: team
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: team
    webhook_configs:
      - url: {webhook}/hook
    slack_configs:
      - api_url_file: {slack_file}
        channel: '#ops'
        send_resolved: true
    email_configs:
      - to: oncall@example.org
        auth_username: alerts
        auth_password_file: {pw}
        send_resolved: true
"#,
        webhook = webhook.url,
        slack_file = dir.path().join("slack-url").display(),
        pw = dir.path().join("smtp-password").display()
    );
    let agg = start(dir.path(), &yaml);
    let labels = |i: u32| json!({"alertname": "HighLatency", "service": format!("api-{i}"), "severity": "critical"});
    post_alerts(
        &agg.url,
        json!([
            {"labels": labels(1), "annotations": {"summary": "p99 above 2s", "value": "2.7"}, "startsAt": now_rfc3339(-60), "generatorURL": "http://prom/graph"},
            {"labels": labels(2), "annotations": {"summary": "p99 above 2s"}, "startsAt": now_rfc3339(-60)}
        ]),
    );

    // Webhook: Alertmanager's JSON, both alerts in one group.
    let hooks = webhook.wait_n(1, Duration::from_secs(15));
    let h = &hooks[0];
    assert_eq!((h.method.as_str(), h.path.as_str()), ("POST", "/hook"));
    assert!(h.headers["content-type"].starts_with("application/json"), "{:?}", h.headers);
    let w = h.json();
    assert_eq!(w["version"], "4");
    assert_eq!(w["status"], "firing");
    assert_eq!(w["receiver"], "team");
    assert_eq!(w["groupLabels"], json!({"alertname": "HighLatency"}));
    assert_eq!(w["commonLabels"], json!({"alertname": "HighLatency", "severity": "critical"}));
    assert_eq!(w["commonAnnotations"], json!({"summary": "p99 above 2s"}));
    assert_eq!(w["externalURL"], "http://lookout.example");
    assert_eq!(w["truncatedAlerts"], 0);
    assert!(w["groupKey"].as_str().unwrap().ends_with(":{alertname=\"HighLatency\"}"), "{}", w["groupKey"]);
    let alerts = w["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 2);
    for a in alerts {
        assert_eq!(a["status"], "firing");
        assert_eq!(a["endsAt"], "0001-01-01T00:00:00Z");
        assert_eq!(a["fingerprint"].as_str().unwrap().len(), 16);
        assert!(a["startsAt"].as_str().unwrap().ends_with('Z'));
    }

    // Slack: a Block Kit message to the webhook path with the channel override.
    let s = &slack.wait_n(1, Duration::from_secs(15))[0];
    assert_eq!((s.method.as_str(), s.path.as_str()), ("POST", "/services/T000/B000/XXXX"));
    assert_eq!(s.headers["content-type"], "application/json");
    let m = s.json();
    assert_eq!(m["channel"], "#ops");
    assert_eq!(m["text"], "[FIRING:2] HighLatency");
    let blocks = m["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "header");
    assert_eq!(blocks[0]["text"]["text"], "[FIRING:2] HighLatency");
    let section =
        blocks.iter().find(|b| b["type"] == "section" && b["text"]["text"].as_str().unwrap().contains("api-1")).expect("section for api-1");
    let text = section["text"]["text"].as_str().unwrap();
    assert_eq!(section["text"]["type"], "mrkdwn");
    assert!(text.contains("*Severity:* critical") && text.contains("*Summary:* p99 above 2s") && text.contains("*Value:* 2.7"), "{text}");
    let fp1 = alerts.iter().find(|a| a["labels"]["service"] == "api-1").unwrap()["fingerprint"].as_str().unwrap().to_string();
    assert!(text.contains(&format!("<http://lookout.example/alerts/{fp1}|HighLatency>")), "{text}");

    // Email: a real SMTP conversation with AUTH; multipart with text and HTML.
    let mails = wait_for("an email in the maildir", Duration::from_secs(15), || {
        let m = maildir_messages(&maildir);
        (!m.is_empty()).then_some(m)
    });
    let mail = &mails[0];
    assert!(mail.contains("Subject: [FIRING:2] HighLatency"), "{mail}");
    assert!(mail.contains("To: oncall@example.org") && mail.contains("From: lookout@example.org"), "{mail}");
    assert!(mail.contains("multipart/alternative") && mail.contains("text/plain") && mail.contains("text/html"), "{mail}");
    assert!(mail.contains("p99 above 2s"), "{mail}");

    // The v2 API shows both alerts with the spec's fields; groups too.
    let listed = get_alerts(&agg.url, "?filter=service%3D%22api-1%22");
    assert_eq!(listed.len(), 1);
    let a = &listed[0];
    for f in ["annotations", "endsAt", "fingerprint", "receivers", "startsAt", "status", "updatedAt", "labels", "generatorURL"] {
        assert!(a.get(f).is_some(), "missing {f}: {a}");
    }
    assert_eq!(a["status"], json!({"inhibitedBy": [], "silencedBy": [], "state": "active"}));
    assert_eq!(a["receivers"], json!([{"name": "team"}]));
    let groups: Vec<Value> = client().get(format!("{}/api/v2/alerts/groups", agg.url)).send().unwrap().json().unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0]["receiver"], json!({"name": "team"}));
    assert_eq!(groups[0]["alerts"].as_array().unwrap().len(), 2);

    // Dedup: the same alerts re-sent (as Prometheus does every evaluation) notify nobody again.
    for _ in 0..3 {
        post_alerts(
            &agg.url,
            json!([{"labels": labels(1), "startsAt": now_rfc3339(-60)}, {"labels": labels(2), "startsAt": now_rfc3339(-60)}]),
        );
        std::thread::sleep(Duration::from_millis(700));
    }
    assert_quiet(&webhook, 1, Duration::from_secs(2), "unchanged group");
    assert_eq!(slack.all().len(), 1);

    // Resolve one: the next group_interval tells webhook (send_resolved default true) and Slack.
    post_alerts(&agg.url, json!([{"labels": labels(2), "startsAt": now_rfc3339(-60), "endsAt": now_rfc3339(-1)}]));
    let hooks = webhook.wait_n(2, Duration::from_secs(10));
    let w2 = hooks[1].json();
    assert_eq!(w2["status"], "firing");
    let statuses: Vec<(String, String)> = w2["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["labels"]["service"].as_str().unwrap().to_string(), a["status"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(statuses, vec![("api-1".to_string(), "firing".to_string()), ("api-2".to_string(), "resolved".to_string())]);
    let s2 = slack.wait_n(2, Duration::from_secs(10))[1].json();
    assert_eq!(s2["text"], "[FIRING:1] HighLatency");
    assert_eq!(get_alerts(&agg.url, "").len(), 1, "resolved alerts leave GET /api/v2/alerts");

    // The delivery log shows what was sent.
    let log: Value = client().get(format!("{}/api/v1/notifications?limit=50", agg.url)).send().unwrap().json().unwrap();
    let rows = log["notifications"].as_array().unwrap();
    let count = |i: &str| rows.iter().filter(|r| r["integration"] == i && r["outcome"] == "sent").count();
    assert_eq!((count("webhook"), count("slack")), (2, 2), "{log:#}");
    assert!(count("email") >= 1, "{log:#}");
    let metrics = client().get(format!("{}/metrics", agg.url)).send().unwrap().text().unwrap();
    assert!(
        metrics.contains("lookout_alerting_notifications_total{receiver=\"team\",integration=\"webhook\",outcome=\"sent\"} 2"),
        "{metrics}"
    );
}

/// Escalation Slack → wait → SMS while nobody acknowledges; an acknowledged group stops at
/// Slack and its resolved message says who acknowledged; a SIGKILL between the steps neither
/// loses the SMS nor repeats the Slack message.
#[test]
fn escalation_pages_sms_unless_acknowledged_and_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let slack = Recorder::start("ok");
    let twilio = Recorder::start(r#"{"sid": "SM1", "status": "queued"}"#);
    twilio.status.store(201, Ordering::SeqCst);
    std::fs::write(dir.path().join("twilio-token"), "tw-token\n").unwrap();
    std::fs::write(dir.path().join("slack-url"), format!("{}/services/T/B/X\n", slack.url)).unwrap();
    let yaml = format!(
        r#"
route:
  receiver: slack
  group_by: [alertname]
  group_wait: 500ms
  group_interval: 1s
  repeat_interval: 1h
  escalation_policy: page
receivers:
  - name: slack
    slack_configs:
      - api_url_file: {slack_file}
        send_resolved: true
  - name: phone
    sms_configs:
      - api_url: {twilio}
        account_sid: AC0123456789
        auth_token_file: {token}
        from: "+15550001111"
        to: ["+15550002222"]
escalation_policies:
  - name: page
    steps:
      - receivers: [slack]
        wait: 4s
      - receivers: [phone]
        wait: 1h
"#,
        slack_file = dir.path().join("slack-url").display(),
        twilio = twilio.url,
        token = dir.path().join("twilio-token").display()
    );
    let agg = start(dir.path(), &yaml);
    let fire = |name: &str| json!([{"labels": {"alertname": name, "severity": "critical"}, "annotations": {"summary": format!("{name} is down")}}]);
    post_alerts(&agg.url, fire("DbDown"));
    post_alerts(&agg.url, fire("CacheDown"));
    let first = slack.wait_n(2, Duration::from_secs(10));
    assert!(first.iter().all(|r| r.json()["text"].as_str().unwrap().starts_with("[FIRING:1]")));
    // Acknowledge CacheDown before its wait is over.
    let cache = get_alerts(&agg.url, "?filter=alertname%3DCacheDown");
    let cache_fp = cache[0]["fingerprint"].as_str().unwrap().to_string();
    let r = client()
        .post(format!("{}/api/v1/alerts/{cache_fp}/ack", agg.url))
        .json(&json!({"by": "alice", "comment": "on it"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    assert_eq!(get_alerts(&agg.url, "?filter=alertname%3DCacheDown")[0]["ack"]["by"], "alice");
    // SIGKILL mid-escalation, then restart: the state is in SQLite.
    let url = agg.url.clone();
    agg.proc.kill9();
    let agg = restart(dir.path(), &url);
    // DbDown escalates to SMS after its 4 s wait.
    let sms = twilio.wait_n(1, Duration::from_secs(15));
    let t = &sms[0];
    assert_eq!((t.method.as_str(), t.path.as_str()), ("POST", "/2010-04-01/Accounts/AC0123456789/Messages.json"));
    assert_eq!(t.headers["content-type"], "application/x-www-form-urlencoded");
    // Basic auth: base64("AC0123456789:tw-token").
    assert_eq!(t.headers["authorization"], "Basic QUMwMTIzNDU2Nzg5OnR3LXRva2Vu");
    let form = t.form();
    assert_eq!(form["To"], "+15550002222");
    assert_eq!(form["From"], "+15550001111");
    assert!(form["Body"].starts_with("[FIRING:1] DbDown (critical): DbDown is down"), "{}", form["Body"]);
    assert!(form["Body"].chars().count() <= 160);
    assert_eq!(form.len(), 3, "{form:?}");
    // No SMS for the acknowledged CacheDown, and no Slack message repeated after the restart.
    assert_quiet(&twilio, 1, Duration::from_secs(5), "acknowledged group must not escalate");
    assert_eq!(slack.all().len(), 2, "Slack must not be re-sent after restart");
    // Resolve CacheDown through the API: Slack hears it resolved, with who acknowledged.
    let r = client().post(format!("{}/api/v1/alerts/{cache_fp}/resolve", agg.url)).send().unwrap();
    assert_eq!(r.status(), 200);
    let resolved = slack.wait_n(3, Duration::from_secs(10))[2].json();
    assert_eq!(resolved["text"], "[RESOLVED] CacheDown");
    assert!(resolved.to_string().contains("Acknowledged by *alice*: on it"), "{resolved}");
    // Unknown fingerprints and actions are clear errors.
    let r = client().post(format!("{}/api/v1/alerts/0000000000000000/ack", agg.url)).send().unwrap();
    assert_eq!(r.status(), 404);
    let r = client().post(format!("{}/api/v1/alerts/{cache_fp}/ack", agg.url)).body("{nope").send().unwrap();
    assert_eq!(r.status(), 400);
}

/// A restart after SIGKILL keeps firing alerts and does not notify again; a change to the
/// group still notifies.
#[test]
fn restart_neither_forgets_alerts_nor_resends() {
    let dir = tempfile::tempdir().unwrap();
    let webhook = Recorder::start("");
    let yaml = format!(
        "route:\n  receiver: hook\n  group_by: ['...']\n  group_wait: 300ms\n  group_interval: 500ms\n  repeat_interval: 1h\nreceivers:\n  - name: hook\n    webhook_configs:\n      - url: {}/x\n",
        webhook.url
    );
    let agg = start(dir.path(), &yaml);
    let a = json!([{"labels": {"alertname": "DiskFull", "host": "db-1"}, "endsAt": now_rfc3339(3600)}]);
    post_alerts(&agg.url, a.clone());
    webhook.wait_n(1, Duration::from_secs(10));
    // Kill only once the delivery is on record: a SIGKILL between the webhook's answer and the
    // notification log write is the documented at-least-once window, not what this test checks.
    wait_for("the delivery on record", Duration::from_secs(10), || {
        let log: Value = client().get(format!("{}/api/v1/notifications?limit=10", agg.url)).send().ok()?.json().ok()?;
        log["notifications"].as_array()?.iter().any(|r| r["outcome"] == "sent").then_some(())
    });
    let url = agg.url.clone();
    agg.proc.kill9();
    let agg = restart(dir.path(), &url);
    let listed = get_alerts(&agg.url, "");
    assert_eq!(listed.len(), 1, "the firing alert survived the SIGKILL");
    assert_quiet(&webhook, 1, Duration::from_secs(3), "restart must not resend");
    // A second restart, this one clean (SIGTERM), and a new alert in another group notifies.
    agg.proc.stop_with(libc::SIGTERM, Duration::from_secs(20));
    let agg = restart(dir.path(), &url);
    post_alerts(&agg.url, json!([{"labels": {"alertname": "DiskFull", "host": "db-2"}}]));
    let got = webhook.wait_n(2, Duration::from_secs(10));
    assert_eq!(got[1].json()["alerts"][0]["labels"]["host"], "db-2");
    assert_quiet(&webhook, 2, Duration::from_secs(2), "one notification per change");
    // Invalid alerts are refused with the reason.
    let r = client().post(format!("{}/api/v2/alerts", agg.url)).json(&json!([{"labels": {}}])).send().unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().unwrap().contains("at least one label"));
    let r = client().post(format!("{}/api/v2/alerts", agg.url)).body("[{").send().unwrap();
    assert_eq!(r.status(), 400);
}

/// Silences through the API: a silenced alert is not notified and shows as suppressed.
#[test]
fn silences_mute_and_expire() {
    let dir = tempfile::tempdir().unwrap();
    let webhook = Recorder::start("");
    let yaml = format!(
        "route:\n  receiver: hook\n  group_by: [alertname]\n  group_wait: 300ms\n  group_interval: 500ms\n  repeat_interval: 1h\nreceivers:\n  - name: hook\n    webhook_configs:\n      - url: {}/x\n",
        webhook.url
    );
    let agg = start(dir.path(), &yaml);
    let sil = json!({"matchers": [{"name": "alertname", "value": "Noisy", "isRegex": false, "isEqual": true}],
        "startsAt": now_rfc3339(-5), "endsAt": now_rfc3339(3600), "createdBy": "bob", "comment": "maintenance"});
    let r: Value = client().post(format!("{}/api/v2/silences", agg.url)).json(&sil).send().unwrap().json().unwrap();
    let id = r["silenceID"].as_str().expect("silenceID").to_string();
    post_alerts(&agg.url, json!([{"labels": {"alertname": "Noisy"}}]));
    let a = wait_for("the alert", Duration::from_secs(5), || get_alerts(&agg.url, "").into_iter().next());
    assert_eq!(a["status"]["state"], "suppressed");
    assert_eq!(a["status"]["silencedBy"], json!([id]));
    assert!(get_alerts(&agg.url, "?silenced=false").is_empty());
    assert_quiet(&webhook, 0, Duration::from_secs(2), "silenced alert");
    let s: Value = client().get(format!("{}/api/v2/silence/{id}", agg.url)).send().unwrap().json().unwrap();
    assert_eq!(s["status"]["state"], "active");
    assert_eq!(s["createdBy"], "bob");
    assert_eq!(client().delete(format!("{}/api/v2/silence/{id}", agg.url)).send().unwrap().status(), 200);
    webhook.wait_n(1, Duration::from_secs(5));
    let s: Value = client().get(format!("{}/api/v2/silence/{id}", agg.url)).send().unwrap().json().unwrap();
    assert_eq!(s["status"]["state"], "expired");
    let bad = json!({"matchers": [], "startsAt": now_rfc3339(0), "endsAt": now_rfc3339(60), "createdBy": "x", "comment": "y"});
    assert_eq!(client().post(format!("{}/api/v2/silences", agg.url)).json(&bad).send().unwrap().status(), 400);
    assert_eq!(client().get(format!("{}/api/v2/silence/nope", agg.url)).send().unwrap().status(), 404);
}

fn amtool(url: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new("amtool").arg(format!("--alertmanager.url={url}")).args(args).output().expect("run amtool");
    // stdout only: amtool warns on stderr that its version differs from Lookout's.
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    (out.status.success(), if out.status.success() { stdout } else { format!("{stdout}{}", String::from_utf8_lossy(&out.stderr)) })
}

/// amtool (Alertmanager's own CLI) lists alerts and adds, queries and expires silences.
#[test]
fn amtool_manages_silences() {
    if !require("amtool (Debian prometheus-alertmanager)", Command::new("amtool").arg("--version").output().is_ok()) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let agg = start(dir.path(), "route:\n  receiver: none\nreceivers:\n  - name: none\n");
    post_alerts(&agg.url, json!([{"labels": {"alertname": "AmtoolAlert", "job": "api"}, "annotations": {"summary": "s"}}]));
    let (ok, out) = amtool(&agg.url, &["alert", "query", "-o", "json"]);
    assert!(ok, "{out}");
    let alerts: Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(alerts[0]["labels"]["alertname"], "AmtoolAlert");
    let (ok, out) = amtool(
        &agg.url,
        &["silence", "add", "alertname=AmtoolAlert", "job=~api|web", "--author=carol", "--comment=deploy", "--duration=1h"],
    );
    assert!(ok, "{out}");
    let id = out.trim().to_string();
    assert_eq!(id.len(), 36, "{out}");
    let (ok, out) = amtool(&agg.url, &["silence", "query", "-o", "json"]);
    assert!(ok, "{out}");
    let sils: Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(sils[0]["id"], id.as_str());
    assert_eq!(sils[0]["createdBy"], "carol");
    let m = sils[0]["matchers"].as_array().unwrap();
    assert!(m.iter().any(|m| m["name"] == "job" && m["value"] == "api|web" && m["isRegex"] == true), "{sils}");
    let a = get_alerts(&agg.url, "");
    assert_eq!(a[0]["status"]["silencedBy"], json!([id]));
    let (ok, out) = amtool(&agg.url, &["silence", "expire", &id]);
    assert!(ok, "{out}");
    let (ok, out) = amtool(&agg.url, &["silence", "query", "-q"]);
    assert!(ok && out.trim().is_empty(), "no active silence left: {out}");
    let (ok, out) = amtool(&agg.url, &["silence", "query", "--expired", "-q"]);
    assert!(ok && out.trim() == id, "{out}");
    let (ok, out) = amtool(&agg.url, &["config", "show"]);
    assert!(ok && out.contains("receiver: none"), "{out}");
}

/// A real Prometheus with Lookout as its Alertmanager: the rule's alert shows up in Lookout.
#[test]
fn prometheus_delivers_alerts_to_lookout() {
    if !require("prometheus", Command::new("prometheus").arg("--version").output().is_ok()) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let webhook = Recorder::start("");
    let yaml = format!(
        "route:\n  receiver: hook\n  group_wait: 200ms\nreceivers:\n  - name: hook\n    webhook_configs:\n      - url: {}/x\n",
        webhook.url
    );
    let agg = start(dir.path(), &yaml);
    let port: u16 = agg.url.rsplit(':').next().unwrap().parse().unwrap();
    std::fs::write(
        dir.path().join("rules.yml"),
        "groups:\n  - name: t\n    interval: 1s\n    rules:\n      - alert: AlwaysFiring\n        expr: vector(1)\n        labels:\n          severity: page\n        annotations:\n          summary: fires from Prometheus\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("prometheus.yml"),
        format!(
            "global:\n  evaluation_interval: 1s\nrule_files: [rules.yml]\nalerting:\n  alertmanagers:\n    - api_version: v2\n      static_configs:\n        - targets: ['127.0.0.1:{port}']\n"
        ),
    )
    .unwrap();
    let prom_port = free_port();
    let data: PathBuf = dir.path().join("prom-data");
    let _prom = Proc::start(
        Path::new("prometheus"),
        &[
            "--config.file=prometheus.yml",
            &format!("--storage.tsdb.path={}", data.display()),
            &format!("--web.listen-address=127.0.0.1:{prom_port}"),
            // The first send can happen before the Alertmanager is discovered (and is dropped);
            // resend every second instead of every minute.
            "--rules.alert.resend-delay=1s",
        ],
        dir.path(),
        &dir.path().join("prometheus.log"),
    );
    let a = wait_for("Prometheus's alert in Lookout", Duration::from_secs(60), || {
        get_alerts(&agg.url, "?filter=alertname%3DAlwaysFiring").into_iter().next()
    });
    assert_eq!(a["labels"]["severity"], "page");
    assert_eq!(a["annotations"]["summary"], "fires from Prometheus");
    assert!(a["generatorURL"].as_str().unwrap().contains("/graph?g0.expr="), "{a}");
    let hook = webhook.wait_n(1, Duration::from_secs(20));
    assert_eq!(hook[0].json()["alerts"][0]["labels"]["alertname"], "AlwaysFiring");
}

/// `POST /-/reload` and SIGHUP re-read alertmanager.yml: a new route takes effect for the next
/// notification; a broken file is refused with file:line and the running config stays.
#[test]
fn reload_applies_a_new_alerting_config_and_keeps_the_old_one_on_error() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (Recorder::start(""), Recorder::start(""));
    let yaml = |url: &str| {
        format!(
            "route:\n  receiver: hook\n  group_by: ['...']\n  group_wait: 200ms\n  group_interval: 500ms\n  repeat_interval: 1h\nreceivers:\n  - name: hook\n    webhook_configs:\n      - url: {url}/x\n"
        )
    };
    let agg = start(dir.path(), &yaml(&first.url));
    post_alerts(&agg.url, json!([{"labels": {"alertname": "A", "n": "1"}}]));
    first.wait_n(1, Duration::from_secs(10));

    // A broken edit: 400 naming the file and line; the old receiver keeps getting notifications.
    let am = dir.path().join("alertmanager.yml");
    std::fs::write(&am, "route:\n  receiver: nobody\nreceivers:\n  - name: hook\n    webhook_configs:\n      - url: 12\n").unwrap();
    let r = client().post(format!("{}/-/reload", agg.url)).send().unwrap();
    assert_eq!(r.status(), 400);
    let text = r.text().unwrap();
    assert!(text.contains("alertmanager.yml:"), "{text}");
    post_alerts(&agg.url, json!([{"labels": {"alertname": "A", "n": "2"}}]));
    first.wait_n(2, Duration::from_secs(10));

    // A good edit through the API.
    std::fs::write(&am, yaml(&second.url)).unwrap();
    let r = client().post(format!("{}/-/reload", agg.url)).send().unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap_or_default());
    post_alerts(&agg.url, json!([{"labels": {"alertname": "A", "n": "3"}}]));
    let got = second.wait_n(1, Duration::from_secs(10));
    assert_eq!(got[0].json()["alerts"][0]["labels"]["n"], "3");

    // And by SIGHUP, back to the first receiver.
    std::fs::write(&am, yaml(&first.url)).unwrap();
    agg.proc.signal(libc::SIGHUP);
    wait_for("the SIGHUP reload in /api/v2/status", Duration::from_secs(15), || {
        let st: Value = client().get(format!("{}/api/v2/status", agg.url)).send().ok()?.json().ok()?;
        st["config"]["original"].as_str()?.contains(&format!("{}/x", first.url)).then_some(())
    });
    post_alerts(&agg.url, json!([{"labels": {"alertname": "A", "n": "4"}}]));
    let got = first.wait_n(3, Duration::from_secs(10));
    assert_eq!(got[2].json()["alerts"][0]["labels"]["n"], "4");
    assert_quiet(&second, 1, Duration::from_millis(800), "the replaced receiver gets nothing more");
}

/// BENCHMARKS.md "Alert dispatch", end to end: 10,000 alerts (100 `alertname`s → 100 groups)
/// posted to a running `lookout serve --no-auth` through `POST /api/v2/alerts` in 10 batches,
/// delivered by webhook to a local receiver; prints the post time and, per notification, the
/// time from `group_wait` expiry to receipt. The groups are created while the first batch is
/// handled, so expiry is taken both from the first request's start (an upper bound of the added
/// latency) and from its answer (a lower bound). No `startsAt`: an alert older than
/// `group_wait` would be flushed at once, as Alertmanager does. Checks every alert arrived once.
/// Run: `cargo build --bins && cargo test -p tests --test alerting_dispatch -- --ignored --nocapture bench_10k_alerts_through_http`.
#[test]
#[ignore]
fn bench_10k_alerts_through_http() {
    let dir = tempfile::tempdir().unwrap();
    let webhook = Recorder::start("");
    let group_wait = Duration::from_secs(3);
    let yaml = format!(
        "route:\n  receiver: hook\n  group_by: [alertname]\n  group_wait: 3s\n  group_interval: 5m\n  repeat_interval: 1h\nreceivers:\n  - name: hook\n    webhook_configs:\n      - url: {}/hook\n",
        webhook.url
    );
    let agg = start(dir.path(), &yaml);
    let batches: Vec<Value> = (0..10)
        .map(|b| {
            Value::Array(
                (0..1000)
                    .map(|i| {
                        let n = b * 1000 + i;
                        json!({"labels": {"alertname": format!("A{}", n % 100), "instance": format!("host-{n}"), "severity": "warning"},
                               "annotations": {"summary": "load test"}})
                    })
                    .collect(),
            )
        })
        .collect();
    let started = Instant::now();
    let mut first_acked = None;
    for b in batches {
        post_alerts(&agg.url, b);
        first_acked.get_or_insert_with(Instant::now);
    }
    let posted = started.elapsed();
    let reqs = webhook.wait_n(100, Duration::from_secs(60));
    let lat = |from: Instant| {
        let mut v: Vec<f64> = reqs.iter().map(|r| r.at.saturating_duration_since(from + group_wait).as_secs_f64() * 1000.0).collect();
        v.sort_by(f64::total_cmp);
        format!("first {:.0} ms, median {:.0} ms, last {:.0} ms", v[0], v[v.len() / 2], v[v.len() - 1])
    };
    let alerts: usize = reqs.iter().map(|r| r.json()["alerts"].as_array().map_or(0, Vec::len)).sum();
    assert_eq!(alerts, 10_000, "every alert in exactly one notification");
    assert_quiet(&webhook, 100, Duration::from_secs(2), "after the 100 notifications");
    println!(
        "post 10k (10 × 1,000): {posted:?}; group_wait expiry → receipt: upper bound {}; lower bound {}",
        lat(started),
        lat(first_acked.unwrap())
    );
}

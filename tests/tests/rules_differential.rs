//! Differential test of rule evaluation: one rule file (recording rules, alerting rules with
//! `for`, templated labels and annotations) loaded into a real Prometheus (the Debian package,
//! with its remote-write receiver) and into Lookout, the same live series pushed into both by
//! remote_write every second, and then:
//!
//! - the recorded series (queried back through both `/api/v1/query`) must be equal;
//! - `/api/v1/alerts` must list the same alerts (labels, annotations, state, value) and
//!   `/api/v1/rules` the same groups and rules (name, query, duration, labels, annotations,
//!   health, type, state, alerts), ignoring only timing fields (`activeAt`, `lastEvaluation`,
//!   `evaluationTime`) and the rule file's directory;
//! - the same holds after the data changes (an alert resolves, another starts pending, then
//!   fires), and `ALERTS` agrees;
//! - the group `templates` renders annotations with the whole template language (`if`/`else
//!   if`, `range` over maps and query results with `else`, `break`, `continue`, `with`,
//!   variables and scopes, Go's builtins, `query` with `first`/`value`/`label`/`sortByLabel`,
//!   comments, trimming) and four runtime errors, compared byte for byte through both
//!   `/api/v1/alerts` and `/api/v1/rules`.
//!
//! Each system evaluates on its own clock, so the data is chosen to make every rule's result
//! independent of the exact evaluation instant: gauges constant within a phase, counters that
//! grow by an exact binary fraction per second (so `irate` and `deriv` are exact), flat counters
//! for `rate`. Every comparison waits (bounded) until both agree, and prints the differences
//! if they never do.
//!
//! Without a `prometheus` binary (scripts/install-test-deps.sh installs it) the test says so and
//! passes outside CI; in CI it fails.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tests::remote_write::{Series, body, labels, post};
use tests::{Aggregator, client, free_port, prom_api};

const RULES: &str = r#"groups:
  - name: differential
    interval: 1s
    rules:
      - record: job:requests:irate
        expr: sum by (job) (irate(requests_total[10s]))
      - record: job:requests:deriv
        expr: sum by (job) (deriv(requests_total[20s]))
      - record: job:idle:rate1m
        expr: sum by (job) (rate(idle_total[1m]))
      - record: instance:temp:max
        expr: max by (instance) (temp_celsius)
        labels:
          source: recorded
      - record: job:temp:avg
        expr: avg by (job) (avg_over_time(temp_celsius[20s]))
      - record: temp:above_40:count
        expr: count(temp_celsius > 40)
      - alert: HighTemp
        expr: temp_celsius > 50
        for: 3s
        labels:
          severity: page
          team: "team-{{ $labels.job }}"
        annotations:
          summary: "{{ $labels.instance }} is hot: {{ $value }}"
          description: 'value {{ printf "%.1f" $value }} ({{ $value | humanize }}), {{ $labels.instance | toUpper }}'
      - alert: RequestsFlowing
        expr: sum by (job) (irate(requests_total[10s])) > 1
        labels:
          severity: info
        annotations:
          rate: "{{ humanize $value }} req/s"
      - alert: WarmForAnHour
        expr: temp_celsius > 20
        for: 1h
        annotations:
          summary: "{{ $labels.instance }} warm since a while"
      - alert: Never
        expr: temp_celsius > 1000
  - name: second
    interval: 2s
    rules:
      - record: job:temp:sum
        expr: sum by (job) (temp_celsius)
      - alert: TooManyHot
        expr: count(temp_celsius > 40) >= 2
        for: 2s
        labels:
          severity: warning
        annotations:
          summary: "{{ $value }} hot instances"
          share: "{{ humanizePercentage 0.6667 }} of the fleet, {{ 90 | humanizeDuration }} window"
  - name: templates
    interval: 1s
    rules:
      - alert: TemplateLanguage
        expr: temp_celsius > 50
        labels:
          tier: '{{ if gt $value 60.0 }}hot{{ else if gt $value 52.0 }}warm{{ else }}mild{{ end }}'
        annotations:
          range: '{{ range $k, $v := $labels }}{{ $k }}={{ $v }};{{ end }}{{ range $externalLabels }}x{{ else }} no external labels{{ end }}'
          with: '{{ with $labels.instance }}on {{ . }}{{ else }}nowhere{{ end }}{{ with $labels.nosuch }}x{{ else }} (no nosuch){{ end }}'
          vars: '{{ $n := 0 }}{{ range $labels }}{{ $n = len . }}{{ end }}{{ $n }} {{ $x := "outer" }}{{ if true }}{{ $x := "inner" }}{{ $x }}{{ end }} {{ $x }} {{ $.Labels.job }}'
          loop: '{{ range $i, $e := query "temp_celsius" | sortByLabel "instance" }}{{ if eq $i 0 }}{{ continue }}{{ end }}{{ if gt $e.Value 70.0 }}{{ break }}{{ end }}{{ $i }}:{{ $e.Labels.instance }} {{ end }}'
          query: '{{ range query "temp_celsius" | sortByLabel "instance" }}{{ .Labels.instance }}={{ .Value }} {{ end }}'
          first: '{{ with query "max(temp_celsius)" }}{{ . | first | value | humanize }}{{ end }} {{ (query "count(temp_celsius > 40)" | first).Value }} {{ query "sum(temp_celsius)" | first | strvalue }}|'
          label: '{{ query "temp_celsius" | sortByLabel "instance" | first | label "instance" }} {{ len (query "temp_celsius") }}'
          empty: '{{ range query "temp_celsius > 1000" }}x{{ else }}none hot{{ end }}'
          builtins: '{{ and 1 "" }}|{{ or 0 "y" }}|{{ not $value }}|{{ index $labels "job" }}|{{ len $labels }}|{{ eq $labels.job "node" "x" }}|{{ ne 1 2 }} {{ le 1.5 1.5 }} {{ ge "a" "b" }}|{{ printf "%6.2f|%-3s|%d|%v|%q" $value "a" 7 $labels.job "q" }}|{{ print 1 2 "x" 3.5 }}|{{ println "z" 1 }}|{{ html "<&>" }} {{ urlquery "a b" }}'
          misc: "{{/* a comment */}}  {{- \"trimmed\" -}}  \n  {{ args 1 \"b\" }} {{ \"<i>\" | safeHtml }} {{ graphLink \"up\" }} {{ tableLink \"up\" }} {{ parseDuration \"90s\" }} {{ \"a.b:80\" | stripDomain }} {{ 'x' }} {{ 1e3 }} {{ print nil }}"
          err_index: '{{ index (query "temp_celsius > 1000") 0 }}'
          err_compare: '{{ if gt $value 50 }}int{{ end }}'
          err_first: "text\n{{ query \"temp_celsius > 1000\" | first }}"
          err_type: '{{ $value | toUpper }}'
"#;

/// The series at second `sec` (counters count from `base`) of `phase` (0: a and b hot; 1: b
/// cooled, c hot).
fn series(sec: i64, base: i64, phase: u8) -> Vec<Series> {
    let ts = sec * 1000;
    let temps: [(&str, f64); 3] =
        if phase == 0 { [("a", 55.0), ("b", 61.5), ("c", 30.0)] } else { [("a", 55.0), ("b", 35.0), ("c", 72.25)] };
    let mut out: Vec<Series> = Vec::new();
    for (inst, t) in temps {
        out.push((labels(&[("__name__", "temp_celsius"), ("job", "node"), ("instance", inst)]), vec![(ts, t)]));
    }
    for (job, inst, per_sec) in [("api", "a", 2.5), ("api", "b", 0.75), ("web", "a", 4.0)] {
        // Exact in binary, so `irate` and `deriv` come out exact whatever the window.
        let v = (sec - base) as f64 * per_sec;
        out.push((labels(&[("__name__", "requests_total"), ("job", job), ("instance", inst)]), vec![(ts, v)]));
        out.push((labels(&[("__name__", "idle_total"), ("job", job), ("instance", inst)]), vec![(ts, 17.0)]));
    }
    out
}

fn now_sec() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

/// Drops the fields that hold evaluation times, and the rule file's directory.
fn strip_timing(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for k in ["activeAt", "lastEvaluation", "evaluationTime", "keepFiringSince"] {
                m.remove(k);
            }
            if let Some(Value::String(f)) = m.get_mut("file") {
                *f = f.rsplit('/').next().unwrap_or("").to_string();
            }
            m.values_mut().for_each(strip_timing);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_timing),
        _ => {}
    }
}

/// Keeps only the keys Prometheus has (recursively); Lookout's extra keys are extensions.
fn project(ours: &Value, theirs: &Value) -> Value {
    match (ours, theirs) {
        (Value::Object(o), Value::Object(t)) => {
            Value::Object(t.keys().filter_map(|k| o.get(k).map(|v| (k.clone(), project(v, &t[k])))).collect())
        }
        (Value::Array(o), Value::Array(t)) if o.len() == t.len() => Value::Array(o.iter().zip(t).map(|(a, b)| project(a, b)).collect()),
        _ => ours.clone(),
    }
}

fn get_data(base: &str, path: &str) -> Value {
    let v: Value = client().get(format!("{base}{path}")).send().expect("request").json().expect("JSON");
    assert_eq!(v["status"], "success", "{base}{path}: {v}");
    v["data"].clone()
}

/// `/api/v1/alerts` sorted by labels, without timing.
fn alerts(base: &str) -> Value {
    let mut d = get_data(base, "/api/v1/alerts");
    strip_timing(&mut d);
    let mut list = d["alerts"].as_array().cloned().unwrap_or_default();
    list.sort_by_key(|a| a["labels"].to_string());
    Value::Array(list)
}

fn rules(base: &str) -> Value {
    let mut d = get_data(base, "/api/v1/rules");
    strip_timing(&mut d);
    // Alerts inside rules in label order (Prometheus lists them in map order).
    if let Some(groups) = d["groups"].as_array_mut() {
        for g in groups {
            for r in g["rules"].as_array_mut().into_iter().flatten() {
                if let Some(a) = r["alerts"].as_array_mut() {
                    a.sort_by_key(|x| x["labels"].to_string());
                }
            }
        }
    }
    d
}

/// An instant query's vector as `labels → value`.
fn vector(base: &str, q: &str) -> BTreeMap<String, String> {
    let (status, v) = prom_api(base, "/api/v1/query", &[("query", q)]);
    assert_eq!(status, 200, "{base} {q}: {v}");
    v["data"]["result"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        // Ten significant digits: the two engines may sum in a different order.
        .map(|s| {
            let v = s["value"][1].as_str().unwrap_or("");
            (s["metric"].to_string(), v.parse::<f64>().map(|x| format!("{x:.9e}")).unwrap_or_else(|_| v.to_string()))
        })
        .collect()
}

/// Waits until `f(prometheus) == f(lookout)` and `done` holds for that value; panics with both.
fn agree<T: PartialEq + std::fmt::Debug>(
    what: &str,
    timeout: Duration,
    f: impl Fn(&str) -> T,
    done: impl Fn(&T) -> bool,
    prom: &str,
    ours: &str,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        let (p, o) = (f(prom), f(ours));
        if p == o && done(&p) {
            return p;
        }
        if Instant::now() > deadline {
            panic!("{what}: Lookout differs from Prometheus\n  prometheus: {p:#?}\n  lookout:    {o:#?}");
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn states(alerts: &Value) -> Vec<(String, String, String)> {
    let mut v: Vec<_> = alerts
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let s = |k: &str| a["labels"][k].as_str().unwrap_or("").to_string();
            (s("alertname"), if s("instance").is_empty() { s("job") } else { s("instance") }, a["state"].as_str().unwrap_or("").to_string())
        })
        .collect();
    v.sort();
    v
}

#[test]
fn rule_evaluation_equals_prometheus() {
    let dir = tempfile::tempdir().unwrap();
    let rules_file = dir.path().join("differential.yml");
    std::fs::write(&rules_file, RULES).unwrap();
    let prom_cfg = dir.path().join("prometheus.yml");
    std::fs::write(&prom_cfg, format!("global:\n  evaluation_interval: 1s\nrule_files:\n  - {}\n", rules_file.display())).unwrap();
    let lookout_cfg = dir.path().join("lookout.toml");
    std::fs::write(&lookout_cfg, "rule_files = [\"differential.yml\"]\n[rules]\nevaluation_interval_secs = 1\n").unwrap();

    let Some((_prom, prom)) = tests::start_prometheus(dir.path(), &prom_cfg) else { return };
    let agg = Aggregator::start(&dir.path().join("lookout-data"), free_port(), &["--config", lookout_cfg.to_str().unwrap()]);

    // The pusher: every second, the current second's samples into both (a minute of history
    // first, so every window is full from the start).
    let phase = Arc::new(AtomicU8::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let start = now_sec();
    for sec in start - 60..start {
        let b = body(&series(sec, start - 60, 0));
        for base in [&prom, &agg.url] {
            let (status, text) = post(base, b.clone());
            assert!(status / 100 == 2, "{base}: {status} {text}");
        }
    }
    let pusher = {
        let (phase, stop, prom, ours) = (phase.clone(), stop.clone(), prom.clone(), agg.url.clone());
        std::thread::spawn(move || {
            let mut next = start;
            // Bounded: at most 10 minutes of pushing.
            while !stop.load(Ordering::Acquire) && next < start + 600 {
                while now_sec() < next {
                    std::thread::sleep(Duration::from_millis(50));
                }
                let b = body(&series(next, start - 60, phase.load(Ordering::Acquire)));
                for base in [&prom, &ours] {
                    let (status, text) = post(base, b.clone());
                    assert!(status / 100 == 2, "{base}: {status} {text}");
                }
                next += 1;
            }
        })
    };
    let finish = |r: Result<(), Box<dyn std::any::Any + Send>>| {
        stop.store(true, Ordering::Release);
        if let Err(e) = r {
            std::panic::resume_unwind(e);
        }
    };
    let t = Duration::from_secs(30);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // Phase 0: a and b hot.
        let recorded = "{__name__=~\"job:.+|instance:.+|temp:.+\"}";
        let rec = agree("recorded series", t, |b| vector(b, recorded), |v| v.len() == 12, &prom, &agg.url);
        assert!(rec.values().all(|v| v.parse::<f64>().is_ok()), "{rec:?}");
        let want = |s: &[(&str, &str, &str)]| s.iter().map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string())).collect::<Vec<_>>();
        let phase0 = want(&[
            ("HighTemp", "a", "firing"),
            ("HighTemp", "b", "firing"),
            ("RequestsFlowing", "api", "firing"),
            ("RequestsFlowing", "web", "firing"),
            ("TemplateLanguage", "a", "firing"),
            ("TemplateLanguage", "b", "firing"),
            ("TooManyHot", "", "firing"),
            ("WarmForAnHour", "a", "pending"),
            ("WarmForAnHour", "b", "pending"),
            ("WarmForAnHour", "c", "pending"),
        ]);
        agree("/api/v1/alerts (phase 0)", t, alerts, |a| states(a) == phase0, &prom, &agg.url);
        let p = rules(&prom);
        agree("/api/v1/rules (phase 0)", t, |b| if b == prom { rules(b) } else { project(&rules(b), &p) }, |_| true, &prom, &agg.url);
        agree("ALERTS (phase 0)", t, |b| vector(b, "ALERTS"), |v| v.len() == 10, &prom, &agg.url);

        // Phase 1: b cools down (its alert resolves), c heats up (pending for 3 s, then firing).
        phase.store(1, Ordering::Release);
        let phase1 = want(&[
            ("HighTemp", "a", "firing"),
            ("HighTemp", "c", "firing"),
            ("RequestsFlowing", "api", "firing"),
            ("RequestsFlowing", "web", "firing"),
            ("TemplateLanguage", "a", "firing"),
            ("TemplateLanguage", "c", "firing"),
            ("TooManyHot", "", "firing"),
            ("WarmForAnHour", "a", "pending"),
            ("WarmForAnHour", "b", "pending"),
            ("WarmForAnHour", "c", "pending"),
        ]);
        agree("/api/v1/alerts (phase 1)", t, alerts, |a| states(a) == phase1, &prom, &agg.url);
        let p = rules(&prom);
        agree("/api/v1/rules (phase 1)", t, |b| if b == prom { rules(b) } else { project(&rules(b), &p) }, |_| true, &prom, &agg.url);
        agree(
            "recorded series (phase 1)",
            t,
            |b| vector(b, "{__name__=~\"instance:.+|temp:.+|job:temp:sum\"}"),
            |v| v.len() == 5,
            &prom,
            &agg.url,
        );
        agree("ALERTS (phase 1)", t, |b| vector(b, "ALERTS"), |v| v.len() == 10, &prom, &agg.url);
        Ok(())
    }));
    finish(result.map(|_: Result<(), ()>| ()));
    pusher.join().unwrap();
}

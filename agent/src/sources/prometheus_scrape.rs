//! The `prometheus_scrape` source: scrapes Prometheus exposition endpoints like a Prometheus
//! server would, and emits the samples.
//!
//! ```toml
//! [sources.apps]
//! type = "prometheus_scrape"
//! targets = ["http://127.0.0.1:8080/metrics", "http://10.0.0.5:9100/metrics"]
//! interval_secs = 15
//! timeout_secs = 10
//! job = "apps"                       # default: the source's name
//! labels = { env = "prod" }          # added to every series of these targets
//! honor_labels = false
//! ```
//!
//! Semantics follow Prometheus's scrape loop:
//! - each target gets `job` and `instance` (`host:port` of its URL) plus `labels`; on a clash
//!   with a scraped label the target label wins and the scraped one is kept as
//!   `exported_<name>`, unless `honor_labels = true`, in which case the scraped label wins;
//! - samples without a timestamp get the scrape's scheduled start time (within 25 ms of the actual
//!   start, as Prometheus aligns them; see `metric::TickClock`); with `honor_timestamps` (default)
//!   a timestamp in the exposition is kept;
//! - after every scrape the synthetic series `up` (1 or 0), `scrape_duration_seconds` and
//!   `scrape_samples_scraped` are emitted with the target labels;
//! - **staleness**: a series present in the previous scrape and missing from this one gets a
//!   staleness marker (the NaN `0x7ff0000000000002`) at this scrape's time; when a scrape
//!   fails, every series of the previous scrape gets one. Series with explicit timestamps are
//!   not marked, as in Prometheus.
//!
//! Samples carry no acknowledgement back to the target (a scrape cannot be replayed), so they
//! go through the pipeline as they are; a slow sink delays the next scrape (backpressure).

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tracing::{debug, warn};

use super::SourceContext;
use crate::delivery::{Ack, EventBatch};
use crate::metric::{MetricSample, now_ms, stale_nan, valid_label_name};

/// `type = "prometheus_scrape"`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// URLs of exposition endpoints (`http://host:port/metrics`).
    pub targets: Vec<String>,
    /// Seconds between two scrapes of a target.
    #[serde(default = "default_interval")]
    pub interval_secs: f64,
    /// Seconds before a scrape is given up (`up` is then 0); at most `interval_secs`.
    #[serde(default = "default_timeout")]
    pub timeout_secs: f64,
    /// The `job` label; defaults to the source's name.
    #[serde(default)]
    pub job: Option<String>,
    /// Extra labels put on every series of these targets.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// On a clash between a scraped label and a target label, keep the scraped one.
    #[serde(default)]
    pub honor_labels: bool,
    /// Keep timestamps given in the exposition (default); otherwise use the scrape time.
    #[serde(default = "default_true")]
    pub honor_timestamps: bool,
}

fn default_interval() -> f64 {
    15.0
}
fn default_timeout() -> f64 {
    10.0
}
fn default_true() -> bool {
    true
}

impl Config {
    /// Semantic checks.
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if self.targets.is_empty() {
            out.push(("targets".into(), "at least one target URL is required".into()));
        }
        for t in &self.targets {
            match reqwest::Url::parse(t) {
                Ok(u) if (u.scheme() == "http" || u.scheme() == "https") && u.host_str().is_some() => {}
                Ok(_) => out.push(("targets".into(), format!("{t:?} is not an http(s) URL with a host"))),
                Err(e) => out.push(("targets".into(), format!("{t:?} is not a URL: {e}"))),
            }
        }
        if !(self.interval_secs >= 0.01 && self.interval_secs.is_finite()) {
            out.push(("interval_secs".into(), "must be a positive number of seconds".into()));
        }
        if !(self.timeout_secs > 0.0 && self.timeout_secs <= self.interval_secs) {
            out.push(("timeout_secs".into(), "must be positive and at most interval_secs".into()));
        }
        for k in self.labels.keys() {
            if !valid_label_name(k) || k.starts_with("__") {
                out.push((format!("labels.{k}"), format!("{k:?} is not a valid label name")));
            }
        }
        out
    }

    /// Runs one scrape loop per target until shutdown.
    pub async fn run(self, cx: SourceContext) {
        let client = match reqwest::Client::builder().timeout(Duration::from_secs_f64(self.timeout_secs)).build() {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(source = %cx.name, error = %e, "cannot build HTTP client; source not started");
                return;
            }
        };
        let job = self.job.clone().unwrap_or_else(|| cx.name.clone());
        let mut tasks = Vec::new();
        for url in &self.targets {
            let Ok(parsed) = reqwest::Url::parse(url) else { continue };
            let instance = match parsed.port_or_known_default() {
                Some(p) => format!("{}:{p}", parsed.host_str().unwrap_or_default()),
                None => parsed.host_str().unwrap_or_default().to_string(),
            };
            let mut target_labels = self.labels.clone();
            target_labels.insert("job".into(), job.clone());
            target_labels.insert("instance".into(), instance);
            let target = Target {
                url: url.clone(),
                labels: target_labels,
                honor_labels: self.honor_labels,
                honor_timestamps: self.honor_timestamps,
                timeout: self.timeout_secs,
                previous: HashSet::new(),
            };
            let cx = SourceContext {
                name: cx.name.clone(),
                host: cx.host.clone(),
                data_dir: cx.data_dir.clone(),
                metrics: cx.metrics.clone(),
                telemetry: cx.telemetry.clone(),
                outputs: cx.outputs.clone(),
                shutdown: cx.shutdown.clone(),
                drain_timeout: cx.drain_timeout,
            };
            tasks.push(tokio::spawn(target.run(client.clone(), Duration::from_secs_f64(self.interval_secs), cx)));
        }
        for t in tasks {
            let _ = t.await;
        }
        debug!(source = %cx.name, "prometheus_scrape source stopped");
    }
}

struct Target {
    url: String,
    labels: BTreeMap<String, String>,
    honor_labels: bool,
    honor_timestamps: bool,
    timeout: f64,
    /// Series of the previous scrape that had no explicit timestamp.
    previous: HashSet<(String, Vec<(String, String)>)>,
}

impl Target {
    async fn run(mut self, client: reqwest::Client, interval: Duration, mut cx: SourceContext) {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut clock = crate::metric::TickClock::default();
        loop {
            let scheduled = tokio::select! {
                _ = cx.shutdown.changed() => break,
                t = tick.tick() => t,
            };
            let ts = clock.stamp(scheduled, now_ms());
            let samples = self.scrape_once(&client, &cx, ts).await;
            let n = samples.len() as u64;
            cx.metrics.events_in.inc_by(n);
            let batch = EventBatch::of_metrics(samples, Ack::none());
            let sent = tokio::select! {
                _ = cx.shutdown.changed() => break,
                ok = super::send_to_all(&cx.outputs, batch) => ok,
            };
            if !sent {
                break;
            }
            cx.metrics.events_out.inc_by(n);
        }
    }

    /// One scrape: the target's samples (or staleness markers), then the synthetic series.
    async fn scrape_once(&mut self, client: &reqwest::Client, cx: &SourceContext, ts: i64) -> Vec<MetricSample> {
        let started = Instant::now();
        let result = async {
            let resp = client
                .get(&self.url)
                .header(reqwest::header::ACCEPT, "text/plain;version=0.0.4;q=1,*/*;q=0.1")
                .header("X-Prometheus-Scrape-Timeout-Seconds", format!("{}", self.timeout))
                .send()
                .await
                .map_err(|e| format!("request failed: {e}"))?;
            if !resp.status().is_success() {
                return Err(format!("HTTP {}", resp.status()));
            }
            resp.text().await.map_err(|e| format!("reading the body failed: {e}"))
        }
        .await;
        let mut out = Vec::new();
        let mut current = HashSet::new();
        let (up, scraped) = match result {
            Ok(body) => {
                cx.metrics.request("ok");
                let parsed = crate::exposition::parse(&body, ts);
                let n = parsed.len();
                for p in parsed {
                    let mut s = p.sample;
                    self.apply_target_labels(&mut s);
                    if p.explicit_timestamp && !self.honor_timestamps {
                        s.timestamp_ms = ts;
                    }
                    if !(p.explicit_timestamp && self.honor_timestamps) {
                        current.insert(s.series_key());
                    }
                    out.push(s);
                }
                (1.0, n)
            }
            Err(e) => {
                warn!(source = %cx.name, target = %self.url, error = %e, "scrape failed");
                cx.metrics.request("failed");
                (0.0, 0)
            }
        };
        // Series that were there last time and are not now: mark them stale.
        for (name, labels) in self.previous.difference(&current) {
            out.push(MetricSample { name: name.clone(), labels: labels.iter().cloned().collect(), timestamp_ms: ts, value: stale_nan() });
        }
        self.previous = current;
        let duration = started.elapsed().as_secs_f64();
        for (name, value) in [("up", up), ("scrape_duration_seconds", duration), ("scrape_samples_scraped", scraped as f64)] {
            out.push(MetricSample { name: name.into(), labels: self.labels.clone(), timestamp_ms: ts, value });
        }
        out
    }

    fn apply_target_labels(&self, s: &mut MetricSample) {
        for (k, v) in &self.labels {
            match s.labels.get(k) {
                Some(_) if self.honor_labels => {}
                Some(existing) if existing != v => {
                    let old = s.labels.insert(k.clone(), v.clone()).unwrap_or_default();
                    s.labels.insert(format!("exported_{k}"), old);
                }
                _ => {
                    s.labels.insert(k.clone(), v.clone());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(honor: bool) -> Target {
        Target {
            url: String::new(),
            labels: BTreeMap::from([("job".into(), "j".into()), ("instance".into(), "h:1".into())]),
            honor_labels: honor,
            honor_timestamps: true,
            timeout: 1.0,
            previous: HashSet::new(),
        }
    }

    #[test]
    fn clashing_labels_are_exported_unless_honored() {
        let mut s = MetricSample::new("x", &[("job", "inner"), ("a", "b")], 1, 1.0);
        target(false).apply_target_labels(&mut s);
        assert_eq!(s.labels["job"], "j");
        assert_eq!(s.labels["exported_job"], "inner");
        assert_eq!(s.labels["instance"], "h:1");
        let mut s = MetricSample::new("x", &[("job", "inner")], 1, 1.0);
        target(true).apply_target_labels(&mut s);
        assert_eq!(s.labels["job"], "inner");
        assert!(!s.labels.contains_key("exported_job"));
    }
}

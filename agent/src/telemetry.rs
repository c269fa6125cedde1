//! The agent's own metrics, served on `/metrics` and scraped by the aggregator.
//!
//! Every component counts events in, out, dropped (with a bounded `reason`) and failed; file
//! sources report their lag. Names follow `lookout_agent_<name>_<unit>[_total]`; labels are
//! the component's configured name and kind, both bounded by the config. Handles are created
//! once when a component is built, so the hot path is an atomic add.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

type Labels = Vec<(String, String)>;

/// The agent's registry and metric families.
#[derive(Clone)]
pub struct Telemetry {
    registry: Arc<Mutex<Registry>>,
    events_in: Family<Labels, Counter>,
    events_out: Family<Labels, Counter>,
    events_dropped: Family<Labels, Counter>,
    requests: Family<Labels, Counter>,
    sent_bytes: Family<Labels, Counter>,
    files_watched: Family<Labels, Gauge>,
    lag_bytes: Family<Labels, Gauge>,
    checkpoint_writes_failed: Family<Labels, Counter>,
    redactions: Family<Labels, Counter>,
    buffer_events: Family<Labels, Gauge>,
    buffer_bytes: Family<Labels, Gauge>,
    buffer_max_events: Family<Labels, Gauge>,
    buffer_max_bytes: Family<Labels, Gauge>,
    /// Every event dropped by any component, any reason, since the agent started.
    dropped_total: Arc<AtomicU64>,
}

impl Default for Telemetry {
    fn default() -> Self {
        Self::new()
    }
}

/// Counters of one component, cheap to clone.
#[derive(Clone)]
pub struct ComponentMetrics {
    /// Events received by the component.
    pub events_in: Counter,
    /// Events the component passed on or delivered.
    pub events_out: Counter,
    telemetry: Telemetry,
    labels: Labels,
}

impl ComponentMetrics {
    /// Counts `n` events dropped for `reason` (a fixed word: `http_4xx`, `filtered`, …).
    pub fn dropped(&self, reason: &'static str, n: u64) {
        let mut l = self.labels.clone();
        l.push(("reason".into(), reason.into()));
        self.telemetry.events_dropped.get_or_create(&l).inc_by(n);
        self.telemetry.dropped_total.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts one request with its outcome (`ok`, `retry`, `rejected`, `duplicate`).
    pub fn request(&self, outcome: &'static str) {
        let mut l = self.labels.clone();
        l.push(("outcome".into(), outcome.into()));
        self.telemetry.requests.get_or_create(&l).inc();
    }

    /// Counts bytes sent on the wire.
    pub fn sent_bytes(&self, n: u64) {
        self.telemetry.sent_bytes.get_or_create(&self.labels).inc_by(n);
    }

    /// Sets the number of files a file source follows.
    pub fn set_files_watched(&self, n: i64) {
        self.telemetry.files_watched.get_or_create(&self.labels).set(n);
    }

    /// Sets the bytes written to a followed file but not yet read.
    pub fn set_lag_bytes(&self, n: i64) {
        self.telemetry.lag_bytes.get_or_create(&self.labels).set(n);
    }

    /// Counts `n` matches masked by a redact transform.
    pub fn redacted(&self, n: u64) {
        self.telemetry.redactions.get_or_create(&self.labels).inc_by(n);
    }

    /// Sets what a sink's buffer holds.
    pub fn set_buffer(&self, events: i64, bytes: i64) {
        self.telemetry.buffer_events.get_or_create(&self.labels).set(events);
        self.telemetry.buffer_bytes.get_or_create(&self.labels).set(bytes);
    }

    /// Sets a sink buffer's limits (0: no limit of that kind).
    pub fn set_buffer_capacity(&self, max_events: i64, max_bytes: i64) {
        self.telemetry.buffer_max_events.get_or_create(&self.labels).set(max_events);
        self.telemetry.buffer_max_bytes.get_or_create(&self.labels).set(max_bytes);
    }

    /// The `Lookout-Agent-Stats` header value a sink sends with each request: the agent's
    /// dropped events (all components, all reasons, since it started) and this sink's buffer.
    pub fn stats_header(&self) -> String {
        let t = &self.telemetry;
        format!(
            "dropped={}; buffer_events={}; buffer_max_events={}; buffer_bytes={}; buffer_max_bytes={}",
            t.dropped_total.load(Ordering::Relaxed),
            t.buffer_events.get_or_create(&self.labels).get().max(0),
            t.buffer_max_events.get_or_create(&self.labels).get().max(0),
            t.buffer_bytes.get_or_create(&self.labels).get().max(0),
            t.buffer_max_bytes.get_or_create(&self.labels).get().max(0),
        )
    }

    /// Counts a failed checkpoint write.
    pub fn checkpoint_write_failed(&self) {
        self.telemetry.checkpoint_writes_failed.get_or_create(&self.labels).inc();
    }
}

impl Telemetry {
    /// A fresh registry with the agent's families registered.
    pub fn new() -> Telemetry {
        let mut registry = Registry::default();
        let t = Telemetry {
            registry: Arc::new(Mutex::new(Registry::default())),
            events_in: Family::default(),
            events_out: Family::default(),
            events_dropped: Family::default(),
            requests: Family::default(),
            sent_bytes: Family::default(),
            files_watched: Family::default(),
            lag_bytes: Family::default(),
            checkpoint_writes_failed: Family::default(),
            redactions: Family::default(),
            buffer_events: Family::default(),
            buffer_bytes: Family::default(),
            buffer_max_events: Family::default(),
            buffer_max_bytes: Family::default(),
            dropped_total: Arc::new(AtomicU64::new(0)),
        };
        registry.register("lookout_agent_events_in", "Events received by a component", t.events_in.clone());
        registry.register("lookout_agent_events_out", "Events passed on or delivered by a component", t.events_out.clone());
        registry.register("lookout_agent_events_dropped", "Events dropped by a component, by reason", t.events_dropped.clone());
        registry.register("lookout_agent_sink_requests", "Requests made by a sink, by outcome", t.requests.clone());
        registry.register("lookout_agent_sink_sent_bytes", "Bytes a sink sent on the wire (after compression)", t.sent_bytes.clone());
        registry.register("lookout_agent_file_watched_files", "Files a file source follows", t.files_watched.clone());
        registry.register("lookout_agent_file_lag_bytes", "Bytes written to followed files and not yet read", t.lag_bytes.clone());
        registry.register("lookout_agent_checkpoint_write_failures", "Failed checkpoint writes", t.checkpoint_writes_failed.clone());
        registry.register("lookout_agent_redactions", "Matches masked by a redact transform", t.redactions.clone());
        registry.register("lookout_agent_buffer_events", "Events held in a sink's buffer", t.buffer_events.clone());
        registry.register("lookout_agent_buffer_bytes", "Bytes held in a sink's disk buffer", t.buffer_bytes.clone());
        registry.register(
            "lookout_agent_buffer_max_events",
            "Most events a sink's buffer holds (0: no event limit)",
            t.buffer_max_events.clone(),
        );
        registry.register(
            "lookout_agent_buffer_max_bytes",
            "Most bytes a sink's disk buffer holds (0: no byte limit)",
            t.buffer_max_bytes.clone(),
        );
        *t.registry.lock().expect("fresh mutex") = registry;
        t
    }

    /// Handles for one component.
    pub fn component(&self, kind: &str, name: &str) -> ComponentMetrics {
        let labels: Labels = vec![("component".into(), name.into()), ("kind".into(), kind.into())];
        ComponentMetrics {
            events_in: self.events_in.get_or_create_owned(&labels),
            events_out: self.events_out.get_or_create_owned(&labels),
            telemetry: self.clone(),
            labels,
        }
    }

    /// Prometheus text exposition (OpenMetrics flavour, without the trailing `# EOF`).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let registry = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        let _ = prometheus_client::encoding::text::encode_registry(&mut out, &registry);
        out
    }
}

/// Request header carrying [`ComponentMetrics::stats_header`].
pub const STATS_HEADER: &str = "Lookout-Agent-Stats";

/// The content type of [`Telemetry::encode`] output once `# EOF` is appended.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_show_in_the_exposition() {
        let t = Telemetry::new();
        let m = t.component("file", "app");
        m.events_in.inc_by(5);
        m.dropped("too_long", 2);
        let text = t.encode();
        assert!(text.contains(r#"lookout_agent_events_in_total{component="app",kind="file"} 5"#), "{text}");
        assert!(text.contains(r#"lookout_agent_events_dropped_total{component="app",kind="file",reason="too_long"} 2"#), "{text}");
    }

    #[test]
    fn the_stats_header_sums_drops_of_every_component_and_shows_the_sinks_buffer() {
        let t = Telemetry::new();
        let sink = t.component("lookout", "central");
        assert_eq!(sink.stats_header(), "dropped=0; buffer_events=0; buffer_max_events=0; buffer_bytes=0; buffer_max_bytes=0");
        t.component("throttle", "t").dropped("throttled", 7);
        t.component("file", "app").dropped("too_long", 1);
        sink.dropped("buffer_full", 2);
        sink.set_buffer_capacity(0, 4096);
        sink.set_buffer(3, 1000);
        t.component("lookout", "other").set_buffer(99, 99);
        assert_eq!(sink.stats_header(), "dropped=10; buffer_events=3; buffer_max_events=0; buffer_bytes=1000; buffer_max_bytes=4096");
    }
}

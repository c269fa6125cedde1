//! The aggregator's own metrics, `lookout_<component>_<name>_<unit>[_total]`.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::Arc;

type Labels = Vec<(String, String)>;

/// Every metric the aggregator exports.
#[derive(Clone)]
pub struct Telemetry {
    registry: Arc<Registry>,
    /// Requests by protocol and HTTP status code.
    pub ingest_requests: Family<Labels, Counter>,
    /// Events accepted (durable) by protocol.
    pub ingest_events: Family<Labels, Counter>,
    /// Batches recognised as already stored.
    pub ingest_duplicate_batches: Counter,
    /// Requests refused, by reason (`malformed`, `too_large`, `backpressure`).
    pub ingest_rejected: Family<Labels, Counter>,
    /// WAL bytes written.
    pub wal_bytes: Counter,
    /// WAL fsyncs (group commits).
    pub wal_syncs: Counter,
    /// Events indexed into the log store.
    pub logs_indexed_events: Counter,
    /// Events durable in the WAL and not yet searchable.
    pub logs_index_lag_events: Gauge,
    /// Index commits.
    pub logs_commits: Counter,
    /// Search latency by endpoint.
    pub logs_query_duration: Family<Labels, Histogram>,
    /// Lines a live-tail subscriber lost because its queue was full.
    pub logs_tail_dropped_events: Counter,
}

fn latency_histogram() -> Histogram {
    Histogram::new([0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0])
}

impl Default for Telemetry {
    fn default() -> Self {
        Self::new()
    }
}

impl Telemetry {
    /// Creates and registers every metric.
    pub fn new() -> Telemetry {
        let mut r = Registry::default();
        let t = Telemetry {
            registry: Arc::new(Registry::default()),
            ingest_requests: Family::default(),
            ingest_events: Family::default(),
            ingest_duplicate_batches: Counter::default(),
            ingest_rejected: Family::default(),
            wal_bytes: Counter::default(),
            wal_syncs: Counter::default(),
            logs_indexed_events: Counter::default(),
            logs_index_lag_events: Gauge::default(),
            logs_commits: Counter::default(),
            logs_query_duration: Family::new_with_constructor(latency_histogram),
            logs_tail_dropped_events: Counter::default(),
        };
        r.register("lookout_ingest_requests", "Ingest requests by protocol and status code", t.ingest_requests.clone());
        r.register("lookout_ingest_events", "Events made durable, by protocol", t.ingest_events.clone());
        r.register(
            "lookout_ingest_duplicate_batches",
            "Batches already stored, answered without storing again",
            t.ingest_duplicate_batches.clone(),
        );
        r.register("lookout_ingest_rejected_requests", "Ingest requests refused, by reason", t.ingest_rejected.clone());
        r.register("lookout_wal_written_bytes", "Bytes appended to the write-ahead log", t.wal_bytes.clone());
        r.register("lookout_wal_syncs", "WAL group commits (fsync)", t.wal_syncs.clone());
        r.register("lookout_logs_indexed_events", "Events indexed into the log store", t.logs_indexed_events.clone());
        r.register("lookout_logs_index_lag_events", "Events durable in the WAL but not yet searchable", t.logs_index_lag_events.clone());
        r.register("lookout_logs_commits", "Log index commits", t.logs_commits.clone());
        r.register("lookout_logs_query_duration_seconds", "Log query latency by endpoint", t.logs_query_duration.clone());
        r.register("lookout_logs_tail_dropped_events", "Live-tail lines dropped for slow subscribers", t.logs_tail_dropped_events.clone());
        Telemetry { registry: Arc::new(r), ..t }
    }

    /// Labels helper.
    pub fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// Text exposition without the trailing `# EOF`.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode_registry(&mut out, &self.registry);
        out
    }
}

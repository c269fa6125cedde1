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
    /// Bytes on disk per store (`logs_wal`, `logs_index`, `metrics`, `other`), refreshed by
    /// [`spawn_storage_probe`].
    pub storage_bytes: Family<Labels, Gauge>,
    /// Bytes free (to an unprivileged writer) and total on the data directory's filesystem.
    pub data_dir_free_bytes: Gauge,
    /// See `data_dir_free_bytes`.
    pub data_dir_size_bytes: Gauge,
    /// `[ingest] capacity_events_per_second`: the searchable ingest rate this node was measured
    /// to sustain; capacity rules compare the predicted ingest rate with it.
    pub ingest_capacity_events_per_second: Gauge,
    /// TLS handshakes on the listener that failed or timed out (wrong CA, no client
    /// certificate under mTLS, plain HTTP to the TLS port, a client that never finished).
    pub tls_handshake_failures: Counter,
    /// Certificate reloads (SIGHUP) that failed; the running certificate was kept.
    pub tls_reload_failures: Counter,
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
            storage_bytes: Family::default(),
            data_dir_free_bytes: Gauge::default(),
            data_dir_size_bytes: Gauge::default(),
            ingest_capacity_events_per_second: Gauge::default(),
            tls_handshake_failures: Counter::default(),
            tls_reload_failures: Counter::default(),
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
        r.register("lookout_storage_bytes", "Bytes on disk, by store", t.storage_bytes.clone());
        r.register("lookout_data_dir_free_bytes", "Free bytes on the data directory's filesystem", t.data_dir_free_bytes.clone());
        r.register("lookout_data_dir_size_bytes", "Size of the data directory's filesystem", t.data_dir_size_bytes.clone());
        r.register(
            "lookout_ingest_capacity_events_per_second",
            "Searchable ingest rate this node is sized for ([ingest] capacity_events_per_second)",
            t.ingest_capacity_events_per_second.clone(),
        );
        r.register(
            "lookout_tls_handshake_failures",
            "TLS handshakes on the listener that failed or timed out",
            t.tls_handshake_failures.clone(),
        );
        r.register(
            "lookout_tls_reload_failures",
            "TLS certificate reloads that failed (the running one was kept)",
            t.tls_reload_failures.clone(),
        );
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

/// Sum of the sizes of the regular files under `dir` (0 when it does not exist).
pub fn tree_bytes(dir: &std::path::Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else { return 0 };
    rd.flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => tree_bytes(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}

/// `(free, total)` bytes of the filesystem holding `dir`, as `df` shows them.
pub fn filesystem_bytes(dir: &std::path::Path) -> Option<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `st` a properly sized out-parameter.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    let frsize = st.f_frsize as u64;
    Some((st.f_bavail as u64 * frsize, st.f_blocks as u64 * frsize))
}

impl Telemetry {
    /// Measures the data directory once: bytes per store and the filesystem's free space.
    pub fn probe_storage(&self, data_dir: &std::path::Path) {
        let logs_wal = tree_bytes(&data_dir.join("wal"));
        let logs_index = tree_bytes(&data_dir.join("logs"));
        let metrics = tree_bytes(&data_dir.join("metrics"));
        let other = tree_bytes(data_dir).saturating_sub(logs_wal + logs_index + metrics);
        for (store, v) in [("logs_wal", logs_wal), ("logs_index", logs_index), ("metrics", metrics), ("other", other)] {
            self.storage_bytes.get_or_create(&Self::labels(&[("store", store)])).set(v as i64);
        }
        if let Some((free, total)) = filesystem_bytes(data_dir) {
            self.data_dir_free_bytes.set(free as i64);
            self.data_dir_size_bytes.set(total as i64);
        }
    }
}

/// Refreshes the storage gauges every `every` (on a blocking thread: it walks directories).
pub fn spawn_storage_probe(telemetry: Telemetry, data_dir: std::path::PathBuf, every: std::time::Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            let (t, d) = (telemetry.clone(), data_dir.clone());
            let _ = tokio::task::spawn_blocking(move || t.probe_storage(&d)).await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_probe_reports_bytes_per_store_and_free_space() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("wal")).unwrap();
        std::fs::create_dir_all(dir.path().join("logs/2026-11-23")).unwrap();
        std::fs::write(dir.path().join("wal/seg"), vec![0u8; 1000]).unwrap();
        std::fs::write(dir.path().join("logs/2026-11-23/a"), vec![0u8; 300]).unwrap();
        std::fs::write(dir.path().join("agents.json"), vec![0u8; 7]).unwrap();
        let t = Telemetry::new();
        t.probe_storage(dir.path());
        let text = t.encode();
        assert!(text.contains("lookout_storage_bytes{store=\"logs_wal\"} 1000"), "{text}");
        assert!(text.contains("lookout_storage_bytes{store=\"logs_index\"} 300"), "{text}");
        assert!(text.contains("lookout_storage_bytes{store=\"metrics\"} 0"), "{text}");
        assert!(text.contains("lookout_storage_bytes{store=\"other\"} 7"), "{text}");
        let (free, total) = filesystem_bytes(dir.path()).unwrap();
        assert!(total > 0 && free <= total);
        assert!(!text.contains("lookout_data_dir_size_bytes 0"), "{text}");
    }
}

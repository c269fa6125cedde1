//! The metrics store: remote_write ingest → samples WAL → in-memory head with a postings index.
//!
//! The problem it solves: keep every acknowledged sample (durable before the answer, replayed on
//! start) and hand the query engine the samples of the series a selector matches, fast. The key
//! decision for now is simplicity: the head holds everything, the WAL is the only file, and the
//! writer thread applies each request to the head in WAL order, so "replay the WAL" rebuilds
//! exactly what was acknowledged. Immutable compressed blocks, compaction and retention would
//! cut the head and let the WAL be truncated; they are not built yet.
//!
//! The ingest pipeline in one place, [`Tsdb::write`]: decode (in `remote_write`) → writer
//! thread: out-of-order window check and apply to the head → one WAL frame per request → fsync
//! per group → answer.

pub mod head;
pub mod remote_write;
pub mod wal;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::sync::oneshot;
use tracing::{error, info};

pub use head::{AppendStats, Head, SelectedSeries};

/// The bit pattern Prometheus uses to mark a series stale.
pub const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

/// Whether a value is a staleness marker.
pub fn is_stale(v: f64) -> bool {
    v.to_bits() == STALE_NAN
}

/// A label set, sorted by name, names unique.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Labels(Arc<[(String, String)]>);

impl Labels {
    /// From pairs (sorted here).
    pub fn new(mut pairs: Vec<(String, String)>) -> Labels {
        pairs.sort();
        Labels(pairs.into())
    }
    /// The pairs.
    pub fn iter(&self) -> std::slice::Iter<'_, (String, String)> {
        self.0.iter()
    }
    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// No pairs.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Value of a label.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
    /// As an owned vector.
    pub fn to_vec(&self) -> Vec<(String, String)> {
        self.0.to_vec()
    }
}

impl fmt::Display for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.get("__name__").unwrap_or("");
        write!(f, "{name}{{")?;
        let mut first = true;
        for (n, v) in self.iter().filter(|(n, _)| n != "__name__") {
            if !first {
                write!(f, ", ")?;
            }
            first = false;
            write!(f, "{n}={v:?}")?;
        }
        write!(f, "}}")
    }
}

/// Metadata of a metric family, as sent by remote_write.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MetricMetadata {
    /// `counter`, `gauge`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// Help text.
    pub help: String,
    /// Unit.
    pub unit: String,
}

/// Why a write failed.
#[derive(Debug, thiserror::Error)]
pub enum TsdbError {
    /// The body is malformed (400); nothing was stored.
    #[error("{0}")]
    Malformed(String),
    /// The WAL cannot be written (503); the store refuses further writes.
    #[error("metrics WAL is not accepting writes: {0}")]
    Unavailable(String),
}

/// The store's own metrics.
#[derive(Clone)]
struct Metrics {
    registry: Arc<Registry>,
    samples_appended: Counter,
    samples_rejected: Family<Vec<(String, String)>, Counter>,
    series: Gauge,
    wal_bytes: Counter,
    wal_syncs: Counter,
}

impl Metrics {
    fn new() -> Metrics {
        let mut r = Registry::default();
        let m = Metrics {
            registry: Arc::new(Registry::default()),
            samples_appended: Counter::default(),
            samples_rejected: Family::default(),
            series: Gauge::default(),
            wal_bytes: Counter::default(),
            wal_syncs: Counter::default(),
        };
        r.register("lookout_tsdb_appended_samples", "Samples stored in the metrics head", m.samples_appended.clone());
        r.register(
            "lookout_tsdb_rejected_samples",
            "Samples refused, by reason (too_old: outside the out-of-order window; duplicate: another value at the same timestamp)",
            m.samples_rejected.clone(),
        );
        r.register("lookout_tsdb_head_series", "Series in the metrics head", m.series.clone());
        r.register("lookout_tsdb_wal_written_bytes", "Bytes appended to the samples WAL", m.wal_bytes.clone());
        r.register("lookout_tsdb_wal_syncs", "Samples WAL group commits (fsync)", m.wal_syncs.clone());
        Metrics { registry: Arc::new(r), ..m }
    }
}

struct WriteReq {
    series: Vec<(Labels, Vec<(i64, f64)>)>,
    reply: oneshot::Sender<Result<AppendStats, TsdbError>>,
}

/// Settings of the store (checked form of `[metrics]`).
#[derive(Debug, Clone)]
pub struct Options {
    /// Samples up to this much older than the newest sample are accepted (ms).
    pub out_of_order_window_ms: i64,
    /// Largest decompressed remote_write body.
    pub max_decoded_bytes: usize,
}

/// The metrics store handle.
pub struct Tsdb {
    head: Arc<RwLock<Head>>,
    metadata: RwLock<BTreeMap<String, MetricMetadata>>,
    tx: std::sync::mpsc::SyncSender<WriteReq>,
    broken: Arc<AtomicBool>,
    metrics: Metrics,
    opts: Options,
}

const GROUP_MAX: usize = 1024;

impl Tsdb {
    /// Opens `dir` (the WAL lives in `dir/wal`), replays the WAL into the head, starts the writer.
    pub fn open(dir: &Path, opts: Options) -> std::io::Result<Tsdb> {
        let (mut file, records) = wal::WalFile::open(&dir.join("wal"))?;
        let mut head = Head::default();
        let n = records.len();
        for rec in records {
            for (labels, samples) in rec {
                head.replay(&labels, &samples);
            }
        }
        info!(dir = %dir.display(), records = n, series = head.num_series(), samples = head.num_samples(), "metrics WAL replayed");
        let metrics = Metrics::new();
        metrics.series.set(head.num_series() as i64);
        let head = Arc::new(RwLock::new(head));
        let (tx, rx) = std::sync::mpsc::sync_channel::<WriteReq>(GROUP_MAX);
        let broken = Arc::new(AtomicBool::new(false));
        let (h, b, m, window) = (head.clone(), broken.clone(), metrics.clone(), opts.out_of_order_window_ms);
        std::thread::Builder::new().name("tsdb-wal".into()).spawn(move || {
            let mut buf = Vec::new();
            while let Some(group) = crate::group_commit::recv_group(&rx, GROUP_MAX) {
                buf.clear();
                let mut replies = Vec::with_capacity(group.len());
                {
                    let mut head = h.write().unwrap_or_else(|e| e.into_inner());
                    for req in group {
                        let mut total = AppendStats::default();
                        let mut record = Vec::with_capacity(req.series.len());
                        for (labels, samples) in &req.series {
                            let mut stored = Vec::new();
                            let st = head.append(labels, samples, window, &mut stored);
                            total.accepted += st.accepted;
                            total.too_old += st.too_old;
                            total.duplicate += st.duplicate;
                            if !stored.is_empty() {
                                record.push((labels.clone(), stored));
                            }
                        }
                        if !record.is_empty() {
                            wal::encode(&record, &mut buf);
                        }
                        m.samples_appended.inc_by(total.accepted);
                        if total.too_old > 0 {
                            m.samples_rejected.get_or_create(&vec![("reason".into(), "too_old".into())]).inc_by(total.too_old);
                        }
                        if total.duplicate > 0 {
                            m.samples_rejected.get_or_create(&vec![("reason".into(), "duplicate".into())]).inc_by(total.duplicate);
                        }
                        replies.push((req.reply, total));
                    }
                    m.series.set(head.num_series() as i64);
                }
                if !buf.is_empty() {
                    if let Err(e) = file.write_sync(&buf) {
                        error!(file = %file.path.display(), error = %e, "metrics WAL write failed; refusing further writes");
                        b.store(true, Ordering::Release);
                        for (reply, _) in replies {
                            let _ = reply.send(Err(TsdbError::Unavailable(e.to_string())));
                        }
                        return;
                    }
                    m.wal_bytes.inc_by(buf.len() as u64);
                    m.wal_syncs.inc();
                }
                for (reply, st) in replies {
                    let _ = reply.send(Ok(st));
                }
            }
        })?;
        Ok(Tsdb { head, metadata: RwLock::new(BTreeMap::new()), tx, broken, metrics, opts })
    }

    /// Decodes a remote_write body and makes it durable; answers after the fsync.
    pub async fn write_remote(&self, body: &[u8]) -> Result<AppendStats, TsdbError> {
        let decoded = remote_write::decode(body, self.opts.max_decoded_bytes).map_err(TsdbError::Malformed)?;
        if !decoded.metadata.is_empty() {
            let mut md = self.metadata.write().unwrap_or_else(|e| e.into_inner());
            md.extend(decoded.metadata);
        }
        self.write(decoded.series).await
    }

    /// Appends series and waits until they are durable.
    pub async fn write(&self, series: Vec<(Labels, Vec<(i64, f64)>)>) -> Result<AppendStats, TsdbError> {
        if self.broken.load(Ordering::Acquire) {
            return Err(TsdbError::Unavailable("an earlier write failed".into()));
        }
        if series.is_empty() {
            return Ok(AppendStats::default());
        }
        let (reply, rx) = oneshot::channel();
        let tx = self.tx.clone();
        tokio::task::spawn_blocking(move || tx.send(WriteReq { series, reply }))
            .await
            .map_err(|e| TsdbError::Unavailable(e.to_string()))?
            .map_err(|_| TsdbError::Unavailable("writer stopped".into()))?;
        rx.await.map_err(|_| TsdbError::Unavailable("writer stopped".into()))?
    }

    /// Read access to the head (query paths only read).
    pub fn head(&self) -> std::sync::RwLockReadGuard<'_, Head> {
        self.head.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Metadata by family, optionally one family.
    pub fn metadata(&self, metric: Option<&str>) -> HashMap<String, Vec<MetricMetadata>> {
        let md = self.metadata.read().unwrap_or_else(|e| e.into_inner());
        md.iter().filter(|(k, _)| metric.is_none_or(|m| m == k.as_str())).map(|(k, v)| (k.clone(), vec![v.clone()])).collect()
    }

    /// The store's metrics in text exposition (no `# EOF`).
    pub fn encode_metrics(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode_registry(&mut out, &self.metrics.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(name: &str) -> Labels {
        Labels::new(vec![("__name__".into(), name.into())])
    }

    #[tokio::test]
    async fn acknowledged_samples_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let opts = Options { out_of_order_window_ms: 60_000, max_decoded_bytes: 1 << 20 };
        {
            let db = Tsdb::open(dir.path(), opts.clone()).unwrap();
            let st = db.write(vec![(labels("a"), vec![(1000, 1.0), (2000, f64::from_bits(STALE_NAN))])]).await.unwrap();
            assert_eq!(st.accepted, 2);
            // Too old for the window: not stored, not logged.
            let st = db.write(vec![(labels("a"), vec![(3_000_000, 3.0)]), (labels("b"), vec![(10, 1.0)])]).await.unwrap();
            assert_eq!((st.accepted, st.too_old), (1, 1));
            assert!(db.encode_metrics().contains("lookout_tsdb_rejected_samples_total{reason=\"too_old\"} 1"));
        }
        let db = Tsdb::open(dir.path(), opts).unwrap();
        let got = db.head().select(&[], i64::MIN, i64::MAX);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].samples.len(), 3);
        assert!(is_stale(got[0].samples[1].1));
    }
}

//! The metrics store: remote_write / OTLP / text ingest → samples WAL → in-memory head, cut
//! into immutable compressed blocks on disk, compacted and expired whole.
//!
//! The problem it solves: keep every acknowledged sample (durable before the answer, replayed on
//! start, never twice) in little space, and hand the query engine the samples of the series a
//! selector matches, fast.
//!
//! - Writes: [`Tsdb::write`] → the writer thread checks the out-of-order window, applies the
//!   samples to the head and appends one WAL frame per request; one fsync per group; answer.
//! - Blocks: once the head spans 1.5 block ranges (and the oldest range is out of the
//!   out-of-order window), the maintenance thread cuts the oldest aligned range `[S, B)` into a
//!   block (`block.rs`): it first raises the head's lower bound to `B` (later appends below `B`
//!   are rejected as too old), writes the block durably, records `B` in `blocks/head_min_ms`,
//!   then swaps the block in and drops those samples from the head in one step under the lock
//!   (a query sees each sample exactly once), then checkpoints the WAL (`wal.rs`).
//! - Replay: `B` = the larger of `head_min_ms` and the newest block's end; WAL samples before
//!   `B` are in blocks and skipped. So a SIGKILL at any point loses nothing and repeats nothing.
//! - Compaction merges the blocks of a complete window of 3×, then 9×, 27× the block range into
//!   one (the new block names its parents; parents still on disk at open are deleted).
//!   Retention drops whole blocks older than the newest sample minus the retention time, and
//!   the oldest blocks while the store is over its size limit.

pub mod block;
pub mod chunk;
pub mod head;
pub mod index;
mod labels;
pub mod remote_write;
mod slab;
pub mod wal;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use promql_parser::label::Matcher;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::sync::oneshot;
use tracing::{error, info, warn};

pub use head::{AppendStats, Head, SelectedSeries};
pub use labels::{Labels, LabelsIter};

/// Bytes of the WAL thread's frame buffer kept between groups.
const WAL_BUF_KEEP: usize = 256 << 10;

/// The bit pattern Prometheus uses to mark a series stale.
pub const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

/// Whether a value is a staleness marker.
pub fn is_stale(v: f64) -> bool {
    v.to_bits() == STALE_NAN
}

impl fmt::Display for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.get("__name__").unwrap_or("");
        write!(f, "{name}{{")?;
        let mut first = true;
        for (n, v) in self.iter().filter(|&(n, _)| n != "__name__") {
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
    blocks: Gauge,
    block_bytes: Gauge,
    blocks_cut: Counter,
    compactions: Counter,
    blocks_deleted: Family<Vec<(String, String)>, Counter>,
    maintenance_failures: Counter,
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
            blocks: Gauge::default(),
            block_bytes: Gauge::default(),
            blocks_cut: Counter::default(),
            compactions: Counter::default(),
            blocks_deleted: Family::default(),
            maintenance_failures: Counter::default(),
        };
        r.register("lookout_tsdb_appended_samples", "Samples stored in the metrics head", m.samples_appended.clone());
        r.register(
            "lookout_tsdb_rejected_samples",
            "Samples refused, by reason (too_old: outside the out-of-order window or already cut into a block; duplicate: another value at the same timestamp)",
            m.samples_rejected.clone(),
        );
        r.register("lookout_tsdb_head_series", "Series in the metrics head", m.series.clone());
        r.register("lookout_tsdb_wal_written_bytes", "Bytes appended to the samples WAL", m.wal_bytes.clone());
        r.register("lookout_tsdb_wal_syncs", "Samples WAL group commits (fsync)", m.wal_syncs.clone());
        r.register("lookout_tsdb_blocks", "Blocks on disk", m.blocks.clone());
        r.register("lookout_tsdb_block_bytes", "Bytes of the blocks on disk", m.block_bytes.clone());
        r.register("lookout_tsdb_blocks_cut", "Blocks cut from the head", m.blocks_cut.clone());
        r.register("lookout_tsdb_compactions", "Block compactions", m.compactions.clone());
        r.register("lookout_tsdb_deleted_blocks", "Blocks deleted, by reason (age, size, compacted)", m.blocks_deleted.clone());
        r.register(
            "lookout_tsdb_maintenance_failures",
            "Block cuts, compactions or retention runs that failed",
            m.maintenance_failures.clone(),
        );
        Metrics { registry: Arc::new(r), ..m }
    }
}

struct WriteReq {
    series: Vec<(Labels, Vec<(i64, f64)>)>,
    reply: oneshot::Sender<Result<AppendStats, TsdbError>>,
}

enum Msg {
    Write(WriteReq),
    /// Close the current WAL segment; answers with the number of the new one.
    Rotate(std::sync::mpsc::Sender<std::io::Result<u64>>),
}

/// Settings of the store (checked form of `[metrics]`).
#[derive(Debug, Clone)]
pub struct Options {
    /// Samples up to this much older than the newest sample are accepted (ms).
    pub out_of_order_window_ms: i64,
    /// Largest decompressed remote_write body.
    pub max_decoded_bytes: usize,
    /// Time range of a block cut from the head (ms).
    pub block_range_ms: i64,
    /// Blocks ending longer than this before the newest sample are deleted (ms; 0 = keep).
    pub retention_ms: i64,
    /// Oldest blocks are deleted while blocks and WAL together exceed this (bytes; 0 = no limit).
    pub retention_bytes: u64,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            out_of_order_window_ms: 600_000,
            max_decoded_bytes: 64 << 20,
            block_range_ms: 2 * 3600 * 1000,
            retention_ms: 15 * 24 * 3600 * 1000,
            retention_bytes: 0,
        }
    }
}

/// What queries read: the head and the blocks, each sample in exactly one of them.
#[derive(Default)]
pub struct Db {
    /// The in-memory head (samples at or after its `min_valid`).
    pub head: Head,
    /// Blocks, ordered by time.
    pub blocks: Vec<Arc<block::Block>>,
}

impl Db {
    /// A view of a head alone (tests).
    pub fn from_head(head: Head) -> Db {
        Db { head, blocks: Vec::new() }
    }

    fn blocks_in(&self, mint: i64, maxt: i64) -> impl Iterator<Item = &Arc<block::Block>> {
        self.blocks.iter().filter(move |b| b.meta.maxt >= mint && b.meta.mint <= maxt)
    }

    /// Series matching `matchers` with their samples in `[mint, maxt]` (ms). From the head
    /// alone: in creation order (as Prometheus's head `Select`, which decides how `topk` breaks
    /// ties); when blocks take part: sorted by labels (as Prometheus's merging querier).
    pub fn select(&self, matchers: &[&Matcher], mint: i64, maxt: i64) -> Vec<SelectedSeries> {
        let blocks: Vec<_> = self.blocks_in(mint, maxt).collect();
        if blocks.is_empty() {
            return self.head.select(matchers, mint, maxt);
        }
        let mut merged: BTreeMap<Labels, Vec<(i64, f64)>> = BTreeMap::new();
        for b in blocks {
            match b.select(matchers, mint, maxt) {
                Ok(list) => {
                    for (l, s) in list {
                        merged.entry(l).or_default().extend(s);
                    }
                }
                Err(e) => error!(block = %b.meta.id, error = %e, "unreadable block skipped in a query"),
            }
        }
        for s in self.head.select(matchers, mint, maxt) {
            merged.entry(s.labels).or_default().extend(s.samples);
        }
        merged
            .into_iter()
            .map(|(labels, mut samples)| {
                // Head and blocks never overlap (the cut raises the head's lower bound first);
                // not deduplicating here keeps a broken invariant visible in query results.
                if samples.windows(2).any(|w| w[0].0 > w[1].0) {
                    samples.sort_by_key(|s| s.0);
                }
                SelectedSeries { labels, samples }
            })
            .collect()
    }

    /// Label sets (sorted, unique) of the series matching `matchers` with data in `[mint, maxt]`.
    pub fn series_labels(&self, matchers: &[&Matcher], mint: i64, maxt: i64) -> Vec<Labels> {
        let mut out = self.head.series_labels(matchers, mint, maxt);
        for b in self.blocks_in(mint, maxt) {
            out.extend(b.series_labels(matchers, mint, maxt));
        }
        out.sort();
        out.dedup();
        out
    }

    /// Newest sample time in head or blocks.
    pub fn max_t(&self) -> Option<i64> {
        let b = self.blocks.iter().map(|b| b.meta.maxt).max();
        match (self.head.max_t(), b) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }
}

/// The metrics store handle.
pub struct Tsdb {
    db: Arc<RwLock<Db>>,
    metadata: RwLock<BTreeMap<String, MetricMetadata>>,
    tx: std::sync::mpsc::SyncSender<Msg>,
    broken: Arc<AtomicBool>,
    metrics: Metrics,
    opts: Options,
    maint: Arc<Maintenance>,
}

const GROUP_MAX: usize = 1024;
const HEAD_MIN_FILE: &str = "head_min_ms";

/// Block cutting, compaction and retention; run by the maintenance thread (and tests).
struct Maintenance {
    dir: PathBuf,
    db: Arc<RwLock<Db>>,
    tx: std::sync::mpsc::SyncSender<Msg>,
    metrics: Metrics,
    opts: Options,
    /// One maintenance pass at a time.
    lock: Mutex<()>,
}

impl Tsdb {
    /// Opens `dir` (blocks in `dir/blocks`, the WAL in `dir/wal`), replays the WAL into the
    /// head, starts the writer and the maintenance thread.
    pub fn open(dir: &Path, opts: Options) -> std::io::Result<Tsdb> {
        let blocks_dir = dir.join("blocks");
        let blocks = open_blocks(&blocks_dir)?;
        let head_min = std::fs::read_to_string(blocks_dir.join(HEAD_MIN_FILE)).ok().and_then(|s| s.trim().parse::<i64>().ok());
        let bound = blocks.iter().map(|b| b.meta.maxt.saturating_add(1)).chain(head_min).max().unwrap_or(i64::MIN);
        let (mut file, records) = wal::WalFile::open(&dir.join("wal"))?;
        let mut head = Head::default();
        head.set_min_valid(bound);
        let n = records.len();
        for rec in records {
            for (labels, samples) in rec {
                head.replay(&labels, &samples);
            }
        }
        info!(dir = %dir.display(), blocks = blocks.len(), records = n, series = head.num_series(), samples = head.num_samples(), "metrics store opened, WAL replayed");
        let metrics = Metrics::new();
        metrics.series.set(head.num_series() as i64);
        let db = Arc::new(RwLock::new(Db { head, blocks }));
        let (tx, rx) = std::sync::mpsc::sync_channel::<Msg>(GROUP_MAX);
        let (kick_tx, kick_rx) = std::sync::mpsc::sync_channel::<()>(1);
        let broken = Arc::new(AtomicBool::new(false));
        let (h, b, m, window) = (db.clone(), broken.clone(), metrics.clone(), opts.out_of_order_window_ms);
        let cut_span = opts.block_range_ms.saturating_mul(3) / 2;
        std::thread::Builder::new().name("tsdb-wal".into()).spawn(move || {
            let mut buf = Vec::new();
            while let Some(group) = crate::group_commit::recv_group(&rx, GROUP_MAX) {
                buf.clear();
                let mut replies = Vec::with_capacity(group.len());
                let mut rotations = Vec::new();
                let mut span = 0;
                {
                    let mut db = h.write().unwrap_or_else(|e| e.into_inner());
                    let head = &mut db.head;
                    for msg in group {
                        let req = match msg {
                            Msg::Write(req) => req,
                            Msg::Rotate(reply) => {
                                rotations.push(reply);
                                continue;
                            }
                        };
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
                    if let (Some(lo), Some(hi)) = (head.min_t(), head.max_t()) {
                        span = hi.saturating_sub(lo);
                    }
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
                    // A backfill's groups grow this to megabytes; keep no more than a steady
                    // stream of scrapes needs between groups.
                    buf.clear();
                    buf.shrink_to(WAL_BUF_KEEP);
                }
                for (reply, st) in replies {
                    let _ = reply.send(Ok(st));
                }
                let rotated = !rotations.is_empty();
                for reply in rotations {
                    let _ = reply.send(file.rotate());
                }
                if rotated {
                    // A cut freed (from the maintenance thread) head chunks this thread
                    // allocated: mimalloc hands their pages back only when their owner collects.
                    release_freed_memory();
                }
                if span > cut_span {
                    let _ = kick_tx.try_send(());
                }
            }
        })?;
        let maint = Arc::new(Maintenance {
            dir: dir.to_path_buf(),
            db: db.clone(),
            tx: tx.clone(),
            metrics: metrics.clone(),
            opts: opts.clone(),
            lock: Mutex::new(()),
        });
        maint.update_gauges();
        let mt = Arc::downgrade(&maint);
        std::thread::Builder::new().name("tsdb-blocks".into()).spawn(move || {
            loop {
                // Dropping the store drops the last strong reference: the thread ends.
                match mt.upgrade() {
                    Some(m) => m.run(),
                    None => return,
                }
                match kick_rx.recv_timeout(Duration::from_secs(60)) {
                    Ok(()) | Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                    Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
                }
            }
        })?;
        Ok(Tsdb { db, metadata: RwLock::new(BTreeMap::new()), tx, broken, metrics, opts, maint })
    }

    /// Decodes a remote_write body and makes it durable; answers after the fsync.
    pub async fn write_remote(&self, body: &[u8]) -> Result<AppendStats, TsdbError> {
        let decoded = remote_write::decode(body, self.opts.max_decoded_bytes).map_err(TsdbError::Malformed)?;
        self.add_metadata(decoded.metadata);
        self.write(decoded.series).await
    }

    /// Records metric family metadata.
    pub fn add_metadata(&self, md: impl IntoIterator<Item = (String, MetricMetadata)>) {
        let mut map = self.metadata.write().unwrap_or_else(|e| e.into_inner());
        map.extend(md);
    }

    /// Counts samples refused before they reached the store.
    pub fn count_rejected(&self, reason: &str, n: u64) {
        if n > 0 {
            self.metrics.samples_rejected.get_or_create(&vec![("reason".into(), reason.into())]).inc_by(n);
        }
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
        tokio::task::spawn_blocking(move || tx.send(Msg::Write(WriteReq { series, reply })))
            .await
            .map_err(|e| TsdbError::Unavailable(e.to_string()))?
            .map_err(|_| TsdbError::Unavailable("writer stopped".into()))?;
        rx.await.map_err(|_| TsdbError::Unavailable("writer stopped".into()))?
    }

    /// Read access to head and blocks (query paths only read).
    pub fn reader(&self) -> std::sync::RwLockReadGuard<'_, Db> {
        self.db.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs block cutting, compaction and retention now (normally the maintenance thread does).
    pub fn maintain(&self) {
        self.maint.run();
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

/// Opens every block in `dir`: leftovers of interrupted writes and blocks a finished compaction
/// replaced are deleted; unreadable files are renamed `*.corrupt` and skipped.
fn open_blocks(dir: &Path) -> std::io::Result<Vec<Arc<block::Block>>> {
    std::fs::create_dir_all(dir)?;
    let mut blocks = Vec::new();
    let mut known = HashSet::new();
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        let ext = p.extension().map(|x| x.to_string_lossy().into_owned()).unwrap_or_default();
        if ext == "tmp" {
            std::fs::remove_file(&p)?;
        } else if ext == block::EXT {
            match block::Block::open_shared(&p, &mut known) {
                Ok(b) => blocks.push(Arc::new(b)),
                Err(e) => {
                    error!(file = %p.display(), error = %e, "unreadable metrics block set aside");
                    std::fs::rename(&p, p.with_extension("corrupt"))?;
                }
            }
        }
    }
    let parents: HashSet<String> = blocks.iter().flat_map(|b| b.meta.parents.iter().cloned()).collect();
    let (gone, kept): (Vec<_>, Vec<_>) = blocks.into_iter().partition(|b| parents.contains(&b.meta.id));
    for b in gone {
        info!(block = %b.meta.id, "deleting a block already compacted into another");
        std::fs::remove_file(&b.path)?;
    }
    let mut kept = kept;
    kept.sort_by_key(|b| (b.meta.mint, b.meta.maxt));
    Ok(kept)
}

/// Hands memory freed by a block cut or compaction (the head's cut chunks, the decoded series
/// of a compaction) back to the OS. glibc's malloc keeps freed memory of its per-thread arenas
/// mapped unless asked; mimalloc (the `lookout` binary's allocator) returns pages on its own
/// after a delay, and at once for this thread's heap when asked to collect.
fn release_freed_memory() {
    // Names the crate so that its C library is linked into every binary of this crate.
    use mimalloc as _;
    unsafe extern "C" {
        fn mi_collect(force: bool);
    }
    // SAFETY: mi_collect only walks mimalloc's own heaps; with another global allocator they are
    // empty and it does nothing.
    unsafe {
        mi_collect(true);
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

pub(crate) fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(path.parent().unwrap_or(Path::new(".")))?.sync_all()
}

impl Maintenance {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Db> {
        self.db.read().unwrap_or_else(|e| e.into_inner())
    }
    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Db> {
        self.db.write().unwrap_or_else(|e| e.into_inner())
    }

    fn run(&self) {
        let _one = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut changed = false;
        let result = (|| -> std::io::Result<()> {
            while self.cut_one()? {
                changed = true;
            }
            while self.compact_one()? {
                changed = true;
            }
            self.retention()
        })();
        if let Err(e) = result {
            self.metrics.maintenance_failures.inc();
            error!(error = %e, "metrics block maintenance failed; retrying later");
        }
        if changed {
            release_freed_memory();
        }
        self.update_gauges();
    }

    fn update_gauges(&self) {
        let db = self.read();
        self.metrics.blocks.set(db.blocks.len() as i64);
        self.metrics.block_bytes.set(db.blocks.iter().map(|b| b.file_bytes()).sum::<u64>() as i64);
    }

    /// Cuts the oldest block range out of the head if the head is long enough; true if it did.
    fn cut_one(&self) -> std::io::Result<bool> {
        let r = self.opts.block_range_ms.max(1);
        let (start, bound) = {
            let db = self.read();
            let (Some(lo), Some(hi)) = (db.head.min_t(), db.head.max_t()) else { return Ok(false) };
            let start = lo.div_euclid(r) * r;
            let bound = start + r;
            if hi.saturating_sub(lo) <= r * 3 / 2 || bound > hi.saturating_sub(self.opts.out_of_order_window_ms) {
                return Ok(false);
            }
            (start, bound)
        };
        // From here on no sample below `bound` enters the head; take (compressed copies of)
        // the chunks holding those it has, and decode them series by series while writing.
        let series = {
            let mut db = self.write();
            db.head.set_min_valid(bound);
            db.head.chunks_before(bound)
        };
        let blocks_dir = self.dir.join("blocks");
        let mut new_block = None;
        if !series.is_empty() {
            let meta = block::BlockMeta {
                id: block::new_id(start),
                mint: start,
                maxt: bound - 1,
                num_series: 0,
                num_samples: 0,
                level: 0,
                parents: vec![],
                encoding: chunk::DEFAULT_ENCODING,
            };
            new_block = Some(Arc::new(block::write_with(&blocks_dir, meta, series, |c| Ok(c.samples()))?));
        }
        write_atomic(&blocks_dir.join(HEAD_MIN_FILE), bound.to_string().as_bytes())?;
        {
            let mut db = self.write();
            if let Some(b) = &new_block {
                db.blocks.push(b.clone());
                db.blocks.sort_by_key(|b| (b.meta.mint, b.meta.maxt));
            }
            db.head.truncate_before(bound);
            self.metrics.series.set(db.head.num_series() as i64);
        }
        if let Some(b) = &new_block {
            self.metrics.blocks_cut.inc();
            info!(block = %b.meta.id, mint = b.meta.mint, maxt = b.meta.maxt, series = b.meta.num_series, samples = b.meta.num_samples, bytes = b.file_bytes(), "metrics block cut from the head");
        }
        let (tx, rx) = std::sync::mpsc::channel();
        self.tx.send(Msg::Rotate(tx)).map_err(|_| std::io::Error::other("WAL writer stopped"))?;
        let next = rx.recv().map_err(|_| std::io::Error::other("WAL writer stopped"))??;
        wal::checkpoint(&self.dir.join("wal"), next, bound)?;
        Ok(true)
    }

    /// Merges the blocks of one complete compaction window; true if it did.
    fn compact_one(&self) -> std::io::Result<bool> {
        let r = self.opts.block_range_ms.max(1);
        let blocks: Vec<Arc<block::Block>> = self.read().blocks.clone();
        let Some(newest) = blocks.iter().map(|b| b.meta.maxt).max() else { return Ok(false) };
        for factor in [3i64, 9, 27] {
            let w = r.saturating_mul(factor);
            // As Prometheus: no block larger than a tenth of the retention time, so that
            // retention can still drop data in steps.
            if self.opts.retention_ms > 0 && w > self.opts.retention_ms / 10 {
                break;
            }
            let mut groups: BTreeMap<i64, Vec<Arc<block::Block>>> = BTreeMap::new();
            for b in &blocks {
                let win = b.meta.mint.div_euclid(w);
                if b.meta.maxt.div_euclid(w) == win && b.meta.maxt - b.meta.mint < w - 1 {
                    groups.entry(win).or_default().push(b.clone());
                }
            }
            for (win, group) in groups {
                let end = (win + 1) * w - 1;
                if group.len() < 2 || end > newest {
                    continue;
                }
                // Which parent series make up each merged series; samples are read and merged
                // one series at a time while the new block is written.
                let mut parts: BTreeMap<Labels, Vec<(usize, u32)>> = BTreeMap::new();
                for (i, b) in group.iter().enumerate() {
                    for (id, l) in b.series_list() {
                        parts.entry(l.clone()).or_default().push((i, id));
                    }
                }
                let mint = group.iter().map(|b| b.meta.mint).min().unwrap_or(win * w);
                let maxt = group.iter().map(|b| b.meta.maxt).max().unwrap_or(end);
                let meta = block::BlockMeta {
                    id: block::new_id(mint),
                    mint,
                    maxt,
                    num_series: 0,
                    num_samples: 0,
                    level: group.iter().map(|b| b.meta.level).max().unwrap_or(0) + 1,
                    parents: group.iter().map(|b| b.meta.id.clone()).collect(),
                    encoding: chunk::DEFAULT_ENCODING,
                };
                let nb = Arc::new(block::write_with(&self.dir.join("blocks"), meta, parts.into_iter().collect(), |ids| {
                    let mut s = Vec::new();
                    for &(i, id) in ids {
                        s.extend(group[i].series_samples(id)?);
                    }
                    s.sort_by_key(|x| x.0);
                    s.dedup_by_key(|x| x.0);
                    Ok(s)
                })?);
                {
                    let mut db = self.write();
                    let ids: HashSet<&str> = group.iter().map(|b| b.meta.id.as_str()).collect();
                    db.blocks.retain(|b| !ids.contains(b.meta.id.as_str()));
                    db.blocks.push(nb.clone());
                    db.blocks.sort_by_key(|b| (b.meta.mint, b.meta.maxt));
                }
                for b in &group {
                    std::fs::remove_file(&b.path)?;
                }
                self.metrics.compactions.inc();
                self.metrics.blocks_deleted.get_or_create(&vec![("reason".into(), "compacted".into())]).inc_by(group.len() as u64);
                info!(block = %nb.meta.id, parents = group.len(), mint, maxt, bytes = nb.file_bytes(), "metrics blocks compacted");
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Drops blocks past the retention time, then the oldest while over the size limit.
    fn retention(&self) -> std::io::Result<()> {
        let (blocks, newest) = {
            let db = self.read();
            (db.blocks.clone(), db.max_t())
        };
        let mut drop: Vec<(Arc<block::Block>, &str)> = Vec::new();
        if self.opts.retention_ms > 0
            && let Some(newest) = newest
        {
            let cutoff = newest.saturating_sub(self.opts.retention_ms);
            drop.extend(blocks.iter().filter(|b| b.meta.maxt < cutoff).map(|b| (b.clone(), "age")));
        }
        if self.opts.retention_bytes > 0 {
            let wal = wal::dir_bytes(&self.dir.join("wal"));
            let mut total: u64 =
                wal + blocks.iter().filter(|b| !drop.iter().any(|(d, _)| d.meta.id == b.meta.id)).map(|b| b.file_bytes()).sum::<u64>();
            for b in &blocks {
                if total <= self.opts.retention_bytes {
                    break;
                }
                if drop.iter().any(|(d, _)| d.meta.id == b.meta.id) {
                    continue;
                }
                total = total.saturating_sub(b.file_bytes());
                drop.push((b.clone(), "size"));
            }
        }
        if drop.is_empty() {
            return Ok(());
        }
        {
            let mut db = self.write();
            db.blocks.retain(|b| !drop.iter().any(|(d, _)| d.meta.id == b.meta.id));
        }
        for (b, reason) in drop {
            std::fs::remove_file(&b.path)?;
            self.metrics.blocks_deleted.get_or_create(&vec![("reason".into(), reason.into())]).inc();
            warn!(block = %b.meta.id, mint = b.meta.mint, maxt = b.meta.maxt, reason, "metrics block deleted by retention");
        }
        Ok(())
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
        let opts = Options { out_of_order_window_ms: 60_000, max_decoded_bytes: 1 << 20, ..Options::default() };
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
        let got = db.reader().select(&[], i64::MIN, i64::MAX);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].samples.len(), 3);
        assert!(is_stale(got[0].samples[1].1));
    }

    fn small(dir: &Path, retention_ms: i64, retention_bytes: u64) -> Tsdb {
        let opts = Options { out_of_order_window_ms: 0, block_range_ms: 10_000, retention_ms, retention_bytes, ..Options::default() };
        Tsdb::open(dir, opts).unwrap()
    }

    /// Writes `n` seconds of one sample per second for series a and b, from `from` seconds.
    async fn fill(db: &Tsdb, from: i64, n: i64) {
        for i in from..from + n {
            db.write(vec![(labels("a"), vec![(i * 1000, i as f64)]), (labels("b"), vec![(i * 1000, -i as f64)])]).await.unwrap();
        }
    }

    fn all(db: &Tsdb) -> Vec<(i64, f64)> {
        let m = Matcher::new(promql_parser::label::MatchOp::Equal, "__name__", "a");
        db.reader().select(&[&m], i64::MIN, i64::MAX).into_iter().flat_map(|s| s.samples).collect()
    }

    fn wal_files(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> =
            std::fs::read_dir(dir.join("wal")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    }

    #[tokio::test]
    async fn blocks_are_cut_wal_checkpointed_and_queries_see_each_sample_once() {
        let dir = tempfile::tempdir().unwrap();
        let db = small(dir.path(), 0, 0);
        fill(&db, 0, 100).await;
        db.maintain();
        let expected: Vec<(i64, f64)> = (0..100).map(|i| (i * 1000, i as f64)).collect();
        {
            let r = db.reader();
            // Cut while the head spans more than 1.5 ranges: [0,10s) … [80s,90s), then compacted.
            let spans: Vec<_> = r.blocks.iter().map(|b| (b.meta.mint, b.meta.maxt)).collect();
            assert_eq!(spans.first().map(|s| s.0), Some(0), "{spans:?}");
            assert_eq!(spans.last().map(|s| s.1), Some(89_999), "{spans:?}");
            assert!(spans.windows(2).all(|w| w[0].1 < w[1].0), "{spans:?}");
            assert_eq!(r.head.min_t(), Some(90_000));
        }
        assert_eq!(all(&db), expected);
        // The WAL holds only what is not in blocks: a checkpoint and the live segment.
        let files = wal_files(dir.path());
        assert!(files.iter().any(|f| f.starts_with("checkpoint-")), "{files:?}");
        assert!(files.iter().filter(|f| f.starts_with("seg-")).count() == 1, "{files:?}");
        // Appends below the cut are refused and counted.
        let st = db.write(vec![(labels("a"), vec![(5_000, 9.0)])]).await.unwrap();
        assert_eq!(st.too_old, 1);
        drop(db);
        let db = small(dir.path(), 0, 0);
        assert_eq!(all(&db), expected, "reopen: blocks + checkpoint + segment, nothing twice");
        assert_eq!(db.reader().head.num_samples(), 20, "only the 10 s not in blocks are replayed, for 2 series");
    }

    #[tokio::test]
    async fn compaction_merges_complete_windows_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let db = small(dir.path(), 0, 0);
        fill(&db, 0, 200).await;
        db.maintain();
        {
            let r = db.reader();
            let spans: Vec<_> = r.blocks.iter().map(|b| (b.meta.mint, b.meta.maxt, b.meta.level)).collect();
            // 18 blocks of 10 s: windows of 90 s are merged, the rest of 30 s windows too.
            assert!(spans.iter().any(|s| s.2 >= 2), "{spans:?}");
            assert!(spans.windows(2).all(|w| w[0].1 < w[1].0), "no overlap: {spans:?}");
        }
        let expected: Vec<(i64, f64)> = (0..200).map(|i| (i * 1000, i as f64)).collect();
        assert_eq!(all(&db), expected);
        drop(db);
        // A crash after writing a compacted block but before deleting its parents: the parents
        // are deleted at open instead of being read twice.
        let blocks_dir = dir.path().join("blocks");
        let db = small(dir.path(), 0, 0);
        let merged = db.reader().blocks.iter().find(|b| !b.meta.parents.is_empty()).cloned().unwrap();
        let mut parent = block::BlockMeta { id: merged.meta.parents[0].clone(), level: 0, parents: vec![], ..merged.meta.clone() };
        parent.maxt = parent.mint + 9_999;
        let mut series = vec![(labels("a"), vec![(parent.mint, 123.0)])];
        block::write(&blocks_dir, parent, &mut series).unwrap();
        drop(db);
        let db = small(dir.path(), 0, 0);
        assert_eq!(all(&db), expected);
    }

    #[tokio::test]
    async fn retention_drops_whole_blocks_by_age_and_by_size() {
        let dir = tempfile::tempdir().unwrap();
        let db = small(dir.path(), 30_000, 0);
        fill(&db, 0, 100).await;
        db.maintain();
        let first = all(&db)[0].0;
        // Newest sample 99 s; blocks ending before 69 s are gone.
        assert!((60_000..=70_000).contains(&first), "{first}");
        assert!(db.encode_metrics().contains("lookout_tsdb_deleted_blocks_total{reason=\"age\"}"));
        drop(db);
        let dir = tempfile::tempdir().unwrap();
        let db = small(dir.path(), 0, 1);
        fill(&db, 0, 100).await;
        db.maintain();
        assert!(db.reader().blocks.is_empty(), "every block is over a 1-byte limit");
        assert_eq!(all(&db).first().map(|s| s.0), Some(90_000), "the head is kept");
    }
}

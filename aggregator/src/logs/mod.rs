//! The log store: day-partitioned tantivy indexes fed from the WAL, and the search behind the
//! logs API.
//!
//! Decisions:
//! - **Schema**: `timestamp` (ns, fast only: ranges and sorting read the column) for time
//!   pruning and sorting; `id` (fast only: lookups are column ranges); `level`, `service`,
//!   `host`, `source` as exact, fast keyword fields; `message` full text; every other field in a
//!   JSON field with dotted paths (`http.status`), numbers indexed as numbers so ranges work.
//!   A bare word is looked up in `message` and in every string path of the JSON field
//!   ([`doc::AnyPathText`]), so no string is indexed twice. No field norms (nothing is ranked
//!   by relevance). Only `_source` is stored, and only what the columns do not hold (`message`
//!   and the JSON fields, zstd in 64 KiB blocks); a hit is rebuilt from it and the columns
//!   exactly as it was ingested. Partitions written by earlier versions (with a `text` field,
//!   an indexed `id` and the whole event in `_source`) read the same way: the field order is
//!   unchanged and the extra stored keys are ignored.
//! - **Partitions**: one tantivy index per UTC day of *event* time, in `logs/<YYYY-MM-DD>/`,
//!   listed with its time range, line count and size in a SQLite catalog ([`catalog`]). A query
//!   opens only the partitions its time range overlaps, and retention (by age and by total
//!   size, `[logs] retention_days` / `retention_bytes`) drops whole partitions: a directory
//!   removal, never a delete-by-query. Searches that hold a dropped partition finish on it (the
//!   files stay mapped until the last reader goes).
//! - **Durability** belongs to the WAL. The indexer commits every partition it wrote to on an
//!   interval, each with the payload `{wal_seq}` (every event of a record up to `wal_seq` that
//!   belongs to this partition is in it), then records the same `wal_seq` and the batch ids as
//!   the catalog's checkpoint. A restart replays the WAL after the catalog's checkpoint and
//!   skips, per partition, events of records at or below that partition's own commit, so a
//!   crash between the partition commits and the catalog update indexes nothing twice.
//! - **Ids**: a hit's id is `(wal sequence << 20) | position in its batch`: permanent, unique
//!   across partitions, and independent of tantivy's internal doc ids, which change on merges.

pub mod catalog;
pub mod doc;
pub mod fields;
pub mod ordered;
pub mod query;
pub mod tail;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use serde_json::Value;
use tantivy::collector::{Collector, Count, SegmentCollector, TopDocs};
use tantivy::directory::MmapDirectory;
use tantivy::query::{AllQuery, BooleanQuery, InvertedIndexRangeQuery, Occur, PhraseQuery, Query, RangeQuery, TermQuery};
use tantivy::schema::{FAST, Field, IndexRecordOption, JsonObjectOptions, STORED, Schema, TextFieldIndexing, TextOptions, Value as _};
use tantivy::store::{Compressor, ZstdCompressor};
use tantivy::tokenizer::{TextAnalyzer, TokenizerManager};
use tantivy::{DocAddress, Index, IndexReader, IndexSettings, IndexWriter, Order, ReloadPolicy, SegmentReader, TantivyDocument, Term};

use doc::{AnyPathText, DocFields, EventDoc};
use tracing::{error, info, warn};
use wire::LogEvent;

use crate::telemetry::Telemetry;
use crate::wal::WalRecord;
use catalog::{Catalog, PartitionInfo};
use ordered::{Key, TopByKey};
use query::Ast;

/// Positions a record's events can take in ids (`seq << ID_SHIFT | index`).
pub const ID_SHIFT: u32 = 20;
/// Most events one WAL record may hold.
pub const MAX_EVENTS_PER_RECORD: usize = 1 << ID_SHIFT;
/// Length of a partition, ns.
pub const DAY_NS: i64 = 86_400 * 1_000_000_000;
/// Events waiting for the indexer beyond which it counts as behind ingest ([`LogStore::with_commit_stretch`]).
pub const BEHIND_EVENTS: u64 = 50_000;
/// A stretched commit happens at the latest after this many events.
const STRETCH_MAX_EVENTS: u64 = 1_000_000;

/// Partitions with an open writer at once; a record spanning more days commits and closes some.
const MAX_WRITERS: usize = 4;

/// The partition (day since the epoch) an event time falls in.
pub fn day_of(ts: i64) -> i64 {
    ts.div_euclid(DAY_NS)
}

/// Log store errors, mapped to HTTP status codes in one place (`http::ApiError`).
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The query does not parse.
    #[error("{0}")]
    Query(#[from] query::ParseError),
    /// A parameter is out of range.
    #[error("{0}")]
    BadRequest(String),
    /// tantivy failed.
    #[error("log index error: {0}")]
    Index(#[from] tantivy::TantivyError),
    /// The catalog or a partition directory failed.
    #[error("log storage error: {0}")]
    Storage(String),
}

#[derive(Clone, Copy)]
struct Fields {
    id: Field,
    timestamp: Field,
    level: Field,
    service: Field,
    host: Field,
    source: Field,
    message: Field,
    fields: Field,
    source_doc: Field,
}

impl Fields {
    fn doc(&self) -> DocFields {
        DocFields {
            id: self.id,
            timestamp: self.timestamp,
            level: self.level,
            service: self.service,
            host: self.host,
            source: self.source,
            message: self.message,
            fields: self.fields,
            source_doc: self.source_doc,
        }
    }
}

/// zstd level of the document store: level 3 costs little CPU on its own thread; the 64 KiB
/// blocks are what make it small (repeated keys and values within a block).
const DOCSTORE_ZSTD_LEVEL: i32 = 3;
const DOCSTORE_BLOCK_BYTES: usize = 64 << 10;
/// Segments this large are not merged further: the largest merge (which runs beside
/// indexing on this machine's few cores) stays bounded, so ingest latency stays flat, and a line
/// is rewritten by merges about once instead of two or three times. 10 M lines ingested 1.21×
/// faster than with 2 M (35 segments instead of 15, searched in parallel; no query got slower).
const MERGE_MAX_DOCS: usize = 300_000;

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let tokenized = TextFieldIndexing::default()
        .set_tokenizer("default")
        .set_index_option(IndexRecordOption::WithFreqsAndPositions)
        .set_fieldnorms(false);
    let keyword = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default().set_tokenizer("raw").set_index_option(IndexRecordOption::Basic).set_fieldnorms(false),
    ) | FAST;
    let json_opts = JsonObjectOptions::default().set_indexing_options(tokenized.clone()).set_expand_dots_enabled();
    // Field order is part of the on-disk format (fields are numbered): `text` stays in its place,
    // unused, so partitions written by earlier versions keep working.
    let f = Fields {
        id: b.add_u64_field("id", FAST),
        timestamp: b.add_i64_field("timestamp", FAST),
        level: b.add_text_field("level", keyword.clone()),
        service: b.add_text_field("service", keyword.clone()),
        host: b.add_text_field("host", keyword.clone()),
        source: b.add_text_field("source", keyword),
        message: b.add_text_field("message", TextOptions::default().set_indexing_options(tokenized)),
        fields: b.add_json_field("fields", json_opts),
        source_doc: b.add_text_field("_source", STORED),
    };
    (b.build(), f)
}

/// Appends what the document store keeps of `e` (its `_source`, JSON) to `out`. The WAL writer
/// calls this once per event and reuses the text both in the WAL record and in the index.
pub(crate) fn write_stored(e: &wire::LogEvent, out: &mut Vec<u8>) {
    serde_json::to_writer(out, &StoredRef { message: &e.message, fields: &e.fields }).expect("event serializes");
}

/// What the document store keeps of an event: the columns hold the rest.
#[derive(serde::Serialize)]
struct StoredRef<'a> {
    message: &'a str,
    fields: &'a serde_json::Map<String, Value>,
}

/// [`StoredRef`] read back; also reads the whole event that earlier versions stored.
#[derive(serde::Deserialize, Default)]
struct Stored {
    #[serde(default)]
    message: String,
    #[serde(default)]
    fields: serde_json::Map<String, Value>,
}

/// What the indexer has made searchable: the catalog's checkpoint, and each partition's commit payload.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub struct CommitPayload {
    /// Every WAL record up to this sequence is indexed.
    pub wal_seq: u64,
    /// Highest batch sequence per `agent/stream` among those records.
    #[serde(default)]
    pub batches: HashMap<String, u64>,
}

/// When whole partitions are dropped.
#[derive(Debug, Clone, Copy, Default)]
pub struct Retention {
    /// Drop a partition once its whole day is older than this.
    pub max_age: Option<Duration>,
    /// Drop the oldest partitions while all together are larger than this (the newest is kept).
    pub max_bytes: Option<u64>,
}

/// One day's index.
struct Part {
    day: i64,
    dir: PathBuf,
    index: Index,
    reader: IndexReader,
}

impl Part {
    fn open(root: &Path, day: i64) -> Result<Part, LogError> {
        let date = time::OffsetDateTime::from_unix_timestamp(day.saturating_mul(86_400).clamp(-377_705_116_800, 253_402_300_799))
            .map(|t| t.date())
            .unwrap_or(time::Date::MIN);
        let dir = root.join(format!("{:04}-{:02}-{:02}", date.year(), date.month() as u8, date.day()));
        std::fs::create_dir_all(&dir).map_err(|e| LogError::Storage(format!("cannot create {}: {e}", dir.display())))?;
        let mmap = MmapDirectory::open(&dir).map_err(tantivy::TantivyError::from)?;
        let index = if Index::exists(&mmap).map_err(tantivy::TantivyError::from)? {
            Index::open(mmap)?
        } else {
            let settings = IndexSettings {
                docstore_compression: Compressor::Zstd(ZstdCompressor { compression_level: Some(DOCSTORE_ZSTD_LEVEL) }),
                docstore_blocksize: DOCSTORE_BLOCK_BYTES,
                ..Default::default()
            };
            Index::builder().schema(schema().0).settings(settings).open_or_create(mmap)?
        };
        let mut index = index;
        if let Some(executor) = search_executor() {
            index.set_executor(executor);
        }
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        Ok(Part { day, dir, index, reader })
    }

    /// `wal_seq` of this partition's last commit.
    fn committed_seq(&self) -> u64 {
        self.index
            .load_metas()
            .ok()
            .and_then(|m| m.payload)
            .and_then(|p| serde_json::from_str::<CommitPayload>(&p).ok())
            .map(|p| p.wal_seq)
            .unwrap_or(0)
    }
}

/// On-disk format of the partitions, in `<logs>/FORMAT`. 2: sstable term dictionaries and no
/// `text` field (format 1, without the file, used FST dictionaries, which this build cannot read).
const FORMAT: &str = "2";

/// Refuses partitions written in another format with a clear error instead of failing on the
/// first query; records the format in a new store.
fn check_format(dir: &Path, has_partitions: bool) -> Result<(), LogError> {
    let file = dir.join("FORMAT");
    match std::fs::read_to_string(&file) {
        Ok(v) if v.trim() == FORMAT => Ok(()),
        Ok(v) => Err(LogError::Storage(format!(
            "{}: the log partitions are in format {}, this Lookout reads format {FORMAT}; move {} away (or restore it with the Lookout that wrote it)",
            file.display(),
            v.trim(),
            dir.display()
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && has_partitions => Err(LogError::Storage(format!(
            "{}: the log partitions were written by an older Lookout (format 1), this one reads format {FORMAT}; move {} away to start a new log store",
            dir.display(),
            dir.display()
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => crate::tsdb::write_atomic(&file, FORMAT.as_bytes())
            .map_err(|e| LogError::Storage(format!("cannot write {}: {e}", file.display()))),
        Err(e) => Err(LogError::Storage(format!("cannot read {}: {e}", file.display()))),
    }
}

/// One pool shared by every partition that searches a query's segments in parallel (one
/// thread per core): a large result is counted and ranked by all cores instead of one. `None`
/// (searches stay on the calling thread) if the pool cannot be started.
fn search_executor() -> Option<tantivy::Executor> {
    static POOL: std::sync::OnceLock<Option<tantivy::Executor>> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        if threads < 2 {
            return None;
        }
        tantivy::Executor::multi_thread(threads, "lookout-search-")
            .map_err(|e| tracing::warn!(error = %e, "cannot start the parallel search pool; searching on one thread"))
            .ok()
    })
    .clone()
}

fn dir_bytes(p: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(p) else { return 0 };
    rd.flatten().filter_map(|e| e.metadata().ok()).filter(|m| m.is_file()).map(|m| m.len()).sum()
}

/// The searchable log store.
pub struct LogStore {
    root: PathBuf,
    parts: RwLock<BTreeMap<i64, Arc<Part>>>,
    catalog: Mutex<Catalog>,
    retention: Retention,
    /// How far apart commits may be spaced while indexing is behind ingest (see `index_loop`).
    commit_max: Option<Duration>,
    f: Fields,
    message_analyzer: Mutex<TextAnalyzer>,
    /// Events durable in the WAL and not yet searchable.
    pub pending: Arc<AtomicU64>,
    /// Highest WAL sequence indexed and committed.
    pub indexed: Arc<AtomicU64>,
    /// Announces each commit (its WAL sequence) to live tails; never blocks the indexer.
    pub committed: tokio::sync::watch::Sender<u64>,
    telemetry: Telemetry,
}

/// Messages to the indexer thread.
pub enum IndexerMsg {
    /// Committed WAL records, in order.
    Records(Vec<Arc<WalRecord>>),
    /// Commit now and stop.
    Stop(std::sync::mpsc::Sender<()>),
    /// Apply retention as if the time were this (ns); answers with the days dropped.
    Retention(i64, std::sync::mpsc::Sender<Vec<i64>>),
}

/// One search request.
#[derive(Debug, Clone)]
pub struct SearchRequest {
    /// Query text.
    pub q: String,
    /// Inclusive start, ns.
    pub start: i64,
    /// Exclusive end, ns.
    pub end: i64,
    /// Most hits to return.
    pub limit: usize,
    /// Newest first when true.
    pub desc: bool,
    /// Continue after this line (the previous page's `next_cursor`).
    pub cursor: Option<Key>,
}

/// A search answer.
#[derive(Debug, serde::Serialize)]
pub struct SearchResult {
    /// Hits in the requested order.
    pub hits: Vec<Value>,
    /// All matches in the range.
    pub total: usize,
    /// Where the next page starts, when there may be one.
    pub next_cursor: Option<String>,
}

/// Lines around one line of the same host and source.
#[derive(Debug, serde::Serialize)]
pub struct Context {
    /// Up to `before` lines just before it, oldest first.
    pub before: Vec<Value>,
    /// The line itself.
    pub line: Value,
    /// Up to `after` lines just after it, oldest first.
    pub after: Vec<Value>,
}

/// The columns a hit is rebuilt from, per segment.
struct SegmentColumns {
    id: Option<tantivy::columnar::Column<u64>>,
    ts: Option<tantivy::columnar::Column<i64>>,
    keywords: [Option<tantivy::columnar::StrColumn>; 4],
}

/// [`SegmentColumns`] opened so far by one request.
type HitColumns = HashMap<tantivy::index::SegmentId, SegmentColumns>;

/// Searchers of the partitions a query reads, in day order.
type Searchers = Vec<tantivy::Searcher>;
/// A line's key, the index of the searcher holding it, and its address there.
type Located = (Key, usize, DocAddress);

/// The indexer thread's state: open writers and what each partition has committed.
struct Indexer {
    writers: HashMap<i64, IndexWriter<EventDoc>>,
    threads: usize,
    dirty: HashSet<i64>,
    part_seq: HashMap<i64, u64>,
    infos: BTreeMap<i64, PartitionInfo>,
    memory: usize,
    payload: CommitPayload,
    uncommitted: u64,
}

impl LogStore {
    /// Opens or creates the store under `dir`. Returns it and the checkpoint of its catalog
    /// (where WAL replay starts).
    pub fn open(dir: &Path, telemetry: Telemetry) -> Result<(LogStore, CommitPayload), LogError> {
        std::fs::create_dir_all(dir).map_err(|e| LogError::Storage(format!("cannot create {}: {e}", dir.display())))?;
        let (_, f) = schema();
        let catalog = Catalog::open(&dir.join("catalog.sqlite"))?;
        let payload = catalog.checkpoint()?;
        let infos = catalog.partitions()?;
        check_format(dir, !infos.is_empty())?;
        let mut parts = BTreeMap::new();
        for info in infos {
            parts.insert(info.day, Arc::new(Part::open(dir, info.day)?));
        }
        let message_analyzer = Mutex::new(TokenizerManager::default().get("default").expect("tantivy's default tokenizer"));
        info!(dir = %dir.display(), partitions = parts.len(), indexed_upto = payload.wal_seq, "log store opened");
        let store = LogStore {
            root: dir.to_path_buf(),
            parts: RwLock::new(parts),
            catalog: Mutex::new(catalog),
            retention: Retention::default(),
            commit_max: None,
            f,
            message_analyzer,
            pending: Arc::new(AtomicU64::new(0)),
            indexed: Arc::new(AtomicU64::new(payload.wal_seq)),
            committed: tokio::sync::watch::Sender::new(payload.wal_seq),
            telemetry,
        };
        Ok((store, payload))
    }

    /// Sets the retention policy (before the indexer starts).
    pub fn with_retention(mut self, retention: Retention) -> LogStore {
        self.retention = retention;
        self
    }

    /// While indexing is behind ingest (a backlog of at least [`BEHIND_EVENTS`] events waiting),
    /// space commits up to `max` apart instead of the commit interval (before the indexer starts).
    /// Each commit ends the writers' segments, so under a backlog commits of one second make
    /// small segments that merges must rewrite; a line at the back of the backlog becomes
    /// searchable no later for it. Without a backlog the commit interval holds.
    pub fn with_commit_stretch(mut self, max: Duration) -> LogStore {
        self.commit_max = Some(max);
        self
    }

    /// The catalog's rows, oldest first.
    pub fn partitions(&self) -> Result<Vec<PartitionInfo>, LogError> {
        self.catalog.lock().unwrap_or_else(|p| p.into_inner()).partitions()
    }

    /// Starts the indexer thread, which indexes records sent on the returned channel.
    pub fn start_indexer(
        self: &Arc<Self>,
        payload: CommitPayload,
        commit_every: Duration,
        memory_bytes: usize,
    ) -> Result<std::sync::mpsc::Sender<IndexerMsg>, LogError> {
        self.start_indexer_with_threads(payload, commit_every, memory_bytes, 1)
    }

    /// [`Self::start_indexer`] with `threads` tantivy indexing threads per partition writer
    /// (each builds its own segments; the memory budget is shared between them).
    pub fn start_indexer_with_threads(
        self: &Arc<Self>,
        payload: CommitPayload,
        commit_every: Duration,
        memory_bytes: usize,
        threads: usize,
    ) -> Result<std::sync::mpsc::Sender<IndexerMsg>, LogError> {
        let threads = threads.clamp(1, 8);
        let part_seq = self.parts.read().unwrap_or_else(|p| p.into_inner()).values().map(|p| (p.day, p.committed_seq())).collect();
        let infos = self.partitions()?.into_iter().map(|i| (i.day, i)).collect();
        let ix = Indexer {
            writers: HashMap::new(),
            threads,
            dirty: HashSet::new(),
            part_seq,
            infos,
            memory: (memory_bytes / 2).max(15_000_000 * threads),
            payload,
            uncommitted: 0,
        };
        let (tx, rx) = std::sync::mpsc::channel::<IndexerMsg>();
        let store = self.clone();
        std::thread::Builder::new()
            .name("log-indexer".into())
            .spawn(move || store.index_loop(ix, rx, commit_every))
            .map_err(|e| LogError::Storage(format!("cannot start indexer: {e}")))?;
        Ok(tx)
    }

    fn index_loop(&self, mut ix: Indexer, rx: std::sync::mpsc::Receiver<IndexerMsg>, commit_every: Duration) {
        let retention_every = Duration::from_secs(60);
        let mut last_commit = Instant::now();
        let mut last_retention = Instant::now();
        loop {
            let wait = if ix.uncommitted > 0 { commit_every.saturating_sub(last_commit.elapsed()) } else { retention_every };
            let stop = match rx.recv_timeout(wait) {
                Ok(IndexerMsg::Records(records)) => {
                    for r in records {
                        if r.seq > ix.payload.wal_seq {
                            self.index_record(&mut ix, r);
                        }
                    }
                    None
                }
                Ok(IndexerMsg::Retention(now, reply)) => {
                    self.commit_round(&mut ix);
                    let _ = reply.send(self.apply_retention(&mut ix, now));
                    None
                }
                Ok(IndexerMsg::Stop(done)) => Some(Some(done)),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => None,
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Some(None),
            };
            if ix.uncommitted > 0 && (stop.is_some() || self.commit_due(&ix, last_commit.elapsed(), commit_every)) {
                self.commit_round(&mut ix);
                last_commit = Instant::now();
            }
            if last_retention.elapsed() >= retention_every {
                let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0);
                self.apply_retention(&mut ix, now);
                last_retention = Instant::now();
            }
            if let Some(done) = stop {
                // Release the partitions' writer locks before saying so: a reopen may follow at once.
                ix.writers.clear();
                if let Some(done) = done {
                    let _ = done.send(());
                }
                return;
            }
        }
    }

    /// Whether a commit is due `elapsed` after the last one: at the commit interval, unless
    /// indexing is behind and the stretch allows waiting longer.
    fn commit_due(&self, ix: &Indexer, elapsed: Duration, commit_every: Duration) -> bool {
        if elapsed < commit_every {
            return false;
        }
        let Some(max) = self.commit_max else { return true };
        let waiting = self.pending.load(Ordering::Acquire).saturating_sub(ix.uncommitted);
        waiting < BEHIND_EVENTS || elapsed >= max || ix.uncommitted >= STRETCH_MAX_EVENTS
    }

    fn index_record(&self, ix: &mut Indexer, r: Arc<WalRecord>) {
        for (i, e) in r.events.iter().enumerate() {
            let day = day_of(e.timestamp);
            if r.seq <= ix.part_seq.get(&day).copied().unwrap_or(0) {
                continue; // in this partition's last commit already (crash before the catalog update)
            }
            if !ix.writers.contains_key(&day) {
                if ix.writers.len() >= MAX_WRITERS {
                    // Commit everything, then close every writer: the next ones open on demand.
                    self.commit_round(ix);
                    ix.writers.clear();
                }
                match self.writer_for(day, ix.memory, ix.threads) {
                    Ok(w) => {
                        ix.writers.insert(day, w);
                    }
                    Err(err) => {
                        error!(error = %err, day, "cannot open log partition; event not indexed");
                        continue;
                    }
                }
            }
            let doc = self.to_doc(&r, i);
            if let Some(w) = ix.writers.get_mut(&day)
                && let Err(err) = w.add_document(doc)
            {
                error!(error = %err, "cannot index event");
            }
            ix.dirty.insert(day);
            let info = ix.infos.entry(day).or_insert(PartitionInfo { day, min_ts: e.timestamp, max_ts: e.timestamp, docs: 0, bytes: 0 });
            info.min_ts = info.min_ts.min(e.timestamp);
            info.max_ts = info.max_ts.max(e.timestamp);
        }
        ix.uncommitted += r.events.len() as u64;
        ix.payload.wal_seq = r.seq;
        if let Some(b) = &r.batch {
            let e = ix.payload.batches.entry(format!("{}/{}", b.agent, b.stream)).or_insert(0);
            *e = (*e).max(b.sequence);
        }
    }

    fn writer_for(&self, day: i64, memory: usize, threads: usize) -> Result<IndexWriter<EventDoc>, LogError> {
        let existing = self.parts.read().unwrap_or_else(|p| p.into_inner()).get(&day).cloned();
        let part = match existing {
            Some(p) => p,
            None => {
                let p = Arc::new(Part::open(&self.root, day)?);
                self.parts.write().unwrap_or_else(|p| p.into_inner()).insert(day, p.clone());
                p
            }
        };
        let writer = part.index.writer_with_num_threads(threads, memory)?;
        let mut policy = tantivy::indexer::LogMergePolicy::default();
        policy.set_max_docs_before_merge(MERGE_MAX_DOCS);
        writer.set_merge_policy(Box::new(policy));
        Ok(writer)
    }

    /// Commits every partition written to, then the catalog; then makes it all searchable.
    fn commit_round(&self, ix: &mut Indexer) {
        if ix.uncommitted == 0 && ix.dirty.is_empty() {
            return;
        }
        let json =
            serde_json::to_string(&CommitPayload { wal_seq: ix.payload.wal_seq, batches: HashMap::new() }).expect("payload serializes");
        let mut touched = Vec::new();
        for day in ix.dirty.clone() {
            let Some(w) = ix.writers.get_mut(&day) else { continue };
            let result = w.prepare_commit().and_then(|mut p| {
                p.set_payload(&json);
                p.commit()
            });
            if let Err(e) = result {
                error!(error = %e, day, "log partition commit failed; will retry");
                return;
            }
            ix.part_seq.insert(day, ix.payload.wal_seq);
            let part = self.parts.read().unwrap_or_else(|p| p.into_inner()).get(&day).cloned();
            if let Some(part) = part {
                if let Err(e) = part.reader.reload() {
                    error!(error = %e, day, "cannot reload log partition reader");
                }
                if let Some(info) = ix.infos.get_mut(&day) {
                    info.docs = part.reader.searcher().num_docs();
                    info.bytes = dir_bytes(&part.dir);
                    touched.push(*info);
                }
            }
        }
        if let Err(e) = self.catalog.lock().unwrap_or_else(|p| p.into_inner()).commit(&ix.payload, &touched) {
            error!(error = %e, "partition catalog update failed; will retry");
            return;
        }
        ix.dirty.clear();
        self.pending.fetch_sub(ix.uncommitted.min(self.pending.load(Ordering::Acquire)), Ordering::AcqRel);
        self.telemetry.logs_indexed_events.inc_by(ix.uncommitted);
        self.telemetry.logs_index_lag_events.set(self.pending.load(Ordering::Acquire) as i64);
        ix.uncommitted = 0;
        self.indexed.store(ix.payload.wal_seq, Ordering::Release);
        self.committed.send_replace(ix.payload.wal_seq);
        self.telemetry.logs_commits.inc();
    }

    /// Drops whole partitions past the retention policy at time `now` (ns); returns their days.
    fn apply_retention(&self, ix: &mut Indexer, now: i64) -> Vec<i64> {
        let mut drop_days = Vec::new();
        if let Some(age) = self.retention.max_age {
            let cutoff = now.saturating_sub(age.as_nanos().min(i64::MAX as u128) as i64);
            drop_days.extend(ix.infos.keys().copied().filter(|d| d.saturating_add(1).saturating_mul(DAY_NS) <= cutoff));
        }
        if let Some(max) = self.retention.max_bytes {
            let mut total: u64 = ix.infos.iter().filter(|(d, _)| !drop_days.contains(d)).map(|(_, i)| i.bytes).sum();
            let newest = ix.infos.keys().next_back().copied();
            for (day, info) in ix.infos.iter() {
                if total <= max || Some(*day) == newest {
                    break;
                }
                if !drop_days.contains(day) {
                    drop_days.push(*day);
                    total -= info.bytes;
                }
            }
        }
        for &day in &drop_days {
            if ix.dirty.contains(&day) {
                continue; // only committed partitions are dropped
            }
            ix.writers.remove(&day);
            ix.infos.remove(&day);
            ix.part_seq.remove(&day);
            if let Err(e) = self.catalog.lock().unwrap_or_else(|p| p.into_inner()).remove(day) {
                error!(error = %e, day, "cannot remove partition from the catalog");
                continue;
            }
            let part = self.parts.write().unwrap_or_else(|p| p.into_inner()).remove(&day);
            if let Some(part) = part {
                if let Err(e) = std::fs::remove_dir_all(&part.dir) {
                    warn!(dir = %part.dir.display(), error = %e, "cannot delete dropped log partition");
                }
                info!(dir = %part.dir.display(), "log partition dropped by retention");
            }
        }
        drop_days.sort();
        drop_days
    }

    /// Event `i` of record `r` as a document: it borrows the event (no copy of its fields);
    /// only the stored part is serialised here.
    fn to_doc(&self, r: &Arc<WalRecord>, i: usize) -> EventDoc {
        // Written by the WAL writer already, except for records read back from disk at replay.
        let stored = if r.stored(i).is_some() {
            None
        } else {
            let mut out = Vec::with_capacity(256);
            write_stored(&r.events[i], &mut out);
            Some(String::from_utf8(out).expect("serde_json writes UTF-8"))
        };
        EventDoc { record: r.clone(), index: i, id: (r.seq << ID_SHIFT) | i as u64, stored, f: self.f.doc() }
    }

    /// Searchers of the partitions overlapping `[start, end)`.
    fn searchers(&self, start: i64, end: i64) -> Searchers {
        if end <= start {
            return Vec::new();
        }
        let (first, last) = (day_of(start), day_of(end - 1));
        self.parts.read().unwrap_or_else(|p| p.into_inner()).range(first..=last).map(|(_, p)| p.reader.searcher()).collect()
    }

    /// Every partition's searcher.
    fn all_searchers(&self) -> Searchers {
        self.parts.read().unwrap_or_else(|p| p.into_inner()).values().map(|p| p.reader.searcher()).collect()
    }

    /// [`TopByKey`] over several partitions: the best keys of all, with the searcher each came from.
    fn top(&self, searchers: &Searchers, q: &dyn Query, top: &TopByKey) -> Result<(Vec<Located>, usize), LogError> {
        // One pass per partition ranks and counts together, its segments in parallel. (Visiting
        // segments newest first and stopping early was measured slower at 10 M lines: merged
        // segments span most of the hour, so little is skipped and the parallelism is lost.)
        let mut all = Vec::new();
        let mut total = 0;
        for (i, s) in searchers.iter().enumerate() {
            let (found, n) = s.search(q, &(TopByKey { limit: top.limit, desc: top.desc, after: top.after }, Count))?;
            total += n;
            all.extend(found.into_iter().map(|(k, a)| (k, i, a)));
        }
        if top.desc {
            all.sort_by_key(|x| std::cmp::Reverse(x.0));
        } else {
            all.sort_by_key(|x| x.0);
        }
        all.truncate(top.limit);
        Ok((all, total))
    }

    /// Runs a search.
    pub fn search(&self, req: &SearchRequest) -> Result<SearchResult, LogError> {
        let started = Instant::now();
        let query = self.build(&req.q, req.start, req.end)?;
        let searchers = self.searchers(req.start, req.end);
        // One more than asked tells whether a next page exists.
        let (docs, total) =
            self.top(&searchers, query.as_ref(), &TopByKey { limit: req.limit.max(1) + 1, desc: req.desc, after: req.cursor })?;
        let more = docs.len() > req.limit;
        let mut hits = Vec::with_capacity(docs.len());
        let mut cols = HitColumns::new();
        let mut last = None;
        for (key, i, addr) in docs.into_iter().take(req.limit) {
            hits.push(self.hit(&mut cols, &searchers[i], addr)?);
            last = Some(key);
        }
        self.observe("search", started);
        Ok(SearchResult { hits, total, next_cursor: last.filter(|_| more).map(|k| k.to_string()) })
    }

    /// Finds line `id` in any partition: its key, the searchers and the index of the one holding it.
    fn find(&self, id: u64) -> Result<Option<(Key, Searchers, usize, DocAddress)>, LogError> {
        let searchers = self.all_searchers();
        let q = self.id_query(id);
        let (found, _) = self.top(&searchers, &q, &TopByKey { limit: 1, desc: true, after: None })?;
        Ok(found.into_iter().next().map(|(k, i, a)| (k, searchers, i, a)))
    }

    /// The line with this id, wherever it is (its id never changes).
    pub fn line(&self, id: u64) -> Result<Option<Value>, LogError> {
        match self.find(id)? {
            Some((_, searchers, i, addr)) => Ok(Some(self.hit(&mut HitColumns::new(), &searchers[i], addr)?)),
            None => Ok(None),
        }
    }

    /// Up to `before` and `after` lines around line `id` from the same host and source, in
    /// `(timestamp, id)` order. `None` when there is no such line.
    pub fn context(&self, id: u64, before: usize, after: usize) -> Result<Option<Context>, LogError> {
        let started = Instant::now();
        let Some((key, searchers, i, addr)) = self.find(id)? else {
            return Ok(None);
        };
        let mut cols = HitColumns::new();
        let line = self.hit(&mut cols, &searchers[i], addr)?;
        let text = |k: &str| line[k].as_str().unwrap_or_default().to_string();
        let same = BooleanQuery::new(vec![
            (
                Occur::Must,
                Box::new(TermQuery::new(Term::from_field_text(self.f.host, &text("host")), IndexRecordOption::Basic)) as Box<dyn Query>,
            ),
            (Occur::Must, Box::new(TermQuery::new(Term::from_field_text(self.f.source, &text("source")), IndexRecordOption::Basic))),
        ]);
        let mut older = Vec::new();
        for (_, i, a) in self.top(&searchers, &same, &TopByKey { limit: before, desc: true, after: Some(key) })?.0.into_iter().rev() {
            older.push(self.hit(&mut cols, &searchers[i], a)?);
        }
        let mut newer = Vec::new();
        for (_, i, a) in self.top(&searchers, &same, &TopByKey { limit: after, desc: false, after: Some(key) })?.0 {
            newer.push(self.hit(&mut cols, &searchers[i], a)?);
        }
        self.observe("context", started);
        Ok(Some(Context { before: older, line, after: newer }))
    }

    /// Highest line id that is searchable now: every line of every WAL record up to the last commit.
    pub fn last_committed_id(&self) -> u64 {
        let seq = self.indexed.load(Ordering::Acquire);
        ((seq + 1) << ID_SHIFT) - 1
    }

    /// Compiles a query once, for repeated use without a time range (live tail).
    pub fn compile_query(&self, q: &str) -> Result<Box<dyn Query>, LogError> {
        self.compile(&query::parse(q)?)
    }

    /// Lines matching `filter` with an id above `after_id`, in arrival (id) order, at most `limit`.
    pub fn lines_after(&self, filter: &dyn Query, after_id: u64, limit: usize) -> Result<Vec<(u64, Value)>, LogError> {
        use std::ops::Bound;
        let newer = RangeQuery::new(Bound::Excluded(Term::from_field_u64(self.f.id, after_id)), Bound::Unbounded);
        let q = BooleanQuery::new(vec![(Occur::Must, filter.box_clone()), (Occur::Must, Box::new(newer) as Box<dyn Query>)]);
        let searchers = self.all_searchers();
        let mut found = Vec::new();
        for (i, s) in searchers.iter().enumerate() {
            let top = TopDocs::with_limit(limit.max(1)).order_by_fast_field::<u64>("id", Order::Asc);
            found.extend(s.search(&q, &top)?.into_iter().map(|(id, a)| (id.unwrap_or(0), i, a)));
        }
        found.sort_by_key(|x| x.0);
        found.truncate(limit.max(1));
        let mut out = Vec::with_capacity(found.len());
        let mut cols = HitColumns::new();
        for (id, i, addr) in found {
            out.push((id, self.hit(&mut cols, &searchers[i], addr)?));
        }
        Ok(out)
    }

    /// Counts matches per `step` bucket over `[start, end)`.
    pub fn histogram(&self, q: &str, start: i64, end: i64, step: i64) -> Result<(Vec<u64>, u64), LogError> {
        let started = Instant::now();
        if step <= 0 || end <= start {
            return Err(LogError::BadRequest("histogram needs end > start and step > 0".into()));
        }
        let buckets = ((end - start + step - 1) / step) as usize;
        if buckets > 10_000 {
            return Err(LogError::BadRequest(format!("{buckets} buckets is too many (at most 10000); use a larger step")));
        }
        let query = self.build(q, start, end)?;
        let mut counts = vec![0u64; buckets];
        for s in self.searchers(start, end) {
            for (o, c) in counts.iter_mut().zip(s.search(&query, &Histogram { start, step, buckets })?) {
                *o += c;
            }
        }
        let total = counts.iter().sum();
        self.observe("histogram", started);
        Ok((counts, total))
    }

    fn observe(&self, endpoint: &str, started: Instant) {
        self.telemetry
            .logs_query_duration
            .get_or_create(&Telemetry::labels(&[("endpoint", endpoint)]))
            .observe(started.elapsed().as_secs_f64());
    }

    /// A hit rebuilt from its stored part and its columns (opened once per segment in `cols`).
    fn hit(&self, cols: &mut HitColumns, searcher: &tantivy::Searcher, addr: DocAddress) -> Result<Value, LogError> {
        let doc: TantivyDocument = searcher.doc(addr)?;
        let src = doc.get_first(self.f.source_doc).and_then(|v| v.as_str()).unwrap_or("{}");
        let stored: Stored = serde_json::from_str(src).unwrap_or_default();
        let seg = searcher.segment_reader(addr.segment_ord);
        let c = cols.entry(seg.segment_id()).or_insert_with(|| {
            let ff = seg.fast_fields();
            SegmentColumns {
                id: ff.u64("id").ok(),
                ts: ff.i64("timestamp").ok(),
                keywords: ["level", "host", "service", "source"].map(|k| ff.str(k).ok().flatten()),
            }
        });
        let d = addr.doc_id;
        let [level, host, service, source] = c.keywords.each_ref().map(|col| {
            let mut s = String::new();
            if let Some(col) = col
                && let Some(ord) = col.term_ords(d).next()
                && !col.ord_to_str(ord, &mut s).unwrap_or(false)
            {
                s.clear();
            }
            s
        });
        let id = c.id.as_ref().and_then(|col| col.first(d)).unwrap_or(0);
        let e = LogEvent {
            timestamp: c.ts.as_ref().and_then(|col| col.first(d)).unwrap_or(0),
            level,
            message: stored.message,
            host,
            service,
            source,
            fields: stored.fields,
        };
        Ok(hit_json(id, e))
    }

    /// Line `id`, found through the `id` column.
    fn id_query(&self, id: u64) -> RangeQuery {
        let t = Term::from_field_u64(self.f.id, id);
        RangeQuery::new(std::ops::Bound::Included(t.clone()), std::ops::Bound::Included(t))
    }

    fn build(&self, q: &str, start: i64, end: i64) -> Result<Box<dyn Query>, LogError> {
        let ast = query::parse(q)?;
        let range = RangeQuery::new(
            std::ops::Bound::Included(Term::from_field_i64(self.f.timestamp, start)),
            std::ops::Bound::Excluded(Term::from_field_i64(self.f.timestamp, end)),
        );
        let compiled = self.compile(&ast)?;
        Ok(Box::new(BooleanQuery::new(vec![(Occur::Must, Box::new(range) as Box<dyn Query>), (Occur::Must, compiled)])))
    }

    fn tokens(&self, text: &str) -> Vec<String> {
        let mut analyzer = self.message_analyzer.lock().unwrap_or_else(|p| p.into_inner());
        let mut stream = analyzer.token_stream(text);
        let mut out = Vec::new();
        while let Some(t) = stream.next() {
            out.push(t.text.clone());
        }
        out
    }

    /// Term or phrase over `make_term(token)`; matches nothing when the text has no tokens.
    fn text_query(&self, text: &str, make_term: impl Fn(&str) -> Term) -> Box<dyn Query> {
        let tokens = self.tokens(text);
        match tokens.len() {
            0 => Box::new(BooleanQuery::new(vec![])),
            1 => Box::new(TermQuery::new(make_term(&tokens[0]), IndexRecordOption::WithFreqs)),
            _ => Box::new(PhraseQuery::new(tokens.iter().map(|t| make_term(t)).collect())),
        }
    }

    fn keyword_field(&self, name: &str) -> Option<Field> {
        match name {
            "level" => Some(self.f.level),
            "service" => Some(self.f.service),
            "host" => Some(self.f.host),
            "source" => Some(self.f.source),
            _ => None,
        }
    }

    fn json_term(&self, path: &str) -> Term {
        Term::from_field_json_path(self.f.fields, path, true)
    }

    fn compile(&self, ast: &Ast) -> Result<Box<dyn Query>, LogError> {
        let f = self.f;
        Ok(match ast {
            Ast::All => Box::new(AllQuery),
            Ast::Text(t) => Box::new(BooleanQuery::new(vec![
                (Occur::Should, self.text_query(t, |tok| Term::from_field_text(f.message, tok))),
                (Occur::Should, Box::new(AnyPathText { field: f.fields, tokens: self.tokens(t) })),
            ])),
            Ast::Field(name, value) => {
                if let Some(field) = self.keyword_field(name) {
                    let v = if name == "level" { value.to_ascii_lowercase() } else { value.clone() };
                    Box::new(TermQuery::new(Term::from_field_text(field, &v), IndexRecordOption::Basic))
                } else if name == "message" {
                    self.text_query(value, |tok| Term::from_field_text(f.message, tok))
                } else if name == "id" {
                    let id: u64 = value.parse().map_err(|_| LogError::BadRequest(format!("id must be a number, got {value:?}")))?;
                    Box::new(self.id_query(id))
                } else {
                    let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![(
                        Occur::Should,
                        self.text_query(value, |tok| {
                            let mut t = self.json_term(name);
                            t.append_type_and_str(tok);
                            t
                        }),
                    )];
                    if let Some(t) = tantivy::json_utils::convert_to_fast_value_and_append_to_json_term(&self.json_term(name), value, true)
                    {
                        clauses.push((Occur::Should, Box::new(TermQuery::new(t, IndexRecordOption::Basic))));
                    }
                    Box::new(BooleanQuery::new(clauses))
                }
            }
            Ast::Exists(name) => {
                if self.keyword_field(name).is_some() || name == "message" {
                    Box::new(AllQuery)
                } else {
                    self.exists(name)
                }
            }
            Ast::Range { field, lower, upper } => self.range(field, lower.as_ref(), upper.as_ref())?,
            Ast::And(items) => {
                Box::new(BooleanQuery::new(items.iter().map(|a| Ok((Occur::Must, self.compile(a)?))).collect::<Result<_, LogError>>()?))
            }
            Ast::Or(items) => {
                Box::new(BooleanQuery::new(items.iter().map(|a| Ok((Occur::Should, self.compile(a)?))).collect::<Result<_, LogError>>()?))
            }
            Ast::Not(inner) => Box::new(BooleanQuery::new(vec![
                (Occur::Must, Box::new(AllQuery) as Box<dyn Query>),
                (Occur::MustNot, self.compile(inner)?),
            ])),
        })
    }

    fn range(&self, field: &str, lower: Option<&(String, bool)>, upper: Option<&(String, bool)>) -> Result<Box<dyn Query>, LogError> {
        use std::ops::Bound;
        let num = |b: Option<&(String, bool)>| -> Result<Option<(f64, bool)>, LogError> {
            match b {
                None => Ok(None),
                Some((v, incl)) => v
                    .parse::<f64>()
                    .map(|n| Some((n, *incl)))
                    .map_err(|_| LogError::BadRequest(format!("range bound {v:?} on {field} is not a number"))),
            }
        };
        if field == "timestamp" {
            let lo = lower.map(|(v, i)| (wire::event::parse_timestamp_str(v), *i));
            let hi = upper.map(|(v, i)| (wire::event::parse_timestamp_str(v), *i));
            let bound = |b: Option<(Option<i64>, bool)>| -> Result<Bound<Term>, LogError> {
                match b {
                    None => Ok(Bound::Unbounded),
                    Some((None, _)) => Err(LogError::BadRequest("timestamp bounds must be RFC 3339 or Unix time".into())),
                    Some((Some(ns), true)) => Ok(Bound::Included(Term::from_field_i64(self.f.timestamp, ns))),
                    Some((Some(ns), false)) => Ok(Bound::Excluded(Term::from_field_i64(self.f.timestamp, ns))),
                }
            };
            return Ok(Box::new(RangeQuery::new(bound(lo)?, bound(hi)?)));
        }
        if let Some(kw) = self.keyword_field(field) {
            let b = |x: Option<&(String, bool)>| match x {
                None => Bound::Unbounded,
                Some((v, true)) => Bound::Included(Term::from_field_text(kw, v)),
                Some((v, false)) => Bound::Excluded(Term::from_field_text(kw, v)),
            };
            let (lo, hi) = (b(lower), b(upper));
            if matches!((&lo, &hi), (Bound::Unbounded, Bound::Unbounded)) {
                return Ok(Box::new(AllQuery));
            }
            return Ok(Box::new(InvertedIndexRangeQuery::new(lo, hi)));
        }
        // JSON numbers are indexed as i64 when integral, else f64 (u64 only above i64::MAX):
        // one range per representation.
        let (lo, hi) = (num(lower)?, num(upper)?);
        let term_i64 = |v: i64| {
            let mut t = self.json_term(field);
            t.append_type_and_fast_value(v);
            t
        };
        let term_f64 = |v: f64| {
            let mut t = self.json_term(field);
            t.append_type_and_fast_value(v);
            t
        };
        let i64_lo = match lo {
            None => Bound::Included(term_i64(i64::MIN)),
            Some((v, incl)) => {
                let c = v.ceil();
                if c != v || incl {
                    Bound::Included(term_i64(c.clamp(i64::MIN as f64, i64::MAX as f64) as i64))
                } else {
                    Bound::Excluded(term_i64(v as i64))
                }
            }
        };
        let i64_hi = match hi {
            None => Bound::Included(term_i64(i64::MAX)),
            Some((v, incl)) => {
                let fl = v.floor();
                if fl != v || incl {
                    Bound::Included(term_i64(fl.clamp(i64::MIN as f64, i64::MAX as f64) as i64))
                } else {
                    Bound::Excluded(term_i64(v as i64))
                }
            }
        };
        let f64_b = |b: Option<(f64, bool)>, default: f64| match b {
            None => Bound::Included(term_f64(default)),
            Some((v, true)) => Bound::Included(term_f64(v)),
            Some((v, false)) => Bound::Excluded(term_f64(v)),
        };
        Ok(Box::new(BooleanQuery::new(vec![
            (Occur::Should, Box::new(InvertedIndexRangeQuery::new(i64_lo, i64_hi)) as Box<dyn Query>),
            (Occur::Should, Box::new(InvertedIndexRangeQuery::new(f64_b(lo, f64::MIN), f64_b(hi, f64::MAX)))),
        ])))
    }

    /// Any indexed value at a JSON path: every string, integer, float or boolean term of it.
    fn exists(&self, path: &str) -> Box<dyn Query> {
        use std::ops::Bound::Included;
        let typed = |f: &dyn Fn(&mut Term)| {
            let mut t = self.json_term(path);
            f(&mut t);
            t
        };
        let str_lo = typed(&|t| t.append_type_and_str(""));
        let str_hi = typed(&|t| t.append_type_and_str("\u{10FFFF}\u{10FFFF}\u{10FFFF}\u{10FFFF}"));
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![
            (Occur::Should, Box::new(InvertedIndexRangeQuery::new(Included(str_lo), Included(str_hi)))),
            (
                Occur::Should,
                Box::new(InvertedIndexRangeQuery::new(
                    Included(typed(&|t| t.append_type_and_fast_value(i64::MIN))),
                    Included(typed(&|t| t.append_type_and_fast_value(i64::MAX))),
                )),
            ),
            (
                Occur::Should,
                Box::new(InvertedIndexRangeQuery::new(
                    Included(typed(&|t| t.append_type_and_fast_value(f64::MIN))),
                    Included(typed(&|t| t.append_type_and_fast_value(f64::MAX))),
                )),
            ),
        ];
        for b in [true, false] {
            clauses.push((Occur::Should, Box::new(TermQuery::new(typed(&|t| t.append_type_and_fast_value(b)), IndexRecordOption::Basic))));
        }
        Box::new(BooleanQuery::new(clauses))
    }

    /// Number of searchable documents.
    pub fn num_docs(&self) -> u64 {
        self.all_searchers().iter().map(|s| s.num_docs()).sum()
    }
}

/// The API shape of one hit.
pub fn hit_json(id: u64, e: LogEvent) -> Value {
    serde_json::json!({
        "id": id.to_string(),
        "timestamp": wire::event::format_timestamp(e.timestamp),
        "level": e.level,
        "message": e.message,
        "host": e.host,
        "service": e.service,
        "source": e.source,
        "fields": Value::Object(e.fields),
    })
}

struct Histogram {
    start: i64,
    step: i64,
    buckets: usize,
}

struct HistogramSegment {
    column: Option<tantivy::columnar::Column<i64>>,
    start: i64,
    step: i64,
    counts: Vec<u64>,
}

impl Collector for Histogram {
    type Fruit = Vec<u64>;
    type Child = HistogramSegment;

    fn for_segment(&self, _ord: u32, segment: &SegmentReader) -> tantivy::Result<HistogramSegment> {
        Ok(HistogramSegment {
            column: segment.fast_fields().i64("timestamp").ok(),
            start: self.start,
            step: self.step,
            counts: vec![0; self.buckets],
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<Vec<u64>>) -> tantivy::Result<Vec<u64>> {
        let mut out = vec![0; self.buckets];
        for f in fruits {
            for (o, c) in out.iter_mut().zip(f) {
                *o += c;
            }
        }
        Ok(out)
    }
}

impl SegmentCollector for HistogramSegment {
    type Fruit = Vec<u64>;

    fn collect(&mut self, doc: u32, _score: f32) {
        if let Some(ts) = self.column.as_ref().and_then(|c| c.first(doc)) {
            let i = ((ts - self.start) / self.step) as usize;
            if let Some(c) = self.counts.get_mut(i) {
                *c += 1;
            }
        }
    }

    /// Timestamps of a block of matches read in one batch (tantivy hands non-scoring
    /// collectors blocks of up to 64 docs) instead of one column lookup per line.
    fn collect_block(&mut self, docs: &[tantivy::DocId]) {
        let Some(column) = self.column.as_ref() else { return };
        let mut ts = [None; tantivy::COLLECT_BLOCK_BUFFER_LEN];
        for chunk in docs.chunks(tantivy::COLLECT_BLOCK_BUFFER_LEN) {
            let out = &mut ts[..chunk.len()];
            column.first_vals(chunk, out);
            for t in out.iter().flatten() {
                let i = ((t - self.start) / self.step) as usize;
                if let Some(c) = self.counts.get_mut(i) {
                    *c += 1;
                }
            }
        }
    }

    fn harvest(self) -> Vec<u64> {
        self.counts
    }
}

#[cfg(test)]
mod tests;

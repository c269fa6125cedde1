//! The log store: a tantivy index fed from the WAL, and the search behind the logs API.
//!
//! Decisions:
//! - **Schema**: `timestamp` (ns, fast) for time pruning and sorting; `level`, `service`,
//!   `host`, `source` as exact, fast keyword fields; `message` full text; every other field in a
//!   JSON field with dotted paths (`http.status`), numbers indexed as numbers so ranges work;
//!   `text` holds every string field value so bare words find them. Only `_source` (the whole
//!   event as JSON) and `id` are stored: a hit is returned exactly as it was ingested.
//! - **Durability** belongs to the WAL. The indexer commits on an interval and writes, in the
//!   commit's payload, the WAL sequence it has indexed up to and the batch ids seen by then; a
//!   restart replays the WAL after that sequence, so each record is indexed exactly once.
//! - **Ids**: a hit's id is `(wal sequence << 20) | position in its batch`: permanent, unique,
//!   and independent of tantivy's internal doc ids, which change on merges.

pub mod query;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tantivy::collector::{Collector, Count, SegmentCollector, TopDocs};
use tantivy::directory::MmapDirectory;
use tantivy::query::{AllQuery, BooleanQuery, InvertedIndexRangeQuery, Occur, PhraseQuery, Query, RangeQuery, TermQuery};
use tantivy::schema::{FAST, Field, INDEXED, IndexRecordOption, JsonObjectOptions, STORED, STRING, Schema, TEXT, Value as _};
use tantivy::store::{Compressor, ZstdCompressor};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{DocAddress, Index, IndexReader, IndexSettings, IndexWriter, Order, ReloadPolicy, SegmentReader, TantivyDocument, Term};
use tracing::{error, info};
use wire::LogEvent;

use crate::telemetry::Telemetry;
use crate::wal::WalRecord;
use query::Ast;

/// Positions a record's events can take in ids (`seq << ID_SHIFT | index`).
pub const ID_SHIFT: u32 = 20;
/// Most events one WAL record may hold.
pub const MAX_EVENTS_PER_RECORD: usize = 1 << ID_SHIFT;

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
    text: Field,
    source_doc: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let json_opts = JsonObjectOptions::from(TEXT).set_expand_dots_enabled();
    let f = Fields {
        id: b.add_u64_field("id", INDEXED | STORED | FAST),
        timestamp: b.add_i64_field("timestamp", INDEXED | FAST),
        level: b.add_text_field("level", STRING | FAST),
        service: b.add_text_field("service", STRING | FAST),
        host: b.add_text_field("host", STRING | FAST),
        source: b.add_text_field("source", STRING | FAST),
        message: b.add_text_field("message", TEXT),
        fields: b.add_json_field("fields", json_opts),
        text: b.add_text_field("text", TEXT),
        source_doc: b.add_text_field("_source", STORED),
    };
    (b.build(), f)
}

/// What the indexer has made searchable, stored in each index commit.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct CommitPayload {
    /// Every WAL record up to this sequence is indexed.
    pub wal_seq: u64,
    /// Highest batch sequence per `agent/stream` among those records.
    pub batches: HashMap<String, u64>,
}

/// The searchable log store.
pub struct LogStore {
    index: Index,
    reader: IndexReader,
    f: Fields,
    message_analyzer: Mutex<TextAnalyzer>,
    /// Events durable in the WAL and not yet searchable.
    pub pending: Arc<AtomicU64>,
    /// Highest WAL sequence indexed and committed.
    pub indexed: Arc<AtomicU64>,
    telemetry: Telemetry,
}

/// Messages to the indexer thread.
pub enum IndexerMsg {
    /// Committed WAL records, in order.
    Records(Vec<Arc<WalRecord>>),
    /// Commit now and stop.
    Stop(std::sync::mpsc::Sender<()>),
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
}

/// A search answer.
#[derive(Debug, serde::Serialize)]
pub struct SearchResult {
    /// Hits in the requested order.
    pub hits: Vec<Value>,
    /// All matches in the range.
    pub total: usize,
}

impl LogStore {
    /// Opens or creates the index under `dir`. Returns the store and the payload of its last
    /// commit (where WAL replay starts).
    pub fn open(dir: &Path, telemetry: Telemetry) -> Result<(LogStore, CommitPayload), LogError> {
        std::fs::create_dir_all(dir).map_err(|e| LogError::BadRequest(format!("cannot create {}: {e}", dir.display())))?;
        let (schema, f) = schema();
        let mmap = MmapDirectory::open(dir).map_err(tantivy::TantivyError::from)?;
        let index = if Index::exists(&mmap).map_err(tantivy::TantivyError::from)? {
            Index::open(mmap)?
        } else {
            let settings = IndexSettings { docstore_compression: Compressor::Zstd(ZstdCompressor::default()), ..Default::default() };
            Index::builder().schema(schema).settings(settings).open_or_create(mmap)?
        };
        let payload: CommitPayload = index
            .load_metas()?
            .payload
            .as_deref()
            .and_then(|p| {
                serde_json::from_str(p).map_err(|e| error!(error = %e, "unreadable index commit payload; replaying the whole WAL")).ok()
            })
            .unwrap_or_default();
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        let message_analyzer = Mutex::new(index.tokenizer_for_field(f.message)?);
        let store = LogStore {
            index,
            reader,
            f,
            message_analyzer,
            pending: Arc::new(AtomicU64::new(0)),
            indexed: Arc::new(AtomicU64::new(payload.wal_seq)),
            telemetry,
        };
        info!(dir = %dir.display(), indexed_upto = payload.wal_seq, "log index opened");
        Ok((store, payload))
    }

    /// Starts the indexer thread, which indexes records sent on the returned channel.
    pub fn start_indexer(
        self: &Arc<Self>,
        payload: CommitPayload,
        commit_every: Duration,
        memory_bytes: usize,
    ) -> Result<std::sync::mpsc::Sender<IndexerMsg>, LogError> {
        let writer: IndexWriter<TantivyDocument> = self.index.writer_with_num_threads(1, memory_bytes.max(15_000_000))?;
        let (tx, rx) = std::sync::mpsc::channel::<IndexerMsg>();
        let store = self.clone();
        std::thread::Builder::new()
            .name("log-indexer".into())
            .spawn(move || store.index_loop(writer, rx, payload, commit_every))
            .map_err(|e| LogError::BadRequest(format!("cannot start indexer: {e}")))?;
        Ok(tx)
    }

    fn index_loop(
        &self,
        mut writer: IndexWriter<TantivyDocument>,
        rx: std::sync::mpsc::Receiver<IndexerMsg>,
        mut payload: CommitPayload,
        commit_every: Duration,
    ) {
        let mut uncommitted = 0u64;
        let mut last_commit = Instant::now();
        loop {
            let timeout = commit_every.saturating_sub(last_commit.elapsed());
            let msg = rx.recv_timeout(if uncommitted > 0 { timeout } else { Duration::from_secs(3600) });
            let stop = match msg {
                Ok(IndexerMsg::Records(records)) => {
                    for r in records {
                        if r.seq <= payload.wal_seq {
                            continue; // already indexed before a restart
                        }
                        for (i, e) in r.events.iter().enumerate() {
                            if let Err(err) = writer.add_document(self.to_doc(r.seq, i, e)) {
                                error!(error = %err, "cannot index event");
                            }
                        }
                        uncommitted += r.events.len() as u64;
                        payload.wal_seq = r.seq;
                        if let Some(b) = &r.batch {
                            let e = payload.batches.entry(format!("{}/{}", b.agent, b.stream)).or_insert(0);
                            *e = (*e).max(b.sequence);
                        }
                    }
                    None
                }
                Ok(IndexerMsg::Stop(done)) => Some(Some(done)),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => None,
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Some(None),
            };
            if uncommitted > 0 && (stop.is_some() || last_commit.elapsed() >= commit_every) {
                if let Err(e) = self.commit(&mut writer, &payload) {
                    error!(error = %e, "log index commit failed; will retry");
                } else {
                    self.pending.fetch_sub(uncommitted.min(self.pending.load(Ordering::Acquire)), Ordering::AcqRel);
                    self.telemetry.logs_indexed_events.inc_by(uncommitted);
                    self.telemetry.logs_index_lag_events.set(self.pending.load(Ordering::Acquire) as i64);
                    uncommitted = 0;
                }
                last_commit = Instant::now();
            }
            if let Some(done) = stop {
                if let Some(done) = done {
                    let _ = done.send(());
                }
                return;
            }
        }
    }

    fn commit(&self, writer: &mut IndexWriter<TantivyDocument>, payload: &CommitPayload) -> tantivy::Result<()> {
        let mut prepared = writer.prepare_commit()?;
        prepared.set_payload(&serde_json::to_string(payload).expect("payload serializes"));
        prepared.commit()?;
        self.reader.reload()?;
        self.indexed.store(payload.wal_seq, Ordering::Release);
        self.telemetry.logs_commits.inc();
        Ok(())
    }

    fn to_doc(&self, seq: u64, i: usize, e: &LogEvent) -> TantivyDocument {
        let f = &self.f;
        let mut doc = TantivyDocument::default();
        doc.add_u64(f.id, (seq << ID_SHIFT) | i as u64);
        doc.add_i64(f.timestamp, e.timestamp);
        doc.add_text(f.level, &e.level);
        doc.add_text(f.service, &e.service);
        doc.add_text(f.host, &e.host);
        doc.add_text(f.source, &e.source);
        doc.add_text(f.message, &e.message);
        if !e.fields.is_empty() {
            doc.add_field_value(f.fields, &tantivy::schema::OwnedValue::from(e.fields.clone()));
            let mut text = String::new();
            collect_strings(&Value::Object(e.fields.clone()), &mut text);
            if !text.is_empty() {
                doc.add_text(f.text, &text);
            }
        }
        doc.add_text(f.source_doc, serde_json::to_string(e).expect("event serializes"));
        doc
    }

    /// Runs a search.
    pub fn search(&self, req: &SearchRequest) -> Result<SearchResult, LogError> {
        let started = Instant::now();
        let query = self.build(&req.q, req.start, req.end)?;
        let searcher = self.reader.searcher();
        let order = if req.desc { Order::Desc } else { Order::Asc };
        let top = TopDocs::with_limit(req.limit.max(1)).order_by_fast_field::<i64>("timestamp", order);
        let (docs, total) = searcher.search(&query, &(top, Count))?;
        let mut hits = Vec::with_capacity(docs.len());
        for (_, addr) in docs.into_iter().take(req.limit) {
            hits.push(self.hit(&searcher, addr)?);
        }
        self.observe("search", started);
        Ok(SearchResult { hits, total })
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
        let searcher = self.reader.searcher();
        let counts = searcher.search(&query, &Histogram { start, step, buckets })?;
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

    fn hit(&self, searcher: &tantivy::Searcher, addr: DocAddress) -> Result<Value, LogError> {
        let doc: TantivyDocument = searcher.doc(addr)?;
        let id = doc.get_first(self.f.id).and_then(|v| v.as_u64()).unwrap_or(0);
        let src = doc.get_first(self.f.source_doc).and_then(|v| v.as_str()).unwrap_or("{}");
        let e: LogEvent = serde_json::from_str(src).unwrap_or_default();
        Ok(hit_json(id, e))
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
                (Occur::Should, self.text_query(t, |tok| Term::from_field_text(f.text, tok))),
            ])),
            Ast::Field(name, value) => {
                if let Some(field) = self.keyword_field(name) {
                    let v = if name == "level" { value.to_ascii_lowercase() } else { value.clone() };
                    Box::new(TermQuery::new(Term::from_field_text(field, &v), IndexRecordOption::Basic))
                } else if name == "message" {
                    self.text_query(value, |tok| Term::from_field_text(f.message, tok))
                } else if name == "id" {
                    let id: u64 = value.parse().map_err(|_| LogError::BadRequest(format!("id must be a number, got {value:?}")))?;
                    Box::new(TermQuery::new(Term::from_field_u64(f.id, id), IndexRecordOption::Basic))
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
        self.reader.searcher().num_docs()
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

fn collect_strings(v: &Value, out: &mut String) {
    match v {
        Value::String(s) => {
            out.push_str(s);
            out.push('\n');
        }
        Value::Array(a) => a.iter().for_each(|x| collect_strings(x, out)),
        Value::Object(o) => o.values().for_each(|x| collect_strings(x, out)),
        _ => {}
    }
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

    fn harvest(self) -> Vec<u64> {
        self.counts
    }
}

#[cfg(test)]
mod tests;

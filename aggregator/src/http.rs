//! The HTTP surface: ingest, the logs API, health, metrics and the web UI, on one listener.
//!
//! Every error kind of the layers below maps to a status code here, in [`ApiError`]'s
//! `IntoResponse`, and the body is always `{"error": "...", "position": N?}`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::StreamExt;
use serde::Deserialize;
use serde_json::json;

use crate::ingest::{Ingest, IngestError, loki, ndjson, otlp};
use crate::logs::{LogError, LogStore, SearchRequest};
use crate::telemetry::Telemetry;

/// Shared state of all handlers.
#[derive(Clone)]
pub struct AppState {
    /// The ingest pipeline.
    pub ingest: Arc<Ingest>,
    /// The log store.
    pub store: Arc<LogStore>,
    /// The aggregator's metrics.
    pub telemetry: Telemetry,
    /// An in-process agent's metrics (in `lookout up`), exported on the same `/metrics`.
    pub agent_telemetry: Option<agent::telemetry::Telemetry>,
    /// True once the WAL is replayed.
    pub ready: Arc<AtomicBool>,
    /// The metrics store and PromQL engine.
    pub metrics: Arc<crate::metrics_api::Metrics>,
    /// Agents that shipped logs here (`GET /api/v1/agents`).
    pub agents: Arc<crate::agents::Agents>,
    /// Where dashboards are read from (`GET /api/v1/dashboards`).
    pub dashboards: crate::dashboards::Source,
    /// Rule evaluation (`None` when no rule files are configured).
    pub rules: Option<Arc<crate::rules_api::Rules>>,
    /// The alert dispatcher (Alertmanager API v2, silences, acknowledgements).
    pub alerting: alerting::Dispatcher,
    /// `alerting_config`, re-read by SIGHUP and `POST /-/reload`.
    pub alerting_config: Option<std::path::PathBuf>,
    /// Users, tokens, roles, rate limits, audit log.
    pub auth: Arc<crate::auth::Auth>,
}

/// An API error with its status.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    position: Option<usize>,
    retry_after: Option<u64>,
}

impl ApiError {
    fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::BAD_REQUEST, message: message.into(), position: None, retry_after: None }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "error": self.message });
        if let Some(p) = self.position {
            body["position"] = json!(p);
        }
        let mut resp = (self.status, Json(body)).into_response();
        if let Some(s) = self.retry_after {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        resp
    }
}

impl From<IngestError> for ApiError {
    fn from(e: IngestError) -> Self {
        let (status, retry_after) = match &e {
            IngestError::Malformed(_) => (StatusCode::BAD_REQUEST, None),
            IngestError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, None),
            IngestError::Backpressure { .. } => (StatusCode::TOO_MANY_REQUESTS, Some(1)),
            IngestError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, Some(5)),
        };
        ApiError { status, message: e.to_string(), position: None, retry_after }
    }
}

impl From<LogError> for ApiError {
    fn from(e: LogError) -> Self {
        match e {
            LogError::Query(p) => ApiError {
                status: StatusCode::BAD_REQUEST,
                message: format!("invalid query: {p}"),
                position: Some(p.position),
                retry_after: None,
            },
            LogError::BadRequest(m) => ApiError::bad_request(m),
            LogError::Index(e) => ApiError {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                message: format!("log index error: {e}"),
                position: None,
                retry_after: None,
            },
            LogError::Storage(m) => ApiError {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                message: format!("log storage error: {m}"),
                position: None,
                retry_after: None,
            },
        }
    }
}

/// Builds the router.
pub fn router(state: AppState) -> Router {
    // Ingest bodies are limited by `read_body` (413 with a reason); other routes take no body.
    Router::new()
        .route("/v1/logs", post(otlp_logs))
        .route("/api/v1/logs/ingest", post(ndjson_logs))
        .route("/api/v1/logs/search", get(search))
        .route("/api/v1/logs/histogram", get(histogram))
        .route("/api/v1/logs/fields", get(fields))
        .route("/api/v1/logs/line/{id}", get(line))
        .route("/api/v1/logs/context", get(context))
        .route("/api/v1/logs/tail", get(tail))
        .route("/loki/api/v1/push", post(loki_push))
        .route("/api/v1/agents", get(agents))
        .route("/api/v1/dashboards", get(dashboards))
        .route("/api/v1/dashboards/{uid}", get(dashboard))
        .route("/metrics", get(metrics))
        .route("/health/live", get(|| async { "ok\n" }))
        .route("/health/ready", get(ready))
        .merge(crate::metrics_api::routes())
        .merge(crate::rules_api::routes())
        .merge(alerting::api::router(state.alerting.clone()))
        .merge(crate::auth::api::routes())
        .fallback(ui)
        // After routing, so the gate sees the matched route (and the fallback is public).
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::auth::middleware::gate))
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

fn now_ns() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0)
}

fn count_request(state: &AppState, protocol: &str, status: StatusCode) {
    state.telemetry.ingest_requests.get_or_create(&Telemetry::labels(&[("protocol", protocol), ("code", status.as_str())])).inc();
}

fn finish(state: &AppState, protocol: &'static str, result: Result<Json<serde_json::Value>, ApiError>) -> Response {
    match result {
        Ok(body) => {
            count_request(state, protocol, StatusCode::OK);
            body.into_response()
        }
        Err(e) => {
            count_request(state, protocol, e.status);
            let reason = match e.status {
                StatusCode::BAD_REQUEST => "malformed",
                StatusCode::PAYLOAD_TOO_LARGE => "too_large",
                StatusCode::TOO_MANY_REQUESTS => "backpressure",
                _ => "unavailable",
            };
            state.telemetry.ingest_rejected.get_or_create(&Telemetry::labels(&[("reason", reason)])).inc();
            e.into_response()
        }
    }
}

fn header_str(headers: &HeaderMap, name: impl header::AsHeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn batch_id(headers: &HeaderMap) -> Result<Option<wire::BatchId>, ApiError> {
    match headers.get(wire::batch::HEADER) {
        None => Ok(None),
        Some(v) => {
            let s = v.to_str().map_err(|_| ApiError::bad_request("Lookout-Batch header is not ASCII"))?;
            wire::BatchId::parse(s).map(Some).map_err(|e| ApiError::bad_request(e.to_string()))
        }
    }
}

/// Reads a request body of at most `limit` bytes. A larger body is read on (and discarded) up
/// to a bound before answering 413, so the client, still sending, receives the answer instead
/// of a connection reset.
async fn read_body(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    let drain_cap = limit.saturating_mul(4).max(limit + (16 << 20));
    let mut stream = body.into_data_stream();
    let mut buf = Vec::new();
    let mut seen = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad_request(format!("cannot read request body: {e}")))?;
        seen += chunk.len();
        if seen <= limit {
            buf.extend_from_slice(&chunk);
        } else if seen > drain_cap {
            break;
        }
    }
    if seen > limit {
        return Err(ApiError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            message: format!("request body exceeds the limit of {limit} bytes"),
            position: None,
            retry_after: None,
        });
    }
    Ok(Bytes::from(buf))
}

async fn otlp_logs(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let result = async {
        let body = read_body(body, state.ingest.max_body_bytes).await?;
        let batch = batch_id(&headers)?;
        let raw = state.ingest.decode_body(header_str(&headers, header::CONTENT_ENCODING), &body)?;
        let events = otlp::decode(header_str(&headers, header::CONTENT_TYPE), &raw)?;
        let accepted = store_logs(&state, &headers, "otlp", batch, events).await?;
        // OTLP/HTTP success response: an ExportLogsServiceResponse; JSON clients get `{}`.
        Ok::<_, ApiError>(Json(json!({ "accepted": accepted.accepted, "duplicate": accepted.duplicate })))
    }
    .await;
    finish(&state, "otlp", result)
}

async fn ndjson_logs(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let result = async {
        let body = read_body(body, state.ingest.max_body_bytes).await?;
        let batch = batch_id(&headers)?;
        let raw = state.ingest.decode_body(header_str(&headers, header::CONTENT_ENCODING), &body)?;
        let events = ndjson::decode(&raw, now_ns())?;
        let accepted = store_logs(&state, &headers, "ndjson", batch, events).await?;
        Ok::<_, ApiError>(Json(json!({ "accepted": accepted.accepted, "duplicate": accepted.duplicate })))
    }
    .await;
    finish(&state, "ndjson", result)
}

/// Stores `events`; a request carrying a `Lookout-Batch` id also updates that agent's entry in
/// the agent table (stored, duplicate or refused).
async fn store_logs(
    state: &AppState,
    headers: &HeaderMap,
    protocol: &'static str,
    batch: Option<wire::BatchId>,
    events: Vec<wire::LogEvent>,
) -> Result<crate::ingest::Accepted, ApiError> {
    use crate::agents::{Contact, Outcome};
    let Some(id) = batch.clone() else {
        return Ok(state.ingest.logs(protocol, None, events).await?);
    };
    let n = events.len();
    let host = events.iter().map(|e| e.host.as_str()).find(|h| !h.is_empty()).map(str::to_string);
    let newest_ns = events.iter().map(|e| e.timestamp).max();
    let result = state.ingest.logs(protocol, batch, events).await;
    let contact = Contact {
        batch: &id,
        user_agent: header_str(headers, header::USER_AGENT),
        events: n,
        host: host.as_deref(),
        newest_ns,
        stats: header_str(headers, crate::agents::STATS_HEADER),
    };
    let outcome = match &result {
        Ok(a) if a.duplicate => Outcome::Duplicate,
        Ok(_) => Outcome::Stored,
        Err(_) => Outcome::Rejected,
    };
    state.agents.record(&contact, outcome);
    Ok(result?)
}

/// `GET /api/v1/agents`: every agent that shipped logs here (see `agents.rs`).
async fn agents(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(state.agents.snapshot())
}

fn dashboard_error(e: crate::dashboards::DashboardError) -> ApiError {
    use crate::dashboards::DashboardError as E;
    let status = match &e {
        E::BadUid(_) => StatusCode::BAD_REQUEST,
        E::NotFound(_) => StatusCode::NOT_FOUND,
        E::Io(..) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    ApiError { status, message: e.to_string(), position: None, retry_after: None }
}

/// `GET /api/v1/dashboards`: `{"dashboards":[{uid,title,tags,file,problems?}],"errors":[{file,error}]}`.
async fn dashboards(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let source = state.dashboards.clone();
    let (list, errors) = tokio::task::spawn_blocking(move || crate::dashboards::list(&source))
        .await
        .map_err(|e| ApiError::bad_request(format!("dashboards task failed: {e}")))?
        .map_err(dashboard_error)?;
    Ok(Json(json!({ "dashboards": list, "errors": errors })))
}

/// `GET /api/v1/dashboards/<uid>`: the dashboard's JSON as written in its file.
async fn dashboard(
    State(state): State<AppState>,
    axum::extract::Path(uid): axum::extract::Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let source = state.dashboards.clone();
    tokio::task::spawn_blocking(move || crate::dashboards::get(&source, &uid))
        .await
        .map_err(|e| ApiError::bad_request(format!("dashboards task failed: {e}")))?
        .map(Json)
        .map_err(dashboard_error)
}

/// Parses `start`/`end`: RFC 3339, or Unix seconds (fractions allowed).
pub fn parse_time(name: &str, v: &str) -> Result<i64, ApiError> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<f64>() {
        if secs.is_finite() && secs.abs() < 1e11 {
            return Ok((secs * 1e9) as i64);
        }
        return Err(ApiError::bad_request(format!("{name}={v}: Unix seconds out of range")));
    }
    time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339)
        .map(|t| t.unix_timestamp_nanos() as i64)
        .map_err(|_| ApiError::bad_request(format!("{name}={v:?} is neither RFC 3339 nor Unix seconds")))
}

#[derive(Deserialize)]
struct SearchParams {
    #[serde(default)]
    q: String,
    start: Option<String>,
    end: Option<String>,
    limit: Option<usize>,
    order: Option<String>,
    cursor: Option<String>,
}

/// `[start, end]` for search (inclusive end, as users write it) or `[start, end)` for buckets.
fn range(start: Option<&str>, end: Option<&str>, default_span_ns: Option<i64>, inclusive_end: bool) -> Result<(i64, i64), ApiError> {
    let end = match end {
        Some(e) if !e.is_empty() => parse_time("end", e)?,
        _ => now_ns(),
    };
    let start = match start {
        Some(s) if !s.is_empty() => parse_time("start", s)?,
        _ => default_span_ns.map(|span| end - span).unwrap_or(0),
    };
    if start > end {
        return Err(ApiError::bad_request("start is after end"));
    }
    // The store's range is half-open.
    Ok((start, if inclusive_end { end.saturating_add(1) } else { end }))
}

async fn search(State(state): State<AppState>, Query(p): Query<SearchParams>) -> Result<Json<serde_json::Value>, ApiError> {
    let started = Instant::now();
    let (start, end) = range(p.start.as_deref(), p.end.as_deref(), None, true)?;
    let limit = p.limit.unwrap_or(100);
    if limit == 0 || limit > 10_000 {
        return Err(ApiError::bad_request("limit must be between 1 and 10000"));
    }
    let desc = match p.order.as_deref() {
        None | Some("desc") => true,
        Some("asc") => false,
        Some(o) => return Err(ApiError::bad_request(format!("order must be asc or desc, got {o:?}"))),
    };
    let cursor = match p.cursor.as_deref() {
        None | Some("") => None,
        Some(c) => Some(
            crate::logs::ordered::Key::parse_cursor(c)
                .ok_or_else(|| ApiError::bad_request(format!("cursor={c:?} is not a cursor returned by search")))?,
        ),
    };
    let store = state.store.clone();
    let req = SearchRequest { q: p.q, start, end, limit, desc, cursor };
    let result = tokio::task::spawn_blocking(move || store.search(&req))
        .await
        .map_err(|e| ApiError::bad_request(format!("search task failed: {e}")))??;
    Ok(Json(json!({
        "hits": result.hits,
        "total": result.total,
        "next_cursor": result.next_cursor,
        "took_ms": started.elapsed().as_millis() as u64,
    })))
}

#[derive(Deserialize)]
struct HistogramParams {
    #[serde(default)]
    q: String,
    start: Option<String>,
    end: Option<String>,
    step: Option<String>,
}

async fn histogram(State(state): State<AppState>, Query(p): Query<HistogramParams>) -> Result<Json<serde_json::Value>, ApiError> {
    let started = Instant::now();
    let (start, end) = range(p.start.as_deref(), p.end.as_deref(), Some(3600 * 1_000_000_000), false)?;
    let step_ns = match p.step.as_deref() {
        Some(s) if !s.is_empty() => {
            let secs: f64 =
                s.trim_end_matches('s').parse().map_err(|_| ApiError::bad_request(format!("step={s:?} is not a number of seconds")))?;
            if !(secs.is_finite() && secs >= 0.001) {
                return Err(ApiError::bad_request("step must be at least 0.001 seconds"));
            }
            (secs * 1e9) as i64
        }
        // about 60 buckets, rounded to a whole second
        _ => (((end - start) / 60).max(1_000_000_000) / 1_000_000_000) * 1_000_000_000,
    };
    let store = state.store.clone();
    let q = p.q;
    let (counts, total) = tokio::task::spawn_blocking(move || store.histogram(&q, start, end, step_ns))
        .await
        .map_err(|e| ApiError::bad_request(format!("histogram task failed: {e}")))??;
    let buckets: Vec<_> =
        counts.iter().enumerate().map(|(i, c)| json!({ "start": (start + i as i64 * step_ns) as f64 / 1e9, "count": c })).collect();
    Ok(Json(json!({ "buckets": buckets, "step": step_ns as f64 / 1e9, "total": total, "took_ms": started.elapsed().as_millis() as u64 })))
}

async fn fields(State(state): State<AppState>, Query(p): Query<HistogramParams>) -> Result<Json<serde_json::Value>, ApiError> {
    let started = Instant::now();
    let (start, end) = range(p.start.as_deref(), p.end.as_deref(), None, true)?;
    let store = state.store.clone();
    let result = tokio::task::spawn_blocking(move || store.fields(&p.q, start, end))
        .await
        .map_err(|e| ApiError::bad_request(format!("fields task failed: {e}")))??;
    Ok(Json(json!({
        "fields": result.fields,
        "total": result.total,
        "sampled": result.sampled,
        "took_ms": started.elapsed().as_millis() as u64,
    })))
}

fn line_id(v: &str) -> Result<u64, ApiError> {
    v.trim().parse().map_err(|_| ApiError::bad_request(format!("id={v:?} is not a line id")))
}

fn not_found(what: String) -> ApiError {
    ApiError { status: StatusCode::NOT_FOUND, message: what, position: None, retry_after: None }
}

/// `GET /api/v1/logs/line/<id>`: the permanent link to one line.
async fn line(
    State(state): State<AppState>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let id = line_id(&id)?;
    let store = state.store.clone();
    let hit = tokio::task::spawn_blocking(move || store.line(id))
        .await
        .map_err(|e| ApiError::bad_request(format!("line task failed: {e}")))??;
    hit.map(Json).ok_or_else(|| not_found(format!("no line with id {id}")))
}

#[derive(Deserialize)]
struct ContextParams {
    id: String,
    before: Option<usize>,
    after: Option<usize>,
}

/// `GET /api/v1/logs/context?id=&before=&after=`: lines around one, from the same host and source.
async fn context(State(state): State<AppState>, Query(p): Query<ContextParams>) -> Result<Json<serde_json::Value>, ApiError> {
    let started = Instant::now();
    let id = line_id(&p.id)?;
    let (before, after) = (p.before.unwrap_or(20), p.after.unwrap_or(20));
    if before > 1000 || after > 1000 {
        return Err(ApiError::bad_request("before and after must be at most 1000"));
    }
    let store = state.store.clone();
    let ctx = tokio::task::spawn_blocking(move || store.context(id, before, after))
        .await
        .map_err(|e| ApiError::bad_request(format!("context task failed: {e}")))??
        .ok_or_else(|| not_found(format!("no line with id {id}")))?;
    Ok(Json(json!({ "before": ctx.before, "line": ctx.line, "after": ctx.after, "took_ms": started.elapsed().as_millis() as u64 })))
}

#[derive(Deserialize)]
struct TailParams {
    #[serde(default)]
    q: String,
}

/// Lines a live-tail subscriber may have queued before newer ones are dropped.
const TAIL_QUEUE: usize = 4096;

/// `GET /api/v1/logs/tail?q=`: server-sent events, one `data:` JSON hit per new matching line
/// (its `id:` is the line id, so a reconnecting `EventSource` resumes after `Last-Event-ID`), and
/// an `event: dropped` with `{"dropped": N}` when the subscriber fell behind and lost lines.
async fn tail(State(state): State<AppState>, headers: HeaderMap, Query(p): Query<TailParams>) -> Result<Response, ApiError> {
    use axum::response::sse::{Event, KeepAlive, Sse};
    let filter = state.store.compile_query(&p.q)?;
    let after = match header_str(&headers, "last-event-id") {
        Some(v) => line_id(v)?,
        None => state.store.last_committed_id(),
    };
    let rx = crate::logs::tail::subscribe(state.store.clone(), filter, after, TAIL_QUEUE, state.telemetry.logs_tail_dropped_events.clone());
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx).map(|item| {
        Ok::<_, std::convert::Infallible>(match item {
            crate::logs::tail::TailItem::Line(id, hit) => Event::default().id(id.to_string()).data(hit.to_string()),
            crate::logs::tail::TailItem::Dropped(n) => Event::default().event("dropped").data(json!({ "dropped": n }).to_string()),
        })
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()).into_response())
}

/// `POST /loki/api/v1/push`: Loki's push API; success is 204 as in Loki.
async fn loki_push(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let result = async {
        let body = read_body(body, state.ingest.max_body_bytes).await?;
        let batch = batch_id(&headers)?;
        let raw = state.ingest.decode_body(header_str(&headers, header::CONTENT_ENCODING), &body)?;
        let events = loki::decode(header_str(&headers, header::CONTENT_TYPE), &raw, state.ingest.max_body_bytes)?;
        let accepted = store_logs(&state, &headers, "loki", batch, events).await?;
        Ok::<_, ApiError>(Json(json!({ "accepted": accepted.accepted, "duplicate": accepted.duplicate })))
    }
    .await;
    let ok = result.is_ok();
    let resp = finish(&state, "loki", result);
    if ok { StatusCode::NO_CONTENT.into_response() } else { resp }
}

/// Everything `/metrics` exports, without the trailing `# EOF`.
pub fn metrics_text(state: &AppState) -> String {
    let mut text = state.telemetry.encode();
    if let Some(a) = &state.agent_telemetry {
        text.push_str(&a.encode());
    }
    text.push_str(&state.metrics.tsdb.encode_metrics());
    text.push_str(&state.alerting.telemetry().encode());
    text.push_str(&state.auth.telemetry.encode());
    if let Some(r) = &state.rules {
        text.push_str(&r.encode_metrics());
    }
    text
}

async fn metrics(State(state): State<AppState>) -> Response {
    let mut text = metrics_text(&state);
    text.push_str("# EOF\n");
    ([(header::CONTENT_TYPE, agent::telemetry::CONTENT_TYPE)], text).into_response()
}

async fn ready(State(state): State<AppState>) -> Response {
    if state.ready.load(Ordering::Acquire) {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "replaying write-ahead log\n").into_response()
    }
}

/// The web UI's files. Each is served in the best precompressed encoding the client accepts
/// (Brotli, gzip, or as built; `query_ui::asset_for`) with `Vary: Accept-Encoding`; hashed files
/// under `assets/` are cached for a year, everything else (`index.html`) is revalidated.
async fn ui(uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path();
    if path.starts_with("/api/") || path.starts_with("/v1/") {
        return ApiError { status: StatusCode::NOT_FOUND, message: format!("no such endpoint: {path}"), position: None, retry_after: None }
            .into_response();
    }
    let accept = header_str(&headers, header::ACCEPT_ENCODING);
    let file = path.trim_start_matches('/');
    if let Some(asset) = query_ui::asset_for(if file.is_empty() { "index.html" } else { file }, accept) {
        return ui_asset(asset);
    }
    // Client-side routes fall back to the app; a missing asset file is a 404.
    if file.contains('.') {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    }
    match query_ui::asset_for("index.html", accept) {
        Some(index) => ui_asset(index),
        None => ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], query_ui::NOT_BUILT_PAGE).into_response(),
    }
}

fn ui_asset(asset: query_ui::Asset) -> Response {
    let cache = if asset.immutable { "public, max-age=31536000, immutable" } else { "no-cache" };
    let mut resp =
        ([(header::CONTENT_TYPE, asset.mime), (header::CACHE_CONTROL, cache.to_string())], asset.data.into_owned()).into_response();
    let h = resp.headers_mut();
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if let Some(enc) = asset.encoding {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(enc));
    }
    resp
}

//! The Prometheus-compatible metrics API: remote_write ingest and the query endpoints, with
//! Prometheus's JSON envelope (`{"status":"success","data":…}` / `{"status":"error",
//! "errorType":…,"error":…}`) so Grafana, promtool and Prometheus clients work unchanged.
//!
//! GET takes parameters from the query string; POST from an `application/x-www-form-urlencoded`
//! body as well (both are read, as Prometheus does). Query evaluation runs on the blocking pool
//! and only reads the head.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value as Json, json};

use crate::http::AppState;
use crate::promql::{Engine, QueryError, Value, format_float};
use crate::tsdb::{Labels, Tsdb, TsdbError};

/// The metrics subsystem as the HTTP layer sees it.
pub struct Metrics {
    /// The store.
    pub tsdb: Tsdb,
    /// PromQL settings.
    pub engine: Engine,
    /// Largest accepted remote_write body (compressed).
    pub max_body_bytes: usize,
    /// Most series `/api/v1/series` answers with.
    pub max_series: usize,
}

/// The routes, merged into the main router.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/write", post(write))
        .route("/v1/metrics", post(otlp_metrics))
        .route("/api/v1/import/prometheus", post(import_prometheus))
        .route("/api/v1/query", get(query).post(query))
        .route("/api/v1/query_range", get(query_range).post(query_range))
        .route("/api/v1/series", get(series).post(series))
        .route("/api/v1/labels", get(labels).post(labels))
        .route("/api/v1/label/{name}/values", get(label_values))
        .route("/api/v1/metadata", get(metadata))
        .route("/api/v1/status/buildinfo", get(buildinfo))
}

/// A Prometheus API error.
struct PromError {
    status: StatusCode,
    kind: &'static str,
    message: String,
}

fn bad_data(message: impl Into<String>) -> PromError {
    PromError { status: StatusCode::BAD_REQUEST, kind: "bad_data", message: message.into() }
}

impl From<QueryError> for PromError {
    fn from(e: QueryError) -> Self {
        match e {
            QueryError::Parse(m) => bad_data(m),
            QueryError::Execution(m) => PromError { status: StatusCode::UNPROCESSABLE_ENTITY, kind: "execution", message: m },
            QueryError::Timeout(m) => PromError { status: StatusCode::SERVICE_UNAVAILABLE, kind: "timeout", message: m },
        }
    }
}

impl IntoResponse for PromError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(json!({"status": "error", "errorType": self.kind, "error": self.message}))).into_response()
    }
}

fn success(data: Json) -> Response {
    axum::Json(json!({"status": "success", "data": data})).into_response()
}

type ApiResult = Result<Response, PromError>;

async fn write(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let m = state.metrics.clone();
    let result = async {
        if let Some(enc) = headers.get(header::CONTENT_ENCODING).and_then(|v| v.to_str().ok())
            && !enc.eq_ignore_ascii_case("snappy")
        {
            return Err((StatusCode::BAD_REQUEST, format!("unsupported Content-Encoding {enc:?}: remote_write bodies are snappy")));
        }
        let body = axum::body::to_bytes(body, m.max_body_bytes)
            .await
            .map_err(|e| (StatusCode::PAYLOAD_TOO_LARGE, format!("request body exceeds the limit of {} bytes: {e}", m.max_body_bytes)))?;
        m.tsdb.write_remote(&body).await.map_err(|e| match e {
            TsdbError::Malformed(msg) => (StatusCode::BAD_REQUEST, msg),
            TsdbError::Unavailable(msg) => (StatusCode::SERVICE_UNAVAILABLE, msg),
        })
    }
    .await;
    let code = match &result {
        Ok(_) => StatusCode::NO_CONTENT,
        Err((s, _)) => *s,
    };
    state
        .telemetry
        .ingest_requests
        .get_or_create(&crate::telemetry::Telemetry::labels(&[("protocol", "remote_write"), ("code", code.as_str())]))
        .inc();
    match result {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err((status, message)) => (status, axum::Json(json!({ "error": message }))).into_response(),
    }
}

fn count_request(state: &AppState, protocol: &str, code: StatusCode) {
    state
        .telemetry
        .ingest_requests
        .get_or_create(&crate::telemetry::Telemetry::labels(&[("protocol", protocol), ("code", code.as_str())]))
        .inc();
}

fn store_error(e: TsdbError) -> (StatusCode, String) {
    match e {
        TsdbError::Malformed(msg) => (StatusCode::BAD_REQUEST, msg),
        TsdbError::Unavailable(msg) => (StatusCode::SERVICE_UNAVAILABLE, msg),
    }
}

/// Reads a body up to the limit and undoes its Content-Encoding (gzip, zstd).
async fn read_decoded(m: &Metrics, headers: &HeaderMap, body: Body) -> Result<Vec<u8>, (StatusCode, String)> {
    let body = axum::body::to_bytes(body, m.max_body_bytes)
        .await
        .map_err(|e| (StatusCode::PAYLOAD_TOO_LARGE, format!("request body exceeds the limit of {} bytes: {e}", m.max_body_bytes)))?;
    let enc = headers.get(header::CONTENT_ENCODING).and_then(|v| v.to_str().ok());
    wire::encoding::decode(enc, &body, m.max_body_bytes.saturating_mul(8)).map_err(|e| match e {
        wire::encoding::DecodeError::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, e.to_string()),
        other => (StatusCode::BAD_REQUEST, other.to_string()),
    })
}

/// `POST /v1/metrics`: OTLP/HTTP metrics, answered in the request's format (protobuf or JSON).
async fn otlp_metrics(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    use opentelemetry_proto::tonic::collector::metrics::v1::{ExportMetricsPartialSuccess, ExportMetricsServiceResponse};
    let m = state.metrics.clone();
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_string);
    let json_out = ct.as_deref().is_some_and(|c| c.starts_with("application/json"));
    let result = async {
        let raw = read_decoded(&m, &headers, body).await?;
        let req = crate::ingest::otlp_metrics::decode(ct.as_deref(), &raw).map_err(|e| (StatusCode::BAD_REQUEST, e))?;
        let tr = crate::ingest::otlp_metrics::translate(&req);
        for (labels, _) in &tr.series {
            crate::tsdb::remote_write::check_labels(labels).map_err(|e| (StatusCode::BAD_REQUEST, e))?;
        }
        m.tsdb.add_metadata(tr.metadata);
        m.tsdb.count_rejected("otlp_unsupported", tr.dropped);
        let st = m.tsdb.write(tr.series).await.map_err(store_error)?;
        Ok::<_, (StatusCode, String)>((tr.dropped, st))
    }
    .await;
    let code = match &result {
        Ok(_) => StatusCode::OK,
        Err((s, _)) => *s,
    };
    count_request(&state, "otlp_metrics", code);
    match result {
        Ok((dropped, st)) => {
            let rejected = dropped + st.too_old + st.duplicate;
            let partial = (rejected > 0).then(|| ExportMetricsPartialSuccess {
                rejected_data_points: rejected as i64,
                error_message: format!(
                    "{dropped} data points of delta temporality or exponential histograms, {} samples outside the out-of-order window, {} conflicting duplicates",
                    st.too_old, st.duplicate
                ),
            });
            let resp = ExportMetricsServiceResponse { partial_success: partial };
            if json_out {
                axum::Json(serde_json::to_value(&resp).unwrap_or_else(|_| json!({}))).into_response()
            } else {
                use prost::Message;
                ([(header::CONTENT_TYPE, "application/x-protobuf")], resp.encode_to_vec()).into_response()
            }
        }
        Err((status, message)) => (status, axum::Json(json!({ "code": status.as_u16(), "message": message }))).into_response(),
    }
}

/// `POST /api/v1/import/prometheus`: text exposition format.
async fn import_prometheus(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let m = state.metrics.clone();
    let result = async {
        let raw = read_decoded(&m, &headers, body).await?;
        let text = String::from_utf8(raw).map_err(|_| (StatusCode::BAD_REQUEST, "body is not UTF-8 text".to_string()))?;
        let (series, md) = crate::ingest::prom_text::parse(&text, now_ms()).map_err(|e| (StatusCode::BAD_REQUEST, e))?;
        for (labels, _) in &series {
            crate::tsdb::remote_write::check_labels(labels).map_err(|e| (StatusCode::BAD_REQUEST, e))?;
        }
        m.tsdb.add_metadata(md);
        m.tsdb.write(series).await.map_err(store_error)
    }
    .await;
    let code = match &result {
        Ok(_) => StatusCode::NO_CONTENT,
        Err((s, _)) => *s,
    };
    count_request(&state, "prometheus_text", code);
    match result {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err((status, message)) => (status, axum::Json(json!({ "error": message }))).into_response(),
    }
}

/// Parameters from the query string and, for POST, the form body.
fn params(method: &Method, raw: Option<String>, headers: &HeaderMap, body: &Bytes) -> Result<Vec<(String, String)>, PromError> {
    let mut out: Vec<(String, String)> = match raw {
        Some(q) => serde_urlencoded::from_str(&q).map_err(|e| bad_data(format!("invalid query string: {e}")))?,
        None => Vec::new(),
    };
    if method == Method::POST && !body.is_empty() {
        let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        if !ct.starts_with("application/x-www-form-urlencoded") {
            return Err(bad_data(format!("POST bodies must be application/x-www-form-urlencoded, got {ct:?}")));
        }
        let form: Vec<(String, String)> = serde_urlencoded::from_bytes(body).map_err(|e| bad_data(format!("invalid form body: {e}")))?;
        out.extend(form);
    }
    Ok(out)
}

fn param<'a>(p: &'a [(String, String)], name: &str) -> Option<&'a str> {
    p.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// RFC 3339 or Unix seconds (fractions allowed), to ms.
fn parse_time(name: &str, v: &str) -> Result<i64, PromError> {
    if let Ok(secs) = v.parse::<f64>() {
        if secs.is_finite() && secs.abs() < 1e13 {
            return Ok((secs * 1000.0).round() as i64);
        }
        return Err(bad_data(format!("invalid parameter \"{name}\": cannot parse {v:?} to a valid timestamp")));
    }
    time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339)
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
        .map_err(|_| bad_data(format!("invalid parameter \"{name}\": cannot parse {v:?} to a valid timestamp")))
}

/// Seconds (fractions allowed) or a PromQL duration, to ms.
fn parse_duration(name: &str, v: &str) -> Result<i64, PromError> {
    if let Ok(secs) = v.parse::<f64>() {
        if secs.is_finite() && secs.abs() < 1e13 {
            return Ok((secs * 1000.0).round() as i64);
        }
    } else if let Ok(d) = promql_parser::util::parse_duration(v) {
        return Ok(d.as_millis() as i64);
    }
    Err(bad_data(format!("invalid parameter \"{name}\": cannot parse {v:?} to a valid duration")))
}

fn json_time(t: i64) -> Json {
    if t % 1000 == 0 { json!(t / 1000) } else { json!(t as f64 / 1000.0) }
}

fn labels_json(l: &Labels) -> Json {
    let m: serde_json::Map<String, Json> = l.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
    Json::Object(m)
}

fn value_json(v: Value, t: i64) -> Json {
    match v {
        Value::Scalar(x) => json!({"resultType": "scalar", "result": [json_time(t), format_float(x)]}),
        Value::String(s) => json!({"resultType": "string", "result": [json_time(t), s]}),
        Value::Vector(samples) => json!({
            "resultType": "vector",
            "result": samples.iter().map(|s| json!({"metric": labels_json(&s.labels), "value": [json_time(s.t), format_float(s.v)]})).collect::<Vec<_>>()
        }),
        Value::Matrix(series) => json!({
            "resultType": "matrix",
            "result": series.iter().map(|s| json!({
                "metric": labels_json(&s.labels),
                "values": s.points.iter().map(|&(t, v)| json!([json_time(t), format_float(v)])).collect::<Vec<_>>()
            })).collect::<Vec<_>>()
        }),
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, PromError> + Send + 'static) -> Result<T, PromError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| PromError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        kind: "internal",
        message: format!("query task failed: {e}"),
    })?
}

async fn query(State(state): State<AppState>, method: Method, RawQuery(raw): RawQuery, headers: HeaderMap, body: Bytes) -> ApiResult {
    let p = params(&method, raw, &headers, &body)?;
    let q = param(&p, "query").ok_or_else(|| bad_data("invalid parameter \"query\": query is empty"))?.to_string();
    let t = match param(&p, "time") {
        Some(v) => parse_time("time", v)?,
        None => now_ms(),
    };
    let m = state.metrics.clone();
    let v = blocking(move || Ok(m.engine.instant(&m.tsdb.reader(), &q, t)?)).await?;
    Ok(success(value_json(v, t)))
}

async fn query_range(State(state): State<AppState>, method: Method, RawQuery(raw): RawQuery, headers: HeaderMap, body: Bytes) -> ApiResult {
    let p = params(&method, raw, &headers, &body)?;
    let q = param(&p, "query").ok_or_else(|| bad_data("invalid parameter \"query\": query is empty"))?.to_string();
    let start = parse_time("start", param(&p, "start").ok_or_else(|| bad_data("invalid parameter \"start\": missing"))?)?;
    let end = parse_time("end", param(&p, "end").ok_or_else(|| bad_data("invalid parameter \"end\": missing"))?)?;
    let step = parse_duration("step", param(&p, "step").ok_or_else(|| bad_data("invalid parameter \"step\": missing"))?)?;
    if end < start {
        return Err(bad_data("invalid parameter \"end\": end timestamp must not be before start time"));
    }
    if step <= 0 {
        return Err(bad_data(
            "invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    let m = state.metrics.clone();
    let series = blocking(move || Ok(m.engine.range(&m.tsdb.reader(), &q, start, end, step)?)).await?;
    Ok(success(value_json(Value::Matrix(series), end)))
}

/// `match[]` selectors as matcher lists.
fn selectors(p: &[(String, String)]) -> Result<Vec<Vec<promql_parser::label::Matcher>>, PromError> {
    let mut out = Vec::new();
    for (_, v) in p.iter().filter(|(k, _)| k == "match[]") {
        match promql_parser::parser::parse(v).map_err(|e| bad_data(format!("invalid parameter \"match[]\": {e}")))? {
            promql_parser::parser::Expr::VectorSelector(vs) => {
                let mut ms = vs.matchers.matchers.clone();
                if let Some(name) = &vs.name {
                    ms.push(promql_parser::label::Matcher::new(promql_parser::label::MatchOp::Equal, "__name__", name));
                }
                out.push(ms);
            }
            _ => return Err(bad_data(format!("invalid parameter \"match[]\": {v:?} is not a series selector"))),
        }
    }
    Ok(out)
}

fn time_range(p: &[(String, String)]) -> Result<(i64, i64), PromError> {
    let start = param(p, "start").map(|v| parse_time("start", v)).transpose()?.unwrap_or(i64::MIN);
    let end = param(p, "end").map(|v| parse_time("end", v)).transpose()?.unwrap_or(i64::MAX);
    Ok((start, end))
}

/// Label sets of the series matching any selector (all series without selectors).
fn matching_series(m: &Metrics, sels: &[Vec<promql_parser::label::Matcher>], start: i64, end: i64) -> Vec<Labels> {
    let head = m.tsdb.reader();
    if sels.is_empty() {
        return head.series_labels(&[], start, end);
    }
    let mut set = BTreeSet::new();
    for s in sels {
        let refs: Vec<_> = s.iter().collect();
        set.extend(head.series_labels(&refs, start, end));
    }
    set.into_iter().collect()
}

async fn series(State(state): State<AppState>, method: Method, RawQuery(raw): RawQuery, headers: HeaderMap, body: Bytes) -> ApiResult {
    let p = params(&method, raw, &headers, &body)?;
    let sels = selectors(&p)?;
    if sels.is_empty() {
        return Err(bad_data("no match[] parameter provided"));
    }
    let (start, end) = time_range(&p)?;
    let m = state.metrics.clone();
    let max = m.max_series;
    let list = blocking(move || Ok(matching_series(&m, &sels, start, end))).await?;
    if list.len() > max {
        return Err(PromError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            kind: "execution",
            message: format!(
                "the selectors match {} series, more than the limit of {max} (metrics.max_series); narrow them or the time range",
                list.len()
            ),
        });
    }
    Ok(success(Json::Array(list.iter().map(labels_json).collect())))
}

async fn labels(State(state): State<AppState>, method: Method, RawQuery(raw): RawQuery, headers: HeaderMap, body: Bytes) -> ApiResult {
    let p = params(&method, raw, &headers, &body)?;
    let sels = selectors(&p)?;
    let (start, end) = time_range(&p)?;
    let m = state.metrics.clone();
    let names = blocking(move || {
        let mut names = BTreeSet::new();
        for l in matching_series(&m, &sels, start, end) {
            names.extend(l.iter().map(|(n, _)| n.to_string()));
        }
        Ok(names)
    })
    .await?;
    Ok(success(json!(names)))
}

async fn label_values(State(state): State<AppState>, Path(name): Path<String>, RawQuery(raw): RawQuery) -> ApiResult {
    let p = params(&Method::GET, raw, &HeaderMap::new(), &Bytes::new())?;
    if !crate::tsdb::remote_write::valid_label_name(&name) {
        return Err(bad_data(format!("invalid label name: {name:?}")));
    }
    let sels = selectors(&p)?;
    let (start, end) = time_range(&p)?;
    let m = state.metrics.clone();
    let values = blocking(move || {
        let mut values = BTreeSet::new();
        for l in matching_series(&m, &sels, start, end) {
            if let Some(v) = l.get(&name) {
                values.insert(v.to_string());
            }
        }
        Ok(values)
    })
    .await?;
    Ok(success(json!(values)))
}

async fn metadata(State(state): State<AppState>, RawQuery(raw): RawQuery) -> ApiResult {
    let p = params(&Method::GET, raw, &HeaderMap::new(), &Bytes::new())?;
    let limit = match param(&p, "limit") {
        Some(v) => Some(v.parse::<usize>().map_err(|_| bad_data("invalid parameter \"limit\""))?),
        None => None,
    };
    let md: BTreeMap<_, _> = state.metrics.tsdb.metadata(param(&p, "metric")).into_iter().collect();
    let md: serde_json::Map<String, Json> = md.into_iter().take(limit.unwrap_or(usize::MAX)).map(|(k, v)| (k, json!(v))).collect();
    Ok(success(Json::Object(md)))
}

async fn buildinfo() -> Response {
    success(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "revision": "",
        "branch": "",
        "buildUser": "",
        "buildDate": "",
        "goVersion": "",
        "application": "lookout"
    }))
}

/// Opens the metrics store under `data_dir/metrics`.
pub fn open(data_dir: &std::path::Path, cfg: &crate::config::Config) -> std::io::Result<Arc<Metrics>> {
    let tsdb = Tsdb::open(
        &data_dir.join("metrics"),
        crate::tsdb::Options {
            out_of_order_window_ms: (cfg.metrics.out_of_order_window_secs as i64).saturating_mul(1000),
            max_decoded_bytes: cfg.ingest.max_body_bytes.saturating_mul(8),
            block_range_ms: (cfg.metrics.block_range_secs as i64).saturating_mul(1000),
            retention_ms: (cfg.metrics.retention_secs as i64).saturating_mul(1000),
            retention_bytes: cfg.metrics.retention_bytes,
        },
    )?;
    let engine = Engine {
        lookback_ms: (cfg.metrics.lookback_delta_secs as i64).saturating_mul(1000),
        max_samples: cfg.metrics.max_samples_per_query,
        timeout: std::time::Duration::from_secs(cfg.metrics.query_timeout_secs),
        ..Engine::default()
    };
    Ok(Arc::new(Metrics { tsdb, engine, max_body_bytes: cfg.ingest.max_body_bytes, max_series: cfg.metrics.max_series as usize }))
}

//! HTTP API of the dispatcher, an axum [`Router`] the aggregator merges into its own.
//!
//! - Alertmanager API v2 with the field names of its OpenAPI spec, so Prometheus can post
//!   alerts here and `amtool` can list alerts and manage silences: `/api/v2/alerts` (GET, POST),
//!   `/api/v2/alerts/groups`, `/api/v2/silences` (GET, POST), `/api/v2/silence/{id}` (GET,
//!   DELETE), `/api/v2/status`, `/api/v2/receivers`. Errors are JSON strings, as Alertmanager's.
//! - Lookout's additions: `POST /api/v1/alerts/{fingerprint}/ack|unack|resolve` with an optional
//!   JSON body `{"by": "...", "comment": "..."}`, `GET /api/v1/notifications` (the delivery log)
//!   and `GET /api/v1/alerting/escalations`. Errors are `{"error": "..."}`.

// Helpers return a ready error `Response` in `Err`: it is built once per failed request, so
// boxing it (what clippy suggests) would only add noise.
#![allow(clippy::result_large_err)]

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::clock::{format, parse};
use crate::dispatch::{AlertStatus, DispatchError, Dispatcher};
use crate::matcher::{Matcher, parse_matchers};
use crate::model::PostableAlert;
use crate::silence::{ApiMatcher, Silence, state};

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 16 << 20;

/// The routes, with the dispatcher as their state; mergeable into a router of any state.
pub fn router<S: Clone + Send + Sync + 'static>(d: Dispatcher) -> Router<S> {
    Router::new()
        .route("/api/v2/alerts", get(get_alerts).post(post_alerts))
        .route("/api/v2/alerts/groups", get(get_groups))
        .route("/api/v2/silences", get(get_silences).post(post_silence))
        .route("/api/v2/silence/{id}", get(get_silence).delete(delete_silence))
        .route("/api/v2/status", get(status))
        .route("/api/v2/receivers", get(receivers))
        .route("/api/v1/alerts/{fp}/{action}", post(alert_action))
        .route("/api/v1/notifications", get(notifications))
        .route("/api/v1/alerting/escalations", get(escalations))
        .with_state(d)
}

/// A v2 error: a JSON string body.
fn v2_err(status: StatusCode, msg: impl Into<String>) -> Response {
    (status, Json(Value::String(msg.into()))).into_response()
}

fn v2_from(e: DispatchError) -> Response {
    match e {
        DispatchError::Invalid(m) => v2_err(StatusCode::BAD_REQUEST, m),
        DispatchError::NotFound(m) => v2_err(StatusCode::NOT_FOUND, m),
        DispatchError::Store(e) => v2_err(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

fn v1_err(status: StatusCode, msg: impl Into<String>) -> Response {
    (status, Json(json!({"error": msg.into()}))).into_response()
}

fn v1_from(e: DispatchError) -> Response {
    match e {
        DispatchError::Invalid(m) => v1_err(StatusCode::BAD_REQUEST, m),
        DispatchError::NotFound(m) => v1_err(StatusCode::NOT_FOUND, m),
        DispatchError::Store(e) => v1_err(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn read_body(body: Body) -> Result<Bytes, Response> {
    axum::body::to_bytes(body, MAX_BODY_BYTES).await.map_err(|e| {
        if std::error::Error::source(&e).is_some_and(|s| s.to_string().contains("length limit")) || e.to_string().contains("length limit") {
            v2_err(StatusCode::PAYLOAD_TOO_LARGE, format!("request body larger than {MAX_BODY_BYTES} bytes"))
        } else {
            v2_err(StatusCode::BAD_REQUEST, format!("cannot read request body: {e}"))
        }
    })
}

/// Query parameters, repeated ones kept (`filter=a&filter=b`).
fn query_pairs(q: Option<String>) -> Result<Vec<(String, String)>, Response> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(q.as_deref().unwrap_or(""))
        .map_err(|e| v2_err(StatusCode::BAD_REQUEST, format!("invalid query string: {e}")))
}

struct AlertFilter {
    active: bool,
    silenced: bool,
    inhibited: bool,
    matchers: Vec<Matcher>,
    receiver: Option<regex::Regex>,
}

fn alert_filter(q: Option<String>) -> Result<AlertFilter, Response> {
    let mut f = AlertFilter { active: true, silenced: true, inhibited: true, matchers: Vec::new(), receiver: None };
    for (k, v) in query_pairs(q)? {
        let flag = || match v.as_str() {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err(v2_err(StatusCode::BAD_REQUEST, format!("{k}: expected true or false, got {v:?}"))),
        };
        match k.as_str() {
            "active" => f.active = flag()?,
            "silenced" => f.silenced = flag()?,
            "inhibited" => f.inhibited = flag()?,
            "unprocessed" => {
                flag()?;
            }
            "filter" => f.matchers.extend(parse_matchers(&v).map_err(|e| v2_err(StatusCode::BAD_REQUEST, format!("filter: {e}")))?),
            "receiver" => {
                f.receiver = Some(
                    regex::Regex::new(&format!("^(?:{v})$"))
                        .map_err(|e| v2_err(StatusCode::BAD_REQUEST, format!("receiver: invalid regex: {e}")))?,
                )
            }
            _ => {}
        }
    }
    Ok(f)
}

impl AlertFilter {
    fn keep(&self, s: &AlertStatus) -> bool {
        let silenced = !s.silenced_by.is_empty();
        let inhibited = !s.inhibited_by.is_empty();
        if !self.active && !silenced && !inhibited {
            return false;
        }
        if !self.silenced && silenced {
            return false;
        }
        if !self.inhibited && inhibited {
            return false;
        }
        if let Some(re) = &self.receiver
            && !s.receivers.iter().any(|r| re.is_match(r))
        {
            return false;
        }
        crate::matcher::all_match(&self.matchers, &s.alert.labels)
    }
}

fn gettable_alert(s: &AlertStatus) -> Value {
    let a = &s.alert;
    let state = if s.silenced_by.is_empty() && s.inhibited_by.is_empty() { "active" } else { "suppressed" };
    let mut v = json!({
        "annotations": a.annotations,
        "endsAt": format(a.ends_at),
        "fingerprint": a.fingerprint,
        "receivers": s.receivers.iter().map(|r| json!({"name": r})).collect::<Vec<_>>(),
        "startsAt": format(a.starts_at),
        "status": {"inhibitedBy": s.inhibited_by, "silencedBy": s.silenced_by, "state": state},
        "updatedAt": format(a.updated_at),
        "generatorURL": a.generator_url,
        "labels": a.labels,
    });
    if let Some(ack) = &s.ack {
        v["ack"] = json!({"by": ack.by, "comment": ack.comment, "at": format(ack.at)});
    }
    v
}

async fn get_alerts(State(d): State<Dispatcher>, RawQuery(q): RawQuery) -> Response {
    let f = match alert_filter(q) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let now = d.now();
    let list: Vec<Value> = d.core().alert_statuses(now).iter().filter(|s| f.keep(s)).map(gettable_alert).collect();
    Json(list).into_response()
}

async fn post_alerts(State(d): State<Dispatcher>, body: Body) -> Response {
    let bytes = match read_body(body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let mut de = serde_json::Deserializer::from_slice(&bytes);
    let alerts: Vec<PostableAlert> = match serde_path_to_error_lite(&mut de) {
        Ok(a) => a,
        Err(e) => return v2_err(StatusCode::BAD_REQUEST, format!("invalid alerts: {e}")),
    };
    match d.put(alerts, "api") {
        Ok(()) => StatusCode::OK.into_response(),
        Err(errors) => v2_err(StatusCode::BAD_REQUEST, errors.join("; ")),
    }
}

fn serde_path_to_error_lite<T: serde::de::DeserializeOwned>(
    de: &mut serde_json::Deserializer<serde_json::de::SliceRead<'_>>,
) -> Result<T, String> {
    let v = T::deserialize(&mut *de).map_err(|e| e.to_string())?;
    de.end().map_err(|e| e.to_string())?;
    Ok(v)
}

async fn get_groups(State(d): State<Dispatcher>, RawQuery(q): RawQuery) -> Response {
    let f = match alert_filter(q) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let now = d.now();
    let core = d.core();
    let statuses: std::collections::HashMap<String, AlertStatus> =
        core.alert_statuses(now).into_iter().map(|s| (s.alert.fingerprint.clone(), s)).collect();
    let mut out = Vec::new();
    for g in core.groups() {
        if let Some(re) = &f.receiver
            && !re.is_match(&g.receiver)
        {
            continue;
        }
        let alerts: Vec<Value> = g.alerts.iter().filter_map(|fp| statuses.get(fp)).filter(|s| f.keep(s)).map(gettable_alert).collect();
        if alerts.is_empty() {
            continue;
        }
        out.push(json!({"labels": g.labels, "receiver": {"name": g.receiver}, "alerts": alerts}));
    }
    Json(out).into_response()
}

fn gettable_silence(s: &Silence, now: i64) -> Value {
    json!({
        "id": s.id,
        "status": {"state": state(s, now)},
        "updatedAt": format(s.updated_at),
        "matchers": s.matchers,
        "startsAt": format(s.starts_at),
        "endsAt": format(s.ends_at),
        "createdBy": s.created_by,
        "comment": s.comment,
    })
}

async fn get_silences(State(d): State<Dispatcher>, RawQuery(q): RawQuery) -> Response {
    let mut filters = Vec::new();
    let pairs = match query_pairs(q) {
        Ok(p) => p,
        Err(r) => return r,
    };
    for (k, v) in pairs {
        if k == "filter" {
            match parse_matchers(&v) {
                Ok(m) => filters.extend(m),
                Err(e) => return v2_err(StatusCode::BAD_REQUEST, format!("filter: {e}")),
            }
        }
    }
    let now = d.now();
    let mut list = d.core().silences();
    // Alertmanager's order: active, then pending, then expired; newest end first within each.
    let rank = |s: &Silence| match state(s, now) {
        "active" => 0,
        "pending" => 1,
        _ => 2,
    };
    list.sort_by(|a, b| rank(a).cmp(&rank(b)).then(b.ends_at.cmp(&a.ends_at)));
    let out: Vec<Value> = list
        .iter()
        .filter(|s| {
            // A filter matcher keeps silences having an equal matcher, as Alertmanager does.
            filters.iter().all(|f| s.matchers.iter().any(|m| m.name == f.name && f.matches_value(&m.value)))
        })
        .map(|s| gettable_silence(s, now))
        .collect();
    Json(out).into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PostableSilence {
    #[serde(default)]
    id: Option<String>,
    matchers: Vec<ApiMatcher>,
    starts_at: String,
    ends_at: String,
    created_by: String,
    comment: String,
}

async fn post_silence(State(d): State<Dispatcher>, body: Body) -> Response {
    let bytes = match read_body(body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let p: PostableSilence = match serde_json::from_slice(&bytes) {
        Ok(p) => p,
        Err(e) => return v2_err(StatusCode::BAD_REQUEST, format!("invalid silence: {e}")),
    };
    let (starts_at, ends_at) = match (parse(&p.starts_at), parse(&p.ends_at)) {
        (Ok(s), Ok(e)) => (s, e),
        (Err(e), _) | (_, Err(e)) => return v2_err(StatusCode::BAD_REQUEST, e),
    };
    let s = Silence {
        id: p.id.unwrap_or_default(),
        matchers: p.matchers,
        starts_at,
        ends_at,
        updated_at: 0,
        created_by: p.created_by,
        comment: p.comment,
    };
    let now = d.now();
    let r = d.core().put_silence(s, now);
    d.wake();
    match r {
        Ok(s) => Json(json!({"silenceID": s.id})).into_response(),
        Err(e) => v2_from(e),
    }
}

async fn get_silence(State(d): State<Dispatcher>, Path(id): Path<String>) -> Response {
    let now = d.now();
    match d.core().silence(&id) {
        Some(s) => Json(gettable_silence(&s, now)).into_response(),
        None => v2_err(StatusCode::NOT_FOUND, format!("silence {id} not found")),
    }
}

async fn delete_silence(State(d): State<Dispatcher>, Path(id): Path<String>) -> Response {
    let now = d.now();
    let r = d.core().expire_silence(&id, now);
    d.wake();
    match r {
        Ok(_) => StatusCode::OK.into_response(),
        Err(e) => v2_from(e),
    }
}

async fn status(State(d): State<Dispatcher>) -> Response {
    let original = d.core().config().original.clone();
    Json(json!({
        "cluster": {"name": "lookout", "status": "disabled", "peers": []},
        "versionInfo": {
            "version": env!("CARGO_PKG_VERSION"),
            "revision": "unknown",
            "branch": "unknown",
            "buildUser": "lookout",
            "buildDate": "unknown",
            "goVersion": "none (lookout is written in Rust)",
        },
        "config": {"original": original},
        "uptime": format(d.started()),
    }))
    .into_response()
}

async fn receivers(State(d): State<Dispatcher>) -> Response {
    let names: Vec<Value> = d.core().config().receivers.keys().map(|n| json!({"name": n})).collect();
    Json(names).into_response()
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ActionBody {
    #[serde(default)]
    by: Option<String>,
    #[serde(default)]
    comment: Option<String>,
}

async fn alert_action(
    State(d): State<Dispatcher>,
    Path((fp, action)): Path<(String, String)>,
    headers: axum::http::HeaderMap,
    body: Body,
) -> Response {
    let bytes = match read_body(body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let b: ActionBody = if bytes.iter().all(u8::is_ascii_whitespace) {
        ActionBody::default()
    } else {
        match serde_json::from_slice(&bytes) {
            Ok(b) => b,
            Err(e) => return v1_err(StatusCode::BAD_REQUEST, format!("invalid body: {e}")),
        }
    };
    // Behind the aggregator's auth gate the signed-in user is who acted, whatever the body says.
    let signed_in = headers.get("x-lookout-principal").and_then(|v| v.to_str().ok()).filter(|s| !s.is_empty()).map(str::to_string);
    let by = signed_in.or(b.by.filter(|s| !s.is_empty())).unwrap_or_else(|| "unknown".into());
    let now = d.now();
    let r = {
        let mut core = d.core();
        match action.as_str() {
            "ack" => core.ack(&fp, by, b.comment.unwrap_or_default(), now).map(|_| ()),
            "unack" => core.unack(&fp, now),
            "resolve" => core.resolve(&fp, now),
            other => return v1_err(StatusCode::NOT_FOUND, format!("no such action {other:?}: use ack, unack or resolve")),
        }
    };
    d.wake();
    match r {
        Ok(()) => Json(json!({"status": "success", "fingerprint": fp, "action": action})).into_response(),
        Err(e) => v1_from(e),
    }
}

async fn notifications(State(d): State<Dispatcher>, RawQuery(q): RawQuery) -> Response {
    let mut limit = 100usize;
    match query_pairs(q) {
        Ok(pairs) => {
            for (k, v) in pairs {
                if k == "limit" {
                    match v.parse::<usize>() {
                        Ok(n) if (1..=10_000).contains(&n) => limit = n,
                        _ => return v1_err(StatusCode::BAD_REQUEST, format!("limit: expected 1..10000, got {v:?}")),
                    }
                }
            }
        }
        Err(r) => return r,
    }
    match d.core().deliveries(limit) {
        Ok(list) => Json(json!({"notifications": list})).into_response(),
        Err(e) => v1_err(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn escalations(State(d): State<Dispatcher>) -> Response {
    let list: Vec<Value> = d
        .core()
        .escalations()
        .into_iter()
        .map(|(k, p)| json!({"groupKey": k, "policy": p.policy, "step": p.step, "cycle": p.cycle, "nextAt": p.next_at.map(format)}))
        .collect();
    Json(json!({"escalations": list})).into_response()
}

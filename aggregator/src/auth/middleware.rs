//! The request gate: security headers on every response; then, for each matched route, who is
//! calling, whether their role may, CSRF for cookie sessions, the rate limit, and an audit row
//! for every mutation (with the state before and after where the object can be looked up).

use std::net::SocketAddr;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use super::store::{AuditEntry, token_json, user_json};
use super::{Access, Principal, Role, lookup};
use crate::http::AppState;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "lookout_session";
/// Header carrying the CSRF token of a cookie session.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Header the gate sets (after removing any sent by the client) to the signed-in user's name,
/// so handlers outside this crate (acknowledgements) can say who acted.
pub const PRINCIPAL_HEADER: &str = "x-lookout-principal";

/// Largest body of an audited request (silences, acknowledgements, users, tokens).
const MAX_AUDITED_BODY: usize = 1 << 20;

/// Content-Security-Policy of every response: scripts only from our own origin (no inline
/// script), no framing.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
                       connect-src 'self'; font-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; \
                       frame-ancestors 'none'";

fn security_headers(h: &mut HeaderMap) {
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
}

/// A JSON error response.
pub fn refuse(status: StatusCode, msg: impl Into<String>) -> Response {
    let mut r = (status, axum::Json(json!({ "status": "error", "errorType": "auth", "error": msg.into() }))).into_response();
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"lookout\""));
    }
    r
}

fn too_many(wait: std::time::Duration, what: &str) -> Response {
    let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
    let mut r = refuse(StatusCode::TOO_MANY_REQUESTS, format!("{what}; retry after {secs}s"));
    r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    r
}

/// The session cookie's value, if sent.
pub fn session_cookie(h: &HeaderMap) -> Option<String> {
    for v in h.get_all(header::COOKIE) {
        for part in v.to_str().ok()?.split(';') {
            if let Some((k, val)) = part.trim().split_once('=')
                && k == SESSION_COOKIE
                && !val.is_empty()
            {
                return Some(val.to_string());
            }
        }
    }
    None
}

enum Caller {
    Anonymous,
    Known(Principal, Option<String>),
    Refused(&'static str),
}

fn identify(state: &AppState, h: &HeaderMap) -> Caller {
    let auth = &state.auth;
    if let Some(v) = h.get(header::AUTHORIZATION) {
        let Some(token) = v.to_str().ok().and_then(|s| s.strip_prefix("Bearer ").or_else(|| s.strip_prefix("bearer "))) else {
            return Caller::Refused("unsupported Authorization scheme: use Bearer");
        };
        return match auth.store.check_token(token.trim()) {
            Ok(Ok(t)) => Caller::Known(
                Principal { actor: format!("token:{}", t.name), role: t.role, limit_key: Some(format!("t:{}", t.id)), user: None },
                None,
            ),
            Ok(Err(why)) => Caller::Refused(why.reason()),
            Err(e) => {
                tracing::error!(error = %e, "auth database error");
                Caller::Refused("auth database error")
            }
        };
    }
    if let Some(sid) = session_cookie(h) {
        return match auth.store.check_session(&sid) {
            Ok(Some((u, csrf))) => Caller::Known(
                Principal { actor: format!("user:{}", u.name), role: u.role, limit_key: Some(format!("u:{}", u.name)), user: Some(u.name) },
                Some(csrf),
            ),
            Ok(None) => Caller::Anonymous,
            Err(e) => {
                tracing::error!(error = %e, "auth database error");
                Caller::Refused("auth database error")
            }
        };
    }
    Caller::Anonymous
}

fn is_safe(m: &Method) -> bool {
    matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The gate, installed with `axum::middleware::from_fn_with_state` as the router's layer.
pub async fn gate(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let mut resp = check(state, req, next).await;
    security_headers(resp.headers_mut());
    resp
}

async fn check(state: AppState, mut req: Request, next: Next) -> Response {
    let addr = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string()).unwrap_or_default();
    req.headers_mut().remove(PRINCIPAL_HEADER);
    let matched = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_string());
    let method = req.method().clone();
    let access = match &matched {
        // The fallback serves the UI's static files: public, they carry no data.
        None => Access::Public,
        Some(p) => lookup(method.as_str(), p).unwrap_or_else(|| {
            tracing::error!(method = %method, path = %p, "route has no declared access; it needs admin");
            Access::Admin
        }),
    };
    let auth = state.auth.clone();
    let principal = if !auth.config.enabled {
        Principal { actor: "anonymous".into(), role: Role::Admin, limit_key: None, user: None }
    } else {
        let public = access == Access::Public || (access == Access::Metrics && auth.config.metrics_public);
        let caller = if public { Caller::Anonymous } else { identify(&state, req.headers()) };
        match caller {
            _ if public => return next.run(req).await,
            Caller::Refused(why) => {
                auth.telemetry.refused(why);
                return refuse(StatusCode::UNAUTHORIZED, why);
            }
            Caller::Anonymous => {
                auth.telemetry.refused("anonymous");
                return refuse(StatusCode::UNAUTHORIZED, "authentication required: sign in, or send Authorization: Bearer <token>");
            }
            Caller::Known(p, csrf) => {
                if !access.allows(p.role) {
                    auth.telemetry.refused("role");
                    return refuse(
                        StatusCode::FORBIDDEN,
                        format!("role {} may not {} {}", p.role, method, matched.as_deref().unwrap_or_default()),
                    );
                }
                if let Some(expected) = csrf
                    && !is_safe(&method)
                {
                    let sent = req.headers().get(CSRF_HEADER).map(|v| v.as_bytes().to_vec()).unwrap_or_default();
                    if sent.is_empty() || !bool::from(sent.ct_eq(expected.as_bytes())) {
                        auth.telemetry.refused("csrf");
                        return refuse(StatusCode::FORBIDDEN, "missing or wrong X-CSRF-Token for this session");
                    }
                }
                if let Some(key) = &p.limit_key
                    && let Err(wait) = auth.limiter.check(key, p.role == Role::Ingest, Instant::now())
                {
                    auth.telemetry.refused("rate_limit");
                    return too_many(wait, "rate limit exceeded");
                }
                p
            }
        }
    };
    if let Some(u) = &principal.user
        && let Ok(v) = HeaderValue::from_str(u)
    {
        req.headers_mut().insert(HeaderName::from_static(PRINCIPAL_HEADER), v);
    }
    req.extensions_mut().insert(principal.clone());
    // Mutations are audited; data flowing in (ingest, alerts from a Prometheus) is not.
    let machine_alerts = access == Access::AlertSender && principal.role == Role::Ingest;
    let audited = !(is_safe(&method)
        || matched.is_none()
        || matches!(access, Access::Ingest | Access::Public)
        || machine_alerts
        || matched.as_deref() == Some("/api/v1/auth/logout"));
    if !audited {
        return next.run(req).await;
    }
    let path = matched.unwrap_or_default();
    let uri_path = req.uri().path().to_string();
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, MAX_AUDITED_BODY).await {
        Ok(b) => b,
        Err(_) => return refuse(StatusCode::PAYLOAD_TOO_LARGE, format!("body over {MAX_AUDITED_BODY} bytes")),
    };
    let params = path_params(&path, &uri_path);
    let request_json: Option<Value> = serde_json::from_slice(&body).ok();
    let before = snapshot(&state, &path, &params, request_json.as_ref(), None);
    let resp = next.run(Request::from_parts(parts, Body::from(body))).await;
    let status = resp.status();
    let (rparts, rbody) = resp.into_parts();
    let rbytes = axum::body::to_bytes(rbody, 16 << 20).await.unwrap_or_else(|_| Bytes::new());
    let response_json: Option<Value> = serde_json::from_slice(&rbytes).ok();
    let after = if status.is_success() {
        snapshot(&state, &path, &params, request_json.as_ref(), response_json.as_ref()).or_else(|| request_json.clone().map(redact))
    } else {
        Some(json!({"error": response_json.clone().unwrap_or_else(|| Value::String(String::from_utf8_lossy(&rbytes).trim().to_string()))}))
    };
    let target = target_of(&path, &params, request_json.as_ref(), response_json.as_ref());
    let entry = AuditEntry {
        actor: principal.actor.clone(),
        addr,
        // `{action}` is part of what was done (ack, unack, resolve); ids stay in `target`.
        action: format!("{method} {}", path.replace("{action}", param(&params, "action").unwrap_or("{action}"))),
        target,
        before,
        after,
        status: status.as_u16(),
    };
    let a = auth.clone();
    let _ = tokio::task::spawn_blocking(move || {
        if let Err(e) = a.store.audit(entry) {
            tracing::error!(error = %e, "cannot write the audit log");
        }
    })
    .await;
    Response::from_parts(rparts, Body::from(rbytes))
}

/// `{name}` segments of `pattern` filled from `path`.
fn path_params(pattern: &str, path: &str) -> Vec<(String, String)> {
    pattern
        .split('/')
        .zip(path.split('/'))
        .filter_map(|(p, v)| p.strip_prefix('{').and_then(|p| p.strip_suffix('}')).map(|n| (n.to_string(), percent_decode(v))))
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = ((b[i + 1] as char).to_digit(16), (b[i + 2] as char).to_digit(16))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// Passwords never reach the audit log.
fn redact(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        for k in ["password", "new_password"] {
            if o.contains_key(k) {
                o.insert(k.into(), Value::String("<redacted>".into()));
            }
        }
    }
    v
}

fn target_of(path: &str, params: &[(String, String)], req: Option<&Value>, resp: Option<&Value>) -> String {
    let s = |v: Option<&Value>, k: &str| v.and_then(|v| v.get(k)).and_then(Value::as_str).map(str::to_string);
    match path {
        "/api/v2/silences" => s(resp, "silenceID").or_else(|| s(req, "id")).unwrap_or_default(),
        "/api/v2/silence/{id}" => param(params, "id").unwrap_or_default().to_string(),
        "/api/v1/alerts/{fp}/{action}" => param(params, "fp").unwrap_or_default().to_string(),
        "/api/v1/users" => s(req, "name").unwrap_or_default(),
        "/api/v1/users/{name}" => param(params, "name").unwrap_or_default().to_string(),
        "/api/v1/tokens" => s(resp, "id").unwrap_or_default(),
        "/api/v1/tokens/{id}" => param(params, "id").unwrap_or_default().to_string(),
        _ => String::new(),
    }
}

/// The state of the object a mutation acts on, where it can be looked up.
fn snapshot(state: &AppState, path: &str, params: &[(String, String)], req: Option<&Value>, resp: Option<&Value>) -> Option<Value> {
    let silence = |id: &str| state.alerting.core().silence(id).and_then(|s| serde_json::to_value(s).ok());
    match path {
        "/api/v2/silences" => {
            let id = resp.and_then(|v| v.get("silenceID")).or_else(|| req.and_then(|v| v.get("id"))).and_then(Value::as_str)?;
            silence(id)
        }
        "/api/v2/silence/{id}" => silence(param(params, "id")?),
        "/api/v1/alerts/{fp}/{action}" => {
            let fp = param(params, "fp")?;
            let now = state.alerting.now();
            let statuses = state.alerting.core().alert_statuses(now);
            statuses.into_iter().find(|s| s.alert.fingerprint == fp).map(|s| {
                json!({
                    "fingerprint": fp,
                    "labels": s.alert.labels,
                    "ends_at": s.alert.ends_at,
                    "acknowledged_by": s.ack.as_ref().map(|a| a.by.clone()),
                    "ack_comment": s.ack.as_ref().map(|a| a.comment.clone()),
                })
            })
        }
        "/api/v1/users/{name}" => state.auth.store.user(param(params, "name")?).ok().flatten().map(|u| user_json(&u)),
        "/api/v1/users" => {
            let name = req.and_then(|v| v.get("name")).and_then(Value::as_str)?;
            state.auth.store.user(name).ok().flatten().map(|u| user_json(&u))
        }
        "/api/v1/tokens/{id}" => state.auth.store.token(param(params, "id")?).ok().flatten().map(|t| token_json(&t)),
        "/api/v1/tokens" => {
            let id = resp.and_then(|v| v.get("id")).and_then(Value::as_str)?;
            state.auth.store.token(id).ok().flatten().map(|t| token_json(&t))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_are_decoded_from_the_path() {
        assert_eq!(
            path_params("/api/v1/alerts/{fp}/{action}", "/api/v1/alerts/ab%2Fc/ack"),
            vec![("fp".to_string(), "ab/c".to_string()), ("action".to_string(), "ack".to_string())]
        );
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }

    #[test]
    fn cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("a=1; lookout_session=abc; b=2"));
        assert_eq!(session_cookie(&h).as_deref(), Some("abc"));
        assert_eq!(redact(json!({"name": "x", "password": "p"}))["password"], "<redacted>");
    }
}

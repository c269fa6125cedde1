//! Sign-in and administration routes: `/api/v1/auth/*`, `/api/v1/users`, `/api/v1/tokens`,
//! `/api/v1/audit`. Their access is declared in [`super::ROUTES`] like every other route.

use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::middleware::{refuse, session_cookie};
use super::store::{AuditEntry, AuthError, token_json, user_json};
use super::{Principal, ROUTES, Role};
use crate::http::AppState;

/// The routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/auth/login", post(login))
        .route("/api/v1/auth/logout", post(logout))
        .route("/api/v1/auth/me", get(me))
        .route("/api/v1/auth/routes", get(|| async { Json(json!({"status": "success", "data": ROUTES})) }))
        .route("/api/v1/users", get(list_users).post(add_user))
        .route("/api/v1/users/{name}", put(update_user).delete(remove_user))
        .route("/api/v1/tokens", get(list_tokens).post(create_token))
        .route("/api/v1/tokens/{id}", delete(revoke_token))
        .route("/api/v1/audit", get(audit))
}

fn err(e: AuthError) -> Response {
    let status = match e {
        AuthError::Db(_) => StatusCode::INTERNAL_SERVER_ERROR,
        AuthError::Invalid(_) => StatusCode::BAD_REQUEST,
        AuthError::NotFound(_) => StatusCode::NOT_FOUND,
        AuthError::Conflict(_) => StatusCode::CONFLICT,
    };
    refuse(status, e.to_string())
}

#[allow(clippy::result_large_err)] // Response is the error of every handler here
fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Response> {
    serde_json::from_slice(body).map_err(|e| refuse(StatusCode::BAD_REQUEST, format!("invalid JSON body: {e}")))
}

#[allow(clippy::result_large_err)]
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, Response> {
    tokio::task::spawn_blocking(f).await.map_err(|e| refuse(StatusCode::INTERNAL_SERVER_ERROR, format!("task failed: {e}")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    username: String,
    password: String,
}

fn cookie(state: &AppState, value: &str, max_age: i64) -> HeaderValue {
    let secure = if state.auth.secure_cookies { "; Secure" } else { "" };
    let c = format!("{}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}", super::middleware::SESSION_COOKIE);
    HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static(""))
}

async fn login(State(state): State<AppState>, ConnectInfo(peer): ConnectInfo<SocketAddr>, body: axum::body::Bytes) -> Response {
    let b: LoginBody = match parse_json(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let addr = peer.ip().to_string();
    let auth = state.auth.clone();
    if let Err(wait) = auth.logins.check(&b.username, &addr, Instant::now()) {
        let secs = wait.as_secs().max(1);
        let a = auth.clone();
        let (user, ad) = (b.username.clone(), addr.clone());
        let _ = blocking(move || {
            a.store.audit(AuditEntry {
                actor: format!("user:{user}"),
                addr: ad,
                action: "login.throttled".into(),
                status: 429,
                ..Default::default()
            })
        })
        .await;
        let mut r = refuse(StatusCode::TOO_MANY_REQUESTS, format!("too many failed sign-ins; retry after {secs}s"));
        r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        return r;
    }
    let a = auth.clone();
    let (user, pw, ad) = (b.username.clone(), b.password, addr.clone());
    let ttl_ms = (auth.config.session_ttl_secs as i64) * 1000;
    let result = blocking(move || -> Result<Option<(super::store::User, String, String)>, AuthError> {
        match a.store.check_login(&user, &pw)? {
            Some(u) => {
                let (sid, csrf) = a.store.create_session(&u.name, ttl_ms, &ad)?;
                a.store.audit(AuditEntry {
                    actor: format!("user:{user}"),
                    addr: ad,
                    action: "login".into(),
                    status: 200,
                    ..Default::default()
                })?;
                Ok(Some((u, sid, csrf)))
            }
            None => {
                a.store.audit(AuditEntry {
                    actor: format!("user:{user}"),
                    addr: ad,
                    action: "login.failed".into(),
                    status: 401,
                    ..Default::default()
                })?;
                Ok(None)
            }
        }
    })
    .await;
    match result {
        Err(r) => r,
        Ok(Err(e)) => err(e),
        Ok(Ok(None)) => {
            auth.logins.failed(&b.username, &addr, Instant::now());
            auth.telemetry.refused("login");
            refuse(StatusCode::UNAUTHORIZED, "invalid user name or password")
        }
        Ok(Ok(Some((u, sid, csrf)))) => {
            auth.logins.succeeded(&b.username);
            let mut r = Json(json!({"status": "success", "user": u.name, "role": u.role, "csrf_token": csrf})).into_response();
            r.headers_mut().insert(header::SET_COOKIE, cookie(&state, &sid, auth.config.session_ttl_secs as i64));
            r
        }
    }
}

async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(sid) = session_cookie(&headers) {
        let a = state.auth.clone();
        let _ = blocking(move || a.store.end_session(&sid)).await;
    }
    let mut r = Json(json!({"status": "success"})).into_response();
    r.headers_mut().insert(header::SET_COOKIE, cookie(&state, "", 0));
    r
}

async fn me(State(state): State<AppState>, Extension(p): Extension<Principal>, headers: HeaderMap) -> Response {
    let csrf = match session_cookie(&headers) {
        Some(sid) if state.auth.config.enabled => {
            let a = state.auth.clone();
            blocking(move || a.store.check_session(&sid)).await.ok().and_then(Result::ok).flatten().map(|(_, c)| c)
        }
        _ => None,
    };
    Json(json!({
        "status": "success",
        "auth_enabled": state.auth.config.enabled,
        "actor": p.actor,
        "user": p.user,
        "role": p.role,
        "csrf_token": csrf,
    }))
    .into_response()
}

async fn list_users(State(state): State<AppState>) -> Response {
    let a = state.auth.clone();
    match blocking(move || a.store.users()).await {
        Ok(Ok(u)) => Json(json!({"status": "success", "data": u})).into_response(),
        Ok(Err(e)) => err(e),
        Err(r) => r,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUser {
    name: String,
    role: String,
    password: String,
}

async fn add_user(State(state): State<AppState>, body: axum::body::Bytes) -> Response {
    let b: NewUser = match parse_json(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let role: Role = match b.role.parse() {
        Ok(r) => r,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, e),
    };
    let a = state.auth.clone();
    match blocking(move || a.store.add_user(&b.name, role, &b.password)).await {
        Ok(Ok(u)) => (StatusCode::CREATED, Json(json!({"status": "success", "data": user_json(&u)}))).into_response(),
        Ok(Err(e)) => err(e),
        Err(r) => r,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateUser {
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

async fn update_user(State(state): State<AppState>, Path(name): Path<String>, body: axum::body::Bytes) -> Response {
    let b: UpdateUser = match parse_json(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let role: Option<Role> = match b.role.as_deref().map(str::parse).transpose() {
        Ok(r) => r,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, e),
    };
    if role.is_none() && b.password.is_none() {
        return refuse(StatusCode::BAD_REQUEST, "nothing to change: send role and/or password");
    }
    let a = state.auth.clone();
    let r = blocking(move || -> Result<super::store::User, AuthError> {
        if a.store.user(&name)?.is_none() {
            return Err(AuthError::NotFound(format!("no user {name:?}")));
        }
        if let Some(pw) = &b.password {
            a.store.set_password(&name, pw)?;
        }
        if let Some(role) = role {
            a.store.set_role(&name, role)?;
        }
        a.store.user(&name)?.ok_or_else(|| AuthError::NotFound(format!("no user {name:?}")))
    })
    .await;
    match r {
        Ok(Ok(u)) => Json(json!({"status": "success", "data": user_json(&u)})).into_response(),
        Ok(Err(e)) => err(e),
        Err(r) => r,
    }
}

async fn remove_user(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    let a = state.auth.clone();
    match blocking(move || a.store.remove_user(&name)).await {
        Ok(Ok(())) => Json(json!({"status": "success"})).into_response(),
        Ok(Err(e)) => err(e),
        Err(r) => r,
    }
}

async fn list_tokens(State(state): State<AppState>) -> Response {
    let a = state.auth.clone();
    match blocking(move || a.store.tokens()).await {
        Ok(Ok(t)) => Json(json!({"status": "success", "data": t})).into_response(),
        Ok(Err(e)) => err(e),
        Err(r) => r,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewToken {
    name: String,
    role: String,
    #[serde(default)]
    expires_in_secs: Option<u64>,
}

async fn create_token(State(state): State<AppState>, Extension(p): Extension<Principal>, body: axum::body::Bytes) -> Response {
    let b: NewToken = match parse_json(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let role: Role = match b.role.parse() {
        Ok(r) => r,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, e),
    };
    let expires = b.expires_in_secs.map(|s| now_ms().saturating_add((s.min(100 * 365 * 86_400) * 1000) as i64));
    let a = state.auth.clone();
    let by = p.actor.clone();
    match blocking(move || a.store.create_token(&b.name, role, expires, &by)).await {
        Ok(Ok((info, token))) => {
            let mut v = token_json(&info);
            v["token"] = Value::String(token);
            v["status"] = Value::String("success".into());
            (StatusCode::CREATED, Json(v)).into_response()
        }
        Ok(Err(e)) => err(e),
        Err(r) => r,
    }
}

async fn revoke_token(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let a = state.auth.clone();
    match blocking(move || a.store.revoke_token(&id)).await {
        Ok(Ok(t)) => Json(json!({"status": "success", "data": token_json(&t)})).into_response(),
        Ok(Err(e)) => err(e),
        Err(r) => r,
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

async fn audit(State(state): State<AppState>, RawQuery(q): RawQuery) -> Response {
    let pairs: Vec<(String, String)> = match serde_urlencoded::from_str(q.as_deref().unwrap_or("")) {
        Ok(p) => p,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, format!("invalid query string: {e}")),
    };
    let (mut limit, mut before, mut actor, mut action) = (100usize, None, None, None);
    for (k, v) in pairs {
        match k.as_str() {
            "limit" => match v.parse::<usize>() {
                Ok(n) if (1..=10_000).contains(&n) => limit = n,
                _ => return refuse(StatusCode::BAD_REQUEST, format!("limit: expected 1..10000, got {v:?}")),
            },
            "before_id" => match v.parse::<i64>() {
                Ok(n) => before = Some(n),
                Err(_) => return refuse(StatusCode::BAD_REQUEST, format!("before_id: expected an integer, got {v:?}")),
            },
            "actor" => actor = Some(v),
            "action" => action = Some(v),
            other => return refuse(StatusCode::BAD_REQUEST, format!("unknown parameter {other:?}: use limit, before_id, actor, action")),
        }
    }
    let a = state.auth.clone();
    match blocking(move || a.store.audit_rows(limit, before, actor.as_deref(), action.as_deref())).await {
        Ok(Ok(rows)) => Json(json!({"status": "success", "data": rows})).into_response(),
        Ok(Err(e)) => err(e),
        Err(r) => r,
    }
}

/// Audit row written by the CLI (`lookout user …`, `lookout token …`).
pub fn cli_entry(action: &str, target: &str, before: Option<Value>, after: Option<Value>) -> AuditEntry {
    let who = std::env::var("SUDO_USER").or_else(|_| std::env::var("USER")).unwrap_or_else(|_| "unknown".into());
    AuditEntry { actor: format!("cli:{who}"), addr: "local".into(), action: action.into(), target: target.into(), before, after, status: 0 }
}

//! Who may call what: roles, the route table, sign-in, rate limits and the audit log.
//!
//! Every route of the router is declared in [`ROUTES`] with the access it needs; the
//! middleware in [`middleware`] looks the matched route up and refuses what the caller's role
//! does not allow. A route missing from the table needs `admin` (fail closed) and is logged.
//!
//! Callers prove who they are with `Authorization: Bearer lkt_…` (API tokens, hashed in
//! `auth.db`) or with the session cookie of a UI sign-in (plus `X-CSRF-Token` on every
//! request that is not GET/HEAD). Roles: `ingest` (agents: ingest routes only), `viewer`
//! (reads), `editor` (viewer + silences, acknowledgements, rule reloads), `admin` (everything,
//! users, tokens, audit).

pub mod api;
pub mod limit;
pub mod middleware;
pub mod store;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::config::AuthConfig;
pub use store::AuthStore;

/// A caller's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// An agent or other shipper: ingest routes only.
    Ingest,
    /// Reads logs, metrics, alerts, dashboards.
    Viewer,
    /// Viewer, plus silences, acknowledgements and rule reloads.
    Editor,
    /// Everything, including users, tokens and the audit log.
    Admin,
}

impl Role {
    /// Its name in configs, the CLI and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Ingest => "ingest",
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Admin => "admin",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        match s {
            "ingest" => Ok(Role::Ingest),
            "viewer" => Ok(Role::Viewer),
            "editor" => Ok(Role::Editor),
            "admin" => Ok(Role::Admin),
            other => Err(format!("unknown role {other:?}: use ingest, viewer, editor or admin")),
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// Anyone (health checks, sign-in, the UI's static files).
    Public,
    /// `/metrics`: public when `[auth] metrics_public`, else viewer.
    Metrics,
    /// Any signed-in caller or token (who am I, sign out).
    Authenticated,
    /// Ingest tokens and admins.
    Ingest,
    /// Alerts posted by a Prometheus (ingest token) or by people (editor, admin).
    AlertSender,
    /// Viewer, editor, admin.
    Viewer,
    /// Editor, admin.
    Editor,
    /// Admin.
    Admin,
}

impl Access {
    /// Whether `role` may call a route needing this (`metrics_public` resolved by the caller).
    pub fn allows(self, role: Role) -> bool {
        match self {
            Access::Public | Access::Authenticated => true,
            Access::Ingest => matches!(role, Role::Ingest | Role::Admin),
            Access::AlertSender => matches!(role, Role::Ingest | Role::Editor | Role::Admin),
            Access::Metrics | Access::Viewer => matches!(role, Role::Viewer | Role::Editor | Role::Admin),
            Access::Editor => matches!(role, Role::Editor | Role::Admin),
            Access::Admin => role == Role::Admin,
        }
    }
}

/// One route's declaration.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct RouteAccess {
    /// HTTP method (HEAD is checked as GET).
    pub method: &'static str,
    /// axum path pattern, as registered.
    pub path: &'static str,
    /// What it needs.
    pub access: Access,
}

const fn r(method: &'static str, path: &'static str, access: Access) -> RouteAccess {
    RouteAccess { method, path, access }
}

/// Every route of the aggregator and the access it needs. The router in `http.rs` and the
/// merged routers must not register a route that is missing here (it would need admin).
pub const ROUTES: &[RouteAccess] = &[
    // health
    r("GET", "/health/live", Access::Public),
    r("GET", "/health/ready", Access::Public),
    r("GET", "/metrics", Access::Metrics),
    // sign-in
    r("POST", "/api/v1/auth/login", Access::Public),
    r("POST", "/api/v1/auth/logout", Access::Authenticated),
    r("GET", "/api/v1/auth/me", Access::Authenticated),
    // ingest
    r("POST", "/v1/logs", Access::Ingest),
    r("POST", "/api/v1/logs/ingest", Access::Ingest),
    r("POST", "/loki/api/v1/push", Access::Ingest),
    r("POST", "/api/v1/write", Access::Ingest),
    r("POST", "/v1/metrics", Access::Ingest),
    r("POST", "/api/v1/import/prometheus", Access::Ingest),
    // logs
    r("GET", "/api/v1/logs/search", Access::Viewer),
    r("GET", "/api/v1/logs/histogram", Access::Viewer),
    r("GET", "/api/v1/logs/fields", Access::Viewer),
    r("GET", "/api/v1/logs/line/{id}", Access::Viewer),
    r("GET", "/api/v1/logs/context", Access::Viewer),
    r("GET", "/api/v1/logs/tail", Access::Viewer),
    // agents, dashboards
    r("GET", "/api/v1/agents", Access::Viewer),
    r("GET", "/api/v1/dashboards", Access::Viewer),
    r("GET", "/api/v1/dashboards/{uid}", Access::Viewer),
    // PromQL API (POST forms are reads too)
    r("GET", "/api/v1/query", Access::Viewer),
    r("POST", "/api/v1/query", Access::Viewer),
    r("GET", "/api/v1/query_range", Access::Viewer),
    r("POST", "/api/v1/query_range", Access::Viewer),
    r("GET", "/api/v1/series", Access::Viewer),
    r("POST", "/api/v1/series", Access::Viewer),
    r("GET", "/api/v1/labels", Access::Viewer),
    r("POST", "/api/v1/labels", Access::Viewer),
    r("GET", "/api/v1/label/{name}/values", Access::Viewer),
    r("GET", "/api/v1/metadata", Access::Viewer),
    r("GET", "/api/v1/status/buildinfo", Access::Viewer),
    // rules
    r("GET", "/api/v1/rules", Access::Viewer),
    r("GET", "/api/v1/alerts", Access::Viewer),
    r("POST", "/-/reload", Access::Editor),
    r("PUT", "/-/reload", Access::Editor),
    // alerting (Alertmanager API v2 and Lookout's own)
    r("GET", "/api/v2/alerts", Access::Viewer),
    r("POST", "/api/v2/alerts", Access::AlertSender),
    r("GET", "/api/v2/alerts/groups", Access::Viewer),
    r("GET", "/api/v2/silences", Access::Viewer),
    r("POST", "/api/v2/silences", Access::Editor),
    r("GET", "/api/v2/silence/{id}", Access::Viewer),
    r("DELETE", "/api/v2/silence/{id}", Access::Editor),
    r("GET", "/api/v2/status", Access::Viewer),
    r("GET", "/api/v2/receivers", Access::Viewer),
    r("POST", "/api/v1/alerts/{fp}/{action}", Access::Editor),
    r("GET", "/api/v1/notifications", Access::Viewer),
    r("GET", "/api/v1/alerting/escalations", Access::Viewer),
    // administration
    r("GET", "/api/v1/users", Access::Admin),
    r("POST", "/api/v1/users", Access::Admin),
    r("PUT", "/api/v1/users/{name}", Access::Admin),
    r("DELETE", "/api/v1/users/{name}", Access::Admin),
    r("GET", "/api/v1/tokens", Access::Admin),
    r("POST", "/api/v1/tokens", Access::Admin),
    r("DELETE", "/api/v1/tokens/{id}", Access::Admin),
    r("GET", "/api/v1/audit", Access::Admin),
    r("GET", "/api/v1/auth/routes", Access::Admin),
];

/// The declared access of a matched route; `None` when it is not declared.
pub fn lookup(method: &str, path: &str) -> Option<Access> {
    let method = if method == "HEAD" { "GET" } else { method };
    ROUTES.iter().find(|r| r.method == method && r.path == path).map(|r| r.access)
}

/// Auth state shared by the middleware and the handlers.
pub struct Auth {
    /// `[auth]`.
    pub config: AuthConfig,
    /// Users, tokens, sessions, audit.
    pub store: AuthStore,
    /// Request rate per principal.
    pub limiter: limit::RateLimiter,
    /// Failed sign-ins per account and per address.
    pub logins: limit::LoginThrottle,
    /// Whether the listener speaks TLS (session cookies get `Secure`).
    pub secure_cookies: bool,
    /// Refused requests by reason.
    pub telemetry: AuthTelemetry,
}

/// Counters of the auth layer.
#[derive(Clone, Default)]
pub struct AuthTelemetry {
    /// Refusals: `lookout_auth_refused_total{reason}`.
    pub refused: prometheus_client::metrics::family::Family<Vec<(String, String)>, prometheus_client::metrics::counter::Counter>,
}

impl AuthTelemetry {
    fn refused(&self, reason: &str) {
        self.refused.get_or_create(&vec![("reason".to_string(), reason.to_string())]).inc();
    }

    /// Exposition text.
    pub fn encode(&self) -> String {
        let mut reg = prometheus_client::registry::Registry::default();
        reg.register("lookout_auth_refused", "Requests refused by the auth layer, by reason", self.refused.clone());
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode_registry(&mut out, &reg);
        out
    }
}

impl Auth {
    /// Opens `auth.db` under the data directory.
    pub fn open(config: AuthConfig, data_dir: &std::path::Path, secure_cookies: bool) -> Result<Arc<Auth>, store::AuthError> {
        let store = AuthStore::open(data_dir)?;
        Ok(Arc::new(Auth {
            limiter: limit::RateLimiter::new(config.rate_limit_per_minute, config.ingest_rate_limit_per_minute),
            logins: limit::LoginThrottle::new(
                config.login_failures_per_account,
                config.login_failures_per_address,
                config.login_window_secs,
            ),
            config,
            store,
            secure_cookies,
            telemetry: AuthTelemetry::default(),
        }))
    }
}

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// `user:alice`, `token:<name>`, `anonymous` (auth disabled).
    pub actor: String,
    /// Role.
    pub role: Role,
    /// Rate-limit key (`u:alice`, `t:<id>`), `None` when not limited.
    pub limit_key: Option<String>,
    /// A user's name (for acknowledgements: "acknowledged by").
    pub user: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_declared_route_is_unique_and_head_is_get() {
        let mut seen = std::collections::HashSet::new();
        for r in ROUTES {
            assert!(seen.insert((r.method, r.path)), "declared twice: {} {}", r.method, r.path);
        }
        assert_eq!(lookup("HEAD", "/api/v1/logs/search"), Some(Access::Viewer));
        assert_eq!(lookup("DELETE", "/api/v1/logs/search"), None);
    }

    /// Every `.route("…", …)` registered in the sources of the router is declared here, so no
    /// route silently falls back to the admin-only default.
    #[test]
    fn every_registered_route_is_declared() {
        let sources = [
            include_str!("../http.rs"),
            include_str!("../metrics_api.rs"),
            include_str!("../rules_api.rs"),
            include_str!("api.rs"),
            include_str!("../../../alerting/src/api.rs"),
        ];
        let mut found = 0;
        for src in sources {
            for piece in src.split(".route(\"").skip(1) {
                let path = &piece[..piece.find('"').unwrap()];
                let rest = &piece[..piece.find(")\n").unwrap_or(piece.len())];
                for (method, call) in [("GET", "get("), ("POST", "post("), ("PUT", "put("), ("DELETE", "delete(")] {
                    if rest.contains(call) {
                        assert!(lookup(method, path).is_some(), "{method} {path} is routed but not declared in ROUTES");
                        found += 1;
                    }
                }
            }
        }
        assert!(found >= ROUTES.len() - 1, "found {found} routed methods, {} declared", ROUTES.len());
    }

    #[test]
    fn roles_are_ordered_except_ingest() {
        use Role::*;
        for (access, allowed) in [
            (Access::Ingest, vec![Ingest, Admin]),
            (Access::AlertSender, vec![Ingest, Editor, Admin]),
            (Access::Viewer, vec![Viewer, Editor, Admin]),
            (Access::Editor, vec![Editor, Admin]),
            (Access::Admin, vec![Admin]),
        ] {
            for role in [Ingest, Viewer, Editor, Admin] {
                assert_eq!(access.allows(role), allowed.contains(&role), "{access:?} {role:?}");
            }
        }
    }
}

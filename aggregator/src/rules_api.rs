//! Rule evaluation wired to the aggregator's stores, and its HTTP surface.
//!
//! The alerting crate's seams get their implementations here: [`QueryFn`] is an instant query
//! on the PromQL engine over the TSDB head, [`Appender`] writes through the TSDB's ingest path
//! (WAL, then head — so recorded series and `ALERTS` survive a restart and are queryable),
//! [`LogCountFn`] counts lines in the log store. Alerts go to the Alertmanagers of
//! `[rules] alertmanager_urls`, or nowhere (counted) when none is configured.
//!
//! Routes: `GET /api/v1/rules`, `GET /api/v1/alerts` in Prometheus's JSON shape, and
//! `POST /-/reload` (as does SIGHUP) to re-read the rule files; a reload with errors keeps the
//! running rules and answers 400 with every error.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use alerting::model::{AlertSink, LabelSet};
use alerting::rules::group::Deps;
use alerting::rules::notifier::{self, Alertmanager};
use alerting::rules::{Appender, LogCountFn, Manager, Options, QueryFn};
use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use crate::http::AppState;
use crate::logs::{LogStore, SearchRequest};
use crate::metrics_api::Metrics;
use crate::promql::Value;
use crate::tsdb::Labels;

/// The running rule manager and its delivery counters.
pub struct Rules {
    /// The manager.
    pub manager: Arc<Manager>,
    am_stats: Option<Arc<notifier::Stats>>,
    discarded: Arc<notifier::Discard>,
}

struct Promql(Arc<Metrics>);

impl QueryFn for Promql {
    fn query(&self, expr: &str, t_ms: i64) -> Result<Vec<(LabelSet, f64)>, String> {
        let m = &self.0;
        match m.engine.instant(&m.tsdb.reader(), expr, t_ms).map_err(|e| e.to_string())? {
            Value::Vector(v) => {
                Ok(v.into_iter().map(|s| (s.labels.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect(), s.v)).collect())
            }
            Value::Scalar(v) => Ok(vec![(LabelSet::new(), v)]),
            other => Err(format!("rule result must be an instant vector or a scalar, got {}", other.type_name())),
        }
    }

    fn last_samples(&self, metric: &str, name: &str, value: &str, start_ms: i64, end_ms: i64) -> Result<Vec<(LabelSet, i64, f64)>, String> {
        use promql_parser::label::{MatchOp, Matcher};
        let (m1, m2) = (Matcher::new(MatchOp::Equal, "__name__", metric), Matcher::new(MatchOp::Equal, name, value));
        let db = self.0.tsdb.reader();
        Ok(db
            .select(&[&m1, &m2], start_ms, end_ms)
            .into_iter()
            .filter_map(|s| {
                let (t, v) = *s.samples.last()?;
                Some((s.labels.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect(), t, v))
            })
            .collect())
    }
}

struct Tsdb(Arc<Metrics>, tokio::runtime::Handle);

impl Appender for Tsdb {
    fn append(&self, samples: Vec<(LabelSet, i64, f64)>) -> Result<(), String> {
        let mut by: HashMap<LabelSet, Vec<(i64, f64)>> = HashMap::new();
        for (l, t, v) in samples {
            by.entry(l).or_default().push((t, v));
        }
        let series: Vec<(Labels, Vec<(i64, f64)>)> = by.into_iter().map(|(l, s)| (Labels::new(l.into_iter().collect()), s)).collect();
        let st = self.1.block_on(self.0.tsdb.write(series)).map_err(|e| e.to_string())?;
        if st.too_old + st.duplicate > 0 {
            return Err(format!("{} samples refused as too old, {} as duplicates", st.too_old, st.duplicate));
        }
        Ok(())
    }
}

/// Lines read to find the groups of a grouped log rule; groups seen there are then counted
/// exactly, so only groups absent from the newest `GROUP_SAMPLE` matches can be missed.
const GROUP_SAMPLE: usize = 10_000;
/// Most groups a log rule produces.
const MAX_GROUPS: usize = 1_000;

struct LogCounts(Arc<LogStore>);

fn field_value(hit: &serde_json::Value, field: &str) -> String {
    let v = match field {
        "level" | "message" | "host" | "service" | "source" => hit.get(field),
        _ => hit.get("fields").and_then(|f| f.get(field).or_else(|| field.split('.').try_fold(f, |v, k| v.get(k)))),
    };
    match v {
        None | Some(serde_json::Value::Null) => String::new(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

impl LogCountFn for LogCounts {
    fn count(&self, query: &str, start_ms: i64, end_ms: i64, group_by: &[String]) -> Result<Vec<(Vec<String>, u64)>, String> {
        let (start, end) = (start_ms.saturating_mul(1_000_000), end_ms.saturating_mul(1_000_000));
        if end <= start {
            return Ok(Vec::new());
        }
        if group_by.is_empty() {
            let (_, total) = self.0.histogram(query, start, end, end - start).map_err(|e| e.to_string())?;
            return Ok(vec![(Vec::new(), total)]);
        }
        let req = SearchRequest { q: query.to_string(), start, end, limit: GROUP_SAMPLE, desc: true, cursor: None };
        let res = self.0.search(&req).map_err(|e| e.to_string())?;
        let mut groups: BTreeMap<Vec<String>, u64> = BTreeMap::new();
        for h in &res.hits {
            *groups.entry(group_by.iter().map(|f| field_value(h, f)).collect()).or_default() += 1;
        }
        if groups.len() > MAX_GROUPS {
            return Err(format!("more than {MAX_GROUPS} groups; group by fewer or coarser fields"));
        }
        if res.total > res.hits.len() {
            // The sample is partial: count each group it found exactly.
            for (key, n) in groups.iter_mut() {
                if key.iter().any(|v| v.is_empty() || v.contains('"') || v.contains('\\')) {
                    continue;
                }
                let clauses: Vec<String> = group_by.iter().zip(key).map(|(f, v)| format!("{f}:\"{v}\"")).collect();
                let q = if query.trim().is_empty() { clauses.join(" AND ") } else { format!("({query}) AND {}", clauses.join(" AND ")) };
                let (_, total) = self.0.histogram(&q, start, end, end - start).map_err(|e| e.to_string())?;
                *n = total.max(*n);
            }
        }
        Ok(groups.into_iter().collect())
    }
}

/// Hands every batch of alerts to each sink in turn.
struct Fanout(Vec<Arc<dyn AlertSink>>);

impl AlertSink for Fanout {
    fn send(&self, alerts: Vec<alerting::model::PostableAlert>) {
        for s in &self.0 {
            s.send(alerts.clone());
        }
    }
}

impl Rules {
    /// Builds the manager and loads `cfg.rule_files`; errors name file, line and reason.
    ///
    /// Alerts go to `local` (the in-process dispatcher), and also to every external Alertmanager
    /// in `[rules] alertmanager_urls`.
    pub fn start(
        cfg: &crate::config::Config,
        metrics: Arc<Metrics>,
        store: Arc<LogStore>,
        local: Arc<dyn AlertSink>,
    ) -> anyhow::Result<Arc<Rules>> {
        let r = &cfg.rules;
        let discarded = Arc::new(notifier::Discard::default());
        let (sink, am_stats): (Arc<dyn AlertSink>, _) = if r.alertmanager_urls.is_empty() {
            (local, None)
        } else {
            let am = Alertmanager::start(r.alertmanager_urls.clone(), Duration::from_secs(10)).map_err(anyhow::Error::msg)?;
            let stats = am.stats.clone();
            (Arc::new(Fanout(vec![local, Arc::new(am)])), Some(stats))
        };
        let deps = Deps {
            query: Arc::new(Promql(metrics.clone())),
            logs: Some(Arc::new(LogCounts(store))),
            appender: Arc::new(Tsdb(metrics, tokio::runtime::Handle::current())),
            sink,
            external_labels: r.external_labels.clone().into_iter().collect(),
            external_url: r.external_url.clone().unwrap_or_else(|| format!("http://{}", cfg.listen)),
            resend_delay: Duration::from_secs(60),
            for_outage_tolerance: Duration::from_secs(r.for_outage_tolerance_secs),
            for_grace_period: Duration::from_secs(r.for_grace_period_secs),
        };
        let manager = Manager::new(deps, Options { default_interval: Duration::from_secs(r.evaluation_interval_secs.max(1)) });
        let warnings = manager.load(&cfg.rule_files).map_err(|e| anyhow::anyhow!("invalid rule files:\n{e}"))?;
        for w in warnings {
            tracing::warn!("{}", w.0);
        }
        tracing::info!(rules = %manager.describe(), "rules loaded");
        Ok(Arc::new(Rules { manager, am_stats, discarded }))
    }

    /// Re-reads the rule files; on error the running rules stay.
    pub fn reload(&self) -> Result<(), String> {
        match self.manager.reload() {
            Ok(warnings) => {
                for w in warnings {
                    tracing::warn!("{}", w.0);
                }
                tracing::info!(rules = %self.manager.describe(), "rules reloaded");
                Ok(())
            }
            Err(e) => {
                tracing::error!(errors = %e, "rule reload failed; keeping the running rules");
                Err(e.to_string())
            }
        }
    }

    /// `/metrics` lines.
    pub fn encode_metrics(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP lookout_rules_group_rules Rules per group\n# TYPE lookout_rules_group_rules gauge\n");
        let stats = self.manager.group_stats();
        for (file, name, n, _, _) in &stats {
            out.push_str(&format!("lookout_rules_group_rules{{file={file:?},group={name:?}}} {n}\n"));
        }
        out.push_str("# HELP lookout_rules_group_last_duration_seconds Duration of the group's last evaluation\n# TYPE lookout_rules_group_last_duration_seconds gauge\n");
        for (file, name, _, d, _) in &stats {
            out.push_str(&format!("lookout_rules_group_last_duration_seconds{{file={file:?},group={name:?}}} {d}\n"));
        }
        out.push_str(
            "# HELP lookout_rules_group_failing_rules Rules whose last evaluation failed\n# TYPE lookout_rules_group_failing_rules gauge\n",
        );
        for (file, name, _, _, f) in &stats {
            out.push_str(&format!("lookout_rules_group_failing_rules{{file={file:?},group={name:?}}} {f}\n"));
        }
        let (sent, errors, dropped) = match &self.am_stats {
            Some(s) => (s.sent.load(Ordering::Relaxed), s.errors.load(Ordering::Relaxed), s.dropped.load(Ordering::Relaxed)),
            None => (0, 0, 0),
        };
        for (name, help, v) in [
            ("lookout_rules_notifications_sent_alerts_total", "Alerts delivered to Alertmanagers", sent),
            ("lookout_rules_notifications_errors_total", "Failed requests to Alertmanagers", errors),
            ("lookout_rules_notifications_dropped_alerts_total", "Alerts dropped because the send queue was full", dropped),
            (
                "lookout_rules_notifications_discarded_alerts_total",
                "Alerts produced while no Alertmanager is configured",
                self.discarded.received.load(Ordering::Relaxed),
            ),
        ] {
            let family = name.trim_end_matches("_total");
            out.push_str(&format!("# HELP {family} {help}\n# TYPE {family} counter\n{name} {v}\n"));
        }
        out
    }
}

/// The routes, merged into the main router.
pub fn routes() -> axum::Router<AppState> {
    axum::Router::new().route("/api/v1/rules", get(rules)).route("/api/v1/alerts", get(alerts)).route("/-/reload", post(reload).put(reload))
}

fn success(data: serde_json::Value) -> Response {
    Json(json!({"status": "success", "data": data})).into_response()
}

#[derive(serde::Deserialize)]
struct RulesParams {
    #[serde(rename = "type")]
    kind: Option<String>,
}

async fn rules(State(state): State<AppState>, Query(p): Query<RulesParams>) -> Response {
    match p.kind.as_deref() {
        None | Some("") | Some("alert") | Some("record") => {}
        Some(other) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"status": "error", "errorType": "bad_data", "error": format!("invalid parameter \"type\": {other:?}, must be alert or record")})),
            )
                .into_response();
        }
    }
    match &state.rules {
        Some(r) => success(r.manager.rules_json(p.kind.as_deref().filter(|k| !k.is_empty()))),
        None => success(json!({"groups": []})),
    }
}

async fn alerts(State(state): State<AppState>) -> Response {
    match &state.rules {
        Some(r) => success(r.manager.alerts_json()),
        None => success(json!({"alerts": []})),
    }
}

async fn reload(State(state): State<AppState>) -> Response {
    match tokio::task::spawn_blocking(move || reload_all(&state)).await {
        Ok(Ok(done)) => (StatusCode::OK, format!("{done}\n")).into_response(),
        Ok(Err(e)) => (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("reload task failed: {e}\n")).into_response(),
    }
}

/// What SIGHUP and `POST /-/reload` do: re-read the rule files and the alerting config. A part
/// that fails to load keeps running as it was; the error names file, line and reason.
pub fn reload_all(state: &AppState) -> Result<String, String> {
    let mut done = Vec::new();
    let mut errors = Vec::new();
    if let Some(r) = &state.rules {
        match r.reload() {
            Ok(()) => done.push("rules reloaded"),
            Err(e) => errors.push(format!("failed to reload rules:\n{e}")),
        }
    }
    if let Some(p) = &state.alerting_config {
        // Loaded as the running config was (`[security] allow_inline_secrets`).
        let options = state.alerting.core().config().options;
        match alerting::config::Config::load_with(p, options) {
            Ok(cfg) => {
                state.alerting.apply_config(cfg);
                tracing::info!(file = %p.display(), "alerting config reloaded");
                done.push("alerting config reloaded");
            }
            Err(e) => {
                tracing::error!(errors = %e, "alerting config reload failed; keeping the running config");
                errors.push(format!("failed to reload the alerting config:\n{e}"));
            }
        }
    }
    if errors.is_empty() {
        Ok(if done.is_empty() { "nothing to reload (no rule_files, no alerting_config)".into() } else { done.join(", ") })
    } else {
        Err(errors.join("\n"))
    }
}

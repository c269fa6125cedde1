//! Rule evaluation: recording rules, alerting rules with Prometheus's state machine, and
//! Lookout's log rules.
//!
//! The problem it solves: turn rule files into series and alerts on a schedule, exactly as
//! Prometheus would from the same files, without knowing where data lives. The key decision is
//! the narrow seams (Prometheus's `QueryFunc`/`NotifyFunc`): evaluation reaches the world only
//! through [`QueryFn`] (a PromQL instant query), [`LogCountFn`] (count log lines per group),
//! [`Appender`] (write recording results and `ALERTS`/`ALERTS_FOR_STATE` back) and
//! [`AlertSink`](crate::model::AlertSink) (hand alerts to dispatch). Tests drive a group with
//! an explicit timestamp and recording fakes; the aggregator plugs in its PromQL engine, TSDB
//! head and log store; [`notifier::Alertmanager`] sends to an external Alertmanager.
//!
//! - [`file`]: the rule-file format, loading from globs and `promtool`-style checking.
//! - [`template`]: Go-template subset for labels and annotations.
//! - [`group`]: one group's evaluation, the alert state machine.
//! - [`manager`]: scheduling, reload with state kept, the API's view.
//! - [`notifier`]: an `AlertSink` posting to Alertmanager's `/api/v2/alerts`.

pub mod file;
pub mod group;
pub mod manager;
pub mod notifier;
pub mod template;

use crate::model::LabelSet;

pub use file::{GroupSpec, RuleError, RuleErrors, RuleSpec};
pub use group::{AlertState, Group};
pub use manager::{Manager, Options};

/// The bit pattern Prometheus uses to mark a series stale; appended when a recorded series or an
/// `ALERTS` series disappears.
pub const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

/// A PromQL instant query at `t_ms`: the resulting vector as `(labels, value)`, a scalar as one
/// element with no labels. The error is shown as the rule's `lastError`.
pub trait QueryFn: Send + Sync {
    /// Evaluates `expr` at `t_ms`.
    fn query(&self, expr: &str, t_ms: i64) -> Result<Vec<(LabelSet, f64)>, String>;

    /// The last raw sample in `[start_ms, end_ms]` (a stale marker included) of each series
    /// named `metric` with the label `name = value`: `(labels incl. __name__, t_ms, value)`.
    /// Restoring `for` state after a restart reads `ALERTS_FOR_STATE` this way, over the outage
    /// tolerance. The default asks [`query`](Self::query) for the selector at `end_ms`, which
    /// sees only the lookback delta and skips stale markers; the aggregator reads its TSDB.
    fn last_samples(&self, metric: &str, name: &str, value: &str, start_ms: i64, end_ms: i64) -> Result<Vec<(LabelSet, i64, f64)>, String> {
        let _ = start_ms;
        let sel = format!("{metric}{{{name}={value:?}}}");
        Ok(self.query(&sel, end_ms)?.into_iter().map(|(l, v)| (l, end_ms, v)).collect())
    }
}

/// Counts log lines matching `query` with timestamps in `[start_ms, end_ms)`, per distinct
/// combination of the `group_by` fields' values (`""` where a line lacks the field). No
/// `group_by`: one entry with an empty key (count 0 included).
pub trait LogCountFn: Send + Sync {
    /// The counts.
    fn count(&self, query: &str, start_ms: i64, end_ms: i64, group_by: &[String]) -> Result<Vec<(Vec<String>, u64)>, String>;
}

/// Writes rule output back to the metrics store: `(labels incl. __name__, t_ms, value)`. Must
/// return only once the samples are visible to [`QueryFn`], so later rules in the group see them.
pub trait Appender: Send + Sync {
    /// Appends.
    fn append(&self, samples: Vec<(LabelSet, i64, f64)>) -> Result<(), String>;
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// RFC 3339 with nanoseconds trimmed, UTC (`2024-01-02T03:04:05.123Z`), as Prometheus prints times.
pub fn rfc3339(t_ms: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(t_ms) * 1_000_000) {
        Ok(t) => t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        Err(_) => "0001-01-01T00:00:00Z".into(),
    }
}

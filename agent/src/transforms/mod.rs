//! Transforms: components between sources and sinks that change, drop or enrich events.
//!
//! Vector-style: `[transforms.NAME] type = "...", inputs = [...]`; sinks and other transforms
//! take a transform's name as input. A transform runs as a task that receives [`EventBatch`]es,
//! rewrites their events in place and passes the batch on with its [`crate::delivery::Ack`] and
//! stream position unchanged. A batch left with no events is settled right there: its lines are
//! accounted for (counted as dropped with a reason), so a file checkpoint still moves past them.
//!
//! Metric samples travel in the same batches. Where it means something, transforms apply to
//! them with labels in place of fields: `add_fields` adds labels, `filter` and `route` test
//! labels (`__name__` is the metric name). `redact`, `sample` and `throttle` are about log
//! lines and pass samples through untouched.

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use wire::LogEvent;

use crate::delivery::EventBatch;
use crate::metric::MetricSample;
use crate::sources::send_to_all;
use crate::telemetry::ComponentMetrics;

pub mod add_fields;
pub mod filter;
pub mod redact;
pub mod route;
pub mod sample;
pub mod throttle;

/// `[transforms.NAME]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TransformConfig {
    /// Add static fields (environment, team, labels).
    AddFields(add_fields::Config),
    /// Keep or drop events by field conditions.
    Filter(filter::Config),
    /// Mask secrets and personal data in text fields.
    Redact(redact::Config),
    /// Send events to named outputs by condition (`NAME.OUTPUT`).
    Route(route::Config),
    /// Keep 1 event in N (warnings and errors always kept unless told).
    Sample(sample::Config),
    /// Limit events per second per key.
    Throttle(throttle::Config),
}

impl TransformConfig {
    /// Names of the components feeding this transform.
    pub fn inputs(&self) -> &[String] {
        match self {
            TransformConfig::AddFields(c) => &c.inputs,
            TransformConfig::Filter(c) => &c.inputs,
            TransformConfig::Redact(c) => &c.inputs,
            TransformConfig::Sample(c) => &c.inputs,
            TransformConfig::Throttle(c) => &c.inputs,
            TransformConfig::Route(c) => &c.inputs,
        }
    }

    /// Semantic checks: `(key relative to the transform, problem)`.
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut out = match self {
            TransformConfig::AddFields(c) => c.validate(),
            TransformConfig::Filter(c) => c.validate(),
            TransformConfig::Redact(c) => c.validate(),
            TransformConfig::Sample(c) => c.validate(),
            TransformConfig::Throttle(c) => c.validate(),
            TransformConfig::Route(c) => c.validate(),
        };
        if self.inputs().is_empty() {
            out.push(("inputs".into(), "at least one input is required".into()));
        }
        out
    }

    /// The component kind, for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            TransformConfig::AddFields(_) => "add_fields",
            TransformConfig::Filter(_) => "filter",
            TransformConfig::Redact(_) => "redact",
            TransformConfig::Sample(_) => "sample",
            TransformConfig::Throttle(_) => "throttle",
            TransformConfig::Route(_) => "route",
        }
    }

    /// The names other components use as input: `NAME`, or `NAME.OUTPUT` for each output of a
    /// route.
    pub fn output_names(&self, name: &str) -> Vec<String> {
        match self {
            TransformConfig::Route(c) => c.outputs().iter().map(|o| format!("{name}.{o}")).collect(),
            _ => vec![name.to_string()],
        }
    }

    /// Builds the event function (config already validated). `None` for `route`, which has
    /// several outputs and runs as [`route::run`].
    pub fn build(&self) -> Option<Box<dyn Transform>> {
        Some(match self {
            TransformConfig::Route(_) => return None,
            TransformConfig::AddFields(c) => Box::new(c.build()),
            TransformConfig::Filter(c) => Box::new(c.build()),
            TransformConfig::Redact(c) => Box::new(c.build()),
            TransformConfig::Sample(c) => Box::new(c.build()),
            TransformConfig::Throttle(c) => Box::new(c.build()),
        })
    }
}

/// A running transform: rewrites `events` in place (removing the ones it drops) and counts.
pub trait Transform: Send {
    /// Applies the transform to one batch's events.
    fn apply(&mut self, events: &mut Vec<LogEvent>, metrics: &ComponentMetrics);

    /// Applies the transform to one batch's metric samples (default: unchanged).
    fn apply_metrics(&mut self, _samples: &mut Vec<MetricSample>, _metrics: &ComponentMetrics) {}
}

/// What a running transform is given.
pub struct TransformContext {
    /// Its configured name.
    pub name: String,
    /// Its counters.
    pub metrics: ComponentMetrics,
    /// Batches from its inputs; closed when every input has stopped.
    pub input: mpsc::Receiver<EventBatch>,
    /// One sender per component that takes this transform as input.
    pub outputs: Vec<mpsc::Sender<EventBatch>>,
}

/// Runs a transform until its inputs close.
pub async fn run(mut t: Box<dyn Transform>, mut cx: TransformContext) {
    while let Some(mut batch) = cx.input.recv().await {
        cx.metrics.events_in.inc_by(batch.len() as u64);
        if batch.log_count() > 0 {
            t.apply(batch.events_mut(), &cx.metrics);
        }
        if !batch.metrics.is_empty() {
            t.apply_metrics(&mut batch.metrics, &cx.metrics);
        }
        if batch.is_empty() {
            // Every event was dropped on purpose and counted: the lines are done with.
            batch.ack.settle();
            continue;
        }
        let n = batch.len() as u64;
        if !send_to_all(&cx.outputs, batch).await {
            break;
        }
        cx.metrics.events_out.inc_by(n);
    }
    tracing::debug!(transform = %cx.name, "transform stopped");
}

/// The value at a field path: `message`, `level`, `host`, `service`, `source`, or a dotted path
/// into the event's JSON fields (`http.status`). Numbers and booleans are given as text.
pub fn field_text(e: &LogEvent, path: &str) -> Option<String> {
    match path {
        "message" => return Some(e.message.clone()),
        "level" => return Some(e.level.clone()),
        "host" => return Some(e.host.clone()),
        "service" => return Some(e.service.clone()),
        "source" => return Some(e.source.clone()),
        _ => {}
    }
    let mut parts = path.split('.');
    let mut v = e.fields.get(parts.next()?)?;
    for p in parts {
        v = v.get(p)?;
    }
    Some(match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => return None,
        other => other.to_string(),
    })
}

#[cfg(test)]
pub(crate) fn event(line: &str) -> LogEvent {
    LogEvent::from_line(line, 0, "/var/log/app.log", "h", &wire::ParseOptions::default())
}

//! Sinks: where events leave the agent.
//!
//! A sink owns the receiving end of a bounded channel fed by its inputs, behind its buffer
//! ([`crate::buffer`]). It settles each batch's [`crate::delivery::Ack`] only once the batch is
//! delivered (or deliberately dropped and counted), which is what lets file checkpoints move.

use std::collections::BTreeMap;
use std::path::PathBuf;
use tokio::sync::mpsc;

use crate::buffer::BufferConfig;
use crate::delivery::EventBatch;
use crate::telemetry::ComponentMetrics;

pub mod client;
pub mod console;
pub(crate) mod http;
pub mod lookout;
pub mod otlp;
pub mod prometheus_remote_write;

/// `[sinks.NAME]`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SinkConfig {
    /// Lookout's aggregator: logs over OTLP/HTTP, metrics over remote_write, exactly-once ids.
    Lookout(lookout::Config),
    /// Any OTLP/HTTP logs receiver.
    Otlp(otlp::Config),
    /// Any Prometheus remote_write receiver.
    PrometheusRemoteWrite(prometheus_remote_write::Config),
    /// JSON lines on standard output, for debugging.
    Console(console::Config),
}

impl SinkConfig {
    /// Names of the sources feeding this sink.
    pub fn inputs(&self) -> &[String] {
        match self {
            SinkConfig::Lookout(c) => &c.inputs,
            SinkConfig::Otlp(c) => &c.inputs,
            SinkConfig::PrometheusRemoteWrite(c) => &c.inputs,
            SinkConfig::Console(c) => &c.inputs,
        }
    }

    /// Semantic checks: `(key relative to the sink, problem)`.
    pub fn validate(&self) -> Vec<(String, String)> {
        match self {
            SinkConfig::Lookout(c) => c.validate(),
            SinkConfig::Otlp(c) => c.validate(),
            SinkConfig::PrometheusRemoteWrite(c) => c.validate(),
            SinkConfig::Console(c) => c.validate(),
        }
    }

    /// The component kind, for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            SinkConfig::Lookout(_) => "lookout",
            SinkConfig::Otlp(_) => "otlp",
            SinkConfig::PrometheusRemoteWrite(_) => "prometheus_remote_write",
            SinkConfig::Console(_) => "console",
        }
    }

    /// Whether the sink ships `(log events, metric samples)`.
    pub fn accepts(&self) -> (bool, bool) {
        match self {
            SinkConfig::Lookout(_) | SinkConfig::Console(_) => (true, true),
            SinkConfig::Otlp(_) => (true, false),
            SinkConfig::PrometheusRemoteWrite(_) => (false, true),
        }
    }

    /// Its buffer.
    pub fn buffer(&self) -> BufferConfig {
        match self {
            SinkConfig::Lookout(c) => c.buffer.clone(),
            SinkConfig::Otlp(c) => c.buffer.clone(),
            SinkConfig::PrometheusRemoteWrite(c) => c.buffer.clone(),
            SinkConfig::Console(_) => BufferConfig::default(),
        }
    }

    /// Runs the sink until its input closes.
    pub async fn run(self, cx: SinkContext) {
        match self {
            SinkConfig::Lookout(c) => c.run(cx).await,
            SinkConfig::Otlp(c) => c.run(cx).await,
            SinkConfig::PrometheusRemoteWrite(c) => c.run(cx).await,
            SinkConfig::Console(c) => c.run(cx).await,
        }
    }
}

/// Header names and values must be valid HTTP.
pub(crate) fn validate_headers(headers: &BTreeMap<String, String>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (k, v) in headers {
        if reqwest::header::HeaderName::from_bytes(k.as_bytes()).is_err() || reqwest::header::HeaderValue::from_str(v).is_err() {
            out.push((format!("headers.{k}"), format!("{k:?}: {v:?} is not a valid HTTP header")));
        }
    }
    out
}

/// What a running sink is given.
pub struct SinkContext {
    /// The sink's configured name (also its stream in `Lookout-Batch`).
    pub name: String,
    /// The agent's stable id.
    pub agent_id: String,
    /// The agent's data directory.
    pub data_dir: PathBuf,
    /// Its counters.
    pub metrics: ComponentMetrics,
    /// Batches from its inputs (through its buffer); closed when every input has stopped.
    pub input: mpsc::Receiver<EventBatch>,
}

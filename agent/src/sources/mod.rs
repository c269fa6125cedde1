//! Sources: where events enter the agent.
//!
//! Each source is a config struct (its doc comments are the user's reference) with
//! `build(cx)` returning a future that runs until shutdown. Sources send [`EventBatch`]es into
//! bounded channels, so a slow sink slows the source instead of growing memory.

use std::path::PathBuf;
use tokio::sync::{mpsc, watch};

use crate::delivery::EventBatch;
use crate::telemetry::ComponentMetrics;

pub mod file;
pub mod host_metrics;
pub mod internal_metrics;
pub mod prometheus_scrape;

/// `[sources.NAME]`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SourceConfig {
    /// Tail files matching globs (log events).
    File(file::Config),
    /// Scrape Prometheus exposition endpoints (metric samples).
    PrometheusScrape(prometheus_scrape::Config),
    /// CPU, memory, load, disks, file systems, network of this host (metric samples).
    HostMetrics(host_metrics::Config),
    /// The agent's own counters (metric samples).
    InternalMetrics(internal_metrics::Config),
}

impl SourceConfig {
    /// Semantic checks: `(key relative to the source, problem)`.
    pub fn validate(&self) -> Vec<(String, String)> {
        match self {
            SourceConfig::File(c) => c.validate(),
            SourceConfig::PrometheusScrape(c) => c.validate(),
            SourceConfig::HostMetrics(c) => c.validate(),
            SourceConfig::InternalMetrics(c) => c.validate(),
        }
    }

    /// The component kind, for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            SourceConfig::File(_) => "file",
            SourceConfig::PrometheusScrape(_) => "prometheus_scrape",
            SourceConfig::HostMetrics(_) => "host_metrics",
            SourceConfig::InternalMetrics(_) => "internal_metrics",
        }
    }

    /// Whether the source emits metric samples (otherwise log events).
    pub fn emits_metrics(&self) -> bool {
        !matches!(self, SourceConfig::File(_))
    }

    /// Runs the source until shutdown.
    pub async fn run(self, cx: SourceContext) {
        match self {
            SourceConfig::File(c) => c.run(cx).await,
            SourceConfig::PrometheusScrape(c) => c.run(cx).await,
            SourceConfig::HostMetrics(c) => c.run(cx).await,
            SourceConfig::InternalMetrics(c) => c.run(cx).await,
        }
    }
}

/// What a running source is given.
pub struct SourceContext {
    /// The source's configured name.
    pub name: String,
    /// Host name stamped on events.
    pub host: String,
    /// The agent's data directory (checkpoints live below it).
    pub data_dir: PathBuf,
    /// Its counters.
    pub metrics: ComponentMetrics,
    /// The agent's registry (read by `internal_metrics`).
    pub telemetry: crate::telemetry::Telemetry,
    /// One sender per sink that takes this source as input.
    pub outputs: Vec<mpsc::Sender<EventBatch>>,
    /// Becomes true when the agent shuts down.
    pub shutdown: watch::Receiver<bool>,
    /// How long to wait, on shutdown, for sinks to acknowledge what was sent.
    pub drain_timeout: std::time::Duration,
}

/// Sends a batch to every output, cloning for all but the last. Returns false if every
/// output is closed.
pub async fn send_to_all(outputs: &[mpsc::Sender<EventBatch>], batch: EventBatch) -> bool {
    let mut open = false;
    let n = outputs.len();
    let mut batch = Some(batch);
    for (i, out) in outputs.iter().enumerate() {
        let b = if i + 1 == n {
            batch.take().expect("last output takes the batch")
        } else {
            batch.as_ref().expect("batch kept for later outputs").fork()
        };
        if out.send(b).await.is_ok() {
            open = true;
        }
    }
    if let Some(b) = batch {
        // No outputs at all: nothing will deliver it.
        b.ack.settle();
    }
    open
}

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

/// `[sources.NAME]`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SourceConfig {
    /// Tail files matching globs.
    File(file::Config),
}

impl SourceConfig {
    /// Semantic checks: `(key relative to the source, problem)`.
    pub fn validate(&self) -> Vec<(String, String)> {
        match self {
            SourceConfig::File(c) => c.validate(),
        }
    }

    /// The component kind, for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            SourceConfig::File(_) => "file",
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

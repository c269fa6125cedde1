//! Sinks: where events leave the agent.
//!
//! A sink owns the receiving end of a bounded channel fed by its inputs. It settles each
//! batch's [`crate::delivery::Ack`] only once the batch is delivered (or deliberately dropped
//! and counted), which is what lets file checkpoints move.

use std::path::PathBuf;
use tokio::sync::mpsc;

use crate::delivery::EventBatch;
use crate::telemetry::ComponentMetrics;

pub mod console;
pub mod lookout;

/// `[sinks.NAME]`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SinkConfig {
    /// Lookout's aggregator over OTLP/HTTP with exactly-once batch ids.
    Lookout(lookout::Config),
    /// JSON lines on standard output, for debugging.
    Console(console::Config),
}

impl SinkConfig {
    /// Names of the sources feeding this sink.
    pub fn inputs(&self) -> &[String] {
        match self {
            SinkConfig::Lookout(c) => &c.inputs,
            SinkConfig::Console(c) => &c.inputs,
        }
    }

    /// Semantic checks: `(key relative to the sink, problem)`.
    pub fn validate(&self) -> Vec<(String, String)> {
        match self {
            SinkConfig::Lookout(c) => c.validate(),
            SinkConfig::Console(c) => c.validate(),
        }
    }

    /// The component kind, for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            SinkConfig::Lookout(_) => "lookout",
            SinkConfig::Console(_) => "console",
        }
    }
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
    /// Batches from its inputs; closed when every input has stopped.
    pub input: mpsc::Receiver<EventBatch>,
}

//! Lookout's data model and the wire formats shared by the agent and the aggregator.
//!
//! The agent and the aggregator speak standard protocols (OTLP/HTTP for logs) so that each can
//! talk to other peers; this crate holds the one mapping between Lookout's [`LogEvent`] and those
//! protocols, so both sides agree by construction. It also holds the JSON-line parser used by the
//! agent's file source and the aggregator's NDJSON ingest, and the `Lookout-Batch` header that
//! makes agent → aggregator delivery exactly-once.
#![warn(missing_docs)]

pub mod batch;
pub mod encoding;
pub mod event;
pub mod fastline;
pub mod otlp;
pub mod remote_write;

pub use batch::BatchId;
pub use event::{LogEvent, ParseOptions};

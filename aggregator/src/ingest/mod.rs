//! The ingest path, written as one function per protocol over one pipeline:
//! **decode** (protocol → events; reject the whole request on any error) → **admit**
//! (backpressure) → **WAL** (durable, deduplicated by `Lookout-Batch`) → **index** (the WAL
//! hands committed records to the log indexer). A request is answered with success only after
//! its batch is fsynced, and nothing of a rejected request is stored.

pub mod loki;
pub mod ndjson;
pub mod otlp;
pub mod otlp_metrics;
pub mod prom_text;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use wire::{BatchId, LogEvent};

use crate::logs::{LogStore, MAX_EVENTS_PER_RECORD};
use crate::telemetry::Telemetry;
use crate::wal::{Appended, Wal, WalError};

/// Why a request was refused; `http` maps each to a status code.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The body cannot be decoded (400).
    #[error("{0}")]
    Malformed(String),
    /// The body or its decoded form is too large (413).
    #[error("{0}")]
    TooLarge(String),
    /// Indexing is behind; retry later (429 with Retry-After).
    #[error("indexing is behind ({pending} events waiting); retry later")]
    Backpressure {
        /// Events waiting to be indexed.
        pending: u64,
    },
    /// The WAL cannot take writes (503).
    #[error("{0}")]
    Unavailable(#[from] WalError),
}

/// What the client is told on success.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Accepted {
    /// Events in the request.
    pub accepted: usize,
    /// True when the batch had already been stored and was not stored again.
    pub duplicate: bool,
}

/// The ingest pipeline.
pub struct Ingest {
    wal: Wal,
    store: Arc<LogStore>,
    telemetry: Telemetry,
    max_pending: u64,
    /// Largest accepted body, in bytes, before and after decompression.
    pub max_body_bytes: usize,
}

impl Ingest {
    /// Creates the pipeline over a WAL and a store.
    pub fn new(wal: Wal, store: Arc<LogStore>, telemetry: Telemetry, max_pending: u64, max_body_bytes: usize) -> Ingest {
        Ingest { wal, store, telemetry, max_pending, max_body_bytes }
    }

    /// Admits decoded events: backpressure check, then durable append.
    pub async fn logs(&self, protocol: &'static str, batch: Option<BatchId>, events: Vec<LogEvent>) -> Result<Accepted, IngestError> {
        let n = events.len();
        if n > MAX_EVENTS_PER_RECORD {
            return Err(IngestError::TooLarge(format!("{n} events in one request; at most {MAX_EVENTS_PER_RECORD}")));
        }
        let pending = self.store.pending.load(Ordering::Acquire);
        if pending > self.max_pending {
            return Err(IngestError::Backpressure { pending });
        }
        if n == 0 {
            return Ok(Accepted { accepted: 0, duplicate: false });
        }
        match self.wal.append(batch, events).await? {
            Appended::Stored(_) => {
                self.telemetry.ingest_events.get_or_create(&Telemetry::labels(&[("protocol", protocol)])).inc_by(n as u64);
                Ok(Accepted { accepted: n, duplicate: false })
            }
            Appended::Duplicate => {
                self.telemetry.ingest_duplicate_batches.inc();
                Ok(Accepted { accepted: n, duplicate: true })
            }
        }
    }

    /// Decodes a `Content-Encoding`, mapping failures onto ingest errors.
    pub fn decode_body(&self, encoding: Option<&str>, body: &[u8]) -> Result<Vec<u8>, IngestError> {
        wire::encoding::decode(encoding, body, self.max_body_bytes).map_err(|e| match e {
            wire::encoding::DecodeError::TooLarge { .. } => IngestError::TooLarge(e.to_string()),
            other => IngestError::Malformed(other.to_string()),
        })
    }
}

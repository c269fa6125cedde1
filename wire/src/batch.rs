//! The `Lookout-Batch: <agent-id>/<stream>/<sequence>` header.
//!
//! An agent numbers the batches of each stream (one stream per sink) with a sequence that only
//! grows. The aggregator acknowledges a batch only once it is durable and remembers, per
//! `(agent, stream)`, the highest sequence it made durable; a batch at or below it is a retry of
//! something already stored and is answered with success without being stored again.

use std::fmt;

/// HTTP header name carrying a [`BatchId`].
pub const HEADER: &str = "Lookout-Batch";

/// Identity of one batch sent by a Lookout agent.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BatchId {
    /// Stable identifier of the agent (kept in its data directory).
    pub agent: String,
    /// The agent's stream, one per sink.
    pub stream: String,
    /// Position of this batch in its stream; grows by one per batch.
    pub sequence: u64,
}

/// Why a `Lookout-Batch` header could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BatchIdError {
    /// Not three `/`-separated parts.
    #[error("Lookout-Batch must be <agent-id>/<stream>/<sequence>, got {0:?}")]
    Shape(String),
    /// The sequence is not an unsigned integer.
    #[error("Lookout-Batch sequence must be an unsigned integer, got {0:?}")]
    Sequence(String),
    /// An empty or over-long agent or stream part, or one with characters outside `[A-Za-z0-9._:-]`.
    #[error("Lookout-Batch {0} must be 1-128 characters of [A-Za-z0-9._:-]")]
    Part(&'static str),
}

fn valid_part(s: &str) -> bool {
    !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

impl BatchId {
    /// Parses the header value.
    pub fn parse(value: &str) -> Result<Self, BatchIdError> {
        let mut parts = value.trim().split('/');
        let (Some(agent), Some(stream), Some(seq), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(BatchIdError::Shape(value.to_string()));
        };
        if !valid_part(agent) {
            return Err(BatchIdError::Part("agent-id"));
        }
        if !valid_part(stream) {
            return Err(BatchIdError::Part("stream"));
        }
        let sequence = seq.parse().map_err(|_| BatchIdError::Sequence(seq.to_string()))?;
        Ok(Self { agent: agent.to_string(), stream: stream.to_string(), sequence })
    }
}

impl fmt::Display for BatchId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.agent, self.stream, self.sequence)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let id = BatchId { agent: "host-1.a".into(), stream: "central".into(), sequence: 42 };
        assert_eq!(BatchId::parse(&id.to_string()).unwrap(), id);
    }

    #[test]
    fn rejects_bad_values() {
        assert!(matches!(BatchId::parse("a/b"), Err(BatchIdError::Shape(_))));
        assert!(matches!(BatchId::parse("a/b/c/d"), Err(BatchIdError::Shape(_))));
        assert!(matches!(BatchId::parse("a/b/-1"), Err(BatchIdError::Sequence(_))));
        assert_eq!(BatchId::parse("/b/1"), Err(BatchIdError::Part("agent-id")));
        assert_eq!(BatchId::parse("a/b c/1"), Err(BatchIdError::Part("stream")));
    }
}

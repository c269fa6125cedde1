//! Event batches and the acknowledgements that move file checkpoints.
//!
//! A source emits events in [`EventBatch`]es, each carrying an [`Ack`]. Every component that
//! holds the batch holds a clone of its `Ack`; a sink calls [`Ack::settle`] once the batch is
//! durable downstream (or deliberately dropped and counted). When the last clone is settled the
//! source is told, and only then may it move its checkpoint past the batch. A clone dropped
//! without settling (shutdown, crash of a task) marks the batch abandoned, and the source never
//! moves past it in this run: the lines are read again after a restart rather than lost.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::mpsc;
use wire::LogEvent;

use crate::metric::MetricSample;

/// What the source learns about one of its batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AckNotice {
    /// The source's own id for the stream the batch came from (a file).
    pub stream: u64,
    /// The position just past the batch's last event.
    pub end: u64,
    /// False when some holder dropped the batch without delivering it.
    pub delivered: bool,
}

struct AckInner {
    to: Option<mpsc::UnboundedSender<AckNotice>>,
    stream: u64,
    end: u64,
    abandoned: AtomicBool,
}

impl Drop for AckInner {
    fn drop(&mut self) {
        if let Some(to) = &self.to {
            let _ = to.send(AckNotice { stream: self.stream, end: self.end, delivered: !self.abandoned.load(Ordering::Acquire) });
        }
    }
}

/// A claim on a batch's acknowledgement. Clone it for each holder; settle each clone.
pub struct Ack {
    inner: Arc<AckInner>,
    settled: bool,
}

impl Ack {
    /// An ack reported to `to` as `(stream, end)`.
    pub fn new(to: mpsc::UnboundedSender<AckNotice>, stream: u64, end: u64) -> Ack {
        Ack { inner: Arc::new(AckInner { to: Some(to), stream, end, abandoned: AtomicBool::new(false) }), settled: false }
    }

    /// An ack nobody listens to (sources without checkpoints).
    pub fn none() -> Ack {
        Ack { inner: Arc::new(AckInner { to: None, stream: 0, end: 0, abandoned: AtomicBool::new(false) }), settled: false }
    }

    /// This holder is done with the batch: delivered, or dropped on purpose and counted.
    pub fn settle(mut self) {
        self.settled = true;
    }
}

impl Clone for Ack {
    fn clone(&self) -> Self {
        Ack { inner: self.inner.clone(), settled: false }
    }
}

impl Drop for Ack {
    fn drop(&mut self) {
        if !self.settled {
            self.inner.abandoned.store(true, Ordering::Release);
        }
    }
}

/// Events travelling together from a source to sinks: log events, metric samples, or both.
pub struct EventBatch {
    /// The log events, in source order.
    pub events: Vec<LogEvent>,
    /// The metric samples, in source order.
    pub metrics: Vec<MetricSample>,
    /// Settled by whoever finishes with the batch.
    pub ack: Ack,
    /// Where the batch ends in its source's content stream, when the source has positions.
    pub position: Option<StreamPosition>,
}

impl EventBatch {
    /// A batch without a stream position.
    pub fn new(events: Vec<LogEvent>, ack: Ack) -> EventBatch {
        EventBatch { events, metrics: Vec::new(), ack, position: None }
    }

    /// A batch of metric samples.
    pub fn of_metrics(metrics: Vec<MetricSample>, ack: Ack) -> EventBatch {
        EventBatch { events: Vec::new(), metrics, ack, position: None }
    }

    /// Log events plus metric samples.
    pub fn len(&self) -> usize {
        self.events.len() + self.metrics.len()
    }

    /// Neither log events nor samples.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty() && self.metrics.is_empty()
    }

    /// A copy for another output: same events, a clone of the ack, same position.
    pub fn fork(&self) -> EventBatch {
        EventBatch { events: self.events.clone(), metrics: self.metrics.clone(), ack: self.ack.clone(), position: self.position.clone() }
    }
}

/// The position of a batch in a source's content stream (a followed file's generation).
///
/// Sinks that deduplicate by id (`lookout`) name their request after it: stream `stream`,
/// sequence `end`. Ends only grow within a stream, so a batch re-sent after a crash with the
/// same end is recognised downstream as already stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StreamPosition {
    /// `[A-Za-z0-9]` id of the content stream, unique per agent.
    pub stream: String,
    /// Byte offset just past the batch's last event; > 0.
    pub end: u64,
    /// The batch repeats a batch possibly sent before a crash and must travel alone: merged with
    /// others, it could carry a new id over lines already stored.
    pub replay: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_once_all_clones_are_settled() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let a = Ack::new(tx, 3, 100);
        let b = a.clone();
        a.settle();
        assert!(rx.try_recv().is_err());
        b.settle();
        assert_eq!(rx.try_recv().unwrap(), AckNotice { stream: 3, end: 100, delivered: true });
    }

    #[test]
    fn an_unsettled_clone_abandons_the_batch() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let a = Ack::new(tx, 1, 9);
        let b = a.clone();
        a.settle();
        drop(b);
        assert_eq!(rx.try_recv().unwrap(), AckNotice { stream: 1, end: 9, delivered: false });
    }
}

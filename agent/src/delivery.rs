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
use crate::rawlogs::RawLogs;

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
///
/// Log events from a file travel as their lines ([`RawLogs`]) until someone needs them as
/// [`LogEvent`]s ([`Self::events_mut`]) or as OTLP bytes ([`Self::encode_logs_into`]).
pub struct EventBatch {
    /// Parsed log events, in source order.
    events: Vec<LogEvent>,
    /// Log lines not parsed yet (then `events` is empty).
    raw: Option<RawLogs>,
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
        EventBatch { events, raw: None, metrics: Vec::new(), ack, position: None }
    }

    /// Log lines not parsed yet.
    pub fn from_raw(raw: RawLogs, ack: Ack, position: Option<StreamPosition>) -> EventBatch {
        EventBatch { events: Vec::new(), raw: Some(raw), metrics: Vec::new(), ack, position }
    }

    /// Events and samples read back from a disk buffer.
    pub fn from_parts(events: Vec<LogEvent>, metrics: Vec<MetricSample>, ack: Ack, position: Option<StreamPosition>) -> EventBatch {
        EventBatch { events, raw: None, metrics, ack, position }
    }

    /// A batch of metric samples.
    pub fn of_metrics(metrics: Vec<MetricSample>, ack: Ack) -> EventBatch {
        EventBatch { events: Vec::new(), raw: None, metrics, ack, position: None }
    }

    /// Log events plus metric samples.
    pub fn len(&self) -> usize {
        self.log_count() + self.metrics.len()
    }

    /// Log events (parsed or not).
    pub fn log_count(&self) -> usize {
        self.events.len() + self.raw.as_ref().map_or(0, RawLogs::len)
    }

    /// Neither log events nor samples.
    pub fn is_empty(&self) -> bool {
        self.log_count() == 0 && self.metrics.is_empty()
    }

    /// The log events, parsing lines that were not parsed yet.
    pub fn events_mut(&mut self) -> &mut Vec<LogEvent> {
        if let Some(raw) = self.raw.take() {
            let parsed = raw.into_events();
            if self.events.is_empty() {
                self.events = parsed;
            } else {
                self.events.extend(parsed);
            }
        }
        &mut self.events
    }

    /// Moves the log events out (parsing lines that were not parsed yet).
    pub fn take_events(&mut self) -> Vec<LogEvent> {
        std::mem::take(self.events_mut())
    }

    /// Appends the log events as OTLP protobuf (`ResourceLogs` fields of an
    /// `ExportLogsServiceRequest`) to `out`; unparsed lines are encoded without building events.
    pub fn encode_logs_into(&self, out: &mut Vec<u8>) {
        if !self.events.is_empty() {
            wire::otlp::encode_protobuf_into(&self.events, out);
        }
        if let Some(raw) = &self.raw {
            raw.encode_into(out);
        }
    }

    /// Drops the log events (once encoded).
    pub fn clear_logs(&mut self) {
        self.events = Vec::new();
        self.raw = None;
    }

    /// A copy for another output: same events, a clone of the ack, same position.
    pub fn fork(&self) -> EventBatch {
        EventBatch {
            events: self.events.clone(),
            raw: self.raw.clone(),
            metrics: self.metrics.clone(),
            ack: self.ack.clone(),
            position: self.position.clone(),
        }
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

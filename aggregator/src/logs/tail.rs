//! Live tail: new lines matching a query, as they become searchable.
//!
//! Each subscriber owns one task and one bounded queue. The indexer announces every commit on a
//! `watch` channel (a single overwritten value: announcing never waits and never grows), and the
//! task then asks the index for matching lines with ids above the last one it delivered — ids
//! grow with the WAL sequence, so "above" means "arrived later". Lines go into the subscriber's
//! queue with `try_send`: a subscriber that does not keep up loses lines, counted in
//! `lookout_logs_tail_dropped_events_total` and reported to it in a `dropped` event, rather than
//! slowing ingest or holding memory. Nothing here touches the ingest path.

use std::sync::Arc;

use prometheus_client::metrics::counter::Counter;
use serde_json::Value;
use tantivy::query::Query;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

use super::LogStore;

/// Lines fetched from the index per round.
const BATCH: usize = 1000;
/// Rounds per commit; what is left is picked up at the next commit.
const ROUNDS: usize = 16;

/// What a subscriber receives.
#[derive(Debug, Clone, PartialEq)]
pub enum TailItem {
    /// A matching line: its id and its hit JSON.
    Line(u64, Value),
    /// This many lines were dropped because the subscriber's queue was full.
    Dropped(u64),
}

/// Starts a live tail of lines matching `filter` with ids above `after_id`. The task ends when
/// the receiver is dropped or the store stops announcing commits.
pub fn subscribe(store: Arc<LogStore>, filter: Box<dyn Query>, after_id: u64, queue: usize, dropped: Counter) -> mpsc::Receiver<TailItem> {
    let (tx, rx) = mpsc::channel(queue.max(1));
    let mut commits = store.committed.subscribe();
    let filter: Arc<dyn Query> = Arc::from(filter);
    tokio::spawn(async move {
        let mut last = after_id;
        let mut lost = 0u64;
        loop {
            for _ in 0..ROUNDS {
                let (s, f) = (store.clone(), filter.clone());
                let found = match tokio::task::spawn_blocking(move || s.lines_after(f.as_ref(), last, BATCH)).await {
                    Ok(Ok(found)) => found,
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "live tail query failed");
                        Vec::new()
                    }
                    Err(_) => return,
                };
                let n = found.len();
                for (id, hit) in found {
                    last = last.max(id);
                    if lost > 0 && tx.try_send(TailItem::Dropped(lost)).is_ok() {
                        lost = 0;
                    }
                    match tx.try_send(TailItem::Line(id, hit)) {
                        Ok(()) => {}
                        Err(TrySendError::Full(_)) => {
                            lost += 1;
                            dropped.inc();
                        }
                        Err(TrySendError::Closed(_)) => return,
                    }
                }
                if n < BATCH {
                    break;
                }
            }
            tokio::select! {
                changed = commits.changed() => if changed.is_err() { return },
                _ = tx.closed() => return,
            }
        }
    });
    rx
}

//! Total order on log lines and the collector that pages through it.
//!
//! Lines are ordered by `(timestamp, id)`. Timestamps alone tie (many lines share a
//! millisecond), and tantivy's doc ids change on merges, but the line id is permanent and unique,
//! so `(timestamp, id)` is a total order that never changes. A search cursor is the key of the
//! last line of a page; the next page is every line strictly beyond it in the requested
//! direction. New lines arriving meanwhile cannot shift a page (no duplicates, no gaps among the
//! lines that existed): a key identifies a position, not an offset. `context` uses the same
//! collector with the anchor line's key as the bound.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::fmt;

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::Column;
use tantivy::{DocAddress, DocId, Score, SegmentOrdinal, SegmentReader};

/// A line's position in the total order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    /// Event time, ns.
    pub ts: i64,
    /// Permanent line id.
    pub id: u64,
}

impl fmt::Display for Key {
    /// The cursor text: `<timestamp ns>-<id>` (opaque to clients).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ts, self.id)
    }
}

impl Key {
    /// Parses a cursor written by [`Key`]'s `Display`.
    pub fn parse_cursor(s: &str) -> Option<Key> {
        let (ts, id) = s.rsplit_once('-')?;
        Some(Key { ts: ts.parse().ok()?, id: id.parse().ok()? })
    }
}

/// Collects the first `limit` matching lines in `(timestamp, id)` order (newest first when
/// `desc`), skipping every line at or before `after` in that direction.
pub struct TopByKey {
    /// Most lines to return.
    pub limit: usize,
    /// Newest first.
    pub desc: bool,
    /// Exclusive bound: only keys strictly beyond it (below it when `desc`).
    pub after: Option<Key>,
}

impl TopByKey {
    fn beyond(&self, k: Key) -> bool {
        match self.after {
            None => true,
            Some(a) if self.desc => k < a,
            Some(a) => k > a,
        }
    }
}

/// A key ranked so that "better" (earlier in the requested order) is greater.
#[derive(PartialEq, Eq)]
struct Ranked {
    key: Key,
    desc: bool,
    doc: DocId,
}

impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> Ordering {
        let o = self.key.cmp(&other.key);
        if self.desc { o } else { o.reverse() }
    }
}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Per-segment part of [`TopByKey`].
pub struct TopByKeySegment {
    ts: Option<Column<i64>>,
    id: Option<Column<u64>>,
    segment: SegmentOrdinal,
    limit: usize,
    desc: bool,
    after: Option<Key>,
    // Min-heap of the best `limit` seen: the root is the worst kept.
    heap: BinaryHeap<Reverse<Ranked>>,
}

impl Collector for TopByKey {
    type Fruit = Vec<(Key, DocAddress)>;
    type Child = TopByKeySegment;

    fn for_segment(&self, segment: SegmentOrdinal, reader: &SegmentReader) -> tantivy::Result<TopByKeySegment> {
        Ok(TopByKeySegment {
            ts: reader.fast_fields().i64("timestamp").ok(),
            id: reader.fast_fields().u64("id").ok(),
            segment,
            limit: self.limit,
            desc: self.desc,
            after: self.after,
            heap: BinaryHeap::with_capacity(self.limit.min(10_000) + 1),
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<Vec<(Key, DocAddress)>>) -> tantivy::Result<Self::Fruit> {
        let mut all: Vec<(Key, DocAddress)> = fruits.into_iter().flatten().filter(|(k, _)| self.beyond(*k)).collect();
        if self.desc {
            all.sort_by_key(|x| std::cmp::Reverse(x.0));
        } else {
            all.sort_by_key(|x| x.0);
        }
        all.truncate(self.limit);
        Ok(all)
    }
}

impl SegmentCollector for TopByKeySegment {
    type Fruit = Vec<(Key, DocAddress)>;

    fn collect(&mut self, doc: DocId, _score: Score) {
        if self.limit == 0 {
            return;
        }
        let Some(ts) = self.ts.as_ref().and_then(|c| c.first(doc)) else {
            return;
        };
        // Once the heap is full, a line whose timestamp alone ranks it below the worst kept
        // cannot enter: skip reading its id (most lines of a large result end here).
        if self.heap.len() >= self.limit
            && let Some(worst) = self.heap.peek()
            && (if self.desc { ts < worst.0.key.ts } else { ts > worst.0.key.ts })
        {
            return;
        }
        let Some(id) = self.id.as_ref().and_then(|c| c.first(doc)) else {
            return;
        };
        let key = Key { ts, id };
        if let Some(a) = self.after
            && (if self.desc { key >= a } else { key <= a })
        {
            return;
        }
        let ranked = Ranked { key, desc: self.desc, doc };
        if self.heap.len() < self.limit {
            self.heap.push(Reverse(ranked));
        } else if let Some(worst) = self.heap.peek()
            && ranked > worst.0
        {
            self.heap.pop();
            self.heap.push(Reverse(ranked));
        }
    }

    fn harvest(self) -> Self::Fruit {
        let segment = self.segment;
        self.heap.into_iter().map(|Reverse(r)| (r.key, DocAddress::new(segment, r.doc))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips() {
        let k = Key { ts: 1_795_341_600_000_000_000, id: (7 << 20) | 3 };
        assert_eq!(Key::parse_cursor(&k.to_string()), Some(k));
        assert_eq!(Key::parse_cursor("nonsense"), None);
        assert_eq!(Key::parse_cursor("12-"), None);
    }
}

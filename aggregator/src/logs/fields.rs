//! Top values per field for the current query: the clickable field list beside the hits.
//!
//! The four keyword members (`level`, `service`, `host`, `source`) are fast fields, so their
//! value counts are exact over every match, read from the columns' term ordinals without
//! loading a document. The event's other JSON fields are not columnar (making every dynamic
//! path a column would cost indexing throughput), so, as Kibana's Discover does, their paths
//! and values are counted over a sample: the newest [`SAMPLE`] matches. Each field says which
//! kind of count it carries (`exact`).

use std::collections::HashMap;
use std::time::Instant;

use serde_json::Value;
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::StrColumn;
use tantivy::{DocId, Score, SegmentOrdinal, SegmentReader};

use super::ordered::TopByKey;
use super::{LogError, LogStore};

/// Matches whose JSON fields are read to find common paths.
pub const SAMPLE: usize = 500;
/// Values listed per field.
pub const TOP_VALUES: usize = 10;
/// JSON paths listed.
pub const TOP_PATHS: usize = 30;
const KEYWORDS: [&str; 4] = ["level", "service", "host", "source"];

/// One value and how often it occurs.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ValueCount {
    /// The value as text.
    pub value: String,
    /// Matches carrying it (in the sample when the field is not exact).
    pub count: u64,
}

/// A field and its most common values.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FieldSummary {
    /// Field name or dotted JSON path.
    pub name: String,
    /// Matches that have the field (in the sample when not exact).
    pub count: u64,
    /// True when counted over every match, false when over the sample.
    pub exact: bool,
    /// Most common values, most frequent first.
    pub values: Vec<ValueCount>,
}

/// The answer of `fields`.
#[derive(Debug, serde::Serialize)]
pub struct FieldsResult {
    /// All matches in the range.
    pub total: usize,
    /// Matches read for JSON paths.
    pub sampled: usize,
    /// Keyword members first, then JSON paths by frequency.
    pub fields: Vec<FieldSummary>,
}

impl LogStore {
    /// Top values per field over the matches of `q` in `[start, end)`.
    pub fn fields(&self, q: &str, start: i64, end: i64) -> Result<FieldsResult, LogError> {
        let started = Instant::now();
        let query = self.build(q, start, end)?;
        let searchers = self.searchers(start, end);
        let mut per_part = Vec::with_capacity(searchers.len());
        for s in &searchers {
            per_part.push(s.search(&query, &KeywordCounts)?);
        }
        let keyword_counts = KeywordCounts.merge_fruits(per_part)?;
        let (sample, total) = self.top(&searchers, query.as_ref(), &TopByKey { limit: SAMPLE, desc: true, after: None })?;
        let mut fields: Vec<FieldSummary> = KEYWORDS
            .iter()
            .zip(keyword_counts)
            .map(|(name, counts)| {
                let count = counts.iter().filter(|(v, _)| !v.is_empty()).map(|(_, c)| c).sum();
                FieldSummary { name: name.to_string(), count, exact: true, values: top(counts.into_iter().filter(|(v, _)| !v.is_empty())) }
            })
            .collect();
        let mut paths: HashMap<String, (u64, HashMap<String, u64>)> = HashMap::new();
        let mut cols = super::HitColumns::new();
        for (_, i, addr) in &sample {
            let hit = self.hit(&mut cols, &searchers[*i], *addr)?;
            let mut seen = Vec::new();
            flatten("", &hit["fields"], &mut |path, value| {
                let entry = paths.entry(path.to_string()).or_default();
                if !seen.iter().any(|p: &String| p == path) {
                    entry.0 += 1;
                    seen.push(path.to_string());
                }
                *entry.1.entry(value).or_default() += 1;
            });
        }
        let mut json: Vec<_> = paths.into_iter().collect();
        json.sort_by(|a, b| b.1.0.cmp(&a.1.0).then_with(|| a.0.cmp(&b.0)));
        fields.extend(json.into_iter().take(TOP_PATHS).map(|(name, (count, values))| FieldSummary {
            name,
            count,
            exact: false,
            values: top(values.into_iter()),
        }));
        self.observe("fields", started);
        Ok(FieldsResult { total, sampled: sample.len(), fields })
    }
}

fn top(values: impl Iterator<Item = (String, u64)>) -> Vec<ValueCount> {
    let mut v: Vec<_> = values.collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.into_iter().take(TOP_VALUES).map(|(value, count)| ValueCount { value, count }).collect()
}

/// Calls `f(path, value)` for each scalar under `v` (array elements share their array's path).
fn flatten(prefix: &str, v: &Value, f: &mut dyn FnMut(&str, String)) {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                flatten(&path, x, f);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| flatten(prefix, x, f)),
        Value::String(s) if !prefix.is_empty() => f(prefix, s.clone()),
        Value::Null => {}
        other if !prefix.is_empty() => f(prefix, other.to_string()),
        _ => {}
    }
}

/// Exact value counts of the keyword columns, by term ordinal per segment.
struct KeywordCounts;

struct KeywordCountsSegment {
    columns: Vec<Option<StrColumn>>,
    counts: Vec<HashMap<u64, u64>>,
}

impl Collector for KeywordCounts {
    type Fruit = Vec<HashMap<String, u64>>;
    type Child = KeywordCountsSegment;

    fn for_segment(&self, _segment: SegmentOrdinal, reader: &SegmentReader) -> tantivy::Result<KeywordCountsSegment> {
        let columns = KEYWORDS.iter().map(|k| reader.fast_fields().str(k).ok().flatten()).collect();
        Ok(KeywordCountsSegment { columns, counts: vec![HashMap::new(); KEYWORDS.len()] })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<Vec<HashMap<String, u64>>>) -> tantivy::Result<Self::Fruit> {
        let mut out = vec![HashMap::new(); KEYWORDS.len()];
        for fruit in fruits {
            for (o, m) in out.iter_mut().zip(fruit) {
                for (k, c) in m {
                    *o.entry(k).or_insert(0) += c;
                }
            }
        }
        Ok(out)
    }
}

impl SegmentCollector for KeywordCountsSegment {
    type Fruit = Vec<HashMap<String, u64>>;

    fn collect(&mut self, doc: DocId, _score: Score) {
        for (col, counts) in self.columns.iter().zip(self.counts.iter_mut()) {
            if let Some(col) = col {
                for ord in col.term_ords(doc) {
                    *counts.entry(ord).or_insert(0) += 1;
                }
            }
        }
    }

    fn harvest(self) -> Self::Fruit {
        let mut out = Vec::with_capacity(self.columns.len());
        for (col, counts) in self.columns.iter().zip(self.counts) {
            let mut named = HashMap::with_capacity(counts.len());
            if let Some(col) = col {
                let mut s = String::new();
                for (ord, c) in counts {
                    s.clear();
                    if col.ord_to_str(ord, &mut s).unwrap_or(false) {
                        *named.entry(s.clone()).or_insert(0) += c;
                    }
                }
            }
            out.push(named);
        }
        out
    }
}

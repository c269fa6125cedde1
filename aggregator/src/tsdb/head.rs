//! The in-memory head: every series by label set, its samples in time order, and an inverted
//! index (postings) from `label=value` to series ids so a selector touches only candidate series.
//!
//! Appends check the out-of-order window: a sample older than the newest timestamp seen by the
//! head minus the window is rejected (Prometheus's "out of bounds"); inside the window it is
//! inserted in order. A second sample at an existing timestamp is accepted only if it is the
//! same value (a re-send), otherwise rejected as a duplicate. Staleness markers are stored as
//! the special NaN they arrive as and interpreted by the query engine.

use std::collections::HashMap;

use promql_parser::label::Matcher;

use super::Labels;
use super::index::Postings;

/// Why a sample was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    /// Older than the out-of-order window allows.
    TooOld,
    /// Another value at the same timestamp.
    Duplicate,
}

/// Counts of one append.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct AppendStats {
    /// Samples stored (re-sent identical samples included).
    pub accepted: u64,
    /// Samples rejected as too old.
    pub too_old: u64,
    /// Samples rejected as conflicting duplicates.
    pub duplicate: u64,
}

struct MemSeries {
    labels: Labels,
    samples: Vec<(i64, f64)>,
}

/// The head block.
pub struct Head {
    by_labels: HashMap<Labels, u32>,
    series: Vec<MemSeries>,
    postings: Postings,
    max_t: Option<i64>,
    min_t: Option<i64>,
    /// Samples before this are in blocks: appends below it are rejected as too old.
    min_valid: i64,
    samples: u64,
}

impl Default for Head {
    fn default() -> Head {
        Head {
            by_labels: HashMap::new(),
            series: Vec::new(),
            postings: Postings::default(),
            max_t: None,
            min_t: None,
            min_valid: i64::MIN,
            samples: 0,
        }
    }
}

/// A selected series: labels and the samples in the asked range.
#[derive(Debug, Clone, PartialEq)]
pub struct SelectedSeries {
    /// Its labels.
    pub labels: Labels,
    /// `(timestamp ms, value)`, ascending.
    pub samples: Vec<(i64, f64)>,
}

impl Head {
    /// Number of series.
    pub fn num_series(&self) -> usize {
        self.series.len()
    }

    /// Number of samples.
    pub fn num_samples(&self) -> u64 {
        self.samples
    }

    /// Newest sample time.
    pub fn max_t(&self) -> Option<i64> {
        self.max_t
    }

    /// Oldest sample time.
    pub fn min_t(&self) -> Option<i64> {
        self.min_t
    }

    /// The time below which appends are refused (start of the head's range).
    pub fn min_valid(&self) -> i64 {
        self.min_valid
    }

    /// Raises the time below which appends are refused (a block is being cut below it).
    pub fn set_min_valid(&mut self, t: i64) {
        self.min_valid = self.min_valid.max(t);
    }

    /// Copies of every series' samples before `t`, series without such samples left out.
    pub fn samples_before(&self, t: i64) -> Vec<(Labels, Vec<(i64, f64)>)> {
        self.series
            .iter()
            .filter_map(|s| {
                let hi = s.samples.partition_point(|&(x, _)| x < t);
                (hi > 0).then(|| (s.labels.clone(), s.samples[..hi].to_vec()))
            })
            .collect()
    }

    /// Drops samples before `t` (they are in a block now) and series left empty; rebuilds the
    /// postings, keeping the creation order of the remaining series.
    pub fn truncate_before(&mut self, t: i64) {
        self.set_min_valid(t);
        let old = std::mem::take(&mut self.series);
        self.by_labels.clear();
        self.postings = Postings::default();
        self.samples = 0;
        self.min_t = None;
        for mut s in old {
            let lo = s.samples.partition_point(|&(x, _)| x < t);
            s.samples.drain(..lo);
            if s.samples.is_empty() {
                continue;
            }
            let id = self.series_id(&s.labels) as usize;
            self.samples += s.samples.len() as u64;
            let first = s.samples[0].0;
            self.min_t = Some(self.min_t.map_or(first, |m| m.min(first)));
            self.series[id].samples = s.samples;
        }
    }

    fn note_time(&mut self, t: i64) {
        self.max_t = Some(self.max_t.map_or(t, |m| m.max(t)));
        self.min_t = Some(self.min_t.map_or(t, |m| m.min(t)));
    }

    fn series_id(&mut self, labels: &Labels) -> u32 {
        if let Some(&id) = self.by_labels.get(labels) {
            return id;
        }
        let id = self.series.len() as u32;
        self.postings.add(id, labels);
        self.by_labels.insert(labels.clone(), id);
        self.series.push(MemSeries { labels: labels.clone(), samples: Vec::new() });
        id
    }

    /// Whether `t` may be appended now, given the window (ms).
    pub fn check(&self, t: i64, ooo_window_ms: i64) -> Result<(), Rejected> {
        if t < self.min_valid {
            return Err(Rejected::TooOld);
        }
        match self.max_t {
            Some(max) if t < max.saturating_sub(ooo_window_ms) => Err(Rejected::TooOld),
            _ => Ok(()),
        }
    }

    /// Appends samples of one series, applying the window; returns what was stored.
    pub fn append(&mut self, labels: &Labels, samples: &[(i64, f64)], ooo_window_ms: i64, stored: &mut Vec<(i64, f64)>) -> AppendStats {
        let mut stats = AppendStats::default();
        let id = self.series_id(labels) as usize;
        for &(t, v) in samples {
            if self.check(t, ooo_window_ms).is_err() {
                stats.too_old += 1;
                continue;
            }
            match insert(&mut self.series[id].samples, t, v) {
                Ok(new) => {
                    stats.accepted += 1;
                    if new {
                        self.samples += 1;
                        stored.push((t, v));
                    }
                    self.note_time(t);
                }
                Err(_) => stats.duplicate += 1,
            }
        }
        stats
    }

    /// Appends without any window (WAL replay: these samples were accepted before), except
    /// samples before `min_valid`, which are in blocks already.
    pub fn replay(&mut self, labels: &Labels, samples: &[(i64, f64)]) {
        if samples.iter().all(|&(t, _)| t < self.min_valid) {
            return;
        }
        let id = self.series_id(labels) as usize;
        for &(t, v) in samples {
            if t < self.min_valid {
                continue;
            }
            if let Ok(true) = insert(&mut self.series[id].samples, t, v) {
                self.samples += 1;
                self.note_time(t);
            }
        }
    }

    fn matching(&self, matchers: &[&Matcher]) -> Vec<u32> {
        self.postings.matching(matchers, self.series.len(), |id| &self.series[id as usize].labels)
    }

    /// Series matching `matchers` with their samples in `[mint, maxt]` (ms); series without a
    /// sample there are left out. In creation order, as Prometheus's unsorted `Select`, which
    /// decides how `topk`/`bottomk` break ties.
    pub fn select(&self, matchers: &[&Matcher], mint: i64, maxt: i64) -> Vec<SelectedSeries> {
        let out: Vec<SelectedSeries> = self
            .matching(matchers)
            .into_iter()
            .filter_map(|id| {
                let s = &self.series[id as usize];
                let lo = s.samples.partition_point(|&(t, _)| t < mint);
                let hi = s.samples.partition_point(|&(t, _)| t <= maxt);
                (lo < hi).then(|| SelectedSeries { labels: s.labels.clone(), samples: s.samples[lo..hi].to_vec() })
            })
            .collect();
        out
    }

    /// Label sets of the series matching `matchers` with a sample in `[mint, maxt]`.
    pub fn series_labels(&self, matchers: &[&Matcher], mint: i64, maxt: i64) -> Vec<Labels> {
        let mut out: Vec<Labels> = self
            .matching(matchers)
            .into_iter()
            .filter(|&id| {
                let s = &self.series[id as usize].samples;
                let lo = s.partition_point(|&(t, _)| t < mint);
                lo < s.len() && s[lo].0 <= maxt
            })
            .map(|id| self.series[id as usize].labels.clone())
            .collect();
        out.sort();
        out
    }
}

/// Inserts in order: Ok(true) stored, Ok(false) identical re-send, Err on a conflicting value.
fn insert(samples: &mut Vec<(i64, f64)>, t: i64, v: f64) -> Result<bool, Rejected> {
    if samples.last().is_none_or(|&(last, _)| last < t) {
        samples.push((t, v));
        return Ok(true);
    }
    let i = samples.partition_point(|&(x, _)| x < t);
    if i < samples.len() && samples[i].0 == t {
        return if samples[i].1.to_bits() == v.to_bits() { Ok(false) } else { Err(Rejected::Duplicate) };
    }
    samples.insert(i, (t, v));
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use promql_parser::label::MatchOp;

    fn l(pairs: &[(&str, &str)]) -> Labels {
        Labels::new(pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect())
    }

    #[test]
    fn out_of_order_window_and_duplicates() {
        let mut h = Head::default();
        let s = l(&[("__name__", "x")]);
        let mut stored = Vec::new();
        let st = h.append(&s, &[(10_000, 1.0), (20_000, 2.0)], 5_000, &mut stored);
        assert_eq!(st.accepted, 2);
        // 16s is inside [20s-5s, ...]; 14s is not.
        let st = h.append(&s, &[(16_000, 1.5), (14_000, 9.0), (20_000, 2.0), (20_000, 3.0)], 5_000, &mut stored);
        assert_eq!((st.accepted, st.too_old, st.duplicate), (2, 1, 1));
        let got = h.select(&[], 0, i64::MAX);
        assert_eq!(got[0].samples, vec![(10_000, 1.0), (16_000, 1.5), (20_000, 2.0)]);
    }

    #[test]
    fn matchers_use_postings_and_empty_matches_missing_labels() {
        let mut h = Head::default();
        let mut stored = Vec::new();
        for (job, inst) in [("a", "1"), ("a", "2"), ("b", "1")] {
            h.append(&l(&[("__name__", "up"), ("job", job), ("instance", inst)]), &[(1, 1.0)], 0, &mut stored);
        }
        h.append(&l(&[("__name__", "up")]), &[(1, 1.0)], 0, &mut stored);
        let m = |op, n: &str, v: &str| Matcher::new(op, n, v);
        let re = |s: &str| regex::Regex::new(&format!("^(?:{s})$")).unwrap();
        let count = |ms: Vec<Matcher>| h.select(&ms.iter().collect::<Vec<_>>(), 0, 10).len();
        assert_eq!(count(vec![m(MatchOp::Equal, "job", "a")]), 2);
        assert_eq!(count(vec![m(MatchOp::NotEqual, "job", "a")]), 2);
        assert_eq!(count(vec![m(MatchOp::Equal, "job", "")]), 1);
        assert_eq!(count(vec![m(MatchOp::Re(re("a|b")), "job", "a|b")]), 3);
        assert_eq!(count(vec![m(MatchOp::NotRe(re("a")), "job", "a"), m(MatchOp::Equal, "instance", "1")]), 1);
        assert_eq!(count(vec![m(MatchOp::Re(re(".*")), "job", ".*")]), 4);
    }
}

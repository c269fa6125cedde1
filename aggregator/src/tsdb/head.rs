//! The in-memory head: every series by label set, its samples in time order, and an inverted
//! index (postings) from `label=value` to series ids so a selector touches only candidate series.
//!
//! Samples are kept compressed: each series has closed XOR-decimal chunks ([`chunk::ENC_XOR_DECIMAL`]) of about
//! [`HEAD_CHUNK_SAMPLES`] samples and one open chunk that in-order samples are appended to bit
//! by bit ([`chunk::ChunkAppender`], a complete chunk after every append). A chunk is closed
//! once it holds `HEAD_CHUNK_SAMPLES`: its bytes are copied into the head's slabs
//! ([`super::slab`], chunks closed at about the same time packed together) and the open
//! chunk's buffer is reused for the next one. Chunks of a series never
//! overlap in time and are in time order. An out-of-order sample is inserted into the first
//! chunk whose newest sample is not older than it: that chunk is decoded, the sample inserted
//! and the chunk re-encoded (rare by nature, so the common in-order append stays O(1)). Reads
//! and block cuts decode only the chunks that overlap the asked range.
//!
//! Appends check the out-of-order window: a sample older than the newest timestamp seen by the
//! head minus the window is rejected (Prometheus's "out of bounds"); inside the window it is
//! inserted in order. A second sample at an existing timestamp is accepted only if it is the
//! same value (a re-send), otherwise rejected as a duplicate. Staleness markers are stored as
//! the special NaN they arrive as and interpreted by the query engine.

use std::hash::{BuildHasher, RandomState};

use hashbrown::HashTable;

use promql_parser::label::Matcher;

use super::Labels;
use super::chunk::{self, ChunkAppender};
use super::index::HeadPostings;
use super::slab::{Loc, Slabs};

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

/// Samples per head chunk before it is closed (Prometheus also cuts head chunks at 120).
pub const HEAD_CHUNK_SAMPLES: usize = 120;

/// A closed, compressed chunk of the head.
struct HeadChunk {
    mint: i64,
    maxt: i64,
    /// Where its bytes are in the head's slabs: an XOR-decimal chunk (`chunk::decode` reads it).
    at: Loc,
}

fn chunk_len(data: &[u8]) -> u64 {
    data.get(1..5).map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as u64)
}

fn decode_chunk(data: &[u8]) -> Vec<(i64, f64)> {
    // Only this module writes these chunks; a failure here is a bug, not bad input.
    chunk::decode(data).expect("head chunk decodes")
}

struct MemSeries {
    labels: Labels,
    /// Closed chunks, in time order, older than everything in `open`.
    chunks: Vec<HeadChunk>,
    /// The chunk appends go to.
    open: ChunkAppender,
    /// Oldest timestamp in `open` (meaningless when it is empty).
    open_mint: i64,
}

impl MemSeries {
    fn new(labels: Labels) -> MemSeries {
        MemSeries { labels, chunks: Vec::new(), open: ChunkAppender::default(), open_mint: 0 }
    }

    fn num_samples(&self, slabs: &Slabs) -> u64 {
        self.chunks.iter().map(|c| chunk_len(slabs.get(c.at))).sum::<u64>() + self.open.len() as u64
    }

    fn min_t(&self) -> Option<i64> {
        match self.chunks.first() {
            Some(c) => Some(c.mint),
            None => (!self.open.is_empty()).then_some(self.open_mint),
        }
    }

    fn max_t(&self) -> Option<i64> {
        if !self.open.is_empty() {
            return Some(self.open.last_t());
        }
        self.chunks.last().map(|c| c.maxt)
    }

    /// `(mint, maxt, bytes)` of every chunk, the open one last.
    fn ranges<'a>(&'a self, slabs: &'a Slabs) -> impl Iterator<Item = (i64, i64, &'a [u8])> {
        let open = (!self.open.is_empty()).then(|| (self.open_mint, self.open.last_t(), self.open.bytes()));
        self.chunks.iter().map(|c| (c.mint, c.maxt, slabs.get(c.at))).chain(open)
    }

    /// Samples in `[mint, maxt]`, ascending.
    fn samples_in(&self, slabs: &Slabs, mint: i64, maxt: i64) -> Vec<(i64, f64)> {
        let mut out = Vec::new();
        for (lo, hi, data) in self.ranges(slabs) {
            if hi < mint || lo > maxt {
                continue;
            }
            // Only this module writes these chunks; a failure here is a bug, not bad input.
            let part = chunk::decode_range(data, mint, maxt).expect("head chunk decodes");
            if out.is_empty() {
                out = part;
            } else {
                out.extend(part);
            }
        }
        out
    }

    /// Whether a sample lies in `[mint, maxt]`.
    fn has_sample_in(&self, slabs: &Slabs, mint: i64, maxt: i64) -> bool {
        self.ranges(slabs).any(|(lo, hi, data)| {
            if hi < mint || lo > maxt {
                return false;
            }
            // The ends of a chunk are samples; only a chunk spanning the whole range needs a look.
            if (mint..=maxt).contains(&lo) || (mint..=maxt).contains(&hi) {
                return true;
            }
            decode_chunk(data).iter().any(|&(t, _)| t >= mint && t <= maxt)
        })
    }

    fn close_open(&mut self, slabs: &mut Slabs) {
        let at = slabs.put(self.open.bytes());
        // One slot more, not four at first: a series holds one or two closed chunks between
        // cuts, and spare 32-byte slots in every series add up.
        self.chunks.reserve_exact(1);
        self.chunks.push(HeadChunk { mint: self.open_mint, maxt: self.open.last_t(), at });
        // The next chunk of a series takes about as many bytes as its last one: same buffer.
        self.open.clear();
    }

    fn reopen(&mut self, samples: &[(i64, f64)]) {
        let mut a = ChunkAppender::new(chunk::ENC_XOR_DECIMAL, samples.len() * 3 / 2 + 16);
        for &(t, v) in samples {
            a.append(t, v);
        }
        self.open = a;
        self.open_mint = samples.first().map_or(0, |s| s.0);
    }

    /// Inserts in order: Ok(true) stored, Ok(false) identical re-send, Err on a conflicting value.
    fn insert(&mut self, slabs: &mut Slabs, t: i64, v: f64) -> Result<bool, Rejected> {
        if self.max_t().is_none_or(|last| last < t) {
            if self.open.len() >= HEAD_CHUNK_SAMPLES {
                self.close_open(slabs);
            }
            if self.open.is_empty() {
                self.open_mint = t;
            }
            self.open.append(t, v);
            return Ok(true);
        }
        // Out of order: into the first chunk whose newest sample is not older than `t`.
        let i = self.chunks.partition_point(|c| c.maxt < t);
        let in_open = i == self.chunks.len();
        let mut samples = if in_open { decode_chunk(self.open.bytes()) } else { decode_chunk(slabs.get(self.chunks[i].at)) };
        let at = samples.partition_point(|&(x, _)| x < t);
        if at < samples.len() && samples[at].0 == t {
            return if samples[at].1.to_bits() == v.to_bits() { Ok(false) } else { Err(Rejected::Duplicate) };
        }
        samples.insert(at, (t, v));
        if in_open {
            self.reopen(&samples);
        } else {
            let c = &mut self.chunks[i];
            c.mint = samples[0].0;
            slabs.free(c.at);
            c.at = slabs.put(&chunk::encode(chunk::ENC_XOR_DECIMAL, &samples));
        }
        Ok(true)
    }

    /// Drops samples before `t`; returns how many are left.
    fn truncate_before(&mut self, slabs: &mut Slabs, t: i64) -> u64 {
        let drop = self.chunks.iter().take_while(|c| c.maxt < t).count();
        for c in self.chunks.drain(..drop) {
            slabs.free(c.at);
        }
        if let Some(c) = self.chunks.first_mut()
            && c.mint < t
        {
            let kept: Vec<(i64, f64)> = decode_chunk(slabs.get(c.at)).into_iter().filter(|s| s.0 >= t).collect();
            // Not empty: the chunk's newest sample is at or after `t`.
            c.mint = kept[0].0;
            slabs.free(c.at);
            c.at = slabs.put(&chunk::encode(chunk::ENC_XOR_DECIMAL, &kept));
        }
        if self.chunks.is_empty() && !self.open.is_empty() && self.open_mint < t {
            let kept: Vec<(i64, f64)> = decode_chunk(self.open.bytes()).into_iter().filter(|s| s.0 >= t).collect();
            self.reopen(&kept);
        }
        self.chunks.shrink_to_fit();
        self.num_samples(slabs)
    }
}

/// The head block.
pub struct Head {
    /// Series ids by their labels' hash (4 bytes a series; a map keyed by `Labels` took ~40).
    by_labels: HashTable<u32>,
    hasher: RandomState,
    series: Vec<MemSeries>,
    /// The bytes of the series' closed chunks.
    slabs: Slabs,
    postings: HeadPostings,
    max_t: Option<i64>,
    min_t: Option<i64>,
    /// Samples before this are in blocks: appends below it are rejected as too old.
    min_valid: i64,
    samples: u64,
}

impl Default for Head {
    fn default() -> Head {
        Head {
            by_labels: HashTable::new(),
            hasher: RandomState::new(),
            series: Vec::new(),
            slabs: Slabs::default(),
            postings: HeadPostings::default(),
            max_t: None,
            min_t: None,
            min_valid: i64::MIN,
            samples: 0,
        }
    }
}

/// One series' part of a block cut: copies of its compressed head chunks that hold samples
/// before `before`.
pub struct CutSeries {
    chunks: Vec<Box<[u8]>>,
    before: i64,
}

impl CutSeries {
    /// The series' samples before the cut, ascending.
    pub fn samples(&self) -> Vec<(i64, f64)> {
        let mut out = Vec::new();
        for c in &self.chunks {
            out.extend(decode_chunk(c).into_iter().filter(|s| s.0 < self.before));
        }
        out
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

    /// Copies of every series' samples before `t` (decoded from its chunks), series without
    /// such samples left out.
    pub fn samples_before(&self, t: i64) -> Vec<(Labels, Vec<(i64, f64)>)> {
        self.chunks_before(t)
            .into_iter()
            .filter_map(|(l, c)| {
                let samples = c.samples();
                (!samples.is_empty()).then_some((l, samples))
            })
            .collect()
    }

    /// Copies of the compressed chunks holding every series' samples before `t` (what a block
    /// cut needs; decoded one series at a time while the block is written, outside the lock).
    pub fn chunks_before(&self, t: i64) -> Vec<(Labels, CutSeries)> {
        self.series
            .iter()
            .filter_map(|s| {
                let chunks: Vec<Box<[u8]>> =
                    s.ranges(&self.slabs).filter(|&(lo, _, _)| lo < t).map(|(_, _, data)| Box::<[u8]>::from(data)).collect();
                (!chunks.is_empty()).then(|| (s.labels.clone(), CutSeries { chunks, before: t }))
            })
            .collect()
    }

    /// Drops samples before `t` (they are in a block now) and series left empty; rebuilds the
    /// postings, keeping the creation order of the remaining series.
    pub fn truncate_before(&mut self, t: i64) {
        self.set_min_valid(t);
        let old = std::mem::take(&mut self.series);
        self.series = Vec::with_capacity(old.len());
        self.by_labels.clear();
        self.samples = 0;
        self.min_t = None;
        for mut s in old {
            let left = s.truncate_before(&mut self.slabs, t);
            if left == 0 {
                continue;
            }
            self.samples += left;
            if let Some(first) = s.min_t() {
                self.min_t = Some(self.min_t.map_or(first, |m| m.min(first)));
            }
            let id = self.series.len() as u32;
            let hash = self.hasher.hash_one(&s.labels);
            self.series.push(s);
            let series = &self.series;
            self.by_labels.insert_unique(hash, id, |&i| self.hasher.hash_one(&series[i as usize].labels));
        }
        self.postings = HeadPostings::rebuild(self.series.iter().map(|s| &s.labels));
        self.series.shrink_to_fit();
        let series = &self.series;
        self.by_labels.shrink_to_fit(|&i| self.hasher.hash_one(&series[i as usize].labels));
    }

    fn note_time(&mut self, t: i64) {
        self.max_t = Some(self.max_t.map_or(t, |m| m.max(t)));
        self.min_t = Some(self.min_t.map_or(t, |m| m.min(t)));
    }

    fn series_id(&mut self, labels: &Labels) -> u32 {
        let hash = self.hasher.hash_one(labels);
        let series = &self.series;
        if let Some(&id) = self.by_labels.find(hash, |&i| series[i as usize].labels == *labels) {
            return id;
        }
        let id = self.series.len() as u32;
        let labels = labels.deep_copy();
        self.postings.add(id, &labels);
        self.series.push(MemSeries::new(labels));
        let series = &self.series;
        self.by_labels.insert_unique(hash, id, |&i| self.hasher.hash_one(&series[i as usize].labels));
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
            match self.series[id].insert(&mut self.slabs, t, v) {
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
            if let Ok(true) = self.series[id].insert(&mut self.slabs, t, v) {
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
        self.matching(matchers)
            .into_iter()
            .filter_map(|id| {
                let s = &self.series[id as usize];
                let samples = s.samples_in(&self.slabs, mint, maxt);
                (!samples.is_empty()).then(|| SelectedSeries { labels: s.labels.clone(), samples })
            })
            .collect()
    }

    /// Label sets of the series matching `matchers` with a sample in `[mint, maxt]`.
    pub fn series_labels(&self, matchers: &[&Matcher], mint: i64, maxt: i64) -> Vec<Labels> {
        let mut out: Vec<Labels> = self
            .matching(matchers)
            .into_iter()
            .filter(|&id| self.series[id as usize].has_sample_in(&self.slabs, mint, maxt))
            .map(|id| self.series[id as usize].labels.clone())
            .collect();
        out.sort();
        out
    }

    /// Bytes of the series' sample chunks (closed and open; the open ones' spare capacity too).
    pub fn chunk_bytes(&self) -> usize {
        self.slabs.live() + self.series.iter().map(|s| s.open.capacity()).sum::<usize>()
    }
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

    fn all(h: &Head) -> Vec<(i64, u64)> {
        h.select(&[], i64::MIN, i64::MAX).into_iter().flat_map(|s| s.samples).map(|(t, v)| (t, v.to_bits())).collect()
    }

    /// 1000 in-order samples, 15 s apart: 8 closed chunks and an open one.
    fn filled() -> (Head, Labels, Vec<(i64, f64)>) {
        let mut h = Head::default();
        let s = l(&[("__name__", "x")]);
        let want: Vec<(i64, f64)> = (0..1000).map(|i| (i * 15_000, (i * 7 % 13) as f64 * 0.25)).collect();
        let mut stored = Vec::new();
        for part in want.chunks(7) {
            h.append(&s, part, i64::MAX, &mut stored);
        }
        (h, s, want)
    }

    #[test]
    fn samples_are_kept_in_closed_gorilla_chunks_and_an_open_one() {
        let (h, _, want) = filled();
        let ser = &h.series[0];
        assert_eq!(ser.chunks.len(), 1000 / HEAD_CHUNK_SAMPLES);
        assert_eq!(ser.open.len(), 1000 % HEAD_CHUNK_SAMPLES);
        assert_eq!(h.num_samples(), 1000);
        assert_eq!(all(&h), want.iter().map(|&(t, v)| (t, v.to_bits())).collect::<Vec<_>>());
        // Compressed: well under the 16 bytes a raw sample takes.
        assert!(h.chunk_bytes() < 1000 * 4, "{} bytes", h.chunk_bytes());
    }

    #[test]
    fn reads_spanning_closed_chunks_and_the_open_one() {
        let (h, _, want) = filled();
        // From inside the 8th closed chunk into the open one, edges inclusive.
        for (lo, hi) in [(850, 990), (0, 0), (119, 120), (959, 960), (960, 999), (300, 300), (5, 995)] {
            let (mint, maxt) = (lo * 15_000, hi * 15_000);
            let got = &h.select(&[], mint, maxt)[0].samples;
            let exp: Vec<_> = want.iter().copied().filter(|&(t, _)| t >= mint && t <= maxt).collect();
            assert_eq!(got, &exp, "[{lo}, {hi}]");
            assert_eq!(h.series_labels(&[], mint, maxt).len(), 1);
        }
        // Between two samples, inside one chunk: nothing.
        assert!(h.select(&[], 15_001, 29_999).is_empty());
        assert!(h.series_labels(&[], 15_001, 29_999).is_empty());
    }

    #[test]
    fn out_of_order_inserts_into_closed_and_open_chunks() {
        let (mut h, s, mut want) = filled();
        let mut stored = Vec::new();
        // Into the 1st and 5th closed chunks, into the gap between two chunks, into the open
        // one, a re-send, a conflicting duplicate and a staleness marker.
        let stale = f64::from_bits(crate::tsdb::STALE_NAN);
        let st = h.append(
            &s,
            &[(7_500, -1.0), (600_000 + 1, 42.0), (120 * 15_000 - 1, 3.5), (995 * 15_000 + 2, stale), (30_000, want[2].1), (45_000, 99.0)],
            i64::MAX,
            &mut stored,
        );
        assert_eq!((st.accepted, st.duplicate), (5, 1));
        assert_eq!(stored.len(), 4, "the re-send is not stored twice");
        want.extend([(7_500, -1.0), (600_001, 42.0), (120 * 15_000 - 1, 3.5), (995 * 15_000 + 2, stale)]);
        want.sort_by_key(|s| s.0);
        assert_eq!(all(&h), want.iter().map(|&(t, v)| (t, v.to_bits())).collect::<Vec<_>>());
        assert_eq!(h.num_samples(), 1004);
        // Appends continue in order after the open chunk was rebuilt.
        h.append(&s, &[(1000 * 15_000, 1.0)], i64::MAX, &mut stored);
        assert_eq!(all(&h).last(), Some(&(1000 * 15_000, 1f64.to_bits())));
        let ser = &h.series[0];
        assert!(ser.chunks.windows(2).all(|w| w[0].maxt < w[1].mint));
    }

    #[test]
    fn block_cut_reads_and_truncates_the_compressed_head() {
        let (mut h, s, want) = filled();
        // A cut in the middle of a closed chunk, then one in the open chunk.
        let mut prev = i64::MIN;
        for cut in [500 * 15_000 + 1, 990 * 15_000] {
            let got: Vec<_> = h.samples_before(cut).into_iter().flat_map(|(_, v)| v).collect();
            let exp: Vec<_> = want.iter().copied().filter(|&(t, _)| t >= prev && t < cut).collect();
            assert_eq!(got, exp);
            h.truncate_before(cut);
            prev = cut;
            let rest: Vec<_> = want.iter().filter(|&&(t, _)| t >= cut).map(|&(t, v)| (t, v.to_bits())).collect();
            assert_eq!(all(&h), rest);
            assert_eq!(h.num_samples(), rest.len() as u64);
            assert_eq!(h.min_t(), Some(rest[0].0));
        }
        let mut stored = Vec::new();
        let st = h.append(&s, &[(10, 1.0), (1000 * 15_000, 2.0)], i64::MAX, &mut stored);
        assert_eq!((st.accepted, st.too_old), (1, 1));
        // A cut after every sample drops the series.
        h.truncate_before(i64::MAX);
        assert_eq!(h.num_series(), 0);
        // Every closed chunk was freed from the slabs; only the one being filled is left.
        assert_eq!(h.slabs.live(), 0);
        assert!(h.slabs.allocated() <= 1);
    }
}

//! Immutable on-disk blocks: every sample of a time range `[mint, maxt]`, in compressed chunks,
//! with an inverted label index.
//!
//! A block is one file, written once (to `<id>.lkb.tmp`, fsynced, renamed to `<id>.lkb`, the
//! directory fsynced) and never changed; it is deleted whole by compaction or retention. Series
//! in a block are sorted by label set, so a block's series id is its rank in that order.
//!
//! ## File format (version 2)
//!
//! All integers little-endian; strings are UTF-8 without terminator.
//!
//! ```text
//! file     = magic "LKBLK002"  chunks  zseries  zpostings  meta  footer
//! zseries  = rawlen:u32 zstd-frame        the `series` below, zstd-compressed
//! zpostings= rawlen:u32 zstd-frame        the `postings` below, zstd-compressed
//! chunks   = chunk*                       each as `chunk::encode` writes it (encoding byte first)
//! series   = nseries:u32  entry*          sorted by label set; entry i is series id i
//! entry    = nlabels:u16 (namelen:u16 name  valuelen:u32 value)*   sorted by name
//!            nchunks:u32 (mint:i64 maxt:i64 offset:u64 len:u32)*  offset from file start,
//!                                                                 chunks in time order
//! postings = nnames:u32 (namelen:u16 name  nvalues:u32 (valuelen:u32 value  nids:u32 id:u32*)*)*
//!            names and values sorted, ids ascending
//! meta     = JSON: {"id","mint","maxt","num_series","num_samples","level","parents":[ids],
//!            "encoding"}       mint/maxt in ms, inclusive; parents are the blocks compacted
//!                              into this one (a parent found on disk at open is deleted)
//! footer   = series_off:u64  postings_off:u64  meta_off:u64  meta_len:u32
//!            crc:u32 (CRC-32 IEEE of every byte before the footer)  magic "LKBLKEND"
//! ```
//!
//! Version 1 (magic `LKBLK001`, still read) has `series` and `postings` uncompressed. Label
//! sets repeat their names and most of their values from series to series, so zstd takes the
//! index sections to about a fifth (BENCHMARKS.md "Bytes per sample"); they are read whole
//! into memory at open anyway.
//!
//! A file whose footer, CRC or sections do not check out is refused at open (logged, left in
//! place renamed `*.corrupt`). `testdata/sample-v1.lkb` and `testdata/sample-v2.lkb` are
//! committed blocks of each version; tests read them.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use promql_parser::label::Matcher;
use serde::{Deserialize, Serialize};

use super::Labels;
use super::chunk;

/// Series with their samples `(ms, value)`, as a block hands them out.
pub type SeriesSamples = Vec<(Labels, Vec<(i64, f64)>)>;
use super::index::{FrozenBuilder, FrozenPostings, Postings};

const MAGIC: &[u8; 8] = b"LKBLK002";
const MAGIC_V1: &[u8; 8] = b"LKBLK001";
/// Largest uncompressed index section accepted at open.
const MAX_SECTION: usize = 1 << 30;
const END_MAGIC: &[u8; 8] = b"LKBLKEND";
const FOOTER: usize = 8 + 8 + 8 + 4 + 4 + 8;
/// File name extension of a block.
pub const EXT: &str = "lkb";
/// Samples per chunk (chosen with the chunk encoding, see BENCHMARKS.md).
pub const SAMPLES_PER_CHUNK: usize = 480;

/// What a block holds, stored in its `meta` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlockMeta {
    /// Unique id (the file name without extension).
    pub id: String,
    /// First timestamp covered (ms, inclusive).
    pub mint: i64,
    /// Last timestamp covered (ms, inclusive).
    pub maxt: i64,
    /// Series count.
    pub num_series: u64,
    /// Sample count.
    pub num_samples: u64,
    /// 0 for a block cut from the head, +1 per compaction.
    pub level: u32,
    /// Blocks compacted into this one.
    pub parents: Vec<String>,
    /// Chunk encoding the writer used.
    pub encoding: u8,
}

/// Where a chunk is in the block file and which times it covers, in 20 bytes (a block holds
/// one per series per chunk range, so every byte here is a byte per series): `maxt` as its
/// distance from `mint` (saturated: a chunk spanning more than 49 days reads as reaching the
/// end of time, which only makes a query decode it and filter), offset (40 bits) and length
/// (24 bits) in one word.
#[derive(Debug, Clone, Copy)]
#[repr(C, packed(4))]
struct ChunkRef {
    mint: i64,
    span: u32,
    at: u64,
}

impl ChunkRef {
    const MAX_OFFSET: u64 = (1 << 40) - 1;
    const MAX_LEN: u32 = (1 << 24) - 1;

    /// `None` if the offset or the length do not fit.
    fn new(mint: i64, maxt: i64, offset: u64, len: u32) -> Option<ChunkRef> {
        if offset > Self::MAX_OFFSET || len > Self::MAX_LEN {
            return None;
        }
        let span = u32::try_from(maxt.saturating_sub(mint).max(0)).unwrap_or(u32::MAX);
        Some(ChunkRef { mint, span, at: offset << 24 | u64::from(len) })
    }

    fn mint(&self) -> i64 {
        self.mint
    }

    fn maxt(&self) -> i64 {
        match self.span {
            u32::MAX => i64::MAX,
            s => self.mint + i64::from(s),
        }
    }

    fn offset(&self) -> u64 {
        self.at >> 24
    }

    fn len(&self) -> u32 {
        (self.at & u64::from(Self::MAX_LEN)) as u32
    }
}

/// An open block: its series table and postings in memory; chunks are read from the file when
/// a query needs them (positioned reads on the handle opened with the block, so a block deleted
/// by compaction or retention stays readable to a query that still holds it). The page cache,
/// not the process, holds the chunk bytes.
pub struct Block {
    /// Its metadata.
    pub meta: BlockMeta,
    /// Its file.
    pub path: PathBuf,
    file: File,
    /// Label set of each series, by id.
    labels: Vec<Labels>,
    /// Series `id`'s chunk references are `chunks[chunk_start[id]..chunk_start[id + 1]]`: one
    /// array for the block, not a `Vec` per series.
    chunk_start: Vec<u32>,
    chunks: Vec<ChunkRef>,
    postings: FrozenPostings,
}

/// A fresh block id: time-ordered, unique.
pub fn new_id(mint: i64) -> String {
    format!("{:016x}-{:08x}", mint.max(0), rand::random::<u32>())
}

fn put_str16(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u16).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}
fn put_str32(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// Appends an index section: its length, then its zstd frame.
fn put_compressed(out: &mut Vec<u8>, raw: &[u8]) -> Result<(), String> {
    if raw.len() > MAX_SECTION {
        return Err(format!("block index section of {} bytes is over the {MAX_SECTION}-byte limit", raw.len()));
    }
    out.extend_from_slice(&(raw.len() as u32).to_le_bytes());
    let z = zstd::bulk::compress(raw, 3).map_err(|e| format!("compressing a block index section: {e}"))?;
    out.extend_from_slice(&z);
    Ok(())
}

/// Reads back a section [`put_compressed`] wrote.
fn get_compressed(sec: &[u8]) -> Result<Vec<u8>, String> {
    let mut c = Cur(sec);
    let raw = c.u32()? as usize;
    if raw > MAX_SECTION {
        return Err("index section too large".into());
    }
    let out = zstd::bulk::decompress(c.0, raw).map_err(|e| format!("index section: {e}"))?;
    if out.len() != raw {
        return Err("index section has the wrong length".into());
    }
    Ok(out)
}

/// Encodes a block file. `series` are sorted here; samples must be ascending per series.
pub fn encode(meta: &BlockMeta, series: &mut [(Labels, Vec<(i64, f64)>)]) -> Vec<u8> {
    let mut meta = meta.clone();
    let list: Vec<(Labels, &Vec<(i64, f64)>)> = series.iter().map(|(l, s)| (l.clone(), s)).collect();
    let result: Result<Vec<u8>, String> = encode_with(&mut meta, list, |s| Ok(s.to_vec()));
    result.unwrap_or_default()
}

/// Encodes a block file from series whose samples are produced one series at a time, so that
/// only one series is decoded at once (block cuts hand over compressed head chunks, compactions
/// the parents' series). `series` may be in any order (sorted here by labels); `samples_of`
/// gives a series' samples, ascending; series without samples are left out. Sets
/// `meta.num_series` and `meta.num_samples` to what was written.
pub fn encode_with<S>(
    meta: &mut BlockMeta,
    mut series: Vec<(Labels, S)>,
    mut samples_of: impl FnMut(&S) -> Result<Vec<(i64, f64)>, String>,
) -> Result<Vec<u8>, String> {
    series.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    let mut kept: Vec<Labels> = Vec::with_capacity(series.len());
    let mut refs = Vec::with_capacity(series.len());
    let mut num_samples = 0u64;
    for (labels, src) in series {
        let samples = samples_of(&src)?;
        if samples.is_empty() {
            continue;
        }
        num_samples += samples.len() as u64;
        let mut rs = Vec::new();
        for part in samples.chunks(SAMPLES_PER_CHUNK) {
            let bytes = chunk::encode(meta.encoding, part);
            rs.push((part[0].0, part[part.len() - 1].0, out.len() as u64, bytes.len() as u32));
            out.extend_from_slice(&bytes);
        }
        refs.push(rs);
        kept.push(labels);
    }
    meta.num_series = kept.len() as u64;
    meta.num_samples = num_samples;
    let meta = &*meta;
    let mut sec = Vec::new();
    sec.extend_from_slice(&(kept.len() as u32).to_le_bytes());
    let mut postings = Postings::default();
    for (id, (labels, rs)) in kept.iter().zip(&refs).enumerate() {
        postings.add(id as u32, labels);
        sec.extend_from_slice(&(labels.len() as u16).to_le_bytes());
        for (n, v) in labels.iter() {
            put_str16(&mut sec, n);
            put_str32(&mut sec, v);
        }
        sec.extend_from_slice(&(rs.len() as u32).to_le_bytes());
        for &(mint, maxt, offset, len) in rs {
            sec.extend_from_slice(&mint.to_le_bytes());
            sec.extend_from_slice(&maxt.to_le_bytes());
            sec.extend_from_slice(&offset.to_le_bytes());
            sec.extend_from_slice(&len.to_le_bytes());
        }
    }
    let series_off = out.len() as u64;
    put_compressed(&mut out, &sec)?;
    sec.clear();
    let mut names: Vec<_> = postings.map.iter().collect();
    names.sort_by(|a, b| a.0.cmp(b.0));
    sec.extend_from_slice(&(names.len() as u32).to_le_bytes());
    for (name, values) in names {
        put_str16(&mut sec, name);
        sec.extend_from_slice(&(values.len() as u32).to_le_bytes());
        for (value, ids) in values {
            put_str32(&mut sec, value);
            sec.extend_from_slice(&(ids.len() as u32).to_le_bytes());
            for id in ids {
                sec.extend_from_slice(&id.to_le_bytes());
            }
        }
    }
    let postings_off = out.len() as u64;
    put_compressed(&mut out, &sec)?;
    let meta_off = out.len() as u64;
    let meta_json = serde_json::to_vec(meta).expect("meta serialises");
    out.extend_from_slice(&meta_json);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&series_off.to_le_bytes());
    out.extend_from_slice(&postings_off.to_le_bytes());
    out.extend_from_slice(&meta_off.to_le_bytes());
    out.extend_from_slice(&(meta_json.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(END_MAGIC);
    Ok(out)
}

/// Writes a block durably into `dir` and opens it.
pub fn write(dir: &Path, meta: BlockMeta, series: &mut [(Labels, Vec<(i64, f64)>)]) -> std::io::Result<Block> {
    let list: Vec<(Labels, &Vec<(i64, f64)>)> = series.iter().map(|(l, s)| (l.clone(), s)).collect();
    write_with(dir, meta, list, |s| Ok(s.to_vec()))
}

/// [`encode_with`], written durably into `dir` and opened.
pub fn write_with<S>(
    dir: &Path,
    mut meta: BlockMeta,
    series: Vec<(Labels, S)>,
    samples_of: impl FnMut(&S) -> Result<Vec<(i64, f64)>, String>,
) -> std::io::Result<Block> {
    fs::create_dir_all(dir)?;
    // The open block shares the callers' label sets (the head's, the parents') instead of
    // holding its own copies.
    let mut known: HashSet<Labels> = series.iter().map(|s| s.0.clone()).collect();
    let bytes = encode_with(&mut meta, series, samples_of).map_err(std::io::Error::other)?;
    let path = dir.join(format!("{}.{EXT}", meta.id));
    let tmp = dir.join(format!("{}.{EXT}.tmp", meta.id));
    {
        let mut f = File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, &path)?;
    File::open(dir)?.sync_all()?;
    let file = File::open(&path)?;
    Block::decode(path, &bytes, file, &mut known).map_err(std::io::Error::other)
}

struct Cur<'a>(&'a [u8]);

impl<'a> Cur<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err("section ends early".into());
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u16(&mut self) -> Result<u16, String> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().expect("2")))
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4")))
    }
    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8")))
    }
    fn text(&mut self, n: usize) -> Result<&'a str, String> {
        std::str::from_utf8(self.take(n)?).map_err(|_| "label is not UTF-8".to_string())
    }
}

impl Block {
    /// Opens a block file.
    pub fn open(path: &Path) -> Result<Block, String> {
        Block::open_shared(path, &mut HashSet::new())
    }

    /// Opens a block file, taking label sets equal to one in `known` from there (and adding
    /// its own), so blocks opened together hold each label set once.
    pub fn open_shared(path: &Path, known: &mut HashSet<Labels>) -> Result<Block, String> {
        let mut file = File::open(path).map_err(|e| e.to_string())?;
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut file, &mut data).map_err(|e| e.to_string())?;
        Block::decode(path.to_path_buf(), &data, file, known)
    }

    /// Checks and parses a block's bytes; `file` is the same file, kept for chunk reads.
    fn decode(path: PathBuf, data: &[u8], file: File, known: &mut HashSet<Labels>) -> Result<Block, String> {
        if data.len() < MAGIC.len() + FOOTER || &data[data.len() - 8..] != END_MAGIC {
            return Err("not a block file (magic)".into());
        }
        let v1 = match &data[..8] {
            m if m == MAGIC => false,
            m if m == MAGIC_V1 => true,
            _ => return Err("not a block file (magic)".into()),
        };
        let body = data.len() - FOOTER;
        let mut f = Cur(&data[body..]);
        let (series_off, postings_off, meta_off) = (f.u64()? as usize, f.u64()? as usize, f.u64()? as usize);
        let meta_len = f.u32()? as usize;
        let crc = f.u32()?;
        if crc32fast::hash(&data[..body]) != crc {
            return Err("checksum mismatch".into());
        }
        if !(8 <= series_off && series_off <= postings_off && postings_off <= meta_off && meta_off + meta_len == body) {
            return Err("section offsets out of order".into());
        }
        let meta: BlockMeta = serde_json::from_slice(&data[meta_off..body]).map_err(|e| format!("meta: {e}"))?;
        let (series_sec, postings_sec): (Cow<[u8]>, Cow<[u8]>) = if v1 {
            (Cow::Borrowed(&data[series_off..postings_off]), Cow::Borrowed(&data[postings_off..meta_off]))
        } else {
            (Cow::Owned(get_compressed(&data[series_off..postings_off])?), Cow::Owned(get_compressed(&data[postings_off..meta_off])?))
        };
        let mut c = Cur(&series_sec);
        let n = c.u32()? as usize;
        let mut series = Vec::with_capacity(n.min(1 << 20));
        let mut chunk_start = Vec::with_capacity(n.min(1 << 20) + 1);
        let mut chunks = Vec::new();
        chunk_start.push(0u32);
        for _ in 0..n {
            let nl = c.u16()? as usize;
            let mut pairs = Vec::with_capacity(nl);
            for _ in 0..nl {
                let a = c.u16()? as usize;
                let name = c.text(a)?;
                let b = c.u32()? as usize;
                pairs.push((name, c.text(b)?));
            }
            let nc = c.u32()? as usize;
            for _ in 0..nc {
                let (mint, maxt, offset, len) = (c.u64()? as i64, c.u64()? as i64, c.u64()?, c.u32()?);
                if offset.saturating_add(u64::from(len)) > series_off as u64 {
                    return Err("chunk reference outside the chunks section".into());
                }
                let r = ChunkRef::new(mint, maxt, offset, len).ok_or("chunk reference beyond 1 TiB or over 16 MiB")?;
                chunks.push(r);
            }
            let labels = Labels::from_pairs(pairs);
            let labels = match known.get(&labels) {
                Some(l) => l.clone(),
                None => {
                    known.insert(labels.clone());
                    labels
                }
            };
            series.push(labels);
            chunk_start.push(u32::try_from(chunks.len()).map_err(|_| "too many chunks in a block".to_string())?);
        }
        chunks.shrink_to_fit();
        let mut c = Cur(&postings_sec);
        let mut postings = FrozenBuilder::default();
        let mut ids = Vec::new();
        for _ in 0..c.u32()? {
            let a = c.u16()? as usize;
            postings.name(c.text(a)?);
            for _ in 0..c.u32()? {
                let b = c.u32()? as usize;
                let value = c.text(b)?;
                let k = c.u32()? as usize;
                ids.clear();
                for _ in 0..k {
                    let id = c.u32()?;
                    if id as usize >= series.len() {
                        return Err("posting refers to a missing series".into());
                    }
                    ids.push(id);
                }
                postings.value(value, ids.iter().copied())?;
            }
        }
        let postings = postings.finish()?;
        Ok(Block { meta, path, file, labels: series, chunk_start, chunks, postings })
    }

    /// Size of the file.
    pub fn file_bytes(&self) -> u64 {
        fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0)
    }

    fn matching(&self, matchers: &[&Matcher]) -> Vec<u32> {
        self.postings.matching(matchers, self.labels.len(), |id| &self.labels[id as usize])
    }

    /// Chunk references of series `id` (a valid id).
    fn chunks_of(&self, id: u32) -> &[ChunkRef] {
        let i = id as usize;
        &self.chunks[self.chunk_start[i] as usize..self.chunk_start[i + 1] as usize]
    }

    fn overlaps(&self, id: u32, mint: i64, maxt: i64) -> bool {
        self.chunks_of(id).iter().any(|r| r.maxt() >= mint && r.mint() <= maxt)
    }

    fn samples(&self, id: u32, mint: i64, maxt: i64) -> Result<Vec<(i64, f64)>, String> {
        use std::os::unix::fs::FileExt;
        let mut out = Vec::new();
        let wanted: Vec<&ChunkRef> = self.chunks_of(id).iter().filter(|r| r.maxt() >= mint && r.mint() <= maxt).collect();
        // A series' chunks are written one after the other: one read covers the wanted ones.
        let Some(base) = wanted.iter().map(|r| r.offset()).min() else { return Ok(out) };
        let end = wanted.iter().map(|r| r.offset() + r.len() as u64).max().unwrap_or(base);
        let mut buf = vec![0u8; (end - base) as usize];
        self.file.read_exact_at(&mut buf, base).map_err(|e| format!("block {}: {e}", self.meta.id))?;
        for r in wanted {
            let at = (r.offset() - base) as usize;
            let bytes = buf.get(at..at + r.len() as usize).ok_or_else(|| format!("chunk out of range in block {}", self.meta.id))?;
            let samples = chunk::decode(bytes).ok_or_else(|| format!("corrupt chunk in block {}", self.meta.id))?;
            out.extend(samples.into_iter().filter(|&(t, _)| t >= mint && t <= maxt));
        }
        Ok(out)
    }

    /// Series matching `matchers` with their samples in `[mint, maxt]`, sorted by labels; series
    /// without samples there are left out.
    pub fn select(&self, matchers: &[&Matcher], mint: i64, maxt: i64) -> Result<SeriesSamples, String> {
        let mut out = Vec::new();
        for id in self.matching(matchers) {
            if !self.overlaps(id, mint, maxt) {
                continue;
            }
            let samples = self.samples(id, mint, maxt)?;
            if !samples.is_empty() {
                out.push((self.labels[id as usize].clone(), samples));
            }
        }
        Ok(out)
    }

    /// Label sets of the matching series with a chunk overlapping `[mint, maxt]`.
    pub fn series_labels(&self, matchers: &[&Matcher], mint: i64, maxt: i64) -> Vec<Labels> {
        self.matching(matchers).into_iter().filter(|&id| self.overlaps(id, mint, maxt)).map(|id| self.labels[id as usize].clone()).collect()
    }

    /// Label sets of every series, by series id (for compaction).
    pub fn series_list(&self) -> impl Iterator<Item = (u32, &Labels)> {
        self.labels.iter().enumerate().map(|(i, l)| (i as u32, l))
    }

    /// All samples of series `id`.
    pub fn series_samples(&self, id: u32) -> Result<Vec<(i64, f64)>, String> {
        if id as usize >= self.labels.len() {
            return Err(format!("no series {id} in block {}", self.meta.id));
        }
        self.samples(id, i64::MIN, i64::MAX)
    }

    /// Every series with all its samples (for compaction).
    pub fn all(&self) -> Result<SeriesSamples, String> {
        self.select(&[], i64::MIN, i64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsdb::STALE_NAN;
    use promql_parser::label::MatchOp;

    #[test]
    fn chunk_refs_pack_into_20_bytes_and_read_back() {
        assert_eq!(std::mem::size_of::<ChunkRef>(), 20);
        for (mint, maxt, offset, len) in
            [(0, 0, 0, 0), (-5, 7_199_999, 1 << 39, 4095), (i64::MIN, i64::MIN + 1, ChunkRef::MAX_OFFSET, ChunkRef::MAX_LEN)]
        {
            let r = ChunkRef::new(mint, maxt, offset, len).expect("fits");
            assert_eq!((r.mint(), r.maxt(), r.offset(), r.len()), (mint, maxt, offset, len));
        }
        // Too long a span reads as reaching the end of time: still selected by every query
        // that could want it.
        let r = ChunkRef::new(0, 60 * 86_400_000, 8, 9).unwrap();
        assert_eq!((r.mint(), r.maxt(), r.offset(), r.len()), (0, i64::MAX, 8, 9));
        let r = ChunkRef::new(i64::MIN, i64::MAX, 0, 1).unwrap();
        assert_eq!(r.maxt(), i64::MAX);
        assert!(ChunkRef::new(0, 1, ChunkRef::MAX_OFFSET + 1, 1).is_none());
        assert!(ChunkRef::new(0, 1, 0, ChunkRef::MAX_LEN + 1).is_none());
    }

    fn sample_series() -> Vec<(Labels, Vec<(i64, f64)>)> {
        let l = |pairs: &[(&str, &str)]| Labels::new(pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect());
        vec![
            (l(&[("__name__", "up"), ("job", "node")]), vec![(1_700_000_000_000, 1.0), (1_700_000_015_000, f64::from_bits(STALE_NAN))]),
            (
                l(&[("__name__", "http_requests_total"), ("code", "200"), ("job", "api")]),
                (0..1000).map(|i| (1_700_000_000_000 + i * 15_000, (i * 3) as f64)).collect(),
            ),
        ]
    }

    fn sample_meta() -> BlockMeta {
        BlockMeta {
            id: "000018bcfe568000-00000001".into(),
            mint: 1_700_000_000_000,
            maxt: 1_700_014_985_000,
            num_series: 2,
            num_samples: 1002,
            level: 0,
            parents: vec![],
            encoding: chunk::DEFAULT_ENCODING,
        }
    }

    #[test]
    fn committed_sample_blocks_still_read() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/tsdb/testdata");
        if std::env::var_os("LOOKOUT_UPDATE_GOLDEN").is_some() {
            fs::write(dir.join("sample-v2.lkb"), encode(&sample_meta(), &mut sample_series())).unwrap();
        }
        // Version 1, written with pcodec chunks by an earlier build; version 2, shaped chunks.
        let v1 = BlockMeta { encoding: chunk::ENC_PCO, ..sample_meta() };
        check_sample(&dir.join("sample-v1.lkb"), &v1);
        let v2 = fs::read(dir.join("sample-v2.lkb")).unwrap();
        assert_eq!(&v2[..8], MAGIC);
        check_sample(&dir.join("sample-v2.lkb"), &sample_meta());
    }

    fn check_sample(path: &Path, meta: &BlockMeta) {
        let b = Block::open(path).expect("committed sample block opens");
        assert_eq!(&b.meta, meta);
        let all = b.all().unwrap();
        let mut want = sample_series();
        want.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(all.len(), 2);
        for ((la, sa), (lb, sb)) in all.iter().zip(&want) {
            assert_eq!(la, lb);
            assert_eq!(
                sa.iter().map(|s| (s.0, s.1.to_bits())).collect::<Vec<_>>(),
                sb.iter().map(|s| (s.0, s.1.to_bits())).collect::<Vec<_>>()
            );
        }
        let m = Matcher::new(MatchOp::Equal, "job", "api");
        let got = b.select(&[&m], 1_700_000_015_000, 1_700_000_030_000).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].1, vec![(1_700_000_015_000, 3.0), (1_700_000_030_000, 6.0)]);
    }

    #[test]
    fn damaged_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = encode(&sample_meta(), &mut sample_series());
        for (i, damaged) in [
            bytes[..bytes.len() - 1].to_vec(),
            {
                let mut b = bytes.clone();
                b[20] ^= 1;
                b
            },
            b"LKBLK001".to_vec(),
        ]
        .into_iter()
        .enumerate()
        {
            let p = dir.path().join(format!("{i}.lkb"));
            fs::write(&p, damaged).unwrap();
            assert!(Block::open(&p).is_err());
        }
    }
}

#[cfg(test)]
mod size_tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// Series shaped like node_exporter scraped every 15 s (the `scrape` set of
    /// `lookout-tsdb-bench prometheus`): a quarter each of counters with integer increments,
    /// memory gauges moving in 4 KiB pages, ratios with two decimals and constant `up`, under
    /// label sets of five pairs.
    fn scrape_like(series: usize, samples: usize) -> Vec<(Labels, Vec<(i64, f64)>)> {
        let mut rng = StdRng::seed_from_u64(7);
        let t0 = 1_700_000_000_000i64;
        let names = ["node_cpu_seconds_total", "node_memory_Active_bytes", "node_load_ratio", "up"];
        (0..series)
            .map(|s| {
                let kind = s % 4;
                let labels = Labels::new(vec![
                    ("__name__".into(), names[kind].into()),
                    ("instance".into(), format!("host-{:04}:9100", s / 40)),
                    ("job".into(), "node".into()),
                    ("series".into(), s.to_string()),
                    ("zone".into(), format!("z{}", s % 3)),
                ]);
                let start = t0 + rng.random_range(0..15_000);
                let mut v = if kind == 1 {
                    200_000_000.0
                } else if kind == 2 {
                    0.5
                } else {
                    0.0
                };
                let samples = (0..samples as i64)
                    .map(|i| {
                        let x = match kind {
                            0 => {
                                v += rng.random_range(0..50) as f64;
                                v
                            }
                            1 => {
                                v = (v + rng.random_range(-64i64..=64) as f64 * 4096.0).max(0.0);
                                v
                            }
                            2 => {
                                v = (v + rng.random_range(-0.02..0.02f64)).clamp(0.0, 1.0);
                                (v * 100.0).round() / 100.0
                            }
                            _ => 1.0,
                        };
                        (start + i * 15_000, x)
                    })
                    .collect();
                (labels, samples)
            })
            .collect()
    }

    #[test]
    fn scrape_shaped_blocks_take_under_a_byte_per_sample() {
        // 90 minutes of 15 s scrapes: what a first compaction of 30-minute blocks holds.
        let mut series = scrape_like(2_000, 360);
        let meta = BlockMeta {
            id: "x".into(),
            mint: 0,
            maxt: i64::MAX,
            num_series: 0,
            num_samples: 0,
            level: 1,
            parents: vec![],
            encoding: chunk::DEFAULT_ENCODING,
        };
        let bytes = encode(&meta, &mut series);
        let per_sample = bytes.len() as f64 / (2_000.0 * 360.0);
        let pco = encode(&BlockMeta { encoding: chunk::ENC_PCO, ..meta.clone() }, &mut series);
        eprintln!("bytes/sample: shaped {per_sample:.3}, pco {:.3}", pco.len() as f64 / (2_000.0 * 360.0));
        assert!(per_sample < 1.0, "{per_sample:.3} bytes/sample");
        assert!(bytes.len() < pco.len(), "shaped chunks are smaller than pcodec's on this data");
        // Every sample reads back bit for bit.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("b.lkb");
        fs::write(&p, &bytes).unwrap();
        let got = Block::open(&p).unwrap().all().unwrap();
        series.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(got.len(), series.len());
        for ((la, sa), (lb, sb)) in got.iter().zip(&series) {
            assert_eq!(la, lb);
            assert!(sa.iter().zip(sb).all(|(a, b)| a.0 == b.0 && a.1.to_bits() == b.1.to_bits()) && sa.len() == sb.len());
        }
    }
}

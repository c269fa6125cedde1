//! The samples WAL: what makes an acknowledged remote_write request durable.
//!
//! Same shape as the log WAL ([`crate::wal`]): one writer thread, requests that arrive while it
//! syncs are appended together and share one fsync (group commit), and the HTTP answer waits
//! for that fsync. The writer also applies each request to the head (under the head's lock, in
//! WAL order), so only samples the head accepted are logged, and a replay of the log rebuilds
//! exactly the head that was acknowledged.
//!
//! ## On-disk format (version 1)
//!
//! A directory `<data_dir>/metrics/wal/` of segments `seg-NNNNNNNN.wal` (numbered, appended in
//! order; a new one is started when a block is cut) and at most one checkpoint
//! `checkpoint-NNNNNNNN.wal`. Segments and checkpoints are sequences of frames:
//!
//! ```text
//! frame   = len:u32le  crc:u32le  payload[len]          crc = CRC-32 (IEEE) of payload
//! payload = kind:u8 (1 = samples)  nseries:u32le  series*
//! series  = nlabels:u16le  (namelen:u16le name  valuelen:u32le value)*   (UTF-8, sorted by name)
//!           nsamples:u32le  (timestamp:i64le ms  value:u64le IEEE-754 bits)*
//! ```
//!
//! Staleness markers are stored bit-exact (the value `0x7ff0000000000002`). A frame that runs past
//! the end of the file or fails its CRC is a torn write from a crash: the file is truncated to
//! the last good frame on open.
//!
//! ## Truncation
//!
//! After a block holding every sample before `B` is on disk, the closed segments are rewritten
//! into `checkpoint-N.wal` (N = the last segment it covers) keeping only samples at or after `B`
//! — written to a `.tmp`, fsynced, renamed — and then the covered segments and the previous
//! checkpoint are deleted. Replay reads the newest checkpoint and the segments after N, and
//! skips samples before `B` (known from the blocks), so a crash between any two of these steps
//! neither loses nor repeats a sample.
//!
//! `testdata/samples-v1.wal` is a committed sample of this format; a test reads it.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// The record kind for a batch of samples.
const KIND_SAMPLES: u8 = 1;

/// One WAL record: series and their samples.
pub type Record = Vec<(super::Labels, Vec<(i64, f64)>)>;

/// Appends the frame of one record to `out`.
pub fn encode(record: &[(super::Labels, Vec<(i64, f64)>)], out: &mut Vec<u8>) {
    let mut p = Vec::with_capacity(64 + record.iter().map(|(_, s)| 64 + s.len() * 16).sum::<usize>());
    p.push(KIND_SAMPLES);
    p.extend_from_slice(&(record.len() as u32).to_le_bytes());
    for (labels, samples) in record {
        p.extend_from_slice(&(labels.len() as u16).to_le_bytes());
        for (n, v) in labels.iter() {
            p.extend_from_slice(&(n.len() as u16).to_le_bytes());
            p.extend_from_slice(n.as_bytes());
            p.extend_from_slice(&(v.len() as u32).to_le_bytes());
            p.extend_from_slice(v.as_bytes());
        }
        p.extend_from_slice(&(samples.len() as u32).to_le_bytes());
        for &(t, v) in samples {
            p.extend_from_slice(&t.to_le_bytes());
            p.extend_from_slice(&v.to_bits().to_le_bytes());
        }
    }
    out.extend_from_slice(&(p.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&p).to_le_bytes());
    out.extend_from_slice(&p);
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.take(2)?.try_into().ok()?))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn string(&mut self, n: usize) -> Option<String> {
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }
}

fn decode_payload(p: &[u8]) -> Option<Record> {
    let mut c = Cursor(p);
    if c.take(1)? != [KIND_SAMPLES] {
        return None;
    }
    let n = c.u32()? as usize;
    let mut out = Vec::with_capacity(n.min(1 << 16));
    for _ in 0..n {
        let nl = c.u16()? as usize;
        let mut pairs = Vec::with_capacity(nl);
        for _ in 0..nl {
            let nlen = c.u16()? as usize;
            let name = c.string(nlen)?;
            let vlen = c.u32()? as usize;
            pairs.push((name, c.string(vlen)?));
        }
        let ns = c.u32()? as usize;
        let mut samples = Vec::with_capacity(ns.min(1 << 16));
        for _ in 0..ns {
            let t = c.u64()? as i64;
            samples.push((t, f64::from_bits(c.u64()?)));
        }
        out.push((super::Labels::new(pairs), samples));
    }
    c.0.is_empty().then_some(out)
}

/// Reads every valid record of `data` and the length of the valid prefix.
pub fn decode_all(data: &[u8]) -> (Vec<Record>, usize) {
    let mut records = Vec::new();
    let mut pos = 0usize;
    while let Some(header) = data.get(pos..pos + 8) {
        let len = u32::from_le_bytes(header[0..4].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_le_bytes(header[4..8].try_into().expect("4 bytes"));
        let Some(payload) = data.get(pos + 8..pos + 8 + len) else { break };
        if crc32fast::hash(payload) != crc {
            break;
        }
        let Some(rec) = decode_payload(payload) else { break };
        records.push(rec);
        pos += 8 + len;
    }
    (records, pos)
}

fn seg_name(n: u64) -> String {
    format!("seg-{n:08}.wal")
}
fn checkpoint_name(n: u64) -> String {
    format!("checkpoint-{n:08}.wal")
}

/// Numbers of the files named `prefix-NNNNNNNN.wal` in `dir`, ascending.
fn numbered(dir: &Path, prefix: &str) -> std::io::Result<Vec<u64>> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir)? {
        let name = e?.file_name();
        let name = name.to_string_lossy();
        if let Some(n) = name.strip_prefix(prefix).and_then(|r| r.strip_prefix('-')).and_then(|r| r.strip_suffix(".wal"))
            && let Ok(n) = n.parse::<u64>()
        {
            out.push(n);
        }
    }
    out.sort_unstable();
    Ok(out)
}

fn read_file(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut data = Vec::new();
    File::open(path)?.read_to_end(&mut data)?;
    Ok(data)
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The open WAL: the segment being appended to.
pub struct WalFile {
    /// The directory.
    pub dir: PathBuf,
    /// Path of the current segment.
    pub path: PathBuf,
    file: File,
    /// Number of the current segment.
    pub segment: u64,
    /// Bytes in the current segment.
    pub size: u64,
}

impl WalFile {
    /// Opens the WAL in `dir`, returning the records of the newest checkpoint and of every
    /// segment after it, in order; a torn tail is truncated away; files a finished checkpoint
    /// covers are deleted.
    pub fn open(dir: &Path) -> std::io::Result<(WalFile, Vec<Record>)> {
        fs::create_dir_all(dir)?;
        // The single-file layout before segments: it becomes segment 0.
        let legacy = dir.join("samples-v1.wal");
        if legacy.exists() {
            fs::rename(&legacy, dir.join(seg_name(0)))?;
        }
        for e in fs::read_dir(dir)? {
            let p = e?.path();
            if p.extension().is_some_and(|x| x == "tmp") {
                fs::remove_file(&p)?;
            }
        }
        let checkpoints = numbered(dir, "checkpoint")?;
        let mut records = Vec::new();
        let mut first_seg = 0;
        if let Some(&c) = checkpoints.last() {
            let (recs, _) = decode_all(&read_file(&dir.join(checkpoint_name(c)))?);
            records.extend(recs);
            first_seg = c + 1;
            for &old in &checkpoints[..checkpoints.len() - 1] {
                fs::remove_file(dir.join(checkpoint_name(old)))?;
            }
        }
        let segs = numbered(dir, "seg")?;
        for &n in segs.iter().filter(|&&n| n < first_seg) {
            fs::remove_file(dir.join(seg_name(n)))?;
        }
        let live: Vec<u64> = segs.into_iter().filter(|&n| n >= first_seg).collect();
        let current = live.last().copied().unwrap_or(first_seg);
        let mut size = 0;
        for &n in &live {
            let path = dir.join(seg_name(n));
            let data = read_file(&path)?;
            let (recs, valid) = decode_all(&data);
            records.extend(recs);
            if valid < data.len() {
                tracing::warn!(file = %path.display(), valid_bytes = valid, "torn record in the samples WAL (crash during write); truncating it");
                let f = OpenOptions::new().write(true).open(&path)?;
                f.set_len(valid as u64)?;
                f.sync_all()?;
            }
            if n == current {
                size = valid as u64;
            }
        }
        let path = dir.join(seg_name(current));
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        sync_dir(dir)?;
        Ok((WalFile { dir: dir.to_path_buf(), path, file, segment: current, size }, records))
    }

    /// Appends and fsyncs.
    pub fn write_sync(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.file.write_all(buf)?;
        self.file.sync_data()?;
        self.size += buf.len() as u64;
        Ok(())
    }

    /// Starts the next segment; returns its number (every earlier segment is closed).
    pub fn rotate(&mut self) -> std::io::Result<u64> {
        self.file.sync_all()?;
        let next = self.segment + 1;
        let path = self.dir.join(seg_name(next));
        self.file = OpenOptions::new().create(true).append(true).open(&path)?;
        sync_dir(&self.dir)?;
        self.segment = next;
        self.path = path;
        self.size = 0;
        Ok(next)
    }
}

/// Total bytes of the WAL directory's files.
pub fn dir_bytes(dir: &Path) -> u64 {
    fs::read_dir(dir).map(|rd| rd.flatten().filter_map(|e| e.metadata().ok()).map(|m| m.len()).sum()).unwrap_or(0)
}

/// Copies the series of record payload `p` that have samples at or after `keep_from` into `out`
/// (cleared first) as a payload of the same format, their label bytes as they are and only
/// those samples. Returns how many series it kept, or `None` when `p` is not a valid record
/// (what [`decode_all`] would stop at). Nothing is decoded into label sets: a checkpoint of a
/// large WAL costs one payload buffer, not an allocation per label.
fn filter_payload(p: &[u8], keep_from: i64, out: &mut Vec<u8>) -> Option<u32> {
    let mut c = Cursor(p);
    if c.take(1)? != [KIND_SAMPLES] {
        return None;
    }
    let n = c.u32()?;
    out.clear();
    out.push(KIND_SAMPLES);
    out.extend_from_slice(&0u32.to_le_bytes());
    let mut kept = 0u32;
    for _ in 0..n {
        let series_start = c.0;
        let nl = c.u16()?;
        for _ in 0..nl {
            let a = c.u16()? as usize;
            std::str::from_utf8(c.take(a)?).ok()?;
            let b = c.u32()? as usize;
            std::str::from_utf8(c.take(b)?).ok()?;
        }
        let labels = &series_start[..series_start.len() - c.0.len()];
        let ns = c.u32()? as usize;
        let samples = c.take(ns.checked_mul(16)?)?;
        let at = |s: &[u8]| i64::from_le_bytes(s[..8].try_into().expect("8 bytes"));
        let keep = samples.chunks_exact(16).filter(|s| at(s) >= keep_from).count();
        if keep == 0 {
            continue;
        }
        out.extend_from_slice(labels);
        out.extend_from_slice(&(keep as u32).to_le_bytes());
        for s in samples.chunks_exact(16).filter(|s| at(s) >= keep_from) {
            out.extend_from_slice(s);
        }
        kept += 1;
    }
    if !c.0.is_empty() {
        return None;
    }
    out[1..5].copy_from_slice(&kept.to_le_bytes());
    Some(kept)
}

/// Reads the next frame's payload of `r` into `buf`; false at the end of the valid frames (end
/// of file, a torn frame or a CRC mismatch), as [`decode_all`] stops.
fn next_frame(r: &mut impl Read, buf: &mut Vec<u8>) -> std::io::Result<bool> {
    let mut header = [0u8; 8];
    match r.read_exact(&mut header) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(false),
        Err(e) => return Err(e),
    }
    let len = u32::from_le_bytes(header[0..4].try_into().expect("4 bytes")) as usize;
    let crc = u32::from_le_bytes(header[4..8].try_into().expect("4 bytes"));
    buf.clear();
    // A torn length can claim gigabytes: read what is there instead of reserving it.
    let got = r.take(len as u64).read_to_end(buf)?;
    Ok(got == len && crc32fast::hash(buf) == crc)
}

/// Rewrites the checkpoint and the segments before `upto` into `checkpoint-(upto-1).wal`,
/// keeping samples at or after `keep_from`, then deletes what it replaces. Returns the bytes
/// of the new checkpoint. Streams frame by frame: its memory is two payload buffers, however
/// large the WAL (a backfill that outran the block cuts can leave hundreds of MB of it).
pub fn checkpoint(dir: &Path, upto: u64, keep_from: i64) -> std::io::Result<u64> {
    if upto == 0 {
        return Ok(0);
    }
    let checkpoints = numbered(dir, "checkpoint")?;
    let segs: Vec<u64> = numbered(dir, "seg")?.into_iter().filter(|&n| n < upto).collect();
    let mut sources: Vec<PathBuf> = checkpoints.iter().map(|&c| dir.join(checkpoint_name(c))).collect();
    sources.extend(segs.iter().map(|&n| dir.join(seg_name(n))));
    let name = checkpoint_name(upto - 1);
    let tmp = dir.join(format!("{name}.tmp"));
    let mut written = 0u64;
    {
        let mut w = std::io::BufWriter::with_capacity(1 << 20, File::create(&tmp)?);
        let (mut payload, mut kept) = (Vec::new(), Vec::new());
        for src in &sources {
            let mut r = std::io::BufReader::with_capacity(1 << 20, File::open(src)?);
            while next_frame(&mut r, &mut payload)? {
                match filter_payload(&payload, keep_from, &mut kept) {
                    None => break,
                    Some(0) => {}
                    Some(_) => {
                        w.write_all(&(kept.len() as u32).to_le_bytes())?;
                        w.write_all(&crc32fast::hash(&kept).to_le_bytes())?;
                        w.write_all(&kept)?;
                        written += 8 + kept.len() as u64;
                    }
                }
            }
        }
        w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    }
    fs::rename(&tmp, dir.join(&name))?;
    sync_dir(dir)?;
    for src in sources {
        if src.file_name().is_some_and(|n| n.to_string_lossy() != name) {
            fs::remove_file(src)?;
        }
    }
    sync_dir(dir)?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsdb::{Labels, STALE_NAN};

    fn sample_record() -> Record {
        vec![
            (
                Labels::new(vec![("__name__".into(), "http_requests_total".into()), ("job".into(), "api".into())]),
                vec![(1_700_000_000_000, 1.0), (1_700_000_015_000, 2.5)],
            ),
            (Labels::new(vec![("__name__".into(), "up".into())]), vec![(1_700_000_000_000, f64::from_bits(STALE_NAN))]),
        ]
    }

    #[test]
    fn committed_sample_file_still_reads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/tsdb/testdata/samples-v1.wal");
        let mut expected = Vec::new();
        encode(&sample_record(), &mut expected);
        encode(&sample_record()[1..], &mut expected);
        if std::env::var_os("LOOKOUT_UPDATE_GOLDEN").is_some() {
            fs::write(&path, &expected).unwrap();
        }
        let data = fs::read(&path).expect("committed sample WAL");
        assert_eq!(data, expected, "encoding changed: bump the format version instead");
        let (records, valid) = decode_all(&data);
        assert_eq!(valid, data.len());
        assert_eq!(records.len(), 2);
        assert_eq!(records[0][0].1, sample_record()[0].1);
        assert_eq!(records[1][0].1[0].1.to_bits(), STALE_NAN, "staleness marker kept bit-exact");
    }

    #[test]
    fn torn_tail_is_truncated_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let mut buf = Vec::new();
        encode(&sample_record(), &mut buf);
        let good = buf.len();
        encode(&sample_record(), &mut buf);
        fs::write(dir.path().join(seg_name(0)), &buf[..buf.len() - 3]).unwrap();
        let (wal, records) = WalFile::open(dir.path()).unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!(wal.size, good as u64);
        assert_eq!(fs::metadata(dir.path().join(seg_name(0))).unwrap().len(), good as u64);
    }

    #[test]
    fn checkpoint_keeps_only_samples_not_in_blocks_and_replay_survives_each_step() {
        let dir = tempfile::tempdir().unwrap();
        let l = Labels::new(vec![("__name__".into(), "x".into())]);
        let (mut wal, _) = WalFile::open(dir.path()).unwrap();
        let mut buf = Vec::new();
        encode(&[(l.clone(), vec![(1, 1.0), (2, 2.0), (10, 10.0)])], &mut buf);
        wal.write_sync(&buf).unwrap();
        let next = wal.rotate().unwrap();
        buf.clear();
        encode(&[(l.clone(), vec![(11, 11.0)])], &mut buf);
        wal.write_sync(&buf).unwrap();
        // A crash before the checkpoint: everything is replayed.
        let (_, recs) = WalFile::open(dir.path()).unwrap();
        assert_eq!(recs.iter().map(|r| r[0].1.len()).sum::<usize>(), 4);
        checkpoint(dir.path(), next, 10).unwrap();
        assert!(!dir.path().join(seg_name(0)).exists());
        let (wal, recs) = WalFile::open(dir.path()).unwrap();
        let samples: Vec<_> = recs.iter().flat_map(|r| r[0].1.clone()).collect();
        assert_eq!(samples, vec![(10, 10.0), (11, 11.0)]);
        assert_eq!(wal.segment, next);
        // A second checkpoint replaces the first.
        drop(wal);
        checkpoint(dir.path(), next + 1, 11).unwrap();
        let (_, recs) = WalFile::open(dir.path()).unwrap();
        let samples: Vec<_> = recs.iter().flat_map(|r| r[0].1.clone()).collect();
        assert_eq!(samples, vec![(11, 11.0)]);
        assert_eq!(numbered(dir.path(), "checkpoint").unwrap(), vec![next]);
    }

    /// The streaming checkpoint writes exactly the frames of decode → filter → encode, over
    /// many random records and segments, and stops at a torn tail as replay does.
    #[test]
    fn streamed_checkpoint_equals_decoding_filtering_and_encoding() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = WalFile::open(dir.path()).unwrap();
        let mut all = Vec::new();
        for seg in 0..3 {
            let mut buf = Vec::new();
            for _ in 0..50 {
                let rec: Record = (0..rng.random_range(1..8))
                    .map(|i| {
                        let mut pairs = vec![("__name__".to_string(), format!("m{}", rng.random_range(0..5)))];
                        if rng.random_bool(0.5) {
                            pairs.push(("instance".into(), format!("h{i}é")));
                        }
                        let samples = (0..rng.random_range(0..12)).map(|_| (rng.random_range(0..1000), rng.random::<f64>())).collect();
                        (Labels::new(pairs), samples)
                    })
                    .collect();
                encode(&rec, &mut buf);
                all.push(rec);
            }
            if seg == 2 {
                // A torn last frame: the streaming copy must stop where replay stops.
                buf.truncate(buf.len() - 5);
                all.pop();
            }
            wal.write_sync(&buf).unwrap();
            wal.rotate().unwrap();
        }
        let keep_from = 500;
        let mut want = Vec::new();
        for rec in &all {
            let kept: Record = rec
                .iter()
                .filter_map(|(l, s)| {
                    let s: Vec<_> = s.iter().copied().filter(|&(t, _)| t >= keep_from).collect();
                    (!s.is_empty()).then(|| (l.clone(), s))
                })
                .collect();
            if !kept.is_empty() {
                encode(&kept, &mut want);
            }
        }
        let n = checkpoint(dir.path(), 3, keep_from).unwrap();
        let got = fs::read(dir.path().join(checkpoint_name(2))).unwrap();
        assert_eq!(n as usize, got.len());
        assert!(got.len() > 1000, "the random records kept samples");
        assert!(got == want, "checkpoint bytes differ from decode + filter + encode");
        assert!(!dir.path().join(seg_name(0)).exists());
    }
}

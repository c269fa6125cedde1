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
//! One file, `<data_dir>/metrics/wal/samples-v1.wal`, a sequence of frames:
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
//! the last good frame on open. Nothing is ever deleted yet: blocks and WAL truncation are not
//! built, so the WAL is the whole history (see the issue's note).
//!
//! `testdata/samples-v1.wal` is a committed sample of this format; a test reads it.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// The record kind for a batch of samples.
const KIND_SAMPLES: u8 = 1;

/// File name of the (single) segment.
pub const FILE_NAME: &str = "samples-v1.wal";

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

/// The open WAL file.
pub struct WalFile {
    /// Its path.
    pub path: PathBuf,
    file: File,
    /// Bytes in the file.
    pub size: u64,
}

impl WalFile {
    /// Opens `dir/samples-v1.wal`, returning its records; a torn tail is truncated away.
    pub fn open(dir: &Path) -> std::io::Result<(WalFile, Vec<Record>)> {
        fs::create_dir_all(dir)?;
        let path = dir.join(FILE_NAME);
        let mut data = Vec::new();
        if path.exists() {
            File::open(&path)?.read_to_end(&mut data)?;
        }
        let (records, valid) = decode_all(&data);
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        if valid < data.len() {
            tracing::warn!(file = %path.display(), valid_bytes = valid, "torn record at the end of the samples WAL (crash during write); truncating it");
            file.set_len(valid as u64)?;
            file.sync_all()?;
        }
        File::open(dir)?.sync_all()?;
        Ok((WalFile { path, file, size: valid as u64 }, records))
    }

    /// Appends and fsyncs.
    pub fn write_sync(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.file.write_all(buf)?;
        self.file.sync_data()?;
        self.size += buf.len() as u64;
        Ok(())
    }
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
        fs::write(dir.path().join(FILE_NAME), &buf[..buf.len() - 3]).unwrap();
        let (wal, records) = WalFile::open(dir.path()).unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!(wal.size, good as u64);
        assert_eq!(fs::metadata(dir.path().join(FILE_NAME)).unwrap().len(), good as u64);
    }
}

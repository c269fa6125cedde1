//! Checkpoint files: where each followed file has been read up to *and delivered*.
//!
//! Format (`<data_dir>/checkpoints/<source>.json`), version 1:
//!
//! ```json
//! {"version":1,"files":[{"dev":2049,"ino":1234,"fingerprint":"9f0c…","fingerprint_len":1024,
//!   "offset":52311,"path":"/var/log/app/api.log"}]}
//! ```
//!
//! - `dev`/`ino` locate the file; `fingerprint` is FNV-1a 64 (hex) of its first
//!   `fingerprint_len` bytes (up to 1 KiB). A file matches an entry only if both agree, so an
//!   inode reused by a new file is not mistaken for the old one.
//! - `offset` is the byte just past the last line whose batch the sink acknowledged. It never
//!   points into the middle of a line.
//! - `path` is the last path the file was seen at; after a restart a file no glob matches any
//!   more (rotated away before it was finished) is looked for there and in its directory.
//! - `generation` (optional, added compatibly to version 1) names the file's *content stream*:
//!   a random id given to a file when it is first followed, kept across renames and inherited
//!   by a copytruncate copy, new after a truncation. The `lookout` sink puts it in the
//!   `Lookout-Batch` stream and uses byte offsets as sequences.
//! - `sent` (optional) lists, in order, the end offsets of batches already handed to sinks but
//!   not yet acknowledged. The file source writes it *before* sending; after a crash it cuts its
//!   first batches exactly at these offsets again, so each re-sent batch carries the id the
//!   aggregator may already have stored, and is dropped there as a duplicate instead of stored
//!   twice (see `sources::file`).
//!
//! Writes are atomic: write `<name>.json.tmp`, fsync it, rename over `<name>.json`, fsync the
//! directory. A crash leaves either the old or the new checkpoint, never a torn one.

use serde::{Deserialize, Serialize};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// One file's entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileCheckpoint {
    /// Device number.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
    /// FNV-1a 64 of the first `fingerprint_len` bytes, hex.
    pub fingerprint: String,
    /// How many leading bytes the fingerprint covers.
    pub fingerprint_len: u64,
    /// Delivered up to here.
    pub offset: u64,
    /// Last known path.
    pub path: PathBuf,
    /// The file's content-stream id (0 in checkpoints written before it existed).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub generation: u64,
    /// End offsets of batches sent but not acknowledged, ascending.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sent: Vec<u64>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The whole checkpoint file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Checkpoints {
    /// Format version (1).
    pub version: u32,
    /// Entries.
    pub files: Vec<FileCheckpoint>,
}

/// Reads a checkpoint file; a missing file is empty. A corrupt one is an error naming the file.
pub fn read(path: &Path) -> Result<Checkpoints, String> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| format!("corrupt checkpoint file {}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Checkpoints { version: 1, files: vec![] }),
        Err(e) => Err(format!("cannot read checkpoint file {}: {e}", path.display())),
    }
}

/// Writes a checkpoint file atomically.
pub fn write(path: &Path, cp: &Checkpoints) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let tmp = path.with_extension("json.tmp");
    {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(&serde_json::to_vec(cp).expect("checkpoints serialize"))?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    fs::File::open(dir)?.sync_all()
}

/// FNV-1a 64 of `bytes`, as 16 hex digits.
pub fn fingerprint(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpoints/app.json");
        assert_eq!(read(&path).unwrap().files, vec![]);
        let cp = Checkpoints {
            version: 1,
            files: vec![FileCheckpoint {
                dev: 1,
                ino: 2,
                fingerprint: fingerprint(b"abc"),
                fingerprint_len: 3,
                offset: 10,
                path: "/x.log".into(),
                generation: 7,
                sent: vec![20, 30],
            }],
        };
        write(&path, &cp).unwrap();
        assert_eq!(read(&path).unwrap(), cp);
        assert!(!path.with_extension("json.tmp").exists());
    }

    #[test]
    fn corrupt_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.json");
        fs::write(&path, b"{\"version\":1,\"fil").unwrap();
        assert!(read(&path).unwrap_err().contains("app.json"));
    }

    #[test]
    fn reads_the_committed_v1_sample() {
        let sample = include_str!("../testdata/checkpoint.v1.json");
        let cp: Checkpoints = serde_json::from_str(sample).unwrap();
        assert_eq!(cp.version, 1);
        assert_eq!(cp.files[0].offset, 52311);
        assert_eq!(cp.files[0].fingerprint_len, 1024);
    }

    #[test]
    fn fingerprint_is_stable() {
        // FNV-1a 64 reference value for "a".
        assert_eq!(fingerprint(b"a"), "af63dc4c8601ec8c");
    }
}

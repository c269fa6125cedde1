//! Online backup and restore of a data directory: `lookout backup DEST` while the aggregator
//! keeps ingesting, `lookout restore SRC --data-dir DIR` to rebuild a working directory.
//!
//! The problem: copy a directory that is being written (WALs appended, indexes committed and
//! merged, blocks cut and compacted, SQLite updated) and still get a state the aggregator can
//! start from without losing or repeating anything acknowledged before the backup began.
//!
//! The key decision: no pause and no coordination with the running process. Every store is
//! already crash-consistent (a SIGKILL at any moment is survived), so a backup only has to copy
//! each store's files **in the order its recovery assumes**, retrying a store whose files moved
//! under it (a merge or compaction deleted a file between listing and copying):
//!
//! - Logs: the WAL first, then the catalog (SQLite `VACUUM INTO`, a transactionally consistent
//!   copy), then each partition's index (its `meta.json` read first, then exactly the segment
//!   files it names). Recovery replays the WAL after the catalog's checkpoint and skips, per
//!   partition, what that partition's own commit already holds. Since the copied WAL is older than
//!   the copied catalog, and each partition commit is at least as new as the catalog, every record
//!   after the copied checkpoint is either in the copied WAL or already in the copied partition.
//! - Metrics: the WAL (checkpoint + segments) first, then `blocks/head_min_ms`, then the block
//!   files. Replay skips WAL samples before max(head_min_ms, newest block end); a block below
//!   head_min_ms is durable before head_min_ms is written, so reading head_min_ms before listing
//!   blocks never misses one. Compaction parents copied beside their child are deleted at open.
//! - Every other SQLite database (alert state, silences, ...) via `VACUUM INTO`; every other file
//!   copied as is.
//!
//! A backup is written to `DEST.partial` and renamed to `DEST` when complete, with a manifest
//! (`BACKUP.json`: every file and its size) that `restore` verifies before copying.

use std::collections::HashSet;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The manifest's file name at the root of a backup.
pub const MANIFEST: &str = "BACKUP.json";
/// How often a store is re-copied when its files keep moving before giving up.
const ATTEMPTS: usize = 50;

/// What a backup holds.
#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    /// Format version of this manifest.
    pub version: u32,
    /// The `lookout` version that wrote it.
    pub lookout_version: String,
    /// RFC 3339 time the backup started.
    pub started: String,
    /// Every file, relative to the backup root, with its size.
    pub files: Vec<ManifestFile>,
}

/// One file of a backup.
#[derive(Debug, Serialize, Deserialize)]
pub struct ManifestFile {
    /// Path relative to the backup root, `/`-separated.
    pub path: String,
    /// Size in bytes.
    pub bytes: u64,
}

/// A backup or restore failure, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The destination exists and is not empty.
    #[error("{0} already exists and is not empty")]
    DestinationNotEmpty(PathBuf),
    /// The source is not a data directory or not a backup.
    #[error("{0}")]
    BadSource(String),
    /// Reading or writing a file failed.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        error: std::io::Error,
    },
    /// A SQLite copy failed.
    #[error("{path}: {error}")]
    Sqlite {
        /// The database.
        path: PathBuf,
        /// What went wrong.
        error: String,
    },
    /// A store's files kept changing during every attempt.
    #[error("{0}: files kept changing during {ATTEMPTS} attempts; try again when compaction is quieter")]
    Unstable(PathBuf),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |error| BackupError::Io { path: path.to_path_buf(), error }
}

/// Copying one store failed because a file vanished under us (retry) or for real (give up).
enum Attempt {
    Moved,
    Failed(BackupError),
}

impl From<BackupError> for Attempt {
    fn from(e: BackupError) -> Self {
        match &e {
            BackupError::Io { error, .. } if error.kind() == ErrorKind::NotFound => Attempt::Moved,
            _ => Attempt::Failed(e),
        }
    }
}

/// Retries `copy` (which starts by clearing its destination) while files move under it.
fn with_retries(what: &Path, dest: &Path, mut copy: impl FnMut() -> Result<(), Attempt>) -> Result<(), BackupError> {
    for _ in 0..ATTEMPTS {
        if dest.exists() {
            fs::remove_dir_all(dest).map_err(io(dest))?;
        }
        fs::create_dir_all(dest).map_err(io(dest))?;
        match copy() {
            Ok(()) => return Ok(()),
            Err(Attempt::Moved) => std::thread::sleep(std::time::Duration::from_millis(20)),
            Err(Attempt::Failed(e)) => return Err(e),
        }
    }
    Err(BackupError::Unstable(what.to_path_buf()))
}

/// Copies the regular files directly in `src` (not subdirectories) accepted by `keep`.
fn copy_flat(src: &Path, dest: &Path, keep: impl Fn(&str) -> bool) -> Result<(), Attempt> {
    let mut names: Vec<String> = Vec::new();
    for e in fs::read_dir(src).map_err(|e| Attempt::from(io(src)(e)))? {
        let e = e.map_err(|e| Attempt::from(io(src)(e)))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if e.file_type().map(|t| t.is_file()).unwrap_or(false) && keep(&name) {
            names.push(name);
        }
    }
    names.sort();
    for n in names {
        let from = src.join(&n);
        fs::copy(&from, dest.join(&n)).map_err(|e| Attempt::from(io(&from)(e)))?;
    }
    Ok(())
}

/// `VACUUM INTO`: a consistent copy of a live SQLite database (readers and writers go on).
fn copy_sqlite(src: &Path, dest: &Path) -> Result<(), BackupError> {
    let sqlite = |error: rusqlite::Error| BackupError::Sqlite { path: src.to_path_buf(), error: error.to_string() };
    let conn = rusqlite::Connection::open_with_flags(src, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(sqlite)?;
    conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(sqlite)?;
    conn.execute("VACUUM INTO ?1", [dest.to_string_lossy()]).map_err(sqlite)?;
    Ok(())
}

fn is_sqlite(name: &str) -> bool {
    name.ends_with(".sqlite") || name.ends_with(".db")
}

fn is_sqlite_side_file(name: &str) -> bool {
    ["-wal", "-shm", "-journal"].iter().any(|s| name.ends_with(s))
}

/// A tantivy index at its current commit: `meta.json`, then every file of the segments it names.
fn copy_tantivy(src: &Path, dest: &Path) -> Result<(), Attempt> {
    let meta_path = src.join("meta.json");
    let meta = fs::read(&meta_path).map_err(|e| Attempt::from(io(&meta_path)(e)))?;
    let v: serde_json::Value = serde_json::from_slice(&meta)
        .map_err(|e| Attempt::Failed(BackupError::BadSource(format!("{}: not a tantivy meta.json: {e}", meta_path.display()))))?;
    let segments: HashSet<String> = v["segments"]
        .as_array()
        .map(|a| a.iter().filter_map(|s| s["segment_id"].as_str()).map(|s| s.replace('-', "")).collect())
        .unwrap_or_default();
    copy_flat(src, dest, |name| name.split('.').next().is_some_and(|id| segments.contains(&id.replace('-', ""))))?;
    fs::write(dest.join("meta.json"), &meta).map_err(|e| Attempt::from(io(dest)(e)))?;
    // Every file meta.json names must be there; a merge may have removed one after we read it.
    for id in &segments {
        let found = fs::read_dir(dest)
            .map_err(|e| Attempt::from(io(dest)(e)))?
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with(id.as_str()));
        if !found {
            return Err(Attempt::Moved);
        }
    }
    Ok(())
}

/// Takes a consistent backup of `data_dir` into `dest` (which must not exist or be empty).
pub fn backup(data_dir: &Path, dest: &Path) -> Result<Manifest, BackupError> {
    if !data_dir.join("logs").is_dir() && !data_dir.join("metrics").is_dir() {
        return Err(BackupError::BadSource(format!("{} is not a lookout data directory (no logs/ or metrics/)", data_dir.display())));
    }
    if dest.exists() && fs::read_dir(dest).map_err(io(dest))?.next().is_some() {
        return Err(BackupError::DestinationNotEmpty(dest.to_path_buf()));
    }
    let started = time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
    let partial = PathBuf::from(format!("{}.partial", dest.display()));
    if partial.exists() {
        fs::remove_dir_all(&partial).map_err(io(&partial))?;
    }
    fs::create_dir_all(&partial).map_err(io(&partial))?;
    let mut handled: HashSet<PathBuf> = HashSet::new();

    // Logs: WAL, then catalog, then partitions.
    let (wal, logs) = (data_dir.join("wal"), data_dir.join("logs"));
    if wal.is_dir() {
        with_retries(&wal, &partial.join("wal"), || copy_flat(&wal, &partial.join("wal"), |_| true))?;
        handled.insert(wal.clone());
    }
    if logs.is_dir() {
        fs::create_dir_all(partial.join("logs")).map_err(io(&partial))?;
        let catalog = logs.join("catalog.sqlite");
        if catalog.exists() {
            copy_sqlite(&catalog, &partial.join("logs/catalog.sqlite"))?;
        }
        for e in fs::read_dir(&logs).map_err(io(&logs))?.flatten() {
            let p = e.path();
            if p.is_dir() && p.join("meta.json").exists() {
                let d = partial.join("logs").join(e.file_name());
                with_retries(&p, &d, || copy_tantivy(&p, &d))?;
                handled.insert(p);
            }
        }
        handled.insert(catalog);
    }

    // Metrics: WAL, then head_min_ms, then blocks.
    let metrics = data_dir.join("metrics");
    if metrics.is_dir() {
        let (mwal, blocks) = (metrics.join("wal"), metrics.join("blocks"));
        if mwal.is_dir() {
            let d = partial.join("metrics/wal");
            with_retries(&mwal, &d, || copy_flat(&mwal, &d, |n| !n.ends_with(".tmp")))?;
            handled.insert(mwal);
        }
        if blocks.is_dir() {
            let d = partial.join("metrics/blocks");
            with_retries(&blocks, &d, || {
                // head_min_ms first (see the module docs), then every finished block.
                let hm = blocks.join("head_min_ms");
                match fs::copy(&hm, d.join("head_min_ms")) {
                    Ok(_) => {}
                    Err(e) if e.kind() == ErrorKind::NotFound => {}
                    Err(e) => return Err(Attempt::Failed(io(&hm)(e))),
                }
                copy_flat(&blocks, &d, |n| n != "head_min_ms" && !n.ends_with(".tmp") && !n.ends_with(".corrupt"))
            })?;
            handled.insert(blocks);
        }
    }

    // Everything else: SQLite databases consistently, other files as they are.
    copy_rest(data_dir, &partial, data_dir, &handled)?;

    let manifest =
        Manifest { version: 1, lookout_version: env!("CARGO_PKG_VERSION").into(), started, files: list_files(&partial, &partial)? };
    let text = serde_json::to_vec_pretty(&manifest).map_err(|e| BackupError::BadSource(e.to_string()))?;
    fs::write(partial.join(MANIFEST), text).map_err(io(&partial))?;
    sync_tree(&partial)?;
    if dest.exists() {
        fs::remove_dir(dest).map_err(io(dest))?;
    }
    fs::rename(&partial, dest).map_err(io(dest))?;
    Ok(manifest)
}

fn copy_rest(root: &Path, dest_root: &Path, dir: &Path, handled: &HashSet<PathBuf>) -> Result<(), BackupError> {
    for e in fs::read_dir(dir).map_err(io(dir))?.flatten() {
        let p = e.path();
        if handled.contains(&p) {
            continue;
        }
        let rel = p.strip_prefix(root).expect("under root");
        let name = e.file_name().to_string_lossy().into_owned();
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() {
            if name == "snapshots" || name.ends_with(".partial") {
                continue;
            }
            fs::create_dir_all(dest_root.join(rel)).map_err(io(&p))?;
            copy_rest(root, dest_root, &p, handled)?;
        } else if ft.is_file() {
            if is_sqlite_side_file(&name) || name.ends_with(".tmp") || name.ends_with(".lock") {
                continue;
            }
            let to = dest_root.join(rel);
            if let Some(parent) = to.parent() {
                fs::create_dir_all(parent).map_err(io(parent))?;
            }
            if is_sqlite(&name) {
                copy_sqlite(&p, &to)?;
            } else {
                match fs::copy(&p, &to) {
                    Ok(_) => {}
                    Err(e) if e.kind() == ErrorKind::NotFound => {} // removed meanwhile: not part of the state
                    Err(e) => return Err(io(&p)(e)),
                }
            }
        }
    }
    Ok(())
}

fn list_files(root: &Path, dir: &Path) -> Result<Vec<ManifestFile>, BackupError> {
    let mut out = Vec::new();
    let mut entries: Vec<_> = fs::read_dir(dir).map_err(io(dir))?.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let p = e.path();
        let md = e.metadata().map_err(io(&p))?;
        if md.is_dir() {
            out.extend(list_files(root, &p)?);
        } else if e.file_name() != MANIFEST {
            let rel = p.strip_prefix(root).expect("under root").to_string_lossy().replace('\\', "/");
            out.push(ManifestFile { path: rel, bytes: md.len() });
        }
    }
    Ok(out)
}

fn sync_tree(dir: &Path) -> Result<(), BackupError> {
    for e in fs::read_dir(dir).map_err(io(dir))?.flatten() {
        let p = e.path();
        if p.is_dir() {
            sync_tree(&p)?;
        } else {
            fs::File::open(&p).and_then(|f| f.sync_all()).map_err(io(&p))?;
        }
    }
    fs::File::open(dir).and_then(|f| f.sync_all()).map_err(io(dir))
}

/// Rebuilds a data directory at `data_dir` (must not exist or be empty) from the backup `src`,
/// after checking that every file of its manifest is present with its size.
pub fn restore(src: &Path, data_dir: &Path) -> Result<Manifest, BackupError> {
    let mpath = src.join(MANIFEST);
    let text = fs::read(&mpath).map_err(|e| BackupError::BadSource(format!("{}: not a lookout backup ({e})", src.display())))?;
    let manifest: Manifest = serde_json::from_slice(&text).map_err(|e| BackupError::BadSource(format!("{}: {e}", mpath.display())))?;
    if manifest.version != 1 {
        return Err(BackupError::BadSource(format!("{}: backup format version {} is not supported", mpath.display(), manifest.version)));
    }
    for f in &manifest.files {
        if f.path.split('/').any(|c| c == ".." || c.is_empty()) || f.path.starts_with('/') {
            return Err(BackupError::BadSource(format!("{}: unsafe path {:?} in manifest", mpath.display(), f.path)));
        }
        let p = src.join(&f.path);
        let len = fs::metadata(&p).map_err(io(&p))?.len();
        if len != f.bytes {
            return Err(BackupError::BadSource(format!(
                "{}: {len} bytes, the manifest says {}: the backup is damaged",
                p.display(),
                f.bytes
            )));
        }
    }
    if data_dir.exists() && fs::read_dir(data_dir).map_err(io(data_dir))?.next().is_some() {
        return Err(BackupError::DestinationNotEmpty(data_dir.to_path_buf()));
    }
    let partial = PathBuf::from(format!("{}.partial", data_dir.display()));
    if partial.exists() {
        fs::remove_dir_all(&partial).map_err(io(&partial))?;
    }
    for f in &manifest.files {
        let to = partial.join(&f.path);
        if let Some(parent) = to.parent() {
            fs::create_dir_all(parent).map_err(io(parent))?;
        }
        fs::copy(src.join(&f.path), &to).map_err(io(&to))?;
    }
    fs::create_dir_all(&partial).map_err(io(&partial))?;
    sync_tree(&partial)?;
    if data_dir.exists() {
        fs::remove_dir(data_dir).map_err(io(data_dir))?;
    }
    fs::rename(&partial, data_dir).map_err(io(data_dir))?;
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restore_refuses_a_damaged_or_unsafe_backup() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        fs::create_dir_all(data.join("logs")).unwrap();
        fs::write(data.join("logs/x.json"), b"{}").unwrap();
        fs::create_dir_all(data.join("wal")).unwrap();
        fs::write(data.join("wal/seg-1.wal"), b"abc").unwrap();
        let b = dir.path().join("b");
        let m = backup(&data, &b).unwrap();
        assert_eq!(m.files.iter().map(|f| f.path.as_str()).collect::<Vec<_>>(), vec!["logs/x.json", "wal/seg-1.wal"]);
        // a second backup into the same place is refused
        assert!(matches!(backup(&data, &b), Err(BackupError::DestinationNotEmpty(_))));

        let ok = dir.path().join("restored");
        restore(&b, &ok).unwrap();
        assert_eq!(fs::read(ok.join("wal/seg-1.wal")).unwrap(), b"abc");
        assert!(matches!(restore(&b, &ok), Err(BackupError::DestinationNotEmpty(_))));

        fs::write(b.join("wal/seg-1.wal"), b"ab").unwrap();
        let err = restore(&b, &dir.path().join("r2")).unwrap_err().to_string();
        assert!(err.contains("damaged"), "{err}");
        assert!(!dir.path().join("r2").exists());
        fs::write(b.join("wal/seg-1.wal"), b"abc").unwrap();

        let mut manifest: Manifest = serde_json::from_slice(&fs::read(b.join(MANIFEST)).unwrap()).unwrap();
        manifest.files.push(ManifestFile { path: "../../etc/passwd".into(), bytes: 1 });
        fs::write(b.join(MANIFEST), serde_json::to_vec(&manifest).unwrap()).unwrap();
        let err = restore(&b, &dir.path().join("r3")).unwrap_err().to_string();
        assert!(err.contains("unsafe path"), "{err}");
    }

    #[test]
    fn backup_of_a_non_data_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = backup(dir.path(), &dir.path().join("b")).unwrap_err().to_string();
        assert!(err.contains("not a lookout data directory"), "{err}");
    }
}

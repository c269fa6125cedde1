//! The `file` source: follows files matching globs and turns their lines into events.
//!
//! Key decisions:
//! - **Identity** is `(device, inode)` confirmed by a fingerprint of the first KiB, so a renamed
//!   file keeps its position, a reused inode is not mistaken for the old file, and two files
//!   whose first KiB is identical are still two files.
//! - **Content streams.** Every followed file carries a random *generation*: the id of the
//!   sequence of bytes it holds. It survives renames, is inherited by a copytruncate copy and is
//!   replaced when the file is truncated. Batches carry `(generation, end offset)`
//!   ([`StreamPosition`]); the `lookout` sink turns that into the `Lookout-Batch` id.
//! - **Exactly once across crashes.** Before a batch leaves the source its end offset is written
//!   to the checkpoint (`sent`). After a SIGKILL the source resumes at the acknowledged offset
//!   and cuts its first batches exactly at the recorded ends again, each sent alone with the same
//!   id as before: the aggregator drops the ones it had already stored. The checkpoint's
//!   acknowledged offset moves only through a contiguous prefix of settled batches.
//! - **Rename rotation**: an open file whose path now names another file (or none) keeps being
//!   read to its end before it is closed; the new file at the path is read from its beginning.
//!   After a restart, files that were rotated away unfinished are found again (at their last
//!   path, or by identity in its directory) and finished.
//! - **Copytruncate**: when a followed file shrinks below the read position, the lines written
//!   between our last read and the truncation are in the copy. We look in the same directory
//!   for a file that is at least as long as our read position and whose first bytes equal the
//!   first bytes we read; the copy takes over the old content stream (position, partial line,
//!   pending acknowledgements) and is read from our old offset to its end, while the truncated
//!   file starts a new stream at 0. If `include` matches the copy too, it is simply already
//!   followed, so it is never read again from 0. A new file whose head equals the head of a
//!   followed file in the same directory is held back a few seconds, because it is probably a
//!   copy whose truncation we have not seen yet. Without a copy (truncated in place) reading
//!   restarts at 0.
//! - **Descriptors**: at most `max_open_files` are open. Idle, fully read files are closed (least
//!   recently active first) and reopened by path and identity when they grow.
//! - **Multiline**: with `multiline.start_pattern`, a line not matching it joins the previous
//!   event (stack traces); an event is complete when the next start line arrives, after
//!   `multiline.timeout_ms` without a new line, or at the end of a rotated file.
//! - Partial lines (no newline yet) wait for their newline; a line over `max_line_bytes` is
//!   truncated with a marker and counted; invalid UTF-8 is kept with replacement characters.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};
use wire::ParseOptions;

use super::SourceContext;
use crate::checkpoint::{self, Checkpoints, FileCheckpoint};
use crate::delivery::{Ack, AckNotice, EventBatch, StreamPosition};
use crate::rawlogs::{Lines, RawLogs};

/// Marker appended to a truncated line.
pub const TRUNCATED_MARKER: &str = "…[truncated]";
const FINGERPRINT_BYTES: u64 = 1024;
const READ_CHUNK: usize = 256 * 1024;
/// Most bytes read (and batches sent) per round before the checkpoint is written again.
const ROUND_BYTES: usize = 4 << 20;
/// How long a probable copytruncate copy waits for its original to shrink.
const COPY_HOLD: Duration = Duration::from_secs(3);
/// A file must be this long without growing before it may be closed to free a descriptor.
const IDLE_BEFORE_CLOSE: Duration = Duration::from_millis(200);

/// Where to start in a file that has no checkpoint when the agent starts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadFrom {
    /// Read the whole file.
    #[default]
    Beginning,
    /// Only lines written from now on. Files that appear later are always read whole.
    End,
}

/// `[sources.NAME.multiline]`: group lines into one event.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MultilineConfig {
    /// Regex that matches the first line of an event (`^\d{4}-` or `^\{`); other lines are
    /// continuations joined to the previous event with `\n`.
    pub start_pattern: String,
    /// An event is complete when no line was added for this many milliseconds.
    #[serde(default = "default_multiline_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_multiline_timeout_ms() -> u64 {
    1000
}

/// `type = "file"`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Glob patterns of files to follow (`/var/log/app/*.log`). Re-scanned every `glob_interval_ms`.
    pub include: Vec<String>,
    /// Glob patterns of files to skip even though `include` matches them.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Where to start in files first seen at start-up without a checkpoint.
    #[serde(default)]
    pub read_from: ReadFrom,
    /// Lines (and multiline events) longer than this many bytes are truncated with a marker and
    /// counted.
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: usize,
    /// How often to look for new files, in milliseconds.
    #[serde(default = "default_glob_interval_ms")]
    pub glob_interval_ms: u64,
    /// How often to read followed files for new lines, in milliseconds.
    #[serde(default = "default_poll_interval_ms")]
    pub poll_interval_ms: u64,
    /// Most files held open at once; idle, fully read files are closed and reopened when they grow.
    #[serde(default = "default_max_open_files")]
    pub max_open_files: usize,
    /// Group continuation lines (stack traces) with the line that starts the event.
    #[serde(default)]
    pub multiline: Option<MultilineConfig>,
    /// Service name for events that do not carry one.
    #[serde(default)]
    pub service: Option<String>,
    /// Fields that may carry the event time (first present wins).
    #[serde(default)]
    pub timestamp_fields: Option<Vec<String>>,
    /// Fields that may carry the level (first present wins).
    #[serde(default)]
    pub level_fields: Option<Vec<String>>,
}

fn default_max_line_bytes() -> usize {
    1024 * 1024
}
fn default_glob_interval_ms() -> u64 {
    1000
}
fn default_poll_interval_ms() -> u64 {
    100
}
fn default_max_open_files() -> usize {
    512
}

impl Config {
    /// Semantic checks.
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if self.include.is_empty() {
            out.push(("include".into(), "at least one glob is required".into()));
        }
        for (key, list) in [("include", &self.include), ("exclude", &self.exclude)] {
            for g in list {
                if let Err(e) = glob::Pattern::new(g) {
                    out.push((key.into(), format!("invalid glob {g:?}: {e}")));
                }
            }
        }
        if self.max_line_bytes < 16 {
            out.push(("max_line_bytes".into(), "must be at least 16".into()));
        }
        if self.poll_interval_ms == 0 || self.glob_interval_ms == 0 {
            out.push(("poll_interval_ms".into(), "intervals must be positive".into()));
        }
        if self.max_open_files == 0 {
            out.push(("max_open_files".into(), "must be at least 1".into()));
        }
        if let Some(m) = &self.multiline {
            if let Err(e) = regex::Regex::new(&m.start_pattern) {
                out.push(("multiline.start_pattern".into(), format!("invalid regex: {e}")));
            }
            if m.timeout_ms == 0 {
                out.push(("multiline.timeout_ms".into(), "must be positive".into()));
            }
        }
        out
    }

    fn parse_options(&self) -> ParseOptions {
        let mut o = ParseOptions::default();
        if let Some(t) = &self.timestamp_fields {
            o.timestamp_fields = t.clone();
        }
        if let Some(l) = &self.level_fields {
            o.level_fields = l.clone();
        }
        o
    }

    /// Runs the source until shutdown.
    pub async fn run(self, mut cx: SourceContext) {
        let cp_path = cx.data_dir.join("checkpoints").join(format!("{}.json", cx.name));
        let saved = match checkpoint::read(&cp_path) {
            Ok(c) => c,
            Err(e) => {
                // A corrupt checkpoint must not stop the agent; starting over may repeat lines,
                // which we say loudly.
                tracing::error!(source = %cx.name, error = %e, "checkpoint unreadable, files will be read from their start");
                Checkpoints::default()
            }
        };
        let (ack_tx, mut ack_rx) = mpsc::unbounded_channel();
        let multiline = self
            .multiline
            .as_ref()
            .and_then(|m| regex::Regex::new(&m.start_pattern).ok().map(|r| (r, Duration::from_millis(m.timeout_ms))));
        let mut state = FileSource {
            cfg: self.clone(),
            opts: Arc::new(self.parse_options()),
            include: self.include.iter().filter_map(|g| glob::Pattern::new(g).ok()).collect(),
            exclude: self.exclude.iter().filter_map(|g| glob::Pattern::new(g).ok()).collect(),
            multiline,
            host: cx.host.clone(),
            files: HashMap::new(),
            next_id: 1,
            saved: saved.files,
            first_scan: true,
            held_copies: HashMap::new(),
            ack_tx,
            cp_path,
            cp_dirty: false,
            read_buf: Vec::new(),
        };
        let last_checkpoint = std::fs::metadata(&state.cp_path).and_then(|m| m.modified()).ok();
        state.resume_saved(&cx);
        if let Some(since) = last_checkpoint {
            state.discover_rotated_while_down(&cx, since);
        }
        let mut poll = tokio::time::interval(Duration::from_millis(self.poll_interval_ms));
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_scan: Option<Instant> = None;
        let mut last_cp = Instant::now();
        'outer: loop {
            tokio::select! {
                _ = cx.shutdown.changed() => break,
                Some(n) = ack_rx.recv() => state.on_ack(n),
                _ = poll.tick() => {
                    // Read until nothing is left (bounded: each round reads what is there now),
                    // taking acknowledgements and rescans in between.
                    for _ in 0..10_000 {
                        if *cx.shutdown.borrow() {
                            break 'outer;
                        }
                        while let Ok(n) = ack_rx.try_recv() {
                            state.on_ack(n);
                        }
                        if last_scan.is_none_or(|t| t.elapsed() >= Duration::from_millis(self.glob_interval_ms)) {
                            state.scan(&cx);
                            last_scan = Some(Instant::now());
                        }
                        match state.read_round(&cx).await {
                            None => break 'outer,
                            Some(false) => break,
                            Some(true) => tokio::task::yield_now().await,
                        }
                    }
                    state.close_finished(&cx);
                    state.limit_open_files();
                    if state.cp_dirty && last_cp.elapsed() >= Duration::from_secs(1) {
                        state.write_checkpoint(&cx);
                        last_cp = Instant::now();
                    }
                }
            }
        }
        // Drain: stop sending, let sinks deliver what they hold, record their acknowledgements.
        cx.outputs.clear();
        let deadline = tokio::time::Instant::now() + cx.drain_timeout;
        while state.files.values().any(|f| !f.pending.is_empty()) {
            match tokio::time::timeout_at(deadline, ack_rx.recv()).await {
                Ok(Some(n)) => state.on_ack(n),
                _ => break,
            }
        }
        state.write_checkpoint(&cx);
        debug!(source = %cx.name, "file source stopped");
    }
}

/// An event being assembled from several lines (multiline).
struct Held {
    text: Vec<u8>,
    end: u64,
    truncated: bool,
    last_line: Instant,
}

struct Tracked {
    /// Where the file is now (informational once it has rotated away).
    path: PathBuf,
    /// The path the lines were written at: the events' `source`.
    origin: String,
    dev: u64,
    ino: u64,
    /// `None` while closed to save descriptors (or finished after a truncation).
    file: Option<File>,
    /// Content-stream id.
    generation: u64,
    /// Next byte to read.
    read_pos: u64,
    /// Bytes read past the last complete line (at most `max_line_bytes`).
    partial: Vec<u8>,
    /// The current line is longer than `max_line_bytes`; the rest up to its newline is skipped.
    overlong: bool,
    /// Multiline event waiting for its end.
    held: Option<Held>,
    /// The first bytes of the file (up to 1 KiB) as far as we know them.
    head: Vec<u8>,
    /// Delivered up to here (checkpoint).
    acked: u64,
    /// Batches sent and not yet acknowledged, in order: (end offset, settled?).
    pending: VecDeque<(u64, bool)>,
    /// Batch ends recorded by the previous run that this run must cut at again.
    replay: VecDeque<u64>,
    /// Some batch was abandoned: never move the checkpoint again in this run.
    stalled: bool,
    /// No glob path names this file any more (rotated away or deleted): read to its end, close.
    gone: bool,
    /// The content stream ended (the file was truncated); nothing more is read from it.
    ended: bool,
    /// Size at the last look, and when it last changed.
    last_size: u64,
    last_growth: Instant,
}

impl Tracked {
    #[allow(clippy::too_many_arguments)]
    fn new(path: PathBuf, origin: String, dev: u64, ino: u64, file: Option<File>, generation: u64, start: u64, head: Vec<u8>) -> Tracked {
        Tracked {
            path,
            origin,
            dev,
            ino,
            file,
            generation,
            read_pos: start,
            partial: Vec::new(),
            overlong: false,
            held: None,
            head,
            acked: start,
            pending: VecDeque::new(),
            replay: VecDeque::new(),
            stalled: false,
            gone: false,
            ended: false,
            last_size: start,
            last_growth: Instant::now(),
        }
    }

    /// Moves the checkpoint through the settled prefix of pending batches.
    fn advance(&mut self) -> bool {
        let mut moved = false;
        while let Some(&(end, true)) = self.pending.front() {
            self.pending.pop_front();
            if !self.stalled {
                self.acked = end;
                moved = true;
            }
        }
        moved
    }

    /// Fully read, nothing held back: may be closed or finished.
    fn idle(&self, size: u64) -> bool {
        size <= self.read_pos && self.partial.is_empty() && self.held.is_none()
    }
}

struct FileSource {
    cfg: Config,
    opts: Arc<ParseOptions>,
    include: Vec<glob::Pattern>,
    exclude: Vec<glob::Pattern>,
    multiline: Option<(regex::Regex, Duration)>,
    host: String,
    files: HashMap<u64, Tracked>,
    next_id: u64,
    saved: Vec<FileCheckpoint>,
    first_scan: bool,
    /// Probable copytruncate copies not followed yet, by identity: first seen.
    held_copies: HashMap<(u64, u64), Instant>,
    ack_tx: mpsc::UnboundedSender<AckNotice>,
    cp_path: PathBuf,
    cp_dirty: bool,
    /// Reused for every chunk read.
    read_buf: Vec<u8>,
}

fn read_prefix(file: &File, len: u64) -> Vec<u8> {
    let mut buf = vec![0u8; len as usize];
    let mut got = 0;
    while got < buf.len() {
        match file.read_at(&mut buf[got..], got as u64) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    buf.truncate(got);
    buf
}

fn new_generation() -> u64 {
    loop {
        let g = rand::random::<u64>();
        if g != 0 {
            return g;
        }
    }
}

/// The path an open descriptor names now, unless the file was deleted.
fn fd_path(file: &File) -> Option<PathBuf> {
    use std::os::fd::AsRawFd;
    let p = std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())).ok()?;
    (!p.to_string_lossy().ends_with(" (deleted)")).then_some(p)
}

/// Finds a file in `dir` with identity `(dev, ino)`.
fn find_by_identity(dir: &Path, dev: u64, ino: u64) -> Option<PathBuf> {
    let entries = std::fs::read_dir(dir).ok()?;
    for e in entries.take(100_000).flatten() {
        if let Ok(m) = e.metadata()
            && m.is_file()
            && (m.dev(), m.ino()) == (dev, ino)
        {
            return Some(e.path());
        }
    }
    None
}

/// Finds a copy of a file's content in `dir`: another file at least `min_len` long whose first
/// bytes hash to `fingerprint` (over `fingerprint_len` bytes).
fn find_copy(
    dir: &Path,
    not: (u64, u64),
    fingerprint: &str,
    fingerprint_len: u64,
    min_len: u64,
) -> Option<(PathBuf, File, std::fs::Metadata)> {
    let entries = std::fs::read_dir(dir).ok()?;
    for e in entries.take(100_000).flatten() {
        let Ok(m) = e.metadata() else { continue };
        if !m.is_file() || (m.dev(), m.ino()) == not || m.len() < min_len || m.len() < fingerprint_len {
            continue;
        }
        let Ok(f) = File::open(e.path()) else { continue };
        let prefix = read_prefix(&f, fingerprint_len);
        if prefix.len() as u64 == fingerprint_len && checkpoint::fingerprint(&prefix) == fingerprint {
            return Some((e.path(), f, m));
        }
    }
    None
}

impl FileSource {
    fn is_matched(&self, p: &Path) -> bool {
        self.include.iter().any(|g| g.matches_path(p)) && !self.exclude.iter().any(|e| e.matches_path(p))
    }

    fn matched_paths(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for pattern in &self.cfg.include {
            let Ok(paths) = glob::glob(pattern) else { continue };
            for p in paths.flatten() {
                if self.exclude.iter().any(|e| e.matches_path(&p)) {
                    continue;
                }
                if !out.contains(&p) {
                    out.push(p);
                }
            }
        }
        out
    }

    fn open_count(&self) -> usize {
        self.files.values().filter(|t| t.file.is_some()).count()
    }

    fn insert(&mut self, t: Tracked) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.files.insert(id, t);
        self.cp_dirty = true;
        id
    }

    /// Before the first scan: find every file of the last checkpoint again, including files
    /// rotated away (renamed out of the globs, or copied by copytruncate) before they were
    /// finished, and resume each at its acknowledged offset.
    fn resume_saved(&mut self, cx: &SourceContext) {
        let saved = self.saved.clone();
        for c in &saved {
            let dir = c.path.parent().unwrap_or(Path::new("/")).to_path_buf();
            let by_identity = match std::fs::metadata(&c.path) {
                Ok(m) if (m.dev(), m.ino()) == (c.dev, c.ino) => Some(c.path.clone()),
                _ => find_by_identity(&dir, c.dev, c.ino),
            };
            let found = by_identity.and_then(|p| {
                let f = File::open(&p).ok()?;
                let m = f.metadata().ok()?;
                let prefix = read_prefix(&f, c.fingerprint_len);
                (prefix.len() as u64 == c.fingerprint_len && checkpoint::fingerprint(&prefix) == c.fingerprint && m.len() >= c.offset)
                    .then_some((p, f, m))
            });
            // Not there any more under its identity: a copytruncate copy may hold the rest.
            let found = found.or_else(|| {
                let more = c.sent.last().copied().unwrap_or(c.offset);
                (more > 0 && c.fingerprint_len > 0)
                    .then(|| find_copy(&dir, (c.dev, c.ino), &c.fingerprint, c.fingerprint_len, c.offset))
                    .flatten()
            });
            let Some((path, file, meta)) = found else {
                debug!(source = %cx.name, path = %c.path.display(), "checkpointed file is gone");
                continue;
            };
            let key = (meta.dev(), meta.ino());
            if self.files.values().any(|t| (t.dev, t.ino) == key) {
                continue;
            }
            let matched = self.is_matched(&path);
            if !matched && meta.len() <= c.offset {
                continue; // rotated away and finished
            }
            let head = read_prefix(&file, meta.len().min(FINGERPRINT_BYTES));
            let generation = if c.generation == 0 { new_generation() } else { c.generation };
            let origin = c.path.to_string_lossy().into_owned();
            // Files the globs still match are opened again lazily (by path and identity), so a
            // large checkpoint does not exhaust descriptors; rotated ones keep their handle.
            let handle = (!matched).then_some(file);
            let mut t = Tracked::new(path.clone(), origin, key.0, key.1, handle, generation, c.offset, head);
            t.replay = c.sent.iter().copied().filter(|e| *e > c.offset && *e <= meta.len()).collect();
            t.gone = !matched;
            info!(source = %cx.name, path = %path.display(), offset = c.offset, replay = t.replay.len(), rotated = !matched, "resuming file");
            self.insert(t);
        }
    }

    /// After a restart: finds files that were created at a followed path and rotated out of the
    /// globs while the agent was down (`app.log` → `app.log.1` → `app.log.2` …), which no
    /// checkpoint and no glob names, and reads each whole, oldest first.
    ///
    /// A candidate lives in the directory of a checkpointed or matched file, is named like a
    /// rotation of it (`<name>.…`, `<name>-…`, `<name>_…`, not compressed), is not already
    /// followed, and was *created* (birth time, which a rename keeps) after the checkpoint was
    /// last written. None of its lines can have been sent: the checkpoint records every file
    /// before any of its batches leaves. Older rotated files were finished and dropped from the
    /// checkpoint before its last write, so they are never read again. Without birth times
    /// (a file system that lacks them) nothing is discovered.
    fn discover_rotated_while_down(&mut self, cx: &SourceContext, since: std::time::SystemTime) {
        let mut bases: Vec<(PathBuf, String)> = Vec::new();
        let paths = self.saved.iter().map(|c| c.path.clone()).chain(self.matched_paths());
        for p in paths {
            if let (Some(dir), Some(name)) = (p.parent(), p.file_name()) {
                let key = (dir.to_path_buf(), name.to_string_lossy().into_owned());
                if !bases.contains(&key) {
                    bases.push(key);
                }
            }
        }
        let mut dirs: Vec<&PathBuf> = bases.iter().map(|(d, _)| d).collect();
        dirs.dedup();
        // (birth, path, the path it was rotated from, handle, metadata)
        let mut found: Vec<(std::time::SystemTime, PathBuf, PathBuf, File, std::fs::Metadata)> = Vec::new();
        for dir in dirs {
            let Ok(entries) = std::fs::read_dir(dir) else { continue };
            for e in entries.take(100_000).flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let rotation_of = |base: &str| {
                    name.strip_prefix(base).is_some_and(|rest| rest.starts_with(['.', '-', '_']))
                        && ![".gz", ".bz2", ".xz", ".zst", ".zip", ".lz4"].iter().any(|c| name.ends_with(c))
                };
                let Some((_, base)) = bases.iter().filter(|(d, b)| d == dir && rotation_of(b)).max_by_key(|(_, b)| b.len()) else {
                    continue;
                };
                let path = e.path();
                let Ok(meta) = std::fs::metadata(&path) else { continue };
                let key = (meta.dev(), meta.ino());
                if !meta.is_file()
                    || meta.len() == 0
                    || self.is_matched(&path)
                    || self.files.values().any(|t| (t.dev, t.ino) == key)
                    || found.iter().any(|(.., m)| (m.dev(), m.ino()) == key)
                {
                    continue;
                }
                let Ok(born) = meta.created() else {
                    debug!(path = %path.display(), "no birth time; rotated-while-down discovery skipped");
                    continue;
                };
                if born <= since {
                    continue;
                }
                let Ok(f) = File::open(&path) else { continue };
                // A copytruncate copy of a followed file (copied while the agent was down, not
                // truncated yet) is not a new file: the copytruncate handling takes it over
                // when the original shrinks.
                let prefix = read_prefix(&f, meta.len().min(FINGERPRINT_BYTES));
                let copy_of_followed = self.files.values().any(|t| {
                    t.path.parent() == Some(dir.as_path())
                        && !t.head.is_empty()
                        && prefix.starts_with(&t.head[..t.head.len().min(prefix.len())])
                });
                if copy_of_followed {
                    continue;
                }
                found.push((born, path, dir.join(base), f, meta));
            }
        }
        found.sort_by_key(|(born, ..)| *born);
        for (_, path, rotated_from, file, meta) in found {
            info!(source = %cx.name, path = %path.display(), "reading a file created and rotated away while the agent was down");
            // Its lines were written at the path it was rotated from.
            let origin = rotated_from.to_string_lossy().into_owned();
            let mut t = Tracked::new(path, origin, meta.dev(), meta.ino(), Some(file), new_generation(), 0, Vec::new());
            t.gone = true;
            self.insert(t);
        }
    }

    fn scan(&mut self, cx: &SourceContext) {
        // Truncations first, so that a copytruncate copy is claimed by its original before it
        // could be mistaken for a new file.
        let ids: Vec<u64> = self.files.keys().copied().collect();
        for id in ids {
            self.check_truncated(id, cx);
        }
        let mut seen = Vec::new();
        for path in self.matched_paths() {
            let Ok(meta) = std::fs::metadata(&path) else { continue };
            if !meta.is_file() {
                continue;
            }
            let key = (meta.dev(), meta.ino());
            seen.push(key);
            if let Some(t) = self.files.values_mut().find(|t| (t.dev, t.ino) == key && !t.ended) {
                if t.path != path {
                    debug!(from = %t.path.display(), to = %path.display(), "followed file renamed");
                    t.path = path;
                }
                t.gone = false;
                continue;
            }
            let Ok(file) = File::open(&path) else { continue };
            let prefix = read_prefix(&file, meta.len().min(FINGERPRINT_BYTES));
            // Probably a copytruncate copy whose original has not shrunk yet: wait a little.
            if !prefix.is_empty() && !self.first_scan {
                let dir = path.parent();
                let like_followed = self.files.values().any(|t| {
                    !t.ended
                        && t.path.parent() == dir
                        && t.head.len() >= 64
                        && prefix.len() >= t.head.len()
                        && prefix[..t.head.len()] == t.head[..]
                });
                let first = *self.held_copies.entry(key).or_insert_with(Instant::now);
                if like_followed && first.elapsed() < COPY_HOLD {
                    continue;
                }
            }
            self.held_copies.remove(&key);
            if self.open_count() >= self.cfg.max_open_files {
                self.close_idle(1);
                if self.open_count() >= self.cfg.max_open_files {
                    continue; // picked up once a descriptor is free
                }
            }
            let saved = self.saved.iter().find(|c| {
                (c.dev, c.ino) == key
                    && c.fingerprint_len <= prefix.len() as u64
                    && checkpoint::fingerprint(&prefix[..c.fingerprint_len as usize]) == c.fingerprint
            });
            let (start, generation) = match saved {
                Some(c) if c.offset <= meta.len() => (c.offset, if c.generation == 0 { new_generation() } else { c.generation }),
                Some(_) => (0, new_generation()), // shrank while we were away: truncated, start over
                None if self.first_scan && self.cfg.read_from == ReadFrom::End => (meta.len(), new_generation()),
                None => (0, new_generation()),
            };
            info!(source = %cx.name, path = %path.display(), offset = start, "following file");
            let origin = path.to_string_lossy().into_owned();
            let head = if start == 0 { Vec::new() } else { prefix };
            let t = Tracked::new(path, origin, key.0, key.1, Some(file), generation, start, head);
            self.insert(t);
        }
        self.held_copies.retain(|k, _| seen.contains(k));
        for t in self.files.values_mut() {
            if !seen.contains(&(t.dev, t.ino)) && !t.gone {
                debug!(path = %t.path.display(), "followed file rotated away or deleted; reading it to its end");
                t.gone = true;
                match &t.file {
                    Some(f) => {
                        if let Some(p) = fd_path(f) {
                            t.path = p;
                        }
                    }
                    // Closed while idle: find it again in its directory by identity.
                    None => {
                        let dir = t.path.parent().unwrap_or(Path::new("/")).to_path_buf();
                        if let Some(p) = find_by_identity(&dir, t.dev, t.ino) {
                            t.path = p;
                        }
                    }
                }
            }
        }
        self.first_scan = false;
        cx.metrics.set_files_watched(self.files.len() as i64);
    }

    /// Opens a closed file again by path and identity. False if it cannot be read now.
    fn ensure_open(&mut self, id: u64) -> bool {
        let Some(t) = self.files.get(&id) else { return false };
        if t.file.is_some() {
            return true;
        }
        if t.ended {
            return false;
        }
        let (path, key) = (t.path.clone(), (t.dev, t.ino));
        let size = match std::fs::metadata(&path) {
            Ok(m) if (m.dev(), m.ino()) == key => m.len(),
            _ => return false,
        };
        if size == t.read_pos {
            return false; // nothing new: stay closed
        }
        if self.open_count() >= self.cfg.max_open_files {
            self.close_idle(1);
            if self.open_count() >= self.cfg.max_open_files {
                return false;
            }
        }
        let Ok(f) = File::open(&path) else { return false };
        match f.metadata() {
            Ok(m) if (m.dev(), m.ino()) == key => {}
            _ => return false,
        }
        if let Some(t) = self.files.get_mut(&id) {
            t.file = Some(f);
        }
        true
    }

    /// Closes up to `n` open, idle, fully read files, least recently grown first.
    fn close_idle(&mut self, n: usize) {
        let mut idle: Vec<(Instant, u64)> = self
            .files
            .iter()
            .filter(|(_, t)| t.file.is_some() && !t.gone && t.last_growth.elapsed() >= IDLE_BEFORE_CLOSE && t.idle(t.last_size))
            .map(|(id, t)| (t.last_growth, *id))
            .collect();
        idle.sort();
        for (_, id) in idle.into_iter().take(n) {
            if let Some(t) = self.files.get_mut(&id) {
                t.file = None;
            }
        }
    }

    fn limit_open_files(&mut self) {
        let open = self.open_count();
        if open > self.cfg.max_open_files {
            self.close_idle(open - self.cfg.max_open_files);
        }
    }

    /// Handles a file that shrank below its read position (or whose head changed): the old
    /// content stream moves to its copytruncate copy if there is one, or ends; the file itself
    /// starts a new stream at 0.
    fn check_truncated(&mut self, id: u64, cx: &SourceContext) {
        let Some(t) = self.files.get(&id) else { return };
        let Some(f) = &t.file else { return };
        if t.ended {
            return;
        }
        let Ok(meta) = f.metadata() else { return };
        let size = meta.len();
        let shrank = size < t.read_pos;
        // Truncated and refilled past our position between two looks: the head changed.
        let rewritten =
            !shrank && size != t.last_size && t.read_pos > 0 && !t.head.is_empty() && read_prefix(f, t.head.len() as u64) != t.head;
        if !shrank && !rewritten {
            return;
        }
        let mut old = self.files.remove(&id).expect("present");
        let dir = old.path.parent().unwrap_or(Path::new("/")).to_path_buf();
        let fingerprint = checkpoint::fingerprint(&old.head);
        let copy = if old.read_pos == 0 || old.head.is_empty() {
            None
        } else {
            find_copy(&dir, (old.dev, old.ino), &fingerprint, old.head.len() as u64, old.read_pos)
                .filter(|(_, _, m)| !self.files.values().any(|o| (o.dev, o.ino) == (m.dev(), m.ino()) && o.read_pos > 0))
        };
        let fresh = Tracked::new(old.path.clone(), old.origin.clone(), old.dev, old.ino, old.file.take(), new_generation(), 0, Vec::new());
        match copy {
            Some((cpath, cfile, cmeta)) => {
                warn!(source = %cx.name, path = %old.path.display(), copy = %cpath.display(), position = old.read_pos,
                    "file was truncated (copytruncate); reading the rest of its copy");
                // A copy already followed from 0 (no position yet) is replaced by this stream.
                self.files.retain(|_, o| (o.dev, o.ino) != (cmeta.dev(), cmeta.ino()));
                self.held_copies.remove(&(cmeta.dev(), cmeta.ino()));
                old.gone = !self.is_matched(&cpath);
                old.path = cpath;
                old.dev = cmeta.dev();
                old.ino = cmeta.ino();
                old.file = Some(cfile);
                old.last_size = old.read_pos;
                old.replay.clear();
                self.files.insert(id, old);
            }
            None => {
                warn!(source = %cx.name, path = %old.path.display(), size, position = old.read_pos,
                    "file was truncated in place; reading it again from its start");
                old.ended = true;
                old.partial.clear();
                old.held = None;
                old.replay.clear();
                self.files.insert(id, old);
            }
        }
        self.insert(fresh);
    }

    /// Reads one round of new lines from every file, records the batch ends in the checkpoint,
    /// then sends the batches. `Some(true)` if there may be more to read now, `Some(false)` if
    /// not, `None` when no sink takes events any more.
    async fn read_round(&mut self, cx: &SourceContext) -> Option<bool> {
        let mut lag = 0i64;
        let mut batches = Vec::new();
        let mut bytes = 0usize;
        let mut more = false;
        let mut ids: Vec<u64> = self.files.keys().copied().collect();
        ids.sort();
        for id in ids {
            self.check_truncated(id, cx);
            if bytes >= ROUND_BYTES {
                more = true;
                break;
            }
            if !self.ensure_open(id) {
                // Closed and not grown, or ended: a multiline event may still time out.
                if let Some(b) = self.flush_timed_out(id) {
                    batches.push(b);
                }
                continue;
            }
            for _ in 0..4 {
                let (batch, n) = self.read_chunk(id, cx);
                bytes += n;
                if let Some(b) = batch {
                    batches.push(b);
                }
                if n < READ_CHUNK {
                    break;
                }
                more = true;
            }
            if let Some(t) = self.files.get(&id)
                && let Some(f) = &t.file
                && let Ok(m) = f.metadata()
            {
                lag += m.len().saturating_sub(t.read_pos) as i64;
                more |= m.len() > t.read_pos;
            }
        }
        cx.metrics.set_lag_bytes(lag);
        if batches.is_empty() {
            return Some(more);
        }
        // The ends of what is about to be sent are on disk before it leaves.
        self.write_checkpoint(cx);
        let service = self.cfg.service.clone().unwrap_or_default();
        for raw in batches {
            // Parsed one batch at a time: only the batch being sent is held as events.
            let batch = raw.into_batch(&self.host, &service, &self.opts);
            let n = batch.log_count() as u64;
            cx.metrics.events_in.inc_by(n);
            if !self.send_scanning(cx, batch).await {
                return None;
            }
            cx.metrics.events_out.inc_by(n);
        }
        Some(more)
    }

    /// Sends a batch to every output, waiting for room (backpressure) — and while waiting, keeps
    /// scanning the globs, so a file that is created and rotated away during a long wait (the
    /// aggregator is down) is still opened, and its lines are read once the sinks take them.
    async fn send_scanning(&mut self, cx: &SourceContext, batch: EventBatch) -> bool {
        let every = Duration::from_millis(self.cfg.glob_interval_ms);
        let last = cx.outputs.len().saturating_sub(1);
        let mut batch = Some(batch);
        let mut open = false;
        for (i, out) in cx.outputs.iter().enumerate() {
            let permit = loop {
                tokio::select! {
                    p = out.reserve() => break p.ok(),
                    _ = tokio::time::sleep(every) => self.scan(cx),
                }
            };
            let b = if i == last { batch.take() } else { batch.as_ref().map(EventBatch::fork) };
            if let (Some(p), Some(b)) = (permit, b) {
                p.send(b);
                open = true;
            }
        }
        if let Some(b) = batch {
            b.ack.settle(); // no outputs at all: nothing will deliver it
        }
        open
    }

    fn flush_timed_out(&mut self, id: u64) -> Option<RawBatch> {
        let timeout = self.multiline.as_ref()?.1;
        let t = self.files.get_mut(&id)?;
        let h = t.held.as_ref()?;
        let rotated_done = t.gone && t.file.as_ref().and_then(|f| f.metadata().ok()).is_none_or(|m| m.len() <= t.read_pos);
        if h.last_line.elapsed() < timeout && !rotated_done && !t.ended {
            return None;
        }
        let held = t.held.take()?;
        let mut lines = Lines::default();
        lines.push(&held.text, held.truncated);
        Some(self.batch(id, lines, held.end, false))
    }

    /// Records a batch ending at `end` as pending and names it (ack, stream position).
    fn batch(&mut self, id: u64, lines: Lines, end: u64, replay: bool) -> RawBatch {
        let t = self.files.get_mut(&id).expect("tracked");
        t.pending.push_back((end, false));
        RawBatch {
            lines,
            origin: t.origin.clone(),
            ack: Ack::new(self.ack_tx.clone(), id, end),
            position: StreamPosition { stream: format!("{:016x}", t.generation), end, replay },
        }
    }

    /// Reads up to one chunk of a file and cuts it into lines (events, with multiline). Returns
    /// the batch of complete events, not parsed yet, and the bytes read.
    fn read_chunk(&mut self, id: u64, cx: &SourceContext) -> (Option<RawBatch>, usize) {
        let Some(t) = self.files.get_mut(&id) else { return (None, 0) };
        let Some(f) = &t.file else { return (None, 0) };
        let Ok(meta) = f.metadata() else { return (None, 0) };
        let size = meta.len();
        if size != t.last_size {
            t.last_size = size;
            t.last_growth = Instant::now();
        }
        if size <= t.read_pos {
            let b = self.flush_timed_out(id);
            return (b, 0);
        }
        let mut want = ((size - t.read_pos) as usize).min(READ_CHUNK);
        // Replaying: never read past the next recorded batch end.
        while t.replay.front().is_some_and(|r| *r <= t.read_pos) {
            t.replay.pop_front();
        }
        let cut = t.replay.front().copied();
        if let Some(r) = cut {
            want = want.min(r.saturating_sub(t.read_pos) as usize);
        }
        // One read buffer for every chunk: the lines are copied out of it into the batch.
        let buf = &mut self.read_buf;
        buf.resize(want, 0);
        let n = match f.read_at(buf, t.read_pos) {
            Ok(n) => n,
            Err(e) => {
                warn!(path = %t.path.display(), error = %e, "read failed");
                return (None, 0);
            }
        };
        if n == 0 {
            return (None, 0);
        }
        buf.truncate(n);
        let base = t.read_pos;
        t.read_pos += n as u64;
        if (t.head.len() as u64) < FINGERPRINT_BYTES && base <= t.head.len() as u64 {
            let from = (t.head.len() as u64 - base) as usize;
            let to = (FINGERPRINT_BYTES - base).min(n as u64) as usize;
            if from < to {
                t.head.extend_from_slice(&buf[from..to]);
            }
        }
        let max = self.cfg.max_line_bytes;
        let mut lines = Lines::with_capacity(n);
        let mut truncated = 0u64;
        let mut start = 0;
        let multiline = self.multiline.as_ref().map(|(re, _)| re);
        let mut last_end: Option<u64> = None;
        let mut emit = |text: &[u8], was_truncated: bool, end: u64, lines: &mut Lines, last_end: &mut Option<u64>| {
            if was_truncated {
                truncated += 1;
            }
            lines.push(text, was_truncated);
            *last_end = Some(end);
        };
        let mut joined = Vec::new();
        for nl in memchr::memchr_iter(b'\n', &buf[..]) {
            let line_end = nl;
            let end_offset = base + line_end as u64 + 1;
            let piece = &buf[start..line_end];
            start = line_end + 1;
            // The whole line is in this chunk (the common case): no copy before the batch's.
            let (mut line, overlong): (&[u8], bool) = if t.partial.is_empty() && !t.overlong {
                (&piece[..piece.len().min(max)], piece.len() > max)
            } else {
                let room = max.saturating_sub(t.partial.len());
                let overlong = t.overlong || piece.len() > room;
                t.partial.extend_from_slice(&piece[..piece.len().min(room)]);
                t.overlong = false;
                joined.clear();
                std::mem::swap(&mut joined, &mut t.partial);
                (&joined[..], overlong)
            };
            if line.last() == Some(&b'\r') {
                line = &line[..line.len() - 1];
            }
            match multiline {
                None => emit(line, overlong, end_offset, &mut lines, &mut last_end),
                Some(re) => {
                    let is_start = re.is_match(&String::from_utf8_lossy(line));
                    match &mut t.held {
                        Some(h) if !is_start => {
                            let room = max.saturating_sub(h.text.len() + 1);
                            h.truncated |= overlong || line.len() > room;
                            if room > 0 {
                                h.text.push(b'\n');
                                h.text.extend_from_slice(&line[..line.len().min(room)]);
                            }
                            h.end = end_offset;
                            h.last_line = Instant::now();
                        }
                        _ => {
                            if let Some(h) = t.held.take() {
                                emit(&h.text, h.truncated, h.end, &mut lines, &mut last_end);
                            }
                            t.held = Some(Held { text: line.to_vec(), end: end_offset, truncated: overlong, last_line: Instant::now() });
                        }
                    }
                }
            }
        }
        let rest = &buf[start..];
        let room = max.saturating_sub(t.partial.len());
        if rest.len() > room {
            t.overlong = true;
        }
        t.partial.extend_from_slice(&rest[..rest.len().min(room)]);
        let at_cut = cut == Some(t.read_pos);
        if at_cut {
            // A recorded batch ended here in the previous run: end this batch here too.
            t.replay.pop_front();
            if let Some(h) = t.held.take() {
                emit(&h.text, h.truncated, h.end, &mut lines, &mut last_end);
            }
        }
        if truncated > 0 {
            cx.metrics.dropped("line_truncated", truncated);
        }
        if lines.is_empty() {
            let b = self.flush_timed_out(id);
            return (b, n);
        }
        let end = last_end.expect("events have an end");
        let replay = cut.is_some();
        (Some(self.batch(id, lines, end, replay)), n)
    }

    fn on_ack(&mut self, n: AckNotice) {
        let Some(t) = self.files.get_mut(&n.stream) else { return };
        if !n.delivered {
            if !t.stalled {
                warn!(path = %t.path.display(), "a batch was not delivered; this file's checkpoint stays put until restart");
            }
            t.stalled = true;
        }
        if let Some(entry) = t.pending.iter_mut().find(|(end, done)| *end == n.end && !*done) {
            entry.1 = true;
        }
        self.cp_dirty |= t.advance();
    }

    fn close_finished(&mut self, cx: &SourceContext) {
        let done: Vec<u64> = self
            .files
            .iter()
            .filter(|(_, t)| {
                t.pending.is_empty()
                    && (t.ended
                        || (t.gone && t.file.as_ref().and_then(|f| f.metadata().ok()).is_none_or(|m| t.idle(m.len())) && !t.overlong))
            })
            .map(|(id, _)| *id)
            .collect();
        for id in done {
            if let Some(t) = self.files.remove(&id) {
                // Its last checkpoint entry must not be carried on: it is finished.
                self.saved.retain(|s| (s.dev, s.ino, s.generation) != (t.dev, t.ino, t.generation));
                if !t.ended {
                    info!(source = %cx.name, path = %t.path.display(), "finished rotated or deleted file");
                }
                self.cp_dirty = true;
            }
        }
        cx.metrics.set_files_watched(self.files.len() as i64);
    }

    fn write_checkpoint(&mut self, cx: &SourceContext) {
        let mut files = Vec::new();
        // In the order files were first followed, so a restart resumes older files first.
        let mut ids: Vec<u64> = self.files.keys().copied().collect();
        ids.sort_unstable();
        for t in ids.iter().filter_map(|id| self.files.get(id)) {
            if t.ended {
                continue; // its content is gone from the file; nothing to resume
            }
            files.push(FileCheckpoint {
                dev: t.dev,
                ino: t.ino,
                fingerprint: checkpoint::fingerprint(&t.head),
                fingerprint_len: t.head.len() as u64,
                offset: t.acked,
                path: t.path.clone(),
                generation: t.generation,
                // Batch ends this run sent, then those of the previous run not replayed yet: a
                // crash now must still cut at every one of them.
                sent: t.pending.iter().map(|(end, _)| *end).chain(t.replay.iter().copied()).filter(|e| *e > t.acked).collect(),
            });
        }
        // Keep saved entries of files not opened in this run (e.g. waiting for a descriptor)
        // only while they still exist, so a restart does not re-read them.
        for s in &self.saved {
            if !files.iter().any(|f| (f.dev, f.ino) == (s.dev, s.ino))
                && std::fs::metadata(&s.path).map(|m| (m.dev(), m.ino()) == (s.dev, s.ino)).unwrap_or(false)
            {
                files.push(s.clone());
            }
        }
        let cp = Checkpoints { version: 1, files };
        match checkpoint::write(&self.cp_path, &cp) {
            Ok(()) => {
                self.saved = cp.files;
                self.cp_dirty = false;
            }
            Err(e) => {
                cx.metrics.checkpoint_write_failed();
                warn!(path = %self.cp_path.display(), error = %e, "checkpoint write failed");
            }
        }
    }
}

/// A batch cut from one file: its events' text, and the ack and position it will travel with.
struct RawBatch {
    lines: Lines,
    origin: String,
    ack: Ack,
    position: StreamPosition,
}

impl RawBatch {
    /// The batch as it travels: its lines, parsed only by whoever needs events (see
    /// [`RawLogs`]); the read time is now.
    fn into_batch(self, host: &str, service: &str, opts: &Arc<ParseOptions>) -> EventBatch {
        let raw = RawLogs::new(self.lines, self.origin, host.to_string(), service.to_string(), opts.clone(), now_ns());
        EventBatch::from_raw(raw, self.ack, Some(self.position))
    }
}

fn now_ns() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::Telemetry;
    use std::io::Write;
    use tokio::sync::watch;

    struct Running {
        rx: mpsc::Receiver<EventBatch>,
        stop: watch::Sender<bool>,
        task: tokio::task::JoinHandle<()>,
    }

    fn start(dir: &Path, extra: &str) -> Running {
        let text = format!(
            "include = [{:?}]\nglob_interval_ms = 20\npoll_interval_ms = 10\n{extra}",
            dir.join("logs/*.log").display().to_string()
        );
        let cfg: Config = toml::from_str(&text).unwrap();
        assert!(cfg.validate().is_empty(), "{:?}", cfg.validate());
        let (tx, rx) = mpsc::channel(1024);
        let (stop, shutdown) = watch::channel(false);
        let cx = SourceContext {
            name: "app".into(),
            host: "h".into(),
            data_dir: dir.join("data"),
            metrics: Telemetry::new().component("file", "app"),
            telemetry: Telemetry::new(),
            outputs: vec![tx],
            shutdown,
            drain_timeout: Duration::from_secs(1),
        };
        Running { rx, stop, task: tokio::spawn(cfg.run(cx)) }
    }

    /// Receives batches (acknowledging each) until `n` events arrived; returns their messages.
    async fn collect(r: &mut Running, n: usize) -> Vec<String> {
        let mut out = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while out.len() < n {
            let mut b = tokio::time::timeout_at(deadline, r.rx.recv())
                .await
                .unwrap_or_else(|_| panic!("only {} of {n} events: {out:?}", out.len()))
                .unwrap();
            out.extend(b.events_mut().iter().map(|e| e.message.clone()));
            b.ack.settle();
        }
        out
    }

    async fn stop(r: Running) {
        let _ = r.stop.send(true);
        let _ = r.task.await;
    }

    fn append(path: &Path, text: &str) {
        std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap().write_all(text.as_bytes()).unwrap();
    }

    #[tokio::test]
    async fn multiline_joins_continuation_lines_to_their_start() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("logs")).unwrap();
        let log = dir.path().join("logs/app.log");
        append(&log, "2026-01-01 boom\n  at a.rs:1\n  at b.rs:2\n2026-01-01 ok\n");
        let mut r = start(dir.path(), "[multiline]\nstart_pattern = '^\\d{4}-'\ntimeout_ms = 50\n");
        let got = collect(&mut r, 2).await;
        assert_eq!(got, ["2026-01-01 boom\n  at a.rs:1\n  at b.rs:2", "2026-01-01 ok"]);
        stop(r).await;
    }

    #[tokio::test]
    async fn copytruncate_reads_the_rest_from_the_copy_once() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("logs")).unwrap();
        let log = dir.path().join("logs/app.log");
        let head: String = (0..20).map(|i| format!("line {i:03} {}\n", "x".repeat(80))).collect();
        append(&log, &head);
        let mut r = start(dir.path(), "");
        assert_eq!(collect(&mut r, 20).await.len(), 20);
        // Written after our last read, then copied away and truncated before we look again.
        append(&log, "late 1\nlate 2\n");
        std::fs::copy(&log, dir.path().join("logs/app.log.1")).unwrap();
        std::fs::OpenOptions::new().write(true).open(&log).unwrap().set_len(0).unwrap();
        append(&log, "new 1\n");
        let got = collect(&mut r, 3).await;
        assert_eq!(got, ["late 1", "late 2", "new 1"]);
        // nothing else: neither the copy nor the truncated file is read again from its start
        assert!(tokio::time::timeout(Duration::from_millis(300), r.rx.recv()).await.is_err());
        stop(r).await;
    }

    #[tokio::test]
    async fn files_created_and_rotated_while_stopped_are_read_once() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("logs")).unwrap();
        let logs = dir.path().join("logs");
        let log = logs.join("app.log");
        append(&log, "a1\na2\n");
        // an old rotated file the agent already finished before it stopped
        append(&logs.join("app.log.1"), "old\n");
        let mut r = start(dir.path(), "");
        assert_eq!(collect(&mut r, 2).await, ["a1", "a2"]);
        stop(r).await;
        std::thread::sleep(Duration::from_millis(20));
        // while stopped: a3 in the followed file, then two numbered rotations, so `b` is created
        // at app.log and rotated out of the globs without the source ever seeing it there
        append(&log, "a3\n");
        let rotate = || {
            for n in (1..=3).rev() {
                let from = logs.join(format!("app.log.{n}"));
                if from.exists() {
                    std::fs::rename(&from, logs.join(format!("app.log.{}", n + 1))).unwrap();
                }
            }
            std::fs::rename(&log, logs.join("app.log.1")).unwrap();
        };
        rotate();
        append(&log, "b1\nb2\n");
        rotate();
        append(&log, "c1\n");
        let mut r = start(dir.path(), "");
        let mut got = collect(&mut r, 4).await;
        got.sort();
        assert_eq!(got, ["a3", "b1", "b2", "c1"]);
        // nothing else: neither the old rotated file nor anything twice
        assert!(tokio::time::timeout(Duration::from_millis(500), r.rx.recv()).await.is_err());
        stop(r).await;
    }

    #[tokio::test]
    async fn more_files_than_descriptors_are_all_read() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("logs")).unwrap();
        for i in 0..40 {
            append(&dir.path().join(format!("logs/f{i}.log")), &format!("first {i}\n"));
        }
        let mut r = start(dir.path(), "max_open_files = 4\n");
        let mut got = collect(&mut r, 40).await;
        got.sort();
        assert_eq!(got.len(), 40);
        // they grow later: closed ones are reopened by path and identity
        for i in 0..40 {
            append(&dir.path().join(format!("logs/f{i}.log")), &format!("second {i}\n"));
        }
        let mut got = collect(&mut r, 40).await;
        got.sort();
        got.dedup();
        assert_eq!(got.len(), 40, "{got:?}");
        assert!(got.iter().all(|m| m.starts_with("second")));
        stop(r).await;
    }
}

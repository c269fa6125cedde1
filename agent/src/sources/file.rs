//! The `file` source: follows files matching globs and turns their lines into events.
//!
//! Key decisions:
//! - **Identity** is `(device, inode)` confirmed by a fingerprint of the first KiB, so a renamed
//!   file keeps its position and a reused inode is not mistaken for the old file.
//! - **Rotation**: an open file whose path now names another file (rename-and-create) or no file
//!   (deleted) keeps being read to its end before it is closed; the new file at the path is read
//!   from its beginning. A file that shrinks below the read position (copytruncate, or truncated
//!   in place) is read again from its start.
//! - **Delivery**: each chunk of lines is sent as one batch whose [`Ack`] carries the offset just
//!   past its last line. The checkpoint moves only through a contiguous prefix of acknowledged
//!   batches, so after a crash reading resumes at the first line not known to be delivered.
//! - Partial lines (no newline yet) wait for their newline; a line over `max_line_bytes` is
//!   truncated with a marker and counted; invalid UTF-8 is kept with replacement characters.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};
use wire::{LogEvent, ParseOptions};

use super::{SourceContext, send_to_all};
use crate::checkpoint::{self, Checkpoints, FileCheckpoint};
use crate::delivery::{Ack, AckNotice, EventBatch};

/// Marker appended to a truncated line.
pub const TRUNCATED_MARKER: &str = "…[truncated]";
const FINGERPRINT_BYTES: u64 = 1024;
const READ_CHUNK: usize = 256 * 1024;

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
    /// Lines longer than this many bytes are truncated with a marker and counted.
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: usize,
    /// How often to look for new files, in milliseconds.
    #[serde(default = "default_glob_interval_ms")]
    pub glob_interval_ms: u64,
    /// How often to read followed files for new lines, in milliseconds.
    #[serde(default = "default_poll_interval_ms")]
    pub poll_interval_ms: u64,
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
        let mut state = FileSource {
            cfg: self.clone(),
            opts: self.parse_options(),
            exclude: self.exclude.iter().filter_map(|g| glob::Pattern::new(g).ok()).collect(),
            files: HashMap::new(),
            next_id: 1,
            saved: saved.files,
            first_scan: true,
            ack_tx,
            cp_path,
            cp_dirty: false,
        };
        let mut poll = tokio::time::interval(Duration::from_millis(self.poll_interval_ms));
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_scan: Option<Instant> = None;
        let mut last_cp = Instant::now();
        loop {
            tokio::select! {
                _ = cx.shutdown.changed() => break,
                Some(n) = ack_rx.recv() => state.on_ack(n),
                _ = poll.tick() => {
                    if last_scan.is_none_or(|t| t.elapsed() >= Duration::from_millis(self.glob_interval_ms)) {
                        state.scan(&cx);
                        last_scan = Some(Instant::now());
                    }
                    if !state.read_all(&cx).await {
                        break;
                    }
                    state.close_finished(&cx);
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

struct Tracked {
    path: PathBuf,
    dev: u64,
    ino: u64,
    file: File,
    /// Next byte to read.
    read_pos: u64,
    /// Bytes read past the last complete line.
    partial: Vec<u8>,
    /// The current line was already truncated; skip to its newline.
    skipping: bool,
    /// Delivered up to here (checkpoint).
    acked: u64,
    /// Batches sent and not yet acknowledged, in order: (end offset, settled?).
    pending: VecDeque<(u64, bool)>,
    /// Some batch was abandoned: never move the checkpoint again in this run.
    stalled: bool,
    /// No glob path names this file any more (rotated away or deleted).
    gone: bool,
    fingerprint: String,
    fingerprint_len: u64,
}

impl Tracked {
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
}

struct FileSource {
    cfg: Config,
    opts: ParseOptions,
    exclude: Vec<glob::Pattern>,
    files: HashMap<u64, Tracked>,
    next_id: u64,
    saved: Vec<FileCheckpoint>,
    first_scan: bool,
    ack_tx: mpsc::UnboundedSender<AckNotice>,
    cp_path: PathBuf,
    cp_dirty: bool,
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

impl FileSource {
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

    fn scan(&mut self, cx: &SourceContext) {
        let mut seen = Vec::new();
        for path in self.matched_paths() {
            let Ok(meta) = std::fs::metadata(&path) else { continue };
            if !meta.is_file() {
                continue;
            }
            let key = (meta.dev(), meta.ino());
            seen.push(key);
            if let Some(t) = self.files.values_mut().find(|t| (t.dev, t.ino) == key) {
                if t.path != path {
                    debug!(from = %t.path.display(), to = %path.display(), "followed file renamed");
                    t.path = path;
                }
                t.gone = false;
                continue;
            }
            let Ok(file) = File::open(&path) else { continue };
            let fp_len = meta.len().min(FINGERPRINT_BYTES);
            let prefix = read_prefix(&file, fp_len);
            let saved = self.saved.iter().find(|c| {
                (c.dev, c.ino) == key
                    && c.fingerprint_len <= prefix.len() as u64
                    && checkpoint::fingerprint(&prefix[..c.fingerprint_len as usize]) == c.fingerprint
            });
            let start = match saved {
                Some(c) if c.offset <= meta.len() => c.offset,
                Some(_) => 0, // shrank while we were away: truncated, start over
                None if self.first_scan && self.cfg.read_from == ReadFrom::End => meta.len(),
                None => 0,
            };
            info!(source = %cx.name, path = %path.display(), offset = start, "following file");
            let id = self.next_id;
            self.next_id += 1;
            self.files.insert(
                id,
                Tracked {
                    path,
                    dev: key.0,
                    ino: key.1,
                    file,
                    read_pos: start,
                    partial: Vec::new(),
                    skipping: false,
                    acked: start,
                    pending: VecDeque::new(),
                    stalled: false,
                    gone: false,
                    fingerprint: checkpoint::fingerprint(&prefix),
                    fingerprint_len: prefix.len() as u64,
                },
            );
            self.cp_dirty = true;
        }
        for t in self.files.values_mut() {
            if !seen.contains(&(t.dev, t.ino)) && !t.gone {
                debug!(path = %t.path.display(), "followed file rotated away or deleted; reading it to its end");
                t.gone = true;
            }
        }
        self.first_scan = false;
        cx.metrics.set_files_watched(self.files.len() as i64);
    }

    /// Reads new lines from every file. Returns false when no sink takes events any more.
    async fn read_all(&mut self, cx: &SourceContext) -> bool {
        let mut lag = 0i64;
        let ids: Vec<u64> = self.files.keys().copied().collect();
        for id in ids {
            loop {
                let Some(batch) = self.read_chunk(id, cx) else { break };
                let n = batch.events.len() as u64;
                if !send_to_all(&cx.outputs, batch).await {
                    return false;
                }
                cx.metrics.events_out.inc_by(n);
            }
            if let Some(t) = self.files.get(&id)
                && let Ok(m) = t.file.metadata()
            {
                lag += m.len().saturating_sub(t.read_pos) as i64;
            }
        }
        cx.metrics.set_lag_bytes(lag);
        true
    }

    fn read_chunk(&mut self, id: u64, cx: &SourceContext) -> Option<EventBatch> {
        let t = self.files.get_mut(&id)?;
        let size = t.file.metadata().ok()?.len();
        if size < t.read_pos {
            warn!(path = %t.path.display(), size, position = t.read_pos, "file shrank (truncated or copytruncate); reading it again from its start");
            t.read_pos = 0;
            t.partial.clear();
            t.skipping = false;
            // Everything before is either delivered or in flight; the checkpoint restarts at 0
            // once the in-flight batches settle.
            t.pending.push_back((0, true));
            self.cp_dirty |= t.advance();
        }
        if size == t.read_pos {
            return None;
        }
        let want = ((size - t.read_pos) as usize).min(READ_CHUNK);
        let mut buf = vec![0u8; want];
        let n = match t.file.read_at(&mut buf, t.read_pos) {
            Ok(n) => n,
            Err(e) => {
                warn!(path = %t.path.display(), error = %e, "read failed");
                return None;
            }
        };
        if n == 0 {
            return None;
        }
        buf.truncate(n);
        t.read_pos += n as u64;
        let max = self.cfg.max_line_bytes;
        let now = now_ns();
        let source = t.path.to_string_lossy().into_owned();
        let service = self.cfg.service.clone().unwrap_or_default();
        let mut events = Vec::new();
        let mut truncated = 0u64;
        let mut start = 0;
        let mut last_end: Option<u64> = None;
        let base = t.read_pos - n as u64;
        while let Some(nl) = buf[start..].iter().position(|&b| b == b'\n') {
            let line_end = start + nl;
            let end_offset = base + line_end as u64 + 1;
            if t.skipping {
                t.skipping = false;
            } else {
                t.partial.extend_from_slice(&buf[start..line_end]);
                let mut line = std::mem::take(&mut t.partial);
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                let was_truncated = line.len() > max;
                if was_truncated {
                    line.truncate(max);
                    truncated += 1;
                }
                events.push(make_event(&line, was_truncated, now, &source, &cx.host, &service, &self.opts));
            }
            last_end = Some(end_offset);
            start = line_end + 1;
        }
        if !t.skipping {
            t.partial.extend_from_slice(&buf[start..]);
            if t.partial.len() > max {
                // Over-long line still growing: emit the truncated head now, skip to its newline.
                let mut line = std::mem::take(&mut t.partial);
                line.truncate(max);
                truncated += 1;
                events.push(make_event(&line, true, now, &source, &cx.host, &service, &self.opts));
                t.skipping = true;
                // Its end is unknown yet; the checkpoint stays before it until the newline.
            }
        }
        if truncated > 0 {
            cx.metrics.dropped("line_truncated", truncated);
        }
        if events.is_empty() {
            return None;
        }
        cx.metrics.events_in.inc_by(events.len() as u64);
        let end = last_end.unwrap_or(t.acked);
        t.pending.push_back((end, false));
        Some(EventBatch { events, ack: Ack::new(self.ack_tx.clone(), id, end) })
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
                t.gone
                    && t.pending.is_empty()
                    && t.file.metadata().map(|m| m.len() <= t.read_pos).unwrap_or(true)
                    && (t.partial.is_empty() || t.skipping)
            })
            .map(|(id, _)| *id)
            .collect();
        for id in done {
            if let Some(t) = self.files.remove(&id) {
                info!(source = %cx.name, path = %t.path.display(), "finished rotated or deleted file");
                self.cp_dirty = true;
            }
        }
    }

    fn write_checkpoint(&mut self, cx: &SourceContext) {
        let mut files = Vec::new();
        for t in self.files.values_mut() {
            if t.fingerprint_len < FINGERPRINT_BYTES {
                let prefix = read_prefix(&t.file, FINGERPRINT_BYTES);
                t.fingerprint = checkpoint::fingerprint(&prefix);
                t.fingerprint_len = prefix.len() as u64;
            }
            files.push(FileCheckpoint {
                dev: t.dev,
                ino: t.ino,
                fingerprint: t.fingerprint.clone(),
                fingerprint_len: t.fingerprint_len,
                offset: t.acked,
                path: t.path.clone(),
            });
        }
        // Keep saved entries of files not opened in this run yet (e.g. not matched right now)
        // only while they still exist, so a restart does not re-read them.
        for s in &self.saved {
            if !files.iter().any(|f| (f.dev, f.ino) == (s.dev, s.ino))
                && !self.files.values().any(|t| (t.dev, t.ino) == (s.dev, s.ino))
                && Path::new(&s.path).exists()
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

fn make_event(line: &[u8], truncated: bool, now: i64, source: &str, host: &str, service: &str, opts: &ParseOptions) -> LogEvent {
    let text = String::from_utf8_lossy(line);
    let mut e = if truncated {
        // A truncated JSON line no longer parses; keep it whole, marked.
        let mut e = LogEvent::from_line("", now, source, host, opts);
        e.message = format!("{text}{TRUNCATED_MARKER}");
        e.fields.insert("truncated".into(), serde_json::Value::Bool(true));
        e
    } else {
        LogEvent::from_line(&text, now, source, host, opts)
    };
    if e.service.is_empty() {
        e.service = service.to_string();
    }
    e
}

fn now_ns() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0)
}

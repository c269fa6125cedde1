//! Sink buffers: what a sink holds between its inputs and its requests.
//!
//! ```toml
//! [sinks.central.buffer]
//! type = "memory"          # default
//! max_events = 1000        # log events + samples held (at least one batch is taken)
//! when_full = "block"      # or "drop_newest"
//!
//! [sinks.central.buffer]
//! type = "disk"
//! max_bytes = 268435456    # bytes on disk
//! when_full = "block"
//! ```
//!
//! - **block** (default): a full buffer stops taking batches, so the sources wait (a file
//!   source stops reading; its lines stay in the file). Nothing is dropped.
//! - **drop_newest**: a batch arriving at a full buffer is dropped, counted as
//!   `lookout_agent_events_dropped_total{reason="buffer_full"}`, and acknowledged to its source
//!   (the lines are given up on purpose, so the checkpoint moves past them).
//!
//! **Disk buffer.** Each batch is one record file `<data_dir>/buffers/<sink>/<seq>.rec`:
//! a CRC-32 (little endian) of the payload, then the payload, the batch as JSON (events,
//! samples and stream position). A record is written to `<seq>.tmp`, fsynced and renamed, and
//! the directory fsynced, *before* the batch is acknowledged to its source; so a file source's
//! checkpoint only moves past lines that are on disk. A record is deleted only when the sink
//! acknowledges it (the receiver stored it). After a crash (SIGKILL, power cut) the records
//! are read back in order; a `.tmp` or a record whose CRC fails (a torn write) is discarded —
//! its batch had not been acknowledged to the source, which reads it again. Records found at
//! start-up are sent one per request, with their original stream positions, because some of
//! them may have reached the receiver before the crash: a `lookout` sink then names them with
//! the `Lookout-Batch` ids they had, and the aggregator drops the ones it already stored.

use std::collections::{BTreeMap, VecDeque};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tracing::{info, warn};
use wire::LogEvent;

use crate::delivery::{Ack, AckNotice, EventBatch, StreamPosition};
use crate::metric::MetricSample;
use crate::telemetry::ComponentMetrics;

/// What to do with a batch that arrives at a full buffer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WhenFull {
    /// Wait for room: backpressure to the sources (default).
    #[default]
    Block,
    /// Drop the new batch and count it.
    DropNewest,
}

/// `buffer = { type = "memory", … }`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryBuffer {
    /// Most events (log events + samples) held.
    #[serde(default = "default_max_events")]
    pub max_events: usize,
    /// `block` (default) or `drop_newest`.
    #[serde(default)]
    pub when_full: WhenFull,
}

/// `buffer = { type = "disk", … }`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiskBuffer {
    /// Most bytes of records on disk.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: u64,
    /// Most events on disk (default: no limit besides `max_bytes`).
    #[serde(default)]
    pub max_events: Option<usize>,
    /// `block` (default) or `drop_newest`.
    #[serde(default)]
    pub when_full: WhenFull,
}

/// `[sinks.NAME.buffer]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BufferConfig {
    /// In memory (lost on a crash; the file source reads unacknowledged lines again).
    Memory(MemoryBuffer),
    /// On disk under the data directory; survives crashes and restarts.
    Disk(DiskBuffer),
}

impl Default for BufferConfig {
    fn default() -> Self {
        BufferConfig::Memory(MemoryBuffer { max_events: default_max_events(), when_full: WhenFull::Block })
    }
}

/// Small on purpose: a file source's lines wait in the file (backpressure), and a batch is
/// always taken when the buffer is below the limit, so a thousand events keep the source about
/// one request ahead of the sink at a fraction of the memory (see BENCHMARKS.md, agent).
fn default_max_events() -> usize {
    1_000
}
fn default_max_bytes() -> u64 {
    256 << 20
}

impl BufferConfig {
    /// Semantic checks.
    pub fn validate(&self) -> Vec<(String, String)> {
        match self {
            BufferConfig::Memory(m) if m.max_events == 0 => vec![("max_events".into(), "must be at least 1".into())],
            BufferConfig::Disk(d) if d.max_bytes < 4096 => vec![("max_bytes".into(), "must be at least 4096".into())],
            BufferConfig::Disk(DiskBuffer { max_events: Some(0), .. }) => vec![("max_events".into(), "must be at least 1".into())],
            _ => vec![],
        }
    }

    /// Starts the buffer between `input` and the sink; returns what the sink reads.
    pub fn spawn(
        &self,
        data_dir: &Path,
        sink: &str,
        input: mpsc::Receiver<EventBatch>,
        metrics: ComponentMetrics,
    ) -> std::io::Result<(mpsc::Receiver<EventBatch>, tokio::task::JoinHandle<()>)> {
        let (tx, rx) = mpsc::channel(1);
        match self {
            BufferConfig::Memory(m) => metrics.set_buffer_capacity(m.max_events as i64, 0),
            BufferConfig::Disk(d) => metrics.set_buffer_capacity(d.max_events.unwrap_or(0) as i64, d.max_bytes as i64),
        }
        let handle = match self.clone() {
            BufferConfig::Memory(m) => tokio::spawn(memory(m, input, tx, metrics)),
            BufferConfig::Disk(d) => {
                let dir = data_dir.join("buffers").join(sink);
                let disk = Disk::open(&dir, &metrics)?;
                tokio::spawn(disk.run(d, input, tx, metrics))
            }
        };
        Ok((rx, handle))
    }
}

async fn memory(cfg: MemoryBuffer, mut input: mpsc::Receiver<EventBatch>, out: mpsc::Sender<EventBatch>, metrics: ComponentMetrics) {
    let mut queue: VecDeque<EventBatch> = VecDeque::new();
    let mut held = 0usize;
    let mut closed = false;
    loop {
        if closed && queue.is_empty() {
            break;
        }
        let room = held < cfg.max_events;
        tokio::select! {
            b = input.recv(), if !closed && (room || cfg.when_full == WhenFull::DropNewest) => match b {
                Some(b) if room => {
                    held += b.len();
                    queue.push_back(b);
                }
                Some(b) => {
                    metrics.dropped("buffer_full", b.len() as u64);
                    b.ack.settle();
                }
                None => closed = true,
            },
            p = out.reserve(), if !queue.is_empty() => match p {
                Ok(p) => {
                    let b = queue.pop_front().expect("not empty");
                    held -= b.len();
                    p.send(b);
                }
                Err(_) => break,
            },
        }
        metrics.set_buffer(held as i64, 0);
    }
}

/// A record as stored.
#[derive(Serialize, Deserialize)]
struct Record {
    #[serde(default)]
    events: Vec<LogEvent>,
    #[serde(default)]
    metrics: Vec<MetricSample>,
    #[serde(default)]
    position: Option<StreamPosition>,
}

struct Rec {
    seq: u64,
    events: usize,
    bytes: u64,
    /// Found at start-up: may have been sent before the crash.
    replay: bool,
}

struct Disk {
    dir: PathBuf,
    next_seq: u64,
    /// On disk, not handed to the sink yet, oldest first.
    queued: VecDeque<Rec>,
    /// Handed to the sink, not acknowledged yet.
    inflight: BTreeMap<u64, Rec>,
    bytes: u64,
    events: usize,
}

fn record_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:016x}.rec"))
}

fn decode(data: &[u8]) -> Option<Record> {
    if data.len() < 4 {
        return None;
    }
    let crc = u32::from_le_bytes(data[..4].try_into().ok()?);
    if crc32fast::hash(&data[4..]) != crc {
        return None;
    }
    serde_json::from_slice(&data[4..]).ok()
}

impl Disk {
    fn open(dir: &Path, metrics: &ComponentMetrics) -> std::io::Result<Disk> {
        std::fs::create_dir_all(dir)?;
        let mut seqs = Vec::new();
        for e in std::fs::read_dir(dir)?.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(hex) = name.strip_suffix(".rec")
                && let Ok(seq) = u64::from_str_radix(hex, 16)
            {
                seqs.push(seq);
            } else if name.ends_with(".tmp") {
                // A write cut short: its batch was never acknowledged to the source.
                let _ = std::fs::remove_file(e.path());
            }
        }
        seqs.sort_unstable();
        let mut disk =
            Disk { dir: dir.to_path_buf(), next_seq: 1, queued: VecDeque::new(), inflight: BTreeMap::new(), bytes: 0, events: 0 };
        for seq in seqs {
            let path = record_path(dir, seq);
            let data = std::fs::read(&path)?;
            match decode(&data) {
                Some(r) => {
                    let events = r.events.len() + r.metrics.len();
                    disk.bytes += data.len() as u64;
                    disk.events += events;
                    disk.queued.push_back(Rec { seq, events, bytes: data.len() as u64, replay: true });
                }
                None => {
                    warn!(path = %path.display(), "disk buffer record is torn or corrupt; discarded (its lines were not acknowledged and are read again)");
                    metrics.dropped("buffer_corrupt", 0);
                    let _ = std::fs::remove_file(&path);
                }
            }
            disk.next_seq = seq + 1;
        }
        if !disk.queued.is_empty() {
            info!(dir = %dir.display(), records = disk.queued.len(), events = disk.events, "disk buffer holds records from the previous run");
        }
        Ok(disk)
    }

    /// Writes one record durably except for the directory entry (fsynced per group).
    fn write(&mut self, b: &mut EventBatch) -> std::io::Result<Rec> {
        let rec = Record { events: b.events_mut().clone(), metrics: b.metrics.clone(), position: b.position.clone() };
        let payload = serde_json::to_vec(&rec).map_err(std::io::Error::other)?;
        let seq = self.next_seq;
        let tmp = self.dir.join(format!("{seq:016x}.tmp"));
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&crc32fast::hash(&payload).to_le_bytes())?;
        f.write_all(&payload)?;
        f.sync_data()?;
        std::fs::rename(&tmp, record_path(&self.dir, seq))?;
        self.next_seq += 1;
        Ok(Rec { seq, events: b.len(), bytes: payload.len() as u64 + 4, replay: false })
    }

    fn sync_dir(&self) -> std::io::Result<()> {
        std::fs::File::open(&self.dir)?.sync_all()
    }

    fn load(&self, rec: &Rec) -> Option<(Vec<LogEvent>, Vec<MetricSample>, Option<StreamPosition>)> {
        let data = std::fs::read(record_path(&self.dir, rec.seq)).ok()?;
        let r = decode(&data)?;
        let mut position = r.position;
        if rec.replay
            && let Some(p) = &mut position
        {
            p.replay = true;
        }
        Some((r.events, r.metrics, position))
    }

    fn full(&self, cfg: &DiskBuffer) -> bool {
        self.bytes >= cfg.max_bytes || cfg.max_events.is_some_and(|m| self.events >= m)
    }

    async fn run(
        mut self,
        cfg: DiskBuffer,
        mut input: mpsc::Receiver<EventBatch>,
        out: mpsc::Sender<EventBatch>,
        metrics: ComponentMetrics,
    ) {
        let (ack_tx, mut ack_rx) = mpsc::unbounded_channel::<AckNotice>();
        let mut closed = false;
        loop {
            // On shutdown the backlog stays on disk for the next run; only wait for what the
            // sink is sending now.
            if closed && self.inflight.is_empty() {
                break;
            }
            metrics.set_buffer(self.events as i64, self.bytes as i64);
            let full = self.full(&cfg);
            tokio::select! {
                b = input.recv(), if !closed && (!full || cfg.when_full == WhenFull::DropNewest) => {
                    let Some(b) = b else {
                        closed = true;
                        continue;
                    };
                    // Take what else is waiting too, so one directory fsync covers the group.
                    let mut group = vec![b];
                    while group.len() < 64 {
                        match input.try_recv() {
                            Ok(b) => group.push(b),
                            Err(_) => break,
                        }
                    }
                    let mut written = Vec::new();
                    for mut b in group {
                        if b.is_empty() {
                            b.ack.settle();
                            continue;
                        }
                        if self.full(&cfg) && cfg.when_full == WhenFull::DropNewest {
                            metrics.dropped("buffer_full", b.len() as u64);
                            b.ack.settle();
                            continue;
                        }
                        match self.write(&mut b) {
                            Ok(rec) => {
                                self.bytes += rec.bytes;
                                self.events += rec.events;
                                self.queued.push_back(rec);
                                written.push(b.ack);
                            }
                            Err(e) => {
                                // Not on disk: leave the batch unacknowledged (the source reads
                                // it again after a restart) and say so.
                                metrics.dropped("buffer_write_failed", b.len() as u64);
                                warn!(dir = %self.dir.display(), error = %e, "cannot write to the disk buffer");
                                drop(b);
                            }
                        }
                    }
                    if !written.is_empty() {
                        match self.sync_dir() {
                            Ok(()) => written.into_iter().for_each(Ack::settle),
                            Err(e) => warn!(dir = %self.dir.display(), error = %e, "cannot fsync the disk buffer directory"),
                        }
                    }
                }
                p = out.reserve(), if !closed && !self.queued.is_empty() => {
                    let Ok(p) = p else { break };
                    let rec = self.queued.pop_front().expect("not empty");
                    match self.load(&rec) {
                        Some((events, samples, position)) => {
                            let ack = Ack::new(ack_tx.clone(), 0, rec.seq);
                            p.send(EventBatch::from_parts(events, samples, ack, position));
                            self.inflight.insert(rec.seq, rec);
                        }
                        None => {
                            warn!(seq = rec.seq, "disk buffer record unreadable; dropped");
                            metrics.dropped("buffer_corrupt", rec.events as u64);
                            let _ = std::fs::remove_file(record_path(&self.dir, rec.seq));
                            self.bytes -= rec.bytes;
                            self.events -= rec.events;
                        }
                    }
                }
                Some(n) = ack_rx.recv() => {
                    // Not delivered (the sink stopped): the record stays on disk for the next run.
                    if let Some(rec) = self.inflight.remove(&n.end)
                        && n.delivered
                    {
                        if let Err(e) = std::fs::remove_file(record_path(&self.dir, rec.seq)) {
                            warn!(seq = rec.seq, error = %e, "cannot delete a delivered disk buffer record");
                        }
                        self.bytes -= rec.bytes;
                        self.events -= rec.events;
                    }
                }
            }
        }
        metrics.set_buffer(self.events as i64, self.bytes as i64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::Telemetry;

    fn batch(n: usize, end: u64, ack: Ack) -> EventBatch {
        let events = (0..n).map(|i| LogEvent { message: format!("m{end}-{i}"), ..Default::default() }).collect();
        EventBatch::from_parts(events, vec![], ack, Some(StreamPosition { stream: "abc".into(), end, replay: false }))
    }

    #[tokio::test]
    async fn disk_buffer_acks_sources_once_written_and_keeps_unacked_records_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let m = Telemetry::new().component("lookout", "s");
        let cfg: BufferConfig = toml::from_str("type = 'disk'\nmax_bytes = 1000000").unwrap();
        let (in_tx, in_rx) = mpsc::channel(8);
        let (mut out, task) = cfg.spawn(dir.path(), "s", in_rx, m.clone()).unwrap();
        let (src_tx, mut src_rx) = mpsc::unbounded_channel();
        in_tx.send(batch(3, 100, Ack::new(src_tx.clone(), 1, 100))).await.unwrap();
        in_tx.send(batch(2, 200, Ack::new(src_tx.clone(), 1, 200))).await.unwrap();
        // acknowledged to the source before the sink has delivered anything
        assert_eq!(src_rx.recv().await.unwrap(), AckNotice { stream: 1, end: 100, delivered: true });
        assert_eq!(src_rx.recv().await.unwrap(), AckNotice { stream: 1, end: 200, delivered: true });
        let first = out.recv().await.unwrap();
        assert_eq!(first.log_count(), 3);
        first.ack.settle(); // delivered: its record is deleted
        let second = out.recv().await.unwrap();
        assert!(!second.position.as_ref().unwrap().replay);
        drop(second); // the sink stopped without delivering it
        drop(in_tx);
        task.await.unwrap();
        // a torn write from a crash is ignored
        std::fs::write(dir.path().join("buffers/s/00000000000000ff.rec"), b"\x01\x02\x03\x04{\"ev").unwrap();
        let (in_tx, in_rx) = mpsc::channel(8);
        let (mut out, _task) = cfg.spawn(dir.path(), "s", in_rx, m).unwrap();
        let mut again = out.recv().await.unwrap();
        assert_eq!(again.events_mut().iter().map(|e| e.message.clone()).collect::<Vec<_>>(), ["m200-0", "m200-1"]);
        assert!(again.position.as_ref().unwrap().replay, "records from a previous run travel alone");
        drop(in_tx);
    }

    #[tokio::test]
    async fn memory_buffer_drop_newest_counts_and_settles() {
        let m = Telemetry::new().component("lookout", "s");
        let cfg: BufferConfig = toml::from_str("type = 'memory'\nmax_events = 2\nwhen_full = 'drop_newest'").unwrap();
        let (in_tx, in_rx) = mpsc::channel(8);
        let (mut out, _task) = cfg.spawn(Path::new("/nonexistent"), "s", in_rx, m).unwrap();
        let (src_tx, mut src_rx) = mpsc::unbounded_channel();
        // the sink does not read: the first batch fills the channel, the next two the buffer
        for end in [1, 2, 3, 4] {
            in_tx.send(batch(1, end, Ack::new(src_tx.clone(), 1, end))).await.unwrap();
        }
        let dropped = tokio::time::timeout(std::time::Duration::from_secs(5), src_rx.recv()).await.unwrap().unwrap();
        assert!(dropped.delivered && dropped.end >= 3, "{dropped:?}");
        let got = out.recv().await.unwrap();
        assert_eq!(got.position.unwrap().end, 1);
    }
}

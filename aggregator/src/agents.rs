//! The agents that ship logs to this aggregator, for `GET /api/v1/agents` and the Agents page.
//!
//! An agent is known by the agent part of its `Lookout-Batch` header
//! (`<agent>/<sink>.<generation>/<offset>`); its version comes from `User-Agent:
//! lookout-agent/<version>` and its host from the `host` of the events it sends. Each ingest
//! request updates the agent's counters and last contact in memory; a background task writes
//! the table to `agents.json` in the data directory when it changed (atomically: temp file +
//! rename), so agents are still listed after a restart. Requests without a `Lookout-Batch`
//! header come from other shippers and are not tracked.
//!
//! What the aggregator can see from ingest alone: events and batches received, retries it
//! recognised as duplicates, requests it refused (and their events), and delivery lag (how old
//! the newest event of a batch was when it arrived). Lag inside the agent (bytes not yet read)
//! and its buffer use are the agent's own metrics on its `/metrics`.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tracing::warn;

/// File name of the persisted table inside the data directory.
pub const FILE: &str = "agents.json";
/// Seconds without contact after which an agent is reported stale.
pub const STALE_AFTER_SECS: f64 = 120.0;
/// Window of the events-per-second rate.
const RATE_WINDOW_SECS: u64 = 60;

/// What the aggregator knows about one agent.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AgentRecord {
    /// The agent id (`Lookout-Batch` agent part).
    pub id: String,
    /// Host named in its most recent events.
    pub host: String,
    /// Version from `User-Agent: lookout-agent/<version>`, empty if it sent none.
    pub version: String,
    /// Unix seconds of the first request.
    pub first_seen: f64,
    /// Unix seconds of the latest request.
    pub last_contact: f64,
    /// Events received and stored.
    pub events: u64,
    /// Batches received and stored.
    pub batches: u64,
    /// Batches recognised as already stored (retries).
    pub duplicate_batches: u64,
    /// Requests refused (malformed, too large, back-pressure, unavailable).
    pub rejected_requests: u64,
    /// Events in refused requests; the agent retries them, so they are dropped only if it gives up.
    pub rejected_events: u64,
    /// Seconds between the newest event of the latest batch and its arrival.
    pub lag_seconds: f64,
    /// Streams (`<sink>.<generation>`) and the highest offset stored for each.
    pub streams: BTreeMap<String, u64>,
    /// Events per whole second over the rate window (not persisted).
    #[serde(skip)]
    recent: VecDeque<(u64, u64)>,
}

impl AgentRecord {
    fn events_per_second(&self, now: f64) -> f64 {
        let now_s = now as u64;
        let from = now_s.saturating_sub(RATE_WINDOW_SECS);
        let n: u64 = self.recent.iter().filter(|(s, _)| *s > from).map(|(_, n)| n).sum();
        // A young agent is averaged over the time since it appeared, not the whole window.
        let span = (now - self.first_seen).clamp(1.0, RATE_WINDOW_SECS as f64);
        n as f64 / span
    }
}

/// One ingest request from an agent, as [`Agents::record`] takes it.
pub struct Contact<'a> {
    /// The batch id.
    pub batch: &'a wire::BatchId,
    /// The `User-Agent` header.
    pub user_agent: Option<&'a str>,
    /// Events in the request.
    pub events: usize,
    /// The first non-empty `host` among them.
    pub host: Option<&'a str>,
    /// The newest event timestamp (ns), if any.
    pub newest_ns: Option<i64>,
}

/// How the request ended.
pub enum Outcome {
    /// Stored.
    Stored,
    /// Already stored before (a retry).
    Duplicate,
    /// Refused.
    Rejected,
}

/// The agent table.
pub struct Agents {
    inner: Mutex<BTreeMap<String, AgentRecord>>,
    path: Option<PathBuf>,
    dirty: AtomicBool,
}

fn now_secs() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// Version from `lookout-agent/<version>` (first product token only).
fn version_of(user_agent: Option<&str>) -> Option<String> {
    let ua = user_agent?.split_whitespace().next()?;
    let v = ua.strip_prefix("lookout-agent/")?;
    (!v.is_empty() && v.len() <= 64).then(|| v.to_string())
}

impl Agents {
    /// A table persisted in `data_dir/agents.json`, loaded from there if present. A file that
    /// cannot be read is logged and replaced.
    pub fn open(data_dir: &Path) -> Agents {
        let path = data_dir.join(FILE);
        let table = match std::fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice::<Vec<AgentRecord>>(&bytes) {
                Ok(list) => list.into_iter().map(|a| (a.id.clone(), a)).collect(),
                Err(e) => {
                    warn!(path = %path.display(), error = %e, "agents table unreadable; starting empty");
                    BTreeMap::new()
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => {
                warn!(path = %path.display(), error = %e, "cannot read agents table; starting empty");
                BTreeMap::new()
            }
        };
        Agents { inner: Mutex::new(table), path: Some(path), dirty: AtomicBool::new(false) }
    }

    /// A table that is never written (tests).
    pub fn in_memory() -> Agents {
        Agents { inner: Mutex::new(BTreeMap::new()), path: None, dirty: AtomicBool::new(false) }
    }

    /// Records one request.
    pub fn record(&self, c: &Contact<'_>, outcome: Outcome) {
        self.record_at(c, outcome, now_secs());
    }

    fn record_at(&self, c: &Contact<'_>, outcome: Outcome, now: f64) {
        let mut table = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let a = table.entry(c.batch.agent.clone()).or_insert_with(|| AgentRecord {
            id: c.batch.agent.clone(),
            first_seen: now,
            ..AgentRecord::default()
        });
        a.last_contact = now;
        if let Some(v) = version_of(c.user_agent) {
            a.version = v;
        }
        if let Some(h) = c.host.filter(|h| !h.is_empty()) {
            a.host = h.chars().take(256).collect();
        }
        match outcome {
            Outcome::Stored => {
                a.events += c.events as u64;
                a.batches += 1;
                let sec = now as u64;
                match a.recent.back_mut() {
                    Some((s, n)) if *s == sec => *n += c.events as u64,
                    _ => a.recent.push_back((sec, c.events as u64)),
                }
                while a.recent.front().is_some_and(|(s, _)| *s + RATE_WINDOW_SECS < sec) {
                    a.recent.pop_front();
                }
                if let Some(ns) = c.newest_ns {
                    a.lag_seconds = (now - ns as f64 / 1e9).max(0.0);
                }
                // Bounded: a misbehaving agent inventing streams cannot grow the table forever.
                if a.streams.len() < 256 || a.streams.contains_key(&c.batch.stream) {
                    let e = a.streams.entry(c.batch.stream.clone()).or_default();
                    *e = (*e).max(c.batch.sequence);
                }
            }
            Outcome::Duplicate => a.duplicate_batches += 1,
            Outcome::Rejected => {
                a.rejected_requests += 1;
                a.rejected_events += c.events as u64;
            }
        }
        self.dirty.store(true, Ordering::Release);
    }

    /// The table as the API returns it, most recent contact first.
    pub fn snapshot(&self) -> serde_json::Value {
        self.snapshot_at(now_secs())
    }

    fn snapshot_at(&self, now: f64) -> serde_json::Value {
        let table = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut list: Vec<_> = table.values().collect();
        list.sort_by(|a, b| b.last_contact.total_cmp(&a.last_contact).then(a.id.cmp(&b.id)));
        let agents: Vec<_> = list
            .into_iter()
            .map(|a| {
                let since = (now - a.last_contact).max(0.0);
                let mut v = serde_json::to_value(a).unwrap_or_default();
                v["events_per_second"] = serde_json::json!(a.events_per_second(now));
                v["seconds_since_contact"] = serde_json::json!(since);
                v["stale"] = serde_json::json!(since > STALE_AFTER_SECS);
                v
            })
            .collect();
        serde_json::json!({ "agents": agents, "stale_after_seconds": STALE_AFTER_SECS, "now": now })
    }

    /// Writes the table if it changed since the last write.
    pub fn persist(&self) {
        let Some(path) = &self.path else { return };
        if !self.dirty.swap(false, Ordering::AcqRel) {
            return;
        }
        let list: Vec<AgentRecord> = self.inner.lock().unwrap_or_else(|e| e.into_inner()).values().cloned().collect();
        let tmp = path.with_extension("json.tmp");
        let result = serde_json::to_vec_pretty(&list)
            .map_err(std::io::Error::other)
            .and_then(|bytes| std::fs::write(&tmp, bytes))
            .and_then(|()| std::fs::rename(&tmp, path));
        if let Err(e) = result {
            self.dirty.store(true, Ordering::Release);
            warn!(path = %path.display(), error = %e, "cannot write agents table");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(agent: &str, stream: &str, seq: u64) -> wire::BatchId {
        wire::BatchId { agent: agent.into(), stream: stream.into(), sequence: seq }
    }

    #[test]
    fn counts_rates_lag_and_staleness() {
        let agents = Agents::in_memory();
        let t0 = 1_800_000_000.0;
        let b = batch("a1", "central.g1", 100);
        let c = Contact {
            batch: &b,
            user_agent: Some("lookout-agent/0.1.0"),
            events: 30,
            host: Some("web-1"),
            newest_ns: Some(((t0 - 2.0) * 1e9) as i64),
        };
        agents.record_at(&c, Outcome::Stored, t0);
        let b2 = batch("a1", "central.g1", 200);
        let c2 = Contact { batch: &b2, user_agent: None, events: 30, host: None, newest_ns: Some((t0 * 1e9) as i64 + 500_000_000) };
        agents.record_at(&c2, Outcome::Stored, t0 + 30.0);
        agents.record_at(&c2, Outcome::Duplicate, t0 + 31.0);
        agents.record_at(&c2, Outcome::Rejected, t0 + 32.0);

        let s = agents.snapshot_at(t0 + 32.0);
        let a = &s["agents"][0];
        assert_eq!(a["id"], "a1");
        assert_eq!(a["host"], "web-1");
        assert_eq!(a["version"], "0.1.0");
        assert_eq!(a["events"], 60);
        assert_eq!(a["batches"], 2);
        assert_eq!(a["duplicate_batches"], 1);
        assert_eq!(a["rejected_requests"], 1);
        assert_eq!(a["rejected_events"], 30);
        assert_eq!(a["streams"]["central.g1"], 200);
        assert!((a["lag_seconds"].as_f64().unwrap() - 29.5).abs() < 1e-6, "{a}");
        assert!((a["events_per_second"].as_f64().unwrap() - 60.0 / 32.0).abs() < 1e-6, "{a}");
        assert_eq!(a["stale"], false);
        assert_eq!(agents.snapshot_at(t0 + 32.0 + STALE_AFTER_SECS + 1.0)["agents"][0]["stale"], true);
        // Nothing received within the window: the rate falls to zero.
        assert_eq!(agents.snapshot_at(t0 + 200.0)["agents"][0]["events_per_second"], 0.0);
    }

    #[test]
    fn the_table_survives_a_restart_and_a_corrupt_file_does_not_stop_it() {
        let dir = tempfile::tempdir().unwrap();
        let agents = Agents::open(dir.path());
        let b = batch("a2", "s.g", 7);
        agents.record(
            &Contact { batch: &b, user_agent: Some("lookout-agent/1.2.3 extra"), events: 5, host: Some("db-1"), newest_ns: None },
            Outcome::Stored,
        );
        agents.persist();
        let again = Agents::open(dir.path());
        let a = &again.snapshot()["agents"][0];
        assert_eq!(
            (a["id"].as_str(), a["host"].as_str(), a["version"].as_str(), a["events"].as_u64()),
            (Some("a2"), Some("db-1"), Some("1.2.3"), Some(5))
        );
        std::fs::write(dir.path().join(FILE), "{not json").unwrap();
        assert_eq!(Agents::open(dir.path()).snapshot()["agents"].as_array().unwrap().len(), 0);
    }
}

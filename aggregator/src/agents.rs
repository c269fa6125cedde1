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
//! the newest event of a batch was when it arrived). What only the agent knows comes in its
//! `Lookout-Agent-Stats` header (`dropped=<n>; buffer_events=<n>; buffer_max_events=<n>;
//! buffer_bytes=<n>; buffer_max_bytes=<n>`, see the agent's `lookout` sink): the events it
//! dropped since it started, summed here across its restarts like a Prometheus counter
//! (a report below the previous one means it restarted), and its sink buffer's use. The header
//! is advisory: a missing or malformed one never fails the request; unknown keys are ignored.

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
/// An agent whose drop count grew within this many seconds is reported as `dropping`.
pub const DROPPING_WINDOW_SECS: f64 = 300.0;
/// Request header with the agent's own counters.
pub const STATS_HEADER: &str = "lookout-agent-stats";
/// Window of the events-per-second rate.
const RATE_WINDOW_SECS: u64 = 60;

/// What the aggregator knows about one agent.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
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
    /// Events the agent reported dropped (all causes), summed across its restarts.
    pub dropped_events: u64,
    /// The agent's latest report of its drops since it started (to tell growth from a restart).
    pub dropped_reported: u64,
    /// Unix seconds when `dropped_events` last grew (0: never).
    pub dropped_changed_at: f64,
    /// Whether the agent ever sent `Lookout-Agent-Stats` (older agents do not).
    pub reports_stats: bool,
    /// Events in the reporting sink's buffer.
    pub buffer_events: u64,
    /// Its event limit (0: none).
    pub buffer_max_events: u64,
    /// Bytes in its disk buffer.
    pub buffer_bytes: u64,
    /// Its byte limit (0: none, a memory buffer).
    pub buffer_max_bytes: u64,
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

    /// The fuller of the buffer's two limits, 0..=1; `None` without stats or limits.
    fn buffer_use(&self) -> Option<f64> {
        if !self.reports_stats {
            return None;
        }
        let frac = |n: u64, max: u64| (max > 0).then(|| (n as f64 / max as f64).min(1.0));
        match (frac(self.buffer_events, self.buffer_max_events), frac(self.buffer_bytes, self.buffer_max_bytes)) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }

    fn apply_stats(&mut self, s: &Stats, now: f64) {
        self.reports_stats = true;
        if let Some(d) = s.dropped {
            // Below the previous report: the agent restarted and counts from zero again.
            let grown = if d >= self.dropped_reported { d - self.dropped_reported } else { d };
            if grown > 0 {
                self.dropped_events = self.dropped_events.saturating_add(grown);
                self.dropped_changed_at = now;
            }
            self.dropped_reported = d;
        }
        let set = |field: &mut u64, v: Option<u64>| {
            if let Some(v) = v {
                *field = v;
            }
        };
        set(&mut self.buffer_events, s.buffer_events);
        set(&mut self.buffer_max_events, s.buffer_max_events);
        set(&mut self.buffer_bytes, s.buffer_bytes);
        set(&mut self.buffer_max_bytes, s.buffer_max_bytes);
    }
}

/// A parsed `Lookout-Agent-Stats` header; absent or malformed keys are `None`.
#[derive(Debug, Default, PartialEq)]
pub struct Stats {
    dropped: Option<u64>,
    buffer_events: Option<u64>,
    buffer_max_events: Option<u64>,
    buffer_bytes: Option<u64>,
    buffer_max_bytes: Option<u64>,
}

impl Stats {
    /// Parses `key=value; key=value`; `None` if no known key has a valid value.
    pub fn parse(header: &str) -> Option<Stats> {
        let mut s = Stats::default();
        let mut any = false;
        for part in header.split(';').take(32) {
            let Some((k, v)) = part.split_once('=') else { continue };
            let Ok(v) = v.trim().parse::<u64>() else { continue };
            let slot = match k.trim() {
                "dropped" => &mut s.dropped,
                "buffer_events" => &mut s.buffer_events,
                "buffer_max_events" => &mut s.buffer_max_events,
                "buffer_bytes" => &mut s.buffer_bytes,
                "buffer_max_bytes" => &mut s.buffer_max_bytes,
                _ => continue,
            };
            *slot = Some(v);
            any = true;
        }
        any.then_some(s)
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
    /// The `Lookout-Agent-Stats` header, if sent.
    pub stats: Option<&'a str>,
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
        // Whatever became of the batch, the agent's own counters are current.
        if let Some(stats) = c.stats.and_then(Stats::parse) {
            a.apply_stats(&stats, now);
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
                v["buffer_use"] = serde_json::json!(a.buffer_use());
                v["dropping"] = serde_json::json!(a.dropped_changed_at > 0.0 && now - a.dropped_changed_at < DROPPING_WINDOW_SECS);
                v
            })
            .collect();
        serde_json::json!({
            "agents": agents,
            "stale_after_seconds": STALE_AFTER_SECS,
            "dropping_window_seconds": DROPPING_WINDOW_SECS,
            "now": now,
        })
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
            stats: None,
        };
        agents.record_at(&c, Outcome::Stored, t0);
        let b2 = batch("a1", "central.g1", 200);
        let c2 =
            Contact { batch: &b2, user_agent: None, events: 30, host: None, newest_ns: Some((t0 * 1e9) as i64 + 500_000_000), stats: None };
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
            &Contact {
                batch: &b,
                user_agent: Some("lookout-agent/1.2.3 extra"),
                events: 5,
                host: Some("db-1"),
                newest_ns: None,
                stats: Some("dropped=4; buffer_events=1"),
            },
            Outcome::Stored,
        );
        agents.persist();
        let again = Agents::open(dir.path());
        let a = &again.snapshot()["agents"][0];
        assert_eq!(
            (a["id"].as_str(), a["host"].as_str(), a["version"].as_str(), a["events"].as_u64()),
            (Some("a2"), Some("db-1"), Some("1.2.3"), Some(5))
        );
        assert_eq!(
            (a["dropped_events"].as_u64(), a["dropped_reported"].as_u64(), a["buffer_events"].as_u64()),
            (Some(4), Some(4), Some(1))
        );
        // A table written before agents reported stats still loads.
        std::fs::write(dir.path().join(FILE), r#"[{"id":"old","host":"h","version":"0.1.0","first_seen":1.0,"last_contact":2.0,"events":3,"batches":1,"duplicate_batches":0,"rejected_requests":0,"rejected_events":0,"lag_seconds":0.5,"streams":{}}]"#).unwrap();
        let old = Agents::open(dir.path()).snapshot();
        assert_eq!((old["agents"][0]["id"].as_str(), old["agents"][0]["events"].as_u64()), (Some("old"), Some(3)));
        assert_eq!(old["agents"][0]["buffer_use"], serde_json::Value::Null);
        std::fs::write(dir.path().join(FILE), "{not json").unwrap();
        assert_eq!(Agents::open(dir.path()).snapshot()["agents"].as_array().unwrap().len(), 0);
    }

    #[test]
    fn agent_stats_sum_drops_across_restarts_and_give_buffer_use() {
        let agents = Agents::in_memory();
        let t0 = 1_800_000_000.0;
        let b = batch("a3", "s.g", 1);
        let at = |stats: &str, t: f64| {
            agents.record_at(
                &Contact { batch: &b, user_agent: None, events: 1, host: None, newest_ns: None, stats: Some(stats) },
                Outcome::Stored,
                t,
            );
            agents.snapshot_at(t)["agents"][0].clone()
        };
        let a = at("dropped=0; buffer_events=10; buffer_max_events=100; buffer_bytes=0; buffer_max_bytes=0", t0);
        assert_eq!((a["dropped_events"].as_u64(), a["dropping"].as_bool()), (Some(0), Some(false)));
        assert!((a["buffer_use"].as_f64().unwrap() - 0.1).abs() < 1e-9, "{a}");
        let a = at("dropped=5; buffer_events=10; buffer_max_events=0; buffer_bytes=3000; buffer_max_bytes=4000", t0 + 1.0);
        assert_eq!((a["dropped_events"].as_u64(), a["dropping"].as_bool()), (Some(5), Some(true)));
        assert!((a["buffer_use"].as_f64().unwrap() - 0.75).abs() < 1e-9, "{a}");
        // Growth counts once; a restart (a lower report) starts from zero again.
        assert_eq!(at("dropped=8", t0 + 2.0)["dropped_events"], 8);
        assert_eq!(at("dropped=8", t0 + 3.0)["dropped_events"], 8);
        assert_eq!(at("dropped=2", t0 + 4.0)["dropped_events"], 10);
        // Malformed values and unknown keys change nothing; no growth for a while is not `dropping`.
        let a = at("dropped=x; what=1; garbage", t0 + 4.0 + DROPPING_WINDOW_SECS + 1.0);
        assert_eq!((a["dropped_events"].as_u64(), a["dropping"].as_bool()), (Some(10), Some(false)));
        assert_eq!(Stats::parse("nothing=1"), None);
        assert_eq!(Stats::parse(" dropped = 3 ").map(|s| s.dropped), Some(Some(3)));
    }
}

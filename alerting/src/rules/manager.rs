//! Runs rule groups on their intervals, reloads them keeping state, and answers the API.
//!
//! Each group runs in its own task. Evaluation times are aligned as Prometheus aligns them:
//! `t = k × interval + offset`, where `offset` is derived from a hash of the group's file and
//! name, so many groups spread over the interval and a group's timestamps are stable across
//! restarts. Evaluation itself runs on a blocking thread (queries and appends are synchronous).
//! A reload keeps an unchanged group running untouched; a changed group takes over the alert
//! state of its rules with the same name and labels; a removed group writes stale markers.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::watch;

use super::file::{self, GroupSpec, Kind, RuleErrors, Warning, fmt_duration};
use super::group::{AlertState, Deps, Group};
use super::template::go_format;
use super::{now_ms, rfc3339};

/// Manager settings.
#[derive(Clone)]
pub struct Options {
    /// Interval of groups that set none (Prometheus's `evaluation_interval`).
    pub default_interval: Duration,
}

struct Running {
    group: Arc<Mutex<Group>>,
    stop: watch::Sender<bool>,
}

/// The rule manager.
pub struct Manager {
    deps: Deps,
    opts: Options,
    groups: Mutex<Vec<((PathBuf, String), Running)>>,
    patterns: Mutex<Vec<String>>,
}

impl Manager {
    /// A manager with no groups yet.
    pub fn new(deps: Deps, opts: Options) -> Arc<Manager> {
        Arc::new(Manager { deps, opts, groups: Mutex::new(Vec::new()), patterns: Mutex::new(Vec::new()) })
    }

    /// Loads the files the globs match and applies them (on error nothing changes). Must run
    /// inside a tokio runtime.
    pub fn load(self: &Arc<Self>, patterns: &[String]) -> Result<Vec<Warning>, RuleErrors> {
        let files = file::expand_globs(patterns)?;
        let (groups, warnings) = file::load_files(&files)?;
        *self.patterns.lock().unwrap_or_else(|e| e.into_inner()) = patterns.to_vec();
        self.apply(groups);
        Ok(warnings)
    }

    /// Reloads from the globs last given to [`load`](Self::load).
    pub fn reload(self: &Arc<Self>) -> Result<Vec<Warning>, RuleErrors> {
        let patterns = self.patterns.lock().unwrap_or_else(|e| e.into_inner()).clone();
        self.load(&patterns)
    }

    /// Replaces the running groups with `specs`, keeping state (see the module docs).
    pub fn apply(self: &Arc<Self>, specs: Vec<GroupSpec>) {
        let mut running = self.groups.lock().unwrap_or_else(|e| e.into_inner());
        let mut old: HashMap<(PathBuf, String), Running> = running.drain(..).collect();
        for spec in specs {
            let key = (spec.file.clone(), spec.name.clone());
            if let Some(prev) = old.remove(&key) {
                let same = prev.group.lock().unwrap_or_else(|e| e.into_inner()).spec == spec;
                if same {
                    running.push((key, prev));
                    continue;
                }
                let _ = prev.stop.send(true);
                let mut g = Group::new(spec, self.opts.default_interval);
                g.copy_state(&prev.group.lock().unwrap_or_else(|e| e.into_inner()));
                running.push((key.clone(), self.start(key, g)));
            } else {
                let g = Group::new(spec, self.opts.default_interval);
                running.push((key.clone(), self.start(key, g)));
            }
        }
        for (_, gone) in old {
            let _ = gone.stop.send(true);
            let deps = self.deps.clone();
            let group = gone.group.clone();
            tokio::task::spawn_blocking(move || group.lock().unwrap_or_else(|e| e.into_inner()).mark_stale(now_ms(), &deps));
        }
    }

    fn start(self: &Arc<Self>, key: (PathBuf, String), g: Group) -> Running {
        let interval_ms = (g.interval.as_millis() as i64).max(1);
        let mut h = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut h);
        let offset = (h.finish() % interval_ms as u64) as i64;
        let group = Arc::new(Mutex::new(g));
        let (stop, mut stopped) = watch::channel(false);
        let (g2, deps) = (group.clone(), self.deps.clone());
        tokio::spawn(async move {
            loop {
                let now = now_ms();
                let next = ((now - offset) / interval_ms + 1) * interval_ms + offset;
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis((next - now).max(0) as u64)) => {}
                    _ = stopped.changed() => return,
                }
                if *stopped.borrow() {
                    return;
                }
                let (g3, d) = (g2.clone(), deps.clone());
                let _ = tokio::task::spawn_blocking(move || g3.lock().unwrap_or_else(|e| e.into_inner()).eval(next, &d)).await;
            }
        });
        Running { group, stop }
    }

    /// Stops every group.
    pub fn stop(&self) {
        for (_, r) in self.groups.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ = r.stop.send(true);
        }
    }

    fn snapshot(&self) -> Vec<Group> {
        let running = self.groups.lock().unwrap_or_else(|e| e.into_inner());
        running.iter().map(|(_, r)| r.group.lock().unwrap_or_else(|e| e.into_inner()).clone()).collect()
    }

    /// `/api/v1/rules`' `data`. `kind`: `alert` or `record` filters rules.
    pub fn rules_json(&self, kind: Option<&str>) -> Value {
        let groups: Vec<Value> = self
            .snapshot()
            .iter()
            .map(|g| {
                let rules: Vec<Value> = g
                    .rules
                    .iter()
                    .filter(|r| !matches!((kind, &r.spec.kind), (Some("alert"), Kind::Record) | (Some("record"), Kind::Alert { .. })))
                    .map(|r| {
                        let mut v = match &r.spec.kind {
                            Kind::Alert { for_, keep_firing_for } => {
                                let mut alerts: Vec<&super::group::Alert> =
                                    r.active.values().filter(|a| a.state != AlertState::Inactive).collect();
                                alerts.sort_by(|a, b| a.labels.cmp(&b.labels));
                                json!({
                                    "state": r.state().as_str(),
                                    "name": r.spec.name,
                                    "query": r.spec.query_text(),
                                    "duration": seconds(*for_),
                                    "keepFiringFor": seconds(*keep_firing_for),
                                    "labels": r.spec.labels,
                                    "annotations": r.spec.annotations,
                                    "alerts": alerts.into_iter().map(alert_json).collect::<Vec<_>>(),
                                })
                            }
                            Kind::Record => json!({"name": r.spec.name, "query": r.spec.query_text(), "labels": r.spec.labels}),
                        };
                        v["health"] = json!(r.health.as_str());
                        if let Some(e) = &r.health.error {
                            v["lastError"] = json!(e);
                        }
                        v["evaluationTime"] = seconds(r.health.duration);
                        v["lastEvaluation"] = json!(r.health.last_eval_ms.map(rfc3339).unwrap_or_else(|| "0001-01-01T00:00:00Z".into()));
                        v["type"] = json!(if matches!(r.spec.kind, Kind::Record) { "recording" } else { "alerting" });
                        v
                    })
                    .collect();
                json!({
                    "name": g.spec.name,
                    "file": g.spec.file.display().to_string(),
                    "rules": rules,
                    "interval": seconds(g.interval),
                    "limit": g.spec.limit,
                    "evaluationTime": seconds(g.health.duration),
                    "lastEvaluation": g.health.last_eval_ms.map(rfc3339).unwrap_or_else(|| "0001-01-01T00:00:00Z".into()),
                })
            })
            .collect();
        json!({ "groups": groups })
    }

    /// `/api/v1/alerts`' `data`: every pending or firing alert.
    pub fn alerts_json(&self) -> Value {
        let mut alerts = Vec::new();
        for g in self.snapshot() {
            for r in &g.rules {
                let mut mine: Vec<_> = r.active.values().filter(|a| a.state != AlertState::Inactive).collect();
                mine.sort_by(|a, b| a.labels.cmp(&b.labels));
                alerts.extend(mine.into_iter().map(alert_json));
            }
        }
        json!({ "alerts": alerts })
    }

    /// Counts for `/metrics`: `(group file, group name, rules, last duration s, failing rules)`.
    pub fn group_stats(&self) -> Vec<(String, String, usize, f64, usize)> {
        self.snapshot()
            .iter()
            .map(|g| {
                (
                    g.spec.file.display().to_string(),
                    g.spec.name.clone(),
                    g.rules.len(),
                    g.health.duration.as_secs_f64(),
                    g.rules.iter().filter(|r| r.health.error.is_some()).count(),
                )
            })
            .collect()
    }

    /// Human summary of the interval a group runs at (for logs).
    pub fn describe(&self) -> String {
        let gs = self.snapshot();
        let rules: usize = gs.iter().map(|g| g.rules.len()).sum();
        format!("{} groups, {rules} rules, default interval {}", gs.len(), fmt_duration(self.opts.default_interval))
    }
}

/// Seconds as Prometheus's API writes a Go `float64`: whole numbers without a fraction (`3`,
/// not `3.0`), so clients comparing the JSON see the same document.
fn seconds(d: Duration) -> Value {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 && s < 1e15 { json!(s as u64) } else { json!(s) }
}

fn alert_json(a: &super::group::Alert) -> Value {
    let mut v = json!({
        "labels": a.labels,
        "annotations": a.annotations,
        "state": a.state.as_str(),
        "activeAt": rfc3339(a.active_at),
        "value": go_format(a.value, 'e', None),
    });
    if let Some(k) = a.keep_firing_since {
        v["keepFiringSince"] = json!(rfc3339(k));
    }
    v
}

//! The dispatcher: Alertmanager's alert store, dispatcher and notification pipeline in one
//! place, plus escalation.
//!
//! [`Core`] is the state machine, synchronous and driven by explicit timestamps so tests run it
//! on a timeline they control. An alert is put into the store and routed into aggregation
//! groups (one per matching route and value of its `group_by` labels). A group flushes first
//! `group_wait` after it appeared, then every `group_interval`; a flush runs
//! [`Core::flush`], the pipeline — inhibit → silence → (escalation) → dedup — and yields
//! [`Job`]s, one per receiver integration that needs telling. [`Dispatcher`] runs the core on a
//! tokio task and delivers each job with retry and a rate limit ([`deliver`]); on success the
//! notification log is written, which is what dedup reads on the next flush.
//!
//! Every state change goes to SQLite before it is acted on; groups are not stored but rebuilt
//! from the stored alerts on start (a group whose alerts are older than `group_wait` flushes at
//! once, and the notification log keeps that flush from repeating what was already sent).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::clock::{Clock, Millis, format};
use crate::config::{Config, GroupBy, IntegrationKind, Route};
use crate::escalation::Progress;
use crate::inhibit::Inhibitor;
use crate::model::{AlertSink, LabelSet, PostableAlert, fingerprint};
use crate::nflog::{self, NfLog};
use crate::notify::{self, Ack, AlertView, Notification, Notifier};
use crate::silence::{Silence, SilenceError, Silences};
use crate::store::{Delivery, Store, StoreError, Table};
use crate::telemetry::{Telemetry, labels};

/// An alert as the dispatcher holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Fingerprint of the labels.
    pub fingerprint: String,
    /// Labels.
    pub labels: LabelSet,
    /// Annotations.
    pub annotations: LabelSet,
    /// Start.
    pub starts_at: Millis,
    /// End: in the future while firing.
    pub ends_at: Millis,
    /// Last update.
    pub updated_at: Millis,
    /// Link to the expression.
    pub generator_url: String,
}

impl Alert {
    /// Builds an alert and its fingerprint.
    pub fn new(
        labels: LabelSet,
        annotations: LabelSet,
        starts_at: Millis,
        ends_at: Millis,
        generator_url: String,
        updated_at: Millis,
    ) -> Alert {
        Alert { fingerprint: fingerprint(&labels), labels, annotations, starts_at, ends_at, updated_at, generator_url }
    }
    /// Whether it is resolved at `now`.
    pub fn resolved(&self, now: Millis) -> bool {
        self.ends_at <= now
    }
}

/// An acknowledgement stored per alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AckRecord {
    /// Who.
    pub by: String,
    /// Why.
    #[serde(default)]
    pub comment: String,
    /// When.
    pub at: Millis,
}

/// An aggregation group.
#[derive(Debug)]
struct Group {
    route: Arc<Route>,
    labels: LabelSet,
    alerts: BTreeSet<String>,
    next_flush: Millis,
    /// Deliveries of the last flush still running; no new flush starts meanwhile.
    in_flight: usize,
    flush_failed: bool,
    /// Resolved alerts of the last flush, dropped from the group once it was delivered.
    flushed_resolved: Vec<(String, Millis)>,
}

/// One notification to deliver.
#[derive(Debug, Clone)]
pub struct Job {
    /// Group key.
    pub group_key: String,
    /// Receiver name.
    pub receiver: String,
    /// Index of the integration within the receiver.
    pub integration: usize,
    /// Integration kind name.
    pub kind: &'static str,
    /// Firing fingerprints it tells about.
    pub firing: BTreeSet<String>,
    /// Resolved fingerprints it tells about.
    pub resolved: BTreeSet<String>,
    /// The message.
    pub notification: Notification,
    /// `group`, `repeat` or `escalation`.
    pub reason: &'static str,
    /// Give up retrying after this long.
    pub retry_for: Duration,
}

/// Why an API request was refused.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    /// Bad input (400).
    #[error("{0}")]
    Invalid(String),
    /// Unknown alert or silence (404).
    #[error("{0}")]
    NotFound(String),
    /// Storage failed (500).
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<SilenceError> for DispatchError {
    fn from(e: SilenceError) -> Self {
        match e {
            SilenceError::Invalid(m) => DispatchError::Invalid(m),
            SilenceError::NotFound(_) => DispatchError::NotFound(e.to_string()),
        }
    }
}

/// How an alert looks in the API: muting state and receivers.
#[derive(Debug, Clone)]
pub struct AlertStatus {
    /// The alert.
    pub alert: Alert,
    /// Silences muting it.
    pub silenced_by: Vec<String>,
    /// Alerts inhibiting it.
    pub inhibited_by: Vec<String>,
    /// Receivers of the routes it matched.
    pub receivers: Vec<String>,
    /// Acknowledgement.
    pub ack: Option<AckRecord>,
}

/// A group as the API shows it.
#[derive(Debug, Clone)]
pub struct GroupStatus {
    /// Group labels.
    pub labels: LabelSet,
    /// Receiver of the route.
    pub receiver: String,
    /// Fingerprints.
    pub alerts: Vec<String>,
}

/// The dispatcher's state machine.
pub struct Core {
    cfg: Arc<Config>,
    external_url: String,
    alerts: HashMap<String, Alert>,
    groups: BTreeMap<String, Group>,
    silences: Silences,
    nflog: NfLog,
    acks: HashMap<String, AckRecord>,
    escalations: HashMap<String, Progress>,
    store: Arc<Store>,
    telemetry: Telemetry,
}

fn render_labels(l: &LabelSet) -> String {
    let parts: Vec<String> = l.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", parts.join(","))
}

impl Core {
    /// Loads the stored state and rebuilds the groups.
    pub fn new(cfg: Arc<Config>, store: Arc<Store>, external_url: String, telemetry: Telemetry, now: Millis) -> Result<Core, StoreError> {
        let mut core = Core {
            cfg,
            external_url,
            alerts: HashMap::new(),
            groups: BTreeMap::new(),
            silences: Silences::from_stored(store.all::<Silence>(Table::Silences)?.into_iter().map(|(_, s)| s).collect()),
            nflog: NfLog { entries: store.all(Table::Nflog)?.into_iter().collect() },
            acks: store.all(Table::Acks)?.into_iter().collect(),
            escalations: store.all(Table::Escalations)?.into_iter().collect(),
            store,
            telemetry,
        };
        let alerts: Vec<(String, Alert)> = core.store.all(Table::Alerts)?;
        let n = alerts.len();
        for (_, a) in alerts {
            core.route(&a, now);
            core.alerts.insert(a.fingerprint.clone(), a);
        }
        if n > 0 {
            info!(alerts = n, silences = core.silences.list().count(), escalations = core.escalations.len(), "alerting state restored");
        }
        Ok(core)
    }

    /// Replaces the configuration (reload): groups are rebuilt, everything else is kept.
    pub fn apply_config(&mut self, cfg: Arc<Config>, now: Millis) {
        self.cfg = cfg;
        self.groups.clear();
        let alerts: Vec<Alert> = self.alerts.values().cloned().collect();
        for a in &alerts {
            self.route(a, now);
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &Arc<Config> {
        &self.cfg
    }

    fn persist<T: Serialize>(&self, t: Table, id: &str, doc: Option<&T>) {
        let r = match doc {
            Some(d) => self.store.put(t, id, d),
            None => self.store.delete(t, id),
        };
        if let Err(e) = r {
            self.telemetry.state_write_errors.inc();
            tracing::error!(error = %e, "alerting state write failed");
        }
    }

    /// Routes an alert into its groups (Alertmanager's `dispatcher.processAlert`).
    fn route(&mut self, a: &Alert, now: Millis) {
        for route in self.cfg.route.match_routes(&a.labels) {
            let group_labels: LabelSet = match &route.group_by {
                GroupBy::All => a.labels.clone(),
                GroupBy::Labels(names) => names.iter().filter_map(|n| a.labels.get(n).map(|v| (n.clone(), v.clone()))).collect(),
            };
            let key = format!("{}:{}", route.id, render_labels(&group_labels));
            let wait = route.group_wait.as_millis() as Millis;
            let g = self.groups.entry(key).or_insert_with(|| Group {
                route: route.clone(),
                labels: group_labels,
                alerts: BTreeSet::new(),
                next_flush: now + wait,
                in_flight: 0,
                flush_failed: false,
                flushed_resolved: Vec::new(),
            });
            // An alert that started longer than group_wait ago need not wait (Alertmanager).
            if g.alerts.is_empty() && a.starts_at + wait <= now {
                g.next_flush = g.next_flush.min(now);
            }
            g.alerts.insert(a.fingerprint.clone());
        }
    }

    /// Receives alerts (`POST /api/v2/alerts` or the rules engine). Valid alerts are stored even
    /// when others in the batch are invalid; the errors name each invalid one.
    pub fn put(&mut self, batch: Vec<PostableAlert>, source: &str, now: Millis) -> Result<(), Vec<String>> {
        let mut errors = Vec::new();
        let mut changed = Vec::new();
        for (i, pa) in batch.into_iter().enumerate() {
            match self.validate(pa, now) {
                Ok(a) => {
                    let status = if a.resolved(now) { "resolved" } else { "firing" };
                    self.telemetry.alerts_received.get_or_create(&labels(&[("source", source), ("status", status)])).inc();
                    changed.push(a);
                }
                Err(e) => {
                    self.telemetry.alerts_invalid.get_or_create(&labels(&[("source", source)])).inc();
                    errors.push(format!("alert {i}: {e}"));
                }
            }
        }
        for a in changed.iter_mut() {
            if let Some(old) = self.alerts.get(&a.fingerprint) {
                // Same alert again: merge unless the old one resolved before the new one started.
                if !(old.resolved(now) && a.starts_at > old.ends_at) {
                    a.starts_at = a.starts_at.min(old.starts_at);
                }
            }
        }
        // Stored (one transaction) before anything acts on them.
        let docs: Vec<(&str, &Alert)> = changed.iter().map(|a| (a.fingerprint.as_str(), a)).collect();
        if let Err(e) = self.store.put_many(Table::Alerts, &docs) {
            self.telemetry.state_write_errors.inc();
            tracing::error!(error = %e, "alerting state write failed");
        }
        for a in changed {
            self.route(&a, now);
            self.alerts.insert(a.fingerprint.clone(), a);
        }
        if errors.is_empty() { Ok(()) } else { Err(errors) }
    }

    fn validate(&self, pa: PostableAlert, now: Millis) -> Result<Alert, String> {
        if pa.labels.is_empty() {
            return Err("at least one label pair required".into());
        }
        for (k, v) in &pa.labels {
            if !crate::matcher::valid_label_name(k) {
                return Err(format!("invalid label name {k:?}"));
            }
            if v.is_empty() {
                return Err(format!("label {k:?} has an empty value"));
            }
        }
        let starts_at = match pa.starts_at.as_deref().filter(|s| !s.is_empty() && !s.starts_with("0001-")) {
            Some(s) => crate::clock::parse(s)?,
            None => now,
        };
        let ends_at = match pa.ends_at.as_deref().filter(|s| !s.is_empty() && !s.starts_with("0001-")) {
            Some(s) => crate::clock::parse(s)?,
            None => now + self.cfg.resolve_timeout.as_millis() as Millis,
        };
        if ends_at < starts_at {
            return Err("endsAt is before startsAt".into());
        }
        Ok(Alert::new(pa.labels, pa.annotations, starts_at, ends_at, pa.generator_url.unwrap_or_default(), now))
    }

    /// When the next flush or escalation step is due.
    pub fn next_deadline(&self) -> Option<Millis> {
        let g = self.groups.values().filter(|g| g.in_flight == 0).map(|g| g.next_flush).min();
        let e = self.escalations.values().filter_map(|p| p.next_at).min();
        match (g, e) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Runs everything due at `now`; returns the deliveries to make.
    pub fn tick(&mut self, now: Millis) -> Vec<Job> {
        let cfg = self.cfg.clone();
        let inhibitor = Inhibitor::new(&cfg.inhibit_rules, self.alerts.values(), now);
        let due: Vec<String> =
            self.groups.iter().filter(|(_, g)| g.next_flush <= now && g.in_flight == 0).map(|(k, _)| k.clone()).collect();
        let mut jobs = Vec::new();
        for key in due {
            jobs.extend(self.flush(&key, &inhibitor, now));
        }
        jobs.extend(self.escalate(&inhibitor, now));
        self.gc(now);
        jobs
    }

    /// The notification pipeline for one group, in Alertmanager's order:
    /// group → inhibit → silence → escalation (who is paged) → dedup; the returned jobs go on
    /// to retry → notify in [`deliver`].
    pub fn flush(&mut self, key: &str, inhibitor: &Inhibitor<'_>, now: Millis) -> Vec<Job> {
        let Some(group) = self.groups.get(key) else { return Vec::new() };
        let route = group.route.clone();
        // group: the alerts routed here.
        let alerts: Vec<&Alert> = group.alerts.iter().filter_map(|fp| self.alerts.get(fp)).collect();
        // inhibit and silence: muted alerts are left out.
        let alerts: Vec<Alert> = alerts
            .into_iter()
            .filter(|a| inhibitor.mutes(a).is_empty() && self.silences.mutes(&a.labels, now).is_empty())
            .cloned()
            .collect();
        let firing: BTreeSet<String> = alerts.iter().filter(|a| !a.resolved(now)).map(|a| a.fingerprint.clone()).collect();
        let resolved: BTreeSet<String> = alerts.iter().filter(|a| a.resolved(now)).map(|a| a.fingerprint.clone()).collect();
        let acked = !firing.is_empty() && firing.iter().all(|fp| self.acks.contains_key(fp));
        // escalation: the policy's steps reached so far are paged too.
        let receivers = self.receivers_for(key, &route, !firing.is_empty(), now);
        // dedup: per receiver integration, against the notification log.
        let mut jobs = Vec::new();
        for rname in receivers {
            let Some(receiver) = self.cfg.receivers.get(&rname) else { continue };
            for (i, integ) in receiver.integrations.iter().enumerate() {
                let nk = nflog::key(key, &rname, i);
                let entry = self.nflog.entries.get(&nk);
                let repeat = route.repeat_interval.as_millis() as Millis;
                if !nflog::needs_update(entry, &firing, &resolved, integ.send_resolved, repeat, acked, now) {
                    continue;
                }
                let reason = if entry.is_some_and(|e| firing.is_subset(&e.firing) && !firing.is_empty()) { "repeat" } else { "group" };
                if let Some(job) = self.job(key, &rname, i, &integ.kind, integ.send_resolved, &alerts, now, reason) {
                    jobs.push(job);
                } else {
                    // Nothing this integration wants to hear (resolved only, send_resolved off):
                    // record it so the firing alerts are cleared from the log.
                    let e = nflog::Entry { firing: firing.clone(), resolved: resolved.clone(), at: now };
                    self.persist(Table::Nflog, &nk, Some(&e));
                    self.nflog.entries.insert(nk, e);
                }
            }
        }
        let g = self.groups.get_mut(key).expect("group exists");
        g.next_flush = now + route.group_interval.as_millis() as Millis;
        g.in_flight = jobs.len();
        g.flush_failed = false;
        g.flushed_resolved = alerts.iter().filter(|a| a.resolved(now)).map(|a| (a.fingerprint.clone(), a.updated_at)).collect();
        // Resolved alerts that were muted never need telling.
        for fp in g.alerts.clone() {
            if let Some(a) = self.alerts.get(&fp)
                && a.resolved(now)
                && !resolved.contains(&fp)
            {
                g.alerts.remove(&fp);
            }
        }
        if jobs.is_empty() {
            self.finish_flush(key);
        }
        jobs
    }

    /// Who hears about a group: the route's receiver, plus the escalation steps reached.
    fn receivers_for(&mut self, key: &str, route: &Route, firing: bool, now: Millis) -> Vec<String> {
        let mut out = vec![route.receiver.clone()];
        let Some(policy) = route.escalation_policy.as_ref().and_then(|p| self.cfg.escalation_policies.get(p)).cloned() else {
            return out;
        };
        if !firing {
            if let Some(p) = self.escalations.remove(key) {
                for r in p.reached(&policy) {
                    if !out.contains(r) {
                        out.push(r.clone());
                    }
                }
                self.persist::<Progress>(Table::Escalations, key, None);
            }
            return out;
        }
        let progress = match self.escalations.get(key) {
            Some(p) if p.policy == policy.name => p.clone(),
            _ => {
                let p = Progress::start(&policy, now);
                self.persist(Table::Escalations, key, Some(&p));
                self.escalations.insert(key.to_string(), p.clone());
                p
            }
        };
        for r in progress.reached(&policy) {
            if !out.contains(r) {
                out.push(r.clone());
            }
        }
        out
    }

    /// Escalation steps that are due: page the next step's receivers (no dedup: that is the
    /// point of escalating), unless every firing alert of the group is acknowledged.
    fn escalate(&mut self, inhibitor: &Inhibitor<'_>, now: Millis) -> Vec<Job> {
        let due: Vec<String> =
            self.escalations.iter().filter(|(_, p)| p.next_at.is_some_and(|t| t <= now)).map(|(k, _)| k.clone()).collect();
        let mut jobs = Vec::new();
        for key in due {
            let Some(group) = self.groups.get(&key) else {
                self.escalations.remove(&key);
                self.persist::<Progress>(Table::Escalations, &key, None);
                continue;
            };
            if group.in_flight > 0 {
                continue;
            }
            let Some(policy) = group.route.escalation_policy.as_ref().and_then(|p| self.cfg.escalation_policies.get(p)).cloned() else {
                self.escalations.remove(&key);
                self.persist::<Progress>(Table::Escalations, &key, None);
                continue;
            };
            let alerts: Vec<Alert> = group
                .alerts
                .iter()
                .filter_map(|fp| self.alerts.get(fp))
                .filter(|a| inhibitor.mutes(a).is_empty() && self.silences.mutes(&a.labels, now).is_empty())
                .cloned()
                .collect();
            let firing: Vec<&Alert> = alerts.iter().filter(|a| !a.resolved(now)).collect();
            if firing.is_empty() {
                continue; // the next flush tells everyone it resolved and ends the escalation
            }
            let progress = self.escalations.get_mut(&key).expect("due");
            if firing.iter().all(|a| self.acks.contains_key(&a.fingerprint)) {
                // Paused: the current step's wait starts again once someone unacknowledges.
                progress.resume(&policy, now);
                continue;
            }
            let Some(step) = progress.advance(&policy, now) else {
                let p = progress.clone();
                self.persist(Table::Escalations, &key, Some(&p));
                continue;
            };
            let p = progress.clone();
            self.persist(Table::Escalations, &key, Some(&p));
            info!(group = %key, policy = %policy.name, step, cycle = p.cycle, "escalating");
            let retry_for = group.route.group_interval;
            for rname in &policy.steps[step].receivers {
                let Some(receiver) = self.cfg.receivers.get(rname) else { continue };
                for (i, integ) in receiver.integrations.iter().enumerate() {
                    if let Some(mut job) = self.job(&key, rname, i, &integ.kind, integ.send_resolved, &alerts, now, "escalation") {
                        job.retry_for = retry_for;
                        jobs.push(job);
                    }
                }
            }
            if let Some(g) = self.groups.get_mut(&key) {
                g.in_flight += jobs.iter().filter(|j| j.group_key == key).count();
                g.flushed_resolved.clear();
                g.flush_failed = false;
            }
        }
        jobs
    }

    #[allow(clippy::too_many_arguments)]
    fn job(
        &self,
        key: &str,
        receiver: &str,
        integration: usize,
        kind: &IntegrationKind,
        send_resolved: bool,
        alerts: &[Alert],
        now: Millis,
        reason: &'static str,
    ) -> Option<Job> {
        let group = self.groups.get(key)?;
        let mut shown: Vec<&Alert> = alerts.iter().filter(|a| !a.resolved(now)).collect();
        let firing: BTreeSet<String> = shown.iter().map(|a| a.fingerprint.clone()).collect();
        let resolved_all: BTreeSet<String> = alerts.iter().filter(|a| a.resolved(now)).map(|a| a.fingerprint.clone()).collect();
        if send_resolved {
            shown.extend(alerts.iter().filter(|a| a.resolved(now)));
        }
        if shown.is_empty() {
            return None;
        }
        let views: Vec<AlertView> = shown
            .iter()
            .map(|a| AlertView {
                status: if a.resolved(now) { "resolved" } else { "firing" }.into(),
                labels: a.labels.clone(),
                annotations: a.annotations.clone(),
                starts_at: format(a.starts_at),
                ends_at: if a.resolved(now) { format(a.ends_at) } else { "0001-01-01T00:00:00Z".into() },
                generator_url: a.generator_url.clone(),
                fingerprint: a.fingerprint.clone(),
                ack: self.acks.get(&a.fingerprint).map(|k| Ack { by: k.by.clone(), comment: k.comment.clone(), at: format(k.at) }),
            })
            .collect();
        let common = |f: fn(&Alert) -> &LabelSet| -> LabelSet {
            let mut it = shown.iter();
            let mut acc = it.next().map(|a| f(a).clone()).unwrap_or_default();
            for a in it {
                acc.retain(|k, v| f(a).get(k) == Some(v));
            }
            acc
        };
        let notification = Notification {
            group_key: key.to_string(),
            receiver: receiver.to_string(),
            status: if firing.is_empty() { "resolved" } else { "firing" }.into(),
            group_labels: group.labels.clone(),
            common_labels: common(|a| &a.labels),
            common_annotations: common(|a| &a.annotations),
            external_url: self.external_url.clone(),
            alerts: views,
        };
        Some(Job {
            group_key: key.to_string(),
            receiver: receiver.to_string(),
            integration,
            kind: kind.name(),
            firing,
            resolved: resolved_all,
            notification,
            reason,
            retry_for: group.route.group_interval.clamp(Duration::from_secs(10), Duration::from_secs(300)),
        })
    }

    /// Records the outcome of a delivery: the notification log on success, the delivery log
    /// always; when the last delivery of a flush succeeded, delivered resolved alerts leave
    /// the group.
    pub fn complete(&mut self, job: &Job, result: Result<(), notify::Error>, attempts: u32, now: Millis) {
        let ok = result.is_ok();
        if ok {
            let nk = nflog::key(&job.group_key, &job.receiver, job.integration);
            let e = nflog::Entry { firing: job.firing.clone(), resolved: job.resolved.clone(), at: now };
            self.persist(Table::Nflog, &nk, Some(&e));
            self.nflog.entries.insert(nk, e);
        }
        let outcome = if ok { "sent" } else { "failed" };
        self.telemetry
            .notifications
            .get_or_create(&labels(&[("receiver", &job.receiver), ("integration", job.kind), ("outcome", outcome)]))
            .inc();
        let d = Delivery {
            id: 0,
            time: format(now),
            receiver: job.receiver.clone(),
            integration: job.kind.to_string(),
            group_key: job.group_key.clone(),
            status: job.notification.status.clone(),
            alerts: job.notification.alerts.len(),
            outcome: outcome.into(),
            attempts,
            error: result.err().map(|e| e.message),
            reason: job.reason.into(),
        };
        if let Err(e) = self.store.log_delivery(&d) {
            self.telemetry.state_write_errors.inc();
            warn!(error = %e, "delivery log write failed");
        }
        if let Some(g) = self.groups.get_mut(&job.group_key) {
            g.in_flight = g.in_flight.saturating_sub(1);
            g.flush_failed |= !ok;
            if g.in_flight == 0 {
                self.finish_flush(&job.group_key.clone());
            }
        }
    }

    fn finish_flush(&mut self, key: &str) {
        let Some(g) = self.groups.get_mut(key) else { return };
        if g.flush_failed {
            return;
        }
        for (fp, updated) in std::mem::take(&mut g.flushed_resolved) {
            // Only if it did not fire again meanwhile.
            if self.alerts.get(&fp).is_some_and(|a| a.updated_at == updated) {
                g.alerts.remove(&fp);
            }
        }
    }

    /// Drops empty groups, alerts in no group, expired silences and old log entries.
    fn gc(&mut self, now: Millis) {
        self.groups.retain(|_, g| !g.alerts.is_empty() || g.in_flight > 0);
        let in_groups: BTreeSet<&String> = self.groups.values().flat_map(|g| g.alerts.iter()).collect();
        let gone: Vec<String> =
            self.alerts.iter().filter(|(fp, a)| a.resolved(now) && !in_groups.contains(fp)).map(|(fp, _)| fp.clone()).collect();
        for fp in gone {
            self.alerts.remove(&fp);
            self.persist::<Alert>(Table::Alerts, &fp, None);
            if self.acks.remove(&fp).is_some() {
                self.persist::<AckRecord>(Table::Acks, &fp, None);
            }
        }
        for id in self.silences.gc(now) {
            self.persist::<Silence>(Table::Silences, &id, None);
        }
        for k in self.nflog.gc(now) {
            self.persist::<nflog::Entry>(Table::Nflog, &k, None);
        }
    }

    // --- API --------------------------------------------------------------------------------

    /// Every alert that is not resolved, with its muting state.
    pub fn alert_statuses(&self, now: Millis) -> Vec<AlertStatus> {
        let inhibitor = Inhibitor::new(&self.cfg.inhibit_rules, self.alerts.values(), now);
        let mut active = 0i64;
        let mut out: Vec<AlertStatus> = self
            .alerts
            .values()
            .filter(|a| !a.resolved(now))
            .map(|a| {
                let mut receivers: Vec<String> = self.cfg.route.match_routes(&a.labels).iter().map(|r| r.receiver.clone()).collect();
                receivers.dedup();
                let s = AlertStatus {
                    alert: a.clone(),
                    silenced_by: self.silences.mutes(&a.labels, now),
                    inhibited_by: inhibitor.mutes(a),
                    receivers,
                    ack: self.acks.get(&a.fingerprint).cloned(),
                };
                if s.silenced_by.is_empty() && s.inhibited_by.is_empty() {
                    active += 1;
                }
                s
            })
            .collect();
        self.telemetry.alerts.get_or_create(&labels(&[("state", "active")])).set(active);
        self.telemetry.alerts.get_or_create(&labels(&[("state", "suppressed")])).set(out.len() as i64 - active);
        out.sort_by(|a, b| a.alert.starts_at.cmp(&b.alert.starts_at).then(a.alert.fingerprint.cmp(&b.alert.fingerprint)));
        out
    }

    /// Every group.
    pub fn groups(&self) -> Vec<GroupStatus> {
        self.groups
            .values()
            .map(|g| GroupStatus {
                labels: g.labels.clone(),
                receiver: g.route.receiver.clone(),
                alerts: g.alerts.iter().cloned().collect(),
            })
            .collect()
    }

    /// The silences.
    pub fn silences(&self) -> Vec<Silence> {
        self.silences.list().cloned().collect()
    }

    /// One silence.
    pub fn silence(&self, id: &str) -> Option<Silence> {
        self.silences.get(id).cloned()
    }

    /// Creates or updates a silence.
    pub fn put_silence(&mut self, s: Silence, now: Millis) -> Result<Silence, DispatchError> {
        let s = self.silences.upsert(s, now)?;
        self.store.put(Table::Silences, &s.id, &s)?;
        Ok(s)
    }

    /// Expires a silence.
    pub fn expire_silence(&mut self, id: &str, now: Millis) -> Result<Silence, DispatchError> {
        let s = self.silences.expire(id, now)?;
        self.store.put(Table::Silences, &s.id, &s)?;
        Ok(s)
    }

    fn known(&self, fp: &str) -> Result<(), DispatchError> {
        if self.alerts.contains_key(fp) { Ok(()) } else { Err(DispatchError::NotFound(format!("alert {fp} not found"))) }
    }

    /// Acknowledges an alert: its group's escalation stops while every firing alert is acked.
    pub fn ack(&mut self, fp: &str, by: String, comment: String, now: Millis) -> Result<AckRecord, DispatchError> {
        self.known(fp)?;
        let rec = AckRecord { by, comment, at: now };
        self.store.put(Table::Acks, fp, &rec)?;
        self.acks.insert(fp.to_string(), rec.clone());
        Ok(rec)
    }

    /// Withdraws an acknowledgement: escalation resumes with the current step's wait.
    pub fn unack(&mut self, fp: &str, now: Millis) -> Result<(), DispatchError> {
        self.known(fp)?;
        if self.acks.remove(fp).is_none() {
            return Err(DispatchError::Invalid(format!("alert {fp} is not acknowledged")));
        }
        self.store.delete(Table::Acks, fp)?;
        let keys: Vec<String> = self.groups.iter().filter(|(_, g)| g.alerts.contains(fp)).map(|(k, _)| k.clone()).collect();
        for k in keys {
            let policy = self.groups[&k].route.escalation_policy.as_ref().and_then(|p| self.cfg.escalation_policies.get(p)).cloned();
            if let (Some(policy), Some(p)) = (policy, self.escalations.get_mut(&k)) {
                p.resume(&policy, now);
                let p = p.clone();
                self.persist(Table::Escalations, &k, Some(&p));
            }
        }
        Ok(())
    }

    /// Resolves an alert by hand (it fires again if its producer keeps sending it).
    pub fn resolve(&mut self, fp: &str, now: Millis) -> Result<(), DispatchError> {
        self.known(fp)?;
        let a = self.alerts.get_mut(fp).expect("known");
        if a.resolved(now) {
            return Err(DispatchError::Invalid(format!("alert {fp} is already resolved")));
        }
        a.ends_at = now;
        a.updated_at = now;
        let a = a.clone();
        self.store.put(Table::Alerts, fp, &a)?;
        Ok(())
    }

    /// Escalation progress by group key (for the API).
    pub fn escalations(&self) -> Vec<(String, Progress)> {
        let mut v: Vec<(String, Progress)> = self.escalations.iter().map(|(k, p)| (k.clone(), p.clone())).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// The delivery log.
    pub fn deliveries(&self, limit: usize) -> Result<Vec<Delivery>, StoreError> {
        self.store.deliveries(limit)
    }
}

// ---------------------------------------------------------------------------------------------
// Runtime.

struct Channel {
    notifier: Arc<dyn Notifier>,
    spacing: Duration,
    last: tokio::sync::Mutex<Option<Instant>>,
}

struct Shared {
    core: Mutex<Core>,
    clock: Arc<dyn Clock>,
    wake: tokio::sync::Notify,
    channels: Mutex<HashMap<(String, usize), Arc<Channel>>>,
    client: reqwest::Client,
    telemetry: Telemetry,
    started: Millis,
}

/// The running dispatcher: an [`AlertSink`] for the rules engine, the state behind the API, and
/// the task that flushes groups and delivers notifications.
#[derive(Clone)]
pub struct Dispatcher {
    shared: Arc<Shared>,
}

impl Dispatcher {
    /// Opens the state in `store` and prepares the dispatcher; [`Dispatcher::run`] starts it.
    pub fn new(cfg: Config, store: Arc<Store>, external_url: String, clock: Arc<dyn Clock>) -> Result<Dispatcher, StoreError> {
        for w in &cfg.warnings {
            warn!("alerting config: {w}");
        }
        let telemetry = Telemetry::new();
        let external_url = cfg.external_url.clone().unwrap_or(external_url);
        let now = clock.now();
        let core = Core::new(Arc::new(cfg), store, external_url, telemetry.clone(), now)?;
        Ok(Dispatcher {
            shared: Arc::new(Shared {
                core: Mutex::new(core),
                clock,
                wake: tokio::sync::Notify::new(),
                channels: Mutex::new(HashMap::new()),
                client: notify::http_client(),
                telemetry,
                started: now,
            }),
        })
    }

    /// Locks the core (short, synchronous sections only).
    pub fn core(&self) -> std::sync::MutexGuard<'_, Core> {
        self.shared.core.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Now, by the dispatcher's clock.
    pub fn now(&self) -> Millis {
        self.shared.clock.now()
    }

    /// When it started.
    pub fn started(&self) -> Millis {
        self.shared.started
    }

    /// Metrics.
    pub fn telemetry(&self) -> &Telemetry {
        &self.shared.telemetry
    }

    /// Wakes the loop (after a change through the API).
    pub fn wake(&self) {
        self.shared.wake.notify_one();
    }

    /// Receives alerts from the HTTP API.
    pub fn put(&self, alerts: Vec<PostableAlert>, source: &str) -> Result<(), Vec<String>> {
        let now = self.now();
        let r = self.core().put(alerts, source, now);
        self.wake();
        r
    }

    /// Replaces the configuration (SIGHUP / reload).
    pub fn apply_config(&self, cfg: Config) {
        let now = self.now();
        self.shared.channels.lock().unwrap_or_else(|p| p.into_inner()).clear();
        self.core().apply_config(Arc::new(cfg), now);
        self.wake();
    }

    fn channel(&self, job: &Job) -> Option<Arc<Channel>> {
        let mut map = self.shared.channels.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = map.get(&(job.receiver.clone(), job.integration)) {
            return Some(c.clone());
        }
        let cfg = self.core().config().clone();
        let integ = cfg.receivers.get(&job.receiver)?.integrations.get(job.integration)?;
        let c = Arc::new(Channel {
            notifier: notify::build(&integ.kind, &self.shared.client),
            spacing: notify::min_spacing(&integ.kind),
            last: tokio::sync::Mutex::new(None),
        });
        map.insert((job.receiver.clone(), job.integration), c.clone());
        Some(c)
    }

    /// Flushes and escalates until `shutdown` resolves; deliveries run as their own tasks.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut tasks = tokio::task::JoinSet::new();
        loop {
            let now = self.now();
            let jobs = self.core().tick(now);
            for job in jobs {
                let d = self.clone();
                tasks.spawn(async move { d.deliver(job).await });
            }
            while tasks.try_join_next().is_some() {}
            let wait = match self.core().next_deadline() {
                Some(t) => Duration::from_millis((t - self.now()).clamp(0, 60_000) as u64),
                None => Duration::from_secs(60),
            };
            tokio::select! {
                _ = &mut shutdown => break,
                _ = self.shared.wake.notified() => {}
                _ = tokio::time::sleep(wait.max(Duration::from_millis(5))) => {}
            }
        }
        // Deliveries still running are abandoned: their notification-log entry is not written,
        // so the next start sends them again (at least once rather than maybe never).
        tasks.abort_all();
        info!("alert dispatcher stopped");
    }

    /// Retry → notify for one job, then records the outcome.
    pub async fn deliver(&self, job: Job) {
        let started = Instant::now();
        let Some(ch) = self.channel(&job) else {
            let now = self.now();
            self.core().complete(&job, Err(notify::Error::fatal("receiver no longer configured")), 0, now);
            return;
        };
        let mut attempts = 0u32;
        let mut backoff = Duration::from_millis(500);
        let result = loop {
            if !ch.spacing.is_zero() {
                let mut last = ch.last.lock().await;
                if let Some(t) = *last {
                    let ready = t + ch.spacing;
                    if ready > Instant::now() {
                        tokio::time::sleep_until(ready.into()).await;
                    }
                }
                *last = Some(Instant::now());
            }
            attempts += 1;
            let r = ch.notifier.notify(&job.notification).await;
            let result_label = match &r {
                Ok(()) => "ok",
                Err(e) if e.retry => "retryable",
                Err(_) => "fatal",
            };
            self.shared.telemetry.attempts.get_or_create(&labels(&[("integration", job.kind), ("result", result_label)])).inc();
            match r {
                Ok(()) => break Ok(()),
                Err(e) if e.retry && started.elapsed() + backoff < job.retry_for => {
                    warn!(receiver = %job.receiver, integration = job.kind, attempt = attempts, error = %e, "notification failed; retrying");
                    let jitter = Duration::from_millis(rand::random::<u64>() % (backoff.as_millis() as u64 / 4 + 1));
                    tokio::time::sleep(backoff + jitter).await;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
                Err(e) => {
                    warn!(receiver = %job.receiver, integration = job.kind, attempts, error = %e, "notification failed");
                    break Err(e);
                }
            }
        };
        if result.is_ok() {
            self.shared.telemetry.latency.get_or_create(&labels(&[("integration", job.kind)])).observe(started.elapsed().as_secs_f64());
            info!(receiver = %job.receiver, integration = job.kind, group = %job.group_key, reason = job.reason, alerts = job.notification.alerts.len(), "notification sent");
        }
        let now = self.now();
        self.core().complete(&job, result, attempts, now);
        self.wake();
    }
}

impl AlertSink for Dispatcher {
    fn send(&self, alerts: Vec<PostableAlert>) {
        if let Err(errors) = self.put(alerts, "rules") {
            for e in errors {
                warn!(error = %e, "rule alert refused");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! The dispatcher on a timeline the test controls: every call passes `now` explicitly.
    use super::*;
    use crate::silence::ApiMatcher;

    const S: Millis = 1000;
    const M: Millis = 60 * S;
    const T0: Millis = 1_800_000_000_000;

    fn core(yaml: &str) -> (Core, Arc<Store>) {
        let store = Arc::new(Store::memory());
        // The fixtures hold fake inline secrets (`auth_token: T`).
        let dev = crate::config::LoadOptions { allow_inline_secrets: true };
        let cfg = Config::parse_with(std::path::Path::new("am.yml"), yaml, dev).unwrap();
        (Core::new(Arc::new(cfg), store.clone(), "http://ui".into(), Telemetry::new(), T0).unwrap(), store)
    }

    const BASIC: &str = "
global:
  resolve_timeout: 1d
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
receivers:
  - name: hook
    webhook_configs: [{url: 'http://h'}]
  - name: quiet
    webhook_configs: [{url: 'http://q', send_resolved: false}]
inhibit_rules:
  - source_matchers: [severity=critical]
    target_matchers: [severity=warning]
    equal: [cluster]
";

    fn alert(name: &str, extra: &[(&str, &str)], ends_at: Option<Millis>) -> PostableAlert {
        let mut labels: LabelSet = [("alertname".to_string(), name.to_string())].into();
        labels.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        PostableAlert { labels, annotations: LabelSet::new(), starts_at: None, ends_at: ends_at.map(format), generator_url: None }
    }

    fn run(c: &mut Core, now: Millis) -> Vec<Job> {
        let jobs = c.tick(now);
        for j in &jobs {
            c.complete(j, Ok(()), 1, now);
        }
        jobs
    }

    fn services(j: &Job) -> Vec<String> {
        j.notification.alerts.iter().map(|a| format!("{}:{}", a.labels.get("service").cloned().unwrap_or_default(), a.status)).collect()
    }

    #[test]
    fn group_wait_then_group_interval_then_repeat_interval() {
        let (mut c, _) = core(BASIC);
        c.put(vec![alert("Down", &[("service", "a")], None)], "api", T0).unwrap();
        assert!(run(&mut c, T0).is_empty());
        assert!(run(&mut c, T0 + 30 * S - 1).is_empty(), "group_wait not over");
        let j = run(&mut c, T0 + 30 * S);
        assert_eq!(j.len(), 1);
        assert_eq!((j[0].reason, services(&j[0])), ("group", vec!["a:firing".to_string()]));
        // A second alert joins: told at the next group_interval tick, not before.
        c.put(vec![alert("Down", &[("service", "b")], None)], "api", T0 + M).unwrap();
        assert!(run(&mut c, T0 + M).is_empty());
        assert!(run(&mut c, T0 + 5 * M + 30 * S - 1).is_empty());
        let j = run(&mut c, T0 + 5 * M + 30 * S);
        assert_eq!(services(&j[0]), vec!["a:firing", "b:firing"]);
        // Unchanged: nothing until repeat_interval has passed since the last notification.
        // (Alerts without endsAt would time out after resolve_timeout, so keep re-sending them.)
        let mut t = T0 + 5 * M + 30 * S;
        let mut sent = Vec::new();
        while t <= T0 + 5 * M + 30 * S + 4 * 3600 * S {
            t += 5 * M;
            c.put(vec![alert("Down", &[("service", "a")], None), alert("Down", &[("service", "b")], None)], "api", t - M).unwrap();
            for j in run(&mut c, t) {
                sent.push((t, j.reason));
            }
        }
        assert_eq!(sent, vec![(T0 + 5 * M + 30 * S + 4 * 3600 * S, "repeat")]);
    }

    #[test]
    fn old_alerts_skip_group_wait_and_resolved_ones_are_sent_once() {
        let (mut c, _) = core(BASIC);
        let mut a = alert("Down", &[("service", "a")], None);
        a.starts_at = Some(format(T0 - 10 * M));
        c.put(vec![a, alert("Down", &[("service", "b")], None)], "api", T0).unwrap();
        assert_eq!(run(&mut c, T0).len(), 1, "started before group_wait: flush at once");
        c.put(vec![alert("Down", &[("service", "b")], Some(T0 + M))], "api", T0 + M).unwrap();
        let j = run(&mut c, T0 + 5 * M);
        assert_eq!(services(&j[0]), vec!["a:firing", "b:resolved"]);
        assert!(run(&mut c, T0 + 10 * M).is_empty(), "the resolved alert was delivered and left the group");
        assert_eq!(c.groups()[0].alerts.len(), 1);
    }

    #[test]
    fn failed_delivery_is_retried_at_the_next_flush() {
        let (mut c, _) = core(BASIC);
        c.put(vec![alert("Down", &[], Some(T0 + 3600 * S))], "api", T0).unwrap();
        let j = c.tick(T0 + 30 * S);
        c.complete(&j[0], Err(notify::Error::retry("503")), 3, T0 + 31 * S);
        assert_eq!(run(&mut c, T0 + 30 * S + 5 * M).len(), 1, "not in the log yet, so sent again");
        assert!(run(&mut c, T0 + 30 * S + 10 * M).is_empty());
        let log = c.deliveries(10).unwrap();
        assert_eq!(log.iter().map(|d| d.outcome.as_str()).collect::<Vec<_>>(), vec!["sent", "failed"]);
    }

    #[test]
    fn silences_and_inhibitions_mute_notifications() {
        let (mut c, _) = core(BASIC);
        c.put(
            vec![
                alert("Crit", &[("severity", "critical"), ("cluster", "x")], None),
                alert("Warn", &[("severity", "warning"), ("cluster", "x")], None),
                alert("Warn", &[("severity", "warning"), ("cluster", "y")], None),
                alert("Muted", &[], None),
            ],
            "api",
            T0,
        )
        .unwrap();
        c.put_silence(
            Silence {
                id: String::new(),
                matchers: vec![ApiMatcher { name: "alertname".into(), value: "Muted".into(), is_regex: false, is_equal: true }],
                starts_at: T0,
                ends_at: T0 + 10 * M,
                updated_at: 0,
                created_by: "me".into(),
                comment: String::new(),
            },
            T0,
        )
        .unwrap();
        let jobs = run(&mut c, T0 + 30 * S);
        let mut told: Vec<String> = jobs
            .iter()
            .flat_map(|j| {
                j.notification
                    .alerts
                    .iter()
                    .map(|a| format!("{}/{}", a.labels["alertname"], a.labels.get("cluster").cloned().unwrap_or_default()))
            })
            .collect();
        told.sort();
        assert_eq!(told, vec!["Crit/x", "Warn/y"]);
        let st = c.alert_statuses(T0 + 30 * S);
        let muted = st.iter().find(|s| s.alert.labels["alertname"] == "Muted").unwrap();
        assert_eq!(muted.silenced_by.len(), 1);
        // The silence ends: the alert is told at the next flush of its group.
        let jobs = run(&mut c, T0 + 10 * M + 30 * S);
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].notification.alerts[0].labels["alertname"], "Muted");
    }

    const ESCALATE: &str = "
global:
  resolve_timeout: 1d
route:
  receiver: slack
  group_by: [alertname]
  group_wait: 10s
  group_interval: 1m
  repeat_interval: 4h
  escalation_policy: page
receivers:
  - name: slack
    slack_configs: [{api_url: 'http://s', send_resolved: true}]
  - name: sms
    sms_configs: [{api_url: 'http://t', account_sid: A, auth_token: T, from: '1', to: '2'}]
escalation_policies:
  - name: page
    steps:
      - receivers: [slack]
        wait: 5m
      - receivers: [sms]
        wait: 10m
    repeat: true
";

    fn receivers(jobs: &[Job]) -> Vec<(&str, &str)> {
        jobs.iter().map(|j| (j.receiver.as_str(), j.reason)).collect()
    }

    #[test]
    fn escalation_steps_ack_unack_and_restart() {
        let (mut c, store) = core(ESCALATE);
        let keep_firing = |c: &mut Core, t: Millis| c.put(vec![alert("Down", &[], Some(t + 86_400 * S))], "api", t).unwrap();
        keep_firing(&mut c, T0);
        assert_eq!(receivers(&run(&mut c, T0 + 10 * S)), vec![("slack", "group")]);
        assert!(run(&mut c, T0 + 5 * M + 10 * S - 1).is_empty());
        assert_eq!(receivers(&run(&mut c, T0 + 5 * M + 10 * S)), vec![("sms", "escalation")]);
        // After the last step, the policy repeats from the first.
        assert_eq!(receivers(&run(&mut c, T0 + 15 * M + 10 * S)), vec![("slack", "escalation")]);
        // Restart from the same store: no flush repeats what was sent; the escalation goes on.
        let cfg = c.config().clone();
        let mut c = Core::new(cfg, store, "http://ui".into(), Telemetry::new(), T0 + 16 * M).unwrap();
        assert!(run(&mut c, T0 + 16 * M).is_empty(), "restart must not resend");
        let fp = c.alert_statuses(T0 + 16 * M)[0].alert.fingerprint.clone();
        c.ack(&fp, "alice".into(), "looking".into(), T0 + 17 * M).unwrap();
        assert!(run(&mut c, T0 + 60 * M).is_empty(), "acknowledged: no escalation, no repeat");
        c.unack(&fp, T0 + 60 * M).unwrap();
        assert!(run(&mut c, T0 + 64 * M).is_empty(), "the current step's wait restarts at unack");
        assert_eq!(receivers(&run(&mut c, T0 + 65 * M)), vec![("sms", "escalation")]);
        // Ack again, then resolve: everyone paged hears it resolved, with who acknowledged.
        c.ack(&fp, "bob".into(), String::new(), T0 + 66 * M).unwrap();
        c.resolve(&fp, T0 + 67 * M).unwrap();
        let jobs = run(&mut c, T0 + 68 * M);
        let mut r = receivers(&jobs);
        r.sort();
        assert_eq!(
            r,
            vec![("slack", "group"), ("sms", "group")].into_iter().filter(|(n, _)| *n == "slack").collect::<Vec<_>>(),
            "sms has send_resolved off; slack gets the resolved message"
        );
        assert_eq!(jobs[0].notification.status, "resolved");
        assert_eq!(jobs[0].notification.ack_line().as_deref(), Some("Acknowledged by bob"));
        assert!(c.escalations().is_empty());
    }

    /// BENCHMARKS.md: 10,000 active alerts in 100 groups; how long the flush that follows
    /// group_wait takes (the latency dispatch adds before delivery starts), and the put cost.
    /// Run: `cargo test -p alerting --release -- --ignored --nocapture bench_10k`.
    #[test]
    #[ignore]
    fn bench_10k_alerts_flush_latency() {
        let (mut c, _) = core(BASIC);
        let batch: Vec<PostableAlert> = (0..10_000)
            .map(|i| alert(&format!("A{}", i % 100), &[("instance", &format!("host-{i}")), ("severity", "warning")], Some(T0 + 3600 * S)))
            .collect();
        let t = Instant::now();
        c.put(batch, "api", T0).unwrap();
        let put = t.elapsed();
        let t = Instant::now();
        let jobs = c.tick(T0 + 30 * S);
        let flush = t.elapsed();
        assert_eq!(jobs.len(), 100);
        let t = Instant::now();
        for j in &jobs {
            c.complete(j, Ok(()), 1, T0 + 30 * S);
        }
        let complete = t.elapsed();
        let t = Instant::now();
        assert!(c.tick(T0 + 30 * S + 5 * M).is_empty());
        let dedup_flush = t.elapsed();
        println!(
            "put 10k: {put:?}; flush after group_wait (100 groups, 100 jobs): {flush:?}; record 100 deliveries: {complete:?}; unchanged re-flush: {dedup_flush:?}"
        );
    }
}

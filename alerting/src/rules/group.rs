//! One rule group's evaluation at a given timestamp, and the alert state machine.
//!
//! Rules run in file order, each appending its output before the next runs, so a later rule
//! sees an earlier recording rule's series. An alerting rule follows Prometheus's
//! `AlertingRule.Eval` exactly: a new element is `pending` (active since now); it becomes
//! `firing` once it has been active for `for`; when it disappears a pending alert is dropped and
//! a firing one is `inactive` (resolved) — unless `keep_firing_for` holds it firing; a resolved
//! alert is kept and re-sent for 15 minutes so Alertmanager learns of it. Firing and resolved
//! alerts are sent when first seen in that state and then at most every `resend_delay`, with
//! `ends_at = now + 4 × max(interval, resend_delay)`. Every evaluation writes `ALERTS` (value 1,
//! `alertstate` label) and `ALERTS_FOR_STATE` (value: active-since Unix seconds), and a stale
//! marker for any series (recorded or `ALERTS`) that the previous evaluation wrote and this one
//! did not.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::file::{GroupSpec, Kind, RuleSpec, Source, field_label};
use super::template::{Data, expand};
use super::{Appender, LogCountFn, QueryFn, STALE_NAN};
use crate::model::{AlertSink, LabelSet, PostableAlert, fingerprint};

/// Resolved alerts are kept (and re-sent) this long.
pub const RESOLVED_RETENTION_MS: i64 = 15 * 60 * 1000;

/// State of one alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AlertState {
    /// Resolved (or never active).
    Inactive,
    /// Active, waiting for `for`.
    Pending,
    /// Active at least `for`.
    Firing,
}

impl AlertState {
    /// Prometheus's name.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }
}

/// One alert of an alerting rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// Labels: the element's (without `__name__`), the rule's (templated), `alertname`.
    pub labels: LabelSet,
    /// Templated annotations.
    pub annotations: LabelSet,
    /// Value of the element at the last evaluation.
    pub value: f64,
    /// Current state.
    pub state: AlertState,
    /// When it became active (ms).
    pub active_at: i64,
    /// When it started firing (ms).
    pub fired_at: Option<i64>,
    /// When it resolved (ms).
    pub resolved_at: Option<i64>,
    /// When it was last sent (ms).
    pub last_sent_at: Option<i64>,
    /// `ends_at` of the last send (ms).
    pub valid_until: i64,
    /// Since when `keep_firing_for` holds it (ms).
    pub keep_firing_since: Option<i64>,
}

impl Alert {
    fn needs_sending(&self, ts: i64, resend_delay_ms: i64) -> bool {
        if self.state == AlertState::Pending {
            return false;
        }
        match (self.resolved_at, self.last_sent_at) {
            (_, None) => true,
            (Some(r), Some(s)) if r > s => true,
            (_, Some(s)) => s + resend_delay_ms < ts,
        }
    }
}

/// Health of a rule or group.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Health {
    /// Last evaluation time (ms); `None` = never (health `unknown`).
    pub last_eval_ms: Option<i64>,
    /// How long it took.
    pub duration: Duration,
    /// Error of the last evaluation.
    pub error: Option<String>,
}

impl Health {
    /// `ok`, `err` or `unknown`.
    pub fn as_str(&self) -> &'static str {
        match (&self.last_eval_ms, &self.error) {
            (None, _) => "unknown",
            (_, Some(_)) => "err",
            _ => "ok",
        }
    }
}

/// A rule with its state.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The checked definition.
    pub spec: RuleSpec,
    /// Active alerts by fingerprint (alerting rules).
    pub active: HashMap<String, Alert>,
    /// Series written by the last evaluation (for stale markers).
    prev_series: HashSet<LabelSet>,
    /// Health.
    pub health: Health,
}

impl Rule {
    fn new(spec: RuleSpec) -> Rule {
        Rule { spec, active: HashMap::new(), prev_series: HashSet::new(), health: Health::default() }
    }
    /// `(name, labels)`: how a reload recognises the same rule (Prometheus's `nameAndLabels`).
    fn identity(&self) -> (String, bool, BTreeMap<String, String>) {
        (self.spec.name.clone(), matches!(self.spec.kind, Kind::Alert { .. }), self.spec.labels.clone())
    }
    /// Highest state among its alerts.
    pub fn state(&self) -> AlertState {
        self.active.values().map(|a| a.state).max().unwrap_or(AlertState::Inactive)
    }
}

/// The world a group evaluates against.
#[derive(Clone)]
pub struct Deps {
    /// PromQL.
    pub query: Arc<dyn QueryFn>,
    /// Log counts (`None`: log rules report an error).
    pub logs: Option<Arc<dyn LogCountFn>>,
    /// Where recorded series and `ALERTS` go.
    pub appender: Arc<dyn Appender>,
    /// Where alerts go.
    pub sink: Arc<dyn AlertSink>,
    /// Added to every alert sent, visible to templates as `$externalLabels`.
    pub external_labels: LabelSet,
    /// Base of `generatorURL`, `$externalURL`.
    pub external_url: String,
    /// Least time between two sends of an unchanged alert.
    pub resend_delay: Duration,
    /// How far back `ALERTS_FOR_STATE` is read to restore `for` timers after a restart
    /// (Prometheus's `--rules.alert.for-outage-tolerance`, default 1h).
    pub for_outage_tolerance: Duration,
    /// After a restart, a restored alert that was still pending fires no sooner than
    /// `min(this, for)` after the first evaluation (Prometheus's
    /// `--rules.alert.for-grace-period`, default 10m).
    pub for_grace_period: Duration,
}

/// A group with its rules' state.
#[derive(Debug, Clone)]
pub struct Group {
    /// The checked definition (rules' specs live in `rules`).
    pub spec: GroupSpec,
    /// Effective interval.
    pub interval: Duration,
    /// Rules in order.
    pub rules: Vec<Rule>,
    /// Group health (time and duration of the whole evaluation).
    pub health: Health,
    /// Whether `for` state has been restored from `ALERTS_FOR_STATE` (done after the first
    /// evaluation of a group that did not inherit state from a reload).
    restored: bool,
}

impl Group {
    /// A group with fresh state.
    pub fn new(spec: GroupSpec, default_interval: Duration) -> Group {
        let interval = spec.interval.unwrap_or(default_interval);
        let rules = spec.rules.iter().cloned().map(Rule::new).collect();
        Group { spec, interval, rules, health: Health::default(), restored: false }
    }

    /// Takes over the state of rules with the same name and labels from `old` (a reload).
    pub fn copy_state(&mut self, old: &Group) {
        let mut by_id: HashMap<_, Vec<usize>> = HashMap::new();
        for (i, r) in old.rules.iter().enumerate() {
            by_id.entry(r.identity()).or_default().push(i);
        }
        for r in &mut self.rules {
            if let Some(ix) = by_id.get_mut(&r.identity())
                && !ix.is_empty()
            {
                let o = &old.rules[ix.remove(0)];
                r.active = o.active.clone();
                r.prev_series = o.prev_series.clone();
                r.health = o.health.clone();
            }
        }
        self.health = old.health.clone();
        self.restored = true;
    }

    /// Stale markers for every series the group last wrote (the group is going away).
    pub fn mark_stale(&mut self, ts: i64, deps: &Deps) {
        let mut out = Vec::new();
        for r in &mut self.rules {
            out.extend(r.prev_series.drain().map(|l| (l, ts, f64::from_bits(STALE_NAN))));
        }
        if !out.is_empty()
            && let Err(e) = deps.appender.append(out)
        {
            tracing::warn!(group = %self.spec.name, error = %e, "cannot write stale markers");
        }
    }

    /// Evaluates every rule at `ts` (ms), in order.
    pub fn eval(&mut self, ts: i64, deps: &Deps) {
        let started = Instant::now();
        let interval_ms = self.interval.as_millis() as i64;
        let offset_ms = self.spec.query_offset.as_millis() as i64;
        let limit = self.spec.limit;
        for rule in &mut self.rules {
            let rs = Instant::now();
            let result = eval_rule(rule, ts, ts - offset_ms, interval_ms, limit, deps);
            rule.health = Health { last_eval_ms: Some(ts), duration: rs.elapsed(), error: result.err() };
            if let Some(e) = &rule.health.error {
                tracing::warn!(group = %self.spec.name, rule = %rule.spec.name, error = %e, "rule evaluation failed");
            }
        }
        if !self.restored {
            self.restored = true;
            for rule in &mut self.rules {
                restore_for_state(rule, ts, deps);
            }
        }
        self.health = Health { last_eval_ms: Some(ts), duration: started.elapsed(), error: None };
    }
}

/// After a restart, a pending alert takes its active-since time back from the `ALERTS_FOR_STATE`
/// series the previous process wrote, so a `for` timer resumes instead of starting over (as
/// Prometheus's `RestoreForState`). The series' last sample is read over the outage tolerance
/// before this evaluation; an alert whose series ended with a stale marker (it had resolved)
/// restores nothing. Unlike Prometheus, the time the process was down counts as time pending:
/// the alert fires when it would have without the restart, except that one still pending when
/// the previous process stopped fires no sooner than `min(for_grace_period, for)` after this
/// evaluation (so a restart after a long outage does not fire on data still arriving).
fn restore_for_state(rule: &mut Rule, ts: i64, deps: &Deps) {
    let Kind::Alert { for_, .. } = rule.spec.kind else { return };
    if for_.is_zero() || rule.active.is_empty() {
        return;
    }
    let hold = for_.as_millis() as i64;
    let grace = (deps.for_grace_period.as_millis() as i64).min(hold);
    let tolerance = (deps.for_outage_tolerance.as_millis() as i64).max(1);
    let found = match deps.query.last_samples("ALERTS_FOR_STATE", "alertname", &rule.spec.name, ts - tolerance, ts - 1) {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(rule = %rule.spec.name, error = %e, "cannot read ALERTS_FOR_STATE to restore for state");
            return;
        }
    };
    for (mut labels, down_at, v) in found {
        labels.remove("__name__");
        let fp = fingerprint(&labels);
        let Some(a) = rule.active.get_mut(&fp) else { continue };
        // A stale marker (or any non-number) means the alert was not active any more.
        if a.state != AlertState::Pending || !v.is_finite() {
            continue;
        }
        let mut restored = (v as i64).saturating_mul(1000);
        if restored + hold > down_at {
            // Still pending when the previous process stopped: not before the grace period.
            restored = restored.max(ts + grace - hold);
        }
        if restored < a.active_at {
            tracing::info!(rule = %rule.spec.name, alert = %fp, active_since = restored, "restored for state");
            a.active_at = restored;
        }
    }
}

/// The rule's input vector at `t`.
fn input(spec: &RuleSpec, t: i64, deps: &Deps) -> Result<Vec<(LabelSet, f64)>, String> {
    match &spec.source {
        Source::Promql(expr) => deps.query.query(expr, t),
        Source::Logs(l) => {
            let logs = deps.logs.as_ref().ok_or("log rules need the log store, which is not available here")?;
            let counts = logs.count(&l.query, t - l.window.as_millis() as i64, t, &l.group_by)?;
            let mut out = Vec::with_capacity(counts.len());
            for (key, n) in counts {
                let v = n as f64;
                if let Some((cmp, th)) = l.threshold
                    && !cmp.holds(v, th)
                {
                    continue;
                }
                let labels: LabelSet =
                    l.group_by.iter().zip(key).map(|(f, v)| (field_label(f), v)).filter(|(_, v)| !v.is_empty()).collect();
                out.push((labels, v));
            }
            Ok(out)
        }
    }
}

fn eval_rule(rule: &mut Rule, ts: i64, t: i64, interval_ms: i64, limit: u64, deps: &Deps) -> Result<(), String> {
    let vector = match input(&rule.spec, t, deps) {
        Ok(v) => v,
        Err(e) => {
            // Prometheus keeps alert state on query errors and writes nothing.
            return Err(e);
        }
    };
    let (samples, result) = match rule.spec.kind {
        Kind::Record => record(rule, vector, ts, limit),
        Kind::Alert { for_, keep_firing_for } => {
            let r = alert(rule, vector, ts, for_.as_millis() as i64, keep_firing_for.as_millis() as i64, limit, deps);
            let samples = alert_series(rule, ts);
            send(rule, ts, interval_ms, deps);
            (samples, r)
        }
    };
    // Stale markers for series gone since the last evaluation.
    let now: HashSet<LabelSet> = samples.iter().map(|(l, _, _)| l.clone()).collect();
    let mut out = samples;
    for gone in rule.prev_series.difference(&now) {
        out.push((gone.clone(), ts, f64::from_bits(STALE_NAN)));
    }
    rule.prev_series = now;
    if !out.is_empty() {
        deps.appender.append(out).map_err(|e| format!("cannot store rule output: {e}"))?;
    }
    result
}

/// Samples to append: `(labels, t_ms, value)`.
type Samples = Vec<(LabelSet, i64, f64)>;

fn record(rule: &Rule, vector: Vec<(LabelSet, f64)>, ts: i64, limit: u64) -> (Samples, Result<(), String>) {
    let mut out = Vec::with_capacity(vector.len());
    let mut seen = HashSet::new();
    for (mut labels, v) in vector {
        labels.insert("__name__".into(), rule.spec.name.clone());
        for (k, val) in &rule.spec.labels {
            if val.is_empty() {
                labels.remove(k);
            } else {
                labels.insert(k.clone(), val.clone());
            }
        }
        if !seen.insert(labels.clone()) {
            return (Vec::new(), Err("vector contains metrics with the same labelset after applying rule labels".into()));
        }
        out.push((labels, ts, v));
    }
    if limit > 0 && out.len() as u64 > limit {
        return (Vec::new(), Err(format!("exceeded limit of {limit} with {} series", out.len())));
    }
    (out, Ok(()))
}

#[allow(clippy::too_many_arguments)]
fn alert(
    rule: &mut Rule,
    vector: Vec<(LabelSet, f64)>,
    ts: i64,
    hold_ms: i64,
    keep_ms: i64,
    limit: u64,
    deps: &Deps,
) -> Result<(), String> {
    let mut seen: HashSet<String> = HashSet::new();
    let rule_name = rule.spec.name.clone();
    for (sample_labels, value) in vector {
        // As Prometheus: templates see the sample's labels, `__name__` included (a filter
        // like `x > 1` keeps it); the alert's labels do not have it.
        let mut elem_labels = sample_labels.clone();
        elem_labels.remove("__name__");
        let data = Data {
            labels: &sample_labels,
            value,
            external_labels: &deps.external_labels,
            external_url: &deps.external_url,
            query: Some(&*deps.query),
            ts_ms: ts,
            name: &rule_name,
        };
        let expand_all = |m: &BTreeMap<String, String>| -> BTreeMap<String, String> {
            m.iter()
                .map(|(k, t)| {
                    // As Prometheus: the text becomes the error, the rule stays healthy.
                    let v = expand(t, &data).unwrap_or_else(|e| {
                        tracing::warn!(rule = %rule_name, template = %k, error = %e, "expanding alert template failed");
                        format!("<error expanding template: {e}>")
                    });
                    (k.clone(), v)
                })
                .collect()
        };
        let rule_labels = expand_all(&rule.spec.labels);
        let annotations = expand_all(&rule.spec.annotations);
        let mut labels = elem_labels.clone();
        for (k, v) in rule_labels {
            if v.is_empty() {
                labels.remove(&k);
            } else {
                labels.insert(k, v);
            }
        }
        labels.insert("alertname".into(), rule.spec.name.clone());
        let fp = fingerprint(&labels);
        if !seen.insert(fp.clone()) {
            return Err("vector contains metrics with the same labelset after applying alert labels".into());
        }
        match rule.active.get_mut(&fp) {
            Some(a) if a.state != AlertState::Inactive => {
                a.value = value;
                a.annotations = annotations;
                a.labels = labels;
            }
            _ => {
                rule.active.insert(
                    fp,
                    Alert {
                        labels,
                        annotations,
                        value,
                        state: AlertState::Pending,
                        active_at: ts,
                        fired_at: None,
                        resolved_at: None,
                        last_sent_at: None,
                        valid_until: 0,
                        keep_firing_since: None,
                    },
                );
            }
        }
    }
    let mut active_pending = 0u64;
    let mut remove = Vec::new();
    for (fp, a) in rule.active.iter_mut() {
        if !seen.contains(fp) {
            let mut keep_firing = false;
            if a.state == AlertState::Firing && keep_ms > 0 {
                let since = *a.keep_firing_since.get_or_insert(ts);
                keep_firing = ts - since < keep_ms;
            }
            if a.state == AlertState::Pending || a.resolved_at.is_some_and(|r| ts - r > RESOLVED_RETENTION_MS) {
                remove.push(fp.clone());
            }
            if a.state != AlertState::Inactive && !keep_firing {
                a.state = AlertState::Inactive;
                a.resolved_at = Some(ts);
            }
            if !keep_firing {
                continue;
            }
        } else {
            a.keep_firing_since = None;
        }
        active_pending += 1;
        if a.state == AlertState::Pending && ts - a.active_at >= hold_ms {
            a.state = AlertState::Firing;
            a.fired_at = Some(ts);
        }
    }
    for fp in remove {
        rule.active.remove(&fp);
    }
    if limit > 0 && active_pending > limit {
        rule.active.clear();
        return Err(format!("exceeded limit of {limit} with {active_pending} alerts"));
    }
    Ok(())
}

/// `ALERTS` and `ALERTS_FOR_STATE` for every pending or firing alert.
fn alert_series(rule: &Rule, ts: i64) -> Samples {
    let mut out = Vec::new();
    for a in rule.active.values().filter(|a| a.state != AlertState::Inactive) {
        let mut l = a.labels.clone();
        l.insert("__name__".into(), "ALERTS".into());
        l.insert("alertstate".into(), a.state.as_str().into());
        out.push((l, ts, 1.0));
        let mut l = a.labels.clone();
        l.insert("__name__".into(), "ALERTS_FOR_STATE".into());
        out.push((l, ts, (a.active_at / 1000) as f64));
    }
    out
}

fn send(rule: &mut Rule, ts: i64, interval_ms: i64, deps: &Deps) {
    let resend_ms = deps.resend_delay.as_millis() as i64;
    let delta = interval_ms.max(resend_ms);
    let mut batch = Vec::new();
    for a in rule.active.values_mut() {
        if !a.needs_sending(ts, resend_ms) {
            continue;
        }
        a.last_sent_at = Some(ts);
        a.valid_until = ts + 4 * delta;
        let mut labels = deps.external_labels.clone();
        labels.extend(a.labels.clone());
        batch.push(PostableAlert {
            labels,
            annotations: a.annotations.clone(),
            starts_at: Some(super::rfc3339(a.fired_at.unwrap_or(a.active_at))),
            ends_at: Some(super::rfc3339(a.resolved_at.unwrap_or(a.valid_until))),
            generator_url: Some(generator_url(&deps.external_url, &rule.spec.query_text())),
        });
    }
    if !batch.is_empty() {
        deps.sink.send(batch);
    }
}

/// `<external_url>/graph?g0.expr=<expr>&g0.tab=1`, as Prometheus links an alert to its query.
pub fn generator_url(base: &str, expr: &str) -> String {
    let mut enc = String::new();
    for b in expr.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            enc.push(b as char);
        } else {
            enc.push_str(&format!("%{b:02X}"));
        }
    }
    format!("{}/graph?g0.expr={enc}&g0.tab=1", base.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Query results scripted per expression; appends and alerts recorded.
    #[derive(Default)]
    struct World {
        results: Mutex<HashMap<String, Vec<(LabelSet, f64)>>>,
        appended: Mutex<Vec<(LabelSet, i64, f64)>>,
        sent: Mutex<Vec<PostableAlert>>,
        logs: Mutex<Vec<(Vec<String>, u64)>>,
    }
    impl QueryFn for World {
        fn query(&self, expr: &str, t: i64) -> Result<Vec<(LabelSet, f64)>, String> {
            if expr == "broken" {
                return Err("boom".into());
            }
            // Recorded series are visible to later rules: `rec:x` reads the last append.
            if let Some(name) = expr.strip_suffix(" > 1").filter(|n| n.contains(':')) {
                let app = self.appended.lock().unwrap();
                return Ok(app
                    .iter()
                    .filter(|(l, ts, v)| l["__name__"] == name && *ts == t && !v.is_nan())
                    .map(|(l, _, v)| (l.clone(), *v))
                    .collect());
            }
            Ok(self.results.lock().unwrap().get(expr).cloned().unwrap_or_default())
        }
        fn last_samples(&self, metric: &str, name: &str, value: &str, start: i64, end: i64) -> Result<Vec<(LabelSet, i64, f64)>, String> {
            let mut last: HashMap<LabelSet, (i64, f64)> = HashMap::new();
            for (l, t, v) in self.appended.lock().unwrap().iter() {
                if l["__name__"] == metric && l.get(name).map(String::as_str) == Some(value) && (start..=end).contains(t) {
                    let e = last.entry(l.clone()).or_insert((*t, *v));
                    if *t >= e.0 {
                        *e = (*t, *v);
                    }
                }
            }
            Ok(last.into_iter().map(|(l, (t, v))| (l, t, v)).collect())
        }
    }
    impl Appender for World {
        fn append(&self, s: Vec<(LabelSet, i64, f64)>) -> Result<(), String> {
            self.appended.lock().unwrap().extend(s);
            Ok(())
        }
    }
    impl AlertSink for World {
        fn send(&self, alerts: Vec<PostableAlert>) {
            self.sent.lock().unwrap().extend(alerts);
        }
    }
    impl LogCountFn for World {
        fn count(&self, _q: &str, _s: i64, _e: i64, _g: &[String]) -> Result<Vec<(Vec<String>, u64)>, String> {
            Ok(self.logs.lock().unwrap().clone())
        }
    }

    fn ls(pairs: &[(&str, &str)]) -> LabelSet {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn setup(yaml: &str) -> (Group, Deps, Arc<World>) {
        let (specs, _) = super::super::file::parse(std::path::Path::new("t.yml"), yaml).unwrap();
        let w = Arc::new(World::default());
        let deps = Deps {
            query: w.clone(),
            logs: Some(w.clone()),
            appender: w.clone(),
            sink: w.clone(),
            external_labels: ls(&[("cluster", "eu1")]),
            external_url: "http://lookout:9400".into(),
            resend_delay: Duration::from_secs(60),
            for_outage_tolerance: Duration::from_secs(3600),
            for_grace_period: Duration::from_secs(600),
        };
        (Group::new(specs.into_iter().next().unwrap(), Duration::from_secs(60)), deps, w)
    }

    fn set(w: &World, expr: &str, v: Vec<(LabelSet, f64)>) {
        w.results.lock().unwrap().insert(expr.into(), v);
    }

    fn alerts_at(w: &World, name: &str, ts: i64) -> Vec<(String, f64)> {
        let mut v: Vec<_> = w
            .appended
            .lock()
            .unwrap()
            .iter()
            .filter(|(l, t, v)| *t == ts && l["__name__"] == name && !v.is_nan())
            .map(|(l, _, v)| (l.get("alertstate").cloned().unwrap_or_default(), *v))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    const MIN: i64 = 60_000;

    #[test]
    fn pending_then_firing_after_for_then_resolved_and_resent() {
        let (mut g, deps, w) = setup(
            "groups:\n- name: g\n  rules:\n  - alert: Down\n    expr: up == 0\n    for: 2m\n    labels: {severity: page}\n    annotations: {summary: '{{ $labels.instance }} down ({{ $value }}) in {{ $externalLabels.cluster }}'}\n",
        );
        let elem = ls(&[("__name__", "up"), ("instance", "a"), ("job", "node")]);
        set(&w, "up == 0", vec![(elem.clone(), 0.0)]);
        let t0 = 1_000 * MIN;
        g.eval(t0, &deps);
        let r = &g.rules[0];
        assert_eq!(r.state(), AlertState::Pending);
        assert!(w.sent.lock().unwrap().is_empty(), "pending alerts are not sent");
        assert_eq!(alerts_at(&w, "ALERTS", t0), vec![("pending".into(), 1.0)]);
        assert_eq!(alerts_at(&w, "ALERTS_FOR_STATE", t0), vec![("".into(), (t0 / 1000) as f64)]);

        g.eval(t0 + MIN, &deps);
        assert_eq!(g.rules[0].state(), AlertState::Pending);
        g.eval(t0 + 2 * MIN, &deps);
        assert_eq!(g.rules[0].state(), AlertState::Firing);
        assert_eq!(alerts_at(&w, "ALERTS", t0 + 2 * MIN), vec![("firing".into(), 1.0)]);
        // The pending series got a stale marker when it became firing.
        let stale =
            w.appended.lock().unwrap().iter().any(|(l, t, v)| {
                *t == t0 + 2 * MIN && l.get("alertstate").map(String::as_str) == Some("pending") && v.to_bits() == STALE_NAN
            });
        assert!(stale);
        {
            let sent = w.sent.lock().unwrap();
            assert_eq!(sent.len(), 1);
            let a = &sent[0];
            assert_eq!(
                a.labels,
                ls(&[("alertname", "Down"), ("cluster", "eu1"), ("instance", "a"), ("job", "node"), ("severity", "page")])
            );
            assert_eq!(a.annotations["summary"], "a down (0) in eu1");
            assert_eq!(a.starts_at.as_deref(), Some(super::super::rfc3339(t0 + 2 * MIN).as_str()));
            // ends_at = now + 4 × max(interval 1m, resend 1m)
            assert_eq!(a.ends_at.as_deref(), Some(super::super::rfc3339(t0 + 6 * MIN).as_str()));
            assert!(a.generator_url.as_deref().unwrap().starts_with("http://lookout:9400/graph?g0.expr=up%20%3D%3D%200"));
        }
        // Within the resend delay: nothing; after it: re-sent.
        g.eval(t0 + 2 * MIN + 30_000, &deps);
        assert_eq!(w.sent.lock().unwrap().len(), 1);
        g.eval(t0 + 3 * MIN + 30_000, &deps);
        assert_eq!(w.sent.lock().unwrap().len(), 2);

        // Resolve: sent at once with ends_at = resolve time, kept 15m, then dropped.
        set(&w, "up == 0", vec![]);
        let tr = t0 + 4 * MIN;
        g.eval(tr, &deps);
        assert_eq!(g.rules[0].state(), AlertState::Inactive);
        assert_eq!(g.rules[0].active.len(), 1);
        {
            let sent = w.sent.lock().unwrap();
            assert_eq!(sent.len(), 3);
            assert_eq!(sent[2].ends_at.as_deref(), Some(super::super::rfc3339(tr).as_str()));
        }
        assert!(alerts_at(&w, "ALERTS", tr).is_empty());
        let stale =
            w.appended.lock().unwrap().iter().filter(|(l, t, v)| *t == tr && l["__name__"] == "ALERTS" && v.to_bits() == STALE_NAN).count();
        assert_eq!(stale, 1, "the firing series ends with a stale marker");
        g.eval(tr + 2 * MIN, &deps);
        assert_eq!(w.sent.lock().unwrap().len(), 4, "resolved alerts are re-sent");
        g.eval(tr + 16 * MIN, &deps);
        assert!(g.rules[0].active.is_empty());
        assert_eq!(g.rules[0].health.as_str(), "ok");
    }

    #[test]
    fn pending_alert_that_disappears_is_dropped_and_never_sent() {
        let (mut g, deps, w) = setup("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: x > 1\n    for: 5m\n");
        set(&w, "x > 1", vec![(ls(&[("i", "1")]), 2.0)]);
        g.eval(0, &deps);
        set(&w, "x > 1", vec![]);
        g.eval(MIN, &deps);
        assert!(g.rules[0].active.is_empty());
        assert!(w.sent.lock().unwrap().is_empty());
    }

    #[test]
    fn for_zero_fires_at_once() {
        let (mut g, deps, w) = setup("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: x > 1\n");
        set(&w, "x > 1", vec![(ls(&[("i", "1")]), 2.0)]);
        g.eval(0, &deps);
        assert_eq!(g.rules[0].state(), AlertState::Firing);
        assert_eq!(w.sent.lock().unwrap().len(), 1);
    }

    #[test]
    fn keep_firing_for_holds_then_resolves() {
        let (mut g, deps, w) = setup("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: x > 1\n    keep_firing_for: 3m\n");
        set(&w, "x > 1", vec![(ls(&[("i", "1")]), 2.0)]);
        g.eval(0, &deps);
        assert_eq!(g.rules[0].state(), AlertState::Firing);
        set(&w, "x > 1", vec![]);
        for m in 1..=3 {
            g.eval(m * MIN, &deps);
            assert_eq!(g.rules[0].state(), AlertState::Firing, "minute {m}");
            assert!(g.rules[0].active.values().next().unwrap().keep_firing_since == Some(MIN));
        }
        g.eval(4 * MIN, &deps);
        assert_eq!(g.rules[0].state(), AlertState::Inactive);
        // Coming back while kept firing resets the keep timer.
        set(&w, "x > 1", vec![(ls(&[("i", "1")]), 2.0)]);
        g.eval(5 * MIN, &deps);
        assert_eq!(g.rules[0].state(), AlertState::Firing);
    }

    #[test]
    fn recording_results_are_visible_to_later_rules_and_go_stale() {
        let (mut g, deps, w) = setup(
            "groups:\n- name: g\n  rules:\n  - record: job:x:sum\n    expr: sum by (job) (x)\n    labels: {source: rule}\n  - alert: Big\n    expr: job:x:sum > 1\n",
        );
        set(&w, "sum by (job) (x)", vec![(ls(&[("job", "a")]), 5.0)]);
        g.eval(MIN, &deps);
        let app = w.appended.lock().unwrap().clone();
        assert!(app.contains(&(ls(&[("__name__", "job:x:sum"), ("job", "a"), ("source", "rule")]), MIN, 5.0)));
        assert_eq!(g.rules[1].state(), AlertState::Firing, "the alert saw the recorded series");
        set(&w, "sum by (job) (x)", vec![]);
        g.eval(2 * MIN, &deps);
        let app = w.appended.lock().unwrap();
        assert!(app.iter().any(|(l, t, v)| *t == 2 * MIN && l["__name__"] == "job:x:sum" && v.to_bits() == STALE_NAN));
    }

    #[test]
    fn errors_set_health_and_keep_state() {
        let (mut g, deps, w) = setup("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: broken\n  - record: r\n    expr: dup\n");
        set(&w, "dup", vec![(ls(&[("__name__", "a"), ("x", "1")]), 1.0), (ls(&[("__name__", "b"), ("x", "1")]), 1.0)]);
        g.eval(0, &deps);
        assert_eq!(g.rules[0].health.as_str(), "err");
        assert_eq!(g.rules[0].health.error.as_deref(), Some("boom"));
        assert!(g.rules[1].health.error.as_deref().unwrap().contains("same labelset"));
    }

    #[test]
    fn limit_is_enforced() {
        let (mut g, deps, w) = setup("groups:\n- name: g\n  limit: 1\n  rules:\n  - alert: A\n    expr: x\n");
        set(&w, "x", vec![(ls(&[("i", "1")]), 1.0), (ls(&[("i", "2")]), 1.0)]);
        g.eval(0, &deps);
        assert!(g.rules[0].health.error.as_deref().unwrap().contains("exceeded limit of 1 with 2 alerts"));
        assert!(g.rules[0].active.is_empty());
    }

    #[test]
    fn log_rule_groups_and_thresholds() {
        let (mut g, deps, w) = setup(
            "groups:\n- name: g\n  rules:\n  - alert: ManyErrors\n    log_query: 'level:error'\n    window: 5m\n    group_by: [service, http.route]\n    threshold: '> 50'\n    annotations: {summary: '{{ $value }} errors in {{ $labels.service }}'}\n",
        );
        *w.logs.lock().unwrap() = vec![(vec!["api".into(), "/x".into()], 51), (vec!["web".into(), "".into()], 50)];
        g.eval(0, &deps);
        let r = &g.rules[0];
        assert_eq!(r.active.len(), 1);
        let a = r.active.values().next().unwrap();
        assert_eq!(a.labels, ls(&[("alertname", "ManyErrors"), ("http_route", "/x"), ("service", "api")]));
        assert_eq!(a.annotations["summary"], "51 errors in api");
    }

    /// What a previous process wrote: `ALERTS_FOR_STATE` of alert `A{i="1"}` active since
    /// `since`, every minute from `since` to `down` (and a stale marker at `down` if `resolved`).
    fn previous_process(w: &World, since: i64, down: i64, resolved: bool) {
        let l = ls(&[("__name__", "ALERTS_FOR_STATE"), ("alertname", "A"), ("i", "1")]);
        let mut app = w.appended.lock().unwrap();
        let mut t = since;
        while t <= down {
            app.push((l.clone(), t, (since / 1000) as f64));
            t += MIN;
        }
        if resolved {
            app.push((l, down, f64::from_bits(STALE_NAN)));
        }
    }

    fn restarted(for_: &str, grace_min: u64) -> (Group, Deps, Arc<World>) {
        let (g, mut deps, w) = setup(&format!("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: x\n    for: {for_}\n"));
        deps.for_grace_period = Duration::from_secs(grace_min * 60);
        set(&w, "x", vec![(ls(&[("i", "1")]), 1.0)]);
        (g, deps, w)
    }

    fn state_at(g: &mut Group, deps: &Deps, t: i64) -> AlertState {
        g.eval(t, deps);
        g.rules[0].state()
    }

    #[test]
    fn for_state_is_restored_after_restart() {
        // Pending since minute 0, down at minute 5, back at minute 8 (grace 1m < remaining).
        let (mut g, deps, w) = restarted("10m", 1);
        previous_process(&w, 0, 5 * MIN, false);
        assert_eq!(state_at(&mut g, &deps, 8 * MIN), AlertState::Pending);
        assert_eq!(g.rules[0].active.values().next().unwrap().active_at, 0);
        assert_eq!(state_at(&mut g, &deps, 9 * MIN), AlertState::Pending);
        assert_eq!(state_at(&mut g, &deps, 10 * MIN), AlertState::Firing, "10 minutes after the restored start");
    }

    #[test]
    fn for_state_survives_an_outage_up_to_the_tolerance() {
        // for 1h, pending since 0, down at minute 10, back at minute 50 (far beyond the 5m
        // lookback, within the 1h tolerance): fires at minute 60, not 110.
        let (mut g, deps, w) = restarted("1h", 10);
        previous_process(&w, 0, 10 * MIN, false);
        assert_eq!(state_at(&mut g, &deps, 50 * MIN), AlertState::Pending);
        assert_eq!(g.rules[0].active.values().next().unwrap().active_at, 0);
        assert_eq!(state_at(&mut g, &deps, 59 * MIN), AlertState::Pending);
        assert_eq!(state_at(&mut g, &deps, 60 * MIN), AlertState::Firing);

        // Back after more than the tolerance: the timer starts over.
        let (mut g, deps, w) = restarted("1h", 10);
        previous_process(&w, 0, 10 * MIN, false);
        assert_eq!(state_at(&mut g, &deps, 71 * MIN), AlertState::Pending);
        assert_eq!(g.rules[0].active.values().next().unwrap().active_at, 71 * MIN);
        assert_eq!(state_at(&mut g, &deps, 130 * MIN), AlertState::Pending);
        assert_eq!(state_at(&mut g, &deps, 131 * MIN), AlertState::Firing);
    }

    #[test]
    fn for_state_is_not_restored_from_a_resolved_alert() {
        let (mut g, deps, w) = restarted("1h", 10);
        previous_process(&w, 0, 10 * MIN, true);
        assert_eq!(state_at(&mut g, &deps, 20 * MIN), AlertState::Pending);
        assert_eq!(g.rules[0].active.values().next().unwrap().active_at, 20 * MIN, "the stale marker says it had resolved");
    }

    #[test]
    fn grace_period_delays_an_alert_that_would_fire_right_after_the_restart() {
        // for 1h, pending since 0, down at minute 50, back at minute 58: without the grace it
        // would fire at 60; with a 10m grace not before 68.
        let (mut g, deps, w) = restarted("1h", 10);
        previous_process(&w, 0, 50 * MIN, false);
        assert_eq!(state_at(&mut g, &deps, 58 * MIN), AlertState::Pending);
        assert_eq!(state_at(&mut g, &deps, 67 * MIN), AlertState::Pending);
        assert_eq!(state_at(&mut g, &deps, 68 * MIN), AlertState::Firing);

        // One that was already firing when the process stopped fires again at once.
        let (mut g, deps, w) = restarted("1h", 10);
        previous_process(&w, 0, 65 * MIN, false);
        assert_eq!(state_at(&mut g, &deps, 70 * MIN), AlertState::Pending);
        assert_eq!(state_at(&mut g, &deps, 71 * MIN), AlertState::Firing);
    }

    #[test]
    fn reload_keeps_state_of_unchanged_rules() {
        let (mut g, deps, w) = setup("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: x\n    for: 10m\n");
        set(&w, "x", vec![(ls(&[("i", "1")]), 1.0)]);
        g.eval(0, &deps);
        let (mut g2, _, _) = setup("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: x\n    for: 5m\n  - alert: B\n    expr: x\n");
        g2.copy_state(&g);
        assert_eq!(g2.rules[0].active.values().next().unwrap().active_at, 0);
        g2.eval(5 * MIN, &deps);
        assert_eq!(g2.rules[0].state(), AlertState::Firing, "the for timer carried over the reload");
    }
}

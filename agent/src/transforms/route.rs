//! `route`: sends each event to named outputs by condition; other components take an output as
//! input by `ROUTE_NAME.OUTPUT`. Events matching no route go to `ROUTE_NAME._unmatched`.
//!
//! ```toml
//! [transforms.split]
//! type = "route"
//! inputs = ["app"]
//! [transforms.split.routes]
//! errors = [{ field = "level", equals = ["error", "fatal"] }]
//! checkout = [{ field = "service", equals = ["checkout"] }]
//! ```
//! Metric samples are routed by the same conditions on their labels (`__name__` for the name).
//! An event matching several routes goes to each of them. Each output receives its share of a
//! batch with a clone of the batch's acknowledgement; a share with no events is settled at once,
//! so the source's checkpoint moves when every output is done. Events sent to an output nothing
//! reads are counted as dropped (`unrouted`).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tokio::sync::mpsc;
use wire::LogEvent;

use super::filter;
use crate::delivery::EventBatch;
use crate::metric::MetricSample;
use crate::sources::send_to_all;
use crate::telemetry::ComponentMetrics;

/// The output of events that match no route.
pub const UNMATCHED: &str = "_unmatched";

/// `type = "route"`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Components feeding this transform.
    pub inputs: Vec<String>,
    /// Output name → conditions that must all hold (same conditions as `filter`).
    pub routes: BTreeMap<String, Vec<filter::Condition>>,
}

impl Config {
    /// Semantic checks.
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if self.routes.is_empty() {
            out.push(("routes".into(), "at least one route is required".into()));
        }
        for (name, conds) in &self.routes {
            if name == UNMATCHED || name.is_empty() || name.contains('.') {
                out.push((format!("routes.{name}"), "route names must be non-empty, without '.', and not _unmatched".into()));
            }
            let f = filter::Config {
                inputs: self.inputs.clone(),
                action: filter::Action::Keep,
                conditions: conds.clone(),
                combine: filter::Match::All,
            };
            for (_, m) in f.validate() {
                out.push((format!("routes.{name}"), m));
            }
        }
        out
    }

    /// Output names, `_unmatched` included.
    pub fn outputs(&self) -> Vec<String> {
        self.routes.keys().cloned().chain([UNMATCHED.to_string()]).collect()
    }
}

/// Runs a route until its inputs close. `outputs` maps each output name to its consumers.
pub async fn run(
    cfg: Config,
    name: String,
    metrics: ComponentMetrics,
    mut input: mpsc::Receiver<EventBatch>,
    outputs: BTreeMap<String, Vec<mpsc::Sender<EventBatch>>>,
) {
    let routes: Vec<(String, filter::Filter)> = cfg
        .routes
        .iter()
        .map(|(n, conds)| {
            let f = filter::Config { inputs: vec![], action: filter::Action::Keep, conditions: conds.clone(), combine: filter::Match::All };
            (n.clone(), f.build())
        })
        .collect();
    while let Some(mut batch) = input.recv().await {
        metrics.events_in.inc_by(batch.len() as u64);
        let mut shares: BTreeMap<&str, (Vec<LogEvent>, Vec<MetricSample>)> = BTreeMap::new();
        for e in batch.events_mut().iter() {
            let mut matched = false;
            for (n, f) in &routes {
                if f.keeps(e) {
                    shares.entry(n.as_str()).or_default().0.push(e.clone());
                    matched = true;
                }
            }
            if !matched {
                shares.entry(UNMATCHED).or_default().0.push(e.clone());
            }
        }
        for s in &batch.metrics {
            let mut matched = false;
            for (n, f) in &routes {
                if f.keeps_sample(s) {
                    shares.entry(n.as_str()).or_default().1.push(s.clone());
                    matched = true;
                }
            }
            if !matched {
                shares.entry(UNMATCHED).or_default().1.push(s.clone());
            }
        }
        for (out, (events, samples)) in shares {
            let consumers = outputs.get(out).map(Vec::as_slice).unwrap_or_default();
            let n = (events.len() + samples.len()) as u64;
            if consumers.is_empty() {
                metrics.dropped("unrouted", n);
                continue;
            }
            let share = EventBatch::from_parts(events, samples, batch.ack.clone(), batch.position.clone());
            if send_to_all(consumers, share).await {
                metrics.events_out.inc_by(n);
            }
        }
        // This holder is done: every share carries its own clone of the ack.
        batch.ack.settle();
    }
    tracing::debug!(transform = %name, "route stopped");
}

#[cfg(test)]
mod tests {
    use super::super::event;
    use super::*;
    use crate::delivery::{Ack, AckNotice};

    #[tokio::test]
    async fn splits_by_condition_and_acks_once_every_share_is_done() {
        let cfg: Config = toml::from_str(
            "inputs = ['a']\n[routes]\nerrors = [{ field = 'level', equals = ['error'] }]\nall = [{ field = 'message', matches = '.' }]",
        )
        .unwrap();
        assert!(cfg.validate().is_empty(), "{:?}", cfg.validate());
        let (in_tx, in_rx) = mpsc::channel(4);
        let (err_tx, mut err_rx) = mpsc::channel(4);
        let (all_tx, mut all_rx) = mpsc::channel(4);
        let outputs = BTreeMap::from([("errors".to_string(), vec![err_tx]), ("all".to_string(), vec![all_tx])]);
        let metrics = crate::telemetry::Telemetry::new().component("route", "r");
        let task = tokio::spawn(run(cfg, "r".into(), metrics, in_rx, outputs));
        let (ack_tx, mut ack_rx) = mpsc::unbounded_channel();
        let events = vec![event(r#"{"level":"error","msg":"x"}"#), event(r#"{"level":"info","msg":"y"}"#), event(r#"{"level":"info"}"#)];
        in_tx.send(EventBatch::new(events, Ack::new(ack_tx, 1, 10))).await.unwrap();
        let errs = err_rx.recv().await.unwrap();
        let all = all_rx.recv().await.unwrap();
        assert_eq!(errs.log_count(), 1);
        assert_eq!(all.log_count(), 2);
        errs.ack.settle();
        assert!(ack_rx.try_recv().is_err(), "acknowledged before every share was delivered");
        all.ack.settle();
        drop(in_tx);
        task.await.unwrap();
        assert_eq!(ack_rx.recv().await.unwrap(), AckNotice { stream: 1, end: 10, delivered: true });
    }
}

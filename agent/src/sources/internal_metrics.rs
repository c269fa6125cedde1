//! The `internal_metrics` source: the agent's own counters (what `/metrics` serves) as metric
//! samples, so they reach the aggregator like any other series without a scrape.
//!
//! ```toml
//! [sources.self]
//! type = "internal_metrics"
//! interval_secs = 15
//! ```
//!
//! Series keep their exposition names (`lookout_agent_events_in_total{component,kind}`, …)
//! and get `job` (default `lookout-agent`) and `instance` (default the host name).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::SourceContext;
use crate::delivery::{Ack, EventBatch};
use crate::metric::now_ms;

/// `type = "internal_metrics"`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Seconds between two snapshots.
    #[serde(default = "default_interval")]
    pub interval_secs: f64,
    /// The `job` label.
    #[serde(default = "default_job")]
    pub job: String,
    /// The `instance` label; defaults to the host name.
    #[serde(default)]
    pub instance: Option<String>,
}

fn default_interval() -> f64 {
    15.0
}
fn default_job() -> String {
    "lookout-agent".into()
}

impl Config {
    /// Semantic checks.
    pub fn validate(&self) -> Vec<(String, String)> {
        if self.interval_secs >= 0.01 && self.interval_secs.is_finite() {
            vec![]
        } else {
            vec![("interval_secs".into(), "must be a positive number of seconds".into())]
        }
    }

    /// Takes a snapshot every `interval_secs` until shutdown.
    pub async fn run(self, mut cx: SourceContext) {
        let instance = self.instance.clone().unwrap_or_else(|| cx.host.clone());
        let mut tick = tokio::time::interval(Duration::from_secs_f64(self.interval_secs));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut clock = crate::metric::TickClock::default();
        loop {
            let scheduled = tokio::select! {
                _ = cx.shutdown.changed() => break,
                t = tick.tick() => t,
            };
            let text = cx.telemetry.encode();
            let ts = clock.stamp(scheduled, now_ms());
            let mut samples: Vec<_> = crate::exposition::parse(&text, ts).into_iter().map(|p| p.sample).collect();
            for s in &mut samples {
                s.labels.insert("job".into(), self.job.clone());
                s.labels.insert("instance".into(), instance.clone());
            }
            let n = samples.len() as u64;
            cx.metrics.events_in.inc_by(n);
            let sent = tokio::select! {
                _ = cx.shutdown.changed() => break,
                ok = super::send_to_all(&cx.outputs, EventBatch::of_metrics(samples, Ack::none())) => ok,
            };
            if !sent {
                break;
            }
            cx.metrics.events_out.inc_by(n);
        }
        tracing::debug!(source = %cx.name, "internal_metrics source stopped");
    }
}

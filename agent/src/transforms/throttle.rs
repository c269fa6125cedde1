//! `throttle`: at most `events_per_sec` events per second per key (the value of `key_field`, or
//! one bucket for all); the excess is dropped and counted with reason `throttled`.
//!
//! Each key has a token bucket holding up to `events_per_sec` tokens, refilled continuously. At
//! most 10,000 keys are tracked; beyond that the buckets start over (bounded memory).

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::Instant;
use wire::LogEvent;

use super::field_text;
use crate::telemetry::ComponentMetrics;

const MAX_KEYS: usize = 10_000;

/// `type = "throttle"`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Components feeding this transform.
    pub inputs: Vec<String>,
    /// Events allowed per second per key (also the burst size).
    pub events_per_sec: f64,
    /// Field whose value is the key (`service`, `http.path`); unset: one key for all events.
    #[serde(default)]
    pub key_field: Option<String>,
}

impl Config {
    /// Semantic checks.
    pub fn validate(&self) -> Vec<(String, String)> {
        if self.events_per_sec > 0.0 && self.events_per_sec.is_finite() {
            vec![]
        } else {
            vec![("events_per_sec".into(), "must be a positive number".into())]
        }
    }

    /// The running transform.
    pub fn build(&self) -> Throttle {
        Throttle { cfg: self.clone(), buckets: HashMap::new() }
    }
}

/// The running `throttle` transform.
pub struct Throttle {
    cfg: Config,
    buckets: HashMap<String, (f64, Instant)>,
}

impl Throttle {
    /// Whether an event with `key` may pass at `now`.
    fn admit(&mut self, key: String, now: Instant) -> bool {
        if self.buckets.len() >= MAX_KEYS && !self.buckets.contains_key(&key) {
            self.buckets.clear();
        }
        let rate = self.cfg.events_per_sec;
        let (tokens, last) = self.buckets.entry(key).or_insert((rate, now));
        *tokens = (*tokens + now.saturating_duration_since(*last).as_secs_f64() * rate).min(rate);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

impl super::Transform for Throttle {
    fn apply(&mut self, events: &mut Vec<LogEvent>, metrics: &ComponentMetrics) {
        let before = events.len();
        let now = Instant::now();
        let field = self.cfg.key_field.clone();
        events.retain(|e| {
            let key = field.as_deref().and_then(|f| field_text(e, f)).unwrap_or_default();
            self.admit(key, now)
        });
        let dropped = (before - events.len()) as u64;
        if dropped > 0 {
            metrics.dropped("throttled", dropped);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Transform, event};
    use super::*;
    use std::time::Duration;

    #[test]
    fn limits_each_key_and_refills_over_time() {
        let cfg: Config = toml::from_str("inputs = ['a']\nevents_per_sec = 5\nkey_field = 'service'").unwrap();
        let mut t = cfg.build();
        let mut evs: Vec<LogEvent> =
            (0..20).map(|i| event(&format!(r#"{{"service":"{}"}}"#, if i % 2 == 0 { "a" } else { "b" }))).collect();
        t.apply(&mut evs, &crate::telemetry::Telemetry::new().component("throttle", "t"));
        assert_eq!(evs.iter().filter(|e| e.service == "a").count(), 5);
        assert_eq!(evs.iter().filter(|e| e.service == "b").count(), 5);
        // time you control: a second later the bucket is full again
        let start = Instant::now();
        let mut t = cfg.build();
        assert_eq!((0..10).filter(|_| t.admit("k".into(), start)).count(), 5);
        assert!(!t.admit("k".into(), start + Duration::from_millis(100)));
        assert_eq!((0..10).filter(|_| t.admit("k".into(), start + Duration::from_secs(1))).count(), 5);
    }
}

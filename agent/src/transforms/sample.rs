//! `sample`: keeps 1 event in `rate`, but never drops `warn`, `error` or `fatal` events unless
//! `sample_all_levels = true`. Dropped events are counted with reason `sampled`.

use serde::{Deserialize, Serialize};
use wire::LogEvent;

use crate::telemetry::ComponentMetrics;

/// `type = "sample"`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Components feeding this transform.
    pub inputs: Vec<String>,
    /// Keep one event in this many (1 keeps everything).
    pub rate: u64,
    /// Sample warnings and errors too (default: always keep them).
    #[serde(default)]
    pub sample_all_levels: bool,
}

impl Config {
    /// Semantic checks.
    pub fn validate(&self) -> Vec<(String, String)> {
        if self.rate == 0 { vec![("rate".into(), "must be at least 1".into())] } else { vec![] }
    }

    /// The running transform.
    pub fn build(&self) -> Sample {
        Sample { rate: self.rate.max(1), all: self.sample_all_levels, seen: 0 }
    }
}

/// The running `sample` transform: deterministic, keeps the 1st, (rate+1)th, … event.
pub struct Sample {
    rate: u64,
    all: bool,
    seen: u64,
}

/// `warn` and above.
pub fn is_warn_or_above(level: &str) -> bool {
    matches!(level, "warn" | "error" | "fatal")
}

impl super::Transform for Sample {
    fn apply(&mut self, events: &mut Vec<LogEvent>, metrics: &ComponentMetrics) {
        let before = events.len();
        events.retain(|e| {
            if !self.all && is_warn_or_above(&e.level) {
                return true;
            }
            let keep = self.seen.is_multiple_of(self.rate);
            self.seen = self.seen.wrapping_add(1);
            keep
        });
        let dropped = (before - events.len()) as u64;
        if dropped > 0 {
            metrics.dropped("sampled", dropped);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Transform, event};
    use super::*;

    #[test]
    fn keeps_one_in_n_and_every_warning() {
        let cfg: Config = toml::from_str("inputs = ['a']\nrate = 10").unwrap();
        let mut t = cfg.build();
        let mut evs: Vec<LogEvent> =
            (0..100).map(|i| event(&format!(r#"{{"level":"{}","msg":"{i}"}}"#, if i % 25 == 0 { "error" } else { "info" }))).collect();
        t.apply(&mut evs, &crate::telemetry::Telemetry::new().component("sample", "s"));
        let errors = evs.iter().filter(|e| e.level == "error").count();
        assert_eq!(errors, 4);
        assert_eq!(evs.len() - errors, 10); // 96 info lines, 1 in 10 kept
        let cfg: Config = toml::from_str("inputs = ['a']\nrate = 2\nsample_all_levels = true").unwrap();
        let mut evs: Vec<LogEvent> = (0..10).map(|_| event(r#"{"level":"error"}"#)).collect();
        cfg.build().apply(&mut evs, &crate::telemetry::Telemetry::new().component("sample", "s"));
        assert_eq!(evs.len(), 5);
    }
}

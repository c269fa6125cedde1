//! `filter`: keeps or drops events by field conditions.
//!
//! ```toml
//! [transforms.no_debug]
//! type = "filter"
//! inputs = ["app"]
//! action = "drop"                      # drop the events that match (default: keep them)
//! conditions = [{ field = "level", equals = ["debug", "trace"] },
//!               { field = "http.path", matches = "^/health" }]
//! match = "any"                        # any condition (default: all of them)
//! ```
//! Dropped events are counted as `lookout_agent_events_dropped_total{reason="filtered"}`.

use serde::{Deserialize, Serialize};
use wire::LogEvent;

use super::field_text;
use crate::metric::MetricSample;
use crate::telemetry::ComponentMetrics;

/// Keep or drop what matches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Keep matching events, drop the rest.
    #[default]
    Keep,
    /// Drop matching events, keep the rest.
    Drop,
}

/// How conditions combine.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Match {
    /// Every condition holds.
    #[default]
    All,
    /// At least one condition holds.
    Any,
}

/// One test on one field. Exactly one of `equals`, `matches`, `exists` is given.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// `message`, `level`, `host`, `service`, `source` or a dotted JSON path (`http.status`).
    /// On metric samples: a label name, `__name__` for the metric name.
    pub field: String,
    /// The field's text equals one of these.
    #[serde(default)]
    pub equals: Option<Vec<String>>,
    /// The field's text matches this regex.
    #[serde(default)]
    pub matches: Option<String>,
    /// The field is present (true) or absent (false).
    #[serde(default)]
    pub exists: Option<bool>,
}

/// `type = "filter"`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Components feeding this transform.
    pub inputs: Vec<String>,
    /// What to do with matching events.
    #[serde(default)]
    pub action: Action,
    /// The conditions.
    pub conditions: Vec<Condition>,
    /// `all` (default) or `any`.
    #[serde(default, rename = "match")]
    pub combine: Match,
}

impl Config {
    /// Semantic checks.
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if self.conditions.is_empty() {
            out.push(("conditions".into(), "at least one condition is required".into()));
        }
        for c in &self.conditions {
            let given = c.equals.is_some() as u8 + c.matches.is_some() as u8 + c.exists.is_some() as u8;
            if given != 1 {
                out.push(("conditions".into(), format!("condition on {:?} needs exactly one of equals, matches, exists", c.field)));
            }
            if let Some(re) = &c.matches
                && let Err(e) = regex::Regex::new(re)
            {
                out.push(("conditions".into(), format!("invalid regex {re:?}: {e}")));
            }
        }
        out
    }

    /// The running transform (regexes compiled once).
    pub fn build(&self) -> Filter {
        let tests = self
            .conditions
            .iter()
            .map(|c| {
                let test = if let Some(v) = &c.equals {
                    Test::Equals(v.clone())
                } else if let Some(re) = &c.matches {
                    Test::Matches(regex::Regex::new(re).unwrap_or_else(|_| regex::Regex::new("$^").expect("never-matching regex")))
                } else {
                    Test::Exists(c.exists.unwrap_or(true))
                };
                (c.field.clone(), test)
            })
            .collect();
        Filter { action: self.action, combine: self.combine, tests }
    }
}

enum Test {
    Equals(Vec<String>),
    Matches(regex::Regex),
    Exists(bool),
}

/// The running `filter` transform.
pub struct Filter {
    action: Action,
    combine: Match,
    tests: Vec<(String, Test)>,
}

impl Filter {
    /// Whether the filter keeps `e`.
    pub fn keeps(&self, e: &LogEvent) -> bool {
        self.matches(e) == (self.action == Action::Keep)
    }

    /// Whether the filter keeps metric sample `s` (fields are labels).
    pub fn keeps_sample(&self, s: &MetricSample) -> bool {
        self.matches_with(|f| s.label(f).map(str::to_string)) == (self.action == Action::Keep)
    }

    fn matches(&self, e: &LogEvent) -> bool {
        self.matches_with(|f| field_text(e, f))
    }

    fn matches_with(&self, get: impl Fn(&str) -> Option<String>) -> bool {
        let one = |(field, test): &(String, Test)| {
            let v = get(field);
            match test {
                Test::Equals(options) => v.is_some_and(|v| options.contains(&v)),
                Test::Matches(re) => v.is_some_and(|v| re.is_match(&v)),
                Test::Exists(want) => v.is_some_and(|v| !v.is_empty()) == *want,
            }
        };
        match self.combine {
            Match::All => self.tests.iter().all(one),
            Match::Any => self.tests.iter().any(one),
        }
    }
}

impl super::Transform for Filter {
    fn apply(&mut self, events: &mut Vec<LogEvent>, metrics: &ComponentMetrics) {
        let before = events.len();
        events.retain(|e| self.matches(e) == (self.action == Action::Keep));
        let dropped = (before - events.len()) as u64;
        if dropped > 0 {
            metrics.dropped("filtered", dropped);
        }
    }

    fn apply_metrics(&mut self, samples: &mut Vec<MetricSample>, metrics: &ComponentMetrics) {
        let before = samples.len();
        samples.retain(|s| self.keeps_sample(s));
        let dropped = (before - samples.len()) as u64;
        if dropped > 0 {
            metrics.dropped("filtered", dropped);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Transform, event};
    use super::*;

    fn run(cfg: &str, lines: &[&str]) -> Vec<String> {
        let cfg: Config = toml::from_str(&format!("inputs = ['app']\n{cfg}")).unwrap();
        assert!(cfg.validate().is_empty(), "{:?}", cfg.validate());
        let mut evs: Vec<LogEvent> = lines.iter().map(|l| event(l)).collect();
        cfg.build().apply(&mut evs, &crate::telemetry::Telemetry::new().component("filter", "f"));
        evs.into_iter().map(|e| e.message).collect()
    }

    #[test]
    fn keeps_matching_events() {
        let lines = [r#"{"level":"error","msg":"a"}"#, r#"{"level":"info","msg":"b"}"#, r#"{"level":"warn","msg":"c"}"#];
        assert_eq!(run("conditions = [{ field = 'level', equals = ['error', 'warn'] }]", &lines), ["a", "c"]);
    }

    #[test]
    fn drops_matching_events_with_any() {
        let lines = [
            r#"{"msg":"GET /health","http":{"status":200}}"#,
            r#"{"msg":"GET /x","http":{"status":500}}"#,
            r#"{"msg":"debug","level":"debug"}"#,
        ];
        let cfg = "action = 'drop'\nmatch = 'any'\nconditions = [{ field = 'message', matches = 'health' }, { field = 'level', equals = ['debug'] }]";
        assert_eq!(run(cfg, &lines), ["GET /x"]);
        assert_eq!(run("conditions = [{ field = 'http.status', equals = ['500'] }]", &lines), ["GET /x"]);
        assert_eq!(run("conditions = [{ field = 'http', exists = false }]", &lines), ["debug"]);
    }

    #[test]
    fn conditions_on_metric_samples_test_labels() {
        let cfg: Config =
            toml::from_str("inputs = ['a']\naction = 'drop'\nconditions = [{ field = '__name__', matches = '^go_' }]").unwrap();
        let mut f = cfg.build();
        let mut samples = vec![MetricSample::new("go_goroutines", &[], 1, 1.0), MetricSample::new("up", &[("job", "x")], 1, 1.0)];
        f.apply_metrics(&mut samples, &crate::telemetry::Telemetry::new().component("filter", "f"));
        assert_eq!(samples.len(), 1);
        assert_eq!(samples[0].name, "up");
    }

    #[test]
    fn a_condition_needs_exactly_one_test() {
        let cfg: Config = toml::from_str("inputs = ['a']\nconditions = [{ field = 'level' }]").unwrap();
        assert!(!cfg.validate().is_empty());
        let cfg: Config = toml::from_str("inputs = ['a']\nconditions = [{ field = 'level', matches = '(' }]").unwrap();
        assert!(cfg.validate()[0].1.contains("invalid regex"));
    }
}

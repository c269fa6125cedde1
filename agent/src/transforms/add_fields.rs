//! `add_fields`: stamps static fields on every event (environment, team, static labels).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use wire::LogEvent;

use crate::telemetry::ComponentMetrics;

/// `type = "add_fields"`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Components feeding this transform.
    pub inputs: Vec<String>,
    /// Fields to add, e.g. `fields = { environment = "prod", team = "payments" }`. `host` and
    /// `service` set the event's host and service. On metric samples each field is a label
    /// (its value as text); names that are not valid label names are skipped.
    pub fields: BTreeMap<String, serde_json::Value>,
    /// Replace a field the event already has (default: keep the event's own value).
    #[serde(default)]
    pub overwrite: bool,
}

impl Config {
    /// Semantic checks.
    pub fn validate(&self) -> Vec<(String, String)> {
        if self.fields.is_empty() { vec![("fields".into(), "at least one field is required".into())] } else { vec![] }
    }

    /// The running transform.
    pub fn build(&self) -> AddFields {
        AddFields { cfg: self.clone() }
    }
}

/// The running `add_fields` transform.
pub struct AddFields {
    cfg: Config,
}

impl super::Transform for AddFields {
    fn apply(&mut self, events: &mut Vec<LogEvent>, _metrics: &ComponentMetrics) {
        for e in events.iter_mut() {
            for (k, v) in &self.cfg.fields {
                let text = || v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string());
                match k.as_str() {
                    "host" if self.cfg.overwrite || e.host.is_empty() => e.host = text(),
                    "service" if self.cfg.overwrite || e.service.is_empty() => e.service = text(),
                    "host" | "service" => {}
                    _ if self.cfg.overwrite || !e.fields.contains_key(k) => {
                        e.fields.insert(k.clone(), v.clone());
                    }
                    _ => {}
                }
            }
        }
    }

    fn apply_metrics(&mut self, samples: &mut Vec<crate::metric::MetricSample>, _metrics: &ComponentMetrics) {
        for s in samples.iter_mut() {
            for (k, v) in &self.cfg.fields {
                if !crate::metric::valid_label_name(k) || k.starts_with("__") {
                    continue;
                }
                if self.cfg.overwrite || !s.labels.contains_key(k) {
                    let text = v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string());
                    s.labels.insert(k.clone(), text);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Transform, event};
    use super::*;

    #[test]
    fn adds_fields_without_overwriting_by_default() {
        let cfg: Config = toml::from_str("inputs = ['app']\nfields = { env = 'prod', team = 'pay', service = 'x' }").unwrap();
        let mut t = cfg.build();
        let mut evs = vec![event(r#"{"message":"m","team":"own","service":"api"}"#)];
        t.apply(&mut evs, &crate::telemetry::Telemetry::new().component("add_fields", "t"));
        assert_eq!(evs[0].fields["env"], "prod");
        assert_eq!(evs[0].fields["team"], "own");
        assert_eq!(evs[0].service, "api");
        let mut samples = vec![crate::metric::MetricSample::new("up", &[("team", "own")], 1, 1.0)];
        t.apply_metrics(&mut samples, &crate::telemetry::Telemetry::new().component("add_fields", "t"));
        assert_eq!(samples[0].labels["env"], "prod");
        assert_eq!(samples[0].labels["team"], "own");
    }
}

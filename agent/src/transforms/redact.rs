//! `redact`: masks secrets and personal data in the message and string fields.
//!
//! Built-ins: `email` (addresses), `bearer` (`Bearer <token>` and `Authorization: …` values),
//! `card` (13–19 digit card numbers that pass the Luhn check, with spaces or dashes). Plus any
//! regexes in `patterns`. Each match is replaced by `replacement`; redactions are counted.

use serde::{Deserialize, Serialize};
use wire::LogEvent;

use crate::telemetry::ComponentMetrics;

/// `type = "redact"`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Components feeding this transform.
    pub inputs: Vec<String>,
    /// Built-in detectors: `email`, `bearer`, `card`. Default: all three.
    #[serde(default = "default_builtins")]
    pub builtins: Vec<String>,
    /// Extra regexes whose matches are masked.
    #[serde(default)]
    pub patterns: Vec<String>,
    /// Text that replaces each match.
    #[serde(default = "default_replacement")]
    pub replacement: String,
}

fn default_builtins() -> Vec<String> {
    vec!["email".into(), "bearer".into(), "card".into()]
}
fn default_replacement() -> String {
    "[REDACTED]".into()
}

const EMAIL: &str = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}";
const BEARER: &str = r"(?i)\b(?:bearer|token)\s+[A-Za-z0-9\-._~+/]+=*";
const CARD: &str = r"\b\d(?:[ -]?\d){12,18}\b";

impl Config {
    /// Semantic checks.
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for b in &self.builtins {
            if !matches!(b.as_str(), "email" | "bearer" | "card") {
                out.push(("builtins".into(), format!("unknown built-in {b:?}; known: email, bearer, card")));
            }
        }
        for p in &self.patterns {
            if let Err(e) = regex::Regex::new(p) {
                out.push(("patterns".into(), format!("invalid regex {p:?}: {e}")));
            }
        }
        out
    }

    /// The running transform.
    pub fn build(&self) -> Redact {
        let on = |name: &str| self.builtins.iter().any(|b| b == name);
        let mut plain = Vec::new();
        if on("email") {
            plain.push(regex::Regex::new(EMAIL).expect("email regex"));
        }
        if on("bearer") {
            plain.push(regex::Regex::new(BEARER).expect("bearer regex"));
        }
        let card = on("card").then(|| regex::Regex::new(CARD).expect("card regex"));
        plain.extend(self.patterns.iter().filter_map(|p| regex::Regex::new(p).ok()));
        Redact { plain, card, replacement: self.replacement.clone() }
    }
}

/// The running `redact` transform.
pub struct Redact {
    plain: Vec<regex::Regex>,
    card: Option<regex::Regex>,
    replacement: String,
}

fn luhn(digits: &str) -> bool {
    let ds: Vec<u32> = digits.chars().filter_map(|c| c.to_digit(10)).collect();
    let sum: u32 = ds.iter().rev().enumerate().map(|(i, d)| if i % 2 == 1 { if d * 2 > 9 { d * 2 - 9 } else { d * 2 } } else { *d }).sum();
    (13..=19).contains(&ds.len()) && sum.is_multiple_of(10)
}

impl Redact {
    /// Masks one text; returns how many matches were replaced.
    fn text(&self, s: &mut String) -> u64 {
        let mut n = 0;
        for re in &self.plain {
            if re.is_match(s) {
                n += re.find_iter(s).count() as u64;
                *s = re.replace_all(s, self.replacement.as_str()).into_owned();
            }
        }
        if let Some(re) = &self.card
            && re.is_match(s)
        {
            let mut hits = 0;
            let out = re.replace_all(s, |c: &regex::Captures| {
                if luhn(&c[0]) {
                    hits += 1;
                    self.replacement.clone()
                } else {
                    c[0].to_string()
                }
            });
            if hits > 0 {
                *s = out.into_owned();
                n += hits;
            }
        }
        n
    }

    fn value(&self, v: &mut serde_json::Value) -> u64 {
        match v {
            serde_json::Value::String(s) => self.text(s),
            serde_json::Value::Array(a) => a.iter_mut().map(|v| self.value(v)).sum(),
            serde_json::Value::Object(o) => o.values_mut().map(|v| self.value(v)).sum(),
            _ => 0,
        }
    }
}

impl super::Transform for Redact {
    fn apply(&mut self, events: &mut Vec<LogEvent>, metrics: &ComponentMetrics) {
        let mut n = 0;
        for e in events.iter_mut() {
            n += self.text(&mut e.message);
            n += e.fields.values_mut().map(|v| self.value(v)).sum::<u64>();
        }
        if n > 0 {
            metrics.redacted(n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Transform, event};
    use super::*;

    fn redact(cfg: &str, line: &str) -> LogEvent {
        let cfg: Config = toml::from_str(&format!("inputs = ['app']\n{cfg}")).unwrap();
        assert!(cfg.validate().is_empty(), "{:?}", cfg.validate());
        let mut evs = vec![event(line)];
        cfg.build().apply(&mut evs, &crate::telemetry::Telemetry::new().component("redact", "r"));
        evs.pop().unwrap()
    }

    #[test]
    fn masks_builtins_in_message_and_nested_fields() {
        let e = redact(
            "",
            r#"{"msg":"login by ann@example.com with card 4111 1111 1111 1111","headers":{"auth":"Bearer abc.DEF-123"},"order":"1234567890123"}"#,
        );
        assert_eq!(e.message, "login by [REDACTED] with card [REDACTED]");
        assert_eq!(e.fields["headers"]["auth"], "[REDACTED]");
        // not a valid card number (Luhn): an order id stays
        assert_eq!(e.fields["order"], "1234567890123");
    }

    #[test]
    fn masks_custom_patterns() {
        let e = redact("builtins = []\npatterns = ['password=\\S+']\nreplacement = '***'", r#"{"msg":"user=a password=hunter2 ok"}"#);
        assert_eq!(e.message, "user=a *** ok");
    }

    #[test]
    fn rejects_unknown_builtins_and_bad_regexes() {
        let cfg: Config = toml::from_str("inputs = ['a']\nbuiltins = ['ssn']\npatterns = ['(']").unwrap();
        assert_eq!(cfg.validate().len(), 2);
    }
}

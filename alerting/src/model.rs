//! The alert as it crosses from rule evaluation (or a Prometheus posting to `/api/v2/alerts`)
//! into dispatch. Shape follows Alertmanager's `postableAlert`, so both producers use one type.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Label set, sorted by name (Alertmanager fingerprints and group keys rely on a stable order).
pub type LabelSet = BTreeMap<String, String>;

/// One alert as sent by a rule evaluator: Alertmanager v2 `postableAlert`.
///
/// `ends_at` in the future (or absent) means firing; in the past means resolved. A rule evaluator
/// re-sends firing alerts every evaluation with `ends_at = now + 4 × max(eval interval, resend
/// delay)`, as Prometheus does, so an evaluator that dies lets its alerts resolve on their own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostableAlert {
    /// Identifying labels (`alertname` among them).
    pub labels: LabelSet,
    /// Non-identifying annotations (`summary`, `description`, `runbook_url`, ...).
    #[serde(default)]
    pub annotations: LabelSet,
    /// RFC 3339; when absent the receiver uses the time it was received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<String>,
    /// RFC 3339; when absent the receiver applies its resolve timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<String>,
    /// Link back to the expression that produced the alert.
    #[serde(default, rename = "generatorURL", skip_serializing_if = "Option::is_none")]
    pub generator_url: Option<String>,
}

/// Where rule evaluation hands its alerts: implemented by the dispatcher in-process, or by an
/// HTTP client posting to an external Alertmanager.
pub trait AlertSink: Send + Sync {
    /// Deliver a batch of alerts; must not block on network I/O for long (queue and return).
    fn send(&self, alerts: Vec<PostableAlert>);
}

/// Alertmanager's fingerprint of a label set: FNV-1a 64 over `name \xff value \xff` pairs in
/// sorted order, rendered as 16 hex digits. Stable across restarts and identical to what
/// Alertmanager shows, so links and `amtool` output agree.
pub fn fingerprint(labels: &LabelSet) -> String {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = OFFSET;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(PRIME);
        }
    };
    for (k, v) in labels {
        feed(k.as_bytes());
        feed(&[0xff]);
        feed(v.as_bytes());
        feed(&[0xff]);
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_is_order_independent_and_distinguishes_values() {
        let a: LabelSet = [("alertname", "Down"), ("job", "api")].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let b: LabelSet = [("job", "api"), ("alertname", "Down")].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let c: LabelSet = [("alertname", "Down"), ("job", "web")].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        assert_eq!(fingerprint(&a), fingerprint(&b));
        assert_ne!(fingerprint(&a), fingerprint(&c));
        assert_eq!(fingerprint(&a).len(), 16);
        // Empty label set hashes to the FNV offset basis.
        assert_eq!(fingerprint(&LabelSet::new()), "cbf29ce484222325");
    }
}

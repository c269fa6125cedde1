//! The metric sample: what metric sources emit and metric sinks ship, next to log events.
//!
//! A sample is one value of one series at one time, in Prometheus's model: a metric name, a
//! set of labels, a millisecond timestamp and an `f64`. Histograms and summaries travel as
//! their Prometheus series (`_bucket{le}`, `_sum`, `_count`, `{quantile}`), so every sink that
//! speaks remote_write or PromQL sees exactly what a Prometheus server would have scraped.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The bit pattern Prometheus writes to mark a series stale (a NaN that no computation yields).
pub const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

/// A staleness marker value.
pub fn stale_nan() -> f64 {
    f64::from_bits(STALE_NAN)
}

/// Whether `v` is a staleness marker (bit-exact: an ordinary NaN is not).
pub fn is_stale(v: f64) -> bool {
    v.to_bits() == STALE_NAN
}

/// One sample of one series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricSample {
    /// Metric name (`__name__`).
    pub name: String,
    /// Every other label; empty values are not kept (Prometheus treats them as absent).
    pub labels: BTreeMap<String, String>,
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
    /// The value; staleness markers are kept bit-exact (also through the disk buffer).
    #[serde(with = "f64_bits")]
    pub value: f64,
}

impl MetricSample {
    /// A sample with labels given as pairs.
    pub fn new(name: impl Into<String>, labels: &[(&str, &str)], timestamp_ms: i64, value: f64) -> MetricSample {
        MetricSample {
            name: name.into(),
            labels: labels.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            timestamp_ms,
            value,
        }
    }

    /// The value of label `name`; `__name__` is the metric name.
    pub fn label(&self, name: &str) -> Option<&str> {
        if name == "__name__" { Some(&self.name) } else { self.labels.get(name).map(String::as_str) }
    }

    /// Approximate in-memory size, for batching by bytes.
    pub fn size_hint(&self) -> usize {
        48 + self.name.len() + self.labels.iter().map(|(k, v)| k.len() + v.len() + 16).sum::<usize>()
    }

    /// The series identity: name and labels.
    pub fn series_key(&self) -> (String, Vec<(String, String)>) {
        (self.name.clone(), self.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
    }
}

/// Serializes an `f64` as its bit pattern, so NaN (and the staleness NaN) survive JSON.
mod f64_bits {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(v.to_bits())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(f64::from_bits(u64::deserialize(d)?))
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// How far a tick's wake-up may lag its schedule and still be stamped with the scheduled time.
pub const ALIGN_TOLERANCE_MS: i64 = 25;

/// Timestamps for samples taken on a fixed schedule, as Prometheus's scrape loop stamps them:
/// the scheduled time of each tick instead of the moment the task woke, while the two differ by
/// at most [`ALIGN_TOLERANCE_MS`]. Evenly spaced timestamps cost the aggregator's blocks almost
/// nothing (chunk encoding `ENC_SHAPED` stores them as start and step), where a wake-up a few
/// milliseconds late would make every delta differ. Past the tolerance (a stall, a step of the
/// wall clock) the clock re-anchors on the wall time.
#[derive(Debug, Default)]
pub struct TickClock {
    anchor: Option<(tokio::time::Instant, i64)>,
}

impl TickClock {
    /// The timestamp for the tick scheduled at `scheduled`, read while the wall clock says
    /// `now_ms`.
    pub fn stamp(&mut self, scheduled: tokio::time::Instant, now_ms: i64) -> i64 {
        if let Some((at, wall)) = self.anchor {
            let since = scheduled.checked_duration_since(at).map(|d| d.as_millis() as i64);
            if let Some(ts) = since.map(|d| wall + d)
                && (now_ms - ts).abs() <= ALIGN_TOLERANCE_MS
            {
                return ts;
            }
        }
        self.anchor = Some((scheduled, now_ms));
        now_ms
    }
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn valid_label_name(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_') && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn valid_metric_name(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_' || c == b':')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b':')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_clock_stamps_the_schedule_within_the_tolerance_and_reanchors_past_it() {
        let t0 = tokio::time::Instant::now();
        let at = |s: u64| t0 + std::time::Duration::from_secs(s);
        let mut c = TickClock::default();
        let wall = 1_700_000_000_123i64;
        assert_eq!(c.stamp(at(0), wall), wall);
        // Wake-ups 0..25 ms late (or a clock a little behind) keep the 15 s grid.
        for (i, late) in [3i64, 0, 25, -7, 11].into_iter().enumerate() {
            let k = i as i64 + 1;
            assert_eq!(c.stamp(at(15 * k as u64), wall + 15_000 * k + late), wall + 15_000 * k);
        }
        // A stall of 2 s: stamped with the real time, and the grid moves there.
        let late = wall + 90_000 + 2_000;
        assert_eq!(c.stamp(at(90), late), late);
        assert_eq!(c.stamp(at(105), late + 15_004), late + 15_000);
        // The wall clock stepping back re-anchors too.
        assert_eq!(c.stamp(at(120), wall), wall);
    }

    #[test]
    fn staleness_marker_survives_json() {
        let s = MetricSample::new("up", &[("job", "a"), ("empty", "")], 5, stale_nan());
        assert!(!s.labels.contains_key("empty"));
        let back: MetricSample = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert!(is_stale(back.value));
        assert!(!is_stale(f64::NAN));
        assert_eq!(back.label("__name__"), Some("up"));
    }
}

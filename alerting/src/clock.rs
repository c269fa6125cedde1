//! Time as the dispatcher sees it: milliseconds since the Unix epoch from an injectable clock,
//! so grouping, repeat and escalation timing is tested on a timeline the test controls.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Milliseconds since the Unix epoch.
pub type Millis = i64;

/// A source of the current time.
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> Millis;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Millis {
        (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as Millis
    }
}

/// A clock moved by hand (tests).
#[derive(Debug, Clone, Default)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// Starts at `t`.
    pub fn new(t: Millis) -> ManualClock {
        ManualClock(Arc::new(AtomicI64::new(t)))
    }
    /// Moves forward.
    pub fn advance(&self, ms: Millis) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Millis {
        self.0.load(Ordering::SeqCst)
    }
}

/// RFC 3339 with millisecond precision, UTC.
pub fn format(ms: Millis) -> String {
    let t = OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let t = t.replace_nanosecond((ms.rem_euclid(1000) as u32) * 1_000_000).unwrap_or(t);
    t.format(&Rfc3339).unwrap_or_default()
}

/// Parses RFC 3339 to milliseconds.
pub fn parse(s: &str) -> Result<Millis, String> {
    let t = OffsetDateTime::parse(s, &Rfc3339).map_err(|e| format!("invalid time {s:?}: {e} (expected RFC 3339)"))?;
    Ok((t.unix_timestamp_nanos() / 1_000_000) as Millis)
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trip() {
        let ms = super::parse("2026-01-02T03:04:05.678Z").unwrap();
        assert_eq!(super::format(ms), "2026-01-02T03:04:05.678Z");
        assert_eq!(super::parse("2026-01-02T04:04:05.678+01:00").unwrap(), ms);
    }
}

//! Request rate limits per principal (token bucket) and sign-in throttling per account and
//! per address (failures in a sliding window). Both live in memory: a restart forgets them,
//! which errs on the side of letting people back in.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// A token bucket per key: `per_minute` requests, refilled continuously, bursts up to
/// `per_minute`. 0 turns a class off.
pub struct RateLimiter {
    per_minute: u32,
    ingest_per_minute: u32,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    /// A limiter; `ingest_per_minute` applies to ingest-role tokens.
    pub fn new(per_minute: u32, ingest_per_minute: u32) -> RateLimiter {
        RateLimiter { per_minute, ingest_per_minute, buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes one request from `key`'s bucket; `Err(wait)` says how long until one is free.
    pub fn check(&self, key: &str, ingest: bool, now: Instant) -> Result<(), Duration> {
        let limit = if ingest { self.ingest_per_minute } else { self.per_minute };
        if limit == 0 {
            return Ok(());
        }
        let cap = f64::from(limit);
        let per_sec = cap / 60.0;
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 100_000 {
            // Forget idle full buckets rather than grow without bound.
            map.retain(|_, b| now.duration_since(b.at).as_secs_f64() * per_sec + b.tokens < cap);
        }
        let b = map.entry(key.to_string()).or_insert(Bucket { tokens: cap, at: now });
        b.tokens = (b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * per_sec).min(cap);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - b.tokens) / per_sec))
        }
    }
}

/// Failed sign-ins per account and per client address within a window.
pub struct LoginThrottle {
    per_account: usize,
    per_address: usize,
    window: Duration,
    failures: Mutex<HashMap<String, Vec<Instant>>>,
}

impl LoginThrottle {
    /// A throttle allowing `per_account` and `per_address` failures per `window_secs`.
    pub fn new(per_account: u32, per_address: u32, window_secs: u64) -> LoginThrottle {
        LoginThrottle {
            per_account: per_account as usize,
            per_address: per_address as usize,
            window: Duration::from_secs(window_secs),
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn wait(&self, map: &mut HashMap<String, Vec<Instant>>, key: &str, max: usize, now: Instant) -> Option<Duration> {
        let v = map.get_mut(key)?;
        v.retain(|t| now.duration_since(*t) < self.window);
        if max > 0 && v.len() >= max {
            v.first().map(|first| self.window.saturating_sub(now.duration_since(*first)).max(Duration::from_secs(1)))
        } else {
            None
        }
    }

    /// `Err(wait)` when the account or the address has failed too often recently.
    pub fn check(&self, account: &str, addr: &str, now: Instant) -> Result<(), Duration> {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let a = self.wait(&mut map, &format!("u:{account}"), self.per_account, now);
        let b = self.wait(&mut map, &format!("a:{addr}"), self.per_address, now);
        match a.max(b) {
            Some(w) => Err(w),
            None => Ok(()),
        }
    }

    /// Records a failure.
    pub fn failed(&self, account: &str, addr: &str, now: Instant) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 100_000 {
            map.retain(|_, v| v.last().is_some_and(|t| now.duration_since(*t) < self.window));
        }
        map.entry(format!("u:{account}")).or_default().push(now);
        map.entry(format!("a:{addr}")).or_default().push(now);
    }

    /// A success clears the account's failures (not the address's).
    pub fn succeeded(&self, account: &str) {
        self.failures.lock().unwrap_or_else(|p| p.into_inner()).remove(&format!("u:{account}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_the_limit_then_refills() {
        let l = RateLimiter::new(60, 0);
        let t0 = Instant::now();
        for _ in 0..60 {
            assert!(l.check("k", false, t0).is_ok());
        }
        let wait = l.check("k", false, t0).unwrap_err();
        assert!(wait > Duration::from_millis(900) && wait <= Duration::from_secs(1), "{wait:?}");
        assert!(l.check("other", false, t0).is_ok(), "keys are separate");
        assert!(l.check("k", false, t0 + Duration::from_secs(1)).is_ok(), "one request per second refills");
        assert!(l.check("k", true, t0).is_ok(), "ingest limit 0 is off");
    }

    #[test]
    fn login_throttle_counts_failures_per_account_and_address() {
        let t = LoginThrottle::new(3, 5, 60);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(t.check("alice", "1.2.3.4", t0).is_ok());
            t.failed("alice", "1.2.3.4", t0);
        }
        assert!(t.check("alice", "5.6.7.8", t0).is_err(), "the account is locked from any address");
        assert!(t.check("bob", "5.6.7.8", t0).is_ok());
        t.failed("bob", "1.2.3.4", t0);
        t.failed("carol", "1.2.3.4", t0);
        assert!(t.check("dave", "1.2.3.4", t0).is_err(), "the address is locked for any account");
        assert!(t.check("alice", "5.6.7.8", t0 + Duration::from_secs(61)).is_ok(), "the window passes");
    }
}

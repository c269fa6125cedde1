//! Escalation: Lookout's addition to Alertmanager. A route with `escalation_policy` pages the
//! policy's steps in order — notify these receivers, wait — until every firing alert of the
//! group is acknowledged or resolved, optionally running the steps again (`repeat`).
//!
//! Progress is per group and lives in SQLite, so a restart resumes the wait rather than
//! starting over. Acknowledging all firing alerts of a group pauses it; an unacknowledge (or a
//! new firing alert) resumes it with the current step's wait counted from that moment.

use serde::{Deserialize, Serialize};

use crate::clock::Millis;
use crate::config::EscalationPolicy;

/// Where a group is in its policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// Policy name.
    pub policy: String,
    /// Index of the step reached (its receivers have been paged).
    pub step: usize,
    /// How many times the steps were run again.
    pub cycle: u32,
    /// When the next step is due (`None`: finished).
    pub next_at: Option<Millis>,
}

impl Progress {
    /// Progress of a group that just started firing: step 0 is paged by the flush itself.
    pub fn start(policy: &EscalationPolicy, now: Millis) -> Progress {
        Progress { policy: policy.name.clone(), step: 0, cycle: 0, next_at: Some(now + policy.steps[0].wait.as_millis() as Millis) }
    }

    /// Moves to the next step when due; returns the step whose receivers must be paged now.
    pub fn advance(&mut self, policy: &EscalationPolicy, now: Millis) -> Option<usize> {
        let due = self.next_at?;
        if now < due || policy.steps.is_empty() {
            return None;
        }
        let mut next = self.step + 1;
        if next >= policy.steps.len() {
            if self.cycle >= policy.repeat {
                self.next_at = None;
                return None;
            }
            self.cycle += 1;
            next = 0;
        }
        self.step = next;
        self.next_at = Some(now + policy.steps[next].wait.as_millis() as Millis);
        Some(next)
    }

    /// Receivers reached so far (they all hear about changes of the group).
    pub fn reached<'a>(&self, policy: &'a EscalationPolicy) -> impl Iterator<Item = &'a String> {
        let upto = if self.cycle > 0 { policy.steps.len() } else { (self.step + 1).min(policy.steps.len()) };
        policy.steps[..upto].iter().flat_map(|s| s.receivers.iter())
    }

    /// After an unacknowledge: the current step's wait starts again from now.
    pub fn resume(&mut self, policy: &EscalationPolicy, now: Millis) {
        if let Some(s) = policy.steps.get(self.step) {
            self.next_at = Some(now + s.wait.as_millis() as Millis);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::EscalationStep;
    use std::time::Duration;

    fn policy(repeat: u32) -> EscalationPolicy {
        EscalationPolicy {
            name: "p".into(),
            steps: vec![
                EscalationStep { receivers: vec!["slack".into()], wait: Duration::from_secs(60) },
                EscalationStep { receivers: vec!["sms".into()], wait: Duration::from_secs(120) },
            ],
            repeat,
        }
    }

    #[test]
    fn steps_follow_waits_then_repeat_then_stop() {
        let p = policy(1);
        let mut g = Progress::start(&p, 0);
        assert_eq!(g.advance(&p, 59_999), None);
        assert_eq!(g.advance(&p, 60_000), Some(1));
        assert_eq!(g.reached(&p).cloned().collect::<Vec<_>>(), vec!["slack", "sms"]);
        assert_eq!(g.advance(&p, 179_999), None);
        assert_eq!(g.advance(&p, 180_000), Some(0), "repeat once");
        assert_eq!(g.advance(&p, 240_000), Some(1));
        assert_eq!(g.advance(&p, 360_000), None, "no more repeats");
        assert_eq!(g.next_at, None);
    }
}

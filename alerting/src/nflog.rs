//! The notification log: what each receiver integration was last told about each group, and
//! when. It is what makes delivery "once": a flush sends only when the group changed, or when
//! `repeat_interval` passed, and a restart reads the log back from SQLite.

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::clock::Millis;

/// Entries older than this are dropped (Alertmanager's default retention).
pub const RETENTION_MS: Millis = 5 * 86_400_000;

/// The last successful notification of one integration about one group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Firing alert fingerprints it contained.
    pub firing: BTreeSet<String>,
    /// Resolved alert fingerprints it contained.
    pub resolved: BTreeSet<String>,
    /// When it was sent.
    pub at: Millis,
}

/// Key of an entry: group key, receiver name and integration index.
pub fn key(group_key: &str, receiver: &str, integration: usize) -> String {
    format!("{group_key}\u{1f}{receiver}\u{1f}{integration}")
}

/// Alertmanager's `DedupStage.needsUpdate`: whether to notify given the last entry.
///
/// `acked` is Lookout's addition: a group whose firing alerts are all acknowledged is not
/// repeated (changes and resolutions are still sent).
pub fn needs_update(
    entry: Option<&Entry>,
    firing: &BTreeSet<String>,
    resolved: &BTreeSet<String>,
    send_resolved: bool,
    repeat_ms: Millis,
    acked: bool,
    now: Millis,
) -> bool {
    let Some(e) = entry else {
        return !firing.is_empty();
    };
    if !firing.is_subset(&e.firing) {
        return true;
    }
    if firing.is_empty() {
        // Everything resolved: tell whoever was told about firing alerts.
        return !e.firing.is_empty();
    }
    if send_resolved && !resolved.is_subset(&e.resolved) {
        return true;
    }
    !acked && e.at + repeat_ms <= now
}

/// The log, in memory (mirrored to the store by the dispatcher).
#[derive(Debug, Default)]
pub struct NfLog {
    /// Entries by [`key`].
    pub entries: HashMap<String, Entry>,
}

impl NfLog {
    /// Drops expired entries; returns their keys.
    pub fn gc(&mut self, now: Millis) -> Vec<String> {
        let old: Vec<String> = self.entries.iter().filter(|(_, e)| e.at + RETENTION_MS < now).map(|(k, _)| k.clone()).collect();
        for k in &old {
            self.entries.remove(k);
        }
        old
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(v: &[&str]) -> BTreeSet<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn dedup_table() {
        let e = Entry { firing: set(&["a", "b"]), resolved: set(&[]), at: 1000 };
        let none = set(&[]);
        // (entry, firing, resolved, send_resolved, now, acked) → expected
        type Case<'a> = (Option<&'a Entry>, BTreeSet<String>, BTreeSet<String>, bool, Millis, bool, bool);
        let cases: Vec<Case> = vec![
            (None, set(&["a"]), none.clone(), false, 0, false, true),
            (None, none.clone(), set(&["a"]), true, 0, false, false),
            (Some(&e), set(&["a", "b"]), none.clone(), false, 1500, false, false),
            (Some(&e), set(&["a", "c"]), none.clone(), false, 1500, false, true),
            (Some(&e), set(&["a"]), set(&["b"]), true, 1500, false, true),
            (Some(&e), set(&["a"]), set(&["b"]), false, 1500, false, false),
            (Some(&e), none.clone(), set(&["a", "b"]), false, 1500, false, true),
            (Some(&e), set(&["a", "b"]), none.clone(), false, 2000, false, true),
            (Some(&e), set(&["a", "b"]), none.clone(), false, 2000, true, false),
        ];
        for (i, (entry, f, r, sr, now, acked, want)) in cases.into_iter().enumerate() {
            assert_eq!(needs_update(entry, &f, &r, sr, 1000, acked, now), want, "case {i}");
        }
    }
}

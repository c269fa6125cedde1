//! Silences: "keep alerts matching these matchers quiet between startsAt and endsAt".
//!
//! A silence is pending before `startsAt`, active until `endsAt`, expired after. Updating a
//! silence that has not expired keeps its id (Alertmanager replaces it when the change would
//! alter history; Lookout keeps one id and records `updatedAt`); expiring sets `endsAt` to now.
//! Expired silences are kept for five days so they stay visible in the API.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::clock::{Millis, format};
use crate::matcher::{MatchType, Matcher};
use crate::model::LabelSet;

/// How long expired silences are kept.
pub const RETENTION_MS: Millis = 5 * 86_400_000;

/// A silence's matcher in the API's shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiMatcher {
    /// Label name.
    pub name: String,
    /// Value or regex.
    pub value: String,
    /// Regex match.
    pub is_regex: bool,
    /// Equality (false: negated). Defaults to true, as in Alertmanager.
    #[serde(default = "yes")]
    pub is_equal: bool,
}

fn yes() -> bool {
    true
}

impl ApiMatcher {
    /// Compiles it.
    pub fn compile(&self) -> Result<Matcher, String> {
        let kind = match (self.is_regex, self.is_equal) {
            (false, true) => MatchType::Equal,
            (false, false) => MatchType::NotEqual,
            (true, true) => MatchType::Regex,
            (true, false) => MatchType::NotRegex,
        };
        Matcher::new(&self.name, kind, &self.value)
    }
}

/// A stored silence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Silence {
    /// Id (UUID).
    pub id: String,
    /// Matchers, all of which must match.
    pub matchers: Vec<ApiMatcher>,
    /// Start.
    pub starts_at: Millis,
    /// End.
    pub ends_at: Millis,
    /// Last change.
    pub updated_at: Millis,
    /// Author.
    pub created_by: String,
    /// Why.
    pub comment: String,
}

/// `pending`, `active` or `expired`.
pub fn state(s: &Silence, now: Millis) -> &'static str {
    if now < s.starts_at {
        "pending"
    } else if now >= s.ends_at {
        "expired"
    } else {
        "active"
    }
}

/// Why a silence change was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SilenceError {
    /// Bad input (400).
    #[error("{0}")]
    Invalid(String),
    /// Unknown id (404).
    #[error("silence {0} not found")]
    NotFound(String),
}

/// All silences with their compiled matchers.
#[derive(Debug, Default)]
pub struct Silences {
    by_id: BTreeMap<String, (Silence, Vec<Matcher>)>,
}

impl Silences {
    /// Loads stored silences (rows whose matchers no longer compile are dropped).
    pub fn from_stored(list: Vec<Silence>) -> Silences {
        let mut s = Silences::default();
        for sil in list {
            if let Ok(m) = sil.matchers.iter().map(ApiMatcher::compile).collect::<Result<Vec<_>, _>>() {
                s.by_id.insert(sil.id.clone(), (sil, m));
            }
        }
        s
    }

    /// Ids of active silences matching `labels`.
    pub fn mutes(&self, labels: &LabelSet, now: Millis) -> Vec<String> {
        self.by_id
            .values()
            .filter(|(s, m)| state(s, now) == "active" && crate::matcher::all_match(m, labels))
            .map(|(s, _)| s.id.clone())
            .collect()
    }

    /// One silence.
    pub fn get(&self, id: &str) -> Option<&Silence> {
        self.by_id.get(id).map(|(s, _)| s)
    }

    /// Every silence.
    pub fn list(&self) -> impl Iterator<Item = &Silence> {
        self.by_id.values().map(|(s, _)| s)
    }

    /// Creates (no id) or updates (id) a silence; returns the stored silence.
    pub fn upsert(&mut self, mut s: Silence, now: Millis) -> Result<Silence, SilenceError> {
        if s.matchers.is_empty() {
            return Err(SilenceError::Invalid("a silence needs at least one matcher".into()));
        }
        let compiled = s.matchers.iter().map(ApiMatcher::compile).collect::<Result<Vec<_>, _>>().map_err(SilenceError::Invalid)?;
        if compiled.iter().all(|m| m.matches_value("")) {
            return Err(SilenceError::Invalid("at least one matcher must not match the empty string (it would silence everything)".into()));
        }
        if s.ends_at <= s.starts_at {
            return Err(SilenceError::Invalid(format!("endsAt {} is not after startsAt {}", format(s.ends_at), format(s.starts_at))));
        }
        if s.ends_at <= now {
            return Err(SilenceError::Invalid(format!("endsAt {} is in the past", format(s.ends_at))));
        }
        if s.id.is_empty() {
            s.id = new_id();
        } else {
            match self.by_id.get(&s.id) {
                None => return Err(SilenceError::NotFound(s.id)),
                Some((old, _)) if state(old, now) == "expired" => s.id = new_id(),
                Some((old, _)) if state(old, now) == "active" && s.starts_at > old.starts_at && s.starts_at > now => {
                    // Moving an active silence into the future: keep it active from now instead.
                    s.starts_at = now;
                }
                Some(_) => {}
            }
        }
        if s.starts_at < now && !self.by_id.contains_key(&s.id) {
            s.starts_at = now;
        }
        s.updated_at = now;
        self.by_id.insert(s.id.clone(), (s.clone(), compiled));
        Ok(s)
    }

    /// Expires a silence now.
    pub fn expire(&mut self, id: &str, now: Millis) -> Result<Silence, SilenceError> {
        let (s, _) = self.by_id.get_mut(id).ok_or_else(|| SilenceError::NotFound(id.to_string()))?;
        match state(s, now) {
            "expired" => return Err(SilenceError::Invalid(format!("silence {id} is already expired"))),
            "pending" => s.starts_at = now,
            _ => {}
        }
        s.ends_at = now;
        s.updated_at = now;
        Ok(s.clone())
    }

    /// Drops silences expired longer than [`RETENTION_MS`]; returns their ids.
    pub fn gc(&mut self, now: Millis) -> Vec<String> {
        let old: Vec<String> = self.by_id.values().filter(|(s, _)| s.ends_at + RETENTION_MS < now).map(|(s, _)| s.id.clone()).collect();
        for id in &old {
            self.by_id.remove(id);
        }
        old
    }
}

/// A random UUID v4.
pub fn new_id() -> String {
    let b: [u8; 16] = rand::random();
    let mut b = b;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(name: &str, value: &str, is_regex: bool, is_equal: bool) -> ApiMatcher {
        ApiMatcher { name: name.into(), value: value.into(), is_regex, is_equal }
    }
    fn sil(matchers: Vec<ApiMatcher>, starts_at: Millis, ends_at: Millis) -> Silence {
        Silence { id: String::new(), matchers, starts_at, ends_at, updated_at: 0, created_by: "me".into(), comment: "c".into() }
    }
    fn ls(pairs: &[(&str, &str)]) -> LabelSet {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn states_follow_the_time_window_and_matchers_decide() {
        let mut s = Silences::default();
        let created = s.upsert(sil(vec![m("job", "api|web", true, true), m("env", "dev", false, false)], 1000, 2000), 500).unwrap();
        let api = ls(&[("job", "api"), ("env", "prod")]);
        assert_eq!(state(&created, 500), "pending");
        assert!(s.mutes(&api, 500).is_empty());
        assert_eq!(s.mutes(&api, 1500), vec![created.id.clone()]);
        assert!(s.mutes(&ls(&[("job", "api"), ("env", "dev")]), 1500).is_empty());
        assert!(s.mutes(&ls(&[("job", "apix")]), 1500).is_empty());
        assert!(s.mutes(&api, 2000).is_empty());
    }

    #[test]
    fn update_keeps_id_expire_ends_now_and_bad_input_is_refused() {
        let mut s = Silences::default();
        let a = s.upsert(sil(vec![m("job", "api", false, true)], 0, 10_000), 100).unwrap();
        assert_eq!(a.starts_at, 100, "a start in the past begins now");
        let mut upd = a.clone();
        upd.ends_at = 20_000;
        assert_eq!(s.upsert(upd, 200).unwrap().id, a.id);
        let e = s.expire(&a.id, 300).unwrap();
        assert_eq!((e.ends_at, state(&e, 300)), (300, "expired"));
        assert!(s.expire(&a.id, 400).is_err());
        assert!(matches!(s.upsert(sil(vec![m("job", ".*", true, true)], 0, 10), 0), Err(SilenceError::Invalid(_))));
        assert!(matches!(s.upsert(sil(vec![m("job", "a", false, true)], 50, 40), 0), Err(SilenceError::Invalid(_))));
        let mut ghost = sil(vec![m("job", "a", false, true)], 0, 100);
        ghost.id = "nope".into();
        assert_eq!(s.upsert(ghost, 0), Err(SilenceError::NotFound("nope".into())));
    }
}

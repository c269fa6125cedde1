//! Inhibition: a firing alert matching a rule's source mutes alerts matching its target when
//! the `equal` labels have the same values in both (a label missing from both counts as equal).
//!
//! An alert that matches both sides of a rule is only muted by a source that does not itself
//! match the target, so such alerts cannot mute each other (Alertmanager's rule). The index of
//! firing sources is rebuilt once per flush or API call, so checking one alert costs one hash
//! lookup per rule rather than a scan of every alert.

use std::collections::HashMap;

use crate::clock::Millis;
use crate::config::InhibitRule;
use crate::dispatch::Alert;
use crate::matcher::all_match;
use crate::model::LabelSet;

/// Firing sources of one rule: equal-label values → (fingerprint, also matches the target).
type SourceIndex = HashMap<Vec<String>, Vec<(String, bool)>>;

/// Firing sources per rule, keyed by the values of the rule's `equal` labels.
pub struct Inhibitor<'a> {
    rules: &'a [InhibitRule],
    /// Per rule: equal-values → (source fingerprint, source also matches target).
    sources: Vec<SourceIndex>,
}

fn key(rule: &InhibitRule, labels: &LabelSet) -> Vec<String> {
    rule.equal.iter().map(|l| labels.get(l).cloned().unwrap_or_default()).collect()
}

impl<'a> Inhibitor<'a> {
    /// Indexes the firing alerts.
    pub fn new<'b>(rules: &'a [InhibitRule], alerts: impl Iterator<Item = &'b Alert> + Clone, now: Millis) -> Inhibitor<'a> {
        let sources = rules
            .iter()
            .map(|r| {
                let mut idx = SourceIndex::new();
                for a in alerts.clone().filter(|a| !a.resolved(now) && all_match(&r.source, &a.labels)) {
                    idx.entry(key(r, &a.labels)).or_default().push((a.fingerprint.clone(), all_match(&r.target, &a.labels)));
                }
                idx
            })
            .collect();
        Inhibitor { rules, sources }
    }

    /// Fingerprints of the alerts that inhibit `alert` (empty: not inhibited).
    pub fn mutes(&self, alert: &Alert) -> Vec<String> {
        let mut out = Vec::new();
        for (r, idx) in self.rules.iter().zip(&self.sources) {
            if !all_match(&r.target, &alert.labels) {
                continue;
            }
            let also_source = all_match(&r.source, &alert.labels);
            if let Some(list) = idx.get(&key(r, &alert.labels)) {
                for (fp, src_matches_target) in list {
                    if *fp != alert.fingerprint && !(also_source && *src_matches_target) && !out.contains(fp) {
                        out.push(fp.clone());
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matcher::parse_matcher;

    fn alert(pairs: &[(&str, &str)], ends_at: Millis) -> Alert {
        let labels: LabelSet = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Alert::new(labels, Default::default(), 0, ends_at, String::new(), 0)
    }

    #[test]
    fn critical_mutes_warning_with_equal_labels_only_while_firing() {
        let rules = vec![InhibitRule {
            source: vec![parse_matcher("severity=critical").unwrap()],
            target: vec![parse_matcher("severity=warning").unwrap()],
            equal: vec!["cluster".into()],
        }];
        let crit = alert(&[("alertname", "Down"), ("severity", "critical"), ("cluster", "a")], 1000);
        let warn_a = alert(&[("alertname", "Slow"), ("severity", "warning"), ("cluster", "a")], 1000);
        let warn_b = alert(&[("alertname", "Slow"), ("severity", "warning"), ("cluster", "b")], 1000);
        let all = [crit.clone(), warn_a.clone(), warn_b.clone()];
        let inh = Inhibitor::new(&rules, all.iter(), 500);
        assert_eq!(inh.mutes(&warn_a), vec![crit.fingerprint.clone()]);
        assert!(inh.mutes(&warn_b).is_empty(), "different cluster");
        assert!(inh.mutes(&crit).is_empty());
        // Once the source resolved it mutes nothing.
        let inh = Inhibitor::new(&rules, all.iter(), 1000);
        assert!(inh.mutes(&warn_a).is_empty());
    }

    #[test]
    fn alerts_matching_both_sides_do_not_mute_each_other() {
        let rules = vec![InhibitRule {
            source: vec![parse_matcher("alertname=~\"A|B\"").unwrap()],
            target: vec![parse_matcher("alertname=~\"A|B\"").unwrap()],
            equal: vec![],
        }];
        let a = alert(&[("alertname", "A")], 1000);
        let b = alert(&[("alertname", "B")], 1000);
        let all = [a.clone(), b.clone()];
        let inh = Inhibitor::new(&rules, all.iter(), 0);
        assert!(inh.mutes(&a).is_empty() && inh.mutes(&b).is_empty());
    }
}

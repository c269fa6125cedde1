//! The inverted label index (postings) shared by the head and the blocks: `name → value →
//! ascending series ids`, and selector matching over it.

use std::collections::{BTreeMap, HashMap};

use promql_parser::label::Matcher;

use super::Labels;

/// Postings lists.
#[derive(Default, Debug, Clone)]
pub struct Postings {
    /// name → value → series ids (ascending).
    pub map: HashMap<String, BTreeMap<String, Vec<u32>>>,
}

impl Postings {
    /// Adds series `id` (ids must be added in ascending order).
    pub fn add(&mut self, id: u32, labels: &Labels) {
        for (n, v) in labels.iter() {
            self.map.entry(n.clone()).or_default().entry(v.clone()).or_default().push(id);
        }
    }

    /// Ids (ascending) of the series among `0..n` matching every matcher; a matcher that matches
    /// "" also matches a missing label. Candidates come from the postings of the matchers that
    /// cannot match "", and are then checked against the full label set.
    pub fn matching<'a>(&self, matchers: &[&Matcher], n: usize, labels_of: impl Fn(u32) -> &'a Labels) -> Vec<u32> {
        let mut candidates: Option<Vec<u32>> = None;
        for m in matchers.iter().filter(|m| !m.is_match("")) {
            let mut ids: Vec<u32> = match self.map.get(&m.name) {
                None => Vec::new(),
                // An equality matcher looks its one value up instead of testing every value.
                Some(values) if matches!(m.op, promql_parser::label::MatchOp::Equal) => values.get(&m.value).cloned().unwrap_or_default(),
                Some(values) => values.iter().filter(|(v, _)| m.is_match(v)).flat_map(|(_, ids)| ids.iter().copied()).collect(),
            };
            ids.sort_unstable();
            ids.dedup();
            candidates = Some(match candidates {
                None => ids,
                Some(prev) => intersect(&prev, &ids),
            });
        }
        let all = || (0..n as u32).collect::<Vec<_>>();
        candidates
            .unwrap_or_else(all)
            .into_iter()
            .filter(|&id| {
                let labels = labels_of(id);
                matchers.iter().all(|m| m.is_match(labels.get(&m.name).unwrap_or("")))
            })
            .collect()
    }
}

fn intersect(a: &[u32], b: &[u32]) -> Vec<u32> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

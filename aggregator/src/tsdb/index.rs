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
            let values = match self.map.get_mut(n) {
                Some(values) => values,
                None => self.map.entry(n.to_string()).or_default(),
            };
            match values.get_mut(v) {
                Some(ids) => ids.push(id),
                None => {
                    values.insert(v.to_string(), vec![id]);
                }
            }
        }
    }

    /// Ids (ascending) of the series among `0..n` matching every matcher; a matcher that matches
    /// "" also matches a missing label. Candidates come from the postings of the matchers that
    /// cannot match "", and are then checked against the full label set.
    pub fn matching<'a>(&self, matchers: &[&Matcher], n: usize, labels_of: impl Fn(u32) -> &'a Labels) -> Vec<u32> {
        matching_with(matchers, n, labels_of, |m, out| self.candidates(m, out))
    }

    /// Appends the ids whose value of `m.name` matches `m`.
    fn candidates(&self, m: &Matcher, out: &mut Vec<u32>) {
        match self.map.get(&m.name) {
            None => {}
            // An equality matcher looks its one value up instead of testing every value.
            Some(values) if matches!(m.op, promql_parser::label::MatchOp::Equal) => {
                out.extend(values.get(&m.value).into_iter().flatten().copied())
            }
            Some(values) => out.extend(values.iter().filter(|(v, _)| m.is_match(v)).flat_map(|(_, ids)| ids.iter().copied())),
        }
    }

    /// The same postings in flat arrays.
    pub fn freeze(&self) -> FrozenPostings {
        let mut b = FrozenBuilder::default();
        for (name, values) in &self.map {
            b.name(name);
            for (v, ids) in values {
                // Cannot fail: the map holds each name and each value of a name once.
                b.value(v, ids.iter().copied()).expect("postings within u32");
            }
        }
        b.finish().expect("a map has no repeated names or values")
    }
}

/// The head's postings: the series there were at the last [`HeadPostings::rebuild`] (each block
/// cut) in flat arrays, series created since then in a map. Between cuts few series are new, so
/// most of the head's postings cost what a block's do.
#[derive(Debug, Default)]
pub struct HeadPostings {
    frozen: FrozenPostings,
    delta: Postings,
}

impl HeadPostings {
    /// Postings of `series`, ids in order.
    pub fn rebuild<'a>(series: impl Iterator<Item = &'a Labels>) -> HeadPostings {
        let mut all = Postings::default();
        for (id, l) in series.enumerate() {
            all.add(id as u32, l);
        }
        HeadPostings { frozen: all.freeze(), delta: Postings::default() }
    }

    /// Adds series `id` (above every id so far).
    pub fn add(&mut self, id: u32, labels: &Labels) {
        self.delta.add(id, labels);
    }

    /// As [`Postings::matching`].
    pub fn matching<'a>(&self, matchers: &[&Matcher], n: usize, labels_of: impl Fn(u32) -> &'a Labels) -> Vec<u32> {
        matching_with(matchers, n, labels_of, |m, out| {
            self.frozen.candidates(m, out);
            self.delta.candidates(m, out);
        })
    }
}

/// Selector matching over any postings: `candidates(m)` gives the ids whose value of `m.name`
/// matches `m` (appended, any order, duplicates allowed).
fn matching_with<'a>(
    matchers: &[&Matcher],
    n: usize,
    labels_of: impl Fn(u32) -> &'a Labels,
    candidates_of: impl Fn(&Matcher, &mut Vec<u32>),
) -> Vec<u32> {
    let mut candidates: Option<Vec<u32>> = None;
    for m in matchers.iter().filter(|m| !m.is_match("")) {
        let mut ids = Vec::new();
        candidates_of(m, &mut ids);
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

/// Immutable postings in a few flat arrays (a block's): the same lookups as [`Postings`] without
/// a map node, a `String` and a `Vec` per label value. For a label unique to each series (an
/// `instance`, a `series` id) that is ~20 bytes per series instead of ~130, and four
/// allocations per block instead of three per series.
#[derive(Debug, Default)]
pub struct FrozenPostings {
    /// Label names, sorted, each with its range of `values`.
    names: Vec<(Box<str>, u32, u32)>,
    /// Per name, sorted by value: (offset and length of the value in `strings`, offset and
    /// count of its ids in `ids`).
    values: Vec<[u32; 4]>,
    strings: String,
    ids: Vec<u32>,
}

/// Builds a [`FrozenPostings`] from names and values in any order (sorted at the end).
#[derive(Default)]
pub struct FrozenBuilder {
    p: FrozenPostings,
    open: Option<(Box<str>, u32)>,
}

impl FrozenBuilder {
    /// Starts the values of label `name`.
    pub fn name(&mut self, name: &str) {
        self.close();
        self.open = Some((name.into(), self.p.values.len() as u32));
    }

    /// Adds `value` of the current name with its ids (ascending).
    pub fn value(&mut self, value: &str, ids: impl IntoIterator<Item = u32>) -> Result<(), String> {
        if self.open.is_none() {
            return Err("postings value before any name".into());
        }
        let too_big = |_| "postings too large".to_string();
        let off = u32::try_from(self.p.strings.len()).map_err(too_big)?;
        self.p.strings.push_str(value);
        let ids_off = u32::try_from(self.p.ids.len()).map_err(too_big)?;
        self.p.ids.extend(ids);
        let count = u32::try_from(self.p.ids.len()).map_err(too_big)? - ids_off;
        self.p.values.push([off, value.len() as u32, ids_off, count]);
        Ok(())
    }

    fn close(&mut self) {
        if let Some((name, start)) = self.open.take() {
            self.p.names.push((name, start, self.p.values.len() as u32));
        }
    }

    /// The postings; an error if a name or a value of one name appears twice.
    pub fn finish(mut self) -> Result<FrozenPostings, String> {
        self.close();
        let mut p = self.p;
        p.names.sort_by(|a, b| a.0.cmp(&b.0));
        if p.names.windows(2).any(|w| w[0].0 == w[1].0) {
            return Err("a label name appears twice in the postings".into());
        }
        let strings = std::mem::take(&mut p.strings);
        let text = |e: &[u32; 4]| &strings[e[0] as usize..(e[0] + e[1]) as usize];
        for &(_, a, b) in &p.names {
            let group = &mut p.values[a as usize..b as usize];
            if !group.windows(2).all(|w| text(&w[0]) < text(&w[1])) {
                group.sort_by(|x, y| text(x).cmp(text(y)));
                if group.windows(2).any(|w| text(&w[0]) == text(&w[1])) {
                    return Err("a label value appears twice in the postings".into());
                }
            }
        }
        p.strings = strings;
        p.names.shrink_to_fit();
        p.values.shrink_to_fit();
        p.strings.shrink_to_fit();
        p.ids.shrink_to_fit();
        Ok(p)
    }
}

impl FrozenPostings {
    fn text(&self, e: &[u32; 4]) -> &str {
        &self.strings[e[0] as usize..(e[0] + e[1]) as usize]
    }

    fn ids_of(&self, e: &[u32; 4]) -> &[u32] {
        &self.ids[e[2] as usize..(e[2] + e[3]) as usize]
    }

    fn values_of(&self, name: &str) -> Option<&[[u32; 4]]> {
        let i = self.names.binary_search_by(|n| (*n.0).cmp(name)).ok()?;
        let (_, a, b) = &self.names[i];
        Some(&self.values[*a as usize..*b as usize])
    }

    /// Label names with their values and ids, names and values sorted.
    pub fn iter(&self) -> impl Iterator<Item = (&str, impl Iterator<Item = (&str, &[u32])>)> {
        self.names
            .iter()
            .map(move |(n, a, b)| (&**n, self.values[*a as usize..*b as usize].iter().map(move |e| (self.text(e), self.ids_of(e)))))
    }

    /// As [`Postings::matching`].
    pub fn matching<'a>(&self, matchers: &[&Matcher], n: usize, labels_of: impl Fn(u32) -> &'a Labels) -> Vec<u32> {
        matching_with(matchers, n, labels_of, |m, out| self.candidates(m, out))
    }

    /// As [`Postings::candidates`].
    fn candidates(&self, m: &Matcher, out: &mut Vec<u32>) {
        match self.values_of(&m.name) {
            None => {}
            Some(values) if matches!(m.op, promql_parser::label::MatchOp::Equal) => {
                if let Ok(i) = values.binary_search_by(|e| self.text(e).cmp(m.value.as_str())) {
                    out.extend_from_slice(self.ids_of(&values[i]));
                }
            }
            Some(values) => out.extend(values.iter().filter(|e| m.is_match(self.text(e))).flat_map(|e| self.ids_of(e).iter().copied())),
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use promql_parser::label::MatchOp;
    use rand::{Rng, SeedableRng};

    fn re(s: &str) -> regex::Regex {
        regex::Regex::new(&format!("^(?:{s})$")).unwrap()
    }

    /// Frozen postings answer every selector exactly as the map they were built from, also when
    /// built from names and values out of order.
    #[test]
    fn frozen_postings_match_exactly_as_the_map() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let series: Vec<Labels> = (0..400)
            .map(|i| {
                let mut pairs = vec![("__name__".to_string(), format!("m{}", rng.random_range(0..4))), ("series".into(), i.to_string())];
                if rng.random_bool(0.6) {
                    pairs.push(("zone".into(), ["a", "b", "c", ""][rng.random_range(0..4)].into()));
                }
                Labels::new(pairs)
            })
            .collect();
        let mut map = Postings::default();
        for (id, l) in series.iter().enumerate() {
            map.add(id as u32, l);
        }
        let mut b = FrozenBuilder::default();
        // Names and values fed in reverse order: the builder sorts them.
        let mut names: Vec<_> = map.map.iter().collect();
        names.sort_by(|a, b| b.0.cmp(a.0));
        for (name, values) in names {
            b.name(name);
            for (v, ids) in values.iter().rev() {
                b.value(v, ids.iter().copied()).unwrap();
            }
        }
        let frozen = b.finish().unwrap();
        let m = |op: MatchOp, n: &str, v: &str| Matcher::new(op, n, v);
        let sets = vec![
            vec![m(MatchOp::Equal, "__name__", "m1")],
            vec![m(MatchOp::Equal, "series", "17")],
            vec![m(MatchOp::Equal, "series", "nope")],
            vec![m(MatchOp::Equal, "zone", "")],
            vec![m(MatchOp::NotEqual, "zone", "a"), m(MatchOp::Equal, "__name__", "m2")],
            vec![m(MatchOp::Re(re("1.*")), "series", "1.*")],
            vec![m(MatchOp::NotRe(re("a|b")), "zone", "a|b")],
            vec![m(MatchOp::Re(re("m0|m3")), "__name__", "m0|m3"), m(MatchOp::Re(re("b|c")), "zone", "b|c")],
            vec![m(MatchOp::Equal, "missing", "x")],
            vec![],
        ];
        let labels_of = |id: u32| &series[id as usize];
        let mut nonempty = 0;
        for set in &sets {
            let refs: Vec<&Matcher> = set.iter().collect();
            let want = map.matching(&refs, series.len(), labels_of);
            assert_eq!(frozen.matching(&refs, series.len(), labels_of), want, "{set:?}");
            assert_eq!(map.freeze().matching(&refs, series.len(), labels_of), want, "{set:?}");
            // The head's postings, frozen at a cut and grown since, at every kind of split.
            for split in [0, 1, 199, 399, 400] {
                let mut head = HeadPostings::rebuild(series[..split].iter());
                for (id, l) in series.iter().enumerate().skip(split) {
                    head.add(id as u32, l);
                }
                assert_eq!(head.matching(&refs, series.len(), labels_of), want, "split at {split}: {set:?}");
            }
            nonempty += usize::from(!want.is_empty());
        }
        assert!(nonempty >= 7, "the selectors exercise real matches");
        // Iteration gives names and values sorted, with the map's ids.
        for (name, values) in frozen.iter() {
            let want: Vec<_> = map.map[name].iter().map(|(v, ids)| (v.as_str(), ids.as_slice())).collect();
            assert_eq!(values.collect::<Vec<_>>(), want);
        }
        assert_eq!(frozen.iter().count(), map.map.len());
    }

    #[test]
    fn frozen_postings_refuse_repeated_names_and_values() {
        let mut b = FrozenBuilder::default();
        b.name("a");
        b.value("x", [0]).unwrap();
        b.name("a");
        assert!(b.finish().is_err());
        let mut b = FrozenBuilder::default();
        b.name("a");
        b.value("y", [0]).unwrap();
        b.value("x", [1]).unwrap();
        b.value("y", [2]).unwrap();
        assert!(b.finish().is_err());
        assert!(FrozenBuilder::default().value("x", [0]).is_err());
    }
}

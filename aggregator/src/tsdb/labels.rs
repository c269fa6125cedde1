//! [`Labels`]: a series' label set in one shared allocation.
//!
//! Every series in the head and in each open block holds one, so its size is most of the memory
//! an active series costs beyond its samples. A set of five labels as `Arc<[(String, String)]>`
//! took about 420 bytes in eleven allocations; packed it takes the text plus a byte or two per
//! string, in one.
//!
//! Layout of the packed text (valid UTF-8, so no `unsafe` is needed to hand out `&str`s):
//! `count (name_len name value_len value)*`, pairs sorted by name, names unique. Counts and
//! lengths are ASCII varints: six bits per byte, low bits first, `0x40` set on every byte but
//! the last; every byte is below `0x80`. The empty text is the empty set.

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

/// A label set, sorted by name, names unique.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Labels(Arc<str>);

fn put_len(out: &mut String, mut n: usize) {
    while n >= 0x40 {
        out.push(char::from((n & 0x3f) as u8 | 0x40));
        n >>= 6;
    }
    out.push(char::from(n as u8));
}

/// The varint at `*at`, moving `*at` past it.
fn get_len(b: &[u8], at: &mut usize) -> usize {
    let (mut n, mut shift) = (0usize, 0);
    loop {
        let x = b[*at];
        *at += 1;
        n |= usize::from(x & 0x3f) << shift;
        if x & 0x40 == 0 {
            return n;
        }
        shift += 6;
    }
}

impl Labels {
    /// From pairs (sorted here).
    pub fn new(mut pairs: Vec<(String, String)>) -> Labels {
        pairs.sort();
        Labels::pack(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())), pairs.len())
    }

    /// From borrowed pairs in any order (sorted here).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Labels {
        let mut v: Vec<(&str, &str)> = pairs.into_iter().collect();
        if !v.is_sorted() {
            v.sort_unstable();
        }
        let n = v.len();
        Labels::pack(v.into_iter(), n)
    }

    /// Packs `n` pairs already sorted by name.
    fn pack<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)> + Clone, n: usize) -> Labels {
        if n == 0 {
            return Labels::default();
        }
        let bytes: usize = pairs.clone().map(|(a, b)| a.len() + b.len() + 4).sum();
        let mut s = String::with_capacity(bytes + 2);
        put_len(&mut s, n);
        for (name, value) in pairs {
            put_len(&mut s, name.len());
            s.push_str(name);
            put_len(&mut s, value.len());
            s.push_str(value);
        }
        Labels(Arc::from(s))
    }

    /// The pairs, sorted by name.
    pub fn iter(&self) -> LabelsIter<'_> {
        let mut at = 0;
        let left = if self.0.is_empty() { 0 } else { get_len(self.0.as_bytes(), &mut at) };
        LabelsIter { s: &self.0, at, left }
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        if self.0.is_empty() { 0 } else { get_len(self.0.as_bytes(), &mut 0) }
    }

    /// No pairs.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Value of a label.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.iter().find(|&(n, _)| n == name).map(|(_, v)| v)
    }

    /// The same label set in a fresh allocation of this thread, shared with no other copy. The
    /// head keeps series' labels this way: a label set made while decoding a request sits among
    /// its short-lived buffers, and one kept allocation would pin the allocator's pages under
    /// them.
    pub fn deep_copy(&self) -> Labels {
        Labels(Arc::from(&*self.0))
    }

    /// As an owned vector.
    pub fn to_vec(&self) -> Vec<(String, String)> {
        self.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
    }

    /// Address of the shared text: equal for clones of one label set (the query engine's
    /// per-query caches key on it while holding a clone, so an address is never reused).
    pub fn addr(&self) -> usize {
        Arc::as_ptr(&self.0) as *const u8 as usize
    }

    /// Bytes of the packed text (what a series' labels cost beyond the allocation's header).
    pub fn packed_len(&self) -> usize {
        self.0.len()
    }
}

/// The pairs of a [`Labels`], in name order.
#[derive(Clone)]
pub struct LabelsIter<'a> {
    s: &'a str,
    at: usize,
    left: usize,
}

impl<'a> Iterator for LabelsIter<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<(&'a str, &'a str)> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let b = self.s.as_bytes();
        let n = get_len(b, &mut self.at);
        let name = &self.s[self.at..self.at + n];
        self.at += n;
        let n = get_len(b, &mut self.at);
        let value = &self.s[self.at..self.at + n];
        self.at += n;
        Some((name, value))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for LabelsIter<'_> {}

impl<'a> IntoIterator for &'a Labels {
    type Item = (&'a str, &'a str);
    type IntoIter = LabelsIter<'a>;
    fn into_iter(self) -> LabelsIter<'a> {
        self.iter()
    }
}

/// Pair by pair, as the sorted pairs compare (what Prometheus sorts series by).
impl Ord for Labels {
    fn cmp(&self, other: &Labels) -> Ordering {
        if Arc::ptr_eq(&self.0, &other.0) {
            return Ordering::Equal;
        }
        self.iter().cmp(other.iter())
    }
}

impl PartialOrd for Labels {
    fn partial_cmp(&self, other: &Labels) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Debug for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn pairs_come_back_sorted_and_exact_whatever_their_length_or_bytes() {
        let long = "v".repeat(70_000);
        let odd = "\0\u{7f}\u{80}é\u{10ffff}=\",{}";
        let pairs = [("zone", "z1"), ("__name__", "up"), ("empty", ""), ("long", long.as_str()), ("odd", odd), ("a", "x")];
        let l = Labels::new(owned(&pairs));
        let mut want: Vec<(&str, &str)> = pairs.to_vec();
        want.sort();
        assert_eq!(l.iter().collect::<Vec<_>>(), want);
        assert_eq!(l.len(), 6);
        assert_eq!(l.iter().len(), 6);
        assert_eq!(l.get("long"), Some(long.as_str()));
        assert_eq!(l.get("odd"), Some(odd));
        assert_eq!(l.get("empty"), Some(""));
        assert_eq!(l.get("missing"), None);
        assert_eq!(l, Labels::from_pairs(pairs));
        assert_eq!(l.to_vec(), owned(&want));
        let copy = l.deep_copy();
        assert_eq!(copy, l);
        assert_ne!(copy.addr(), l.addr());
        // A 70,000-byte value takes three length bytes, the other strings one each.
        assert_eq!(l.packed_len(), 1 + 12 + 2 + "zone z1 __name__ up empty long odd a x".replace(' ', "").len() + 70_000 + odd.len());
    }

    #[test]
    fn the_empty_set_is_empty_however_it_is_made() {
        for l in [Labels::default(), Labels::new(Vec::new()), Labels::from_pairs([])] {
            assert!(l.is_empty());
            assert_eq!(l.iter().count(), 0);
            assert_eq!(l, Labels::default());
            assert_eq!(l.get(""), None);
        }
    }

    #[test]
    fn order_is_pair_by_pair_as_for_vectors_of_pairs() {
        let sets: Vec<Vec<(String, String)>> = vec![
            owned(&[]),
            owned(&[("a", "")]),
            owned(&[("a", "1")]),
            owned(&[("a", "1"), ("b", "2")]),
            owned(&[("a", "10")]),
            owned(&[("a", "2")]),
            owned(&[("aa", "1")]),
            owned(&[("b", "1")]),
            owned(&[("a", "1"), ("bb", "")]),
            owned(&[("a", &"x".repeat(100))]),
            owned(&[("a", &"x".repeat(63))]),
            owned(&[("a", &"x".repeat(64))]),
        ];
        for x in &sets {
            for y in &sets {
                let (lx, ly) = (Labels::new(x.clone()), Labels::new(y.clone()));
                assert_eq!(lx.cmp(&ly), x.cmp(y), "{x:?} vs {y:?}");
                assert_eq!(lx == ly, x == y);
            }
        }
    }
}

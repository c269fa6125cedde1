//! The evaluator: one expression at one timestamp. Selectors, subqueries, unary and binary
//! operators (vector matching), aggregations; functions live in `functions`.

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use promql_parser::label::{MatchOp, Matcher};
use promql_parser::parser::{
    AggregateExpr, AtModifier, BinaryExpr, Expr, LabelModifier, Offset, SubqueryExpr, VectorMatchCardinality, VectorSelector,
};

use super::value::{QueryError, Sample, Series, Value, format_float};
use super::{Engine, functions};
use crate::tsdb::{Db, Labels, SelectedSeries, is_stale};

type Result<T> = std::result::Result<T, QueryError>;

pub(super) fn exec(msg: impl Into<String>) -> QueryError {
    QueryError::Execution(msg.into())
}

/// Hasher for label-set addresses (already unique integers: mixing, not SipHash, suffices).
#[derive(Default)]
pub(super) struct AddrHasher(u64);

impl std::hash::Hasher for AddrHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(b as u64);
        }
    }
    fn write_u64(&mut self, x: u64) {
        self.0 = (self.0.rotate_left(5) ^ x).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    fn write_usize(&mut self, x: usize) {
        self.write_u64(x as u64);
    }
}

pub(super) type AddrHash = std::hash::BuildHasherDefault<AddrHasher>;

/// Label work that a range query would otherwise repeat at every step, done once per series
/// and query: the name-dropped form of a label set and its aggregation group key. Results are
/// interned (equal label sets share one allocation), so groups and duplicate label sets can be
/// found by address instead of by hashing strings. Keys are label-set addresses
/// ([`Labels::addr`]); each entry holds a clone of its key, so an address cannot be reused for
/// other labels while the cache lives (one query).
#[derive(Default)]
pub(super) struct LabelCache {
    canonical: HashMap<usize, (Labels, Labels), AddrHash>,
    dropped: HashMap<usize, (Labels, Labels), AddrHash>,
    grouped: HashMap<(usize, usize), (Labels, Labels), AddrHash>,
    interned: HashSet<Labels>,
}

impl LabelCache {
    fn intern(&mut self, l: Labels) -> Labels {
        if let Some(x) = self.interned.get(&l) {
            return x.clone();
        }
        self.interned.insert(l.clone());
        l
    }

    /// The interned label set equal to `l`.
    pub fn canon(&mut self, l: &Labels) -> Labels {
        if let Some((_, c)) = self.canonical.get(&l.addr()) {
            return c.clone();
        }
        let c = self.intern(l.clone());
        self.canonical.insert(l.addr(), (l.clone(), c.clone()));
        c
    }

    /// `l` without `__name__`, interned.
    pub fn drop_name(&mut self, l: &Labels) -> Labels {
        if let Some((_, d)) = self.dropped.get(&l.addr()) {
            return d.clone();
        }
        let d = self.intern(drop_name(l));
        self.dropped.insert(l.addr(), (l.clone(), d.clone()));
        d
    }

    /// The group key of `l` under `modifier` (of the aggregation at address `node`), interned.
    fn group(&mut self, node: usize, l: &Labels, modifier: Option<&LabelModifier>) -> Labels {
        if let Some((_, g)) = self.grouped.get(&(node, l.addr())) {
            return g.clone();
        }
        let g = self.intern(group_key(l, modifier));
        self.grouped.insert((node, l.addr()), (l.clone(), g.clone()));
        g
    }
}

/// [`check_unique`] for vectors whose label sets are all interned by one [`LabelCache`]:
/// equal label sets are the same allocation.
pub(super) fn check_unique_interned(v: Vec<Sample>) -> Result<Vec<Sample>> {
    if v.len() > 1 {
        let mut seen: HashSet<usize, AddrHash> = HashSet::with_capacity_and_hasher(v.len(), AddrHash::default());
        for s in &v {
            if !seen.insert(s.labels.addr()) {
                return Err(exec("vector cannot contain metrics with the same labelset"));
            }
        }
    }
    Ok(v)
}

pub(super) struct Evaluator<'a> {
    pub engine: &'a Engine,
    head: &'a Db,
    /// Query start and end (ms), for `@ start()` / `@ end()`.
    pub start: i64,
    pub end: i64,
    /// Selected series per selector node (keyed by the node's address), fetched once.
    cache: HashMap<*const VectorSelector, Rc<Vec<SelectedSeries>>>,
    /// Time range to fetch selectors over.
    mint: i64,
    maxt: i64,
    /// Samples fetched so far (checked against `Engine::max_samples`).
    loaded: u64,
    /// When the query must give up.
    deadline: std::time::Instant,
    /// A limit hit while fetching (selectors cannot return errors): reported by `check`.
    pub limit: Option<QueryError>,
    /// Label work done once per series for all steps.
    pub labels: LabelCache,
    /// Per selector node: per series `(window start, window end)` positions of the last step.
    cursors: HashMap<usize, Vec<(usize, usize)>, AddrHash>,
}

fn ms(d: std::time::Duration) -> i64 {
    d.as_millis() as i64
}

fn offset_ms(o: &Option<Offset>) -> i64 {
    match o {
        None => 0,
        Some(Offset::Pos(d)) => ms(*d),
        Some(Offset::Neg(d)) => -ms(*d),
    }
}

/// How far before the evaluation time `expr` may read, or `None` when unbounded (`@`, negative offset).
fn lookback_need(expr: &Expr, lookback: i64, sub_step: i64) -> Option<i64> {
    match expr {
        Expr::VectorSelector(vs) => {
            if vs.at.is_some() || offset_ms(&vs.offset) < 0 {
                return None;
            }
            Some(offset_ms(&vs.offset) + lookback)
        }
        Expr::MatrixSelector(m) => {
            if m.vs.at.is_some() || offset_ms(&m.vs.offset) < 0 {
                return None;
            }
            Some(offset_ms(&m.vs.offset) + ms(m.range))
        }
        Expr::Subquery(s) => {
            if s.at.is_some() || offset_ms(&s.offset) < 0 {
                return None;
            }
            Some(offset_ms(&s.offset) + ms(s.range) + s.step.map(ms).unwrap_or(sub_step) + lookback_need(&s.expr, lookback, sub_step)?)
        }
        Expr::Aggregate(a) => {
            let mut n = lookback_need(&a.expr, lookback, sub_step)?;
            if let Some(p) = &a.param {
                n = n.max(lookback_need(p, lookback, sub_step)?);
            }
            Some(n)
        }
        Expr::Unary(u) => lookback_need(&u.expr, lookback, sub_step),
        Expr::Binary(b) => Some(lookback_need(&b.lhs, lookback, sub_step)?.max(lookback_need(&b.rhs, lookback, sub_step)?)),
        Expr::Paren(p) => lookback_need(&p.expr, lookback, sub_step),
        Expr::Call(c) => {
            let mut n = 0;
            for a in &c.args.args {
                n = n.max(lookback_need(a, lookback, sub_step)?);
            }
            Some(n)
        }
        _ => Some(0),
    }
}

/// All matchers of a selector, the metric name included.
pub(super) fn selector_matchers(vs: &VectorSelector) -> Vec<Matcher> {
    let mut out = vs.matchers.matchers.clone();
    if let Some(name) = &vs.name {
        out.push(Matcher::new(MatchOp::Equal, "__name__", name));
    }
    out
}

impl<'a> Evaluator<'a> {
    pub fn new(engine: &'a Engine, head: &'a Db, expr: &Expr, start: i64, end: i64, _step: i64) -> Evaluator<'a> {
        let (mint, maxt) = match lookback_need(expr, engine.lookback_ms, engine.default_subquery_step_ms) {
            Some(n) => (start.saturating_sub(n), end),
            None => (i64::MIN, i64::MAX),
        };
        let deadline = std::time::Instant::now() + engine.timeout;
        Evaluator {
            engine,
            head,
            start,
            end,
            cache: HashMap::new(),
            mint,
            maxt,
            loaded: 0,
            deadline,
            limit: None,
            labels: LabelCache::default(),
            cursors: HashMap::default(),
        }
    }

    /// The first limit hit (samples or deadline), if any.
    pub fn check(&mut self) -> Result<()> {
        if self.limit.is_none() && std::time::Instant::now() > self.deadline {
            self.limit = Some(QueryError::Timeout("query timed out in query execution".into()));
        }
        match &self.limit {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    fn at_time(&self, at: &Option<AtModifier>, t: i64) -> i64 {
        match at {
            None => t,
            Some(AtModifier::Start) => self.start,
            Some(AtModifier::End) => self.end,
            Some(AtModifier::At(st)) => match st.duration_since(std::time::UNIX_EPOCH) {
                Ok(d) => d.as_millis() as i64,
                Err(e) => -(e.duration().as_millis() as i64),
            },
        }
    }

    fn series(&mut self, vs: &VectorSelector) -> Rc<Vec<SelectedSeries>> {
        let key = vs as *const VectorSelector;
        if let Some(s) = self.cache.get(&key) {
            return s.clone();
        }
        let matchers = selector_matchers(vs);
        let refs: Vec<&Matcher> = matchers.iter().collect();
        let mut selected = self.head.select(&refs, self.mint, self.maxt);
        if !vs.matchers.or_matchers.is_empty() {
            let mut seen: HashSet<Labels> = HashSet::new();
            selected.clear();
            for group in &vs.matchers.or_matchers {
                let mut ms: Vec<Matcher> = group.clone();
                if let Some(name) = &vs.name {
                    ms.push(Matcher::new(MatchOp::Equal, "__name__", name));
                }
                let refs: Vec<&Matcher> = ms.iter().collect();
                for s in self.head.select(&refs, self.mint, self.maxt) {
                    if seen.insert(s.labels.clone()) {
                        selected.push(s);
                    }
                }
            }
            selected.sort_by(|a, b| a.labels.cmp(&b.labels));
        }
        self.loaded += selected.iter().map(|s| s.samples.len() as u64).sum::<u64>();
        if self.loaded > self.engine.max_samples && self.limit.is_none() {
            self.limit = Some(exec("query processing would load too many samples into memory in query execution"));
        }
        if self.limit.is_some() {
            selected.clear();
        }
        let rc = Rc::new(selected);
        self.cache.insert(key, rc.clone());
        rc
    }

    /// An instant vector selector at `t`.
    fn vector_selector(&mut self, vs: &VectorSelector, t: i64) -> Vec<Sample> {
        let rt = self.at_time(&vs.at, t) - offset_ms(&vs.offset);
        let lookback = self.engine.lookback_ms;
        let series = self.series(vs);
        let mut cursors = self.take_cursors(vs, series.len());
        let mut out = Vec::new();
        for (s, c) in series.iter().zip(cursors.iter_mut()) {
            let i = advance(&s.samples, &mut c.1, |ts| ts <= rt);
            if i == 0 {
                continue;
            }
            let (ts, v) = s.samples[i - 1];
            if ts < rt - lookback || is_stale(v) {
                continue;
            }
            out.push(Sample { labels: s.labels.clone(), t: ts, v });
        }
        self.put_cursors(vs, cursors);
        out
    }

    /// Per-series positions in a selector's samples, kept from one step to the next (steps
    /// ascend, so a window's ends usually move forward a few samples: no binary search over
    /// the whole series, which at every step and series cost a cache miss per probe).
    /// Taken out while in use, given back with [`Evaluator::put_cursors`].
    pub fn take_cursors(&mut self, vs: &VectorSelector, n: usize) -> Vec<(usize, usize)> {
        let mut c = self.cursors.remove(&(vs as *const VectorSelector as usize)).unwrap_or_default();
        c.resize(n, (0, 0));
        c
    }

    /// Gives cursors back (see [`Evaluator::take_cursors`]).
    pub fn put_cursors(&mut self, vs: &VectorSelector, c: Vec<(usize, usize)>) {
        self.cursors.insert(vs as *const VectorSelector as usize, c);
    }

    /// The series a selector matches over the query's whole window, selected and decoded once.
    pub fn selected(&mut self, vs: &VectorSelector) -> Rc<Vec<SelectedSeries>> {
        self.series(vs)
    }

    /// A range selector at `t`: the points in `[rt - range, rt]`, staleness markers left out.
    pub fn matrix_selector(&mut self, vs: &VectorSelector, range: i64, t: i64) -> Vec<Series> {
        let rt = self.at_time(&vs.at, t) - offset_ms(&vs.offset);
        let series = self.series(vs);
        let mut cursors = self.take_cursors(vs, series.len());
        let mut out = Vec::new();
        let mut buf = Vec::new();
        for (s, c) in series.iter().zip(cursors.iter_mut()) {
            let points = window(s, rt - range, rt, c, &mut buf);
            if !points.is_empty() {
                out.push(Series { labels: s.labels.clone(), points: points.to_vec() });
            }
        }
        self.put_cursors(vs, cursors);
        out
    }

    /// A subquery at `t`: the inner expression at every aligned step in `[rt - range, rt]`.
    pub fn subquery(&mut self, sq: &SubqueryExpr, t: i64) -> Result<Vec<Series>> {
        let rt = self.at_time(&sq.at, t) - offset_ms(&sq.offset);
        let step = sq.step.map(ms).unwrap_or(self.engine.default_subquery_step_ms).max(1);
        let from = rt - ms(sq.range);
        let mut ts = from.div_euclid(step) * step;
        if ts < from {
            ts += step;
        }
        let mut out: std::collections::BTreeMap<Labels, Vec<(i64, f64)>> = Default::default();
        let mut n = 0;
        while ts <= rt {
            n += 1;
            if n > super::MAX_POINTS * 10 {
                return Err(exec("subquery has too many steps"));
            }
            match self.eval(&sq.expr, ts)? {
                Value::Vector(v) => {
                    for s in v {
                        out.entry(s.labels).or_default().push((ts, s.v));
                    }
                }
                Value::Scalar(v) => out.entry(Labels::default()).or_default().push((ts, v)),
                other => return Err(exec(format!("subquery of a {}", other.type_name()))),
            }
            ts += step;
        }
        Ok(out.into_iter().map(|(labels, points)| Series { labels, points }).collect())
    }

    pub fn eval(&mut self, expr: &Expr, t: i64) -> Result<Value> {
        match expr {
            Expr::NumberLiteral(n) => Ok(Value::Scalar(n.val)),
            Expr::StringLiteral(s) => Ok(Value::String(s.val.clone())),
            Expr::Paren(p) => self.eval(&p.expr, t),
            Expr::VectorSelector(vs) => Ok(Value::Vector(self.vector_selector(vs, t))),
            Expr::MatrixSelector(m) => Ok(Value::Matrix(self.matrix_selector(&m.vs, ms(m.range), t))),
            Expr::Subquery(sq) => Ok(Value::Matrix(self.subquery(sq, t)?)),
            Expr::Unary(u) => match self.eval(&u.expr, t)? {
                Value::Scalar(v) => Ok(Value::Scalar(-v)),
                Value::Vector(v) => {
                    let out = v.into_iter().map(|s| Sample { labels: self.labels.drop_name(&s.labels), t, v: -s.v }).collect();
                    Ok(Value::Vector(check_unique_interned(out)?))
                }
                other => Err(exec(format!("unary minus on a {}", other.type_name()))),
            },
            Expr::Binary(b) => self.binary(b, t),
            Expr::Aggregate(a) => self.aggregate(a, t),
            Expr::Call(c) => functions::call(self, c, t),
            Expr::Extension(_) => Err(exec("extension expressions are not supported")),
        }
    }

    pub fn eval_vector(&mut self, expr: &Expr, t: i64) -> Result<Vec<Sample>> {
        match self.eval(expr, t)? {
            Value::Vector(v) => Ok(v),
            other => Err(exec(format!("expected an instant vector, got a {}", other.type_name()))),
        }
    }

    pub fn eval_scalar(&mut self, expr: &Expr, t: i64) -> Result<f64> {
        match self.eval(expr, t)? {
            Value::Scalar(v) => Ok(v),
            other => Err(exec(format!("expected a scalar, got a {}", other.type_name()))),
        }
    }

    // ---- binary operators ----

    fn binary(&mut self, b: &BinaryExpr, t: i64) -> Result<Value> {
        let op = b.op.to_string();
        let return_bool = b.modifier.as_ref().is_some_and(|m| m.return_bool);
        let lhs = self.eval(&b.lhs, t)?;
        let rhs = self.eval(&b.rhs, t)?;
        match (lhs, rhs) {
            (Value::Scalar(l), Value::Scalar(r)) => {
                let (v, keep) = scalar_op(&op, l, r)?;
                if is_comparison(&op) {
                    // The parser only accepts scalar comparisons with `bool`.
                    return Ok(Value::Scalar(if keep { 1.0 } else { 0.0 }));
                }
                Ok(Value::Scalar(v))
            }
            (Value::Vector(v), Value::Scalar(s)) => {
                Ok(Value::Vector(check_unique_interned(vector_scalar(&mut self.labels, &op, v, s, false, return_bool, t)?)?))
            }
            (Value::Scalar(s), Value::Vector(v)) => {
                Ok(Value::Vector(check_unique_interned(vector_scalar(&mut self.labels, &op, v, s, true, return_bool, t)?)?))
            }
            (Value::Vector(l), Value::Vector(r)) => {
                let m = b.modifier.as_ref();
                let card = m.map(|m| m.card.clone()).unwrap_or(VectorMatchCardinality::OneToOne);
                let matching = m.and_then(|m| m.matching.clone());
                match op.as_str() {
                    "and" => Ok(Value::Vector(set_and(l, r, &matching, true))),
                    "unless" => Ok(Value::Vector(set_and(l, r, &matching, false))),
                    "or" => Ok(Value::Vector(set_or(l, r, &matching))),
                    _ => Ok(Value::Vector(check_unique(vector_vector(&op, l, r, &card, &matching, return_bool, t)?)?)),
                }
            }
            (l, r) => Err(exec(format!("binary {op} between a {} and a {}", l.type_name(), r.type_name()))),
        }
    }

    // ---- aggregations ----

    fn aggregate(&mut self, a: &AggregateExpr, t: i64) -> Result<Value> {
        let op = a.op.to_string();
        let param = match &a.param {
            None => None,
            Some(p) => Some(self.eval(p, t)?),
        };
        let input = self.eval_vector(&a.expr, t)?;
        let node = a as *const AggregateExpr as usize;
        let keys: Vec<Labels> = input.iter().map(|s| self.labels.group(node, &s.labels, a.modifier.as_ref())).collect();
        aggregate(&op, param, input, keys, t).map(Value::Vector)
    }
}

/// `samples.partition_point(|s| pred(s.0))` for a `pred` true on a prefix, starting from the
/// previous answer `*at`: walks forward while that is still short of the answer (the usual
/// case from one step to the next), binary-searches when the answer lies behind it.
pub(super) fn advance(samples: &[(i64, f64)], at: &mut usize, pred: impl Fn(i64) -> bool) -> usize {
    let mut i = (*at).min(samples.len());
    if i > 0 && !pred(samples[i - 1].0) {
        i = samples.partition_point(|s| pred(s.0));
    } else {
        let mut k = 0;
        while i < samples.len() && pred(samples[i].0) {
            i += 1;
            k += 1;
            if k == 16 {
                // A long jump: finish by binary search.
                i += samples[i..].partition_point(|s| pred(s.0));
                break;
            }
        }
    }
    *at = i;
    i
}

/// A series' points in `[from, to]` with staleness markers left out: a slice of the selected
/// samples when there is no marker among them (the common case), else a copy in `buf`.
/// `cursor` holds the window's ends of the previous call (see [`advance`]).
pub(super) fn window<'s>(
    s: &'s SelectedSeries,
    from: i64,
    to: i64,
    cursor: &mut (usize, usize),
    buf: &'s mut Vec<(i64, f64)>,
) -> &'s [(i64, f64)] {
    let lo = advance(&s.samples, &mut cursor.0, |ts| ts < from);
    let hi = advance(&s.samples, &mut cursor.1, |ts| ts <= to).max(lo);
    let points = &s.samples[lo..hi];
    if !points.iter().any(|&(_, v)| is_stale(v)) {
        return points;
    }
    buf.clear();
    buf.extend(points.iter().copied().filter(|&(_, v)| !is_stale(v)));
    buf
}

pub(super) fn drop_name(l: &Labels) -> Labels {
    if l.get("__name__").is_none() {
        return l.clone();
    }
    Labels::from_pairs(l.iter().filter(|&(n, _)| n != "__name__"))
}

/// Prometheus's "vector cannot contain metrics with the same labelset".
pub(super) fn check_unique(v: Vec<Sample>) -> Result<Vec<Sample>> {
    if v.len() > 1 {
        let mut seen = HashSet::with_capacity(v.len());
        for s in &v {
            if !seen.insert(&s.labels) {
                return Err(exec("vector cannot contain metrics with the same labelset"));
            }
        }
    }
    Ok(v)
}

fn is_comparison(op: &str) -> bool {
    matches!(op, "==" | "!=" | ">" | "<" | ">=" | "<=")
}

fn drops_name(op: &str) -> bool {
    matches!(op, "+" | "-" | "*" | "/" | "%" | "^" | "atan2")
}

/// `(value, keep)` of `l op r` (comparisons keep `l` when true).
fn scalar_op(op: &str, l: f64, r: f64) -> Result<(f64, bool)> {
    Ok(match op {
        "+" => (l + r, true),
        "-" => (l - r, true),
        "*" => (l * r, true),
        "/" => (l / r, true),
        "%" => (l % r, true),
        "^" => (l.powf(r), true),
        "atan2" => (l.atan2(r), true),
        "==" => (l, l == r),
        "!=" => (l, l != r),
        ">" => (l, l > r),
        "<" => (l, l < r),
        ">=" => (l, l >= r),
        "<=" => (l, l <= r),
        other => return Err(exec(format!("operator {other} is not defined here"))),
    })
}

/// `v op s` (or `s op v` when `swap`); result labels are interned by `cache`.
fn vector_scalar(cache: &mut LabelCache, op: &str, v: Vec<Sample>, s: f64, swap: bool, return_bool: bool, t: i64) -> Result<Vec<Sample>> {
    let mut out = Vec::with_capacity(v.len());
    for x in v {
        let (l, r) = if swap { (s, x.v) } else { (x.v, s) };
        let (mut value, keep) = scalar_op(op, l, r)?;
        if is_comparison(op) && swap {
            value = r;
        }
        if return_bool {
            value = if keep { 1.0 } else { 0.0 };
        } else if !keep {
            continue;
        }
        let labels = if drops_name(op) || return_bool { cache.drop_name(&x.labels) } else { cache.canon(&x.labels) };
        out.push(Sample { labels, t, v: value });
    }
    Ok(out)
}

fn owned((n, v): (&str, &str)) -> (String, String) {
    (n.to_string(), v.to_string())
}

/// The matching signature of a label set.
fn signature(l: &Labels, matching: &Option<LabelModifier>) -> Vec<(String, String)> {
    match matching {
        Some(LabelModifier::Include(on)) => l.iter().filter(|&(n, _)| on.labels.iter().any(|x| x == n)).map(owned).collect(),
        Some(LabelModifier::Exclude(ign)) => {
            l.iter().filter(|&(n, _)| n != "__name__" && !ign.labels.iter().any(|x| x == n)).map(owned).collect()
        }
        None => l.iter().filter(|&(n, _)| n != "__name__").map(owned).collect(),
    }
}

fn set_and(l: Vec<Sample>, r: Vec<Sample>, matching: &Option<LabelModifier>, keep_matching: bool) -> Vec<Sample> {
    let sigs: HashSet<Vec<(String, String)>> = r.iter().map(|s| signature(&s.labels, matching)).collect();
    l.into_iter().filter(|s| sigs.contains(&signature(&s.labels, matching)) == keep_matching).collect()
}

fn set_or(l: Vec<Sample>, r: Vec<Sample>, matching: &Option<LabelModifier>) -> Vec<Sample> {
    let sigs: HashSet<Vec<(String, String)>> = l.iter().map(|s| signature(&s.labels, matching)).collect();
    let mut out = l;
    out.extend(r.into_iter().filter(|s| !sigs.contains(&signature(&s.labels, matching))));
    out
}

fn fmt_sig(sig: &[(String, String)]) -> String {
    let inner: Vec<String> = sig.iter().map(|(n, v)| format!("{n}={v:?}")).collect();
    format!("{{{}}}", inner.join(", "))
}

fn vector_vector(
    op: &str,
    lhs: Vec<Sample>,
    rhs: Vec<Sample>,
    card: &VectorMatchCardinality,
    matching: &Option<LabelModifier>,
    return_bool: bool,
    t: i64,
) -> Result<Vec<Sample>> {
    let one_to_many = matches!(card, VectorMatchCardinality::OneToMany(_));
    let (lhs, rhs) = if one_to_many { (rhs, lhs) } else { (lhs, rhs) };
    let include: Vec<String> = card.labels().map(|l| l.labels.clone()).unwrap_or_default();
    // The "one" side, by signature.
    let mut right: HashMap<Vec<(String, String)>, &Sample> = HashMap::with_capacity(rhs.len());
    for s in &rhs {
        let sig = signature(&s.labels, matching);
        if let Some(prev) = right.get(&sig) {
            let side = if one_to_many { "left" } else { "right" };
            let msg = if matches!(card, VectorMatchCardinality::OneToOne) {
                format!(
                    "found duplicate series for the match group {} on the {side} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                    fmt_sig(&sig),
                    prev.labels,
                    s.labels
                )
            } else {
                format!(
                    "found duplicate series for the match group {} on the {side} hand-side of the operation: [{}, {}];many-to-one matching must be explicit (group_left/group_right)",
                    fmt_sig(&sig),
                    prev.labels,
                    s.labels
                )
            };
            return Err(exec(msg));
        }
        right.insert(sig, s);
    }
    let mut matched: HashMap<Vec<(String, String)>, HashSet<Labels>> = HashMap::new();
    let mut out = Vec::new();
    for ls in &lhs {
        let sig = signature(&ls.labels, matching);
        let Some(rs) = right.get(&sig) else { continue };
        let (vl, vr) = if one_to_many { (rs.v, ls.v) } else { (ls.v, rs.v) };
        let (mut value, keep) = scalar_op(op, vl, vr)?;
        if return_bool {
            value = if keep { 1.0 } else { 0.0 };
        } else if !keep {
            continue;
        }
        // Result labels come from the "many" side (the left one after the swap).
        let mut labels: Vec<(String, String)> = ls.labels.to_vec();
        if drops_name(op) || return_bool {
            labels.retain(|(n, _)| n != "__name__");
        }
        if matches!(card, VectorMatchCardinality::OneToOne) {
            match matching {
                Some(LabelModifier::Include(on)) => labels.retain(|(n, _)| on.labels.contains(n)),
                Some(LabelModifier::Exclude(ign)) => labels.retain(|(n, _)| !ign.labels.contains(n)),
                None => {}
            }
        }
        for name in &include {
            labels.retain(|(n, _)| n != name);
            if let Some(v) = rs.labels.get(name) {
                labels.push((name.clone(), v.to_string()));
            }
        }
        let labels = Labels::new(labels);
        let entry = matched.entry(sig).or_default();
        if matches!(card, VectorMatchCardinality::OneToOne) {
            if !entry.is_empty() {
                return Err(exec("multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)"));
            }
        } else if entry.contains(&labels) {
            return Err(exec("multiple matches for labels: grouping labels must ensure unique matches"));
        }
        entry.insert(labels.clone());
        out.push(Sample { labels, t, v: value });
    }
    Ok(out)
}

fn group_key(l: &Labels, modifier: Option<&LabelModifier>) -> Labels {
    match modifier {
        None => Labels::default(),
        Some(LabelModifier::Include(by)) => Labels::from_pairs(l.iter().filter(|&(n, _)| by.labels.iter().any(|x| x == n))),
        Some(LabelModifier::Exclude(without)) => {
            Labels::from_pairs(l.iter().filter(|&(n, _)| n != "__name__" && !without.labels.iter().any(|x| x == n)))
        }
    }
}

/// Linear-interpolated quantile of `values` (Prometheus's `quantile`).
pub(super) fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0) as usize;
    let upper = (lower + 1).min(values.len() - 1);
    let weight = rank - rank.floor();
    values[lower] * (1.0 - weight) + values[upper] * weight
}

/// Aggregates `input`; `keys[i]` is the group key of `input[i]`, interned (one allocation per
/// distinct key, so groups are found by address).
fn aggregate(op: &str, param: Option<Value>, input: Vec<Sample>, keys: Vec<Labels>, t: i64) -> Result<Vec<Sample>> {
    let scalar_param = |name: &str| -> Result<f64> {
        match &param {
            Some(Value::Scalar(v)) => Ok(*v),
            _ => Err(exec(format!("{name}: expected a scalar parameter"))),
        }
    };
    // Groups in order of first appearance.
    let mut order: Vec<Labels> = Vec::new();
    let mut groups: HashMap<usize, Vec<Sample>, AddrHash> = HashMap::default();
    for (s, key) in input.into_iter().zip(keys) {
        groups
            .entry(key.addr())
            .or_insert_with(|| {
                order.push(key);
                Vec::new()
            })
            .push(s);
    }
    let mut out = Vec::new();
    match op {
        "topk" | "bottomk" => {
            let k = scalar_param(op)?;
            if k.is_nan() {
                return Err(exec(format!("Parameter value is NaN for {op}")));
            }
            if k < 1.0 {
                return Ok(out);
            }
            let k = k.min(1e9) as usize;
            let top = op == "topk";
            for key in &order {
                let g = groups.remove(&key.addr()).unwrap_or_default();
                let mut h = select_k(g, k, top);
                // Output order: best first (ties in any order, as Prometheus's unstable sort).
                h.sort_by(|a, b| if top { b.v.total_cmp(&a.v) } else { a.v.total_cmp(&b.v) });
                out.extend(h.into_iter().map(|s| Sample { t, ..s }));
            }
            return Ok(out);
        }
        "count_values" => {
            let label = match &param {
                Some(Value::String(s)) => s.clone(),
                _ => return Err(exec("count_values: expected a string parameter")),
            };
            if !crate::tsdb::remote_write::valid_label_name(&label) {
                return Err(exec(format!("invalid label name {label:?}")));
            }
            let mut counts: Vec<(Labels, f64)> = Vec::new();
            let mut index: HashMap<Labels, usize> = HashMap::new();
            for key in &order {
                for s in &groups[&key.addr()] {
                    let value = format_float(s.v);
                    let l = Labels::from_pairs(key.iter().filter(|&(n, _)| n != label).chain([(label.as_str(), value.as_str())]));
                    match index.get(&l) {
                        Some(&i) => counts[i].1 += 1.0,
                        None => {
                            index.insert(l.clone(), counts.len());
                            counts.push((l, 1.0));
                        }
                    }
                }
            }
            return Ok(counts.into_iter().map(|(labels, v)| Sample { labels, t, v }).collect());
        }
        _ => {}
    }
    let q = if op == "quantile" { Some(scalar_param(op)?) } else { None };
    for key in order {
        let g = &groups[&key.addr()];
        let vals: Vec<f64> = g.iter().map(|s| s.v).collect();
        let n = vals.len() as f64;
        let v = match op {
            "sum" => vals.iter().sum(),
            "avg" => {
                let mut mean: f64 = 0.0;
                for (i, x) in vals.iter().enumerate() {
                    let c = (i + 1) as f64;
                    if i > 0 && mean.is_infinite() {
                        if x.is_infinite() && (mean > 0.0) == (*x > 0.0) {
                            continue;
                        }
                        if !x.is_infinite() && !x.is_nan() {
                            continue;
                        }
                    }
                    mean += x / c - mean / c;
                }
                mean
            }
            "count" => n,
            "group" => 1.0,
            "min" => vals.iter().copied().fold(f64::NAN, |m, x| if m > x || m.is_nan() { x } else { m }),
            "max" => vals.iter().copied().fold(f64::NAN, |m, x| if m < x || m.is_nan() { x } else { m }),
            "stddev" | "stdvar" => {
                let (mut count, mut mean, mut acc) = (0.0, 0.0, 0.0);
                for x in &vals {
                    count += 1.0;
                    let delta = x - mean;
                    mean += delta / count;
                    acc += delta * (x - mean);
                }
                let var = acc / count;
                if op == "stddev" { var.sqrt() } else { var }
            }
            "quantile" => quantile(q.unwrap_or(f64::NAN), &mut vals.clone()),
            other => return Err(exec(format!("aggregation {other} is not supported"))),
        };
        out.push(Sample { labels: key, t, v });
    }
    Ok(out)
}

/// Picks the `k` largest (`top`) or smallest samples exactly as Prometheus 2.x does, with Go's
/// `container/heap` on the worst kept element, so ties resolve to the same series.
fn select_k(input: Vec<Sample>, k: usize, top: bool) -> Vec<Sample> {
    // less(i, j): i is "worse" than j (sits nearer the heap's root).
    let less = |a: &Sample, b: &Sample| {
        if a.v.is_nan() {
            return true;
        }
        if top { a.v < b.v } else { a.v > b.v }
    };
    fn up(h: &mut [Sample], mut j: usize, less: &dyn Fn(&Sample, &Sample) -> bool) {
        while j > 0 {
            let i = (j - 1) / 2;
            if !less(&h[j], &h[i]) {
                break;
            }
            h.swap(i, j);
            j = i;
        }
    }
    fn down(h: &mut [Sample], i0: usize, less: &dyn Fn(&Sample, &Sample) -> bool) -> bool {
        let n = h.len();
        let mut i = i0;
        loop {
            let j1 = 2 * i + 1;
            if j1 >= n {
                break;
            }
            let mut j = j1;
            if j1 + 1 < n && less(&h[j1 + 1], &h[j1]) {
                j = j1 + 1;
            }
            if !less(&h[j], &h[i]) {
                break;
            }
            h.swap(i, j);
            i = j;
        }
        i > i0
    }
    let mut h: Vec<Sample> = Vec::with_capacity(k.min(input.len()));
    for s in input {
        let root = h.first().map(|r| r.v);
        let enter = h.len() < k || root.is_some_and(|r| r.is_nan() || if top { r < s.v } else { r > s.v });
        if !enter {
            continue;
        }
        if h.len() == k {
            if k == 1 {
                h[0] = s;
                continue;
            }
            // heap.Pop: move the root to the end, restore the heap, drop it.
            let n = h.len() - 1;
            h.swap(0, n);
            let last = h.pop();
            debug_assert!(last.is_some());
            down(&mut h, 0, &less);
        }
        h.push(s);
        let last = h.len() - 1;
        up(&mut h, last, &less);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_advance_equals_a_fresh_binary_search_forward_and_backward() {
        let samples: Vec<(i64, f64)> = (0..500).map(|i| (i * 15 + (i % 7), 0.0)).collect();
        let mut at = 0;
        // Ascending targets with small and large jumps, then going back (subquery steps).
        let mut targets: Vec<i64> = (0..400).map(|i| i * 20 - 50).collect();
        targets.extend([7_000, 7_400, 100, 3_000, 2_999, 9_999_999, -5, 0, 15]);
        for t in targets {
            for pred in [true, false] {
                let f = |ts: i64| if pred { ts < t } else { ts <= t };
                let want = samples.partition_point(|s| f(s.0));
                assert_eq!(advance(&samples, &mut at, f), want, "target {t}");
                assert_eq!(at, want);
            }
        }
        assert_eq!(advance(&[], &mut at, |_| true), 0);
    }

    #[test]
    fn label_cache_interns_so_equal_label_sets_share_an_address() {
        let mut c = LabelCache::default();
        let a = Labels::new(vec![("__name__".into(), "x".into()), ("job".into(), "a".into())]);
        let b = Labels::new(vec![("__name__".into(), "y".into()), ("job".into(), "a".into())]);
        let (da, db) = (c.drop_name(&a), c.drop_name(&b));
        assert_eq!(da, db);
        assert_eq!(da.addr(), db.addr(), "interned");
        assert_eq!(c.drop_name(&a).addr(), da.addr(), "cached");
        let v = vec![Sample { labels: da, t: 0, v: 1.0 }, Sample { labels: db, t: 0, v: 2.0 }];
        assert!(check_unique_interned(v).is_err());
        let by_job = LabelModifier::Include(promql_parser::label::Labels::new(vec!["job"]));
        let (ga, gb) = (c.group(1, &a, Some(&by_job)), c.group(1, &b, Some(&by_job)));
        assert_eq!(ga.addr(), gb.addr());
        assert_eq!(ga.to_vec(), vec![("job".to_string(), "a".to_string())]);
    }
}

//! PromQL: parse with `promql-parser`, evaluate against the metrics head with Prometheus's
//! semantics.
//!
//! The key decision: a range query is the instant evaluation repeated at every step (which is
//! what Prometheus's semantics are defined as), with each selector's series selected and
//! decoded once per query for the whole window `[start - lookback - range, end]` and then
//! sliced per step by binary search. That keeps one evaluator for both query kinds, and
//! subqueries fall out of it for free. What would otherwise repeat per step and series — the
//! name-dropped label set of a function's result, an aggregation's group key, the duplicate
//! check, the output series a sample belongs to — is computed once per series and query
//! (`eval::LabelCache`, interned label sets compared by address), so a step costs a binary
//! search and the arithmetic, not string work and allocations.
//!
//! Semantics follow Prometheus 2.x, the version the differential test runs against: lookback
//! and range windows include their left edge (`[t - range, t]`), a staleness marker ends a
//! series until its next real sample, `rate`/`increase`/`delta` extrapolate as
//! `extrapolatedRate` does, and arithmetic, comparison with `bool` and most functions drop the
//! metric name.

mod eval;
mod functions;
#[cfg(test)]
mod promqltest;
pub mod value;

pub use value::{QueryError, Sample, Series, Value, format_float};

use std::collections::HashMap;

use crate::tsdb::{Db, Labels};

/// Maximum points per series a range query may produce (as Prometheus).
pub const MAX_POINTS: i64 = 11_000;

/// Query settings.
#[derive(Debug, Clone, Copy)]
pub struct Engine {
    /// Lookback delta (ms).
    pub lookback_ms: i64,
    /// Step of subqueries without an explicit one (ms): Prometheus's default evaluation interval.
    pub default_subquery_step_ms: i64,
    /// Most samples a query may fetch from storage (`execution` error beyond).
    pub max_samples: u64,
    /// Longest a query may run (`timeout` error beyond).
    pub timeout: std::time::Duration,
}

impl Default for Engine {
    fn default() -> Self {
        Engine {
            lookback_ms: 300_000,
            default_subquery_step_ms: 60_000,
            max_samples: 50_000_000,
            timeout: std::time::Duration::from_secs(120),
        }
    }
}

/// Parses a query, mapping the parser's message to a `bad_data` error.
pub fn parse(q: &str) -> Result<promql_parser::parser::Expr, QueryError> {
    promql_parser::parser::parse(q).map_err(QueryError::Parse)
}

impl Engine {
    /// Evaluates `q` at `t` (ms).
    pub fn instant(&self, head: &Db, q: &str, t: i64) -> Result<Value, QueryError> {
        let expr = parse(q)?;
        let mut ev = eval::Evaluator::new(self, head, &expr, t, t, 0);
        let v = ev.eval(&expr, t);
        ev.check()?;
        let v = v?;
        Ok(match v {
            Value::Vector(mut s) => {
                for x in &mut s {
                    x.t = t;
                }
                Value::Vector(s)
            }
            other => other,
        })
    }

    /// Evaluates `q` at every step from `start` to `end` (ms), returning series sorted by labels.
    pub fn range(&self, head: &Db, q: &str, start: i64, end: i64, step: i64) -> Result<Vec<Series>, QueryError> {
        let expr = parse(q)?;
        match expr.value_type() {
            promql_parser::parser::value::ValueType::Vector | promql_parser::parser::value::ValueType::Scalar => {}
            other => {
                return Err(QueryError::Parse(format!(
                    "invalid expression type \"{}\" for range query, must be Scalar or instant Vector",
                    if other.to_string() == "matrix" { "range vector".to_string() } else { other.to_string() }
                )));
            }
        }
        if step <= 0 {
            return Err(QueryError::Parse("zero or negative query resolution step widths are not accepted".into()));
        }
        if end < start {
            return Err(QueryError::Parse("end timestamp must not be before start time".into()));
        }
        if (end - start) / step >= MAX_POINTS {
            return Err(QueryError::Parse(
                "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)".into(),
            ));
        }
        let mut ev = eval::Evaluator::new(self, head, &expr, start, end, step);
        // Output series by label set; most steps repeat the previous step's label sets (the
        // same allocations), so the address is looked up first and the content only when new.
        let mut out: Vec<Series> = Vec::new();
        let mut by_addr: HashMap<usize, (Labels, usize), eval::AddrHash> = HashMap::default();
        let mut by_labels: HashMap<Labels, usize> = HashMap::new();
        let mut push = |labels: Labels, p: (i64, f64)| {
            let i = match by_addr.get(&labels.addr()) {
                Some(&(_, i)) => i,
                None => {
                    let i = *by_labels.entry(labels.clone()).or_insert_with(|| {
                        out.push(Series { labels: labels.clone(), points: Vec::new() });
                        out.len() - 1
                    });
                    by_addr.insert(labels.addr(), (labels, i));
                    i
                }
            };
            out[i].points.push(p);
        };
        let mut t = start;
        while t <= end {
            let v = ev.eval(&expr, t);
            ev.check()?;
            match v? {
                Value::Scalar(v) => push(Labels::default(), (t, v)),
                Value::Vector(samples) => {
                    for s in samples {
                        push(s.labels, (t, s.v));
                    }
                }
                other => return Err(QueryError::Execution(format!("unexpected {} result in range query", other.type_name()))),
            }
            t += step;
        }
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(out)
    }
}

//! PromQL: parse with `promql-parser`, evaluate against the metrics head with Prometheus's
//! semantics.
//!
//! The key decision: a range query is the instant evaluation repeated at every step (which is
//! what Prometheus's semantics are defined as), with each selector's series fetched from the
//! head once per query and then sliced per step by binary search. That keeps one evaluator for
//! both query kinds, and subqueries fall out of it for free.
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

use crate::tsdb::Db;

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
        let mut out: std::collections::BTreeMap<crate::tsdb::Labels, Vec<(i64, f64)>> = Default::default();
        let mut t = start;
        while t <= end {
            let v = ev.eval(&expr, t);
            ev.check()?;
            match v? {
                Value::Scalar(v) => out.entry(Default::default()).or_default().push((t, v)),
                Value::Vector(samples) => {
                    for s in samples {
                        out.entry(s.labels).or_default().push((t, s.v));
                    }
                }
                other => return Err(QueryError::Execution(format!("unexpected {} result in range query", other.type_name()))),
            }
            t += step;
        }
        Ok(out.into_iter().map(|(labels, points)| Series { labels, points }).collect())
    }
}

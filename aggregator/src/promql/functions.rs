//! PromQL functions, each as Prometheus 2.x defines it.

use promql_parser::label::MatchOp;
use promql_parser::parser::{AtModifier, Call, Expr, Offset};

use super::eval::{Evaluator, check_unique, check_unique_interned, exec, quantile, selector_matchers};
use super::value::{QueryError, Sample, Series, Value};
use crate::tsdb::Labels;

type Result<T> = std::result::Result<T, QueryError>;

fn arg(c: &Call, i: usize) -> Result<&Expr> {
    c.args.args.get(i).map(|b| b.as_ref()).ok_or_else(|| exec(format!("{}: missing argument {}", c.func.name, i + 1)))
}

fn offset_ms(o: &Option<Offset>) -> i64 {
    match o {
        None => 0,
        Some(Offset::Pos(d)) => d.as_millis() as i64,
        Some(Offset::Neg(d)) => -(d.as_millis() as i64),
    }
}

/// A range argument: its series, the range (ms) and the window's end (ms).
fn range_arg(ev: &mut Evaluator, e: &Expr, t: i64) -> Result<(Vec<Series>, i64, i64)> {
    match e {
        Expr::MatrixSelector(m) => {
            let range = m.range.as_millis() as i64;
            let rt = at(ev, &m.vs.at, t) - offset_ms(&m.vs.offset);
            Ok((ev.matrix_selector(&m.vs, range, t), range, rt))
        }
        Expr::Subquery(sq) => {
            let range = sq.range.as_millis() as i64;
            let rt = at(ev, &sq.at, t) - offset_ms(&sq.offset);
            Ok((ev.subquery(sq, t)?, range, rt))
        }
        Expr::Paren(p) => range_arg(ev, &p.expr, t),
        _ => Err(exec("expected a range vector argument")),
    }
}

fn at(ev: &Evaluator, a: &Option<AtModifier>, t: i64) -> i64 {
    match a {
        None => t,
        Some(AtModifier::Start) => ev.start,
        Some(AtModifier::End) => ev.end,
        Some(AtModifier::At(st)) => match st.duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => d.as_millis() as i64,
            Err(e) => -(e.duration().as_millis() as i64),
        },
    }
}

/// Prometheus's `extrapolatedRate`.
fn extrapolated_rate(points: &[(i64, f64)], range: i64, rt: i64, is_counter: bool, is_rate: bool) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let range_start = rt - range;
    let (first, last) = (points[0], points[points.len() - 1]);
    let mut result = last.1 - first.1;
    if is_counter {
        let mut prev = 0.0;
        for &(_, v) in points {
            if v < prev {
                result += prev;
            }
            prev = v;
        }
    }
    let mut to_start = (first.0 - range_start) as f64 / 1000.0;
    let to_end = (rt - last.0) as f64 / 1000.0;
    let sampled = (last.0 - first.0) as f64 / 1000.0;
    let avg = sampled / (points.len() - 1) as f64;
    if is_counter && result > 0.0 && first.1 >= 0.0 {
        let to_zero = sampled * (first.1 / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    let threshold = avg * 1.1;
    let mut interval = sampled;
    interval += if to_start < threshold { to_start } else { avg / 2.0 };
    interval += if to_end < threshold { to_end } else { avg / 2.0 };
    result *= interval / sampled;
    if is_rate {
        result /= range as f64 / 1000.0;
    }
    Some(result)
}

/// The plain range selector (and its range, ms) `e` is, through parentheses.
fn direct_matrix(e: &Expr) -> Option<(&promql_parser::parser::VectorSelector, i64)> {
    match e {
        Expr::MatrixSelector(m) => Some((&m.vs, m.range.as_millis() as i64)),
        Expr::Paren(p) => direct_matrix(&p.expr),
        _ => None,
    }
}

/// `rate`, `increase`, `delta`, `irate`, `idelta`, `deriv`, `predict_linear` of one window
/// (`range` ms ending at `rt`; `t` the evaluation time, `horizon` predict_linear's argument).
fn range_fn(name: &str, p: &[(i64, f64)], range: i64, rt: i64, t: i64, horizon: f64) -> Option<f64> {
    match name {
        "rate" => extrapolated_rate(p, range, rt, true, true),
        "increase" => extrapolated_rate(p, range, rt, true, false),
        "delta" => extrapolated_rate(p, range, rt, false, false),
        "irate" | "idelta" => {
            if p.len() < 2 {
                None
            } else {
                let (a, b) = (p[p.len() - 2], p[p.len() - 1]);
                let dt = (b.0 - a.0) as f64 / 1000.0;
                if name == "idelta" {
                    Some(b.1 - a.1)
                } else if dt == 0.0 {
                    None
                } else {
                    let diff = if b.1 < a.1 { b.1 } else { b.1 - a.1 };
                    Some(diff / dt)
                }
            }
        }
        "deriv" => (p.len() >= 2).then(|| linear_regression(p, p[0].0).0),
        _ => (p.len() >= 2).then(|| {
            let (slope, intercept) = linear_regression(p, t);
            slope * horizon + intercept
        }),
    }
}

fn linear_regression(points: &[(i64, f64)], intercept_time: i64) -> (f64, f64) {
    let (mut n, mut sx, mut sy, mut sxy, mut sx2) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let init = points[0].1;
    let mut const_y = true;
    for (i, &(t, v)) in points.iter().enumerate() {
        if const_y && i > 0 && v != init {
            const_y = false;
        }
        n += 1.0;
        let x = (t - intercept_time) as f64 / 1e3;
        sx += x;
        sy += v;
        sxy += x * v;
        sx2 += x * x;
    }
    if const_y {
        if init.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init);
    }
    let cov = sxy - sx * sy / n;
    let var = sx2 - sx * sx / n;
    let slope = cov / var;
    (slope, sy / n - slope * sx / n)
}

fn over_time(name: &str, points: &[(i64, f64)], param: f64) -> Option<f64> {
    let vals = || points.iter().map(|p| p.1);
    let n = points.len() as f64;
    Some(match name {
        "avg_over_time" => {
            let mut mean: f64 = 0.0;
            for (i, x) in vals().enumerate() {
                let c = (i + 1) as f64;
                if i > 0 && mean.is_infinite() {
                    if x.is_infinite() && (mean > 0.0) == (x > 0.0) {
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
        "sum_over_time" => vals().sum(),
        "count_over_time" => n,
        "min_over_time" => vals().fold(f64::NAN, |m, x| if m > x || m.is_nan() { x } else { m }),
        "max_over_time" => vals().fold(f64::NAN, |m, x| if m < x || m.is_nan() { x } else { m }),
        "last_over_time" => points.last()?.1,
        "present_over_time" => 1.0,
        "stddev_over_time" | "stdvar_over_time" => {
            let (mut count, mut mean, mut acc) = (0.0, 0.0, 0.0);
            for x in vals() {
                count += 1.0;
                let delta = x - mean;
                mean += delta / count;
                acc += delta * (x - mean);
            }
            let var = acc / count;
            if name == "stddev_over_time" { var.sqrt() } else { var }
        }
        "quantile_over_time" => quantile(param, &mut vals().collect::<Vec<_>>()),
        "changes" => {
            let mut c = 0.0;
            for w in points.windows(2) {
                if w[1].1 != w[0].1 && !(w[1].1.is_nan() && w[0].1.is_nan()) {
                    c += 1.0;
                }
            }
            c
        }
        "resets" => points.windows(2).filter(|w| w[1].1 < w[0].1).count() as f64,
        _ => return None,
    })
}

fn math1(name: &str, v: f64) -> Option<f64> {
    Some(match name {
        "abs" => v.abs(),
        "ceil" => v.ceil(),
        "floor" => v.floor(),
        "sqrt" => v.sqrt(),
        "exp" => v.exp(),
        "ln" => v.ln(),
        "log2" => v.log2(),
        "log10" => v.log10(),
        "sgn" => {
            if v > 0.0 {
                1.0
            } else if v < 0.0 {
                -1.0
            } else {
                v
            }
        }
        "sin" => v.sin(),
        "cos" => v.cos(),
        "tan" => v.tan(),
        "asin" => v.asin(),
        "acos" => v.acos(),
        "atan" => v.atan(),
        "sinh" => v.sinh(),
        "cosh" => v.cosh(),
        "tanh" => v.tanh(),
        "asinh" => v.asinh(),
        "acosh" => v.acosh(),
        "atanh" => v.atanh(),
        "deg" => v.to_degrees(),
        "rad" => v.to_radians(),
        _ => return None,
    })
}

fn date_part(name: &str, v: f64) -> f64 {
    if !v.is_finite() {
        return f64::NAN;
    }
    let Ok(dt) = time::OffsetDateTime::from_unix_timestamp(v.floor() as i64) else { return f64::NAN };
    match name {
        "minute" => dt.minute() as f64,
        "hour" => dt.hour() as f64,
        "day_of_month" => dt.day() as f64,
        "day_of_week" => dt.weekday().number_days_from_sunday() as f64,
        "day_of_year" => dt.ordinal() as f64,
        "days_in_month" => time::util::days_in_month(dt.month(), dt.year()) as f64,
        "month" => dt.month() as u8 as f64,
        "year" => dt.year() as f64,
        _ => f64::NAN,
    }
}

fn bucket_quantile(q: f64, buckets: &mut [(f64, f64)]) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    if buckets.last().is_none_or(|b| b.0 != f64::INFINITY) {
        return f64::NAN;
    }
    // Coalesce equal bounds.
    let mut merged: Vec<(f64, f64)> = Vec::with_capacity(buckets.len());
    for &(ub, c) in buckets.iter() {
        match merged.last_mut() {
            Some(last) if last.0 == ub => last.1 += c,
            _ => merged.push((ub, c)),
        }
    }
    // Ensure monotonic counts.
    let mut max = f64::NEG_INFINITY;
    for b in merged.iter_mut() {
        if b.1 > max {
            max = b.1;
        } else if b.1 < max {
            b.1 = max;
        }
    }
    if merged.len() < 2 {
        return f64::NAN;
    }
    let observations = merged[merged.len() - 1].1;
    if observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * observations;
    let b = merged[..merged.len() - 1].partition_point(|x| x.1 < rank);
    if b == merged.len() - 1 {
        return merged[merged.len() - 2].0;
    }
    if b == 0 && merged[0].0 <= 0.0 {
        return merged[0].0;
    }
    let (mut start, end, mut count) = (0.0, merged[b].0, merged[b].1);
    if b > 0 {
        start = merged[b - 1].0;
        count -= merged[b - 1].1;
        rank -= merged[b - 1].1;
    }
    start + (end - start) * (rank / count)
}

fn expand(re: &regex::Regex, src: &str, replacement: &str) -> Option<String> {
    let caps = re.captures(src)?;
    let mut out = String::new();
    caps.expand(replacement, &mut out);
    Some(out)
}

fn set_label(labels: &Labels, name: &str, value: &str) -> Labels {
    let mut l: Vec<(String, String)> = labels.iter().filter(|&(n, _)| n != name).map(|(n, v)| (n.to_string(), v.to_string())).collect();
    if !value.is_empty() {
        l.push((name.to_string(), value.to_string()));
    }
    Labels::new(l)
}

fn string_arg(ev: &mut Evaluator, c: &Call, i: usize, t: i64) -> Result<String> {
    match ev.eval(arg(c, i)?, t)? {
        Value::String(s) => Ok(s),
        other => Err(exec(format!("{}: argument {} must be a string, got a {}", c.func.name, i + 1, other.type_name()))),
    }
}

fn map_vector(ev: &mut Evaluator, v: Vec<Sample>, t: i64, f: impl Fn(f64) -> f64) -> Result<Value> {
    let out = v.into_iter().map(|s| Sample { labels: ev.labels.drop_name(&s.labels), t, v: f(s.v) }).collect();
    Ok(Value::Vector(check_unique_interned(out)?))
}

pub(super) fn call(ev: &mut Evaluator, c: &Call, t: i64) -> Result<Value> {
    let name = c.func.name;
    match name {
        "time" => return Ok(Value::Scalar(t as f64 / 1000.0)),
        "pi" => return Ok(Value::Scalar(std::f64::consts::PI)),
        "rate" | "increase" | "delta" | "irate" | "idelta" | "deriv" | "predict_linear" => {
            let mut out = Vec::new();
            // A plain range selector: each series' window is a slice of the samples selected
            // once for the query, no copy per step.
            if let Some((vs, range)) = direct_matrix(arg(c, 0)?) {
                let horizon = if name == "predict_linear" { ev.eval_scalar(arg(c, 1)?, t)? } else { 0.0 };
                let rt = at(ev, &vs.at, t) - offset_ms(&vs.offset);
                let series = ev.selected(vs);
                let mut cursors = ev.take_cursors(vs, series.len());
                let mut buf = Vec::new();
                for (s, cur) in series.iter().zip(cursors.iter_mut()) {
                    let p = super::eval::window(s, rt - range, rt, cur, &mut buf);
                    if p.is_empty() {
                        continue;
                    }
                    if let Some(v) = range_fn(name, p, range, rt, t, horizon) {
                        out.push(Sample { labels: ev.labels.drop_name(&s.labels), t, v });
                    }
                }
                ev.put_cursors(vs, cursors);
                return Ok(Value::Vector(check_unique_interned(out)?));
            }
            let (series, range, rt) = range_arg(ev, arg(c, 0)?, t)?;
            let horizon = if name == "predict_linear" { ev.eval_scalar(arg(c, 1)?, t)? } else { 0.0 };
            for s in series {
                if let Some(v) = range_fn(name, &s.points, range, rt, t, horizon) {
                    out.push(Sample { labels: ev.labels.drop_name(&s.labels), t, v });
                }
            }
            return Ok(Value::Vector(check_unique_interned(out)?));
        }
        "avg_over_time" | "sum_over_time" | "count_over_time" | "min_over_time" | "max_over_time" | "last_over_time"
        | "present_over_time" | "stddev_over_time" | "stdvar_over_time" | "quantile_over_time" | "changes" | "resets" => {
            let (param, range_expr) =
                if name == "quantile_over_time" { (ev.eval_scalar(arg(c, 0)?, t)?, arg(c, 1)?) } else { (0.0, arg(c, 0)?) };
            let mut out = Vec::new();
            if let Some((vs, range)) = direct_matrix(range_expr) {
                let rt = at(ev, &vs.at, t) - offset_ms(&vs.offset);
                let series = ev.selected(vs);
                let mut cursors = ev.take_cursors(vs, series.len());
                let mut buf = Vec::new();
                for (s, cur) in series.iter().zip(cursors.iter_mut()) {
                    let p = super::eval::window(s, rt - range, rt, cur, &mut buf);
                    if p.is_empty() {
                        continue;
                    }
                    if let Some(v) = over_time(name, p, param) {
                        let labels = if name == "last_over_time" { ev.labels.canon(&s.labels) } else { ev.labels.drop_name(&s.labels) };
                        out.push(Sample { labels, t, v });
                    }
                }
                ev.put_cursors(vs, cursors);
                return Ok(Value::Vector(check_unique_interned(out)?));
            }
            let (series, _, _) = range_arg(ev, range_expr, t)?;
            for s in series {
                if let Some(v) = over_time(name, &s.points, param) {
                    let labels = if name == "last_over_time" { ev.labels.canon(&s.labels) } else { ev.labels.drop_name(&s.labels) };
                    out.push(Sample { labels, t, v });
                }
            }
            return Ok(Value::Vector(check_unique_interned(out)?));
        }
        "absent_over_time" => {
            let (series, _, _) = range_arg(ev, arg(c, 0)?, t)?;
            if !series.is_empty() {
                return Ok(Value::Vector(vec![]));
            }
            return Ok(Value::Vector(vec![Sample { labels: absent_labels(arg(c, 0)?), t, v: 1.0 }]));
        }
        _ => {}
    }
    if let Some(_probe) = math1(name, 0.0) {
        let v = ev.eval_vector(arg(c, 0)?, t)?;
        return map_vector(ev, v, t, |x| math1(name, x).unwrap_or(f64::NAN));
    }
    match name {
        "round" => {
            let v = ev.eval_vector(arg(c, 0)?, t)?;
            let to = if c.args.args.len() > 1 { ev.eval_scalar(arg(c, 1)?, t)? } else { 1.0 };
            let inv = 1.0 / to;
            map_vector(ev, v, t, |x| (x * inv + 0.5).floor() / inv)
        }
        "clamp" | "clamp_min" | "clamp_max" => {
            let v = ev.eval_vector(arg(c, 0)?, t)?;
            // Go's math.Max/Min: NaN in, NaN out.
            let gmax = |a: f64, b: f64| if a.is_nan() || b.is_nan() { f64::NAN } else { a.max(b) };
            let gmin = |a: f64, b: f64| if a.is_nan() || b.is_nan() { f64::NAN } else { a.min(b) };
            match name {
                "clamp" => {
                    let (lo, hi) = (ev.eval_scalar(arg(c, 1)?, t)?, ev.eval_scalar(arg(c, 2)?, t)?);
                    if hi < lo {
                        return Ok(Value::Vector(vec![]));
                    }
                    map_vector(ev, v, t, |x| gmax(lo, gmin(hi, x)))
                }
                "clamp_min" => {
                    let lo = ev.eval_scalar(arg(c, 1)?, t)?;
                    map_vector(ev, v, t, |x| gmax(lo, x))
                }
                _ => {
                    let hi = ev.eval_scalar(arg(c, 1)?, t)?;
                    map_vector(ev, v, t, |x| gmin(hi, x))
                }
            }
        }
        "timestamp" => {
            let v = ev.eval_vector(arg(c, 0)?, t)?;
            map_timestamps(ev, v, t)
        }
        "sort" | "sort_desc" => {
            let mut v = ev.eval_vector(arg(c, 0)?, t)?;
            v.sort_by(|a, b| {
                let o = match (a.v.is_nan(), b.v.is_nan()) {
                    (true, true) => std::cmp::Ordering::Equal,
                    (true, false) => return std::cmp::Ordering::Greater,
                    (false, true) => return std::cmp::Ordering::Less,
                    _ => a.v.total_cmp(&b.v),
                };
                if name == "sort" { o } else { o.reverse() }
            });
            Ok(Value::Vector(v.into_iter().map(|s| Sample { t, ..s }).collect()))
        }
        "vector" => Ok(Value::Vector(vec![Sample { labels: Labels::default(), t, v: ev.eval_scalar(arg(c, 0)?, t)? }])),
        "scalar" => {
            let v = ev.eval_vector(arg(c, 0)?, t)?;
            Ok(Value::Scalar(if v.len() == 1 { v[0].v } else { f64::NAN }))
        }
        "absent" => {
            let v = ev.eval_vector(arg(c, 0)?, t)?;
            if !v.is_empty() {
                return Ok(Value::Vector(vec![]));
            }
            Ok(Value::Vector(vec![Sample { labels: absent_labels(arg(c, 0)?), t, v: 1.0 }]))
        }
        "histogram_quantile" => {
            let q = ev.eval_scalar(arg(c, 0)?, t)?;
            let v = ev.eval_vector(arg(c, 1)?, t)?;
            let mut order: Vec<Labels> = Vec::new();
            let mut groups: std::collections::HashMap<Labels, Vec<(f64, f64)>> = Default::default();
            for s in v {
                let Some(ub) = s.labels.get("le").and_then(parse_le) else { continue };
                let key = Labels::from_pairs(s.labels.iter().filter(|&(n, _)| n != "le" && n != "__name__"));
                groups
                    .entry(key.clone())
                    .or_insert_with(|| {
                        order.push(key);
                        Vec::new()
                    })
                    .push((ub, s.v));
            }
            let mut out = Vec::new();
            for key in order {
                let mut b = groups.remove(&key).unwrap_or_default();
                out.push(Sample { labels: key, t, v: bucket_quantile(q, &mut b) });
            }
            Ok(Value::Vector(out))
        }
        "label_replace" => {
            let v = ev.eval_vector(arg(c, 0)?, t)?;
            let dst = string_arg(ev, c, 1, t)?;
            let repl = string_arg(ev, c, 2, t)?;
            let src = string_arg(ev, c, 3, t)?;
            let re_s = string_arg(ev, c, 4, t)?;
            let re = regex::Regex::new(&format!("^(?s:{re_s})$"))
                .map_err(|e| exec(format!("invalid regular expression in label_replace(): {e}")))?;
            if !crate::tsdb::remote_write::valid_label_name(&dst) {
                return Err(exec(format!("invalid destination label name in label_replace(): {dst}")));
            }
            let mut out = Vec::with_capacity(v.len());
            for s in v {
                let sv = s.labels.get(&src).unwrap_or("").to_string();
                let labels = match expand(&re, &sv, &repl) {
                    Some(new) => set_label(&s.labels, &dst, &new),
                    None => s.labels,
                };
                out.push(Sample { labels, t, v: s.v });
            }
            Ok(Value::Vector(check_unique(out)?))
        }
        "label_join" => {
            let v = ev.eval_vector(arg(c, 0)?, t)?;
            let dst = string_arg(ev, c, 1, t)?;
            let sep = string_arg(ev, c, 2, t)?;
            let mut srcs = Vec::new();
            for i in 3..c.args.args.len() {
                srcs.push(string_arg(ev, c, i, t)?);
            }
            if !crate::tsdb::remote_write::valid_label_name(&dst) {
                return Err(exec(format!("invalid destination label name in label_join(): {dst}")));
            }
            let mut out = Vec::with_capacity(v.len());
            for s in v {
                let joined: Vec<&str> = srcs.iter().map(|n| s.labels.get(n).unwrap_or("")).collect();
                out.push(Sample { labels: set_label(&s.labels, &dst, &joined.join(&sep)), t, v: s.v });
            }
            Ok(Value::Vector(check_unique(out)?))
        }
        "minute" | "hour" | "day_of_month" | "day_of_week" | "day_of_year" | "days_in_month" | "month" | "year" => {
            let v = if c.args.args.is_empty() {
                vec![Sample { labels: Labels::default(), t, v: t as f64 / 1000.0 }]
            } else {
                ev.eval_vector(arg(c, 0)?, t)?
            };
            map_vector(ev, v, t, |x| date_part(name, x))
        }
        other => Err(exec(format!("function {other}() is not supported yet"))),
    }
}

fn map_timestamps(ev: &mut Evaluator, v: Vec<Sample>, t: i64) -> Result<Value> {
    let out = v.into_iter().map(|s| Sample { labels: ev.labels.drop_name(&s.labels), t, v: s.t as f64 / 1000.0 }).collect();
    Ok(Value::Vector(check_unique_interned(out)?))
}

fn parse_le(s: &str) -> Option<f64> {
    match s.trim() {
        "+Inf" | "Inf" | "+inf" | "inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        other => other.parse().ok(),
    }
}

/// Labels of `absent(sel)`: the selector's equality matchers, except the name and any label
/// matched more than once.
fn absent_labels(e: &Expr) -> Labels {
    let vs = match e {
        Expr::VectorSelector(vs) => vs,
        Expr::MatrixSelector(m) => &m.vs,
        _ => return Labels::default(),
    };
    let ms = selector_matchers(vs);
    let mut out: Vec<(String, String)> = Vec::new();
    for m in &ms {
        if m.name == "__name__" {
            continue;
        }
        let dup = ms.iter().filter(|x| x.name == m.name).count() > 1;
        if matches!(m.op, MatchOp::Equal) && !dup {
            out.push((m.name.clone(), m.value.clone()));
        }
    }
    Labels::new(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_quantile_interpolates_and_handles_edges() {
        let mut b = [(0.1, 10.0), (0.5, 20.0), (f64::INFINITY, 20.0)];
        assert!((bucket_quantile(0.5, &mut b) - 0.1).abs() < 1e-12);
        // rank 15 falls in (0.1, 0.5] holding 20 observations, 5 of them below the rank.
        let mut b = [(0.1, 10.0), (0.5, 30.0), (f64::INFINITY, 30.0)];
        assert!((bucket_quantile(0.5, &mut b) - 0.2).abs() < 1e-12);
        // Highest rank falls into +Inf: the upper bound of the last finite bucket.
        let mut b = [(0.1, 10.0), (f64::INFINITY, 20.0)];
        assert_eq!(bucket_quantile(0.99, &mut b), 0.1);
        let mut b = [(0.1, 10.0)];
        assert!(bucket_quantile(0.5, &mut b).is_nan(), "no +Inf bucket");
        assert_eq!(bucket_quantile(-1.0, &mut []), f64::NEG_INFINITY);
    }

    #[test]
    fn rate_extrapolates_like_prometheus() {
        // 0..=50 every 10s over a 60s window ending at 60s: sampled 50s, extrapolated to 60s
        // at the end only (start is limited by the zero point of the counter).
        let p: Vec<(i64, f64)> = (0..=5).map(|i| (i * 10_000 + 10_000, i as f64 * 10.0)).collect();
        let inc = extrapolated_rate(&p, 60_000, 60_000, true, false).unwrap();
        assert!((inc - 50.0).abs() < 1e-9, "{inc}");
        assert!(extrapolated_rate(&p[..1], 60_000, 60_000, true, true).is_none());
    }
}

//! Data-driven PromQL tests: `testdata/*.test` scripts in a small subset of Prometheus's
//! `promqltest` format.
//!
//! ```text
//! load 1m                              # samples every minute from t=0
//!   metric{job="a"} 0+10x5 _ stale 3   # 0 10 20 30 40 50, a gap, a staleness marker, 3
//! clear                                # empty the store
//! eval instant at 5m sum(metric)       # evaluate, expect exactly these samples (any order)
//!   {} 50
//! eval_ordered instant at 5m sort(metric)   # … in this order
//! eval_fail instant at 5m a + on() b   # must fail; an indented line is a substring of the error
//!   many-to-many
//! ```

use std::collections::HashMap;

use super::{Engine, QueryError, Value};
use crate::tsdb::{Db, Labels};

fn parse_duration_ms(s: &str) -> Result<i64, String> {
    if let Ok(v) = s.parse::<f64>() {
        return Ok((v * 1000.0) as i64);
    }
    if s.trim_end_matches(char::is_alphabetic).parse::<f64>() == Ok(0.0) {
        return Ok(0);
    }
    promql_parser::util::parse_duration(s).map(|d| d.as_millis() as i64)
}

/// Parses `name{a="b", c="d"}`, `{a="b"}` or `name`.
pub(super) fn parse_series(s: &str) -> Result<(Labels, &str), String> {
    let s = s.trim_start();
    let name_end = s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':')).unwrap_or(s.len());
    let mut pairs = Vec::new();
    if name_end > 0 {
        pairs.push(("__name__".to_string(), s[..name_end].to_string()));
    }
    let mut rest = &s[name_end..];
    if let Some(r) = rest.strip_prefix('{') {
        rest = r;
        loop {
            rest = rest.trim_start_matches([' ', ',']);
            if let Some(r) = rest.strip_prefix('}') {
                rest = r;
                break;
            }
            let eq = rest.find('=').ok_or("expected =")?;
            let name = rest[..eq].trim().to_string();
            let mut chars = rest[eq + 1..].char_indices();
            if chars.next().map(|c| c.1) != Some('"') {
                return Err(format!("expected a quoted value in {s:?}"));
            }
            let mut value = String::new();
            let mut end = None;
            let mut escaped = false;
            for (i, c) in chars {
                match (escaped, c) {
                    (true, 'n') => value.push('\n'),
                    (true, c) => value.push(c),
                    (false, '\\') => {
                        escaped = true;
                        continue;
                    }
                    (false, '"') => {
                        end = Some(eq + 1 + i + 1);
                        break;
                    }
                    (false, c) => value.push(c),
                }
                escaped = false;
            }
            let end = end.ok_or("unterminated value")?;
            pairs.push((name, value));
            rest = &rest[end..];
        }
    }
    Ok((Labels::new(pairs), rest))
}

fn parse_value(s: &str) -> Result<f64, String> {
    match s {
        "Inf" | "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => s.parse().map_err(|_| format!("bad number {s:?}")),
    }
}

/// Expands `0+10x3 _ stale 7` into values (None = no sample).
fn expand_values(s: &str) -> Result<Vec<Option<f64>>, String> {
    let mut out = Vec::new();
    for tok in s.split_whitespace() {
        if tok == "_" {
            out.push(None);
        } else if let Some(n) = tok.strip_prefix("_x") {
            out.extend(std::iter::repeat_n(None, n.parse::<usize>().map_err(|e| e.to_string())?));
        } else if tok == "stale" {
            out.push(Some(f64::from_bits(crate::tsdb::STALE_NAN)));
        } else if let Some((base, n)) = tok.split_once('x') {
            let n: usize = n.parse().map_err(|_| format!("bad repeat {tok:?}"))?;
            // base is `a+b` or `a-b` (a may itself be negative).
            let split = base[1..].find(['+', '-']).map(|i| i + 1).ok_or(format!("bad series {tok:?}"))?;
            let a = parse_value(&base[..split])?;
            let b = parse_value(&base[split + 1..])?;
            let b = if &base[split..split + 1] == "-" { -b } else { b };
            for i in 0..=n {
                out.push(Some(a + b * i as f64));
            }
        } else {
            out.push(Some(parse_value(tok)?));
        }
    }
    Ok(out)
}

fn close(a: f64, b: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    if a == b {
        return true;
    }
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1e-300) || (a - b).abs() < 1e-12
}

/// Runs one script; the error names the line.
pub(super) fn run(name: &str, script: &str) -> Result<usize, String> {
    let mut head = Db::default();
    let engine = Engine::default();
    let lines: Vec<&str> = script.lines().collect();
    let mut i = 0;
    let mut evals = 0;
    while i < lines.len() {
        let line = lines[i].trim();
        let lineno = i + 1;
        i += 1;
        let ctx = |msg: String| format!("{name}:{lineno}: {msg}");
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut body = Vec::new();
        while i < lines.len() && lines[i].starts_with([' ', '\t']) && !lines[i].trim().is_empty() {
            body.push(lines[i].trim());
            i += 1;
        }
        if let Some(step) = line.strip_prefix("load ") {
            let step = parse_duration_ms(step.trim()).map_err(ctx)?;
            for b in body {
                let (labels, rest) = parse_series(b).map_err(ctx)?;
                let values = expand_values(rest).map_err(ctx)?;
                let samples: Vec<(i64, f64)> =
                    values.into_iter().enumerate().filter_map(|(k, v)| v.map(|v| (k as i64 * step, v))).collect();
                head.head.replay(&labels, &samples);
            }
        } else if line == "clear" {
            head = Db::default();
        } else if let Some(rest) = line.strip_prefix("eval") {
            evals += 1;
            let (kind, rest) = rest.split_once(' ').ok_or_else(|| ctx("bad eval line".into()))?;
            let rest = rest.strip_prefix("instant at ").ok_or_else(|| ctx("only `instant at` is supported".into()))?;
            let (at, query) = rest.split_once(' ').ok_or_else(|| ctx("missing query".into()))?;
            let t = parse_duration_ms(at).map_err(ctx)?;
            let result = engine.instant(&head, query, t);
            match kind {
                "_fail" => match result {
                    Ok(v) => return Err(ctx(format!("expected an error, got {v:?}"))),
                    Err(e) => {
                        if let Some(want) = body.first()
                            && !e.to_string().contains(want)
                        {
                            return Err(ctx(format!("error {e:?} does not contain {want:?}")));
                        }
                    }
                },
                "" | "_ordered" => {
                    let got = result.map_err(|e: QueryError| ctx(format!("{query}: {e}")))?;
                    check(&got, &body, kind == "_ordered").map_err(|e| ctx(format!("{query}: {e}")))?;
                }
                other => return Err(ctx(format!("unknown command eval{other}"))),
            }
        } else {
            return Err(ctx(format!("unknown command {line:?}")));
        }
    }
    Ok(evals)
}

fn check(got: &Value, expected: &[&str], ordered: bool) -> Result<(), String> {
    match got {
        Value::Scalar(v) => {
            let want = parse_value(expected.first().ok_or("expected nothing, got a scalar")?.trim()).map_err(|e| e.to_string())?;
            if !close(*v, want) {
                return Err(format!("got scalar {v}, want {want}"));
            }
        }
        Value::Vector(samples) => {
            let mut want: Vec<(Labels, f64)> = Vec::new();
            for e in expected {
                let (labels, rest) = parse_series(e)?;
                want.push((labels, parse_value(rest.trim())?));
            }
            if want.len() != samples.len() {
                let got: Vec<String> = samples.iter().map(|s| format!("{} {}", s.labels, s.v)).collect();
                return Err(format!("got {} samples, want {}:\n  {}", samples.len(), want.len(), got.join("\n  ")));
            }
            let by_labels: HashMap<&Labels, f64> = samples.iter().map(|s| (&s.labels, s.v)).collect();
            for (k, (labels, v)) in want.iter().enumerate() {
                let g = by_labels.get(labels).ok_or_else(|| format!("missing {labels}; got {samples:?}"))?;
                if !close(*g, *v) {
                    return Err(format!("{labels}: got {g}, want {v}"));
                }
                if ordered && &samples[k].labels != labels {
                    return Err(format!("position {k}: got {}, want {labels}", samples[k].labels));
                }
            }
        }
        other => return Err(format!("unexpected {} result", other.type_name())),
    }
    Ok(())
}

#[test]
fn testdata_scripts() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/promql/testdata");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let mut failures = Vec::new();
    let mut total = 0;
    for f in files.iter().filter(|f| f.extension().is_some_and(|e| e == "test")) {
        let text = std::fs::read_to_string(f).unwrap();
        match run(&f.file_name().unwrap().to_string_lossy(), &text) {
            Ok(n) => total += n,
            Err(e) => failures.push(e),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(total > 20, "only {total} evals ran");
}

#[test]
fn value_notation_expands() {
    let v = expand_values("0+10x2 _ -1-1x1 stale _x2 Inf").unwrap();
    assert_eq!(v.len(), 3 + 1 + 2 + 1 + 2 + 1);
    assert_eq!(v[0..3], [Some(0.0), Some(10.0), Some(20.0)]);
    assert_eq!(v[4..6], [Some(-1.0), Some(-2.0)]);
    assert!(crate::tsdb::is_stale(v[6].unwrap()));
}

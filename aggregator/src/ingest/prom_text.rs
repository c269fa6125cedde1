//! Prometheus text exposition import (`POST /api/v1/import/prometheus`, as VictoriaMetrics
//! names it), parsed with `prometheus-parse`.
//!
//! Samples without a timestamp get the time of the request. Histograms come back as
//! `<name>_bucket{le}` (plus the `_sum`/`_count` lines as they are), summaries as
//! `<name>{quantile}`. `# HELP`/`# TYPE` become metadata. Every non-empty, non-comment line
//! must be a sample with a number as value (`NaN`, `+Inf`, `-Inf` allowed): anything else
//! rejects the whole body with the line number (400) — the parser alone would skip it silently.

use std::collections::BTreeMap;

use prometheus_parse::{LineInfo, Scrape, Value};

use crate::tsdb::{Labels, MetricMetadata};

/// Parsed series and metadata.
pub type Parsed = (Vec<(Labels, Vec<(i64, f64)>)>, Vec<(String, MetricMetadata)>);

/// Parses a text body; `now_ms` stamps samples without a timestamp.
pub fn parse(body: &str, now_ms: i64) -> Result<Parsed, String> {
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    for (i, line) in body.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        if t.starts_with('#') {
            let mut words = t.trim_start_matches('#').split_whitespace();
            if words.next() == Some("TYPE")
                && let (Some(name), Some(kind)) = (words.next(), words.next())
            {
                types.insert(name.to_string(), kind.to_string());
            }
            continue;
        }
        match LineInfo::parse(t) {
            LineInfo::Sample { metric_name, labels, value, timestamp } => {
                let v = value.to_ascii_lowercase();
                if v != "nan" && v.parse::<f64>().is_err() {
                    return Err(format!("line {}: value {value:?} of {metric_name} is not a number", i + 1));
                }
                if let Some(ts) = timestamp
                    && ts.parse::<i64>().is_err()
                {
                    return Err(format!("line {}: timestamp {ts:?} is not an integer of milliseconds", i + 1));
                }
                if let Some(l) = labels
                    && l.split(',').any(|kv| !kv.trim().is_empty() && !kv.contains('='))
                {
                    return Err(format!("line {}: malformed labels {{{l}}}", i + 1));
                }
            }
            _ => return Err(format!("line {}: not a sample line: {t:?}", i + 1)),
        }
    }
    let scrape = Scrape::parse_at(body.lines().map(|l| Ok(l.to_string())), chrono_ms(now_ms)).map_err(|e| e.to_string())?;
    let mut series: BTreeMap<Labels, Vec<(i64, f64)>> = BTreeMap::new();
    for s in scrape.samples {
        let t = s.timestamp.timestamp_millis();
        let base: Vec<(String, String)> = s.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let mut put = |name: &str, extra: Option<(&str, String)>, v: f64| {
            let mut pairs = base.clone();
            pairs.retain(|(k, _)| k != "__name__");
            if let Some((k, x)) = extra {
                pairs.retain(|(n, _)| n != k);
                pairs.push((k.to_string(), x));
            }
            pairs.push(("__name__".into(), name.to_string()));
            series.entry(Labels::new(pairs)).or_default().push((t, v));
        };
        match s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => put(&s.metric, None, v),
            Value::Histogram(buckets) => {
                let name = if s.metric.ends_with("_bucket") { s.metric.clone() } else { format!("{}_bucket", s.metric) };
                for b in buckets {
                    put(&name, Some(("le", crate::promql::format_float(b.less_than))), b.count);
                }
            }
            Value::Summary(qs) => {
                for q in qs {
                    put(&s.metric, Some(("quantile", crate::promql::format_float(q.quantile))), q.count);
                }
            }
        }
    }
    let metadata = types
        .into_iter()
        .map(|(name, kind)| {
            let help = scrape.docs.get(&name).cloned().unwrap_or_default();
            (name, MetricMetadata { kind, help, unit: String::new() })
        })
        .collect();
    let series = series
        .into_iter()
        .map(|(l, mut s)| {
            s.sort_by_key(|x| x.0);
            (l, s)
        })
        .collect();
    Ok((series, metadata))
}

fn chrono_ms(ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_types_histograms_and_timestamps() {
        let body = "# HELP http_requests_total Requests.\n# TYPE http_requests_total counter\nhttp_requests_total{code=\"200\"} 1027 1700000000000\nhttp_requests_total{code=\"500\"} 3\n# TYPE lat histogram\nlat_bucket{le=\"0.5\"} 1 1700000000000\nlat_bucket{le=\"+Inf\"} 4 1700000000000\nlat_sum 2.5 1700000000000\nlat_count 4 1700000000000\n";
        let (series, md) = parse(body, 1_800_000_000_000).unwrap();
        let find = |name: &str, k: &str, v: &str| {
            series.iter().find(|(l, _)| l.get("__name__") == Some(name) && l.get(k) == Some(v)).map(|(_, s)| s.clone())
        };
        assert_eq!(find("http_requests_total", "code", "200"), Some(vec![(1_700_000_000_000, 1027.0)]));
        assert_eq!(find("http_requests_total", "code", "500"), Some(vec![(1_800_000_000_000, 3.0)]));
        assert_eq!(find("lat_bucket", "le", "+Inf"), Some(vec![(1_700_000_000_000, 4.0)]));
        assert_eq!(find("lat_bucket", "le", "0.5"), Some(vec![(1_700_000_000_000, 1.0)]));
        assert!(series.iter().any(|(l, _)| l.get("__name__") == Some("lat_count")));
        let c = md.iter().find(|(n, _)| n == "http_requests_total").unwrap();
        assert_eq!((c.1.kind.as_str(), c.1.help.as_str()), ("counter", "Requests."));
    }

    #[test]
    fn malformed_lines_are_errors_with_the_line() {
        assert!(parse("ok 1\nbad line here\n", 0).unwrap_err().starts_with("line 2"));
        assert!(parse("x one\n", 0).unwrap_err().contains("not a number"));
        assert!(parse("x 1 12.5\n", 0).unwrap_err().contains("timestamp"));
    }
}

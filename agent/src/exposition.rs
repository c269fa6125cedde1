//! Reading the Prometheus text exposition format into [`MetricSample`]s.
//!
//! Parsing is done by the `prometheus-parse` crate behind this one function, so it can be
//! replaced without touching the sources. Histograms come back as their `_bucket{le="…"}`
//! series (plus `_sum` and `_count` as written), summaries as `{quantile="…"}` series.
//!
//! Known limits of the parser, all counted nowhere because they are silent in the crate: label
//! values containing `,` or `=` or escaped quotes are split wrongly, metric names containing `:`
//! are skipped, and `le`/`quantile` values are re-formatted from the parsed float (`1e-05` comes
//! back as `0.00001`).

use chrono::{TimeZone, Utc};

use crate::metric::MetricSample;

/// A timestamp no exposition carries, standing for "no timestamp on this line".
const NO_TIMESTAMP_MS: i64 = -9_999_999_999_999;

/// One parsed sample and whether the exposition gave it a timestamp.
pub struct Parsed {
    /// The sample; its timestamp is `default_ms` unless the line had its own.
    pub sample: MetricSample,
    /// The line carried an explicit timestamp.
    pub explicit_timestamp: bool,
}

/// Parses an exposition body. Samples without a timestamp get `default_ms`.
pub fn parse(body: &str, default_ms: i64) -> Vec<Parsed> {
    let sentinel = Utc.timestamp_millis_opt(NO_TIMESTAMP_MS).single().expect("sentinel time in range");
    let lines = body.lines().map(|l| Ok(l.to_string()));
    let Ok(scrape) = prometheus_parse::Scrape::parse_at(lines, sentinel) else { return Vec::new() };
    let mut out = Vec::with_capacity(scrape.samples.len());
    for s in scrape.samples {
        let ts = s.timestamp.timestamp_millis();
        let explicit = ts != NO_TIMESTAMP_MS;
        let timestamp_ms = if explicit { ts } else { default_ms };
        let labels: std::collections::BTreeMap<String, String> =
            s.labels.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| (k.clone(), v.clone())).collect();
        let mut push = |name: String, labels: std::collections::BTreeMap<String, String>, value: f64| {
            out.push(Parsed { sample: MetricSample { name, labels, timestamp_ms, value }, explicit_timestamp: explicit });
        };
        match s.value {
            prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Gauge(v) | prometheus_parse::Value::Untyped(v) => {
                push(s.metric, labels, v)
            }
            prometheus_parse::Value::Histogram(buckets) => {
                for b in buckets {
                    let mut l = labels.clone();
                    l.insert("le".into(), format_float(b.less_than));
                    push(format!("{}_bucket", s.metric), l, b.count);
                }
            }
            prometheus_parse::Value::Summary(quantiles) => {
                for q in quantiles {
                    let mut l = labels.clone();
                    l.insert("quantile".into(), format_float(q.quantile));
                    push(s.metric.clone(), l, q.count);
                }
            }
        }
    }
    out
}

/// A float as the exposition format writes label values: `+Inf`, `-Inf`, `NaN`, else shortest.
pub fn format_float(v: f64) -> String {
    if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else if v.is_nan() {
        "NaN".into()
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_metric_type() {
        let body = "# TYPE http_requests_total counter\nhttp_requests_total{code=\"200\",method=\"get\"} 1027 1395066363000\n\
# TYPE temp gauge\ntemp 21.5\n\
# TYPE lat histogram\nlat_bucket{le=\"0.5\"} 3\nlat_bucket{le=\"+Inf\"} 5\nlat_sum 2.5\nlat_count 5\n\
# TYPE rpc summary\nrpc{quantile=\"0.99\"} 0.3\nrpc_sum 9\nrpc_count 30\n";
        let got = parse(body, 7);
        let find = |name: &str, label: Option<(&str, &str)>| {
            got.iter()
                .find(|p| p.sample.name == name && label.is_none_or(|(k, v)| p.sample.labels.get(k).map(String::as_str) == Some(v)))
                .unwrap_or_else(|| panic!("{name} {label:?} missing"))
        };
        let c = find("http_requests_total", Some(("code", "200")));
        assert_eq!((c.sample.value, c.sample.timestamp_ms, c.explicit_timestamp), (1027.0, 1395066363000, true));
        let t = find("temp", None);
        assert_eq!((t.sample.value, t.sample.timestamp_ms, t.explicit_timestamp), (21.5, 7, false));
        assert_eq!(find("lat_bucket", Some(("le", "+Inf"))).sample.value, 5.0);
        assert_eq!(find("lat_bucket", Some(("le", "0.5"))).sample.value, 3.0);
        assert_eq!(find("lat_count", None).sample.value, 5.0);
        assert_eq!(find("rpc", Some(("quantile", "0.99"))).sample.value, 0.3);
        assert_eq!(find("rpc_count", None).sample.value, 30.0);
        assert_eq!(got.len(), 9);
    }
}

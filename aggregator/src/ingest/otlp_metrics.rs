//! OTLP/HTTP metrics (`POST /v1/metrics`, protobuf or JSON, gzip/zstd) translated to Prometheus
//! series by the OpenTelemetry→Prometheus conventions (as Prometheus's OTLP receiver does with
//! suffixes enabled):
//!
//! - names: characters outside `[a-zA-Z0-9_:]` become `_`; the unit is appended as a word
//!   (`s` → `_seconds`, `By` → `_bytes`, `ms` → `_milliseconds`, `By/s` → `_bytes_per_second`,
//!   `1` on a gauge → `_ratio`; units in braces are annotations and dropped) unless the name
//!   already contains it; monotonic cumulative sums get `_total`.
//! - labels: data point attributes, sanitised the same way (a leading digit gets `key_`);
//!   `job` from `service.namespace/service.name`, `instance` from `service.instance.id`; every
//!   resource carrying either also yields `target_info{job,instance,<other resource attrs>} 1`.
//! - gauge and non-monotonic sum → a gauge; histogram (explicit buckets) → cumulative
//!   `_bucket{le}` (with `+Inf`), `_sum`, `_count`; summary → `{quantile}`, `_sum`, `_count`.
//! - a point flagged "no recorded value" becomes a staleness marker.
//! - delta-temporality sums and histograms and exponential histograms are not representable as
//!   Prometheus samples: they are dropped and counted (`dropped` in the answer and
//!   `lookout_tsdb_rejected_samples_total{reason="otlp_unsupported"}`).

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{AggregationTemporality, metric, number_data_point};
use prost::Message;

use crate::tsdb::{Labels, MetricMetadata, STALE_NAN};

/// A translated request.
#[derive(Debug, Default)]
pub struct Translated {
    /// Series and samples.
    pub series: Vec<(Labels, Vec<(i64, f64)>)>,
    /// Metadata per family.
    pub metadata: Vec<(String, MetricMetadata)>,
    /// Data points that have no Prometheus representation.
    pub dropped: u64,
}

/// Decodes a (decompressed) body by content type.
pub fn decode(content_type: Option<&str>, body: &[u8]) -> Result<ExportMetricsServiceRequest, String> {
    let ct = content_type.unwrap_or("application/x-protobuf").split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match ct.as_str() {
        "application/json" => serde_json::from_slice(body).map_err(|e| format!("invalid OTLP JSON: {e}")),
        "application/x-protobuf" | "application/protobuf" | "application/octet-stream" | "" => {
            ExportMetricsServiceRequest::decode(body).map_err(|e| format!("invalid OTLP protobuf: {e}"))
        }
        other => Err(format!("unsupported content-type {other:?} for /v1/metrics (use application/x-protobuf or application/json)")),
    }
}

fn sanitize(s: &str) -> String {
    let mut out: String = s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == ':' { c } else { '_' }).collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

fn sanitize_label(s: &str) -> String {
    let mut out: String = s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out = format!("key_{out}");
    }
    if out.is_empty() { "_".into() } else { out }
}

fn unit_word(u: &str) -> Option<&'static str> {
    Some(match u {
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "TiBy" => "tibibytes",
        "KBy" => "kilobytes",
        "MBy" => "megabytes",
        "GBy" => "gigabytes",
        "TBy" => "terabytes",
        "m" => "meters",
        "V" => "volts",
        "A" => "amperes",
        "J" => "joules",
        "W" => "watts",
        "g" => "grams",
        "Cel" => "celsius",
        "Hz" => "hertz",
        "%" => "percent",
        _ => return None,
    })
}

fn per_word(u: &str) -> Option<&'static str> {
    Some(match u {
        "s" => "second",
        "m" => "minute",
        "h" => "hour",
        "d" => "day",
        "w" => "week",
        "mo" => "month",
        "y" => "year",
        _ => return None,
    })
}

/// The Prometheus name of an OTLP metric.
pub fn metric_name(name: &str, unit: &str, kind: Kind) -> String {
    let mut words: Vec<String> =
        name.split(|c: char| !c.is_ascii_alphanumeric() && c != ':').filter(|w| !w.is_empty()).map(str::to_string).collect();
    let unit = unit.trim();
    let unit = if unit.starts_with('{') { "" } else { unit.split('{').next().unwrap_or("").trim() };
    let (main, per) = match unit.split_once('/') {
        Some((a, b)) => (a.trim(), b.trim()),
        None => (unit, ""),
    };
    let push = |w: &str, words: &mut Vec<String>| {
        if !w.is_empty() && !words.iter().any(|x| x == w) {
            words.push(w.to_string());
        }
    };
    if !main.is_empty() && main != "1" {
        let w = unit_word(main).map(str::to_string).unwrap_or_else(|| sanitize(main).trim_matches('_').to_string());
        push(&w, &mut words);
    }
    if !per.is_empty() {
        let w = per_word(per).map(str::to_string).unwrap_or_else(|| sanitize(per).trim_matches('_').to_string());
        if !w.is_empty() && !words.contains(&w) {
            words.push("per".into());
            words.push(w);
        }
    }
    match kind {
        Kind::Counter => {
            words.retain(|w| w != "total");
            words.push("total".into());
        }
        Kind::Gauge if unit == "1" => push("ratio", &mut words),
        _ => {}
    }
    let joined = words.join("_");
    if joined.starts_with(|c: char| c.is_ascii_digit()) { format!("_{joined}") } else { joined }
}

/// How a metric maps to Prometheus.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// Monotonic cumulative sum.
    Counter,
    /// Gauge or non-monotonic sum.
    Gauge,
    /// Histogram or summary (no suffix rules beyond the unit).
    Other,
}

fn value_string(v: &Option<AnyValue>) -> String {
    match v.as_ref().and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(any_value::Value::BytesValue(b)) => b.iter().map(|x| format!("{x:02x}")).collect(),
        Some(other) => serde_json::to_string(other).unwrap_or_default(),
        None => String::new(),
    }
}

fn attrs(kvs: &[KeyValue]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for kv in kvs {
        let v = value_string(&kv.value);
        // Attributes colliding after sanitising are joined with ';' (as Prometheus does).
        out.entry(sanitize_label(&kv.key))
            .and_modify(|e: &mut String| {
                e.push(';');
                e.push_str(&v);
            })
            .or_insert(v);
    }
    out
}

const FLAG_NO_RECORDED_VALUE: u32 = 1;

struct Builder {
    series: BTreeMap<Labels, Vec<(i64, f64)>>,
    res: BTreeMap<String, String>,
}

impl Builder {
    fn add(&mut self, name: &str, point: &BTreeMap<String, String>, extra: Option<(&str, String)>, t: i64, v: f64) {
        let mut pairs: BTreeMap<String, String> = point.clone();
        for (k, val) in &self.res {
            pairs.insert(k.clone(), val.clone());
        }
        if let Some((k, val)) = extra {
            pairs.insert(k.into(), val);
        }
        pairs.insert("__name__".into(), name.into());
        let labels = Labels::new(pairs.into_iter().filter(|(_, v)| !v.is_empty()).collect());
        self.series.entry(labels).or_default().push((t, v));
    }
}

/// Translates a request.
pub fn translate(req: &ExportMetricsServiceRequest) -> Translated {
    let mut out = Translated::default();
    let mut series: BTreeMap<Labels, Vec<(i64, f64)>> = BTreeMap::new();
    let mut metadata = BTreeMap::new();
    for rm in &req.resource_metrics {
        let rattrs = rm.resource.as_ref().map(|r| attrs(&r.attributes)).unwrap_or_default();
        let raw = rm.resource.as_ref().map(|r| r.attributes.as_slice()).unwrap_or(&[]);
        let get = |k: &str| raw.iter().find(|kv| kv.key == k).map(|kv| value_string(&kv.value)).filter(|s| !s.is_empty());
        let job = match (get("service.namespace"), get("service.name")) {
            (Some(ns), Some(n)) => Some(format!("{ns}/{n}")),
            (None, Some(n)) => Some(n),
            _ => None,
        };
        let instance = get("service.instance.id");
        let mut res = BTreeMap::new();
        if let Some(j) = &job {
            res.insert("job".to_string(), j.clone());
        }
        if let Some(i) = &instance {
            res.insert("instance".to_string(), i.clone());
        }
        let mut b = Builder { series: BTreeMap::new(), res };
        let mut latest: Option<i64> = None;
        for sm in &rm.scope_metrics {
            for m in &sm.metrics {
                let Some(data) = &m.data else { continue };
                let ts = |nanos: u64| (nanos / 1_000_000) as i64;
                let val = |flags: u32, v: f64| if flags & FLAG_NO_RECORDED_VALUE != 0 { f64::from_bits(STALE_NAN) } else { v };
                let (kind, prom_type) = match data {
                    metric::Data::Gauge(_) => (Kind::Gauge, "gauge"),
                    metric::Data::Sum(s) if s.is_monotonic => (Kind::Counter, "counter"),
                    metric::Data::Sum(_) => (Kind::Gauge, "gauge"),
                    metric::Data::Histogram(_) => (Kind::Other, "histogram"),
                    metric::Data::Summary(_) => (Kind::Other, "summary"),
                    metric::Data::ExponentialHistogram(_) => (Kind::Other, "histogram"),
                };
                let name = metric_name(&m.name, &m.unit, kind);
                if name.is_empty() {
                    continue;
                }
                let mut note = |t: i64| latest = Some(latest.map_or(t, |l| l.max(t)));
                let mut any = false;
                match data {
                    metric::Data::Gauge(g) => {
                        for p in &g.data_points {
                            let v = match p.value {
                                Some(number_data_point::Value::AsDouble(d)) => d,
                                Some(number_data_point::Value::AsInt(i)) => i as f64,
                                None => continue,
                            };
                            b.add(&name, &attrs(&p.attributes), None, ts(p.time_unix_nano), val(p.flags, v));
                            note(ts(p.time_unix_nano));
                            any = true;
                        }
                    }
                    metric::Data::Sum(s) => {
                        if s.aggregation_temporality == AggregationTemporality::Delta as i32 {
                            out.dropped += s.data_points.len() as u64;
                            continue;
                        }
                        for p in &s.data_points {
                            let v = match p.value {
                                Some(number_data_point::Value::AsDouble(d)) => d,
                                Some(number_data_point::Value::AsInt(i)) => i as f64,
                                None => continue,
                            };
                            b.add(&name, &attrs(&p.attributes), None, ts(p.time_unix_nano), val(p.flags, v));
                            note(ts(p.time_unix_nano));
                            any = true;
                        }
                    }
                    metric::Data::Histogram(h) => {
                        if h.aggregation_temporality == AggregationTemporality::Delta as i32 {
                            out.dropped += h.data_points.len() as u64;
                            continue;
                        }
                        for p in &h.data_points {
                            let (t, a) = (ts(p.time_unix_nano), attrs(&p.attributes));
                            if let Some(sum) = p.sum {
                                b.add(&format!("{name}_sum"), &a, None, t, val(p.flags, sum));
                            }
                            b.add(&format!("{name}_count"), &a, None, t, val(p.flags, p.count as f64));
                            let mut cum = 0u64;
                            for (i, bound) in p.explicit_bounds.iter().enumerate() {
                                cum += p.bucket_counts.get(i).copied().unwrap_or(0);
                                b.add(
                                    &format!("{name}_bucket"),
                                    &a,
                                    Some(("le", crate::promql::format_float(*bound))),
                                    t,
                                    val(p.flags, cum as f64),
                                );
                            }
                            b.add(&format!("{name}_bucket"), &a, Some(("le", "+Inf".into())), t, val(p.flags, p.count as f64));
                            note(t);
                            any = true;
                        }
                    }
                    metric::Data::Summary(s) => {
                        for p in &s.data_points {
                            let (t, a) = (ts(p.time_unix_nano), attrs(&p.attributes));
                            b.add(&format!("{name}_sum"), &a, None, t, val(p.flags, p.sum));
                            b.add(&format!("{name}_count"), &a, None, t, val(p.flags, p.count as f64));
                            for q in &p.quantile_values {
                                b.add(&name, &a, Some(("quantile", crate::promql::format_float(q.quantile))), t, val(p.flags, q.value));
                            }
                            note(t);
                            any = true;
                        }
                    }
                    metric::Data::ExponentialHistogram(h) => out.dropped += h.data_points.len() as u64,
                }
                if any {
                    metadata
                        .insert(name.clone(), MetricMetadata { kind: prom_type.into(), help: m.description.clone(), unit: m.unit.clone() });
                }
            }
        }
        if (job.is_some() || instance.is_some())
            && let Some(t) = latest
        {
            let mut info: BTreeMap<String, String> = rattrs;
            info.remove("service_name");
            info.remove("service_namespace");
            info.remove("service_instance_id");
            b.add("target_info", &info, None, t, 1.0);
        }
        for (l, mut s) in b.series {
            series.entry(l).or_default().append(&mut s);
        }
    }
    out.series = series
        .into_iter()
        .map(|(l, mut s)| {
            s.sort_by_key(|x| x.0);
            (l, s)
        })
        .collect();
    out.metadata = metadata.into_iter().collect();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_otel_prometheus_conventions() {
        assert_eq!(metric_name("http.server.duration", "s", Kind::Other), "http_server_duration_seconds");
        assert_eq!(metric_name("http.server.requests", "{request}", Kind::Counter), "http_server_requests_total");
        assert_eq!(metric_name("system.network.io", "By", Kind::Counter), "system_network_io_bytes_total");
        assert_eq!(metric_name("requests_total", "1", Kind::Counter), "requests_total");
        assert_eq!(metric_name("system.cpu.utilization", "1", Kind::Gauge), "system_cpu_utilization_ratio");
        assert_eq!(metric_name("throughput", "By/s", Kind::Gauge), "throughput_bytes_per_second");
        assert_eq!(metric_name("latency_seconds", "s", Kind::Gauge), "latency_seconds");
        assert_eq!(sanitize_label("1st.attr"), "key_1st_attr");
    }
}

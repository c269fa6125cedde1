//! Prometheus remote_write 1.0: the protobuf messages (written by hand with prost's derive, so
//! no protoc is needed) and decoding of a request body into validated series.
//!
//! A body is snappy *block* compressed (not framed), then a `prometheus.WriteRequest`. Every
//! check runs before anything is stored: one bad series rejects the whole request (400).

use prost::Message;

use super::{Labels, MetricMetadata};

pub use wire::remote_write::{Label, Metadata, Sample, TimeSeries, WriteRequest};

/// A decoded, validated request.
#[derive(Debug, Default)]
pub struct Decoded {
    /// Series with their samples `(timestamp ms, value)`.
    pub series: Vec<(Labels, Vec<(i64, f64)>)>,
    /// Metadata by family name.
    pub metadata: Vec<(String, MetricMetadata)>,
}

/// Decodes a snappy-compressed `WriteRequest`; the error says what is wrong.
pub fn decode(body: &[u8], max_decoded: usize) -> Result<Decoded, String> {
    let len = snap::raw::decompress_len(body).map_err(|e| format!("body is not snappy block-compressed: {e}"))?;
    if len > max_decoded {
        return Err(format!("decompressed body of {len} bytes exceeds the limit of {max_decoded} bytes"));
    }
    let raw = snap::raw::Decoder::new().decompress_vec(body).map_err(|e| format!("body is not snappy block-compressed: {e}"))?;
    let req = WriteRequest::decode(raw.as_slice()).map_err(|e| format!("body is not a remote_write WriteRequest: {e}"))?;
    from_request(req)
}

/// Validates a `WriteRequest`.
pub fn from_request(req: WriteRequest) -> Result<Decoded, String> {
    let mut out = Decoded::default();
    for (i, ts) in req.timeseries.into_iter().enumerate() {
        let mut pairs: Vec<(String, String)> = Vec::with_capacity(ts.labels.len());
        for l in ts.labels {
            if !valid_label_name(&l.name) {
                return Err(format!("series {i}: invalid label name {:?}", l.name));
            }
            // An empty value is the same as no label (Prometheus).
            if !l.value.is_empty() {
                pairs.push((l.name, l.value));
            }
        }
        pairs.sort();
        if let Some(w) = pairs.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(format!("series {i}: duplicate label name {:?}", w[0].0));
        }
        match pairs.iter().find(|(n, _)| n == "__name__") {
            None => return Err(format!("series {i}: no __name__ label")),
            Some((_, v)) if !valid_metric_name(v) => return Err(format!("series {i}: invalid metric name {v:?}")),
            _ => {}
        }
        let samples = ts.samples.into_iter().map(|s| (s.timestamp, s.value)).collect();
        out.series.push((Labels::new(pairs), samples));
    }
    for m in req.metadata {
        let kind = match m.r#type {
            1 => "counter",
            2 => "gauge",
            3 => "histogram",
            4 => "gaugehistogram",
            5 => "summary",
            6 => "info",
            7 => "stateset",
            _ => "unknown",
        };
        out.metadata.push((m.metric_family_name, MetricMetadata { kind: kind.into(), help: m.help, unit: m.unit }));
    }
    Ok(out)
}

/// Checks a label set built by another translator (OTLP, text import): valid names.
pub fn check_labels(labels: &Labels) -> Result<(), String> {
    for (n, v) in labels.iter() {
        if !valid_label_name(n) {
            return Err(format!("invalid label name {n:?} in {labels}"));
        }
        if n == "__name__" && !valid_metric_name(v) {
            return Err(format!("invalid metric name {v:?}"));
        }
    }
    if labels.get("__name__").is_none() {
        return Err(format!("series {labels} has no metric name"));
    }
    Ok(())
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn valid_label_name(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_') && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn valid_metric_name(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_' || c == b':')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b':')
}

/// Encodes a request the way a remote_write sender does (tests and benchmarks).
pub fn encode(req: &WriteRequest) -> Vec<u8> {
    snap::raw::Encoder::new().compress_vec(&req.encode_to_vec()).expect("snappy compression of a vector cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> TimeSeries {
        TimeSeries {
            labels: labels.iter().map(|(n, v)| Label { name: n.to_string(), value: v.to_string() }).collect(),
            samples: samples.iter().map(|&(timestamp, value)| Sample { value, timestamp }).collect(),
        }
    }

    #[test]
    fn round_trip_sorts_labels_and_drops_empty_values() {
        let req =
            WriteRequest { timeseries: vec![series(&[("job", "a"), ("__name__", "up"), ("empty", "")], &[(1000, 1.0)])], metadata: vec![] };
        let d = decode(&encode(&req), 1 << 20).unwrap();
        assert_eq!(d.series.len(), 1);
        assert_eq!(d.series[0].0.to_string(), r#"up{job="a"}"#);
        assert_eq!(d.series[0].1, vec![(1000, 1.0)]);
    }

    #[test]
    fn malformed_bodies_say_why() {
        assert!(decode(b"not snappy at all", 1 << 20).unwrap_err().contains("snappy"));
        let junk = snap::raw::Encoder::new().compress_vec(&[0xff, 0xff, 0xff]).unwrap();
        assert!(decode(&junk, 1 << 20).unwrap_err().contains("WriteRequest"));
        for (labels, why) in [
            (vec![("job", "a")], "no __name__"),
            (vec![("__name__", "up"), ("bad-name", "x")], "invalid label name"),
            (vec![("__name__", "up"), ("a", "1"), ("a", "2")], "duplicate label name"),
            (vec![("__name__", "1up")], "invalid metric name"),
        ] {
            let req = WriteRequest { timeseries: vec![series(&[("__name__", "ok")], &[]), series(&labels, &[(1, 1.0)])], metadata: vec![] };
            let err = decode(&encode(&req), 1 << 20).unwrap_err();
            assert!(err.contains(why) && err.contains("series 1"), "{err}");
        }
    }

    #[test]
    fn decompressed_size_is_bounded() {
        let req = WriteRequest { timeseries: vec![series(&[("__name__", "up")], &[(1, 1.0); 100])], metadata: vec![] };
        assert!(decode(&encode(&req), 100).unwrap_err().contains("exceeds"));
    }
}

//! Prometheus remote_write 1.0 requests: protobuf messages (prost derive, no protoc) and the
//! snappy-compressed body built from [`MetricSample`]s.
//!
//! Field numbers follow `prompb/remote.proto` and `prompb/types.proto`.

use std::collections::BTreeMap;

use prost::Message;

use crate::metric::MetricSample;

pub use wire::remote_write::{Label, Sample, TimeSeries, WriteRequest};

/// Groups samples into series (labels sorted by name, samples by time) as a request.
pub fn to_request(samples: &[MetricSample]) -> WriteRequest {
    let mut series: BTreeMap<Vec<(&str, &str)>, Vec<Sample>> = BTreeMap::new();
    for s in samples {
        let mut labels: Vec<(&str, &str)> = Vec::with_capacity(s.labels.len() + 1);
        labels.push(("__name__", s.name.as_str()));
        labels.extend(s.labels.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| (k.as_str(), v.as_str())));
        labels.sort_unstable();
        series.entry(labels).or_default().push(Sample { value: s.value, timestamp: s.timestamp_ms });
    }
    WriteRequest {
        timeseries: series
            .into_iter()
            .map(|(labels, mut samples)| {
                samples.sort_by_key(|s| s.timestamp);
                TimeSeries {
                    labels: labels.into_iter().map(|(n, v)| Label { name: n.to_string(), value: v.to_string() }).collect(),
                    samples,
                }
            })
            .collect(),
        metadata: Vec::new(),
    }
}

/// The snappy (block format) body of a remote_write request.
pub fn encode(samples: &[MetricSample]) -> Vec<u8> {
    let raw = to_request(samples).encode_to_vec();
    snap::raw::Encoder::new().compress_vec(&raw).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metric::{is_stale, stale_nan};

    #[test]
    fn groups_series_with_sorted_labels() {
        let samples = vec![
            MetricSample::new("up", &[("job", "a"), ("Zone", "z")], 2000, 1.0),
            MetricSample::new("up", &[("job", "a"), ("Zone", "z")], 1000, stale_nan()),
            MetricSample::new("up", &[("job", "b")], 1000, 0.0),
        ];
        let body = encode(&samples);
        let raw = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
        let req = WriteRequest::decode(raw.as_slice()).unwrap();
        assert_eq!(req.timeseries.len(), 2);
        let names: Vec<&str> = req.timeseries[0].labels.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["Zone", "__name__", "job"]);
        assert_eq!(req.timeseries[0].samples.iter().map(|s| s.timestamp).collect::<Vec<_>>(), [1000, 2000]);
        assert!(is_stale(req.timeseries[0].samples[0].value));
    }
}

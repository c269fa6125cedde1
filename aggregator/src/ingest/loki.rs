//! Loki push (`POST /loki/api/v1/push`), so Promtail, Grafana Alloy, Fluent Bit's `loki` output
//! and Loki client libraries can ship to Lookout unchanged.
//!
//! Two encodings, chosen by `Content-Type` as Loki does: `application/json`
//! (`{"streams":[{"stream":{labels},"values":[["<unix ns>","<line>",{metadata}?],…]}]}`) and,
//! by default, `application/x-protobuf`: a **snappy block**-compressed `logproto.PushRequest`.
//! The messages below are written by hand with prost's derive macros (no protoc); field
//! numbers follow Loki's `pkg/push/push.proto`.
//!
//! Mapping onto a [`LogEvent`]: the line is parsed like a file line (a JSON object has its
//! well-known fields lifted; anything else is kept whole with `parse_error: true`), the entry's
//! timestamp wins, and the stream labels and structured metadata become fields (without
//! overwriting fields of the line itself). `service_name`, else `service`, else `job` gives
//! `service`; `host`, else `hostname`, else `instance` gives `host`; a `level` (or
//! `detected_level`) label gives the level when the line has none. `source` is `loki`.
//! Any malformed stream or entry rejects the whole request, naming it.

use serde_json::{Map, Value};
use wire::{LogEvent, ParseOptions};

use super::IngestError;

/// `logproto.PushRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PushRequest {
    /// The streams.
    #[prost(message, repeated, tag = "1")]
    pub streams: Vec<StreamAdapter>,
}

/// `logproto.StreamAdapter`: one label set and its entries.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StreamAdapter {
    /// Labels in Prometheus selector syntax: `{job="api", env="prod"}`.
    #[prost(string, tag = "1")]
    pub labels: String,
    /// The entries.
    #[prost(message, repeated, tag = "2")]
    pub entries: Vec<EntryAdapter>,
    /// The sender's hash of the labels (ignored).
    #[prost(uint64, tag = "3")]
    pub hash: u64,
}

/// `logproto.EntryAdapter`: one line.
#[derive(Clone, PartialEq, prost::Message)]
pub struct EntryAdapter {
    /// When it happened.
    #[prost(message, optional, tag = "1")]
    pub timestamp: Option<Timestamp>,
    /// The line.
    #[prost(string, tag = "2")]
    pub line: String,
    /// Per-line metadata (trace ids and the like).
    #[prost(message, repeated, tag = "3")]
    pub structured_metadata: Vec<LabelPairAdapter>,
}

/// `logproto.LabelPairAdapter`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LabelPairAdapter {
    /// Name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `google.protobuf.Timestamp`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Timestamp {
    /// Seconds since the epoch.
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    /// Nanoseconds within the second.
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

/// Decodes a push body (after any `Content-Encoding`) by its content type.
pub fn decode(content_type: Option<&str>, body: &[u8], max_decoded: usize) -> Result<Vec<LogEvent>, IngestError> {
    let ct = content_type.unwrap_or("application/x-protobuf").split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match ct.as_str() {
        "application/json" => decode_json(body),
        "application/x-protobuf" | "application/protobuf" | "application/octet-stream" | "" => decode_protobuf(body, max_decoded),
        other => Err(IngestError::Malformed(format!(
            "unsupported content-type {other:?} for /loki/api/v1/push (use application/x-protobuf or application/json)"
        ))),
    }
}

/// Snappy-block-compressed `PushRequest`.
pub fn decode_protobuf(body: &[u8], max_decoded: usize) -> Result<Vec<LogEvent>, IngestError> {
    let len = snap::raw::decompress_len(body).map_err(|e| IngestError::Malformed(format!("invalid snappy body: {e}")))?;
    if len > max_decoded {
        return Err(IngestError::TooLarge(format!("snappy body expands to {len} bytes, over the limit of {max_decoded}")));
    }
    let raw = snap::raw::Decoder::new().decompress_vec(body).map_err(|e| IngestError::Malformed(format!("invalid snappy body: {e}")))?;
    let req = <PushRequest as prost::Message>::decode(raw.as_slice())
        .map_err(|e| IngestError::Malformed(format!("invalid Loki push protobuf: {e}")))?;
    let mut out = Vec::new();
    for (si, s) in req.streams.iter().enumerate() {
        let labels =
            parse_labels(&s.labels).map_err(|e| IngestError::Malformed(format!("stream {si}: invalid labels {:?}: {e}", s.labels)))?;
        for (ei, e) in s.entries.iter().enumerate() {
            let ts = e
                .timestamp
                .as_ref()
                .and_then(|t| t.seconds.checked_mul(1_000_000_000).and_then(|s| s.checked_add(t.nanos as i64)))
                .filter(|ns| *ns >= 0)
                .ok_or_else(|| IngestError::Malformed(format!("stream {si} entry {ei}: missing or invalid timestamp")))?;
            let meta: Vec<(String, String)> = e.structured_metadata.iter().map(|p| (p.name.clone(), p.value.clone())).collect();
            out.push(event(ts, &e.line, &labels, &meta));
        }
    }
    Ok(out)
}

/// The JSON form.
pub fn decode_json(body: &[u8]) -> Result<Vec<LogEvent>, IngestError> {
    let bad = |m: String| IngestError::Malformed(format!("invalid Loki push JSON: {m}"));
    let v: Value = serde_json::from_slice(body).map_err(|e| bad(e.to_string()))?;
    let streams = v.get("streams").and_then(Value::as_array).ok_or_else(|| bad("expected {\"streams\": [...]}".into()))?;
    let mut out = Vec::new();
    for (si, s) in streams.iter().enumerate() {
        let mut labels = Vec::new();
        match s.get("stream") {
            None | Some(Value::Null) => {}
            Some(Value::Object(m)) => {
                for (k, v) in m {
                    let v = v.as_str().ok_or_else(|| bad(format!("stream {si}: label {k:?} is not a string")))?;
                    labels.push((k.clone(), v.to_string()));
                }
            }
            Some(_) => return Err(bad(format!("stream {si}: \"stream\" must be an object of labels"))),
        }
        let values = s.get("values").and_then(Value::as_array).ok_or_else(|| bad(format!("stream {si}: missing \"values\" array")))?;
        for (ei, entry) in values.iter().enumerate() {
            let at = |m: &str| bad(format!("stream {si} entry {ei}: {m}"));
            let items = entry
                .as_array()
                .filter(|a| a.len() == 2 || a.len() == 3)
                .ok_or_else(|| at("expected [timestamp, line] or [timestamp, line, metadata]"))?;
            let ts = items[0]
                .as_str()
                .and_then(|t| t.parse::<i64>().ok())
                .filter(|ns| *ns >= 0)
                .ok_or_else(|| at("timestamp must be a string of Unix nanoseconds"))?;
            let line = items[1].as_str().ok_or_else(|| at("line must be a string"))?;
            let mut meta = Vec::new();
            if let Some(m) = items.get(2) {
                let m = m.as_object().ok_or_else(|| at("structured metadata must be an object"))?;
                for (k, v) in m {
                    let v = v.as_str().ok_or_else(|| at(&format!("structured metadata {k:?} is not a string")))?;
                    meta.push((k.clone(), v.to_string()));
                }
            }
            out.push(event(ts, line, &labels, &meta));
        }
    }
    Ok(out)
}

fn event(ts: i64, line: &str, labels: &[(String, String)], meta: &[(String, String)]) -> LogEvent {
    let mut e = LogEvent::from_line(line, ts, "loki", "", &ParseOptions::default());
    e.timestamp = ts;
    let label = |names: &[&str]| names.iter().find_map(|n| labels.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone()));
    if e.service.is_empty()
        && let Some(s) = label(&["service_name", "service", "job"])
    {
        e.service = s;
    }
    if e.host.is_empty()
        && let Some(h) = label(&["host", "hostname", "instance"])
    {
        e.host = h;
    }
    if e.level.is_empty()
        && let Some(l) = label(&["level", "detected_level", "severity"])
    {
        e.level = wire::event::normalize_level(&l);
    }
    let fields: &mut Map<String, Value> = &mut e.fields;
    for (k, v) in labels.iter().chain(meta) {
        if !matches!(k.as_str(), "service" | "host" | "level") && !fields.contains_key(k) {
            fields.insert(k.clone(), Value::String(v.clone()));
        }
    }
    e
}

/// Parses a Prometheus label set: `{name="value", other="with \"quotes\""}` (may be empty).
pub fn parse_labels(s: &str) -> Result<Vec<(String, String)>, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(Vec::new());
    }
    let inner = s.strip_prefix('{').and_then(|x| x.strip_suffix('}')).ok_or("expected {name=\"value\", ...}")?;
    let chars: Vec<char> = inner.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while *i < chars.len() && chars[*i].is_whitespace() {
            *i += 1;
        }
    };
    loop {
        skip_ws(&mut i);
        if i >= chars.len() {
            break;
        }
        let start = i;
        while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == '.') {
            i += 1;
        }
        if i == start {
            return Err(format!("expected a label name at character {start}"));
        }
        let name: String = chars[start..i].iter().collect();
        skip_ws(&mut i);
        if chars.get(i) != Some(&'=') {
            return Err(format!("expected '=' after {name}"));
        }
        i += 1;
        skip_ws(&mut i);
        if chars.get(i) != Some(&'"') {
            return Err(format!("expected a quoted value for {name}"));
        }
        i += 1;
        let mut value = String::new();
        loop {
            match chars.get(i) {
                None => return Err(format!("unterminated value for {name}")),
                Some('"') => {
                    i += 1;
                    break;
                }
                Some('\\') => {
                    match chars.get(i + 1) {
                        Some('n') => value.push('\n'),
                        Some('t') => value.push('\t'),
                        Some(c) => value.push(*c),
                        None => return Err(format!("unterminated value for {name}")),
                    }
                    i += 2;
                }
                Some(c) => {
                    value.push(*c);
                    i += 1;
                }
            }
        }
        out.push((name, value));
        skip_ws(&mut i);
        match chars.get(i) {
            None => break,
            Some(',') => i += 1,
            Some(c) => return Err(format!("unexpected {c:?} after the value of {}", out.last().map(|p| p.0.as_str()).unwrap_or(""))),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn labels_parse_with_escapes_and_errors_say_why() {
        assert_eq!(
            parse_labels(r#"{job="api", env="prod", msg="say \"hi\""}"#).unwrap(),
            vec![("job".into(), "api".into()), ("env".into(), "prod".into()), ("msg".into(), "say \"hi\"".into())]
        );
        assert_eq!(parse_labels("{}").unwrap(), vec![]);
        assert!(parse_labels(r#"{job="api""#).is_err());
        assert!(parse_labels(r#"{job=api}"#).unwrap_err().contains("quoted"));
        assert!(parse_labels(r#"{job="a" env="b"}"#).is_err());
    }

    #[test]
    fn json_push_maps_labels_and_metadata() {
        let body = br#"{"streams":[{"stream":{"service_name":"checkout","instance":"web-1:9100","env":"prod"},
            "values":[["1795341600000000000","plain text line"],
                      ["1795341601000000000","{\"level\":\"error\",\"msg\":\"boom\",\"env\":\"line-wins\"}",{"trace_id":"abc"}]]}]}"#;
        let ev = decode_json(body).unwrap();
        assert_eq!(ev.len(), 2);
        assert_eq!(ev[0].timestamp, 1_795_341_600_000_000_000);
        assert_eq!(ev[0].message, "plain text line");
        assert_eq!(ev[0].service, "checkout");
        assert_eq!(ev[0].host, "web-1:9100");
        assert_eq!(ev[0].source, "loki");
        assert_eq!(ev[0].fields["env"], "prod");
        assert_eq!(ev[0].fields["parse_error"], true);
        assert_eq!(ev[1].level, "error");
        assert_eq!(ev[1].message, "boom");
        assert_eq!(ev[1].fields["env"], "line-wins");
        assert_eq!(ev[1].fields["trace_id"], "abc");
    }

    #[test]
    fn malformed_json_names_the_entry() {
        let err = decode_json(br#"{"streams":[{"stream":{},"values":[["1","ok"],["soon","x"]]}]}"#).unwrap_err().to_string();
        assert!(err.contains("stream 0 entry 1") && err.contains("timestamp"), "{err}");
        assert!(decode_json(b"{\"streams\":3}").is_err());
        assert!(decode_json(b"not json").is_err());
    }

    #[test]
    fn snappy_protobuf_push_round_trips() {
        let req = PushRequest {
            streams: vec![StreamAdapter {
                labels: r#"{job="api", host="db-2"}"#.into(),
                entries: vec![EntryAdapter {
                    timestamp: Some(Timestamp { seconds: 1_795_341_600, nanos: 5 }),
                    line: "connected".into(),
                    structured_metadata: vec![LabelPairAdapter { name: "trace_id".into(), value: "t1".into() }],
                }],
                hash: 0,
            }],
        };
        let body = snap::raw::Encoder::new().compress_vec(&req.encode_to_vec()).unwrap();
        let ev = decode(Some("application/x-protobuf"), &body, 1 << 20).unwrap();
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].timestamp, 1_795_341_600_000_000_005);
        assert_eq!((ev[0].service.as_str(), ev[0].host.as_str()), ("api", "db-2"));
        assert_eq!(ev[0].fields["trace_id"], "t1");
        assert_eq!(ev[0].fields["job"], "api");
        // not snappy, and snappy of garbage
        assert!(decode(None, b"\xff\xff\xff\xff", 1 << 20).unwrap_err().to_string().contains("snappy"));
        let garbage = snap::raw::Encoder::new().compress_vec(b"\x0a\xff\xff\xff\xff").unwrap();
        assert!(decode(None, &garbage, 1 << 20).unwrap_err().to_string().contains("protobuf"));
        // a small body that expands past the limit
        let big = snap::raw::Encoder::new().compress_vec(&vec![0u8; 100_000]).unwrap();
        assert!(matches!(decode(None, &big, 1000), Err(IngestError::TooLarge(_))));
    }
}

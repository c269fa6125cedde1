//! OTLP/HTTP logs ⇄ [`LogEvent`].
//!
//! Mapping (both directions):
//! - resource attribute `host.name` ⇄ `host`, `service.name` ⇄ `service`;
//! - record `time_unix_nano` ⇄ `timestamp` (falling back to `observed_time_unix_nano`);
//! - `severity_text` ⇄ `level` (or derived from `severity_number` when the text is empty);
//! - `body` ⇄ `message` (a structured body is kept as JSON text);
//! - record attribute `lookout.source` ⇄ `source` (`log.file.path` is read too);
//! - every other record attribute ⇄ a field, nested key-value lists as JSON objects.
//!
//! Any other resource attribute becomes a field as well, so nothing a sender attached is lost.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use serde_json::{Map, Number, Value};
use std::collections::BTreeMap;

use crate::event::{LogEvent, normalize_level};

pub(crate) const SOURCE_ATTR: &str = "lookout.source";

/// Why an OTLP body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum OtlpError {
    /// Protobuf decoding failed.
    #[error("invalid OTLP protobuf: {0}")]
    Protobuf(#[from] prost::DecodeError),
    /// JSON decoding failed.
    #[error("invalid OTLP JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// Encodes events as an OTLP `ExportLogsServiceRequest` in protobuf.
pub fn encode_protobuf(events: &[LogEvent]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_protobuf_into(events, &mut out);
    out
}

/// Appends the protobuf encoding of [`to_request`]`(events)` to `out`, byte for byte what prost
/// would write, but straight from the events: no intermediate `LogRecord`/`AnyValue` messages,
/// no copies of their strings. Each nested message's length is computed before it is written.
pub fn encode_protobuf_into(events: &[LogEvent], out: &mut Vec<u8>) {
    // One `ResourceLogs` per (host, service), in that order; events keep their order inside.
    let single = events.windows(2).all(|w| (w[0].host.as_str(), w[0].service.as_str()) == (w[1].host.as_str(), w[1].service.as_str()));
    if single {
        if let Some(first) = events.first() {
            let all: Vec<&LogEvent> = events.iter().collect();
            direct::resource_logs(&first.host, &first.service, &all, out);
        }
        return;
    }
    let mut groups: BTreeMap<(&str, &str), Vec<&LogEvent>> = BTreeMap::new();
    for e in events {
        groups.entry((e.host.as_str(), e.service.as_str())).or_default().push(e);
    }
    for ((host, service), group) in groups {
        direct::resource_logs(host, service, &group, out);
    }
}

/// Appends one event as a `LogRecord` field of `ScopeLogs` (tag 2, header included): the
/// records that follow [`encode_resource_logs_header`].
pub fn encode_record_into(event: &LogEvent, out: &mut Vec<u8>) {
    direct::record(event, out);
}

/// Appends the start of a `ResourceLogs` (field 1 of the request) for `host` and `service`,
/// one scope, whose `LogRecord` fields (`records` bytes in all, headers included) the caller
/// appends right after. With [`encode_record_into`] this writes what [`encode_protobuf_into`]
/// writes for events of one (host, service).
pub fn encode_resource_logs_header(host: &str, service: &str, records: usize, out: &mut Vec<u8>) {
    direct::resource_logs_header(host, service, records, out);
}

/// The hand-written protobuf encoder behind [`encode_protobuf_into`]. Field numbers and order
/// follow the `opentelemetry-proto` messages (prost writes fields in declaration order and skips
/// default scalars, but always writes a set `oneof` and a present sub-message).
mod direct {
    use super::{LogEvent, SOURCE_ATTR, Value, severity_number};

    const SCOPE_NAME: &str = "lookout-agent";

    fn varint_len(v: u64) -> usize {
        (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
    }

    fn put_varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    /// Bytes of a length-delimited field (one-byte key) holding `len` bytes.
    fn delimited(len: usize) -> usize {
        1 + varint_len(len as u64) + len
    }

    fn put_delimited_header(out: &mut Vec<u8>, key: u8, len: usize) {
        out.push(key);
        put_varint(out, len as u64);
    }

    /// `AnyValue` body for a JSON value.
    fn any_len(v: &Value) -> usize {
        match v {
            Value::Null => 0,
            Value::Bool(_) => 2,
            Value::Number(n) => match n.as_i64() {
                Some(i) => 1 + varint_len(i as u64),
                None => 9,
            },
            Value::String(s) => delimited(s.len()),
            Value::Array(a) => delimited(a.iter().map(|x| delimited(any_len(x))).sum()),
            Value::Object(o) => delimited(o.iter().map(|(k, x)| delimited(kv_len(k, any_len(x)))).sum()),
        }
    }

    fn put_any(out: &mut Vec<u8>, v: &Value) {
        match v {
            Value::Null => {}
            Value::Bool(b) => {
                out.push(0x10);
                out.push(*b as u8);
            }
            Value::Number(n) => match n.as_i64() {
                Some(i) => {
                    out.push(0x18);
                    put_varint(out, i as u64);
                }
                None => {
                    out.push(0x21);
                    out.extend_from_slice(&n.as_f64().unwrap_or(f64::NAN).to_le_bytes());
                }
            },
            Value::String(s) => put_str(out, 0x0A, s),
            Value::Array(a) => {
                put_delimited_header(out, 0x2A, a.iter().map(|x| delimited(any_len(x))).sum());
                for x in a {
                    put_delimited_header(out, 0x0A, any_len(x));
                    put_any(out, x);
                }
            }
            Value::Object(o) => {
                put_delimited_header(out, 0x32, o.iter().map(|(k, x)| delimited(kv_len(k, any_len(x)))).sum());
                for (k, x) in o {
                    put_kv(out, 0x0A, k, x);
                }
            }
        }
    }

    fn put_str(out: &mut Vec<u8>, key: u8, s: &str) {
        put_delimited_header(out, key, s.len());
        out.extend_from_slice(s.as_bytes());
    }

    /// `KeyValue` body: the key (skipped when empty, as prost does) and the value message.
    fn kv_len(key: &str, any_len: usize) -> usize {
        (if key.is_empty() { 0 } else { delimited(key.len()) }) + delimited(any_len)
    }

    /// A `KeyValue` field with tag `field_key` whose value is a JSON value.
    fn put_kv(out: &mut Vec<u8>, field_key: u8, key: &str, v: &Value) {
        let a = any_len(v);
        put_delimited_header(out, field_key, kv_len(key, a));
        if !key.is_empty() {
            put_str(out, 0x0A, key);
        }
        put_delimited_header(out, 0x12, a);
        put_any(out, v);
    }

    /// A `KeyValue` field with tag `field_key` whose value is a string.
    fn put_kv_str(out: &mut Vec<u8>, field_key: u8, key: &str, s: &str) {
        let a = delimited(s.len());
        put_delimited_header(out, field_key, kv_len(key, a));
        put_str(out, 0x0A, key);
        put_delimited_header(out, 0x12, a);
        put_str(out, 0x0A, s);
    }

    fn record_len(e: &LogEvent) -> usize {
        let mut n = 0;
        if e.timestamp > 0 {
            n += 9;
        }
        let sev = severity_number(&e.level);
        if sev != 0 {
            n += 1 + varint_len(sev as u64);
        }
        if !e.level.is_empty() {
            n += delimited(e.level.len());
        }
        n += delimited(delimited(e.message.len()));
        if !e.source.is_empty() {
            n += delimited(kv_len(SOURCE_ATTR, delimited(e.source.len())));
        }
        for (k, v) in &e.fields {
            n += delimited(kv_len(k, any_len(v)));
        }
        n
    }

    fn put_record(out: &mut Vec<u8>, e: &LogEvent, len: usize) {
        put_delimited_header(out, 0x12, len);
        if e.timestamp > 0 {
            out.push(0x09);
            out.extend_from_slice(&(e.timestamp as u64).to_le_bytes());
        }
        let sev = severity_number(&e.level);
        if sev != 0 {
            out.push(0x10);
            put_varint(out, sev as u64);
        }
        if !e.level.is_empty() {
            put_str(out, 0x1A, &e.level);
        }
        put_delimited_header(out, 0x2A, delimited(e.message.len()));
        put_str(out, 0x0A, &e.message);
        if !e.source.is_empty() {
            put_kv_str(out, 0x32, SOURCE_ATTR, &e.source);
        }
        for (k, v) in &e.fields {
            put_kv(out, 0x32, k, v);
        }
    }

    /// One `ResourceLogs` (field 1 of the request) holding `events` under one scope.
    pub(super) fn resource_logs(host: &str, service: &str, events: &[&LogEvent], out: &mut Vec<u8>) {
        let lens: Vec<usize> = events.iter().map(|e| record_len(e)).collect();
        let records: usize = lens.iter().map(|l| delimited(*l)).sum();
        resource_logs_header(host, service, records, out);
        for (e, len) in events.iter().zip(lens) {
            put_record(out, e, len);
        }
    }

    /// One event as a `LogRecord` field (tag 2 of `ScopeLogs`), header included.
    pub(crate) fn record(e: &LogEvent, out: &mut Vec<u8>) {
        let len = record_len(e);
        out.reserve(delimited(len));
        put_record(out, e, len);
    }

    /// The start of a `ResourceLogs` whose `LogRecord` fields, `records` bytes in all (headers
    /// included), follow right after.
    pub(crate) fn resource_logs_header(host: &str, service: &str, records: usize, out: &mut Vec<u8>) {
        let scope = delimited(SCOPE_NAME.len());
        let scope_logs = delimited(scope) + records;
        let host_kv = kv_len("host.name", delimited(host.len()));
        let service_kv = kv_len("service.name", delimited(service.len()));
        let resource = delimited(host_kv) + delimited(service_kv);
        let resource_logs = delimited(resource) + delimited(scope_logs);
        out.reserve(delimited(resource_logs));
        put_delimited_header(out, 0x0A, resource_logs);
        put_delimited_header(out, 0x0A, resource);
        put_kv_str(out, 0x0A, "host.name", host);
        put_kv_str(out, 0x0A, "service.name", service);
        put_delimited_header(out, 0x12, scope_logs);
        put_delimited_header(out, 0x0A, scope);
        put_str(out, 0x0A, SCOPE_NAME);
    }
}

/// Decodes an OTLP protobuf body.
pub fn decode_protobuf(body: &[u8]) -> Result<Vec<LogEvent>, OtlpError> {
    Ok(from_request(ExportLogsServiceRequest::decode(body)?))
}

/// Decodes an OTLP JSON body.
pub fn decode_json(body: &[u8]) -> Result<Vec<LogEvent>, OtlpError> {
    Ok(from_request(serde_json::from_slice(body)?))
}

/// Builds the request: one `ResourceLogs` per (host, service).
pub fn to_request(events: &[LogEvent]) -> ExportLogsServiceRequest {
    let mut groups: BTreeMap<(&str, &str), Vec<LogRecord>> = BTreeMap::new();
    for e in events {
        groups.entry((e.host.as_str(), e.service.as_str())).or_default().push(to_record(e));
    }
    let resource_logs = groups
        .into_iter()
        .map(|((host, service), log_records)| ResourceLogs {
            resource: Some(Resource {
                attributes: vec![kv("host.name", string_value(host)), kv("service.name", string_value(service))],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                scope: Some(InstrumentationScope { name: "lookout-agent".into(), ..Default::default() }),
                log_records,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        })
        .collect();
    ExportLogsServiceRequest { resource_logs }
}

fn to_record(e: &LogEvent) -> LogRecord {
    let mut attributes = Vec::with_capacity(e.fields.len() + 1);
    if !e.source.is_empty() {
        attributes.push(kv(SOURCE_ATTR, string_value(&e.source)));
    }
    for (k, v) in &e.fields {
        attributes.push(kv(k, json_to_any(v)));
    }
    LogRecord {
        time_unix_nano: e.timestamp.max(0) as u64,
        observed_time_unix_nano: 0,
        severity_number: severity_number(&e.level),
        severity_text: e.level.clone(),
        body: Some(string_value(&e.message)),
        attributes,
        ..Default::default()
    }
}

/// Flattens a request into events.
pub fn from_request(req: ExportLogsServiceRequest) -> Vec<LogEvent> {
    let mut out = Vec::new();
    for rl in req.resource_logs {
        let mut host = String::new();
        let mut service = String::new();
        let mut resource_fields = Map::new();
        for a in rl.resource.map(|r| r.attributes).unwrap_or_default() {
            let v = a.value.as_ref().map(any_to_json).unwrap_or(Value::Null);
            match a.key.as_str() {
                "host.name" => host = json_as_string(&v),
                "service.name" => service = json_as_string(&v),
                _ => {
                    resource_fields.insert(a.key, v);
                }
            }
        }
        for sl in rl.scope_logs {
            for r in sl.log_records {
                let mut e =
                    LogEvent { host: host.clone(), service: service.clone(), fields: resource_fields.clone(), ..Default::default() };
                e.timestamp = if r.time_unix_nano != 0 { r.time_unix_nano } else { r.observed_time_unix_nano }.min(i64::MAX as u64) as i64;
                e.level = if r.severity_text.is_empty() {
                    level_from_number(r.severity_number).to_string()
                } else {
                    normalize_level(&r.severity_text)
                };
                e.message = match r.body.as_ref().map(any_to_json) {
                    Some(Value::String(s)) => s,
                    Some(Value::Null) | None => String::new(),
                    Some(other) => other.to_string(),
                };
                for a in r.attributes {
                    let v = a.value.as_ref().map(any_to_json).unwrap_or(Value::Null);
                    match a.key.as_str() {
                        SOURCE_ATTR => e.source = json_as_string(&v),
                        "log.file.path" if e.source.is_empty() => e.source = json_as_string(&v),
                        _ => {
                            e.fields.insert(a.key, v);
                        }
                    }
                }
                if !r.trace_id.is_empty() {
                    e.fields.insert("trace_id".into(), Value::String(hex(&r.trace_id)));
                }
                if !r.span_id.is_empty() {
                    e.fields.insert("span_id".into(), Value::String(hex(&r.span_id)));
                }
                out.push(e);
            }
        }
    }
    out
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn json_as_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn kv(key: &str, value: AnyValue) -> KeyValue {
    KeyValue { key: key.to_string(), value: Some(value), ..Default::default() }
}

fn string_value(s: &str) -> AnyValue {
    AnyValue { value: Some(any_value::Value::StringValue(s.to_string())) }
}

/// JSON → OTLP value. Integers that fit i64 stay integers; other numbers become doubles.
pub fn json_to_any(v: &Value) -> AnyValue {
    use any_value::Value as V;
    let value = match v {
        Value::Null => None,
        Value::Bool(b) => Some(V::BoolValue(*b)),
        Value::Number(n) => Some(match n.as_i64() {
            Some(i) => V::IntValue(i),
            None => V::DoubleValue(n.as_f64().unwrap_or(f64::NAN)),
        }),
        Value::String(s) => Some(V::StringValue(s.clone())),
        Value::Array(a) => Some(V::ArrayValue(ArrayValue { values: a.iter().map(json_to_any).collect() })),
        Value::Object(o) => Some(V::KvlistValue(KeyValueList { values: o.iter().map(|(k, v)| kv(k, json_to_any(v))).collect() })),
    };
    AnyValue { value }
}

/// OTLP value → JSON. Bytes become lower-case hex; non-finite doubles become strings.
pub fn any_to_json(v: &AnyValue) -> Value {
    use any_value::Value as V;
    match &v.value {
        None => Value::Null,
        Some(V::StringValue(s)) => Value::String(s.clone()),
        Some(V::BoolValue(b)) => Value::Bool(*b),
        Some(V::IntValue(i)) => Value::Number((*i).into()),
        Some(V::DoubleValue(d)) => Number::from_f64(*d).map(Value::Number).unwrap_or_else(|| Value::String(d.to_string())),
        Some(V::ArrayValue(a)) => Value::Array(a.values.iter().map(any_to_json).collect()),
        Some(V::KvlistValue(l)) => {
            Value::Object(l.values.iter().map(|kv| (kv.key.clone(), kv.value.as_ref().map(any_to_json).unwrap_or(Value::Null))).collect())
        }
        Some(V::BytesValue(b)) => Value::String(hex(b)),
        Some(V::StringValueStrindex(i)) => Value::Number((*i).into()),
    }
}

/// OTLP severity number for a level (the first number of each range).
pub fn severity_number(level: &str) -> i32 {
    match level {
        "trace" => 1,
        "debug" => 5,
        "info" => 9,
        "warn" => 13,
        "error" => 17,
        "fatal" => 21,
        _ => 0,
    }
}

fn level_from_number(n: i32) -> &'static str {
    match n {
        1..=4 => "trace",
        5..=8 => "debug",
        9..=12 => "info",
        13..=16 => "warn",
        17..=20 => "error",
        21..=24 => "fatal",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event() -> LogEvent {
        let fields = json!({"latency_ms": 812, "ratio": 0.25, "ok": false, "tags": ["a", "b"], "http": {"status": 503, "path": "/pay"}});
        LogEvent {
            timestamp: 1_700_000_000_123_456_789,
            level: "error".into(),
            message: "payment failed".into(),
            host: "web-1".into(),
            service: "checkout".into(),
            source: "/var/log/checkout.log".into(),
            fields: fields.as_object().unwrap().clone(),
        }
    }

    #[test]
    fn protobuf_round_trip_keeps_everything() {
        let mut other = event();
        other.service = "search".into();
        other.fields.clear();
        let events = vec![event(), other];
        let back = decode_protobuf(&encode_protobuf(&events)).unwrap();
        // grouped by (host, service); the order within a group is kept
        assert_eq!(back, events);
    }

    #[test]
    fn reads_otlp_json_from_other_senders() {
        let body = json!({"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"cart"}},{"key":"k8s.pod.name","value":{"stringValue":"cart-1"}}]},
          "scopeLogs":[{"logRecords":[{"timeUnixNano":"1700000000000000000","severityNumber":13,"body":{"stringValue":"low stock"},
            "attributes":[{"key":"sku","value":{"stringValue":"X1"}},{"key":"log.file.path","value":{"stringValue":"/var/log/cart.log"}}]}]}]}]});
        let events = decode_json(body.to_string().as_bytes()).unwrap();
        assert_eq!(events.len(), 1);
        let e = &events[0];
        assert_eq!((e.service.as_str(), e.level.as_str(), e.message.as_str()), ("cart", "warn", "low stock"));
        assert_eq!(e.source, "/var/log/cart.log");
        assert_eq!(e.timestamp, 1_700_000_000_000_000_000);
        assert_eq!(e.fields.get("sku"), Some(&json!("X1")));
        assert_eq!(e.fields.get("k8s.pod.name"), Some(&json!("cart-1")));
    }

    #[test]
    fn direct_encoding_is_byte_identical_to_prost() {
        let mut odd = event();
        odd.fields = json!({"": "empty key", "neg": -5, "big": u64::MAX, "f": -0.5, "nul": null, "t": true, "f0": false,
            "arr": [1, "x", null, [], {}], "obj": {"a": {"b": [2.5]}}, "s": ""})
        .as_object()
        .unwrap()
        .clone();
        odd.level = "notice".into(); // no severity number
        odd.timestamp = -1; // before the epoch: written as 0, i.e. not at all
        odd.source.clear();
        let mut long = event();
        long.message = "m".repeat(70_000);
        long.host = "h".repeat(200);
        let mut other_group = event();
        other_group.service = "search".into();
        let empty = LogEvent::default();
        for events in [vec![], vec![event()], vec![odd.clone()], vec![event(), other_group.clone(), odd, long, empty, other_group]] {
            assert_eq!(encode_protobuf(&events), to_request(&events).encode_to_vec(), "{events:?}");
        }
    }

    #[test]
    fn batches_encoded_one_after_another_form_one_request() {
        let a = event();
        let mut b = event();
        b.message = "second".into();
        b.service = "search".into();
        let mut body = Vec::new();
        encode_protobuf_into(std::slice::from_ref(&a), &mut body);
        encode_protobuf_into(&[b.clone(), a.clone()], &mut body);
        // batches stay in order; inside a batch, events are grouped by (host, service)
        assert_eq!(decode_protobuf(&body).unwrap(), vec![a.clone(), a, b]);
    }

    #[test]
    fn malformed_bodies_are_errors() {
        assert!(decode_protobuf(b"\xff\xff\xff").is_err());
        assert!(decode_json(b"{\"resourceLogs\": 5}").is_err());
    }
}

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

const SOURCE_ATTR: &str = "lookout.source";

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
    to_request(events).encode_to_vec()
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
    fn malformed_bodies_are_errors() {
        assert!(decode_protobuf(b"\xff\xff\xff").is_err());
        assert!(decode_json(b"{\"resourceLogs\": 5}").is_err());
    }
}

//! The log event and the JSON-line parser.
//!
//! A log line is usually a JSON object. Its well-known fields are lifted into the event's own
//! members (timestamp, level, message, host, service); every other field stays in
//! [`LogEvent::fields`] exactly as written, so nested objects remain searchable and come back as
//! structured JSON. A line that is not a JSON object is kept whole as the message with
//! `parse_error: true`: nothing a shipper reads is dropped for being malformed.

use serde_json::{Map, Value};

/// One log event, as stored and returned by search.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, Default)]
pub struct LogEvent {
    /// Event time, nanoseconds since the Unix epoch.
    pub timestamp: i64,
    /// Lower-cased severity (`info`, `error`, …), empty when unknown.
    #[serde(default)]
    pub level: String,
    /// The human-readable message.
    #[serde(default)]
    pub message: String,
    /// Host that produced the event.
    #[serde(default)]
    pub host: String,
    /// Service that produced the event.
    #[serde(default)]
    pub service: String,
    /// Where the event was read: a file path or a receiver name.
    #[serde(default)]
    pub source: String,
    /// Every other field of the original JSON.
    #[serde(default)]
    pub fields: Map<String, Value>,
}

/// Which JSON fields carry the well-known members.
#[derive(Debug, Clone)]
pub struct ParseOptions {
    /// Timestamp fields, first present wins.
    pub timestamp_fields: Vec<String>,
    /// Level fields, first present wins.
    pub level_fields: Vec<String>,
    /// Message fields, first present wins.
    pub message_fields: Vec<String>,
    /// Service fields, first present wins.
    pub service_fields: Vec<String>,
    /// Host fields, first present wins.
    pub host_fields: Vec<String>,
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

impl Default for ParseOptions {
    fn default() -> Self {
        Self {
            timestamp_fields: strings(&["timestamp", "ts", "time", "@timestamp"]),
            level_fields: strings(&["level", "severity", "lvl"]),
            message_fields: strings(&["message", "msg"]),
            service_fields: strings(&["service", "app"]),
            host_fields: strings(&["host", "hostname"]),
        }
    }
}

impl LogEvent {
    /// Parses one line. `read_time` (ns) is used when the line carries no usable timestamp;
    /// `host` and `service` are defaults that the line's own fields override.
    pub fn from_line(line: &str, read_time: i64, source: &str, host: &str, opts: &ParseOptions) -> LogEvent {
        let mut event = LogEvent { timestamp: read_time, host: host.to_string(), source: source.to_string(), ..Default::default() };
        let trimmed = line.trim_end_matches(['\n', '\r']);
        // sonic-rs (SIMD) builds the same `serde_json` map as `serde_json::from_str` would, about
        // twice as fast; anything but a JSON object is an error here and kept as text below.
        match sonic_rs::from_str::<Map<String, Value>>(trimmed) {
            Ok(map) => {
                event.fields = map;
                event.lift(opts);
            }
            Err(_) => {
                event.message = trimmed.to_string();
                event.fields.insert("parse_error".into(), Value::Bool(true));
            }
        }
        event
    }

    /// Moves the well-known fields out of `fields` into the event's members.
    pub fn lift(&mut self, opts: &ParseOptions) {
        for name in &opts.timestamp_fields {
            if let Some(ts) = self.fields.get(name).and_then(parse_timestamp) {
                self.fields.remove(name);
                self.timestamp = ts;
                break;
            }
        }
        if let Some(level) = take_first(&mut self.fields, &opts.level_fields, is_text, into_string) {
            self.level = normalize_level_owned(level);
        }
        if let Some(msg) = take_first(&mut self.fields, &opts.message_fields, is_text, into_string) {
            self.message = msg;
        }
        if let Some(service) = take_first(&mut self.fields, &opts.service_fields, is_text, into_string) {
            self.service = service;
        }
        if let Some(host) = take_first(&mut self.fields, &opts.host_fields, is_text, into_string) {
            self.host = host;
        }
    }

    /// Approximate in-memory size, for batching by bytes.
    pub fn size_hint(&self) -> usize {
        64 + self.level.len()
            + self.message.len()
            + self.host.len()
            + self.service.len()
            + self.source.len()
            + self.fields.iter().map(|(k, v)| k.len() + value_size(v)).sum::<usize>()
    }
}

fn value_size(v: &Value) -> usize {
    match v {
        Value::String(s) => s.len() + 2,
        Value::Array(a) => a.iter().map(value_size).sum::<usize>() + 2,
        Value::Object(o) => o.iter().map(|(k, v)| k.len() + value_size(v)).sum::<usize>() + 2,
        _ => 8,
    }
}

/// Removes and converts the first of `names` present in `map` for which `usable` holds.
fn take_first<T>(
    map: &mut Map<String, Value>,
    names: &[String],
    usable: impl Fn(&Value) -> bool,
    convert: impl Fn(Value) -> Option<T>,
) -> Option<T> {
    for name in names {
        if map.get(name).is_some_and(&usable) {
            return map.remove(name).and_then(convert);
        }
    }
    None
}

fn is_text(v: &Value) -> bool {
    matches!(v, Value::String(_) | Value::Number(_) | Value::Bool(_))
}

/// A string, number or boolean as text (moved, not copied).
fn into_string(v: Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// [`normalize_level`] without allocating when the level is already one of Lookout's.
fn normalize_level_owned(raw: String) -> String {
    match raw.as_str() {
        "trace" | "debug" | "info" | "warn" | "error" | "fatal" => raw,
        _ => normalize_level(&raw),
    }
}

/// Maps common spellings onto Lookout's levels: trace, debug, info, warn, error, fatal.
pub fn normalize_level(raw: &str) -> String {
    let lower = raw.trim().to_ascii_lowercase();
    match lower.as_str() {
        "warning" | "wrn" | "w" => "warn".into(),
        "err" | "e" | "eror" => "error".into(),
        "information" | "inf" | "i" | "notice" => "info".into(),
        "dbg" | "d" => "debug".into(),
        "crit" | "critical" | "emerg" | "emergency" | "alert" | "panic" => "fatal".into(),
        "trc" | "t" => "trace".into(),
        _ => lower,
    }
}

/// Reads a timestamp as RFC 3339 text or a Unix number whose unit is guessed from its size
/// (seconds, milliseconds, microseconds or nanoseconds). Returns nanoseconds.
pub fn parse_timestamp(v: &Value) -> Option<i64> {
    match v {
        Value::String(s) => parse_timestamp_str(s),
        Value::Number(n) => match n.as_i64() {
            Some(i) => unix_int_to_ns(i),
            None => n.as_f64().and_then(unix_number_to_ns),
        },
        _ => None,
    }
}

/// Parses RFC 3339 text (or a decimal Unix number in a string) to nanoseconds.
pub fn parse_timestamp_str(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(t) = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339) {
        return i64::try_from(t.unix_timestamp_nanos()).ok();
    }
    match s.parse::<i64>() {
        Ok(i) => unix_int_to_ns(i),
        Err(_) => s.parse::<f64>().ok().and_then(unix_number_to_ns),
    }
}

pub(crate) fn unix_int_to_ns(n: i64) -> Option<i64> {
    match n {
        ..0 => None,
        100_000_000_000_000_000.. => Some(n),
        100_000_000_000_000.. => n.checked_mul(1_000),
        100_000_000_000.. => n.checked_mul(1_000_000),
        _ => n.checked_mul(1_000_000_000),
    }
}

pub(crate) fn unix_number_to_ns(n: f64) -> Option<i64> {
    if !n.is_finite() || n < 0.0 {
        return None;
    }
    let ns = if n >= 1e17 {
        n
    } else if n >= 1e14 {
        n * 1e3
    } else if n >= 1e11 {
        n * 1e6
    } else {
        n * 1e9
    };
    (ns < i64::MAX as f64).then_some(ns as i64)
}

/// Formats nanoseconds since the epoch as RFC 3339 UTC with nanoseconds.
pub fn format_timestamp(ns: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(ns as i128).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let fmt = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:9]Z");
    t.format(&fmt).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(line: &str) -> LogEvent {
        LogEvent::from_line(line, 7, "/var/log/app.log", "box", &ParseOptions::default())
    }

    #[test]
    fn lifts_well_known_fields_and_keeps_the_rest() {
        let e = parse(
            r#"{"ts":"2026-11-22T10:00:00.5Z","level":"WARNING","msg":"slow","service":"api","latency_ms":812,"http":{"status":503}}"#,
        );
        assert_eq!(e.timestamp, 1_795_341_600_500_000_000);
        assert_eq!(e.level, "warn");
        assert_eq!(e.message, "slow");
        assert_eq!(e.service, "api");
        assert_eq!(e.host, "box");
        assert_eq!(e.source, "/var/log/app.log");
        assert_eq!(Value::Object(e.fields), json!({"latency_ms":812,"http":{"status":503}}));
    }

    #[test]
    fn keeps_non_json_lines_whole() {
        let e = parse("plain text line\n");
        assert_eq!(e.message, "plain text line");
        assert_eq!(e.fields.get("parse_error"), Some(&Value::Bool(true)));
        assert_eq!(e.timestamp, 7);
        let e = parse("[1,2]");
        assert_eq!(e.message, "[1,2]");
        assert_eq!(e.fields.get("parse_error"), Some(&Value::Bool(true)));
    }

    #[test]
    fn reads_numeric_timestamps_in_any_unit() {
        for (v, ns) in [
            (json!(1_700_000_000), 1_700_000_000_000_000_000i64),
            (json!(1_700_000_000_123i64), 1_700_000_000_123_000_000),
            (json!(1_700_000_000_123_456i64), 1_700_000_000_123_456_000),
            (json!(1_700_000_000_123_456_789i64), 1_700_000_000_123_456_789),
        ] {
            assert_eq!(parse_timestamp(&v), Some(ns), "{v}");
        }
        assert_eq!(parse_timestamp(&json!("yesterday")), None);
    }

    #[test]
    fn parses_like_serde_json() {
        for line in [
            r#"{"a":1,"b":-2,"c":1.5e300,"d":18446744073709551615,"e":-0.0,"f":[true,null,{"g":"\u00e9\n\"x\""}],"h":{}}"#,
            r#"{"dup":1,"dup":2}"#,
            r#"  {"spaced" : "yes" }  "#,
            r#"{"unicode":"日本語 ✓","esc":"\ud83d\ude00"}"#,
        ] {
            let want: Map<String, Value> = serde_json::from_str(line).unwrap();
            let got = parse(line);
            assert_eq!(got.fields, want, "{line}");
        }
        for bad in [r#"{"a":1} trailing"#, r#"{"a":}"#, r#"{"a":1"#, "", "null", r#""text""#, "{'a':1}"] {
            let e = parse(bad);
            assert_eq!(e.message, bad.trim_end_matches(['\n', '\r']), "{bad}");
            assert_eq!(e.fields.get("parse_error"), Some(&Value::Bool(true)), "{bad}");
        }
    }

    #[test]
    fn lifted_fields_keep_types_and_order_of_the_rest() {
        let e = parse(r#"{"level":"Info","msg":42,"service":true,"host":{"no":1},"a":1,"b":2}"#);
        assert_eq!((e.level.as_str(), e.message.as_str(), e.service.as_str()), ("info", "42", "true"));
        // a host that is not text stays a field
        assert_eq!(e.host, "box");
        assert_eq!(e.fields.get("host"), Some(&json!({"no": 1})));
    }

    #[test]
    fn unusable_timestamp_stays_a_field() {
        let e = parse(r#"{"time":"soon","message":"x"}"#);
        assert_eq!(e.timestamp, 7);
        assert_eq!(e.fields.get("time"), Some(&json!("soon")));
    }

    #[test]
    fn formats_rfc3339() {
        assert_eq!(format_timestamp(1_795_341_600_500_000_000), "2026-11-22T10:00:00.500000000Z");
    }
}

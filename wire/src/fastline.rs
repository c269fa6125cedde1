//! JSON lines straight to OTLP `LogRecord`s, without building a [`LogEvent`](crate::LogEvent).
//!
//! [`LogEvent::from_line`](crate::LogEvent::from_line) builds a `serde_json` map for every line (an allocation per key and
//! per string, an index insert and a hash per key), and the OTLP encoder then walks that map.
//! Where nothing between the file and the sink reads fields, [`encode_line`] parses the line
//! into sonic-rs's document (one arena per line) and writes the record from it. The bytes are
//! the same as [`LogEvent::from_line`](crate::LogEvent::from_line) followed by [`crate::otlp::encode_record_into`] (a test
//! compares both on generated and mutated lines): the same members are lifted under the same
//! rules, the remaining fields keep the order `serde_json`'s map leaves them in (its `remove`
//! is a swap-remove), numbers keep their kind.
//!
//! Lines this path does not reproduce exactly are refused (`false`, nothing written) and left
//! to the general path: anything but a JSON object, duplicate keys at any depth (the map keeps
//! the last value at the first key's place), a lifted member that is a number or boolean (its
//! text would come from `serde_json`'s number formatting), a non-finite number.

use std::borrow::Cow;

use sonic_rs::{JsonContainerTrait, JsonNumberTrait, JsonType, JsonValueTrait, Value};

use crate::event::{ParseOptions, normalize_level, parse_timestamp_str, unix_int_to_ns, unix_number_to_ns};
use crate::otlp::{SOURCE_ATTR, severity_number};

/// What [`LogEvent::from_line`](crate::LogEvent::from_line) is given besides the line, plus the service used when the line
/// names none.
pub struct Defaults<'a> {
    /// Timestamp (ns) when the line has no usable one.
    pub read_time: i64,
    /// The event's `source` (file path).
    pub source: &'a str,
    /// Host unless the line names one.
    pub host: &'a str,
    /// Service when the line names none (or an empty one).
    pub service: &'a str,
    /// Which fields are lifted.
    pub opts: &'a ParseOptions,
}

/// Appends `line` as a `LogRecord` field (tag 2 of `ScopeLogs`, header included) and tells
/// `group` the record's (host, service). Returns false, with nothing written, for a line the
/// general path must handle (see the module's documentation).
pub fn encode_line(line: &str, d: &Defaults, out: &mut Vec<u8>, group: &mut dyn FnMut(&str, &str)) -> bool {
    let trimmed = line.trim_end_matches(['\n', '\r']);
    let Ok(doc) = sonic_rs::from_str::<Value>(trimmed) else { return false };
    let Some(obj) = doc.as_object() else { return false };
    let mut entries: Vec<(&str, &Value)> = obj.iter().collect();
    if has_duplicates(entries.iter().map(|(k, _)| *k)) {
        return false;
    }
    let opts = d.opts;
    let mut timestamp = d.read_time;
    for name in &opts.timestamp_fields {
        if let Some(i) = find(&entries, name)
            && let Some(ts) = parse_timestamp(entries[i].1)
        {
            entries.swap_remove(i);
            timestamp = ts;
            break;
        }
    }
    let Ok(level) = take_first(&mut entries, &opts.level_fields) else { return false };
    let Ok(message) = take_first(&mut entries, &opts.message_fields) else { return false };
    let Ok(service) = take_first(&mut entries, &opts.service_fields) else { return false };
    let Ok(host) = take_first(&mut entries, &opts.host_fields) else { return false };
    let level: Cow<str> = match level {
        None => Cow::Borrowed(""),
        Some(l @ ("trace" | "debug" | "info" | "warn" | "error" | "fatal")) => Cow::Borrowed(l),
        Some(l) => Cow::Owned(normalize_level(l)),
    };
    let message = message.unwrap_or("");
    let host = host.unwrap_or(d.host);
    let service = match service {
        Some(s) if !s.is_empty() => s,
        _ => d.service,
    };

    let start = out.len();
    let at = open(out, 0x12, 2);
    if timestamp > 0 {
        out.push(0x09);
        out.extend_from_slice(&(timestamp as u64).to_le_bytes());
    }
    let sev = severity_number(&level);
    if sev != 0 {
        out.push(0x10);
        put_varint(out, sev as u64);
    }
    if !level.is_empty() {
        put_str(out, 0x1A, &level);
    }
    let body = open(out, 0x2A, 1);
    put_str(out, 0x0A, message);
    close(out, body, 1);
    if !d.source.is_empty() {
        let kv = open(out, 0x32, 1);
        put_str(out, 0x0A, SOURCE_ATTR);
        let any = open(out, 0x12, 1);
        put_str(out, 0x0A, d.source);
        close(out, any, 1);
        close(out, kv, 1);
    }
    for (k, v) in &entries {
        if !put_kv(out, 0x32, k, v) {
            out.truncate(start);
            return false;
        }
    }
    close(out, at, 2);
    group(host, service);
    true
}

fn find(entries: &[(&str, &Value)], name: &str) -> Option<usize> {
    entries.iter().position(|(k, _)| *k == name)
}

/// The first of `names` whose value is text, removed. `Err` when that value is a number or a
/// boolean (text the general path writes).
fn take_first<'a>(entries: &mut Vec<(&'a str, &'a Value)>, names: &[String]) -> Result<Option<&'a str>, ()> {
    for name in names {
        if let Some(i) = find(entries, name) {
            match entries[i].1.get_type() {
                JsonType::String => {
                    let s = entries[i].1.as_str().ok_or(())?;
                    entries.swap_remove(i);
                    return Ok(Some(s));
                }
                JsonType::Number | JsonType::Boolean => return Err(()),
                _ => {}
            }
        }
    }
    Ok(None)
}

/// [`crate::event::parse_timestamp`] on a sonic-rs value.
fn parse_timestamp(v: &Value) -> Option<i64> {
    match v.get_type() {
        JsonType::String => parse_timestamp_str(v.as_str()?),
        JsonType::Number => {
            let n = v.as_number()?;
            match n.as_i64() {
                Some(i) => unix_int_to_ns(i),
                None => n.as_f64().and_then(unix_number_to_ns),
            }
        }
        _ => None,
    }
}

fn has_duplicates<'a>(keys: impl ExactSizeIterator<Item = &'a str>) -> bool {
    let n = keys.len();
    if n < 2 {
        return false;
    }
    if n <= 12 {
        let mut seen: [&str; 12] = [""; 12];
        for (i, k) in keys.enumerate() {
            if seen[..i].contains(&k) {
                return true;
            }
            seen[i] = k;
        }
        return false;
    }
    let mut all: Vec<&str> = keys.collect();
    all.sort_unstable();
    all.windows(2).any(|w| w[0] == w[1])
}

fn varint_len(v: u64) -> usize {
    prost::encoding::encoded_len_varint(v)
}

fn put_varint(out: &mut Vec<u8>, v: u64) {
    prost::encoding::encode_varint(v, out);
}

fn put_str(out: &mut Vec<u8>, key: u8, s: &str) {
    out.push(key);
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// Starts a length-delimited field, leaving `guess` bytes for its length; returns where they are.
fn open(out: &mut Vec<u8>, key: u8, guess: usize) -> usize {
    out.push(key);
    let at = out.len();
    out.resize(at + guess, 0);
    at
}

/// Writes the length of the field opened at `at`, moving its content when the length takes
/// more or fewer bytes than were left for it.
fn close(out: &mut Vec<u8>, at: usize, guess: usize) {
    let start = at + guess;
    let len = out.len() - start;
    let need = varint_len(len as u64);
    if need > guess {
        let extra = need - guess;
        out.resize(out.len() + extra, 0);
        out.copy_within(start..start + len, start + extra);
    } else if need < guess {
        let less = guess - need;
        out.copy_within(start..start + len, start - less);
        out.truncate(out.len() - less);
    }
    let mut v = len as u64;
    let mut i = at;
    while v >= 0x80 {
        out[i] = (v as u8) | 0x80;
        v >>= 7;
        i += 1;
    }
    out[i] = v as u8;
}

/// A `KeyValue` field with tag `field_key`: the key (skipped when empty, as prost does) and the
/// value message.
fn put_kv(out: &mut Vec<u8>, field_key: u8, key: &str, v: &Value) -> bool {
    let kv = open(out, field_key, 1);
    if !key.is_empty() {
        put_str(out, 0x0A, key);
    }
    let any = open(out, 0x12, 1);
    if !put_any(out, v) {
        return false;
    }
    close(out, any, 1);
    close(out, kv, 1);
    true
}

/// The `AnyValue` body of a JSON value, as the general path writes it from `serde_json`.
fn put_any(out: &mut Vec<u8>, v: &Value) -> bool {
    match v.get_type() {
        JsonType::Null => {}
        JsonType::Boolean => {
            let Some(b) = v.as_bool() else { return false };
            out.push(0x10);
            out.push(b as u8);
        }
        JsonType::Number => {
            let Some(n) = v.as_number() else { return false };
            match n.as_i64() {
                Some(i) => {
                    out.push(0x18);
                    put_varint(out, i as u64);
                }
                None => match n.as_f64() {
                    Some(f) if f.is_finite() => {
                        out.push(0x21);
                        out.extend_from_slice(&f.to_le_bytes());
                    }
                    _ => return false,
                },
            }
        }
        JsonType::String => {
            let Some(s) = v.as_str() else { return false };
            put_str(out, 0x0A, s);
        }
        JsonType::Array => {
            let Some(a) = v.as_array() else { return false };
            let at = open(out, 0x2A, 1);
            for x in a.iter() {
                let item = open(out, 0x0A, 1);
                if !put_any(out, x) {
                    return false;
                }
                close(out, item, 1);
            }
            close(out, at, 1);
        }
        JsonType::Object => {
            let Some(o) = v.as_object() else { return false };
            if has_duplicates(o.iter().map(|(k, _)| k)) {
                return false;
            }
            let at = open(out, 0x32, 1);
            for (k, x) in o.iter() {
                if !put_kv(out, 0x0A, k, x) {
                    return false;
                }
            }
            close(out, at, 1);
        }
    }
    true
}

/// The general path, for comparison: what [`encode_line`] must write.
#[cfg(test)]
fn general(line: &str, d: &Defaults, out: &mut Vec<u8>) -> (String, String) {
    let mut e = crate::LogEvent::from_line(line, d.read_time, d.source, d.host, d.opts);
    if e.service.is_empty() {
        e.service = d.service.to_string();
    }
    crate::otlp::encode_record_into(&e, out);
    (e.host, e.service)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(line: &str) -> bool {
        let opts = ParseOptions::default();
        let d = Defaults { read_time: 1_700_000_000_000_000_000, source: "/var/log/app.log", host: "box", service: "svc", opts: &opts };
        let mut want = Vec::new();
        let want_group = general(line, &d, &mut want);
        let mut got = vec![7u8];
        let mut got_group = None;
        let fast = encode_line(line, &d, &mut got, &mut |h, s| got_group = Some((h.to_string(), s.to_string())));
        if fast {
            assert_eq!(&got[1..], &want[..], "bytes differ for {line:?}");
            assert_eq!(got_group, Some(want_group), "group differs for {line:?}");
        } else {
            assert_eq!(got, vec![7u8], "a refused line wrote bytes: {line:?}");
            assert!(got_group.is_none());
        }
        fast
    }

    #[test]
    fn writes_what_the_general_path_writes() {
        let taken = [
            r#"{"timestamp":"2026-11-22T10:00:00.000001Z","level":"info","service":"checkout","host":"web-1","message":"GET /api/v1/orders/1 completed","http":{"method":"GET","status":201,"latency_ms":1},"trace_id":"a3f","user":"u00001"}"#,
            r#"{"ts":1700000000123,"lvl":"WARNING","msg":"slow","a":[1,2.5,"x",null,true,{"b":{}}],"c":-3,"d":18446744073709551615,"e":-0.0,"f":1.5e300}"#,
            r#"{"level":"Info","msg":"x","service":"","host":"","z":"\u00e9\n\"q\"","y":"\ud83d\ude00"}"#,
            r#"{"time":"soon","message":"timestamp stays a field"}"#,
            r#"{"severity":"err","level":{"not":"text"},"message":"level from the second name"}"#,
            r#"{"log":"{\"inner\":\"json\",\"n\":1}\n","stream":"stdout"}"#,
            r#"{}"#,
            r#"  {"spaced" : "yes" }  "#,
            "{\"a\":1}\r\n",
            r#"{"":"empty key","k":""}"#,
        ];
        for line in taken {
            assert!(check(line), "refused {line}");
        }
        let long = format!(r#"{{"message":"{}","n":{{"deep":"{}"}}}}"#, "m".repeat(20_000), "d".repeat(300));
        assert!(check(&long));
        let many: String = (0..40).map(|i| format!(r#""k{i}":{i}"#)).collect::<Vec<_>>().join(",");
        assert!(check(&format!("{{{many}}}")));
    }

    #[test]
    fn refuses_what_it_cannot_reproduce() {
        for line in [
            "plain text",
            "[1,2]",
            r#"{"dup":1,"dup":2}"#,
            r#"{"a":{"dup":1,"dup":2}}"#,
            r#"{"level":5,"message":"numeric level"}"#,
            r#"{"message":true}"#,
            r#"{"a":1} trailing"#,
            r#"{"a":1"#,
            r#"{"a":1e400}"#,
            "",
        ] {
            assert!(!check(line), "took {line}");
        }
    }

    /// Mutated lines: whatever the fast path takes, it writes the general path's bytes.
    #[test]
    fn mutated_lines_are_taken_exactly_or_refused() {
        let seeds = [
            r#"{"timestamp":"2026-11-22T10:00:00.5Z","level":"warn","service":"api","message":"m \"q\" é","http":{"status":503,"ok":false,"t":[1,2.5e-3,null]},"n":-12}"#,
            r#"{"ts":1700000000,"msg":"x","a":{"b":{"c":[{"d":"e"}]}},"u":"\u0041\\"}"#,
        ];
        let alphabet: Vec<char> = r#"{}[]",:\0123456789.eE+-tfnrulase é"#.chars().collect();
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        let (mut taken, mut refused) = (0, 0);
        for round in 0..20_000 {
            let mut chars: Vec<char> = seeds[round % seeds.len()].chars().collect();
            for _ in 0..1 + next(3) {
                let i = next(chars.len());
                match next(3) {
                    0 => {
                        chars.remove(i);
                    }
                    1 => chars.insert(i, alphabet[next(alphabet.len())]),
                    _ => chars[i] = alphabet[next(alphabet.len())],
                }
            }
            let line: String = chars.into_iter().collect();
            if check(&line) { taken += 1 } else { refused += 1 }
        }
        // both outcomes occur, so the comparison above ran on taken lines
        assert!(taken > 1_000 && refused > 1_000, "taken {taken}, refused {refused}");
    }
}

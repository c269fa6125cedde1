//! Log lines cut from a file and not parsed yet, as they travel from the file source to sinks.
//!
//! The file source does not parse lines into [`LogEvent`]s: a batch carries its lines as text
//! ([`RawLogs`]) and is parsed by whoever needs it. A transform, the console sink or a disk
//! buffer asks for events ([`RawLogs::into_events`]: one `LogEvent` per line, built exactly as
//! before). The HTTP sinks ask for OTLP bytes ([`RawLogs::encode_into`]), which come straight
//! from the JSON through [`wire::fastline`] without building events: the same bytes, at less
//! than half the CPU. Lines the fast path refuses (not JSON objects, truncated lines, duplicate
//! keys, …) go through a `LogEvent` one at a time.

use std::borrow::Cow;
use std::sync::Arc;

use wire::fastline::{self, Defaults};
use wire::{LogEvent, ParseOptions};

use crate::sources::file::TRUNCATED_MARKER;

/// The text of complete events cut from a file, back to back, not parsed yet. A read round
/// holds its batches in this form (about the size of the bytes read) until their ends are in
/// the checkpoint.
#[derive(Default, Clone)]
pub struct Lines {
    text: Vec<u8>,
    /// End of each event in `text`, and whether it was truncated.
    ends: Vec<(usize, bool)>,
}

impl Lines {
    /// Room for about `bytes` of text.
    pub fn with_capacity(bytes: usize) -> Lines {
        Lines { text: Vec::with_capacity(bytes), ends: Vec::with_capacity(bytes / 128) }
    }

    /// Appends one event's text (without its newline).
    pub fn push(&mut self, line: &[u8], truncated: bool) {
        self.text.extend_from_slice(line);
        self.ends.push((self.text.len(), truncated));
    }

    /// No events.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The number of events.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Each event's text and whether it was truncated.
    fn iter(&self) -> impl Iterator<Item = (&[u8], bool)> {
        let mut from = 0;
        self.ends.iter().map(move |&(to, truncated)| {
            let line = &self.text[from..to];
            from = to;
            (line, truncated)
        })
    }
}

/// A batch of lines from one file with what parsing them needs.
#[derive(Clone)]
pub struct RawLogs {
    lines: Lines,
    source: String,
    host: String,
    service: String,
    opts: Arc<ParseOptions>,
    read_time: i64,
}

impl RawLogs {
    /// Lines read from `source` at `read_time` (ns; the timestamp of lines without one).
    pub fn new(lines: Lines, source: String, host: String, service: String, opts: Arc<ParseOptions>, read_time: i64) -> RawLogs {
        RawLogs { lines, source, host, service, opts, read_time }
    }

    /// The number of events.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// No events.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// The lines parsed into events, in order.
    pub fn into_events(self) -> Vec<LogEvent> {
        self.lines
            .iter()
            .map(|(line, truncated)| make_event(line, truncated, self.read_time, &self.source, &self.host, &self.service, &self.opts))
            .collect()
    }

    /// Appends the OTLP protobuf encoding of [`Self::into_events`] to `out`: byte for byte
    /// what `wire::otlp::encode_protobuf_into` writes for those events.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let d = Defaults { read_time: self.read_time, source: &self.source, host: &self.host, service: &self.service, opts: &self.opts };
        let mut records = Vec::with_capacity(self.lines.text.len() + self.lines.len() * (self.source.len() + 48));
        // (host, service) of each group, and each record's end in `records` and group
        let mut groups: Vec<(String, String)> = Vec::new();
        let mut ends: Vec<(usize, usize)> = Vec::with_capacity(self.lines.len());
        let group_of = |groups: &mut Vec<(String, String)>, host: &str, service: &str| -> usize {
            if let Some(last) = groups.last()
                && last.0 == host
                && last.1 == service
            {
                return groups.len() - 1;
            }
            match groups.iter().position(|(h, s)| h == host && s == service) {
                Some(i) => i,
                None => {
                    groups.push((host.to_string(), service.to_string()));
                    groups.len() - 1
                }
            }
        };
        for (line, truncated) in self.lines.iter() {
            let mut group = usize::MAX;
            let taken = !truncated && {
                let text = utf8(line);
                fastline::encode_line(&text, &d, &mut records, &mut |h, s| group = group_of(&mut groups, h, s))
            };
            if !taken {
                let e = make_event(line, truncated, self.read_time, &self.source, &self.host, &self.service, &self.opts);
                wire::otlp::encode_record_into(&e, &mut records);
                group = group_of(&mut groups, &e.host, &e.service);
            }
            ends.push((records.len(), group));
        }
        if groups.len() == 1 {
            wire::otlp::encode_resource_logs_header(&groups[0].0, &groups[0].1, records.len(), out);
            out.extend_from_slice(&records);
            return;
        }
        // One `ResourceLogs` per (host, service) in that order, records in line order inside.
        let mut order: Vec<usize> = (0..groups.len()).collect();
        order.sort_by(|&a, &b| (groups[a].0.as_str(), groups[a].1.as_str()).cmp(&(groups[b].0.as_str(), groups[b].1.as_str())));
        for g in order {
            let mut from = 0;
            let mut total = 0;
            for &(to, group) in &ends {
                if group == g {
                    total += to - from;
                }
                from = to;
            }
            wire::otlp::encode_resource_logs_header(&groups[g].0, &groups[g].1, total, out);
            let mut from = 0;
            for &(to, group) in &ends {
                if group == g {
                    out.extend_from_slice(&records[from..to]);
                }
                from = to;
            }
        }
    }
}

/// Valid UTF-8 (nearly always) only goes through the fast validator; invalid text is copied
/// with replacement characters.
fn utf8(line: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(line) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(line),
    }
}

/// One line as an event: parsed as JSON (or kept as text), truncated lines marked.
pub fn make_event(line: &[u8], truncated: bool, now: i64, source: &str, host: &str, service: &str, opts: &ParseOptions) -> LogEvent {
    let text = utf8(line);
    let mut e = if truncated {
        // A truncated JSON line no longer parses; keep it whole, marked.
        let mut e = LogEvent::from_line("", now, source, host, opts);
        e.message = format!("{text}{TRUNCATED_MARKER}");
        e.fields.insert("truncated".into(), serde_json::Value::Bool(true));
        e
    } else {
        LogEvent::from_line(&text, now, source, host, opts)
    };
    if e.service.is_empty() {
        e.service = service.to_string();
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(lines: &[(&[u8], bool)], service: &str) -> RawLogs {
        let mut l = Lines::default();
        for (line, truncated) in lines {
            l.push(line, *truncated);
        }
        RawLogs::new(
            l,
            "/var/log/app.log".into(),
            "box".into(),
            service.into(),
            Arc::new(ParseOptions::default()),
            1_700_000_000_000_000_000,
        )
    }

    /// The sink's bytes from raw lines equal the bytes of the events they parse into, for a
    /// batch mixing fast-path lines, refused lines, truncated and invalid UTF-8 lines, and
    /// several (host, service) groups.
    #[test]
    fn encoding_raw_lines_equals_encoding_their_events() {
        let lines: Vec<(&[u8], bool)> = vec![
            (br#"{"level":"info","host":"web-2","service":"api","message":"a","n":1}"#, false),
            (b"plain text", false),
            (br#"{"level":"warn","message":"b","dup":1,"dup":2}"#, false),
            (br#"{"message":"cut here"#, true),
            (b"{\"message\":\"bad \xff utf8\"}", false),
            (br#"{"host":"web-1","message":"c","http":{"status":500}}"#, false),
            (br#"{"level":"info","host":"web-2","service":"api","message":"d"}"#, false),
            (br#"{"level":7,"message":"numeric level"}"#, false),
        ];
        for service in ["", "checkout"] {
            let r = raw(&lines, service);
            let mut got = Vec::new();
            r.encode_into(&mut got);
            let events = r.clone().into_events();
            assert_eq!(events.len(), lines.len());
            let mut want = Vec::new();
            wire::otlp::encode_protobuf_into(&events, &mut want);
            assert_eq!(got, want, "service default {service:?}");
            // and it decodes to those events
            let back = wire::otlp::decode_protobuf(&got).unwrap();
            assert_eq!(back.len(), events.len());
        }
        // one group: a single ResourceLogs
        let r = raw(&[(br#"{"message":"x"}"#, false), (br#"{"message":"y"}"#, false)], "svc");
        let mut got = Vec::new();
        r.encode_into(&mut got);
        let mut want = Vec::new();
        wire::otlp::encode_protobuf_into(&r.into_events(), &mut want);
        assert_eq!(got, want);
    }
}

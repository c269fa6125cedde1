//! Newline-delimited JSON (`POST /api/v1/logs/ingest`): one JSON object per line, with the
//! same well-known fields as the agent's file source. A line that is not a JSON object rejects
//! the whole request (400 naming the line), so a client never half-succeeds.

use wire::{LogEvent, ParseOptions};

use super::IngestError;

/// Decodes an NDJSON body (already decompressed). Blank lines are skipped.
pub fn decode(body: &[u8], now_ns: i64) -> Result<Vec<LogEvent>, IngestError> {
    let text = String::from_utf8_lossy(body);
    let opts = ParseOptions::default();
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        match serde_json::from_str::<serde_json::Value>(line) {
            Ok(serde_json::Value::Object(map)) => {
                let mut e = LogEvent { timestamp: now_ns, source: "ingest".into(), fields: map, ..Default::default() };
                e.lift(&opts);
                out.push(e);
            }
            Ok(_) => return Err(IngestError::Malformed(format!("line {}: expected a JSON object", i + 1))),
            Err(err) => return Err(IngestError::Malformed(format!("line {}: invalid JSON: {err}", i + 1))),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_objects_and_names_the_bad_line() {
        let ok = decode(b"{\"level\":\"error\",\"message\":\"x\",\"k\":1}\n\n{\"message\":\"y\"}\n", 5).unwrap();
        assert_eq!(ok.len(), 2);
        assert_eq!(ok[0].level, "error");
        assert_eq!(ok[1].timestamp, 5);
        let err = decode(b"{\"message\":\"x\"}\n{oops\n", 5).unwrap_err().to_string();
        assert!(err.starts_with("line 2: invalid JSON"), "{err}");
        let err = decode(b"[1]\n", 5).unwrap_err().to_string();
        assert!(err.contains("line 1: expected a JSON object"), "{err}");
    }
}

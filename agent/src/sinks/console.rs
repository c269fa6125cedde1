//! The `console` sink: writes each event as one JSON line to standard output, for debugging a
//! pipeline (`lookout-agent run … | jq`); metric samples as `{"metric":…,"labels":…}` lines. A batch is acknowledged once it is written and flushed.

use std::io::Write;

use serde::{Deserialize, Serialize};
use tracing::{debug, error};
use wire::LogEvent;

use super::SinkContext;

/// `type = "console"`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Components feeding this sink.
    pub inputs: Vec<String>,
}

impl Config {
    /// Semantic checks.
    pub fn validate(&self) -> Vec<(String, String)> {
        if self.inputs.is_empty() { vec![("inputs".into(), "at least one input is required".into())] } else { vec![] }
    }

    /// Runs until every input has closed.
    pub async fn run(self, mut cx: SinkContext) {
        while let Some(batch) = cx.input.recv().await {
            let n = batch.len() as u64;
            cx.metrics.events_in.inc_by(n);
            let mut batch = batch;
            let events = batch.take_events();
            let samples = std::mem::take(&mut batch.metrics);
            let written = tokio::task::spawn_blocking(move || {
                let stdout = std::io::stdout();
                let mut out = std::io::BufWriter::new(stdout.lock());
                write_events(&mut out, &events)?;
                for s in &samples {
                    serde_json::to_writer(&mut out, &metric_json(s))?;
                    out.write_all(b"\n")?;
                }
                out.flush()
            })
            .await;
            match written {
                Ok(Ok(())) => {
                    cx.metrics.events_out.inc_by(n);
                    batch.ack.settle();
                }
                Ok(Err(e)) => {
                    // stdout is gone (closed pipe): nothing will ever take these; count them.
                    cx.metrics.dropped("write_failed", n);
                    error!(sink = %cx.name, error = %e, "cannot write to standard output; events dropped");
                    batch.ack.settle();
                }
                Err(e) => error!(sink = %cx.name, error = %e, "console writer failed"),
            }
        }
        debug!(sink = %cx.name, "console sink stopped");
    }
}

/// A metric sample as the console prints it: `{"metric":…,"labels":{…},"timestamp_ms":…,"value":…}`
/// (a staleness marker prints as `"value":"stale"`, another NaN as `"NaN"`).
pub fn metric_json(s: &crate::metric::MetricSample) -> serde_json::Value {
    let value = if crate::metric::is_stale(s.value) {
        serde_json::json!("stale")
    } else if s.value.is_finite() {
        serde_json::json!(s.value)
    } else {
        serde_json::json!(crate::exposition::format_float(s.value))
    };
    serde_json::json!({"metric": s.name, "labels": s.labels, "timestamp_ms": s.timestamp_ms, "value": value})
}

/// Writes events as JSON lines.
pub fn write_events(out: &mut impl Write, events: &[LogEvent]) -> std::io::Result<()> {
    for e in events {
        serde_json::to_writer(&mut *out, e)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_one_json_object_per_line() {
        let opts = wire::ParseOptions::default();
        let events = vec![
            LogEvent::from_line(r#"{"level":"warn","msg":"a","n":1}"#, 5, "/x.log", "h", &opts),
            LogEvent::from_line("plain text", 6, "/x.log", "h", &opts),
        ];
        let mut out = Vec::new();
        write_events(&mut out, &events).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["message"], "a");
        assert_eq!(lines[0]["level"], "warn");
        assert_eq!(lines[1]["message"], "plain text");
    }
}

//! Self-monitoring: the aggregator stores its own `/metrics` in its own TSDB every
//! `[metrics] self_scrape_interval_secs`, as series of job `lookout` with `instance` = its
//! listen address, plus `up{job="lookout"} 1` — so the shipped self-monitoring dashboard and the
//! health and capacity rules work on a lone aggregator with no Prometheus scraping it.
//!
//! The samples take the same durable path as remote_write (`Tsdb::write`: WAL, then head).

use std::time::Duration;

use tokio::sync::watch;
use tracing::debug;

use crate::tsdb::Labels;

/// Parses Prometheus/OpenMetrics text exposition into `(labels with __name__, value)`. Lines
/// it cannot read are skipped (this reads only Lookout's own, well-formed output).
pub fn parse_exposition(text: &str) -> Vec<(Vec<(String, String)>, f64)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let name_end = line.find(['{', ' ']).unwrap_or(line.len());
        let mut labels = vec![("__name__".to_string(), line[..name_end].to_string())];
        let mut rest = &line[name_end..];
        if let Some(body) = rest.strip_prefix('{') {
            let mut chars = body.char_indices().peekable();
            let mut end = None;
            loop {
                while chars.peek().is_some_and(|(_, c)| *c == ',' || c.is_whitespace()) {
                    chars.next();
                }
                match chars.peek() {
                    Some((i, '}')) => {
                        end = Some(*i + 1);
                        break;
                    }
                    None => break,
                    _ => {}
                }
                let mut name = String::new();
                for (_, c) in chars.by_ref() {
                    if c == '=' {
                        break;
                    }
                    name.push(c);
                }
                if !matches!(chars.next(), Some((_, '"'))) {
                    break;
                }
                let mut value = String::new();
                while let Some((_, c)) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => match chars.next() {
                            Some((_, 'n')) => value.push('\n'),
                            Some((_, other)) => value.push(other),
                            None => {}
                        },
                        c => value.push(c),
                    }
                }
                labels.push((name.trim().to_string(), value));
            }
            let Some(end) = end else { continue };
            rest = &body[end..];
        }
        let Some(v) = rest.split_whitespace().next().and_then(|v| v.parse::<f64>().ok()) else { continue };
        out.push((labels, v));
    }
    out
}

/// Stores `/metrics` every `every` until `stop` turns true.
pub async fn run(state: crate::http::AppState, instance: String, every: Duration, mut stop: watch::Receiver<bool>) {
    // The first scrape waits one interval, so a backfill started with the server (the demo
    // history of `lookout up`) lands before the first sample at "now" anchors the
    // out-of-order window.
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tick.tick() => {
                let ts = time::OffsetDateTime::now_utc().unix_timestamp_nanos() as i64 / 1_000_000;
                if let Err(e) = state.metrics.tsdb.write(samples(&crate::http::metrics_text(&state), &instance, ts)).await {
                    debug!(error = %e, "self-monitoring write failed");
                }
            }
        }
    }
}

/// The series of one self-scrape at `ts` (ms): every exposed sample with `job` and `instance`
/// added, and `up`.
pub fn samples(text: &str, instance: &str, ts: i64) -> Vec<(Labels, Vec<(i64, f64)>)> {
    let target = |mut labels: Vec<(String, String)>| {
        labels.retain(|(n, _)| n != "job" && n != "instance");
        labels.push(("instance".into(), instance.to_string()));
        labels.push(("job".into(), "lookout".into()));
        Labels::new(labels)
    };
    let mut out: Vec<(Labels, Vec<(i64, f64)>)> =
        parse_exposition(text).into_iter().map(|(labels, v)| (target(labels), vec![(ts, v)])).collect();
    out.push((target(vec![("__name__".into(), "up".into())]), vec![(ts, 1.0)]));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_lines_become_labelled_samples() {
        let text = "# HELP x_total X\n# TYPE x_total counter\nx_total{protocol=\"otlp\",code=\"200\"} 12\n\
                    y_bucket{le=\"+Inf\",path=\"a \\\"b\\\" c\"} 3.5\nplain 1e3\nbroken{a=\"1\" \n";
        let got = parse_exposition(text);
        let l = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>();
        assert_eq!(
            got,
            vec![
                (l(&[("__name__", "x_total"), ("protocol", "otlp"), ("code", "200")]), 12.0),
                (l(&[("__name__", "y_bucket"), ("le", "+Inf"), ("path", "a \"b\" c")]), 3.5),
                (l(&[("__name__", "plain")]), 1000.0),
            ]
        );
    }

    #[test]
    fn a_scrape_becomes_job_lookout_series_with_up() {
        let text = "# TYPE lookout_wal_syncs counter\nlookout_wal_syncs_total 7\nlookout_storage_bytes{store=\"logs_wal\"} 1000\n# EOF\n";
        let s = samples(text, "127.0.0.1:9400", 5);
        let find = |name: &str| s.iter().find(|(l, _)| l.get("__name__") == Some(name)).cloned();
        let (l, v) = find("lookout_wal_syncs_total").unwrap();
        assert_eq!((l.get("job"), l.get("instance"), v[0]), (Some("lookout"), Some("127.0.0.1:9400"), (5, 7.0)));
        assert_eq!(find("lookout_storage_bytes").unwrap().0.get("store"), Some("logs_wal"));
        assert_eq!(find("up").unwrap().1, vec![(5, 1.0)]);
        assert_eq!(s.len(), 3);
    }
}

//! The delivery engine shared by the HTTP sinks (`lookout`, `otlp`, `prometheus_remote_write`):
//! batching by count, bytes and time, one request in flight, retries, acknowledgements.
//!
//! Log events go as OTLP/HTTP protobuf to the logs URL, metric samples as a remote_write 1.0
//! request to the metrics URL; a sink without one of the two drops that kind, counted as
//! `unsupported`. With `batch_ids` every request carries a `Lookout-Batch` id (see
//! [`super::lookout`]) and a `Lookout-Agent-Stats` header (the agent's dropped events and this
//! sink's buffer use, [`crate::telemetry::ComponentMetrics::stats_header`]); a log request then
//! holds one content stream and a replayed batch travels alone. Network errors, 401, 403
//! (credentials, not the batch, are wrong), 408, 429 and 5xx are retried with exponential backoff
//! and full jitter (honouring `Retry-After`) until they succeed or the sink is stopped; any other
//! 4xx means the
//! receiver will never accept the batch: it is dropped, counted and logged. A batch's
//! acknowledgement is settled only after its request succeeded (or was rejected for good).

use std::time::Duration;

use rand::Rng;
use tokio::time::Instant;
use tracing::{error, warn};
use wire::BatchId;
use wire::encoding::Compression;

use super::SinkContext;
use super::lookout::{BatchConfig, Sequence};
use crate::delivery::{Ack, StreamPosition};
use crate::metric::MetricSample;

/// Where and how one sink delivers.
pub(crate) struct Plan {
    /// OTLP logs URL (`…/v1/logs`), if the sink ships logs.
    pub logs_url: Option<String>,
    /// remote_write URL, if the sink ships metrics.
    pub metrics_url: Option<String>,
    /// Send `Lookout-Batch` ids.
    pub batch_ids: bool,
    /// Log body compression (remote_write is always snappy).
    pub compression: Compression,
    /// Extra request headers.
    pub headers: Vec<(String, String)>,
    /// Batching limits.
    pub batch: BatchConfig,
    /// Request timeout.
    pub request_timeout: Duration,
    /// First retry delay.
    pub backoff_initial: Duration,
    /// Longest retry delay.
    pub backoff_max: Duration,
    /// Extra trusted CAs and client certificate.
    pub tls: super::client::TlsConfig,
    /// Where the bearer token comes from, if any.
    pub auth: Option<super::client::AuthConfig>,
}

struct Pending<T> {
    items: Vec<T>,
    acks: Vec<Ack>,
    bytes: usize,
    deadline: Option<Instant>,
}

impl<T> Default for Pending<T> {
    fn default() -> Self {
        Pending { items: Vec::new(), acks: Vec::new(), bytes: 0, deadline: None }
    }
}

impl<T> Pending<T> {
    fn take(&mut self) -> (Vec<T>, Vec<Ack>) {
        self.bytes = 0;
        self.deadline = None;
        (std::mem::take(&mut self.items), std::mem::take(&mut self.acks))
    }
}

/// The log request being filled: events are encoded into the OTLP protobuf body as their batch
/// arrives (each batch appends its own `ResourceLogs` entries; a repeated field's entries simply
/// follow each other), so the sink holds bytes, not events, while a request fills up.
#[derive(Default)]
struct LogRequest {
    body: Vec<u8>,
    events: usize,
    acks: Vec<Ack>,
    deadline: Option<Instant>,
}

impl LogRequest {
    fn take(&mut self) -> (Body, Vec<Ack>) {
        self.deadline = None;
        let events = std::mem::take(&mut self.events);
        (Body::Logs(std::mem::take(&mut self.body), events), std::mem::take(&mut self.acks))
    }
}

enum Body {
    /// An encoded OTLP logs request and how many events it holds.
    Logs(Vec<u8>, usize),
    Metrics(Vec<MetricSample>),
}

impl Plan {
    /// Runs until every input has closed and the last batch is delivered.
    pub async fn run(self, mut cx: SinkContext) {
        // Certificates and token are read now, so a restart of the sink (SIGHUP) re-reads them.
        let conn = match super::client::connection(&self.tls, self.auth.as_ref()) {
            Ok(c) => c,
            Err(e) => {
                error!(sink = %cx.name, error = %e, "cannot read the sink's TLS files or token; sink not started");
                return;
            }
        };
        let mut builder = reqwest::Client::builder()
            .timeout(self.request_timeout)
            .user_agent(concat!("lookout-agent/", env!("CARGO_PKG_VERSION")))
            .tls_certs_merge(conn.roots);
        if let Some(id) = conn.identity {
            builder = builder.identity(id);
        }
        if let Some(a) = conn.authorization
            && let Ok(mut value) = reqwest::header::HeaderValue::from_str(&a)
        {
            value.set_sensitive(true);
            builder = builder.default_headers([(reqwest::header::AUTHORIZATION, value)].into_iter().collect());
        }
        let client = match builder.build() {
            Ok(c) => c,
            Err(e) => {
                error!(sink = %cx.name, error = %e, "cannot build HTTP client; sink not started");
                return;
            }
        };
        let mut seq = if self.batch_ids {
            match Sequence::open(&cx.data_dir.join("sinks").join(format!("{}.seq", cx.name))) {
                Ok(s) => Some(s),
                Err(e) => {
                    error!(sink = %cx.name, error = %e, "cannot open the sequence file; sink not started");
                    return;
                }
            }
        } else {
            None
        };
        let mut logs = LogRequest::default();
        let mut metrics: Pending<MetricSample> = Pending::default();
        // The content stream of the log request being filled.
        let mut position: Option<StreamPosition> = None;
        let timeout = Duration::from_secs_f64(self.batch.timeout_secs);
        loop {
            let deadline = match (logs.deadline, metrics.deadline) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            tokio::select! {
                b = cx.input.recv() => match b {
                    Some(mut b) => {
                        cx.metrics.events_in.inc_by(b.len() as u64);
                        if b.is_empty() {
                            b.ack.settle();
                            continue;
                        }
                        // A batch with both kinds: each part holds its own claim on the ack.
                        let samples = std::mem::take(&mut b.metrics);
                        let metric_ack = (!samples.is_empty()).then(|| b.ack.clone());
                        if let Some(ack) = metric_ack {
                            if self.metrics_url.is_none() {
                                cx.metrics.dropped("unsupported", samples.len() as u64);
                                ack.settle();
                            } else {
                                metrics.bytes += samples.iter().map(MetricSample::size_hint).sum::<usize>();
                                metrics.items.extend(samples);
                                metrics.acks.push(ack);
                                metrics.deadline.get_or_insert_with(|| Instant::now() + timeout);
                                if metrics.items.len() >= self.batch.max_events || metrics.bytes >= self.batch.max_bytes {
                                    let (items, acks) = metrics.take();
                                    self.send(&client, &mut seq, &cx, None, Body::Metrics(items), acks).await;
                                }
                            }
                        }
                        if b.log_count() == 0 {
                            b.ack.settle();
                            continue;
                        }
                        if self.logs_url.is_none() {
                            cx.metrics.dropped("unsupported", b.log_count() as u64);
                            b.ack.settle();
                            continue;
                        }
                        // A request holds one content stream; a replayed batch travels alone.
                        let joins = !self.batch_ids || match (&position, &b.position) {
                            (None, None) => true,
                            (Some(p), Some(q)) => p.stream == q.stream && !p.replay && !q.replay,
                            _ => false,
                        };
                        if !joins && logs.events > 0 {
                            let (body, acks) = logs.take();
                            self.send(&client, &mut seq, &cx, position.as_ref(), body, acks).await;
                        }
                        position = b.position.take();
                        b.encode_logs_into(&mut logs.body);
                        logs.events += b.log_count();
                        b.clear_logs();
                        logs.acks.push(b.ack);
                        logs.deadline.get_or_insert_with(|| Instant::now() + timeout);
                        if logs.events >= self.batch.max_events
                            || logs.body.len() >= self.batch.max_bytes
                            || (self.batch_ids && position.as_ref().is_some_and(|p| p.replay))
                        {
                            let (body, acks) = logs.take();
                            self.send(&client, &mut seq, &cx, position.as_ref(), body, acks).await;
                        }
                    }
                    None => {
                        if logs.events > 0 {
                            let (body, acks) = logs.take();
                            self.send(&client, &mut seq, &cx, position.as_ref(), body, acks).await;
                        }
                        if !metrics.items.is_empty() {
                            let (items, acks) = metrics.take();
                            self.send(&client, &mut seq, &cx, None, Body::Metrics(items), acks).await;
                        }
                        break;
                    }
                },
                _ = sleep_until_opt(deadline) => {
                    let now = Instant::now();
                    if logs.deadline.is_some_and(|d| d <= now) && logs.events > 0 {
                        let (body, acks) = logs.take();
                        self.send(&client, &mut seq, &cx, position.as_ref(), body, acks).await;
                    }
                    if metrics.deadline.is_some_and(|d| d <= now) && !metrics.items.is_empty() {
                        let (items, acks) = metrics.take();
                        self.send(&client, &mut seq, &cx, None, Body::Metrics(items), acks).await;
                    }
                }
            }
        }
        tracing::debug!(sink = %cx.name, "sink stopped");
    }

    /// The id of the next request: a log request of a content stream is named after it, any
    /// other after the sink's own durable sequence (`None`: it cannot be persisted).
    fn batch_id(seq: &mut Sequence, cx: &SinkContext, position: Option<&StreamPosition>, metrics: bool) -> Option<BatchId> {
        let mut stream: String = cx
            .name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-') { c } else { '_' })
            .take(100)
            .collect();
        if let Some(p) = position {
            return Some(BatchId { agent: cx.agent_id.clone(), stream: format!("{stream}.{}", p.stream), sequence: p.end });
        }
        if metrics {
            stream.push_str(".metrics");
        }
        match seq.next() {
            Ok(n) => Some(BatchId { agent: cx.agent_id.clone(), stream, sequence: n }),
            Err(e) => {
                error!(sink = %cx.name, error = %e, "cannot persist the batch sequence; batch not sent");
                None
            }
        }
    }

    async fn send(
        &self,
        client: &reqwest::Client,
        seq: &mut Option<Sequence>,
        cx: &SinkContext,
        position: Option<&StreamPosition>,
        body: Body,
        acks: Vec<Ack>,
    ) {
        let is_metrics = matches!(body, Body::Metrics(_));
        let id = match seq {
            Some(seq) => match Self::batch_id(seq, cx, position, is_metrics) {
                Some(id) => Some(id),
                // Without a durable sequence exactly-once cannot be promised; keep the batch
                // unacknowledged so its lines are read again after a restart.
                None => return,
            },
            None => None,
        };
        let (url, n, payload, content_encoding) = match &body {
            Body::Logs(body, n) => (self.logs_url.as_deref(), *n, self.compression.encode(body), self.compression.header()),
            Body::Metrics(samples) => (self.metrics_url.as_deref(), samples.len(), crate::remote_write::encode(samples), Some("snappy")),
        };
        let Some(url) = url else { return };
        let payload = bytes::Bytes::from(payload);
        let mut attempt: u32 = 0;
        loop {
            let mut req = client.post(url).header(reqwest::header::CONTENT_TYPE, "application/x-protobuf").body(payload.clone());
            if let Some(enc) = content_encoding {
                req = req.header(reqwest::header::CONTENT_ENCODING, enc);
            }
            if is_metrics {
                req = req.header("X-Prometheus-Remote-Write-Version", "0.1.0");
            }
            if let Some(id) = &id {
                req = req.header(wire::batch::HEADER, id.to_string());
                // Read at each attempt, so a retry after an outage reports the drops it caused.
                req = req.header(crate::telemetry::STATS_HEADER, cx.metrics.stats_header());
            }
            for (k, v) in &self.headers {
                req = req.header(k.as_str(), v.as_str());
            }
            let outcome = match req.send().await {
                Ok(resp) if resp.status().is_success() => Ok(()),
                Ok(resp) => {
                    let status = resp.status();
                    let retry_after = resp
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<f64>().ok())
                        .filter(|s| s.is_finite() && *s >= 0.0)
                        .map(|s| Duration::from_secs_f64(s.min(300.0)));
                    let text = resp.text().await.unwrap_or_default();
                    // 401/403 mean our credentials are wrong (a missing, revoked or expired token):
                    // the batch is fine, so it waits, with backpressure, until an operator fixes
                    // the token (SIGHUP re-reads it) instead of being dropped.
                    let code = status.as_u16();
                    let retryable = status.is_server_error() || matches!(code, 401 | 403 | 408 | 429);
                    let hint = if matches!(code, 401 | 403) { " (check the sink's auth.token_file / auth.token_env)" } else { "" };
                    Err((retryable, format!("HTTP {status}{hint}: {}", text.chars().take(300).collect::<String>()), retry_after))
                }
                Err(e) => Err((true, format!("request failed: {e}"), None)),
            };
            let batch = id.as_ref().map(ToString::to_string).unwrap_or_default();
            match outcome {
                Ok(()) => {
                    cx.metrics.request("ok");
                    cx.metrics.sent_bytes(payload.len() as u64);
                    cx.metrics.events_out.inc_by(n as u64);
                    acks.into_iter().for_each(Ack::settle);
                    return;
                }
                Err((false, reason, _)) => {
                    cx.metrics.request("rejected");
                    cx.metrics.dropped("rejected", n as u64);
                    error!(sink = %cx.name, url, batch, events = n, reason = %reason, "the receiver rejected the batch; dropped");
                    acks.into_iter().for_each(Ack::settle);
                    return;
                }
                Err((true, reason, retry_after)) => {
                    cx.metrics.request("retry");
                    attempt = attempt.saturating_add(1);
                    let delay = retry_after.unwrap_or_else(|| self.backoff(attempt));
                    warn!(sink = %cx.name, url, batch, attempt, delay_ms = delay.as_millis() as u64, reason = %reason, "delivery failed; retrying");
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    pub(crate) fn backoff(&self, attempt: u32) -> Duration {
        let cap = self.backoff_max.as_secs_f64();
        let base = self.backoff_initial.as_secs_f64() * 2f64.powi(attempt.min(30) as i32 - 1);
        let ceiling = base.min(cap);
        // Full jitter, with a floor so a storm of retries never spins.
        Duration::from_secs_f64(rand::rng().random_range(ceiling / 2.0..=ceiling))
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Checks shared by the HTTP sinks' configs.
pub(crate) fn validate_common(
    endpoint: &str,
    inputs: &[String],
    batch: &BatchConfig,
    request_timeout_secs: f64,
    retry_max_backoff_secs: f64,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    match reqwest::Url::parse(endpoint) {
        Ok(u) if u.scheme() == "http" || u.scheme() == "https" => {}
        Ok(u) => out.push(("endpoint".into(), format!("scheme {:?} is not http or https", u.scheme()))),
        Err(e) => out.push(("endpoint".into(), format!("{endpoint:?} is not a URL: {e}"))),
    }
    if inputs.is_empty() {
        out.push(("inputs".into(), "at least one input is required".into()));
    }
    if batch.max_events == 0 || batch.max_bytes == 0 {
        out.push(("batch".into(), "max_events and max_bytes must be positive".into()));
    }
    if !(batch.timeout_secs > 0.0 && batch.timeout_secs.is_finite()) {
        out.push(("batch.timeout_secs".into(), "must be a positive number".into()));
    }
    if !(request_timeout_secs > 0.0 && request_timeout_secs.is_finite()) {
        out.push(("request_timeout_secs".into(), "must be a positive number".into()));
    }
    if !(retry_max_backoff_secs > 0.0 && retry_max_backoff_secs.is_finite()) {
        out.push(("retry_max_backoff_secs".into(), "must be a positive number".into()));
    }
    out
}

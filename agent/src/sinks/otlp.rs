//! The `otlp` sink: log events as OTLP/HTTP protobuf (`POST <endpoint>/v1/logs`) to any
//! OpenTelemetry collector or backend.
//!
//! ```toml
//! [sinks.collector]
//! type = "otlp"
//! inputs = ["app"]
//! endpoint = "http://otel-collector:4318"   # /v1/logs is appended
//! compression = "gzip"
//! headers = { "X-Scope-OrgID" = "team-a" }
//! ```
//!
//! Metric samples are not sent (counted as dropped with reason `unsupported`); ship them with
//! `prometheus_remote_write` or `lookout`. Delivery (batching, retries, acknowledgement) is
//! that of [`super::http`], without `Lookout-Batch` ids: a request retried after a timeout may
//! be stored twice by a receiver that does not deduplicate.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use wire::encoding::Compression;

use super::SinkContext;
use super::lookout::BatchConfig;

/// `type = "otlp"`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Components feeding this sink (log events).
    pub inputs: Vec<String>,
    /// Base URL of the OTLP/HTTP receiver; `/v1/logs` is appended unless the URL already ends
    /// with it.
    pub endpoint: String,
    /// Body compression: `gzip` (default), `zstd` or `none`.
    #[serde(default)]
    pub compression: Compression,
    /// Extra HTTP headers on every request (tenant ids, authorization).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Batching limits.
    #[serde(default)]
    pub batch: BatchConfig,
    /// Request timeout in seconds.
    #[serde(default = "default_request_timeout")]
    pub request_timeout_secs: f64,
    /// First retry delay in milliseconds; doubles per attempt.
    #[serde(default = "default_backoff_initial")]
    pub retry_initial_backoff_ms: u64,
    /// Longest retry delay in seconds.
    #[serde(default = "default_backoff_max")]
    pub retry_max_backoff_secs: f64,
    /// Memory (default) or disk buffer; see [`crate::buffer`].
    #[serde(default)]
    pub buffer: crate::buffer::BufferConfig,
    /// TLS: extra trusted CAs (`ca_file`) and a client certificate (`cert_file`, `key_file`);
    /// see [`super::client`].
    #[serde(default)]
    pub tls: super::client::TlsConfig,
    /// Bearer token from `token_file` or `token_env`; see [`super::client`].
    #[serde(default)]
    pub auth: Option<super::client::AuthConfig>,
}

fn default_request_timeout() -> f64 {
    30.0
}
fn default_backoff_initial() -> u64 {
    200
}
fn default_backoff_max() -> f64 {
    30.0
}

impl Config {
    /// Semantic checks.
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut out =
            super::http::validate_common(&self.endpoint, &self.inputs, &self.batch, self.request_timeout_secs, self.retry_max_backoff_secs);
        out.extend(super::validate_headers(&self.headers));
        out.extend(self.buffer.validate().into_iter().map(|(k, m)| (format!("buffer.{k}"), m)));
        out.extend(super::client::validate(&self.endpoint, &self.tls, self.auth.as_ref(), Some(&self.headers)));
        out
    }

    /// Runs until every input has closed and the last batch is delivered.
    pub async fn run(self, cx: SinkContext) {
        let base = self.endpoint.trim_end_matches('/');
        let url = if base.ends_with("/v1/logs") { base.to_string() } else { format!("{base}/v1/logs") };
        let plan = super::http::Plan {
            logs_url: Some(url),
            metrics_url: None,
            batch_ids: false,
            compression: self.compression,
            headers: self.headers.clone().into_iter().collect(),
            batch: self.batch.clone(),
            request_timeout: Duration::from_secs_f64(self.request_timeout_secs),
            backoff_initial: Duration::from_millis(self.retry_initial_backoff_ms),
            backoff_max: Duration::from_secs_f64(self.retry_max_backoff_secs),
            tls: self.tls.clone(),
            auth: self.auth.clone(),
        };
        plan.run(cx).await
    }
}

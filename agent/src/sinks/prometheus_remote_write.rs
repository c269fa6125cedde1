//! The `prometheus_remote_write` sink: metric samples as Prometheus remote_write 1.0 (snappy
//! protobuf) to Prometheus (`--web.enable-remote-write-receiver`), Mimir, Thanos, VictoriaMetrics
//! or anything else that speaks it.
//!
//! ```toml
//! [sinks.prom]
//! type = "prometheus_remote_write"
//! inputs = ["node", "apps"]
//! endpoint = "http://127.0.0.1:9090/api/v1/write"   # the full URL
//! headers = { "X-Scope-OrgID" = "team-a" }
//! ```
//!
//! Samples of one series are sent oldest first, one request in flight, so a receiver that
//! rejects out-of-order samples (Prometheus) accepts them. Log events are not sent (counted as
//! dropped with reason `unsupported`). Retries and rejections: see [`super::http`]; a 400 from
//! Prometheus (out-of-order or duplicate samples) is dropped and counted, as Prometheus's own
//! remote_write client does.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use wire::encoding::Compression;

use super::SinkContext;
use super::lookout::BatchConfig;

/// `type = "prometheus_remote_write"`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Components feeding this sink (metric samples).
    pub inputs: Vec<String>,
    /// The receiver's full URL, e.g. `http://127.0.0.1:9090/api/v1/write`.
    pub endpoint: String,
    /// Extra HTTP headers on every request (tenant ids, authorization).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Batching limits (`max_events` counts samples).
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
        let plan = super::http::Plan {
            logs_url: None,
            metrics_url: Some(self.endpoint.clone()),
            batch_ids: false,
            compression: Compression::None,
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

//! `lookout.toml`, the aggregator's configuration.
//!
//! The four keys of DESIGN.md (`listen`, `data_dir`, `rule_files`, `alerting_config`,
//! `dashboards_dir`) are fixed; the rest is grouped by subsystem (`[ingest]`, `[logs]`).
//! Unknown keys are errors naming the key path and line.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

use agent::config::{ConfigError, ConfigErrors, load_toml, locate_key};

/// `lookout.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address of the UI, APIs and ingest.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Where the WAL and indexes live.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// Prometheus-format rule files (globs; relative ones are relative to this file's directory).
    #[serde(default)]
    pub rule_files: Vec<String>,
    /// Alertmanager-format alerting config.
    #[serde(default)]
    pub alerting_config: Option<PathBuf>,
    /// Dashboard JSON files.
    #[serde(default)]
    pub dashboards_dir: Option<PathBuf>,
    /// Ingest limits.
    #[serde(default)]
    pub ingest: IngestConfig,
    /// Log store settings.
    #[serde(default)]
    pub logs: LogsConfig,
    /// Metrics store and PromQL settings.
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// Rule evaluation settings.
    #[serde(default)]
    pub rules: RulesConfig,
    /// Sign-in, roles, rate limits.
    #[serde(default)]
    pub auth: AuthConfig,
    /// TLS on the listener (see [`crate::tls`]); unset, `serve` speaks plain HTTP.
    #[serde(default)]
    pub tls: Option<crate::tls::TlsConfig>,
    /// Security switches.
    #[serde(default)]
    pub security: SecurityConfig,
}

/// `[security]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityConfig {
    /// Accept secrets written inline in `alerting_config` (Slack URLs, SMTP passwords, SMS
    /// tokens). Off by default: secrets come from `*_file` keys or `${ENV}` references; turn it
    /// on only for development.
    #[serde(default)]
    pub allow_inline_secrets: bool,
}

/// `[auth]`: who may call what (see `aggregator/src/auth`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// Require a token or a signed-in user on every route except `/health/*` (default true;
    /// `lookout up` and `serve --no-auth` turn it off).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Let anyone scrape `/metrics` (otherwise it needs a viewer).
    #[serde(default)]
    pub metrics_public: bool,
    /// Requests per minute per user and per viewer/editor/admin token (0: unlimited).
    #[serde(default = "default_rate_limit")]
    pub rate_limit_per_minute: u32,
    /// Requests per minute per ingest token (0: unlimited). Higher than the default for people:
    /// an agent sends a batch per sink per flush, and ingest has its own backpressure (429).
    #[serde(default = "default_ingest_rate_limit")]
    pub ingest_rate_limit_per_minute: u32,
    /// Failed sign-ins per account within `login_window_secs` before it is locked for the rest
    /// of the window.
    #[serde(default = "default_login_account")]
    pub login_failures_per_account: u32,
    /// Failed sign-ins per client address within the window.
    #[serde(default = "default_login_address")]
    pub login_failures_per_address: u32,
    /// The sign-in throttle's window, seconds.
    #[serde(default = "default_login_window")]
    pub login_window_secs: u64,
    /// How long a UI session lasts, seconds.
    #[serde(default = "default_session_ttl")]
    pub session_ttl_secs: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        toml::from_str("").expect("defaults deserialize")
    }
}

fn yes() -> bool {
    true
}
fn default_rate_limit() -> u32 {
    1000
}
fn default_ingest_rate_limit() -> u32 {
    60_000
}
fn default_login_account() -> u32 {
    5
}
fn default_login_address() -> u32 {
    20
}
fn default_login_window() -> u64 {
    900
}
fn default_session_ttl() -> u64 {
    12 * 3600
}

/// `[rules]`: how the rules of `rule_files` are evaluated and where their alerts go.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesConfig {
    /// Interval of rule groups that set none, seconds (Prometheus's `evaluation_interval`).
    #[serde(default = "default_evaluation_interval")]
    pub evaluation_interval_secs: u64,
    /// External Alertmanagers (base URLs like `http://alertmanager:9093`) that receive every
    /// firing and resolved alert as `POST /api/v2/alerts`.
    #[serde(default)]
    pub alertmanager_urls: Vec<String>,
    /// Labels added to every alert sent (`$externalLabels` in templates).
    #[serde(default)]
    pub external_labels: std::collections::BTreeMap<String, String>,
    /// Base URL of alerts' `generatorURL` (default `http://<listen>`).
    #[serde(default)]
    pub external_url: Option<String>,
    /// After a restart, pending alerts resume their `for` timers from the `ALERTS_FOR_STATE`
    /// written at most this long before (Prometheus's `--rules.alert.for-outage-tolerance`),
    /// seconds.
    #[serde(default = "default_for_outage_tolerance")]
    pub for_outage_tolerance_secs: u64,
    /// A restored alert that was still pending fires no sooner than `min(this, for)` after the
    /// restart (Prometheus's `--rules.alert.for-grace-period`), seconds.
    #[serde(default = "default_for_grace_period")]
    pub for_grace_period_secs: u64,
}

impl Default for RulesConfig {
    fn default() -> Self {
        Self {
            evaluation_interval_secs: default_evaluation_interval(),
            alertmanager_urls: Vec::new(),
            external_labels: Default::default(),
            external_url: None,
            for_outage_tolerance_secs: default_for_outage_tolerance(),
            for_grace_period_secs: default_for_grace_period(),
        }
    }
}

fn default_evaluation_interval() -> u64 {
    60
}

fn default_for_outage_tolerance() -> u64 {
    3600
}

fn default_for_grace_period() -> u64 {
    600
}

/// `[metrics]`: the metrics store and PromQL.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Samples up to this many seconds older than the newest stored sample are accepted; older
    /// ones are rejected and counted in `lookout_tsdb_rejected_samples_total{reason="too_old"}`.
    #[serde(default = "default_ooo_window")]
    pub out_of_order_window_secs: u64,
    /// How far back an instant selector looks for a sample (PromQL lookback delta), seconds.
    #[serde(default = "default_lookback")]
    pub lookback_delta_secs: u64,
    /// Time range of an on-disk block cut from the head, seconds (Prometheus: 2h).
    #[serde(default = "default_block_range")]
    pub block_range_secs: u64,
    /// Blocks whose data ends longer than this before the newest sample are deleted, seconds
    /// (0 keeps everything).
    #[serde(default = "default_retention")]
    pub retention_secs: u64,
    /// Oldest blocks are deleted while blocks and WAL together exceed this many bytes (0: no limit).
    #[serde(default)]
    pub retention_bytes: u64,
    /// Largest number of samples a query may load (`execution` error, 422, beyond).
    #[serde(default = "default_max_samples")]
    pub max_samples_per_query: u64,
    /// Longest a query may run before it is abandoned (`timeout` error, 503), seconds.
    #[serde(default = "default_query_timeout")]
    pub query_timeout_secs: u64,
    /// Largest number of series `/api/v1/series` returns (`execution` error, 422, beyond).
    #[serde(default = "default_max_series")]
    pub max_series: u64,
    /// How often the aggregator stores its own `/metrics` in its TSDB (job `lookout`, plus
    /// `up`), so the self-monitoring dashboard and the rules in `rules/lookout.yml` and
    /// `rules/capacity.yml` work without an external Prometheus; seconds, 0 (the default) turns
    /// it off. `lookout up` and the shipped deploy configs set 15. Like a Prometheus that
    /// scrapes, a store receiving current samples refuses remote_write samples older than the
    /// out-of-order window, so leave it off on a store used to backfill history.
    #[serde(default = "default_self_scrape")]
    pub self_scrape_interval_secs: u64,
}

fn default_self_scrape() -> u64 {
    0
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            out_of_order_window_secs: default_ooo_window(),
            lookback_delta_secs: default_lookback(),
            block_range_secs: default_block_range(),
            retention_secs: default_retention(),
            retention_bytes: 0,
            max_samples_per_query: default_max_samples(),
            query_timeout_secs: default_query_timeout(),
            max_series: default_max_series(),
            self_scrape_interval_secs: default_self_scrape(),
        }
    }
}

fn default_block_range() -> u64 {
    7200
}
fn default_retention() -> u64 {
    15 * 24 * 3600
}
fn default_max_samples() -> u64 {
    50_000_000
}
fn default_query_timeout() -> u64 {
    120
}
fn default_max_series() -> u64 {
    100_000
}

fn default_ooo_window() -> u64 {
    600
}
fn default_lookback() -> u64 {
    300
}

/// `[ingest]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestConfig {
    /// Largest accepted request body, compressed or not, and largest decoded body (bytes). Larger gets 413.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// Events written to the WAL but not yet searchable above which ingest answers 429.
    #[serde(default = "default_max_pending")]
    pub max_pending_events: u64,
    /// Searchable log events per second this node was measured to sustain (BENCHMARKS.md, on the
    /// hardware it runs on). Exported as `lookout_ingest_capacity_events_per_second` so the
    /// shipped capacity rules can warn before the predicted ingest rate passes it.
    #[serde(default = "default_capacity")]
    pub capacity_events_per_second: u64,
}

fn default_capacity() -> u64 {
    10_000
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: default_max_body(),
            max_pending_events: default_max_pending(),
            capacity_events_per_second: default_capacity(),
        }
    }
}

/// `[logs]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogsConfig {
    /// How often new lines are made searchable (index commit), in milliseconds.
    #[serde(default = "default_commit_interval")]
    pub commit_interval_ms: u64,
    /// While indexing is behind ingest, commits may be spaced up to this far apart (bigger
    /// segments, fewer merges, more lines per second); without a backlog `commit_interval_ms` holds.
    /// A value below `commit_interval_ms` means no stretching.
    #[serde(default = "default_commit_interval_max")]
    pub commit_interval_max_ms: u64,
    /// Indexing memory budget in MiB.
    #[serde(default = "default_index_memory")]
    pub index_memory_mib: usize,
    /// tantivy indexing threads per partition writer (1 to 8).
    #[serde(default = "default_index_threads")]
    pub index_threads: usize,
    /// Drop a day partition once the whole day is older than this many days (unset: keep).
    #[serde(default)]
    pub retention_days: Option<u64>,
    /// Drop the oldest day partitions while all together take more bytes than this (unset: no limit).
    #[serde(default)]
    pub retention_bytes: Option<u64>,
}

impl LogsConfig {
    /// The retention policy these keys describe.
    pub fn retention(&self) -> crate::logs::Retention {
        crate::logs::Retention {
            max_age: self.retention_days.map(|d| std::time::Duration::from_secs(d.saturating_mul(86_400))),
            max_bytes: self.retention_bytes,
        }
    }
}

impl Default for LogsConfig {
    fn default() -> Self {
        Self {
            commit_interval_ms: default_commit_interval(),
            commit_interval_max_ms: default_commit_interval_max(),
            index_memory_mib: default_index_memory(),
            index_threads: default_index_threads(),
            retention_days: None,
            retention_bytes: None,
        }
    }
}

fn default_listen() -> String {
    "127.0.0.1:9400".into()
}
fn default_data_dir() -> PathBuf {
    PathBuf::from("/var/lib/lookout")
}
fn default_max_body() -> usize {
    64 << 20
}
fn default_max_pending() -> u64 {
    2_000_000
}
fn default_commit_interval() -> u64 {
    1000
}
fn default_commit_interval_max() -> u64 {
    5000
}
fn default_index_memory() -> usize {
    512
}
fn default_index_threads() -> usize {
    2
}

impl Default for Config {
    fn default() -> Self {
        toml::from_str("").expect("defaults deserialize")
    }
}

impl Config {
    /// Loads and validates a file, reporting every error at once.
    pub fn load(file: &Path) -> Result<Config, ConfigErrors> {
        let (cfg, text): (Config, String) = load_toml(file).map_err(|e| ConfigErrors(vec![e]))?;
        let base = file.parent().unwrap_or(Path::new("."));
        let problems = cfg.validate(base);
        if problems.is_empty() {
            let mut cfg = cfg;
            // Rule file globs are relative to the config file, as in Prometheus.
            for g in &mut cfg.rule_files {
                if Path::new(g.as_str()).is_relative() {
                    *g = base.join(g.as_str()).display().to_string();
                }
            }
            if let Some(t) = &mut cfg.tls {
                t.resolve(base);
            }
            return Ok(cfg);
        }
        Err(ConfigErrors(
            problems
                .into_iter()
                .map(|(key, message)| ConfigError {
                    file: file.to_path_buf(),
                    line: locate_key(&text, &key),
                    column: None,
                    key: Some(key),
                    message,
                })
                .collect(),
        ))
    }

    /// How `alerting_config` is loaded.
    pub fn alerting_load_options(&self) -> alerting::config::LoadOptions {
        alerting::config::LoadOptions { allow_inline_secrets: self.security.allow_inline_secrets }
    }

    /// Semantic checks: `(key, problem)`. Relative paths are resolved against `base`.
    pub fn validate(&self, base: &Path) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if self.listen.parse::<std::net::SocketAddr>().is_err() {
            out.push(("listen".into(), format!("{:?} is not an address like 127.0.0.1:9400", self.listen)));
        }
        for g in &self.rule_files {
            if let Err(e) = glob::Pattern::new(g) {
                out.push(("rule_files".into(), format!("invalid glob {g:?}: {e}")));
            }
        }
        if self.rules.evaluation_interval_secs == 0 {
            out.push(("rules.evaluation_interval_secs".into(), "must be positive".into()));
        }
        for u in &self.rules.alertmanager_urls {
            if !(u.starts_with("http://") || u.starts_with("https://")) {
                out.push(("rules.alertmanager_urls".into(), format!("{u:?} is not an http:// or https:// URL")));
            }
        }
        for k in self.rules.external_labels.keys() {
            if !alerting::rules::file::valid_label_name(k) {
                out.push(("rules.external_labels".into(), format!("invalid label name {k:?}")));
            }
        }
        if let Some(p) = &self.alerting_config
            && !base.join(p).is_file()
        {
            out.push(("alerting_config".into(), format!("{} does not exist", p.display())));
        }
        if let Some(p) = &self.dashboards_dir
            && !base.join(p).is_dir()
        {
            out.push(("dashboards_dir".into(), format!("{} is not a directory", p.display())));
        }
        if self.auth.session_ttl_secs == 0 {
            out.push(("auth.session_ttl_secs".into(), "must be positive".into()));
        }
        if self.auth.login_window_secs == 0 {
            out.push(("auth.login_window_secs".into(), "must be positive".into()));
        }
        if self.ingest.max_body_bytes < 1024 {
            out.push(("ingest.max_body_bytes".into(), "must be at least 1024".into()));
        }
        if self.logs.commit_interval_ms == 0 {
            out.push(("logs.commit_interval_ms".into(), "must be positive".into()));
        }
        if self.metrics.block_range_secs == 0 {
            out.push(("metrics.block_range_secs".into(), "must be positive".into()));
        }
        if self.metrics.out_of_order_window_secs > self.metrics.block_range_secs / 2 {
            out.push(("metrics.out_of_order_window_secs".into(), "must be at most half of metrics.block_range_secs".into()));
        }
        if self.metrics.query_timeout_secs == 0 {
            out.push(("metrics.query_timeout_secs".into(), "must be positive".into()));
        }
        if self.metrics.lookback_delta_secs == 0 {
            out.push(("metrics.lookback_delta_secs".into(), "must be positive".into()));
        }
        if !(1..=8).contains(&self.logs.index_threads) {
            out.push(("logs.index_threads".into(), "must be between 1 and 8".into()));
        }
        if self.logs.index_memory_mib < 16 {
            out.push(("logs.index_memory_mib".into(), "must be at least 16".into()));
        }
        if let Some(t) = &self.tls {
            out.extend(t.validate(base));
        }
        if self.logs.retention_days == Some(0) {
            out.push(("logs.retention_days".into(), "must be at least 1 (leave it out to keep everything)".into()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn design_example_is_accepted_apart_from_missing_files() {
        let text = "listen = \"127.0.0.1:9400\"\ndata_dir = \"/var/lib/lookout\"\nrule_files = [\"/etc/lookout/rules/*.yml\"]\n";
        let cfg: Config = agent::config::parse_toml(Path::new("lookout.toml"), text).unwrap();
        assert!(cfg.validate(Path::new("/")).is_empty());
    }

    #[test]
    fn unknown_nested_key_names_path_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lookout.toml");
        std::fs::write(&path, "listen = \"127.0.0.1:9400\"\n[logs]\ncommit_interval_ms = 500\ncommit_intervall = 3\n").unwrap();
        let msg = Config::load(&path).unwrap_err().to_string();
        assert!(msg.contains("lookout.toml:4") && msg.contains("commit_intervall") && msg.contains("logs"), "{msg}");
    }

    #[test]
    fn semantic_errors_are_all_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lookout.toml");
        std::fs::write(&path, "listen = \"nowhere\"\nalerting_config = \"missing.yml\"\n").unwrap();
        let errs = Config::load(&path).unwrap_err();
        assert_eq!(errs.0.len(), 2, "{errs}");
        assert_eq!(errs.0[0].line, Some(1));
        assert_eq!(errs.0[1].line, Some(2));
    }
}

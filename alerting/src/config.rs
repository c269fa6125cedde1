//! The alerting configuration: Alertmanager's `alertmanager.yml`, loaded unchanged, plus
//! Lookout's extensions in the same file (`sms_configs` in receivers, `escalation_policies` at
//! the top level and `escalation_policy` on routes, `tls_mode` in `email_configs`,
//! `global.external_url`).
//!
//! The file is read into raw serde structs, then checked once into [`Config`]: routes get their
//! inherited receiver, `group_by` and timers, matchers are compiled, secrets are read from
//! `*_file` fields or `${ENV}` references, and every problem is reported at once with file, line
//! and key. Alertmanager keys Lookout does not implement (other receiver kinds, time intervals,
//! templates, `http_config`) are accepted with a warning so an existing file still loads; keys
//! Alertmanager itself does not know are errors.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::matcher::{MatchType, Matcher, valid_label_name};

/// One problem in the file.
#[derive(Debug, Clone)]
pub struct ConfigError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<u64>,
    /// Key path, e.g. `receivers[1].slack_configs[0].api_url`.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{}: {}: {}", self.file.display(), l, self.key, self.message),
            None => write!(f, "{}: {}: {}", self.file.display(), self.key, self.message),
        }
    }
}

/// Every problem found in one file.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Raw file shape.

type Extra = BTreeMap<String, Value>;

#[derive(Debug, Default, Deserialize)]
struct RawFile {
    #[serde(default)]
    global: RawGlobal,
    route: Option<RawRoute>,
    #[serde(default)]
    receivers: Vec<RawReceiver>,
    #[serde(default)]
    inhibit_rules: Vec<RawInhibit>,
    #[serde(default)]
    escalation_policies: Vec<RawPolicy>,
    #[serde(flatten)]
    extra: Extra,
}
const FILE_IGNORED: &[&str] = &["templates", "time_intervals", "mute_time_intervals", "tracing"];

#[derive(Debug, Default, Deserialize)]
struct RawGlobal {
    resolve_timeout: Option<String>,
    smtp_from: Option<String>,
    smtp_smarthost: Option<String>,
    smtp_hello: Option<String>,
    smtp_auth_username: Option<String>,
    smtp_auth_password: Option<String>,
    smtp_auth_password_file: Option<String>,
    smtp_auth_identity: Option<String>,
    smtp_require_tls: Option<bool>,
    slack_api_url: Option<String>,
    slack_api_url_file: Option<String>,
    /// Lookout extension: base URL of the UI, used in links (`<external_url>/alerts/<fp>`).
    external_url: Option<String>,
    #[serde(flatten)]
    extra: Extra,
}
const GLOBAL_IGNORED: &[&str] = &[
    "smtp_auth_secret",
    "smtp_auth_secret_file",
    "smtp_tls_config",
    "http_config",
    "opsgenie_api_key",
    "opsgenie_api_key_file",
    "opsgenie_api_url",
    "pagerduty_url",
    "victorops_api_key",
    "victorops_api_key_file",
    "victorops_api_url",
    "wechat_api_url",
    "wechat_api_secret",
    "wechat_api_corp_id",
    "telegram_api_url",
    "webex_api_url",
    "pushover_api_url",
    "jira_api_url",
    "rocketchat_api_url",
    "rocketchat_token",
    "rocketchat_token_file",
    "rocketchat_token_id",
    "rocketchat_token_id_file",
];

#[derive(Debug, Default, Deserialize)]
struct RawRoute {
    receiver: Option<String>,
    group_by: Option<Vec<String>>,
    #[serde(rename = "continue", default)]
    continue_: bool,
    #[serde(rename = "match", default)]
    match_: BTreeMap<String, String>,
    #[serde(default)]
    match_re: BTreeMap<String, String>,
    #[serde(default)]
    matchers: Vec<String>,
    group_wait: Option<String>,
    group_interval: Option<String>,
    repeat_interval: Option<String>,
    #[serde(default)]
    routes: Vec<RawRoute>,
    escalation_policy: Option<String>,
    #[serde(flatten)]
    extra: Extra,
}
const ROUTE_IGNORED: &[&str] = &["mute_time_intervals", "active_time_intervals"];

#[derive(Debug, Default, Deserialize)]
struct RawReceiver {
    name: Option<String>,
    #[serde(default)]
    slack_configs: Vec<RawSlack>,
    #[serde(default)]
    email_configs: Vec<RawEmail>,
    #[serde(default)]
    webhook_configs: Vec<RawWebhook>,
    #[serde(default)]
    sms_configs: Vec<RawSms>,
    #[serde(flatten)]
    extra: Extra,
}
const RECEIVER_IGNORED: &[&str] = &[
    "pagerduty_configs",
    "opsgenie_configs",
    "victorops_configs",
    "pushover_configs",
    "wechat_configs",
    "sns_configs",
    "telegram_configs",
    "webex_configs",
    "discord_configs",
    "msteams_configs",
    "msteamsv2_configs",
    "jira_configs",
    "rocketchat_configs",
];

#[derive(Debug, Default, Deserialize)]
struct RawSlack {
    send_resolved: Option<bool>,
    api_url: Option<String>,
    api_url_file: Option<String>,
    channel: Option<String>,
    username: Option<String>,
    #[serde(flatten)]
    extra: Extra,
}
const SLACK_IGNORED: &[&str] = &[
    "http_config",
    "color",
    "title",
    "title_link",
    "pretext",
    "text",
    "fields",
    "short_fields",
    "footer",
    "fallback",
    "callback_id",
    "icon_emoji",
    "icon_url",
    "image_url",
    "thumb_url",
    "link_names",
    "mrkdwn_in",
    "actions",
    "message_text",
];

#[derive(Debug, Default, Deserialize)]
struct RawEmail {
    send_resolved: Option<bool>,
    to: Option<String>,
    from: Option<String>,
    smarthost: Option<String>,
    hello: Option<String>,
    auth_username: Option<String>,
    auth_password: Option<String>,
    auth_password_file: Option<String>,
    auth_identity: Option<String>,
    require_tls: Option<bool>,
    tls_config: Option<RawTls>,
    /// Lookout extension: `none`, `starttls` or `tls` (implicit TLS), overriding `require_tls`.
    tls_mode: Option<String>,
    #[serde(flatten)]
    extra: Extra,
}
const EMAIL_IGNORED: &[&str] = &["html", "text", "headers", "auth_secret", "auth_secret_file"];

#[derive(Debug, Default, Deserialize)]
struct RawTls {
    #[serde(default)]
    insecure_skip_verify: bool,
    /// PEM bundle of CAs to trust besides the system's (a private mail relay's CA).
    ca_file: Option<String>,
    /// Name to verify the server certificate against (default: the smarthost's host).
    server_name: Option<String>,
    #[serde(flatten)]
    extra: Extra,
}

#[derive(Debug, Default, Deserialize)]
struct RawWebhook {
    send_resolved: Option<bool>,
    url: Option<String>,
    url_file: Option<String>,
    #[serde(default)]
    max_alerts: u64,
    #[serde(flatten)]
    extra: Extra,
}
const WEBHOOK_IGNORED: &[&str] = &["http_config", "timeout"];

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSms {
    send_resolved: Option<bool>,
    api_url: Option<String>,
    account_sid: Option<String>,
    auth_token: Option<String>,
    auth_token_file: Option<String>,
    from: Option<String>,
    #[serde(default)]
    to: OneOrMany,
}

#[derive(Debug, Default, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    #[default]
    None,
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInhibit {
    #[serde(default)]
    source_matchers: Vec<String>,
    #[serde(default)]
    target_matchers: Vec<String>,
    #[serde(default)]
    source_match: BTreeMap<String, String>,
    #[serde(default)]
    source_match_re: BTreeMap<String, String>,
    #[serde(default)]
    target_match: BTreeMap<String, String>,
    #[serde(default)]
    target_match_re: BTreeMap<String, String>,
    #[serde(default)]
    equal: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    name: Option<String>,
    #[serde(default)]
    steps: Vec<RawStep>,
    #[serde(default)]
    repeat: RawRepeat,
}

#[derive(Debug, Default, Deserialize)]
#[serde(untagged)]
enum RawRepeat {
    #[default]
    No,
    Flag(bool),
    Times(u32),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    #[serde(default)]
    receivers: Vec<String>,
    wait: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Checked form.

/// The checked alerting configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Root of the routing tree.
    pub route: Arc<Route>,
    /// Receivers by name.
    pub receivers: BTreeMap<String, Receiver>,
    /// Inhibition rules.
    pub inhibit_rules: Vec<InhibitRule>,
    /// Escalation policies by name.
    pub escalation_policies: BTreeMap<String, EscalationPolicy>,
    /// How long an alert without `endsAt` stays firing after its last update.
    pub resolve_timeout: Duration,
    /// Base URL of the UI for links, when set in the file (`global.external_url`).
    pub external_url: Option<String>,
    /// The file as written (shown by `/api/v2/status`).
    pub original: String,
    /// Accepted but ignored keys.
    pub warnings: Vec<String>,
    /// How it was loaded (a reload loads the new file the same way).
    pub options: LoadOptions,
}

/// How a file is checked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// Accept secrets written inline (`api_url: https://hooks.slack.com/…`); without it a
    /// secret must come from a `*_file` key or an `${ENV}` reference. For development only;
    /// lookout.toml's `[security] allow_inline_secrets`.
    pub allow_inline_secrets: bool,
}

/// One node of the routing tree with inherited settings resolved.
#[derive(Debug, Clone)]
pub struct Route {
    /// Stable id: path of matchers from the root, plus the child index.
    pub id: String,
    /// Receiver name.
    pub receiver: String,
    /// Grouping.
    pub group_by: GroupBy,
    /// Matchers (from `matchers`, `match`, `match_re`).
    pub matchers: Vec<Matcher>,
    /// Keep matching siblings after this one matched.
    pub continue_: bool,
    /// Wait before the first notification of a new group.
    pub group_wait: Duration,
    /// Wait between notifications about changes of a group.
    pub group_interval: Duration,
    /// Wait before re-sending an unchanged group.
    pub repeat_interval: Duration,
    /// Escalation policy name (Lookout extension).
    pub escalation_policy: Option<String>,
    /// Children.
    pub routes: Vec<Arc<Route>>,
}

/// `group_by`.
#[derive(Debug, Clone, PartialEq)]
pub enum GroupBy {
    /// `['...']`: every label.
    All,
    /// These labels.
    Labels(Vec<String>),
}

impl Route {
    /// Routes an alert: the deepest matching routes, honouring `continue` (Alertmanager's
    /// `Route.Match`). Empty when this route does not match.
    pub fn match_routes(self: &Arc<Self>, labels: &crate::model::LabelSet) -> Vec<Arc<Route>> {
        if !crate::matcher::all_match(&self.matchers, labels) {
            return Vec::new();
        }
        let mut out = Vec::new();
        for child in &self.routes {
            let m = child.match_routes(labels);
            let matched = !m.is_empty();
            out.extend(m);
            if matched && !child.continue_ {
                break;
            }
        }
        if out.is_empty() {
            out.push(self.clone());
        }
        out
    }

    /// Every route in the tree, depth first.
    pub fn walk(self: &Arc<Self>, out: &mut Vec<Arc<Route>>) {
        out.push(self.clone());
        for c in &self.routes {
            c.walk(out);
        }
    }
}

/// A receiver and its integrations.
#[derive(Debug, Clone)]
pub struct Receiver {
    /// Name.
    pub name: String,
    /// Integrations, notified independently.
    pub integrations: Vec<Integration>,
}

/// One configured notification channel.
#[derive(Debug, Clone)]
pub struct Integration {
    /// Notify about resolved alerts too.
    pub send_resolved: bool,
    /// The channel.
    pub kind: IntegrationKind,
}

/// Channel settings, secrets resolved.
#[derive(Debug, Clone)]
pub enum IntegrationKind {
    /// Slack incoming webhook.
    Slack(SlackConfig),
    /// Email over SMTP.
    Email(EmailConfig),
    /// Alertmanager webhook JSON.
    Webhook(WebhookConfig),
    /// Twilio-compatible SMS.
    Sms(SmsConfig),
}

impl IntegrationKind {
    /// Short name for metrics and logs.
    pub fn name(&self) -> &'static str {
        match self {
            IntegrationKind::Slack(_) => "slack",
            IntegrationKind::Email(_) => "email",
            IntegrationKind::Webhook(_) => "webhook",
            IntegrationKind::Sms(_) => "sms",
        }
    }
}

/// Slack incoming webhook.
#[derive(Clone)]
pub struct SlackConfig {
    /// Webhook URL (a secret: never logged).
    pub api_url: String,
    /// Channel override.
    pub channel: Option<String>,
    /// Username override.
    pub username: Option<String>,
}

impl fmt::Debug for SlackConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlackConfig").field("api_url", &"<secret>").field("channel", &self.channel).finish()
    }
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain text, no STARTTLS (`require_tls: false`, or `tls_mode: none`).
    None,
    /// STARTTLS required.
    StartTls,
    /// Implicit TLS from the first byte (port 465).
    Tls,
}

/// Email over SMTP.
#[derive(Clone)]
pub struct EmailConfig {
    /// Recipients, comma separated.
    pub to: String,
    /// Sender.
    pub from: String,
    /// SMTP host.
    pub host: String,
    /// SMTP port.
    pub port: u16,
    /// EHLO name.
    pub hello: String,
    /// Credentials.
    pub auth: Option<(String, String)>,
    /// Connection security.
    pub tls: TlsMode,
    /// Accept any certificate.
    pub insecure_skip_verify: bool,
    /// Extra trusted CAs (PEM), from `tls_config.ca_file`.
    pub ca_pem: Option<Vec<u8>>,
    /// Name the certificate must carry (`tls_config.server_name`; default the host).
    pub server_name: Option<String>,
}

impl fmt::Debug for EmailConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailConfig").field("to", &self.to).field("host", &self.host).field("port", &self.port).finish()
    }
}

/// Generic webhook.
#[derive(Clone)]
pub struct WebhookConfig {
    /// Target URL (may carry a token: never logged).
    pub url: String,
    /// At most this many alerts per message (0: all).
    pub max_alerts: u64,
}

impl fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookConfig").field("max_alerts", &self.max_alerts).finish()
    }
}

/// Twilio-compatible SMS.
#[derive(Clone)]
pub struct SmsConfig {
    /// Base URL, default `https://api.twilio.com`.
    pub api_url: String,
    /// Account SID (basic-auth user).
    pub account_sid: String,
    /// Auth token (basic-auth password).
    pub auth_token: String,
    /// Sender number.
    pub from: String,
    /// Recipient numbers.
    pub to: Vec<String>,
}

impl fmt::Debug for SmsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmsConfig").field("api_url", &self.api_url).field("to", &self.to).finish()
    }
}

/// `inhibit_rules[]`.
#[derive(Debug, Clone)]
pub struct InhibitRule {
    /// Alerts that mute.
    pub source: Vec<Matcher>,
    /// Alerts that get muted.
    pub target: Vec<Matcher>,
    /// Labels that must be equal in source and target.
    pub equal: Vec<String>,
}

/// `escalation_policies[]`.
#[derive(Debug, Clone)]
pub struct EscalationPolicy {
    /// Name.
    pub name: String,
    /// Steps, in order.
    pub steps: Vec<EscalationStep>,
    /// How many more times to run the steps after the first pass (`u32::MAX`: forever).
    pub repeat: u32,
}

/// One step: notify these receivers, then wait.
#[derive(Debug, Clone)]
pub struct EscalationStep {
    /// Receiver names.
    pub receivers: Vec<String>,
    /// Wait before the next step.
    pub wait: Duration,
}

/// Parses a Prometheus duration: `1h30m`, `5m`, `10s`, `250ms`, `2d`, `1w`, `1y`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty duration".into());
    }
    let mut total: u128 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let n_end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        if n_end == 0 {
            return Err(format!("invalid duration {s:?}: expected a number"));
        }
        let n: u128 = rest[..n_end].parse().map_err(|_| format!("invalid duration {s:?}"))?;
        rest = &rest[n_end..];
        let u_end = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let ms = match &rest[..u_end] {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            "y" => 31_536_000_000,
            u => return Err(format!("invalid duration {s:?}: unknown unit {u:?} (use ms, s, m, h, d, w, y)")),
        };
        total = total.saturating_add(n.saturating_mul(ms));
        rest = &rest[u_end..];
    }
    Ok(Duration::from_millis(total.min(u64::MAX as u128) as u64))
}

/// Loader state: collects every error with its location.
struct Checker<'a> {
    file: &'a Path,
    text: &'a str,
    base: PathBuf,
    errors: Vec<ConfigError>,
    warnings: Vec<String>,
    options: LoadOptions,
}

/// Which inline values of a secret key count as secrets.
#[derive(Clone, Copy)]
enum Inline {
    /// Every value (Slack URLs carry their token, passwords are passwords).
    Always,
    /// Only URLs that carry credentials (user:password@, or a token-like query parameter).
    WithCredentials,
}

/// Whether a URL carries credentials: userinfo, or a query parameter named like a secret.
fn url_carries_credentials(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return true;
    }
    let Some((_, query)) = rest.split_once('?') else { return false };
    query.split('#').next().unwrap_or("").split('&').any(|pair| {
        let name = pair.split('=').next().unwrap_or("").to_ascii_lowercase();
        ["token", "key", "secret", "password", "passwd", "auth", "sig", "signature", "credential"].iter().any(|w| name.contains(w))
    })
}

impl Checker<'_> {
    /// Records an error; the line is found by searching for `needle` (the key as written, or
    /// the offending value), starting at the line of `anchor` when given.
    fn err(&mut self, key: &str, needle: &str, message: impl Into<String>) {
        let line = locate(self.text, needle);
        self.errors.push(ConfigError { file: self.file.to_path_buf(), line, key: key.to_string(), message: message.into() });
    }

    fn extra(&mut self, path: &str, extra: &Extra, ignored: &[&str]) {
        for k in extra.keys() {
            if ignored.contains(&k.as_str()) {
                self.warnings.push(format!("{path}{k}: not supported by Lookout; ignored"));
            } else {
                self.err(&format!("{path}{k}"), &format!("{k}:"), format!("unknown key {k:?}"));
            }
        }
    }

    fn duration(&mut self, key: &str, v: &Option<String>) -> Option<Duration> {
        let s = v.as_ref()?;
        match parse_duration(s) {
            Ok(d) => Some(d),
            Err(e) => {
                self.err(key, s, e);
                None
            }
        }
    }

    /// A secret from the value (with `${ENV}` expanded) or from a file; `None` when neither.
    /// A value written inline (no `${ENV}` in it) is an error unless the options allow it;
    /// `env` is the variable name the error suggests.
    fn secret(&mut self, key: &str, value: &Option<String>, file: &Option<String>, inline: Inline, env: &str) -> Option<String> {
        if let (Some(v), None) = (value, file)
            && !self.options.allow_inline_secrets
            && !v.contains("${")
            && !v.trim().is_empty()
            && match inline {
                Inline::Always => true,
                Inline::WithCredentials => url_carries_credentials(v),
            }
        {
            let name = key.rsplit('.').next().unwrap_or(key);
            let what = match inline {
                Inline::Always => "is a secret written inline",
                Inline::WithCredentials => "is a URL with credentials written inline",
            };
            // Point at the line of the value itself; never repeat the secret in the message.
            let key_as_written = format!("{name}:");
            let line = self
                .text
                .lines()
                .position(|l| l.contains(&key_as_written) && l.contains(v.as_str()))
                .map(|i| i as u64 + 1)
                .or_else(|| locate(self.text, v))
                .or_else(|| locate(self.text, &key_as_written));
            self.errors.push(ConfigError {
                file: self.file.to_path_buf(),
                line,
                key: key.to_string(),
                message: format!(
                    "{what}; put it in a file and set `{name}_file: /path/to/file`, or reference an environment variable: \
                     `{name}: ${{{env}}}` (for development only, `[security] allow_inline_secrets = true` in lookout.toml accepts it)"
                ),
            });
            // The value is there, only not allowed: no follow-on "missing" errors.
            return Some(v.clone());
        }
        match (value, file) {
            (Some(_), Some(_)) => {
                self.err(key, key.rsplit('.').next().unwrap_or(key), "set the value or the _file variant, not both");
                None
            }
            (Some(v), None) => match expand_env(v) {
                Ok(v) => Some(v),
                Err(e) => {
                    self.err(key, v, e);
                    None
                }
            },
            (None, Some(f)) => {
                let p = self.base.join(f);
                match std::fs::read_to_string(&p) {
                    Ok(s) => Some(s.trim().to_string()),
                    Err(e) => {
                        self.err(&format!("{key}_file"), f, format!("cannot read {}: {e}", p.display()));
                        None
                    }
                }
            }
            (None, None) => None,
        }
    }

    fn matchers(&mut self, key: &str, list: &[String], eq: &BTreeMap<String, String>, re: &BTreeMap<String, String>) -> Vec<Matcher> {
        let mut out = Vec::new();
        for (i, s) in list.iter().enumerate() {
            match crate::matcher::parse_matchers(s) {
                Ok(m) => out.extend(m),
                Err(e) => self.err(&format!("{key}matchers[{i}]"), s, e),
            }
        }
        for (k, v) in eq {
            match Matcher::new(k, MatchType::Equal, v) {
                Ok(m) => out.push(m),
                Err(e) => self.err(&format!("{key}match.{k}"), &format!("{k}:"), e),
            }
        }
        for (k, v) in re {
            match Matcher::new(k, MatchType::Regex, v) {
                Ok(m) => out.push(m),
                Err(e) => self.err(&format!("{key}match_re.{k}"), &format!("{k}:"), e),
            }
        }
        out
    }
}

/// First line (1-based) containing `needle`.
fn locate(text: &str, needle: &str) -> Option<u64> {
    if needle.is_empty() {
        return None;
    }
    text.lines().position(|l| l.contains(needle)).map(|i| i as u64 + 1)
}

/// Expands `${NAME}` from the environment; an unset variable is an error.
fn expand_env(v: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = v;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let end = after.find('}').ok_or_else(|| "unterminated ${...}".to_string())?;
        let name = &after[..end];
        out.push_str(&std::env::var(name).map_err(|_| format!("environment variable {name} is not set"))?);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

struct Inherit {
    receiver: Option<String>,
    group_by: GroupBy,
    group_wait: Duration,
    group_interval: Duration,
    repeat_interval: Duration,
    escalation_policy: Option<String>,
}

impl Config {
    /// The configuration `lookout up` and `lookout serve` use without `alerting_config`: one
    /// route to a receiver with no integrations, so alerts are kept, grouped and shown in the
    /// API but notify nobody.
    pub fn default_config() -> Config {
        let text = "route:\n  receiver: default\n  group_by: ['alertname']\nreceivers:\n  - name: default\n";
        Config::parse(Path::new("<default>"), text).expect("default alerting config is valid")
    }

    /// Reads and checks a file; inline secrets are errors.
    pub fn load(file: &Path) -> Result<Config, ConfigErrors> {
        Config::load_with(file, LoadOptions::default())
    }

    /// Reads and checks a file with `options`.
    pub fn load_with(file: &Path, options: LoadOptions) -> Result<Config, ConfigErrors> {
        let text = std::fs::read_to_string(file).map_err(|e| {
            ConfigErrors(vec![ConfigError {
                file: file.to_path_buf(),
                line: None,
                key: String::new(),
                message: format!("cannot read: {e}"),
            }])
        })?;
        Config::parse_with(file, &text, options)
    }

    /// Checks the text of a file; `file` names it in errors and anchors relative `*_file`
    /// paths. Inline secrets are errors.
    pub fn parse(file: &Path, text: &str) -> Result<Config, ConfigErrors> {
        Config::parse_with(file, text, LoadOptions::default())
    }

    /// [`Config::parse`] with `options`.
    pub fn parse_with(file: &Path, text: &str, options: LoadOptions) -> Result<Config, ConfigErrors> {
        let opts = serde_saphyr::options! { with_snippet: false };
        let raw: RawFile = if text.trim().is_empty() {
            RawFile::default()
        } else {
            serde_saphyr::from_str_with_options(text, opts).map_err(|e| {
                let line = e.location().map(|l| l.line());
                let msg = e.without_snippet().to_string();
                ConfigErrors(vec![ConfigError { file: file.to_path_buf(), line, key: String::new(), message: msg }])
            })?
        };
        let mut c = Checker {
            file,
            text,
            base: file.parent().map(Path::to_path_buf).unwrap_or_default(),
            errors: Vec::new(),
            warnings: Vec::new(),
            options,
        };
        c.extra("", &raw.extra, FILE_IGNORED);
        if raw.extra.contains_key("templates") {
            c.warnings.push("templates: Lookout renders its own messages; Go templates are ignored".into());
        }
        let g = &raw.global;
        c.extra("global.", &g.extra, GLOBAL_IGNORED);
        let resolve_timeout = c.duration("global.resolve_timeout", &g.resolve_timeout).unwrap_or(Duration::from_secs(300));
        let slack_url = c.secret("global.slack_api_url", &g.slack_api_url, &g.slack_api_url_file, Inline::Always, "SLACK_API_URL");
        let smtp_password =
            c.secret("global.smtp_auth_password", &g.smtp_auth_password, &g.smtp_auth_password_file, Inline::Always, "SMTP_AUTH_PASSWORD");

        // Receivers.
        let mut receivers = BTreeMap::new();
        for (ri, r) in raw.receivers.iter().enumerate() {
            let p = format!("receivers[{ri}].");
            c.extra(&p, &r.extra, RECEIVER_IGNORED);
            let Some(name) = r.name.clone().filter(|n| !n.is_empty()) else {
                c.err(&format!("{p}name"), "receivers:", "every receiver needs a name");
                continue;
            };
            if receivers.contains_key(&name) {
                c.err(&format!("{p}name"), &format!("name: {name}"), format!("receiver {name:?} is defined twice"));
                continue;
            }
            let mut integrations = Vec::new();
            for (i, s) in r.slack_configs.iter().enumerate() {
                let k = format!("{p}slack_configs[{i}].");
                c.extra(&k, &s.extra, SLACK_IGNORED);
                let url = c
                    .secret(&format!("{k}api_url"), &s.api_url, &s.api_url_file, Inline::Always, "SLACK_API_URL")
                    .or_else(|| slack_url.clone());
                match url {
                    Some(api_url) => integrations.push(Integration {
                        send_resolved: s.send_resolved.unwrap_or(false),
                        kind: IntegrationKind::Slack(SlackConfig { api_url, channel: s.channel.clone(), username: s.username.clone() }),
                    }),
                    None => c.err(&format!("{k}api_url"), "slack_configs:", "no api_url here and no global.slack_api_url"),
                }
            }
            for (i, e) in r.email_configs.iter().enumerate() {
                let k = format!("{p}email_configs[{i}].");
                c.extra(&k, &e.extra, EMAIL_IGNORED);
                if let Some(t) = &e.tls_config {
                    c.extra(
                        &format!("{k}tls_config."),
                        &t.extra,
                        &["cert_file", "key_file", "min_version", "max_version", "ca", "cert", "key"],
                    );
                }
                let smarthost = e.smarthost.clone().or_else(|| g.smtp_smarthost.clone());
                let from = e.from.clone().or_else(|| g.smtp_from.clone());
                let password = c
                    .secret(&format!("{k}auth_password"), &e.auth_password, &e.auth_password_file, Inline::Always, "SMTP_AUTH_PASSWORD")
                    .or_else(|| smtp_password.clone());
                let username = e.auth_username.clone().or_else(|| g.smtp_auth_username.clone());
                let _ = (&e.auth_identity, &g.smtp_auth_identity);
                let Some(to) = e.to.clone() else {
                    c.err(&format!("{k}to"), "email_configs:", "missing to");
                    continue;
                };
                let Some(from) = from else {
                    c.err(&format!("{k}from"), "email_configs:", "no from here and no global.smtp_from");
                    continue;
                };
                let Some(smarthost) = smarthost else {
                    c.err(&format!("{k}smarthost"), "email_configs:", "no smarthost here and no global.smtp_smarthost");
                    continue;
                };
                let Some((host, port)) =
                    smarthost.rsplit_once(':').and_then(|(h, p)| Some((h.trim_matches(['[', ']']).to_string(), p.parse::<u16>().ok()?)))
                else {
                    c.err(&format!("{k}smarthost"), &smarthost, "expected host:port");
                    continue;
                };
                let tls = match e.tls_mode.as_deref() {
                    Some("none") => TlsMode::None,
                    Some("starttls") => TlsMode::StartTls,
                    Some("tls") => TlsMode::Tls,
                    Some(other) => {
                        c.err(&format!("{k}tls_mode"), "tls_mode:", format!("{other:?} is not one of none, starttls, tls"));
                        TlsMode::StartTls
                    }
                    None if port == 465 => TlsMode::Tls,
                    None if e.require_tls.or(g.smtp_require_tls).unwrap_or(true) => TlsMode::StartTls,
                    None => TlsMode::None,
                };
                let auth = match (username, password) {
                    (Some(u), Some(p)) => Some((u, p)),
                    (Some(_), None) => {
                        c.err(&format!("{k}auth_password"), "auth_username:", "auth_username is set without a password");
                        None
                    }
                    _ => None,
                };
                let ca_pem = match e.tls_config.as_ref().and_then(|t| t.ca_file.as_ref()) {
                    None => None,
                    Some(f) => {
                        let p = c.base.join(f);
                        match std::fs::read(&p) {
                            Ok(b) if String::from_utf8_lossy(&b).contains("-----BEGIN CERTIFICATE-----") => Some(b),
                            Ok(_) => {
                                c.err(&format!("{k}tls_config.ca_file"), f, format!("{} holds no PEM certificate", p.display()));
                                None
                            }
                            Err(err) => {
                                c.err(&format!("{k}tls_config.ca_file"), f, format!("cannot read {}: {err}", p.display()));
                                None
                            }
                        }
                    }
                };
                integrations.push(Integration {
                    send_resolved: e.send_resolved.unwrap_or(false),
                    kind: IntegrationKind::Email(EmailConfig {
                        to,
                        from,
                        host,
                        port,
                        hello: e.hello.clone().or_else(|| g.smtp_hello.clone()).unwrap_or_else(|| "localhost".into()),
                        auth,
                        tls,
                        insecure_skip_verify: e.tls_config.as_ref().is_some_and(|t| t.insecure_skip_verify),
                        ca_pem,
                        server_name: e.tls_config.as_ref().and_then(|t| t.server_name.clone()),
                    }),
                });
            }
            for (i, w) in r.webhook_configs.iter().enumerate() {
                let k = format!("{p}webhook_configs[{i}].");
                c.extra(&k, &w.extra, WEBHOOK_IGNORED);
                match c.secret(&format!("{k}url"), &w.url, &w.url_file, Inline::WithCredentials, "WEBHOOK_URL") {
                    Some(url) if url.starts_with("http://") || url.starts_with("https://") => integrations.push(Integration {
                        send_resolved: w.send_resolved.unwrap_or(true),
                        kind: IntegrationKind::Webhook(WebhookConfig { url, max_alerts: w.max_alerts }),
                    }),
                    Some(_) => c.err(&format!("{k}url"), "url:", "must be an http:// or https:// URL"),
                    None => c.err(&format!("{k}url"), "webhook_configs:", "missing url"),
                }
            }
            for (i, s) in r.sms_configs.iter().enumerate() {
                let k = format!("{p}sms_configs[{i}].");
                let token = c.secret(&format!("{k}auth_token"), &s.auth_token, &s.auth_token_file, Inline::Always, "TWILIO_AUTH_TOKEN");
                let to = match &s.to {
                    OneOrMany::None => Vec::new(),
                    OneOrMany::One(t) => vec![t.clone()],
                    OneOrMany::Many(v) => v.clone(),
                };
                let sid = s.account_sid.clone().map(|v| expand_env(&v).unwrap_or(v));
                match (sid, token, s.from.clone(), to.is_empty()) {
                    (Some(account_sid), Some(auth_token), Some(from), false) => integrations.push(Integration {
                        send_resolved: s.send_resolved.unwrap_or(false),
                        kind: IntegrationKind::Sms(SmsConfig {
                            api_url: s.api_url.clone().unwrap_or_else(|| "https://api.twilio.com".into()).trim_end_matches('/').to_string(),
                            account_sid,
                            auth_token,
                            from,
                            to,
                        }),
                    }),
                    _ => c.err(&k, "sms_configs:", "needs account_sid, auth_token (or auth_token_file), from and to"),
                }
            }
            receivers.insert(name.clone(), Receiver { name, integrations });
        }

        // Escalation policies.
        let mut escalation_policies = BTreeMap::new();
        for (pi, p) in raw.escalation_policies.iter().enumerate() {
            let k = format!("escalation_policies[{pi}].");
            let Some(name) = p.name.clone() else {
                c.err(&format!("{k}name"), "escalation_policies:", "every policy needs a name");
                continue;
            };
            if p.steps.is_empty() {
                c.err(&format!("{k}steps"), &format!("name: {name}"), "a policy needs at least one step");
            }
            let mut steps = Vec::new();
            for (si, s) in p.steps.iter().enumerate() {
                for r in &s.receivers {
                    if !receivers.contains_key(r) {
                        c.err(&format!("{k}steps[{si}].receivers"), r, format!("no receiver named {r:?}"));
                    }
                }
                if s.receivers.is_empty() {
                    c.err(&format!("{k}steps[{si}].receivers"), &format!("name: {name}"), "a step needs at least one receiver");
                }
                let wait = c.duration(&format!("{k}steps[{si}].wait"), &s.wait).unwrap_or(Duration::from_secs(300));
                steps.push(EscalationStep { receivers: s.receivers.clone(), wait });
            }
            let repeat = match p.repeat {
                RawRepeat::No | RawRepeat::Flag(false) => 0,
                RawRepeat::Flag(true) => u32::MAX,
                RawRepeat::Times(n) => n,
            };
            escalation_policies.insert(name.clone(), EscalationPolicy { name, steps, repeat });
        }

        // Routes.
        let route = match &raw.route {
            None => {
                c.err("route", "", "missing route (the root of the routing tree)");
                None
            }
            Some(r) => {
                if r.receiver.is_none() {
                    c.err("route.receiver", "route:", "the root route needs a receiver");
                }
                if !r.matchers.is_empty() || !r.match_.is_empty() || !r.match_re.is_empty() {
                    c.err("route.matchers", "route:", "the root route must not have matchers");
                }
                let inherit = Inherit {
                    receiver: None,
                    group_by: GroupBy::Labels(Vec::new()),
                    group_wait: Duration::from_secs(30),
                    group_interval: Duration::from_secs(300),
                    repeat_interval: Duration::from_secs(4 * 3600),
                    escalation_policy: None,
                };
                Some(check_route(&mut c, r, &inherit, "route.", "{}".into(), &receivers, &escalation_policies))
            }
        };

        // Inhibition.
        let mut inhibit_rules = Vec::new();
        for (i, r) in raw.inhibit_rules.iter().enumerate() {
            let k = format!("inhibit_rules[{i}].");
            let source = c.matchers(&format!("{k}source_"), &r.source_matchers, &r.source_match, &r.source_match_re);
            let target = c.matchers(&format!("{k}target_"), &r.target_matchers, &r.target_match, &r.target_match_re);
            for e in &r.equal {
                if !valid_label_name(e) {
                    c.err(&format!("{k}equal"), e, format!("invalid label name {e:?}"));
                }
            }
            inhibit_rules.push(InhibitRule { source, target, equal: r.equal.clone() });
        }

        let external_url = g.external_url.clone().map(|u| u.trim_end_matches('/').to_string());
        if !c.errors.is_empty() {
            return Err(ConfigErrors(c.errors));
        }
        Ok(Config {
            route: route.expect("checked"),
            receivers,
            inhibit_rules,
            escalation_policies,
            resolve_timeout,
            external_url,
            original: text.to_string(),
            warnings: c.warnings,
            options,
        })
    }
}

fn check_route(
    c: &mut Checker<'_>,
    r: &RawRoute,
    parent: &Inherit,
    key: &str,
    id: String,
    receivers: &BTreeMap<String, Receiver>,
    policies: &BTreeMap<String, EscalationPolicy>,
) -> Arc<Route> {
    c.extra(key, &r.extra, ROUTE_IGNORED);
    let matchers = c.matchers(key, &r.matchers, &r.match_, &r.match_re);
    let receiver = r.receiver.clone().or_else(|| parent.receiver.clone()).unwrap_or_default();
    if !receiver.is_empty() && !receivers.contains_key(&receiver) {
        c.err(&format!("{key}receiver"), &format!("receiver: {receiver}"), format!("no receiver named {receiver:?}"));
    }
    let group_by = match &r.group_by {
        None => parent.group_by.clone(),
        Some(v) if v.iter().any(|l| l == "...") => {
            if v.len() > 1 {
                c.err(&format!("{key}group_by"), "group_by:", "'...' must be the only element of group_by");
            }
            GroupBy::All
        }
        Some(v) => {
            for l in v {
                if !valid_label_name(l) {
                    c.err(&format!("{key}group_by"), l, format!("invalid label name {l:?}"));
                }
            }
            let mut v = v.clone();
            v.sort();
            v.dedup();
            GroupBy::Labels(v)
        }
    };
    let group_wait = c.duration(&format!("{key}group_wait"), &r.group_wait).unwrap_or(parent.group_wait);
    let group_interval = c.duration(&format!("{key}group_interval"), &r.group_interval).unwrap_or(parent.group_interval);
    let repeat_interval = c.duration(&format!("{key}repeat_interval"), &r.repeat_interval).unwrap_or(parent.repeat_interval);
    if group_interval.is_zero() {
        c.err(&format!("{key}group_interval"), "group_interval:", "must be positive");
    }
    if repeat_interval.is_zero() {
        c.err(&format!("{key}repeat_interval"), "repeat_interval:", "must be positive");
    }
    let escalation_policy = r.escalation_policy.clone().or_else(|| parent.escalation_policy.clone());
    if let Some(p) = &escalation_policy
        && !policies.contains_key(p)
    {
        c.err(&format!("{key}escalation_policy"), &format!("escalation_policy: {p}"), format!("no escalation policy named {p:?}"));
    }
    let inherit = Inherit {
        receiver: Some(receiver.clone()),
        group_by: group_by.clone(),
        group_wait,
        group_interval,
        repeat_interval,
        escalation_policy: escalation_policy.clone(),
    };
    let mut routes = Vec::new();
    for (i, child) in r.routes.iter().enumerate() {
        let cm: Vec<String> = {
            let mut cm = Vec::new();
            for s in &child.matchers {
                if let Ok(ms) = crate::matcher::parse_matchers(s) {
                    cm.extend(ms.iter().map(|m| m.to_string()));
                }
            }
            cm.extend(child.match_.iter().map(|(k, v)| format!("{k}={v:?}")));
            cm.extend(child.match_re.iter().map(|(k, v)| format!("{k}=~{v:?}")));
            cm
        };
        let child_id = format!("{id}/{{{}}}/{i}", cm.join(","));
        routes.push(check_route(c, child, &inherit, &format!("{key}routes[{i}]."), child_id, receivers, policies));
    }
    Arc::new(Route {
        id,
        receiver,
        group_by,
        matchers,
        continue_: r.continue_,
        group_wait,
        group_interval,
        repeat_interval,
        escalation_policy,
        routes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::LabelSet;

    fn ls(pairs: &[(&str, &str)]) -> LabelSet {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    const AM: &str = r#"
global:
  resolve_timeout: 5m
  smtp_smarthost: 'localhost:25'
  smtp_from: 'alertmanager@example.org'
  smtp_auth_username: 'alertmanager'
  smtp_auth_password: 'password'
  slack_api_url: 'https://hooks.slack.com/services/T/B/X'
templates:
  - '/etc/alertmanager/template/*.tmpl'
route:
  group_by: ['alertname', 'cluster', 'service']
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 3h
  receiver: team-X-mails
  routes:
    - matchers:
        - service=~"foo1|foo2|baz"
      receiver: team-X-mails
      routes:
        - matchers:
            - severity="critical"
          receiver: team-X-pager
    - matchers:
        - service="files"
      receiver: team-Y-mails
      routes:
        - matchers:
            - severity="critical"
          receiver: team-Y-pager
    - match:
        service: database
      receiver: team-DB-pager
      group_by: [alertname, cluster, database]
      continue: true
    - match_re:
        service: data.*
      receiver: team-Y-mails
      group_by: ['...']
inhibit_rules:
  - source_matchers: [severity="critical"]
    target_matchers: [severity="warning"]
    equal: [alertname, cluster, service]
  - source_match:
      severity: 'critical'
    target_match_re:
      severity: 'warning|info'
    equal: ['alertname']
receivers:
  - name: 'team-X-mails'
    email_configs:
      - to: 'team-X+alerts@example.org'
        html: '{{ template "email.default.html" . }}'
  - name: 'team-X-pager'
    email_configs:
      - to: 'team-X+alerts-critical@example.org'
    pagerduty_configs:
      - service_key: <team-X-key>
  - name: 'team-Y-mails'
    email_configs:
      - to: 'team-Y+alerts@example.org'
  - name: 'team-Y-pager'
    slack_configs:
      - channel: '#pager'
        title: '{{ .CommonLabels.alertname }}'
  - name: 'team-DB-pager'
    webhook_configs:
      - url: 'http://127.0.0.1:5001/hook'
"#;

    #[test]
    fn upstream_example_loads_with_inheritance_and_routing() {
        // Alertmanager's own example writes its secrets inline: refused, unless allowed.
        let errs = Config::parse(Path::new("alertmanager.yml"), AM).unwrap_err();
        let keys: Vec<_> = errs.0.iter().map(|e| (e.key.as_str(), e.line)).collect();
        assert_eq!(keys, [("global.slack_api_url", Some(8)), ("global.smtp_auth_password", Some(7))], "{errs}");
        let cfg = Config::parse_with(Path::new("alertmanager.yml"), AM, LoadOptions { allow_inline_secrets: true }).unwrap();
        assert!(cfg.warnings.iter().any(|w| w.contains("pagerduty_configs")), "{:?}", cfg.warnings);
        assert_eq!(cfg.inhibit_rules.len(), 2);
        let r = &cfg.route;
        assert_eq!(r.repeat_interval, Duration::from_secs(3 * 3600));
        // Child inherits group_by and timers.
        let x = &r.routes[0].routes[0];
        assert_eq!(x.receiver, "team-X-pager");
        assert_eq!(x.group_by, GroupBy::Labels(vec!["alertname".into(), "cluster".into(), "service".into()]));
        assert_eq!(x.group_wait, Duration::from_secs(30));
        let names = |l: &LabelSet| r.match_routes(l).iter().map(|r| r.receiver.clone()).collect::<Vec<_>>();
        assert_eq!(names(&ls(&[("service", "foo1"), ("severity", "critical")])), vec!["team-X-pager"]);
        assert_eq!(names(&ls(&[("service", "foo1"), ("severity", "warning")])), vec!["team-X-mails"]);
        // `continue: true` on the database route lets the data.* route match as well.
        assert_eq!(names(&ls(&[("service", "database")])), vec!["team-DB-pager", "team-Y-mails"]);
        assert_eq!(names(&ls(&[("service", "other")])), vec!["team-X-mails"]);
        assert_eq!(r.routes[3].group_by, GroupBy::All);
        match &cfg.receivers["team-Y-pager"].integrations[0].kind {
            IntegrationKind::Slack(s) => assert_eq!(s.api_url, "https://hooks.slack.com/services/T/B/X"),
            k => panic!("{k:?}"),
        }
        match &cfg.receivers["team-X-mails"].integrations[0].kind {
            IntegrationKind::Email(e) => {
                assert_eq!((e.host.as_str(), e.port, e.tls), ("localhost", 25, TlsMode::StartTls));
                assert_eq!(e.auth.as_ref().unwrap().1, "password");
            }
            k => panic!("{k:?}"),
        }
    }

    #[test]
    fn extensions_sms_and_escalation() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token"), "s3cret\n").unwrap();
        std::fs::write(dir.path().join("slack"), "http://127.0.0.1:1/hook\n").unwrap();
        let text = r#"
route:
  receiver: slack
  escalation_policy: page
receivers:
  - name: slack
    slack_configs: [{api_url_file: slack}]
  - name: phone
    sms_configs:
      - api_url: http://127.0.0.1:2
        account_sid: AC123
        auth_token_file: token
        from: "+15550000000"
        to: ["+15551111111"]
escalation_policies:
  - name: page
    steps:
      - receivers: [slack]
        wait: 5m
      - receivers: [phone]
        wait: 10m
    repeat: 2
"#;
        let path = dir.path().join("am.yml");
        let cfg = Config::parse(&path, text).unwrap();
        assert_eq!(cfg.route.escalation_policy.as_deref(), Some("page"));
        let p = &cfg.escalation_policies["page"];
        assert_eq!((p.steps.len(), p.repeat, p.steps[1].wait), (2, 2, Duration::from_secs(600)));
        match &cfg.receivers["phone"].integrations[0].kind {
            IntegrationKind::Sms(s) => assert_eq!((s.auth_token.as_str(), s.api_url.as_str()), ("s3cret", "http://127.0.0.1:2")),
            k => panic!("{k:?}"),
        }
    }

    #[test]
    fn every_error_is_reported_with_line_and_key() {
        let text = "route:\n  receiver: nobody\n  group_wait: 5 minutes\n  routes:\n    - matchers: ['sev=~\"(\"']\n      receiver: a\nreceivers:\n  - name: a\n    webhook_configs:\n      - url: ftp://x\n    bogus_key: 1\n";
        let errs = Config::parse(Path::new("am.yml"), text).unwrap_err();
        let msg = errs.to_string();
        assert_eq!(errs.0.len(), 5, "{msg}");
        assert!(msg.contains("am.yml:2: route.receiver: no receiver named \"nobody\""), "{msg}");
        assert!(msg.contains("am.yml:3: route.group_wait"), "{msg}");
        assert!(msg.contains("am.yml:5: route.routes[0].matchers[0]"), "{msg}");
        assert!(msg.contains("am.yml:10: receivers[0].webhook_configs[0].url"), "{msg}");
        assert!(msg.contains("am.yml:11: receivers[0].bogus_key: unknown key"), "{msg}");
    }

    #[test]
    fn inline_secrets_are_refused_with_line_key_and_advice_unless_allowed() {
        let text = "route:\n  receiver: a\nreceivers:\n  - name: a\n    slack_configs:\n      - api_url: https://hooks.slack.com/services/T/B/SECRET\n    webhook_configs:\n      - url: http://127.0.0.1:9/no-secret\n      - url: https://hooks.example.com/x?token=SECRET\n    sms_configs:\n      - account_sid: AC1\n        auth_token: SECRET\n        from: '1'\n        to: '2'\n";
        let errs = Config::parse(Path::new("am.yml"), text).unwrap_err();
        let got: Vec<_> = errs.0.iter().map(|e| (e.key.as_str(), e.line)).collect();
        assert_eq!(
            got,
            [
                ("receivers[0].slack_configs[0].api_url", Some(6)),
                ("receivers[0].webhook_configs[1].url", Some(9)),
                ("receivers[0].sms_configs[0].auth_token", Some(12))
            ],
            "{errs}"
        );
        let msg = errs.to_string();
        assert!(!msg.contains("SECRET"), "{msg}");
        assert!(msg.contains("`api_url_file: /path/to/file`") && msg.contains("`api_url: ${SLACK_API_URL}`"), "{msg}");
        assert!(msg.contains("`auth_token_file: /path/to/file`") && msg.contains("allow_inline_secrets = true"), "{msg}");
        let cfg = Config::parse_with(Path::new("am.yml"), text, LoadOptions { allow_inline_secrets: true }).unwrap();
        assert!(cfg.options.allow_inline_secrets);
        assert_eq!(cfg.receivers["a"].integrations.len(), 4);
    }

    #[test]
    fn urls_with_credentials() {
        assert!(url_carries_credentials("https://user:pw@example.com/x"));
        assert!(url_carries_credentials("https://example.com/x?api_key=1"));
        assert!(url_carries_credentials("https://example.com/x?a=1&Signature=2"));
        assert!(!url_carries_credentials("https://example.com/x?a=1"));
        assert!(!url_carries_credentials("http://127.0.0.1:9/hook/user@x"));
    }

    #[test]
    fn yaml_syntax_error_has_a_line() {
        let errs = Config::parse(Path::new("am.yml"), "route:\n  receiver: a\n  group_by: [a\nreceivers: []\n").unwrap_err();
        assert!(errs.0[0].line.is_some(), "{errs}");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_duration("5 m").is_err());
        assert!(parse_duration("m").is_err());
    }
}

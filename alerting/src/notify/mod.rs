//! Receivers' integrations: one [`Notifier`] per channel, each with one method whose error says
//! whether a retry can help (Alertmanager's `Notify(...) (retry bool, err)`).
//!
//! Messages are rendered by Lookout itself from a [`Notification`] (Go templates in an
//! `alertmanager.yml` are ignored). Errors never contain a secret: URLs (Slack and webhook URLs
//! carry tokens) are stripped from HTTP errors, and credentials never appear in messages.

pub mod email;
pub mod slack;
pub mod sms;
pub mod webhook;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::config::IntegrationKind;
use crate::model::LabelSet;

/// An acknowledgement, as shown in notifications.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Ack {
    /// Who.
    pub by: String,
    /// Why.
    pub comment: String,
    /// When (RFC 3339).
    pub at: String,
}

/// One alert in a notification (Alertmanager's webhook `alerts[]` entry, plus `ack`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertView {
    /// `firing` or `resolved`.
    pub status: String,
    /// Labels.
    pub labels: LabelSet,
    /// Annotations.
    pub annotations: LabelSet,
    /// RFC 3339.
    pub starts_at: String,
    /// RFC 3339 (`0001-01-01T00:00:00Z` while firing, as Alertmanager sends).
    pub ends_at: String,
    /// Link to the expression.
    #[serde(rename = "generatorURL")]
    pub generator_url: String,
    /// Fingerprint.
    pub fingerprint: String,
    /// Acknowledgement, when acknowledged (Lookout's addition).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ack: Option<Ack>,
}

/// What one integration is told about one group.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// Group key.
    pub group_key: String,
    /// Receiver name.
    pub receiver: String,
    /// `firing` when any alert fires, else `resolved`.
    pub status: String,
    /// The group's labels.
    pub group_labels: LabelSet,
    /// Labels all alerts share.
    pub common_labels: LabelSet,
    /// Annotations all alerts share.
    pub common_annotations: LabelSet,
    /// Base URL of the UI.
    pub external_url: String,
    /// The alerts, firing first.
    pub alerts: Vec<AlertView>,
}

impl Notification {
    /// Firing alerts.
    pub fn firing(&self) -> impl Iterator<Item = &AlertView> {
        self.alerts.iter().filter(|a| a.status == "firing")
    }
    /// Link to one alert in the UI.
    pub fn alert_url(&self, a: &AlertView) -> String {
        format!("{}/alerts/{}", self.external_url, a.fingerprint)
    }
    /// `[FIRING:2] HighLatency` / `[RESOLVED] HighLatency`.
    pub fn title(&self) -> String {
        let name = self
            .common_labels
            .get("alertname")
            .or_else(|| self.group_labels.get("alertname"))
            .cloned()
            .unwrap_or_else(|| self.group_labels.values().cloned().collect::<Vec<_>>().join(" "));
        let n = self.firing().count();
        if n > 0 { format!("[FIRING:{n}] {name}") } else { format!("[RESOLVED] {name}") }
    }
    /// Who acknowledged, when every firing alert is acknowledged or resolved by a person.
    pub fn ack_line(&self) -> Option<String> {
        let acks: Vec<&Ack> = self.alerts.iter().filter_map(|a| a.ack.as_ref()).collect();
        let first = acks.first()?;
        let mut s = format!("Acknowledged by {}", first.by);
        if !first.comment.is_empty() {
            s.push_str(&format!(": {}", first.comment));
        }
        if acks.len() > 1 {
            s.push_str(&format!(" (+{} more)", acks.len() - 1));
        }
        Some(s)
    }
}

/// Why a notification failed.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
#[error("{message}")]
pub struct Error {
    /// Whether trying again may succeed (network errors, 5xx, 429, transient SMTP replies).
    pub retry: bool,
    /// What happened, without secrets.
    pub message: String,
}

impl Error {
    /// A failure worth retrying.
    pub fn retry(message: impl Into<String>) -> Error {
        Error { retry: true, message: message.into() }
    }
    /// A failure that will not go away by itself.
    pub fn fatal(message: impl Into<String>) -> Error {
        Error { retry: false, message: message.into() }
    }
    /// Classifies an HTTP status.
    pub fn from_status(service: &str, status: reqwest::StatusCode, body: &str) -> Error {
        let body: String = body.chars().take(200).collect();
        let message = format!("{service}: HTTP {status}: {body}");
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS || status == reqwest::StatusCode::REQUEST_TIMEOUT {
            Error::retry(message)
        } else {
            Error::fatal(message)
        }
    }
    /// Classifies a transport error (the URL, which may carry a token, is removed).
    pub fn from_reqwest(service: &str, e: reqwest::Error) -> Error {
        let retry = !e.is_builder();
        let e = e.without_url();
        let mut msg = format!("{service}: {e}");
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            msg.push_str(&format!(": {s}"));
            src = s.source();
        }
        Error { retry, message: msg }
    }
}

/// Future returned by [`Notifier::notify`].
pub type NotifyFuture<'a> = Pin<Box<dyn Future<Output = Result<(), Error>> + Send + 'a>>;

/// One notification channel.
pub trait Notifier: Send + Sync {
    /// Sends one notification.
    fn notify<'a>(&'a self, n: &'a Notification) -> NotifyFuture<'a>;
}

/// Shared HTTP client for the HTTP-based notifiers.
pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .connect_timeout(Duration::from_secs(5))
        .user_agent(concat!("lookout/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("HTTP client builds with the rustls provider installed")
}

/// Builds the notifier of an integration.
pub fn build(kind: &IntegrationKind, client: &reqwest::Client) -> Arc<dyn Notifier> {
    match kind {
        IntegrationKind::Slack(c) => Arc::new(slack::Notifier::new(c.clone(), client.clone())),
        IntegrationKind::Email(c) => Arc::new(email::Notifier::new(c.clone())),
        IntegrationKind::Webhook(c) => Arc::new(webhook::Notifier::new(c.clone(), client.clone())),
        IntegrationKind::Sms(c) => Arc::new(sms::Notifier::new(c.clone(), client.clone())),
    }
}

/// Smallest spacing between two messages of one integration (a simple rate limit that keeps
/// Slack's and Twilio's one-message-per-second guidance; email and webhooks are not limited).
pub fn min_spacing(kind: &IntegrationKind) -> Duration {
    match kind {
        IntegrationKind::Slack(_) | IntegrationKind::Sms(_) => Duration::from_secs(1),
        _ => Duration::ZERO,
    }
}

#[cfg(test)]
mod conformance {
    //! One suite run against every notifier: a refusing server is not retried, a failing one
    //! is, a closed port is, and no error message contains a secret.
    use super::*;
    use crate::config::{EmailConfig, SlackConfig, SmsConfig, TlsMode, WebhookConfig};
    use axum::Router;
    use axum::http::StatusCode;
    use axum::routing::post;

    async fn server(status: u16) -> String {
        let app = Router::new().fallback(post(move || async move { (StatusCode::from_u16(status).unwrap(), "nope") }));
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
        format!("http://{addr}")
    }

    fn closed_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
    }

    fn notification() -> Notification {
        let labels: LabelSet = [("alertname".to_string(), "Down".to_string())].into();
        Notification {
            group_key: "{}:{}".into(),
            receiver: "r".into(),
            status: "firing".into(),
            group_labels: labels.clone(),
            common_labels: labels.clone(),
            common_annotations: LabelSet::new(),
            external_url: "http://lookout".into(),
            alerts: vec![AlertView {
                status: "firing".into(),
                labels,
                annotations: LabelSet::new(),
                starts_at: "2026-01-01T00:00:00Z".into(),
                ends_at: "0001-01-01T00:00:00Z".into(),
                generator_url: String::new(),
                fingerprint: "0123456789abcdef".into(),
                ack: None,
            }],
        }
    }

    const SECRET: &str = "SECRETTOKEN";

    fn kinds(base: &str, port: u16) -> Vec<IntegrationKind> {
        vec![
            IntegrationKind::Slack(SlackConfig { api_url: format!("{base}/services/{SECRET}"), channel: None, username: None }),
            IntegrationKind::Webhook(WebhookConfig { url: format!("{base}/hook?token={SECRET}"), max_alerts: 0 }),
            IntegrationKind::Sms(SmsConfig {
                api_url: base.to_string(),
                account_sid: "AC1".into(),
                auth_token: SECRET.into(),
                from: "+1".into(),
                to: vec!["+2".into()],
            }),
            IntegrationKind::Email(EmailConfig {
                to: "a@example.org".into(),
                from: "b@example.org".into(),
                host: "127.0.0.1".into(),
                port,
                hello: "localhost".into(),
                auth: Some(("user".into(), SECRET.into())),
                tls: TlsMode::None,
                insecure_skip_verify: false,
                ca_pem: None,
                server_name: None,
            }),
        ]
    }

    #[tokio::test]
    async fn every_notifier_classifies_failures_and_hides_secrets() {
        let client = http_client();
        let n = notification();
        let port = closed_port();
        for (status, retry) in [(400, false), (503, true), (429, true)] {
            let base = server(status).await;
            for k in kinds(&base, port).iter().filter(|k| k.name() != "email") {
                let e = build(k, &client).notify(&n).await.unwrap_err();
                assert_eq!(e.retry, retry, "{} on {status}: {e}", k.name());
                assert!(!e.message.contains(SECRET), "{}: {e}", k.name());
            }
        }
        let base = format!("http://127.0.0.1:{port}");
        for k in kinds(&base, port) {
            let e = build(&k, &client).notify(&n).await.unwrap_err();
            assert!(e.retry, "{} on a closed port: {e}", k.name());
            assert!(!e.message.contains(SECRET), "{}: {e}", k.name());
        }
    }
}

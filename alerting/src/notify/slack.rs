//! Slack incoming webhook: a Block Kit message with a header (`[FIRING:2] HighLatency`), one
//! section per alert (severity, summary, value, labels, a link to the alert in the UI), and a
//! context line saying who acknowledged. `text` carries the same title as the fallback Slack
//! shows in notifications. Slack answers `200 ok`; anything else is an error.

use serde_json::{Value, json};

use super::{Error, Notification, NotifyFuture};
use crate::config::SlackConfig;

/// At most this many alerts get their own section (Slack allows 50 blocks per message).
const MAX_ALERT_SECTIONS: usize = 20;

/// Posts to a Slack incoming webhook.
pub struct Notifier {
    cfg: SlackConfig,
    client: reqwest::Client,
}

impl Notifier {
    /// A notifier for one `slack_configs` entry.
    pub fn new(cfg: SlackConfig, client: reqwest::Client) -> Notifier {
        Notifier { cfg, client }
    }
}

/// Escapes Slack mrkdwn control characters.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max { s.to_string() } else { format!("{}…", s.chars().take(max - 1).collect::<String>()) }
}

/// The message body.
pub fn payload(cfg: &SlackConfig, n: &Notification) -> Value {
    let title = n.title();
    let firing = n.firing().count() > 0;
    let icon = if firing { ":red_circle:" } else { ":large_green_circle:" };
    let mut blocks = vec![json!({"type": "header", "text": {"type": "plain_text", "text": clip(&title, 150), "emoji": true}})];
    for a in n.alerts.iter().take(MAX_ALERT_SECTIONS) {
        let name = a.labels.get("alertname").map(String::as_str).unwrap_or("alert");
        let mut text = format!("{icon} *<{}|{}>* — {}", n.alert_url(a), esc(name), a.status);
        if let Some(sev) = a.labels.get("severity") {
            text.push_str(&format!("\n*Severity:* {}", esc(sev)));
        }
        if let Some(s) = a.annotations.get("summary").or_else(|| a.annotations.get("description")) {
            text.push_str(&format!("\n*Summary:* {}", esc(s)));
        }
        if let Some(v) = a.annotations.get("value") {
            text.push_str(&format!("\n*Value:* {}", esc(v)));
        }
        let labels: Vec<String> =
            a.labels.iter().filter(|(k, _)| *k != "alertname").map(|(k, v)| format!("`{}={}`", esc(k), esc(v))).collect();
        if !labels.is_empty() {
            text.push_str(&format!("\n*Labels:* {}", labels.join(" ")));
        }
        if let Some(ack) = &a.ack {
            text.push_str(&format!("\n:white_check_mark: Acknowledged by *{}*", esc(&ack.by)));
            if !ack.comment.is_empty() {
                text.push_str(&format!(": {}", esc(&ack.comment)));
            }
        }
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": clip(&text, 3000)}}));
    }
    if n.alerts.len() > MAX_ALERT_SECTIONS {
        blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": format!("and {} more alerts", n.alerts.len() - MAX_ALERT_SECTIONS)}]}));
    }
    if let Some(ack) = n.ack_line() {
        blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": esc(&ack)}]}));
    }
    let mut body = json!({"text": title, "blocks": blocks});
    if let Some(c) = &cfg.channel {
        body["channel"] = json!(c);
    }
    if let Some(u) = &cfg.username {
        body["username"] = json!(u);
    }
    body
}

impl super::Notifier for Notifier {
    fn notify<'a>(&'a self, n: &'a Notification) -> NotifyFuture<'a> {
        Box::pin(async move {
            let resp = self
                .client
                .post(&self.cfg.api_url)
                .json(&payload(&self.cfg, n))
                .send()
                .await
                .map_err(|e| Error::from_reqwest("slack", e))?;
            let status = resp.status();
            let body = resp.text().await.unwrap_or_default();
            if status.is_success() {
                return Ok(());
            }
            Err(Error::from_status("slack", status, &body))
        })
    }
}

//! Generic webhook: Alertmanager's webhook JSON (`version` "4"), so anything written for
//! Alertmanager's webhook receiver works unchanged. Alerts carry an extra `ack` object when
//! acknowledged. `max_alerts` truncates and reports `truncatedAlerts`.

use serde_json::{Value, json};

use super::{Error, Notification, NotifyFuture};
use crate::config::WebhookConfig;

/// Posts Alertmanager's webhook JSON.
pub struct Notifier {
    cfg: WebhookConfig,
    client: reqwest::Client,
}

impl Notifier {
    /// A notifier for one `webhook_configs` entry.
    pub fn new(cfg: WebhookConfig, client: reqwest::Client) -> Notifier {
        Notifier { cfg, client }
    }
}

/// The message body.
pub fn payload(n: &Notification, max_alerts: u64) -> Value {
    let keep = if max_alerts == 0 { n.alerts.len() } else { (max_alerts as usize).min(n.alerts.len()) };
    json!({
        "version": "4",
        "groupKey": n.group_key,
        "truncatedAlerts": n.alerts.len() - keep,
        "status": n.status,
        "receiver": n.receiver,
        "groupLabels": n.group_labels,
        "commonLabels": n.common_labels,
        "commonAnnotations": n.common_annotations,
        "externalURL": n.external_url,
        "alerts": &n.alerts[..keep],
    })
}

impl super::Notifier for Notifier {
    fn notify<'a>(&'a self, n: &'a Notification) -> NotifyFuture<'a> {
        Box::pin(async move {
            let resp = self
                .client
                .post(&self.cfg.url)
                .json(&payload(n, self.cfg.max_alerts))
                .send()
                .await
                .map_err(|e| Error::from_reqwest("webhook", e))?;
            let status = resp.status();
            if status.is_success() {
                return Ok(());
            }
            Err(Error::from_status("webhook", status, &resp.text().await.unwrap_or_default()))
        })
    }
}

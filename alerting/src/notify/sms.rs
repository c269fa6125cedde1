//! SMS through a Twilio-compatible REST API: `POST {api_url}/2010-04-01/Accounts/{sid}/Messages.json`
//! with form fields `To`, `From`, `Body` and basic auth `sid:token`, one request per recipient.
//!
//! The body fits one SMS segment: 160 characters when every character is in the GSM 03.38
//! alphabet, else 70 (UCS-2); longer text is cut and ends with "...".

use super::{Error, Notification, NotifyFuture};
use crate::config::SmsConfig;

/// Sends SMS.
pub struct Notifier {
    cfg: SmsConfig,
    client: reqwest::Client,
}

impl Notifier {
    /// A notifier for one `sms_configs` entry.
    pub fn new(cfg: SmsConfig, client: reqwest::Client) -> Notifier {
        Notifier { cfg, client }
    }
}

const GSM: &str =
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";

/// Whether the text can be sent in the GSM 7-bit alphabet.
pub fn is_gsm(s: &str) -> bool {
    s.chars().all(|c| GSM.contains(c))
}

/// Cuts `s` to one segment (160 GSM characters or 70 UCS-2 characters).
pub fn fit_segment(s: &str) -> String {
    let max = if is_gsm(s) { 160 } else { 70 };
    if s.chars().count() <= max {
        return s.to_string();
    }
    format!("{}...", s.chars().take(max - 3).collect::<String>().trim_end())
}

/// The message text.
pub fn body(n: &Notification) -> String {
    let mut s = n.title();
    if let Some(a) = n.alerts.first() {
        if let Some(sev) = a.labels.get("severity") {
            s.push_str(&format!(" ({sev})"));
        }
        if let Some(sum) = a.annotations.get("summary") {
            s.push_str(&format!(": {sum}"));
        }
        if let Some(ack) = n.ack_line() {
            s.push_str(&format!(". {ack}"));
        }
        s.push(' ');
        s.push_str(&n.alert_url(a));
    }
    fit_segment(&s)
}

impl super::Notifier for Notifier {
    fn notify<'a>(&'a self, n: &'a Notification) -> NotifyFuture<'a> {
        Box::pin(async move {
            let url = format!("{}/2010-04-01/Accounts/{}/Messages.json", self.cfg.api_url, self.cfg.account_sid);
            let text = body(n);
            for to in &self.cfg.to {
                let resp = self
                    .client
                    .post(&url)
                    .basic_auth(&self.cfg.account_sid, Some(&self.cfg.auth_token))
                    .form(&[("To", to.as_str()), ("From", self.cfg.from.as_str()), ("Body", text.as_str())])
                    .send()
                    .await
                    .map_err(|e| Error::from_reqwest("sms", e))?;
                let status = resp.status();
                if !status.is_success() {
                    return Err(Error::from_status("sms", status, &resp.text().await.unwrap_or_default()));
                }
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_160_gsm_or_70_unicode() {
        let long = "x".repeat(200);
        assert_eq!(fit_segment(&long).chars().count(), 160);
        assert!(fit_segment(&long).ends_with("..."));
        let uni = "🔥".repeat(100);
        assert_eq!(fit_segment(&uni).chars().count(), 70);
        assert_eq!(fit_segment("short"), "short");
        assert!(is_gsm("Disk 95% full @ db-1") && !is_gsm("naïve ✓"));
    }
}

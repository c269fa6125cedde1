//! Email over SMTP with lettre: a multipart/alternative message (plain text and HTML) per
//! notification. Connection security is `none` (plain text), `starttls`
//! (required) or `tls` (implicit, port 465 by default), with optional authentication.
//! Transient SMTP replies (4xx) and connection failures are retried; permanent ones (5xx) not.

use lettre::message::{Mailbox, MultiPart, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::{Error, Notification, NotifyFuture};
use crate::config::{EmailConfig, TlsMode};

/// Sends email.
pub struct Notifier {
    cfg: EmailConfig,
}

impl Notifier {
    /// A notifier for one `email_configs` entry.
    pub fn new(cfg: EmailConfig) -> Notifier {
        Notifier { cfg }
    }

    fn transport(&self) -> Result<AsyncSmtpTransport<Tokio1Executor>, Error> {
        let c = &self.cfg;
        let params = || {
            let mut b = TlsParameters::builder(c.server_name.clone().unwrap_or_else(|| c.host.clone()))
                .dangerous_accept_invalid_certs(c.insecure_skip_verify);
            if let Some(pem) = &c.ca_pem {
                let cert = lettre::transport::smtp::client::Certificate::from_pem(pem)
                    .map_err(|e| Error::fatal(format!("email: tls_config.ca_file: {e}")))?;
                b = b.add_root_certificate(cert);
            }
            b.build().map_err(|e| Error::fatal(format!("email: TLS setup: {e}")))
        };
        let tls = match c.tls {
            TlsMode::None => Tls::None,
            TlsMode::StartTls => Tls::Required(params()?),
            TlsMode::Tls => Tls::Wrapper(params()?),
        };
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&c.host)
            .port(c.port)
            .tls(tls)
            .hello_name(ClientId::Domain(c.hello.clone()))
            .timeout(Some(std::time::Duration::from_secs(20)));
        if let Some((u, p)) = &c.auth {
            b = b.credentials(Credentials::new(u.clone(), p.clone()));
        }
        Ok(b.build())
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Plain-text and HTML bodies.
pub fn bodies(n: &Notification) -> (String, String) {
    let mut text = format!("{}\n\n", n.title());
    let mut html = format!("<html><body><h2>{}</h2>", html_escape(&n.title()));
    if let Some(ack) = n.ack_line() {
        text.push_str(&format!("{ack}\n\n"));
        html.push_str(&format!("<p><b>{}</b></p>", html_escape(&ack)));
    }
    for a in &n.alerts {
        let url = n.alert_url(a);
        text.push_str(&format!("- {} [{}]\n", a.labels.get("alertname").map(String::as_str).unwrap_or("alert"), a.status));
        html.push_str(&format!(
            "<h3><a href=\"{}\">{}</a> — {}</h3><ul>",
            html_escape(&url),
            html_escape(a.labels.get("alertname").map(String::as_str).unwrap_or("alert")),
            a.status
        ));
        for (k, v) in &a.annotations {
            text.push_str(&format!("  {k}: {v}\n"));
            html.push_str(&format!("<li><b>{}</b>: {}</li>", html_escape(k), html_escape(v)));
        }
        let labels: Vec<String> = a.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        text.push_str(&format!("  labels: {}\n  started: {}\n  {url}\n\n", labels.join(", "), a.starts_at));
        html.push_str(&format!("<li>labels: <code>{}</code></li><li>started: {}</li></ul>", html_escape(&labels.join(", ")), a.starts_at));
    }
    html.push_str("</body></html>");
    (text, html)
}

fn mailboxes(list: &str) -> Result<Vec<Mailbox>, Error> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<Mailbox>().map_err(|e| Error::fatal(format!("email: invalid address {s:?}: {e}"))))
        .collect()
}

impl super::Notifier for Notifier {
    fn notify<'a>(&'a self, n: &'a Notification) -> NotifyFuture<'a> {
        Box::pin(async move {
            let from: Mailbox = self.cfg.from.parse().map_err(|e| Error::fatal(format!("email: invalid from {:?}: {e}", self.cfg.from)))?;
            let mut msg = Message::builder().from(from).subject(n.title());
            for to in mailboxes(&self.cfg.to)? {
                msg = msg.to(to);
            }
            let (text, html) = bodies(n);
            let msg = msg
                .multipart(MultiPart::alternative_plain_html(text, html))
                .map_err(|e| Error::fatal(format!("email: cannot build message: {e}")))?;
            let _ = ContentType::TEXT_PLAIN;
            match self.transport()?.send(msg).await {
                Ok(_) => Ok(()),
                Err(e) => {
                    let retry = !e.is_permanent();
                    Err(Error { retry, message: format!("email: {e}") })
                }
            }
        })
    }
}

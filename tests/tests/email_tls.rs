//! Email over STARTTLS and over implicit TLS: a real SMTP conversation with a local aiosmtpd
//! (Debian python3-aiosmtpd) holding a certificate from a CA made here with rcgen, which Lookout
//! trusts through `tls_config.ca_file` and verifies against `tls_config.server_name`, with AUTH
//! inside the encrypted session.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use serde_json::{Value, json};
use tests::{Aggregator, Proc, client, free_port, wait_for};

const SMTP_TLS_SERVER: &str = r#"
import sys, ssl, time
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import AuthResult
mode, port, maildir, cert, key, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6], sys.argv[7]
ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain(cert, key)
def check(server, session, envelope, mechanism, auth_data):
    return AuthResult(success=(auth_data.login == user.encode() and auth_data.password == password.encode()))
if mode == "starttls":
    c = Controller(Mailbox(maildir), hostname="127.0.0.1", port=port, authenticator=check, auth_required=True,
                   tls_context=ctx, require_starttls=True)
else:
    # The whole session is TLS, but aiosmtpd only counts STARTTLS as TLS for AUTH: allow it.
    c = Controller(Mailbox(maildir), hostname="127.0.0.1", port=port, authenticator=check, auth_required=True,
                   ssl_context=ctx, auth_require_tls=False)
c.start()
print("ready", mode, file=sys.stderr, flush=True)
while True:
    time.sleep(3600)
"#;

fn python_with_aiosmtpd() -> Option<&'static str> {
    ["python3", "/usr/bin/python3"].into_iter().find(|p| {
        Command::new(p).args(["-c", "import aiosmtpd"]).stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
    })
}

/// (CA PEM, server certificate PEM, server key PEM) for localhost.
fn certificates() -> (String, String, String) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "Mail test CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    leaf.distinguished_name.push(DnType::CommonName, "localhost");
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = leaf.signed_by(&key, &Issuer::from_params(&ca, &ca_key)).unwrap();
    (ca_cert.pem(), cert.pem(), key.serialize_pem())
}

fn messages(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for sub in ["new", "cur"] {
        for e in std::fs::read_dir(dir.join(sub)).into_iter().flatten().flatten() {
            out.push(std::fs::read_to_string(e.path()).unwrap_or_default());
        }
    }
    out
}

fn deliver_over(mode: &str) {
    let Some(python) = python_with_aiosmtpd() else {
        assert!(std::env::var("CI").is_err(), "python3-aiosmtpd is missing: run scripts/install-test-deps.sh");
        eprintln!("skipping: python3-aiosmtpd missing");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (ca, cert, key) = certificates();
    std::fs::write(d.join("ca.crt"), ca).unwrap();
    std::fs::write(d.join("server.crt"), cert).unwrap();
    std::fs::write(d.join("server.key"), key).unwrap();
    std::fs::write(d.join("smtp.py"), SMTP_TLS_SERVER).unwrap();
    std::fs::write(d.join("smtp-password"), "s3cret-pw\n").unwrap();
    let port = free_port();
    let maildir = d.join("maildir");
    let smtp = Proc::start(
        Path::new(python),
        &[
            d.join("smtp.py").to_str().unwrap(),
            mode,
            &port.to_string(),
            maildir.to_str().unwrap(),
            d.join("server.crt").to_str().unwrap(),
            d.join("server.key").to_str().unwrap(),
            "alerts",
            "s3cret-pw",
        ],
        d,
        &d.join("smtp.log"),
    );
    wait_for("the SMTP server", Duration::from_secs(20), || {
        let log = smtp.log_text();
        assert!(!log.contains("Traceback"), "the SMTP server failed:\n{log}");
        log.contains("ready").then_some(())
    });
    let am = format!(
        r#"
global:
  smtp_smarthost: 127.0.0.1:{port}
  smtp_from: lookout@example.org
route:
  receiver: mail
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: mail
    email_configs:
      - to: oncall@example.org
        tls_mode: {mode}
        tls_config:
          ca_file: ca.crt
          server_name: localhost
        auth_username: alerts
        auth_password_file: smtp-password
"#
    );
    std::fs::write(d.join("alertmanager.yml"), am).unwrap();
    std::fs::write(d.join("lookout.toml"), "alerting_config = \"alertmanager.yml\"\n").unwrap();
    let check =
        Command::new(tests::bin("lookout")).args(["check-config", "--config"]).arg(d.join("lookout.toml")).current_dir(d).output().unwrap();
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
    let agg = Aggregator::start(&d.join("data"), free_port(), &["--config", d.join("lookout.toml").to_str().unwrap()]);
    let name = format!("MailOver{}", mode.to_uppercase());
    let r = client()
        .post(format!("{}/api/v2/alerts", agg.url))
        .json(&json!([{"labels": {"alertname": name, "severity": "page"}, "annotations": {"summary": "disk full"}}]))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let mail = wait_for("the email", Duration::from_secs(60), || {
        let found = messages(&maildir).into_iter().find(|m| m.contains(&name));
        if found.is_none() {
            let log: Value = client().get(format!("{}/api/v1/notifications", agg.url)).send().ok()?.json().ok()?;
            let failed = log["notifications"].as_array()?.iter().find(|n| n["outcome"] == "failed").cloned();
            assert!(failed.is_none(), "delivery failed: {failed:?}\nSMTP log:\n{}\nlookout log:\n{}", smtp.log_text(), agg.proc.log_text());
        }
        found
    });
    assert!(mail.contains("oncall@example.org") && mail.contains("disk full"), "{mail}");
    assert!(mail.contains("text/plain") && mail.contains("text/html"), "both parts: {mail}");
    let log: Value = client().get(format!("{}/api/v1/notifications", agg.url)).send().unwrap().json().unwrap();
    let sent = log["notifications"].as_array().unwrap().iter().any(|n| n["integration"] == "email" && n["outcome"] == "sent");
    assert!(sent, "{log}");
}

#[test]
fn email_is_delivered_over_starttls_to_a_relay_with_a_private_ca() {
    deliver_over("starttls");
}

#[test]
fn email_is_delivered_over_implicit_tls_to_a_relay_with_a_private_ca() {
    deliver_over("tls");
}

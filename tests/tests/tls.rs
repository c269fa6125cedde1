//! TLS on the aggregator's listener and in the agent's sinks, and secrets only from files or
//! the environment. Every certificate is made here with rcgen; every process is the real binary.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SerialNumber};
use tests::{Proc, bin, free_port, wait_for};

/// A certificate authority made for one test.
struct Ca {
    params: CertificateParams,
    key: KeyPair,
    pem: String,
}

/// A certificate with its key.
struct Leaf {
    cert_pem: String,
    key_pem: String,
    der: Vec<u8>,
}

impl Ca {
    fn new(cn: &str) -> Ca {
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, cn);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let cert = params.self_signed(&key).expect("CA certificate");
        Ca { pem: cert.pem(), params, key }
    }

    /// A server certificate for 127.0.0.1 and localhost, or a client certificate.
    fn issue(&self, cn: &str, serial: u64, server: bool) -> Leaf {
        let key = KeyPair::generate().expect("leaf key");
        let sans = if server { vec!["127.0.0.1".to_string(), "localhost".to_string()] } else { Vec::new() };
        let mut p = CertificateParams::new(sans).expect("leaf params");
        p.distinguished_name.push(DnType::CommonName, cn);
        p.serial_number = Some(SerialNumber::from(serial));
        p.extended_key_usages = vec![if server { ExtendedKeyUsagePurpose::ServerAuth } else { ExtendedKeyUsagePurpose::ClientAuth }];
        p.use_authority_key_identifier_extension = true;
        let cert = p.signed_by(&key, &Issuer::from_params(&self.params, &self.key)).expect("leaf certificate");
        Leaf { cert_pem: cert.pem(), key_pem: key.serialize_pem(), der: cert.der().to_vec() }
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write file");
    p
}

/// A blocking client trusting only `ca_pem`, presenting `identity` if given. A new client per
/// call: no pooled connection hides what a new handshake would see.
fn tls_client(ca_pem: &str, identity: Option<&Leaf>) -> reqwest::blocking::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut b = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(20))
        .tls_info(true)
        .tls_certs_only([reqwest::Certificate::from_pem(ca_pem.as_bytes()).expect("CA PEM")]);
    if let Some(l) = identity {
        b = b.identity(reqwest::Identity::from_pem(format!("{}\n{}", l.cert_pem, l.key_pem).as_bytes()).expect("identity"));
    }
    b.build().expect("client")
}

/// The whole error chain as text.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(x) = src {
        s.push_str(": ");
        s.push_str(&x.to_string());
        src = x.source();
    }
    s
}

/// GET `url` with `c`: the status and the server's leaf certificate, or the error text.
fn get(c: &reqwest::blocking::Client, url: &str) -> Result<(u16, Vec<u8>), String> {
    let r = c.get(url).send().map_err(|e| chain(&e))?;
    let cert = r.extensions().get::<reqwest::tls::TlsInfo>().and_then(|i| i.peer_certificate()).map(<[u8]>::to_vec).unwrap_or_default();
    let status = r.status().as_u16();
    // Reading the body is where a TLS 1.3 server's rejection of the client certificate shows.
    r.bytes().map_err(|e| chain(&e))?;
    Ok((status, cert))
}

/// A `lookout serve` with `[tls]` (and anything else in `extra_toml`).
struct TlsAggregator {
    proc: Proc,
    /// `https://127.0.0.1:PORT`
    url: String,
    config: PathBuf,
    /// A viewer token (authentication is on, as in production).
    viewer_token: String,
    /// An ingest token for agents.
    ingest_token: String,
}

/// `lookout token create NAME --role ROLE` against `data`.
fn create_token(data: &Path, name: &str, role: &str) -> String {
    let out = Command::new(bin("lookout"))
        .args(["token", "create", name, "--role", role, "--data-dir", data.to_str().expect("utf-8")])
        .output()
        .expect("lookout token create");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

impl TlsAggregator {
    fn start(dir: &Path, listen_ip: &str, tls_toml: &str, ready: &reqwest::blocking::Client) -> TlsAggregator {
        let port = free_port();
        let config = write(
            dir,
            "lookout.toml",
            &format!("listen = \"{listen_ip}:{port}\"\ndata_dir = {:?}\n\n[tls]\n{tls_toml}\n", dir.join("data").display().to_string()),
        );
        let viewer_token = create_token(&dir.join("data"), "tls-viewer", "viewer");
        let ingest_token = create_token(&dir.join("data"), "tls-agent", "ingest");
        let proc = Proc::start(&bin("lookout"), &["serve", "--config", config.to_str().expect("utf-8")], dir, &dir.join("lookout.log"));
        let url = format!("https://127.0.0.1:{port}");
        wait_for("lookout to answer over TLS", Duration::from_secs(60), || {
            get(ready, &format!("{url}/health/ready")).ok().filter(|(s, _)| *s == 200)
        });
        TlsAggregator { proc, url, config, viewer_token, ingest_token }
    }

    /// A sample of the server's own `/metrics` (read with the viewer token).
    fn metric(&self, c: &reqwest::blocking::Client, name: &str) -> Option<f64> {
        let text = c.get(format!("{}/metrics", self.url)).bearer_auth(&self.viewer_token).send().ok()?.text().ok()?;
        text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
    }

    fn count(&self, c: &reqwest::blocking::Client, q: &str) -> u64 {
        let r = c
            .get(format!("{}/api/v1/logs/search", self.url))
            .query(&[("q", q), ("limit", "1")])
            .bearer_auth(&self.viewer_token)
            .send()
            .expect("search over TLS");
        assert!(r.status().is_success(), "search failed: {}", r.status());
        let v: serde_json::Value = r.json().expect("search JSON");
        v["total"].as_u64().expect("total")
    }
}

/// Server certificate files `server.crt`/`server.key` in `dir`.
fn install_server_cert(dir: &Path, leaf: &Leaf) {
    write(dir, "server.crt", &leaf.cert_pem);
    write(dir, "server.key", &leaf.key_pem);
}

#[test]
fn serves_tls_to_clients_trusting_its_ca_and_refuses_the_others() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = Ca::new("Lookout Test CA");
    let other = Ca::new("Some Other CA");
    install_server_cert(dir.path(), &ca.issue("lookout-server", 1, true));
    let good = tls_client(&ca.pem, None);
    // Listening on every address with TLS: no insecure-listener warning.
    let agg = TlsAggregator::start(
        dir.path(),
        "0.0.0.0",
        "cert_file = \"server.crt\"\nkey_file = \"server.key\"\nhandshake_timeout_secs = 30\n",
        &good,
    );
    let (status, _) = get(&good, &format!("{}/health/ready", agg.url)).expect("trusted client");
    assert_eq!(status, 200);

    let err =
        get(&tls_client(&other.pem, None), &format!("{}/health/ready", agg.url)).expect_err("a client trusting another CA must be refused");
    assert!(err.to_lowercase().contains("certificate"), "not a certificate error: {err}");
    // Plain HTTP to the TLS port gets no HTTP answer.
    let plain = tests::client().get(format!("http://127.0.0.1:{}/health/ready", agg.url.rsplit(':').next().unwrap())).send();
    assert!(plain.is_err() || !plain.unwrap().status().is_success(), "plain HTTP was answered on the TLS port");
    // Both refusals are counted on /metrics.
    wait_for("2 failed handshakes on /metrics", Duration::from_secs(20), || {
        agg.metric(&good, "lookout_tls_handshake_failures_total").filter(|&n| n >= 2.0)
    });

    // A client that connects and never starts its handshake delays nobody else.
    let port: u16 = agg.url.rsplit(':').next().unwrap().parse().unwrap();
    let silent: Vec<TcpStream> = (0..5).map(|_| TcpStream::connect(("127.0.0.1", port)).expect("connect")).collect();
    let started = Instant::now();
    let (status, _) = get(&good, &format!("{}/health/ready", agg.url)).expect("request next to silent connections");
    assert_eq!(status, 200);
    assert!(started.elapsed() < Duration::from_secs(10), "a silent client blocked the listener for {:?}", started.elapsed());
    drop(silent);

    let log = agg.proc.log_text();
    assert!(!log.contains("INSECURE"), "warned about plain HTTP while serving TLS:\n{log}");
    let _ = agg.config;
}

#[test]
fn serve_warns_loudly_without_tls_on_a_non_loopback_address() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let listen = format!("0.0.0.0:{port}");
    let data = dir.path().join("data");
    let p = Proc::start(
        &bin("lookout"),
        &["serve", "--listen", &listen, "--data-dir", data.to_str().unwrap()],
        dir.path(),
        &dir.path().join("lookout.log"),
    );
    let c = tests::client();
    wait_for("lookout ready", Duration::from_secs(60), || {
        c.get(format!("http://127.0.0.1:{port}/health/ready")).send().ok().filter(|r| r.status().is_success())
    });
    let log = p.log_text();
    assert!(log.contains("INSECURE") && log.contains("WITHOUT TLS") && log.contains("[tls]"), "no loud warning:\n{log}");
}

#[test]
fn mutual_tls_accepts_only_client_certificates_of_the_client_ca() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server_ca = Ca::new("Server CA");
    let client_ca = Ca::new("Agents CA");
    let rogue_ca = Ca::new("Rogue CA");
    install_server_cert(dir.path(), &server_ca.issue("lookout-server", 1, true));
    write(dir.path(), "agents-ca.crt", &client_ca.pem);
    let agent_cert = client_ca.issue("agent-1", 10, false);
    let good = tls_client(&server_ca.pem, Some(&agent_cert));
    let agg = TlsAggregator::start(
        dir.path(),
        "127.0.0.1",
        "cert_file = \"server.crt\"\nkey_file = \"server.key\"\nclient_ca_file = \"agents-ca.crt\"\n",
        &good,
    );
    let url = format!("{}/health/ready", agg.url);
    assert_eq!(get(&good, &url).expect("client certificate of the client CA").0, 200);

    let err = get(&tls_client(&server_ca.pem, None), &url).expect_err("no client certificate must be refused");
    assert!(!err.is_empty());
    let rogue = rogue_ca.issue("agent-1", 10, false);
    let err = get(&tls_client(&server_ca.pem, Some(&rogue)), &url).expect_err("a client certificate of another CA must be refused");
    assert!(!err.is_empty());
    // Any certificate the client CA signed is accepted: the chain is checked, not the name.
    assert_eq!(get(&tls_client(&server_ca.pem, Some(&client_ca.issue("agent-2", 11, false))), &url).expect("second agent").0, 200);
}

#[test]
fn sighup_loads_a_new_certificate_and_keeps_the_old_one_when_the_new_is_broken() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = Ca::new("Reload CA");
    let first = ca.issue("lookout-first", 1001, true);
    install_server_cert(dir.path(), &first);
    let c = || tls_client(&ca.pem, None);
    let agg = TlsAggregator::start(dir.path(), "127.0.0.1", "cert_file = \"server.crt\"\nkey_file = \"server.key\"\n", &c());
    let url = format!("{}/health/ready", agg.url);
    assert_eq!(get(&c(), &url).expect("first").1, first.der, "serves the first certificate");

    let second = ca.issue("lookout-second", 1002, true);
    install_server_cert(dir.path(), &second);
    agg.proc.signal(libc::SIGHUP);
    wait_for("new connections to see the second certificate", Duration::from_secs(20), || {
        get(&c(), &url).ok().filter(|(_, der)| *der == second.der)
    });

    // A broken certificate file: logged, and the second certificate stays.
    write(dir.path(), "server.crt", "-----BEGIN CERTIFICATE-----\nnot base64 at all\n");
    agg.proc.signal(libc::SIGHUP);
    wait_for("the failed reload to be logged", Duration::from_secs(20), || agg.proc.log_text().contains("TLS reload failed").then_some(()));
    let (status, der) = get(&c(), &url).expect("still serving after a broken reload");
    assert_eq!((status, der == second.der), (200, true), "the running certificate must stay");

    // A valid certificate whose key does not match: same.
    let third = ca.issue("lookout-third", 1003, true);
    write(dir.path(), "server.crt", &third.cert_pem);
    agg.proc.signal(libc::SIGHUP);
    wait_for("the second failed reload to be logged", Duration::from_secs(20), || {
        (agg.proc.log_text().matches("TLS reload failed").count() >= 2).then_some(())
    });
    assert!(agg.proc.log_text().contains("does not belong to the certificate"), "{}", agg.proc.log_text());
    assert_eq!(get(&c(), &url).expect("still serving").1, second.der);
    assert_eq!(agg.metric(&c(), "lookout_tls_reload_failures_total"), Some(2.0), "failed reloads are counted");
}

/// A tiny HTTP/1.1 receiver (the stand-in for a third-party OTLP endpoint) that records the
/// `Authorization` header of every request and answers 200.
fn header_recorder() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let s = s.clone();
            std::thread::spawn(move || {
                let mut r = BufReader::new(conn.try_clone().expect("clone"));
                let mut w = conn;
                loop {
                    let mut auth = String::from("<none>");
                    let mut len = 0usize;
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    loop {
                        line.clear();
                        if r.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let l = line.trim_end();
                        if l.is_empty() {
                            break;
                        }
                        if let Some((k, v)) = l.split_once(':') {
                            if k.eq_ignore_ascii_case("authorization") {
                                auth = v.trim().to_string();
                            }
                            if k.eq_ignore_ascii_case("content-length") {
                                len = v.trim().parse().unwrap_or(0);
                            }
                        }
                    }
                    let mut body = vec![0; len];
                    if r.read_exact(&mut body).is_err() {
                        return;
                    }
                    s.lock().unwrap().push(auth);
                    if w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, seen)
}

#[test]
fn agent_ships_every_line_over_mutual_tls_and_sends_its_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let server_ca = Ca::new("Server CA");
    let client_ca = Ca::new("Agents CA");
    install_server_cert(d, &server_ca.issue("lookout-server", 1, true));
    write(d, "agents-ca.crt", &client_ca.pem);
    let agent_cert = client_ca.issue("agent-1", 10, false);
    write(d, "server-ca.crt", &server_ca.pem);
    write(d, "agent.crt", &agent_cert.cert_pem);
    write(d, "agent.key", &agent_cert.key_pem);
    let token = write(d, "token", "first-token\n");
    let c = tls_client(&server_ca.pem, Some(&agent_cert));
    let agg = TlsAggregator::start(
        d,
        "127.0.0.1",
        "cert_file = \"server.crt\"\nkey_file = \"server.key\"\nclient_ca_file = \"agents-ca.crt\"\n",
        &c,
    );
    let (mock_port, seen) = header_recorder();

    let logs = d.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let n: u64 = 3000;
    tests::append_lines(&logs.join("app.log"), &(0..n).map(|i| tests::test_line("tls", 0, i)).collect::<Vec<_>>());
    let agent_toml = write(
        d,
        "agent.toml",
        &format!(
            r#"data_dir = {data:?}
listen = "127.0.0.1:{agent_port}"

[sources.app]
type = "file"
include = [{include:?}]
read_from = "beginning"
glob_interval_ms = 100

[sinks.central]
type = "lookout"
inputs = ["app"]
endpoint = "{url}"
retry_initial_backoff_ms = 50
retry_max_backoff_secs = 0.5
batch = {{ timeout_secs = 0.1, max_events = 500 }}
tls = {{ ca_file = "server-ca.crt", cert_file = "agent.crt", key_file = "agent.key" }}
auth = {{ token_env = "LOOKOUT_TOKEN" }}

[sinks.thirdparty]
type = "otlp"
inputs = ["app"]
endpoint = "http://127.0.0.1:{mock_port}"
batch = {{ timeout_secs = 0.1 }}
auth = {{ token_file = {token:?} }}
"#,
            data = d.join("agent-data").display().to_string(),
            agent_port = free_port(),
            include = logs.join("*.log").display().to_string(),
            url = agg.url,
            token = token.display().to_string(),
        ),
    );
    // Relative TLS paths in agent.toml are relative to the agent's working directory (d).
    let check = Command::new(bin("lookout-agent"))
        .args(["check-config", "--config", agent_toml.to_str().unwrap()])
        .current_dir(d)
        .env("LOOKOUT_TOKEN", &agg.ingest_token)
        .output()
        .unwrap();
    assert!(check.status.success(), "check-config: {}", String::from_utf8_lossy(&check.stderr));
    let err = std::fs::File::create(d.join("agent.log")).unwrap();
    let mut child = Command::new(bin("lookout-agent"))
        .args(["run", "--config", agent_toml.to_str().unwrap()])
        .current_dir(d)
        .env("RUST_LOG", "info")
        .env("LOOKOUT_TOKEN", &agg.ingest_token)
        .stdout(std::process::Stdio::null())
        .stderr(err)
        .spawn()
        .expect("start agent");
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait_for("every line to arrive over mutual TLS", Duration::from_secs(60), || (agg.count(&c, "file:tls") >= n).then_some(()));
        std::thread::sleep(Duration::from_millis(1500));
        assert_eq!(agg.count(&c, "file:tls"), n, "every line exactly once");
        wait_for("the third-party sink to deliver", Duration::from_secs(30), || (!seen.lock().unwrap().is_empty()).then_some(()));
        assert!(seen.lock().unwrap().iter().all(|a| a == "Bearer first-token"), "{:?}", seen.lock().unwrap());
        // A renewed token file is read on SIGHUP (the agent restarts its sinks).
        std::fs::write(&token, "second-token\n").unwrap();
        // SAFETY: kill(2) on our child.
        unsafe { libc::kill(child.id() as i32, libc::SIGHUP) };
        wait_for("the agent to reload", Duration::from_secs(30), || {
            std::fs::read_to_string(d.join("agent.log")).unwrap_or_default().contains("reloading configuration").then_some(())
        });
        tests::append_lines(&logs.join("app.log"), &(n..n + 100).map(|i| tests::test_line("tls", 0, i)).collect::<Vec<_>>());
        wait_for("the lines after the reload", Duration::from_secs(60), || (agg.count(&c, "file:tls") >= n + 100).then_some(()));
        wait_for("the renewed token", Duration::from_secs(30), || {
            seen.lock().unwrap().last().is_some_and(|a| a == "Bearer second-token").then_some(())
        });
        std::thread::sleep(Duration::from_millis(1500));
        assert_eq!(agg.count(&c, "file:tls"), n + 100, "every line exactly once across the reload");
    }));
    let _ = child.kill();
    let _ = child.wait();
    if let Err(e) = result {
        eprintln!("agent log:\n{}", std::fs::read_to_string(d.join("agent.log")).unwrap_or_default());
        eprintln!("lookout log:\n{}", agg.proc.log_text());
        std::panic::resume_unwind(e);
    }
}

fn check_config(dir: &Path, config: &Path, env: &[(&str, &str)]) -> (bool, String) {
    let mut cmd = Command::new(bin("lookout"));
    cmd.args(["check-config", "--config", config.to_str().unwrap()]).current_dir(dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run check-config");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn check_config_validates_the_tls_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let ca = Ca::new("Check CA");
    let leaf = ca.issue("s", 1, true);
    write(d, "server.crt", &leaf.cert_pem);
    write(d, "server.key", &leaf.key_pem);
    write(d, "ca.crt", &ca.pem);
    let cfg = write(
        d,
        "lookout.toml",
        "listen = \"127.0.0.1:9400\"\n[tls]\ncert_file = \"server.crt\"\nkey_file = \"server.key\"\nclient_ca_file = \"ca.crt\"\n",
    );
    let (ok, out) = check_config(d, &cfg, &[]);
    assert!(ok, "{out}");

    let cfg = write(d, "lookout.toml", "listen = \"127.0.0.1:9400\"\n[tls]\ncert_file = \"missing.crt\"\nkey_file = \"server.key\"\n");
    let (ok, out) = check_config(d, &cfg, &[]);
    assert!(!ok && out.contains("lookout.toml:3") && out.contains("tls.cert_file") && out.contains("missing.crt"), "{out}");

    // A key of another certificate.
    write(d, "other.key", &ca.issue("t", 2, true).key_pem);
    let cfg = write(d, "lookout.toml", "[tls]\ncert_file = \"server.crt\"\nkey_file = \"other.key\"\n");
    let (ok, out) = check_config(d, &cfg, &[]);
    assert!(!ok && out.contains("lookout.toml:3") && out.contains("tls.key_file") && out.contains("does not belong"), "{out}");

    // A private key where the CA bundle should be.
    let cfg = write(d, "lookout.toml", "[tls]\ncert_file = \"server.crt\"\nkey_file = \"server.key\"\nclient_ca_file = \"server.key\"\n");
    let (ok, out) = check_config(d, &cfg, &[]);
    assert!(!ok && out.contains("tls.client_ca_file") && out.contains("no certificate found"), "{out}");
}

#[test]
fn check_config_rejects_inline_secrets_in_the_alerting_config_unless_allowed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let secret_url = "https://hooks.slack.com/services/T000/B000/XXXXSECRETXXXX";
    let am = |slack: &str, extra: &str| {
        format!(
            "route:\n  receiver: team\nreceivers:\n  - name: team\n    slack_configs:\n      - channel: '#ops'\n        {slack}\n{extra}"
        )
    };
    write(d, "alertmanager.yml", &am(&format!("api_url: {secret_url}"), ""));
    let cfg = write(d, "lookout.toml", "alerting_config = \"alertmanager.yml\"\n");
    let (ok, out) = check_config(d, &cfg, &[]);
    assert!(!ok, "an inline Slack URL was accepted:\n{out}");
    assert!(out.contains("alertmanager.yml:7") && out.contains("receivers[0].slack_configs[0].api_url"), "{out}");
    assert!(out.contains("api_url_file") && out.contains("${SLACK_API_URL}") && out.contains("allow_inline_secrets"), "{out}");
    assert!(!out.contains("SECRET"), "the error repeats the secret:\n{out}");
    // `serve` refuses to start with it too.
    let serve = Command::new(bin("lookout"))
        .args(["serve", "--config", cfg.to_str().unwrap(), "--listen", &format!("127.0.0.1:{}", free_port())])
        .args(["--data-dir", d.join("data").to_str().unwrap()])
        .current_dir(d)
        .output()
        .expect("run serve");
    let text = String::from_utf8_lossy(&serve.stderr);
    assert!(!serve.status.success() && text.contains("receivers[0].slack_configs[0].api_url"), "serve started:\n{text}");

    // The development switch accepts it.
    let cfg = write(d, "lookout.toml", "alerting_config = \"alertmanager.yml\"\n[security]\nallow_inline_secrets = true\n");
    let (ok, out) = check_config(d, &cfg, &[]);
    assert!(ok, "{out}");

    // From a file, or from the environment: accepted without the switch.
    let cfg = write(d, "lookout.toml", "alerting_config = \"alertmanager.yml\"\n");
    write(d, "slack-url", secret_url);
    write(d, "alertmanager.yml", &am("api_url_file: slack-url", ""));
    let (ok, out) = check_config(d, &cfg, &[]);
    assert!(ok, "{out}");
    write(d, "alertmanager.yml", &am("api_url: ${SLACK_URL}", ""));
    let (ok, out) = check_config(d, &cfg, &[("SLACK_URL", secret_url)]);
    assert!(ok, "{out}");

    // Passwords, tokens, and webhook URLs that carry credentials; a plain webhook URL is no secret.
    let text = format!(
        "{}\n  - name: mail\n    email_configs:\n      - to: a@example.com\n        from: l@example.com\n        smarthost: 127.0.0.1:25\n        auth_username: lookout\n        auth_password: hunter2\n  - name: hooks\n    webhook_configs:\n      - url: http://127.0.0.1:9/plain\n      - url: https://user:pw@example.com/hook\n  - name: phone\n    sms_configs:\n      - account_sid: AC123\n        auth_token: twilio-token\n        from: '+15550000'\n        to: '+15551111'\n",
        am("api_url_file: slack-url", "").trim_end()
    );
    write(d, "alertmanager.yml", &text);
    let (ok, out) = check_config(d, &cfg, &[]);
    assert!(!ok, "{out}");
    for key in
        ["receivers[1].email_configs[0].auth_password", "receivers[2].webhook_configs[1].url", "receivers[3].sms_configs[0].auth_token"]
    {
        assert!(out.contains(key), "no error for {key}:\n{out}");
    }
    assert!(!out.contains("webhook_configs[0]"), "a webhook URL without credentials was rejected:\n{out}");
    assert!(!out.contains("hunter2") && !out.contains("twilio-token") && !out.contains(":pw@"), "secrets repeated:\n{out}");
    assert_eq!(out.lines().filter(|l| l.contains("alertmanager.yml:")).count(), 3, "{out}");
}

#[test]
fn agent_check_config_rejects_inline_credentials_and_bad_tls_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let run = |text: &str| {
        let p = write(d, "agent.toml", text);
        let out =
            Command::new(bin("lookout-agent")).args(["check-config", "--config", p.to_str().unwrap()]).current_dir(d).output().unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stderr).to_string())
    };
    let base = "[sources.app]\ntype = \"file\"\ninclude = [\"/tmp/x.log\"]\n[sinks.c]\ntype = \"lookout\"\ninputs = [\"app\"]\nendpoint = \"https://127.0.0.1:9400\"\n";
    let (ok, out) = run(&format!("{base}auth = {{ token = \"s3cr3t\" }}\n"));
    assert!(!ok && out.contains("sinks.c.auth.token") && out.contains("token_file") && !out.contains("s3cr3t"), "{out}");
    let (ok, out) = run(&format!("{base}[sinks.c.tls]\nca_file = \"nope.crt\"\n"));
    assert!(!ok && out.contains("agent.toml:9") && out.contains("sinks.c.tls.ca_file") && out.contains("nope.crt"), "{out}");
    let (ok, out) = run(&format!("{base}[sinks.c.tls]\ninsecure_skip_verify = true\n"));
    assert!(!ok && out.contains("insecure_skip_verify"), "{out}");
    let (ok, out) = run(
        "[sources.app]\ntype = \"file\"\ninclude = [\"/tmp/x.log\"]\n[sinks.o]\ntype = \"otlp\"\ninputs = [\"app\"]\nendpoint = \"http://127.0.0.1:4318\"\nheaders = { Authorization = \"Bearer s3cr3t\" }\n",
    );
    assert!(!ok && out.contains("sinks.o.headers.Authorization") && out.contains("auth.token_file") && !out.contains("s3cr3t"), "{out}");
    let ca = Ca::new("Agent check CA");
    write(d, "ca.crt", &ca.pem);
    write(d, "tok", "abc\n");
    let (ok, out) = run(&format!("{base}tls = {{ ca_file = \"ca.crt\" }}\nauth = {{ token_file = \"tok\" }}\n"));
    assert!(ok, "{out}");
}

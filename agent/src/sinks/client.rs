//! How the HTTP sinks (`lookout`, `otlp`, `prometheus_remote_write`) connect: TLS trust and
//! client certificates, and the bearer token.
//!
//! ```toml
//! [sinks.central]
//! type = "lookout"
//! inputs = ["app"]
//! endpoint = "https://lookout.example.net:9400"
//! tls = { ca_file = "/etc/lookout-agent/ca.crt", cert_file = "/etc/lookout-agent/agent.crt", key_file = "/etc/lookout-agent/agent.key" }
//! auth = { token_file = "/etc/lookout-agent/token" }     # or: auth = { token_env = "LOOKOUT_TOKEN" }
//! ```
//!
//! `tls.ca_file` adds the CAs of a PEM bundle to the system's trusted roots; `cert_file` and
//! `key_file` (both or neither) are the client certificate presented for mutual TLS. There is
//! no switch that turns certificate verification off. The token goes out as
//! `Authorization: Bearer <token>`; it is read from a file or an environment variable, never
//! from agent.toml itself: an inline `token`, an `Authorization` header in `headers`, or a
//! password in the endpoint URL are configuration errors. Files are read when the sink starts,
//! so SIGHUP (which restarts the sinks) picks up a renewed certificate or token.

use std::path::{Path, PathBuf};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};

/// `tls` of an HTTP sink.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// Extra trusted CA certificates (PEM bundle), on top of the system's roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Client certificate chain (PEM), for servers that require one.
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    /// Private key of `cert_file` (PEM).
    #[serde(default)]
    pub key_file: Option<PathBuf>,
}

/// `auth` of an HTTP sink: where the bearer token comes from.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// A file holding the token (surrounding whitespace is ignored).
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// An environment variable holding the token.
    #[serde(default)]
    pub token_env: Option<String>,
    /// Accepted by the parser only to be rejected with advice: tokens never live in agent.toml.
    #[serde(default, skip_serializing)]
    pub token: Option<String>,
}

/// Everything a sink needs to build its client, read from the files at start.
#[derive(Debug, Default)]
pub struct Connection {
    /// Extra roots.
    pub roots: Vec<reqwest::Certificate>,
    /// Client certificate.
    pub identity: Option<reqwest::Identity>,
    /// `Authorization` header value.
    pub authorization: Option<String>,
}

/// Reads a PEM file of certificates; at least one is required.
fn read_certs(path: &Path) -> Result<(Vec<u8>, Vec<CertificateDer<'static>>), String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: not a valid PEM file: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate found (expected a PEM block `-----BEGIN CERTIFICATE-----`)", path.display()));
    }
    Ok((pem, certs))
}

impl TlsConfig {
    /// Checks the files: `(key relative to the sink, problem)`.
    pub fn validate(&self, endpoint: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if self != &TlsConfig::default() && endpoint.starts_with("http://") {
            out.push(("tls".into(), "is set but the endpoint is http://; use an https:// endpoint".into()));
        }
        if let Err((k, m)) = self.load() {
            out.push((k, m));
        }
        out
    }

    /// Reads the files into reqwest's types; `Err((key, problem))`.
    pub fn load(&self) -> Result<(Vec<reqwest::Certificate>, Option<reqwest::Identity>), (String, String)> {
        let mut roots = Vec::new();
        if let Some(ca) = &self.ca_file {
            let key = || "tls.ca_file".to_string();
            let (_, certs) = read_certs(ca).map_err(|m| (key(), m))?;
            let mut store = rustls::RootCertStore::empty();
            for c in certs {
                store.add(c.clone()).map_err(|e| (key(), format!("{}: not a usable CA certificate: {e}", ca.display())))?;
                roots.push(reqwest::Certificate::from_der(&c).map_err(|e| (key(), format!("{}: {e}", ca.display())))?);
            }
        }
        let identity = match (&self.cert_file, &self.key_file) {
            (None, None) => None,
            (Some(_), None) => return Err(("tls.key_file".into(), "tls.cert_file is set without tls.key_file".into())),
            (None, Some(_)) => return Err(("tls.cert_file".into(), "tls.key_file is set without tls.cert_file".into())),
            (Some(cert), Some(key_path)) => {
                let (cert_pem, certs) = read_certs(cert).map_err(|m| ("tls.cert_file".to_string(), m))?;
                let key_pem = std::fs::read(key_path)
                    .map_err(|e| ("tls.key_file".to_string(), format!("cannot read {}: {e}", key_path.display())))?;
                let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
                    let m = match e {
                        rustls::pki_types::pem::Error::NoItemsFound => "no private key found".to_string(),
                        e => format!("not a valid PEM file: {e}"),
                    };
                    ("tls.key_file".to_string(), format!("{}: {m}", key_path.display()))
                })?;
                rustls::sign::CertifiedKey::from_der(certs, key, &rustls::crypto::ring::default_provider()).map_err(|e| {
                    let m = match e {
                        rustls::Error::InconsistentKeys(_) => "does not belong to the certificate in tls.cert_file".to_string(),
                        e => format!("cannot be used with tls.cert_file: {e}"),
                    };
                    ("tls.key_file".to_string(), format!("the key in {} {m}", key_path.display()))
                })?;
                // reqwest reads the key and the chain from one PEM buffer.
                let mut both = cert_pem;
                both.push(b'\n');
                both.extend_from_slice(&key_pem);
                Some(reqwest::Identity::from_pem(&both).map_err(|e| ("tls.cert_file".to_string(), format!("{}: {e}", cert.display())))?)
            }
        };
        Ok((roots, identity))
    }
}

impl AuthConfig {
    /// Checks where the token comes from: `(key relative to the sink, problem)`.
    pub fn validate(&self) -> Vec<(String, String)> {
        match self.authorization() {
            Ok(_) => Vec::new(),
            Err(p) => vec![p],
        }
    }

    /// Reads the token into an `Authorization` header value.
    pub fn authorization(&self) -> Result<String, (String, String)> {
        if self.token.is_some() {
            return Err((
                "auth.token".into(),
                "tokens are not written in agent.toml; put it in a file and set auth.token_file, or in an environment variable and set auth.token_env".into(),
            ));
        }
        let (key, token) = match (&self.token_file, &self.token_env) {
            (Some(_), Some(_)) => return Err(("auth".into(), "set auth.token_file or auth.token_env, not both".into())),
            (None, None) => return Err(("auth".into(), "set auth.token_file or auth.token_env".into())),
            (Some(f), None) => (
                "auth.token_file",
                std::fs::read_to_string(f).map_err(|e| ("auth.token_file".to_string(), format!("cannot read {}: {e}", f.display())))?,
            ),
            (None, Some(v)) => (
                "auth.token_env",
                std::env::var(v).map_err(|_| ("auth.token_env".to_string(), format!("environment variable {v} is not set")))?,
            ),
        };
        let token = token.trim();
        if token.is_empty() {
            return Err((key.into(), "the token is empty".into()));
        }
        let value = format!("Bearer {token}");
        if reqwest::header::HeaderValue::from_str(&value).is_err() {
            return Err((key.into(), "the token holds characters that cannot go in an HTTP header".into()));
        }
        Ok(value)
    }
}

/// Checks shared by the sinks: TLS files, token source, and no credentials written inline (in
/// `headers` or in the endpoint URL).
pub(crate) fn validate(
    endpoint: &str,
    tls: &TlsConfig,
    auth: Option<&AuthConfig>,
    headers: Option<&std::collections::BTreeMap<String, String>>,
) -> Vec<(String, String)> {
    let mut out = tls.validate(endpoint);
    if let Some(a) = auth {
        out.extend(a.validate());
    }
    for name in headers.into_iter().flat_map(|h| h.keys()) {
        if name.eq_ignore_ascii_case("authorization") || name.eq_ignore_ascii_case("proxy-authorization") {
            out.push((
                format!("headers.{name}"),
                "credentials are not written in agent.toml; use auth.token_file or auth.token_env (sent as `Authorization: Bearer …`)"
                    .into(),
            ));
        }
    }
    if let Ok(u) = reqwest::Url::parse(endpoint)
        && (!u.username().is_empty() || u.password().is_some())
    {
        out.push((
            "endpoint".into(),
            "holds a user name or password; credentials are not written in agent.toml, use auth.token_file or auth.token_env".into(),
        ));
    }
    out
}

/// Reads what a sink needs to connect.
pub(crate) fn connection(tls: &TlsConfig, auth: Option<&AuthConfig>) -> Result<Connection, String> {
    let (roots, identity) = tls.load().map_err(|(k, m)| format!("{k}: {m}"))?;
    let authorization = auth.map(AuthConfig::authorization).transpose().map_err(|(k, m)| format!("{k}: {m}"))?;
    Ok(Connection { roots, identity, authorization })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_token_and_authorization_header_and_url_password_are_rejected() {
        let auth = AuthConfig { token: Some("s3cret".into()), ..Default::default() };
        let mut headers = std::collections::BTreeMap::new();
        headers.insert("Authorization".to_string(), "Bearer s3cret".to_string());
        let p = validate("https://user:pw@h:1", &TlsConfig::default(), Some(&auth), Some(&headers));
        let keys: Vec<&str> = p.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["auth.token", "headers.Authorization", "endpoint"], "{p:?}");
        assert!(p.iter().all(|(_, m)| !m.contains("s3cret") && !m.contains("pw")), "{p:?}");
    }

    #[test]
    fn token_from_file_or_env() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("token");
        std::fs::write(&f, "abc123\n").unwrap();
        let a = AuthConfig { token_file: Some(f), ..Default::default() };
        assert_eq!(a.authorization().unwrap(), "Bearer abc123");
        let a = AuthConfig { token_env: Some("LOOKOUT_TEST_SURELY_UNSET_VAR".into()), ..Default::default() };
        let (k, m) = a.authorization().unwrap_err();
        assert_eq!(k, "auth.token_env");
        assert!(m.contains("LOOKOUT_TEST_SURELY_UNSET_VAR"), "{m}");
        let a = AuthConfig { token_file: Some(dir.path().join("nope")), ..Default::default() };
        assert_eq!(a.authorization().unwrap_err().0, "auth.token_file");
    }

    #[test]
    fn tls_files_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let garbage = dir.path().join("ca.pem");
        std::fs::write(&garbage, "hello\n").unwrap();
        let t = TlsConfig { ca_file: Some(garbage), ..Default::default() };
        let p = t.validate("https://h:1");
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].0, "tls.ca_file");
        assert!(p[0].1.contains("no certificate found"), "{p:?}");
        let t = TlsConfig { cert_file: Some(dir.path().join("c.pem")), ..Default::default() };
        assert_eq!(t.validate("https://h:1")[0].0, "tls.key_file");
        let t = TlsConfig { ca_file: Some(dir.path().join("missing.pem")), ..Default::default() };
        let p = t.validate("http://h:1");
        assert_eq!(p[0].0, "tls");
        assert!(p[1].1.contains("missing.pem"), "{p:?}");
    }
}

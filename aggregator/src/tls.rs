//! TLS on the aggregator's one listener (UI, APIs, ingest), with rustls and the ring provider.
//!
//! ```toml
//! [tls]
//! cert_file = "/etc/lookout/tls/server.crt"     # PEM: the certificate, then its chain
//! key_file = "/etc/lookout/tls/server.key"      # PEM: PKCS#8, PKCS#1 (RSA) or SEC1 (EC) key
//! client_ca_file = "/etc/lookout/tls/agents-ca.crt"  # optional: require client certificates
//! handshake_timeout_secs = 10                   # optional
//! ```
//!
//! Without `client_ca_file` any client may connect; with it, every connection must present a
//! certificate that chains to one of the CAs in that file (mutual TLS), or the handshake fails.
//!
//! **Accepting.** [`TlsListener`] is an [`axum::serve::Listener`], so `axum::serve` and its
//! graceful shutdown stay as they are. One task accepts TCP connections and hands each
//! handshake to a task of its own, bounded by `handshake_timeout_secs`, so a client that
//! connects and never speaks delays nobody else. Finished handshakes queue for `axum::serve`;
//! failed ones are logged at debug level and counted.
//!
//! **Reloading.** [`Tls::reload`] (on SIGHUP) reads the three files again and builds a new
//! rustls `ServerConfig`; connections accepted afterwards use it, established ones keep theirs.
//! If anything in the new files is wrong (missing, unparsable, key not matching the
//! certificate), the error is logged and the running configuration stays.

use prometheus_client::metrics::counter::Counter;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tracing::{debug, error, info, warn};

/// `[tls]` in lookout.toml. Relative paths are relative to the config file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain, leaf first.
    pub cert_file: PathBuf,
    /// PEM private key of the leaf certificate.
    pub key_file: PathBuf,
    /// PEM bundle of CAs whose client certificates are accepted; set, it makes client
    /// certificates mandatory (mutual TLS).
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
    /// Longest time a client may take to finish its handshake, seconds.
    #[serde(default = "default_handshake_timeout")]
    pub handshake_timeout_secs: u64,
}

fn default_handshake_timeout() -> u64 {
    10
}

/// Most handshakes in progress at once; further connections wait in the kernel's backlog.
const MAX_HANDSHAKES: usize = 1024;

/// A problem with one key of `[tls]`: `(key, message)`.
pub type Problem = (String, String);

impl TlsConfig {
    /// Makes relative paths relative to `base` (the config file's directory).
    pub fn resolve(&mut self, base: &Path) {
        for p in [Some(&mut self.cert_file), Some(&mut self.key_file), self.client_ca_file.as_mut()].into_iter().flatten() {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
    }

    /// Checks that the files exist, parse, and that the key belongs to the certificate.
    pub fn validate(&self, base: &Path) -> Vec<Problem> {
        let mut c = self.clone();
        c.resolve(base);
        let mut out = Vec::new();
        if c.handshake_timeout_secs == 0 {
            out.push(("tls.handshake_timeout_secs".into(), "must be positive".into()));
        }
        if let Err(p) = c.server_config() {
            out.push(p);
        }
        out
    }

    /// Reads the files into a rustls server configuration.
    pub fn server_config(&self) -> Result<ServerConfig, Problem> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let certs = read_certs(&self.cert_file).map_err(|m| ("tls.cert_file".to_string(), m))?;
        let key = read_key(&self.key_file).map_err(|m| ("tls.key_file".to_string(), m))?;
        let certified = rustls::sign::CertifiedKey::from_der(certs, key, &provider).map_err(|e| {
            let what = match e {
                rustls::Error::InconsistentKeys(_) => "does not belong to the certificate in tls.cert_file".to_string(),
                e => format!("cannot be used with the certificate in tls.cert_file: {e}"),
            };
            ("tls.key_file".to_string(), format!("the key in {} {what}", self.key_file.display()))
        })?;
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| ("tls".to_string(), format!("no usable TLS version: {e}")))?;
        let builder = match &self.client_ca_file {
            None => builder.with_no_client_auth(),
            Some(path) => {
                let key = || "tls.client_ca_file".to_string();
                let mut roots = rustls::RootCertStore::empty();
                for cert in read_certs(path).map_err(|m| (key(), m))? {
                    roots.add(cert).map_err(|e| (key(), format!("{}: not a usable CA certificate: {e}", path.display())))?;
                }
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                    .build()
                    .map_err(|e| (key(), format!("{}: {e}", path.display())))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder.with_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(certified)));
        // axum::serve speaks HTTP/1.1 only (no `http2` feature), so that is all we offer.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }
}

fn read_pem(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = read_pem(path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: not a valid PEM file: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate found (expected a PEM block `-----BEGIN CERTIFICATE-----`)", path.display()));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let pem = read_pem(path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => {
            format!("{}: no private key found (expected a PEM block `-----BEGIN PRIVATE KEY-----`, RSA or EC key)", path.display())
        }
        e => format!("{}: not a valid PEM file: {e}", path.display()),
    })
}

/// The running TLS configuration of the listener; swapped whole by [`Tls::reload`].
pub struct Tls {
    config: TlsConfig,
    current: RwLock<Arc<ServerConfig>>,
    /// Handshakes that failed or timed out (`lookout_tls_handshake_failures_total`).
    pub handshake_failures: Counter,
    /// Reloads that failed, the running configuration kept (`lookout_tls_reload_failures_total`).
    pub reload_failures: Counter,
}

impl Tls {
    /// Loads the files of `config` (paths already resolved); failures are counted on the two
    /// counters given (the aggregator's telemetry registers them).
    pub fn load(config: &TlsConfig, handshake_failures: Counter, reload_failures: Counter) -> anyhow::Result<Arc<Tls>> {
        let server = config.server_config().map_err(|(key, message)| anyhow::anyhow!("{key}: {message}"))?;
        info!(cert = %config.cert_file.display(), mtls = config.client_ca_file.is_some(), "TLS enabled");
        Ok(Arc::new(Tls { config: config.clone(), current: RwLock::new(Arc::new(server)), handshake_failures, reload_failures }))
    }

    /// Reads the files again; on any error keeps serving with the running configuration.
    pub fn reload(&self) -> Result<(), String> {
        match self.config.server_config() {
            Ok(server) => {
                *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(server);
                info!(cert = %self.config.cert_file.display(), "TLS certificate reloaded");
                Ok(())
            }
            Err((key, message)) => {
                self.reload_failures.inc();
                error!(key, error = %message, "TLS reload failed; keeping the running certificate");
                Err(format!("{key}: {message}"))
            }
        }
    }

    fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.current.read().unwrap_or_else(|p| p.into_inner()).clone())
    }

    fn handshake_timeout(&self) -> Duration {
        Duration::from_secs(self.config.handshake_timeout_secs.max(1))
    }
}

/// A TLS listener for `axum::serve`: TCP accepts in one task, each handshake in its own.
pub struct TlsListener {
    established: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
    accept_task: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    /// Starts accepting on `tcp`.
    pub fn new(tcp: TcpListener, tls: Arc<Tls>) -> std::io::Result<TlsListener> {
        let local = tcp.local_addr()?;
        let (tx, established) = mpsc::channel(64);
        let accept_task = tokio::spawn(accept_loop(tcp, tls, tx));
        Ok(TlsListener { established, local, accept_task })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        // Closes the TCP socket: nothing is accepted once `axum::serve` has let go of us.
        self.accept_task.abort();
    }
}

async fn accept_loop(tcp: TcpListener, tls: Arc<Tls>, tx: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>) {
    let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    loop {
        let Ok(permit) = handshakes.clone().acquire_owned().await else { return };
        let (stream, peer) = tokio::select! {
            _ = tx.closed() => return,
            r = tcp.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // As axum's own listener: per-connection errors are nothing, others
                    // (out of file descriptors) get a pause so the loop does not spin.
                    if !matches!(
                        e.kind(),
                        std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::ConnectionAborted | std::io::ErrorKind::ConnectionReset
                    ) {
                        error!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                    continue;
                }
            },
        };
        let acceptor = tls.acceptor();
        let timeout = tls.handshake_timeout();
        let tls = tls.clone();
        let tx = tx.clone();
        tokio::spawn(async move {
            let _permit = permit;
            match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
                Ok(Ok(s)) => {
                    let _ = tx.send((s, peer)).await;
                }
                Ok(Err(e)) => {
                    tls.handshake_failures.inc();
                    debug!(%peer, error = %e, "TLS handshake failed");
                }
                Err(_) => {
                    tls.handshake_failures.inc();
                    debug!(%peer, ?timeout, "TLS handshake timed out");
                }
            }
        });
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.established.recv().await {
            Some(c) => c,
            // The accept task only ends when this listener is dropped; never resolve.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

/// Serves `app` on `listener`, over TLS when `tls` is set, until `shutdown` resolves; then
/// finishes the requests in flight. Handlers can read the peer with
/// `ConnectInfo<SocketAddr>` either way.
pub async fn serve(
    listener: TcpListener,
    app: axum::Router,
    tls: Option<Arc<Tls>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    match tls {
        None => axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).with_graceful_shutdown(shutdown).await,
        Some(tls) => {
            // `tap_io` makes axum's `Connected` impl for `L::Addr` (the peer's SocketAddr) apply.
            let listener = axum::serve::ListenerExt::tap_io(TlsListener::new(listener, tls)?, |_| {});
            axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).with_graceful_shutdown(shutdown).await
        }
    }
}

/// Logs the warning `serve` gives on a non-loopback address without TLS.
pub fn warn_if_plaintext(addr: SocketAddr, tls: bool) {
    if !tls && !addr.ip().is_loopback() {
        warn!(
            %addr,
            "INSECURE: listening on a non-loopback address WITHOUT TLS: logs, metrics, alerts and any credentials \
             cross the network in clear text. Set [tls] cert_file and key_file in lookout.toml (see docs/operations.md)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_unparsable_files_name_the_key_and_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("garbage.pem"), "not a certificate\n").unwrap();
        let cfg = TlsConfig { cert_file: "missing.crt".into(), key_file: "k.pem".into(), client_ca_file: None, handshake_timeout_secs: 10 };
        let p = cfg.validate(dir.path());
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].0, "tls.cert_file");
        assert!(p[0].1.contains("missing.crt") && p[0].1.contains("cannot read"), "{p:?}");
        let cfg = TlsConfig { cert_file: "garbage.pem".into(), ..cfg };
        let p = cfg.validate(dir.path());
        assert_eq!(p[0].0, "tls.cert_file");
        assert!(p[0].1.contains("garbage.pem") && p[0].1.contains("no certificate found"), "{p:?}");
    }

    #[test]
    fn relative_paths_are_resolved_against_the_config_directory() {
        let mut cfg = TlsConfig {
            cert_file: "a.crt".into(),
            key_file: "/abs/k.pem".into(),
            client_ca_file: Some("ca.crt".into()),
            handshake_timeout_secs: 10,
        };
        cfg.resolve(Path::new("/etc/lookout"));
        assert_eq!(cfg.cert_file, Path::new("/etc/lookout/a.crt"));
        assert_eq!(cfg.key_file, Path::new("/abs/k.pem"));
        assert_eq!(cfg.client_ca_file.as_deref(), Some(Path::new("/etc/lookout/ca.crt")));
    }
}

//! Starting and stopping the aggregator, in one place (one lifecycle for every subsystem).
//!
//! Start: open the log index (its last commit says how far the WAL is indexed) → open the WAL
//! (recover, truncate a torn tail, learn the batch ids already stored) → hand the records after
//! the checkpoint to the indexer → listen. Ready is reported once the replay is handed over.
//! Stop: stop accepting connections and finish in-flight requests → the indexer commits and
//! stops. Whatever is acknowledged is already in the WAL, so a SIGKILL at any point loses
//! nothing: the next start replays it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use tokio::sync::oneshot;
use tracing::{info, warn};

use crate::config::Config;
use crate::http::{AppState, router};
use crate::ingest::Ingest;
use crate::logs::{IndexerMsg, LogStore};
use crate::telemetry::Telemetry;
use crate::wal::Wal;

/// A running aggregator.
pub struct Server {
    /// The address it listens on.
    pub addr: SocketAddr,
    stop_http: oneshot::Sender<()>,
    http: tokio::task::JoinHandle<()>,
    indexer: std::sync::mpsc::Sender<IndexerMsg>,
    stop_alerting: oneshot::Sender<()>,
    alerting: tokio::task::JoinHandle<()>,
    /// The alert dispatcher: an `AlertSink` for the rules engine.
    pub alert_sink: alerting::Dispatcher,
}

impl Server {
    /// Opens storage, replays the WAL and starts listening.
    pub async fn start(cfg: &Config, agent_telemetry: Option<agent::telemetry::Telemetry>) -> anyhow::Result<Server> {
        let telemetry = Telemetry::new();
        std::fs::create_dir_all(&cfg.data_dir).with_context(|| format!("cannot create data_dir {}", cfg.data_dir.display()))?;
        let (store, payload) = LogStore::open(&cfg.data_dir.join("logs"), telemetry.clone()).context("cannot open the log index")?;
        let store = Arc::new(store.with_retention(cfg.logs.retention()));
        let checkpoint = payload.wal_seq;
        let dedupe = payload.batches.clone();
        let indexer = store
            .start_indexer(payload, Duration::from_millis(cfg.logs.commit_interval_ms), cfg.logs.index_memory_mib << 20)
            .context("cannot start the log indexer")?;
        let to_indexer = indexer.clone();
        let pending = store.pending.clone();
        let lag = telemetry.logs_index_lag_events.clone();
        let (wal, recovery) = Wal::open(
            &cfg.data_dir.join("wal"),
            checkpoint,
            dedupe,
            store.indexed.clone(),
            telemetry.clone(),
            Box::new(move |records| {
                let n: u64 = records.iter().map(|r| r.events.len() as u64).sum();
                let now = pending.fetch_add(n, Ordering::AcqRel) + n;
                lag.set(now as i64);
                let _ = to_indexer.send(IndexerMsg::Records(records));
            }),
        )
        .context("cannot open the write-ahead log")?;
        if !recovery.replay.is_empty() {
            let n: u64 = recovery.replay.iter().map(|r| r.events.len() as u64).sum();
            info!(records = recovery.replay.len(), events = n, "replaying write-ahead log into the index");
            store.pending.fetch_add(n, Ordering::AcqRel);
            let _ = indexer.send(IndexerMsg::Records(recovery.replay.into_iter().map(Arc::new).collect()));
        }
        let ingest = Arc::new(Ingest::new(wal, store.clone(), telemetry.clone(), cfg.ingest.max_pending_events, cfg.ingest.max_body_bytes));
        let ready = Arc::new(AtomicBool::new(false));
        let metrics = crate::metrics_api::open(&cfg.data_dir, cfg).context("cannot open the metrics store")?;
        let listener = tokio::net::TcpListener::bind(&cfg.listen).await.with_context(|| format!("cannot listen on {}", cfg.listen))?;
        let addr = listener.local_addr()?;
        let alerting_cfg = match &cfg.alerting_config {
            Some(p) => alerting::config::Config::load(p).map_err(|e| anyhow::anyhow!("{e}"))?,
            None => alerting::config::Config::default_config(),
        };
        let dispatcher =
            alerting::open_dispatcher(alerting_cfg, &cfg.data_dir, format!("http://{addr}")).context("cannot open the alerting state")?;
        let (stop_alerting, alerting_stopped) = oneshot::channel::<()>();
        let alerting = tokio::spawn(dispatcher.clone().run(async {
            let _ = alerting_stopped.await;
        }));
        let state = AppState { ingest, store, telemetry, agent_telemetry, ready: ready.clone(), metrics, alerting: dispatcher.clone() };
        if !addr.ip().is_loopback() {
            warn!(%addr, "listening on a non-loopback address without TLS; anyone who can reach it can read and write logs");
        }
        let (stop_http, stopped) = oneshot::channel::<()>();
        let app = router(state);
        let http = tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
                tracing::error!(error = %e, "HTTP server failed");
            }
        });
        ready.store(true, Ordering::Release);
        info!(%addr, version = env!("CARGO_PKG_VERSION"), ui = query_ui::is_built(), "lookout listening");
        if !query_ui::is_built() {
            warn!("the web UI was not built into this binary; build it with: {}", query_ui::BUILD_HINT);
        }
        Ok(Server { addr, stop_http, http, indexer, stop_alerting, alerting, alert_sink: dispatcher })
    }

    /// Finishes in-flight requests (up to `deadline`), then commits the index and stops.
    pub async fn stop(self, deadline: Duration) {
        let _ = self.stop_http.send(());
        let mut http = self.http;
        if tokio::time::timeout(deadline, &mut http).await.is_err() {
            warn!("HTTP requests still running at the shutdown deadline; aborting them");
            http.abort();
        }
        let _ = self.stop_alerting.send(());
        let _ = self.alerting.await;
        let (done, wait) = std::sync::mpsc::channel();
        if self.indexer.send(IndexerMsg::Stop(done)).is_ok() {
            let _ = tokio::task::spawn_blocking(move || wait.recv_timeout(Duration::from_secs(30))).await;
        }
        info!("lookout stopped");
    }
}

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
    /// Shared state of the handlers (`lookout up` feeds its demo metrics through it).
    pub state: AppState,
    stop_agents: oneshot::Sender<()>,
    agents_task: tokio::task::JoinHandle<()>,
    storage_probe: tokio::task::JoinHandle<()>,
    stop_self_monitor: tokio::sync::watch::Sender<bool>,
    /// Rule evaluation, when rule files are configured.
    pub rules: Option<Arc<crate::rules_api::Rules>>,
    stop_alerting: oneshot::Sender<()>,
    alerting: tokio::task::JoinHandle<()>,
    /// The alert dispatcher: an `AlertSink` for the rules engine.
    pub alert_sink: alerting::Dispatcher,
}

impl Server {
    /// Opens storage, replays the WAL and starts listening.
    pub async fn start(cfg: &Config, agent_telemetry: Option<agent::telemetry::Telemetry>) -> anyhow::Result<Server> {
        let telemetry = Telemetry::new();
        telemetry.ingest_capacity_events_per_second.set(cfg.ingest.capacity_events_per_second as i64);
        std::fs::create_dir_all(&cfg.data_dir).with_context(|| format!("cannot create data_dir {}", cfg.data_dir.display()))?;
        let (store, payload) = LogStore::open(&cfg.data_dir.join("logs"), telemetry.clone()).context("cannot open the log index")?;
        let store = Arc::new(
            store
                .with_retention(cfg.logs.retention())
                .with_commit_stretch(Duration::from_millis(cfg.logs.commit_interval_max_ms.max(cfg.logs.commit_interval_ms))),
        );
        let checkpoint = payload.wal_seq;
        let dedupe = payload.batches.clone();
        let indexer = store
            .start_indexer_with_threads(
                payload,
                Duration::from_millis(cfg.logs.commit_interval_ms),
                cfg.logs.index_memory_mib << 20,
                cfg.logs.index_threads,
            )
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
        let tls = cfg
            .tls
            .as_ref()
            .map(|t| crate::tls::Tls::load(t, telemetry.tls_handshake_failures.clone(), telemetry.tls_reload_failures.clone()))
            .transpose()?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        // Dispatch (Alertmanager's job) runs in-process: rules hand their alerts to it, and
        // a Prometheus can post to its API v2.
        let alerting_cfg = match &cfg.alerting_config {
            Some(p) => alerting::config::Config::load_with(p, cfg.alerting_load_options()).map_err(|e| anyhow::anyhow!("{e}"))?,
            None => alerting::config::Config::default_config(),
        };
        let dispatcher = alerting::open_dispatcher(alerting_cfg, &cfg.data_dir, format!("{scheme}://{addr}"))
            .context("cannot open the alerting state")?;
        let (stop_alerting, alerting_stopped) = oneshot::channel::<()>();
        let alerting = tokio::spawn(dispatcher.clone().run(async {
            let _ = alerting_stopped.await;
        }));
        let rules = if cfg.rule_files.is_empty() {
            None
        } else {
            Some(crate::rules_api::Rules::start(cfg, metrics.clone(), store.clone(), Arc::new(dispatcher.clone()))?)
        };
        let agents = Arc::new(crate::agents::Agents::open(&cfg.data_dir));
        let dashboards = crate::dashboards::Source::resolve(cfg.dashboards_dir.as_deref(), std::path::Path::new("."));
        info!(source = ?dashboards, "dashboards");
        let storage_probe = crate::telemetry::spawn_storage_probe(telemetry.clone(), cfg.data_dir.clone(), Duration::from_secs(15));
        let auth = crate::auth::Auth::open(cfg.auth.clone(), &cfg.data_dir, cfg.tls.is_some()).context("cannot open the auth database")?;
        if !cfg.auth.enabled {
            warn!("authentication is disabled: anyone who can reach {addr} can read, write and change everything");
        }
        let state = AppState {
            ingest,
            store,
            telemetry,
            agent_telemetry,
            ready: ready.clone(),
            metrics,
            agents: agents.clone(),
            dashboards,
            rules: rules.clone(),
            alerting: dispatcher.clone(),
            alerting_config: cfg.alerting_config.clone(),
            auth,
        };
        // SIGHUP re-reads the TLS certificate, the rule files and the alerting config (the last
        // two as does POST /-/reload).
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).context("cannot listen for SIGHUP")?;
        let reload_state = state.clone();
        let reload_tls = tls.clone();
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                info!("SIGHUP: reloading TLS certificate, rules and alerting config");
                let s = reload_state.clone();
                let t = reload_tls.clone();
                let _ = tokio::task::spawn_blocking(move || {
                    if let Some(t) = t {
                        let _ = t.reload();
                    }
                    let r = crate::rules_api::reload_all(&s);
                    let after = match &r {
                        Ok(m) => serde_json::json!({ "result": m }),
                        Err(e) => serde_json::json!({ "error": e }),
                    };
                    let entry = crate::auth::store::AuditEntry {
                        actor: "signal:SIGHUP".into(),
                        addr: "local".into(),
                        action: "reload".into(),
                        after: Some(after),
                        status: if r.is_ok() { 200 } else { 400 },
                        ..Default::default()
                    };
                    if let Err(e) = s.auth.store.audit(entry) {
                        tracing::error!(error = %e, "cannot write the audit log");
                    }
                })
                .await;
            }
        });
        // The agent table is written every few seconds when it changed, and once more at stop.
        let (stop_agents, mut agents_stopped) = oneshot::channel::<()>();
        let agents_task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tokio::select! {
                    _ = &mut agents_stopped => break,
                    _ = tick.tick() => {
                        let a = agents.clone();
                        let _ = tokio::task::spawn_blocking(move || a.persist()).await;
                    }
                }
            }
            let _ = tokio::task::spawn_blocking(move || agents.persist()).await;
        });
        crate::tls::warn_if_plaintext(addr, tls.is_some());
        let (stop_http, stopped) = oneshot::channel::<()>();
        let app = router(state.clone());
        let http = tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(e) = crate::tls::serve(listener, app, tls, shutdown).await {
                tracing::error!(error = %e, "HTTP server failed");
            }
        });
        let (stop_self_monitor, self_monitor_stopped) = tokio::sync::watch::channel(false);
        if cfg.metrics.self_scrape_interval_secs > 0 {
            let every = Duration::from_secs(cfg.metrics.self_scrape_interval_secs);
            tokio::spawn(crate::self_monitor::run(state.clone(), addr.to_string(), every, self_monitor_stopped));
        }
        ready.store(true, Ordering::Release);
        info!(%addr, scheme, version = env!("CARGO_PKG_VERSION"), ui = query_ui::is_built(), "lookout listening");
        if !query_ui::is_built() {
            warn!("the web UI was not built into this binary; build it with: {}", query_ui::BUILD_HINT);
        }
        Ok(Server {
            addr,
            stop_http,
            http,
            indexer,
            state,
            stop_agents,
            agents_task,
            storage_probe,
            rules,
            stop_alerting,
            alerting,
            alert_sink: dispatcher,
            stop_self_monitor,
        })
    }

    /// Finishes in-flight requests (up to `deadline`), then commits the index and stops.
    pub async fn stop(self, deadline: Duration) {
        if let Some(r) = &self.rules {
            r.manager.stop();
        }
        let _ = self.stop_http.send(());
        let mut http = self.http;
        if tokio::time::timeout(deadline, &mut http).await.is_err() {
            warn!("HTTP requests still running at the shutdown deadline; aborting them");
            http.abort();
        }
        self.storage_probe.abort();
        let _ = self.stop_self_monitor.send(true);
        let _ = self.stop_agents.send(());
        let _ = self.agents_task.await;
        let _ = self.stop_alerting.send(());
        let _ = self.alerting.await;
        let (done, wait) = std::sync::mpsc::channel();
        if self.indexer.send(IndexerMsg::Stop(done)).is_ok() {
            let _ = tokio::task::spawn_blocking(move || wait.recv_timeout(Duration::from_secs(30))).await;
        }
        info!("lookout stopped");
    }
}

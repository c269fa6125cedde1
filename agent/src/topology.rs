//! Building and stopping the running graph of sources and sinks, in one place.
//!
//! `start` wires every source and transform to the transforms and sinks that name it in
//! `inputs` (a route's outputs as `ROUTE.OUTPUT`) through bounded channels and spawns each as a
//! task; `stop` signals shutdown, lets sources drain (they wait, up to the
//! drain timeout, for sinks to acknowledge what they sent, then write their checkpoints) and
//! then ends the sinks. Reload is stop-then-start with the new config: checkpoints and batch
//! sequences are on disk, so nothing is lost or repeated across it.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::config::AgentConfig;
use crate::delivery::EventBatch;
use crate::sinks::SinkContext;
use crate::sources::SourceContext;
use crate::telemetry::Telemetry;
use crate::transforms::TransformContext;

/// Batches in the channel in front of each sink's buffer (the buffer does the holding).
const CHANNEL_BATCHES: usize = 2;

/// A running agent pipeline.
pub struct Topology {
    shutdown: watch::Sender<bool>,
    sources: Vec<JoinHandle<()>>,
    sinks: Vec<JoinHandle<()>>,
}

/// Reads or creates the agent's stable id in `data_dir/agent-id`.
pub fn agent_id(data_dir: &Path) -> std::io::Result<String> {
    let path = data_dir.join("agent-id");
    if let Ok(s) = std::fs::read_to_string(&path) {
        let s = s.trim().to_string();
        if wire::BatchId::parse(&format!("{s}/x/1")).is_ok() {
            return Ok(s);
        }
        warn!(path = %path.display(), "agent-id file is not a valid id; making a new one");
    }
    let host: String = crate::host_name().chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').take(40).collect();
    let id = format!("{}-{:08x}", if host.is_empty() { "agent" } else { &host }, rand::random::<u32>());
    crate::sinks::lookout::write_atomic(&path, id.as_bytes())?;
    Ok(id)
}

impl Topology {
    /// Builds and starts every component of `cfg`.
    pub fn start(cfg: &AgentConfig, telemetry: &Telemetry, drain_timeout: Duration) -> anyhow::Result<Topology> {
        std::fs::create_dir_all(&cfg.data_dir).with_context(|| format!("cannot create data_dir {}", cfg.data_dir.display()))?;
        let agent_id = agent_id(&cfg.data_dir).context("cannot store the agent id")?;
        let host = cfg.host_name();
        let (shutdown, shutdown_rx) = watch::channel(false);
        let mut senders: BTreeMap<&str, Vec<mpsc::Sender<EventBatch>>> = BTreeMap::new();
        let mut sinks = Vec::new();
        for (name, sink) in &cfg.sinks {
            let (tx, rx) = mpsc::channel(CHANNEL_BATCHES);
            for input in sink.inputs() {
                senders.entry(input.as_str()).or_default().push(tx.clone());
            }
            let metrics = telemetry.component(sink.kind(), name);
            let (input, buffer) = sink
                .buffer()
                .spawn(&cfg.data_dir, name, rx, metrics.clone())
                .with_context(|| format!("cannot open the buffer of sink {name:?}"))?;
            sinks.push(buffer);
            let cx = SinkContext { name: name.clone(), agent_id: agent_id.clone(), data_dir: cfg.data_dir.clone(), metrics, input };
            sinks.push(tokio::spawn(sink.clone().run(cx)));
        }
        // Transforms: every consumer's channel exists before any producer takes its senders.
        let mut pending = Vec::new();
        for (name, t) in &cfg.transforms {
            let (tx, rx) = mpsc::channel(CHANNEL_BATCHES);
            for input in t.inputs() {
                senders.entry(input.as_str()).or_default().push(tx.clone());
            }
            pending.push((name, t, rx));
        }
        for (name, t, rx) in pending {
            if let crate::transforms::TransformConfig::Route(rc) = t {
                let outputs = rc.outputs().into_iter().map(|o| {
                    let consumers = senders.remove(format!("{name}.{o}").as_str()).unwrap_or_default();
                    (o, consumers)
                });
                let outputs = outputs.collect();
                tokio::spawn(crate::transforms::route::run(rc.clone(), name.clone(), telemetry.component(t.kind(), name), rx, outputs));
                continue;
            }
            let cx = TransformContext {
                name: name.clone(),
                metrics: telemetry.component(t.kind(), name),
                input: rx,
                outputs: senders.remove(name.as_str()).unwrap_or_default(),
            };
            if cx.outputs.is_empty() {
                warn!(transform = %name, "nothing takes this transform as input");
            }
            if let Some(f) = t.build() {
                tokio::spawn(crate::transforms::run(f, cx));
            }
        }
        let mut sources = Vec::new();
        for (name, source) in &cfg.sources {
            let cx = SourceContext {
                name: name.clone(),
                host: host.clone(),
                data_dir: cfg.data_dir.clone(),
                metrics: telemetry.component(source.kind(), name),
                telemetry: telemetry.clone(),
                outputs: senders.remove(name.as_str()).unwrap_or_default(),
                shutdown: shutdown_rx.clone(),
                drain_timeout,
            };
            if cx.outputs.is_empty() {
                warn!(source = %name, "no sink takes this source as input; it is not started");
                continue;
            }
            sources.push(tokio::spawn(source.clone().run(cx)));
        }
        info!(agent_id = %agent_id, sources = sources.len(), sinks = sinks.len(), "pipeline started");
        Ok(Topology { shutdown, sources, sinks })
    }

    /// Stops sources, lets sinks deliver what they hold for up to `deadline`, then ends them.
    pub async fn stop(self, deadline: Duration) {
        let _ = self.shutdown.send(true);
        let until = tokio::time::Instant::now() + deadline;
        for s in self.sources {
            let _ = s.await;
        }
        for mut s in self.sinks {
            if tokio::time::timeout_at(until, &mut s).await.is_err() {
                warn!("sink did not finish delivering before the drain deadline; undelivered lines will be read again after restart");
                s.abort();
            }
        }
        info!("pipeline stopped");
    }
}

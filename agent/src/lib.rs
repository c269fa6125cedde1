//! `lookout-agent`: follows log files on a host and ships them to Lookout.
//!
//! The agent is a small graph of Vector-style components — sources, transforms and sinks wired
//! by name in `agent.toml` — running as tokio tasks joined by bounded channels, so backpressure from a slow
//! aggregator reaches the file readers instead of growing memory. Delivery is at-least-once
//! from files (checkpoints move only past acknowledged batches) and exactly-once into Lookout:
//! each batch carries a `Lookout-Batch` id naming the file's content stream and the batch's end
//! offset, recorded in the checkpoint before it is sent, so batches re-sent after a crash are
//! recognised by the aggregator and stored once.
//!
//! The same library runs in-process inside `lookout up`.
#![warn(missing_docs)]

pub mod buffer;
pub mod checkpoint;
pub mod config;
pub mod delivery;
pub mod exposition;
pub mod metric;
pub mod rawlogs;
pub mod remote_write;
pub mod server;
pub mod sinks;
pub mod sources;
pub mod telemetry;
pub mod topology;
pub mod transforms;

pub use config::AgentConfig;
pub use topology::Topology;

/// The host name events are tagged with: `LOOKOUT_HOSTNAME` when set (a DaemonSet passes the
/// node name, since a pod's own host name is the pod's), else the kernel's, else `localhost`.
pub fn host_name() -> String {
    if let Some(h) = std::env::var("LOOKOUT_HOSTNAME").ok().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()) {
        return h;
    }
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// Installs rustls' `ring` crypto provider once per process (reqwest is built without one).
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Sets up `tracing` to stderr: human-readable, or JSON with `json = true`.
pub fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

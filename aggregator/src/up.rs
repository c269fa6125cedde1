//! `lookout up`: the all-in-one default. The aggregator with its storage under `./lookout-data`,
//! plus, in the same process, the demo workload and a real agent tailing it and shipping over
//! HTTP to the aggregator — the same path a production agent takes.

use std::path::{Path, PathBuf};
use std::time::Duration;

use agent::config::AgentConfig;
use agent::sinks::SinkConfig;
use agent::sources::SourceConfig;
use tokio::sync::watch;
use tracing::info;

use crate::config::Config;
use crate::server::Server;

/// The in-process agent's config: tail the demo logs, ship to this aggregator.
pub fn agent_config(data_dir: &Path, endpoint: &str) -> AgentConfig {
    let demo = data_dir.join("demo/logs");
    let text = format!(
        r#"
data_dir = {agent_dir:?}
[sources.demo]
type = "file"
include = [{glob:?}]
[sinks.aggregator]
type = "lookout"
inputs = ["demo"]
endpoint = {endpoint:?}
[sinks.aggregator.batch]
timeout_secs = 0.5
"#,
        agent_dir = data_dir.join("agent").display().to_string(),
        glob = demo.join("*.log").display().to_string(),
    );
    toml::from_str(&text).expect("built-in agent config is valid")
}

/// The rule files shipped in `rules/`, built into the binary so `lookout up` needs nothing else.
pub const SHIPPED_RULES: &[(&str, &str)] = &[
    ("lookout.yml", include_str!("../../rules/lookout.yml")),
    ("node.yml", include_str!("../../rules/node.yml")),
    ("logs.yml", include_str!("../../rules/logs.yml")),
    ("capacity.yml", include_str!("../../rules/capacity.yml")),
];

/// Writes the shipped rules under `data_dir/rules` (refreshed on every start) and returns their glob.
pub fn install_rules(data_dir: &Path) -> std::io::Result<String> {
    let dir = data_dir.join("rules");
    std::fs::create_dir_all(&dir)?;
    for (name, text) in SHIPPED_RULES {
        std::fs::write(dir.join(name), text)?;
    }
    Ok(dir.join("*.yml").display().to_string())
}

/// Runs until Ctrl-C or SIGTERM.
pub async fn run(mut cfg: Config, demo_lines_per_sec: u32) -> anyhow::Result<()> {
    std::fs::create_dir_all(&cfg.data_dir)?;
    cfg.data_dir = std::fs::canonicalize(&cfg.data_dir)?;
    if cfg.rule_files.is_empty() {
        cfg.rule_files = vec![install_rules(&cfg.data_dir)?];
        cfg.rules.evaluation_interval_secs = 15;
    }
    let telemetry = agent::telemetry::Telemetry::new();
    let server = Server::start(&cfg, Some(telemetry.clone())).await?;
    let endpoint = format!("http://{}", server.addr);
    let agent_cfg = agent_config(&cfg.data_dir, &endpoint);
    debug_assert!(matches!(agent_cfg.sources.get("demo"), Some(SourceConfig::File(_))));
    debug_assert!(matches!(agent_cfg.sinks.get("aggregator"), Some(SinkConfig::Lookout(_))));
    let (stop_demo, demo_stop) = watch::channel(false);
    let stop_metrics = demo_stop.clone();
    let demo = tokio::spawn(crate::demo::run(cfg.data_dir.join("demo/logs"), demo_lines_per_sec, demo_stop));
    let pipeline = agent::Topology::start(&agent_cfg, &telemetry, Duration::from_secs(5))?;
    let metrics = tokio::spawn(crate::demo::metrics(server.state.clone(), stop_metrics));
    let shown = if server.addr.ip().is_unspecified() { format!("http://127.0.0.1:{}", server.addr.port()) } else { endpoint.clone() };
    eprintln!("\n  Lookout is up: open {shown}/ in your browser  (data in {}, Ctrl-C to stop)\n", display(&cfg.data_dir));
    wait_for_signal().await?;
    info!("stopping");
    let _ = stop_demo.send(true);
    let _ = demo.await;
    let _ = metrics.await;
    pipeline.stop(Duration::from_secs(5)).await;
    server.stop(Duration::from_secs(10)).await;
    Ok(())
}

fn display(p: &Path) -> String {
    std::fs::canonicalize(p).unwrap_or_else(|_| PathBuf::from(p)).display().to_string()
}

/// Waits for SIGINT (Ctrl-C) or SIGTERM.
pub async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn shipped_rules_load() {
        for (name, text) in super::SHIPPED_RULES {
            let (groups, warnings) = alerting::rules::file::parse(std::path::Path::new(name), text).unwrap_or_else(|e| panic!("{e}"));
            assert!(!groups.is_empty() && warnings.is_empty(), "{name}: {warnings:?}");
        }
    }
}

//! The `lookout-agent` binary.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use agent::{AgentConfig, Topology, server, telemetry::Telemetry};
use clap::{Parser, Subcommand, ValueEnum};
use tokio::signal::unix::{SignalKind, signal};
use tracing::{error, info};

#[derive(Parser)]
#[command(name = "lookout-agent", version, about = "Tails logs and ships them to Lookout")]
struct Cli {
    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Human, global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the agent until SIGTERM or Ctrl-C; SIGHUP reloads the config.
    Run {
        /// Path to agent.toml.
        #[arg(long, short)]
        config: PathBuf,
        /// How long to wait on shutdown for in-flight batches to be acknowledged, in seconds.
        #[arg(long, default_value_t = 10.0)]
        drain_timeout: f64,
    },
    /// Validate a config file and exit (non-zero with file, line and key on error).
    CheckConfig {
        /// Path to agent.toml.
        #[arg(long, short)]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    agent::init_logging(matches!(cli.log_format, LogFormat::Json));
    agent::install_tls_provider();
    match cli.command {
        Command::CheckConfig { config } => match AgentConfig::load(&config) {
            Ok(_) => {
                println!("{}: ok", config.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        },
        Command::Run { config, drain_timeout } => {
            let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
            match rt.block_on(run(config, Duration::from_secs_f64(drain_timeout.max(0.0)))) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    error!("{e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

async fn run(path: PathBuf, drain: Duration) -> anyhow::Result<()> {
    let mut cfg = AgentConfig::load(&path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let telemetry = Telemetry::new();
    let health = server::Health::default();
    let listener = tokio::net::TcpListener::bind(&cfg.listen).await.map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", cfg.listen))?;
    info!(listen = %cfg.listen, version = env!("CARGO_PKG_VERSION"), "lookout-agent listening");
    let app = server::router(telemetry.clone(), health.clone());
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            error!(error = %e, "agent HTTP server failed");
        }
    });
    let mut topology = Topology::start(&cfg, &telemetry, drain)?;
    health.set_ready(true);
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => {
                match AgentConfig::load(&path) {
                    Ok(new) => {
                        if new.listen != cfg.listen {
                            tracing::warn!("listen address changes take effect on restart");
                        }
                        info!("reloading configuration");
                        health.set_ready(false);
                        topology.stop(drain).await;
                        topology = Topology::start(&new, &telemetry, drain)?;
                        cfg = new;
                        health.set_ready(true);
                    }
                    Err(e) => error!(error = %e, "new configuration is invalid; keeping the running one"),
                }
            }
        }
    }
    info!("shutting down");
    health.set_ready(false);
    topology.stop(drain).await;
    Ok(())
}

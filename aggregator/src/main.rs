//! The `lookout` binary.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use aggregator::config::Config;
use clap::{Parser, Subcommand, ValueEnum};
use tracing::error;

#[derive(Parser)]
#[command(name = "lookout", version, about = "Lookout: logs, metrics and alerts in one binary")]
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
    /// All in one: the aggregator with data in ./lookout-data, a demo workload and an agent.
    Up {
        /// Listen address (UI, APIs, ingest).
        #[arg(long, default_value = "127.0.0.1:9400")]
        listen: String,
        /// Data directory.
        #[arg(long, default_value = "./lookout-data")]
        data_dir: PathBuf,
        /// Demo log lines per second across all demo services.
        #[arg(long, default_value_t = 50)]
        demo_rate: u32,
    },
    /// Run the aggregator (production).
    Serve {
        /// Path to lookout.toml; without it, defaults are used.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Overrides `listen` from the file.
        #[arg(long)]
        listen: Option<String>,
        /// Overrides `data_dir` from the file.
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Validate lookout.toml and exit (non-zero with file, line and key on error).
    CheckConfig {
        /// Path to lookout.toml.
        #[arg(long, short)]
        config: PathBuf,
    },
}

fn load(config: Option<&PathBuf>) -> Result<Config, String> {
    match config {
        Some(p) => Config::load(p).map_err(|e| e.to_string()),
        None => Ok(Config::default()),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    agent::init_logging(matches!(cli.log_format, LogFormat::Json));
    agent::install_tls_provider();
    let result = match cli.command {
        Command::CheckConfig { config } => match Config::load(&config).map_err(|e| e.to_string()).and_then(|c| match &c.alerting_config {
            Some(p) => alerting::config::Config::load(p).map(|_| ()).map_err(|e| e.to_string()),
            None => Ok(()),
        }) {
            Ok(_) => {
                println!("{}: ok", config.display());
                return ExitCode::SUCCESS;
            }
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
        },
        Command::Serve { config, listen, data_dir } => {
            let mut cfg = match load(config.as_ref()) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::FAILURE;
                }
            };
            if let Some(l) = listen {
                cfg.listen = l;
            }
            if let Some(d) = data_dir {
                cfg.data_dir = d;
            }
            runtime().block_on(async {
                let server = aggregator::server::Server::start(&cfg, None).await?;
                aggregator::up::wait_for_signal().await?;
                server.stop(Duration::from_secs(10)).await;
                Ok::<_, anyhow::Error>(())
            })
        }
        Command::Up { listen, data_dir, demo_rate } => {
            let cfg = Config { listen, data_dir, ..Config::default() };
            runtime().block_on(aggregator::up::run(cfg, demo_rate))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime")
}

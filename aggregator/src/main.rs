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
    /// Only the demo workload: JSON logs of four services, rotated like logrotate, into a directory
    /// (the compose file's log writer; `up` runs the same workload in-process).
    Demo {
        /// Directory the demo services write their logs into.
        #[arg(long, default_value = "./demo-logs")]
        dir: PathBuf,
        /// Log lines per second across all demo services.
        #[arg(long, default_value_t = 50)]
        rate: u32,
    },
    /// Take a consistent backup of a data directory into DEST, also while `lookout` is running.
    Backup {
        /// Where the backup goes (must not exist, or be empty).
        dest: PathBuf,
        /// The data directory to back up.
        #[arg(long, default_value = "./lookout-data")]
        data_dir: PathBuf,
    },
    /// Rebuild a data directory from a backup made by `lookout backup`.
    Restore {
        /// The backup.
        src: PathBuf,
        /// The data directory to create (must not exist, or be empty).
        #[arg(long)]
        data_dir: PathBuf,
    },
    /// Validate lookout.toml and the rule files it names, and exit (non-zero with file, line and key on error).
    CheckConfig {
        /// Path to lookout.toml.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Rule files (Prometheus's format plus log rules).
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
}

#[derive(Subcommand)]
enum RulesCommand {
    /// Check rule files like `promtool check rules`: every error as FILE:LINE:COLUMN: REASON, exit 1 on any.
    Check {
        /// Rule files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

/// `lookout rules check`: prints every error of every file; warnings (duplicate rules) do not fail.
fn check_rules(files: &[PathBuf]) -> ExitCode {
    let mut failed = false;
    for f in files {
        println!("Checking {}", f.display());
        match alerting::rules::file::load_files(std::slice::from_ref(f)) {
            Ok((groups, warnings)) => {
                for w in warnings {
                    eprintln!("warning: {}", w.0);
                }
                let n: usize = groups.iter().map(|g| g.rules.len()).sum();
                println!("  SUCCESS: {n} rules found");
            }
            Err(errs) => {
                failed = true;
                println!("  FAILED:");
                for e in errs.0 {
                    eprintln!("{e}");
                }
            }
        }
    }
    if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS }
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
        Command::Rules { command: RulesCommand::Check { files } } => return check_rules(&files),
        Command::CheckConfig { config } => match Config::load(&config) {
            Ok(cfg) => {
                let rules =
                    alerting::rules::file::expand_globs(&cfg.rule_files).and_then(|files| alerting::rules::file::load_files(&files));
                if let Err(e) = rules {
                    eprintln!("{e}");
                    return ExitCode::FAILURE;
                }
                if let Some(p) = &cfg.alerting_config
                    && let Err(e) = alerting::config::Config::load(p)
                {
                    eprintln!("{e}");
                    return ExitCode::FAILURE;
                }
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
            // A relative dashboards_dir is relative to the config file, as `check-config` reads it.
            if let (Some(file), Some(dir)) = (config.as_ref(), cfg.dashboards_dir.as_ref())
                && dir.is_relative()
            {
                cfg.dashboards_dir = Some(file.parent().unwrap_or(std::path::Path::new(".")).join(dir));
            }
            // So is a relative alerting_config.
            if let (Some(file), Some(p)) = (config.as_ref(), cfg.alerting_config.as_ref())
                && p.is_relative()
            {
                cfg.alerting_config = Some(file.parent().unwrap_or(std::path::Path::new(".")).join(p));
            }
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
        Command::Backup { dest, data_dir } => {
            let started = std::time::Instant::now();
            match aggregator::backup::backup(&data_dir, &dest) {
                Ok(m) => {
                    let bytes: u64 = m.files.iter().map(|f| f.bytes).sum();
                    println!("backed up {} files, {bytes} bytes, to {} in {:.1?}", m.files.len(), dest.display(), started.elapsed());
                    return ExitCode::SUCCESS;
                }
                Err(e) => {
                    eprintln!("backup failed: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        Command::Restore { src, data_dir } => {
            let started = std::time::Instant::now();
            match aggregator::backup::restore(&src, &data_dir) {
                Ok(m) => {
                    println!("restored {} files into {} in {:.1?}", m.files.len(), data_dir.display(), started.elapsed());
                    return ExitCode::SUCCESS;
                }
                Err(e) => {
                    eprintln!("restore failed: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        Command::Demo { dir, rate } => runtime().block_on(async {
            let (stop, stopped) = tokio::sync::watch::channel(false);
            let demo = tokio::spawn(aggregator::demo::run(dir, rate, stopped));
            aggregator::up::wait_for_signal().await?;
            let _ = stop.send(true);
            let _ = demo.await;
            Ok::<_, anyhow::Error>(())
        }),
        Command::Up { listen, data_dir, demo_rate } => {
            let mut cfg = Config { listen, data_dir, ..Config::default() };
            cfg.metrics.self_scrape_interval_secs = 15;
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

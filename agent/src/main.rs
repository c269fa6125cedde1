//! The `lookout-agent` binary.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use agent::{AgentConfig, Topology, server, telemetry::Telemetry};
use clap::{Parser, Subcommand, ValueEnum};
use tokio::signal::unix::{SignalKind, signal};
use tracing::{error, info};

/// mimalloc: events are allocated by the source task and freed by the sink task, often on
/// another thread, which glibc's malloc handles poorly (in the agent benchmark of BENCHMARKS.md,
/// malloc and free were over a third of the CPU time with glibc, and peak RSS was higher).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc option, set before `main`: commit arena memory only as it is used. mimalloc commits
/// arenas eagerly by default, which put the agent's peak RSS near 60 MiB in the benchmark instead
/// of about 30 MiB, at little or no CPU cost (returning freed pages at once as well,
/// `MIMALLOC_PURGE_DELAY=0`, saved little more and cost ~14% CPU). `MIMALLOC_ARENA_EAGER_COMMIT`
/// in the environment still wins.
#[cfg(target_os = "linux")]
#[used]
#[unsafe(link_section = ".init_array")]
static MIMALLOC_OPTIONS: extern "C" fn() = {
    unsafe extern "C" {
        fn mi_option_set(option: i32, value: std::ffi::c_long);
    }
    /// Position of `mi_option_arena_eager_commit` in mimalloc's `mi_option_e` (v2 and v3).
    const ARENA_EAGER_COMMIT: i32 = 4;
    extern "C" fn set() {
        // SAFETY: getenv with a NUL-terminated name; mi_option_set only stores the value.
        unsafe {
            if libc::getenv(c"MIMALLOC_ARENA_EAGER_COMMIT".as_ptr()).is_null() {
                mi_option_set(ARENA_EAGER_COMMIT, 0);
            }
        }
    }
    set
};

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

//! The `lookout` binary.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use aggregator::config::Config;
use clap::{Parser, Subcommand, ValueEnum};
use tracing::error;

/// mimalloc: a log batch is allocated by the HTTP task that decodes it and freed by the indexing
/// thread seconds later, which glibc's per-thread arenas handle poorly (in the log ingest
/// benchmark of BENCHMARKS.md, malloc, free and the kernel zeroing pages glibc had returned were
/// about a sixth of the aggregator's CPU time).
#[cfg(not(feature = "system-alloc"))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// No transparent huge pages for this process, set before `main`. mimalloc asks for them on its
/// arenas (built without that here: the `no_thp` feature), and where the kernel grants them
/// (`always`, or `madvise` with the ask) a 2 MiB page stays resident while any byte of it is in
/// use, and mimalloc then returns memory only in 2 MiB pieces. In the metrics benchmark of
/// BENCHMARKS.md that was two thirds of the resident set once blocks were cut and merged
/// (4.7 KB per active series with huge pages, 1.5 KB without). `MIMALLOC_ALLOW_THP=1` in the
/// environment keeps them.
#[cfg(target_os = "linux")]
#[used]
#[unsafe(link_section = ".init_array")]
static NO_HUGE_PAGES: extern "C" fn() = {
    extern "C" fn set() {
        // SAFETY: getenv with a NUL-terminated name; PR_SET_THP_DISABLE only sets a flag of
        // this process (inherited by children, which is what a child process of ours wants too).
        unsafe {
            let keep = libc::getenv(c"MIMALLOC_ALLOW_THP".as_ptr());
            if keep.is_null() || *keep != b'1' as libc::c_char {
                libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
            }
        }
    }
    set
};

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
        /// Turn authentication off (`[auth] enabled = false`): for development on loopback only.
        #[arg(long)]
        no_auth: bool,
    },
    /// User accounts (stored in <data_dir>/auth.db; works while `lookout serve` runs).
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// API tokens for agents and scripts (stored hashed in <data_dir>/auth.db; shown once).
    Token {
        #[command(subcommand)]
        command: TokenCommand,
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

/// Where the auth database is: `--config` (its data_dir) or `--data-dir`.
#[derive(clap::Args)]
struct Store {
    /// Path to lookout.toml (its data_dir holds auth.db).
    #[arg(long, short, global = true)]
    config: Option<PathBuf>,
    /// Data directory (overrides the config's).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a user; the password is read from --password-file, or prompted for.
    Add {
        /// Login name.
        name: String,
        /// viewer, editor or admin.
        #[arg(long, default_value = "viewer")]
        role: String,
        /// A file whose first line is the password.
        #[arg(long)]
        password_file: Option<PathBuf>,
        #[command(flatten)]
        store: Store,
    },
    /// Change a user's password (signs them out everywhere).
    Passwd {
        /// Login name.
        name: String,
        /// A file whose first line is the password.
        #[arg(long)]
        password_file: Option<PathBuf>,
        #[command(flatten)]
        store: Store,
    },
    /// Remove a user (and their sessions).
    Rm {
        /// Login name.
        name: String,
        #[command(flatten)]
        store: Store,
    },
    /// List users.
    List {
        #[command(flatten)]
        store: Store,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token and print it once (it is stored hashed).
    Create {
        /// What it is for (e.g. the agent's host).
        name: String,
        /// ingest (agents), viewer, editor or admin.
        #[arg(long, default_value = "ingest")]
        role: String,
        /// Expiry, e.g. 90d, 12h (default: never).
        #[arg(long)]
        expires_in: Option<String>,
        #[command(flatten)]
        store: Store,
    },
    /// Revoke a token by id (or by name when unambiguous).
    Revoke {
        /// Token id or name.
        id: String,
        #[command(flatten)]
        store: Store,
    },
    /// List tokens (never their secrets).
    List {
        #[command(flatten)]
        store: Store,
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

fn open_auth(store: &Store) -> Result<aggregator::auth::AuthStore, String> {
    let dir = match (&store.data_dir, &store.config) {
        (Some(d), _) => d.clone(),
        (None, Some(c)) => Config::load(c).map_err(|e| e.to_string())?.data_dir,
        (None, None) => return Err("say where the data is: --config lookout.toml or --data-dir DIR".into()),
    };
    aggregator::auth::AuthStore::open(&dir).map_err(|e| e.to_string())
}

fn read_password(file: Option<&PathBuf>) -> Result<String, String> {
    if let Some(f) = file {
        let text = std::fs::read_to_string(f).map_err(|e| format!("cannot read {}: {e}", f.display()))?;
        return Ok(text.lines().next().unwrap_or("").to_string());
    }
    use std::io::IsTerminal;
    if std::io::stdin().is_terminal() {
        let a = rpassword::prompt_password("Password: ").map_err(|e| e.to_string())?;
        let b = rpassword::prompt_password("Again: ").map_err(|e| e.to_string())?;
        if a != b {
            return Err("the passwords differ".into());
        }
        Ok(a)
    } else {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map_err(|e| e.to_string())?;
        Ok(line.trim_end_matches(['\n', '\r']).to_string())
    }
}

fn parse_duration_secs(s: &str) -> Result<u64, String> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num.parse().map_err(|_| format!("invalid duration {s:?}: use e.g. 90d, 12h, 30m"))?;
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        "y" => 365 * 86_400,
        _ => return Err(format!("invalid duration {s:?}: use e.g. 90d, 12h, 30m")),
    };
    n.checked_mul(mult).filter(|v| *v > 0).ok_or_else(|| format!("invalid duration {s:?}"))
}

fn cli_result(r: Result<(), String>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn user_cmd(cmd: UserCommand) -> ExitCode {
    use aggregator::auth::{api::cli_entry, store::user_json};
    cli_result((|| -> Result<(), String> {
        match cmd {
            UserCommand::Add { name, role, password_file, store } => {
                let role: aggregator::auth::Role = role.parse()?;
                let s = open_auth(&store)?;
                aggregator::auth::store::check_name(&name).map_err(|e| e.to_string())?;
                let pw = read_password(password_file.as_ref())?;
                let u = s.add_user(&name, role, &pw).map_err(|e| e.to_string())?;
                s.audit(cli_entry("user.add", &name, None, Some(user_json(&u)))).map_err(|e| e.to_string())?;
                println!("added user {name} ({role})");
            }
            UserCommand::Passwd { name, password_file, store } => {
                let s = open_auth(&store)?;
                if s.user(&name).map_err(|e| e.to_string())?.is_none() {
                    return Err(format!("no user {name:?}"));
                }
                let pw = read_password(password_file.as_ref())?;
                s.set_password(&name, &pw).map_err(|e| e.to_string())?;
                s.audit(cli_entry("user.passwd", &name, None, None)).map_err(|e| e.to_string())?;
                println!("password of {name} changed; their sessions are ended");
            }
            UserCommand::Rm { name, store } => {
                let s = open_auth(&store)?;
                let before = s.user(&name).map_err(|e| e.to_string())?.map(|u| user_json(&u));
                s.remove_user(&name).map_err(|e| e.to_string())?;
                s.audit(cli_entry("user.rm", &name, before, None)).map_err(|e| e.to_string())?;
                println!("removed user {name}");
            }
            UserCommand::List { store } => {
                let s = open_auth(&store)?;
                for u in s.users().map_err(|e| e.to_string())? {
                    println!("{}\t{}", u.name, u.role);
                }
            }
        }
        Ok(())
    })())
}

fn token_cmd(cmd: TokenCommand) -> ExitCode {
    use aggregator::auth::{api::cli_entry, store::token_json};
    cli_result((|| -> Result<(), String> {
        match cmd {
            TokenCommand::Create { name, role, expires_in, store } => {
                let role: aggregator::auth::Role = role.parse()?;
                let expires = match expires_in {
                    Some(e) => {
                        let secs = parse_duration_secs(&e)?;
                        let now =
                            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
                        Some(now.saturating_add(secs.saturating_mul(1000) as i64))
                    }
                    None => None,
                };
                let s = open_auth(&store)?;
                let who = format!("cli:{}", std::env::var("USER").unwrap_or_else(|_| "unknown".into()));
                let (info, token) = s.create_token(&name, role, expires, &who).map_err(|e| e.to_string())?;
                s.audit(cli_entry("token.create", &info.id, None, Some(token_json(&info)))).map_err(|e| e.to_string())?;
                eprintln!("token {} ({name}, {role}) created; it is shown only now:", info.id);
                println!("{token}");
            }
            TokenCommand::Revoke { id, store } => {
                let s = open_auth(&store)?;
                let t = s.revoke_token(&id).map_err(|e| e.to_string())?;
                s.audit(cli_entry("token.revoke", &t.id, None, Some(token_json(&t)))).map_err(|e| e.to_string())?;
                println!("revoked token {} ({})", t.id, t.name);
            }
            TokenCommand::List { store } => {
                let s = open_auth(&store)?;
                for t in s.tokens().map_err(|e| e.to_string())? {
                    let state = if t.revoked_ms.is_some() { "revoked" } else { "live" };
                    println!("{}\t{}\t{}\t{}", t.id, t.name, t.role, state);
                }
            }
        }
        Ok(())
    })())
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
                    && let Err(e) = alerting::config::Config::load_with(p, cfg.alerting_load_options())
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
        Command::User { command } => return user_cmd(command),
        Command::Token { command } => return token_cmd(command),
        Command::Serve { config, listen, data_dir, no_auth } => {
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
            if no_auth {
                cfg.auth.enabled = false;
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
            // The newcomer's all-in-one on loopback: no sign-in (`serve` requires one).
            cfg.auth.enabled = false;
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
    tokio::runtime::Builder::new_multi_thread().enable_all().on_thread_park(collect_when_idle).build().expect("tokio runtime")
}

/// Lets mimalloc return this worker thread's freed pages when it goes idle, at most once a
/// second. A worker that decoded a burst of requests (a remote_write backfill) holds their freed
/// buffers in its own pages, which mimalloc purges only when that thread calls into it again;
/// an idle worker never would.
fn collect_when_idle() {
    use std::cell::Cell;
    use std::time::Instant;
    thread_local! {
        static LAST: Cell<Option<Instant>> = const { Cell::new(None) };
    }
    unsafe extern "C" {
        fn mi_collect(force: bool);
    }
    let now = Instant::now();
    if LAST.get().is_some_and(|t| now.duration_since(t) < Duration::from_secs(1)) {
        return;
    }
    LAST.set(Some(now));
    // SAFETY: mi_collect only walks mimalloc's heap of this thread (empty with the system
    // allocator); it has no preconditions.
    unsafe { mi_collect(false) }
}

//! `crated`: the daemon binary. It parses the command line, loads and
//! checks the configuration, sets up logging and the process (OOM score,
//! cgroup), and runs the daemon from `crated-server`.

mod publish;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use crated_config::{Config, DefaultPaths, LoadedConfig, LogFormat, LogLevel, Overrides};
use crated_server::daemon::Daemon;
use crated_server::plugins;
use crated_server::services::introspection::Deprecation;
use crated_server::services::version::{REVISION, VERSION};
use crated_server::{host, logging, notify};

/// crated: a container runtime daemon that speaks containerd's API.
#[derive(Parser)]
#[command(
    name = "crated",
    about = "crated: a container runtime daemon that speaks containerd's API",
    disable_version_flag = true
)]
struct Cli {
    /// Print the version and the source revision, then exit.
    #[arg(short = 'v', long = "version")]
    version: bool,
    /// Path to the configuration file (default: /etc/crated/config.toml, or
    /// /etc/containerd/config.toml with --containerd-compat).
    #[arg(short = 'c', long = "config", global = true)]
    config: Option<PathBuf>,
    /// Use containerd's default paths (/etc/containerd/config.toml,
    /// /var/lib/containerd, /run/containerd, /run/containerd/containerd.sock)
    /// so kubelet, dockerd and ctr find crated without flags.
    #[arg(long = "containerd-compat", global = true)]
    containerd_compat: bool,
    /// Root directory for persistent data (overrides the config).
    #[arg(long, global = true)]
    root: Option<PathBuf>,
    /// State directory for runtime data (overrides the config).
    #[arg(long, global = true)]
    state: Option<PathBuf>,
    /// Address of the gRPC socket (overrides the config).
    #[arg(short = 'a', long, global = true)]
    address: Option<String>,
    /// Log level: trace, debug, info, warn (or warning), error, fatal, panic
    /// (overrides the config).
    #[arg(short = 'l', long = "log-level", global = true)]
    log_level: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Print or inspect the configuration.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Publish an event read from stdin (a protobuf Any) to the daemon, as shims do.
    Publish {
        /// Topic of the event, e.g. /tasks/exit.
        #[arg(long)]
        topic: String,
        /// Namespace to publish to.
        #[arg(long)]
        namespace: String,
    },
}

#[derive(Subcommand)]
enum ConfigAction {
    /// Print the full default configuration.
    Default,
    /// Print the effective configuration after merging imports and flags.
    Dump,
    /// Print the version 3 equivalent of a version 1 or 2 config file.
    Migrate,
}

fn load(cli: &Cli) -> Result<LoadedConfig> {
    let mut loaded = crated_config::load_for_daemon(cli.config.as_deref(), cli.containerd_compat)
        .context("loading the configuration")?;
    loaded.config.apply(&Overrides {
        root: cli.root.clone(),
        state: cli.state.clone(),
        address: cli.address.clone(),
        log_level: cli.log_level.clone(),
    });
    Ok(loaded)
}

/// Every warning about the loaded config: unknown keys, plugin sections
/// that do not match a plugin's options, and keys crated does not act on.
fn config_warnings(loaded: &LoadedConfig) -> Result<Vec<String>> {
    let specs: Vec<_> = plugins::registrations().iter().map(|r| r.spec()).collect();
    let mut warnings = loaded.warnings.clone();
    warnings.extend(loaded.check_plugins(&specs)?);
    warnings.extend(loaded.config.inert_warnings());
    if loaded.config.version < 2 {
        warnings.push(
            "config version 1 is deprecated: `crated config migrate` prints the version 3 \
             equivalent of this file"
                .into(),
        );
    }
    Ok(warnings)
}

fn with_plugin_defaults(mut config: Config) -> Config {
    for r in plugins::registrations() {
        if let Some(default) = r.config.default_section()
            && config.plugin_config(r.plugin_type, r.id).is_none()
        {
            config.set_plugin_config(&r.uri(), default);
        }
    }
    config
}

/// Resolves on SIGTERM or SIGINT and then tells systemd `STOPPING=1`. The
/// handlers are installed when this is called, before the daemon serves,
/// so a signal right after `READY=1` stops the daemon cleanly instead of
/// killing it.
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("received SIGTERM, shutting down"),
            _ = int.recv() => tracing::info!("received SIGINT, shutting down"),
        }
        notify::notify(notify::STOPPING);
    })
}

fn deprecations(config: &Config) -> Vec<Deprecation> {
    let mut out = Vec::new();
    if config.version < 2 {
        out.push(Deprecation {
            id: "io.containerd.deprecation/config-v1".into(),
            message: "The configuration file uses version 1; migrate it to version 3 (see `crated config migrate`)".into(),
            last_occurrence: chrono::Utc::now(),
        });
    }
    out
}

fn migrate(cli: &Cli) -> Result<()> {
    let path = cli
        .config
        .clone()
        .unwrap_or_else(|| DefaultPaths::for_mode(cli.containerd_compat).config);
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let migrated = crated_config::migrate(Path::new(&path), &text, &plugins::platform())?;
    for note in &migrated.notes {
        eprintln!("crated: note: {note}");
    }
    print!("{}", migrated.text);
    Ok(())
}

async fn run_daemon(cli: &Cli) -> Result<()> {
    let loaded = load(cli)?;
    let config = &loaded.config;
    let level: LogLevel = config.debug.level.parse()?;
    let format: LogFormat = config.debug.format.parse()?;
    logging::init(level, format)?;
    for w in config_warnings(&loaded)? {
        tracing::warn!("{w}");
    }
    if let Err(e) = host::apply_oom_score(config.oom_score) {
        // As containerd: a score the process may not set is logged, not fatal.
        tracing::error!(error = %e, "cannot apply oom_score");
    }
    host::join_cgroup(&config.cgroup.path)?;
    tracing::info!(
        version = VERSION,
        revision = REVISION,
        containerd_compat = config.containerd_compat,
        "starting crated"
    );
    let deprecations = deprecations(config);
    let shutdown = shutdown_signal()?;
    // Plugin init is synchronous and runs on the blocking pool, where an
    // init that waits for async work (shim recovery) may block on it.
    let config = loaded.config;
    let daemon = tokio::task::spawn_blocking(move || Daemon::init(config, deprecations))
        .await
        .context("daemon initialisation did not finish (see the log for a panic)")??;
    daemon.serve(shutdown).await?;
    tracing::info!("crated stopped");
    Ok(())
}

async fn run(cli: Cli) -> Result<()> {
    if cli.version {
        println!("crated {VERSION} {REVISION}");
        return Ok(());
    }
    match &cli.command {
        Some(Command::Config {
            action: ConfigAction::Default,
        }) => {
            let mut config = DefaultPaths::for_mode(cli.containerd_compat).base_config();
            config.containerd_compat = cli.containerd_compat;
            print!("{}", with_plugin_defaults(config).to_toml_string()?);
            Ok(())
        }
        Some(Command::Config {
            action: ConfigAction::Dump,
        }) => {
            let loaded = load(&cli)?;
            for w in config_warnings(&loaded)? {
                eprintln!("crated: warning: {w}");
            }
            print!("{}", with_plugin_defaults(loaded.config).to_toml_string()?);
            Ok(())
        }
        Some(Command::Config {
            action: ConfigAction::Migrate,
        }) => migrate(&cli),
        Some(Command::Publish { topic, namespace }) => {
            let address = cli
                .address
                .clone()
                .unwrap_or_else(|| DefaultPaths::for_mode(cli.containerd_compat).address);
            publish::publish(&address, topic, namespace).await
        }
        None => run_daemon(&cli).await,
    }
}

fn main() {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("crated: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let code = match runtime.block_on(run(cli)) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("crated: {}", crated_core::errconv::chain_text(e.as_ref()));
            1
        }
    };
    // Work still running on the runtime's threads (a blocking call stuck on
    // a peer, a task that outlived its request) must not keep the process
    // alive after the daemon stopped: give it a moment, then exit anyway.
    runtime.shutdown_timeout(EXIT_GRACE);
    std::process::exit(code);
}

/// How long work left on the runtime's threads may hold up the exit once
/// the daemon has stopped.
const EXIT_GRACE: std::time::Duration = std::time::Duration::from_millis(500);

//! `crated`: the daemon binary.

use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use crated_config::{Config, LoadedConfig, Overrides};
use crated_server::daemon::Daemon;
use crated_server::plugins;
use crated_server::services::introspection::Deprecation;

/// crated: a container runtime daemon that speaks containerd's API.
#[derive(Parser)]
#[command(name = "crated", version, about)]
struct Cli {
    /// Path to the configuration file.
    #[arg(short = 'c', long = "config", global = true, default_value = crated_config::DEFAULT_CONFIG_PATH)]
    config: PathBuf,
    /// Root directory for persistent data (overrides the config).
    #[arg(long, global = true)]
    root: Option<PathBuf>,
    /// State directory for runtime data (overrides the config).
    #[arg(long, global = true)]
    state: Option<PathBuf>,
    /// Address of the gRPC socket (overrides the config).
    #[arg(short = 'a', long, global = true)]
    address: Option<String>,
    /// Log level: trace, debug, info, warn, error (overrides the config).
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
}

fn explicit_config() -> bool {
    std::env::args().any(|a| a == "-c" || a == "--config" || a.starts_with("--config="))
}

fn load(cli: &Cli) -> Result<LoadedConfig> {
    let mut loaded = Config::load_or_default(&cli.config, explicit_config())
        .with_context(|| format!("loading configuration {}", cli.config.display()))?;
    loaded.config.apply(&Overrides {
        root: cli.root.clone(),
        state: cli.state.clone(),
        address: cli.address.clone(),
        log_level: cli.log_level.clone(),
    });
    Ok(loaded)
}

fn with_plugin_defaults(mut config: Config) -> Config {
    for r in plugins::registrations() {
        if let Some(default) = r.default_config
            && config.plugin_config(r.plugin_type, r.id).is_none()
        {
            config.set_plugin_config(&r.uri(), default());
        }
    }
    config
}

fn init_logging(level: &str) {
    let level = if level.is_empty() { "info" } else { level };
    let filter = tracing_subscriber::EnvFilter::try_new(level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

async fn publish(address: &str, topic: &str, namespace: &str) -> Result<()> {
    if topic.is_empty() {
        bail!("topic required to publish event: invalid argument");
    }
    let mut payload = Vec::new();
    std::io::stdin()
        .read_to_end(&mut payload)
        .context("reading the event from stdin")?;
    let any =
        <crated_api::prost_types::Any as crated_api::prost::Message>::decode(payload.as_slice())
            .context("decoding the event on stdin (expected a protobuf google.protobuf.Any)")?;
    let path = PathBuf::from(address);
    let channel = tonic::transport::Endpoint::from_static("http://[::]:50051")
        .connect_timeout(std::time::Duration::from_secs(2))
        .connect_with_connector(tower::service_fn(move |_| {
            let path = path.clone();
            async move {
                let stream = tokio::net::UnixStream::connect(path).await?;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(stream))
            }
        }))
        .await
        .with_context(|| format!("failed to dial {address:?}; is crated running there?"))?;
    let mut client = crated_api::services::v1::events_client::EventsClient::new(channel);
    let mut request = tonic::Request::new(crated_api::services::v1::PublishRequest {
        topic: topic.to_string(),
        event: Some(any),
    });
    request.metadata_mut().insert(
        crated_api::NAMESPACE_HEADER,
        namespace
            .parse()
            .context("namespace is not a valid header value")?,
    );
    client
        .publish(request)
        .await
        .map_err(|s| anyhow::anyhow!("publishing {topic} to {address}: {}", s.message()))?;
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers; stop the daemon with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("received SIGTERM, shutting down"),
        _ = int.recv() => tracing::info!("received SIGINT, shutting down"),
    }
}

fn deprecations(config: &Config) -> Vec<Deprecation> {
    let mut out = Vec::new();
    if config.version < 2 {
        out.push(Deprecation {
            id: "io.containerd.deprecation/config-v1".into(),
            message: "The configuration file uses version 1; migrate it to version 3 (see `crated config default`)".into(),
            last_occurrence: chrono::Utc::now(),
        });
    }
    out
}

async fn run(cli: Cli) -> Result<()> {
    match &cli.command {
        Some(Command::Config {
            action: ConfigAction::Default,
        }) => {
            let config = with_plugin_defaults(Config::default());
            print!("{}", config.to_toml_string()?);
            Ok(())
        }
        Some(Command::Config {
            action: ConfigAction::Dump,
        }) => {
            let loaded = load(&cli)?;
            for w in &loaded.warnings {
                eprintln!("crated: warning: {w}");
            }
            print!("{}", with_plugin_defaults(loaded.config).to_toml_string()?);
            Ok(())
        }
        Some(Command::Publish { topic, namespace }) => {
            let address = cli
                .address
                .clone()
                .unwrap_or_else(|| crated_config::DEFAULT_ADDRESS.to_string());
            publish(&address, topic, namespace).await
        }
        None => {
            let loaded = load(&cli)?;
            init_logging(&loaded.config.debug.level);
            for w in &loaded.warnings {
                tracing::warn!("{w}");
            }
            tracing::info!(
                version = crated_server::services::version::VERSION,
                "starting crated"
            );
            let deprecations = deprecations(&loaded.config);
            let daemon = tokio::task::block_in_place(|| Daemon::init(loaded.config, deprecations))?;
            daemon.serve(shutdown_signal()).await?;
            tracing::info!("crated stopped");
            Ok(())
        }
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
    if let Err(e) = runtime.block_on(run(cli)) {
        eprintln!("crated: {e:#}");
        std::process::exit(1);
    }
}

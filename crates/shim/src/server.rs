//! The long-running shim: a new session, a child subreaper, logging into
//! the bundle's `log` FIFO, and the ttrpc task service on the socket
//! `start` bound, on a single-threaded runtime.

use std::fs::{File, OpenOptions};
use std::io::IsTerminal;
use std::os::fd::AsFd;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::os::unix::net::UnixListener as StdUnixListener;
use std::sync::Arc;
use std::time::Duration;

use crated_api::ttrpc::ttrpc::r#async::Server;
use rustix::fs::OFlags;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::Notify;

use crate::args::Args;
use crate::events::{Publisher, Target};
use crate::reaper::Reaper;
use crate::service::{Shim, ttrpc};
use crate::start::{remove_socket, socket_path};

/// How long the server waits for queued events and open connections at exit.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs the server until shut down.
pub fn run(args: &Args) -> Result<(), String> {
    // Already a session leader when started by hand; nothing to do then.
    let _ = rustix::process::setsid();
    rustix::process::set_child_subreaper(Some(rustix::process::getpid()))
        .map_err(|e| format!("becoming a child subreaper: {e}"))?;
    let logged_to_fifo = redirect_stderr_to_log_fifo();
    init_tracing(args.debug);
    if !logged_to_fifo {
        tracing::debug!("no reader on the bundle's log FIFO; logging to stderr");
    }
    let listener = take_listener(args)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("creating runtime: {e}"))?;
    runtime.block_on(serve(args, listener))
}

async fn serve(args: &Args, listener: StdUnixListener) -> Result<(), String> {
    let (reaper, exits) = Reaper::new();
    reaper
        .start()
        .map_err(|e| format!("installing SIGCHLD handler: {e}"))?;
    let publisher = Publisher::start(
        Target {
            namespace: args.namespace.clone(),
            ttrpc_address: std::env::var("TTRPC_ADDRESS").unwrap_or_default(),
            grpc_address: args.address.clone(),
            publish_binary: args.publish_binary.clone(),
        },
        reaper.clone(),
    );
    let shutdown = Arc::new(Notify::new());
    let shim = Shim::new(&args.namespace, reaper, publisher, shutdown.clone());
    shim.handle_exits(exits);

    listener
        .set_nonblocking(true)
        .map_err(|e| format!("configuring the shim socket: {e}"))?;
    let listener = tokio::net::UnixListener::from_std(listener)
        .map_err(|e| format!("registering the shim socket: {e}"))?;
    let mut server = Server::new()
        .add_listener(listener.into())
        .register_service(ttrpc::services(shim.clone()));
    server
        .start()
        .await
        .map_err(|e| format!("starting ttrpc server: {e}"))?;
    tracing::info!(pid = std::process::id(), namespace = %args.namespace, id = %args.id, "shim serving");

    let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    tokio::select! {
        _ = shutdown.notified() => tracing::debug!("shutting down on request"),
        _ = term.recv() => tracing::info!("shutting down on SIGTERM"),
        _ = int.recv() => tracing::info!("shutting down on SIGINT"),
    }
    if tokio::time::timeout(DRAIN_TIMEOUT, shim.flush_events())
        .await
        .is_err()
    {
        tracing::warn!("events not sent before exit");
    }
    if let Ok(address) = std::fs::read_to_string("address") {
        remove_socket(address.trim());
    } else if let Some(path) = &args.socket {
        let _ = std::fs::remove_file(socket_path(path));
    }
    // Let the reply to Shutdown go out; containerd treats a closed
    // connection as success too.
    let _ = tokio::time::timeout(Duration::from_secs(1), server.shutdown()).await;
    Ok(())
}

/// Takes the listening socket `start` passed as stdin, or binds `-socket`.
fn take_listener(args: &Args) -> Result<StdUnixListener, String> {
    if let Some(path) = &args.socket {
        let path = socket_path(path);
        let _ = std::fs::remove_file(&path);
        return StdUnixListener::bind(&path).map_err(|e| format!("listening on {path}: {e}"));
    }
    let stdin = std::io::stdin();
    let is_socket = rustix::fs::fstat(stdin.as_fd())
        .map(|st| rustix::fs::FileType::from_raw_mode(st.st_mode).is_socket())
        .unwrap_or(false);
    if !is_socket {
        return Err("no listening socket on stdin; run through `start` or pass -socket".into());
    }
    let fd = stdin
        .as_fd()
        .try_clone_to_owned()
        .map_err(|e| format!("taking the shim socket: {e}"))?;
    // Children must not inherit the socket as their stdin.
    if let Ok(null) = File::open("/dev/null") {
        let _ = rustix::stdio::dup2_stdin(&null);
    }
    Ok(StdUnixListener::from(fd))
}

/// Sends stderr (and so the log) into the bundle's `log` FIFO when containerd
/// reads it. The descriptor stays non-blocking: a stalled reader loses log
/// lines instead of stalling the shim.
fn redirect_stderr_to_log_fifo() -> bool {
    let is_fifo = std::fs::metadata("log")
        .map(|m| m.file_type().is_fifo())
        .unwrap_or(false);
    if !is_fifo {
        return false;
    }
    let Ok(fifo) = OpenOptions::new()
        .write(true)
        .custom_flags(OFlags::NONBLOCK.bits() as i32)
        .open("log")
    else {
        return false;
    };
    rustix::stdio::dup2_stderr(&fifo).is_ok()
}

fn init_tracing(debug: bool) {
    let level = if debug {
        tracing::Level::DEBUG
    } else {
        tracing::Level::INFO
    };
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}

//! cratectl: the command line client of crated (and containerd), built on
//! `crated-client`.

mod args;
mod cli;
mod commands;
mod context;
mod event_json;
mod hints;
mod output;
mod progress;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

use crate::cli::Cli;
use crate::context::Context;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let cli::Command::InternalLogger { path } = &cli.command {
        // Run by the shim: no daemon, no async runtime.
        return commands::internal_logger(path);
    }
    if let cli::Command::Completion { shell } = &cli.command {
        // Generated from the clap definitions; needs no daemon.
        use clap::CommandFactory;
        clap_complete::generate(
            *shell,
            &mut Cli::command(),
            "cratectl",
            &mut std::io::stdout(),
        );
        return ExitCode::SUCCESS;
    }
    init_logging(cli.global.debug);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("cratectl: starting the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let context = Context::new(cli.global);
    let result = runtime.block_on(commands::run(&context, cli.command));
    // Do not wait for threads blocked on the caller's stdin.
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if err.is::<commands::Reported>() => ExitCode::FAILURE,
        Err(err) if err.is::<commands::Exit>() => {
            let code = err.downcast_ref::<commands::Exit>().map_or(1, |e| e.0);
            // Like a shell: the low 8 bits of the status.
            ExitCode::from((code & 0xff) as u8)
        }
        Err(err) => {
            tracing::debug!("error: {err:?}");
            eprintln!("cratectl: {}", one_line(&commands::error_text(&err)));
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr: debug level with `--debug`, warnings otherwise;
/// `RUST_LOG` overrides.
fn init_logging(debug: bool) {
    let default = if debug {
        "debug,h2=info,hyper=info,tower=info"
    } else {
        "warn"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}

/// Errors are printed on one line.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

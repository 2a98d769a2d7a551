//! `tether`: a command-line client for Cap'n Web servers.
//!
//! * `tether call URL EXPR` evaluates an expression against the server's main object and prints
//!   the result (`call`);
//! * `tether repl URL` keeps a session open: name results, keep stubs, call them later (`repl`).
//!
//! Files: `main` (the command line), `call` and `repl` (the two commands), `parse` (the
//! expression language), `eval` (expressions to calls), `render` (values to text), `connect`
//! (URL checks, TLS roots, WebSocket), `batch` (the HTTP batch transport), `trace` (`--trace`), `error`
//! (errors and exit codes). See README.md for the language by example.

mod call;
mod connect;
mod error;
mod eval;
mod parse;
mod render;
mod repl;
mod trace;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};

use crate::connect::{Endpoint, Mode};
use crate::error::CliError;
use crate::trace::Tracer;

/// A command-line client for Cap'n Web (capnweb) servers.
#[derive(Parser, Debug)]
#[command(name = "tether", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Evaluate an expression on the server's main object and print the result as JSON.
    ///
    /// Examples: `square(7)`, `makeCounter(5).increment(1)` (pipelined: one round trip),
    /// `generateFibonacci(6).map(x => api.square(x))` (one `remap`), `echo(@-)` (argument from
    /// stdin), `let c = makeCounter(1); c.increment(2); c.value` (several statements).
    Call {
        #[command(flatten)]
        connection: ConnectionArgs,
        /// The expression (the language: cli/README.md).
        expression: String,
    },
    /// Interactive session: `let c = makeCounter(5)`, `c.increment(2)`, `.dispose c`, `.help`.
    Repl {
        #[command(flatten)]
        connection: ConnectionArgs,
    },
}

#[derive(Args, Debug)]
struct ConnectionArgs {
    /// Server URL: ws://HOST:PORT/PATH or wss://… (WebSocket), or http://HOST:PORT/PATH or
    /// https://… with --batch.
    url: String,
    /// Use one HTTP batch (POST) instead of a WebSocket session.
    #[arg(long)]
    batch: bool,
    /// Extra request header for the WebSocket handshake or the batch POST (repeatable).
    #[arg(long = "header", short = 'H', value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// For wss:// and https://: trust the certificate authorities in this PEM file instead of
    /// the built-in (Mozilla) roots, e.g. a private or test CA.
    #[arg(long, value_name = "PATH")]
    ca_cert: Option<std::path::PathBuf>,
    /// Print every frame both ways on stderr, decoded, with the time since start.
    #[arg(long)]
    trace: bool,
    /// Give up on connecting or on an answer after this many seconds.
    #[arg(long, default_value_t = 30.0, value_name = "SECONDS")]
    timeout: f64,
}

impl ConnectionArgs {
    fn endpoint(&self) -> Result<Endpoint, CliError> {
        let mode = if self.batch {
            Mode::Batch
        } else {
            Mode::WebSocket
        };
        let endpoint = Endpoint::parse(&self.url, mode, &self.headers)?;
        match &self.ca_cert {
            Some(path) => endpoint.trust(path),
            None => Ok(endpoint),
        }
    }

    fn timeout(&self) -> Result<Duration, CliError> {
        Duration::try_from_secs_f64(self.timeout)
            .map_err(|_| CliError::Usage(format!("invalid --timeout {}", self.timeout)))
    }
}

fn main() -> ExitCode {
    let start = Instant::now();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async {
        match &cli.command {
            Command::Call {
                connection,
                expression,
            } => {
                let endpoint = connection.endpoint()?;
                let tracer = Tracer::new(connection.trace, start);
                call::run(&endpoint, expression, &tracer, connection.timeout()?).await
            }
            Command::Repl { connection } => {
                let endpoint = connection.endpoint()?;
                let tracer = Tracer::new(connection.trace, start);
                repl::run(&endpoint, &tracer, connection.timeout()?).await
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(e.exit_code())
        }
    }
}

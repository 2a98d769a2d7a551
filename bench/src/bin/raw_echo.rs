//! `tether-raw-echo`: a plain WebSocket echo server, no RPC: every text or binary message comes
//! straight back on the same connection. It is the transport's limit on this machine, the Rust
//! counterpart of the shared kit's `raw-ws-server.mjs`, built on the same WebSocket library as
//! tether (`tokio-tungstenite`), with TCP_NODELAY and Tokio's current-thread runtime.
//!
//! Usage: `tether-raw-echo PORT [--read-buffer=BYTES]` (`0` picks a free port). Binds
//! 127.0.0.1, prints `listening PORT` on stdout once ready, exits with status 0 on SIGTERM or
//! SIGINT. By default the WebSocket read buffer is tungstenite's default (128 KiB);
//! `--read-buffer` changes it, to measure what the buffer size costs (tungstenite zeroes the
//! free part of the buffer before every read).

use std::io::Write;
use std::process::ExitCode;

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::signal::unix::{signal, SignalKind};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

fn main() -> ExitCode {
    let mut port = None;
    let mut config = WebSocketConfig::default()
        .max_message_size(Some(64 << 20))
        .max_frame_size(Some(64 << 20));
    for arg in std::env::args().skip(1) {
        if let Some(size) = arg.strip_prefix("--read-buffer=") {
            match size.parse() {
                Ok(size) => config = config.read_buffer_size(size),
                Err(_) => return usage(),
            }
        } else if let (None, Ok(p)) = (port, arg.parse::<u16>()) {
            port = Some(p);
        } else {
            return usage();
        }
    }
    let Some(port) = port else { return usage() };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("tether-raw-echo: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(port, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("tether-raw-echo: {error}");
            ExitCode::FAILURE
        }
    }
}

fn usage() -> ExitCode {
    eprintln!("usage: tether-raw-echo PORT [--read-buffer=BYTES]");
    ExitCode::from(2)
}

async fn run(port: u16, config: WebSocketConfig) -> std::io::Result<()> {
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let port = listener.local_addr()?.port();
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening {port}")?;
    stdout.flush()?;
    drop(stdout);
    let accept = async {
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            tokio::spawn(echo(stream, config));
        }
    };
    tokio::select! {
        failed = accept => failed,
        _ = terminate.recv() => Ok(()),
        _ = interrupt.recv() => Ok(()),
    }
}

/// Echoes one connection until it closes. Messages are answered in order, each written and
/// flushed at once (one `write` per reply, as the Node `ws` echo server does).
async fn echo(stream: TcpStream, config: WebSocketConfig) {
    let Ok(socket) = tokio_tungstenite::accept_async_with_config(stream, Some(config)).await else {
        return;
    };
    let (mut sink, mut stream) = socket.split();
    while let Some(Ok(message)) = stream.next().await {
        let reply = match message {
            Message::Text(_) | Message::Binary(_) => message,
            Message::Close(_) => break,
            _ => continue,
        };
        if sink.send(reply).await.is_err() {
            break;
        }
    }
}

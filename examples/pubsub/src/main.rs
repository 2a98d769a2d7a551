//! Run with: `cargo run -p pubsub` (server on ws://127.0.0.1:8081/), then in other terminals
//! `cargo run -p pubsub -- --client ws://127.0.0.1:8081/ [--topic NAME]`.
//!
//! The server keeps one callback per subscription and prints when it releases one (on
//! `unsubscribe`, or when the client disconnects). The client prints every event, publishes
//! each line typed on standard input, and when the connection goes (stop and restart the
//! server to see it) reconnects and resubscribes from the last event id it saw.
//!
//! Options: `--addr HOST:PORT` (or the `PORT` environment variable; `0` picks a free port) for
//! the server; `--client URL` and `--topic NAME` (default `general`) for the client.

use std::net::SocketAddr;

use pubsub::client::{ReconnectingClient, Update};
use pubsub::hub::Hub;
use tether::server::{serve_until, ServerOptions};
use tokio::io::AsyncBufReadExt;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    match Args::parse(std::env::args().skip(1)) {
        Ok(Args::Server { addr }) => server(addr).await,
        Ok(Args::Client { url, topic }) => {
            client(&url, &topic).await;
            Ok(())
        }
        Err(message) => {
            eprintln!("{message}\n\n{USAGE}");
            std::process::exit(2);
        }
    }
}

const USAGE: &str = "usage: pubsub [--addr HOST:PORT]\n       pubsub --client URL [--topic NAME]";

enum Args {
    Server { addr: SocketAddr },
    Client { url: String, topic: String },
}

impl Args {
    fn parse(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
        let port = std::env::var("PORT").ok();
        let port = port.as_deref().unwrap_or("8081");
        let mut addr = format!("127.0.0.1:{port}");
        let (mut url, mut topic) = (None, "general".to_owned());
        while let Some(arg) = args.next() {
            let mut value = || args.next().ok_or(format!("{arg} needs a value"));
            match arg.as_str() {
                "--addr" => addr = value()?,
                "--client" => url = Some(value()?),
                "--topic" => topic = value()?,
                "-h" | "--help" => return Err("pubsub: a pub/sub example server and client".into()),
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        match url {
            Some(url) => Ok(Args::Client { url, topic }),
            None => addr
                .parse()
                .map(|addr| Args::Server { addr })
                .map_err(|e| format!("bad address {addr:?}: {e}")),
        }
    }
}

async fn server(addr: SocketAddr) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!(
        "pubsub server listening on ws://{}/",
        listener.local_addr()?
    );
    let hub = Hub::verbose();
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    serve_until(
        listener,
        move || hub.session().into_stub(),
        ServerOptions::default(),
        shutdown,
    )
    .await
}

async fn client(url: &str, topic: &str) {
    let (client, mut updates) = ReconnectingClient::spawn(url, topic);
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut stdin_open = true;
    loop {
        tokio::select! {
            update = updates.recv() => match update {
                Some(update) => print(&update),
                None => break,
            },
            line = lines.next_line(), if stdin_open => match line {
                Ok(Some(line)) if !line.trim().is_empty() => match client.publish(&line).await {
                    Ok(id) => println!("published #{id}"),
                    Err(error) => println!("not published: {error}"),
                },
                Ok(Some(_)) => {}
                // End of input: unsubscribe (the server prints the release) and quit.
                Ok(None) | Err(_) => stdin_open = false,
            },
            _ = tokio::signal::ctrl_c() => break,
        }
        if !stdin_open {
            break;
        }
    }
    client.stop().await;
    while let Ok(update) = updates.try_recv() {
        print(&update);
    }
}

fn print(update: &Update) {
    match update {
        Update::Subscribed { after: None } => println!("subscribed"),
        Update::Subscribed { after: Some(id) } => println!("subscribed again after event #{id}"),
        Update::Event(event) => println!("#{} [{}] {}", event.id, event.topic, event.text),
        Update::Duplicate(event) => println!("(duplicate #{} ignored)", event.id),
        Update::Disconnected { reason, retry_in } => {
            println!("disconnected ({reason}); retrying in {retry_in:?}")
        }
        Update::Released => println!("the server released our subscriber"),
    }
}

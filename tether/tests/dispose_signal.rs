//! The article's server that shuts down cleanly on a signal, as a real process.
//!
//! The test binary runs itself again as the server (the `signal_child_server` test, which does
//! nothing unless `TETHER_DISPOSE_SIGNAL_CHILD` is set), waits for it to say it is ready, sends
//! it a real SIGTERM (or SIGINT) with `kill`, and checks that the child disposed everything in
//! reverse order and exited with status 0.
#![cfg(all(unix, feature = "signal"))]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::Duration;

use tether::dispose::{run_until_signal, set_interval, AsyncDisposableStack, DisposeError};

const CHILD: &str = "TETHER_DISPOSE_SIGNAL_CHILD";
const PREFIX: &str = "child: ";

fn say(line: &str) {
    println!("{PREFIX}{line}");
}

/// The server: a config, a database connection, a user service with an interval, a TCP
/// listener; all on one stack, disposed when the signal comes.
async fn serve() -> Result<(), DisposeError> {
    let mut stack = AsyncDisposableStack::new();

    say("load config");
    stack.defer_sync(|| say("dispose config"))?;

    say("connect db");
    stack.defer(|| async {
        tokio::time::sleep(Duration::from_millis(20)).await; // flushing
        say("close db");
    })?;

    say("start user service");
    stack.use_sync(set_interval(Duration::from_millis(10), || {}))?;
    let (new_users, mut stream) = tokio::sync::mpsc::channel::<String>(8);
    stack.adopt(new_users, |sender| async move {
        drop(sender);
        let ended = stream.recv().await.is_none();
        say(&format!("close user stream (ended: {ended})"));
    })?;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let server = tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            drop(socket);
        }
    });
    say("listening");
    stack.adopt(server, |server| async move {
        server.abort();
        let stopped = server.await.is_err_and(|e| e.is_cancelled());
        say(&format!("close server (stopped: {stopped})"));
    })?;

    // The handlers are installed by this call, so a signal can no longer kill us: say so.
    let shutdown = run_until_signal(stack);
    say("ready");
    shutdown.await?;
    say("exiting");
    Ok(())
}

#[tokio::test]
async fn signal_child_server() {
    if std::env::var_os(CHILD).is_none() {
        return; // only meaningful as the child process
    }
    if let Err(error) = serve().await {
        panic!("shutdown failed: {error}");
    }
}

/// Runs the child, sends it `signal` once it is ready, and returns its `child:` lines.
fn run_child_and_send(signal: &str) -> Vec<String> {
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut child = Command::new(exe)
        .args([
            "signal_child_server",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn the child");
    let pid = child.id().to_string();

    // Kill the child if it hangs, so that the test fails instead of hanging too.
    let (done, finished) = mpsc::channel::<()>();
    let watchdog = {
        let pid = pid.clone();
        thread::spawn(move || {
            if let Err(RecvTimeoutError::Timeout) = finished.recv_timeout(Duration::from_secs(60)) {
                let _ = Command::new("kill").args(["-KILL", &pid]).status();
            }
        })
    };

    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("read the child's output");
        // The harness's "test signal_child_server ... " may precede the first line.
        let Some((_, line)) = line.split_once(PREFIX) else {
            continue; // the harness's own output
        };
        lines.push(line.to_owned());
        if line == "ready" {
            let sent = Command::new("kill")
                .args([signal, &pid])
                .status()
                .expect("run kill");
            assert!(sent.success(), "kill {signal} {pid} failed");
        }
    }
    let status = child.wait().expect("wait for the child");
    let _ = done.send(());
    let _ = watchdog.join();
    assert!(
        status.success(),
        "child exited with {status}; said {lines:?}"
    );
    lines
}

const EXPECTED: [&str; 10] = [
    "load config",
    "connect db",
    "start user service",
    "listening",
    "ready",
    "close server (stopped: true)",
    "close user stream (ended: true)",
    "close db",
    "dispose config",
    "exiting",
];

#[test]
fn server_disposes_everything_in_reverse_order_on_sigterm() {
    assert_eq!(run_child_and_send("-TERM"), EXPECTED);
}

#[test]
fn server_disposes_everything_in_reverse_order_on_sigint() {
    assert_eq!(run_child_and_send("-INT"), EXPECTED);
}

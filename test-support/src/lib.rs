//! What the example crates' integration tests share (a dev-dependency, never published):
//! starting an example binary and reading what it prints, and waiting with a bound so a broken
//! test fails with a message instead of hanging.

use std::future::IntoFuture;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

/// Generous: the machine may be busy. Nothing waits this long when things work.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// `future`'s output, or a panic naming `what` after [`TIMEOUT`].
pub async fn within<F: IntoFuture>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(TIMEOUT, future.into_future())
        .await
        .unwrap_or_else(|_| panic!("timed out after {TIMEOUT:?}: {what}"))
}

/// A started binary: killed when dropped.
pub struct Process {
    /// The process itself.
    pub child: Child,
    /// The first line it printed (examples print where they listen).
    pub first_line: String,
    /// Every later line of its standard output, as it prints them (read continuously, so the
    /// process never blocks on a full pipe).
    pub lines: mpsc::UnboundedReceiver<String>,
}

/// Starts `command` with its standard output piped and waits for its first line.
///
/// # Panics
///
/// If it cannot start, or prints nothing within [`TIMEOUT`].
pub async fn start(mut command: Command) -> Process {
    let mut child = command
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the binary starts");
    let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
    let first_line = within("the binary's first line", stdout.next_line())
        .await
        .expect("reads its standard output")
        .expect("it prints a first line");
    let (tx, lines) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok(Some(line)) = stdout.next_line().await {
            let _ = tx.send(line);
        }
    });
    Process {
        child,
        first_line,
        lines,
    }
}

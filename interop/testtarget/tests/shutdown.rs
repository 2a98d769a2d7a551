//! Graceful shutdown of a real server process on a real signal: with clients connected, SIGTERM
//! makes `tether-testtarget` end every session with `Server is shutting down.` (abort message,
//! close code 3000) and exit 0. (That the exports are released then, disposers running, is shown
//! in-process by `tether/tests/net.rs`, where the disposal counter can be read afterwards.)
#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn sigterm_ends_sessions_with_a_reason_and_exits_cleanly() {
    let mut server = Command::new(env!("CARGO_BIN_EXE_tether-testtarget"))
        .arg("0")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line
        .trim()
        .strip_prefix("listening ")
        .unwrap()
        .parse()
        .unwrap();
    let url = format!("ws://127.0.0.1:{port}/");

    // Client A holds a Disposable; client B watches the server-wide disposal count.
    let (mut a, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    for frame in [
        r#"["push",["pipeline",0,["makeDisposable"],["shutdown-test"]]]"#,
        r#"["pull",1]"#,
    ] {
        a.send(Message::text(frame)).await.unwrap();
    }
    let resolved = a.next().await.unwrap().unwrap();
    assert_eq!(
        resolved.to_text().unwrap(),
        r#"["resolve",1,["export",-1]]"#
    );

    let status = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());

    let abort = tokio::time::timeout(Duration::from_secs(10), a.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        abort.to_text().unwrap(),
        r#"["abort",["error","Error","Server is shutting down."]]"#
    );
    match a.next().await.unwrap().unwrap() {
        Message::Close(Some(frame)) => {
            assert_eq!(u16::from(frame.code), 3000);
            assert_eq!(frame.reason.as_str(), "Server is shutting down.");
        }
        other => panic!("expected a close frame, got {other:?}"),
    }
    drop(a);
    let exit = tokio::task::spawn_blocking(move || server.wait().unwrap())
        .await
        .unwrap();
    assert!(exit.success(), "exit status {exit:?}");
}

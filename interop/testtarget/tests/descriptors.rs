//! The server process survives running out of file descriptors: `tether-testtarget` started
//! under `ulimit -n 64`, then sent more connections than it has descriptors. Before, the first
//! failed `accept` (EMFILE, "Too many open files") ended the server; now it backs off, keeps the
//! connections it has, and serves new clients as soon as descriptors are free again.
#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn running_out_of_descriptors_does_not_end_the_server() {
    let mut server = Command::new("sh")
        .args([
            "-c",
            "ulimit -n 64 && exec \"$0\" 0",
            env!("CARGO_BIN_EXE_tether-testtarget"),
        ])
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
    let address = format!("127.0.0.1:{port}");

    // Far more connections than the server has descriptors: the kernel queues them, the
    // server's `accept` fails with EMFILE once its 64 are used up.
    let mut flood = Vec::new();
    for _ in 0..150 {
        flood.push(tokio::net::TcpStream::connect(&address).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        server.try_wait().unwrap().is_none(),
        "the server exited while out of descriptors"
    );

    // Once they go, the server accepts again and serves a new client normally.
    drop(flood);
    let served = async {
        let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{address}/"))
            .await
            .unwrap();
        for frame in [
            r#"["push",["pipeline",0,["square"],[12]]]"#,
            r#"["pull",1]"#,
        ] {
            socket.send(Message::text(frame)).await.unwrap();
        }
        socket.next().await.unwrap().unwrap()
    };
    let reply = tokio::time::timeout(Duration::from_secs(30), served)
        .await
        .expect("a new client was served after the flood");
    assert_eq!(reply.to_text().unwrap(), r#"["resolve",1,144]"#);
    assert!(server.try_wait().unwrap().is_none());

    Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    let exit = tokio::task::spawn_blocking(move || server.wait().unwrap())
        .await
        .unwrap();
    assert!(exit.success(), "exit status {exit:?}");
}

//! An idle WebSocket session does not keep the buffers a large message grew: after a 1 MiB
//! message echoed both ways, the server's live heap (its counting allocator, read through
//! `heapUsed()` on a second session) falls back to about what it was before (tungstenite keeps
//! its read and write buffers at their largest size until the socket is replaced; see
//! `tether::transport::websocket`).

mod common;

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Calls `method` with `args` (JSON) as call number `id` of the session, returns the reply and
/// releases the result (as capnweb does), so the session keeps nothing of the call.
async fn call(socket: &mut Socket, id: u32, method: &str, args: &str) -> String {
    let push = format!("[\"push\",[\"pipeline\",0,[\"{method}\"],{args}]]");
    socket.send(Message::text(push)).await.expect("push sent");
    socket
        .send(Message::text(format!("[\"pull\",{id}]")))
        .await
        .expect("pull sent");
    loop {
        match socket.next().await.expect("a reply").expect("no error") {
            Message::Text(text) => {
                let release = format!("[\"release\",{id},1]");
                socket
                    .send(Message::text(release))
                    .await
                    .expect("release sent");
                return text.as_str().to_owned();
            }
            Message::Close(close) => panic!("closed: {close:?}"),
            _ => continue,
        }
    }
}

#[tokio::test]
async fn an_idle_session_gives_back_the_buffers_of_a_large_message() {
    let server = common::Server::start(env!("CARGO_BIN_EXE_tether-bench-server"), &["0"]);
    let port = server.port;
    let url = format!("ws://127.0.0.1:{port}/");
    let (mut probe, _) = tokio_tungstenite::connect_async(&url).await.expect("probe");
    let (mut big, _) = tokio_tungstenite::connect_async(&url)
        .await
        .expect("session");
    let mut probes = 0;
    let mut heap = async || {
        probes += 1;
        let reply = call(&mut probe, probes, "heapUsed", "[]").await;
        let number = reply
            .strip_prefix(&format!("[\"resolve\",{probes},"))
            .and_then(|r| r.strip_suffix(']'))
            .unwrap_or_else(|| panic!("unexpected reply {reply:?}"));
        number.parse::<f64>().expect("a number") as usize
    };
    // Warm both sessions up with a small call first.
    assert!(call(&mut big, 1, "echo", "[1]")
        .await
        .contains("[\"resolve\",1,1]"));
    let before = heap().await;

    const SIZE: usize = 1 << 20;
    let text = "x".repeat(SIZE);
    let reply = call(&mut big, 2, "echo", &format!("[\"{text}\"]")).await;
    assert!(reply.len() > SIZE, "the large message was echoed");
    drop(reply);

    // The session is idle now; its server side notices at once, but on its own task: look a few
    // times (the buffers held 2 MiB: anything above 256 KiB means they are still there).
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut after = heap().await;
    while after > before + SIZE / 4 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        after = heap().await;
    }
    assert!(
        after <= before + SIZE / 4,
        "the idle session still holds {} bytes more than before the large message",
        after - before
    );
    // And it still works.
    assert!(call(&mut big, 3, "echo", "[2]")
        .await
        .contains("[\"resolve\",3,2]"));
}

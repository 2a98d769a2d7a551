//! The demo binary against tether's own clients: the API behind each panel, over a real socket
//! (the browser test in interop/tests/demo.test.mjs drives the page itself).
#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

use tether::client::{http_batch, websocket};
use tether::typed::Callback;
use tether_demo::{CounterClient, DemoClient, User};
use tether_test_support::{within, Process};
use tokio::process::Command;
use tokio::sync::mpsc;

/// The binary on a free port; `(process, "127.0.0.1:PORT")`.
async fn start() -> (Process, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tether-demo"));
    command.args(["--addr", "127.0.0.1:0"]);
    let process = tether_test_support::start(command).await;
    let host = process
        .first_line
        .strip_prefix("tether demo listening on http://")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("unexpected first line {:?}", process.first_line))
        .to_owned();
    (process, host)
}

#[tokio::test]
async fn the_counter_s_disposer_calls_back_and_the_server_calls_a_function() {
    let (_server, host) = start().await;
    let api = DemoClient::from_stub(
        within("connect", websocket::connect(&format!("ws://{host}/rpc")))
            .await
            .unwrap(),
    );

    let (tx, mut disposed) = mpsc::unbounded_channel();
    let notify = Callback::new(move |(message,): (String,)| {
        let _ = tx.send(message);
        async { Ok(()) }
    });
    let counter: CounterClient = within("makeCounter", api.make_counter(0, Some(notify)))
        .await
        .unwrap();
    for expected in 1..=3 {
        assert_eq!(
            within("increment", counter.increment(None)).await.unwrap(),
            expected
        );
    }
    drop(counter);
    let message = within("the disposer's call", disposed.recv())
        .await
        .unwrap();
    assert!(message.ends_with("disposed (final value 3)"), "{message}");

    let square = Callback::new(|(i,): (u32,)| async move { Ok(f64::from(i * i)) });
    let answers = within("callMeBack", api.call_me_back(3, square))
        .await
        .unwrap();
    assert_eq!(answers, [1.0, 4.0, 9.0]);
    let error = within(
        "callMeBack",
        api.call_me_back(1000, Callback::new(|(_,): (u32,)| async { Ok(0.0) })),
    )
    .await
    .unwrap_err();
    assert_eq!(error.name, "RangeError");
}

#[tokio::test]
async fn pipelining_and_map_in_one_batch_each() {
    let (_server, host) = start().await;
    let url = format!("http://{host}/rpc");

    let api = DemoClient::from_stub(http_batch::connect(&url).unwrap());
    let counter = api.make_counter(10, None);
    let a = counter.increment(Some(5));
    let b = counter.with_promises().increment(a.clone());
    let (a, b) = within("the chain", async { tokio::join!(a, b) }).await;
    assert_eq!((a.unwrap(), b.unwrap()), (15, 30));

    let api = DemoClient::from_stub(http_batch::connect(&url).unwrap());
    let users: tether::typed::TypedPromise<Vec<User>> = api.list_users();
    let greetings = users.map(|user| {
        let name = tether::typed::TypedPromise::new(user.untyped().get("name"), "user.name");
        api.with_promises().greet(name)
    });
    assert_eq!(
        within("map", greetings).await.unwrap(),
        ["Hello, Ada!", "Hello, Grace!", "Hello, Barbara!"]
    );
}

#[tokio::test]
async fn the_page_and_capnweb_are_served_next_to_the_endpoint() {
    let (_server, host) = start().await;
    let get = |path: &'static str| {
        let host = host.clone();
        async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut stream = tokio::net::TcpStream::connect(&host).await.unwrap();
            let request =
                format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
            stream.write_all(request.as_bytes()).await.unwrap();
            let mut response = String::new();
            stream.read_to_string(&mut response).await.unwrap();
            response
        }
    };
    let index = within("GET /", get("/")).await;
    assert!(index.starts_with("HTTP/1.1 200"), "{index}");
    assert!(index.contains("/app.js"));
    let capnweb = within("GET /capnweb.js", get("/capnweb.js")).await;
    assert!(capnweb.starts_with("HTTP/1.1 200"));
    // The real build once `npm ci` has run in interop/; otherwise the stand-in that says so.
    assert!(
        capnweb.contains("newHttpBatchRpcSession"),
        "{}",
        &capnweb[..200.min(capnweb.len())]
    );
    let rpc = within("GET /rpc", get("/rpc")).await;
    assert!(
        rpc.starts_with("HTTP/1.1 405"),
        "a plain GET on the endpoint: {rpc}"
    );
}

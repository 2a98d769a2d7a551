//! The example binary against our own client, over real sockets: subscribe, publish, cut the
//! connection, publish while it is down, reconnect, and check that every event arrives exactly
//! once and in order, and that the server released every subscriber it held.
#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pubsub::client::{ReconnectingClient, Update};
use pubsub::{Event, PubSubClient};
use tether_test_support::{within, Process};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::Command;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// The `pubsub` binary serving on a free port, and the lines it prints.
struct Server {
    process: Process,
    url: String,
}

async fn start_server() -> Server {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pubsub"));
    command.args(["--addr", "127.0.0.1:0"]);
    let process = tether_test_support::start(command).await;
    let url = process
        .first_line
        .strip_prefix("pubsub server listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {:?}", process.first_line))
        .to_owned();
    Server { process, url }
}

impl Server {
    /// Waits for a line of the server's log containing `text`, skipping others.
    async fn log_line(&mut self, text: &str) -> String {
        within(&format!("a server log line with {text:?}"), async {
            loop {
                let line = self.process.lines.recv().await.expect("the server exited");
                if line.contains(text) {
                    return line;
                }
            }
        })
        .await
    }
}

/// A TCP proxy in front of the server whose connections the test can cut, and which can be
/// told to refuse new ones for a while.
struct Proxy {
    url: String,
    refusing: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

async fn start_proxy(upstream: &str) -> Proxy {
    let upstream = upstream
        .trim_start_matches("ws://")
        .trim_end_matches('/')
        .to_owned();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let refusing = Arc::new(AtomicBool::new(false));
    let connections: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
    let (refuse, conns) = (refusing.clone(), connections.clone());
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            if refuse.load(Ordering::SeqCst) {
                continue; // Dropped: the client sees the connection fail.
            }
            let upstream = upstream.clone();
            let relay = tokio::spawn(async move {
                if let Ok(mut server) = TcpStream::connect(&upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
            });
            conns.lock().unwrap().push(relay);
        }
    });
    Proxy {
        url,
        refusing,
        connections,
    }
}

impl Proxy {
    /// Closes every relayed connection: both ends see their socket close.
    fn cut(&self) {
        for relay in self.connections.lock().unwrap().drain(..) {
            relay.abort();
        }
    }
}

async fn next_update(updates: &mut mpsc::UnboundedReceiver<Update>) -> Update {
    within("the next client update", updates.recv())
        .await
        .expect("the client stopped")
}

/// Skips updates until one matches; fails on a duplicate.
async fn until(
    updates: &mut mpsc::UnboundedReceiver<Update>,
    events: &mut Vec<Event>,
    wanted: impl Fn(&Update) -> bool,
) -> Update {
    loop {
        let update = next_update(updates).await;
        match &update {
            Update::Duplicate(event) => panic!("duplicate delivered: {event:?}"),
            Update::Event(event) => events.push(event.clone()),
            _ => {}
        }
        if wanted(&update) {
            return update;
        }
    }
}

async fn subscriber_count(api: &PubSubClient) -> u64 {
    within("subscriberCount()", api.subscriber_count())
        .await
        .unwrap()
}

/// Asks the server until `subscriberCount()` is `n`: the release travels asynchronously.
async fn wait_for_count(api: &PubSubClient, n: u64) {
    within(&format!("subscriberCount() == {n}"), async {
        while subscriber_count(api).await != n {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

async fn publish(api: &PubSubClient, text: &str) -> u64 {
    within("publish", api.publish("news".into(), text.into()))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnecting_client_gets_every_event_once_and_the_server_releases_its_subscribers() {
    let mut server = start_server().await;
    let proxy = start_proxy(&server.url).await;
    let publisher = PubSubClient::from_stub(
        within("connect", tether::client::websocket::connect(&server.url))
            .await
            .unwrap(),
    );
    // An event on another topic, which the subscriber must never see.
    let other = within("publish", publisher.publish("other".into(), "x".into()))
        .await
        .unwrap();

    let (client, mut updates) = ReconnectingClient::spawn(&proxy.url, "news");
    let mut events = Vec::new();
    let first = until(&mut updates, &mut events, |u| {
        matches!(u, Update::Subscribed { .. })
    })
    .await;
    assert_eq!(first, Update::Subscribed { after: None });
    assert_eq!(subscriber_count(&publisher).await, 1);

    // Live events, some published by the client itself.
    let mut published = Vec::new();
    for i in 0..3 {
        published.push(publish(&publisher, &format!("live {i}")).await);
    }
    published.push(
        within("client publish", client.publish("from the client"))
            .await
            .unwrap(),
    );
    let last = *published.last().unwrap();
    until(
        &mut updates,
        &mut events,
        |u| matches!(u, Update::Event(e) if e.id == last),
    )
    .await;

    // Cut the connection and keep the client out while more events are published.
    proxy.refusing.store(true, Ordering::SeqCst);
    proxy.cut();
    until(&mut updates, &mut events, |u| {
        matches!(u, Update::Disconnected { .. })
    })
    .await;
    server.log_line("subscriber released").await;
    wait_for_count(&publisher, 0).await;
    for i in 0..3 {
        published.push(publish(&publisher, &format!("missed {i}")).await);
    }

    // Let it back in: it resubscribes after the last id it saw and gets what it missed.
    proxy.refusing.store(false, Ordering::SeqCst);
    let again = until(&mut updates, &mut events, |u| {
        matches!(u, Update::Subscribed { .. })
    })
    .await;
    assert_eq!(again, Update::Subscribed { after: Some(last) });
    for i in 0..3 {
        published.push(publish(&publisher, &format!("live again {i}")).await);
    }
    let last = *published.last().unwrap();
    until(
        &mut updates,
        &mut events,
        |u| matches!(u, Update::Event(e) if e.id == last),
    )
    .await;

    assert_eq!(client.last_id(), Some(last));
    let ids: Vec<u64> = events.iter().map(|e| e.id).collect();
    assert_eq!(ids, published, "every event once, in order");
    assert!(!ids.contains(&other));
    assert!(events.iter().all(|e| e.topic == "news"));
    assert_eq!(events[3].text, "from the client");
    assert_eq!(events[4].text, "missed 0");
    assert_eq!(subscriber_count(&publisher).await, 1);

    // Unsubscribing releases the subscriber: the server says so, the client's function is
    // dropped, and the count goes back to zero.
    within("stop", client.stop()).await;
    let mut rest = Vec::new();
    while let Ok(update) = updates.try_recv() {
        rest.push(update);
    }
    assert!(rest.contains(&Update::Released), "{rest:?}");
    let line = server.log_line("subscriber released").await;
    assert!(line.contains("unsubscribed"), "{line}");
    wait_for_count(&publisher, 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_subscription_stub_releases_the_subscriber() {
    let mut server = start_server().await;
    let api = PubSubClient::from_stub(
        within("connect", tether::client::websocket::connect(&server.url))
            .await
            .unwrap(),
    );
    let (tx, mut rx) = mpsc::unbounded_channel();
    let subscriber = pubsub::Subscriber::new(move |(event,): (Event,)| {
        let _ = tx.send(event);
        async { Ok(()) }
    });
    let subscription = within("subscribe", api.subscribe("t".into(), None, &subscriber))
        .await
        .unwrap();
    drop(subscriber);
    let id = publish_on(&api, "t", "hello").await;
    let event = within("the event", rx.recv()).await.unwrap();
    assert_eq!((event.id, event.text.as_str()), (id, "hello"));

    // Dispose the subscription: its `#[dispose]` ends it and the server drops the subscriber,
    // which drops our function (its channel closes).
    drop(subscription);
    let line = server.log_line("subscriber released").await;
    assert!(line.contains("subscription released"), "{line}");
    assert_eq!(within("the function's end", rx.recv()).await, None);
    wait_for_count(&api, 0).await;
}

async fn publish_on(api: &PubSubClient, topic: &str, text: &str) -> u64 {
    within("publish", api.publish(topic.into(), text.into()))
        .await
        .unwrap()
}

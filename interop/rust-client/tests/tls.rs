//! TLS both ways, with a certificate authority made at test time: the tether client over
//! `wss://` and `https://` to tether's own TLS server and to the reference Node server behind
//! `https.createServer`, and a client with the default (webpki) roots refusing the unknown CA.
//! (The capnweb client over `wss://` to tether is `interop/tests/tls.test.mjs`.)
#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

use tether::client::{http_batch, websocket, ConnectOptions};
use tether::server::ServerOptions;
use tether::{Stub, Value};
use tether_interop_tests::tls::{temp_dir, TestCa};
use tether_interop_tests::{num, ok, t, Probe, Server};

/// `square(n)` over a fresh WebSocket session and a fresh batch to `ws_url`/`http_url`.
async fn square_both_ways(ws_url: &str, http_url: &str, ca: &TestCa) {
    let options = || ConnectOptions::default().tls_config(ca.client_config());
    let (api, _session) = t!(websocket::connect_with(ws_url, options())).unwrap();
    assert_eq!(num(&ok(t!(api.call("square", vec![12.into()])))), 144.0);
    let batch = http_batch::connect_with(http_url, options()).unwrap();
    assert_eq!(num(&ok(t!(batch.call("square", vec![5.into()])))), 25.0);
}

#[tokio::test]
async fn the_tether_client_reaches_tethers_tls_server_over_wss_and_https() {
    let ca = TestCa::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let options = ServerOptions {
        tls: Some(ca.server_config()),
        ..ServerOptions::default()
    };
    let mut server = tether::server::spawn(listener, || Stub::new(Probe::new(0.0, 0.0).0), options);
    square_both_ways(
        &format!("wss://127.0.0.1:{port}/"),
        &format!("https://127.0.0.1:{port}/"),
        &ca,
    )
    .await;
    // A plain client on the TLS port gets no session.
    let plain = t!(websocket::connect(&format!("ws://127.0.0.1:{port}/")));
    assert!(plain.is_err());
    t!(server.shutdown()).unwrap();
}

#[tokio::test]
async fn the_tether_client_reaches_the_node_reference_over_wss_and_https() {
    let ca = TestCa::new();
    let dir = ca.write_to(&temp_dir("tls-node")).unwrap();
    let server = Server::start_tls(&dir);
    square_both_ways(&server.ws_url(), &server.http_url(), &ca).await;
    server.stop();
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn the_default_roots_refuse_a_certificate_from_an_unknown_ca() {
    let ca = TestCa::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let options = ServerOptions {
        tls: Some(ca.server_config()),
        ..ServerOptions::default()
    };
    let _server = tether::server::spawn(listener, || Stub::new(Probe::new(0.0, 0.0).0), options);
    let error = t!(websocket::connect(&format!("wss://127.0.0.1:{port}/"))).unwrap_err();
    assert!(error.message().contains("TLS handshake"), "{error}");
    assert!(
        error.message().to_lowercase().contains("unknown") || error.message().contains("Unknown"),
        "{error}"
    );
    let batch = http_batch::connect(&format!("https://127.0.0.1:{port}/")).unwrap();
    let error = t!(batch.call("square", vec![Value::from(2)])).unwrap_err();
    assert!(error.message.contains("TLS handshake"), "{error:?}");
}

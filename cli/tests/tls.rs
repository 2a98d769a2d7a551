//! `tether call` over `wss://` and `https://` to tether's TLS server, whose certificate comes
//! from a CA made at test time: trusted with `--ca-cert`, refused without it (the built-in
//! roots do not know that CA).

mod common;

use std::path::PathBuf;

use common::tether;
use tether::server::ServerOptions;
use tether::Stub;
use tether_interop_tests::tls::{temp_dir, TestCa};
use tether_interop_tests::Probe;

/// A TLS server in a thread of its own (it lives as long as the test process), its port, and
/// the CA's PEM file.
fn tls_server() -> (u16, PathBuf) {
    let ca = TestCa::new();
    let dir = ca.write_to(&temp_dir("cli-tls")).expect("the CA files");
    let options = ServerOptions {
        tls: Some(ca.server_config()),
        ..ServerOptions::default()
    };
    let (port_tx, port_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("a port");
            let port = listener.local_addr().expect("its address").port();
            let _server =
                tether::server::spawn(listener, || Stub::new(Probe::new(0.0, 0.0).0), options);
            port_tx.send(port).expect("the test waits for the port");
            std::future::pending::<()>().await;
        });
    });
    let port = port_rx.recv().expect("the server's port");
    (port, dir.join("ca.pem"))
}

#[test]
fn with_ca_cert_the_cli_calls_a_tls_server_over_wss_and_https() {
    let (port, ca) = tls_server();
    let ca = ca.to_str().expect("a UTF-8 path");
    let wss = format!("wss://127.0.0.1:{port}/");
    let run = tether(&["call", "--ca-cert", ca, &wss, "square(7)"], "");
    run.ok();
    assert_eq!(run.stdout, "49\n");

    let https = format!("https://127.0.0.1:{port}/");
    let run = tether(
        &["call", "--batch", "--ca-cert", ca, &https, "square(6)"],
        "",
    );
    run.ok();
    assert_eq!(run.stdout, "36\n");
    let _ = std::fs::remove_dir_all(PathBuf::from(ca).with_file_name(""));
}

#[test]
fn without_ca_cert_the_built_in_roots_refuse_an_unknown_ca() {
    let (port, ca) = tls_server();
    let _ = std::fs::remove_dir_all(ca.with_file_name(""));
    for args in [
        vec!["call".to_owned(), format!("wss://127.0.0.1:{port}/")],
        vec![
            "call".to_owned(),
            "--batch".to_owned(),
            format!("https://127.0.0.1:{port}/"),
        ],
    ] {
        let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
        args.push("square(7)");
        let run = tether(&args, "");
        assert_eq!(run.code, Some(3), "a connection error: {run:#?}");
        assert!(run.stderr.contains("TLS handshake"), "{run:#?}");
        assert_eq!(run.stdout, "");
    }
}

#[test]
fn a_ca_cert_that_is_not_a_certificate_is_a_usage_error() {
    let dir = temp_dir("cli-bad-ca");
    std::fs::create_dir_all(&dir).expect("a directory");
    let bad = dir.join("bad.pem");
    std::fs::write(
        &bad,
        "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
    )
    .expect("written");
    let run = tether(
        &[
            "call",
            "--ca-cert",
            bad.to_str().expect("a UTF-8 path"),
            "wss://127.0.0.1:9/",
            "square(7)",
        ],
        "",
    );
    assert_eq!(run.code, Some(2), "{run:#?}");
    assert!(run.stderr.contains("--ca-cert"), "{run:#?}");
    let _ = std::fs::remove_dir_all(dir);
}

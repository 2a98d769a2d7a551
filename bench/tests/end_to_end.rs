//! End to end: the built server, raw echo server and driver binaries, talking over loopback.
//! Every driver workload runs briefly against them and must report sane figures; the server
//! must pass a few contract checks with tether as the client and exit cleanly on SIGTERM.

mod common;

use std::process::Command;

use common::Server;
use serde_json::Value as Json;

fn drive(server: &Server, workload: &str, extra: &[&str]) -> Json {
    let url = format!("ws://127.0.0.1:{}/", server.port);
    let pid = format!("--server-pid={}", server.child.id());
    let output = Command::new(env!("CARGO_BIN_EXE_tether-bench-driver"))
        .args([
            url.as_str(),
            workload,
            "--duration=0.2",
            "--warmup=0.05",
            &pid,
        ])
        .args(extra)
        .output()
        .expect("driver runs");
    let text = String::from_utf8_lossy(&output.stdout);
    let line: Json = serde_json::from_str(text.trim())
        .unwrap_or_else(|e| panic!("{workload}: not one JSON line ({e}): {text}"));
    assert!(output.status.success(), "{workload} failed: {line}");
    assert_eq!(line["workload"], workload);
    line["result"].clone()
}

fn number(v: &Json, path: &str) -> f64 {
    path.split('.')
        .try_fold(v, |v, k| v.get(k))
        .and_then(Json::as_f64)
        .unwrap_or_else(|| panic!("no number at {path} in {v}"))
}

#[test]
fn every_workload_runs_against_the_servers() {
    let server = Server::start(env!("CARGO_BIN_EXE_tether-bench-server"), &["0"]);
    let raw = Server::start(env!("CARGO_BIN_EXE_tether-raw-echo"), &["0"]);

    let seq = drive(&server, "seq", &[]);
    assert!(number(&seq, "calls") > 0.0);
    assert_eq!(number(&seq, "errors"), 0.0);
    assert_eq!(
        number(&seq, "per_call.c2s_frames"),
        3.0,
        "push, pull, release: {seq}"
    );
    assert_eq!(number(&seq, "per_call.s2c_frames"), 1.0);
    assert!(seq["server_cpu_pct"].is_number());
    // Counted by the server's allocator and the driver's.
    assert!(number(&seq, "server_allocs_per_call") > 0.0, "{seq}");
    assert!(number(&seq, "client_allocs_per_call") > 0.0, "{seq}");
    assert_eq!(number(&seq, "server_large_allocs_per_call"), 0.0, "{seq}");

    let concurrent = drive(&server, "concurrent", &["--concurrency=10"]);
    assert!(number(&concurrent, "calls") >= 10.0);
    assert_eq!(number(&concurrent, "errors"), 0.0);

    let pipeline = drive(&server, "pipeline", &[]);
    assert_eq!(pipeline["chain2_one_round_trip"], true, "{pipeline}");
    assert_eq!(pipeline["chain10_one_round_trip"], true, "{pipeline}");
    assert_eq!(
        number(&pipeline, "chain10_awaited.max_round_trips_per_chain"),
        10.0
    );
    // One resolve per chain (plus the trailing noop()'s, spread over the chains).
    let frames = number(&pipeline, "chain10.per_chain.s2c_frames");
    assert!((1.0..1.1).contains(&frames), "{pipeline}");
    for chain in ["chain2", "chain10", "chain10_awaited"] {
        assert_eq!(
            number(&pipeline, &format!("{chain}.errors")),
            0.0,
            "{pipeline}"
        );
    }

    let stubs = drive(&server, "stubs", &["--count=3000"]);
    assert_eq!(stubs["probe_ok"], true, "{stubs}");
    assert_eq!(number(&stubs, "live_counters_live"), 3000.0);
    assert_eq!(number(&stubs, "live_counters_after_dispose"), 0.0);
    assert_eq!(number(&stubs, "live_counters_after_lists"), 0.0);
    let per_stub = number(&stubs, "server_heap_bytes_per_stub");
    assert!(per_stub > 16.0 && per_stub < 10_000.0, "{stubs}");

    let payload = drive(&server, "payload", &[]);
    for case in ["echo_str_64k", "echo_u8_1m", "bytes_1m"] {
        assert!(
            number(&payload, &format!("{case}.calls")) > 0.0,
            "{payload}"
        );
        assert_eq!(
            number(&payload, &format!("{case}.errors")),
            0.0,
            "{payload}"
        );
    }

    // Every 1 MiB echo allocates at least one block of 1 MiB on the server (the bytes).
    let large = number(&payload, "echo_u8_1m.server_large_allocs_per_call");
    assert!(large >= 1.0, "{payload}");
    assert_eq!(
        number(&payload, "echo_str_64k.server_large_allocs_per_call"),
        0.0,
        "{payload}"
    );

    let batch = drive(&server, "batch", &[]);
    for case in ["echo100", "add_chain100"] {
        assert_eq!(number(&batch, &format!("{case}.errors")), 0.0, "{batch}");
        assert_eq!(
            number(&batch, &format!("{case}.http_requests_per_batch")),
            1.0,
            "{batch}"
        );
    }

    let soak = drive(
        &server,
        "soak",
        &["--calls=2000", "--samples=2", "--concurrency=10"],
    );
    assert!(number(&soak, "calls") >= 2000.0, "{soak}");
    assert_eq!(number(&soak, "errors"), 0.0, "{soak}");
    assert_eq!(number(&soak, "middle.live_counters"), 10.0, "{soak}");
    assert_eq!(number(&soak, "live_counters_end"), 0.0, "{soak}");
    assert_eq!(number(&soak, "live_counters_after_close"), 0.0, "{soak}");
    assert_eq!(soak["samples"].as_array().map(Vec::len), Some(2), "{soak}");
    assert!(number(&soak, "start.heap") > 0.0, "{soak}");

    let churn = drive(&server, "churn", &["--cycles=40", "--parallel=3"]);
    for transport in ["websocket", "http_batch"] {
        assert_eq!(
            number(&churn, &format!("{transport}.cycles")),
            40.0,
            "{churn}"
        );
        assert_eq!(
            number(&churn, &format!("{transport}.errors")),
            0.0,
            "{churn}"
        );
        assert_eq!(
            number(&churn, &format!("{transport}.sessions_opened")),
            40.0,
            "{churn}"
        );
    }
    assert_eq!(number(&churn, "live_counters_end"), 0.0, "{churn}");
    assert_eq!(number(&churn, "fds_after_minus_before"), 0.0, "{churn}");

    let allocs = drive(&server, "allocs", &["--calls=200", "--concurrency=10"]);
    for case in [
        "echo_seq",
        "echo_concurrent",
        "echo_str_64k",
        "echo_u8_1m",
        "bytes_1m",
    ] {
        assert_eq!(number(&allocs, &format!("{case}.errors")), 0.0, "{allocs}");
        assert!(
            number(&allocs, &format!("{case}.server_allocs_per_call")) > 0.0,
            "{allocs}"
        );
    }
    assert_eq!(
        number(&allocs, "echo_seq.server_large_allocs_per_call"),
        0.0,
        "{allocs}"
    );
    for case in ["echo_u8_1m", "bytes_1m"] {
        assert!(
            number(&allocs, &format!("{case}.server_large_allocs_per_call")) >= 1.0,
            "{allocs}"
        );
    }

    for workload in ["raw-seq", "raw-concurrent"] {
        let r = drive(&raw, workload, &["--concurrency=10"]);
        assert!(number(&r, "messages") > 0.0);
        assert_eq!(number(&r, "errors"), 0.0);
    }

    assert!(server.terminate().success(), "server exits 0 on SIGTERM");
    assert!(raw.terminate().success(), "raw echo exits 0 on SIGTERM");
}

#[test]
fn the_server_runs_on_the_multi_thread_runtime_too() {
    let server = Server::start(
        env!("CARGO_BIN_EXE_tether-bench-server"),
        &["0", "--runtime=multi"],
    );
    let seq = drive(&server, "seq", &[]);
    assert_eq!(number(&seq, "errors"), 0.0);
    assert!(server.terminate().success());
}

#[test]
fn the_server_serves_the_dynamic_api_too() {
    let server = Server::start(
        env!("CARGO_BIN_EXE_tether-bench-server"),
        &["0", "--api=dynamic"],
    );
    let seq = drive(&server, "seq", &[]);
    assert_eq!(number(&seq, "errors"), 0.0);
    let stubs = drive(&server, "stubs", &["--count=1000"]);
    assert_eq!(
        number(&stubs, "live_counters_after_dispose"),
        0.0,
        "{stubs}"
    );
    assert!(server.terminate().success());
}

#[test]
fn an_unknown_api_is_a_usage_error() {
    let output = Command::new(env!("CARGO_BIN_EXE_tether-bench-server"))
        .args(["0", "--api=nope"])
        .output()
        .expect("server runs");
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn an_unknown_workload_is_an_error_line() {
    let output = Command::new(env!("CARGO_BIN_EXE_tether-bench-driver"))
        .args(["ws://127.0.0.1:9/", "nope"])
        .output()
        .expect("driver runs");
    assert_eq!(output.status.code(), Some(1));
    let line: Json = serde_json::from_slice(&output.stdout).expect("one JSON line");
    assert_eq!(line["error"], "unknown workload nope");
}

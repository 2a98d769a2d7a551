//! `tether call` against the Rust TestTarget (`tether-testtarget`): results, pipelining seen
//! in `--trace`, `map`, special values, HTTP batch, `@-`, and each kind of error.

mod common;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;

use common::{closed_port, rust_testtarget, tether, CountingProxy};

#[test]
fn a_call_prints_its_result() {
    let server = rust_testtarget();
    let run = tether(&["call", &server.ws(), "square(7)"], "");
    run.ok();
    assert_eq!(run.stdout, "49\n");
}

#[test]
fn a_pipelined_chain_is_one_round_trip() {
    let server = rust_testtarget();
    let run = tether(
        &[
            "call",
            "--trace",
            &server.ws(),
            "makeCounter(5).increment(1)",
        ],
        "",
    );
    run.ok();
    assert_eq!(run.stdout, "6\n");
    let frames = run.frames();
    // Everything is sent before anything comes back: both pushes and the one pull.
    let first_received = frames
        .iter()
        .position(|f| f.starts_with('←'))
        .unwrap_or_else(|| panic!("no frame received: {frames:#?}"));
    let before: Vec<&String> = frames[..first_received]
        .iter()
        .filter(|f| !f.contains(" release "))
        .collect();
    assert_eq!(
        before,
        [
            r#"→ push #1 pipeline 0 ["makeCounter"] (5)"#,
            r#"→ push #2 pipeline 1 ["increment"] (1)"#,
            "→ pull #2",
        ],
        "{frames:#?}"
    );
    let received: Vec<&String> = frames.iter().filter(|f| f.starts_with('←')).collect();
    assert_eq!(received, ["← resolve #2 6"], "{frames:#?}");
    assert_eq!(frames.iter().filter(|f| f.contains(" pull ")).count(), 1);
}

#[test]
fn map_is_one_remap() {
    let server = rust_testtarget();
    let run = tether(
        &[
            "call",
            "--trace",
            &server.ws(),
            "generateFibonacci(6).map(x => api.square(x))",
        ],
        "",
    );
    run.ok();
    assert_eq!(run.stdout, "[0, 1, 1, 4, 9, 25]\n");
    let frames = run.frames();
    let pushes: Vec<&String> = frames.iter().filter(|f| f.contains(" push ")).collect();
    assert_eq!(pushes.len(), 2, "{frames:#?}");
    assert!(
        pushes[1].starts_with("→ push #2 remap 1 [] "),
        "{frames:#?}"
    );
    assert_eq!(
        frames.iter().filter(|f| f.starts_with('←')).count(),
        1,
        "{frames:#?}"
    );

    // A mapper calling a method of the element: counters made by the map, incremented in it.
    let run = tether(
        &[
            "call",
            &server.ws(),
            "[1, 2, 3].map(n => api.makeCounter(n).increment(10))",
        ],
        "",
    );
    run.ok();
    assert_eq!(run.stdout, "[11, 12, 13]\n");
}

#[test]
fn special_values_round_trip_readably() {
    let server = rust_testtarget();
    let expr = r#"echo([undefined, null, 123n, -5n, date("2024-01-01T00:00:00Z"), bytes("AQID"), hex("ff00"), NaN, -Infinity, {"a": [true, "x"]}])"#;
    let run = tether(&["call", &server.ws(), expr], "");
    run.ok();
    assert_eq!(
        run.stdout,
        "[\n  undefined,\n  null,\n  123n,\n  -5n,\n  Date(2024-01-01T00:00:00.000Z),\n  \
         Bytes(len=3),\n  Bytes(len=2),\n  NaN,\n  -Infinity,\n  { \"a\": [true, \"x\"] }\n]\n"
    );
    let run = tether(&["call", &server.ws(), "returnUndefined()"], "");
    assert_eq!(run.ok().stdout, "undefined\n");
    let run = tether(&["call", &server.ws(), "makeCounter(1)"], "");
    assert_eq!(run.ok().stdout, "<stub>\n");
}

#[test]
fn several_statements_share_names_and_one_round_trip() {
    let server = rust_testtarget();
    let run = tether(
        &[
            "call",
            "--trace",
            &server.ws(),
            "let c = makeCounter(1); c.increment(2); c.increment(3)",
        ],
        "",
    );
    run.ok();
    assert_eq!(run.stdout, "3\n6\n");
    let frames = run.frames();
    let first_received = frames.iter().position(|f| f.starts_with('←'));
    let pulls_before = frames[..first_received.unwrap_or(frames.len())]
        .iter()
        .filter(|f| f.contains(" pull "))
        .count();
    assert_eq!(pulls_before, 2, "{frames:#?}");
}

#[test]
fn batch_sends_one_post_with_headers() {
    let server = rust_testtarget();
    let proxy = CountingProxy::to(server.port);
    let run = tether(
        &[
            "call",
            "--batch",
            "--trace",
            "--header",
            "X-Tether-Test: yes",
            &format!("http://127.0.0.1:{}/", proxy.port),
            "makeCounter(5).increment(1)",
        ],
        "",
    );
    run.ok();
    assert_eq!(run.stdout, "6\n");
    // One batch is one request on one connection.
    assert_eq!(proxy.connections(), 1, "{}", run.stderr);
    assert_eq!(
        run.frames().iter().filter(|f| f.starts_with('←')).count(),
        1
    );
}

#[test]
fn arguments_come_from_stdin() {
    let server = rust_testtarget();
    let input = "{\"list\": [1, 2.5, \"three\"], \"nested\": {\"ok\": true}}\n";
    let run = tether(&["call", &server.ws(), "echo(@-)"], input);
    run.ok();
    assert_eq!(
        run.stdout,
        "{ \"list\": [1, 2.5, \"three\"], \"nested\": { \"ok\": true } }\n"
    );
    let run = tether(&["call", "--batch", &server.http(), "square(@-)"], "12");
    assert_eq!(run.ok().stdout, "144\n");
}

#[test]
fn a_server_error_is_one_line_and_exit_1() {
    let server = rust_testtarget();
    let run = tether(&["call", &server.ws(), "nope()"], "");
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert_eq!(run.stderr, "error: TypeError: 'nope' is not a function.\n");
    assert_eq!(run.stdout, "");
    let run = tether(&["call", &server.ws(), "makeCounter(1).value()"], "");
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(run.stderr.starts_with("error: TypeError: "), "{run:#?}");
}

#[test]
fn a_parse_error_echoes_the_expression_with_a_caret() {
    let server = rust_testtarget();
    let run = tether(
        &["call", &server.ws(), "makeCounter(5).increment(1,, 2)"],
        "",
    );
    assert_eq!(run.code, Some(2), "{run:#?}");
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(
        lines,
        [
            "parse error: unexpected `,` at column 28",
            "  makeCounter(5).increment(1,, 2)",
            "                             ^",
        ],
        "{}",
        run.stderr
    );
}

#[test]
fn a_wrong_url_is_refused_before_connecting() {
    for (url, want) in [
        ("ftp://127.0.0.1/", "unsupported URL scheme \"ftp\""),
        ("not a url", "invalid URL"),
        ("http://127.0.0.1:1/", "use --batch"),
    ] {
        let run = tether(&["call", url, "square(2)"], "");
        assert_eq!(run.code, Some(2), "{url}: {run:#?}");
        assert!(run.stderr.starts_with("error: "), "{url}: {run:#?}");
        assert!(run.stderr.contains(want), "{url}: {run:#?}");
        assert_eq!(run.stderr.lines().count(), 1, "{url}: {run:#?}");
    }
}

#[test]
fn a_refused_connection_is_exit_3() {
    let port = closed_port();
    let url = format!("ws://127.0.0.1:{port}/");
    let run = tether(&["call", &url, "square(2)"], "");
    assert_eq!(run.code, Some(3), "{run:#?}");
    assert!(
        run.stderr
            .starts_with(&format!("error: cannot connect to {url}: ")),
        "{run:#?}"
    );
    assert!(run.stderr.contains("refused"), "{run:#?}");
    let url = format!("http://127.0.0.1:{port}/");
    let run = tether(&["call", "--batch", &url, "square(2)"], "");
    assert_eq!(run.code, Some(3), "{run:#?}");
    assert!(run.stderr.contains("refused"), "{run:#?}");
    assert_eq!(run.stderr.lines().count(), 1, "{run:#?}");
}

/// The request head the CLI sends to a listener that answers nothing (then the CLI fails).
fn request_head(args: &[&str]) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding a port");
    let port = listener.local_addr().expect("address").port();
    let args: Vec<String> = args
        .iter()
        .map(|a| a.replace("PORT", &port.to_string()))
        .collect();
    let cli = std::thread::spawn(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        tether(&args, "")
    });
    let (socket, _) = listener.accept().expect("the CLI connects");
    let mut head = String::new();
    let mut reader = BufReader::new(socket);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).expect("reading the request") == 0 || line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    drop(reader); // no answer: the CLI reports a failed connection
    let run = cli.join().expect("the CLI thread");
    assert_eq!(run.code, Some(3), "{run:#?}");
    head.to_ascii_lowercase()
}

#[test]
fn headers_go_on_the_handshake_and_on_the_batch_post() {
    let head = request_head(&[
        "call",
        "-H",
        "X-Api-Key: secret 1",
        "--header",
        "Authorization: Bearer t",
        "ws://127.0.0.1:PORT/rpc",
        "square(2)",
    ]);
    assert!(head.starts_with("get /rpc http/1.1"), "{head}");
    assert!(head.contains("upgrade: websocket"), "{head}");
    assert!(head.contains("x-api-key: secret 1\r\n"), "{head}");
    assert!(head.contains("authorization: bearer t\r\n"), "{head}");

    let head = request_head(&[
        "call",
        "--batch",
        "-H",
        "X-Api-Key: secret 2",
        "http://127.0.0.1:PORT/batch",
        "square(2)",
    ]);
    assert!(head.starts_with("post /batch http/1.1"), "{head}");
    assert!(head.contains("x-api-key: secret 2\r\n"), "{head}");
}

//! The example binary against tether's own HTTP batch client: the three dependent calls in one
//! request (counted from the server's request log), the errors of the API, and the static page.
#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

use batch_pipelining::{ApiClient, Profile, User};
use tether::client::http_batch;
use tether::typed::TypedPromise;
use tether_test_support::{within, Process};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

/// The binary on a free port with no artificial delays, and its request log.
struct Server {
    process: Process,
    port: u16,
}

async fn start() -> Server {
    let mut command = Command::new(env!("CARGO_BIN_EXE_batch-pipelining"));
    command
        .env("PORT", "0")
        .env("DELAY_AUTH_MS", "0")
        .env("DELAY_PROFILE_MS", "0")
        .env("DELAY_NOTIFS_MS", "0");
    let process = tether_test_support::start(command).await;
    let first = &process.first_line;
    let port = first
        .strip_prefix("batch-pipelining listening on http://127.0.0.1:")
        .and_then(|rest| rest.split('/').next())
        .and_then(|port| port.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"));
    Server { process, port }
}

impl Server {
    fn rpc_url(&self) -> String {
        format!("http://127.0.0.1:{}/rpc", self.port)
    }

    /// A plain HTTP/1.1 GET: the status line and the body.
    async fn get(&self, path: &str) -> (String, String) {
        let mut stream = within(
            "connect",
            tokio::net::TcpStream::connect(("127.0.0.1", self.port)),
        )
        .await
        .unwrap();
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        within("the response", stream.read_to_string(&mut response))
            .await
            .unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap();
        (head.lines().next().unwrap().to_owned(), body.to_owned())
    }

    /// The requests logged since the last call, up to a marker request made now.
    async fn requests_so_far(&mut self, marker: &str) -> Vec<String> {
        let path = format!("/marker-{marker}");
        self.get(&path).await;
        let mut lines = Vec::new();
        within("the marker in the log", async {
            loop {
                let line = self.process.lines.recv().await.expect("the server exited");
                if line.starts_with(&format!("GET {path} ")) {
                    return;
                }
                lines.push(line);
            }
        })
        .await;
        lines
    }
}

#[tokio::test]
async fn three_dependent_calls_travel_in_one_request() {
    let mut server = start().await;
    server.requests_so_far("start").await;

    let api = ApiClient::from_stub(http_batch::connect(&server.rpc_url()).unwrap());
    let user = api.authenticate("cookie-123".into());
    // `user.id` before `user` has arrived: a promise passed as the argument.
    let id: TypedPromise<String> = TypedPromise::new(user.untyped().get("id"), "user.id");
    let profile = api.with_promises().get_user_profile(id.clone());
    let notifications = api.with_promises().get_notifications(id);
    let (user, profile, notifications) = within("the batch", async {
        tokio::join!(user, profile, notifications)
    })
    .await;

    assert_eq!(
        user.unwrap(),
        User {
            id: "u_1".into(),
            name: "Ada Lovelace".into()
        }
    );
    let profile: Profile = profile.unwrap();
    assert_eq!(profile.id, "u_1");
    assert!(!profile.bio.is_empty());
    assert_eq!(notifications.unwrap().len(), 2);

    let requests = server.requests_so_far("after").await;
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert!(requests[0].starts_with("POST /rpc 200 "), "{requests:?}");
}

#[tokio::test]
async fn errors_and_unknown_users_are_as_in_capnweb_s_example() {
    let server = start().await;
    let connect = || ApiClient::from_stub(http_batch::connect(&server.rpc_url()).unwrap());

    let error = within("authenticate", connect().authenticate("nope".into()))
        .await
        .unwrap_err();
    assert_eq!(
        (error.name.as_str(), error.message.as_str()),
        ("Error", "Invalid session")
    );

    let error = within("getUserProfile", connect().get_user_profile("u_9".into()))
        .await
        .unwrap_err();
    assert_eq!(
        (error.name.as_str(), error.message.as_str()),
        ("Error", "No such user")
    );

    let none = within(
        "getNotifications",
        connect().get_notifications("u_9".into()),
    )
    .await
    .unwrap();
    assert!(none.is_empty());

    // A failed authentication rejects what was pipelined on it, in the same batch.
    let api = connect();
    let user = api.authenticate("cookie-000".into());
    let id: TypedPromise<String> = TypedPromise::new(user.untyped().get("id"), "user.id");
    let profile = within(
        "pipelined profile",
        api.with_promises().get_user_profile(id),
    )
    .await
    .unwrap_err();
    assert_eq!(profile.message, "Invalid session");

    let alan = within("authenticate", connect().authenticate("cookie-456".into()))
        .await
        .unwrap();
    assert_eq!(alan.name, "Alan Turing");
}

#[tokio::test]
async fn the_page_and_capnweb_are_served_on_the_same_port() {
    let server = start().await;
    let (status, body) = server.get("/").await;
    assert!(status.contains("200"), "{status}");
    assert!(body.contains("./main.js"), "{body}");
    let (status, body) = server.get("/vendor/capnweb.js").await;
    // Present once `npm ci` has run in interop/ (CI does); otherwise a 404 saying so.
    if status.contains("200") {
        assert!(body.contains("newHttpBatchRpcSession"));
    } else {
        assert!(
            status.contains("404") && body.contains("npm ci"),
            "{status} {body}"
        );
    }
    let (status, _) = server.get("/../Cargo.toml").await;
    assert!(status.contains("404"), "{status}");
}

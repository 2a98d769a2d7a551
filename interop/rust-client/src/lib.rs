//! Shared helpers for the interop tests of the tether Rust *client* against the reference Node
//! TestTarget server (`interop/node/testtarget-server.mjs`, written with npm `capnweb`; the
//! contract is `TESTTARGET.md`).
//!
//! * [`Server`]: starts `node node/testtarget-server.mjs 0` (cwd `interop/`), waits for its
//!   `listening PORT` line and stops it when dropped. [`shared`] gives one server per test binary.
//!   The server runs under a tiny `sh` watchdog that kills it when the test process's end of a
//!   pipe closes, so a server held in a `static` (never dropped) does not outlive the tests.
//! * [`Via`]: the two transports, to run the same test over WebSocket and HTTP batch.
//! * [`Tap`] / [`FrameLog`] and [`connect_ws_tapped`]: a WebSocket session whose frames are
//!   recorded, to count round trips.
//! * [`CountingProxy`]: a TCP proxy counting connections, to prove an HTTP batch is one request.
//! * [`Probe`]: a Rust [`Target`] (a counter, a callback, a `square`) that counts its disposals.
//! * [`wait_disposed`]: polls the server-wide `disposedCount(tag)` from a separate session.
//! * [`tls::TestCa`]: a certificate authority made at test time, for the TLS tests.

use std::future::IntoFuture;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

pub mod tls;

use tether::client::{http_batch, websocket};
use tether::transport::websocket::WebSocketTransport;
use tether::{
    BoxFuture, RpcError, RpcPromise, RpcResult, RpcSession, SessionOptions, Stub, Target, Value,
};

/// How long any single await in a test may take before the test fails instead of hanging.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// How long to wait for the Node server's `listening PORT` line.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Awaits `future`, failing the test (naming `what`) if it takes longer than [`TIMEOUT`].
pub async fn within<F: IntoFuture>(what: &str, future: F) -> F::Output {
    match tokio::time::timeout(TIMEOUT, future.into_future()).await {
        Ok(output) => output,
        Err(_) => panic!("timed out after {TIMEOUT:?} awaiting `{what}`"),
    }
}

/// Polls `condition` until it holds, failing the test (naming `what`) after [`TIMEOUT`].
pub async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {TIMEOUT:?} waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// `t!(expr)`: awaits `expr` with the test timeout ([`within`]); the panic names the expression.
#[macro_export]
macro_rules! t {
    ($e:expr) => {
        $crate::within(stringify!($e), $e).await
    };
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

// ------------------------------------------------------------------------------------------------
// The Node server

/// Starts the server under a watchdog: the server is killed (SIGTERM) when the watchdog's stdin
/// reaches end of file, i.e. when [`Server`] is dropped or the test process exits, however it
/// exits. `$1` is the port. The watchdog prints `pid N` (the Node process) first.
const WATCHDOG: &str = r#"node node/testtarget-server.mjs "$1" &
pid=$!
echo "pid $pid"
read -r _line || true
kill -TERM "$pid" 2>/dev/null
wait "$pid"
"#;

/// A server process run by `sh -c SCRIPT testtarget-watchdog ARG` in a directory, and the lines
/// it prints on stdout (read on a thread, so the server never blocks on a full pipe). The script
/// is a watchdog: it must stop the server when its stdin reaches end of file, which happens when
/// `stdin` is dropped or the test process exits, however it exits.
pub struct Watched {
    /// The watchdog shell.
    pub child: Child,
    /// Its stdin: close it (or write a line) to stop the server.
    pub stdin: ChildStdin,
    /// What the server prints, line by line.
    pub lines: mpsc::Receiver<String>,
}

impl Watched {
    /// Starts `script` with `arg` as `$1`, in `dir`.
    pub fn spawn(script: &str, arg: impl AsRef<std::ffi::OsStr>, dir: &Path) -> Watched {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg("testtarget-watchdog")
            .arg(arg)
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawning `sh` to run a server under a watchdog");
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        Watched {
            child,
            stdin,
            lines,
        }
    }
}

/// A running reference server (`node node/testtarget-server.mjs`).
pub struct Server {
    /// The port it listens on, on 127.0.0.1.
    pub port: u16,
    /// Whether it speaks TLS (`wss://`, `https://`).
    pub tls: bool,
    node_pid: u32,
    watchdog: Mutex<Option<(Child, ChildStdin)>>,
}

/// The `interop/` directory (holding `node/`, `package.json` and `node_modules/`).
pub fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate lives in interop/rust-client")
        .to_path_buf()
}

impl Server {
    /// Starts a new server on a free port (the server binds port 0 and reports the port it got).
    ///
    /// Panics with instructions if `interop/node_modules` is missing.
    pub fn start() -> Server {
        Self::start_script(WATCHDOG, false)
    }

    /// Starts a new server speaking TLS (`https.createServer`) with `cert.pem` and `key.pem`
    /// from `pem_dir` (see [`tls::TestCa::write_to`]).
    pub fn start_tls(pem_dir: &Path) -> Server {
        let env = format!(
            "TLS_CERT='{}' TLS_KEY='{}' ",
            pem_dir.join("cert.pem").display(),
            pem_dir.join("key.pem").display()
        );
        Self::start_script(&format!("{env}{WATCHDOG}"), true)
    }

    fn start_script(script: &str, tls: bool) -> Server {
        let dir = interop_dir();
        let capnweb = dir.join("node_modules").join("capnweb");
        assert!(
            capnweb.is_dir(),
            "{} is missing: run `npm ci` in {} first (the interop tests need the capnweb npm \
             package and Node >= 20)",
            capnweb.display(),
            dir.display()
        );
        let Watched {
            mut child,
            stdin,
            lines: rx,
        } = Watched::spawn(script, "0", &dir);
        let mut node_pid = None;
        let port = loop {
            let line = match rx.recv_timeout(START_TIMEOUT) {
                Ok(line) => line,
                Err(e) => {
                    let _ = child.kill();
                    panic!("the Node TestTarget server did not print `listening PORT` ({e}); is `node` (>= 20) installed?");
                }
            };
            if let Some(pid) = line.strip_prefix("pid ") {
                node_pid = pid.trim().parse().ok();
            } else if let Some(port) = line.strip_prefix("listening ") {
                break port.trim().parse().expect("a port number");
            } else {
                eprintln!("testtarget-server stdout: {line}");
            }
        };
        Server {
            port,
            tls,
            node_pid: node_pid.expect("the watchdog prints the Node pid first"),
            watchdog: Mutex::new(Some((child, stdin))),
        }
    }

    /// `ws://127.0.0.1:PORT/` (`wss://` with TLS).
    pub fn ws_url(&self) -> String {
        let s = if self.tls { "s" } else { "" };
        format!("ws{s}://127.0.0.1:{}/", self.port)
    }

    /// `http://127.0.0.1:PORT/` (`https://` with TLS).
    pub fn http_url(&self) -> String {
        let s = if self.tls { "s" } else { "" };
        format!("http{s}://127.0.0.1:{}/", self.port)
    }

    /// The server's socket address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Kills the Node process with SIGKILL: its sockets die without a close handshake.
    pub fn kill_hard(&self) {
        let status = Command::new("kill")
            .arg("-KILL")
            .arg(self.node_pid.to_string())
            .status()
            .expect("running kill");
        assert!(status.success(), "kill -KILL {} failed", self.node_pid);
    }

    /// Stops the server (SIGTERM through the watchdog) and waits for it.
    pub fn stop(&self) {
        if let Some((mut child, mut stdin)) = lock(&self.watchdog).take() {
            let _ = stdin.write_all(b"stop\n");
            drop(stdin);
            let _ = child.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The server shared by every test of one test binary (started on first use).
pub fn shared() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(Server::start)
}

// ------------------------------------------------------------------------------------------------
// Sessions

/// A transport to run a test over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// One WebSocket session (`tether::client::websocket::connect`).
    WebSocket,
    /// One HTTP batch (`tether::client::http_batch::connect`): everything before the first
    /// await goes in one POST, and the session ends with the response.
    Batch,
}

impl Via {
    /// Both transports.
    pub const ALL: [Via; 2] = [Via::WebSocket, Via::Batch];

    /// The main stub of a new session on `server`.
    pub async fn connect(self, server: &Server) -> Stub {
        match self {
            Via::WebSocket => connect_ws(server).await,
            Via::Batch => connect_batch(server),
        }
    }
}

/// A new WebSocket session with `server` (ends when the returned stub and its clones are gone).
pub async fn connect_ws(server: &Server) -> Stub {
    within("websocket::connect", websocket::connect(&server.ws_url()))
        .await
        .expect("WebSocket connection to the Node server")
}

/// A new HTTP batch session with `server`.
pub fn connect_batch(server: &Server) -> Stub {
    http_batch::connect(&server.http_url()).expect("an http:// URL")
}

pub use tether::transport::tap::{FrameLog, Tap};

/// Panics if the peer sent an `abort` (e.g. because this client over-released something).
#[track_caller]
pub fn assert_no_abort(log: &FrameLog) {
    assert!(
        !log.received().iter().any(|f| frame_type(f) == "abort"),
        "the server aborted the session:\n{}",
        log.dump()
    );
}

/// The message type of a frame (`"push"`, `"resolve"`, ...), or `"?"`.
pub fn frame_type(frame: &str) -> String {
    serde_json::from_str::<serde_json::Value>(frame)
        .ok()
        .and_then(|v| v.get(0)?.as_str().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

/// A frame parsed as JSON (`Null` if it is not JSON).
pub fn frame_json(frame: &str) -> serde_json::Value {
    serde_json::from_str(frame).unwrap_or(serde_json::Value::Null)
}

/// A WebSocket session whose frames are recorded.
pub struct TappedSession {
    /// The server's main stub.
    pub api: Stub,
    /// The frames of this session.
    pub log: FrameLog,
    /// The session task.
    pub task: tokio::task::JoinHandle<RpcResult<()>>,
}

/// Opens a WebSocket session with `server` through a [`Tap`], offering `main` (or nothing).
pub async fn connect_ws_tapped(server: &Server, main: Option<Stub>) -> TappedSession {
    let (socket, _response) = within(
        "connect_async",
        tokio_tungstenite::connect_async(server.ws_url()),
    )
    .await
    .expect("WebSocket connection to the Node server");
    let log = FrameLog::default();
    let tap = Tap::new(WebSocketTransport::new(socket), log.clone());
    let options = SessionOptions {
        close_when_main_dropped: true,
        ..SessionOptions::default()
    };
    let (api, task) = RpcSession::spawn(tap, main, options);
    TappedSession { api, log, task }
}

// ------------------------------------------------------------------------------------------------
// HTTP: counting requests

/// A TCP proxy in front of a server that counts the connections it accepts. tether's HTTP batch
/// client opens one connection per request, so this counts batches.
pub struct CountingProxy {
    /// Where to connect instead of the server.
    pub addr: SocketAddr,
    connections: Arc<AtomicUsize>,
}

impl CountingProxy {
    /// Starts a proxy to `target` on the current runtime.
    pub async fn start(target: SocketAddr) -> CountingProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding a proxy port");
        let addr = listener.local_addr().expect("proxy address");
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = connections.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        CountingProxy { addr, connections }
    }

    /// `http://ADDR/`.
    pub fn http_url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

// ------------------------------------------------------------------------------------------------
// Disposal counts

/// A tag no other test (in any test binary) uses: `disposedCount` is server-wide.
pub fn unique_tag(name: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{name}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// `disposedCount(tag)`, asked through a new WebSocket session (an observer that holds nothing).
pub async fn disposed_count(server: &Server, tag: &str) -> f64 {
    let observer = connect_ws(server).await;
    let count = within(
        "disposedCount",
        observer.call("disposedCount", vec![tag.into()]),
    )
    .await
    .expect("disposedCount");
    count.as_f64().expect("disposedCount returns a number")
}

/// Polls `disposedCount(tag)` from an observer session until it is at least `want` (panics after
/// [`TIMEOUT`]), then checks for a moment that it does not overshoot; returns the final count.
pub async fn wait_disposed(server: &Server, tag: &str, want: f64) -> f64 {
    let observer = connect_ws(server).await;
    let ask = || {
        let promise = observer.call("disposedCount", vec![tag.into()]);
        async move {
            within("disposedCount", promise)
                .await
                .expect("disposedCount")
                .as_f64()
                .expect("a number")
        }
    };
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    let mut count = ask().await;
    while count < want {
        assert!(
            tokio::time::Instant::now() < deadline,
            "disposedCount({tag}) stayed at {count}, expected {want}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
        count = ask().await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    ask().await
}

// ------------------------------------------------------------------------------------------------
// A Rust target

/// One call a [`Probe`] received: the method name (`""` when called as a function) and the
/// arguments.
pub type ProbeCall = (String, Vec<Value>);

/// A Rust [`Target`] for the server to call: `increment(n = 1)` (a counter starting at `start`),
/// `square(i)` (returns `i * i + bias`), and, called as a function, returns `"cb:" + arg`
/// (strings) or `arg * 3` (numbers). Every call is recorded; disposals are counted.
pub struct Probe {
    value: Mutex<f64>,
    bias: f64,
    calls: Arc<Mutex<Vec<ProbeCall>>>,
    disposed: Arc<AtomicUsize>,
}

/// What a [`Probe`] saw, shared with the test after the probe is moved into a stub.
#[derive(Clone, Default)]
pub struct ProbeLog {
    calls: Arc<Mutex<Vec<ProbeCall>>>,
    disposed: Arc<AtomicUsize>,
}

impl ProbeLog {
    /// Method names and arguments of the calls so far (`""` for a call as a function).
    pub fn calls(&self) -> Vec<ProbeCall> {
        lock(&self.calls).clone()
    }

    /// How many times the disposer ran.
    pub fn disposed(&self) -> usize {
        self.disposed.load(Ordering::SeqCst)
    }

    /// Waits (up to [`TIMEOUT`]) until the disposer has run `n` times.
    pub async fn wait_disposed(&self, n: usize) {
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        while self.disposed() < n {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the probe's disposer ran {} times, expected {n}",
                self.disposed()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Probe {
    /// A probe whose counter starts at `start` and whose `square` adds `bias`, with its log.
    pub fn new(start: f64, bias: f64) -> (Probe, ProbeLog) {
        let log = ProbeLog::default();
        let probe = Probe {
            value: Mutex::new(start),
            bias,
            calls: log.calls.clone(),
            disposed: log.disposed.clone(),
        };
        (probe, log)
    }
}

impl Target for Probe {
    fn call<'a>(&'a self, method: &'a str, args: Vec<Value>) -> BoxFuture<'a, RpcResult> {
        Box::pin(async move {
            lock(&self.calls).push((method.to_owned(), args.clone()));
            let first = args.first().cloned().unwrap_or_default();
            match method {
                "increment" => {
                    let by = first.as_f64().unwrap_or(1.0);
                    let mut value = lock(&self.value);
                    *value += by;
                    Ok((*value).into())
                }
                "square" => {
                    let i = first.as_f64().unwrap_or(f64::NAN);
                    Ok((i * i + self.bias).into())
                }
                "" => match first {
                    Value::String(s) => Ok(format!("cb:{s}").into()),
                    Value::Number(n) => Ok((n * 3.0).into()),
                    other => Ok(other),
                },
                _ => Err(RpcError::not_a_function(method)),
            }
        })
    }

    fn get<'a>(&'a self, name: &'a str) -> BoxFuture<'a, RpcResult> {
        Box::pin(async move {
            Ok(match name {
                "value" => (*lock(&self.value)).into(),
                _ => Value::Undefined,
            })
        })
    }

    fn dispose(self: Arc<Self>) -> Option<BoxFuture<'static, RpcResult<()>>> {
        self.disposed.fetch_add(1, Ordering::SeqCst);
        None
    }
}

// ------------------------------------------------------------------------------------------------
// Values

/// Awaits every promise concurrently (so over HTTP batch they all travel in one request), with
/// the test timeout.
pub async fn all(promises: impl IntoIterator<Item = RpcPromise>) -> Vec<RpcResult> {
    let futures = promises.into_iter().map(IntoFuture::into_future);
    within("all promises", futures_util::future::join_all(futures)).await
}

/// Panics unless `got` equals `want` by [`Value::data_eq`], showing both.
#[track_caller]
pub fn assert_data_eq(got: &Value, want: &Value, context: &str) {
    assert!(
        got.data_eq(want),
        "{context}: values differ\n  got:  {got:?}\n  want: {want:?}"
    );
}

/// The number in `value`, or a panic naming what it was.
#[track_caller]
pub fn num(value: &Value) -> f64 {
    value
        .as_f64()
        .unwrap_or_else(|| panic!("expected a number, got {value:?}"))
}

/// The result of a call that must succeed.
#[track_caller]
pub fn ok(result: RpcResult) -> Value {
    result.unwrap_or_else(|e| panic!("call failed: {e} ({:?})", e.kind()))
}

/// The error of a call that must fail.
#[track_caller]
pub fn err(result: RpcResult) -> RpcError {
    match result {
        Ok(v) => panic!("expected a rejection, got {v:?}"),
        Err(e) => e,
    }
}

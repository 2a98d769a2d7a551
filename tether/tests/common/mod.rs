//! Shared fixtures: a test API served over an in-process connection whose frames are recorded.
#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tether::transport::memory::pair;
pub use tether::transport::tap::{FrameLog, Tap};
use tether::{BoxFuture, RpcError, RpcResult, RpcSession, SessionOptions, Stub, Target, Value};

/// A client session connected in-process to a server session serving `server_main`.
pub struct Connection {
    pub api: Stub,
    pub log: FrameLog,
    pub client: tokio::task::JoinHandle<RpcResult<()>>,
    pub server: tokio::task::JoinHandle<RpcResult<()>>,
}

pub fn connect(server_main: Stub) -> Connection {
    connect_with(server_main, None, SessionOptions::default())
}

pub fn connect_with(
    server_main: Stub,
    client_main: Option<Stub>,
    client_options: SessionOptions,
) -> Connection {
    let (a, b) = pair();
    let log = FrameLog::default();
    let tap = Tap::new(a, log.clone());
    let (api, client) = RpcSession::spawn(tap, client_main, client_options);
    let (_client_main, server) = RpcSession::spawn(b, Some(server_main), SessionOptions::default());
    Connection {
        api,
        log,
        client,
        server,
    }
}

/// Waits (up to 10 s) until `condition` holds; panics with `what` otherwise.
pub async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    for _ in 0..2000 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("timed out waiting until {what}");
}

/// Server-wide disposer counts by tag, as TESTTARGET's `disposedCount`.
static DISPOSED: Mutex<Option<HashMap<String, usize>>> = Mutex::new(None);

pub fn disposed_count(tag: &str) -> usize {
    DISPOSED
        .lock()
        .unwrap()
        .as_ref()
        .and_then(|m| m.get(tag).copied())
        .unwrap_or(0)
}

fn count_disposal(tag: &str) {
    let mut guard = DISPOSED.lock().unwrap();
    *guard
        .get_or_insert_with(HashMap::new)
        .entry(tag.to_owned())
        .or_default() += 1;
}

/// A unique tag per test, so parallel tests do not share counters.
pub fn tag(name: &str) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!("{name}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// How a [`Disposable`]'s disposer behaves.
#[derive(Clone, Copy)]
pub enum DisposeMode {
    Ok,
    Fail,
    Panic,
}

/// A target whose disposer counts its runs under its tag.
pub struct Disposable {
    pub tag: String,
    pub mode: DisposeMode,
}

impl Target for Disposable {
    fn call<'a>(&'a self, method: &'a str, _args: Vec<Value>) -> BoxFuture<'a, RpcResult> {
        Box::pin(async move {
            match method {
                "ping" => Ok("pong".into()),
                _ => Err(RpcError::not_a_function(method)),
            }
        })
    }
    fn get<'a>(&'a self, name: &'a str) -> BoxFuture<'a, RpcResult> {
        Box::pin(async move {
            Ok(match name {
                "tag" => self.tag.clone().into(),
                _ => Value::Undefined,
            })
        })
    }
    fn dispose(self: Arc<Self>) -> Option<BoxFuture<'static, RpcResult<()>>> {
        Some(Box::pin(async move {
            count_disposal(&self.tag);
            match self.mode {
                DisposeMode::Ok => Ok(()),
                DisposeMode::Fail => {
                    Err(RpcError::error(format!("disposer of {} failed", self.tag)))
                }
                DisposeMode::Panic => panic!("disposer of {} panicked", self.tag),
            }
        }))
    }
}

pub fn disposable(tag: &str) -> Stub {
    Stub::new(Disposable {
        tag: tag.to_owned(),
        mode: DisposeMode::Ok,
    })
}

/// A counter with a getter, as TESTTARGET's Counter.
pub struct Counter(pub Mutex<f64>);

impl Target for Counter {
    fn call<'a>(&'a self, method: &'a str, args: Vec<Value>) -> BoxFuture<'a, RpcResult> {
        Box::pin(async move {
            match method {
                "increment" => {
                    let by = args.first().and_then(Value::as_f64).unwrap_or(1.0);
                    let mut value = self.0.lock().unwrap();
                    *value += by;
                    Ok((*value).into())
                }
                _ => Err(RpcError::not_a_function(method)),
            }
        })
    }
    fn get<'a>(&'a self, name: &'a str) -> BoxFuture<'a, RpcResult> {
        Box::pin(async move {
            Ok(match name {
                "value" => (*self.0.lock().unwrap()).into(),
                _ => Value::Undefined,
            })
        })
    }
}

/// The main object the tests serve.
#[derive(Default)]
pub struct Api {
    pub kept: Mutex<Option<Stub>>,
}

fn number(args: &[Value], i: usize) -> f64 {
    args.get(i).and_then(Value::as_f64).unwrap_or(0.0)
}

fn text(args: &[Value], i: usize) -> String {
    args.get(i).and_then(Value::as_str).unwrap_or("").to_owned()
}

impl Target for Api {
    fn call<'a>(&'a self, method: &'a str, mut args: Vec<Value>) -> BoxFuture<'a, RpcResult> {
        Box::pin(async move {
            match method {
                "square" => Ok((number(&args, 0) * number(&args, 0)).into()),
                "add" => Ok((number(&args, 0) + number(&args, 1)).into()),
                "echo" => Ok(args.into_iter().next().unwrap_or_default()),
                "throwError" => Err(RpcError::range_error("test error")),
                "makeCounter" => Ok(Stub::new(Counter(Mutex::new(number(&args, 0)))).into()),
                "makeDisposable" => Ok(disposable(&text(&args, 0)).into()),
                "makeFailingDisposable" => {
                    let mode = if text(&args, 1) == "panic" {
                        DisposeMode::Panic
                    } else {
                        DisposeMode::Fail
                    };
                    Ok(Stub::new(Disposable {
                        tag: text(&args, 0),
                        mode,
                    })
                    .into())
                }
                // One target, one lineage per slot: the disposer runs once per slot.
                "makeDisposableRepeated" => {
                    let target: Arc<dyn Target> = Arc::new(Disposable {
                        tag: text(&args, 0),
                        mode: DisposeMode::Ok,
                    });
                    let n = number(&args, 1) as usize;
                    Ok(Value::array(
                        (0..n).map(|_| Stub::from_arc(target.clone()).into()),
                    ))
                }
                // One lineage sent n times: the disposer runs once, after every copy is released.
                "makeSameStubRepeated" => {
                    let stub = disposable(&text(&args, 0));
                    let n = number(&args, 1) as usize;
                    Ok(Value::array((0..n).map(|_| stub.clone().into())))
                }
                "disposedCount" => Ok(disposed_count(&text(&args, 0)).into()),
                "registerCallback" => {
                    let callback = args
                        .swap_remove(0)
                        .into_stub()
                        .ok_or_else(|| RpcError::type_error("callback expected"))?;
                    *self.kept.lock().unwrap() = Some(callback);
                    Ok(Value::Undefined)
                }
                "fireCallback" => {
                    let callback = self.kept.lock().unwrap().clone();
                    let callback =
                        callback.ok_or_else(|| RpcError::error("no callback registered"))?;
                    callback.invoke(args).await
                }
                "releaseCallback" => Ok(self.kept.lock().unwrap().take().is_some().into()),
                "callFunction" => {
                    let func = args
                        .first()
                        .and_then(Value::as_stub)
                        .cloned()
                        .ok_or_else(|| RpcError::type_error("function expected"))?;
                    let result = func
                        .invoke(vec![args.get(1).cloned().unwrap_or_default()])
                        .await?;
                    Ok(Value::object([("result", result)]))
                }
                "ignoreArgs" => Ok(Value::Null),
                "sleep" => {
                    tokio::time::sleep(std::time::Duration::from_millis(number(&args, 0) as u64))
                        .await;
                    Ok("slept".into())
                }
                "hang" => {
                    // Never returns; reports when its future is dropped (cancellation).
                    let tag = text(&args, 0);
                    let _guard = DropCounter(tag);
                    std::future::pending::<()>().await;
                    Ok(Value::Undefined)
                }
                "panic" => panic!("method panicked on purpose"),
                _ => Err(RpcError::not_a_function(method)),
            }
        })
    }
    fn get<'a>(&'a self, name: &'a str) -> BoxFuture<'a, RpcResult> {
        Box::pin(async move {
            Ok(match name {
                "version" => "1.0".into(),
                "nested" => {
                    Value::object([("inner", Value::object([("answer", Value::from(42))]))])
                }
                _ => Value::Undefined,
            })
        })
    }
}

/// Counts (as a disposal under its tag) when dropped: lets tests see a future being cancelled.
pub struct DropCounter(pub String);

impl Drop for DropCounter {
    fn drop(&mut self) {
        count_disposal(&self.0);
    }
}

pub fn api() -> Stub {
    Stub::new(Api::default())
}

/// A response read off a raw socket by [`raw_http`].
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl RawResponse {
    /// The first header called `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request over a fresh socket, with `headers` (`Name: value` lines) and `body`;
/// the connection is closed after the response.
pub async fn raw_http(
    address: &str,
    method: &str,
    path: &str,
    headers: &[&str],
    body: &str,
) -> RawResponse {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut socket = tokio::net::TcpStream::connect(address).await.unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for header in headers {
        request.push_str(header);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    request.push_str(body);
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), socket.read_to_end(&mut response))
        .await
        .expect("a response within 20 s")
        .unwrap();
    let response = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines.next().unwrap()[9..12].parse().unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    RawResponse {
        status,
        headers,
        body: body.to_owned(),
    }
}

/// The next frame from `raw` that starts with `prefix` (bounded: none arriving in 20 s, or the
/// session ending first, fails the test).
pub async fn next_starting(
    raw: &mut tether::transport::memory::MemoryTransport,
    prefix: &str,
) -> String {
    use futures_util::StreamExt;
    let read = async {
        while let Some(Ok(frame)) = raw.next().await {
            if frame.starts_with(prefix) {
                return frame.to_string();
            }
        }
        panic!("the session ended without a frame starting {prefix}");
    };
    tokio::time::timeout(Duration::from_secs(20), read)
        .await
        .expect("the frame arrived")
}

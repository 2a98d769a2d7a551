//! Run with: `cargo run --example quickstart`
//!
//! A server and a client in one process, over the in-memory transport, printing every message
//! the client sends (→) and receives (←). It shows:
//!
//! 1. a pipelined call chain: `api.makeCounter(10).increment(5)` sends both calls before any
//!    reply and costs one round trip;
//! 2. a dup: a clone of a stub keeps the remote object alive after the original is dropped;
//! 3. the disposer running on the server when the last stub is dropped.

use std::sync::Mutex;

use futures_util::{future, SinkExt, StreamExt};
use tether::transport::memory;
use tether::transport::{Outgoing, TransportError};
use tether::{BoxFuture, RpcError, RpcResult, RpcSession, SessionOptions, Stub, Target, Value};

/// The server's main object.
struct Api;

impl Target for Api {
    fn call<'a>(&'a self, method: &'a str, args: Vec<Value>) -> BoxFuture<'a, RpcResult> {
        Box::pin(async move {
            match method {
                "makeCounter" => {
                    let start = args.first().and_then(Value::as_f64).unwrap_or(0.0);
                    Ok(Stub::new(Counter(Mutex::new(start))).into())
                }
                _ => Err(RpcError::not_a_function(method)),
            }
        })
    }
}

/// A counter passed by reference. Its disposer runs when the client drops its last stub.
struct Counter(Mutex<f64>);

impl Target for Counter {
    fn call<'a>(&'a self, method: &'a str, args: Vec<Value>) -> BoxFuture<'a, RpcResult> {
        Box::pin(async move {
            match method {
                "increment" => {
                    let by = args.first().and_then(Value::as_f64).unwrap_or(1.0);
                    let mut value = self.0.lock().unwrap_or_else(|p| p.into_inner());
                    *value += by;
                    Ok((*value).into())
                }
                _ => Err(RpcError::not_a_function(method)),
            }
        })
    }

    fn dispose(self: std::sync::Arc<Self>) -> Option<BoxFuture<'static, RpcResult<()>>> {
        Some(Box::pin(async move {
            let value = *self.0.lock().unwrap_or_else(|p| p.into_inner());
            println!("   [server] Counter disposer ran (final value {value})");
            Ok(())
        }))
    }
}

#[tokio::main]
async fn main() -> RpcResult<()> {
    let (client_end, server_end) = memory::pair();
    // Print what the client sends and receives.
    let client_end = client_end
        .inspect(|frame| {
            if let Ok(text) = frame {
                println!("   ← {text}");
            }
        })
        .with(|out: Outgoing| {
            if let Outgoing::Message(text) = &out {
                println!("   → {text}");
            }
            future::ready(Ok::<_, TransportError>(out))
        });
    let (_, server) =
        RpcSession::spawn(server_end, Some(Stub::new(Api)), SessionOptions::default());
    let (api, _client) = RpcSession::spawn(client_end, None, SessionOptions::default());

    println!("1. Pipelined chain: api.makeCounter(10).increment(5), awaited once");
    let counter = api.call("makeCounter", vec![10.into()]);
    let value = counter.call("increment", vec![5.into()]).await?;
    println!(
        "   = {}  (two calls, one round trip)\n",
        value.as_f64().unwrap_or(f64::NAN)
    );

    println!("2. Dup: keep a clone, drop the original, call through the clone");
    let counter = counter
        .await?
        .into_stub()
        .ok_or_else(|| RpcError::type_error("expected a stub"))?;
    let dup = counter.dup();
    drop(counter);
    let value = dup.call("increment", vec![1.into()]).await?;
    println!(
        "   = {}  (the object is still alive)\n",
        value.as_f64().unwrap_or(f64::NAN)
    );

    println!("3. Dispose: dropping the last stub releases the object on the server");
    drop(dup);
    // Give the release a moment to travel and the disposer to run, then close the session.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    drop(api);
    server.abort();
    Ok(())
}

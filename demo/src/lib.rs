//! The demo's server: the API the page calls and the router that serves the page, capnweb's
//! browser build and the RPC endpoint on one port. The binary (`main.rs`) only picks the address.
//!
//! What each panel of the page uses:
//!
//! | panel | calls | shows |
//! | --- | --- | --- |
//! | pipelining | `makeCounter(10)`, `.increment(5)`, `.increment(<that promise>)` in one HTTP batch | the results and the number of HTTP requests: 1 |
//! | counter | `makeCounter(0, onDisposed)`, `increment()`, then dispose | the value, and the server's disposer calling `onDisposed` back |
//! | callback | `callMeBack(3, f)` | each call the server makes into the page, and the results it collected |
//! | map | `listUsers().map(u => api.greet(u.name))` in one HTTP batch | one greeting per user, one HTTP request |
//! | frames | every WebSocket frame and batch line, both ways | the protocol itself |
//!
//! Layout: this file (the API), [`web`] (routes, the embedded page).

pub mod web;

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tether::typed::Callback;
use tether::{RpcError, RpcResult};

/// A function of the page the server calls with a message.
pub type Notify = Callback<(String,), ()>;

/// The demo's main object, one per WebSocket session or HTTP batch.
#[tether::interface]
pub trait Demo {
    /// A new counter starting at `start`. When the last stub of it is disposed, its disposer
    /// runs on the server and calls `on_disposed` (if given) with a message saying so.
    async fn make_counter(&self, start: i64, on_disposed: Option<Notify>) -> CounterClient;

    /// Calls `f(1)`, `f(2)`, ... `f(times)` in turn, each after the previous answered, and
    /// returns the answers.
    async fn call_me_back(&self, times: u32, f: Callback<(u32,), f64>) -> RpcResult<Vec<f64>>;

    /// A few users.
    async fn list_users(&self) -> Vec<User>;

    /// A greeting for `name`.
    async fn greet(&self, name: String) -> String;
}

/// A counter; its `#[dispose]` method is the server-side disposer.
#[tether::interface]
pub trait Counter {
    /// Adds `by` (default 1) and returns the new value.
    async fn increment(&self, by: Option<i64>) -> i64;

    /// The current value.
    #[getter]
    async fn value(&self) -> i64;

    /// Runs once the last stub is gone: says so on the server's output and to the page.
    #[dispose]
    async fn disposed(&self);
}

/// One entry of [`Demo::list_users`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// A short id.
    pub id: String,
    /// A display name.
    pub name: String,
}

/// Lives as long as the server; shared by every session.
#[derive(Default)]
pub struct Shared {
    counters: AtomicU64,
}

/// The main object of one session (behind a [`DemoClient`]).
pub struct Session {
    shared: Arc<Shared>,
}

impl Session {
    /// The main object for one session.
    pub fn new(shared: Arc<Shared>) -> Session {
        Session { shared }
    }
}

/// Bounds on what a page may ask for.
const MAX_NAME: usize = 200;
const MAX_CALLBACKS: u32 = 20;

impl Demo for Session {
    async fn make_counter(&self, start: i64, on_disposed: Option<Notify>) -> CounterClient {
        let id = self.shared.counters.fetch_add(1, Ordering::SeqCst) + 1;
        CounterClient::serve(Count {
            id,
            value: AtomicI64::new(start),
            on_disposed,
        })
    }

    async fn call_me_back(&self, times: u32, f: Callback<(u32,), f64>) -> RpcResult<Vec<f64>> {
        if times > MAX_CALLBACKS {
            return Err(RpcError::range_error(format!(
                "callMeBack: at most {MAX_CALLBACKS} times"
            )));
        }
        let mut answers = Vec::new();
        for i in 1..=times {
            answers.push(f.call((i,)).await?);
        }
        Ok(answers)
    }

    async fn list_users(&self) -> Vec<User> {
        [("u1", "Ada"), ("u2", "Grace"), ("u3", "Barbara")]
            .map(|(id, name)| User {
                id: id.into(),
                name: name.into(),
            })
            .to_vec()
    }

    async fn greet(&self, name: String) -> String {
        let name: String = name.chars().take(MAX_NAME).collect();
        format!("Hello, {name}!")
    }
}

struct Count {
    id: u64,
    value: AtomicI64,
    on_disposed: Option<Notify>,
}

impl Counter for Count {
    async fn increment(&self, by: Option<i64>) -> i64 {
        let by = by.unwrap_or(1);
        self.value.fetch_add(by, Ordering::SeqCst).wrapping_add(by)
    }

    async fn value(&self) -> i64 {
        self.value.load(Ordering::SeqCst)
    }

    async fn disposed(&self) {
        let message = format!(
            "counter #{} disposed (final value {})",
            self.id,
            self.value.load(Ordering::SeqCst)
        );
        println!("[server] {message}");
        if let Some(notify) = &self.on_disposed {
            // The page may be gone already (disposed by a disconnection): nothing to tell then.
            let _ = notify.call((message,)).await;
        }
    }
}

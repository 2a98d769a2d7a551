//! # tether-macros
//!
//! The `#[tether::interface]` attribute: declare an RPC interface once, as a Rust trait, and get
//! both sides of it (in the spirit of tarpc's `#[tarpc::service]`). Use it through `tether`,
//! which re-exports it as `tether::interface`.
//!
//! For a trait `Calculator` it generates:
//!
//! | item | what it is |
//! | --- | --- |
//! | `trait Calculator` | the trait as written; each `async fn` returns a `Send` future, and the trait requires `Send + Sync + 'static` |
//! | `impl Calculator for Arc<T>` | for any `T: Calculator`, so one object can be served several times (below); so do not implement the trait for an `Arc` yourself |
//! | `CalculatorServer<T>` | a `tether::Target` serving any `T: Calculator`: dispatch by JavaScript name, argument checks at the boundary, result encoding |
//! | `CalculatorClient` | a typed stub (from any `tether::Stub`): each method returns a `tether::typed::TypedPromise` |
//! | `CalculatorWithPromises<'a>` | from `CalculatorClient::with_promises()`: the same methods, each argument taken by value a `T` or a `TypedPromise<T>` (`impl tether::typed::IntoArg<T>`), e.g. the element placeholder inside `TypedPromise::map` |
//!
//! Members:
//!
//! * `async fn name(&self, params...) -> T` (or a plain `fn`, for a body that does not wait) is
//!   a method, called from JavaScript as `name` in camelCase (`make_counter` is `makeCounter`);
//!   `#[rename = "jsName"]` overrides the name. A parameter may carry `#[rename = "jsName"]`
//!   too: arguments are positional, so that name only appears in error messages.
//! * A parameter of type `Option<T>` may be missing, `undefined` or `null`. Any other missing or
//!   mistyped argument rejects with a `TypeError` naming the method and the parameter
//!   (`makeCounter: parameter 'start' must be an integer, got string`); the body does not run.
//!   (To tell `undefined` from `null`, take a `tether::Value`.)
//! * Parameters and results are serde types, `tether::Value`, `tether::Stub`, typed clients or
//!   callbacks (`tether::typed::Callback<(A, B), R>`: a function, its arguments and result
//!   checked). A parameter is taken by value (`T`) or by reference (`&T`, `&str`, `&[T]`).
//! * A result `Result<T, E>` with `E: Into<tether::RpcError>` rejects with the error on `Err`.
//! * `#[getter] async fn name(&self) -> T` is a property, read with `get`; calling it as a method
//!   rejects with `TypeError: 'name' is not a function.`, as in capnweb.
//! * `#[dispose] async fn name(&self)` (optional, at most one) runs when the last stub of a
//!   lineage is released; it is not reachable remotely. A plain `fn` disposer runs in place, as
//!   the last stub goes (no task is spawned: keep it short); an `async fn` one runs on a task.
//!   Either way an `Err` or a panic goes to `tether::set_uncaught_error_hook`.
//! * Unknown members are as in capnweb: calling one is a `TypeError`, reading one is `undefined`.
//!
//! Ownership does the lifecycle of the stubs a method receives and returns:
//!
//! | in the signature | what happens to a stub (or typed client) |
//! | --- | --- |
//! | `counter: CounterClient` | the method owns it: kept if it stores it, released when the call returns if it drops it |
//! | `counter: &CounterClient` | lent for the call: released when the call returns, unless the method keeps a duplicate (`counter.clone()`); the borrow checker refuses to keep the reference itself |
//! | `-> CounterClient` | moved into the result: the caller gets the reference the method had |
//! | `{Trait}Client::serve(x)` | a new target and a new lineage |
//! | `{Trait}Client::serve(Arc::clone(&shared))` | the same object as a new lineage each time: its `#[dispose]` runs once per lineage, when that lineage's last stub is gone |
//!
//! On the client side the same holds: passing a client by value transfers it (using it again
//! does not compile), passing it by reference keeps yours.
//!
//! A result that is a typed client can be used before it arrives:
//! `calc.make_counter(Some(5)).increment(1).await?` sends both calls at once.
//!
//! ```
//! use std::sync::atomic::{AtomicI64, Ordering};
//! use tether::{transport::memory, RpcError, RpcSession, SessionOptions};
//!
//! #[tether::interface]
//! pub trait Counter {
//!     /// Adds `amount` (default 1) and returns the new value.
//!     async fn increment(&self, amount: Option<i64>) -> i64;
//!     /// The current value, as a property.
//!     #[getter]
//!     async fn value(&self) -> i64;
//! }
//!
//! #[tether::interface]
//! pub trait Calculator {
//!     async fn square(&self, x: f64) -> f64;
//!     async fn make_counter(&self, start: Option<i64>) -> Result<CounterClient, RpcError>;
//!     #[getter]
//!     async fn version(&self) -> String;
//!     #[rename = "customName"]
//!     async fn renamed(&self) -> bool;
//! }
//!
//! struct Count(AtomicI64);
//!
//! impl Counter for Count {
//!     async fn increment(&self, amount: Option<i64>) -> i64 {
//!         self.0.fetch_add(amount.unwrap_or(1), Ordering::SeqCst) + amount.unwrap_or(1)
//!     }
//!     async fn value(&self) -> i64 {
//!         self.0.load(Ordering::SeqCst)
//!     }
//! }
//!
//! struct Calc;
//!
//! impl Calculator for Calc {
//!     async fn square(&self, x: f64) -> f64 {
//!         x * x
//!     }
//!     async fn make_counter(&self, start: Option<i64>) -> Result<CounterClient, RpcError> {
//!         Ok(CounterClient::serve(Count(AtomicI64::new(start.unwrap_or(0)))))
//!     }
//!     async fn version(&self) -> String {
//!         "1.0".to_owned()
//!     }
//!     async fn renamed(&self) -> bool {
//!         true
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> tether::RpcResult<()> {
//! let (client_end, server_end) = memory::pair();
//! let (_, _server) =
//!     RpcSession::spawn(server_end, Some(CalculatorClient::serve(Calc).into()), SessionOptions::default());
//! let (main, _client) = RpcSession::spawn(client_end, None, SessionOptions::default());
//! let calc = CalculatorClient::from(main);
//!
//! assert_eq!(calc.square(3.0).await?, 9.0);
//! assert_eq!(calc.version().await?, "1.0");
//! // One round trip: `increment` is sent before `makeCounter` has answered.
//! assert_eq!(calc.make_counter(Some(5)).increment(Some(2)).await?, 7);
//! // Untyped access still works, with the JavaScript names.
//! assert_eq!(calc.stub().call("customName", vec![]).await?.as_bool(), Some(true));
//! # Ok(()) }
//! ```
//!
//! Set `TETHER_MACROS_DEBUG=1` while building to print each expansion to standard error.
//!
//! The macro is built as parse → model → generate: `parse` checks the trait and reports every
//! problem with its span, `model` holds the checked interface as plain data, `generate` writes
//! the code.

use proc_macro::TokenStream;
use quote::ToTokens;

mod generate;
mod model;
mod parse;

/// Declares an RPC interface as a trait. See the [crate documentation](crate).
#[proc_macro_attribute]
pub fn interface(args: TokenStream, item: TokenStream) -> TokenStream {
    let item = match syn::parse::<syn::ItemTrait>(item) {
        Ok(item) => item,
        Err(error) => {
            return syn::Error::new(
                error.span(),
                "#[tether::interface] goes on a trait: `pub trait Name { async fn ...; }`",
            )
            .to_compile_error()
            .into()
        }
    };
    let expanded = match parse::interface(args.into(), item) {
        Ok(interface) => generate::Expansion(&interface).into_token_stream(),
        Err(errors) => errors.to_compile_error(),
    };
    if std::env::var_os("TETHER_MACROS_DEBUG").is_some_and(|v| v != "0" && !v.is_empty()) {
        eprintln!("{expanded}");
    }
    expanded.into()
}

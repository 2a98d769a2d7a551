//! The rules of the `dispose` module, one test each: aggregation order, use after dispose,
//! panics, sync disposables on the async stack, cancellation, the small adapters.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tether::dispose::{
    AsyncDisposable, AsyncDisposableStack, AsyncDisposeFn, Disposable, DisposableStack,
    DisposeError, DisposeFn, Using,
};
use tether::{BoxFuture, ErrorKind, RpcError, Value};

#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    fn push(&self, line: impl Into<String>) {
        self.0.lock().expect("log poisoned").push(line.into());
    }

    fn lines(&self) -> Vec<String> {
        self.0.lock().expect("log poisoned").clone()
    }

    /// A closure that logs `line` when called.
    fn note(&self, line: &str) -> impl FnOnce() + Send + 'static {
        let (log, line) = (self.clone(), line.to_owned());
        move || log.push(line)
    }
}

/// Checks `error` is `c` wrapping (`b` wrapping `a`): the newest failure on top.
fn assert_nested_newest_on_top(error: &DisposeError) {
    let DisposeError::Suppressed {
        error: c,
        suppressed,
    } = error
    else {
        panic!("expected a SuppressedError, got {error:?}");
    };
    assert_eq!(c.to_string(), "c");
    let DisposeError::Suppressed {
        error: b,
        suppressed: a,
    } = &**suppressed
    else {
        panic!("expected a nested SuppressedError, got {suppressed:?}");
    };
    assert_eq!((b.to_string(), a.to_string()), ("b".into(), "a".into()));
    let leaves: Vec<String> = error.failures().iter().map(|e| e.to_string()).collect();
    assert_eq!(
        leaves,
        ["a", "b", "c"],
        "failures() lists them oldest first"
    );
}

#[test]
fn three_failures_nest_with_the_newest_on_top() {
    let mut stack = DisposableStack::new();
    // Registered c, b, a: disposed a, b, c.
    for name in ["c", "b", "a"] {
        stack.defer(move || Err(name)).expect("defer");
    }
    let error = stack.dispose().expect_err("three failures");
    assert_nested_newest_on_top(&error);
    assert_eq!(
        error.to_string(),
        "c (after earlier failure: b (after earlier failure: a))"
    );
}

#[tokio::test]
async fn three_async_failures_nest_with_the_newest_on_top() {
    let mut stack = AsyncDisposableStack::new();
    stack.defer(|| async { Err::<(), _>("c") }).expect("defer");
    stack.defer_sync(|| Err::<(), _>("b")).expect("defer");
    stack
        .adopt("a", |name| async move {
            tokio::task::yield_now().await;
            Err::<(), _>(name)
        })
        .expect("adopt");
    let error = stack.dispose().await.expect_err("three failures");
    assert_nested_newest_on_top(&error);
}

#[test]
fn an_aggregate_becomes_a_javascript_suppressed_error() {
    let error = DisposeError::from(RpcError::type_error("b"))
        .suppressing(DisposeError::from(RpcError::range_error("a")));
    let rpc = RpcError::from(error);
    assert_eq!(rpc.name, "SuppressedError");
    let Some(Value::Error(newest)) = rpc.props.get("error") else {
        panic!("no `error` property: {rpc:?}");
    };
    let Some(Value::Error(earlier)) = rpc.props.get("suppressed") else {
        panic!("no `suppressed` property: {rpc:?}");
    };
    assert_eq!(**newest, RpcError::type_error("b"));
    assert_eq!(**earlier, RpcError::range_error("a"));
    let disposed = RpcError::from(DisposeError::AlreadyDisposed);
    assert_eq!(
        (disposed.name.as_str(), disposed.kind()),
        ("ReferenceError", ErrorKind::Disposed)
    );
}

#[test]
fn using_a_disposed_stack_is_an_error_and_runs_nothing() {
    let log = Log::default();
    let mut stack = DisposableStack::new();
    stack.dispose().expect("empty dispose");
    assert!(stack.is_disposed());
    let already = |result: Result<(), DisposeError>| {
        assert!(
            matches!(result, Err(DisposeError::AlreadyDisposed)),
            "{result:?}"
        );
    };
    already(stack.defer(log.note("defer")));
    already(stack.use_resource(DisposeFn::new(log.note("use"))));
    let note = log.note("adopt");
    already(stack.adopt(1, move |_| note()));
    assert!(matches!(stack.move_(), Err(DisposeError::AlreadyDisposed)));
    assert!(
        stack.dispose().is_ok(),
        "disposing again does nothing, as in JS"
    );
    drop(stack);
    assert!(log.lines().is_empty(), "{:?}", log.lines());
}

#[tokio::test]
async fn using_a_disposed_async_stack_is_an_error_and_runs_nothing() {
    let log = Log::default();
    let mut stack = AsyncDisposableStack::new();
    let mut moved = stack.move_().expect("move");
    assert!(stack.is_disposed() && !moved.is_disposed());
    let already = |result: Result<(), DisposeError>| {
        assert!(
            matches!(result, Err(DisposeError::AlreadyDisposed)),
            "{result:?}"
        );
    };
    let note = log.note("defer");
    already(stack.defer(|| async move { note() }));
    already(stack.defer_sync(log.note("defer_sync")));
    already(stack.use_resource(AsyncDisposeFn::new(|| async {})));
    already(stack.use_sync(DisposeFn::new(log.note("use_sync"))));
    already(stack.adopt((), |()| async {}));
    let note = log.note("adopt_sync");
    already(stack.adopt_sync((), move |()| note()));
    assert!(matches!(stack.move_(), Err(DisposeError::AlreadyDisposed)));
    assert!(stack.dispose().await.is_ok());
    moved.dispose().await.expect("dispose");
    assert!(log.lines().is_empty(), "{:?}", log.lines());
}

#[test]
fn a_panicking_cleanup_does_not_stop_the_others() {
    let log = Log::default();
    let mut stack = DisposableStack::new();
    stack.defer(log.note("first registered")).expect("defer");
    stack.defer(|| -> () { panic!("boom") }).expect("defer");
    stack.defer(log.note("last registered")).expect("defer");
    let error = stack.dispose().expect_err("the panic is reported");
    assert!(
        matches!(&error, DisposeError::Panicked(m) if m == "boom"),
        "{error:?}"
    );
    assert_eq!(log.lines(), ["last registered", "first registered"]);
}

async fn late_panic() {
    tokio::task::yield_now().await;
    panic!("late boom");
}

#[tokio::test]
async fn a_panicking_async_cleanup_does_not_stop_the_others() {
    let log = Log::default();
    let mut stack = AsyncDisposableStack::new();
    stack
        .defer_sync(log.note("first registered"))
        .expect("defer");
    stack.defer(late_panic).expect("defer");
    stack
        .defer(|| -> std::future::Ready<()> { panic!("early boom") })
        .expect("defer");
    stack
        .defer_sync(log.note("last registered"))
        .expect("defer");
    let error = stack.dispose().await.expect_err("both panics are reported");
    let messages: Vec<String> = error.failures().iter().map(|e| e.to_string()).collect();
    assert_eq!(
        messages,
        [
            "cleanup panicked: early boom",
            "cleanup panicked: late boom"
        ]
    );
    assert_eq!(log.lines(), ["last registered", "first registered"]);
}

/// A synchronous resource.
struct SyncThing(&'static str, Log);

impl Disposable for SyncThing {
    fn dispose(&mut self) -> Result<(), DisposeError> {
        self.1.push(self.0);
        Ok(())
    }
}

/// An asynchronous resource.
struct AsyncThing(&'static str, Log);

impl AsyncDisposable for AsyncThing {
    fn dispose_async(&mut self) -> BoxFuture<'_, Result<(), DisposeError>> {
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(1)).await;
            self.1.push(self.0);
            Ok(())
        })
    }
}

#[tokio::test]
async fn the_async_stack_accepts_sync_disposables_in_order() {
    let log = Log::default();
    let mut stack = AsyncDisposableStack::new();
    stack
        .use_sync(SyncThing("sync resource", log.clone()))
        .expect("use_sync");
    stack
        .use_resource(AsyncThing("async resource", log.clone()))
        .expect("use");
    stack
        .defer_sync(log.note("sync defer"))
        .expect("defer_sync");
    let to_log = log.clone();
    stack
        .adopt_sync("sync adopt", move |name| to_log.push(name))
        .expect("adopt_sync");
    let mut inner = DisposableStack::new();
    inner.defer(log.note("sync stack")).expect("defer");
    stack
        .use_sync(inner)
        .expect("a DisposableStack is Disposable");
    stack.dispose().await.expect("dispose");
    assert_eq!(
        log.lines(),
        [
            "sync stack",
            "sync adopt",
            "sync defer",
            "async resource",
            "sync resource"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_dispose_leaves_the_cleanups_not_yet_started() {
    let log = Log::default();
    let mut stack = AsyncDisposableStack::new();
    stack.defer_sync(log.note("oldest")).expect("defer");
    let note = log.note("slow");
    stack
        .defer(|| async move {
            tokio::time::sleep(Duration::from_secs(10)).await;
            note();
        })
        .expect("defer");
    stack.defer_sync(log.note("newest")).expect("defer");
    let cancelled = tokio::time::timeout(Duration::from_secs(1), stack.dispose()).await;
    assert!(cancelled.is_err(), "timed out");
    assert_eq!(log.lines(), ["newest"]);
    assert_eq!(
        stack.len(),
        1,
        "the slow one was cancelled, the oldest is left"
    );
    stack.dispose().await.expect("finish");
    assert_eq!(log.lines(), ["newest", "oldest"]);
}

#[tokio::test]
async fn dispose_with_aggregates_the_block_and_the_disposal() {
    let mut stack = AsyncDisposableStack::new();
    stack
        .defer_sync(|| Err::<(), _>("disposal"))
        .expect("defer");
    let outcome: Result<(), _> = Err(std::io::Error::other("block"));
    let error = stack.dispose_with(outcome).await.expect_err("both failed");
    let messages: Vec<String> = error.failures().iter().map(|e| e.to_string()).collect();
    assert_eq!(
        messages,
        ["block", "disposal"],
        "the disposal wraps the block"
    );

    let mut stack = DisposableStack::new();
    assert_eq!(stack.dispose_with(Ok::<_, DisposeError>(7)).ok(), Some(7));
}

#[tokio::test]
async fn adapters_dispose_once() {
    let log = Log::default();
    let mut once = DisposeFn::new(log.note("fn"));
    once.dispose().expect("first");
    once.dispose().expect("second does nothing");
    let mut boxed: Box<dyn Disposable> = Box::new(Some(SyncThing("option", log.clone())));
    boxed.dispose().expect("first");
    boxed.dispose().expect("second does nothing");
    let note = log.note("async fn");
    let mut async_once = AsyncDisposeFn::new(|| async move { note() });
    async_once.dispose_async().await.expect("first");
    async_once
        .dispose_async()
        .await
        .expect("second does nothing");
    let mut task = tokio::spawn(std::future::pending::<()>());
    task.dispose().expect("abort");
    assert!(task.await.expect_err("aborted").is_cancelled());
    let guard = Using::new(DisposeFn::new(log.note("disarmed")));
    drop(guard.into_inner());
    Using::new(DisposeFn::new(|| Err::<(), _>("explicit")))
        .dispose()
        .expect_err("returned");
    assert_eq!(log.lines(), ["fn", "option", "async fn"]);
}

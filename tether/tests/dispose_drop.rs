//! Dropping undisposed stacks and guards: everything is disposed, failures reach the
//! uncaught-error hook, and asynchronous cleanups are spawned (or reported outside a runtime).

use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use tether::dispose::{AsyncDisposableStack, DisposableStack, DisposeFn, Using};
use tether::RpcError;

#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    fn lines(&self) -> Vec<String> {
        self.0.lock().expect("log poisoned").clone()
    }

    fn note(&self, line: &str) -> impl FnOnce() + Send + 'static {
        let (log, line) = (self.0.clone(), line.to_owned());
        move || log.lock().expect("log poisoned").push(line)
    }
}

/// Everything the uncaught-error hook received in this test binary (tests run in parallel, so
/// each one looks for its own markers).
static UNCAUGHT: Mutex<Vec<RpcError>> = Mutex::new(Vec::new());

fn uncaught_containing(marker: &str) -> Vec<RpcError> {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        tether::set_uncaught_error_hook(|error| {
            UNCAUGHT.lock().expect("hook poisoned").push(error.clone());
        })
    });
    let all = UNCAUGHT.lock().expect("hook poisoned");
    all.iter()
        .filter(|e| format!("{e:?}").contains(marker))
        .cloned()
        .collect()
}

#[test]
fn dropping_a_stack_disposes_it_and_reports_failures() {
    uncaught_containing(""); // install the hook first
    let log = Log::default();
    {
        let mut stack = DisposableStack::new();
        stack.defer(log.note("oldest")).expect("defer");
        stack
            .defer(|| Err::<(), _>("drop-marker-1"))
            .expect("defer");
        stack.defer(log.note("newest")).expect("defer");
    }
    assert_eq!(log.lines(), ["newest", "oldest"]);
    let reported = uncaught_containing("drop-marker-1");
    assert_eq!(reported.len(), 1, "{reported:?}");
    assert_eq!(reported[0].message, "drop-marker-1");
}

#[test]
fn dropping_a_using_guard_reports_its_failure() {
    uncaught_containing("");
    drop(Using::new(DisposeFn::new(|| Err::<(), _>("drop-marker-2"))));
    assert_eq!(uncaught_containing("drop-marker-2").len(), 1);
}

#[tokio::test(start_paused = true)]
async fn dropping_an_async_stack_runs_the_sync_part_at_once_and_spawns_the_rest_in_order() {
    uncaught_containing("");
    let log = Log::default();
    let mut stack = AsyncDisposableStack::new();
    stack.defer_sync(log.note("oldest, sync")).expect("defer");
    let note = log.note("slow, async");
    stack
        .defer(|| async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            note();
            Err::<(), _>("drop-marker-3")
        })
        .expect("defer");
    let note = log.note("quick, async");
    stack.defer(|| async move { note() }).expect("defer");
    stack.defer_sync(log.note("newest, sync")).expect("defer");
    drop(stack);
    assert_eq!(
        log.lines(),
        ["newest, sync", "quick, async"],
        "what needs no waiting runs in drop itself"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        log.lines(),
        [
            "newest, sync",
            "quick, async",
            "slow, async",
            "oldest, sync"
        ],
        "the rest ran in order on a spawned task"
    );
    assert_eq!(uncaught_containing("drop-marker-3").len(), 1);
}

#[test]
fn dropping_an_async_stack_outside_a_runtime_reports_what_could_not_run() {
    uncaught_containing("");
    let log = Log::default();
    let mut stack = AsyncDisposableStack::new();
    stack.defer_sync(log.note("oldest")).expect("defer");
    stack
        .adopt("drop-marker-4", |_marker| std::future::pending::<()>())
        .expect("adopt");
    stack.defer_sync(log.note("newest")).expect("defer");
    drop(stack);
    assert_eq!(
        log.lines(),
        ["newest", "oldest"],
        "the sync cleanups still ran"
    );
    let reported = uncaught_containing("no Tokio runtime");
    assert!(!reported.is_empty(), "NoRuntime was reported");
}

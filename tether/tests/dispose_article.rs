//! The examples of "New Disposable APIs in Javascript", one test each, in Rust.
//! (The server that shuts down on a signal is in `dispose_signal.rs`.)

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tether::dispose::{
    set_interval, AsyncDisposable, AsyncDisposableStack, Disposable, DisposableStack, DisposeError,
    Using,
};
use tether::BoxFuture;
use tokio::sync::mpsc;

/// A shared, ordered log of what happened.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    fn push(&self, line: impl Into<String>) {
        self.0.lock().expect("log poisoned").push(line.into());
    }

    fn lines(&self) -> Vec<String> {
        self.0.lock().expect("log poisoned").clone()
    }
}

// ---- "An example": two disposables, disposed in reverse order ----

struct Data {
    data: String,
    log: Log,
}

fn create(data: &str, log: &Log) -> Data {
    log.push(format!("creating disposable object with data {data}"));
    Data {
        data: data.to_owned(),
        log: log.clone(),
    }
}

impl Disposable for Data {
    fn dispose(&mut self) -> Result<(), DisposeError> {
        let data = &self.data;
        self.log
            .push(format!("disposing disposable object with data {data}"));
        Ok(())
    }
}

const EXPECTED_TWO_DISPOSABLES: [&str; 7] = [
    "before main",
    "creating disposable object with data first",
    "creating disposable object with data second",
    "using first and second",
    "disposing disposable object with data second",
    "disposing disposable object with data first",
    "after main",
];

#[test]
fn two_disposables_with_using_are_disposed_in_reverse_order() {
    let log = Log::default();
    let main = |log: &Log| {
        let data1 = Using::new(create("first", log));
        let data2 = Using::new(create("second", log));
        log.push(format!("using {} and {}", data1.data, data2.data));
    };
    log.push("before main");
    main(&log);
    log.push("after main");
    assert_eq!(log.lines(), EXPECTED_TWO_DISPOSABLES);
}

#[test]
fn two_disposables_on_a_stack_are_disposed_in_reverse_order() {
    let log = Log::default();
    let main = |log: &Log| -> Result<(), DisposeError> {
        let mut stack = DisposableStack::new();
        let data1 = create("first", log);
        let data2 = create("second", log);
        log.push(format!("using {} and {}", data1.data, data2.data));
        stack.use_resource(data1)?;
        stack.use_resource(data2)?;
        stack.dispose()
    };
    log.push("before main");
    assert!(main(&log).is_ok());
    log.push("after main");
    assert_eq!(log.lines(), EXPECTED_TWO_DISPOSABLES);
}

// ---- "Anonymous defers" ----

#[test]
fn anonymous_defer_runs_when_the_stack_goes_out_of_scope() {
    let log = Log::default();
    {
        let mut stack = DisposableStack::new();
        log.push("starting function");
        let to_log = log.clone();
        assert!(stack.defer(move || to_log.push("ending function")).is_ok());
        log.push("during function body");
    }
    assert_eq!(
        log.lines(),
        [
            "starting function",
            "during function body",
            "ending function"
        ]
    );
}

// ---- "The use-and-move manoeuvre" ----

/// A file that logs its closing; `open` fails for names starting with "missing".
struct File {
    name: String,
    log: Log,
}

impl Disposable for File {
    fn dispose(&mut self) -> Result<(), DisposeError> {
        self.log.push(format!("close {}", self.name));
        Ok(())
    }
}

fn open(name: &str, log: &Log) -> Result<File, DisposeError> {
    if name.starts_with("missing") {
        return Err(DisposeError::failed(format!("{name}: no such file")));
    }
    log.push(format!("open {name}"));
    Ok(File {
        name: name.to_owned(),
        log: log.clone(),
    })
}

/// The article's `openFiles`: the names it opened, and one disposable that closes them all.
fn open_files(names: &[&str], log: &Log) -> Result<(Vec<String>, DisposableStack), DisposeError> {
    let mut stack = DisposableStack::new(); // disposed on the way out, whatever happens
    let mut files = Vec::new();
    for name in names {
        let file = open(name, log)?;
        files.push(file.name.clone());
        stack.use_resource(file)?;
    }
    let closer = stack.move_()?;
    Ok((files, closer))
}

#[test]
fn use_and_move_closes_the_files_already_open_when_one_fails() {
    let log = Log::default();
    let names = ["file1.txt", "file2.txt", "missing.txt", "file4.txt"];
    let Err(error) = open_files(&names, &log) else {
        panic!("opening a missing file should fail");
    };
    assert_eq!(error.to_string(), "missing.txt: no such file");
    assert_eq!(
        log.lines(),
        [
            "open file1.txt",
            "open file2.txt",
            "close file2.txt",
            "close file1.txt"
        ]
    );
}

#[test]
fn use_and_move_closes_nothing_until_the_moved_stack_is_disposed() {
    let log = Log::default();
    let names = ["file1.txt", "file2.txt", "file3.txt", "file4.txt"];
    let (files, mut closer) = open_files(&names, &log).expect("all files open");
    assert_eq!(files, names);
    assert_eq!(
        log.lines().len(),
        4,
        "nothing closed yet: {:?}",
        log.lines()
    );
    assert!(closer.dispose().is_ok());
    let lines = log.lines();
    assert_eq!(
        lines[4..],
        [
            "close file4.txt",
            "close file3.txt",
            "close file2.txt",
            "close file1.txt"
        ]
    );
}

// ---- "Bringing it all together": a user service with an interval and a stream ----

/// The database: users, and the senders of every open new-user stream.
#[derive(Default)]
struct DbState {
    users: Vec<String>,
    subscribers: Vec<mpsc::Sender<String>>,
    cleanup_runs: usize,
    closed: bool,
}

/// A connection handle (cloning shares the connection).
#[derive(Clone)]
struct Conn {
    state: Arc<Mutex<DbState>>,
    log: Log,
}

impl Conn {
    async fn connect(log: &Log) -> Result<Conn, DisposeError> {
        tokio::time::sleep(Duration::from_millis(5)).await;
        log.push("db connected");
        Ok(Conn {
            state: Arc::default(),
            log: log.clone(),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, DbState> {
        self.state.lock().expect("db poisoned")
    }

    async fn insert(&self, name: &str) {
        let subscribers = {
            let mut state = self.state();
            state.users.push(name.to_owned());
            state.subscribers.clone()
        };
        for subscriber in subscribers {
            let _ = subscriber.send(name.to_owned()).await;
        }
    }
}

/// Closing the connection fails if a stream is still open: the service must go first.
impl AsyncDisposable for Conn {
    fn dispose_async(&mut self) -> BoxFuture<'_, Result<(), DisposeError>> {
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            let mut state = self.state();
            if !state.subscribers.is_empty() {
                return Err(DisposeError::failed("closed while a stream was open"));
            }
            state.closed = true;
            self.log.push("db closed");
            Ok(())
        })
    }
}

/// The producing side of a new-user stream; closing it is asynchronous.
struct StreamHandle {
    conn: Conn,
}

impl StreamHandle {
    async fn close(self) {
        tokio::task::yield_now().await;
        self.conn.state().subscribers.clear();
        self.conn.log.push("stream closed");
    }
}

/// The article's `UserService`. Cloning shares it (as a JavaScript object reference does); its
/// resources live in a stack behind an async mutex, as a `Sync` object must keep them.
#[derive(Clone)]
struct UserService {
    conn: Conn,
    stack: Arc<tokio::sync::Mutex<AsyncDisposableStack>>,
    new_users: Arc<tokio::sync::Mutex<mpsc::Receiver<String>>>,
}

impl UserService {
    fn new(conn: &Conn) -> Result<UserService, DisposeError> {
        let mut stack = AsyncDisposableStack::new();
        // Delete inactive users every minute; the interval is a sync disposable.
        let db = conn.clone();
        stack.use_sync(set_interval(Duration::from_secs(60), move || {
            db.state().cleanup_runs += 1;
        }))?;
        // The new-user stream, closed asynchronously.
        let (tx, rx) = mpsc::channel(16);
        conn.state().subscribers.push(tx);
        let handle = StreamHandle { conn: conn.clone() };
        stack.adopt(handle, |handle| async move { handle.close().await })?;
        Ok(UserService {
            conn: conn.clone(),
            stack: Arc::new(tokio::sync::Mutex::new(stack)),
            new_users: Arc::new(tokio::sync::Mutex::new(rx)),
        })
    }

    async fn create_user(&self, name: &str) {
        self.conn.insert(name).await;
    }

    fn cleanup_runs(&self) -> usize {
        self.conn.state().cleanup_runs
    }

    async fn next_new_user(&self) -> Option<String> {
        self.new_users.lock().await.recv().await
    }
}

impl AsyncDisposable for UserService {
    fn dispose_async(&mut self) -> BoxFuture<'_, Result<(), DisposeError>> {
        Box::pin(async move { self.stack.lock().await.dispose().await })
    }
}

/// The article's `createResources`: the service, and one stack that closes everything.
struct Resources {
    user_service: UserService,
    closer: AsyncDisposableStack,
}

async fn create_resources(log: &Log, fail_after_conn: bool) -> Result<Resources, DisposeError> {
    let mut stack = AsyncDisposableStack::new();
    let built = async {
        let conn = Conn::connect(log).await?;
        stack.use_resource(conn.clone())?;
        if fail_after_conn {
            return Err(DisposeError::failed("config: bad user-service settings"));
        }
        // Disposed before the connection it uses.
        let user_service = UserService::new(&conn)?;
        stack.use_resource(user_service.clone())?;
        Ok((user_service, stack.move_()?))
    }
    .await;
    // The end of `await using stack`: nothing left after a move; everything closed after a failure.
    let (user_service, closer) = stack.dispose_with(built).await?;
    Ok(Resources {
        user_service,
        closer,
    })
}

#[tokio::test(start_paused = true)]
async fn user_service_closes_its_interval_and_stream_then_the_connection() {
    let log = Log::default();
    let mut resources = create_resources(&log, false).await.expect("resources");
    let service = resources.user_service.clone();

    service.create_user("ada").await;
    assert_eq!(service.next_new_user().await.as_deref(), Some("ada"));
    tokio::time::sleep(Duration::from_secs(150)).await;
    assert_eq!(
        service.cleanup_runs(),
        2,
        "the interval deletes inactive users"
    );
    assert_eq!(
        log.lines(),
        ["db connected"],
        "nothing closed before dispose"
    );

    assert!(resources.closer.dispose().await.is_ok());
    assert_eq!(log.lines(), ["db connected", "stream closed", "db closed"]);
    assert_eq!(service.next_new_user().await, None, "the stream has ended");
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert_eq!(service.cleanup_runs(), 2, "the interval stopped");
    assert!(service.conn.state().closed);
}

#[tokio::test(start_paused = true)]
async fn create_resources_closes_the_connection_when_a_later_step_fails() {
    let log = Log::default();
    let Err(error) = create_resources(&log, true).await else {
        panic!("expected the configured failure");
    };
    assert_eq!(error.to_string(), "config: bad user-service settings");
    assert_eq!(log.lines(), ["db connected", "db closed"]);
}

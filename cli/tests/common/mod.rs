//! Shared by the CLI's integration tests: the Rust TestTarget server (built with cargo if
//! needed, one per test binary, killed when the test process ends), running the `tether` binary
//! with a deadline, reading its `--trace` output, and a proxy counting connections.

#![allow(dead_code, unreachable_pub)] // each test binary uses a part

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use std::time::{Duration, Instant};
use tether_interop_tests::Watched;

/// The longest any one run of the CLI may take.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("cli/ is in the workspace root")
        .to_path_buf()
}

/// Kills the server when the watchdog's stdin closes: when the test process exits, however it
/// exits (a server kept in a `static` is never dropped). `$1` is the server binary.
const WATCHDOG: &str = r#""$1" 0 &
pid=$!
read -r _line || true
kill -TERM "$pid" 2>/dev/null
wait "$pid"
"#;

/// A running TestTarget server.
pub struct Server {
    /// Its port on 127.0.0.1.
    pub port: u16,
    _watchdog: Mutex<(Child, ChildStdin)>,
}

impl Server {
    /// `ws://127.0.0.1:PORT/`.
    pub fn ws(&self) -> String {
        format!("ws://127.0.0.1:{}/", self.port)
    }

    /// `http://127.0.0.1:PORT/`.
    pub fn http(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }
}

/// The Rust TestTarget (`tether-testtarget`), shared by the tests of one binary. Unless the
/// binary beside this test's is newer than its sources, it is built with `cargo build -p
/// tether-testtarget` into this build's target directory; then it is started on a free port and
/// its `listening PORT` line gives the port.
pub fn rust_testtarget() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        // This test binary is target/debug/deps/NAME-HASH; the server is target/debug/.
        let bin = Path::new(env!("CARGO_BIN_EXE_tether"))
            .with_file_name(format!("tether-testtarget{}", std::env::consts::EXE_SUFFIX));
        if !is_fresh(&bin) {
            build_testtarget();
        }
        start(&bin)
    })
}

/// True if `bin` exists and is newer than every source it is built from (`cargo test
/// --workspace` has just built it): then no nested cargo run (which, with a different package
/// selection, could rebuild dependencies with other features) is needed.
fn is_fresh(bin: &Path) -> bool {
    let Ok(built) = std::fs::metadata(bin).and_then(|m| m.modified()) else {
        return false;
    };
    let root = root();
    ["tether", "tether-macros", "interop/testtarget"]
        .iter()
        .all(|dir| newest(&root.join(dir)).is_some_and(|newest| newest <= built))
}

/// The newest modification time of the files under `dir` (skipping `target`).
fn newest(dir: &Path) -> Option<std::time::SystemTime> {
    let mut latest = std::fs::metadata(dir).ok()?.modified().ok()?;
    for entry in std::fs::read_dir(dir).ok()? {
        let entry = entry.ok()?;
        let path = entry.path();
        let time = if path.is_dir() {
            if entry.file_name() == "target" {
                continue;
            }
            newest(&path)?
        } else {
            entry.metadata().ok()?.modified().ok()?
        };
        latest = latest.max(time);
    }
    Some(latest)
}

fn build_testtarget() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "-q", "-p", "tether-testtarget"])
        .current_dir(root())
        .stdout(Stdio::null())
        .status()
        .expect("running cargo build -p tether-testtarget");
    assert!(status.success(), "cargo build -p tether-testtarget failed");
}

fn start(bin: &Path) -> Server {
    let Watched {
        child,
        stdin,
        lines: rx,
    } = Watched::spawn(WATCHDOG, bin, &root());
    let port = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the TestTarget server printed `listening PORT`");
        if let Some(port) = line.strip_prefix("listening ") {
            break port.trim().parse().expect("a port number");
        }
    };
    Server {
        port,
        _watchdog: Mutex::new((child, stdin)),
    }
}

/// What a run of the CLI did.
#[derive(Debug)]
pub struct Run {
    /// Exit code (`None` if killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// Panics (showing everything) unless the run exited 0.
    #[track_caller]
    pub fn ok(&self) -> &Self {
        assert_eq!(self.code, Some(0), "the CLI failed: {self:#?}");
        self
    }

    /// The `--trace` lines (`→ …` and `← …`) with the time stripped: `→ push #1 …`.
    pub fn frames(&self) -> Vec<String> {
        self.stderr
            .lines()
            .filter_map(|line| {
                let (arrow, rest) = line.split_once(' ')?;
                if arrow != "→" && arrow != "←" {
                    return None;
                }
                let (time, message) = rest.split_once(' ')?;
                time.ends_with('s').then(|| format!("{arrow} {message}"))
            })
            .collect()
    }
}

/// Runs `tether ARGS` with `stdin` as its input, failing the test after [`DEADLINE`].
pub fn tether(args: &[&str], stdin: &str) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tether"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting the tether binary");
    let mut input = child.stdin.take().expect("piped stdin");
    let text = stdin.to_owned();
    std::thread::spawn(move || {
        let _ = input.write_all(text.as_bytes());
    });
    let output = wait_with_deadline(child, DEADLINE);
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Waits for `child`, killing it (and failing) past `deadline`.
pub fn wait_with_deadline(mut child: Child, deadline: Duration) -> Output {
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let out = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(s) = stdout.as_mut() {
            let _ = s.read_to_end(&mut buf);
        }
        buf
    });
    let err = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(s) = stderr.as_mut() {
            let _ = s.read_to_end(&mut buf);
        }
        buf
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for the CLI") {
            break status;
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the CLI did not finish within {deadline:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

/// A port on 127.0.0.1 that nothing listens on (bound, then closed).
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binding a port");
    let port = listener.local_addr().expect("its address").port();
    drop(listener);
    port
}

/// A TCP proxy on a free port of 127.0.0.1 to `port`, counting the connections it forwards (an
/// HTTP batch is one request on one connection). Runs until the test process exits.
pub struct CountingProxy {
    /// The proxy's port.
    pub port: u16,
    connections: Arc<AtomicUsize>,
}

impl CountingProxy {
    pub fn to(port: u16) -> CountingProxy {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binding a port");
        let proxy_port = listener.local_addr().expect("address").port();
        let connections = Arc::new(AtomicUsize::new(0));
        let counted = connections.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                counted.fetch_add(1, Ordering::SeqCst);
                let Ok(server) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
                    continue;
                };
                let pipe = |mut from: std::net::TcpStream, mut to: std::net::TcpStream| {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Write);
                    });
                };
                if let (Ok(c), Ok(s)) = (client.try_clone(), server.try_clone()) {
                    pipe(c, s);
                    pipe(server, client);
                }
            }
        });
        CountingProxy {
            port: proxy_port,
            connections,
        }
    }

    /// Connections forwarded so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

//! `tether repl` driven through a pseudo-terminal (`script` from util-linux), so the line
//! editor runs as it does for a person: named stubs, history with the arrow keys, `.dispose`
//! releasing the stub on the server, `.quit` closing the session and exiting 0.

mod common;

use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use common::rust_testtarget;

/// How long to wait for an expected piece of output.
const WAIT: Duration = Duration::from_secs(30);

/// A program running on a pseudo-terminal, its screen output collected.
struct Pty {
    child: Child,
    input: ChildStdin,
    output: Arc<(Mutex<String>, Condvar)>,
    /// How much of the (cleaned) output earlier expectations consumed.
    seen: usize,
}

/// The output without terminal control sequences and carriage returns.
fn clean(raw: &str) -> String {
    let mut out = String::new();
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => {
                if chars.peek() == Some(&'[') {
                    chars.next();
                    // Parameters, then one final byte in @..~.
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                } else {
                    chars.next();
                }
            }
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

impl Pty {
    fn spawn(command: &str) -> Pty {
        let mut child = Command::new("script")
            .args(["-qefc", command, "/dev/null"])
            .env("TERM", "xterm")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("running `script` (util-linux) for a pseudo-terminal");
        let input = child.stdin.take().expect("piped stdin");
        let mut stdout = child.stdout.take().expect("piped stdout");
        let output = Arc::new((Mutex::new(String::new()), Condvar::new()));
        let sink = output.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let (text, ready) = &*sink;
                let mut text = text.lock().unwrap_or_else(|p| p.into_inner());
                text.push_str(&String::from_utf8_lossy(&buf[..n]));
                ready.notify_all();
            }
        });
        Pty {
            child,
            input,
            output,
            seen: 0,
        }
    }

    fn screen(&self) -> String {
        clean(&self.output.0.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Waits until `needle` appears in the output after what was already matched; returns the
    /// output between the previous match and the end of this one.
    #[track_caller]
    fn expect(&mut self, needle: &str) -> String {
        self.expect_all(&[needle])
    }

    /// Waits until every one of `needles` appears after what was already matched, in any order
    /// (a trace line on stderr and a result on stdout may come either way round). Only the first
    /// needle (the anchor: what the REPL prints before its next prompt) counts as matched, so
    /// the next prompt is looked for after it, wherever the others fell.
    #[track_caller]
    fn expect_all(&mut self, needles: &[&str]) -> String {
        let deadline = Instant::now() + WAIT;
        let (text, ready) = &*self.output;
        let mut guard = text.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            let screen = clean(&guard);
            let rest = screen.get(self.seen..).unwrap_or("");
            let ends: Option<Vec<usize>> = needles
                .iter()
                .map(|n| rest.find(n).map(|at| at + n.len()))
                .collect();
            if let Some(end) = ends.and_then(|ends| ends.first().copied()) {
                let end = self.seen + end;
                let between = screen[self.seen..end].to_owned();
                self.seen = end;
                return between;
            }
            let now = Instant::now();
            assert!(
                now < deadline,
                "waited {WAIT:?} for {needles:?}; the screen so far:\n{screen}"
            );
            guard = ready
                .wait_timeout(guard, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Types `keys` (waiting for the prompt first, so the editor reads them, not the tty).
    fn type_line(&mut self, keys: &str) {
        self.expect("tether> ");
        self.input.write_all(keys.as_bytes()).expect("typing");
        self.input.flush().expect("typing");
    }

    #[track_caller]
    fn wait_exit(mut self) -> i32 {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().expect("waiting for the repl") {
                return status.code().unwrap_or(-1);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the repl did not exit; the screen:\n{}", self.screen());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

#[test]
fn a_repl_session_keeps_calls_and_releases_a_stub() {
    let server = rust_testtarget();
    let command = format!(
        "'{}' repl --trace {}",
        env!("CARGO_BIN_EXE_tether"),
        server.ws()
    );
    let mut pty = Pty::spawn(&command);
    pty.expect("Type .help");

    pty.type_line("let c = makeCounter(5)\n");
    pty.expect_all(&["c = <stub>", "resolve #1 export -1"]);
    pty.type_line("c.increment(2)\n");
    pty.expect_all(&["\n7\n", r#"push #2 pipeline -1 ["increment"] (2)"#]);

    // History: the up arrow brings back `c.increment(2)`; run it again.
    pty.type_line("\u{1b}[A\n");
    pty.expect("\n9\n");

    // Passing the held stub back to the server.
    pty.type_line("incrementCounter(c, 10)\n");
    pty.expect("\n19\n");

    pty.type_line(".help\n");
    pty.expect(".dispose NAME");

    pty.type_line(".dispose c\n");
    pty.expect_all(&["disposed c", "→", "release #-1 (refcount 1)"]);
    pty.type_line("c.increment(1)\n");
    pty.expect("`c` was disposed");

    pty.type_line("nope()\n");
    pty.expect("error: TypeError: 'nope' is not a function.");
    pty.type_line("square(3\n");
    pty.expect("parse error: expected `,` or `)`");

    pty.type_line(".quit\n");
    pty.expect("connection closed");
    assert_eq!(pty.wait_exit(), 0);
}

#[test]
fn quitting_releases_every_held_stub() {
    let server = rust_testtarget();
    let command = format!(
        "'{}' repl --trace {}",
        env!("CARGO_BIN_EXE_tether"),
        server.ws()
    );
    let mut pty = Pty::spawn(&command);
    pty.type_line("let a = makeCounter(1); let b = makeCounter(2)\n");
    pty.expect("b = <stub>");
    pty.type_line("a.increment(); b.increment()\n");
    pty.expect("\n2\n3\n");
    pty.type_line(".quit\n");
    pty.expect_all(&[
        "released 2 name(s)",
        "release #-1 (refcount 1)",
        "release #-2 (refcount 1)",
        "connection closed",
    ]);
    assert_eq!(pty.wait_exit(), 0);
}

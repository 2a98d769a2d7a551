//! `tether repl URL`: one WebSocket session kept open while the user types.
//!
//! Owns the loop: a line editor thread (`rustyline`, in-memory history, arrow keys) hands each
//! line to the async side and waits until it has been answered, so output never interleaves
//! with the prompt; the async side keeps the session running meanwhile. A line is a program
//! (`let c = makeCounter(5); c.increment(2)` is pipelined); its `let`s bind the awaited values,
//! so stubs are held in variables until `.dispose NAME` or the end, when every one is released
//! and the session closes.

use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use rustyline::error::ReadlineError;
use tokio::sync::mpsc;

use crate::call::{call_error, evaluate, parse, settle_all};
use crate::connect::{settle_session, Connection, Endpoint, Mode};
use crate::error::CliError;
use crate::eval::{Env, Input, Ref, MAIN};
use crate::render::render;
use crate::trace::Tracer;

const PROMPT: &str = "tether> ";

const HELP: &str = "\
Expressions are evaluated on the server's main object (also called `api`):
  square(7)                           a call
  makeCounter(5).increment(1)         a pipelined chain (one round trip)
  let c = makeCounter(5)              keep the result (a stub) in `c`
  c.increment(2)                      call it later
  generateFibonacci(6).map(x => api.square(x))    one `remap`
  echo([1, 2n, undefined, date(\"2024-01-01T00:00:00Z\"), hex(\"0aff\"), bytes(\"AQI=\")])
Commands:
  .vars           the names held
  .dispose NAME   release what NAME holds (its stubs are released on the server)
  .help           this text
  .quit           release everything and leave (also Ctrl-D)";

/// `@-` has no meaning here: standard input is the terminal.
struct NoStdin;

impl Input for NoStdin {
    fn stdin(&mut self) -> Result<String, String> {
        Err("`@-` (standard input) is not available in the repl; use @FILE".into())
    }
}

/// What the editor thread sends.
enum Event {
    Line(String),
    Quit,
}

/// Runs the REPL until `.quit` or end of input.
pub(crate) async fn run(
    endpoint: &Endpoint,
    tracer: &Tracer,
    timeout: Duration,
) -> Result<(), CliError> {
    if endpoint.mode() == Mode::Batch {
        return Err(CliError::Usage(
            "the repl keeps one session open: it needs a ws:// URL (without --batch)".into(),
        ));
    }
    let connection = tokio::time::timeout(timeout, endpoint.connect(tracer))
        .await
        .map_err(|_| {
            CliError::Connect(format!("no connection within {}s", timeout.as_secs_f64()))
        })??;
    println!(
        "connected to {}. Type .help for help, .quit to leave.",
        connection.url
    );
    let mut env = Env::new(connection.main.clone(), Box::new(NoStdin));
    let (events, mut lines) = mpsc::unbounded_channel();
    let (done, answered) = std_mpsc::channel::<()>();
    std::thread::spawn(move || editor(&events, &answered));
    let mut outcome = Ok(());
    while let Some(event) = lines.recv().await {
        let Event::Line(line) = event else { break };
        let keep_going = handle(&mut env, &connection, line.trim(), timeout).await;
        // Let the session send what the line caused (releases) before the next prompt, so
        // their trace lines come before it.
        settle_session().await;
        if connection.task.is_finished() {
            outcome = Err(CliError::Connect(format!(
                "the session with {} ended",
                connection.url
            )));
            break;
        }
        if !keep_going || done.send(()).is_err() {
            break;
        }
    }
    drop(done); // the editor thread ends at its next answer wait
    let held = env.names().len() - 1;
    drop(env);
    if held > 0 {
        println!("released {held} name(s)");
    }
    connection.close().await;
    outcome
}

/// The line editor: reads a line, hands it over, waits for the answer.
fn editor(events: &mpsc::UnboundedSender<Event>, answered: &std_mpsc::Receiver<()>) {
    let mut editor = match rustyline::DefaultEditor::new() {
        Ok(editor) => editor,
        Err(e) => {
            eprintln!("error: cannot start the line editor: {e}");
            let _ = events.send(Event::Quit);
            return;
        }
    };
    loop {
        match editor.readline(PROMPT) {
            Ok(line) => {
                if !line.trim().is_empty() {
                    let _ = editor.add_history_entry(line.as_str());
                }
                if events.send(Event::Line(line)).is_err() || answered.recv().is_err() {
                    return;
                }
            }
            Err(ReadlineError::Interrupted) => continue,
            Err(_) => {
                let _ = events.send(Event::Quit);
                return;
            }
        }
    }
}

/// Handles one line; false to leave.
async fn handle(env: &mut Env, connection: &Connection, line: &str, timeout: Duration) -> bool {
    if line.is_empty() {
        return true;
    }
    if let Some(command) = line.strip_prefix('.') {
        let (command, arg) = command
            .split_once(char::is_whitespace)
            .map_or((command, ""), |(c, a)| (c, a.trim()));
        match command {
            "quit" | "exit" | "q" => return false,
            "help" | "h" => println!("{HELP}"),
            "vars" => println!("{}", env.names().join(" ")),
            "dispose" => match arg {
                "" => eprintln!("error: .dispose NAME"),
                MAIN => eprintln!("error: `api` is the session itself: use .quit to leave"),
                name => match env.unbind(name) {
                    Some(held) => {
                        drop(held);
                        println!("disposed {name}");
                    }
                    None => eprintln!("error: no variable named {name}"),
                },
            },
            other => eprintln!("error: unknown command .{other} (try .help)"),
        }
        return true;
    }
    if let Err(e) = run_line(env, connection, line, timeout).await {
        eprintln!("{e}");
    }
    true
}

async fn run_line(
    env: &mut Env,
    connection: &Connection,
    line: &str,
    timeout: Duration,
) -> Result<(), CliError> {
    let program = parse(line)?;
    let evaluated = evaluate(env, &program)?;
    let names: Vec<Option<String>> = evaluated.iter().map(|e| e.name.clone()).collect();
    let refs = evaluated.into_iter().map(|e| e.value).collect();
    let results = settle_all(refs, timeout).await?;
    let mut first_error = None;
    for (name, result) in names.into_iter().zip(results) {
        match (name, result) {
            (Some(name), Ok(value)) => {
                println!("{name} = {}", render(&value));
                env.bind(&name, Ref::from_value(value));
            }
            (None, Ok(value)) => println!("{}", render(&value)),
            (name, Err(error)) => {
                if let Some(name) = name {
                    // The name held the failed promise: forget it.
                    let _ = env.unbind(&name);
                }
                first_error.get_or_insert_with(|| call_error(connection, &error));
            }
        }
    }
    first_error.map_or(Ok(()), Err)
}

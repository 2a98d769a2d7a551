//! `tether call URL EXPR`, and the steps it shares with the REPL: evaluate every statement of a
//! program without awaiting (so dependent calls are pipelined), then await all results at once,
//! and turn failures into [`CliError`]s.

use std::time::Duration;

use futures_util::future::join_all;
use tether::{ErrorKind, RpcError, Value};

use crate::connect::{Connection, Endpoint};
use crate::error::CliError;
use crate::eval::{settle, Env, Ref, StdinOnce};
use crate::parse::{parse_program, Program, Statement};
use crate::render::{render, render_error};
use crate::trace::Tracer;

/// One evaluated statement: the name it binds (for `let`), and what it refers to.
pub(crate) struct Evaluated {
    /// `Some(name)` for `let name = …`.
    pub(crate) name: Option<String>,
    /// The unawaited result.
    pub(crate) value: Ref,
}

/// Evaluates each statement in order, binding `let`s as they come (to the unawaited
/// reference, so later statements pipeline on it). Nothing is awaited.
pub(crate) fn evaluate(env: &mut Env, program: &Program) -> Result<Vec<Evaluated>, CliError> {
    let mut out = Vec::with_capacity(program.len());
    for statement in program {
        match statement {
            Statement::Let(name, expr) => {
                let value = env.eval(expr).map_err(CliError::Eval)?;
                env.bind(name, value.clone());
                out.push(Evaluated {
                    name: Some(name.clone()),
                    value,
                });
            }
            Statement::Expr(expr) => out.push(Evaluated {
                name: None,
                value: env.eval(expr).map_err(CliError::Eval)?,
            }),
        }
    }
    Ok(out)
}

/// Awaits every reference at once (one round trip for the lot), within `timeout`.
pub(crate) async fn settle_all(
    refs: Vec<Ref>,
    timeout: Duration,
) -> Result<Vec<Result<Value, RpcError>>, CliError> {
    tokio::time::timeout(timeout, join_all(refs.into_iter().map(settle)))
        .await
        .map_err(|_| CliError::Rpc(format!("no answer within {}s", timeout.as_secs_f64())))
}

/// The error to report for a failed call on `connection`.
pub(crate) fn call_error(connection: &Connection, error: &RpcError) -> CliError {
    if let Some(failure) = connection.transport_failure() {
        return failure;
    }
    match error.kind() {
        ErrorKind::Disconnected => CliError::Connect(format!(
            "connection to {} lost: {}",
            connection.url,
            render_error(error)
        )),
        _ => CliError::Rpc(render_error(error)),
    }
}

/// Parses a program, or says where it went wrong.
pub(crate) fn parse(source: &str) -> Result<Program, CliError> {
    parse_program(source).map_err(|e| CliError::Parse(e.render(source)))
}

/// Runs `tether call`: prints the value of each expression statement (or, for a program of
/// only `let`s, of the last one), one per line.
pub(crate) async fn run(
    endpoint: &Endpoint,
    source: &str,
    tracer: &Tracer,
    timeout: Duration,
) -> Result<(), CliError> {
    let program = parse(source)?;
    let connection = tokio::time::timeout(timeout, endpoint.connect(tracer))
        .await
        .map_err(|_| {
            CliError::Connect(format!("no connection within {}s", timeout.as_secs_f64()))
        })??;
    let mut env = Env::new(connection.main.clone(), Box::<StdinOnce>::default());
    let result = async {
        let evaluated = evaluate(&mut env, &program)?;
        let mut shown: Vec<Ref> = evaluated
            .iter()
            .filter(|e| e.name.is_none())
            .map(|e| e.value.clone())
            .collect();
        if shown.is_empty() {
            shown.extend(evaluated.last().map(|e| e.value.clone()));
        }
        drop(evaluated);
        let results = settle_all(shown, timeout).await?;
        let mut first_error = None;
        for result in results {
            match result {
                Ok(value) => println!("{}", render(&value)),
                Err(error) => {
                    first_error.get_or_insert_with(|| call_error(&connection, &error));
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }
    .await;
    drop(env);
    connection.close().await;
    result
}

//! `map()` on the side that holds the value: replaying a [`Program`] on it (rule P5).
//!
//! The program comes either from the peer (a `remap`, decoded once by the wire codec) or from a
//! local recording whose subject turned out to be local. It runs once per element of an array,
//! not at all on `null`/`undefined`, and once on anything else, each run with its own reference
//! table (see [`program`](super::program)). Every instruction run counts against a budget shared
//! by the whole message, so nested maps cannot fan out without bound; every run of a callback a
//! peer sent also counts against its session's quota ([`MapRuns`]), so many messages cannot
//! either.
//!
//! This module interprets the program directly; it must not know the wire text.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use super::program::{Capture, ErrorExpr, Expr, Program, Ref, Remap};
use super::record::Recorder;
use crate::core::error::RpcError;
use crate::core::hook::{self, Hook, Spawner};
use crate::core::limits::{bigint_length_error, Limits};
use crate::core::stub::RpcPromise;
use crate::core::value::{is_prototype_key, time_clip, Object, PathKey, Value};

/// The instruction budget of one incoming message, shared by every (nested) map in it, and the
/// session's count of callback runs.
#[derive(Clone)]
pub(crate) struct MapBudget {
    /// Instructions the message may still run.
    left: Arc<AtomicUsize>,
    /// The session's count of callback runs, for a mapper a peer sent.
    runs: Option<MapRuns>,
}

impl MapBudget {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            left: Arc::new(AtomicUsize::new(limit)),
            runs: None,
        }
    }

    /// This budget, also counting every run of a callback in the session's `runs`.
    pub(crate) fn counting(mut self, runs: MapRuns) -> Self {
        self.runs = Some(runs);
        self
    }

    fn spend(&self, limits: &Limits) -> Result<(), RpcError> {
        let took = self
            .left
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| {
                left.checked_sub(1)
            });
        took.map(|_| ()).map_err(|_| {
            RpcError::range_error(format!(
                "map() exceeded the limit of {} instructions for one message.",
                limits.max_map_instructions
            ))
        })
    }

    /// One run of the callback, refused once the session's quota is spent.
    fn run(&self) -> Result<(), RpcError> {
        match &self.runs {
            Some(runs) => runs.count_one(),
            None => Ok(()),
        }
    }
}

/// How many times the callbacks of every `map()` a peer sent have run over the session's life,
/// against the session's quota (`Quotas::max_map_runs`): a per-message budget alone would let a
/// peer send many messages. Shared by every mapper of one session; the session reads the count
/// after every turn, and ends itself once it is over the quota.
#[derive(Clone, Debug)]
pub(crate) struct MapRuns {
    count: Arc<AtomicU64>,
    max: u64,
}

impl MapRuns {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            count: Arc::default(),
            max: max as u64,
        }
    }

    /// Runs so far (past the quota included: refused runs count too).
    pub(crate) fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// The error a session over its quota ends with (and a refused run rejects with).
    pub(crate) fn breach(&self, runs: u64) -> RpcError {
        RpcError::range_error(format!(
            "RPC session exceeded its quota of {} map() callback runs ({runs}); the session was ended.",
            self.max
        ))
    }

    fn count_one(&self) -> Result<(), RpcError> {
        let runs = self.count.fetch_add(1, Ordering::Relaxed) + 1;
        if runs > self.max {
            return Err(self.breach(runs));
        }
        Ok(())
    }
}

fn exports_error() -> RpcError {
    RpcError::error("A mapper function cannot refer to exports.")
}

/// A mapper, ready to replay.
#[derive(Clone)]
pub(crate) struct Mapper {
    pub(crate) captures: Vec<Hook>,
    pub(crate) program: Arc<Program>,
    pub(crate) limits: Limits,
    pub(crate) budget: MapBudget,
    pub(crate) spawner: Spawner,
}

impl Mapper {
    /// A mapper recorded here whose subject is local. Its values are first made what a peer
    /// receives from their text (see [`as_received`]), so mapping a local value gives what
    /// mapping a remote one would.
    pub(crate) fn local(recording: Recorder) -> Self {
        let limits = Limits::default();
        let mut program = recording.program;
        for instruction in &mut program.instructions {
            as_received(instruction, &limits);
        }
        Self {
            captures: recording.captures,
            program: Arc::new(program),
            budget: MapBudget::new(limits.max_map_instructions),
            limits,
            spawner: Spawner::Runtime,
        }
    }

    /// Maps the value at `path` of `subject`.
    pub(crate) fn map(self, subject: &Hook, path: &[PathKey]) -> Hook {
        if self.program.instructions.is_empty() {
            return Hook::Error(Arc::new(RpcError::error("Invalid empty mapper function.")));
        }
        let input = subject.get(path, &self.spawner);
        if let Hook::Value(value) = &input {
            return self.apply(value);
        }
        // Not settled yet: wait for the value, then map it.
        let spawner = self.spawner.clone();
        hook::run_on_cell(&spawner, async move {
            let value = input.resolve().await?;
            Ok(Value::Promise(RpcPromise::from_hook(self.apply(&value))))
        })
    }

    fn apply(&self, input: &Value) -> Hook {
        match input {
            Value::Array(items) => {
                let mut mapped = Vec::with_capacity(items.len());
                for item in items {
                    match self.apply_one(item.clone()) {
                        Hook::Error(error) => return Hook::Error(error),
                        hook => mapped.push(Value::Promise(RpcPromise::from_hook(hook))),
                    }
                }
                Hook::Value(Arc::new(Value::Array(mapped)))
            }
            Value::Null | Value::Undefined => Hook::Value(Arc::new(input.clone())),
            other => self.apply_one(other.clone()),
        }
    }

    /// Runs the instructions once, on one input.
    fn apply_one(&self, input: Value) -> Hook {
        if let Err(error) = self.budget.run() {
            return Hook::Error(Arc::new(error));
        }
        let mut table = MapTable {
            mapper: self,
            variables: vec![Hook::from_result(Ok(input))],
        };
        let Some((last, body)) = self.program.instructions.split_last() else {
            return Hook::Error(Arc::new(RpcError::error("Invalid empty mapper function.")));
        };
        for instruction in body {
            match table.run(instruction) {
                Ok(value) => table.variables.push(Hook::from_result(Ok(value))),
                Err(error) => return Hook::Error(Arc::new(error)),
            }
        }
        Hook::from_result(table.run(last))
    }
}

/// The reference table of one run of a mapper.
struct MapTable<'a> {
    mapper: &'a Mapper,
    variables: Vec<Hook>,
}

impl MapTable<'_> {
    fn run(&mut self, instruction: &Expr) -> Result<Value, RpcError> {
        self.mapper.budget.spend(&self.mapper.limits)?;
        self.eval(instruction)
    }

    fn lookup(&self, id: i64) -> Result<Hook, RpcError> {
        let found = if id < 0 {
            usize::try_from(-(id + 1))
                .ok()
                .and_then(|i| self.mapper.captures.get(i))
        } else {
            usize::try_from(id).ok().and_then(|i| self.variables.get(i))
        };
        found.cloned().ok_or_else(|| RpcError::no_such_entry(id))
    }

    /// Evaluates one expression, in document order (arguments before the call they go to).
    fn eval(&mut self, expr: &Expr) -> Result<Value, RpcError> {
        match expr {
            Expr::Value(value) => Ok(value.clone()),
            Expr::Array(items) => {
                let mut values = Vec::with_capacity(items.len());
                for item in items {
                    values.push(self.eval(item)?);
                }
                Ok(Value::Array(values))
            }
            Expr::Object(entries) => {
                let mut values = Vec::with_capacity(entries.len());
                for (key, item) in entries {
                    let value = self.eval(item)?;
                    if !is_prototype_key(key) {
                        values.push((key.clone(), value));
                    }
                }
                Ok(Value::Object(Object::from_unique(values)))
            }
            Expr::Error(error) => self.error(error),
            Expr::Ref(r) => self.reference(r),
            Expr::Remap(remap) => self.remap(remap),
            Expr::Fail(error) => Err(error.clone()),
        }
    }

    fn error(&mut self, expr: &ErrorExpr) -> Result<Value, RpcError> {
        let mut error = RpcError::new(expr.name.as_str(), expr.message.as_str());
        error.stack.clone_from(&expr.stack);
        for (key, item) in &expr.props {
            let value = self.eval(item)?;
            if !is_prototype_key(key) {
                error.props.insert(key.as_str(), value);
            }
        }
        Ok(Value::Error(Box::new(error)))
    }

    fn reference(&mut self, r: &Ref) -> Result<Value, RpcError> {
        let args = match &r.args {
            Some(args) => {
                let mut values = Vec::with_capacity(args.len());
                for arg in args {
                    values.push(self.eval(arg)?);
                }
                Some(values)
            }
            None => None,
        };
        let hook = self.lookup(r.id)?;
        Ok(hook.reference(&r.path, args, r.promise, &self.mapper.spawner))
    }

    fn remap(&mut self, remap: &Remap) -> Result<Value, RpcError> {
        let subject = self.lookup(remap.id)?;
        let captures = remap
            .captures
            .iter()
            .map(|capture| match capture {
                Capture::Import(i) => self.lookup(*i),
                Capture::Export(_) => Err(exports_error()),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let nested = Mapper {
            captures,
            program: remap.program.clone(),
            ..self.mapper.clone()
        };
        Ok(Value::Promise(RpcPromise::from_hook(
            nested.map(&subject, &remap.path),
        )))
    }
}

/// Makes a recorded expression what the peer's evaluator makes of its text: `-0` becomes `0`,
/// dates are clipped (`new Date(ms)`), error stacks are not sent, `name`/`message`/`stack`
/// properties and prototype keys are dropped, and a bigint over the receive limit fails where
/// it stands (a value holds no references, so failing at its start is failing at the bigint).
fn as_received(expr: &mut Expr, limits: &Limits) {
    match expr {
        Expr::Value(value) => {
            if let Err(error) = value_as_received(value, limits) {
                *expr = Expr::Fail(error);
            }
        }
        Expr::Array(items) => items.iter_mut().for_each(|item| as_received(item, limits)),
        Expr::Object(entries) => entries
            .iter_mut()
            .for_each(|(_, item)| as_received(item, limits)),
        Expr::Error(error) => {
            error.stack = None;
            error
                .props
                .retain(|(key, _)| !matches!(key.as_str(), "name" | "message" | "stack"));
            error
                .props
                .iter_mut()
                .for_each(|(_, item)| as_received(item, limits));
        }
        Expr::Ref(r) => {
            for arg in r.args.iter_mut().flatten() {
                as_received(arg, limits);
            }
        }
        // Recording refuses nested maps, and only decoded programs fail.
        Expr::Remap(_) | Expr::Fail(_) => {}
    }
}

fn value_as_received(value: &mut Value, limits: &Limits) -> Result<(), RpcError> {
    match value {
        Value::Number(n) if *n == 0.0 => *n = 0.0,
        Value::Date(ms) => *ms = time_clip(*ms),
        Value::BigInt(b) => {
            // A bigint of n bits has at most n * log10(2) + 1 digits, plus the sign.
            let max = limits.max_bigint_digits;
            if b.bits().saturating_mul(30103) / 100_000 + 2 > max as u64
                && b.to_string().len() > max
            {
                return Err(bigint_length_error(max));
            }
        }
        Value::Array(items) => {
            for item in items {
                value_as_received(item, limits)?;
            }
        }
        Value::Object(object) => {
            let entries = std::mem::take(object);
            let mut kept = Vec::with_capacity(entries.len());
            for (key, mut item) in entries {
                value_as_received(&mut item, limits)?;
                if !is_prototype_key(&key) {
                    kept.push((key, item));
                }
            }
            *object = Object::from_unique(kept);
        }
        Value::Error(error) => {
            error.stack = None;
            let props = std::mem::take(&mut error.props);
            let mut kept = Vec::with_capacity(props.len());
            for (key, mut item) in props {
                if matches!(key.as_str(), "name" | "message" | "stack") {
                    continue;
                }
                value_as_received(&mut item, limits)?;
                if !is_prototype_key(&key) {
                    kept.push((key, item));
                }
            }
            error.props = Object::from_unique(kept);
        }
        _ => {}
    }
    Ok(())
}

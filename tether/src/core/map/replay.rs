//! `map()` on the receiving side: replaying a mapper recorded by the peer (a `remap`
//! expression) on a value (rule P5).
//!
//! The mapper is a list of instructions in the wire's expression format, with its own reference
//! table: negative ids are the captures (`-1` is the first), 0 is the input, positive ids are the
//! results of earlier instructions. It runs once per element of an array, not at all on
//! `null`/`undefined`, and once on anything else. Every instruction run counts against a budget
//! shared by the whole message, so nested maps cannot fan out without bound.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde_json::Value as Json;

use crate::core::error::RpcError;
use crate::core::hook::{self, Hook, Spawner};
use crate::core::stub::RpcPromise;
use crate::core::value::{PathKey, Value};
use crate::wire::{self, Capture, Importer, Limits};

/// The instruction budget of one incoming message, shared by every (nested) map in it.
#[derive(Clone)]
pub(crate) struct MapBudget(Arc<AtomicUsize>);

impl MapBudget {
    pub(crate) fn new(limit: usize) -> Self {
        Self(Arc::new(AtomicUsize::new(limit)))
    }

    fn spend(&self, limits: &Limits) -> Result<(), RpcError> {
        let took = self
            .0
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
}

/// A recorded mapper, ready to replay.
#[derive(Clone)]
pub(crate) struct Mapper {
    pub(crate) captures: Vec<Hook>,
    pub(crate) instructions: Arc<Vec<Json>>,
    pub(crate) limits: Limits,
    pub(crate) budget: MapBudget,
    pub(crate) spawner: Spawner,
}

impl Mapper {
    /// Maps the value at `path` of `subject`.
    pub(crate) fn map(self, subject: &Hook, path: &[PathKey]) -> Hook {
        if self.instructions.is_empty() {
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
        let mut table = MapTable {
            mapper: self,
            variables: vec![Hook::from_result(Ok(input))],
        };
        let Some((last, body)) = self.instructions.split_last() else {
            return Hook::Error(Arc::new(RpcError::error("Invalid empty mapper function.")));
        };
        for instruction in body {
            match table.run(instruction) {
                Ok(value) => table.variables.push(Hook::from_result(Ok(value))),
                Err(error) => return Hook::Error(Arc::new(error)),
            }
        }
        match table.run(last) {
            Ok(value) => Hook::from_result(Ok(value)),
            Err(error) => Hook::Error(Arc::new(error)),
        }
    }
}

/// The reference table of one run of a mapper.
struct MapTable<'a> {
    mapper: &'a Mapper,
    variables: Vec<Hook>,
}

impl MapTable<'_> {
    fn run(&mut self, instruction: &Json) -> Result<Value, RpcError> {
        self.mapper.budget.spend(&self.mapper.limits)?;
        let limits = self.mapper.limits.clone();
        wire::evaluate(instruction.clone(), self, &limits)
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
}

impl Importer for MapTable<'_> {
    fn reference(
        &mut self,
        id: i64,
        path: Vec<PathKey>,
        args: Option<Vec<Value>>,
        promise: bool,
    ) -> Result<Value, RpcError> {
        let hook = self.lookup(id)?;
        Ok(hook.reference(&path, args, promise, &self.mapper.spawner))
    }

    fn import_stub(&mut self, _: i64) -> Result<Value, RpcError> {
        Err(RpcError::error(
            "A mapper function cannot refer to exports.",
        ))
    }

    fn import_promise(&mut self, _: i64) -> Result<Value, RpcError> {
        Err(RpcError::error(
            "A mapper function cannot refer to exports.",
        ))
    }

    fn remap(
        &mut self,
        id: i64,
        path: Vec<PathKey>,
        captures: Vec<Capture>,
        instructions: Vec<Json>,
    ) -> Result<Value, RpcError> {
        let subject = self.lookup(id)?;
        let captures = captures
            .into_iter()
            .map(|capture| match capture {
                Capture::Import(i) => self.lookup(i),
                Capture::Export(_) => Err(RpcError::error(
                    "A mapper function cannot refer to exports.",
                )),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let nested = Mapper {
            captures,
            instructions: Arc::new(instructions),
            ..self.mapper.clone()
        };
        Ok(Value::Promise(RpcPromise::from_hook(
            nested.map(&subject, &path),
        )))
    }
}

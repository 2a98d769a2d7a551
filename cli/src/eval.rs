//! Evaluation: a syntax tree (`parse`) turned into calls on tether's dynamic API.
//!
//! Owns the variable environment ([`Env`]) and the rules of the language: a name is a variable
//! if bound (`api` is the main object), else a member of the main object; every call returns
//! an unawaited [`RpcPromise`], so a chain of dependent calls is pipelined and costs one round
//! trip; `.map(x => body)` becomes one `remap` by recording `body` on tether's placeholder. Nothing
//! here awaits except [`settle`], which the caller runs once, at the end.

use std::collections::{HashMap, HashSet};

use tether::{BigInt, Bytes, RpcError, RpcPromise, Stub, Value};

use crate::parse::{parse_expr, Expr, Lit};

/// What an expression evaluates to, before anything is awaited.
#[derive(Clone, Debug)]
pub(crate) enum Ref {
    /// A stub held locally (the main object, or one kept in a variable).
    Stub(Stub),
    /// A pending call or property read.
    Promise(RpcPromise),
    /// Plain data (a literal, or a value already received).
    Value(Value),
}

impl Ref {
    /// Stubs and promises inside a value become references of their own.
    pub(crate) fn from_value(value: Value) -> Ref {
        match value {
            Value::Stub(stub) => Ref::Stub(stub),
            Value::Promise(promise) => Ref::Promise(promise),
            other => Ref::Value(other),
        }
    }

    /// As a call argument or part of a value: stubs are duplicated so a variable keeps its own.
    fn to_value(&self) -> Value {
        match self {
            Ref::Stub(stub) => Value::Stub(stub.clone()),
            Ref::Promise(promise) => Value::Promise(promise.clone()),
            Ref::Value(value) => value.clone(),
        }
    }

    fn to_promise(&self) -> RpcPromise {
        match self {
            Ref::Promise(promise) => promise.clone(),
            other => RpcPromise::resolved(other.to_value()),
        }
    }

    fn get(&self, name: &str) -> Ref {
        match self {
            Ref::Stub(stub) => Ref::Promise(stub.get(name)),
            Ref::Promise(promise) => Ref::Promise(promise.get(name)),
            Ref::Value(Value::Object(object)) => {
                Ref::from_value(object.get(name).cloned().unwrap_or_default())
            }
            Ref::Value(Value::Array(items)) if name == "length" => {
                Ref::Value(Value::from(items.len()))
            }
            Ref::Value(Value::String(s)) if name == "length" => {
                Ref::Value(Value::from(s.encode_utf16().count()))
            }
            Ref::Value(_) => Ref::Value(Value::Undefined),
        }
    }

    fn index(&self, index: u64) -> Ref {
        match self {
            Ref::Promise(promise) => Ref::Promise(promise.index(index)),
            Ref::Stub(stub) => Ref::Promise(stub.get(&index.to_string())),
            Ref::Value(Value::Array(items)) => Ref::from_value(
                usize::try_from(index)
                    .ok()
                    .and_then(|i| items.get(i).cloned())
                    .unwrap_or_default(),
            ),
            other => other.get(&index.to_string()),
        }
    }

    fn call(&self, method: &str, args: Vec<Value>) -> Result<Ref, String> {
        match self {
            Ref::Stub(stub) => Ok(Ref::Promise(stub.call(method, args))),
            Ref::Promise(promise) => Ok(Ref::Promise(promise.call(method, args))),
            Ref::Value(value) => Err(format!(
                "cannot call `{method}` on a {} (only stubs and promises have methods)",
                value.type_name()
            )),
        }
    }

    fn invoke(&self, args: Vec<Value>) -> Result<Ref, String> {
        match self {
            Ref::Stub(stub) => Ok(Ref::Promise(stub.invoke(args))),
            Ref::Promise(promise) => Ok(Ref::Promise(promise.invoke(args))),
            Ref::Value(value) => Err(format!("a {} cannot be called", value.type_name())),
        }
    }
}

/// Waits for what `r` refers to: the one `.await` of a statement.
pub(crate) async fn settle(r: Ref) -> Result<Value, RpcError> {
    match r {
        Ref::Stub(stub) => Ok(Value::Stub(stub)),
        Ref::Promise(promise) => promise.await,
        Ref::Value(value) if contains_promise(&value) => RpcPromise::resolved(value).await,
        Ref::Value(value) => Ok(value),
    }
}

fn contains_promise(value: &Value) -> bool {
    match value {
        Value::Promise(_) => true,
        Value::Array(items) => items.iter().any(contains_promise),
        Value::Object(object) => object.iter().any(|(_, v)| contains_promise(v)),
        _ => false,
    }
}

/// Where `@-` gets its text.
pub(crate) trait Input {
    /// The whole of standard input (read once, then the same text every time).
    fn stdin(&mut self) -> Result<String, String>;
}

/// Standard input, read on first use and kept.
#[derive(Default)]
pub(crate) struct StdinOnce(Option<String>);

impl Input for StdinOnce {
    fn stdin(&mut self) -> Result<String, String> {
        if let Some(text) = &self.0 {
            return Ok(text.clone());
        }
        let text = std::io::read_to_string(std::io::stdin())
            .map_err(|e| format!("cannot read standard input: {e}"))?;
        self.0 = Some(text.clone());
        Ok(text)
    }
}

/// Variables and the main object.
pub(crate) struct Env {
    vars: HashMap<String, Ref>,
    /// Names released with `.dispose`: using one again is an error, not a property of `api`.
    disposed: HashSet<String>,
    main: Stub,
    input: Box<dyn Input>,
}

/// The name of the main object.
pub(crate) const MAIN: &str = "api";

impl Env {
    /// An environment where `api` is `main`.
    pub(crate) fn new(main: Stub, input: Box<dyn Input>) -> Self {
        let mut vars = HashMap::new();
        vars.insert(MAIN.to_owned(), Ref::Stub(main.clone()));
        Self {
            vars,
            disposed: HashSet::new(),
            main,
            input,
        }
    }

    /// Binds `name` (dropping what it held before, which releases its stubs).
    pub(crate) fn bind(&mut self, name: &str, value: Ref) {
        self.disposed.remove(name);
        self.vars.insert(name.to_owned(), value);
    }

    /// Unbinds `name` and returns what it held.
    pub(crate) fn unbind(&mut self, name: &str) -> Option<Ref> {
        let held = self.vars.remove(name)?;
        self.disposed.insert(name.to_owned());
        Some(held)
    }

    fn check_live(&self, name: &str) -> Result<(), String> {
        if self.disposed.contains(name) {
            return Err(format!(
                "`{name}` was disposed (use `api.{name}` for the server's property)"
            ));
        }
        Ok(())
    }

    /// Bound names, sorted, with `api` first.
    pub(crate) fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.vars.keys().cloned().collect();
        names.sort_by_key(|n| (n != MAIN, n.clone()));
        names
    }

    /// Evaluates `expr` without awaiting anything.
    pub(crate) fn eval(&mut self, expr: &Expr) -> Result<Ref, String> {
        Ok(match expr {
            Expr::Lit(lit) => Ref::Value(literal(lit)?),
            Expr::Array(items) => {
                let items = items
                    .iter()
                    .map(|item| Ok(self.eval(item)?.to_value()))
                    .collect::<Result<Vec<_>, String>>()?;
                Ref::Value(Value::Array(items))
            }
            Expr::Object(entries) => {
                let mut object = tether::Object::new();
                for (key, item) in entries {
                    let value = self.eval(item)?.to_value();
                    object.insert(key.clone(), value);
                }
                Ref::Value(Value::Object(object))
            }
            Expr::Name(name) => match self.check_live(name).map(|()| self.vars.get(name))? {
                Some(r) => r.clone(),
                None => Ref::Promise(self.main.get(name)),
            },
            Expr::CallName(name, args) => {
                self.check_live(name)?;
                let args = self.args(args)?;
                match self.vars.get(name) {
                    Some(r) => r.invoke(args)?,
                    None => Ref::Promise(self.main.call(name, args)),
                }
            }
            Expr::Get(target, name) => self.eval(target)?.get(name),
            Expr::Index(target, index) => self.eval(target)?.index(*index),
            Expr::Call(target, method, args) => {
                let target = self.eval(target)?;
                let args = self.args(args)?;
                target.call(method, args)?
            }
            Expr::Invoke(target, args) => {
                let target = self.eval(target)?;
                let args = self.args(args)?;
                target.invoke(args)?
            }
            Expr::Map(target, param, body) => {
                let target = self.eval(target)?.to_promise();
                Ref::Promise(self.map(&target, param, body)?)
            }
            Expr::Stdin => {
                let text = self.input.stdin()?;
                self.eval_text("@-", &text)?
            }
            Expr::File(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read @{path}: {e}"))?;
                self.eval_text(&format!("@{path}"), &text)?
            }
        })
    }

    fn args(&mut self, args: &[Expr]) -> Result<Vec<Value>, String> {
        args.iter().map(|a| Ok(self.eval(a)?.to_value())).collect()
    }

    fn eval_text(&mut self, what: &str, text: &str) -> Result<Ref, String> {
        let expr = parse_expr(text).map_err(|e| format!("in {what}: {}", e.render(text)))?;
        self.eval(&expr)
    }

    /// `target.map(param => body)`: `body` runs once, now, on tether's placeholder, which
    /// records it; the recording travels as one `remap`.
    fn map(&mut self, target: &RpcPromise, param: &str, body: &Expr) -> Result<RpcPromise, String> {
        let mut failure = None;
        let promise = target.map(|placeholder| {
            let saved = self
                .vars
                .insert(param.to_owned(), Ref::Promise(placeholder));
            let result = self.eval(body);
            match saved {
                Some(previous) => self.vars.insert(param.to_owned(), previous),
                None => self.vars.remove(param),
            };
            match result {
                Ok(r) => r.to_value(),
                Err(e) => {
                    failure = Some(e);
                    Value::Undefined
                }
            }
        });
        match failure {
            Some(e) => Err(e),
            None => Ok(promise),
        }
    }
}

fn literal(lit: &Lit) -> Result<Value, String> {
    Ok(match lit {
        Lit::Undefined => Value::Undefined,
        Lit::Null => Value::Null,
        Lit::Bool(b) => Value::Bool(*b),
        Lit::Number(n) => Value::Number(*n),
        Lit::String(s) => Value::String(s.clone()),
        Lit::BigInt(digits) => Value::BigInt(
            digits
                .parse::<BigInt>()
                .map_err(|e| format!("bad bigint {digits}n: {e}"))?,
        ),
        Lit::Date(ms) => Value::Date(*ms),
        Lit::Bytes(data) => Value::Bytes(Bytes::new(data.clone())),
    })
}

//! Charging the copies a peer makes us take of values we already hold.
//!
//! A [`Value`] is owned, so a peer that passes a result it already has (`["pipeline", id]`) to
//! a call, or reads a property of one, makes us copy that value (a JavaScript server would
//! share the object). Copies are cheap to ask for and may be large: twenty 49-byte pushes can
//! copy a million-value result twenty times. So while a session evaluates a peer's push, and
//! while the call that push started substitutes its arguments, every such copy is charged to
//! that push's answer ([`Charge`]), against the session's [`CopyGauge`]
//! (`Quotas::max_copied_values`); a copy over it is refused with a `RangeError` (that call or
//! read fails, the session goes on). The charge is given back when the answer is released and
//! the call is done (the [`Charge`] is dropped), so the bound is on what copies are live, not
//! on how many a session makes over its life.
//!
//! Owns the gauge, the charges and the scope (a thread-local set only while a session
//! evaluates a push, or while a charged call is polled). It must not touch session tables: the
//! session keeps each answer's charge itself. Copies made outside a scope (the application's
//! own calls) are not charged; a read or call the push queued on a pending promise is charged
//! to it when the promise settles and the read or call goes on.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::core::error::RpcError;
use crate::core::value::Value;

/// One session's quota of copied values, and its gauge once a copy has been charged (most
/// sessions never copy: they allocate nothing for this).
#[derive(Debug)]
pub(crate) struct CopyQuota {
    max: u64,
    gauge: Option<Arc<CopyGauge>>,
}

impl CopyQuota {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            max: max as u64,
            gauge: None,
        }
    }

    /// Values of the copies charged and not given back.
    pub(crate) fn held(&self) -> u64 {
        self.gauge
            .as_ref()
            .map_or(0, |gauge| gauge.held.load(Ordering::Relaxed))
    }
}

/// Values of the copies live in one session, against its quota.
#[derive(Debug)]
struct CopyGauge {
    held: AtomicU64,
    max: u64,
}

/// The copies charged to one answer, given back to the gauge when dropped.
#[derive(Debug)]
pub(crate) struct Charge {
    values: AtomicU64,
    gauge: Arc<CopyGauge>,
}

impl Charge {
    fn add(&self, values: u64) -> Result<(), RpcError> {
        let held = self.gauge.held.fetch_add(values, Ordering::Relaxed) + values;
        if held > self.gauge.max {
            self.gauge.held.fetch_sub(values, Ordering::Relaxed);
            return Err(RpcError::range_error(format!(
                "RPC session exceeded its quota of {} values copied from results it holds \
                 ({held}); the copy was refused.",
                self.gauge.max
            )));
        }
        self.values.fetch_add(values, Ordering::Relaxed);
        Ok(())
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        let values = *self.values.get_mut();
        self.gauge.held.fetch_sub(values, Ordering::Relaxed);
    }
}

/// What a scope charges: a session's quota, and the charge of the push being evaluated once a
/// copy has needed one.
struct Scope {
    quota: CopyQuota,
    charge: Option<Arc<Charge>>,
}

impl Scope {
    /// The scope of an existing charge.
    fn of(charge: &Arc<Charge>) -> Self {
        Self {
            quota: CopyQuota {
                max: charge.gauge.max,
                gauge: Some(charge.gauge.clone()),
            },
            charge: Some(charge.clone()),
        }
    }

    fn charge(&mut self) -> Arc<Charge> {
        let quota = &mut self.quota;
        self.charge
            .get_or_insert_with(|| {
                let max = quota.max;
                let gauge = quota.gauge.get_or_insert_with(|| {
                    Arc::new(CopyGauge {
                        held: AtomicU64::new(0),
                        max,
                    })
                });
                Arc::new(Charge {
                    values: AtomicU64::new(0),
                    gauge: gauge.clone(),
                })
            })
            .clone()
    }
}

thread_local! {
    static SCOPE: RefCell<Option<Scope>> = const { RefCell::new(None) };
}

/// Runs `evaluate` (a session evaluating one push) charging the copies it makes to a new
/// charge against `quota`; returns its outcome and the charge, if a copy needed one.
pub(crate) fn charging<R>(
    quota: &mut CopyQuota,
    evaluate: impl FnOnce() -> R,
) -> (R, Option<Arc<Charge>>) {
    let scope = Scope {
        quota: CopyQuota {
            max: quota.max,
            gauge: quota.gauge.take(),
        },
        charge: None,
    };
    let outer = SCOPE.with(|s| s.replace(Some(scope)));
    let result = evaluate();
    let scope = SCOPE.with(|s| s.replace(outer));
    let charge = scope.and_then(|scope| {
        quota.gauge = scope.quota.gauge;
        scope.charge
    });
    (result, charge)
}

/// Runs `f` charging the copies it makes to `charge`; with none, as the caller's scope does.
pub(crate) fn charged<R>(charge: Option<&Arc<Charge>>, f: impl FnOnce() -> R) -> R {
    let Some(charge) = charge else {
        return f();
    };
    let outer = SCOPE.with(|s| s.replace(Some(Scope::of(charge))));
    let result = f();
    SCOPE.with(|s| s.replace(outer));
    result
}

/// The current scope's charge (made now if it has none), for a call that may copy later.
pub(crate) fn current() -> Option<Arc<Charge>> {
    SCOPE.with(|s| s.borrow_mut().as_mut().map(Scope::charge))
}

/// Charges a copy of `value` about to be made, if a scope is set: refused over the quota.
pub(crate) fn charge(value: &Value) -> Result<(), RpcError> {
    match current() {
        Some(charge) => charge.add(count(value)),
        None => Ok(()),
    }
}

/// The values in `value`: itself and, within arrays and objects, every element.
fn count(value: &Value) -> u64 {
    match value {
        Value::Array(items) => 1 + items.iter().map(count).sum::<u64>(),
        Value::Object(object) => 1 + object.iter().map(|(_, v)| count(v)).sum::<u64>(),
        _ => 1,
    }
}

/// `future`, charging the copies it makes while polled to `charge`.
pub(crate) fn within<F: Future>(charge: Arc<Charge>, future: F) -> Within<F> {
    Within {
        charge,
        future: Box::pin(future),
    }
}

/// See [`within`].
pub(crate) struct Within<F> {
    charge: Arc<Charge>,
    future: Pin<Box<F>>,
}

impl<F: Future> Future for Within<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        charged(Some(&this.charge), || this.future.as_mut().poll(cx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zeros(n: usize) -> Value {
        Value::Array(vec![Value::Number(0.0); n])
    }

    #[test]
    fn copies_are_charged_only_in_a_scope_and_given_back_with_the_charge() {
        let mut quota = CopyQuota::new(25);
        assert!(charge(&zeros(1000)).is_ok(), "no scope, no charge");
        let ((), none) = charging(&mut quota, || ());
        assert!(
            none.is_none() && quota.gauge.is_none(),
            "no copy, nothing allocated"
        );
        let (first, kept) = charging(&mut quota, || charge(&zeros(9)));
        assert!(first.is_ok());
        assert_eq!(quota.held(), 10);
        let (second, other) = charging(&mut quota, || {
            let small = charge(&zeros(9));
            let over = charge(&zeros(9));
            (small, over)
        });
        assert!(second.0.is_ok());
        let refused = second.1.unwrap_err();
        assert_eq!(refused.name, "RangeError");
        assert!(
            refused.message.contains("quota of 25 values copied"),
            "{}",
            refused.message
        );
        assert_eq!(quota.held(), 20, "a refused copy is not charged");
        drop(kept);
        assert_eq!(quota.held(), 10);
        drop(other);
        assert_eq!(quota.held(), 0);
    }

    #[test]
    fn a_call_charges_its_later_copies_to_the_push_that_started_it() {
        let mut quota = CopyQuota::new(100);
        let (later, charge_of_push) = charging(&mut quota, || {
            let charge = current().expect("a scope");
            within(charge, async { charge_copy_later().await })
        });
        let charge_of_push = charge_of_push.expect("made by current()");
        assert_eq!(quota.held(), 0);
        let outcome = futures_util::FutureExt::now_or_never(later).expect("ready");
        assert!(outcome.is_ok());
        assert_eq!(quota.held(), 6);
        drop(charge_of_push);
        assert_eq!(quota.held(), 0, "the call's future was the other holder");
    }

    async fn charge_copy_later() -> Result<(), RpcError> {
        charge(&zeros(5))
    }
}

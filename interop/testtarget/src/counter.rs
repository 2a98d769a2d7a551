//! The contract's **Counter**, declared as a typed interface: a pass-by-reference object with a
//! method and a getter.
//!
//! `increment(amount = 1)` adds `amount` (a missing, `undefined` or `null` amount is 1) and
//! returns the new value; `value` is a property, so calling `value()` as a method rejects with a
//! `TypeError`, as the contract requires. A non-number amount is refused at the boundary with a
//! `TypeError` naming `increment` and `amount`.

use std::sync::Mutex;

/// The contract's Counter (JavaScript names: `increment`, property `value`).
#[tether::interface]
pub(crate) trait Counter {
    /// Adds `amount` (1 when missing) and returns the new value.
    async fn increment(&self, amount: Option<f64>) -> f64;
    /// The current value, as a property.
    #[getter]
    async fn value(&self) -> f64;
}

/// A counter holding a JavaScript number.
pub(crate) struct CounterImpl {
    value: Mutex<f64>,
}

impl CounterImpl {
    /// A counter starting at `start`.
    pub(crate) fn new(start: f64) -> Self {
        Self {
            value: Mutex::new(start),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, f64> {
        self.value
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

impl Counter for CounterImpl {
    async fn increment(&self, amount: Option<f64>) -> f64 {
        let mut value = self.lock();
        *value += amount.unwrap_or(1.0);
        *value
    }

    async fn value(&self) -> f64 {
        *self.lock()
    }
}

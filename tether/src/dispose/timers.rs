//! Disposable timers: [`set_interval`] and [`set_timeout`], cancelled by disposing or dropping.

use std::fmt;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::{self, Instant, MissedTickBehavior};

use super::{Disposable, DisposeError};

/// A callback running every `period` on the Tokio runtime: JavaScript's `setInterval`, with
/// `Symbol.dispose` as Node's timers have it. Disposing or dropping it stops the callback;
/// [`set_interval`] makes one.
#[must_use = "dropping an Interval cancels it at once"]
pub struct Interval {
    task: JoinHandle<()>,
}

impl Interval {
    /// Stops the callback (same as disposing or dropping). A tick already running finishes.
    pub fn cancel(&self) {
        self.task.abort();
    }

    /// Whether the interval has stopped: cancelled, or its callback panicked.
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

/// A callback running once after a delay: JavaScript's `setTimeout`. Disposing or dropping it
/// before it fires cancels it; [`set_timeout`] makes one.
#[must_use = "dropping a Timeout cancels it at once"]
pub struct Timeout {
    task: JoinHandle<()>,
}

impl Timeout {
    /// Cancels the callback if it has not run yet (same as disposing or dropping).
    pub fn cancel(&self) {
        self.task.abort();
    }

    /// Whether the timeout has fired or was cancelled.
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

/// Calls `tick` every `period`, the first time one `period` from now, until the returned
/// [`Interval`] is disposed or dropped. A zero period is taken as one millisecond, as in Node.
/// Ticks missed while the runtime was busy are not made up in a burst.
///
/// # Panics
///
/// Outside a Tokio runtime, as [`tokio::spawn`] does.
pub fn set_interval<F>(period: Duration, tick: F) -> Interval
where
    F: FnMut() + Send + 'static,
{
    let mut tick = tick;
    let period = period.max(Duration::from_millis(1));
    let task = tokio::spawn(async move {
        let mut ticks = time::interval_at(Instant::now() + period, period);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            tick();
        }
    });
    Interval { task }
}

/// Calls `callback` once, `delay` from now, unless the returned [`Timeout`] is disposed or
/// dropped first.
///
/// # Panics
///
/// Outside a Tokio runtime, as [`tokio::spawn`] does.
pub fn set_timeout<F>(delay: Duration, callback: F) -> Timeout
where
    F: FnOnce() + Send + 'static,
{
    let task = tokio::spawn(async move {
        time::sleep(delay).await;
        callback();
    });
    Timeout { task }
}

impl Disposable for Interval {
    fn dispose(&mut self) -> Result<(), DisposeError> {
        self.cancel();
        Ok(())
    }
}

impl Disposable for Timeout {
    fn dispose(&mut self) -> Result<(), DisposeError> {
        self.cancel();
        Ok(())
    }
}

impl Drop for Interval {
    fn drop(&mut self) {
        self.cancel();
    }
}

impl Drop for Timeout {
    fn drop(&mut self) {
        self.cancel();
    }
}

impl fmt::Debug for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Interval")
            .field("finished", &self.is_finished())
            .finish()
    }
}

impl fmt::Debug for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timeout")
            .field("finished", &self.is_finished())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn interval_ticks_until_disposed() {
        let count = Arc::new(AtomicUsize::new(0));
        let counter = count.clone();
        let mut interval = set_interval(Duration::from_secs(1), move || {
            counter.fetch_add(1, Ordering::SeqCst);
        });
        time::sleep(Duration::from_millis(3500)).await;
        assert_eq!(count.load(Ordering::SeqCst), 3);
        assert!(interval.dispose().is_ok());
        time::sleep(Duration::from_secs(5)).await;
        assert_eq!(count.load(Ordering::SeqCst), 3);
        assert!(interval.is_finished());
    }

    #[tokio::test(start_paused = true)]
    async fn timeout_fires_once_unless_dropped() {
        let count = Arc::new(AtomicUsize::new(0));
        let (first, second) = (count.clone(), count.clone());
        let fired = set_timeout(Duration::from_secs(1), move || {
            first.fetch_add(1, Ordering::SeqCst);
        });
        let dropped = set_timeout(Duration::from_secs(1), move || {
            second.fetch_add(10, Ordering::SeqCst);
        });
        drop(dropped);
        time::sleep(Duration::from_secs(2)).await;
        assert_eq!(count.load(Ordering::SeqCst), 1);
        assert!(fired.is_finished());
    }
}

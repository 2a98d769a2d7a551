//! A session's mailbox: the commands its handles send to its task, in order, never blocking the
//! sender.
//!
//! Owns [`mailbox`] and its two ends. A queue under a std mutex (held only to push or pop one
//! item, never across an `.await`) and one waker for the receiving task. tokio's unbounded
//! channel would do the same job, but allocates a block of 32 slots when it is made and keeps
//! it: a session that sits idle would hold about 2.3 KB for nothing. This queue holds no memory
//! while empty at first, and gives back what a burst made it grow to once it is drained.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Poll;

use futures_util::task::AtomicWaker;

/// Room a drained queue keeps; a burst beyond it is given back once the queue is empty.
const KEPT_CAPACITY: usize = 16;

struct Shared<T> {
    state: Mutex<State<T>>,
    waker: AtomicWaker,
}

struct State<T> {
    items: VecDeque<T>,
    closed: bool,
}

impl<T> Shared<T> {
    fn state(&self) -> MutexGuard<'_, State<T>> {
        // A queue and a flag: a panic cannot leave them half-updated.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A new mailbox: the sending end (for the session's link) and the receiving end (for its task).
pub(crate) fn mailbox<T>() -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            items: VecDeque::new(),
            closed: false,
        }),
        waker: AtomicWaker::new(),
    });
    (Sender(shared.clone()), Receiver(shared))
}

/// The sending end.
pub(crate) struct Sender<T>(Arc<Shared<T>>);

impl<T> Sender<T> {
    /// Queues `item`; gives it back if the receiver closed or is gone.
    pub(crate) fn send(&self, item: T) -> Result<(), T> {
        {
            let mut state = self.0.state();
            if state.closed {
                return Err(item);
            }
            state.items.push_back(item);
        }
        self.0.waker.wake();
        Ok(())
    }
}

/// Nothing is queued now.
#[derive(Debug)]
pub(crate) struct Empty;

/// The receiving end.
pub(crate) struct Receiver<T>(Arc<Shared<T>>);

impl<T> Receiver<T> {
    /// The next item; `None` once the mailbox is closed and empty, or every sender is gone.
    pub(crate) async fn recv(&mut self) -> Option<T> {
        poll_fn(|cx| {
            if let Ok(item) = self.try_recv() {
                return Poll::Ready(Some(item));
            }
            self.0.waker.register(cx.waker());
            // Checked again: an item sent before the waker was registered woke no one.
            match self.try_recv() {
                Ok(item) => Poll::Ready(Some(item)),
                Err(Empty) if self.0.state().closed || Arc::strong_count(&self.0) == 1 => {
                    Poll::Ready(None)
                }
                Err(Empty) => Poll::Pending,
            }
        })
        .await
    }

    /// The next item if one is queued.
    pub(crate) fn try_recv(&mut self) -> Result<T, Empty> {
        let mut state = self.0.state();
        let item = state.items.pop_front().ok_or(Empty)?;
        if state.items.is_empty() && state.items.capacity() > KEPT_CAPACITY {
            state.items = VecDeque::new();
        }
        Ok(item)
    }

    /// Refuses further items; those already queued can still be received.
    pub(crate) fn close(&mut self) {
        self.0.state().closed = true;
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn items_arrive_in_order_and_closing_refuses_new_ones() {
        let (tx, mut rx) = mailbox();
        for i in 0..100 {
            assert!(tx.send(i).is_ok());
        }
        for i in 0..100 {
            assert_eq!(rx.recv().await, Some(i));
        }
        assert!(rx.try_recv().is_err());
        assert!(
            rx.0.state().items.capacity() <= KEPT_CAPACITY,
            "a drained burst gives its room back"
        );
        // A receiver waiting is woken by a send from another task.
        let sender = tokio::spawn(async move {
            tokio::task::yield_now().await;
            assert!(tx.send(7).is_ok());
            tx
        });
        assert_eq!(rx.recv().await, Some(7));
        let tx = sender.await.unwrap();
        tx.send(8).unwrap();
        rx.close();
        assert_eq!(tx.send(9), Err(9), "closed: refused");
        assert_eq!(
            rx.recv().await,
            Some(8),
            "queued before closing: still received"
        );
        assert_eq!(rx.recv().await, None);
    }
}

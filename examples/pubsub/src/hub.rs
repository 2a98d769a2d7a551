//! The server side: the hub (event history and subscriptions, shared by every connection), the
//! per-connection main object and the subscription objects.
//!
//! The hub's state sits behind a std mutex that is never held across an `.await`: publishing,
//! subscribing and ending a subscription each take it once, briefly. Subscribing copies the
//! missed events into the new subscription's queue and registers it under the same lock as
//! publishing appends, so a resuming subscriber gets every event exactly once.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tether::{RpcError, RpcResult};
use tokio::sync::{mpsc, oneshot};

use crate::{Event, PubSub, PubSubClient, Subscriber, Subscription, SubscriptionClient};

/// Events kept for subscribers that resume, over all topics.
pub const HISTORY: usize = 1000;
/// Events a subscription may have waiting for delivery. A subscriber slower than that is
/// dropped; it can resubscribe from the last event it saw.
const QUEUE: usize = HISTORY + 1000;
/// The longest topic name and message accepted, in bytes.
const MAX_TOPIC: usize = 100;
const MAX_TEXT: usize = 4096;

/// Why a subscription ended, as the server log says it.
#[derive(Clone, Copy, Debug)]
enum Ended {
    Unsubscribed,
    Released,
    TooSlow,
}

impl Ended {
    fn describe(self) -> &'static str {
        match self {
            Ended::Unsubscribed => "unsubscribed",
            Ended::Released => "subscription released (disposed or disconnected)",
            Ended::TooSlow => "too slow: its queue was full",
        }
    }
}

/// A live subscription as the hub sees it. Dropping it stops its delivery task.
struct Entry {
    topic: String,
    queue: mpsc::Sender<Event>,
    stop: oneshot::Sender<Ended>,
}

#[derive(Default)]
struct State {
    last_id: u64,
    history: VecDeque<Event>,
    subscriptions: HashMap<u64, Entry>,
    next_subscription: u64,
}

/// Topics, the event history and the subscriptions of one server.
#[derive(Default)]
pub struct Hub {
    state: Mutex<State>,
    /// Subscriber functions held by delivery tasks now.
    held: AtomicU64,
    /// Print what happens to subscriptions on standard output.
    verbose: bool,
}

impl Hub {
    /// A hub that prints each subscription's start and end (for the server binary).
    pub fn verbose() -> Arc<Hub> {
        Arc::new(Hub {
            verbose: true,
            ..Hub::default()
        })
    }

    /// The main object for one connection.
    pub fn session(self: &Arc<Self>) -> PubSubClient {
        PubSubClient::serve(Connection { hub: self.clone() })
    }

    /// How many subscriber functions the server holds.
    pub fn subscriber_count(&self) -> u64 {
        self.held.load(Ordering::SeqCst)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere cannot leave the state half-changed: every change is one statement.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn log(&self, line: std::fmt::Arguments<'_>) {
        if self.verbose {
            println!("{line}");
        }
    }

    fn publish(&self, topic: String, text: String) -> u64 {
        let mut state = self.lock();
        state.last_id += 1;
        let event = Event {
            id: state.last_id,
            topic,
            text,
        };
        if state.history.len() == HISTORY {
            state.history.pop_front();
        }
        state.history.push_back(event.clone());
        let mut slow = Vec::new();
        for (&id, entry) in &state.subscriptions {
            if entry.topic == event.topic && entry.queue.try_send(event.clone()).is_err() {
                slow.push(id);
            }
        }
        for id in slow {
            if let Some(entry) = state.subscriptions.remove(&id) {
                let _ = entry.stop.send(Ended::TooSlow);
            }
        }
        event.id
    }

    /// Registers a subscription holding `subscriber`, with the events after `after` queued.
    fn subscribe(
        self: &Arc<Self>,
        topic: String,
        after: Option<u64>,
        subscriber: Subscriber,
    ) -> u64 {
        let (queue, deliveries) = mpsc::channel(QUEUE);
        let (stop, stopped) = oneshot::channel();
        let after = after.unwrap_or(0);
        let id = {
            let mut state = self.lock();
            for event in state
                .history
                .iter()
                .filter(|e| e.id > after && e.topic == topic)
            {
                // Cannot fail: the queue is new and holds more than the whole history.
                let _ = queue.try_send(event.clone());
            }
            state.next_subscription += 1;
            let id = state.next_subscription;
            state.subscriptions.insert(
                id,
                Entry {
                    topic: topic.clone(),
                    queue,
                    stop,
                },
            );
            id
        };
        self.held.fetch_add(1, Ordering::SeqCst);
        self.log(format_args!(
            "subscription {id}: topic {topic:?}, after event {after}"
        ));
        tokio::spawn(self.clone().deliver(id, subscriber, deliveries, stopped));
        id
    }

    /// Ends subscription `id`; `false` if it had already ended.
    fn end(&self, id: u64, why: Ended) -> bool {
        let entry = self.lock().subscriptions.remove(&id);
        match entry {
            Some(entry) => {
                let _ = entry.stop.send(why);
                true
            }
            None => false,
        }
    }

    /// Calls the subscriber with each queued event in turn until the subscription ends or a
    /// call fails, then drops the subscriber: that is the `release` the client sees.
    async fn deliver(
        self: Arc<Self>,
        id: u64,
        subscriber: Subscriber,
        mut deliveries: mpsc::Receiver<Event>,
        mut stopped: oneshot::Receiver<Ended>,
    ) {
        // `biased`: when a subscription ends, its stop signal is sent before its queue closes,
        // so the reason is seen first.
        let why = loop {
            let event = tokio::select! {
                biased;
                why = &mut stopped => break describe(why),
                event = deliveries.recv() => event,
            };
            let Some(event) = event else {
                break describe(stopped.try_recv());
            };
            tokio::select! {
                biased;
                why = &mut stopped => break describe(why),
                delivered = subscriber.call((event,)) => if let Err(error) = delivered {
                    self.end(id, Ended::Released);
                    break format!("delivery failed: {error}");
                },
            }
        };
        drop(subscriber);
        self.held.fetch_sub(1, Ordering::SeqCst);
        self.log(format_args!(
            "subscription {id}: subscriber released ({why})"
        ));
    }
}

fn describe<E>(why: Result<Ended, E>) -> String {
    why.map_or("hub closed", Ended::describe).to_owned()
}

/// The main object of one connection.
struct Connection {
    hub: Arc<Hub>,
}

impl PubSub for Connection {
    async fn subscribe(
        &self,
        topic: String,
        after: Option<u64>,
        subscriber: &Subscriber,
    ) -> RpcResult<SubscriptionClient> {
        check_topic(&topic)?;
        // `subscriber` is lent for this call; the duplicate outlives it.
        let id = self.hub.subscribe(topic, after, subscriber.clone());
        Ok(SubscriptionClient::serve(ActiveSubscription {
            hub: self.hub.clone(),
            id,
        }))
    }

    async fn publish(&self, topic: String, text: String) -> RpcResult<u64> {
        check_topic(&topic)?;
        if text.len() > MAX_TEXT {
            return Err(RpcError::range_error(format!(
                "a message may hold {MAX_TEXT} bytes at most"
            )));
        }
        Ok(self.hub.publish(topic, text))
    }

    async fn subscriber_count(&self) -> u64 {
        self.hub.subscriber_count()
    }
}

fn check_topic(topic: &str) -> RpcResult<()> {
    if topic.is_empty() || topic.len() > MAX_TOPIC {
        return Err(RpcError::range_error(format!(
            "a topic is 1 to {MAX_TOPIC} bytes long"
        )));
    }
    Ok(())
}

/// The target behind a [`SubscriptionClient`].
struct ActiveSubscription {
    hub: Arc<Hub>,
    id: u64,
}

impl Subscription for ActiveSubscription {
    async fn unsubscribe(&self) -> bool {
        self.hub.end(self.id, Ended::Unsubscribed)
    }

    fn released(&self) {
        self.hub.end(self.id, Ended::Released);
    }
}

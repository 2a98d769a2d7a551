//! A pub/sub server whose subscribers are callbacks it keeps, and a client that reconnects and
//! resumes from the last event it saw. Run it with `cargo run -p pubsub` (see `main.rs`).
//!
//! The lifecycle of a subscriber, which is the point of the example:
//!
//! 1. The client passes a function to [`PubSub::subscribe`]. The server receives it *lent for
//!    the call* (`&Subscriber`): tether would release it when the call returns, so the server
//!    keeps a duplicate, `subscriber.clone()`, in the delivery task of the new subscription.
//! 2. The call returns a [`Subscription`] stub. The subscription ends when the client calls
//!    `unsubscribe()`, when it drops (disposes) that stub, or when its connection goes: the
//!    session then releases everything the client held, which runs the subscription's
//!    `#[dispose]` method.
//! 3. When the subscription ends, its delivery task drops the duplicate. That sends a
//!    `release` to the client, whose function is then dropped too: the client sees the release
//!    ([`client::Update::Released`]). [`PubSub::subscriber_count`] counts the duplicates the
//!    server holds, so a test can check that none is left behind.
//!
//! Events have ids that increase by one across the server. The server keeps the last
//! [`hub::HISTORY`] events, so a client that reconnects subscribes with the last id it saw and
//! gets what it missed, then live events, with no gap and no duplicate.
//!
//! Layout: this file (the interface), [`hub`] (topics, history, subscriptions; the server side),
//! [`client`] (the reconnecting client).

pub mod client;
pub mod hub;

use serde::{Deserialize, Serialize};
use tether::typed::Callback;
use tether::RpcResult;

/// One published message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Increases by one with every event published on the server, whatever its topic.
    pub id: u64,
    /// The topic it was published on.
    pub topic: String,
    /// The message.
    pub text: String,
}

/// What a subscriber is: a function called with each event, in order. The server waits for
/// each call to return before making the next one.
pub type Subscriber = Callback<(Event,), ()>;

/// The server's main object, one per connection.
#[tether::interface]
pub trait PubSub {
    /// Calls `subscriber` with every kept event of `topic` whose id is greater than `after`
    /// (all kept events when absent), then with every new one. The server keeps a duplicate of
    /// `subscriber` until the returned subscription ends.
    async fn subscribe(
        &self,
        topic: String,
        after: Option<u64>,
        subscriber: &Subscriber,
    ) -> RpcResult<SubscriptionClient>;

    /// Publishes `text` on `topic` and returns the new event's id.
    async fn publish(&self, topic: String, text: String) -> RpcResult<u64>;

    /// How many subscriber functions the server holds now, over all connections.
    async fn subscriber_count(&self) -> u64;
}

/// One subscription, returned by [`PubSub::subscribe`].
#[tether::interface]
pub trait Subscription {
    /// Stops the deliveries and releases the subscriber. Returns `false` if it had already
    /// ended (for example after a failed delivery).
    async fn unsubscribe(&self) -> bool;

    /// Runs when the client disposes the subscription or disconnects: ends it as
    /// `unsubscribe` does.
    #[dispose]
    fn released(&self);
}

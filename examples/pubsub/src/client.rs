//! The reconnecting client: subscribes to one topic over a WebSocket, and when the connection
//! goes, connects again (waiting longer after each failed attempt) and resubscribes from the
//! last event id it saw, so it neither misses nor repeats an event the server still keeps.
//!
//! ```no_run
//! # async fn demo() {
//! use pubsub::client::{ReconnectingClient, Update};
//!
//! let (client, mut updates) = ReconnectingClient::spawn("ws://127.0.0.1:8081/", "general");
//! client.publish("hello").await.ok();
//! while let Some(update) = updates.recv().await {
//!     if let Update::Event(event) = update {
//!         println!("#{} {}", event.id, event.text);
//!     }
//! }
//! # }
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tether::client::{websocket, ConnectOptions};
use tether::typed::Callback;
use tether::{RpcError, RpcResult};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::{Event, PubSubClient, Subscriber};

/// The first wait before connecting again; it doubles after each failed attempt.
const FIRST_RETRY: Duration = Duration::from_millis(50);
const MAX_RETRY: Duration = Duration::from_secs(2);
/// How long [`ReconnectingClient::stop`] waits for the server to release the subscriber.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(10);

/// What happens to the client, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Update {
    /// Connected and subscribed, resuming after event `after` (`None`: from the history's start).
    Subscribed {
        /// The last event id seen before this subscription.
        after: Option<u64>,
    },
    /// A new event.
    Event(Event),
    /// An event whose id is not above the last one seen: ignored. The server never sends one.
    Duplicate(Event),
    /// The connection failed or ended; the client tries again after `retry_in`.
    Disconnected {
        /// What ended it.
        reason: String,
        /// The wait before the next attempt.
        retry_in: Duration,
    },
    /// The subscriber function of the current connection is gone: the server released it
    /// (after an unsubscribe), or the connection ended and took it along.
    Released,
}

enum Command {
    Publish(String, oneshot::Sender<RpcResult<u64>>),
}

/// A subscription to one topic that survives disconnections. Dropping it stops the client
/// without unsubscribing first (the server releases the subscriber when the connection closes).
pub struct ReconnectingClient {
    commands: mpsc::UnboundedSender<Command>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    last_id: Arc<AtomicU64>,
}

impl ReconnectingClient {
    /// Starts the client on the current Tokio runtime. Updates arrive on the returned channel.
    pub fn spawn(url: &str, topic: &str) -> (Self, mpsc::UnboundedReceiver<Update>) {
        let (updates, receiver) = mpsc::unbounded_channel();
        let (commands, command_receiver) = mpsc::unbounded_channel();
        let (stop, stopped) = oneshot::channel();
        let last_id = Arc::new(AtomicU64::new(0));
        let run = Run {
            url: url.to_owned(),
            topic: topic.to_owned(),
            last_id: last_id.clone(),
            updates,
            commands: command_receiver,
            stopped,
        };
        let client = ReconnectingClient {
            commands,
            stop: Some(stop),
            task: Some(tokio::spawn(run.run())),
            last_id,
        };
        (client, receiver)
    }

    /// The last event id seen, if any.
    pub fn last_id(&self) -> Option<u64> {
        Some(self.last_id.load(Ordering::SeqCst)).filter(|&id| id > 0)
    }

    /// Publishes `text` on the topic over the current connection; fails while disconnected.
    pub async fn publish(&self, text: &str) -> RpcResult<u64> {
        let (reply, replied) = oneshot::channel();
        self.commands
            .send(Command::Publish(text.to_owned(), reply))
            .map_err(|_| RpcError::error("the client has stopped"))?;
        replied
            .await
            .unwrap_or_else(|_| Err(RpcError::error("the client has stopped")))
    }

    /// Unsubscribes, waits until the server has released the subscriber (or the connection is
    /// gone), and stops.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for ReconnectingClient {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// The client's task.
struct Run {
    url: String,
    topic: String,
    last_id: Arc<AtomicU64>,
    updates: mpsc::UnboundedSender<Update>,
    commands: mpsc::UnboundedReceiver<Command>,
    stopped: oneshot::Receiver<()>,
}

/// How one connection ended.
enum Outcome {
    /// `stop` was asked for.
    Stopped,
    /// Lost or never made; `subscribed` if it got as far as subscribing.
    Lost { reason: String, subscribed: bool },
}

impl Run {
    async fn run(mut self) {
        let mut retry = FIRST_RETRY;
        loop {
            match self.connection().await {
                Outcome::Stopped => return,
                Outcome::Lost { reason, subscribed } => {
                    if subscribed {
                        retry = FIRST_RETRY;
                    }
                    let _ = self.updates.send(Update::Disconnected {
                        reason,
                        retry_in: retry,
                    });
                }
            }
            let pause = tokio::time::sleep(retry);
            tokio::pin!(pause);
            loop {
                tokio::select! {
                    () = &mut pause => break,
                    _ = &mut self.stopped => return,
                    command = self.commands.recv() => match command {
                        Some(Command::Publish(_, reply)) => {
                            let _ = reply.send(Err(RpcError::error("not connected")));
                        }
                        None => return,
                    },
                }
            }
            retry = (retry * 2).min(MAX_RETRY);
        }
    }

    /// One connection: connect, subscribe after the last id seen, serve commands until the
    /// connection ends or `stop` is asked for.
    async fn connection(&mut self) -> Outcome {
        let lost = |reason: String, subscribed| Outcome::Lost { reason, subscribed };
        // The default options end the session when the main stub is dropped.
        let options = ConnectOptions::default();
        let (main, mut session) = match websocket::connect_with(&self.url, options).await {
            Ok(connected) => connected,
            Err(error) => return lost(format!("connecting: {error}"), false),
        };
        let api = PubSubClient::from_stub(main);
        let after = Some(self.last_id.load(Ordering::SeqCst)).filter(|&id| id > 0);
        let (released, on_released) = oneshot::channel();
        let subscriber = subscriber(self.last_id.clone(), self.updates.clone(), released);
        let subscribing = api.subscribe(self.topic.clone(), after, &subscriber);
        // From here on the server's duplicate is the only reference to the function.
        drop(subscriber);
        let subscription = tokio::select! {
            subscription = subscribing => subscription,
            ended = &mut session => return lost(session_end(ended), false),
        };
        let subscription = match subscription {
            Ok(subscription) => subscription,
            Err(error) => return lost(format!("subscribing: {error}"), false),
        };
        let _ = self.updates.send(Update::Subscribed { after });
        loop {
            tokio::select! {
                ended = &mut session => return lost(session_end(ended), true),
                _ = &mut self.stopped => break,
                command = self.commands.recv() => match command {
                    Some(Command::Publish(text, reply)) => {
                        let published = api.publish(self.topic.clone(), text);
                        tokio::spawn(async move {
                            let _ = reply.send(published.await);
                        });
                    }
                    None => break,
                },
            }
        }
        // Stopping: the server drops its duplicate of the subscriber on unsubscribe, and the
        // release it sends drops the function here.
        if subscription.unsubscribe().await.is_ok() {
            tokio::select! {
                _ = tokio::time::timeout(RELEASE_TIMEOUT, on_released) => {}
                _ = &mut session => {}
            }
        }
        Outcome::Stopped
    }
}

fn session_end(ended: Result<RpcResult<()>, tokio::task::JoinError>) -> String {
    match ended {
        Ok(Ok(())) => "the connection closed".to_owned(),
        Ok(Err(error)) => format!("the connection broke: {error}"),
        Err(error) => format!("the session task failed: {error}"),
    }
}

/// The function handed to the server. It owns a [`ReleaseGuard`], so it reports its own end:
/// the function is dropped when the last reference to it, the server's, is released.
fn subscriber(
    last_id: Arc<AtomicU64>,
    updates: mpsc::UnboundedSender<Update>,
    released: oneshot::Sender<()>,
) -> Subscriber {
    let guard = ReleaseGuard {
        updates: updates.clone(),
        released: Mutex::new(Some(released)),
    };
    Callback::new(move |(event,): (Event,)| {
        let _owned_by_the_function = &guard;
        let previous = last_id.fetch_max(event.id, Ordering::SeqCst);
        let update = if event.id > previous {
            Update::Event(event)
        } else {
            Update::Duplicate(event)
        };
        let _ = updates.send(update);
        async { Ok(()) }
    })
}

/// Says [`Update::Released`] when dropped.
struct ReleaseGuard {
    updates: mpsc::UnboundedSender<Update>,
    released: Mutex<Option<oneshot::Sender<()>>>,
}

impl Drop for ReleaseGuard {
    fn drop(&mut self) {
        let _ = self.updates.send(Update::Released);
        let sender = self
            .released
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(sender) = sender {
            let _ = sender.send(());
        }
    }
}

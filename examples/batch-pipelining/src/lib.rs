//! The API of capnweb's `examples/batch-pipelining`, served by tether, so that example's clients
//! (its terminal `client.mjs` and its browser page) work against a Rust server unchanged. Run it
//! with `cargo run -p batch-pipelining` (see `main.rs`).
//!
//! Three methods, the second and third needing the user id the first returns. A client sends
//! all three in one HTTP batch by passing `user.id` before `user` has arrived (pipelining):
//!
//! ```js
//! const api = newHttpBatchRpcSession("http://localhost:3000/rpc");
//! const user = api.authenticate("cookie-123");          // not awaited
//! const profile = api.getUserProfile(user.id);          // a promise as the argument
//! const notifications = api.getNotifications(user.id);
//! await Promise.all([user, profile, notifications]);    // one POST
//! ```
//!
//! Each method waits a while before answering, to stand for real work (the delays are the same
//! whether the client pipelines or not): [`Delays`], from `DELAY_AUTH_MS`, `DELAY_PROFILE_MS`
//! and `DELAY_NOTIFS_MS`.
//!
//! Layout: this file (the API and its data), [`web`] (the HTTP side: `/rpc`, the static
//! `public/` folder, the request log).

pub mod web;

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tether::{RpcError, RpcResult};

/// Who a session token belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// `u_1`, `u_2`.
    pub id: String,
    /// The user's name.
    pub name: String,
}

/// A user's profile.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// The user id.
    pub id: String,
    /// A line about the user.
    pub bio: String,
}

/// The example's API, as capnweb's `api.mjs` defines it.
#[tether::interface]
pub trait Api {
    /// The user a session token belongs to; an unknown token is `Error("Invalid session")`.
    async fn authenticate(&self, session_token: String) -> RpcResult<User>;
    /// A user's profile; an unknown id is `Error("No such user")`.
    async fn get_user_profile(&self, user_id: String) -> RpcResult<Profile>;
    /// A user's notifications; none for an unknown id.
    async fn get_notifications(&self, user_id: String) -> Vec<String>;
}

/// How long each method waits before answering.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delays {
    /// `authenticate` (default 80 ms).
    pub auth: Duration,
    /// `getUserProfile` (default 120 ms).
    pub profile: Duration,
    /// `getNotifications` (default 120 ms).
    pub notifications: Duration,
}

impl Default for Delays {
    fn default() -> Self {
        Delays {
            auth: Duration::from_millis(80),
            profile: Duration::from_millis(120),
            notifications: Duration::from_millis(120),
        }
    }
}

impl Delays {
    /// The defaults, each replaced by its variable when `var` gives a number of milliseconds
    /// ≥ 0: `DELAY_AUTH_MS`, `DELAY_PROFILE_MS`, `DELAY_NOTIFS_MS`. Anything else keeps the
    /// default, as capnweb's example does.
    ///
    /// ```
    /// use std::time::Duration;
    /// let delays = batch_pipelining::Delays::from_vars(|name| match name {
    ///     "DELAY_AUTH_MS" => Some("0".into()),
    ///     "DELAY_PROFILE_MS" => Some("nonsense".into()),
    ///     _ => None,
    /// });
    /// assert_eq!(delays.auth, Duration::ZERO);
    /// assert_eq!(delays.profile, Duration::from_millis(120));
    /// ```
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Delays {
        let pick = |name: &str, default: Duration| {
            var(name)
                .and_then(|value| value.trim().parse::<f64>().ok())
                .filter(|ms| ms.is_finite() && *ms >= 0.0)
                .map_or(default, |ms| Duration::from_secs_f64(ms / 1000.0))
        };
        let defaults = Delays::default();
        Delays {
            auth: pick("DELAY_AUTH_MS", defaults.auth),
            profile: pick("DELAY_PROFILE_MS", defaults.profile),
            notifications: pick("DELAY_NOTIFS_MS", defaults.notifications),
        }
    }

    /// [`Delays::from_vars`] over the process environment.
    pub fn from_env() -> Delays {
        Delays::from_vars(|name| std::env::var(name).ok())
    }
}

/// The server's implementation, with its made-up users.
pub struct Server {
    delays: Delays,
}

impl Server {
    /// A server answering after `delays`.
    pub fn new(delays: Delays) -> Server {
        Server { delays }
    }
}

const USERS: [(&str, &str, &str); 2] = [
    ("cookie-123", "u_1", "Ada Lovelace"),
    ("cookie-456", "u_2", "Alan Turing"),
];

const PROFILES: [(&str, &str); 2] = [
    (
        "u_1",
        "Analyst of the Analytical Engine, author of its first program",
    ),
    (
        "u_2",
        "Logician, codebreaker, designer of the Automatic Computing Engine",
    ),
];

const NOTIFICATIONS: [(&str, &[&str]); 2] = [
    (
        "u_1",
        &["Your talk was accepted", "3 new comments on your notes"],
    ),
    (
        "u_2",
        &[
            "A new message from Bletchley",
            "Your machine finished its run",
        ],
    ),
];

async fn pause(delay: Duration) {
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
}

impl Api for Server {
    async fn authenticate(&self, session_token: String) -> RpcResult<User> {
        pause(self.delays.auth).await;
        USERS
            .iter()
            .find(|(token, _, _)| *token == session_token)
            .map(|&(_, id, name)| User {
                id: id.into(),
                name: name.into(),
            })
            .ok_or_else(|| RpcError::error("Invalid session"))
    }

    async fn get_user_profile(&self, user_id: String) -> RpcResult<Profile> {
        pause(self.delays.profile).await;
        PROFILES
            .iter()
            .find(|(id, _)| *id == user_id)
            .map(|&(id, bio)| Profile {
                id: id.into(),
                bio: bio.into(),
            })
            .ok_or_else(|| RpcError::error("No such user"))
    }

    async fn get_notifications(&self, user_id: String) -> Vec<String> {
        pause(self.delays.notifications).await;
        NOTIFICATIONS
            .iter()
            .find(|(id, _)| *id == user_id)
            .map(|(_, list)| list.iter().map(|s| s.to_string()).collect())
            .unwrap_or_default()
    }
}

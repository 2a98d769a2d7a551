//! CORS for browsers on other origins: which origins may call, the preflight answer, and the
//! headers on every response to an allowed origin.
//!
//! Owns only headers; whether a request runs is `request`'s decision (a preflight never runs
//! anything). For more (credentials, exposed headers), leave [`ServerOptions::cors`] unset and
//! put `tower-http`'s `CorsLayer` in front of the endpoint.
//!
//! [`ServerOptions::cors`]: super::ServerOptions::cors

use std::time::Duration;

use http::header::{self, HeaderMap, HeaderValue};

/// Which browser origins may call the endpoint from their pages, for
/// [`ServerOptions::cors`](super::ServerOptions::cors).
///
/// With it set, an `OPTIONS` preflight from an allowed origin is answered `204` with
/// `Access-Control-Allow-Origin` (the origin itself), `Access-Control-Allow-Methods`
/// (`GET, POST, OPTIONS`), `Access-Control-Allow-Headers` (those the browser asked for, e.g.
/// `authorization`) and `Access-Control-Max-Age`; a preflight from another origin gets `403`.
/// Every other response to an allowed origin carries `Access-Control-Allow-Origin`.
///
/// CORS decides which pages may *read* the answers; it is not access control. A WebSocket is not
/// subject to it at all: a factory that must refuse foreign pages checks the `Origin` header.
///
/// ```
/// use tether::server::{Cors, ServerOptions};
/// let options = ServerOptions {
///     cors: Some(Cors::origins(["https://app.example"])),
///     ..ServerOptions::default()
/// };
/// # drop(options);
/// ```
#[derive(Clone, Debug)]
pub struct Cors {
    /// `None`: any origin.
    origins: Option<Vec<String>>,
    max_age: Duration,
}

impl Cors {
    /// Pages of any origin may call.
    pub fn any_origin() -> Self {
        Self {
            origins: None,
            max_age: Duration::from_secs(600),
        }
    }

    /// Pages of these origins (`scheme://host[:port]`, as browsers send them) may call.
    pub fn origins<S: Into<String>>(origins: impl IntoIterator<Item = S>) -> Self {
        Self {
            origins: Some(origins.into_iter().map(Into::into).collect()),
            ..Self::any_origin()
        }
    }

    /// How long a browser may cache a preflight answer (10 minutes by default).
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// The `Access-Control-Allow-Origin` value for a request from `origin`, if it is allowed.
    pub(super) fn allow(&self, origin: Option<&HeaderValue>) -> Option<HeaderValue> {
        let origin = origin?;
        let allowed = match &self.origins {
            None => true,
            Some(list) => {
                let text = origin.to_str().ok()?;
                list.iter().any(|o| o.eq_ignore_ascii_case(text))
            }
        };
        allowed.then(|| origin.clone())
    }

    /// The headers of a `204` preflight answer to an allowed origin (`allow` is its
    /// `Access-Control-Allow-Origin` value).
    pub(super) fn preflight(&self, request: &HeaderMap, allow: HeaderValue) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow);
        headers.insert(header::VARY, HeaderValue::from_static("Origin"));
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, OPTIONS"),
        );
        if let Some(asked) = request.get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
            headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, asked.clone());
        }
        headers.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from(self.max_age.as_secs()),
        );
        headers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listed_origins_are_allowed_and_any_means_any() {
        let listed = Cors::origins(["https://a.example"]);
        let a = HeaderValue::from_static("https://a.example");
        let b = HeaderValue::from_static("https://b.example");
        assert_eq!(listed.allow(Some(&a)), Some(a.clone()));
        assert_eq!(listed.allow(Some(&b)), None);
        assert_eq!(listed.allow(None), None);
        assert_eq!(Cors::any_origin().allow(Some(&b)), Some(b));
    }
}

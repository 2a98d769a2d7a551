//! CORS for browsers on other origins: which origins may call, the preflight answer, the
//! headers on every response to an allowed origin, and which `Origin`s an allow-list refuses.
//!
//! Owns the decisions about origins; `request` applies them (a preflight never runs anything, a
//! refused origin gets 403 before the factory is asked). For more (credentials, exposed headers), leave [`ServerOptions::cors`] unset and
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
/// CORS alone decides only which pages may *read* the answers: a browser sends a plain
/// `text/plain` `POST` (what capnweb's batch client sends) and every WebSocket upgrade from any
/// page, without asking. So with an allow-list ([`Cors::origins`]) the endpoint also refuses, with
/// `403` and before the factory is asked, a batch `POST` or a WebSocket upgrade whose `Origin`
/// header names a page that is neither listed nor served by this host (its `scheme://host:port`
/// minus the scheme equal to the request's `Host`): a foreign page cannot make a visitor's
/// browser call with the visitor's cookies (cross-site request forgery, cross-site WebSocket
/// hijacking). A request without `Origin` (not from a browser page: tether's clients, `curl`) is
/// not refused; CORS is not authentication. [`Cors::any_origin`] refuses nothing.
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

    /// Whether a batch or an upgrade carrying `origin` may run: no `Origin` (not a browser
    /// page), any origin allowed, a listed origin, or the server's own (the origin's authority
    /// equal to the request's `host`).
    pub(super) fn admits(&self, origin: Option<&HeaderValue>, host: Option<&HeaderValue>) -> bool {
        let Some(origin) = origin else {
            return true;
        };
        if self.allow(Some(origin)).is_some() {
            return true;
        }
        let authority = origin
            .to_str()
            .ok()
            .and_then(|o| o.split_once("://"))
            .map(|(_, authority)| authority);
        let host = host.and_then(|h| h.to_str().ok());
        matches!((authority, host), (Some(a), Some(h)) if !a.is_empty() && a.eq_ignore_ascii_case(h))
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

    #[test]
    fn requests_run_without_an_origin_from_listed_origins_and_from_the_server_s_own_pages() {
        let listed = Cors::origins(["https://a.example"]);
        let value = HeaderValue::from_static;
        let host = value("api.example:8443");
        assert!(listed.admits(None, Some(&host)));
        assert!(listed.admits(Some(&value("https://a.example")), Some(&host)));
        assert!(listed.admits(Some(&value("https://api.example:8443")), Some(&host)));
        assert!(!listed.admits(Some(&value("https://b.example")), Some(&host)));
        assert!(!listed.admits(Some(&value("https://api.example")), Some(&host)));
        assert!(!listed.admits(Some(&value("null")), Some(&host)));
        assert!(!listed.admits(Some(&value("https://b.example")), None));
        assert!(Cors::any_origin().admits(Some(&value("https://b.example")), Some(&host)));
    }
}

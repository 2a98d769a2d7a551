//! Connecting: the URL, `--header`s and `--ca-cert` checked up front, then a session over a
//! WebSocket (`ws://`, `wss://`) or an HTTP batch (`http://`, `https://`, with `--batch`), traced
//! if asked.
//!
//! Owns the choice of transport and the wording of connection errors. Both transports are
//! tether's own (`tether::client::websocket::transport`, `tether::client::http_batch::transport`,
//! with the `--header`s in their `ConnectOptions`), wrapped in [`Traced`] and run with tether's
//! public `RpcSession::spawn`.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use tether::client::{http_batch, websocket, ConnectOptions};
use tether::server::http::{HeaderName, HeaderValue, Uri};
use tether::{RpcResult, RpcSession, SessionOptions, Stub};
use tokio::task::JoinHandle;

use crate::error::CliError;
use crate::trace::{FailureSlot, Traced, Tracer};

/// Which transport to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// One WebSocket session.
    WebSocket,
    /// One HTTP batch.
    Batch,
}

/// A checked URL and its headers, ready to connect.
#[derive(Clone, Debug)]
pub(crate) struct Endpoint {
    url: String,
    mode: Mode,
    headers: Vec<(HeaderName, HeaderValue)>,
    /// The TLS settings when `--ca-cert` replaces the built-in roots.
    tls: Option<Arc<rustls::ClientConfig>>,
}

/// A live session.
pub(crate) struct Connection {
    /// The server's main object.
    pub(crate) main: Stub,
    /// The session task; it ends when `main` and everything obtained through it are dropped.
    pub(crate) task: JoinHandle<RpcResult<()>>,
    /// Why the transport failed, if it did (the session only says it disconnected).
    pub(crate) failure: FailureSlot,
    /// The URL, for messages.
    pub(crate) url: String,
}

impl Endpoint {
    /// Checks `url` for `mode` and parses `headers` (`Name: value`).
    pub(crate) fn parse(url: &str, mode: Mode, headers: &[String]) -> Result<Self, CliError> {
        let uri: Uri = url
            .parse()
            .map_err(|e| CliError::Usage(format!("invalid URL {url:?}: {e}")))?;
        let scheme = uri.scheme_str().unwrap_or("");
        match (mode, scheme) {
            (Mode::WebSocket, "ws" | "wss") | (Mode::Batch, "http" | "https") => {}
            (Mode::WebSocket, "http" | "https") => {
                return Err(CliError::Usage(format!(
                    "{url} is an HTTP URL: use --batch for HTTP batch, or a ws:// (wss://) URL \
                     for a WebSocket"
                )))
            }
            (Mode::Batch, "ws" | "wss") => {
                return Err(CliError::Usage(format!(
                    "--batch needs an http:// (https://) URL, not {url}"
                )))
            }
            (_, "") => {
                return Err(CliError::Usage(format!(
                    "invalid URL {url:?}: expected ws://HOST:PORT/ or wss://… (http://… or \
                     https://… with --batch)"
                )))
            }
            (_, other) => {
                return Err(CliError::Usage(format!(
                    "unsupported URL scheme {other:?} in {url}: expected ws:// or wss:// \
                     (http:// or https:// with --batch)"
                )))
            }
        }
        if uri.authority().is_none() {
            return Err(CliError::Usage(format!("invalid URL {url:?}: no host")));
        }
        let headers = headers
            .iter()
            .map(|h| parse_header(h))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            url: url.to_owned(),
            mode,
            headers,
            tls: None,
        })
    }

    /// Trusts the certificate authorities in the PEM file `ca_cert` (`--ca-cert`) instead of
    /// the built-in Mozilla roots, for `wss://` and `https://`.
    pub(crate) fn trust(mut self, ca_cert: &Path) -> Result<Self, CliError> {
        let bad = |why: String| CliError::Usage(format!("--ca-cert {}: {why}", ca_cert.display()));
        let pem = std::fs::read(ca_cert).map_err(|e| bad(e.to_string()))?;
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|e| bad(format!("not a PEM certificate file ({e})")))?;
            roots
                .add(cert)
                .map_err(|e| bad(format!("not a CA certificate ({e})")))?;
        }
        if roots.is_empty() {
            return Err(bad("no certificate in it".to_owned()));
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| bad(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        self.tls = Some(Arc::new(config));
        Ok(self)
    }

    /// The transport this endpoint uses.
    pub(crate) fn mode(&self) -> Mode {
        self.mode
    }

    /// Opens a session (for a batch, nothing is sent until the first call is awaited).
    pub(crate) async fn connect(&self, tracer: &Tracer) -> Result<Connection, CliError> {
        let session = SessionOptions {
            close_when_main_dropped: true,
            ..SessionOptions::default()
        };
        let mut options = self
            .headers
            .iter()
            .fold(ConnectOptions::default(), |options, (name, value)| {
                options.header(name.clone(), value.clone())
            })
            .session(session.clone());
        if let Some(tls) = &self.tls {
            options = options.tls_config(tls.clone());
        }
        let failure = FailureSlot::default();
        let task = match self.mode {
            Mode::WebSocket => {
                let socket = websocket::transport(&self.url, &options)
                    .await
                    .map_err(|e| {
                        CliError::Connect(format!("cannot connect to {}: {}", self.url, e))
                    })?;
                tracer.note(&format!("connected to {}", self.url));
                let traced = Traced::new(socket, tracer.clone(), failure.clone());
                RpcSession::spawn(traced, None, session)
            }
            Mode::Batch => {
                let batch = http_batch::transport(&self.url, options)
                    .map_err(|e| CliError::Usage(format!("invalid URL {:?}: {e}", self.url)))?;
                let traced = Traced::new(batch, tracer.clone(), failure.clone());
                RpcSession::spawn(traced, None, session)
            }
        };
        let (main, task) = task;
        Ok(Connection {
            main,
            task,
            failure,
            url: self.url.clone(),
        })
    }
}

impl Connection {
    /// If the batch request failed, the error to report instead of the session's.
    pub(crate) fn transport_failure(&self) -> Option<CliError> {
        let message = self
            .failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()?;
        Some(CliError::Connect(message))
    }

    /// Drops the main object and waits (briefly) for the session to end, so the releases and
    /// the close go out before the program exits.
    pub(crate) async fn close(self) {
        // Let the session send the releases of what the caller just dropped before the main
        // stub goes: tether sometimes ends the session without sending a release queued just
        // before the main stub was dropped (seen in the repl's `.quit`; reported).
        settle_session().await;
        drop(self.main);
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), self.task).await;
    }
}

/// Gives the session task its turn: the CLI's runtime has one thread, so after these yields
/// the session has handled every command queued so far (releases go out before what follows).
pub(crate) async fn settle_session() {
    for _ in 0..8 {
        tokio::task::yield_now().await;
    }
}

fn parse_header(header: &str) -> Result<(HeaderName, HeaderValue), CliError> {
    let bad = |why: &str| CliError::Usage(format!("invalid --header {header:?}: {why}"));
    let (name, value) = header
        .split_once(':')
        .ok_or_else(|| bad("expected `Name: value`"))?;
    let name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| bad("bad name"))?;
    let value = HeaderValue::from_str(value.trim()).map_err(|_| bad("bad value"))?;
    Ok((name, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(url: &str, mode: Mode) -> String {
        match Endpoint::parse(url, mode, &[]) {
            Err(CliError::Usage(m)) => m,
            other => panic!("expected a usage error, got {other:?}"),
        }
    }

    #[test]
    fn a_ca_cert_must_be_a_readable_pem_file_with_a_certificate() {
        let endpoint = Endpoint::parse("wss://h:1/", Mode::WebSocket, &[]).expect("valid");
        let dir = std::env::temp_dir().join(format!("tether-cli-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").expect("written");
        for (path, expected) in [
            (dir.join("missing.pem"), "No such file"),
            (empty, "no certificate"),
        ] {
            match endpoint.clone().trust(&path) {
                Err(CliError::Usage(m)) => assert!(m.contains(expected), "{m}"),
                other => panic!("expected a usage error, got {other:?}"),
            }
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn urls_are_checked_before_connecting() {
        assert!(usage("ftp://x/", Mode::WebSocket).contains("unsupported URL scheme"));
        assert!(usage("http://x/", Mode::WebSocket).contains("use --batch"));
        assert!(usage("ws://x/", Mode::Batch).contains("needs an http://"));
        assert!(usage("https://x/", Mode::WebSocket).contains("use --batch"));
        assert!(usage("wss://x/", Mode::Batch).contains("needs an http://"));
        assert!(Endpoint::parse("wss://h:1/", Mode::WebSocket, &[]).is_ok());
        assert!(Endpoint::parse("https://h:1/", Mode::Batch, &[]).is_ok());
        assert!(usage("not a url", Mode::WebSocket).contains("invalid URL"));
        assert!(usage("localhost:8080", Mode::WebSocket).contains("URL"));
        let e = Endpoint::parse("http://127.0.0.1:9/rpc?x=1", Mode::Batch, &["A: b".into()])
            .expect("valid");
        assert_eq!(e.headers.len(), 1);
        assert!(matches!(
            Endpoint::parse("ws://h:1/", Mode::WebSocket, &["nocolon".into()]),
            Err(CliError::Usage(_))
        ));
    }
}

//! The accept loop of a server that owns its listener: connections under the connection limit,
//! TCP_NODELAY, TLS termination (feature `tls`), the request-head timeout, and hyper's HTTP/1
//! with upgrades, every request handed to one [`Endpoint`].
//!
//! Owns connections only: what a request does is the endpoint's job. Each request gets, in its
//! extensions, the peer's [`PeerAddr`] and the connection's place under the limit
//! ([`ConnectionSlot`]), which an upgraded WebSocket keeps until its session ends.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::endpoint::{Endpoint, PeerAddr};
use super::live::ConnectionGuard;

/// A connection's place under [`ServerOptions::max_connections`](super::ServerOptions) and in
/// the counts, shared by the connection and (after an upgrade) its WebSocket session.
#[derive(Clone)]
pub(super) struct ConnectionSlot(#[allow(dead_code)] Arc<(OwnedSemaphorePermit, ConnectionGuard)>);

/// Serves `endpoint` on `listener` until `shutdown` completes, then shuts it down gracefully.
pub(super) async fn serve(
    listener: TcpListener,
    endpoint: Endpoint,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let max_connections = endpoint.shared.options.max_connections;
    let connections = Arc::new(Semaphore::new(max_connections.max(1)));
    let mut backoff = Backoff::default();
    tokio::pin!(shutdown);
    loop {
        // At the connection limit, wait for one to end before accepting (the backlog queues).
        let permit = tokio::select! {
            permit = connections.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break, // Never closed; nothing sensible to serve without it.
            },
            () = &mut shutdown => break,
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => {
                backoff.reset();
                accepted
            }
            Err(error) => {
                if let Some(pause) = backoff.after(&error) {
                    tokio::select! {
                        () = tokio::time::sleep(pause) => {}
                        () = &mut shutdown => break,
                    }
                }
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let connection = endpoint.shared.live.connection();
        let endpoint = endpoint.clone();
        // Kept small: every connection accepted in a burst holds this task until its request
        // arrives (see `first_byte`); what serving it needs is allocated after that, boxed.
        tokio::spawn(async move {
            let header_timeout = endpoint.shared.options.header_read_timeout;
            if !first_byte(&stream, header_timeout).await {
                return;
            }
            let slot = ConnectionSlot(Arc::new((permit, connection)));
            Box::pin(secure_and_serve(stream, endpoint, peer, slot)).await;
        });
    }
    drop(listener);
    endpoint.shutdown().await;
    Ok(())
}

/// Waits until the client has sent something (`false`: it sent nothing within `limit`, or the
/// connection failed).
///
/// hyper allocates 16 KiB of buffers for a connection as soon as it starts serving it, and a
/// wait for the request head holds them. After a burst of connections accepted before their
/// requests arrived, those buffers (freed once each connection is upgraded) lie between the
/// long-lived allocations of the sessions upgraded meanwhile, and the allocator keeps them: an
/// idle WebSocket session cost about 15 KB of RSS after 5,000 were opened at once, against
/// 6.5 KB opened 50 at a time (`bench/results/probes.txt`). Waiting here costs no buffer, and
/// hyper then reads the head at once and upgrades the connection within the same poll, so few
/// connections hold its buffers at any moment, however many arrive together. A peek, not
/// `readable()`: readiness was reported before any byte had arrived for most connections of a
/// burst, and only a read attempt tells.
async fn first_byte(stream: &tokio::net::TcpStream, limit: Option<Duration>) -> bool {
    let mut byte = [0u8; 1];
    let peek = stream.peek(&mut byte);
    let peeked = match limit {
        Some(limit) => tokio::time::timeout(limit, peek).await.ok(),
        None => Some(peek.await),
    };
    matches!(peeked, Some(Ok(1)))
}

/// Terminates TLS if configured (feature `tls`), then serves the connection.
async fn secure_and_serve(
    stream: tokio::net::TcpStream,
    endpoint: Endpoint,
    peer: std::net::SocketAddr,
    slot: ConnectionSlot,
) {
    #[cfg(feature = "tls")]
    if let Some(config) = endpoint.shared.options.tls.clone() {
        // The handshake is bounded like a request head: a client that starts one and goes
        // quiet must not hold its connection slot.
        let handshake = tokio_rustls::TlsAcceptor::from(config).accept(stream);
        let secured = match endpoint.shared.options.header_read_timeout {
            Some(limit) => tokio::time::timeout(limit, handshake).await.ok(),
            None => Some(handshake.await),
        };
        if let Some(Ok(stream)) = secured {
            connection(stream, endpoint, peer, slot).await;
        }
        return;
    }
    connection(stream, endpoint, peer, slot).await;
}

/// Serves HTTP/1 with upgrades on one connection (plain or TLS) until it ends.
async fn connection<I>(io: I, endpoint: Endpoint, peer: std::net::SocketAddr, slot: ConnectionSlot)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let header_timeout = endpoint.shared.options.header_read_timeout;
    let service = hyper::service::service_fn(move |mut request| {
        request.extensions_mut().insert(PeerAddr(peer));
        request.extensions_mut().insert(slot.clone());
        let shared = endpoint.shared.clone();
        async move { Ok::<_, Infallible>(shared.handle(request).await) }
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    // A connection error concerns that connection only.
    let _ = http
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades()
        .await;
}

/// How long to pause after a failed `accept`.
///
/// Errors that concern one connection (reset or aborted before it was accepted) are retried at
/// once. Anything else, above all running out of descriptors (`EMFILE`, `ENFILE`) or memory,
/// would fail again immediately: pause, doubling from 10 ms up to 1 s while it persists, so the
/// server neither spins nor exits, and accepts again as soon as resources are back.
#[derive(Debug, Default)]
struct Backoff {
    pause: Option<Duration>,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(10);
    const MAX: Duration = Duration::from_secs(1);

    fn reset(&mut self) {
        self.pause = None;
    }

    fn after(&mut self, error: &std::io::Error) -> Option<Duration> {
        use std::io::ErrorKind::*;
        if matches!(
            error.kind(),
            ConnectionAborted | ConnectionReset | Interrupted | WouldBlock
        ) {
            return None;
        }
        let pause = self.pause.map_or(Self::FIRST, |p| (p * 2).min(Self::MAX));
        self.pause = Some(pause);
        Some(pause)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_errors_of_one_connection_retry_at_once_resource_errors_back_off() {
        let mut backoff = Backoff::default();
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionAborted);
        assert_eq!(backoff.after(&reset), None);
        let emfile = std::io::Error::from_raw_os_error(24); // EMFILE
        assert_eq!(backoff.after(&emfile), Some(Backoff::FIRST));
        assert_eq!(backoff.after(&emfile), Some(Backoff::FIRST * 2));
        for _ in 0..20 {
            backoff.after(&emfile);
        }
        assert_eq!(backoff.after(&emfile), Some(Backoff::MAX));
        backoff.reset();
        assert_eq!(backoff.after(&emfile), Some(Backoff::FIRST));
    }
}

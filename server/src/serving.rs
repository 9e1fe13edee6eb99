//! How connections are accepted and served: Warden's own accept loop around hyper's HTTP/1 and HTTP/2
//! connection builders, for plain TCP and TLS alike. It owns the limits a hostile or broken client
//! meets before any handler runs:
//!
//! - a cap on open connections ([`Limits::max_connections`], TLS handshakes included): beyond it a new
//!   connection is closed at once instead of piling up; and a cap per client
//!   ([`Limits::max_connections_per_address`]; an IPv6 client is its /64, as for login limits and bans),
//!   so one address cannot take all of them;
//! - the TLS handshake timeout ([`Limits::handshake_timeout`]);
//! - the HTTP/1 header-read timeout ([`Limits::header_read_timeout`]): a client gets that long to send
//!   a request's headers, counted from the moment the connection is ready for a request. hyper starts
//!   this timer on a fresh connection and again whenever a kept-alive connection waits for its next
//!   request, so it is also the HTTP/1 idle (keep-alive) timeout: a half-open connection trickling
//!   headers (slowloris) or sitting idle is closed after it;
//! - HTTP/2 keep-alive pings ([`Limits::h2_keep_alive_interval`]): a peer that stops answering them
//!   (machine asleep, network gone) loses its connection; and the HTTP/2 idle timeout
//!   ([`Limits::h2_idle_timeout`]): a connection with no request in flight (a response whose body is still
//!   streaming, like the live-status stream, counts as in flight) for that long is sent GOAWAY and closed.
//!
//! Plain TCP speaks HTTP/1.1 only (browsers never use cleartext HTTP/2); under TLS the ALPN result
//! picks HTTP/2 or HTTP/1.1, so no bytes are read to guess the protocol (a guess that would have no
//! timeout). Each request gets axum's `ConnectInfo<SocketAddr>` (the peer) and [`LocalAddr`] (the
//! address the client reached). Graceful shutdown: when `shutdown` resolves, Warden stops accepting
//! and asks every connection to finish its requests (hyper's `graceful_shutdown`); [`run`] returns
//! once they all have (every connection holds one of the cap's slots until it ends).

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;
use warden_firewall::{ban_network, IpNetwork};

/// The address on this machine a connection reached (its socket's local address): for a wildcard
/// listen address, the interface address the client used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalAddr(pub SocketAddr);

/// Connection limits (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_connections: usize,
    pub max_connections_per_address: usize,
    pub header_read_timeout: Duration,
    pub handshake_timeout: Duration,
    pub h2_keep_alive_interval: Duration,
    pub h2_keep_alive_timeout: Duration,
    pub h2_idle_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 1024,
            max_connections_per_address: 256,
            header_read_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(10),
            h2_keep_alive_interval: Duration::from_secs(20),
            h2_keep_alive_timeout: Duration::from_secs(20),
            h2_idle_timeout: Duration::from_secs(60),
        }
    }
}

/// How often, at most, the log says that the connection cap turned connections away.
const CAP_WARNING_EVERY: Duration = Duration::from_secs(10);

/// Open connections per client network (see [`client_network`]), for the per-address cap.
#[derive(Debug, Default)]
struct PerAddress {
    open: Mutex<HashMap<IpNetwork, usize>>,
}

/// What the per-address cap counts: an IPv4 address or an IPv6 /64 (IPv4-mapped as IPv4).
fn client_network(peer: SocketAddr) -> IpNetwork {
    ban_network(peer.ip().to_canonical())
}

impl PerAddress {
    /// A slot for one more connection of `network`, unless it has `cap` open already.
    fn take(self: &Arc<Self>, network: IpNetwork, cap: usize) -> Option<AddressSlot> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let count = open.entry(network).or_insert(0);
        if *count >= cap {
            return None;
        }
        *count += 1;
        Some(AddressSlot {
            table: self.clone(),
            network,
        })
    }
}

/// One open connection of a client network; given back on drop.
struct AddressSlot {
    table: Arc<PerAddress>,
    network: IpNetwork,
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut open = self.table.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(&self.network) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.network);
            }
        }
    }
}

/// Throttled log lines about connections the caps turned away.
#[derive(Default)]
struct RefusalLog {
    refused_since_warning: u64,
    last_warning: Option<Instant>,
}

impl RefusalLog {
    fn refused(&mut self, limits: &Limits, what: &str) {
        self.refused_since_warning += 1;
        if self
            .last_warning
            .is_none_or(|at| at.elapsed() >= CAP_WARNING_EVERY)
        {
            tracing::warn!(
                max_connections = limits.max_connections,
                max_connections_per_address = limits.max_connections_per_address,
                refused = self.refused_since_warning,
                "{what}; closing new connections"
            );
            self.last_warning = Some(Instant::now());
            self.refused_since_warning = 0;
        }
    }
}

/// Serves `router` on `listener` (over TLS when `tls` is given) until `shutdown` resolves and the
/// open connections have finished.
pub async fn run(
    listener: TcpListener,
    tls: Option<Arc<ServerConfig>>,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let acceptor = tls.map(TlsAcceptor::from);
    let (closing, closing_seen) = watch::channel(false);
    let per_address = Arc::new(PerAddress::default());
    let mut refusals = RefusalLog::default();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // A full fd table or similar passes; wait a little (as axum's own listener does).
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            // Over the cap: close at once (the client sees the connection end, not a hang).
            drop(stream);
            refusals.refused(&limits, "connection cap reached");
            continue;
        };
        let Some(address_slot) =
            per_address.take(client_network(peer), limits.max_connections_per_address)
        else {
            drop(stream);
            refusals.refused(&limits, "one client reached the per-address connection cap");
            continue;
        };
        let local = match stream.local_addr() {
            Ok(local) => local,
            Err(e) => {
                tracing::debug!(%peer, error = %e, "connection without a local address");
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let connection = Connection {
            router: router.clone(),
            peer,
            local,
            limits,
            closing: closing_seen.clone(),
        };
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            match acceptor {
                None => connection.serve(stream, false).await,
                Some(acceptor) => connection.serve_tls(&acceptor, stream).await,
            }
            drop(address_slot);
            drop(slot);
        });
    }
    drop(listener);
    // Every connection holds a slot until it has ended: all slots back means all connections closed.
    let _ = closing.send(true);
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = slots.acquire_many(all).await;
}

/// One accepted connection and what serving it needs.
struct Connection {
    router: Router,
    peer: SocketAddr,
    local: SocketAddr,
    limits: Limits,
    /// Becomes true when Warden shuts down.
    closing: watch::Receiver<bool>,
}

impl Connection {
    async fn serve_tls(self, acceptor: &TlsAcceptor, stream: TcpStream) {
        let peer = self.peer;
        match tokio::time::timeout(self.limits.handshake_timeout, acceptor.accept(stream)).await {
            Ok(Ok(tls)) => {
                let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2".as_slice());
                self.serve(tls, h2).await;
            }
            Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
            Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
        }
    }

    async fn serve<I>(self, io: I, h2: bool)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Connection {
            router,
            peer,
            local,
            limits,
            mut closing,
        } = self;
        let activity = Activity::new();
        let tracked = activity.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            req.extensions_mut().insert(LocalAddr(local));
            let in_flight = tracked.begin();
            let response = router.clone().oneshot(req);
            async move {
                let response = response.await?;
                // In flight until the body is done (or dropped), not just until the headers.
                Ok::<_, std::convert::Infallible>(response.map(|body| {
                    Body::new(TrackedBody {
                        body,
                        _in_flight: in_flight,
                    })
                }))
            }
        });
        let io = TokioIo::new(io);
        let result = if h2 {
            let conn = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                .timer(TokioTimer::new())
                .keep_alive_interval(limits.h2_keep_alive_interval)
                .keep_alive_timeout(limits.h2_keep_alive_timeout)
                .serve_connection(io, service);
            let idle = activity.idle_for(limits.h2_idle_timeout);
            until_closing(conn, idle, &mut closing, |c| c.graceful_shutdown()).await
        } else {
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout)
                .keep_alive(true)
                .serve_connection(io, service);
            // HTTP/1's idle timeout is the header-read timeout (see the module documentation).
            let never = std::future::pending::<()>();
            until_closing(conn, never, &mut closing, |c| c.graceful_shutdown()).await
        };
        if let Err(e) = result {
            tracing::debug!(%peer, error = %e, "connection ended with an error");
        }
    }
}

/// Drives `conn` to its end; once `closing` turns true or `idle` resolves, first asks it to finish
/// gracefully (hyper: no new requests, the ones running complete).
async fn until_closing<C: Future>(
    conn: C,
    idle: impl Future<Output = ()>,
    closing: &mut watch::Receiver<bool>,
    graceful_shutdown: impl FnOnce(Pin<&mut C>),
) -> C::Output {
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        output = conn.as_mut() => output,
        // (The guard `wait_for` returns must not live across an await: it is not `Send`.)
        () = async { drop(closing.wait_for(|closing| *closing).await) } => {
            graceful_shutdown(conn.as_mut());
            conn.await
        }
        () = idle => {
            tracing::debug!("closing an idle HTTP/2 connection");
            graceful_shutdown(conn.as_mut());
            conn.await
        }
    }
}

/// A connection's requests in flight and when the last one ended.
#[derive(Clone)]
struct Activity(Arc<ActivityInner>);

struct ActivityInner {
    in_flight: AtomicUsize,
    last_end: Mutex<Instant>,
}

impl Activity {
    fn new() -> Activity {
        Activity(Arc::new(ActivityInner {
            in_flight: AtomicUsize::new(0),
            last_end: Mutex::new(Instant::now()),
        }))
    }

    /// A request starts; it ends when the returned guard drops.
    fn begin(&self) -> InFlight {
        self.0.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(self.clone())
    }

    /// Resolves once no request has been in flight for `timeout`.
    async fn idle_for(&self, timeout: Duration) {
        loop {
            let since = *self.0.last_end.lock().unwrap_or_else(|p| p.into_inner());
            let idle_at = since + timeout;
            if self.0.in_flight.load(Ordering::SeqCst) == 0 && Instant::now() >= idle_at {
                return;
            }
            // Busy, or not idle long enough yet: look again when it could be.
            let next = idle_at.max(Instant::now() + timeout.min(Duration::from_secs(1)));
            tokio::time::sleep_until(next.into()).await;
        }
    }
}

/// One request in flight (see [`Activity::begin`]).
struct InFlight(Activity);

impl Drop for InFlight {
    fn drop(&mut self) {
        let inner = &(self.0).0;
        *inner.last_end.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        inner.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A response body that keeps its request in flight until it is done or dropped.
struct TrackedBody {
    body: Body,
    _in_flight: InFlight,
}

impl hyper::body::Body for TrackedBody {
    type Data = <Body as hyper::body::Body>::Data;
    type Error = <Body as hyper::body::Body>::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

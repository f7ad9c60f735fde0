//! Serving connections: hyper's HTTP/1 and HTTP/2 server (hyper-util's auto builder) behind a
//! bounded accept loop, so that slow or hoarding clients cannot lock everyone else out.
//!
//! - **Slow clients.** A request's headers must arrive within `server.header_timeout`; the
//!   same timer bounds how long a kept-alive connection may sit idle before its next request
//!   (hyper starts it whenever it waits for a request head) and how long a new connection may
//!   wait before its first byte (checked here: hyper-util's protocol sniffing has no timer).
//!   A whole request, body included, is bounded by the router's request timeout.
//! - **Connection caps.** At most `server.max_connections` connections at once — by default a
//!   margin below the process's open-file limit, which is raised to its hard limit at start —
//!   and at most `server.max_connections_per_address` from one client address. A connection
//!   over a cap is closed at once, and the node says so in its log (at most every ten
//!   seconds), while every other client keeps being served.
//! - **Drain.** On shutdown the caller first turns readiness off and keeps serving for
//!   `server.drain_seconds` (so a load balancer takes the node out), then [`serve`] stops
//!   accepting, asks every connection to finish its request in flight, and waits for them.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// How long in-flight requests may run after a shutdown signal.
pub const DRAIN_DEADLINE: Duration = Duration::from_secs(30);

/// File descriptors kept for everything but client connections (database pool, Redis, mail,
/// files, the metrics listener).
const RESERVED_FILES: u64 = 128;

/// The limits a node serves under.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Longest wait for a request's headers, or for the next request on an idle connection.
    pub header_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
    /// Connections from one client address at once.
    pub max_per_address: usize,
    /// Longest wait for requests in flight after the listener closed.
    pub finish_deadline: Duration,
    /// Addresses without a per-address cap: the trusted reverse proxies, every client's
    /// connections arrive from them.
    pub uncapped: Vec<IpAddr>,
}

impl Limits {
    /// The limits of the configuration; a cap of 0 means "derive it": below the open-file
    /// limit for the total, half the total per address.
    pub fn from_config(config: &crate::config::ServerSettings) -> Self {
        let max_connections = match config.max_connections {
            0 => default_max_connections(),
            n => n,
        };
        let max_per_address = match config.max_connections_per_address {
            0 => (max_connections / 2).max(1),
            n => n,
        };
        Self {
            header_timeout: Duration::from_secs(config.header_timeout.max(1)),
            max_connections,
            max_per_address,
            finish_deadline: DRAIN_DEADLINE,
            uncapped: Vec::new(),
        }
    }

    /// The same limits, without a per-address cap for `proxies`.
    #[must_use]
    pub fn uncapped_for(mut self, proxies: &[IpAddr]) -> Self {
        self.uncapped = proxies.to_vec();
        self
    }
}

/// Raises the open-file limit to its hard limit and returns a connection cap safely below it.
fn default_max_connections() -> usize {
    let soft = rlimit::increase_nofile_limit(u64::MAX)
        .or_else(|_| rlimit::getrlimit(rlimit::Resource::NOFILE).map(|(soft, _)| soft))
        .unwrap_or(1024);
    let cap = soft.saturating_sub(RESERVED_FILES).max(64);
    usize::try_from(cap.min(65_536)).unwrap_or(65_536)
}

/// Open connections per client address.
#[derive(Debug, Default)]
struct PerAddress {
    open: Mutex<HashMap<IpAddr, usize>>,
}

impl PerAddress {
    /// Counts a connection from `ip`, unless it already has `max`.
    fn enter(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<AddressSlot> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let count = open.entry(ip).or_insert(0);
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(AddressSlot {
            counts: self.clone(),
            ip,
        })
    }
}

/// A connection's place in its address's count, given back when the connection ends.
struct AddressSlot {
    counts: Arc<PerAddress>,
    ip: IpAddr,
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut open = self.counts.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// Logs a refusal at most every ten seconds (a flood must not flood the log too).
#[derive(Debug)]
struct Quiet {
    last: Mutex<Option<Instant>>,
}

impl Quiet {
    fn new() -> Self {
        Self {
            last: Mutex::new(None),
        }
    }

    fn due(&self) -> bool {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if last.is_some_and(|at| now.duration_since(at) < Duration::from_secs(10)) {
            return false;
        }
        *last = Some(now);
        true
    }
}

/// Whether the client sends its first byte within `timeout` (false on end of stream or error).
async fn sends_within(stream: &tokio::net::TcpStream, timeout: Duration) -> bool {
    let mut first = [0u8; 1];
    matches!(
        tokio::time::timeout(timeout, stream.peek(&mut first)).await,
        Ok(Ok(n)) if n > 0
    )
}

/// Serves `app` on `listener` under `limits` until `stop` completes, then closes the listener
/// and lets the connections finish their requests in flight (at most `finish_deadline`).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    stop: impl Future<Output = ()> + Send,
) {
    let builder = Arc::new(connection_builder(&limits));
    let connections = Arc::new(Semaphore::new(limits.max_connections));
    let per_address = Arc::new(PerAddress::default());
    let graceful = GracefulShutdown::new();
    let (over_cap, over_address) = (Quiet::new(), Quiet::new());
    tracing::info!(
        max_connections = limits.max_connections,
        max_per_address = limits.max_per_address,
        header_timeout_s = limits.header_timeout.as_secs(),
        "serving connections"
    );
    tokio::pin!(stop);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait a moment, keep serving.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            if over_cap.due() {
                tracing::warn!(
                    max_connections = limits.max_connections,
                    "connection cap reached: new connections are closed until others end \
                     (GATEHOUSE_SERVER__MAX_CONNECTIONS)"
                );
            }
            continue;
        };
        let slot = if limits.uncapped.contains(&peer.ip()) {
            None
        } else if let Some(slot) = per_address.enter(peer.ip(), limits.max_per_address) {
            Some(slot)
        } else {
            if over_address.due() {
                tracing::warn!(
                    address = %peer.ip(),
                    max_per_address = limits.max_per_address,
                    "connections from one address over its cap are closed \
                     (GATEHOUSE_SERVER__MAX_CONNECTIONS_PER_ADDRESS)"
                );
            }
            continue;
        };
        let _ = stream.set_nodelay(true);
        let held = (slot, permit);
        spawn_connection(
            &builder,
            &app,
            &graceful,
            stream,
            peer,
            limits.header_timeout,
            held,
        );
    }
    drop(listener);
    tracing::info!("stopped accepting connections; finishing requests in flight");
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(limits.finish_deadline) => {
            tracing::warn!("drain deadline passed; closing remaining connections");
        }
    }
}

/// HTTP/1 and HTTP/2 under the header (and idle keep-alive) timeout.
fn connection_builder(limits: &Limits) -> Builder<TokioExecutor> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(limits.header_timeout)
        .keep_alive_timeout(limits.header_timeout);
    builder
}

/// Serves one accepted connection to its end (watched for the drain), holding its places
/// under the caps until then.
fn spawn_connection(
    builder: &Builder<TokioExecutor>,
    app: &Router,
    graceful: &GracefulShutdown,
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    header_timeout: Duration,
    (slot, permit): (Option<AddressSlot>, tokio::sync::OwnedSemaphorePermit),
) {
    let service = app.clone().map_request(
        move |mut request: axum::extract::Request<hyper::body::Incoming>| {
            request
                .extensions_mut()
                .insert(ConnectInfo::<SocketAddr>(peer));
            request.map(axum::body::Body::new)
        },
    );
    let builder = builder.clone();
    let watcher = graceful.watcher();
    tokio::spawn(async move {
        // The protocol sniffing of hyper-util's auto builder waits for the first bytes
        // before any of hyper's timers run: a connection that never sends a byte would
        // hold its slot for ever. It gets the header timeout to start its request.
        if sends_within(&stream, header_timeout).await {
            let connection = builder
                .serve_connection_with_upgrades(
                    TokioIo::new(stream),
                    TowerToHyperService::new(service),
                )
                .into_owned();
            if let Err(e) = watcher.watch(connection).await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        }
        drop(slot);
        drop(permit);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_capped_and_its_slots_come_back() {
        let counts = Arc::new(PerAddress::default());
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let first = counts.enter(ip, 2).unwrap();
        let second = counts.enter(ip, 2).unwrap();
        assert!(counts.enter(ip, 2).is_none(), "a third is over the cap");
        assert!(
            counts.enter("192.0.2.8".parse().unwrap(), 2).is_some(),
            "others are not"
        );
        drop(first);
        assert!(counts.enter(ip, 2).is_some(), "a slot came back");
        drop(second);
    }

    #[test]
    fn the_default_cap_stays_below_the_file_limit() {
        let cap = default_max_connections() as u64;
        let (soft, _) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap();
        assert!(
            cap + RESERVED_FILES <= soft.max(64 + RESERVED_FILES),
            "{cap} vs {soft}"
        );
    }
}

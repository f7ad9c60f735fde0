//! The client address of the request being served, kept in a task-local for the length of
//! the request so that the sign-in log can record it (Graph's `signIn.ipAddress`) without
//! every handler on the way passing it down. Behind a trusted proxy it is the forwarded
//! address ([`super::client_ip`]).

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::services::AppState;

tokio::task_local! {
    static CLIENT_IP: IpAddr;
}

/// Middleware: serves the request with its client address in scope.
pub async fn scope(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| *peer);
    match peer {
        Some(peer) => {
            let ip = super::client_ip(peer, request.headers(), &state.config.trusted_proxies);
            CLIENT_IP.scope(ip, next.run(request)).await
        }
        None => next.run(request).await,
    }
}

/// The client address of the request being served, if there is one.
pub fn current() -> Option<IpAddr> {
    CLIENT_IP.try_with(|ip| *ip).ok()
}

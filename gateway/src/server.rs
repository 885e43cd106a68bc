//! The exchange listener: TCP accept, TLS handshake (client certificate required), then HTTP/1.1
//! or HTTP/2 served by hyper with the axum router. `axum::serve` has no TLS, so this loop puts
//! the peer's identity into each request's extensions itself. Each connection is accepted with
//! the listener's current TLS config, which changes without a restart when the CA's CRLs do.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::tls::PeerIdentity;

pub struct Listener {
    pub tcp: TcpListener,
    /// The current TLS config: read for every new connection ([`crate::crl::spawn_reload`]).
    pub tls: crate::crl::TlsWatch,
    pub router: Router,
    /// Decides the role of each client certificate's issuing CA.
    pub role_cas: Arc<crate::tls::RoleCas>,
    pub handshake_timeout: Duration,
    pub shutdown_grace: Duration,
}

impl Listener {
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.tcp.local_addr()
    }

    /// Serve until `shutdown` resolves, then give open connections `shutdown_grace` to finish.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) {
        let graceful = GracefulShutdown::new();
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(self.handshake_timeout)
            .keep_alive(true);
        builder.http2().timer(TokioTimer::new());
        let builder = Arc::new(builder);
        tokio::pin!(shutdown);
        loop {
            let (tcp, peer_addr) = tokio::select! {
                accepted = self.tcp.accept() => match accepted {
                    Ok(conn) => conn,
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let _ = tcp.set_nodelay(true);
            // The handshake runs in the connection's own task: a slow client must not hold up
            // the accept loop.
            let acceptor = TlsAcceptor::from(self.tls.borrow().clone());
            let (router, builder) = (self.router.clone(), builder.clone());
            let (watcher, timeout) = (graceful.watcher(), self.handshake_timeout);
            let role_cas = self.role_cas.clone();
            tokio::spawn(async move {
                let tls = match tokio::time::timeout(timeout, acceptor.accept(tcp)).await {
                    Ok(Ok(tls)) => tls,
                    Ok(Err(e)) => {
                        tracing::info!(peer = %peer_addr, error = %e, "TLS handshake refused");
                        metrics::counter!("gateway_tls_handshake_failures_total").increment(1);
                        return;
                    }
                    Err(_) => {
                        tracing::info!(peer = %peer_addr, "TLS handshake timed out");
                        return;
                    }
                };
                let identity =
                    PeerIdentity::from_certs(tls.get_ref().1.peer_certificates(), &role_cas);
                let service =
                    hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                        req.extensions_mut().insert(identity.clone());
                        // The rate limiter keys callers without a certificate by address.
                        req.extensions_mut()
                            .insert(axum::extract::ConnectInfo(peer_addr));
                        router.clone().oneshot(req)
                    });
                let conn = builder
                    .serve_connection_with_upgrades(TokioIo::new(tls), service)
                    .into_owned();
                if let Err(e) = watcher.watch(conn).await {
                    tracing::debug!(peer = %peer_addr, error = %e, "connection ended with an error");
                }
            });
        }
        drop(self.tcp);
        tokio::select! {
            () = graceful.shutdown() => tracing::info!("all connections closed"),
            () = tokio::time::sleep(self.shutdown_grace) => tracing::warn!("shutdown grace period over; closing remaining connections"),
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("signal handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term.recv() => {},
    }
    tracing::info!("shutdown requested");
}

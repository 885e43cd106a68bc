//! Per-request limits, one router layer per listener (docs/limits.md): a per-client rate limit,
//! a deadline for the request body and one for the handler.
//!
//! - **Rate limits**: a token bucket (GCRA, the `governor` crate) per client, with the rate of
//!   the client's role: the principal of a client certificate (the role is its issuing
//!   intermediate CA's, verified at the handshake, so a system cannot claim a peer node's higher
//!   rate), a peer node by its region, and anyone without a certificate (the public, staff by
//!   session cookie) by IP address. Over the rate: 429 `rate.limited` with `Retry-After`,
//!   counted in `gateway_rate_limited_total`. Checked before the body is read, so a limited
//!   client costs no more than its headers. `/healthz` and `/readyz` are exempt (probes).
//! - **Slow bodies**: hyper times out slow *headers* (server.rs); a body sent byte by byte
//!   would hold a connection and a task for as long as the sender likes, so the body is read
//!   here, whole, within `limits.body_timeout_secs` (408 `request.timeout`) and within the
//!   listener's size limit (413 `request.body_too_large`, also for chunked bodies, whose size
//!   no header announces). Handlers then get the buffered body, as they would anyway.
//! - **Slow handlers**: a handler still running after `limits.request_timeout_secs` is dropped
//!   (503 `service.timeout`, `Retry-After`); dropping an open transaction rolls it back, and a
//!   receipt is only ever sent after COMMIT, so nothing unacknowledged is half stored.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use http_body_util::BodyExt;

use crate::api::auth::Listener;
use crate::api::problem::Problem;
use crate::config::{Config, LimitsConfig};
use crate::tls::PeerIdentity;

/// The limits of one listener, shared by all its connections.
pub struct Guard {
    listener: Listener,
    max_body: usize,
    body_timeout: Duration,
    request_timeout: Duration,
    /// One keyed limiter per role; a role without an entry is not limited.
    buckets: BTreeMap<String, DefaultKeyedRateLimiter<String>>,
    /// Requests admitted, to forget idle clients' buckets now and then.
    admitted: AtomicU64,
}

/// At most this long is spent draining the rest of a body that is refused as too large.
const DRAIN_TIME: Duration = Duration::from_secs(2);

/// Forget the buckets of clients idle long enough to be full again, every this many requests.
const RETAIN_EVERY: u64 = 4096;

impl Guard {
    pub fn new(limits: &LimitsConfig, listener: Listener, max_body: usize) -> Arc<Guard> {
        let buckets = limits
            .rates
            .iter()
            .filter_map(|(role, rate)| {
                let per_second = NonZeroU32::new(rate.per_second)?;
                let burst = NonZeroU32::new(rate.burst).unwrap_or(per_second);
                let quota = Quota::per_second(per_second).allow_burst(burst);
                Some((role.clone(), RateLimiter::keyed(quota)))
            })
            .collect();
        Arc::new(Guard {
            listener,
            max_body,
            body_timeout: Duration::from_secs(limits.body_timeout_secs.max(1)),
            request_timeout: Duration::from_secs(limits.request_timeout_secs.max(1)),
            buckets,
            admitted: AtomicU64::new(0),
        })
    }

    /// The exchange listener's guard.
    pub fn exchange(config: &Config) -> Arc<Guard> {
        Guard::new(
            &config.limits,
            Listener::Exchange,
            config.ingest.max_body_bytes,
        )
    }

    pub fn web(config: &Config) -> Arc<Guard> {
        Guard::new(
            &config.limits,
            Listener::Web,
            config.limits.web_max_body_bytes,
        )
    }

    /// Take a token from the caller's bucket, or say when to come back.
    fn admit(&self, req: &Request) -> Result<(), Problem> {
        let Some((role, key)) = client(req) else {
            return Ok(());
        };
        let Some(bucket) = self.buckets.get(&role) else {
            return Ok(());
        };
        if self.admitted.fetch_add(1, Ordering::Relaxed) % RETAIN_EVERY == RETAIN_EVERY - 1 {
            for b in self.buckets.values() {
                b.retain_recent();
                b.shrink_to_fit();
            }
        }
        bucket.check_key(&key).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            metrics::counter!("gateway_rate_limited_total",
                "listener" => self.listener.as_str(), "role" => role.clone())
            .increment(1);
            let mut p = Problem::new(
                "rate.limited",
                format!(
                    "too many requests from this client ({role}); retry in {} ms",
                    wait.as_millis()
                ),
            );
            p.retry_after = Some(wait.as_secs_f64().ceil().max(1.0) as u32);
            p
        })
    }

    /// Read the whole body within the size limit and the body deadline.
    async fn read_body(&self, req: Request) -> Result<Request, Problem> {
        let deadline = tokio::time::Instant::now() + self.body_timeout;
        let declared = req
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let (parts, mut body) = req.into_parts();
        if declared.is_some_and(|n| n > self.max_body as u64) {
            self.drain(&mut body, deadline).await;
            return Err(self.too_large());
        }
        let mut buf = bytes::BytesMut::new();
        loop {
            match tokio::time::timeout_at(deadline, body.frame()).await {
                Err(_) => return Err(self.timed_out()),
                Ok(None) => break,
                Ok(Some(Err(e))) => {
                    return Err(Problem::new(
                        "request.body_unreadable",
                        format!("the request body could not be read: {e}"),
                    ));
                }
                Ok(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        if buf.len() + data.len() > self.max_body {
                            self.drain(&mut body, deadline).await;
                            return Err(self.too_large());
                        }
                        buf.extend_from_slice(&data);
                    }
                }
            }
        }
        Ok(Request::from_parts(parts, Body::from(buf.freeze())))
    }

    /// Read and drop up to one more body limit's worth of what the client is still sending
    /// (for at most a few seconds) before refusing: a connection closed on unread data is
    /// reset, and the reset can destroy the answer before the client reads it.
    async fn drain(&self, body: &mut Body, deadline: tokio::time::Instant) {
        let deadline = deadline.min(tokio::time::Instant::now() + DRAIN_TIME);
        let mut left = self.max_body;
        while let Ok(Some(Ok(frame))) = tokio::time::timeout_at(deadline, body.frame()).await {
            let n = frame.data_ref().map_or(0, |d| d.len());
            if n >= left {
                break;
            }
            left -= n;
        }
    }

    fn too_large(&self) -> Problem {
        Problem::new(
            "request.body_too_large",
            format!("the request body is larger than {} bytes", self.max_body),
        )
    }

    fn timed_out(&self) -> Problem {
        metrics::counter!("gateway_request_timeouts_total",
            "listener" => self.listener.as_str(), "stage" => "body")
        .increment(1);
        Problem::new(
            "request.timeout",
            format!(
                "the request body did not arrive within {} s",
                self.body_timeout.as_secs()
            ),
        )
    }
}

/// The caller's role and bucket key: the certificate's principal (a peer node: its region),
/// else the IP address, as `public`. `None`: no way to tell callers apart (no certificate and
/// no peer address in the request), so no limit rather than one bucket for everyone.
fn client(req: &Request) -> Option<(String, String)> {
    if let Some(peer) = req.extensions().get::<PeerIdentity>()
        && peer.has_certificate
        && let Some(role) = &peer.ca_role
    {
        let id = match (&peer.principal_id, &peer.node_region) {
            (Some(id), _) => Some(id.clone()),
            (None, Some(region)) => Some(format!("node:{region}")),
            (None, None) => None,
        };
        if let Some(id) = id {
            return Some((role.clone(), id));
        }
    }
    let addr = req.extensions().get::<ConnectInfo<SocketAddr>>()?;
    Some(("public".into(), addr.0.ip().to_string()))
}

/// The layer: rate limit, then the body, then the handler under its deadline.
pub async fn guard(State(guard): State<Arc<Guard>>, req: Request, next: Next) -> Response {
    let probe = matches!(req.uri().path(), "/healthz" | "/readyz");
    if !probe && let Err(p) = guard.admit(&req) {
        return p.into_response();
    }
    let req = match guard.read_body(req).await {
        Ok(req) => req,
        Err(p) => return p.into_response(),
    };
    match tokio::time::timeout(guard.request_timeout, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => {
            metrics::counter!("gateway_request_timeouts_total",
                "listener" => guard.listener.as_str(), "stage" => "handler")
            .increment(1);
            let mut p = Problem::new(
                "service.timeout",
                format!(
                    "no answer within {} s; no receipt was sent: retry (a push with the same client batch id)",
                    guard.request_timeout.as_secs()
                ),
            );
            p.retry_after = Some(5);
            p.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RateConfig;

    fn request(peer: PeerIdentity) -> Request {
        let mut req = Request::new(Body::empty());
        req.extensions_mut().insert(peer);
        req
    }

    fn cert(role: &str, principal: Option<&str>, node: Option<&str>) -> PeerIdentity {
        PeerIdentity {
            has_certificate: true,
            principal_id: principal.map(str::to_owned),
            ca_role: Some(role.to_owned()),
            node_region: node.map(str::to_owned),
            not_after: None,
        }
    }

    /// How many of `n` requests in a row get through.
    fn admitted(guard: &Guard, peer: &PeerIdentity, n: usize) -> usize {
        (0..n)
            .filter(|_| guard.admit(&request(peer.clone())).is_ok())
            .count()
    }

    #[test]
    fn each_client_has_its_own_bucket_at_its_roles_rate() {
        let mut limits = LimitsConfig::default();
        let rate = |per_second, burst| RateConfig { per_second, burst };
        limits.rates.insert("system".into(), rate(1, 2));
        limits.rates.insert("peer".into(), rate(1, 6));
        limits.rates.insert("approver".into(), rate(0, 1));
        let guard = Guard::new(&limits, Listener::Exchange, 1024);
        let a = cert("system", Some("a-system"), None);
        let b = cert("system", Some("b-system"), None);
        // Within a second, only the burst passes, per client.
        assert_eq!(admitted(&guard, &a, 10), 2);
        assert_eq!(admitted(&guard, &b, 10), 2);
        // Peer nodes have their own, higher limit, keyed by the region they name.
        let node = cert("peer", None, Some("621002000000"));
        assert_eq!(admitted(&guard, &node, 10), 6);
        // per_second 0: not limited; a role not listed: not limited.
        let approver = cert("approver", Some("x-approver"), None);
        assert_eq!(admitted(&guard, &approver, 50), 50);
        let other = cert("auditor", Some("y"), None);
        assert_eq!(admitted(&guard, &other, 50), 50);
        // Refused with a Retry-After of at least a second.
        let refused = guard.admit(&request(a.clone())).unwrap_err();
        assert_eq!(refused.code, "rate.limited");
        assert!(refused.retry_after.is_some_and(|s| s >= 1));
    }

    #[test]
    fn callers_without_a_certificate_share_their_address_bucket() {
        let mut limits = LimitsConfig::default();
        limits.rates.insert(
            "public".into(),
            RateConfig {
                per_second: 1,
                burst: 3,
            },
        );
        let guard = Guard::new(&limits, Listener::Web, 1024);
        let from = |ip: [u8; 4]| {
            let mut req = request(PeerIdentity::default());
            req.extensions_mut()
                .insert(ConnectInfo(SocketAddr::from((ip, 40000))));
            req
        };
        let passed = (0..10)
            .filter(|_| guard.admit(&from([10, 0, 0, 1])).is_ok())
            .count();
        assert_eq!(passed, 3);
        assert!(guard.admit(&from([10, 0, 0, 2])).is_ok());
        // No address known: no way to tell callers apart, so no limit.
        assert!((0..10).all(|_| guard.admit(&request(PeerIdentity::default())).is_ok()));
    }
}

//! The exchange protocol version nodes speak to each other (docs/federation.md, "Protocol
//! versions"): `major.minor`. Every node-to-node request and every answer of the exchange
//! listener carries it in `Exchange-Protocol`; a request without it is from a node older than
//! the header, which spoke 1.0.
//!
//! Same major: compatible — a node uses a feature only when the other side's minor has it
//! ([`Feature`]). Another major: refused with `400 federation.protocol_incompatible`, naming
//! both versions, before anything else is done. `federation.protocol` pins a node to an older
//! minor during a rolling upgrade of the network.

use std::fmt;

use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::api::problem::Problem;

/// The header (HTTP field names are case-insensitive; this is how it is sent).
pub const HEADER: &str = "exchange-protocol";

/// The newest version this build speaks.
pub const CURRENT: Version = Version { major: 1, minor: 1 };

/// What a node did before the header existed.
pub const BASELINE: Version = Version { major: 1, minor: 0 };

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    pub major: u16,
    pub minor: u16,
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl std::str::FromStr for Version {
    type Err = String;
    fn from_str(s: &str) -> Result<Version, String> {
        let (major, minor) = s
            .trim()
            .split_once('.')
            .ok_or_else(|| format!("'{s}' is not a protocol version (major.minor)"))?;
        let number = |n: &str| {
            n.parse::<u16>()
                .map_err(|_| format!("'{s}' is not a protocol version (major.minor)"))
        };
        Ok(Version {
            major: number(major)?,
            minor: number(minor)?,
        })
    }
}

/// Features that came after 1.0, by the minor that brought them.
#[derive(Debug, Clone, Copy)]
pub enum Feature {
    /// `POST /v1/federation/principals`: suspensions and retirements travel up (1.1).
    PrincipalReports,
}

impl Feature {
    fn since(self) -> Version {
        match self {
            Feature::PrincipalReports => Version { major: 1, minor: 1 },
        }
    }
}

impl Version {
    /// Whether two nodes speaking `self` and `other` can talk at all.
    pub fn compatible(self, other: Version) -> bool {
        self.major == other.major
    }

    /// Whether a node speaking `self` has `feature`.
    pub fn has(self, feature: Feature) -> bool {
        self.major == feature.since().major && self.minor >= feature.since().minor
    }
}

/// The version this node announces: `federation.protocol`, or [`CURRENT`]. A pin must be a
/// version this build speaks (same major, not newer).
pub fn announced(config: &crate::config::Config) -> anyhow::Result<Version> {
    let Some(pin) = &config.federation.protocol else {
        return Ok(CURRENT);
    };
    let v: Version = pin.parse().map_err(anyhow::Error::msg)?;
    anyhow::ensure!(
        v.major == CURRENT.major && v <= CURRENT,
        "federation.protocol {v}: this build speaks {}.0 to {CURRENT}",
        CURRENT.major
    );
    Ok(v)
}

/// The version a request or answer announces; `None` for a malformed header.
pub fn of(headers: &axum::http::HeaderMap) -> Option<Version> {
    match headers.get(HEADER) {
        None => Some(BASELINE),
        Some(v) => v.to_str().ok()?.parse().ok(),
    }
}

/// Exchange-listener layer (its state: [`announced`], checked at start-up): refuse a peer
/// speaking another major; announce ours on every answer.
pub async fn layer(State(ours): State<Version>, req: Request, next: Next) -> Response {
    let theirs = of(req.headers());
    let mut resp = match theirs {
        Some(v) if ours.compatible(v) => next.run(req).await,
        _ => {
            let sent = req
                .headers()
                .get(HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            metrics::counter!("gateway_protocol_refusals_total").increment(1);
            Problem::new(
                "federation.protocol_incompatible",
                format!(
                    "this node speaks exchange protocol {ours} (compatible: {}.x); the request announced '{sent}'",
                    ours.major
                ),
            )
            .with("protocol", ours.to_string())
            .with("peer_protocol", sent)
            .into_response()
        }
    };
    if let Ok(v) = HeaderValue::from_str(&ours.to_string()) {
        resp.headers_mut().insert(HEADER, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_compare_and_gate_features() {
        let v: Version = "1.1".parse().unwrap();
        assert_eq!(v, CURRENT);
        assert!("1".parse::<Version>().is_err() && "1.b".parse::<Version>().is_err());
        assert!(BASELINE.compatible(CURRENT) && !CURRENT.compatible("2.0".parse().unwrap()));
        assert!(CURRENT.has(Feature::PrincipalReports));
        assert!(!BASELINE.has(Feature::PrincipalReports));
        assert!(
            !"2.5"
                .parse::<Version>()
                .unwrap()
                .has(Feature::PrincipalReports)
        );
    }
}

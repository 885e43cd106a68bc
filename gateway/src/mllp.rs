//! The MLLP listener for the health network's HL7 v2 messages. TLS with client certificates
//! (same CA, same certificate → principal mapping and role-CA check as the exchange listener);
//! every MLLP frame is one message, stored through the same pipeline as an HTTP push, and
//! answered with one HL7 ACK: `AA` stored (or already stored), `AE` refused with the reasons
//! (the record is quarantined), `AR` not processable (unreadable, not allowed, node unavailable:
//! the sender should retry or fix its set-up).

use std::sync::Arc;
use std::time::Duration;

use adapters::health::ack::{AckCode, Msh, ack_at};
use adapters::health::mllp;
use domain::FieldError;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use uuid::Uuid;

use crate::api::App;
use crate::api::auth;
use crate::ingest::receipt::Outcome;
use crate::ingest::store::{self, BatchMeta};
use crate::ingest::{self, Pusher};
use crate::tls::{PeerIdentity, RoleCas};

/// Largest message accepted in one frame.
pub const MAX_FRAME: usize = 4 * 1024 * 1024;
/// The adapter MLLP messages go through.
pub const ADAPTER: &str = "health";

pub struct MllpListener {
    pub tcp: TcpListener,
    /// The exchange listener's TLS config (client certificate required, CRLs applied), read
    /// for every new connection so a new CRL applies without a restart.
    pub tls: crate::crl::TlsWatch,
    pub role_cas: Arc<RoleCas>,
    pub app: Arc<App>,
    pub handshake_timeout: Duration,
}

impl MllpListener {
    pub async fn serve(self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let (tcp, peer) = tokio::select! {
                accepted = self.tcp.accept() => match accepted {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(error = %e, "MLLP accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let (acceptor, app, role_cas, timeout) = (
                TlsAcceptor::from(self.tls.borrow().clone()),
                self.app.clone(),
                self.role_cas.clone(),
                self.handshake_timeout,
            );
            tokio::spawn(async move {
                let stream = match tokio::time::timeout(timeout, acceptor.accept(tcp)).await {
                    Ok(Ok(s)) => s,
                    _ => {
                        tracing::info!(%peer, "MLLP TLS handshake refused or timed out");
                        return;
                    }
                };
                let identity =
                    PeerIdentity::from_certs(stream.get_ref().1.peer_certificates(), &role_cas);
                if let Err(e) = connection(stream, &identity, &app).await {
                    tracing::debug!(%peer, error = %e, "MLLP connection ended");
                }
            });
        }
    }
}

/// Read frames until the peer closes; answer each with its ACK.
async fn connection(
    mut stream: tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
    identity: &PeerIdentity,
    app: &App,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        // A complete frame: start block ... end block + CR.
        while let Some((start, end)) = find_frame(&buf) {
            let message = buf[start + 1..end].to_vec();
            buf.drain(..end + 2);
            let ack = handle(app, identity, &message).await;
            stream.write_all(&mllp::frame(&ack)).await?;
            stream.flush().await?;
        }
        if buf.len() > MAX_FRAME {
            return Err(std::io::Error::other("MLLP frame too large"));
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// (start block index, end block index) of the first complete frame in `buf`.
fn find_frame(buf: &[u8]) -> Option<(usize, usize)> {
    let start = buf.iter().position(|&b| b == mllp::START)?;
    let end = buf[start..]
        .windows(2)
        .position(|w| w == [mllp::END, mllp::CR])?
        + start;
    Some((start, end))
}

/// Store one message and build its ACK (encoded in the message's character set).
async fn handle(app: &App, identity: &PeerIdentity, message: &[u8]) -> Vec<u8> {
    let msh = Msh::parse(message).unwrap_or_else(|_| empty_msh());
    let now = chrono::Utc::now().with_timezone(&adapters::common::beijing());
    let control_id = format!("A{}", &Uuid::now_v7().simple().to_string()[..19]);
    let (code, text, errors) = match store_message(app, identity, message, now).await {
        Ok((code, errors)) => (
            code,
            if code == AckCode::AA {
                "stored"
            } else {
                "refused"
            }
            .to_owned(),
            errors,
        ),
        Err((code, detail)) => (
            AckCode::AR,
            detail.clone(),
            vec![FieldError::new("", code, detail)],
        ),
    };
    metrics::counter!("gateway_mllp_messages_total", "ack" => code.as_str()).increment(1);
    msh.encode(&ack_at(&msh, code, &text, &errors, now, &control_id))
}

fn empty_msh() -> Msh {
    Msh {
        sending_application: Vec::new(),
        sending_facility: Vec::new(),
        receiving_application: Vec::new(),
        receiving_facility: Vec::new(),
        message_type: Vec::new(),
        control_id: String::new(),
        processing_id: String::new(),
        version: String::new(),
        charset_label: String::new(),
        charset: None,
    }
}

type Refusal = (&'static str, String);

async fn store_message(
    app: &App,
    identity: &PeerIdentity,
    message: &[u8],
    now: chrono::DateTime<chrono::FixedOffset>,
) -> Result<(AckCode, Vec<FieldError>), Refusal> {
    let started = std::time::Instant::now();
    let unavailable = |e: &dyn std::fmt::Display| {
        (
            "service.database_unavailable",
            format!("the node cannot store now, retry later: {e}"),
        )
    };
    let db = app.pool.get().await.map_err(|e| unavailable(&e))?;
    let principal = auth::principal(app, &db, identity)
        .await
        .map_err(|p| (p.code, p.detail))?;
    let adapter = app
        .adapters
        .iter()
        .find(|a| a.id() == ADAPTER)
        .cloned()
        .ok_or(("ingest.unknown_adapter", "no health adapter".to_owned()))?;
    if principal.role != "system" || principal.department.as_deref() != Some(adapter.department()) {
        return Err((
            "auth.department",
            format!("principal '{}' may not push health messages", principal.id),
        ));
    }
    let pusher = Pusher {
        principal_id: principal.id.clone(),
        department: adapter.department().to_owned(),
        node_region: app.node_region.clone(),
    };
    let (reference, payload) = (app.reference.get(), message.to_vec());
    let prepared = crate::parallel::cpu(payload.len(), move || {
        ingest::prepare(adapter.as_ref(), &payload, &pusher, &reference, now, 1)
    })
    .await
    .map_err(|e| ("service.internal", e.to_string()))?
    .map_err(|e| (e.code, e.message))?;
    crate::api::ingest::authorize_regions(app, &principal.region_code, &prepared)
        .map_err(|p| (p.code, p.detail))?;
    let meta = BatchMeta {
        batch_id: Uuid::now_v7(),
        client_batch_id: None,
        adapter: ADAPTER.to_owned(),
        principal_id: principal.id.clone(),
        department: principal.department.clone().unwrap_or_default(),
        received_at: now,
        replay_of: Vec::new(),
        forward: app.config.federation.parent.is_some(),
        recent: app.recent_bodies(),
    };
    let receipt = if app.group.takes(prepared.len()) {
        drop(db);
        app.group.commit(meta.clone(), prepared).await
    } else {
        store::commit(&db, &meta, prepared, &app.issuer, false).await
    }
    .map_err(
        |e| match e.downcast_ref::<crate::supervision::refresh::HeadRace>() {
            Some(race) => {
                let p = crate::api::problem::Problem::case_busy(race);
                (p.code, p.detail)
            }
            None => unavailable(&e),
        },
    )?;
    crate::ops::record_batch(app, &receipt, &meta.department, started);
    let Some(record) = receipt.records.first() else {
        return Err(("payload.malformed", "the frame holds no message".to_owned()));
    };
    Ok(match &record.outcome {
        Outcome::Accepted { .. } | Outcome::Duplicate { .. } => (AckCode::AA, Vec::new()),
        Outcome::Rejected { errors, .. } | Outcome::VersionConflict { errors, .. } => {
            (AckCode::AE, errors.clone())
        }
    })
}

//! Who is calling: the principal named by the client certificate, looked up on every request
//! so a suspension takes effect at once.

use crate::api::problem::Problem;
use crate::principals::{self, Principal};
use crate::tls::PeerIdentity;

pub async fn principal(
    db: &deadpool_postgres::Client,
    peer: &PeerIdentity,
) -> Result<Principal, Problem> {
    let Some(id) = &peer.principal_id else {
        return Err(Problem::new(
            "auth.no_principal",
            "the client certificate must carry exactly one SAN URI urn:gateway:principal:{id}",
        ));
    };
    let principal = principals::get(db, id)
        .await
        .map_err(Problem::unavailable)?
        .ok_or_else(|| {
            Problem::new(
                "auth.unknown_principal",
                format!("principal '{id}' is not registered on this node"),
            )
        })?;
    if principal.status != "active" {
        return Err(Problem::new(
            "auth.principal_inactive",
            format!("principal '{id}' is {}", principal.status),
        ));
    }
    Ok(principal)
}

/// Refuse unless the principal has one of `roles`.
pub fn require_role(p: &Principal, roles: &[&str]) -> Result<(), Problem> {
    if roles.contains(&p.role.as_str()) {
        Ok(())
    } else {
        Err(Problem::new(
            "auth.role",
            format!(
                "principal '{}' has role '{}'; this route needs {}",
                p.id,
                p.role,
                roles.join(" or ")
            ),
        ))
    }
}

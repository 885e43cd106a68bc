//! Staff login on the web listener: `POST /v1/session` with a username and password sets the
//! session cookie (HttpOnly, Secure, SameSite=Strict); `GET` says who is logged in; `DELETE` logs
//! out.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::accounts::{self, SESSION_COOKIE, SESSION_HOURS};
use crate::api::App;
use crate::api::auth::{self, Listener};
use crate::api::problem::Problem;
use crate::tls::PeerIdentity;

#[derive(Deserialize)]
struct Login {
    username: String,
    password: String,
}

pub async fn login(
    State(app): State<Arc<App>>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, Problem> {
    let body = body?;
    let login: Login = serde_json::from_slice(&body).map_err(|e| {
        Problem::new(
            "request.bad_json",
            format!("expected {{\"username\", \"password\"}}: {e}"),
        )
    })?;
    // No username has control characters (and PostgreSQL refuses NUL in text): a wrong one.
    let refused = login.username.chars().any(char::is_control);
    let db = app.pool.get().await?;
    let found = if refused {
        None
    } else {
        accounts::login(&db, &login.username, &login.password)
            .await
            .map_err(Problem::unavailable)?
    };
    let Some((token, account)) = found else {
        metrics::counter!("gateway_logins_total", "outcome" => "refused").increment(1);
        tracing::info!(username = %login.username, "login refused");
        return Err(Problem::new(
            "auth.bad_credentials",
            "wrong username or password, or the account is not active",
        ));
    };
    metrics::counter!("gateway_logins_total", "outcome" => "ok").increment(1);
    let cookie = format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age={}",
        SESSION_HOURS * 3600
    );
    let mut resp = Json(json!({"username": account.username, "role": account.role, "region_code": account.region_code})).into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(Problem::internal)?,
    );
    Ok(resp)
}

pub async fn whoami(
    State(app): State<Arc<App>>,
    axum::Extension(peer): axum::Extension<PeerIdentity>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, Problem> {
    let db = app.pool.get().await?;
    let c = auth::caller(&app, &db, &peer, &headers, Listener::Web).await?;
    Ok(Json(
        json!({"id": c.id, "kind": c.kind.as_str(), "role": c.role, "department": c.department, "region_code": c.region_code}),
    ))
}

pub async fn logout(State(app): State<Arc<App>>, headers: HeaderMap) -> Result<Response, Problem> {
    if let Some(token) = accounts::cookie_token(&headers) {
        let db = app.pool.get().await?;
        accounts::logout(&db, &token).await?;
    }
    let expired =
        format!("{SESSION_COOKIE}=; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=0");
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&expired).map_err(Problem::internal)?,
    );
    Ok(resp)
}

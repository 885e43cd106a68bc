//! RFC 9457 problem details: every non-2xx answer of the gateway's own API is
//! `application/problem+json` with a stable `code`. [`CODES`] is the one list of them; a test
//! checks that `docs/errors.md` documents each.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// (code, HTTP status, title). Append; never rename a code that has shipped.
pub const CODES: &[(&str, u16, &str)] = &[
    (
        "auth.no_principal",
        403,
        "The client certificate names no principal",
    ),
    ("auth.unknown_principal", 403, "Unknown principal"),
    (
        "auth.principal_inactive",
        403,
        "The principal is suspended or retired",
    ),
    (
        "auth.role",
        403,
        "The principal's role may not use this route",
    ),
    (
        "auth.department",
        403,
        "Pushing through another department's adapter",
    ),
    ("auth.region", 403, "Records outside the principal's region"),
    ("ingest.unknown_adapter", 404, "No such adapter"),
    ("request.body_too_large", 413, "Request body too large"),
    (
        "request.body_unreadable",
        400,
        "The request body could not be read",
    ),
    ("request.bad_header", 400, "Malformed request header"),
    ("payload.malformed", 400, "The payload cannot be read"),
    (
        "payload.encoding",
        400,
        "The payload's character encoding is not supported",
    ),
    (
        "payload.dtd_forbidden",
        400,
        "XML DOCTYPE declarations are refused",
    ),
    ("payload.too_deep", 400, "The payload nests too deeply"),
    (
        "payload.count_mismatch",
        400,
        "The declared record count does not match",
    ),
    (
        "payload.too_many_records",
        413,
        "Too many records in one batch",
    ),
    (
        "request.bad_json",
        400,
        "The request body is not the JSON expected",
    ),
    (
        "certificate.bad_identifier",
        400,
        "Malformed certificate identifier",
    ),
    (
        "certificate.not_found",
        404,
        "No such certificate on this node",
    ),
    ("route.not_found", 404, "No such route"),
    (
        "route.method_not_allowed",
        405,
        "Method not allowed on this route",
    ),
    (
        "service.database_unavailable",
        503,
        "The database is unavailable",
    ),
    ("service.internal", 500, "Internal error"),
];

#[derive(Debug)]
pub struct Problem {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    /// Extension members (RFC 9457 section 3.2), e.g. `quarantine_id`, `records`.
    pub extra: Map<String, Value>,
    pub retry_after: Option<u32>,
}

impl Problem {
    /// A problem with a code from [`CODES`]; its status comes from there.
    pub fn new(code: &'static str, detail: impl Into<String>) -> Self {
        let status = CODES.iter().find(|c| c.0 == code).map_or(500, |c| c.1);
        debug_assert!(
            CODES.iter().any(|c| c.0 == code),
            "undocumented problem code {code}"
        );
        Problem {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            code,
            detail: detail.into(),
            extra: Map::new(),
            retry_after: None,
        }
    }

    pub fn with(mut self, key: &str, value: impl serde::Serialize) -> Self {
        self.extra.insert(key.to_owned(), json!(value));
        self
    }

    pub fn internal(err: impl std::fmt::Display) -> Self {
        tracing::error!(error = %err, "internal error");
        Problem::new(
            "service.internal",
            "the gateway hit an internal error; it has been logged",
        )
    }

    /// The database (or the pool in front of it) did not answer: the client should retry.
    pub fn unavailable(err: impl std::fmt::Display) -> Self {
        tracing::warn!(error = %err, "database unavailable");
        let mut p = Problem::new(
            "service.database_unavailable",
            "the database is unavailable; nothing was stored, retry later",
        );
        p.retry_after = Some(5);
        p
    }

    pub fn title(&self) -> &'static str {
        CODES
            .iter()
            .find(|c| c.0 == self.code)
            .map_or("Error", |c| c.2)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut body = Map::new();
        body.insert(
            "type".into(),
            json!(format!("urn:exchange-gateway:problem:{}", self.code)),
        );
        body.insert("title".into(), json!(self.title()));
        body.insert("status".into(), json!(self.status.as_u16()));
        body.insert("detail".into(), json!(self.detail));
        body.insert("code".into(), json!(self.code));
        body.extend(self.extra);
        let mut resp = (
            self.status,
            serde_json::to_string(&body).unwrap_or_default(),
        )
            .into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

/// Errors from the pool or the database mean "unavailable", not "internal".
impl From<deadpool_postgres::PoolError> for Problem {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        Problem::unavailable(e)
    }
}

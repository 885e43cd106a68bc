//! RFC 9457 problem details: every non-2xx answer of the gateway's own API is
//! `application/problem+json` with a stable `code`. [`CODES`] is the one list of them; a test
//! checks that `docs/errors.md` documents each.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// (code, HTTP status, title). Append; never rename a code that has shipped.
#[rustfmt::skip]
pub const CODES: &[(&str, u16, &str)] = &[
    ("auth.no_principal", 403, "The client certificate names no principal"),
    ("auth.unknown_principal", 403, "Unknown principal"),
    ("auth.principal_inactive", 403, "The principal is suspended or retired"),
    ("auth.role", 403, "The principal's role may not use this route"),
    ("auth.department", 403, "Pushing through another department's adapter"),
    ("auth.region", 403, "Records outside the principal's region"),
    ("auth.required", 401, "Authentication required"),
    ("auth.bad_credentials", 401, "Wrong username or password"),
    ("auth.wrong_ca", 403, "The certificate was issued by another role's CA"),
    ("federation.not_a_node", 403, "Only peer nodes may forward"),
    ("federation.unknown_node", 403, "Not a configured child node"),
    ("ingest.unknown_adapter", 404, "No such adapter"),
    ("request.body_too_large", 413, "Request body too large"),
    ("request.body_unreadable", 400, "The request body could not be read"),
    ("request.bad_header", 400, "Malformed request header"),
    ("request.bad_path", 400, "Malformed path parameter"),
    ("request.bad_json", 400, "The request body is not the JSON expected"),
    ("request.bad_query", 400, "Malformed query parameters"),
    ("payload.malformed", 400, "The payload cannot be read"),
    ("payload.encoding", 400, "The payload's character encoding is not supported"),
    ("payload.dtd_forbidden", 400, "XML DOCTYPE declarations are refused"),
    ("payload.too_deep", 400, "The payload nests too deeply"),
    ("payload.count_mismatch", 400, "The declared record count does not match"),
    ("payload.too_many_records", 413, "Too many records in one batch"),
    ("certificate.bad_identifier", 400, "Malformed certificate identifier"),
    ("certificate.not_found", 404, "No such certificate on this node"),
    ("certificate.not_issuer", 403, "The certificate was issued by another node"),
    ("certificate.revoked", 409, "The certificate is revoked; revocation is final"),
    ("status.not_found", 404, "No such status list"),
    ("log.not_logged", 404, "Not in the transparency log yet"),
    ("log.bad_range", 400, "Sizes outside the log"),
    ("log.bad_checkpoint", 400, "The checkpoint does not verify"),
    ("log.witness_conflict", 409, "The witness holds another size of the log"),
    ("log.inconsistent", 422, "The checkpoint does not extend the one cosigned before"),
    ("keys.bad_request", 400, "The key rotation request does not verify"),
    ("audit.purpose_unknown", 400, "Not a purpose code of the list in force"),
    ("public.not_found", 404, "No public case matches"),
    ("sharing.not_shared", 403, "The resource is not shared"),
    ("grants.not_publisher", 403, "Grants are changed at the province node"),
    ("grants.invalid", 400, "The grant cannot be published"),
    ("grants.not_found", 404, "No such grant in force"),
    ("sharing.no_grant", 403, "No grant in force covers you for this resource"),
    ("sharing.purpose_not_granted", 403, "Your grant does not cover the stated purpose"),
    ("sharing.outside_scope", 403, "Your grant does not cover the resource's region"),
    ("audit.purpose_required", 400, "A lookup must state its purpose"),
    ("audit.chain_fork", 409, "Another hash for an acknowledged audit chain head"),
    ("archive.unreadable", 500, "An archived record cannot be read back"),
    ("federation.protocol_incompatible", 400, "The peer speaks an incompatible exchange protocol"),
    ("batch.not_found", 404, "No batch with this client batch id"),
    ("pki.no_crl", 404, "No CRL of that role CA is in force"),
    ("routing.bad_statement", 403, "The routed query's requester statement does not verify"),
    ("routing.hop_limit", 508, "The routed query passed too many nodes"),
    ("routing.loop", 508, "The routed query came back to a node it passed"),
    ("routing.unreachable", 502, "The next node could not be reached"),
    ("routing.timeout", 504, "The next node did not answer in time"),
    ("routing.out_of_network", 404, "No node of this network covers the region"),
    ("reference.not_found", 404, "No such published reference version on this node"),
    ("route.not_found", 404, "No such route"),
    ("route.method_not_allowed", 405, "Method not allowed on this route"),
    ("service.database_unavailable", 503, "The database is unavailable"),
    ("ingest.case_busy", 503, "A case of the batch kept changing in concurrent pushes"),
    ("service.internal", 500, "Internal error"),
    ("payload.string_too_long", 400, "A string of the payload is too long"),
    ("request.timeout", 408, "The request body did not arrive in time"),
    ("service.timeout", 503, "The request took longer than the gateway allows"),
    ("rate.limited", 429, "Too many requests from this client"),
    ("verify.too_many_credentials", 413, "Too many credentials in one verification request"),
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
        Problem {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            code,
            detail: detail.into(),
            extra: Map::new(),
            retry_after: None,
        }
    }

    /// A batch the adapter could not read: 400 (413 for too many records), with the adapter's own
    /// stable code (adapters define `payload.*` codes; docs/errors.md lists them).
    pub fn payload(code: &'static str, message: impl Into<String>) -> Self {
        let mut p = Problem::new(code, message);
        if !CODES.iter().any(|c| c.0 == code) {
            p.status = StatusCode::BAD_REQUEST;
        }
        p
    }

    pub fn with(mut self, key: &str, value: impl serde::Serialize) -> Self {
        self.extra.insert(key.to_owned(), json!(value));
        self
    }

    pub fn internal(err: impl std::fmt::Debug) -> Self {
        tracing::error!(error = ?err, "internal error");
        Problem::new(
            "service.internal",
            "the gateway hit an internal error; it has been logged",
        )
    }

    /// The database (or the pool in front of it) did not answer: the client should retry.
    pub fn unavailable(err: impl std::fmt::Debug) -> Self {
        tracing::warn!(error = ?err, "database unavailable");
        let mut p = Problem::new(
            "service.database_unavailable",
            "the database is unavailable; nothing was stored, retry later",
        );
        p.retry_after = Some(5);
        p
    }

    /// A transaction that lost the race for a case's head to other pushes of the same case
    /// every time it ran (`ingest::store::run_again`): nothing was stored, and the client
    /// should send the batch again in a moment.
    pub fn case_busy(race: &crate::supervision::refresh::HeadRace) -> Self {
        tracing::warn!(case_no = %race.case_no, source_system = %race.source_system, "a case kept moving under a push; answered 503");
        let mut p = Problem::new(
            "ingest.case_busy",
            format!(
                "case {} of {} kept changing in concurrent pushes while this batch was stored; \
                 nothing was stored, retry",
                race.case_no, race.source_system
            ),
        )
        .with("case_no", &race.case_no)
        .with("source_system", &race.source_system);
        p.retry_after = Some(1);
        p
    }

    pub fn title(&self) -> &'static str {
        CODES
            .iter()
            .find(|c| c.0 == self.code)
            .map_or("Error", |c| c.2)
    }

    /// The problem document (RFC 9457): what the answer's body is, and what a batch answer
    /// holds for an item that failed alone.
    pub fn to_json(&self) -> Value {
        let mut body = Map::new();
        body.insert(
            "type".into(),
            json!(format!("urn:exchange-gateway:problem:{}", self.code)),
        );
        body.insert("title".into(), json!(self.title()));
        body.insert("status".into(), json!(self.status.as_u16()));
        body.insert("detail".into(), json!(self.detail));
        body.insert("code".into(), json!(self.code));
        body.extend(self.extra.clone());
        Value::Object(body)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut resp = (
            self.status,
            serde_json::to_string(&self.to_json()).unwrap_or_default(),
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

/// Whether a database error means "unavailable, retry" rather than a bug: no SQLSTATE
/// (connection lost, timeout), or one the server sends while it cannot serve: connection
/// exceptions (class 08), shutting down or starting up (57P01-57P03, as on `pg_ctl stop -m
/// fast`), too many connections (53300).
pub fn db_unavailable(e: &tokio_postgres::Error) -> bool {
    match e.code() {
        None => true,
        Some(state) => {
            let code = state.code();
            code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300")
        }
    }
}

/// An error the database server reported (it has an SQLSTATE) is a bug: 500, unless it says
/// the server cannot serve now ([`db_unavailable`]): 503, retry.
impl From<tokio_postgres::Error> for Problem {
    fn from(e: tokio_postgres::Error) -> Self {
        if db_unavailable(&e) {
            Problem::unavailable(e)
        } else {
            Problem::internal(e)
        }
    }
}

/// A body the server could not read: too large (413) or broken (400), as problem+json.
impl From<axum::extract::rejection::BytesRejection> for Problem {
    fn from(e: axum::extract::rejection::BytesRejection) -> Self {
        match e.status().as_u16() {
            413 => Problem::new("request.body_too_large", e.body_text()),
            _ => Problem::new("request.body_unreadable", e.body_text()),
        }
    }
}

/// A path parameter that is not valid (e.g. not UTF-8), as problem+json.
impl From<axum::extract::rejection::PathRejection> for Problem {
    fn from(e: axum::extract::rejection::PathRejection) -> Self {
        Problem::new("request.bad_path", e.body_text())
    }
}

/// Errors from the pool mean "unavailable", not "internal".
impl From<deadpool_postgres::PoolError> for Problem {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        Problem::unavailable(e)
    }
}

#[cfg(test)]
mod tests {
    use super::CODES;

    /// Every `Problem::new("code", …)` in the sources names a code of [`CODES`] (an unknown
    /// code would be answered as a 500 with no documentation).
    #[test]
    fn every_problem_code_used_is_in_the_table() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut missing = Vec::new();
        let mut stack = vec![src];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                for (_, rest) in text
                    .match_indices("Problem::new(\"")
                    .map(|(i, _)| ((), &text[i + 14..]))
                {
                    let code = &rest[..rest.find('"').unwrap()];
                    // Codes are dotted; this skips the example in the doc comment above.
                    if code.contains('.') && !CODES.iter().any(|c| c.0 == code) {
                        missing.push(format!("{code} ({})", path.display()));
                    }
                }
            }
        }
        assert!(
            missing.is_empty(),
            "problem codes not in CODES: {missing:?}"
        );
    }
}

//! `GET /ops`: the operator page. One HTML document with its CSS and JavaScript inline, all
//! three embedded in the binary from `gateway/assets/ops/` (hand-written, no library), so it
//! works without internet. The Content-Security-Policy allows exactly those two inline blocks
//! (by their SHA-256) and requests to this origin; nothing can be loaded from elsewhere.
//! The script polls `GET /v1/ops/series` and `GET /v1/supervision/alerts` every 5 seconds and
//! draws the plots as inline SVG.

use std::sync::{Arc, LazyLock};

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use http::HeaderMap;

use super::POLICY;
use crate::api::App;
use crate::api::auth::{self, Listener};
use crate::api::problem::Problem;
use crate::tls::PeerIdentity;

const HTML: &str = include_str!("../../assets/ops/index.html");
const CSS: &str = include_str!("../../assets/ops/ops.css");
const JS: &str = include_str!("../../assets/ops/ops.js");

/// Where the CSS and the script go in `index.html` (each the whole content of its element).
const CSS_SLOT: &str = "/*OPS_CSS*/";
const JS_SLOT: &str = "/*OPS_JS*/";

/// The assembled document and its Content-Security-Policy.
pub struct Page {
    pub html: String,
    pub csp: String,
}

fn sha256_b64(text: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
}

pub static PAGE: LazyLock<Page> = LazyLock::new(|| Page {
    html: HTML.replacen(CSS_SLOT, CSS, 1).replacen(JS_SLOT, JS, 1),
    csp: format!(
        "default-src 'none'; script-src 'sha256-{}'; style-src 'sha256-{}'; img-src data:; \
         connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        sha256_b64(JS),
        sha256_b64(CSS)
    ),
});

pub async fn page(
    State(app): State<Arc<App>>,
    axum::Extension(peer): axum::Extension<PeerIdentity>,
    axum::Extension(listener): axum::Extension<Listener>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let db = app.pool.get().await?;
    let caller = auth::caller(&db, &peer, &headers, listener).await?;
    POLICY.check(&caller, listener)?;
    let page = &*PAGE;
    let mut resp = page.html.clone().into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_str(&page.csp).map_err(Problem::internal)?,
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_inlines_its_assets_and_loads_nothing_from_elsewhere() {
        let page = &*PAGE;
        assert!(!page.html.contains(CSS_SLOT) && !page.html.contains(JS_SLOT));
        assert!(page.html.contains(&format!("<style>{CSS}</style>")));
        assert!(page.html.contains(&format!("<script>{JS}</script>")));
        // The SVG namespace is a name, not a location.
        let html = page.html.replace("http://www.w3.org/2000/svg", "");
        for external in ["http://", "https://", "src=\"", "@import", "url("] {
            assert!(
                !html.contains(external),
                "the page refers to {external}: nothing may be loaded from elsewhere"
            );
        }
        assert!(page.csp.starts_with("default-src 'none';"));
        assert!(page.csp.contains("connect-src 'self'"));
        assert!(!page.csp.contains("unsafe-inline") && !page.csp.contains("unsafe-eval"));
    }
}

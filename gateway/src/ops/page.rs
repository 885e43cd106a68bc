//! `GET /ops`: the operator page. One HTML document with its CSS and JavaScript inline, all
//! three embedded in the binary from `gateway/assets/ops/` (hand-written, no library), so it
//! works without internet. The Content-Security-Policy allows exactly those two inline blocks
//! (by their SHA-256) and requests to this origin; nothing can be loaded from elsewhere
//! ([`crate::webpage`]). The script polls `GET /v1/ops/series` and
//! `GET /v1/supervision/alerts` every 5 seconds and draws the plots as inline SVG.

use std::sync::{Arc, LazyLock};

use axum::extract::State;
use axum::response::Response;
use http::HeaderMap;

use super::POLICY;
use crate::api::App;
use crate::api::auth::{self, Listener};
use crate::api::problem::Problem;
use crate::tls::PeerIdentity;
use crate::webpage::Page;

const HTML: &str = include_str!("../../assets/ops/index.html");
const CSS: &str = include_str!("../../assets/ops/ops.css");
const JS: &str = include_str!("../../assets/ops/ops.js");

/// Where the CSS and the script go in `index.html` (each the whole content of its element).
const CSS_SLOT: &str = "/*OPS_CSS*/";
const JS_SLOT: &str = "/*OPS_JS*/";

pub static PAGE: LazyLock<Page> =
    LazyLock::new(|| Page::assemble(HTML, (CSS_SLOT, CSS), (JS_SLOT, JS), "data:"));

pub async fn page(
    State(app): State<Arc<App>>,
    axum::Extension(peer): axum::Extension<PeerIdentity>,
    axum::Extension(listener): axum::Extension<Listener>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let db = app.pool.get().await?;
    let caller = auth::caller(&app, &db, &peer, &headers, listener).await?;
    POLICY.check(&caller, listener)?;
    PAGE.respond(PAGE.html.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_inlines_its_assets_and_loads_nothing_from_elsewhere() {
        PAGE.assert_self_contained((CSS_SLOT, CSS), (JS_SLOT, JS));
        assert!(PAGE.csp.contains("img-src data:;"));
    }
}

//! `GET /verify`: the verification page, for anyone on the web listener. The document is the
//! same for every request but for the node's name and region, written into it (HTML-escaped)
//! outside the two inline blocks, so the Content-Security-Policy's hashes hold.

use std::sync::{Arc, LazyLock};

use adapters::xml::escape;
use axum::extract::State;
use axum::response::Response;

use crate::api::App;
use crate::api::problem::Problem;
use crate::webpage::Page;

const HTML: &str = include_str!("../../assets/verify/index.html");
const CSS: &str = include_str!("../../assets/verify/verify.css");
const JS: &str = include_str!("../../assets/verify/verify.js");

/// Where the CSS and the script go in `index.html` (each the whole content of its element).
const CSS_SLOT: &str = "/*VERIFY_CSS*/";
const JS_SLOT: &str = "/*VERIFY_JS*/";
/// Where the node's name and region go (text and attribute values, escaped).
const NODE_NAME: &str = "{{NODE_NAME}}";
const NODE_REGION: &str = "{{NODE_REGION}}";

/// Images: this origin (the QR codes of `/v1/certificates/{id}/qr.svg`) and inline data.
pub static PAGE: LazyLock<Page> =
    LazyLock::new(|| Page::assemble(HTML, (CSS_SLOT, CSS), (JS_SLOT, JS), "'self' data:"));

/// The document for the node `name` of `region`.
fn document(name: &str, region: &str) -> String {
    PAGE.html
        .replace(NODE_NAME, &escape(name))
        .replace(NODE_REGION, &escape(region))
}

/// No login and no database: the page is the same for everyone; what it may show depends on
/// the API calls it makes with the caller's session or certificate.
pub async fn page(State(app): State<Arc<App>>) -> Result<Response, Problem> {
    PAGE.respond(document(&app.config.node.name, app.node_region.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_inlines_its_assets_and_loads_nothing_from_elsewhere() {
        PAGE.assert_self_contained((CSS_SLOT, CSS), (JS_SLOT, JS));
        assert!(PAGE.csp.contains("img-src 'self' data:;"));
        // The node's name lands outside the hashed blocks, escaped.
        assert!(!CSS.contains(NODE_NAME) && !JS.contains(NODE_NAME));
        let doc = document("西峰区<节点> & \"x\"", "621002000000");
        assert!(doc.contains("西峰区&lt;节点&gt; &amp; &quot;x&quot;"));
        assert!(!doc.contains(NODE_NAME) && !doc.contains(NODE_REGION));
        assert!(doc.contains("621002000000"));
        assert!(doc.contains(&format!("<script>{JS}</script>")));
    }
}

//! Pages of the web listener (`/ops`, `/verify`): one HTML document with its CSS and JavaScript
//! inline, all three hand-written files embedded in the binary, so a page works without
//! internet. The Content-Security-Policy allows exactly those two inline blocks (by their
//! SHA-256) and requests to this origin; nothing can be loaded from elsewhere.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;

use crate::api::problem::Problem;

/// An assembled document and its Content-Security-Policy.
pub struct Page {
    pub html: String,
    pub csp: String,
}

fn sha256_b64(text: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
}

impl Page {
    /// `html` with `css` and `js` put in their slots (each slot the whole content of its
    /// `<style>` or `<script>` element). `img_src` is the CSP's image sources.
    pub fn assemble(
        html: &str,
        (css_slot, css): (&str, &str),
        (js_slot, js): (&str, &str),
        img_src: &str,
    ) -> Page {
        Page {
            html: html.replacen(css_slot, css, 1).replacen(js_slot, js, 1),
            csp: format!(
                "default-src 'none'; script-src 'sha256-{}'; style-src 'sha256-{}'; \
                 img-src {img_src}; connect-src 'self'; base-uri 'none'; form-action 'none'; \
                 frame-ancestors 'none'",
                sha256_b64(js),
                sha256_b64(css)
            ),
        }
    }

    /// `html` (this page's document, or one made from it by changing text outside the two
    /// inline blocks) as the answer, with the page's CSP and headers that keep it from being
    /// cached, sniffed, framed or leaking its URL.
    pub fn respond(&self, html: String) -> Result<Response, Problem> {
        let mut resp = html.into_response();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_str(&self.csp).map_err(Problem::internal)?,
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

    /// What a page's unit test asserts: the blocks are inlined, nothing is loaded from elsewhere, and
    /// the CSP allows nothing inline but them.
    #[cfg(test)]
    pub fn assert_self_contained(
        &self,
        (css_slot, css): (&str, &str),
        (js_slot, js): (&str, &str),
    ) {
        assert!(!self.html.contains(css_slot) && !self.html.contains(js_slot));
        assert!(self.html.contains(&format!("<style>{css}</style>")));
        assert!(self.html.contains(&format!("<script>{js}</script>")));
        // The SVG namespace is a name, not a location.
        let html = self.html.replace("http://www.w3.org/2000/svg", "");
        for external in ["http://", "https://", "src=\"", "@import", "url("] {
            assert!(
                !html.contains(external),
                "the page refers to {external}: nothing may be loaded from elsewhere"
            );
        }
        assert!(self.csp.starts_with("default-src 'none';"));
        assert!(self.csp.contains("connect-src 'self'"));
        assert!(!self.csp.contains("unsafe-inline") && !self.csp.contains("unsafe-eval"));
    }
}

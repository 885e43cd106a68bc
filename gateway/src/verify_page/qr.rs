//! `GET /v1/certificates/{id}/qr.svg`: a QR code of this node's verification page for one
//! certificate, `{base}/verify?id={identifier}`, for printing on paper or showing on a screen.
//! Derived from the identifier alone: no lookup, so it discloses nothing (not even whether the
//! certificate exists) and needs no login; the page asks for one before it looks anything up.
//!
//! `{base}` is `web.public_url` when configured, else `https://` and the host the request
//! named (`Host`, or the HTTP/2 authority), else the web listener's address.

use std::sync::Arc;

use adapters::xml::escape;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri, header};
use axum::response::{IntoResponse, Response};
use domain::codes::cert_id::CertIdentifier;
use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};

use crate::api::App;
use crate::api::certificates::parse_identifier;
use crate::api::problem::Problem;

/// Pixels per module of the image's nominal size (it scales: the modules are its `viewBox`).
const MODULE_PX: usize = 8;

/// How the renderer ends the `<svg>` start tag: the title goes right after it.
const SVG_OPEN_END: &str = r#"shape-rendering="crispEdges">"#;

/// A host (and port) as a browser would have typed it: name or address characters only.
fn plain_host(host: &str) -> bool {
    (1..=255).contains(&host.len())
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
}

/// The base URL of this node's web listener, as the caller reaches it.
pub fn base_url(app: &App, uri: &Uri, headers: &HeaderMap) -> String {
    if let Some(url) = &app.config.web.public_url {
        return url.trim_end_matches('/').to_owned();
    }
    let host = uri
        .authority()
        .map(|a| a.as_str())
        .or_else(|| headers.get(header::HOST)?.to_str().ok())
        .filter(|h| plain_host(h))
        .map_or_else(|| app.config.web.listen.to_string(), str::to_owned);
    format!("https://{host}")
}

/// The verification page's URL for a certificate.
pub fn verify_url(base: &str, identifier: &CertIdentifier) -> String {
    let query = serde_urlencoded::to_string([("id", identifier.as_str())]).expect("encodes");
    format!("{base}/verify?{query}")
}

/// `text` as a QR code (error correction level M: a printed code stays readable with some
/// damage), an SVG image with a quiet zone, titled with the text itself.
pub fn svg(text: &str) -> Result<String, qrcode::types::QrError> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)?;
    let image = code
        .render::<svg::Color>()
        .quiet_zone(true)
        .module_dimensions(1, 1)
        .build();
    let modules = code.width() + 8;
    let px = modules * MODULE_PX;
    // One unit per module in the drawing; the nominal size is MODULE_PX times that.
    let image = image.replacen(
        &format!(r#"width="{modules}" height="{modules}""#),
        &format!(r#"width="{px}" height="{px}" role="img""#),
        1,
    );
    let open_end = image.find(SVG_OPEN_END).map(|i| i + SVG_OPEN_END.len());
    Ok(match open_end {
        Some(at) => format!(
            "{}<title>{}</title>{}",
            &image[..at],
            escape(text),
            &image[at..]
        ),
        None => image,
    })
}

pub async fn qr_svg(
    State(app): State<Arc<App>>,
    id: Result<Path<String>, PathRejection>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let Path(id) = id?;
    let identifier = parse_identifier(&id)?;
    let url = verify_url(&base_url(&app, &uri, &headers), &identifier);
    let image = svg(&url).map_err(Problem::internal)?;
    // The image's link depends on the host asked for, unless web.public_url fixes it.
    let headers = [
        (header::CONTENT_TYPE, "image/svg+xml"),
        (header::CACHE_CONTROL, "public, max-age=86400"),
        (header::VARY, "host"),
        (header::CONTENT_SECURITY_POLICY, "default-src 'none'"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ];
    Ok((headers, image).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// The dark modules an SVG of [`svg`] draws, read back from its path (one `M x y h1v1…`
    /// square per module, quiet zone included).
    fn drawn(image: &str) -> BTreeSet<(usize, usize)> {
        let d = image
            .split(" d=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        d.split('M')
            .filter(|s| !s.is_empty())
            .map(|m| {
                let (x, rest) = m.split_once(' ').unwrap();
                let y = rest.split('h').next().unwrap();
                assert!(rest.ends_with(&format!("h1v1H{x}V{y}")), "{m}");
                (x.parse().unwrap(), y.parse().unwrap())
            })
            .collect()
    }

    #[test]
    fn the_code_is_the_pages_url_for_the_certificate() {
        let id =
            "1.2.156.3005.2.11100000000018934N001.116210020138700018.62100000000000000001.001.3";
        let identifier = CertIdentifier::parse(id).unwrap();
        let url = verify_url("https://zwfw.example.gov.cn:8444", &identifier);
        assert_eq!(
            url,
            format!("https://zwfw.example.gov.cn:8444/verify?id={id}")
        );
        let image = svg(&url).unwrap();
        assert!(image.contains(&format!("<title>{url}</title>")), "{image}");
        // Exactly the modules of the QR code of that URL, inside a 4-module quiet zone.
        let code = QrCode::with_error_correction_level(url.as_bytes(), EcLevel::M).unwrap();
        let w = code.width();
        let expected: BTreeSet<(usize, usize)> = code
            .to_colors()
            .iter()
            .enumerate()
            .filter(|(_, c)| **c == qrcode::Color::Dark)
            .map(|(i, _)| (i % w + 4, i / w + 4))
            .collect();
        assert_eq!(drawn(&image), expected);
        let side = (w + 8) * MODULE_PX;
        assert!(image.contains(&format!(
            r#"width="{side}" height="{side}" role="img" viewBox="0 0 {} {}""#,
            w + 8,
            w + 8
        )));
        // Text is escaped in the title.
        assert!(
            svg("a<b&c")
                .unwrap()
                .contains("<title>a&lt;b&amp;c</title>")
        );
    }

    #[test]
    fn only_plain_hosts_make_the_link() {
        for ok in [
            "localhost:8444",
            "zwfw.example.gov.cn",
            "[::1]:8444",
            "127.0.0.1",
        ] {
            assert!(plain_host(ok), "{ok}");
        }
        for bad in ["", "evil.example/x", "a b", "user@host", "host\"><script>"] {
            assert!(!plain_host(bad), "{bad}");
        }
    }
}

//! What the server accepts of a request before any door looks at it: form bodies, same-origin
//! form posts (from what real browsers send), the client's address behind trusted proxies, and
//! the refusal of NUL bytes at the edge.

use std::net::{IpAddr, SocketAddr};

use axum::http::StatusCode;
use axum::http::header::{self, HeaderMap};
use axum::response::{IntoResponse, Response};

use super::MAX_BODY;

/// Parses an `application/x-www-form-urlencoded` body; malformed input is a 400 page.
pub fn parse_form<T: serde::de::DeserializeOwned>(
    body: &[u8],
) -> Result<T, crate::web::error::AppError> {
    serde_urlencoded::from_bytes(body).map_err(|_| {
        crate::web::error::ErrorPage::bad_request(
            "error-bad-request-title",
            crate::i18n::Text::new("error-bad-form"),
        )
        .into()
    })
}

/// The `Referrer-Policy` of every response: a same-origin request keeps its origin (so a form
/// POST from our pages carries `Origin: {public origin}`), a cross-origin one gets nothing (no
/// URL of ours, which may hold a transaction id, reaches a relying party or partner).
pub const REFERRER_POLICY: &str = "same-origin";

/// Whether a form POST comes from one of our own pages (login CSRF, SECURITY.md J.78), decided
/// from what browsers send:
///
/// - `Sec-Fetch-Site` (Fetch Metadata, sent by every current browser): only `same-origin`
///   passes; `cross-site`, `same-site` (another port or subdomain: another origin) and `none`
///   (not initiated by a page) are refused.
/// - `Origin`: when present it must be exactly the public origin. Under [`REFERRER_POLICY`] a
///   browser sends our origin on a same-origin POST; the opaque `null` (a sandboxed frame, a
///   `data:` page, a cross-origin redirect chain, a `no-referrer` page elsewhere) is refused.
/// - Neither header (a non-browser client, or a browser too old for either) passes this check;
///   such a client still needs the form's per-transaction CSRF token, which it can only have
///   read from our page.
pub fn same_origin_post(headers: &HeaderMap, public_origin: &str) -> bool {
    if let Some(site) = headers.get("sec-fetch-site")
        && site.as_bytes() != b"same-origin"
    {
        return false;
    }
    match headers.get(header::ORIGIN) {
        Some(origin) => origin.as_bytes() == public_origin.as_bytes(),
        None => true,
    }
}

/// The address of the client: the socket peer, or, when the peer is a trusted proxy, the
/// right-most address in `X-Forwarded-For` that is not itself a trusted proxy (SECURITY.md
/// J.80: forwarded headers from untrusted hops are ignored).
pub fn client_ip(peer: SocketAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    let peer_ip = peer.ip();
    if !trusted.contains(&peer_ip) {
        return peer_ip;
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse::<IpAddr>().ok())
        .rev()
        .find(|ip| !trusted.contains(ip))
        .unwrap_or(peer_ip)
}

/// Whether URL-encoded text (a path, a query, a form) carries a NUL byte, raw or as `%00`.
fn encoded_nul(bytes: &[u8]) -> bool {
    bytes.contains(&0)
        || bytes
            .windows(3)
            .any(|w| w[0] == b'%' && w[1] == b'0' && w[2] == b'0')
}

/// Whether a JSON document has a NUL in any string (a `\u0000` escape or a raw byte); JSON
/// that does not parse is left to the handler, which says why.
fn json_nul(bytes: &[u8]) -> bool {
    fn walk(value: &serde_json::Value) -> bool {
        match value {
            serde_json::Value::String(s) => s.contains('\0'),
            serde_json::Value::Array(items) => items.iter().any(walk),
            serde_json::Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || walk(v)),
            _ => false,
        }
    }
    bytes.contains(&0)
        || serde_json::from_slice::<serde_json::Value>(bytes).is_ok_and(|value| walk(&value))
}

/// Middleware: a NUL byte anywhere in the address or in a form or JSON body is refused at the
/// edge (a bare 400, or 404 for a path, which the error layer puts in the front door's own
/// format) — it would otherwise reach Postgres, which refuses it in text with a 500.
/// Streamed uploads (bulk CSV, JSON Lines) check their rows themselves.
pub async fn refuse_nul(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let uri = request.uri();
    if encoded_nul(uri.path().as_bytes()) {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    }
    if uri.query().is_some_and(|q| encoded_nul(q.as_bytes())) {
        return (StatusCode::BAD_REQUEST, "bad request").into_response();
    }
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let check: fn(&[u8]) -> bool = if content_type.starts_with("application/x-www-form-urlencoded")
    {
        encoded_nul
    } else if content_type.starts_with("application/json") {
        json_nul
    } else {
        return next.run(request).await;
    };
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "too large").into_response();
    };
    if check(&bytes) {
        return (StatusCode::BAD_REQUEST, "bad request").into_response();
    }
    next.run(axum::extract::Request::from_parts(
        parts,
        axum::body::Body::from(bytes),
    ))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("6.6.6.6, 10.0.0.9"),
        );
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let peer = SocketAddr::new(proxy, 1);
        assert_eq!(client_ip(peer, &headers, &[]), proxy);
        assert_eq!(
            client_ip(peer, &headers, &[proxy]),
            "10.0.0.9".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            client_ip(peer, &headers, &[proxy, "10.0.0.9".parse().unwrap()]),
            "6.6.6.6".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn nul_bytes_are_found_in_every_encoding() {
        assert!(encoded_nul(b"client_id=a%00b"));
        assert!(encoded_nul(b"/contoso%00/login"));
        assert!(encoded_nul(b"a\0b"));
        assert!(!encoded_nul(b"client_id=a%20b&x=%0A"));
        assert!(json_nul(br#"{"displayName": "a\u0000b"}"#));
        assert!(json_nul(br#"{"list": [{"a\u0000": 1}]}"#));
        assert!(!json_nul(
            br#"{"displayName": "100%00 sure", "x": "\\u0000"}"#
        ));
    }

    #[test]
    fn cross_site_posts_are_refused() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut map = HeaderMap::new();
            for (name, value) in pairs {
                map.insert(*name, HeaderValue::from_static(value));
            }
            map
        };
        let idp = "http://idp";
        // What Chromium sends for a form on our page under the same-origin referrer policy.
        let chromium = [("origin", "http://idp"), ("sec-fetch-site", "same-origin")];
        assert!(same_origin_post(&headers(&chromium), idp));
        // A non-browser client: no Origin, no Fetch Metadata (the CSRF token still applies).
        assert!(same_origin_post(&headers(&[]), idp));
        assert!(same_origin_post(&headers(&[("origin", "http://idp")]), idp));
        for refused in [
            &[("origin", "http://evil"), ("sec-fetch-site", "cross-site")][..],
            &[("origin", "http://evil")],
            &[("sec-fetch-site", "cross-site")],
            // Another port of the same host is same-site but not same-origin.
            &[
                ("origin", "http://idp:8081"),
                ("sec-fetch-site", "same-site"),
            ],
            // Sandboxed frames and no-referrer pages send an opaque origin.
            &[("origin", "null"), ("sec-fetch-site", "cross-site")],
            &[("origin", "null"), ("sec-fetch-site", "same-origin")],
            &[("origin", "null")],
            // Not initiated by a page (typed, bookmarked).
            &[("sec-fetch-site", "none")],
            // Same-origin metadata but a foreign Origin: something is lying; refuse.
            &[("origin", "http://evil"), ("sec-fetch-site", "same-origin")],
        ] {
            assert!(!same_origin_post(&headers(refused), idp), "{refused:?}");
        }
    }
}

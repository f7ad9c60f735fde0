//! Cookies: names, reading and writing with the attributes SECURITY.md J.77 asks for.
//!
//! On an https public URL cookies use the `__Host-` prefix with `Secure`; on a plain-http
//! development URL (the default `http://127.0.0.1:8080`) the prefix and `Secure` are dropped,
//! because browsers and HTTP clients refuse them without TLS. Every cookie is `HttpOnly`,
//! `SameSite=Lax` and `Path=/`; none is ever put in a URL.

use axum::http::header::{self, HeaderMap, HeaderValue};

/// The browser session cookie (sign-in state).
pub const SESSION: &str = "gh_session";
/// The pre-session cookie that binds sign-in transactions to the browser that started them.
pub const BROWSER: &str = "gh_browser";

/// The cookie policy of a node, from its public URL.
pub trait Cookies {
    /// Cookie naming and attributes for this deployment.
    fn cookies(&self) -> CookiePolicy;
}

impl Cookies for crate::services::Services {
    fn cookies(&self) -> CookiePolicy {
        CookiePolicy {
            secure: self.config.is_https(),
        }
    }
}

/// Cookie naming and attributes for one deployment.
#[derive(Debug, Clone, Copy)]
pub struct CookiePolicy {
    /// Whether the public URL is https.
    pub secure: bool,
}

impl CookiePolicy {
    /// The full cookie name for a base name.
    pub fn name(&self, base: &str) -> String {
        if self.secure {
            format!("__Host-{base}")
        } else {
            base.to_owned()
        }
    }

    /// Reads a cookie value from the request.
    pub fn read<'h>(&self, headers: &'h HeaderMap, base: &str) -> Option<&'h str> {
        let name = self.name(base);
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
            .filter(|v| !v.is_empty())
    }

    /// A `Set-Cookie` value; `max_age` in seconds, `None` for a browser-session cookie.
    pub fn set(&self, base: &str, value: &str, max_age: Option<u64>) -> HeaderValue {
        let mut cookie = format!(
            "{}={value}; Path=/; HttpOnly; SameSite=Lax",
            self.name(base)
        );
        if let Some(age) = max_age {
            cookie.push_str(&format!("; Max-Age={age}"));
        }
        if self.secure {
            cookie.push_str("; Secure");
        }
        // Values are base64url tokens we generated, so this cannot fail; fall back to a
        // clearing cookie rather than panic.
        HeaderValue::from_str(&cookie).unwrap_or_else(|_| self.clear(base))
    }

    /// A `Set-Cookie` value that deletes the cookie.
    pub fn clear(&self, base: &str) -> HeaderValue {
        let mut cookie = format!(
            "{}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0",
            self.name(base)
        );
        if self.secure {
            cookie.push_str("; Secure");
        }
        HeaderValue::from_str(&cookie).unwrap_or(HeaderValue::from_static("x=; Max-Age=0"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_deployments_use_host_prefixed_secure_cookies() {
        let policy = CookiePolicy { secure: true };
        let value = policy.set(SESSION, "abc", Some(60));
        assert_eq!(
            value.to_str().unwrap(),
            "__Host-gh_session=abc; Path=/; HttpOnly; SameSite=Lax; Max-Age=60; Secure"
        );
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; __Host-gh_session=abc"),
        );
        assert_eq!(policy.read(&headers, SESSION), Some("abc"));
        assert_eq!(CookiePolicy { secure: false }.read(&headers, SESSION), None);
    }
}

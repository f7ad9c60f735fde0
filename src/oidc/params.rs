//! Request parameters of the OAuth endpoints, parsed from a query string or a form body.
//!
//! RFC 6749 §3.1 and §3.2: a parameter sent twice is an error, and a parameter sent without a
//! value counts as absent. Unknown parameters are kept but ignored.

/// Parameters of one request.
#[derive(Debug, Default, Clone)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Parses `application/x-www-form-urlencoded` text (a query string or a form body).
    pub fn parse(raw: &[u8]) -> Self {
        Self {
            pairs: url::form_urlencoded::parse(raw).into_owned().collect(),
        }
    }

    /// The value of `name`, or `None` if it is absent or empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// Whether `name` was sent more than once.
    pub fn is_repeated(&self, name: &str) -> bool {
        self.pairs.iter().filter(|(k, _)| k == name).count() > 1
    }

    /// The first parameter sent more than once, if any.
    pub fn first_repeated(&self) -> Option<&str> {
        self.pairs
            .iter()
            .map(|(k, _)| k.as_str())
            .find(|name| self.is_repeated(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_values_are_absent_and_repeats_are_found() {
        let params = Params::parse(b"a=1&b=&c=x%20y&a=2&d=+");
        assert_eq!(params.get("b"), None);
        assert_eq!(params.get("c"), Some("x y"));
        assert_eq!(params.get("d"), Some(" "));
        assert!(params.is_repeated("a"));
        assert_eq!(params.first_repeated(), Some("a"));
        assert_eq!(Params::parse(b"x=1&y=2").first_repeated(), None);
    }
}

//! Finding the token in a request: a header (with an optional scheme prefix), a cookie,
//! or a query parameter, in the configured order.

use super::config::TokenSourceConfig;
use thiserror::Error;

/// A token source that is not well formed.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[error("sources[{index}]: set exactly one of header, cookie, query (prefix only with header)")]
pub struct SourceError {
    /// Position in `sources`.
    pub index: usize,
}

/// A compiled token source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// A header, with an optional case-insensitive prefix such as `Bearer `.
    Header {
        /// Lower-case header name.
        name: String,
        /// Prefix to strip.
        prefix: Option<String>,
    },
    /// A cookie.
    Cookie(String),
    /// A query parameter.
    Query(String),
}

impl TokenSource {
    /// Compiles the `index`-th configured source.
    pub fn compile(index: usize, c: &TokenSourceConfig) -> Result<Self, SourceError> {
        match (&c.header, &c.cookie, &c.query, &c.prefix) {
            (Some(h), None, None, prefix) if !h.is_empty() => Ok(TokenSource::Header {
                name: h.to_ascii_lowercase(),
                prefix: prefix.clone(),
            }),
            (None, Some(c), None, None) if !c.is_empty() => Ok(TokenSource::Cookie(c.clone())),
            (None, None, Some(q), None) if !q.is_empty() => Ok(TokenSource::Query(q.clone())),
            _ => Err(SourceError { index }),
        }
    }

    /// The token from this source, if present. `header` looks a request header up.
    pub fn find(&self, header: &dyn Fn(&str) -> Option<String>) -> Option<String> {
        match self {
            TokenSource::Header { name, prefix } => {
                let value = header(name)?;
                let value = value.trim();
                let token = match prefix {
                    Some(p) => {
                        let head = value.get(..p.len())?;
                        if !head.eq_ignore_ascii_case(p) {
                            return None;
                        }
                        value.get(p.len()..)?.trim()
                    }
                    None => value,
                };
                (!token.is_empty()).then(|| token.to_string())
            }
            TokenSource::Cookie(name) => {
                let cookies = header("cookie")?;
                cookies.split(';').find_map(|pair| {
                    let (k, v) = pair.trim().split_once('=')?;
                    (k == name && !v.is_empty()).then(|| v.to_string())
                })
            }
            TokenSource::Query(name) => {
                let path = header(":path")?;
                let (_, query) = path.split_once('?')?;
                query.split('&').find_map(|pair| {
                    let (k, v) = pair.split_once('=')?;
                    (k == name && !v.is_empty()).then(|| v.to_string())
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |n| {
            pairs
                .iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn bearer_prefix_is_matched_case_insensitively() {
        let s = TokenSource::Header {
            name: "authorization".into(),
            prefix: Some("Bearer ".into()),
        };
        assert_eq!(
            s.find(&headers(&[("authorization", "bearer abc")]))
                .as_deref(),
            Some("abc")
        );
        assert_eq!(s.find(&headers(&[("authorization", "Basic abc")])), None);
        assert_eq!(s.find(&headers(&[("authorization", "Bearer ")])), None);
    }

    #[test]
    fn cookie_and_query_sources_find_their_token() {
        let c = TokenSource::Cookie("session".into());
        assert_eq!(
            c.find(&headers(&[("cookie", "a=1; session=tok")]))
                .as_deref(),
            Some("tok")
        );
        let q = TokenSource::Query("access_token".into());
        assert_eq!(
            q.find(&headers(&[(":path", "/x?a=1&access_token=tok")]))
                .as_deref(),
            Some("tok")
        );
        assert_eq!(q.find(&headers(&[(":path", "/x")])), None);
    }

    #[test]
    fn a_source_must_name_exactly_one_place() {
        let both = TokenSourceConfig {
            header: Some("a".into()),
            prefix: None,
            cookie: Some("b".into()),
            query: None,
        };
        assert_eq!(
            TokenSource::compile(3, &both),
            Err(SourceError { index: 3 })
        );
    }
}

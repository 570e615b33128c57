//! Where a request carries its account id, and reading it.

use super::paths::{compile, IdLabel};
use super::AccountError;
use crate::json::dfa::Dfa;
use crate::json::path::{parse_indexed, PathStep};
use crate::json::{self, Scalar, ScalarKind, Step, Visitor, DEFAULT_MAX_DEPTH};
use std::fmt;

/// Longest account id accepted from a request, in bytes.
const MAX_ID_LEN: usize = 256;

/// Where a route's request carries its account id, parsed from the route configuration:
///
/// - `none`: the route's data belongs to no account (health, identity echo, permissions):
///   an explicit declaration, so that a route declaring nothing can be refused (SPEC §5,
///   "every resource must have a bound account"). It has no id ([`Self::is_unbound`]).
/// - `path:/accounts/{account}/contracts/{id}`: a template matched against the whole path,
///   segment by segment; `{account}` is the id, any other `{name}` matches any one
///   non-empty segment, other segments must be equal. A path that does not fit has no id.
/// - `segment:2`: the 2nd path segment (1-based: in `/accounts/demostore`, `demostore`).
/// - `query:account_id`: a query parameter. Names are compared after percent-decoding
///   (`account%5Fid` is `account_id`, as the backend would read it), in any ASCII case,
///   and `account_id[]` / `account_id[0]` count as the same parameter (as PHP, Rails or
///   ASP.NET read them). A parameter given twice with different values is refused: the
///   gateway and the backend could each pick another one.
/// - `header:x-account-id`: a request header (name case-insensitive, `_` read as `-`,
///   value trimmed); repeated with different values is refused, as for the query.
/// - `body:account.id`: a field of a JSON request body, in the response path syntax
///   (`[*]` allowed); keys compare case-insensitively (see [`fold_key`]), as lenient
///   decoders bind them. Every occurrence (duplicate or case-variant keys, array
///   elements) must hold the same id, an object or array there is refused, `null` counts
///   as absent.
///
/// Ids are never decoded. An id must be *plain*: 1 to 256 bytes of ASCII letters, digits
/// and `-._~:@`. Anything else (`%` escapes, `+`, `/`, `\`, whitespace, control or
/// non-ASCII characters, `,`, `;`) is refused rather than decoded into something the
/// backend might read differently.
#[derive(Debug, Clone)]
pub struct AccountLocation {
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    Unbound,
    Template {
        text: String,
        segments: Vec<Segment>,
    },
    Segment(usize),
    Query(String),
    Header(String),
    Body {
        path: String,
        dfa: Dfa<IdLabel>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Any,
    Account,
}

impl AccountLocation {
    /// Parses a location string from route configuration (`none`, `path:`, `segment:`,
    /// `query:`, `header:`, `body:`).
    pub fn parse(text: &str) -> Result<AccountLocation, AccountError> {
        let bad = |reason| AccountError::InvalidLocation {
            text: text.to_string(),
            reason,
        };
        if text.trim() == "none" {
            return Ok(AccountLocation {
                kind: Kind::Unbound,
            });
        }
        let (kind, rest) = text.split_once(':').ok_or_else(|| {
            bad("expected `none`, `path:`, `segment:`, `query:`, `header:` or `body:`")
        })?;
        let rest = rest.trim();
        let kind = match kind.trim() {
            "path" => Kind::Template {
                text: rest.to_string(),
                segments: parse_template(rest).map_err(bad)?,
            },
            "segment" => match rest.parse::<usize>() {
                Ok(n) if n >= 1 => Kind::Segment(n),
                _ => return Err(bad("segment index must be a number from 1")),
            },
            "query" | "header" => {
                let token = |c: char| c.is_ascii_alphanumeric() || "-_.~!$'*+^`|".contains(c);
                if rest.is_empty() || !rest.chars().all(token) {
                    return Err(bad("name must be a non-empty token"));
                }
                if kind.trim() == "query" {
                    Kind::Query(rest.to_string())
                } else {
                    Kind::Header(rest.to_ascii_lowercase())
                }
            }
            "body" => Kind::Body {
                path: rest.to_string(),
                dfa: compile(&[fold_steps(parse_indexed(rest).map_err(bad)?)], &[])?,
            },
            _ => return Err(bad("unknown location kind")),
        };
        Ok(AccountLocation { kind })
    }

    /// Whether the route is declared `none`: its data belongs to no account, and the
    /// request carries no id to check ([`Self::extract`] always finds none).
    pub fn is_unbound(&self) -> bool {
        matches!(self.kind, Kind::Unbound)
    }

    /// Whether the id is in the request body (the caller must buffer it first).
    pub fn needs_body(&self) -> bool {
        matches!(self.kind, Kind::Body { .. })
    }

    /// Reads the account id. `path` is the request path without the query; `query` is the
    /// text after `?`. `Ok(None)`: the request has no id there (also when `body` is `None`
    /// for a body location); errors: the id is not plain, ambiguous, or the body invalid.
    pub fn extract(
        &self,
        path: &str,
        query: Option<&str>,
        headers: &[(String, String)],
        body: Option<&[u8]>,
    ) -> Result<Option<String>, AccountError> {
        let found: Vec<String> = match &self.kind {
            Kind::Unbound => Vec::new(),
            Kind::Template { segments, .. } => template_match(segments, path).into_iter().collect(),
            Kind::Segment(n) => path_segments(path)
                .and_then(|mut s| s.nth(n.saturating_sub(1)))
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .into_iter()
                .collect(),
            Kind::Query(name) => query
                .unwrap_or_default()
                .split('&')
                .filter_map(|pair| {
                    let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                    same_parameter(&form_decode(key), name).then(|| value.to_string())
                })
                .collect(),
            Kind::Header(name) => headers
                .iter()
                .filter(|(n, _)| same_header(n, name))
                .map(|(_, v)| v.trim_matches([' ', '\t']).to_string())
                .collect(),
            Kind::Body { dfa, .. } => match body {
                None => Vec::new(),
                Some(bytes) => self.read_body(dfa, bytes)?,
            },
        };
        let mut ids = found.into_iter();
        let Some(first) = ids.next() else {
            return Ok(None);
        };
        if ids.any(|other| other != first) {
            return Err(AccountError::Ambiguous {
                location: self.to_string(),
            });
        }
        if !is_plain(&first) {
            return Err(AccountError::InvalidId {
                location: self.to_string(),
            });
        }
        Ok(Some(first))
    }

    fn read_body(&self, dfa: &Dfa<IdLabel>, body: &[u8]) -> Result<Vec<String>, AccountError> {
        let mut collect = Collect {
            dfa,
            ids: Vec::new(),
            not_scalar: false,
        };
        json::rewrite(body, &mut collect, DEFAULT_MAX_DEPTH)?;
        if collect.not_scalar {
            return Err(AccountError::NotScalar {
                location: self.to_string(),
            });
        }
        Ok(collect.ids)
    }
}

impl fmt::Display for AccountLocation {
    /// Describes the location for error messages (configuration text only).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Unbound => write!(f, "no account (`none`)"),
            Kind::Template { text, .. } => write!(f, "path template {text:?}"),
            Kind::Segment(n) => write!(f, "path segment {n}"),
            Kind::Query(name) => write!(f, "query parameter {name:?}"),
            Kind::Header(name) => write!(f, "header {name:?}"),
            Kind::Body { path, .. } => write!(f, "body field {path:?}"),
        }
    }
}

/// Whether `id` is a plain account id (see [`AccountLocation`]).
fn is_plain(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~:@".contains(&b))
}

fn parse_template(text: &str) -> Result<Vec<Segment>, &'static str> {
    let rest = text
        .strip_prefix('/')
        .ok_or("path template must start with `/`")?;
    let parts: Vec<&str> = rest.split('/').collect();
    let last = parts.len().saturating_sub(1);
    let mut segments = Vec::with_capacity(parts.len());
    for (i, part) in parts.into_iter().enumerate() {
        let segment = match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            Some("account") => Segment::Account,
            Some(name)
                if !name.is_empty()
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
            {
                Segment::Any
            }
            Some(_) => return Err("placeholder names are letters, digits and `_`"),
            None if part.contains(['{', '}']) => {
                return Err("a placeholder must be a whole segment")
            }
            None if part.is_empty() && i != last => return Err("empty segment"),
            None => Segment::Literal(part.to_string()),
        };
        segments.push(segment);
    }
    if segments.iter().filter(|s| **s == Segment::Account).count() != 1 {
        return Err("path template needs exactly one `{account}`");
    }
    Ok(segments)
}

/// The segments of an absolute path (`/a/b` gives `a`, `b`), `None` for a relative one.
fn path_segments(path: &str) -> Option<std::str::Split<'_, char>> {
    path.strip_prefix('/').map(|rest| rest.split('/'))
}

fn template_match(segments: &[Segment], path: &str) -> Option<String> {
    let parts: Vec<&str> = path_segments(path)?.collect();
    if parts.len() != segments.len() {
        return None;
    }
    let mut account = None;
    for (segment, part) in segments.iter().zip(parts) {
        match segment {
            Segment::Literal(l) if l != part => return None,
            Segment::Literal(_) => {}
            Segment::Any | Segment::Account if part.is_empty() => return None,
            Segment::Any => {}
            Segment::Account => account = Some(part.to_string()),
        }
    }
    account
}

/// Whether a (form-decoded) query parameter name is read as `name` by some backend: the
/// same name in any ASCII case (ASP.NET, case-insensitive binders), or the name followed
/// by brackets (`name[]`, `name[0]`: PHP, Rails, `qs`). Every such copy is collected, so
/// a second copy with another id is ambiguous (refused) instead of unseen.
fn same_parameter(decoded: &[u8], name: &str) -> bool {
    let name = name.as_bytes();
    decoded
        .get(..name.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(name))
        && matches!(decoded.get(name.len()), None | Some(b'['))
}

/// Header names compare case-insensitively with `_` and `-` alike: CGI-style backends
/// (WSGI, PHP, Rack, nginx `$http_*`) read `x_account_id` as `x-account-id`.
fn same_header(a: &str, b: &str) -> bool {
    let fold = |c: u8| {
        if c == b'_' {
            b'-'
        } else {
            c.to_ascii_lowercase()
        }
    };
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| fold(x) == fold(y))
}

/// A JSON key as case-insensitive decoders match it: ASCII lower case, and the two
/// non-ASCII letters whose simple case folding is ASCII (KELVIN SIGN `K` is `k`, LONG S
/// `ſ` is `s`, as in Go's `encoding/json`). Body paths are matched on folded keys, so
/// `{"id": "a", "ID": "b"}` holds two ids (ambiguous, refused) for a backend that binds
/// keys case-insensitively (Go, Jackson and System.Text.Json options).
fn fold_key(key: &str) -> String {
    key.chars()
        .map(|c| match c {
            '\u{212A}' => 'k',
            '\u{017F}' => 's',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// A body path with its keys folded like [`fold_key`].
fn fold_steps(steps: Vec<PathStep>) -> Vec<PathStep> {
    steps
        .into_iter()
        .map(|step| match step {
            PathStep::Key(k) => PathStep::Key(fold_key(&k)),
            other => other,
        })
        .collect()
}

/// Decodes a query parameter name as a form decoder would: `+` is a space, `%XX` a byte;
/// a malformed escape stays as written.
fn form_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = |j: usize| bytes.get(j).and_then(|&h| char::from(h).to_digit(16));
        match (b, hex(i + 1), hex(i + 2)) {
            (b'%', Some(hi), Some(lo)) => {
                out.push(u8::try_from(hi * 16 + lo).unwrap_or(b'%'));
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// Collects every scalar at an id path of a request body.
struct Collect<'a> {
    dfa: &'a Dfa<IdLabel>,
    ids: Vec<String>,
    not_scalar: bool,
}

impl Collect<'_> {
    fn step(&self, s: u32) -> Step<u32> {
        match self.dfa.label(s) {
            Some(l) if !l.dead => Step::Enter(s),
            _ => Step::Copy,
        }
    }
}

impl Visitor for Collect<'_> {
    type State = u32;
    fn root(&mut self) -> Step<u32> {
        self.step(0)
    }
    fn member(&mut self, parent: &u32, key: &str) -> Step<u32> {
        self.step(self.dfa.member(*parent, &fold_key(key)))
    }
    fn element(&mut self, parent: &u32) -> Step<u32> {
        self.step(self.dfa.element(*parent).0)
    }
    fn scalar(&mut self, state: &u32, value: Scalar<'_>) -> bool {
        if self.dfa.label(*state).is_some_and(|l| l.id) && value.kind != ScalarKind::Null {
            self.ids.push(value.text().into_owned());
        }
        true
    }
    fn close(&mut self, state: &u32, is_object: bool) -> bool {
        if is_object && self.dfa.label(*state).is_some_and(|l| l.id) {
            self.not_scalar = true;
        }
        true
    }
}

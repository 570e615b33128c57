//! Decisions and the reasons behind them. A decision carries its reason so the
//! response, the decision log line, the metrics and the CLI's `explain` share one source.
//!
//! What a client is told is fixed text: the stable `code` and a `message` that is a
//! `&'static str`, so nothing built from a request (a token's `alg`, a header, a path)
//! can reach a response header or an error body (issue 18, response splitting). The
//! `detail`, which may name the input, goes to the decision log only.

use crate::header_value;
use std::fmt;

/// Why a request was refused. The `code` is stable (metrics labels, log fields); the
/// `detail` is for operators and may name the input (escaped, never a token or secret);
/// the `message` is the fixed text the client receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    /// HTTP status the client receives (401, 403, 502, 500...).
    pub status: u16,
    /// Stable machine-readable reason, e.g. `token_expired`, `no_matching_grant`.
    pub code: &'static str,
    /// Human-readable explanation for the decision log; never sent to the client.
    pub detail: String,
    /// The fixed text the client receives (the body's `message`, a 401's
    /// `error_description`). Static, so it cannot carry request data.
    pub message: &'static str,
}

/// The client message of a status when the reason gives none of its own.
fn generic_message(status: u16) -> &'static str {
    match status {
        400 => "bad request",
        401 => "unauthorized",
        403 => "forbidden",
        413 => "request too large",
        502 => "bad gateway",
        _ => "internal error",
    }
}

impl Denial {
    fn new(status: u16, code: &'static str, detail: impl Into<String>) -> Self {
        Denial {
            status,
            code,
            detail: detail.into(),
            message: generic_message(status),
        }
    }

    /// A 401 (the token is missing or refused). Its message is `unauthorized` unless
    /// [`with_message`](Denial::with_message) gives the reason's fixed description.
    pub fn unauthorized(code: &'static str, detail: impl Into<String>) -> Self {
        Denial::new(401, code, detail)
    }

    /// A 403: the detail goes to the decision log only.
    pub fn forbidden(code: &'static str, detail: impl Into<String>) -> Self {
        Denial::new(403, code, detail)
    }

    /// A 400: the request is malformed (e.g. a path not in normal form).
    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Denial::new(400, code, detail)
    }

    /// A 502: the backend's answer could not be delivered safely.
    pub fn bad_gateway(code: &'static str, detail: impl Into<String>) -> Self {
        Denial::new(502, code, detail)
    }

    /// A 500: the gateway itself failed (host error, misconfiguration); fails closed.
    pub fn internal(code: &'static str, detail: impl Into<String>) -> Self {
        Denial::new(500, code, detail)
    }

    /// The same denial with the reason's own fixed client text (a 401's description of
    /// the check that failed, e.g. `token is expired`).
    pub fn with_message(mut self, message: &'static str) -> Self {
        self.message = message;
        self
    }

    /// The small JSON body sent to the client: code, fixed message, status.
    pub fn body(&self) -> Vec<u8> {
        serde_json::json!({ "error": self.code, "message": self.message, "status": self.status })
            .to_string()
            .into_bytes()
    }

    /// Extra response headers: `WWW-Authenticate` on a 401 (RFC 6750 §3), whose
    /// `error_description` is the fixed message (left out if it could not be a
    /// quoted-string of visible ASCII).
    pub fn headers(&self) -> Vec<(String, String)> {
        let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
        if self.status == 401 {
            let quotable =
                header_value::is_safe(self.message) && !self.message.contains(['"', '\\']);
            let value = match (self.code, quotable) {
                ("token_missing", _) => "Bearer".to_string(),
                (_, true) => format!(
                    "Bearer error=\"invalid_token\", error_description=\"{}\"",
                    self.message
                ),
                (_, false) => "Bearer error=\"invalid_token\"".to_string(),
            };
            headers.push(("www-authenticate".to_string(), value));
        }
        headers
    }
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.detail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str = "RS256\r\nSet-Cookie: pwned=1 <img src=x> \u{e9}\0";

    #[test]
    fn the_detail_never_reaches_the_body() {
        for denial in [
            Denial::unauthorized("algorithm_unsupported", HOSTILE),
            Denial::forbidden("no_matching_grant", HOSTILE),
            Denial::bad_request("path_dot_segment", HOSTILE),
            Denial::bad_gateway("account_leak", HOSTILE),
            Denial::internal("host_error", HOSTILE),
        ] {
            let body = String::from_utf8(denial.body()).unwrap();
            assert!(!body.contains("pwned") && !body.contains("img"), "{body}");
        }
    }

    #[test]
    fn the_detail_never_reaches_a_header() {
        let denial = Denial::unauthorized("algorithm_unsupported", HOSTILE)
            .with_message("algorithm is not accepted");
        for (_, value) in denial.headers() {
            assert!(header_value::is_safe(&value), "{value:?}");
            assert!(!value.contains("pwned"), "{value}");
        }
    }

    #[test]
    fn a_401_describes_its_reason_with_the_fixed_message() {
        let denial =
            Denial::unauthorized("token_expired", "exp 5 < now 9").with_message("token is expired");
        assert_eq!(
            denial.headers()[1].1,
            "Bearer error=\"invalid_token\", error_description=\"token is expired\""
        );
        let body: serde_json::Value = serde_json::from_slice(&denial.body()).unwrap();
        assert_eq!(body["message"], "token is expired");
    }

    #[test]
    fn a_message_that_cannot_be_quoted_is_left_out_of_the_challenge() {
        let denial = Denial::unauthorized("x", "").with_message("say \"hi\"");
        assert_eq!(denial.headers()[1].1, "Bearer error=\"invalid_token\"");
    }

    #[test]
    fn a_missing_token_gets_the_bare_challenge() {
        let denial = Denial::unauthorized("token_missing", "no bearer token");
        assert_eq!(denial.headers()[1].1, "Bearer");
    }

    #[test]
    fn other_statuses_say_only_their_generic_message() {
        let denial = Denial::forbidden("no_matching_grant", "missing contract:one:read");
        assert_eq!(
            denial.body(),
            br#"{"error":"no_matching_grant","message":"forbidden","status":403}"#
        );
    }
}

//! Decisions and the reasons behind them. A decision carries its reason so the
//! response, the decision log line, the metrics and the CLI's `explain` share one source.

use std::fmt;

/// Why a request was refused. The `code` is stable (metrics labels, log fields); the
/// `detail` is for operators and may name the input, never a token or secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    /// HTTP status the client receives (401, 403, 502, 500...).
    pub status: u16,
    /// Stable machine-readable reason, e.g. `token_expired`, `no_matching_grant`.
    pub code: &'static str,
    /// Human-readable explanation for logs; may be sent to the client only when
    /// `public_detail` is true.
    pub detail: String,
    /// Whether `detail` may appear in the response body (401 token errors do; a 403
    /// naming the missing requirement does not).
    pub public_detail: bool,
}

impl Denial {
    /// A 401 whose detail is safe to show the client (it never echoes the token).
    pub fn unauthorized(code: &'static str, detail: impl Into<String>) -> Self {
        Denial {
            status: 401,
            code,
            detail: detail.into(),
            public_detail: true,
        }
    }

    /// A 403: the detail goes to the decision log only.
    pub fn forbidden(code: &'static str, detail: impl Into<String>) -> Self {
        Denial {
            status: 403,
            code,
            detail: detail.into(),
            public_detail: false,
        }
    }

    /// A 400: the request is malformed (e.g. a path not in normal form).
    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Denial {
            status: 400,
            code,
            detail: detail.into(),
            public_detail: false,
        }
    }

    /// A 502: the backend's answer could not be delivered safely.
    pub fn bad_gateway(code: &'static str, detail: impl Into<String>) -> Self {
        Denial {
            status: 502,
            code,
            detail: detail.into(),
            public_detail: false,
        }
    }

    /// A 500: the gateway itself failed (host error, misconfiguration); fails closed.
    pub fn internal(code: &'static str, detail: impl Into<String>) -> Self {
        Denial {
            status: 500,
            code,
            detail: detail.into(),
            public_detail: false,
        }
    }

    /// The small JSON body sent to the client.
    pub fn body(&self) -> Vec<u8> {
        let message = if self.public_detail {
            self.detail.as_str()
        } else {
            match self.status {
                401 => "unauthorized",
                400 => "bad request",
                403 => "forbidden",
                502 => "bad gateway",
                _ => "internal error",
            }
        };
        serde_json::json!({ "error": self.code, "message": message, "status": self.status })
            .to_string()
            .into_bytes()
    }

    /// Extra response headers: `WWW-Authenticate` on a 401 (RFC 6750 §3).
    pub fn headers(&self) -> Vec<(String, String)> {
        let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
        if self.status == 401 {
            let description = self.detail.replace(['"', '\\'], "'");
            let value = if self.code == "token_missing" {
                "Bearer".to_string()
            } else {
                format!("Bearer error=\"invalid_token\", error_description=\"{description}\"")
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

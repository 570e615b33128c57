//! Why a token was refused. The client is told only [`JwtError::description`], a fixed
//! text per reason (in `WWW-Authenticate` and the JSON body); the `Display` text, which
//! may quote (escaped) what the token said, goes to the decision log only. A token's
//! bytes never reach a response (issue 18).

use crate::decision::Denial;
use thiserror::Error;

/// A refused token. `code()` is the stable reason used in metrics and logs.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum JwtError {
    /// No token in any configured source.
    #[error("no bearer token")]
    Missing,
    /// Longer than the configured limit.
    #[error("token is longer than {0} bytes")]
    TooLarge(usize),
    /// Not three base64url segments of JSON objects.
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// `alg: none` or an algorithm name we do not know (the name as the token wrote it,
    /// shortened; shown escaped in the log).
    #[error("algorithm {0:?} is not accepted")]
    UnsupportedAlgorithm(String),
    /// The provider does not allow this algorithm.
    #[error("algorithm {0} is not allowed for this issuer")]
    AlgorithmNotAllowed(String),
    /// `crit` names an extension the provider does not support.
    #[error("unsupported critical header extension")]
    UnsupportedCrit,
    /// No provider has this issuer.
    #[error("issuer is not accepted")]
    UnknownIssuer,
    /// The token names a `kid` the provider does not have.
    #[error("unknown key id")]
    UnknownKid,
    /// No key of the provider fits the token's algorithm.
    #[error("no key for algorithm {0}")]
    NoKeyForAlgorithm(String),
    /// The signature does not verify.
    #[error("signature verification failed")]
    BadSignature,
    /// `exp` is missing where required.
    #[error("token has no exp claim")]
    MissingExp,
    /// `exp` is past.
    #[error("token is expired")]
    Expired,
    /// `nbf` is in the future.
    #[error("token is not yet valid")]
    NotYetValid,
    /// `iat` is in the future.
    #[error("token is issued in the future")]
    IssuedInFuture,
    /// `aud` does not name an accepted audience.
    #[error("audience is not accepted")]
    BadAudience,
    /// A registered claim has the wrong JSON type.
    #[error("claim {0} has the wrong type")]
    BadClaimType(&'static str),
    /// Remote keys are not available yet (first fetch pending or failing).
    #[error("signing keys are not available")]
    KeysUnavailable,
}

impl JwtError {
    /// The fixed text the client is told: one per reason, naming the check that failed
    /// and nothing of the token (visible ASCII, no quotes: it goes in a quoted-string).
    pub fn description(&self) -> &'static str {
        match self {
            JwtError::Missing => "no bearer token",
            JwtError::TooLarge(_) => "token is too large",
            JwtError::Malformed(_) => "malformed token",
            JwtError::UnsupportedAlgorithm(_) => "algorithm is not accepted",
            JwtError::AlgorithmNotAllowed(_) => "algorithm is not allowed for this issuer",
            JwtError::UnsupportedCrit => "unsupported critical header extension",
            JwtError::UnknownIssuer => "issuer is not accepted",
            JwtError::UnknownKid => "unknown key id",
            JwtError::NoKeyForAlgorithm(_) => "no key for the token's algorithm",
            JwtError::BadSignature => "signature verification failed",
            JwtError::MissingExp => "token has no exp claim",
            JwtError::Expired => "token is expired",
            JwtError::NotYetValid => "token is not yet valid",
            JwtError::IssuedInFuture => "token is issued in the future",
            JwtError::BadAudience => "audience is not accepted",
            JwtError::BadClaimType(_) => "a registered claim has the wrong type",
            JwtError::KeysUnavailable => "signing keys are not available",
        }
    }

    /// The 401 for this refusal: its code, its fixed description for the client, and
    /// the `Display` text for the decision log.
    pub fn denial(&self) -> Denial {
        Denial::unauthorized(self.code(), self.to_string()).with_message(self.description())
    }

    /// Stable reason code for metrics and decision logs.
    pub fn code(&self) -> &'static str {
        match self {
            JwtError::Missing => "token_missing",
            JwtError::TooLarge(_) => "token_too_large",
            JwtError::Malformed(_) => "token_malformed",
            JwtError::UnsupportedAlgorithm(_) => "algorithm_unsupported",
            JwtError::AlgorithmNotAllowed(_) => "algorithm_not_allowed",
            JwtError::UnsupportedCrit => "crit_unsupported",
            JwtError::UnknownIssuer => "issuer_unknown",
            JwtError::UnknownKid => "kid_unknown",
            JwtError::NoKeyForAlgorithm(_) => "no_key_for_algorithm",
            JwtError::BadSignature => "signature_invalid",
            JwtError::MissingExp => "exp_missing",
            JwtError::Expired => "token_expired",
            JwtError::NotYetValid => "token_not_yet_valid",
            JwtError::IssuedInFuture => "iat_in_future",
            JwtError::BadAudience => "audience_invalid",
            JwtError::BadClaimType(_) => "claim_type_invalid",
            JwtError::KeysUnavailable => "keys_unavailable",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header_value;

    const HOSTILE: &str = "RS256\r\nSet-Cookie: pwned=1<img src=x>\u{e9}";

    fn every_variant() -> Vec<JwtError> {
        vec![
            JwtError::Missing,
            JwtError::TooLarge(8192),
            JwtError::Malformed("header is not a JSON object"),
            JwtError::UnsupportedAlgorithm(HOSTILE.into()),
            JwtError::AlgorithmNotAllowed(HOSTILE.into()),
            JwtError::UnsupportedCrit,
            JwtError::UnknownIssuer,
            JwtError::UnknownKid,
            JwtError::NoKeyForAlgorithm(HOSTILE.into()),
            JwtError::BadSignature,
            JwtError::MissingExp,
            JwtError::Expired,
            JwtError::NotYetValid,
            JwtError::IssuedInFuture,
            JwtError::BadAudience,
            JwtError::BadClaimType("nbf"),
            JwtError::KeysUnavailable,
        ]
    }

    #[test]
    fn every_description_fits_a_quoted_string_of_visible_ascii() {
        for err in every_variant() {
            let text = err.description();
            assert!(header_value::is_safe(text), "{}: {text:?}", err.code());
            assert!(!text.contains(['"', '\\']), "{}: {text:?}", err.code());
        }
    }

    #[test]
    fn no_variant_sends_its_data_to_the_client() {
        for err in every_variant() {
            let denial = err.denial();
            let body = String::from_utf8(denial.body()).unwrap();
            let challenge = denial
                .headers()
                .into_iter()
                .map(|(_, v)| v)
                .collect::<String>();
            for sent in [&body, &challenge] {
                let echoed = ["pwned", "8192", "JSON", "nbf"]
                    .iter()
                    .any(|m| sent.contains(m));
                assert!(!echoed, "{}: {sent}", err.code());
            }
        }
    }

    #[test]
    fn the_log_text_shows_a_hostile_algorithm_escaped() {
        let text = JwtError::UnsupportedAlgorithm(HOSTILE.into()).to_string();
        assert!(!text.contains(['\r', '\n']), "{text}");
        assert!(text.contains("\\r\\n"), "{text}");
    }
}

//! Why a token was refused. Messages are sent to the client in `WWW-Authenticate`, so
//! they name the check that failed and never echo the token or its claims' values.

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
    /// `alg: none` or an algorithm name we do not know.
    #[error("algorithm `{0}` is not accepted")]
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

//! `portcullis token`: signs a claims file with a private key (PKCS#8 PEM) or an HMAC
//! secret. `iat` and `exp` are set from the clock unless the file has them.

use clap::Args;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Map, Value};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

/// Arguments of `portcullis token`.
#[derive(Args)]
pub struct TokenArgs {
    /// Private key, PKCS#8 PEM (RSA, EC P-256, Ed25519).
    #[arg(long, conflicts_with = "hmac_secret_file")]
    key: Option<PathBuf>,
    /// File holding an HMAC secret (raw bytes), for HS* algorithms.
    #[arg(long)]
    hmac_secret_file: Option<PathBuf>,
    /// Key id written in the header.
    #[arg(long)]
    kid: Option<String>,
    /// Algorithm; default RS256 (HS256 with --hmac-secret-file).
    #[arg(long)]
    alg: Option<String>,
    /// JSON file with the claims.
    #[arg(long)]
    claims: PathBuf,
    /// Lifetime in seconds when the claims have no `exp`.
    #[arg(long, default_value_t = 3600)]
    ttl: u64,
}

/// Prints the token on stdout.
pub fn run(args: &TokenArgs) -> Result<(), String> {
    let text = std::fs::read_to_string(&args.claims)
        .map_err(|e| format!("--claims {}: {e}", args.claims.display()))?;
    let mut claims: Map<String, Value> = serde_json::from_str(&text)
        .map_err(|e| format!("--claims {}: not a JSON object: {e}", args.claims.display()))?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| format!("clock: {e}"))?
        .as_secs();
    claims.entry("iat").or_insert(now.into());
    claims.entry("exp").or_insert((now + args.ttl).into());

    let (alg, key) = match (&args.key, &args.hmac_secret_file) {
        (Some(path), None) => {
            let pem = std::fs::read(path).map_err(|e| format!("--key {}: {e}", path.display()))?;
            let alg = parse_alg(args.alg.as_deref().unwrap_or("RS256"))?;
            let key = match alg {
                Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_pem(&pem),
                Algorithm::EdDSA => EncodingKey::from_ed_pem(&pem),
                _ => EncodingKey::from_rsa_pem(&pem),
            }
            .map_err(|e| format!("--key {}: {e}", path.display()))?;
            (alg, key)
        }
        (None, Some(path)) => {
            let secret = std::fs::read(path)
                .map_err(|e| format!("--hmac-secret-file {}: {e}", path.display()))?;
            (
                parse_alg(args.alg.as_deref().unwrap_or("HS256"))?,
                EncodingKey::from_secret(&secret),
            )
        }
        _ => return Err("give exactly one of --key or --hmac-secret-file".into()),
    };
    let mut header = Header::new(alg);
    header.kid = args.kid.clone();
    let token =
        jsonwebtoken::encode(&header, &claims, &key).map_err(|e| format!("signing: {e}"))?;
    println!("{token}");
    Ok(())
}

fn parse_alg(name: &str) -> Result<Algorithm, String> {
    Algorithm::from_str(name).map_err(|_| format!("--alg `{name}` is not a supported algorithm"))
}

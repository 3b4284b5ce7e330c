//! Authentication building blocks every CloudCord service shares.
//!
//! Nothing here speaks HTTP or touches a database: these are the pure pieces that the
//! auth endpoints (in `command-api`) and every service's request extractors are built
//! from.
//!
//! How the pieces fit:
//!
//! ```text
//! login     password::verify_password ──► TokenIssuer::issue ──► access token (at+jwt)
//! bots      bot_token::mint(user_id, token_id, &SigningKey) ──► bot token
//! services  Jwks (published by the issuer) ──► VerifyingKeys ──► TokenVerifier::verify_at
//!                                                          └──► bot_token::verify
//! ```
//!
//! - [`password`]: argon2id hashing and verification of user passwords (PHC strings).
//! - [`keys`]: the Ed25519 [`SigningKey`] (private, only where tokens are minted),
//!   the public [`Jwks`] and [`VerifyingKeys`] built from it (everywhere else).
//! - [`jwt`]: [`TokenIssuer`] issues RFC 9068 access tokens (`typ: at+jwt`, EdDSA);
//!   [`TokenVerifier`] checks them with public keys only.
//! - [`id_token`]: OpenID Connect ID tokens, signed by [`TokenIssuer`] with the same
//!   key (for relying parties, never accepted as access tokens).
//! - [`bot_token`]: Discord-shaped, self-verifying bot tokens signed by the same key.
//! - [`media_token`]: short-lived tokens (`typ: media+jwt`) binding one user to one
//!   voice channel's media, minted by the write side, checked by the SFU.
//! - [`credential`]: [`TokenVerifier::authenticate`] reads an `Authorization` header
//!   or an Identify token into a [`Credential`].
//!
//! Services verify without the private key: they need only the JWKS, so a leaked
//! query or gateway process cannot mint tokens. Times are passed in (`now`) so the
//! rules are testable without a wall clock; only [`TokenVerifier::verify`] reads the
//! system clock, at the edge.
//!
//! A rejected credential ([`TokenError`], [`BotTokenError`], a wrong password) maps to
//! Discord's `401: Unauthorized` at the HTTP layer; the variants exist for logs and
//! metrics, never for the client. [`KeyError`], [`IssueError`] and [`PasswordError`]
//! are internal failures (start-up errors or a 500).

pub mod bot_token;
pub mod credential;
pub mod id_token;
pub mod jwt;
pub mod keys;
pub mod media_token;
pub mod password;

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

pub use bot_token::{BotTokenClaims, BotTokenError, BotTokenId};
pub use credential::{Credential, CredentialError, Grant};
pub use id_token::{IdTokenClaims, access_token_hash};
pub use jwt::{
    ACCESS_TOKEN_TYPE, AccessToken, AccessTokenClaims, IssueError, IssuedAccessToken,
    NewAccessToken, TokenError, TokenIssuer, TokenKind, TokenVerifier,
};
pub use keys::{Jwk, Jwks, JwksError, KeyError, SigningKey, VerifyingKeys};
pub use media_token::{MediaGrant, MediaTokenVerifier};
pub use password::{PasswordError, PasswordHash};

/// The `[auth]` settings section.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct AuthConfig {
    /// The `iss` of every access token, and the only issuer verifiers accept: the public
    /// base URL of the front door.
    pub issuer: String,
    /// The `aud` of every access token, and the only audience verifiers accept.
    pub audience: String,
    /// How long an access token is valid after it is issued, in seconds.
    pub access_token_ttl_secs: u64,
    /// The Ed25519 PKCS#8 PEM file holding the signing key (only the process that issues
    /// tokens needs it): the newest key, the only one that signs.
    pub signing_key_path: PathBuf,
    /// Key rotation: PKCS#8 PEM files of older signing keys that are being retired.
    /// They never sign, but their public halves stay in the JWKS, so access tokens,
    /// ID tokens and bot tokens they signed keep verifying. To rotate, move the current
    /// key's path here and point `signing_key_path` at a new key; to retire a key,
    /// remove its path (once its access tokens have expired — bot tokens it signed stop
    /// working then, so reset them first).
    pub previous_signing_key_paths: Vec<PathBuf>,
    /// Clock skew tolerated when checking `exp` and `nbf`, in seconds.
    pub leeway_secs: u64,
    /// Web pages other than the issuer's own origin that may call the REST API from
    /// a browser (their `Origin`, e.g. `https://admin.example.org`); see
    /// [`crate::origin`].
    pub allowed_origins: Vec<String>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            issuer: "http://127.0.0.1:8080".to_owned(),
            audience: "cloudcord".to_owned(),
            access_token_ttl_secs: 3600,
            signing_key_path: PathBuf::from(".cloudcord/auth/ed25519.pem"),
            previous_signing_key_paths: Vec::new(),
            leeway_secs: 30,
            allowed_origins: Vec::new(),
        }
    }
}

impl AuthConfig {
    /// The web pages that may call from a browser: the issuer's origin and
    /// [`Self::allowed_origins`].
    pub fn origins(&self) -> crate::origin::AllowedOrigins {
        crate::origin::AllowedOrigins::new(&self.issuer, &self.allowed_origins)
    }

    /// [`Self::access_token_ttl_secs`] as a duration.
    pub fn access_token_ttl(&self) -> Duration {
        Duration::from_secs(self.access_token_ttl_secs)
    }

    /// [`Self::leeway_secs`] as a duration.
    pub fn leeway(&self) -> Duration {
        Duration::from_secs(self.leeway_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::AuthConfig;

    #[test]
    fn config_defaults_apply_to_missing_keys() {
        let config: AuthConfig =
            serde_json::from_str(r#"{"audience":"test"}"#).expect("partial section parses");
        assert_eq!(config.audience, "test");
        assert_eq!(config.issuer, "http://127.0.0.1:8080");
        assert_eq!(config.access_token_ttl_secs, 3600);
        assert_eq!(config.leeway_secs, 30);
        assert_eq!(
            config.signing_key_path,
            std::path::Path::new(".cloudcord/auth/ed25519.pem")
        );
    }
}

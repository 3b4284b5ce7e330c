//! OpenID Connect ID tokens (OIDC Core §2): what a relying party learns about the
//! user who signed in, signed with the same Ed25519 key as access tokens.
//!
//! An ID token is for the client, never for an API: its `aud` is the client's id and
//! its `typ` is `JWT`, so [`super::TokenVerifier`] (which insists on `at+jwt` and the
//! API audience) refuses one presented as an access token.

use std::time::SystemTime;

use aws_lc_rs::digest::{SHA512, digest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, Header};
use serde::{Deserialize, Serialize};

use super::jwt::{IssueError, TokenIssuer};

/// The claims of an ID token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdTokenClaims {
    /// Issuer (the same as access tokens').
    pub iss: String,
    /// Subject: the user's ID as a decimal string.
    pub sub: String,
    /// Audience: the client's id.
    pub aud: String,
    /// Expiry, Unix seconds.
    pub exp: u64,
    /// Issued at, Unix seconds.
    pub iat: u64,
    /// When the user authenticated (entered their password), Unix seconds.
    pub auth_time: u64,
    /// The client's `nonce` from the authorization request, echoed for replay checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// Access token hash (OIDC Core §3.1.3.6), binding the ID token to the access
    /// token issued with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_hash: Option<String>,
    /// The session (refresh-token family) the sign-in started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// The username (with the `identify` scope).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    /// The display name (with the `identify` scope).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The e-mail address (with the `email` scope).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Whether the address was verified (with the `email` scope). CloudCord does not
    /// verify addresses yet, so this is `false` whenever an address is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
}

/// The `at_hash` of `access_token` for an EdDSA (Ed25519) ID token: the left half of
/// its SHA-512 digest, base64url (OIDC Core §3.1.3.6; Ed25519's hash is SHA-512).
pub fn access_token_hash(access_token: &str) -> String {
    let hashed = digest(&SHA512, access_token.as_bytes());
    let bytes = hashed.as_ref();
    URL_SAFE_NO_PAD.encode(&bytes[..bytes.len() / 2])
}

impl TokenIssuer {
    /// Signs `claims` as an ID token (EdDSA, `typ: JWT`, the signing key's `kid`).
    pub fn sign_id_token(&self, claims: &IdTokenClaims) -> Result<String, IssueError> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some("JWT".to_owned());
        header.kid = Some(self.signing_key().kid().to_owned());
        jsonwebtoken::encode(&header, claims, self.signing_key().encoding_key())
            .map_err(IssueError::Signing)
    }

    /// ID-token claims for `user_id` signing in to `client_id` at `now`, valid as long
    /// as an access token; the caller fills in the optional claims.
    pub fn id_token_claims(
        &self,
        user_id: cloudcord_schemas::ids::UserId,
        client_id: &str,
        auth_time: SystemTime,
        now: SystemTime,
    ) -> IdTokenClaims {
        let issued_at = super::jwt::unix_seconds(now);
        IdTokenClaims {
            iss: self.issuer().to_owned(),
            sub: user_id.to_string(),
            aud: client_id.to_owned(),
            exp: issued_at.saturating_add(self.ttl().as_secs()),
            iat: issued_at,
            auth_time: super::jwt::unix_seconds(auth_time),
            nonce: None,
            at_hash: None,
            sid: None,
            preferred_username: None,
            name: None,
            email: None,
            email_verified: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use cloudcord_schemas::ids::UserId;
    use jsonwebtoken::{Algorithm, DecodingKey, Validation};

    use super::{IdTokenClaims, access_token_hash};
    use crate::auth::{AuthConfig, SigningKey, TokenError, TokenIssuer, TokenVerifier};

    #[test]
    fn an_id_token_verifies_with_the_public_key_and_is_refused_as_an_access_token() {
        let config = AuthConfig::default();
        let issuer = TokenIssuer::new(SigningKey::generate().expect("key"), &config);
        let now = UNIX_EPOCH + Duration::from_secs(1_790_000_000);
        let mut claims = issuer.id_token_claims(UserId::new(42), "my-app", now, now);
        claims.nonce = Some("n-0S6_WzA2Mj".to_owned());
        let token = issuer.sign_id_token(&claims).expect("signed");

        let header = jsonwebtoken::decode_header(&token).expect("header");
        assert_eq!(header.alg, Algorithm::EdDSA);
        assert_eq!(header.kid.as_deref(), Some(issuer.signing_key().kid()));
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_audience(&["my-app"]);
        validation.validate_exp = false;
        let decoded = jsonwebtoken::decode::<IdTokenClaims>(
            &token,
            &DecodingKey::from_ed_der(issuer.signing_key().public_key_bytes()),
            &validation,
        )
        .expect("verifies");
        assert_eq!(decoded.claims, claims);

        let verifier = TokenVerifier::from_jwks(&issuer.jwks(), &config).expect("usable");
        assert_eq!(verifier.verify_at(&token, now), Err(TokenError::WrongType));
    }

    #[test]
    fn at_hash_is_the_left_half_of_sha512() {
        // 64-byte digest → 32 bytes → 43 base64url characters.
        let hash = access_token_hash("token");
        assert_eq!(hash.len(), 43);
        assert_ne!(hash, access_token_hash("token2"));
    }
}

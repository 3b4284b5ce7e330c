//! RFC 9068 access tokens: EdDSA-signed JWTs with `typ: at+jwt`.
//!
//! [`TokenIssuer`] (only where users log in) signs them with the [`SigningKey`];
//! [`TokenVerifier`] (every service) checks them against [`VerifyingKeys`] from the
//! JWKS. A token that passes has a verified signature by a known key, `alg` EdDSA,
//! `typ` `at+jwt`, the configured `iss` and `aud`, and `exp`/`nbf` that hold at the
//! given time within the leeway; its `sub` is a [`UserId`].
//!
//! Times are explicit: [`TokenIssuer::issue`] and [`TokenVerifier::verify_at`] take
//! `now`, so the rules are testable with a fixed clock.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cloudcord_schemas::ids::UserId;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Header, Validation};
use serde::{Deserialize, Serialize};

use super::AuthConfig;
use super::keys::{Jwk, Jwks, JwksError, SigningKey, VerifyingKeys};

/// The JWT `typ` header of an access token (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";

/// The media-type spelling of [`ACCESS_TOKEN_TYPE`], which RFC 9068 §4 also accepts.
const ACCESS_TOKEN_MEDIA_TYPE: &str = "application/at+jwt";

/// Longest token the verifier will parse. Ours are under 1 KiB; the bound keeps a
/// hostile header from costing more than a glance.
const MAX_TOKEN_LEN: usize = 4096;

/// Random bytes in a `jti`: 128 bits, so IDs never collide by chance.
const JTI_BYTES: usize = 16;

/// What an access token was issued for (the `cloudcord_kind` claim).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    /// A person's own login session (password login in a CloudCord client): acts with
    /// the user's full rights.
    Session,
    /// An OAuth2 grant to a third-party application: limited to the token's scopes.
    #[serde(rename = "oauth2")]
    OAuth2,
}

/// The claims of an access token, as they appear in the JWT (RFC 9068 §2.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    /// Issuer: [`AuthConfig::issuer`].
    pub iss: String,
    /// Subject: the user's ID as a decimal string.
    pub sub: String,
    /// Audience: [`AuthConfig::audience`].
    pub aud: String,
    /// Expiry, Unix seconds.
    pub exp: u64,
    /// Not valid before, Unix seconds (the issue time).
    pub nbf: u64,
    /// Issued at, Unix seconds.
    pub iat: u64,
    /// Unique token ID: 128 random bits, base64url.
    pub jti: String,
    /// The OAuth2 client the token was issued to (our own web client for sessions).
    pub client_id: String,
    /// Granted scopes, space-separated (RFC 8693 §4.2).
    pub scope: String,
    /// CloudCord's own claim: what the token was issued for.
    #[serde(rename = "cloudcord_kind")]
    pub kind: TokenKind,
    /// The session (refresh-token family) the token belongs to, when it has one
    /// (OpenID Connect's `sid`): what `POST /auth/logout` ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

/// What to put in a new access token; the issuer adds `iss`, `aud`, times and `jti`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAccessToken {
    /// Whose token it is.
    pub user_id: UserId,
    /// The OAuth2 client it is issued to; must not be empty.
    pub client_id: String,
    /// Granted scopes; each a non-empty OAuth2 scope token (RFC 6749 §3.3: printable
    /// ASCII without space, `"` or `\`).
    pub scopes: Vec<String>,
    /// What it is for.
    pub kind: TokenKind,
}

/// A freshly signed access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedAccessToken {
    /// The compact JWT, for the `access_token` field of a token response.
    pub token: String,
    /// What it says (e.g. `exp` for `expires_in`).
    pub claims: AccessTokenClaims,
}

/// Why an access token could not be issued.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    /// A scope is empty or contains a character OAuth2 forbids.
    #[error("invalid scope {0:?}")]
    InvalidScope(String),
    /// The client ID is empty.
    #[error("an access token needs a client_id")]
    MissingClientId,
    /// The system random number generator failed.
    #[error("could not generate a token ID")]
    Random,
    /// Encoding or signing failed.
    #[error("could not sign the access token")]
    Signing(#[source] jsonwebtoken::errors::Error),
}

/// Signs access tokens. Lives only in the process that handles logins.
///
/// It signs with one key, the newest; the public halves of older keys that are being
/// retired ride along in [`Self::jwks`], so what they signed keeps verifying until an
/// operator drops them from `[auth] previous_signing_key_paths`.
#[derive(Debug)]
pub struct TokenIssuer {
    key: SigningKey,
    previous: Vec<Jwk>,
    issuer: String,
    audience: String,
    ttl: Duration,
}

impl TokenIssuer {
    /// An issuer signing with `key`, stamping `iss`, `aud` and the TTL from `config`.
    pub fn new(key: SigningKey, config: &AuthConfig) -> Self {
        Self {
            key,
            previous: Vec::new(),
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            ttl: config.access_token_ttl(),
        }
    }

    /// Also publishes (never signs with) `previous` keys, older ones being retired. A
    /// previous key that is the signing key itself is left out, so a key file listed
    /// twice cannot make the JWKS ambiguous.
    pub fn with_previous_keys(mut self, previous: &[SigningKey]) -> Self {
        self.previous = previous
            .iter()
            .filter(|key| key.kid() != self.key.kid())
            .map(SigningKey::public_jwk)
            .collect();
        self
    }

    /// The `iss` this issuer stamps.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The `aud` this issuer stamps.
    pub(crate) fn audience(&self) -> &str {
        &self.audience
    }

    /// How long its access tokens are valid.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The signing key (also used to mint bot tokens).
    pub fn signing_key(&self) -> &SigningKey {
        &self.key
    }

    /// The public keys to publish for verifiers: the signing key first, then the
    /// previous keys still being retired.
    pub fn jwks(&self) -> Jwks {
        std::iter::once(self.key.public_jwk())
            .chain(self.previous.iter().cloned())
            .collect()
    }

    /// Signs an access token for `request`, valid from `now` for the configured TTL.
    pub fn issue(
        &self,
        request: &NewAccessToken,
        now: SystemTime,
    ) -> Result<IssuedAccessToken, IssueError> {
        self.issue_in_session(request, None, now)
    }

    /// [`Self::issue`], naming the session (`sid`) the token belongs to.
    pub fn issue_in_session(
        &self,
        request: &NewAccessToken,
        session_id: Option<&str>,
        now: SystemTime,
    ) -> Result<IssuedAccessToken, IssueError> {
        if request.client_id.is_empty() {
            return Err(IssueError::MissingClientId);
        }
        if let Some(bad) = request.scopes.iter().find(|scope| !is_scope_token(scope)) {
            return Err(IssueError::InvalidScope(bad.clone()));
        }
        let mut jti = [0u8; JTI_BYTES];
        aws_lc_rs::rand::fill(&mut jti).map_err(|_| IssueError::Random)?;

        let issued_at = unix_seconds(now);
        let claims = AccessTokenClaims {
            iss: self.issuer.clone(),
            sub: request.user_id.to_string(),
            aud: self.audience.clone(),
            exp: issued_at.saturating_add(self.ttl.as_secs()),
            nbf: issued_at,
            iat: issued_at,
            jti: URL_SAFE_NO_PAD.encode(jti),
            client_id: request.client_id.clone(),
            scope: request.scopes.join(" "),
            kind: request.kind,
            sid: session_id.map(str::to_owned),
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some(ACCESS_TOKEN_TYPE.to_owned());
        header.kid = Some(self.key.kid().to_owned());
        let token = jsonwebtoken::encode(&header, &claims, self.key.encoding_key())
            .map_err(IssueError::Signing)?;
        Ok(IssuedAccessToken { token, claims })
    }
}

/// A verified access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessToken {
    /// Whose token it is (`sub`).
    pub user_id: UserId,
    /// The OAuth2 client it was issued to.
    pub client_id: String,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// What it was issued for.
    pub kind: TokenKind,
    /// Its unique ID (`jti`), e.g. for a deny-list.
    pub jti: String,
    /// When it was issued (`iat`).
    pub issued_at: SystemTime,
    /// When it stops being valid (`exp`, before leeway).
    pub expires_at: SystemTime,
    /// The session it belongs to (`sid`), if any.
    pub session_id: Option<String>,
}

impl AccessToken {
    /// Whether the token grants `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|granted| granted == scope)
    }
}

/// Why an access token was rejected. All of them mean `401 Unauthorized` to the
/// client; the variants are for logs and metrics.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a well-formed JWT, or a required claim is missing or has the wrong shape.
    #[error("malformed access token: {0}")]
    Malformed(String),
    /// The header names an algorithm other than EdDSA (e.g. an `HS256` forgery).
    #[error("access token algorithm is not EdDSA")]
    DisallowedAlgorithm,
    /// The `typ` header is not `at+jwt` (e.g. an ID token or some other JWT).
    #[error("access token typ is not at+jwt")]
    WrongType,
    /// The `kid` header names no trusted key.
    #[error("access token is signed with an unknown key")]
    UnknownKey,
    /// The signature does not verify with the named key.
    #[error("access token signature is invalid")]
    BadSignature,
    /// `exp` has passed (beyond the leeway).
    #[error("access token has expired")]
    Expired,
    /// `nbf` is still in the future (beyond the leeway).
    #[error("access token is not valid yet")]
    NotYetValid,
    /// `iss` is not the configured issuer.
    #[error("access token was issued by another issuer")]
    WrongIssuer,
    /// `aud` is not the configured audience.
    #[error("access token is meant for another audience")]
    WrongAudience,
}

/// How every CloudCord token signed as a JWS is checked (access tokens here, media
/// tokens in `media_token`): the algorithm pinned to EdDSA, `iss` and `aud` as
/// configured, and `nbf`/`exp` against an explicit `now` with a leeway.
#[derive(Debug, Clone)]
pub(crate) struct SignedTokenCheck {
    validation: Validation,
    leeway_secs: u64,
}

impl SignedTokenCheck {
    /// The check of `config`'s issuer, audience and leeway.
    pub(crate) fn new(config: &AuthConfig) -> Self {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&[&config.audience]);
        // jsonwebtoken checks `exp`/`nbf` against the system clock only. We check them
        // ourselves against the `now` passed in (see `claims`), after the signature,
        // so the time rules are testable with a fixed clock. Its leeway is therefore
        // unused.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.leeway = 0;
        Self {
            validation,
            leeway_secs: config.leeway_secs,
        }
    }

    /// The claims of `token` signed by one of `keys`, valid as of `now`.
    ///
    /// Order matters: the header is checked first (algorithm pinned to EdDSA before
    /// any key is looked at, `typ` as `typ_ok` says, no `crit`, a known `kid`), then
    /// the signature, and only then the claims, so nothing an attacker wrote is
    /// trusted before the signature holds. `window` gives the claims' `(nbf, exp)`.
    pub(crate) fn claims<C: serde::de::DeserializeOwned>(
        &self,
        token: &str,
        keys: &VerifyingKeys,
        typ_ok: impl Fn(&str) -> bool,
        window: impl Fn(&C) -> (u64, u64),
        now: SystemTime,
    ) -> Result<C, TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Malformed("token is too long".to_owned()));
        }
        let header = jsonwebtoken::decode_header(token).map_err(map_error)?;
        if header.alg != Algorithm::EdDSA {
            return Err(TokenError::DisallowedAlgorithm);
        }
        if !header.typ.as_deref().is_some_and(typ_ok) {
            return Err(TokenError::WrongType);
        }
        if header.crit.is_some() {
            // RFC 7515 §4.1.11: critical extensions we do not understand must fail,
            // and we understand none.
            return Err(TokenError::Malformed("unsupported crit header".to_owned()));
        }
        let kid = header
            .kid
            .as_deref()
            .ok_or_else(|| TokenError::Malformed("missing kid".to_owned()))?;
        let key = keys.decoding_key(kid).ok_or(TokenError::UnknownKey)?;

        // Verifies the signature (with the algorithm list pinned to EdDSA again), then
        // presence of exp/nbf/iss/aud/sub and the values of iss and aud.
        let claims = jsonwebtoken::decode::<C>(token, &key, &self.validation)
            .map_err(map_error)?
            .claims;

        // RFC 7519 §4.1.4/§4.1.5: valid from `nbf` (inclusive) until `exp` (exclusive),
        // each widened by the leeway for clock skew between hosts.
        let (nbf, exp) = window(&claims);
        let now = unix_seconds(now);
        if now >= exp.saturating_add(self.leeway_secs) {
            return Err(TokenError::Expired);
        }
        if nbf > now.saturating_add(self.leeway_secs) {
            return Err(TokenError::NotYetValid);
        }
        Ok(claims)
    }
}

/// Checks access tokens with public keys only. Every service holds one.
#[derive(Debug, Clone)]
pub struct TokenVerifier {
    keys: VerifyingKeys,
    check: SignedTokenCheck,
}

impl TokenVerifier {
    /// A verifier trusting `keys`, expecting `iss`, `aud` and the leeway from `config`.
    pub fn new(keys: VerifyingKeys, config: &AuthConfig) -> Self {
        Self {
            keys,
            check: SignedTokenCheck::new(config),
        }
    }

    /// A verifier trusting the usable keys of `jwks` (see [`VerifyingKeys::from_jwks`]).
    pub fn from_jwks(jwks: &Jwks, config: &AuthConfig) -> Result<Self, JwksError> {
        Ok(Self::new(VerifyingKeys::from_jwks(jwks)?, config))
    }

    /// The trusted keys (also what verifies bot tokens).
    pub fn keys(&self) -> &VerifyingKeys {
        &self.keys
    }

    /// [`Self::verify_at`] the system clock's current time.
    pub fn verify(&self, token: &str) -> Result<AccessToken, TokenError> {
        self.verify_at(token, SystemTime::now())
    }

    /// Checks `token` as of `now` (see `SignedTokenCheck::claims` for the order).
    pub fn verify_at(&self, token: &str, now: SystemTime) -> Result<AccessToken, TokenError> {
        let typ_ok = |typ: &str| {
            typ.eq_ignore_ascii_case(ACCESS_TOKEN_TYPE)
                || typ.eq_ignore_ascii_case(ACCESS_TOKEN_MEDIA_TYPE)
        };
        let claims: AccessTokenClaims = self.check.claims(
            token,
            &self.keys,
            typ_ok,
            |c: &AccessTokenClaims| (c.nbf, c.exp),
            now,
        )?;
        let user_id = claims
            .sub
            .parse::<UserId>()
            .map_err(|_| TokenError::Malformed("sub is not a user ID".to_owned()))?;
        Ok(AccessToken {
            user_id,
            client_id: claims.client_id,
            scopes: claims.scope.split_whitespace().map(str::to_owned).collect(),
            kind: claims.kind,
            jti: claims.jti,
            issued_at: from_unix_seconds(claims.iat)?,
            expires_at: from_unix_seconds(claims.exp)?,
            session_id: claims.sid,
        })
    }
}

/// Sorts `jsonwebtoken`'s errors into ours.
fn map_error(error: jsonwebtoken::errors::Error) -> TokenError {
    match error.kind() {
        ErrorKind::InvalidSignature => TokenError::BadSignature,
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
            TokenError::DisallowedAlgorithm
        }
        ErrorKind::InvalidIssuer => TokenError::WrongIssuer,
        ErrorKind::InvalidAudience => TokenError::WrongAudience,
        // Not produced while its time checks are off; mapped for completeness.
        ErrorKind::ExpiredSignature => TokenError::Expired,
        ErrorKind::ImmatureSignature => TokenError::NotYetValid,
        _ => TokenError::Malformed(error.to_string()),
    }
}

/// Whether `scope` is an OAuth2 scope token (RFC 6749 §3.3 `NQCHAR`s, at least one).
fn is_scope_token(scope: &str) -> bool {
    !scope.is_empty()
        && scope
            .bytes()
            .all(|byte| matches!(byte, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
}

/// Seconds since the Unix epoch; a clock set before 1970 counts as 1970 (then every
/// token looks not yet valid, which fails closed).
pub(crate) fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// The time `seconds` after the Unix epoch, if the platform can represent it.
fn from_unix_seconds(seconds: u64) -> Result<SystemTime, TokenError> {
    UNIX_EPOCH
        .checked_add(Duration::from_secs(seconds))
        .ok_or_else(|| TokenError::Malformed("timestamp out of range".to_owned()))
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use cloudcord_schemas::ids::UserId;
    use jsonwebtoken::{Algorithm, EncodingKey, Header};

    use super::{
        AccessTokenClaims, IssueError, NewAccessToken, TokenError, TokenIssuer, TokenKind,
        TokenVerifier,
    };
    use crate::auth::{AuthConfig, Jwks, SigningKey, VerifyingKeys};

    /// A fixed "now": 2026-09-21T14:13:20Z.
    const NOW: u64 = 1_790_000_000;
    const USER: UserId = UserId::new(80_351_110_224_678_912);

    fn at(unix_seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(unix_seconds)
    }

    fn config() -> AuthConfig {
        AuthConfig::default()
    }

    fn issuer() -> TokenIssuer {
        TokenIssuer::new(
            SigningKey::generate().expect("key generation works"),
            &config(),
        )
    }

    fn verifier_for(issuer: &TokenIssuer) -> TokenVerifier {
        TokenVerifier::from_jwks(&issuer.jwks(), &config()).expect("JWKS is usable")
    }

    fn request() -> NewAccessToken {
        NewAccessToken {
            user_id: USER,
            client_id: "cloudcord-web".to_owned(),
            scopes: vec!["identify".to_owned(), "guilds".to_owned()],
            kind: TokenKind::Session,
        }
    }

    fn issue_at(issuer: &TokenIssuer, now: u64) -> super::IssuedAccessToken {
        issuer.issue(&request(), at(now)).expect("issuing works")
    }

    /// Claims as the issuer would write them at `NOW`.
    fn claims() -> AccessTokenClaims {
        AccessTokenClaims {
            iss: config().issuer,
            sub: USER.to_string(),
            aud: config().audience,
            exp: NOW + 3600,
            nbf: NOW,
            iat: NOW,
            jti: "test".to_owned(),
            client_id: "cloudcord-web".to_owned(),
            scope: "identify".to_owned(),
            kind: TokenKind::Session,
            sid: None,
        }
    }

    fn header(alg: Algorithm, typ: &str, kid: &str) -> Header {
        let mut header = Header::new(alg);
        header.typ = Some(typ.to_owned());
        header.kid = Some(kid.to_owned());
        header
    }

    fn forge(header: &Header, claims: &AccessTokenClaims, key: &EncodingKey) -> String {
        jsonwebtoken::encode(header, claims, key).expect("encoding works")
    }

    #[test]
    fn token_round_trip() {
        let issuer = issuer();
        let issued = issue_at(&issuer, NOW);
        let token = verifier_for(&issuer)
            .verify_at(&issued.token, at(NOW + 1))
            .expect("fresh token verifies");
        assert_eq!(token.user_id, USER);
        assert_eq!(token.client_id, "cloudcord-web");
        assert_eq!(token.scopes, ["identify", "guilds"]);
        assert!(token.has_scope("guilds"));
        assert_eq!(token.kind, TokenKind::Session);
        assert_eq!(token.jti, issued.claims.jti);
        assert_eq!(token.issued_at, at(NOW));
        assert_eq!(token.expires_at, at(NOW + 3600));
    }

    #[test]
    fn token_carries_rfc9068_header_and_claims() {
        let issuer = issuer();
        let issued = issue_at(&issuer, NOW);
        let header = jsonwebtoken::decode_header(&issued.token).expect("header decodes");
        assert_eq!(header.alg, Algorithm::EdDSA);
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));
        assert_eq!(header.kid.as_deref(), Some(issuer.signing_key().kid()));

        let payload = issued.token.split('.').nth(1).expect("three segments");
        let json: serde_json::Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(payload)
                .expect("payload is base64url"),
        )
        .expect("payload is JSON");
        for claim in [
            "iss",
            "aud",
            "sub",
            "exp",
            "nbf",
            "iat",
            "jti",
            "client_id",
            "scope",
            "cloudcord_kind",
        ] {
            assert!(json.get(claim).is_some(), "missing {claim} in {json}");
        }
        assert_eq!(json["sub"], "80351110224678912");
        assert_eq!(json["scope"], "identify guilds");
        assert_eq!(json["cloudcord_kind"], "session");
        assert_eq!(json["exp"], NOW + 3600);
    }

    #[test]
    fn each_token_gets_a_fresh_jti() {
        let issuer = issuer();
        assert_ne!(
            issue_at(&issuer, NOW).claims.jti,
            issue_at(&issuer, NOW).claims.jti
        );
    }

    #[test]
    fn expired_token_rejected() {
        let issuer = issuer();
        let verifier = verifier_for(&issuer);
        let issued = issue_at(&issuer, NOW);
        let exp = NOW + 3600;
        // Within the 30 s leeway it still passes; at exp + leeway it does not.
        assert!(verifier.verify_at(&issued.token, at(exp + 29)).is_ok());
        assert_eq!(
            verifier.verify_at(&issued.token, at(exp + 30)),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn nbf_in_the_future_rejected() {
        let issuer = issuer();
        let verifier = verifier_for(&issuer);
        let issued = issue_at(&issuer, NOW);
        assert!(verifier.verify_at(&issued.token, at(NOW - 30)).is_ok());
        assert_eq!(
            verifier.verify_at(&issued.token, at(NOW - 31)),
            Err(TokenError::NotYetValid)
        );
    }

    #[test]
    fn leeway_is_configurable() {
        let issuer = issuer();
        let strict = AuthConfig {
            leeway_secs: 0,
            ..config()
        };
        let verifier = TokenVerifier::from_jwks(&issuer.jwks(), &strict).expect("usable");
        let issued = issue_at(&issuer, NOW);
        assert_eq!(
            verifier.verify_at(&issued.token, at(NOW + 3600)),
            Err(TokenError::Expired)
        );
        assert_eq!(
            verifier.verify_at(&issued.token, at(NOW - 1)),
            Err(TokenError::NotYetValid)
        );
    }

    #[test]
    fn wrong_audience_rejected() {
        let issuer = issuer();
        let other = AuthConfig {
            audience: "someone-else".to_owned(),
            ..config()
        };
        let verifier = TokenVerifier::from_jwks(&issuer.jwks(), &other).expect("usable");
        let issued = issue_at(&issuer, NOW);
        assert_eq!(
            verifier.verify_at(&issued.token, at(NOW)),
            Err(TokenError::WrongAudience)
        );
    }

    #[test]
    fn wrong_issuer_rejected() {
        let issuer = issuer();
        let other = AuthConfig {
            issuer: "https://evil.example".to_owned(),
            ..config()
        };
        let verifier = TokenVerifier::from_jwks(&issuer.jwks(), &other).expect("usable");
        let issued = issue_at(&issuer, NOW);
        assert_eq!(
            verifier.verify_at(&issued.token, at(NOW)),
            Err(TokenError::WrongIssuer)
        );
    }

    #[test]
    fn token_signed_by_a_different_key_rejected() {
        let issuer = issuer();
        let impostor = SigningKey::generate().expect("key generation works");
        // The impostor claims the trusted key's kid, so only the signature can tell.
        let token = forge(
            &header(Algorithm::EdDSA, "at+jwt", issuer.signing_key().kid()),
            &claims(),
            impostor.encoding_key(),
        );
        assert_eq!(
            verifier_for(&issuer).verify_at(&token, at(NOW)),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn alg_hs256_token_rejected() {
        // The classic algorithm-confusion attack: sign with HMAC, using the public key
        // (which anyone can fetch from the JWKS) as the shared secret.
        let issuer = issuer();
        let key = issuer.signing_key();
        let public_x = URL_SAFE_NO_PAD.encode(key.public_key_bytes());
        let jwks_json = serde_json::to_vec(&issuer.jwks()).expect("JWKS serializes");
        for secret in [
            key.public_key_bytes(),
            public_x.as_bytes(),
            jwks_json.as_slice(),
        ] {
            let token = forge(
                &header(Algorithm::HS256, "at+jwt", key.kid()),
                &claims(),
                &EncodingKey::from_secret(secret),
            );
            assert_eq!(
                verifier_for(&issuer).verify_at(&token, at(NOW)),
                Err(TokenError::DisallowedAlgorithm)
            );
        }
    }

    #[test]
    fn alg_none_token_rejected() {
        let issuer = issuer();
        let kid = issuer.signing_key().kid();
        let header =
            URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"none","typ":"at+jwt","kid":"{kid}"}}"#));
        let payload =
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims()).expect("claims serialize"));
        let token = format!("{header}.{payload}.");
        assert!(matches!(
            verifier_for(&issuer).verify_at(&token, at(NOW)),
            Err(TokenError::Malformed(_))
        ));
    }

    #[test]
    fn typ_other_than_at_jwt_rejected() {
        let issuer = issuer();
        let key = issuer.signing_key();
        for typ in ["JWT", "id_token+jwt", ""] {
            let token = forge(
                &header(Algorithm::EdDSA, typ, key.kid()),
                &claims(),
                key.encoding_key(),
            );
            assert_eq!(
                verifier_for(&issuer).verify_at(&token, at(NOW)),
                Err(TokenError::WrongType),
                "typ {typ:?}"
            );
        }
        // RFC 9068 §4 also allows the full media type.
        let token = forge(
            &header(Algorithm::EdDSA, "application/at+jwt", key.kid()),
            &claims(),
            key.encoding_key(),
        );
        assert!(verifier_for(&issuer).verify_at(&token, at(NOW)).is_ok());
    }

    #[test]
    fn unknown_kid_rejected() {
        let issuer = issuer();
        let key = issuer.signing_key();
        let token = forge(
            &header(Algorithm::EdDSA, "at+jwt", "not-a-known-kid"),
            &claims(),
            key.encoding_key(),
        );
        assert_eq!(
            verifier_for(&issuer).verify_at(&token, at(NOW)),
            Err(TokenError::UnknownKey)
        );
    }

    #[test]
    fn tokens_verify_with_a_retiring_key_during_rotation() {
        let old = issuer();
        let new = issuer();
        let jwks = new.jwks().keys.into_iter().chain(old.jwks().keys).collect();
        let verifier = TokenVerifier::from_jwks(&jwks, &config()).expect("usable");
        for issuer in [&old, &new] {
            let issued = issue_at(issuer, NOW);
            assert!(verifier.verify_at(&issued.token, at(NOW)).is_ok());
        }
    }

    #[test]
    fn the_issuer_publishes_previous_keys_but_signs_with_the_newest() {
        let old_issuer = issuer();
        let old_token = issue_at(&old_issuer, NOW);
        let new = TokenIssuer::new(
            SigningKey::generate().expect("key generation works"),
            &config(),
        )
        .with_previous_keys(std::slice::from_ref(old_issuer.signing_key()));
        let kids: Vec<_> = new
            .jwks()
            .keys
            .into_iter()
            .map(|jwk| jwk.kid.expect("kid"))
            .collect();
        assert_eq!(
            kids,
            [new.signing_key().kid(), old_issuer.signing_key().kid()]
        );
        let verifier = verifier_for(&new);
        // What the previous key signed still verifies; new tokens name the new key.
        assert!(verifier.verify_at(&old_token.token, at(NOW)).is_ok());
        let fresh = issue_at(&new, NOW);
        let header = jsonwebtoken::decode_header(&fresh.token).expect("header");
        assert_eq!(header.kid.as_deref(), Some(new.signing_key().kid()));
        // Retired (dropped from the list): its tokens stop verifying.
        let retired_verifier = TokenVerifier::from_jwks(
            &Jwks {
                keys: vec![new.signing_key().public_jwk()],
            },
            &config(),
        )
        .expect("usable");
        assert_eq!(
            retired_verifier.verify_at(&old_token.token, at(NOW)),
            Err(TokenError::UnknownKey)
        );
    }

    #[test]
    fn the_session_id_round_trips_as_sid() {
        let issuer = issuer();
        let issued = issuer
            .issue_in_session(&request(), Some("family-1"), at(NOW))
            .expect("issuing works");
        assert_eq!(issued.claims.sid.as_deref(), Some("family-1"));
        let token = verifier_for(&issuer)
            .verify_at(&issued.token, at(NOW))
            .expect("verifies");
        assert_eq!(token.session_id.as_deref(), Some("family-1"));
        let plain = issue_at(&issuer, NOW);
        assert!(!plain.token.is_empty());
        assert_eq!(
            verifier_for(&issuer)
                .verify_at(&plain.token, at(NOW))
                .expect("verifies")
                .session_id,
            None
        );
    }

    #[test]
    fn malformed_tokens_rejected() {
        let issuer = issuer();
        let verifier = verifier_for(&issuer);
        for token in ["", "abc", "a.b", "a.b.c.d", &"x".repeat(5000)] {
            assert!(
                matches!(
                    verifier.verify_at(token, at(NOW)),
                    Err(TokenError::Malformed(_))
                ),
                "{token:.20}"
            );
        }
        // A validly signed token whose sub is not a user ID.
        let key = issuer.signing_key();
        let token = forge(
            &header(Algorithm::EdDSA, "at+jwt", key.kid()),
            &AccessTokenClaims {
                sub: "alice".to_owned(),
                ..claims()
            },
            key.encoding_key(),
        );
        assert!(matches!(
            verifier.verify_at(&token, at(NOW)),
            Err(TokenError::Malformed(_))
        ));
    }

    #[test]
    fn verifier_built_from_the_signing_key_accepts_its_tokens() {
        let issuer = issuer();
        let verifier = TokenVerifier::new(VerifyingKeys::from(issuer.signing_key()), &config());
        let issued = issue_at(&issuer, NOW);
        assert!(verifier.verify_at(&issued.token, at(NOW)).is_ok());
    }

    #[test]
    fn invalid_scope_or_missing_client_id_is_not_issued() {
        let issuer = issuer();
        for scope in ["", "two words", "quote\"", "back\\slash"] {
            let request = NewAccessToken {
                scopes: vec![scope.to_owned()],
                ..request()
            };
            assert!(matches!(
                issuer.issue(&request, at(NOW)),
                Err(IssueError::InvalidScope(_))
            ));
        }
        let request = NewAccessToken {
            client_id: String::new(),
            ..request()
        };
        assert!(matches!(
            issuer.issue(&request, at(NOW)),
            Err(IssueError::MissingClientId)
        ));
    }
}

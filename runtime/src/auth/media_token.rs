//! Media tokens: short-lived EdDSA JWTs (`typ: media+jwt`) that let one user connect
//! to one voice channel's media server (the SFU).
//!
//! The write side mints one after checking the user may connect (CONNECT, the
//! channel's user limit); the SFU, which has no read models of its own, trusts the
//! token instead of asking again. So a token names exactly one user and one channel
//! (with the channel's guild, the aggregate the SFU sends the voice state's
//! correction to when the connection drops), lives for a minute or two, and can
//! never pass for an access token (or an access token for it): the `typ` header
//! differs and each verifier pins its own.
//!
//! Issued by [`TokenIssuer::issue_media_token`], signed with the same key as access tokens and checked against the same JWKS, so a
//! service that verifies access tokens can verify these with nothing new to configure.

use std::time::{Duration, SystemTime};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cloudcord_schemas::ids::{ChannelId, GuildId, UserId};
use jsonwebtoken::{Algorithm, Header};
use serde::{Deserialize, Serialize};

use super::AuthConfig;
use super::jwt::{IssueError, SignedTokenCheck, TokenError, TokenIssuer, unix_seconds};
use super::keys::VerifyingKeys;

/// The JWT `typ` header of a media token.
pub const MEDIA_TOKEN_TYPE: &str = "media+jwt";

/// How long a media token is valid: long enough to finish an offer/answer exchange
/// after the write side said yes, short enough that a leaked token is soon useless.
pub const MEDIA_TOKEN_TTL: Duration = Duration::from_secs(120);

/// What a media token grants: `user` may connect to the media of voice `channel`,
/// and be heard there or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaGrant {
    /// Who may connect.
    pub user_id: UserId,
    /// The guild of the channel: the aggregate of the user's voice state.
    pub guild_id: GuildId,
    /// To which voice channel.
    pub channel_id: ChannelId,
    /// Whether the SFU forwards the user's audio: false when the write side decided
    /// the user is suppressed (no SPEAK) or server-muted.
    pub may_speak: bool,
    /// Whether the SFU forwards the user's screen share (a second video track):
    /// false without STREAM in the channel.
    pub may_stream: bool,
}

/// The claims of a media token as they appear in the JWT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct MediaTokenClaims {
    iss: String,
    aud: String,
    sub: String,
    /// CloudCord's own claim: the channel's guild, as a decimal snowflake.
    guild_id: String,
    /// CloudCord's own claim: the voice channel, as a decimal snowflake.
    channel_id: String,
    /// CloudCord's own claim: [`MediaGrant::may_speak`].
    speak: bool,
    /// CloudCord's own claim: [`MediaGrant::may_stream`].
    stream: bool,
    exp: u64,
    nbf: u64,
    iat: u64,
    jti: String,
}

impl TokenIssuer {
    /// Signs a media token for `grant`, valid from `now` for [`MEDIA_TOKEN_TTL`], with
    /// the issuer's signing key, `iss` and `aud`. Only after the write side has
    /// decided that the user may connect to the channel.
    pub fn issue_media_token(
        &self,
        grant: MediaGrant,
        now: SystemTime,
    ) -> Result<String, IssueError> {
        let mut jti = [0u8; 16];
        aws_lc_rs::rand::fill(&mut jti).map_err(|_| IssueError::Random)?;
        let issued_at = unix_seconds(now);
        let claims = MediaTokenClaims {
            iss: self.issuer().to_owned(),
            aud: self.audience().to_owned(),
            sub: grant.user_id.to_string(),
            guild_id: grant.guild_id.to_string(),
            channel_id: grant.channel_id.to_string(),
            speak: grant.may_speak,
            stream: grant.may_stream,
            exp: issued_at.saturating_add(MEDIA_TOKEN_TTL.as_secs()),
            nbf: issued_at,
            iat: issued_at,
            jti: URL_SAFE_NO_PAD.encode(jti),
        };
        let key = self.signing_key();
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some(MEDIA_TOKEN_TYPE.to_owned());
        header.kid = Some(key.kid().to_owned());
        jsonwebtoken::encode(&header, &claims, key.encoding_key()).map_err(IssueError::Signing)
    }
}

/// Checks media tokens with public keys only (the SFU holds one).
#[derive(Debug, Clone)]
pub struct MediaTokenVerifier {
    keys: VerifyingKeys,
    check: SignedTokenCheck,
}

impl MediaTokenVerifier {
    /// A verifier trusting `keys`, expecting `iss`, `aud` and the leeway of `config`.
    pub fn new(keys: VerifyingKeys, config: &AuthConfig) -> Self {
        Self {
            keys,
            check: SignedTokenCheck::new(config),
        }
    }

    /// Checks `token` as of `now`: header first (EdDSA, `media+jwt`, a known `kid`),
    /// then the signature, then the claims.
    pub fn verify_at(&self, token: &str, now: SystemTime) -> Result<MediaGrant, TokenError> {
        let claims: MediaTokenClaims = self.check.claims(
            token,
            &self.keys,
            |typ| typ == MEDIA_TOKEN_TYPE,
            |c: &MediaTokenClaims| (c.nbf, c.exp),
            now,
        )?;
        let user_id = claims
            .sub
            .parse::<UserId>()
            .map_err(|_| TokenError::Malformed("sub is not a user ID".to_owned()))?;
        let guild_id = claims
            .guild_id
            .parse::<GuildId>()
            .map_err(|_| TokenError::Malformed("guild_id is not a guild ID".to_owned()))?;
        let channel_id = claims
            .channel_id
            .parse::<ChannelId>()
            .map_err(|_| TokenError::Malformed("channel_id is not a channel ID".to_owned()))?;
        Ok(MediaGrant {
            user_id,
            guild_id,
            channel_id,
            may_speak: claims.speak,
            may_stream: claims.stream,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use cloudcord_schemas::ids::{ChannelId, GuildId, UserId};

    use super::{MEDIA_TOKEN_TTL, MediaGrant, MediaTokenVerifier};
    use crate::auth::{
        AuthConfig, NewAccessToken, SigningKey, TokenError, TokenIssuer, TokenKind, TokenVerifier,
        VerifyingKeys,
    };

    const NOW: u64 = 1_790_000_000;

    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds)
    }

    fn grant() -> MediaGrant {
        MediaGrant {
            user_id: UserId::new(80_351_110_224_678_912),
            guild_id: GuildId::new(80_351_110_224_678_900),
            channel_id: ChannelId::new(80_351_110_224_678_999),
            may_speak: true,
            may_stream: true,
        }
    }

    fn setup() -> (TokenIssuer, MediaTokenVerifier) {
        let key = SigningKey::generate().expect("key generation works");
        let verifier = MediaTokenVerifier::new(VerifyingKeys::from(&key), &AuthConfig::default());
        (TokenIssuer::new(key, &AuthConfig::default()), verifier)
    }

    #[test]
    fn media_token_round_trip_names_user_and_channel() {
        let (issuer, verifier) = setup();
        let token = issuer.issue_media_token(grant(), at(NOW)).expect("mints");
        assert_eq!(verifier.verify_at(&token, at(NOW + 1)), Ok(grant()));
    }

    #[test]
    fn a_muted_grant_stays_muted() {
        let (issuer, verifier) = setup();
        let muted = MediaGrant {
            may_speak: false,
            ..grant()
        };
        let token = issuer.issue_media_token(muted, at(NOW)).expect("mints");
        assert_eq!(verifier.verify_at(&token, at(NOW)), Ok(muted));
    }

    #[test]
    fn a_grant_without_stream_stays_without_it() {
        let (issuer, verifier) = setup();
        let no_stream = MediaGrant {
            may_stream: false,
            ..grant()
        };
        let token = issuer.issue_media_token(no_stream, at(NOW)).expect("mints");
        assert_eq!(verifier.verify_at(&token, at(NOW)), Ok(no_stream));
    }

    #[test]
    fn media_token_expires_after_its_ttl_and_leeway() {
        let (issuer, verifier) = setup();
        let token = issuer.issue_media_token(grant(), at(NOW)).expect("mints");
        let leeway = AuthConfig::default().leeway_secs;
        let expired = at(NOW + MEDIA_TOKEN_TTL.as_secs() + leeway);
        assert_eq!(
            verifier.verify_at(&token, expired),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn access_token_is_not_a_media_token_and_back() {
        let (issuer, verifier) = setup();
        let config = AuthConfig::default();
        let access = issuer
            .issue(
                &NewAccessToken {
                    user_id: grant().user_id,
                    client_id: "cloudcord-web".to_owned(),
                    scopes: vec!["identify".to_owned()],
                    kind: TokenKind::Session,
                },
                at(NOW),
            )
            .expect("issues");
        assert_eq!(
            verifier.verify_at(&access.token, at(NOW)),
            Err(TokenError::WrongType)
        );
        let media = issuer.issue_media_token(grant(), at(NOW)).expect("mints");
        let access_verifier =
            TokenVerifier::from_jwks(&issuer.jwks(), &config).expect("JWKS is usable");
        assert_eq!(
            access_verifier.verify_at(&media, at(NOW)),
            Err(TokenError::WrongType)
        );
    }

    #[test]
    fn media_token_from_an_unknown_key_is_refused() {
        let (_, verifier) = setup();
        let other = TokenIssuer::new(
            SigningKey::generate().expect("key generation works"),
            &AuthConfig::default(),
        );
        let token = other.issue_media_token(grant(), at(NOW)).expect("mints");
        assert_eq!(
            verifier.verify_at(&token, at(NOW)),
            Err(TokenError::UnknownKey)
        );
    }
}

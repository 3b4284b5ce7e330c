//! Discord-shaped bot tokens that verify themselves.
//!
//! ```text
//! MTk4NjIyNDgzNDcxOTI1MjQ4 . AAAAAAAAAAE . <86 chars>
//! └─ base64(user ID) ────┘   └token ID─┘   └ Ed25519 signature, base64url
//! ```
//!
//! 1. The bot user's ID as a decimal string, standard base64 without padding, exactly
//!    as Discord's tokens begin: libraries such as discord.js decode it to learn the
//!    bot's user ID. (Base64 of ASCII digits never contains `+` or `/`, so the segment
//!    is URL-safe too.)
//! 2. The token ID, a `u64` as 8 big-endian bytes in base64url: it names this token so
//!    that a reset can retire it.
//! 3. An Ed25519 signature by the [`SigningKey`] over the first two segments, base64url.
//!
//! Any service verifies a bot token with the public keys alone ([`VerifyingKeys`]);
//! nothing secret is stored per bot. Ed25519 is deterministic, so minting the same
//! user ID and token ID with the same key gives the same token.
//!
//! **Revocation is the caller's job.** [`verify`] proves that CloudCord minted the
//! token, not that it is still current: the caller must compare
//! [`BotTokenClaims::token_id`] with the bot's current token ID (and that the user is
//! still a bot) and reject a mismatch, which is how a token reset invalidates old
//! tokens. Dropping a key from the JWKS invalidates every bot token it signed.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use cloudcord_schemas::ids::UserId;
use serde::{Deserialize, Serialize};

use super::keys::{SigningKey, VerifyingKeys};

/// Prefixed to what is signed, so a bot-token signature can never be mistaken for the
/// signature of anything else the same key signs (a JWT's signing input is base64url
/// text and never contains this NUL byte).
const SIGNATURE_CONTEXT: &[u8] = b"cloudcord bot token v1\0";

/// Longest token [`verify`] will look at; real ones are about 120 characters.
const MAX_TOKEN_LEN: usize = 256;

/// Length of an Ed25519 signature.
const SIGNATURE_LEN: usize = 64;

/// Identifies one bot token of a bot, so that a reset can retire the old one.
///
/// A snowflake from the ID generator works well: unique and increasing. It is not a
/// secret (it is readable in the token); the signature is what cannot be forged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BotTokenId(pub u64);

/// What a verified bot token says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BotTokenClaims {
    /// The bot's user ID.
    pub user_id: UserId,
    /// Which token of the bot this is; compare it with the bot's current one.
    pub token_id: BotTokenId,
}

/// Why a bot token was rejected. Both mean `401 Unauthorized` to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BotTokenError {
    /// Not three well-formed segments.
    #[error("malformed bot token: {0}")]
    Malformed(&'static str),
    /// No trusted key made the signature: tampered, or signed by an unknown key.
    #[error("bot token signature is invalid")]
    BadSignature,
}

/// Mints the bot token for `user_id` and `token_id`, signed by `key`.
pub fn mint(user_id: UserId, token_id: BotTokenId, key: &SigningKey) -> String {
    let user_segment = STANDARD_NO_PAD.encode(user_id.to_string());
    let token_segment = URL_SAFE_NO_PAD.encode(token_id.0.to_be_bytes());
    let signature = key.sign(&signing_input(&user_segment, &token_segment));
    let signature_segment = URL_SAFE_NO_PAD.encode(signature.as_ref());
    format!("{user_segment}.{token_segment}.{signature_segment}")
}

/// Checks that `token` was minted with one of `keys` and returns what it says.
///
/// Pass the token without its `Bot ` prefix. A service holding a
/// [`TokenVerifier`](super::TokenVerifier) passes its
/// [`keys()`](super::TokenVerifier::keys). See the module docs: the caller must still
/// compare the token ID with the bot's current one.
pub fn verify(token: &str, keys: &VerifyingKeys) -> Result<BotTokenClaims, BotTokenError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(BotTokenError::Malformed("token is too long"));
    }
    let mut segments = token.split('.');
    let (Some(user_segment), Some(token_segment), Some(signature_segment), None) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return Err(BotTokenError::Malformed("expected three segments"));
    };

    let signature = URL_SAFE_NO_PAD
        .decode(signature_segment)
        .map_err(|_| BotTokenError::Malformed("signature is not base64url"))?;
    if signature.len() != SIGNATURE_LEN {
        return Err(BotTokenError::Malformed("signature has the wrong length"));
    }
    if !keys.verify_any(&signing_input(user_segment, token_segment), &signature) {
        return Err(BotTokenError::BadSignature);
    }

    // Only our own mint gets here, but parse strictly anyway: one token, one meaning.
    let user_text = STANDARD_NO_PAD
        .decode(user_segment)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or(BotTokenError::Malformed("first segment is not base64 text"))?;
    let user_id = user_text
        .parse::<UserId>()
        .ok()
        .filter(|id| id.to_string() == user_text)
        .ok_or(BotTokenError::Malformed("first segment is not a user ID"))?;
    let token_id: [u8; 8] = URL_SAFE_NO_PAD
        .decode(token_segment)
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or(BotTokenError::Malformed("second segment is not a token ID"))?;
    Ok(BotTokenClaims {
        user_id,
        token_id: BotTokenId(u64::from_be_bytes(token_id)),
    })
}

/// The bytes the signature covers: the context, then `user.token` as in the token.
fn signing_input(user_segment: &str, token_segment: &str) -> Vec<u8> {
    let mut input =
        Vec::with_capacity(SIGNATURE_CONTEXT.len() + user_segment.len() + 1 + token_segment.len());
    input.extend_from_slice(SIGNATURE_CONTEXT);
    input.extend_from_slice(user_segment.as_bytes());
    input.push(b'.');
    input.extend_from_slice(token_segment.as_bytes());
    input
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use cloudcord_schemas::ids::UserId;

    use super::{BotTokenClaims, BotTokenError, BotTokenId, mint, verify};
    use crate::auth::{Jwks, SigningKey, VerifyingKeys};

    /// The user ID in the bot token example of Discord's documentation.
    const BOT: UserId = UserId::new(198_622_483_471_925_248);

    fn key() -> SigningKey {
        SigningKey::generate().expect("key generation works")
    }

    fn keys_of(key: &SigningKey) -> VerifyingKeys {
        VerifyingKeys::from_jwks(&key.jwks()).expect("JWKS is usable")
    }

    #[test]
    fn bot_token_round_trip() {
        let key = key();
        let token = mint(BOT, BotTokenId(42), &key);
        assert_eq!(
            verify(&token, &keys_of(&key)),
            Ok(BotTokenClaims {
                user_id: BOT,
                token_id: BotTokenId(42),
            })
        );
        // Extremes of both fields survive too.
        for (user, id) in [(UserId::new(0), 0), (UserId::new(u64::MAX), u64::MAX)] {
            let token = mint(user, BotTokenId(id), &key);
            let claims = verify(&token, &keys_of(&key)).expect("verifies");
            assert_eq!((claims.user_id, claims.token_id), (user, BotTokenId(id)));
        }
    }

    #[test]
    fn bot_token_first_segment_decodes_to_the_user_id() {
        let token = mint(BOT, BotTokenId(1), &key());
        let first = token.split('.').next().expect("has segments");
        // The same first segment as Discord's documented example token
        // `MTk4NjIyNDgzNDcxOTI1MjQ4.Cl2FMQ.ZnCjm1XVW7vRze4b7Cq4se7kKWs`.
        assert_eq!(first, "MTk4NjIyNDgzNDcxOTI1MjQ4");
        // discord.js decodes it as standard base64 (padding optional).
        let decoded = STANDARD
            .decode(format!("{first}{}", "=".repeat((4 - first.len() % 4) % 4)))
            .expect("standard base64");
        assert_eq!(decoded, b"198622483471925248");
    }

    #[test]
    fn tampered_bot_token_rejected() {
        let key = key();
        let keys = keys_of(&key);
        let token = mint(BOT, BotTokenId(7), &key);
        let segments: Vec<&str> = token.split('.').collect();

        // Another user's ID with this token's signature.
        let other_user = STANDARD.encode("80351110224678912");
        let other_user = other_user.trim_end_matches('=');
        let swapped_user = format!("{other_user}.{}.{}", segments[1], segments[2]);
        assert_eq!(
            verify(&swapped_user, &keys),
            Err(BotTokenError::BadSignature)
        );

        // An older token ID with this token's signature.
        let old_id = URL_SAFE_NO_PAD.encode(6u64.to_be_bytes());
        let swapped_id = format!("{}.{old_id}.{}", segments[0], segments[2]);
        assert_eq!(verify(&swapped_id, &keys), Err(BotTokenError::BadSignature));

        // One flipped bit in the signature.
        let mut signature = URL_SAFE_NO_PAD.decode(segments[2]).expect("base64url");
        signature[0] ^= 1;
        let flipped = format!(
            "{}.{}.{}",
            segments[0],
            segments[1],
            URL_SAFE_NO_PAD.encode(signature)
        );
        assert_eq!(verify(&flipped, &keys), Err(BotTokenError::BadSignature));
    }

    #[test]
    fn bot_token_signed_by_an_unknown_key_rejected() {
        let trusted = key();
        let token = mint(BOT, BotTokenId(1), &key());
        assert_eq!(
            verify(&token, &keys_of(&trusted)),
            Err(BotTokenError::BadSignature)
        );
    }

    #[test]
    fn bot_token_verifies_with_any_key_of_the_set() {
        let old = key();
        let new = key();
        let jwks: Jwks = [new.public_jwk(), old.public_jwk()].into_iter().collect();
        let keys = VerifyingKeys::from_jwks(&jwks).expect("usable");
        assert!(verify(&mint(BOT, BotTokenId(1), &old), &keys).is_ok());
        assert!(verify(&mint(BOT, BotTokenId(2), &new), &keys).is_ok());
    }

    #[test]
    fn malformed_bot_tokens_rejected() {
        let key = key();
        let keys = keys_of(&key);
        let token = mint(BOT, BotTokenId(1), &key);
        for bad in [
            String::new(),
            "abc".to_owned(),
            "a.b".to_owned(),
            format!("{token}.extra"),
            format!("{token}="),
            "x".repeat(300),
        ] {
            assert!(
                matches!(verify(&bad, &keys), Err(BotTokenError::Malformed(_))),
                "{bad:.40}"
            );
        }
    }
}

//! Who a token in Identify or Resume names.
//!
//! Identify carries the raw token: a user's access token (an RFC 9068 JWT) or a bot
//! token, which Discord's libraries send without the `Bot ` prefix (a prefix, and
//! `Bearer `, are tolerated). Both verify with the public keys alone; a bot token's
//! user must also be a bot in the read models. As in query-api, a bot's token
//! generation is not projected, so a reset token keeps working here until it is.

use cloudcord_runtime::auth::{TokenVerifier, bot_token};

use crate::protocol::session::Identity;
use crate::read_models::{ReadModels, UserRow};

/// Why a token was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Not a valid token of a known user (4004).
    #[error("the token is not valid")]
    Refused,
    /// The read models could not be asked (4000: try again).
    #[error("cannot read the accounts")]
    ReadModels(#[from] sqlx::Error),
}

/// Verifies `token` and returns the identity and user row it names.
pub async fn authenticate(
    token: &str,
    verifier: &TokenVerifier,
    read_models: &ReadModels,
) -> Result<(Identity, UserRow), AuthError> {
    let token = token.trim();
    let (bare, scheme) = match token.split_once(' ') {
        Some((scheme, rest)) => (rest.trim(), Some(scheme)),
        None => (token, None),
    };
    let bearer = scheme.is_none_or(|scheme| scheme.eq_ignore_ascii_case("bearer"));
    let bot_scheme = scheme.is_none_or(|scheme| scheme.eq_ignore_ascii_case("bot"));

    let identity = match verifier.verify(bare) {
        Ok(access) if bearer => Identity {
            user_id: access.user_id,
            bot: false,
        },
        _ if bot_scheme => match bot_token::verify(bare, verifier.keys()) {
            Ok(claims) => Identity {
                user_id: claims.user_id,
                bot: true,
            },
            Err(error) => {
                tracing::debug!(%error, "gateway token refused");
                return Err(AuthError::Refused);
            }
        },
        _ => return Err(AuthError::Refused),
    };
    let user = read_models
        .user(identity.user_id)
        .await?
        .filter(|user| user.bot == identity.bot)
        .ok_or(AuthError::Refused)?;
    Ok((identity, user))
}

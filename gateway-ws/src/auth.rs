//! Who a token in Identify or Resume names.
//!
//! Identify carries the raw token: a user's access token (an RFC 9068 JWT) or a bot
//! token, which Discord's libraries send without the `Bot ` prefix (a prefix, and
//! `Bearer `, are tolerated). Both verify with the public keys alone; a bot token's
//! user must also be a bot in the read models, and the token its current generation
//! there (a token its owner reset is refused once the reset is projected).

use cloudcord_runtime::auth::{Credential, TokenVerifier};
use cloudcord_runtime::telemetry::ErrorChain;

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
    let credential = verifier.authenticate_identify(token).map_err(|error| {
        tracing::debug!(error = %ErrorChain(&error), "gateway token refused");
        AuthError::Refused
    })?;
    let identity = Identity {
        user_id: credential.user_id(),
        bot: credential.is_bot(),
    };
    if let Credential::Bot(claims) = &credential {
        // Only the read models know whether the token is still the bot's current
        // generation (a reset voids older ones).
        let current = read_models.bot_token_id(identity.user_id).await?;
        if current != i64::try_from(claims.token_id.0).ok() {
            return Err(AuthError::Refused);
        }
    }
    let user = read_models
        .user(identity.user_id)
        .await?
        .filter(|user| user.bot == identity.bot)
        .ok_or(AuthError::Refused)?;
    Ok((identity, user))
}

//! [`Credential`]: who an `Authorization` header or a gateway Identify token names,
//! as far as signatures can tell.
//!
//! Three forms are accepted, as Discord's clients send them:
//! `Bearer <access token>`, `Bot <bot token>`, and a bare token. Over HTTP a bare
//! token is a user's access token (Discord's own clients send it so; a bot must say
//! `Bot`); in a gateway Identify it may also be a bot token (bot libraries send it
//! without `Bot `). The two kinds cannot be mistaken for each other.
//!
//! What signatures cannot tell stays with the caller: whether the user exists, and
//! whether a bot token is the bot's current generation.
//!
//! Only first-party access tokens (`cloudcord_kind: session`) are credentials here:
//! a token a third-party application obtained through OAuth2 carries only the scopes
//! the user consented to (`identify`, `email`, …), so it must not act with the user's
//! full rights on every route. Such a token is refused
//! ([`CredentialError::Delegated`]); the few routes its scopes open take it through
//! [`TokenVerifier::authenticate_grant`] (or [`TokenVerifier::verify`]) and check the
//! scope.

use cloudcord_schemas::ids::UserId;

use super::{
    AccessToken, BotTokenClaims, BotTokenError, TokenError, TokenKind, TokenVerifier, bot_token,
};

/// A verified credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A user's access token.
    User(AccessToken),
    /// A bot token.
    Bot(BotTokenClaims),
}

/// Why a credential was refused: for logs only (clients get `401` or close 4004).
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// Not a valid access token.
    #[error("access token refused")]
    Token(#[from] TokenError),
    /// Not a valid bot token.
    #[error("bot token refused")]
    Bot(#[from] BotTokenError),
    /// A valid OAuth2 access token of a third-party application, whose scopes do not
    /// extend to acting as the user.
    #[error("an OAuth2 access token cannot act with the user's full rights")]
    Delegated,
    /// A scheme other than `Bearer` or `Bot`.
    #[error("unknown authorization scheme {0:?}")]
    Scheme(String),
}

impl Credential {
    /// The user the credential names.
    pub fn user_id(&self) -> UserId {
        match self {
            Self::User(access) => access.user_id,
            Self::Bot(claims) => claims.user_id,
        }
    }

    /// Whether it is a bot's.
    pub fn is_bot(&self) -> bool {
        matches!(self, Self::Bot(_))
    }
}

/// What a request may do: everything its user may, or only what an OAuth2 grant's
/// scopes allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    /// A first-party session or a bot: the user's full rights.
    Full(Credential),
    /// A third-party application's OAuth2 access token: its scopes only.
    Scoped(AccessToken),
}

impl TokenVerifier {
    /// Verifies an HTTP `Authorization` header value like [`Self::authenticate`], and
    /// also takes a third-party application's OAuth2 access token, as a
    /// [`Grant::Scoped`] that the route must hold to its scopes.
    pub fn authenticate_grant(&self, authorization: &str) -> Result<Grant, CredentialError> {
        match self.authenticate(authorization) {
            Ok(credential) => Ok(Grant::Full(credential)),
            Err(CredentialError::Delegated) => {
                let token = authorization.trim();
                let token = token
                    .split_once(' ')
                    .map_or(token, |(_, token)| token.trim());
                Ok(Grant::Scoped(self.verify(token)?))
            }
            Err(other) => Err(other),
        }
    }

    /// Verifies an HTTP `Authorization` header value (a bare token is a user's).
    pub fn authenticate(&self, authorization: &str) -> Result<Credential, CredentialError> {
        self.credential(authorization, false)
    }

    /// Verifies a gateway Identify or Resume token (a bare token may be a bot's).
    pub fn authenticate_identify(&self, token: &str) -> Result<Credential, CredentialError> {
        self.credential(token, true)
    }

    fn credential(
        &self,
        authorization: &str,
        bare_bot: bool,
    ) -> Result<Credential, CredentialError> {
        let authorization = authorization.trim();
        let first_party = |access: AccessToken| match access.kind {
            TokenKind::Session => Ok(Credential::User(access)),
            TokenKind::OAuth2 => Err(CredentialError::Delegated),
        };
        match authorization.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
                first_party(self.verify(token.trim())?)
            }
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bot") => Ok(Credential::Bot(
                bot_token::verify(token.trim(), self.keys())?,
            )),
            Some((scheme, _)) => Err(CredentialError::Scheme(scheme.to_owned())),
            None => match self.verify(authorization) {
                Ok(access) => first_party(access),
                Err(token_error) if !bare_bot => Err(token_error.into()),
                Err(token_error) => bot_token::verify(authorization, self.keys())
                    .map(Credential::Bot)
                    // A bare token that is neither: report it as the access token it
                    // most likely was meant to be.
                    .map_err(|_| CredentialError::Token(token_error)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use cloudcord_schemas::ids::UserId;

    use super::{Credential, CredentialError, Grant};
    use crate::auth::{
        AuthConfig, BotTokenId, NewAccessToken, SigningKey, TokenIssuer, TokenKind, TokenVerifier,
        bot_token,
    };

    const USER: UserId = UserId::new(80_351_110_224_678_912);

    fn setup() -> (TokenVerifier, String, String) {
        let config = AuthConfig::default();
        let issuer = TokenIssuer::new(SigningKey::generate().expect("key"), &config);
        let verifier = TokenVerifier::from_jwks(&issuer.jwks(), &config).expect("jwks");
        let access = issuer
            .issue(
                &NewAccessToken {
                    user_id: USER,
                    client_id: "cloudcord-web".to_owned(),
                    scopes: vec!["identify".to_owned()],
                    kind: TokenKind::Session,
                },
                SystemTime::now(),
            )
            .expect("issued")
            .token;
        let bot = bot_token::mint(USER, BotTokenId(7), issuer.signing_key());
        (verifier, access, bot)
    }

    #[test]
    fn each_scheme_accepts_only_its_own_token_kind() {
        let (verifier, access, bot) = setup();
        assert!(matches!(
            verifier.authenticate(&format!("Bearer {access}")),
            Ok(Credential::User(token)) if token.user_id == USER
        ));
        assert!(matches!(
            verifier.authenticate(&format!("bot {bot}")),
            Ok(Credential::Bot(claims)) if claims.user_id == USER
        ));
        assert!(matches!(
            verifier.authenticate(&format!("Bearer {bot}")),
            Err(CredentialError::Token(_))
        ));
        assert!(matches!(
            verifier.authenticate(&format!("Bot {access}")),
            Err(CredentialError::Bot(_))
        ));
        assert!(matches!(
            verifier.authenticate(&format!("Basic {access}")),
            Err(CredentialError::Scheme(_))
        ));
    }

    #[test]
    fn a_third_party_oauth2_token_is_not_a_credential() {
        let config = AuthConfig::default();
        let issuer = TokenIssuer::new(SigningKey::generate().expect("key"), &config);
        let verifier = TokenVerifier::from_jwks(&issuer.jwks(), &config).expect("jwks");
        let delegated = issuer
            .issue(
                &NewAccessToken {
                    user_id: USER,
                    client_id: "some-app".to_owned(),
                    scopes: vec!["identify".to_owned()],
                    kind: TokenKind::OAuth2,
                },
                SystemTime::now(),
            )
            .expect("issued")
            .token;
        for presented in [format!("Bearer {delegated}"), delegated.clone()] {
            assert!(matches!(
                verifier.authenticate(&presented),
                Err(CredentialError::Delegated)
            ));
        }
        assert!(matches!(
            verifier.authenticate_identify(&delegated),
            Err(CredentialError::Delegated)
        ));
        // It is still a valid token for the routes its scopes open.
        assert!(verifier.verify(&delegated).is_ok());
        for presented in [format!("Bearer {delegated}"), delegated.clone()] {
            assert!(matches!(
                verifier.authenticate_grant(&presented),
                Ok(Grant::Scoped(access)) if access.has_scope("identify") && !access.has_scope("guilds")
            ));
        }
    }

    #[test]
    fn a_bare_token_is_a_users_over_http_and_either_kind_in_identify() {
        let (verifier, access, bot) = setup();
        assert!(verifier.authenticate(&access).is_ok_and(|c| !c.is_bot()));
        assert!(verifier.authenticate(&bot).is_err(), "a bot must say Bot");
        assert!(
            verifier
                .authenticate_identify(&access)
                .is_ok_and(|c| !c.is_bot())
        );
        assert!(
            verifier
                .authenticate_identify(&bot)
                .is_ok_and(|c| c.is_bot())
        );
        assert!(matches!(
            verifier.authenticate_identify("not-a-token"),
            Err(CredentialError::Token(_))
        ));
    }
}

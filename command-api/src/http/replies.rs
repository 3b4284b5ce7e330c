//! The bodies of CloudCord's own routes — accounts, sessions, two-factor
//! authentication — which Discord's OpenAPI document does not describe. They are
//! typed, so the OpenAPI document describes them from the code that sends them.

use std::borrow::Cow;

use cloudcord_runtime::described_by_schemars;
use cloudcord_runtime::openapi::discord;
use cloudcord_schemas::ids::UserId;
use cloudcord_schemas::user::{UserGuildSettingsObject, UserSettings};
use schemars::JsonSchema;
use serde::Serialize;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{AllOfBuilder, ObjectBuilder, Schema, Type};

/// A new session's tokens (register, disabling two-factor authentication).
#[derive(Debug, Serialize, JsonSchema)]
pub struct SessionTokens {
    /// The access token (`Authorization: Bearer …`).
    pub token: String,
    /// Renews the session at `POST /oauth2/token` (`grant_type=refresh_token`).
    pub refresh_token: String,
}

/// A signed-in user's session.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SignedIn {
    /// Who signed in.
    pub user_id: UserId,
    /// The access token.
    pub token: String,
    /// The refresh token.
    pub refresh_token: String,
}

/// A password login that needs the second factor: complete it at
/// `POST /auth/mfa/totp` with the ticket.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SecondFactorNeeded {
    /// Who is signing in.
    pub user_id: UserId,
    /// No token yet (Discord's shape).
    pub token: Option<String>,
    /// Always true.
    pub mfa: bool,
    /// A TOTP code completes the login.
    pub totp: bool,
    /// SMS codes are not offered.
    pub sms: bool,
    /// A recovery code completes the login too.
    pub backup: bool,
    /// The short-lived login ticket.
    pub ticket: String,
}

/// `POST /auth/login`'s answer.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum LoginAnswer {
    /// Signed in.
    SignedIn(SignedIn),
    /// The second factor is needed.
    SecondFactorNeeded(SecondFactorNeeded),
}

/// A bot's new token.
#[derive(Debug, Serialize, JsonSchema)]
pub struct BotToken {
    /// `Authorization: Bot <token>`.
    pub token: String,
}

/// The caller's live sessions.
#[derive(Debug, Serialize, JsonSchema)]
pub struct UserSessions {
    /// Newest first.
    pub user_sessions: Vec<UserSession>,
}

/// One live session (a signed-in device or application).
#[derive(Debug, Serialize, JsonSchema)]
pub struct UserSession {
    /// The session's handle: `POST /auth/sessions/logout` ends it.
    pub id_hash: String,
    /// When it was last renewed (RFC 3339).
    pub approx_last_used_time: Option<String>,
    /// When it began (RFC 3339).
    pub created_at: Option<String>,
    /// What signed in.
    pub client_info: ClientInfo,
    /// Whether this is the caller's own session.
    pub current: bool,
}

/// The client of a session.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ClientInfo {
    /// The OAuth2 client (`cloudcord` for CloudCord's own sign-in).
    pub client_id: String,
    /// The `User-Agent` it signed in with.
    pub user_agent: Option<String>,
    /// The scopes granted, space-separated.
    pub scopes: String,
}

/// Two-factor authentication is on: the new session (every other one ended) and the
/// recovery codes, shown once.
#[derive(Debug, Serialize, JsonSchema)]
pub struct MfaEnabled {
    /// The new access token.
    pub token: String,
    /// The new refresh token.
    pub refresh_token: String,
    /// One-time recovery codes.
    pub backup_codes: Vec<BackupCode>,
}

/// A recovery code.
#[derive(Debug, Serialize, JsonSchema)]
pub struct BackupCode {
    /// Whose.
    pub user_id: UserId,
    /// The code.
    pub code: String,
    /// Whether it was used (never, when shown).
    pub consumed: bool,
}

/// A voice channel joined: the media token that admits the caller to its SFU.
#[derive(Debug, Serialize, JsonSchema)]
pub struct VoiceConnection {
    /// The media token (`Authorization: Bearer …` at the SFU), bound to the caller
    /// and the channel.
    pub token: String,
    /// Where to send the SDP offer (WHIP-style, at the same origin).
    pub endpoint: String,
    /// Seconds until the token expires (join again for a new one).
    pub expires_in: u64,
    /// The caller's voice state, as VOICE_STATE_UPDATE carries it.
    pub voice_state: serde_json::Value,
}

described_by_schemars!(
    VoiceConnection,
    SessionTokens,
    SignedIn,
    LoginAnswer,
    BotToken,
    UserSessions,
    MfaEnabled,
);

described_by_schemars!(SettingsResponse = UserSettings);

/// Discord's answer to an ack.
#[derive(Debug, Serialize, JsonSchema)]
pub struct AckToken {
    /// Always null (Discord's clients once batched acks with it).
    pub token: Option<String>,
}

described_by_schemars!(AckToken);
described_by_schemars!(GuildSettingsResponse = UserGuildSettingsObject);

/// A bot authorization's answer: where the web client sends the user next.
#[derive(Debug, Serialize, JsonSchema)]
pub struct BotAdded {
    /// The guild the bot joined, or home when the user declined.
    pub location: String,
}

described_by_schemars!(BotAdded);

/// A new application: Discord's private application object, with its bot's token
/// (shown once).
pub struct NewApplication;

impl utoipa::PartialSchema for NewApplication {
    fn schema() -> RefOr<Schema> {
        let token = ObjectBuilder::new()
            .property("token", ObjectBuilder::new().schema_type(Type::String))
            .required("token");
        AllOfBuilder::new()
            .item(discord("PrivateApplicationResponse"))
            .item(token)
            .into()
    }
}

impl utoipa::ToSchema for NewApplication {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("NewApplication")
    }
}

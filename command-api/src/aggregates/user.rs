//! The user aggregate: one account (profile, settings, bot token generation) and
//! its side of every relationship.
//!
//! Relationships span two users on possibly different shards, so each side decides
//! only about itself and the HTTP layer runs the two steps as a saga; the saga, its
//! compensation and its repair are described in [`cloudcord_schemas::user`]. Every
//! relationship command is idempotent (repeating it changes nothing), which is what
//! makes re-running a half-finished saga safe.
//!
//! The state holds the relationships as one map entry per other user, so it grows
//! with the relationship count only, which is capped (30002), and the notification
//! settings of at most [`MAX_GUILD_SETTINGS`] guilds, and at most
//! [`MAX_PUSH_SUBSCRIPTIONS`] Web Push subscriptions.

use std::collections::BTreeMap;

use cloudcord_schemas::envelope::{Actor, AggregateType, ApiError, Authored};
use cloudcord_schemas::ids::{ApplicationId, GuildId, UserId};
use cloudcord_schemas::user::{
    BotTokenReset, CustomStatus, FieldUpdate, FriendRequestAccepted, FriendRequestReceived,
    FriendRequestSent, FriendshipConfirmed, GuildNotificationSettings, MAX_BLOCKS,
    MAX_CHANNEL_OVERRIDES, MAX_GUILD_SETTINGS, MAX_PUSH_SUBSCRIPTIONS, MAX_RELATIONSHIPS,
    PasswordChanged, PushSubscription, PushSubscriptionAdded, PushSubscriptionRemoved,
    RelationshipRemoved, RelationshipType, UserBlocked, UserCommand, UserEvent,
    UserGuildSettingsChanged, UserGuildSettingsObject, UserProfileUpdated, UserRegistered,
    UserSettings, UserSettingsChanged,
};
use cloudcord_schemas::username_claim::normalize_username;
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Accepted, Decider, Domain, Refusal};

/// Discord's locales (`developers/reference.mdx`), the values `locale` may take.
const LOCALES: [&str; 32] = [
    "id", "da", "de", "en-GB", "en-US", "es-ES", "es-419", "fr", "hr", "it", "lt", "hu", "nl",
    "no", "pl", "pt-BR", "ro", "fi", "sv-SE", "vi", "tr", "cs", "el", "bg", "ru", "uk", "hi", "th",
    "zh-CN", "ja", "zh-TW", "ko",
];

/// Longest display name, in characters.
const MAX_GLOBAL_NAME_CHARS: usize = 32;
/// Longest custom status text, in characters.
const MAX_CUSTOM_STATUS_CHARS: usize = 128;
/// Longest e-mail address (RFC 5321's path limit).
const MAX_EMAIL_CHARS: usize = 254;

/// The account as registered and last modified.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Profile {
    id: UserId,
    username: String,
    global_name: Option<String>,
    avatar: Option<String>,
    email: Option<String>,
    bot: bool,
    application_id: Option<ApplicationId>,
    owner_id: Option<UserId>,
    bot_token_id: Option<u64>,
}

/// What the HTTP caller receives for the command being decided.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Answer {
    /// 201 with the current user (`@me` shape).
    Created,
    /// 200 with the current user.
    CurrentUser,
    /// 200 with the settings.
    Settings,
    /// 200 with the notification settings of a guild.
    GuildSettings(GuildId),
    /// 204 No Content (every relationship route).
    #[default]
    NoContent,
}

/// A user's decision state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// `None` until registered.
    profile: Option<Profile>,
    settings: UserSettings,
    /// This user's side of each relationship, by the other user.
    relationships: BTreeMap<UserId, RelationshipType>,
    /// Notification settings, by guild (absent: the defaults). Defaulted so that
    /// snapshots taken before they existed still restore.
    #[serde(default)]
    guild_settings: BTreeMap<GuildId, GuildNotificationSettings>,
    /// Web Push subscriptions, oldest first (the first goes when a new one needs
    /// room). Defaulted for older snapshots, as above.
    #[serde(default)]
    push_subscriptions: Vec<PushSubscription>,
    /// Set by `handle` for `accepted` (not state: never replayed or snapshotted).
    #[serde(skip)]
    answer: Answer,
}

/// Why a user command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserError {
    /// The account exists already.
    #[error("user already registered")]
    AlreadyRegistered,
    /// No such account.
    #[error("Unknown User")]
    UnknownUser,
    /// The actor may not act for this account.
    #[error("Missing Access")]
    MissingAccess,
    /// A field is invalid (Discord's 50035 with the field's nested `_errors`).
    #[error("invalid {field}: {message}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// Discord's error code for it, e.g. `BASE_TYPE_BAD_LENGTH`.
        code: &'static str,
        /// What is wrong.
        message: &'static str,
    },
    /// The other user blocked this one, or this one blocked the other.
    #[error("Friend request blocked")]
    FriendRequestBlocked,
    /// Bots have no friends.
    #[error("Bots cannot have friends")]
    BotsCannotHaveFriends,
    /// A user cannot befriend or block themself.
    #[error("Cannot send friend request to self")]
    CannotTargetSelf,
    /// There is no pending request to accept, decline or confirm.
    #[error("You do not have an incoming friend request from that user")]
    NoFriendRequest,
    /// Too many friends and pending requests, or too many blocks.
    #[error("Maximum number of friends reached (1000)")]
    TooManyRelationships,
    /// Only bot accounts have tokens to reset.
    #[error("Only bots can use this endpoint")]
    NotABot,
}

fn invalid(field: &'static str, code: &'static str, message: &'static str) -> UserError {
    UserError::Invalid {
        field,
        code,
        message,
    }
}

/// A username as the user aggregate accepts it: already normalized (and claimed).
fn valid_username(username: &str) -> Result<(), UserError> {
    match normalize_username(username) {
        Ok(normalized) if normalized == username => Ok(()),
        Ok(_) => Err(invalid(
            "username",
            "USERNAME_INVALID_CHARACTERS",
            "Please only use numbers, letters, underscores _ , or periods.",
        )),
        Err(why) => Err(invalid("username", why.code(), why.message())),
    }
}

fn valid_global_name(name: &str) -> Result<(), UserError> {
    if (1..=MAX_GLOBAL_NAME_CHARS).contains(&name.trim().chars().count()) {
        Ok(())
    } else {
        Err(invalid(
            "global_name",
            "BASE_TYPE_BAD_LENGTH",
            "Must be between 1 and 32 in length.",
        ))
    }
}

fn valid_email(email: &str) -> Result<(), UserError> {
    let well_formed = email.chars().count() <= MAX_EMAIL_CHARS
        && email
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty())
        && !email.chars().any(char::is_whitespace);
    if well_formed {
        Ok(())
    } else {
        Err(invalid(
            "email",
            "EMAIL_TYPE_INVALID_EMAIL",
            "Not a well formed email address.",
        ))
    }
}

fn valid_avatar(hash: &str) -> Result<(), UserError> {
    let plausible = (1..=64).contains(&hash.len())
        && hash.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if plausible {
        Ok(())
    } else {
        Err(invalid("avatar", "IMAGE_INVALID", "Invalid image data"))
    }
}

fn valid_custom_status(status: &CustomStatus) -> Result<(), UserError> {
    let text_ok = status
        .text
        .as_ref()
        .is_none_or(|text| text.chars().count() <= MAX_CUSTOM_STATUS_CHARS);
    if text_ok {
        Ok(())
    } else {
        Err(invalid(
            "custom_status",
            "BASE_TYPE_MAX_LENGTH",
            "Must be 128 or fewer in length.",
        ))
    }
}

/// Checks that a registration describes either a person or a bot, never a mix.
fn valid_account_kind(registration: &UserRegistered) -> Result<(), UserError> {
    let UserRegistered {
        password_hash,
        bot,
        application_id,
        owner_id,
        bot_token_id,
        email,
        ..
    } = registration;
    if *bot {
        if application_id.is_none() || owner_id.is_none() || bot_token_id.is_none() {
            return Err(invalid(
                "bot",
                "BASE_TYPE_REQUIRED",
                "A bot needs an application, an owner and a token generation.",
            ));
        }
        if password_hash.is_some() || email.is_some() {
            return Err(invalid(
                "bot",
                "BASE_TYPE_INVALID",
                "A bot has no password or e-mail address.",
            ));
        }
    } else {
        if !password_hash
            .as_ref()
            .is_some_and(|hash| hash.starts_with("$argon2id$"))
        {
            return Err(invalid(
                "password",
                "PASSWORD_INVALID",
                "A password hash must be an argon2id PHC string.",
            ));
        }
        if application_id.is_some() || owner_id.is_some() || bot_token_id.is_some() {
            return Err(invalid(
                "bot",
                "BASE_TYPE_INVALID",
                "Only bots have an application, an owner or a token.",
            ));
        }
    }
    Ok(())
}

impl User {
    /// This user's side of the relationship with `other`.
    pub fn relationship(&self, other: UserId) -> Option<RelationshipType> {
        self.relationships.get(&other).copied()
    }

    /// The registered profile, or Unknown User.
    fn profile(&self) -> Result<&Profile, UserError> {
        self.profile.as_ref().ok_or(UserError::UnknownUser)
    }

    /// The profile, if `actor` is this user.
    fn own(&self, actor: Actor) -> Result<&Profile, UserError> {
        let profile = self.profile()?;
        if actor == Actor::User(profile.id) {
            Ok(profile)
        } else {
            Err(UserError::MissingAccess)
        }
    }

    /// The profile, if `actor` is `peer` (the initiator of the saga whose second
    /// step this is) or CloudCord (repairs). A user never records on their own
    /// aggregate what only the peer can decide (a request received, a friendship
    /// confirmed).
    fn for_peer(&self, actor: Actor, peer: UserId) -> Result<&Profile, UserError> {
        let profile = self.profile()?;
        match actor {
            Actor::User(id) if id == peer => Ok(profile),
            Actor::System => Ok(profile),
            Actor::User(_) => Err(UserError::MissingAccess),
        }
    }

    fn pending_and_friends(&self) -> usize {
        self.relationships
            .values()
            .filter(|kind| **kind != RelationshipType::Blocked)
            .count()
    }

    fn blocks(&self) -> usize {
        self.relationships.len() - self.pending_and_friends()
    }

    /// Room for one more friend or pending request.
    fn room_for_one_more(&self) -> Result<(), UserError> {
        if self.pending_and_friends() < MAX_RELATIONSHIPS {
            Ok(())
        } else {
            Err(UserError::TooManyRelationships)
        }
    }

    /// Decides one command into at most one event (`None`: nothing to change).
    fn decide(&mut self, command: Authored<UserCommand>) -> Result<Option<UserEvent>, UserError> {
        let actor = command.actor;
        self.answer = Answer::NoContent;
        let event = match command.command {
            UserCommand::RegisterUser {
                user_id,
                username,
                global_name,
                email,
                password_hash,
                bot,
                application_id,
                owner_id,
                bot_token_id,
            } => {
                self.answer = Answer::Created;
                let registration = UserRegistered {
                    user_id,
                    username,
                    global_name,
                    email,
                    password_hash,
                    bot,
                    application_id,
                    owner_id,
                    bot_token_id,
                };
                self.check_registration(actor, &registration)?;
                Some(UserEvent::UserRegistered(registration))
            }
            UserCommand::ModifyCurrentUser {
                username,
                global_name,
                avatar,
            } => {
                self.answer = Answer::CurrentUser;
                let profile = self.own(actor)?;
                if let Some(username) = &username {
                    valid_username(username)?;
                }
                if let Some(FieldUpdate::Set(name)) = &global_name {
                    valid_global_name(name)?;
                }
                if let Some(FieldUpdate::Set(hash)) = &avatar {
                    valid_avatar(hash)?;
                }
                let updated = UserProfileUpdated {
                    username: username.unwrap_or_else(|| profile.username.clone()),
                    global_name: global_name
                        .map_or_else(|| profile.global_name.clone(), FieldUpdate::into_option),
                    avatar: avatar.map_or_else(|| profile.avatar.clone(), FieldUpdate::into_option),
                };
                let unchanged = updated.username == profile.username
                    && updated.global_name == profile.global_name
                    && updated.avatar == profile.avatar;
                (!unchanged).then_some(UserEvent::UserProfileUpdated(updated))
            }
            UserCommand::ChangeUserSettings {
                locale,
                theme,
                status,
                custom_status,
            } => {
                self.answer = Answer::Settings;
                self.own(actor)?;
                if let Some(locale) = &locale
                    && !LOCALES.contains(&locale.as_str())
                {
                    return Err(invalid(
                        "locale",
                        "BASE_TYPE_CHOICES",
                        "Value must be one of the supported locales.",
                    ));
                }
                if let Some(FieldUpdate::Set(custom)) = &custom_status {
                    valid_custom_status(custom)?;
                }
                let current = &self.settings;
                let settings = UserSettings {
                    locale: locale.unwrap_or_else(|| current.locale.clone()),
                    theme: theme.unwrap_or(current.theme),
                    status: status.unwrap_or(current.status),
                    custom_status: custom_status
                        .map_or_else(|| current.custom_status.clone(), FieldUpdate::into_option),
                };
                (settings != *current).then_some(UserEvent::UserSettingsChanged(
                    UserSettingsChanged { settings },
                ))
            }
            UserCommand::ChangeGuildNotificationSettings {
                guild_id,
                message_notifications,
                muted,
                mute_config,
                suppress_everyone,
                suppress_roles,
                channel_overrides,
            } => {
                self.answer = Answer::GuildSettings(guild_id);
                self.own(actor)?;
                let current = self.guild_settings.get(&guild_id);
                if current.is_none() && self.guild_settings.len() >= MAX_GUILD_SETTINGS {
                    return Err(invalid(
                        "guild_id",
                        "BASE_TYPE_MAX_LENGTH",
                        "Notification settings are kept for at most 200 guilds.",
                    ));
                }
                let current = current.cloned().unwrap_or_default();
                let mut overrides = current.channel_overrides.clone();
                overrides.extend(channel_overrides);
                if overrides.len() > MAX_CHANNEL_OVERRIDES {
                    return Err(invalid(
                        "channel_overrides",
                        "BASE_TYPE_MAX_LENGTH",
                        "Must be 500 or fewer in length.",
                    ));
                }
                let settings = GuildNotificationSettings {
                    message_notifications: message_notifications
                        .unwrap_or(current.message_notifications),
                    muted: muted.unwrap_or(current.muted),
                    mute_config: mute_config
                        .map_or_else(|| current.mute_config.clone(), FieldUpdate::into_option),
                    suppress_everyone: suppress_everyone.unwrap_or(current.suppress_everyone),
                    suppress_roles: suppress_roles.unwrap_or(current.suppress_roles),
                    channel_overrides: overrides,
                };
                (settings != current).then_some(UserEvent::UserGuildSettingsChanged(
                    UserGuildSettingsChanged { guild_id, settings },
                ))
            }
            UserCommand::AddPushSubscription { subscription } => {
                self.own(actor)?;
                let known = self
                    .push_subscriptions
                    .iter()
                    .find(|known| known.endpoint == subscription.endpoint);
                match known {
                    // A browser re-registers the same subscription on every start.
                    Some(known) if *known == subscription => None,
                    // New keys for a known endpoint replace its old ones.
                    Some(_) => Some(None),
                    None if self.push_subscriptions.len() >= MAX_PUSH_SUBSCRIPTIONS => {
                        Some(self.push_subscriptions.first().map(|s| s.endpoint.clone()))
                    }
                    None => Some(None),
                }
                .map(|evicted| {
                    UserEvent::PushSubscriptionAdded(PushSubscriptionAdded {
                        subscription,
                        evicted,
                    })
                })
            }
            UserCommand::RemovePushSubscription { endpoint } => {
                // CloudCord removes too: the gateway, when a push service says the
                // subscription is gone (404/410).
                if actor != Actor::System {
                    self.own(actor)?;
                }
                self.push_subscriptions
                    .iter()
                    .any(|known| known.endpoint == endpoint)
                    .then_some(UserEvent::PushSubscriptionRemoved(
                        PushSubscriptionRemoved { endpoint },
                    ))
            }
            UserCommand::ResetBotToken { token_id } => {
                self.answer = Answer::CurrentUser;
                let profile = self.profile()?;
                let (Some(owner), Some(current)) = (profile.owner_id, profile.bot_token_id) else {
                    return Err(UserError::NotABot);
                };
                if !matches!(actor, Actor::System) && actor != Actor::User(owner) {
                    return Err(UserError::MissingAccess);
                }
                if token_id <= current {
                    return Err(invalid(
                        "token_id",
                        "BASE_TYPE_INVALID",
                        "A new token generation must be greater than the current one.",
                    ));
                }
                Some(UserEvent::BotTokenReset(BotTokenReset { token_id }))
            }
            UserCommand::ChangePassword { password_hash } => {
                self.answer = Answer::CurrentUser;
                let profile = self.own(actor)?;
                if profile.bot {
                    return Err(invalid(
                        "password",
                        "BASE_TYPE_INVALID",
                        "A bot has no password.",
                    ));
                }
                if !password_hash.starts_with("$argon2id$") {
                    return Err(invalid(
                        "password",
                        "PASSWORD_INVALID",
                        "A password hash must be an argon2id PHC string.",
                    ));
                }
                Some(UserEvent::PasswordChanged(PasswordChanged {
                    password_hash,
                }))
            }
            UserCommand::SendFriendRequest { to } => {
                let profile = self.own(actor)?;
                self.befriendable(profile, to)?;
                match self.relationship(to) {
                    None => {
                        self.room_for_one_more()?;
                        Some(UserEvent::FriendRequestSent(FriendRequestSent {
                            user_id: to,
                        }))
                    }
                    // They asked first: sending back is accepting.
                    Some(RelationshipType::IncomingRequest) => {
                        Some(UserEvent::FriendRequestAccepted(FriendRequestAccepted {
                            user_id: to,
                        }))
                    }
                    Some(RelationshipType::OutgoingRequest | RelationshipType::Friend) => None,
                    Some(RelationshipType::Blocked) => return Err(UserError::FriendRequestBlocked),
                }
            }
            UserCommand::ReceiveFriendRequest { from } => {
                let profile = self.for_peer(actor, from)?;
                self.befriendable(profile, from)?;
                match self.relationship(from) {
                    None => {
                        self.room_for_one_more()?;
                        Some(UserEvent::FriendRequestReceived(FriendRequestReceived {
                            user_id: from,
                        }))
                    }
                    // Both asked: the second request is an acceptance on both sides.
                    Some(RelationshipType::OutgoingRequest) => {
                        Some(UserEvent::FriendshipConfirmed(FriendshipConfirmed {
                            user_id: from,
                        }))
                    }
                    Some(RelationshipType::IncomingRequest | RelationshipType::Friend) => None,
                    Some(RelationshipType::Blocked) => return Err(UserError::FriendRequestBlocked),
                }
            }
            UserCommand::AcceptFriendRequest { from } => {
                let profile = self.own(actor)?;
                self.befriendable(profile, from)?;
                match self.relationship(from) {
                    Some(RelationshipType::IncomingRequest) => {
                        Some(UserEvent::FriendRequestAccepted(FriendRequestAccepted {
                            user_id: from,
                        }))
                    }
                    Some(RelationshipType::Friend) => None,
                    _ => return Err(UserError::NoFriendRequest),
                }
            }
            UserCommand::ConfirmFriendship { with } => {
                let profile = self.for_peer(actor, with)?;
                self.befriendable(profile, with)?;
                match self.relationship(with) {
                    Some(RelationshipType::OutgoingRequest) => {
                        Some(UserEvent::FriendshipConfirmed(FriendshipConfirmed {
                            user_id: with,
                        }))
                    }
                    Some(RelationshipType::Friend) => None,
                    _ => return Err(UserError::NoFriendRequest),
                }
            }
            UserCommand::DeclineFriendRequest { from } => {
                self.own(actor)?;
                match self.relationship(from) {
                    Some(kind @ RelationshipType::IncomingRequest) => Some(removed(from, kind)),
                    None => None,
                    Some(_) => return Err(UserError::NoFriendRequest),
                }
            }
            UserCommand::RemoveRelationship { user_id } => {
                self.own(actor)?;
                self.relationship(user_id)
                    .map(|kind| removed(user_id, kind))
            }
            UserCommand::SeverRelationship { with } => {
                // The peer (mirror of a removal or block), CloudCord (compensation)
                // or the user itself may sever.
                if self.own(actor).is_err() {
                    self.for_peer(actor, with)?;
                }
                match self.relationship(with) {
                    // A block is this user's own decision; the other side never lifts it.
                    None | Some(RelationshipType::Blocked) => None,
                    Some(kind) => Some(removed(with, kind)),
                }
            }
            UserCommand::BlockUser { user_id } => {
                let profile = self.own(actor)?;
                if user_id == profile.id {
                    return Err(UserError::CannotTargetSelf);
                }
                match self.relationship(user_id) {
                    Some(RelationshipType::Blocked) => None,
                    _ if self.blocks() >= MAX_BLOCKS => {
                        return Err(UserError::TooManyRelationships);
                    }
                    _ => Some(UserEvent::UserBlocked(UserBlocked { user_id })),
                }
            }
            UserCommand::UnblockUser { user_id } => {
                self.own(actor)?;
                match self.relationship(user_id) {
                    Some(kind @ RelationshipType::Blocked) => Some(removed(user_id, kind)),
                    _ => None,
                }
            }
        };
        Ok(event)
    }

    /// Checks a friendship between this user and `other` is possible at all.
    fn befriendable(&self, profile: &Profile, other: UserId) -> Result<(), UserError> {
        if other == profile.id {
            return Err(UserError::CannotTargetSelf);
        }
        if profile.bot {
            return Err(UserError::BotsCannotHaveFriends);
        }
        Ok(())
    }

    /// Checks a registration: a new account, registered by the user itself, its
    /// owner (bots) or CloudCord, with valid fields.
    fn check_registration(
        &self,
        actor: Actor,
        registration: &UserRegistered,
    ) -> Result<(), UserError> {
        if self.profile.is_some() {
            return Err(UserError::AlreadyRegistered);
        }
        valid_account_kind(registration)?;
        let may_register = match actor {
            Actor::System => true,
            Actor::User(id) => id == registration.user_id || Some(id) == registration.owner_id,
        };
        if !may_register {
            return Err(UserError::MissingAccess);
        }
        valid_username(&registration.username)?;
        if let Some(name) = &registration.global_name {
            valid_global_name(name)?;
        }
        if let Some(email) = &registration.email {
            valid_email(email)?;
        }
        Ok(())
    }

    /// Discord's user object for the account itself (`GET /users/@me`).
    fn current_user_object(&self) -> serde_json::Value {
        let Some(profile) = &self.profile else {
            return serde_json::Value::Null;
        };
        json!({
            "id": profile.id,
            "username": profile.username,
            "discriminator": "0",
            "global_name": profile.global_name,
            "avatar": profile.avatar,
            "bot": profile.bot,
            "system": false,
            "banner": null,
            "accent_color": null,
            "avatar_decoration_data": null,
            "collectibles": null,
            "primary_guild": null,
            "public_flags": 0,
            "flags": 0,
            "mfa_enabled": false,
            "locale": self.settings.locale,
            "premium_type": 0,
            "email": profile.email,
            // No e-mail verification exists yet; bots are always verified (as on Discord).
            "verified": profile.bot,
        })
    }

    fn settings_object(&self) -> serde_json::Value {
        let settings = &self.settings;
        json!({
            "locale": settings.locale,
            "theme": settings.theme,
            "status": settings.status,
            "custom_status": settings.custom_status,
        })
    }
}

fn removed(user_id: UserId, kind: RelationshipType) -> UserEvent {
    UserEvent::RelationshipRemoved(RelationshipRemoved { user_id, kind })
}

impl Aggregate for User {
    const TYPE: &'static str = "user";
    type Command = Authored<UserCommand>;
    type Event = Domain<UserEvent>;
    type Error = UserError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), UserError> {
        if let Some(event) = self.decide(command)? {
            sink.write(Domain(event), self).await;
        }
        Ok(())
    }

    fn apply(&mut self, Domain(event): Domain<UserEvent>) {
        match event {
            UserEvent::UserRegistered(registered) => {
                self.profile = Some(Profile {
                    id: registered.user_id,
                    username: registered.username,
                    global_name: registered.global_name,
                    avatar: None,
                    email: registered.email,
                    bot: registered.bot,
                    application_id: registered.application_id,
                    owner_id: registered.owner_id,
                    bot_token_id: registered.bot_token_id,
                });
            }
            UserEvent::UserProfileUpdated(updated) => {
                if let Some(profile) = &mut self.profile {
                    profile.username = updated.username;
                    profile.global_name = updated.global_name;
                    profile.avatar = updated.avatar;
                }
            }
            UserEvent::UserSettingsChanged(changed) => self.settings = changed.settings,
            UserEvent::UserGuildSettingsChanged(changed) => {
                self.guild_settings
                    .insert(changed.guild_id, changed.settings);
            }
            UserEvent::PushSubscriptionAdded(added) => {
                let gone = added.evicted.as_deref();
                self.push_subscriptions.retain(|known| {
                    known.endpoint != added.subscription.endpoint
                        && Some(known.endpoint.as_str()) != gone
                });
                self.push_subscriptions.push(added.subscription);
            }
            UserEvent::PushSubscriptionRemoved(removed) => {
                self.push_subscriptions
                    .retain(|known| known.endpoint != removed.endpoint);
            }
            UserEvent::BotTokenReset(reset) => {
                if let Some(profile) = &mut self.profile {
                    profile.bot_token_id = Some(reset.token_id);
                }
            }
            // Decisions never need the hash (command-api checks passwords).
            UserEvent::PasswordChanged(_) => {}
            UserEvent::FriendRequestSent(FriendRequestSent { user_id }) => {
                self.relationships
                    .insert(user_id, RelationshipType::OutgoingRequest);
            }
            UserEvent::FriendRequestReceived(FriendRequestReceived { user_id }) => {
                self.relationships
                    .insert(user_id, RelationshipType::IncomingRequest);
            }
            UserEvent::FriendRequestAccepted(FriendRequestAccepted { user_id })
            | UserEvent::FriendshipConfirmed(FriendshipConfirmed { user_id }) => {
                self.relationships.insert(user_id, RelationshipType::Friend);
            }
            UserEvent::UserBlocked(UserBlocked { user_id }) => {
                self.relationships
                    .insert(user_id, RelationshipType::Blocked);
            }
            UserEvent::RelationshipRemoved(RelationshipRemoved { user_id, .. }) => {
                self.relationships.remove(&user_id);
            }
        }
    }
}

impl Decider for User {
    type Request = UserCommand;
    type Change = UserEvent;
    const KIND: AggregateType = AggregateType::User;

    fn accepted(&self, _events: &[UserEvent]) -> Accepted {
        match self.answer {
            Answer::Created => Accepted {
                status: 201,
                body: Some(self.current_user_object()),
            },
            Answer::CurrentUser => Accepted {
                status: 200,
                body: Some(self.current_user_object()),
            },
            Answer::Settings => Accepted {
                status: 200,
                body: Some(self.settings_object()),
            },
            Answer::GuildSettings(guild_id) => Accepted {
                status: 200,
                body: Some(
                    UserGuildSettingsObject::new(
                        guild_id,
                        &self
                            .guild_settings
                            .get(&guild_id)
                            .cloned()
                            .unwrap_or_default(),
                    )
                    .to_json(),
                ),
            },
            Answer::NoContent => Accepted {
                status: 204,
                body: None,
            },
        }
    }

    fn refused(error: &UserError) -> Refusal {
        let (status, code, errors) = match error {
            UserError::AlreadyRegistered => (400, 50035, None),
            UserError::UnknownUser => (404, 10013, None),
            UserError::MissingAccess => (403, 50001, None),
            UserError::Invalid {
                field,
                code,
                message,
            } => (
                400,
                50035,
                Some(json!({ *field: { "_errors": [{ "code": code, "message": message }] } })),
            ),
            UserError::FriendRequestBlocked => (400, 80001, None),
            UserError::BotsCannotHaveFriends => (400, 80002, None),
            UserError::CannotTargetSelf => (400, 80003, None),
            UserError::NoFriendRequest => (400, 80005, None),
            UserError::TooManyRelationships => (400, 30002, None),
            UserError::NotABot => (403, 20002, None),
        };
        let message = if errors.is_some() || matches!(error, UserError::AlreadyRegistered) {
            "Invalid Form Body".to_owned()
        } else {
            error.to_string()
        };
        Refusal {
            status,
            error: ApiError {
                code,
                message,
                errors,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use cloudcord_schemas::envelope::{Actor, Authored};
    use std::collections::BTreeMap;

    use cloudcord_schemas::ids::{ApplicationId, ChannelId, GuildId, UserId};
    use cloudcord_schemas::user::{
        BotTokenReset, ChannelNotificationOverride, FieldUpdate, FriendRequestAccepted,
        FriendRequestReceived, FriendRequestSent, FriendshipConfirmed, GuildNotificationSettings,
        MAX_GUILD_SETTINGS, MAX_PUSH_SUBSCRIPTIONS, MAX_RELATIONSHIPS, MuteConfig,
        NotificationLevel, PasswordChanged, PushSubscription, PushSubscriptionAdded,
        PushSubscriptionRemoved, RelationshipRemoved, RelationshipType, Status, Theme, UserBlocked,
        UserCommand, UserEvent, UserGuildSettingsChanged, UserProfileUpdated, UserRegistered,
        UserSettings, UserSettingsChanged,
    };
    use cqrs_es::test::TestFramework;
    use serde_json::json;
    use time::macros::datetime;

    use super::{User, UserError};
    use crate::aggregates::{Decider, Domain, decide};

    const NELLY: UserId = UserId::new(10);
    const BOB: UserId = UserId::new(20);
    const EVE: UserId = UserId::new(30);
    const BOT: UserId = UserId::new(40);
    const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA";

    fn by(actor: UserId, command: UserCommand) -> Authored<UserCommand> {
        Authored {
            actor: Actor::User(actor),
            at: datetime!(2026-11-28 12:00 UTC),
            command,
        }
    }

    fn register_nelly() -> UserCommand {
        UserCommand::RegisterUser {
            user_id: NELLY,
            username: "nelly".into(),
            global_name: Some("Nelly".into()),
            email: Some("nelly@example.com".into()),
            password_hash: Some(HASH.into()),
            bot: false,
            application_id: None,
            owner_id: None,
            bot_token_id: None,
        }
    }

    fn e(event: UserEvent) -> Domain<UserEvent> {
        Domain(event)
    }

    fn registered() -> Domain<UserEvent> {
        e(UserEvent::UserRegistered(UserRegistered {
            user_id: NELLY,
            username: "nelly".into(),
            global_name: Some("Nelly".into()),
            email: Some("nelly@example.com".into()),
            password_hash: Some(HASH.into()),
            bot: false,
            application_id: None,
            owner_id: None,
            bot_token_id: None,
        }))
    }

    fn bot_registered() -> Domain<UserEvent> {
        e(UserEvent::UserRegistered(UserRegistered {
            user_id: BOT,
            username: "helper".into(),
            global_name: None,
            email: None,
            password_hash: None,
            bot: true,
            application_id: Some(ApplicationId::new(41)),
            owner_id: Some(NELLY),
            bot_token_id: Some(1),
        }))
    }

    fn with(relationships: &[(UserId, RelationshipType)]) -> Vec<Domain<UserEvent>> {
        let mut events = vec![registered()];
        for (other, kind) in relationships {
            let user_id = *other;
            events.push(e(match kind {
                RelationshipType::Friend => {
                    UserEvent::FriendRequestAccepted(FriendRequestAccepted { user_id })
                }
                RelationshipType::Blocked => UserEvent::UserBlocked(UserBlocked { user_id }),
                RelationshipType::IncomingRequest => {
                    UserEvent::FriendRequestReceived(FriendRequestReceived { user_id })
                }
                RelationshipType::OutgoingRequest => {
                    UserEvent::FriendRequestSent(FriendRequestSent { user_id })
                }
            }));
        }
        events
    }

    fn removed(user_id: UserId, kind: RelationshipType) -> Domain<UserEvent> {
        e(UserEvent::RelationshipRemoved(RelationshipRemoved {
            user_id,
            kind,
        }))
    }

    // Registration and profile.

    #[test]
    fn registering_records_what_login_and_the_user_object_need() {
        TestFramework::<User>::with(())
            .given_no_previous_events()
            .when(by(NELLY, register_nelly()))
            .then_expect_events(vec![registered()]);
    }

    #[test]
    fn a_user_registers_once() {
        TestFramework::<User>::with(())
            .given(vec![registered()])
            .when(by(NELLY, register_nelly()))
            .then_expect_error(UserError::AlreadyRegistered);
    }

    #[test]
    fn a_registered_username_is_normalized() {
        let mut command = register_nelly();
        if let UserCommand::RegisterUser { username, .. } = &mut command {
            *username = "Nelly".into();
        }
        TestFramework::<User>::with(())
            .given_no_previous_events()
            .when(by(NELLY, command))
            .then_expect_error_message(
                "invalid username: Please only use numbers, letters, underscores _ , or periods.",
            );
    }

    #[test]
    fn a_person_needs_an_argon2id_password_hash() {
        let mut command = register_nelly();
        if let UserCommand::RegisterUser { password_hash, .. } = &mut command {
            *password_hash = Some("hunter2".into());
        }
        TestFramework::<User>::with(())
            .given_no_previous_events()
            .when(by(NELLY, command))
            .then_expect_error_message(
                "invalid password: A password hash must be an argon2id PHC string.",
            );
    }

    #[test]
    fn a_bot_has_an_application_an_owner_and_no_password() {
        let command = UserCommand::RegisterUser {
            user_id: BOT,
            username: "helper".into(),
            global_name: None,
            email: None,
            password_hash: None,
            bot: true,
            application_id: Some(ApplicationId::new(41)),
            owner_id: Some(NELLY),
            bot_token_id: Some(1),
        };
        TestFramework::<User>::with(())
            .given_no_previous_events()
            .when(by(NELLY, command.clone()))
            .then_expect_events(vec![bot_registered()]);
        let mut without_owner = command;
        if let UserCommand::RegisterUser { owner_id, .. } = &mut without_owner {
            *owner_id = None;
        }
        TestFramework::<User>::with(())
            .given_no_previous_events()
            .when(Authored {
                actor: Actor::System,
                ..by(BOT, without_owner)
            })
            .then_expect_error_message(
                "invalid bot: A bot needs an application, an owner and a token generation.",
            );
    }

    #[test]
    fn nobody_registers_someone_else() {
        TestFramework::<User>::with(())
            .given_no_previous_events()
            .when(by(EVE, register_nelly()))
            .then_expect_error(UserError::MissingAccess);
    }

    #[test]
    fn registering_answers_201_with_the_current_user_object() {
        let mut user = User::default();
        let (_, accepted) = decide(&mut user, by(NELLY, register_nelly())).expect("registered");
        assert_eq!(accepted.status, 201);
        assert_eq!(
            accepted.body,
            Some(json!({
                "id": "10",
                "username": "nelly",
                "discriminator": "0",
                "global_name": "Nelly",
                "avatar": null,
                "bot": false,
                "system": false,
                "banner": null,
                "accent_color": null,
                "avatar_decoration_data": null,
                "collectibles": null,
                "primary_guild": null,
                "public_flags": 0,
                "flags": 0,
                "mfa_enabled": false,
                "locale": "en-US",
                "premium_type": 0,
                "email": "nelly@example.com",
                "verified": false,
            }))
        );
    }

    #[test]
    fn an_invalid_field_is_refused_with_discords_nested_form_errors() {
        let refusal = User::refused(&UserError::Invalid {
            field: "global_name",
            code: "BASE_TYPE_BAD_LENGTH",
            message: "Must be between 1 and 32 in length.",
        });
        assert_eq!(refusal.status, 400);
        assert_eq!(refusal.error.code, 50035);
        assert_eq!(refusal.error.message, "Invalid Form Body");
        assert_eq!(
            refusal.error.errors,
            Some(json!({"global_name": {"_errors": [{
                "code": "BASE_TYPE_BAD_LENGTH",
                "message": "Must be between 1 and 32 in length."
            }]}}))
        );
    }

    #[test]
    fn modifying_the_profile_records_the_whole_new_profile() {
        TestFramework::<User>::with(())
            .given(vec![registered()])
            .when(by(
                NELLY,
                UserCommand::ModifyCurrentUser {
                    username: Some("nelly.dev".into()),
                    global_name: Some(FieldUpdate::Clear),
                    avatar: Some(FieldUpdate::Set("8342729096ea3675442027381ff50dfe".into())),
                },
            ))
            .then_expect_events(vec![e(UserEvent::UserProfileUpdated(UserProfileUpdated {
                username: "nelly.dev".into(),
                global_name: None,
                avatar: Some("8342729096ea3675442027381ff50dfe".into()),
            }))]);
    }

    #[test]
    fn an_unchanged_profile_records_nothing() {
        TestFramework::<User>::with(())
            .given(vec![registered()])
            .when(by(
                NELLY,
                UserCommand::ModifyCurrentUser {
                    username: Some("nelly".into()),
                    global_name: None,
                    avatar: None,
                },
            ))
            .then_expect_events(vec![]);
    }

    #[test]
    fn only_the_user_modifies_their_profile() {
        TestFramework::<User>::with(())
            .given(vec![registered()])
            .when(by(
                EVE,
                UserCommand::ModifyCurrentUser {
                    username: Some("eve".into()),
                    global_name: None,
                    avatar: None,
                },
            ))
            .then_expect_error(UserError::MissingAccess);
    }

    #[test]
    fn a_display_name_has_1_to_32_characters() {
        TestFramework::<User>::with(())
            .given(vec![registered()])
            .when(by(
                NELLY,
                UserCommand::ModifyCurrentUser {
                    username: None,
                    global_name: Some(FieldUpdate::Set("x".repeat(33))),
                    avatar: None,
                },
            ))
            .then_expect_error_message("invalid global_name: Must be between 1 and 32 in length.");
    }

    #[test]
    fn an_unknown_user_cannot_be_modified() {
        TestFramework::<User>::with(())
            .given_no_previous_events()
            .when(by(
                NELLY,
                UserCommand::ModifyCurrentUser {
                    username: None,
                    global_name: None,
                    avatar: None,
                },
            ))
            .then_expect_error(UserError::UnknownUser);
    }

    #[test]
    fn settings_changes_record_all_settings() {
        TestFramework::<User>::with(())
            .given(vec![registered()])
            .when(by(
                NELLY,
                UserCommand::ChangeUserSettings {
                    locale: Some("fr".into()),
                    theme: Some(Theme::Light),
                    status: Some(Status::Dnd),
                    custom_status: None,
                },
            ))
            .then_expect_events(vec![e(UserEvent::UserSettingsChanged(
                UserSettingsChanged {
                    settings: UserSettings {
                        locale: "fr".into(),
                        theme: Theme::Light,
                        status: Status::Dnd,
                        custom_status: None,
                    },
                },
            ))]);
    }

    #[test]
    fn a_locale_is_one_of_discords() {
        TestFramework::<User>::with(())
            .given(vec![registered()])
            .when(by(
                NELLY,
                UserCommand::ChangeUserSettings {
                    locale: Some("klingon".into()),
                    theme: None,
                    status: None,
                    custom_status: None,
                },
            ))
            .then_expect_error_message(
                "invalid locale: Value must be one of the supported locales.",
            );
    }

    #[test]
    fn only_the_person_themself_changes_their_password_to_an_argon2id_hash() {
        const NEW_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$bmV3c2FsdA$bmV3aGFzaA";
        TestFramework::<User>::with(())
            .given(vec![registered()])
            .when(by(
                NELLY,
                UserCommand::ChangePassword {
                    password_hash: NEW_HASH.into(),
                },
            ))
            .then_expect_events(vec![e(UserEvent::PasswordChanged(PasswordChanged {
                password_hash: NEW_HASH.into(),
            }))]);
        TestFramework::<User>::with(())
            .given(vec![registered()])
            .when(by(
                EVE,
                UserCommand::ChangePassword {
                    password_hash: NEW_HASH.into(),
                },
            ))
            .then_expect_error(UserError::MissingAccess);
        TestFramework::<User>::with(())
            .given(vec![registered()])
            .when(by(
                NELLY,
                UserCommand::ChangePassword {
                    password_hash: "hunter2".into(),
                },
            ))
            .then_expect_error_message(
                "invalid password: A password hash must be an argon2id PHC string.",
            );
    }

    #[test]
    fn a_bot_has_no_password_to_change() {
        TestFramework::<User>::with(())
            .given(vec![bot_registered()])
            .when(by(
                BOT,
                UserCommand::ChangePassword {
                    password_hash: HASH.into(),
                },
            ))
            .then_expect_error_message("invalid password: A bot has no password.");
    }

    #[test]
    fn only_a_bots_owner_resets_its_token_to_a_newer_generation() {
        TestFramework::<User>::with(())
            .given(vec![bot_registered()])
            .when(by(NELLY, UserCommand::ResetBotToken { token_id: 2 }))
            .then_expect_events(vec![e(UserEvent::BotTokenReset(BotTokenReset {
                token_id: 2,
            }))]);
        TestFramework::<User>::with(())
            .given(vec![bot_registered()])
            .when(by(EVE, UserCommand::ResetBotToken { token_id: 2 }))
            .then_expect_error(UserError::MissingAccess);
        TestFramework::<User>::with(())
            .given(vec![bot_registered()])
            .when(by(NELLY, UserCommand::ResetBotToken { token_id: 1 }))
            .then_expect_error_message(
                "invalid token_id: A new token generation must be greater than the current one.",
            );
    }

    #[test]
    fn a_person_has_no_bot_token_to_reset() {
        TestFramework::<User>::with(())
            .given(vec![registered()])
            .when(by(NELLY, UserCommand::ResetBotToken { token_id: 2 }))
            .then_expect_error(UserError::NotABot);
    }

    // Relationships, sender's side.

    #[test]
    fn sending_a_friend_request_records_an_outgoing_request() {
        TestFramework::<User>::with(())
            .given(vec![registered()])
            .when(by(NELLY, UserCommand::SendFriendRequest { to: BOB }))
            .then_expect_events(vec![e(UserEvent::FriendRequestSent(FriendRequestSent {
                user_id: BOB,
            }))]);
    }

    #[test]
    fn sending_a_request_to_someone_who_asked_first_accepts_it() {
        TestFramework::<User>::with(())
            .given(with(&[(BOB, RelationshipType::IncomingRequest)]))
            .when(by(NELLY, UserCommand::SendFriendRequest { to: BOB }))
            .then_expect_events(vec![e(UserEvent::FriendRequestAccepted(
                FriendRequestAccepted { user_id: BOB },
            ))]);
    }

    #[test]
    fn repeating_a_friend_request_changes_nothing() {
        for kind in [RelationshipType::OutgoingRequest, RelationshipType::Friend] {
            TestFramework::<User>::with(())
                .given(with(&[(BOB, kind)]))
                .when(by(NELLY, UserCommand::SendFriendRequest { to: BOB }))
                .then_expect_events(vec![]);
        }
    }

    #[test]
    fn nobody_sends_a_friend_request_to_themself() {
        TestFramework::<User>::with(())
            .given(vec![registered()])
            .when(by(NELLY, UserCommand::SendFriendRequest { to: NELLY }))
            .then_expect_error(UserError::CannotTargetSelf);
    }

    #[test]
    fn a_friend_request_to_someone_one_blocked_is_refused() {
        TestFramework::<User>::with(())
            .given(with(&[(BOB, RelationshipType::Blocked)]))
            .when(by(NELLY, UserCommand::SendFriendRequest { to: BOB }))
            .then_expect_error(UserError::FriendRequestBlocked);
    }

    #[test]
    fn bots_cannot_have_friends() {
        TestFramework::<User>::with(())
            .given(vec![bot_registered()])
            .when(by(BOT, UserCommand::SendFriendRequest { to: BOB }))
            .then_expect_error(UserError::BotsCannotHaveFriends);
        TestFramework::<User>::with(())
            .given(vec![bot_registered()])
            .when(by(BOB, UserCommand::ReceiveFriendRequest { from: BOB }))
            .then_expect_error(UserError::BotsCannotHaveFriends);
    }

    #[test]
    fn only_the_user_sends_their_friend_requests() {
        TestFramework::<User>::with(())
            .given(vec![registered()])
            .when(by(EVE, UserCommand::SendFriendRequest { to: BOB }))
            .then_expect_error(UserError::MissingAccess);
    }

    #[test]
    fn friends_and_pending_requests_stop_at_1000() {
        let mut events = vec![registered()];
        events.extend((0..MAX_RELATIONSHIPS as u64).map(|n| {
            e(UserEvent::FriendRequestSent(FriendRequestSent {
                user_id: UserId::new(1000 + n),
            }))
        }));
        TestFramework::<User>::with(())
            .given(events.clone())
            .when(by(NELLY, UserCommand::SendFriendRequest { to: BOB }))
            .then_expect_error(UserError::TooManyRelationships);
        TestFramework::<User>::with(())
            .given(events)
            .when(by(BOB, UserCommand::ReceiveFriendRequest { from: BOB }))
            .then_expect_error(UserError::TooManyRelationships);
    }

    // Relationships, addressee's side.

    #[test]
    fn receiving_a_friend_request_records_an_incoming_request() {
        TestFramework::<User>::with(())
            .given(vec![registered()])
            .when(by(BOB, UserCommand::ReceiveFriendRequest { from: BOB }))
            .then_expect_events(vec![e(UserEvent::FriendRequestReceived(
                FriendRequestReceived { user_id: BOB },
            ))]);
    }

    #[test]
    fn a_blocked_user_cannot_send_a_friend_request() {
        TestFramework::<User>::with(())
            .given(with(&[(BOB, RelationshipType::Blocked)]))
            .when(by(BOB, UserCommand::ReceiveFriendRequest { from: BOB }))
            .then_expect_error(UserError::FriendRequestBlocked);
    }

    #[test]
    fn a_blocked_friend_request_is_refused_with_discords_error() {
        let refusal = User::refused(&UserError::FriendRequestBlocked);
        assert_eq!(refusal.status, 400);
        assert_eq!(refusal.error.code, 80001);
        assert_eq!(refusal.error.message, "Friend request blocked");
    }

    #[test]
    fn a_request_crossing_ones_own_confirms_the_friendship() {
        TestFramework::<User>::with(())
            .given(with(&[(BOB, RelationshipType::OutgoingRequest)]))
            .when(by(BOB, UserCommand::ReceiveFriendRequest { from: BOB }))
            .then_expect_events(vec![e(UserEvent::FriendshipConfirmed(
                FriendshipConfirmed { user_id: BOB },
            ))]);
    }

    #[test]
    fn only_the_sender_or_cloudcord_delivers_a_friend_request() {
        TestFramework::<User>::with(())
            .given(vec![registered()])
            .when(by(EVE, UserCommand::ReceiveFriendRequest { from: BOB }))
            .then_expect_error(UserError::MissingAccess);
    }

    #[test]
    fn nobody_records_a_request_from_someone_else_on_their_own_account() {
        TestFramework::<User>::with(())
            .given(vec![registered()])
            .when(by(NELLY, UserCommand::ReceiveFriendRequest { from: BOB }))
            .then_expect_error(UserError::MissingAccess);
        TestFramework::<User>::with(())
            .given(with(&[(BOB, RelationshipType::OutgoingRequest)]))
            .when(by(NELLY, UserCommand::ConfirmFriendship { with: BOB }))
            .then_expect_error(UserError::MissingAccess);
    }

    #[test]
    fn the_state_survives_a_snapshot_round_trip() {
        let mut user = User::default();
        for event in with(&[
            (BOB, RelationshipType::Friend),
            (EVE, RelationshipType::Blocked),
        ]) {
            cqrs_es::Aggregate::apply(&mut user, event);
        }
        let json = serde_json::to_string(&user).expect("state serializes");
        let restored: User = serde_json::from_str(&json).expect("state deserializes");
        assert_eq!(restored, user);
        assert_eq!(restored.relationship(EVE), Some(RelationshipType::Blocked));
    }

    #[test]
    fn a_friend_request_to_an_unknown_user_is_refused() {
        TestFramework::<User>::with(())
            .given_no_previous_events()
            .when(by(BOB, UserCommand::ReceiveFriendRequest { from: BOB }))
            .then_expect_error(UserError::UnknownUser);
        let refusal = User::refused(&UserError::UnknownUser);
        assert_eq!((refusal.status, refusal.error.code), (404, 10013));
    }

    // Accepting.

    #[test]
    fn accepting_needs_an_incoming_request() {
        TestFramework::<User>::with(())
            .given(vec![registered()])
            .when(by(NELLY, UserCommand::AcceptFriendRequest { from: BOB }))
            .then_expect_error(UserError::NoFriendRequest);
        TestFramework::<User>::with(())
            .given(with(&[(BOB, RelationshipType::IncomingRequest)]))
            .when(by(NELLY, UserCommand::AcceptFriendRequest { from: BOB }))
            .then_expect_events(vec![e(UserEvent::FriendRequestAccepted(
                FriendRequestAccepted { user_id: BOB },
            ))]);
    }

    #[test]
    fn confirming_a_friendship_needs_an_outgoing_request() {
        TestFramework::<User>::with(())
            .given(vec![registered()])
            .when(by(BOB, UserCommand::ConfirmFriendship { with: BOB }))
            .then_expect_error(UserError::NoFriendRequest);
        TestFramework::<User>::with(())
            .given(with(&[(BOB, RelationshipType::OutgoingRequest)]))
            .when(by(BOB, UserCommand::ConfirmFriendship { with: BOB }))
            .then_expect_events(vec![e(UserEvent::FriendshipConfirmed(
                FriendshipConfirmed { user_id: BOB },
            ))]);
    }

    #[test]
    fn declining_removes_only_an_incoming_request() {
        TestFramework::<User>::with(())
            .given(with(&[(BOB, RelationshipType::IncomingRequest)]))
            .when(by(NELLY, UserCommand::DeclineFriendRequest { from: BOB }))
            .then_expect_events(vec![removed(BOB, RelationshipType::IncomingRequest)]);
        TestFramework::<User>::with(())
            .given(with(&[(BOB, RelationshipType::Friend)]))
            .when(by(NELLY, UserCommand::DeclineFriendRequest { from: BOB }))
            .then_expect_error(UserError::NoFriendRequest);
    }

    // Removing and blocking.

    #[test]
    fn removing_a_relationship_removes_whatever_it_was() {
        for kind in [
            RelationshipType::Friend,
            RelationshipType::Blocked,
            RelationshipType::IncomingRequest,
            RelationshipType::OutgoingRequest,
        ] {
            TestFramework::<User>::with(())
                .given(with(&[(BOB, kind)]))
                .when(by(NELLY, UserCommand::RemoveRelationship { user_id: BOB }))
                .then_expect_events(vec![removed(BOB, kind)]);
        }
        TestFramework::<User>::with(())
            .given(vec![registered()])
            .when(by(NELLY, UserCommand::RemoveRelationship { user_id: BOB }))
            .then_expect_events(vec![]);
    }

    #[test]
    fn severing_from_the_other_side_never_lifts_a_block() {
        TestFramework::<User>::with(())
            .given(with(&[(BOB, RelationshipType::Blocked)]))
            .when(by(BOB, UserCommand::SeverRelationship { with: BOB }))
            .then_expect_events(vec![]);
        TestFramework::<User>::with(())
            .given(with(&[(BOB, RelationshipType::Friend)]))
            .when(by(BOB, UserCommand::SeverRelationship { with: BOB }))
            .then_expect_events(vec![removed(BOB, RelationshipType::Friend)]);
    }

    #[test]
    fn cloudcord_compensates_a_refused_step_by_severing() {
        TestFramework::<User>::with(())
            .given(with(&[(BOB, RelationshipType::OutgoingRequest)]))
            .when(Authored {
                actor: Actor::System,
                ..by(NELLY, UserCommand::SeverRelationship { with: BOB })
            })
            .then_expect_events(vec![removed(BOB, RelationshipType::OutgoingRequest)]);
    }

    #[test]
    fn blocking_replaces_any_relationship() {
        TestFramework::<User>::with(())
            .given(with(&[(BOB, RelationshipType::Friend)]))
            .when(by(NELLY, UserCommand::BlockUser { user_id: BOB }))
            .then_expect_events(vec![e(UserEvent::UserBlocked(UserBlocked {
                user_id: BOB,
            }))]);
    }

    #[test]
    fn nobody_blocks_themself() {
        TestFramework::<User>::with(())
            .given(vec![registered()])
            .when(by(NELLY, UserCommand::BlockUser { user_id: NELLY }))
            .then_expect_error(UserError::CannotTargetSelf);
    }

    #[test]
    fn unblocking_lifts_only_a_block() {
        TestFramework::<User>::with(())
            .given(with(&[(BOB, RelationshipType::Blocked)]))
            .when(by(NELLY, UserCommand::UnblockUser { user_id: BOB }))
            .then_expect_events(vec![removed(BOB, RelationshipType::Blocked)]);
        TestFramework::<User>::with(())
            .given(with(&[(BOB, RelationshipType::Friend)]))
            .when(by(NELLY, UserCommand::UnblockUser { user_id: BOB }))
            .then_expect_events(vec![]);
    }

    #[test]
    fn relationship_routes_answer_204() {
        let mut user = User::default();
        for event in with(&[(BOB, RelationshipType::IncomingRequest)]) {
            cqrs_es::Aggregate::apply(&mut user, event);
        }
        let (events, accepted) = decide(
            &mut user,
            by(NELLY, UserCommand::AcceptFriendRequest { from: BOB }),
        )
        .expect("accepted");
        assert_eq!(events.len(), 1);
        assert_eq!((accepted.status, accepted.body), (204, None));
        assert_eq!(user.relationship(BOB), Some(RelationshipType::Friend));
    }

    #[test]
    fn the_whole_friendship_saga_leaves_both_sides_friends() {
        let (mut nelly, mut bob) = (User::default(), User::default());
        cqrs_es::Aggregate::apply(&mut nelly, registered());
        cqrs_es::Aggregate::apply(
            &mut bob,
            e(UserEvent::UserRegistered(UserRegistered {
                user_id: BOB,
                username: "bob".into(),
                global_name: None,
                email: None,
                password_hash: Some(HASH.into()),
                bot: false,
                application_id: None,
                owner_id: None,
                bot_token_id: None,
            })),
        );
        // Nelly asks Bob: step 1 on Nelly, step 2 on Bob.
        decide(
            &mut nelly,
            by(NELLY, UserCommand::SendFriendRequest { to: BOB }),
        )
        .expect("sent");
        decide(
            &mut bob,
            by(NELLY, UserCommand::ReceiveFriendRequest { from: NELLY }),
        )
        .expect("received");
        // Bob accepts: step 1 on Bob, step 2 on Nelly.
        decide(
            &mut bob,
            by(BOB, UserCommand::AcceptFriendRequest { from: NELLY }),
        )
        .expect("accepted");
        decide(
            &mut nelly,
            by(BOB, UserCommand::ConfirmFriendship { with: BOB }),
        )
        .expect("confirmed");
        assert_eq!(nelly.relationship(BOB), Some(RelationshipType::Friend));
        assert_eq!(bob.relationship(NELLY), Some(RelationshipType::Friend));
    }

    // Notification settings.

    const GUILD: GuildId = GuildId::new(500);
    const CHANNEL: ChannelId = ChannelId::new(501);

    fn change_guild_settings() -> UserCommand {
        UserCommand::ChangeGuildNotificationSettings {
            guild_id: GUILD,
            message_notifications: None,
            muted: None,
            mute_config: None,
            suppress_everyone: None,
            suppress_roles: None,
            channel_overrides: BTreeMap::new(),
        }
    }

    fn muted_channel() -> ChannelNotificationOverride {
        ChannelNotificationOverride {
            message_notifications: None,
            muted: true,
            mute_config: Some(MuteConfig {
                end_time: Some(datetime!(2026-11-28 20:00 UTC)),
                selected_time_window: Some(28_800),
            }),
        }
    }

    fn guild_settings_changed(settings: GuildNotificationSettings) -> Domain<UserEvent> {
        e(UserEvent::UserGuildSettingsChanged(
            UserGuildSettingsChanged {
                guild_id: GUILD,
                settings,
            },
        ))
    }

    #[test]
    fn guild_settings_changes_keep_what_is_absent_and_record_all_settings() {
        let earlier = GuildNotificationSettings {
            suppress_everyone: true,
            ..GuildNotificationSettings::default()
        };
        let mut command = change_guild_settings();
        if let UserCommand::ChangeGuildNotificationSettings {
            message_notifications,
            channel_overrides,
            ..
        } = &mut command
        {
            *message_notifications = Some(NotificationLevel::OnlyMentions);
            channel_overrides.insert(CHANNEL, muted_channel());
        }
        TestFramework::<User>::with(())
            .given(vec![registered(), guild_settings_changed(earlier)])
            .when(by(NELLY, command))
            .then_expect_events(vec![guild_settings_changed(GuildNotificationSettings {
                message_notifications: NotificationLevel::OnlyMentions,
                suppress_everyone: true,
                channel_overrides: BTreeMap::from([(CHANNEL, muted_channel())]),
                ..GuildNotificationSettings::default()
            })]);
    }

    #[test]
    fn unchanged_guild_settings_record_nothing_and_answer_the_settings_object() {
        let mut user = User::default();
        cqrs_es::Aggregate::apply(&mut user, registered());
        let (events, accepted) =
            decide(&mut user, by(NELLY, change_guild_settings())).expect("accepted");
        assert!(events.is_empty());
        assert_eq!(accepted.status, 200);
        let body = accepted.body.expect("settings object");
        assert_eq!(body["guild_id"], json!(GUILD.to_string()));
        assert_eq!(body["message_notifications"], json!(0));
        assert_eq!(body["channel_overrides"], json!([]));
    }

    #[test]
    fn only_the_user_changes_their_guild_settings() {
        TestFramework::<User>::with(())
            .given(vec![registered()])
            .when(by(BOB, change_guild_settings()))
            .then_expect_error(UserError::MissingAccess);
    }

    #[test]
    fn guild_settings_are_kept_for_at_most_200_guilds() {
        let mut events = vec![registered()];
        events.extend((0..MAX_GUILD_SETTINGS as u64).map(|n| {
            e(UserEvent::UserGuildSettingsChanged(
                UserGuildSettingsChanged {
                    guild_id: GuildId::new(1_000 + n),
                    settings: GuildNotificationSettings::default(),
                },
            ))
        }));
        TestFramework::<User>::with(())
            .given(events)
            .when(by(NELLY, change_guild_settings()))
            .then_expect_error_message(
                "invalid guild_id: Notification settings are kept for at most 200 guilds.",
            );
    }

    // Web Push subscriptions.

    fn push_subscription(n: usize) -> PushSubscription {
        PushSubscription {
            endpoint: format!("https://push.example.net/{n}"),
            p256dh: "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4".into(),
            auth: format!("auth{n}"),
        }
    }

    fn push_added(n: usize, evicted: Option<usize>) -> Domain<UserEvent> {
        e(UserEvent::PushSubscriptionAdded(PushSubscriptionAdded {
            subscription: push_subscription(n),
            evicted: evicted.map(|old| push_subscription(old).endpoint),
        }))
    }

    fn add(n: usize) -> UserCommand {
        UserCommand::AddPushSubscription {
            subscription: push_subscription(n),
        }
    }

    #[test]
    fn a_push_subscription_is_recorded_once_and_new_keys_replace_old_ones() {
        TestFramework::<User>::with(())
            .given(vec![registered(), push_added(1, None)])
            .when(by(NELLY, add(1)))
            .then_expect_events(vec![]);
        let mut renewed = push_subscription(1);
        renewed.auth = "renewed".into();
        TestFramework::<User>::with(())
            .given(vec![registered(), push_added(1, None)])
            .when(by(
                NELLY,
                UserCommand::AddPushSubscription {
                    subscription: renewed.clone(),
                },
            ))
            .then_expect_events(vec![e(UserEvent::PushSubscriptionAdded(
                PushSubscriptionAdded {
                    subscription: renewed,
                    evicted: None,
                },
            ))]);
    }

    #[test]
    fn the_oldest_push_subscription_makes_room_for_one_more_than_ten() {
        let mut given = vec![registered()];
        given.extend((0..MAX_PUSH_SUBSCRIPTIONS).map(|n| push_added(n, None)));
        // A renewal moves a subscription to the newest end.
        given.push(push_added(0, None));
        TestFramework::<User>::with(())
            .given(given)
            .when(by(NELLY, add(99)))
            .then_expect_events(vec![push_added(99, Some(1))]);
    }

    #[test]
    fn the_user_or_cloudcord_removes_a_push_subscription_and_nobody_else() {
        let remove = || UserCommand::RemovePushSubscription {
            endpoint: push_subscription(1).endpoint,
        };
        let removed = e(UserEvent::PushSubscriptionRemoved(
            PushSubscriptionRemoved {
                endpoint: push_subscription(1).endpoint,
            },
        ));
        TestFramework::<User>::with(())
            .given(vec![registered(), push_added(1, None)])
            .when(by(NELLY, remove()))
            .then_expect_events(vec![removed.clone()]);
        TestFramework::<User>::with(())
            .given(vec![registered(), push_added(1, None)])
            .when(Authored {
                actor: Actor::System,
                at: datetime!(2026-11-28 12:00 UTC),
                command: remove(),
            })
            .then_expect_events(vec![removed]);
        TestFramework::<User>::with(())
            .given(vec![registered(), push_added(1, None)])
            .when(by(BOB, remove()))
            .then_expect_error(UserError::MissingAccess);
        TestFramework::<User>::with(())
            .given(vec![registered()])
            .when(by(NELLY, remove()))
            .then_expect_events(vec![]);
    }
}

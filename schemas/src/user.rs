//! User commands and events: the account (registration, profile, settings, bot
//! token) and its relationships with other users. The aggregate id is the user id.
//!
//! # Registration
//!
//! Usernames are unique across shards through their claims (see
//! [`crate::username_claim`]): the HTTP layer first claims the name, then sends
//! [`UserCommand::RegisterUser`]. A username change likewise claims the new name
//! before [`UserCommand::ModifyCurrentUser`] and releases the old one after it; the
//! user aggregate only records the name it is given.
//!
//! # Relationships: one decision per side
//!
//! A relationship involves two users whose aggregates may live on different shards,
//! so each side decides locally and the HTTP layer runs a two-step saga:
//!
//! | request (by A about B) | step 1, on A (actor A) | step 2, on B (actor A) |
//! |---|---|---|
//! | send a request (`PUT` without type, `POST` by username) | [`SendFriendRequest`](UserCommand::SendFriendRequest) | [`ReceiveFriendRequest`](UserCommand::ReceiveFriendRequest) |
//! | accept B's request | [`AcceptFriendRequest`](UserCommand::AcceptFriendRequest) | [`ConfirmFriendship`](UserCommand::ConfirmFriendship) |
//! | decline, cancel, unfriend (`DELETE`) | [`DeclineFriendRequest`](UserCommand::DeclineFriendRequest) / [`RemoveRelationship`](UserCommand::RemoveRelationship) | [`SeverRelationship`](UserCommand::SeverRelationship) |
//! | block (`PUT` with type 2) | [`BlockUser`](UserCommand::BlockUser) | [`SeverRelationship`](UserCommand::SeverRelationship) |
//! | unblock (`DELETE` on a blocked user) | [`UnblockUser`](UserCommand::UnblockUser) | — (B never knew) |
//!
//! Sending a request when B already asked A is an acceptance on both sides: step 1
//! turns A's incoming request into a friendship, and step 2 finds B's outgoing
//! request and confirms it. So the HTTP layer never needs to know which case it is.
//!
//! Step 1 runs on the initiator so that a refusal by the peer's side (blocked,
//! unknown, a bot, full) only ever leaves a trace in the initiator's own list.
//!
//! **Failure mode.** If step 2 is refused, the HTTP layer answers with step 2's
//! error and compensates step 1 with [`SeverRelationship`](UserCommand::SeverRelationship)
//! on A (actor System), which returns A to "no relationship" — consistent with B
//! whatever B's reason was (a block held by B is never visible on A's side). For
//! the removal sagas step 2 can only be refused for an unknown peer, which has
//! nothing to repair. If command-api dies between the steps, the pair is left
//! asymmetric (e.g. A shows an outgoing request B never received). Every command
//! here is idempotent, so the repair is to run the saga again: the client retrying
//! with its idempotency key (command ids `<key>/1`, `<key>/2` are derived from it),
//! or a reconciler that reads both users' relationship events and re-sends the
//! missing mirror (or the compensation) as System.
//!
//! Blocks also matter to DMs, whose aggregate decides alone: after a block or an
//! unblock, the HTTP layer records it on the pair's DM channel (see
//! [`crate::dm_channel`]).
//!
//! Per-user state is bounded by the user's relationship count, which is capped at
//! [`MAX_RELATIONSHIPS`] (friends and pending requests) plus [`MAX_BLOCKS`].

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ids::{ApplicationId, ChannelId, GuildId, UserId};

/// Most friends and pending requests one user may have (Discord's 1,000; error 30002).
pub const MAX_RELATIONSHIPS: usize = 1000;
/// Most users one user may block (CloudCord's bound, so that state stays bounded).
pub const MAX_BLOCKS: usize = 1000;

/// Most guilds one user keeps notification settings for (Discord's 200-guild
/// membership limit), so that the user aggregate's state stays bounded.
pub const MAX_GUILD_SETTINGS: usize = 200;
/// Most channel overrides in one guild's notification settings (a guild's 500
/// channels).
pub const MAX_CHANNEL_OVERRIDES: usize = 500;

/// A change to a nullable field: set it, or clear it (JSON `null` in Discord's API).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "op", content = "value", rename_all = "snake_case")]
pub enum FieldUpdate<T> {
    /// The new value.
    Set(T),
    /// No value any more.
    Clear,
}

impl<T> FieldUpdate<T> {
    /// The value after the update.
    pub fn into_option(self) -> Option<T> {
        match self {
            Self::Set(value) => Some(value),
            Self::Clear => None,
        }
    }
}

/// What can be asked of a user account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum UserCommand {
    /// Create the account (after its username is claimed).
    RegisterUser {
        /// The new user's id (assigned by command-api; also the aggregate id).
        user_id: UserId,
        /// The normalized, already claimed username.
        username: String,
        /// The display name, 1 to 32 characters.
        global_name: Option<String>,
        /// The e-mail address (people only).
        email: Option<String>,
        /// An argon2id PHC string computed by command-api (`None` for bots).
        password_hash: Option<String>,
        /// Whether this is a bot account.
        bot: bool,
        /// The application a bot belongs to.
        application_id: Option<ApplicationId>,
        /// The user who owns a bot.
        owner_id: Option<UserId>,
        /// The generation of a bot's token (tokens naming another generation are void).
        bot_token_id: Option<u64>,
    },
    /// Change the profile (`PATCH /users/@me`). A new username must already be
    /// claimed for this user.
    ModifyCurrentUser {
        /// The new normalized username.
        username: Option<String>,
        /// The new display name, or none.
        global_name: Option<FieldUpdate<String>>,
        /// The new avatar hash (the image is stored by command-api), or none.
        avatar: Option<FieldUpdate<String>>,
    },
    /// Change the user's settings.
    ChangeUserSettings {
        /// A Discord locale such as `en-US`.
        locale: Option<String>,
        /// The client theme.
        theme: Option<Theme>,
        /// The status shown to others.
        status: Option<Status>,
        /// The custom status, or none.
        custom_status: Option<FieldUpdate<CustomStatus>>,
    },
    /// Void a bot's tokens by moving to a new token generation (the bot's owner).
    ResetBotToken {
        /// The new generation; it must be greater than the current one.
        token_id: u64,
    },
    /// Replace a person's password (`PATCH /users/@me` with `new_password`, after
    /// command-api checked the current one). Every session of the user ends.
    ChangePassword {
        /// The new argon2id PHC string computed by command-api.
        password_hash: String,
    },
    /// Ask `to` for friendship (step 1 on the sender). If `to` already asked, this
    /// accepts instead.
    SendFriendRequest {
        /// The addressee.
        to: UserId,
    },
    /// Record `from`'s friend request (step 2 on the addressee, actor `from`).
    /// Refused when the addressee blocked `from`.
    ReceiveFriendRequest {
        /// The sender.
        from: UserId,
    },
    /// Accept `from`'s incoming request (step 1 on the accepter).
    AcceptFriendRequest {
        /// Who asked.
        from: UserId,
    },
    /// Record that `with` accepted this user's request (step 2 on the requester).
    ConfirmFriendship {
        /// Who accepted.
        with: UserId,
    },
    /// Decline `from`'s incoming request (step 1).
    DeclineFriendRequest {
        /// Who asked.
        from: UserId,
    },
    /// Remove any relationship with `user_id`: decline, cancel, unfriend or
    /// unblock (`DELETE /users/@me/relationships/{id}`, step 1).
    RemoveRelationship {
        /// The other user.
        user_id: UserId,
    },
    /// Drop the friendship or pending request with `with`, keeping a block (step
    /// 2 of removals and blocks, on the peer; also the compensation of a refused
    /// step 2, on the initiator).
    SeverRelationship {
        /// The other user.
        with: UserId,
    },
    /// Block `user_id`, replacing any other relationship with them (step 1).
    BlockUser {
        /// Who to block.
        user_id: UserId,
    },
    /// Lift a block.
    UnblockUser {
        /// Who was blocked.
        user_id: UserId,
    },
    /// Change the user's notification settings for one guild
    /// (`PATCH /users/@me/guilds/{guild.id}/settings`); absent fields keep their
    /// value, and each channel override given replaces that channel's override.
    ChangeGuildNotificationSettings {
        /// The guild.
        guild_id: GuildId,
        /// Which messages notify.
        message_notifications: Option<NotificationLevel>,
        /// Whether the guild is muted.
        muted: Option<bool>,
        /// Until when it is muted, or none (muted until unmuted).
        mute_config: Option<FieldUpdate<MuteConfig>>,
        /// Whether `@everyone` and `@here` are ignored.
        suppress_everyone: Option<bool>,
        /// Whether role mentions are ignored.
        suppress_roles: Option<bool>,
        /// Channel overrides to replace, by channel.
        channel_overrides: BTreeMap<ChannelId, ChannelNotificationOverride>,
    },
    /// Register (or renew the keys of) a browser's Web Push subscription
    /// (`PUT /users/@me/push-subscriptions`); command-api has checked the endpoint
    /// and the keys. A user keeps at most [`MAX_PUSH_SUBSCRIPTIONS`]: the oldest
    /// goes to make room.
    AddPushSubscription {
        /// The subscription.
        subscription: PushSubscription,
    },
    /// Forget a browser's Web Push subscription
    /// (`DELETE /users/@me/push-subscriptions`, or CloudCord's gateway when the push
    /// service answers 404/410); nothing happens for an unknown one.
    RemovePushSubscription {
        /// Its push service URL.
        endpoint: String,
    },
}

/// How many Web Push subscriptions (browsers) a user keeps at most.
pub const MAX_PUSH_SUBSCRIPTIONS: usize = 10;

/// A browser's Web Push subscription (RFC 8030, keys of RFC 8291): where to
/// deliver and the keys the payload is encrypted to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PushSubscription {
    /// The push service URL the browser handed out (absolute, http or https).
    pub endpoint: String,
    /// The browser's P-256 public key, uncompressed (65 bytes), base64url without
    /// padding.
    pub p256dh: String,
    /// The browser's 16-byte authentication secret, base64url without padding.
    /// Like every event field it stays in the log: read models are rebuilt from it.
    pub auth: String,
}

/// Which messages notify (Discord's message notification levels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NotificationLevel {
    /// Every message (0).
    #[default]
    AllMessages,
    /// Only messages that mention the user (1).
    OnlyMentions,
    /// None at all (2): mentions are not counted either.
    Nothing,
}

impl NotificationLevel {
    /// Discord's number for it.
    pub const fn discord_value(self) -> u8 {
        match self {
            Self::AllMessages => 0,
            Self::OnlyMentions => 1,
            Self::Nothing => 2,
        }
    }

    /// The level Discord numbers `value`.
    pub const fn from_discord(value: u8) -> Option<Self> {
        match value {
            0 => Some(Self::AllMessages),
            1 => Some(Self::OnlyMentions),
            2 => Some(Self::Nothing),
            _ => None,
        }
    }
}

/// How long a mute lasts (Discord's mute config).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct MuteConfig {
    /// When the mute ends; none: until unmuted.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schemars(with = "Option<String>")]
    pub end_time: Option<OffsetDateTime>,
    /// The window the user picked, in seconds (shown back by clients; -1: forever).
    pub selected_time_window: Option<i64>,
}

/// One channel's notification settings, overriding its guild's.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct ChannelNotificationOverride {
    /// Which messages notify; none: as the guild says (Discord's 3).
    pub message_notifications: Option<NotificationLevel>,
    /// Whether the channel is muted.
    pub muted: bool,
    /// Until when it is muted.
    pub mute_config: Option<MuteConfig>,
}

/// A user's notification settings for one guild (Discord's user guild settings).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct GuildNotificationSettings {
    /// Which messages notify.
    pub message_notifications: NotificationLevel,
    /// Whether the guild is muted.
    pub muted: bool,
    /// Until when it is muted.
    pub mute_config: Option<MuteConfig>,
    /// Whether `@everyone` and `@here` are ignored.
    pub suppress_everyone: bool,
    /// Whether role mentions are ignored.
    pub suppress_roles: bool,
    /// Per-channel overrides.
    pub channel_overrides: BTreeMap<ChannelId, ChannelNotificationOverride>,
}

/// The client's colour theme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Theme {
    /// Dark (Discord's default).
    #[default]
    Dark,
    /// Light.
    Light,
}

/// The status others see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Online.
    #[default]
    Online,
    /// Idle.
    Idle,
    /// Do not disturb.
    Dnd,
    /// Shown offline.
    Invisible,
}

/// A custom status line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CustomStatus {
    /// The text, up to 128 characters.
    pub text: Option<String>,
    /// A unicode emoji shown beside it.
    pub emoji_name: Option<String>,
}

/// A user's settings (a small typed subset of Discord's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct UserSettings {
    /// A Discord locale such as `en-US`.
    pub locale: String,
    /// The client theme.
    pub theme: Theme,
    /// The status shown to others.
    pub status: Status,
    /// The custom status.
    pub custom_status: Option<CustomStatus>,
}

impl Default for UserSettings {
    fn default() -> Self {
        Self {
            locale: "en-US".to_owned(),
            theme: Theme::default(),
            status: Status::default(),
            custom_status: None,
        }
    }
}

/// A relationship's type, as Discord numbers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RelationshipType {
    /// Friends (1).
    Friend,
    /// This user blocked the other (2).
    Blocked,
    /// The other user asked this one (3).
    IncomingRequest,
    /// This user asked the other (4).
    OutgoingRequest,
}

impl RelationshipType {
    /// Discord's number for it.
    pub const fn discord_type(self) -> u8 {
        match self {
            Self::Friend => 1,
            Self::Blocked => 2,
            Self::IncomingRequest => 3,
            Self::OutgoingRequest => 4,
        }
    }
}

/// The account exists: everything needed to log in and to render a user object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UserRegistered {
    /// The user's id.
    pub user_id: UserId,
    /// The normalized username.
    pub username: String,
    /// The display name.
    pub global_name: Option<String>,
    /// The e-mail address.
    pub email: Option<String>,
    /// The argon2id PHC string (`None` for bots).
    pub password_hash: Option<String>,
    /// Whether this is a bot.
    pub bot: bool,
    /// A bot's application.
    pub application_id: Option<ApplicationId>,
    /// A bot's owner.
    pub owner_id: Option<UserId>,
    /// A bot's token generation.
    pub bot_token_id: Option<u64>,
}

/// The profile changed; carries the whole profile after the change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UserProfileUpdated {
    /// The username.
    pub username: String,
    /// The display name.
    pub global_name: Option<String>,
    /// The avatar hash.
    pub avatar: Option<String>,
}

/// The settings changed; carries all of them after the change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UserSettingsChanged {
    /// The settings now.
    pub settings: UserSettings,
}

/// A bot's token generation moved on; older tokens are void.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BotTokenReset {
    /// The current generation.
    pub token_id: u64,
}

/// A person's password was replaced; logins check the new hash from now on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PasswordChanged {
    /// The new argon2id PHC string.
    pub password_hash: String,
}

/// This user asked `user_id` for friendship (an outgoing request, type 4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FriendRequestSent {
    /// The addressee.
    pub user_id: UserId,
}

/// `user_id` asked this user for friendship (an incoming request, type 3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FriendRequestReceived {
    /// The sender.
    pub user_id: UserId,
}

/// This user accepted `user_id`'s request: they are friends (type 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FriendRequestAccepted {
    /// The requester.
    pub user_id: UserId,
}

/// `user_id` accepted this user's request: they are friends (type 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FriendshipConfirmed {
    /// The accepter.
    pub user_id: UserId,
}

/// This user blocked `user_id` (type 2), replacing any other relationship.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UserBlocked {
    /// The blocked user.
    pub user_id: UserId,
}

/// The relationship with `user_id` is gone (declined, cancelled, unfriended,
/// unblocked, or severed by the other side).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RelationshipRemoved {
    /// The other user.
    pub user_id: UserId,
    /// What the relationship was.
    pub kind: RelationshipType,
}

/// How a message names a user: what a mention count or a notification weighs
/// against the user's settings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct MentionKinds {
    /// `<@user>`, or a reply that pings them.
    pub direct: bool,
    /// A role they hold.
    pub role: bool,
    /// `@everyone` or `@here`.
    pub everyone: bool,
}

impl GuildNotificationSettings {
    /// Whether a message in `channel` that names the user as `kinds` is a mention
    /// for them at `now` — counted as unread, and the same rule for any
    /// notification: it must name them in a way they do not suppress, and neither
    /// the guild nor the channel may be muted (until a mute's end) or set to
    /// notify of nothing (a channel's own level overrides the guild's). Only
    /// mentions are counted, so "all messages" and "only mentions" count alike.
    pub fn counts_mention(
        &self,
        channel: ChannelId,
        kinds: MentionKinds,
        now: OffsetDateTime,
    ) -> bool {
        let named = kinds.direct
            || (kinds.role && !self.suppress_roles)
            || (kinds.everyone && !self.suppress_everyone);
        if !named {
            return false;
        }
        let channel = self.channel_overrides.get(&channel);
        let level = channel
            .and_then(|c| c.message_notifications)
            .unwrap_or(self.message_notifications);
        let holds = |muted: bool, config: Option<&MuteConfig>| {
            muted && config.and_then(|c| c.end_time).is_none_or(|end| now < end)
        };
        level != NotificationLevel::Nothing
            && !holds(self.muted, self.mute_config.as_ref())
            && !channel.is_some_and(|c| holds(c.muted, c.mute_config.as_ref()))
    }
}

/// Discord's user guild settings object — the answer to
/// `PATCH /users/@me/guilds/{id}/settings`, an entry of READY's
/// `user_guild_settings` and the `USER_GUILD_SETTINGS_UPDATE` dispatch, so that all
/// three agree. Fields CloudCord has no feature for keep Discord's defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct UserGuildSettingsObject {
    /// The guild.
    pub guild_id: GuildId,
    /// Discord's level number (0 all, 1 only mentions, 2 nothing).
    pub message_notifications: u8,
    /// Whether the guild is muted.
    pub muted: bool,
    /// Until when.
    pub mute_config: Option<MuteConfigObject>,
    /// Whether `@everyone` and `@here` are ignored.
    pub suppress_everyone: bool,
    /// Whether role mentions are ignored.
    pub suppress_roles: bool,
    /// Always true (CloudCord has no push settings yet).
    pub mobile_push: bool,
    /// Always false.
    pub hide_muted_channels: bool,
    /// Always 0.
    pub notify_highlights: u8,
    /// Always false.
    pub mute_scheduled_events: bool,
    /// Always 0.
    pub flags: u32,
    /// The channel overrides, as Discord lists them (an array).
    pub channel_overrides: Vec<ChannelOverrideObject>,
}

/// A mute config as Discord writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct MuteConfigObject {
    /// When the mute ends (Discord's timestamp form), or null: until unmuted.
    pub end_time: Option<String>,
    /// The window the user picked, in seconds.
    pub selected_time_window: Option<i64>,
}

/// One channel override as Discord writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct ChannelOverrideObject {
    /// The channel.
    pub channel_id: ChannelId,
    /// Discord's level number; 3: as the guild says.
    pub message_notifications: u8,
    /// Whether the channel is muted.
    pub muted: bool,
    /// Until when.
    pub mute_config: Option<MuteConfigObject>,
    /// Always false (a client-side category state).
    pub collapsed: bool,
}

impl MuteConfigObject {
    fn new(config: &MuteConfig) -> Self {
        Self {
            end_time: config.end_time.map(crate::timestamp::discord_timestamp),
            selected_time_window: config.selected_time_window,
        }
    }
}

impl UserGuildSettingsObject {
    /// The object for `settings` of `guild_id`.
    pub fn new(guild_id: GuildId, settings: &GuildNotificationSettings) -> Self {
        Self {
            guild_id,
            message_notifications: settings.message_notifications.discord_value(),
            muted: settings.muted,
            mute_config: settings.mute_config.as_ref().map(MuteConfigObject::new),
            suppress_everyone: settings.suppress_everyone,
            suppress_roles: settings.suppress_roles,
            mobile_push: true,
            hide_muted_channels: false,
            notify_highlights: 0,
            mute_scheduled_events: false,
            flags: 0,
            channel_overrides: settings
                .channel_overrides
                .iter()
                .map(|(channel_id, channel)| ChannelOverrideObject {
                    channel_id: *channel_id,
                    message_notifications: channel
                        .message_notifications
                        .map_or(3, NotificationLevel::discord_value),
                    muted: channel.muted,
                    mute_config: channel.mute_config.as_ref().map(MuteConfigObject::new),
                    collapsed: false,
                })
                .collect(),
        }
    }

    /// As JSON.
    pub fn to_json(&self) -> serde_json::Value {
        // Invariant: plain fields and string-keyed data always serialize.
        serde_json::to_value(self).unwrap_or_default()
    }
}

/// The user's notification settings for a guild changed; carries all of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UserGuildSettingsChanged {
    /// The guild.
    pub guild_id: GuildId,
    /// The settings now.
    pub settings: GuildNotificationSettings,
}

/// A Web Push subscription was registered (or its keys renewed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PushSubscriptionAdded {
    /// The subscription.
    pub subscription: PushSubscription,
    /// The endpoint of the user's oldest subscription, dropped to make room (the
    /// user had [`MAX_PUSH_SUBSCRIPTIONS`]); one event, as a command decides one.
    pub evicted: Option<String>,
}

/// A Web Push subscription was forgotten: by the user, or by CloudCord when the
/// push service said it is gone (404/410).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PushSubscriptionRemoved {
    /// Its push service URL.
    pub endpoint: String,
}

crate::event_enum! {
    /// What happened to a user account.
    pub enum UserEvent {
        UserRegistered = 1,
        UserProfileUpdated = 1,
        UserSettingsChanged = 1,
        BotTokenReset = 1,
        PasswordChanged = 1,
        FriendRequestSent = 1,
        FriendRequestReceived = 1,
        FriendRequestAccepted = 1,
        FriendshipConfirmed = 1,
        UserBlocked = 1,
        RelationshipRemoved = 1,
        UserGuildSettingsChanged = 1,
        PushSubscriptionAdded = 1,
        PushSubscriptionRemoved = 1,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use time::macros::datetime;

    use super::{
        ChannelNotificationOverride, GuildNotificationSettings, MentionKinds, MuteConfig,
        NotificationLevel,
    };
    use crate::ids::ChannelId;

    const CHANNEL: ChannelId = ChannelId::new(10);
    const OTHER: ChannelId = ChannelId::new(11);

    fn until(end: Option<time::OffsetDateTime>) -> Option<MuteConfig> {
        Some(MuteConfig {
            end_time: end,
            selected_time_window: None,
        })
    }

    fn channel(
        level: Option<NotificationLevel>,
        muted: bool,
    ) -> BTreeMap<ChannelId, ChannelNotificationOverride> {
        BTreeMap::from([(
            CHANNEL,
            ChannelNotificationOverride {
                message_notifications: level,
                muted,
                mute_config: None,
            },
        )])
    }

    #[test]
    fn mentions_count_as_the_users_settings_say() {
        let now = datetime!(2026-11-28 12:00 UTC);
        let direct = MentionKinds {
            direct: true,
            ..MentionKinds::default()
        };
        let role = MentionKinds {
            role: true,
            ..MentionKinds::default()
        };
        let everyone = MentionKinds {
            everyone: true,
            ..MentionKinds::default()
        };
        let base = GuildNotificationSettings::default();
        let cases: [(
            &str,
            GuildNotificationSettings,
            MentionKinds,
            ChannelId,
            bool,
        ); 12] = [
            (
                "defaults: a direct mention",
                base.clone(),
                direct,
                CHANNEL,
                true,
            ),
            ("defaults: @everyone", base.clone(), everyone, CHANNEL, true),
            ("defaults: a role", base.clone(), role, CHANNEL, true),
            (
                "suppressed @everyone",
                GuildNotificationSettings {
                    suppress_everyone: true,
                    ..base.clone()
                },
                everyone,
                CHANNEL,
                false,
            ),
            (
                "suppressed roles, but also named directly",
                GuildNotificationSettings {
                    suppress_roles: true,
                    ..base.clone()
                },
                MentionKinds {
                    direct: true,
                    role: true,
                    everyone: false,
                },
                CHANNEL,
                true,
            ),
            (
                "only mentions still counts mentions",
                GuildNotificationSettings {
                    message_notifications: NotificationLevel::OnlyMentions,
                    ..base.clone()
                },
                direct,
                CHANNEL,
                true,
            ),
            (
                "nothing",
                GuildNotificationSettings {
                    message_notifications: NotificationLevel::Nothing,
                    ..base.clone()
                },
                direct,
                CHANNEL,
                false,
            ),
            (
                "a channel's own level overrides the guild's",
                GuildNotificationSettings {
                    message_notifications: NotificationLevel::Nothing,
                    channel_overrides: channel(Some(NotificationLevel::AllMessages), false),
                    ..base.clone()
                },
                direct,
                CHANNEL,
                true,
            ),
            (
                "muted until unmuted",
                GuildNotificationSettings {
                    muted: true,
                    ..base.clone()
                },
                direct,
                CHANNEL,
                false,
            ),
            (
                "a mute that has ended",
                GuildNotificationSettings {
                    muted: true,
                    mute_config: until(Some(datetime!(2026-11-28 11:00 UTC))),
                    ..base.clone()
                },
                direct,
                CHANNEL,
                true,
            ),
            (
                "a muted channel",
                GuildNotificationSettings {
                    channel_overrides: channel(None, true),
                    ..base.clone()
                },
                direct,
                CHANNEL,
                false,
            ),
            (
                "another channel's mute",
                GuildNotificationSettings {
                    channel_overrides: channel(None, true),
                    ..base
                },
                direct,
                OTHER,
                true,
            ),
        ];
        for (name, settings, kinds, channel, expected) in cases {
            assert_eq!(
                settings.counts_mention(channel, kinds, now),
                expected,
                "{name}"
            );
        }
    }
}

//! Discord JSON objects the gateway sends that do not come from an event: READY's
//! `d`, the current user in it, and DM channels.

use cloudcord_schemas::ids::{ChannelId, GuildId, UserId};
use cloudcord_schemas::message::UserSnapshot;
use serde_json::{Value, json};

use crate::guild_state::user_object;
use crate::protocol::payload::Shard;
use crate::protocol::query::API_VERSION;
use crate::read_models::{UserRow, stored};

/// A DM channel as `viewer`, one of its `recipients`, sees it: the other one is
/// the recipient.
pub fn dm_channel(channel: ChannelId, recipients: &[UserSnapshot; 2], viewer: UserId) -> Value {
    let others: Vec<Value> = recipients
        .iter()
        .filter(|user| user.id != viewer)
        .map(user_object)
        .collect();
    json!({
        "id": channel,
        "type": 1,
        "last_message_id": null,
        "flags": 0,
        "recipients": others,
    })
}

/// The current user as READY shows it: the public fields plus what only the user
/// sees (e-mail), as `GET /users/@me` answers.
pub fn current_user(user: &UserRow) -> Value {
    json!({
        "id": stored(user.id).to_string(),
        "username": user.username,
        "discriminator": "0",
        "global_name": user.global_name,
        "avatar": user.avatar,
        "bot": user.bot,
        "system": false,
        "banner": null,
        "accent_color": null,
        "avatar_decoration_data": null,
        "primary_guild": null,
        "public_flags": 0,
        "flags": 0,
        "mfa_enabled": false,
        "premium_type": 0,
        "email": user.email,
        // No e-mail verification exists yet; bots are always verified (as on Discord).
        "verified": user.bot,
    })
}

/// What READY says about a new session.
#[derive(Debug)]
pub struct Ready<'a> {
    /// The user.
    pub user: &'a UserRow,
    /// Their guilds (each sent as unavailable until its GUILD_CREATE).
    pub guilds: &'a [GuildId],
    /// The new session's id.
    pub session_id: &'a str,
    /// Where to resume.
    pub resume_gateway_url: &'a str,
    /// The shard, when the client shards.
    pub shard: Option<Shard>,
    /// The user's DM channels (a person's; bots get none, as on Discord).
    pub private_channels: &'a [(ChannelId, [UserSnapshot; 2])],
    /// `read_state` and `user_guild_settings` (a person's; bots get none).
    pub read_states: Option<(Value, Value)>,
    /// Discord's relationship type and the other user, by their id.
    pub relationships: &'a [(u8, UserSnapshot)],
}

impl Ready<'_> {
    /// READY's `d`.
    pub fn to_json(&self) -> String {
        let guilds: Vec<Value> = self
            .guilds
            .iter()
            .map(|id| json!({ "id": id.to_string(), "unavailable": true }))
            .collect();
        let me = UserId::new(stored(self.user.id));
        let private_channels: Vec<Value> = if self.user.bot {
            Vec::new()
        } else {
            self.private_channels
                .iter()
                .map(|(channel, recipients)| dm_channel(*channel, recipients, me))
                .collect()
        };
        let relationships: Vec<Value> = self
            .relationships
            .iter()
            .map(|(kind, other)| relationship_object(*kind, other.id, Some(other)))
            .collect();
        let mut ready = json!({
            "v": API_VERSION,
            "user": current_user(self.user),
            "guilds": guilds,
            "session_id": self.session_id,
            "resume_gateway_url": self.resume_gateway_url,
            "private_channels": private_channels,
            "relationships": relationships,
            "presences": [],
            "user_settings": {},
            // Partial application: a bot's; a person's session has none (null).
            "application": self.user.application_id.map(|id| json!({
                "id": stored(id).to_string(),
                "flags": 0,
            })),
        });
        if let Some(shard) = self.shard {
            ready["shard"] = json!([shard.id, shard.count]);
        }
        if let Some((read_state, user_guild_settings)) = &self.read_states {
            ready["read_state"] = read_state.clone();
            ready["user_guild_settings"] = user_guild_settings.clone();
        }
        ready.to_string()
    }
}

/// Discord's relationship object, in READY's `relationships` and RELATIONSHIP_ADD
/// (query-api's `GET /users/@me/relationships` answers the same shape).
pub fn relationship_object(kind: u8, other: UserId, user: Option<&UserSnapshot>) -> Value {
    json!({
        "id": other.to_string(),
        "type": kind,
        "user": user.map(user_object),
        "nickname": null,
    })
}

//! [`GuildState`]: what the gateway keeps in memory of each guild that has a session
//! in this process — enough to decide VIEW_CHANNEL for every event without asking
//! the database, and to render Discord's objects (GUILD_CREATE, members, channels).
//!
//! It is a small projection of the guild's events: loaded once from the read models
//! (with the guild's `seq` at that moment) and then moved forward by every projected
//! guild event after that `seq`, in order. Pure: no I/O, no clock.

use std::collections::{BTreeMap, HashMap};

use cloudcord_schemas::guild::{GuildChannel, GuildEvent, Role, VoiceState};
use cloudcord_schemas::ids::{ChannelId, GuildId, MessageId, RoleId, UserId};
use cloudcord_schemas::message::UserSnapshot;
use cloudcord_schemas::permissions::{
    GuildView, MemberView, Permissions, RoleLookup, channel_permissions,
};
use cloudcord_schemas::timestamp::discord_timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::presence::{Presences, Visible};
use crate::protocol::payload::{MemberRequest, MemberSelection};

/// Most members per GUILD_MEMBERS_CHUNK.
const MEMBERS_PER_CHUNK: usize = 1000;

/// A member as the gateway keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    /// The user, as last seen.
    pub user: UserSnapshot,
    /// Guild nickname.
    pub nick: Option<String>,
    /// Roles (without `@everyone`).
    pub roles: Vec<RoleId>,
    /// When they joined.
    #[serde(with = "time::serde::rfc3339")]
    pub joined_at: OffsetDateTime,
    /// End of their timeout.
    #[serde(with = "time::serde::rfc3339::option")]
    pub communication_disabled_until: Option<OffsetDateTime>,
    /// Server-muted.
    pub mute: bool,
    /// Server-deafened.
    pub deaf: bool,
}

/// One guild, as of its event `position`. It serializes so that a session handed
/// over to another gateway process takes the guild as this process saw it along.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuildState {
    /// The guild.
    pub id: GuildId,
    /// The `seq` of the guild's last event reflected here.
    pub position: u64,
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Owner.
    pub owner_id: UserId,
    /// Where system messages go.
    pub system_channel_id: Option<ChannelId>,
    /// The AFK voice channel.
    pub afk_channel_id: Option<ChannelId>,
    /// Seconds before an idle member is moved there.
    pub afk_timeout: u32,
    /// The icon's image hash (states handed over before icons lack it).
    #[serde(default)]
    pub icon: Option<String>,
    /// The banner's image hash.
    #[serde(default)]
    pub banner: Option<String>,
    /// When the guild was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Roles by id.
    pub roles: BTreeMap<RoleId, Role>,
    /// Channels by id, with their overwrites.
    pub channels: BTreeMap<ChannelId, GuildChannel>,
    /// Members by user.
    pub members: HashMap<UserId, Member>,
    /// Voice states by user.
    pub voice_states: HashMap<UserId, VoiceState>,
    /// The newest message of each text channel that has one (channel objects'
    /// `last_message_id`: with READY's read states, clients tell unread channels).
    /// Deleting that message forgets it until the next one: the channel reads as
    /// read rather than unread for good, as the message cannot be acked any more.
    #[serde(default)]
    pub last_messages: HashMap<ChannelId, MessageId>,
}

struct Roles<'a>(&'a BTreeMap<RoleId, Role>);

impl RoleLookup for Roles<'_> {
    fn role_permissions(&self, role: RoleId) -> Option<Permissions> {
        self.0.get(&role).map(|role| role.permissions)
    }
}

/// Discord's user object of a snapshot.
pub fn user_object(user: &UserSnapshot) -> Value {
    let mut object = json!({
        "id": user.id,
        "username": user.username,
        "discriminator": "0",
        "global_name": user.global_name,
        "avatar": user.avatar,
        "public_flags": 0,
    });
    if user.bot {
        object["bot"] = json!(true);
    }
    object
}

/// Discord's role object.
pub fn role_object(role: &Role) -> Value {
    json!({
        "id": role.id,
        "name": role.name,
        "color": role.color,
        "colors": {"primary_color": role.color, "secondary_color": null, "tertiary_color": null},
        "hoist": role.hoist,
        "icon": null,
        "unicode_emoji": null,
        "position": role.position,
        "permissions": role.permissions,
        "managed": role.managed,
        "mentionable": role.mentionable,
        "flags": 0,
    })
}

/// Discord's guild member object.
pub fn member_object(member: &Member) -> Value {
    json!({
        "user": user_object(&member.user),
        "nick": member.nick,
        "avatar": null,
        "banner": null,
        "roles": member.roles,
        "joined_at": discord_timestamp(member.joined_at),
        "premium_since": null,
        "deaf": member.deaf,
        "mute": member.mute,
        "flags": 0,
        "pending": false,
        "communication_disabled_until": member.communication_disabled_until.map(discord_timestamp),
    })
}

impl GuildState {
    /// Whether `user` may see `channel` (VIEW_CHANNEL after overwrites). Not a
    /// member, or no such channel: no.
    pub fn can_view(&self, user: UserId, channel: ChannelId) -> bool {
        let (Some(member), Some(channel)) = (self.members.get(&user), self.channels.get(&channel))
        else {
            return false;
        };
        let roles = Roles(&self.roles);
        let guild = GuildView {
            guild_id: self.id,
            owner_id: self.owner_id,
            role_permissions: &roles,
        };
        let member = MemberView {
            user_id: user,
            roles: &member.roles,
            // A timeout never takes VIEW_CHANNEL away, so no clock is needed here.
            communication_disabled_until_ms: None,
        };
        channel_permissions(&guild, &member, &channel.permission_overwrites, 0)
            .contains(Permissions::VIEW_CHANNEL)
    }

    /// The members who may see `channel`.
    pub fn viewers(&self, channel: ChannelId) -> Vec<UserId> {
        self.members
            .keys()
            .copied()
            .filter(|user| self.can_view(*user, channel))
            .collect()
    }

    /// Moves the state past `event` (the guild's event number `seq`).
    pub fn apply(&mut self, seq: u64, event: &GuildEvent) {
        self.position = seq;
        match event {
            GuildEvent::GuildCreated(created) => {
                self.name.clone_from(&created.name);
                self.owner_id = created.owner.id;
                self.system_channel_id = created.system_channel_id;
                self.created_at = created.created_at;
                self.roles = created.roles.iter().map(|r| (r.id, r.clone())).collect();
                self.channels = created.channels.iter().map(|c| (c.id, c.clone())).collect();
                self.members.insert(
                    created.owner.id,
                    Member {
                        user: created.owner.clone(),
                        nick: None,
                        roles: Vec::new(),
                        joined_at: created.created_at,
                        communication_disabled_until: None,
                        mute: false,
                        deaf: false,
                    },
                );
            }
            GuildEvent::GuildUpdated(updated) => {
                if let Some(name) = &updated.name {
                    self.name.clone_from(name);
                }
                if let Some(description) = &updated.description {
                    self.description.clone_from(description);
                }
                if let Some(owner) = updated.owner_id {
                    self.owner_id = owner;
                }
                if let Some(channel) = updated.system_channel_id {
                    self.system_channel_id = channel;
                }
                if let Some(channel) = updated.afk_channel_id {
                    self.afk_channel_id = channel;
                }
                if let Some(timeout) = updated.afk_timeout {
                    self.afk_timeout = timeout;
                }
                if let Some(icon) = &updated.icon {
                    self.icon.clone_from(icon);
                }
                if let Some(banner) = &updated.banner {
                    self.banner.clone_from(banner);
                }
            }
            GuildEvent::GuildDeleted(_) => {
                self.channels.clear();
                self.members.clear();
                self.voice_states.clear();
            }
            GuildEvent::ChannelCreated(e) => {
                self.channels.insert(e.channel.id, e.channel.clone());
            }
            GuildEvent::ChannelUpdated(e) => {
                self.channels.insert(e.channel.id, e.channel.clone());
            }
            GuildEvent::ChannelDeleted(e) => {
                self.channels.remove(&e.channel.id);
                self.last_messages.remove(&e.channel.id);
                for channel in self.channels.values_mut() {
                    if channel.parent_id == Some(e.channel.id) {
                        channel.parent_id = None;
                    }
                }
                for slot in [&mut self.system_channel_id, &mut self.afk_channel_id] {
                    if *slot == Some(e.channel.id) {
                        *slot = None;
                    }
                }
                self.voice_states
                    .retain(|_, state| state.channel_id != Some(e.channel.id));
            }
            GuildEvent::ChannelOverwriteUpserted(e) => {
                if let Some(channel) = self.channels.get_mut(&e.channel_id) {
                    channel
                        .permission_overwrites
                        .retain(|o| o.id != e.overwrite.id);
                    channel.permission_overwrites.push(e.overwrite.clone());
                }
            }
            GuildEvent::ChannelOverwriteDeleted(e) => {
                if let Some(channel) = self.channels.get_mut(&e.channel_id) {
                    channel.permission_overwrites.retain(|o| o.id != e.id);
                }
            }
            GuildEvent::RoleCreated(e) => {
                for role in self.roles.values_mut() {
                    if role.position >= 1 {
                        role.position += 1;
                    }
                }
                self.roles.insert(e.role.id, e.role.clone());
            }
            GuildEvent::RoleUpdated(e) => {
                self.roles.insert(e.role.id, e.role.clone());
            }
            GuildEvent::RoleDeleted(e) => {
                self.roles.remove(&e.role_id);
                for member in self.members.values_mut() {
                    member.roles.retain(|role| *role != e.role_id);
                }
            }
            GuildEvent::RolePositionsUpdated(e) => {
                for position in &e.positions {
                    if let Some(role) = self.roles.get_mut(&position.id) {
                        role.position = position.position;
                    }
                }
            }
            GuildEvent::MemberJoined(e) => {
                self.members.insert(
                    e.user.id,
                    Member {
                        user: e.user.clone(),
                        nick: None,
                        roles: Vec::new(),
                        joined_at: e.joined_at,
                        communication_disabled_until: None,
                        mute: false,
                        deaf: false,
                    },
                );
            }
            GuildEvent::MemberLeft(e) => self.remove_member(e.user_id),
            GuildEvent::MemberKicked(e) => self.remove_member(e.user_id),
            GuildEvent::MemberBanned(e) => self.remove_member(e.user_id),
            GuildEvent::MemberUpdated(e) => {
                if let Some(member) = self.members.get_mut(&e.user_id) {
                    member.nick.clone_from(&e.nick);
                    member.roles.clone_from(&e.roles);
                    member.communication_disabled_until = e.communication_disabled_until;
                    member.mute = e.mute;
                    member.deaf = e.deaf;
                }
            }
            GuildEvent::VoiceStateUpdated(e) => {
                if e.state.channel_id.is_some() {
                    self.voice_states.insert(e.state.user_id, e.state.clone());
                } else {
                    self.voice_states.remove(&e.state.user_id);
                }
            }
            GuildEvent::MessageSent(e) => {
                self.last_messages.insert(e.channel_id, e.id);
            }
            GuildEvent::MessageDeleted(e) => self.forget_last_message(e.channel_id, &[e.id]),
            GuildEvent::MessagesBulkDeleted(e) => self.forget_last_message(e.channel_id, &e.ids),
            // Edits, reactions, pins, acks, invites and unbans change nothing kept
            // here.
            GuildEvent::MemberUnbanned(_)
            | GuildEvent::MessageAcked(_)
            | GuildEvent::InviteCreated(_)
            | GuildEvent::InviteRevoked(_)
            | GuildEvent::MessageEdited(_)
            | GuildEvent::ReactionAdded(_)
            | GuildEvent::ReactionRemoved(_)
            | GuildEvent::MessagePinned(_)
            | GuildEvent::MessageUnpinned(_) => {}
        }
    }

    /// After `deleted` messages of `channel` are gone: the channel's newest
    /// message is no longer known if it was one of them.
    fn forget_last_message(&mut self, channel: ChannelId, deleted: &[MessageId]) {
        if self
            .last_messages
            .get(&channel)
            .is_some_and(|last| deleted.contains(last))
        {
            self.last_messages.remove(&channel);
        }
    }

    fn remove_member(&mut self, user: UserId) {
        self.members.remove(&user);
        self.voice_states.remove(&user);
    }

    /// GUILD_MEMBERS_CHUNKs' `d` answering `request`: up to 1,000 members each,
    /// `not_found` for requested users who are not members, the nonce echoed.
    pub fn member_chunks(&self, request: &MemberRequest) -> Vec<Value> {
        let mut not_found = Vec::new();
        let mut members: Vec<&Member> = match &request.members {
            MemberSelection::All => self.members.values().collect(),
            MemberSelection::Prefix { prefix, limit } => {
                let mut found: Vec<&Member> = self
                    .members
                    .values()
                    .filter(|member| member.user.username.to_lowercase().starts_with(prefix))
                    .collect();
                found.sort_by_key(|member| member.user.id);
                found.truncate(usize::try_from(*limit).unwrap_or(usize::MAX));
                found
            }
            MemberSelection::Users(users) => users
                .iter()
                .filter_map(|user| {
                    let member = self.members.get(user);
                    if member.is_none() {
                        not_found.push(user.to_string());
                    }
                    member
                })
                .collect(),
        };
        members.sort_by_key(|member| member.user.id);
        let chunks: Vec<&[&Member]> = if members.is_empty() {
            vec![&[]]
        } else {
            members.chunks(MEMBERS_PER_CHUNK).collect()
        };
        let count = chunks.len();
        chunks
            .into_iter()
            .enumerate()
            .map(|(index, chunk)| {
                let mut data = json!({
                    "guild_id": self.id,
                    "members": chunk.iter().map(|member| member_object(member)).collect::<Vec<_>>(),
                    "chunk_index": index,
                    "chunk_count": count,
                });
                if index == 0 && !not_found.is_empty() {
                    data["not_found"] = json!(not_found);
                }
                if let Some(nonce) = &request.nonce {
                    data["nonce"] = json!(nonce);
                }
                data
            })
            .collect()
    }

    /// Discord's guild object.
    pub fn guild_object(&self) -> Value {
        let roles: Vec<Value> = self.roles.values().map(role_object).collect();
        json!({
            "id": self.id,
            "name": self.name,
            "icon": self.icon,
            "icon_hash": self.icon,
            "splash": null,
            "discovery_splash": null,
            "owner_id": self.owner_id,
            // Deprecated by Discord, which now always sends this string.
            "region": "deprecated",
            "afk_channel_id": self.afk_channel_id,
            "afk_timeout": self.afk_timeout,
            "widget_enabled": false,
            "widget_channel_id": null,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "roles": roles,
            "emojis": [],
            "features": [],
            "mfa_level": 0,
            "application_id": null,
            "system_channel_id": self.system_channel_id,
            "system_channel_flags": 0,
            "rules_channel_id": null,
            "max_members": 500_000,
            "vanity_url_code": null,
            "description": self.description,
            "banner": self.banner,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": "en-US",
            "public_updates_channel_id": null,
            "max_video_channel_users": 25,
            "nsfw_level": 0,
            "stickers": [],
            "premium_progress_bar_enabled": false,
            "safety_alerts_channel_id": null,
            "max_presences": null,
            "max_stage_video_channel_users": 0,
            "nsfw": false,
        })
    }

    /// Discord's channel object for one of the guild's channels.
    pub fn channel_object(&self, channel: &GuildChannel) -> Value {
        let mut object = json!({
            "id": channel.id,
            "type": channel.kind,
            "guild_id": self.id,
            "name": channel.name,
            "position": channel.position,
            "permission_overwrites": channel.permission_overwrites,
            "parent_id": channel.parent_id,
            "nsfw": channel.nsfw,
            "flags": 0,
        });
        match u8::from(channel.kind) {
            0 => {
                object["topic"] = json!(channel.topic);
                object["rate_limit_per_user"] = json!(channel.rate_limit_per_user);
                object["last_message_id"] = json!(self.last_messages.get(&channel.id));
            }
            2 => {
                object["bitrate"] = json!(channel.bitrate);
                object["user_limit"] = json!(channel.user_limit);
                object["rtc_region"] = Value::Null;
                object["rate_limit_per_user"] = json!(0);
            }
            _ => {}
        }
        object
    }

    /// Discord's voice state object (`with_guild`: GUILD_CREATE's partial states
    /// leave out `guild_id`).
    pub fn voice_state_object(&self, state: &VoiceState, with_guild: bool) -> Value {
        let mut object = json!({
            "channel_id": state.channel_id,
            "user_id": state.user_id,
            "member": self.members.get(&state.user_id).map(member_object),
            "session_id": state.session_id_field(),
            "deaf": state.deaf,
            "mute": state.mute,
            "self_deaf": state.self_deaf,
            "self_mute": state.self_mute,
            "self_stream": false,
            "self_video": false,
            "suppress": state.suppress,
            "request_to_speak_timestamp": null,
        });
        if with_guild {
            object["guild_id"] = json!(self.id);
        }
        object
    }

    /// GUILD_CREATE's `d` for `viewer`: the guild with the channels they can see,
    /// its voice states, and its members. With `presences` (people, and bots with
    /// GUILD_PRESENCES) it lists every member of a guild not larger than
    /// `large_threshold`, only the online ones of a larger one, and the presences
    /// of the online members; without, only the viewer and the members in voice.
    pub fn guild_create(
        &self,
        viewer: UserId,
        large_threshold: u64,
        presences: Option<&Presences>,
    ) -> Value {
        let large = u64::try_from(self.members.len()).unwrap_or(u64::MAX) > large_threshold;
        let channels: Vec<Value> = self
            .channels
            .values()
            .filter(|channel| self.can_view(viewer, channel.id))
            .map(|channel| self.channel_object(channel))
            .collect();
        // A large guild lists its online members (and who is in voice); without
        // presences, only the viewer and who is in voice.
        let online = |user: &UserId| presences.is_some_and(|p| p.visible(*user).is_some());
        let listed = |user: &UserId| match presences {
            Some(_) if !large => true,
            _ => *user == viewer || self.voice_states.contains_key(user) || online(user),
        };
        let members: Vec<Value> = self
            .members
            .iter()
            .filter(|(user, _)| listed(user))
            .map(|(_, member)| member_object(member))
            .collect();
        let presences: Vec<Value> = presences
            .into_iter()
            .flat_map(|presences| {
                self.members.keys().filter_map(|user| {
                    let visible = presences.visible(*user)?;
                    Some(Visible::object(*user, Some(&visible)))
                })
            })
            .collect();
        let voice_states: Vec<Value> = self
            .voice_states
            .values()
            .map(|state| self.voice_state_object(state, false))
            .collect();
        let mut guild = self.guild_object();
        guild["joined_at"] = json!(
            self.members
                .get(&viewer)
                .map(|m| discord_timestamp(m.joined_at))
        );
        guild["large"] = json!(large);
        guild["unavailable"] = json!(false);
        guild["member_count"] = json!(self.members.len());
        guild["channels"] = Value::Array(channels);
        guild["members"] = Value::Array(members);
        guild["voice_states"] = Value::Array(voice_states);
        guild["threads"] = json!([]);
        guild["presences"] = Value::Array(presences);
        guild["stage_instances"] = json!([]);
        guild["guild_scheduled_events"] = json!([]);
        guild["soundboard_sounds"] = json!([]);
        guild
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::{BTreeMap, HashMap};

    use cloudcord_schemas::guild::{ChannelType, GuildChannel, GuildEvent, Role, RoleCreated};
    use cloudcord_schemas::ids::{ChannelId, GuildId, MessageId, RoleId, UserId};
    use cloudcord_schemas::message::{MessageDeleted, MessageSent, UserSnapshot};
    use cloudcord_schemas::permissions::{PermissionOverwrite, Permissions};
    use serde_json::Value;
    use time::macros::datetime;

    use std::time::Instant;

    use cloudcord_schemas::ephemeral::{PresenceReport, SessionPresence, Status};
    use serde_json::json;

    use super::{GuildState, Member};
    use crate::presence::Presences;

    const GUILD: GuildId = GuildId::new(100);
    pub const OWNER: UserId = UserId::new(1);
    pub const ALICE: UserId = UserId::new(2);
    pub const BOB: UserId = UserId::new(3);
    pub const MODS: RoleId = RoleId::new(200);
    const ADMINS: RoleId = RoleId::new(201);

    pub fn channel(id: u64) -> GuildChannel {
        GuildChannel {
            id: ChannelId::new(id),
            kind: ChannelType::GuildText,
            name: format!("c{id}"),
            position: 0,
            parent_id: None,
            topic: None,
            nsfw: false,
            rate_limit_per_user: 0,
            bitrate: None,
            user_limit: None,
            permission_overwrites: Vec::new(),
        }
    }

    fn role(id: RoleId, position: u32, permissions: Permissions) -> Role {
        Role {
            id,
            name: format!("r{id}"),
            color: 0,
            hoist: false,
            position,
            permissions,
            managed: false,
            mentionable: false,
        }
    }

    fn member(id: UserId, name: &str, roles: Vec<RoleId>) -> (UserId, Member) {
        (
            id,
            Member {
                user: UserSnapshot {
                    id,
                    username: name.into(),
                    global_name: None,
                    avatar: None,
                    bot: false,
                },
                nick: None,
                roles,
                joined_at: datetime!(2026-11-28 12:00 UTC),
                communication_disabled_until: None,
                mute: false,
                deaf: false,
            },
        )
    }

    /// OWNER's guild: `@everyone` may view; channel 10 is open to all.
    pub fn guild() -> GuildState {
        let everyone = RoleId::new(GUILD.get());
        GuildState {
            id: GUILD,
            position: 1,
            name: "g".into(),
            description: None,
            owner_id: OWNER,
            system_channel_id: None,
            afk_channel_id: None,
            afk_timeout: 300,
            icon: None,
            banner: None,
            created_at: datetime!(2026-11-28 12:00 UTC),
            roles: BTreeMap::from([
                (everyone, role(everyone, 0, Permissions::VIEW_CHANNEL)),
                (MODS, role(MODS, 1, Permissions::empty())),
                (ADMINS, role(ADMINS, 2, Permissions::ADMINISTRATOR)),
            ]),
            channels: BTreeMap::from([(ChannelId::new(10), channel(10))]),
            members: HashMap::from([
                member(OWNER, "owner", Vec::new()),
                member(ALICE, "alice", Vec::new()),
                member(BOB, "bob", Vec::new()),
            ]),
            voice_states: HashMap::new(),
            last_messages: HashMap::new(),
        }
    }

    #[test]
    fn view_channel_follows_overwrites_roles_owner_and_administrator() {
        let everyone = RoleId::new(GUILD.get());
        let deny_all =
            PermissionOverwrite::role(everyone, Permissions::empty(), Permissions::VIEW_CHANNEL);
        let allow_mods =
            PermissionOverwrite::role(MODS, Permissions::VIEW_CHANNEL, Permissions::empty());
        let deny_alice =
            PermissionOverwrite::member(ALICE, Permissions::empty(), Permissions::VIEW_CHANNEL);
        // (overwrites, ALICE's roles, who sees it among OWNER, ALICE, BOB)
        let table: [(Vec<PermissionOverwrite>, Vec<RoleId>, [bool; 3]); 5] = [
            (vec![], vec![], [true, true, true]),
            (vec![deny_all.clone()], vec![], [true, false, false]),
            (
                vec![deny_all.clone(), allow_mods.clone()],
                vec![MODS],
                [true, true, false],
            ),
            (
                vec![allow_mods, deny_alice],
                vec![MODS],
                [true, false, true],
            ),
            (vec![deny_all], vec![ADMINS], [true, true, false]),
        ];
        for (overwrites, roles, expected) in table {
            let mut state = guild();
            state
                .channels
                .get_mut(&ChannelId::new(10))
                .expect("channel")
                .permission_overwrites = overwrites.clone();
            state.members.get_mut(&ALICE).expect("alice").roles = roles.clone();
            let seen = [OWNER, ALICE, BOB].map(|user| state.can_view(user, ChannelId::new(10)));
            assert_eq!(seen, expected, "{overwrites:?} with {roles:?}");
        }
    }

    #[test]
    fn member_chunks_answer_all_prefix_and_user_requests() {
        use crate::protocol::payload::{MemberRequest, MemberSelection};

        let state = guild();
        let ask = |members, nonce: Option<&str>| MemberRequest {
            guild_id: GUILD,
            members,
            nonce: nonce.map(str::to_owned),
        };
        let ids = |chunk: &serde_json::Value| -> Vec<String> {
            chunk["members"]
                .as_array()
                .map(|members| {
                    members
                        .iter()
                        .map(|m| m["user"]["id"].as_str().unwrap_or_default().to_owned())
                        .collect()
                })
                .unwrap_or_default()
        };
        let all = state.member_chunks(&ask(MemberSelection::All, Some("n")));
        assert_eq!(all.len(), 1);
        assert_eq!(ids(&all[0]), ["1", "2", "3"]);
        assert_eq!(
            (all[0]["chunk_index"].clone(), all[0]["chunk_count"].clone()),
            (0.into(), 1.into())
        );
        assert_eq!(all[0]["nonce"], "n");
        let prefix = state.member_chunks(&ask(
            MemberSelection::Prefix {
                prefix: "al".into(),
                limit: 100,
            },
            None,
        ));
        assert_eq!(ids(&prefix[0]), ["2"]);
        let users = state.member_chunks(&ask(
            MemberSelection::Users(vec![BOB, UserId::new(99)]),
            None,
        ));
        assert_eq!(ids(&users[0]), ["3"]);
        assert_eq!(users[0]["not_found"], serde_json::json!(["99"]));
        // Nothing matches: one empty chunk still answers.
        let none = state.member_chunks(&ask(
            MemberSelection::Prefix {
                prefix: "zz".into(),
                limit: 1,
            },
            None,
        ));
        assert_eq!((none.len(), ids(&none[0]).len()), (1, 0));
    }

    #[test]
    fn strangers_and_unknown_channels_are_never_visible() {
        let state = guild();
        assert!(!state.can_view(UserId::new(99), ChannelId::new(10)));
        assert!(!state.can_view(ALICE, ChannelId::new(11)));
    }

    #[test]
    fn a_new_role_lands_at_position_1_and_pushes_the_others_up() {
        let mut state = guild();
        let new = role(RoleId::new(300), 1, Permissions::empty());
        state.apply(2, &GuildEvent::RoleCreated(RoleCreated { role: new }));
        let positions: Vec<(u64, u32)> = state
            .roles
            .values()
            .map(|role| (role.id.get(), role.position))
            .collect();
        assert_eq!(positions, [(100, 0), (200, 2), (201, 3), (300, 1)]);
    }

    #[test]
    fn guild_create_lists_only_visible_channels_and_trims_large_member_lists() {
        let mut state = guild();
        let mut hidden = channel(11);
        hidden.permission_overwrites = vec![PermissionOverwrite::member(
            ALICE,
            Permissions::empty(),
            Permissions::VIEW_CHANNEL,
        )];
        state.channels.insert(hidden.id, hidden);
        let none_online = Presences::default();
        let create = state.guild_create(ALICE, 50, Some(&none_online));
        assert_eq!(create["channels"].as_array().map(Vec::len), Some(1));
        assert_eq!(create["members"].as_array().map(Vec::len), Some(3));
        assert_eq!(create["presences"], json!([]));
        assert_eq!(create["large"], false);
        assert_eq!(create["member_count"], 3);
        // Over the threshold, or without presences (a bot without
        // GUILD_PRESENCES): only the viewer (and members in voice).
        for create in [
            state.guild_create(ALICE, 2, Some(&none_online)),
            state.guild_create(ALICE, 50, None),
        ] {
            assert_eq!(create["members"][0]["user"]["id"], ALICE.to_string());
            assert_eq!(create["members"].as_array().map(Vec::len), Some(1));
        }
        assert_eq!(state.guild_create(ALICE, 2, None)["large"], true);
    }

    #[test]
    fn guild_create_carries_presences_and_a_large_guild_lists_online_members() {
        let state = guild();
        let mut presences = Presences::default();
        presences.apply(
            &PresenceReport {
                process: "p".to_owned(),
                sessions: vec![SessionPresence {
                    session_id: "bob".to_owned(),
                    user_id: BOB,
                    status: Status::Dnd,
                    activities: Vec::new(),
                    changed_at_ms: 1,
                }],
            },
            Instant::now(),
        );
        let create = state.guild_create(ALICE, 2, Some(&presences));
        assert_eq!(create["presences"].as_array().map(Vec::len), Some(1));
        assert_eq!(create["presences"][0]["user"]["id"], BOB.to_string());
        assert_eq!(create["presences"][0]["status"], "dnd");
        let mut listed: Vec<String> = create["members"]
            .as_array()
            .expect("members")
            .iter()
            .map(|m| m["user"]["id"].as_str().expect("id").to_owned())
            .collect();
        listed.sort();
        assert_eq!(listed, [ALICE.to_string(), BOB.to_string()]);
    }

    #[test]
    fn a_text_channel_shows_its_newest_message_until_that_one_is_deleted() {
        let mut state = guild();
        let last = |state: &GuildState| {
            let channel = &state.channels[&ChannelId::new(10)];
            state.channel_object(channel)["last_message_id"].clone()
        };
        assert_eq!(last(&state), Value::Null);
        let sent = |id: u64| {
            GuildEvent::MessageSent(MessageSent {
                id: MessageId::new(id),
                channel_id: ChannelId::new(10),
                author: member(OWNER, "owner", Vec::new()).1.user,
                content: String::new(),
                timestamp: datetime!(2026-11-28 12:00 UTC),
                tts: false,
                mention_everyone: false,
                mentions: Vec::new(),
                mention_roles: Vec::new(),
                message_reference: None,
                nonce: None,
                attachments: Vec::new(),
            })
        };
        state.apply(1, &sent(100));
        state.apply(2, &sent(101));
        assert_eq!(last(&state), json!("101"));
        // An older message's deletion changes nothing; the newest one's forgets it.
        let deleted = |id: u64| {
            GuildEvent::MessageDeleted(MessageDeleted {
                id: MessageId::new(id),
                channel_id: ChannelId::new(10),
            })
        };
        state.apply(3, &deleted(100));
        assert_eq!(last(&state), json!("101"));
        state.apply(4, &deleted(101));
        assert_eq!(last(&state), Value::Null);
    }
}

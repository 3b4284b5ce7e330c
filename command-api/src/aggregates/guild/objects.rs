//! The Discord JSON objects the HTTP caller receives for accepted guild commands, in
//! the shapes of Discord's OpenAPI spec (guild, channel, role, member, invite,
//! message, voice state), and which status goes with which outcome:
//!
//! | outcome | status | body |
//! |---|---|---|
//! | `GuildCreated` | 201 | guild |
//! | `GuildUpdated` | 200 | guild |
//! | `ChannelCreated` | 201 | channel |
//! | `ChannelUpdated`, `ChannelDeleted` | 200 | channel |
//! | `RoleCreated`, `RoleUpdated` | 200 | role |
//! | `RolePositionsUpdated` | 200 | every role |
//! | `InviteCreated`, invite accepted, invite revoked | 200 | invite |
//! | member edits | 200 | member (204 for role add/remove) |
//! | `MessageSent`, `MessageEdited` | 200 | message |
//! | `VoiceStateUpdated` | 200 | voice state |
//! | deletes, kicks, bans, overwrites, reactions, pins | 204 | — |

use cloudcord_schemas::guild::ChannelType;
use cloudcord_schemas::guild::{GuildChannel, GuildEvent, Role, VoiceState};
use cloudcord_schemas::ids::UserId;
use serde_json::{Value, json};

use super::{Guild, Invite, Member, Reply};
use crate::aggregates::Accepted;
use cloudcord_schemas::timestamp::discord_timestamp;

use crate::aggregates::messages::{ack_object, user_object};

fn ok(status: u16, body: Value) -> Accepted {
    Accepted {
        status,
        body: Some(body),
    }
}

fn no_content() -> Accepted {
    Accepted {
        status: 204,
        body: None,
    }
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

impl Guild {
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
            // Required by Discord's OpenAPI guild response; CloudCord has no
            // presence cap, stage video, age gate or incident actions yet.
            "home_header": null,
            "max_presences": null,
            "max_stage_video_channel_users": 0,
            "nsfw": false,
            "incidents_data": null,
        })
    }

    /// Discord's channel object for a guild channel.
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
        if let Some(map) = object.as_object_mut() {
            match channel.kind {
                ChannelType::GuildText => {
                    map.insert("topic".into(), json!(channel.topic));
                    map.insert(
                        "rate_limit_per_user".into(),
                        json!(channel.rate_limit_per_user),
                    );
                    map.insert("last_message_id".into(), Value::Null);
                }
                ChannelType::GuildVoice => {
                    map.insert("bitrate".into(), json!(channel.bitrate));
                    map.insert("user_limit".into(), json!(channel.user_limit));
                    map.insert("rtc_region".into(), Value::Null);
                    map.insert("rate_limit_per_user".into(), json!(0));
                }
                ChannelType::GuildCategory => {}
            }
        }
        object
    }

    /// Discord's invite object (with metadata).
    pub fn invite_object(&self, code: &str, invite: &Invite) -> Value {
        let channel = self.channels.get(&invite.channel_id);
        json!({
            "type": 0,
            "code": code,
            "guild_id": self.id,
            "guild": {
                "id": self.id,
                "name": self.name,
                "splash": null,
                "banner": self.banner,
                "description": self.description,
                "icon": self.icon,
                "features": [],
                "verification_level": 0,
                "vanity_url_code": null,
                "nsfw_level": 0,
                "nsfw": false,
                "premium_subscription_count": 0,
            },
            "channel": {
                "id": invite.channel_id,
                "name": channel.map(|c| c.name.clone()),
                "type": channel.map(|c| c.kind),
            },
            "inviter": self.members.get(&invite.inviter_id).map(|m| user_object(&m.user)),
            "uses": invite.uses,
            "max_uses": invite.max_uses,
            "max_age": invite.max_age,
            "temporary": invite.temporary,
            "created_at": discord_timestamp(invite.created_at),
            "expires_at": invite.expires_at().map(discord_timestamp),
        })
    }

    /// Discord's voice state object.
    pub fn voice_state_object(&self, state: &VoiceState) -> Value {
        json!({
            "guild_id": self.id,
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
        })
    }

    /// Every role, lowest first.
    pub(super) fn roles_array(&self) -> Value {
        let mut roles: Vec<&Role> = self.roles.values().collect();
        roles.sort_by_key(|r| (r.position, std::cmp::Reverse(r.id)));
        Value::Array(roles.into_iter().map(role_object).collect())
    }

    fn member_answer(&self, user: UserId) -> Accepted {
        match self.members.get(&user) {
            Some(member) => ok(200, member_object(member)),
            None => no_content(),
        }
    }

    /// The answer to a command whose `events` are applied; `reply` is what `handle`
    /// settled when the events do not say.
    pub(super) fn answer(&self, reply: Option<&Reply>, events: &[GuildEvent]) -> Accepted {
        match reply {
            Some(Reply::NoContent) => return no_content(),
            Some(Reply::Member(user)) => return self.member_answer(*user),
            Some(Reply::Body(status, body)) => return ok(*status, body.clone()),
            None => {}
        }
        let Some(first) = events.first() else {
            return no_content();
        };
        match first {
            GuildEvent::GuildCreated(_) => ok(201, self.guild_object()),
            GuildEvent::GuildUpdated(_) => ok(200, self.guild_object()),
            GuildEvent::ChannelCreated(e) => ok(201, self.channel_object(&e.channel)),
            GuildEvent::ChannelUpdated(e) => ok(200, self.channel_object(&e.channel)),
            GuildEvent::ChannelDeleted(e) => ok(200, self.channel_object(&e.channel)),
            GuildEvent::RoleCreated(e) => ok(
                200,
                role_object(self.roles.get(&e.role.id).unwrap_or(&e.role)),
            ),
            GuildEvent::RoleUpdated(e) => ok(200, role_object(&e.role)),
            GuildEvent::RolePositionsUpdated(_) => ok(200, self.roles_array()),
            GuildEvent::MemberJoined(e) => {
                match e
                    .invite_code
                    .as_ref()
                    .and_then(|c| self.invites.get(c).map(|i| (c, i)))
                {
                    Some((code, invite)) => ok(200, self.invite_object(code, invite)),
                    None => self.member_answer(e.user.id),
                }
            }
            GuildEvent::MemberUpdated(e) => self.member_answer(e.user_id),
            GuildEvent::InviteCreated(e) => match self.invites.get(&e.code) {
                Some(invite) => ok(200, self.invite_object(&e.code, invite)),
                None => no_content(),
            },
            GuildEvent::MessageSent(e) => ok(200, self.messages.sent_object(e, e.author.id, self)),
            GuildEvent::MessageEdited(e) => {
                let author = self
                    .messages
                    .index()
                    .get(e.id)
                    .map_or(UserId::new(0), |m| m.author_id);
                ok(200, self.messages.edited_object(e, author, self))
            }
            GuildEvent::VoiceStateUpdated(e) => ok(200, self.voice_state_object(&e.state)),
            GuildEvent::MessageAcked(_) => ok(200, ack_object()),
            GuildEvent::GuildDeleted(_)
            | GuildEvent::ChannelOverwriteUpserted(_)
            | GuildEvent::ChannelOverwriteDeleted(_)
            | GuildEvent::RoleDeleted(_)
            | GuildEvent::MemberLeft(_)
            | GuildEvent::MemberKicked(_)
            | GuildEvent::MemberBanned(_)
            | GuildEvent::MemberUnbanned(_)
            | GuildEvent::InviteRevoked(_)
            | GuildEvent::MessageDeleted(_)
            | GuildEvent::MessagesBulkDeleted(_)
            | GuildEvent::ReactionAdded(_)
            | GuildEvent::ReactionRemoved(_)
            | GuildEvent::MessagePinned(_)
            | GuildEvent::MessageUnpinned(_) => no_content(),
        }
    }
}

#[cfg(test)]
mod tests {
    use cloudcord_schemas::envelope::{Actor, Authored};
    use cloudcord_schemas::guild::{
        ChannelType, CreateChannel, CreateRole, GuildCommand, ModifyGuild,
    };
    use cloudcord_schemas::ids::{ChannelId, RoleId};
    use cqrs_es::Aggregate;

    use super::super::Guild;
    use super::super::fixtures::{ALICE, GUILD, NOW, OWNER, TEXT, by, create_guild, guild};
    use crate::aggregates::{Accepted, decide};

    fn answer(guild: &mut Guild, command: GuildCommand) -> Accepted {
        decide(guild, by(OWNER, command))
            .map(|(_, accepted)| accepted)
            .expect("accepted")
    }

    #[test]
    fn creating_a_guild_answers_201_with_the_guild_object() {
        let mut state = Guild::default();
        let accepted = decide(
            &mut state,
            Authored {
                actor: Actor::User(OWNER),
                at: NOW,
                command: create_guild("Rustaceans"),
            },
        )
        .map(|(_, a)| a)
        .expect("created");
        assert_eq!(accepted.status, 201);
        let body = accepted.body.expect("guild");
        assert_eq!(body["id"], GUILD.to_string());
        assert_eq!(body["owner_id"], OWNER.to_string());
        assert_eq!(body["roles"][0]["name"], "@everyone");
        assert_eq!(body["roles"][0]["permissions"], "104324673");
        assert_eq!(body["system_channel_id"], TEXT.to_string());
    }

    #[test]
    fn the_guild_object_shows_its_icon_and_banner_until_they_are_removed() {
        let mut state = Guild::default();
        for event in guild() {
            state.apply(event);
        }
        let hash = "0123456789abcdef0123456789abcdef";
        let set = answer(
            &mut state,
            GuildCommand::ModifyGuild(ModifyGuild {
                icon: Some(Some(hash.into())),
                banner: Some(Some(format!("a_{hash}"))),
                ..ModifyGuild::default()
            }),
        );
        let body = set.body.expect("guild");
        assert_eq!(body["icon"], hash);
        assert_eq!(body["icon_hash"], hash);
        assert_eq!(body["banner"], format!("a_{hash}"));
        let cleared = answer(
            &mut state,
            GuildCommand::ModifyGuild(ModifyGuild {
                icon: Some(None),
                ..ModifyGuild::default()
            }),
        );
        let body = cleared.body.expect("guild");
        assert!(body["icon"].is_null());
        assert_eq!(body["banner"], format!("a_{hash}"));
    }

    #[test]
    fn channels_roles_and_deletes_answer_as_discord_does() {
        let mut state = Guild::default();
        for event in guild() {
            state.apply(event);
        }
        let created = answer(
            &mut state,
            GuildCommand::CreateChannel(CreateChannel {
                channel_id: ChannelId::new(3000),
                name: "party".into(),
                channel_type: ChannelType::GuildVoice,
                position: None,
                parent_id: None,
                topic: None,
                nsfw: false,
                rate_limit_per_user: None,
                bitrate: None,
                user_limit: Some(5),
                permission_overwrites: Vec::new(),
            }),
        );
        assert_eq!(created.status, 201);
        let body = created.body.expect("channel");
        assert_eq!(body["type"], 2);
        assert_eq!(body["user_limit"], 5);
        assert_eq!(body["bitrate"], 64_000);
        assert_eq!(body["guild_id"], GUILD.to_string());

        let role = answer(
            &mut state,
            GuildCommand::CreateRole(CreateRole {
                role_id: RoleId::new(2100),
                name: None,
                permissions: None,
                color: 0xff0000,
                hoist: true,
                mentionable: false,
            }),
        );
        assert_eq!(role.status, 200);
        let body = role.body.expect("role");
        assert_eq!(body["name"], "new role");
        assert_eq!(body["position"], 1);

        let kicked = answer(&mut state, GuildCommand::KickMember { user_id: ALICE });
        assert_eq!((kicked.status, kicked.body), (204, None));
    }
}

//! The guild itself: create, modify, delete.
//!
//! Rules: a guild is created once, by its owner (the actor), with a name of 2–100
//! characters, an `@everyone` role with Discord's default permissions, a `general`
//! text channel and a `General` voice channel (each in a category when the command
//! brings category ids). Modifying needs `MANAGE_GUILD`; only the owner transfers
//! ownership, and only to a member; the system channel must be a text channel, the
//! AFK channel a voice channel, the AFK timeout one of Discord's five values, an icon or banner the hash of a stored
//! image (command-api stores the image first). Only the
//! owner deletes the guild; after that every command finds an unknown guild.

use cloudcord_runtime::files::public_images;
use cloudcord_schemas::guild::channels::DEFAULT_BITRATE;
use cloudcord_schemas::guild::{
    AFK_TIMEOUTS, ChannelType, DEFAULT_EVERYONE_PERMISSIONS, GUILD_NAME_CHARS, GuildChannel,
    GuildCreated, GuildDeleted, GuildUpdated, MAX_DESCRIPTION_CHARS, ModifyGuild, Role,
};
use cloudcord_schemas::ids::{ChannelId, GuildId};
use cloudcord_schemas::message::UserSnapshot;
use cloudcord_schemas::permissions::Permissions;

use super::{Ctx, Decided, Guild, GuildError, Member, check_length};
use crate::aggregates::messages::InvalidField;

/// The fields of `CreateGuild`.
pub struct NewGuild {
    /// The guild's id.
    pub guild_id: GuildId,
    /// Its name.
    pub name: String,
    /// Its owner.
    pub owner: UserSnapshot,
    /// The `general` text channel.
    pub text_channel_id: ChannelId,
    /// The `General` voice channel.
    pub voice_channel_id: ChannelId,
    /// The "Text Channels" category.
    pub text_category_id: Option<ChannelId>,
    /// The "Voice Channels" category.
    pub voice_category_id: Option<ChannelId>,
}

fn channel(
    id: ChannelId,
    kind: ChannelType,
    name: &str,
    position: u32,
    parent: Option<ChannelId>,
) -> GuildChannel {
    GuildChannel {
        id,
        kind,
        name: name.into(),
        position,
        parent_id: parent,
        topic: None,
        nsfw: false,
        rate_limit_per_user: 0,
        bitrate: (kind == ChannelType::GuildVoice).then_some(DEFAULT_BITRATE),
        user_limit: (kind == ChannelType::GuildVoice).then_some(0),
        permission_overwrites: Vec::new(),
    }
}

impl Guild {
    pub(super) fn create_guild(&self, ctx: &Ctx, new: NewGuild) -> Result<Decided, GuildError> {
        if self.id.is_some() {
            return Err(GuildError::AlreadyExists);
        }
        if new.owner.id != ctx.actor {
            return Err(InvalidField::new(
                "owner",
                "OWNER_MISMATCH",
                "The owner must be the creator.",
            )
            .into());
        }
        check_length(
            "name",
            &new.name,
            *GUILD_NAME_CHARS.start(),
            *GUILD_NAME_CHARS.end(),
        )?;
        let mut ids = vec![
            new.guild_id.get(),
            new.text_channel_id.get(),
            new.voice_channel_id.get(),
        ];
        ids.extend(new.text_category_id.map(ChannelId::get));
        ids.extend(new.voice_category_id.map(ChannelId::get));
        let count = ids.len();
        ids.sort_unstable();
        ids.dedup();
        if ids.len() != count {
            return Err(InvalidField::new(
                "channels",
                "SNOWFLAKE_ALREADY_USED",
                "Every new id must be distinct.",
            )
            .into());
        }
        let mut channels = Vec::new();
        if let Some(category) = new.text_category_id {
            channels.push(channel(
                category,
                ChannelType::GuildCategory,
                "Text Channels",
                0,
                None,
            ));
        }
        if let Some(category) = new.voice_category_id {
            channels.push(channel(
                category,
                ChannelType::GuildCategory,
                "Voice Channels",
                1,
                None,
            ));
        }
        channels.push(channel(
            new.text_channel_id,
            ChannelType::GuildText,
            "general",
            0,
            new.text_category_id,
        ));
        channels.push(channel(
            new.voice_channel_id,
            ChannelType::GuildVoice,
            "General",
            0,
            new.voice_category_id,
        ));
        Ok(Decided::event(GuildCreated {
            id: new.guild_id,
            name: new.name,
            owner: new.owner,
            roles: vec![Role {
                id: new.guild_id.everyone_role(),
                name: "@everyone".into(),
                color: 0,
                hoist: false,
                position: 0,
                permissions: DEFAULT_EVERYONE_PERMISSIONS,
                managed: false,
                mentionable: false,
            }],
            channels,
            system_channel_id: Some(new.text_channel_id),
            created_at: ctx.at,
        }))
    }

    pub(super) fn modify_guild(
        &self,
        ctx: &Ctx,
        modify: ModifyGuild,
    ) -> Result<Decided, GuildError> {
        self.require_guild(ctx, Permissions::MANAGE_GUILD)?;
        if let Some(name) = &modify.name {
            check_length(
                "name",
                name,
                *GUILD_NAME_CHARS.start(),
                *GUILD_NAME_CHARS.end(),
            )?;
        }
        if let Some(Some(description)) = &modify.description {
            check_length("description", description, 0, MAX_DESCRIPTION_CHARS)?;
        }
        if let Some(owner) = modify.owner_id {
            if !self.is_owner(ctx.actor) {
                return Err(GuildError::MissingPermissions);
            }
            self.member(owner)?;
        }
        for (field, wanted, kind) in [
            (
                "system_channel_id",
                modify.system_channel_id,
                ChannelType::GuildText,
            ),
            (
                "afk_channel_id",
                modify.afk_channel_id,
                ChannelType::GuildVoice,
            ),
        ] {
            if let Some(Some(id)) = wanted
                && self.channel(id)?.kind != kind
            {
                return Err(InvalidField::new(
                    field,
                    "CHANNEL_TYPE_INVALID",
                    "The channel has the wrong type.",
                )
                .into());
            }
        }
        if let Some(timeout) = modify.afk_timeout
            && !AFK_TIMEOUTS.contains(&timeout)
        {
            return Err(InvalidField::new(
                "afk_timeout",
                "BASE_TYPE_CHOICES",
                "Value must be one of (60, 300, 900, 1800, 3600).",
            )
            .into());
        }
        for (field, hash) in [("icon", &modify.icon), ("banner", &modify.banner)] {
            if let Some(Some(hash)) = hash
                && !public_images::is_hash(hash)
            {
                return Err(InvalidField::new(
                    field,
                    "BINARY_TYPE_INVALID",
                    "Must be the hash of a stored image.",
                )
                .into());
            }
        }
        Ok(Decided::event(GuildUpdated {
            name: modify.name,
            description: modify.description,
            owner_id: modify.owner_id,
            system_channel_id: modify.system_channel_id,
            afk_channel_id: modify.afk_channel_id,
            afk_timeout: modify.afk_timeout,
            icon: modify.icon,
            banner: modify.banner,
        }))
    }

    pub(super) fn delete_guild(&self, ctx: &Ctx) -> Result<Decided, GuildError> {
        self.actor_member(ctx)?;
        if !self.is_owner(ctx.actor) {
            return Err(GuildError::MissingPermissions);
        }
        Ok(Decided::event(GuildDeleted {}))
    }

    pub(super) fn on_guild_created(&mut self, event: GuildCreated) {
        self.id = Some(event.id);
        self.name = event.name;
        self.owner_id = Some(event.owner.id);
        self.system_channel_id = event.system_channel_id;
        self.afk_timeout = 300;
        self.created_at = Some(event.created_at);
        self.roles = event.roles.into_iter().map(|r| (r.id, r)).collect();
        self.channels = event.channels.into_iter().map(|c| (c.id, c)).collect();
        self.members.insert(
            event.owner.id,
            Member {
                user: event.owner,
                nick: None,
                roles: Vec::new(),
                joined_at: event.created_at,
                communication_disabled_until: None,
                mute: false,
                deaf: false,
            },
        );
    }

    pub(super) fn on_guild_updated(&mut self, event: GuildUpdated) {
        if let Some(name) = event.name {
            self.name = name;
        }
        if let Some(description) = event.description {
            self.description = description;
        }
        if let Some(owner) = event.owner_id {
            self.owner_id = Some(owner);
        }
        if let Some(channel) = event.system_channel_id {
            self.system_channel_id = channel;
        }
        if let Some(channel) = event.afk_channel_id {
            self.afk_channel_id = channel;
        }
        if let Some(timeout) = event.afk_timeout {
            self.afk_timeout = timeout;
        }
        if let Some(icon) = event.icon {
            self.icon = icon;
        }
        if let Some(banner) = event.banner {
            self.banner = banner;
        }
    }

    pub(super) fn on_guild_deleted(&mut self) {
        self.deleted = true;
        self.channels.clear();
        self.roles.clear();
        self.members.clear();
        self.bans.clear();
        self.invites.clear();
        self.voice.clear();
        self.messages.forget_all();
    }
}

#[cfg(test)]
mod tests {
    use cloudcord_schemas::guild::{GuildCommand, GuildEvent, GuildUpdated, ModifyGuild};
    use cloudcord_schemas::ids::ChannelId;
    use cloudcord_schemas::permissions::Permissions;
    use cqrs_es::test::TestFramework;

    use super::super::fixtures::{
        ALICE, BOB, GUILD, MODS, OWNER, STRANGER, TEXT, VOICE, by, create_guild, everyone_can,
        guild, role, with_roles,
    };
    use super::super::{Guild, GuildError};
    use crate::aggregates::Domain;

    #[test]
    fn creating_a_guild_makes_the_actor_its_owner_with_default_channels() {
        let events = TestFramework::<Guild>::with(())
            .given_no_previous_events()
            .when(by(OWNER, create_guild("Rustaceans")))
            .inspect_result()
            .expect("created");
        let [Domain(GuildEvent::GuildCreated(created))] = events.as_slice() else {
            panic!("one GuildCreated, got {events:?}")
        };
        assert_eq!(created.owner.id, OWNER);
        assert_eq!(created.id, GUILD);
        assert_eq!(created.roles[0].id, GUILD.everyone_role());
        let names: Vec<&str> = created.channels.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["general", "General"]);
        assert_eq!(created.system_channel_id, Some(TEXT));
        assert!(created.channels.iter().any(|c| c.id == VOICE));
    }

    #[test]
    fn the_creator_owns_the_guild_and_must_be_the_owner_given() {
        let result = TestFramework::<Guild>::with(())
            .given_no_previous_events()
            .when(by(ALICE, create_guild("Rustaceans")))
            .inspect_result();
        assert!(
            matches!(result, Err(GuildError::Invalid(ref f)) if f.field == "owner"),
            "{result:?}"
        );
    }

    #[test]
    fn default_channels_sit_in_their_categories_when_category_ids_are_given() {
        let GuildCommand::CreateGuild {
            guild_id,
            name,
            owner,
            text_channel_id,
            voice_channel_id,
            ..
        } = create_guild("Rustaceans")
        else {
            panic!("create_guild builds CreateGuild")
        };
        let (text_category, voice_category) = (ChannelId::new(1003), ChannelId::new(1004));
        let events = TestFramework::<Guild>::with(())
            .given_no_previous_events()
            .when(by(
                OWNER,
                GuildCommand::CreateGuild {
                    guild_id,
                    name,
                    owner,
                    text_channel_id,
                    voice_channel_id,
                    text_category_id: Some(text_category),
                    voice_category_id: Some(voice_category),
                },
            ))
            .inspect_result()
            .expect("created");
        let [Domain(GuildEvent::GuildCreated(created))] = events.as_slice() else {
            panic!("{events:?}")
        };
        let parent = |id| {
            created
                .channels
                .iter()
                .find(|c| c.id == id)
                .and_then(|c| c.parent_id)
        };
        assert_eq!(parent(TEXT), Some(text_category));
        assert_eq!(parent(VOICE), Some(voice_category));
        assert_eq!(created.channels.len(), 4);
    }

    #[test]
    fn new_ids_must_be_distinct() {
        let GuildCommand::CreateGuild {
            guild_id,
            name,
            owner,
            text_channel_id,
            ..
        } = create_guild("Rustaceans")
        else {
            panic!("create_guild builds CreateGuild")
        };
        let result = TestFramework::<Guild>::with(())
            .given_no_previous_events()
            .when(by(
                OWNER,
                GuildCommand::CreateGuild {
                    guild_id,
                    name,
                    owner,
                    text_channel_id,
                    voice_channel_id: text_channel_id,
                    text_category_id: None,
                    voice_category_id: None,
                },
            ))
            .inspect_result();
        assert!(matches!(result, Err(GuildError::Invalid(_))), "{result:?}");
    }

    #[test]
    fn a_guild_cannot_be_created_twice() {
        TestFramework::<Guild>::with(())
            .given(guild())
            .when(by(OWNER, create_guild("Again")))
            .then_expect_error(GuildError::AlreadyExists);
    }

    #[test]
    fn a_guild_name_has_2_to_100_characters() {
        TestFramework::<Guild>::with(())
            .given_no_previous_events()
            .when(by(OWNER, create_guild("x")))
            .then_expect_error_message("invalid name: Must be between 2 and 100 in length.");
    }

    #[test]
    fn modifying_the_guild_needs_manage_guild() {
        let rename = || {
            GuildCommand::ModifyGuild(ModifyGuild {
                name: Some("Mine".into()),
                ..ModifyGuild::default()
            })
        };
        TestFramework::<Guild>::with(())
            .given(guild())
            .when(by(ALICE, rename()))
            .then_expect_error(GuildError::MissingPermissions);
        let mut history = guild();
        history.push(role(MODS, 1, Permissions::MANAGE_GUILD));
        history.push(with_roles(ALICE, &[MODS]));
        TestFramework::<Guild>::with(())
            .given(history)
            .when(by(ALICE, rename()))
            .then_expect_events(vec![Domain(GuildEvent::GuildUpdated(GuildUpdated {
                name: Some("Mine".into()),
                ..GuildUpdated::default()
            }))]);
    }

    #[test]
    fn non_members_have_no_access_to_the_guild() {
        TestFramework::<Guild>::with(())
            .given(guild())
            .when(by(
                STRANGER,
                GuildCommand::ModifyGuild(ModifyGuild::default()),
            ))
            .then_expect_error(GuildError::MissingAccess);
    }

    #[test]
    fn modifying_an_unknown_guild_is_refused() {
        TestFramework::<Guild>::with(())
            .given_no_previous_events()
            .when(by(OWNER, GuildCommand::ModifyGuild(ModifyGuild::default())))
            .then_expect_error(GuildError::UnknownGuild);
    }

    #[test]
    fn only_the_owner_transfers_ownership_and_only_to_a_member() {
        let mut history = guild();
        history.push(everyone_can(Permissions::MANAGE_GUILD));
        let transfer = |to| {
            GuildCommand::ModifyGuild(ModifyGuild {
                owner_id: Some(to),
                ..ModifyGuild::default()
            })
        };
        TestFramework::<Guild>::with(())
            .given(history.clone())
            .when(by(ALICE, transfer(ALICE)))
            .then_expect_error(GuildError::MissingPermissions);
        TestFramework::<Guild>::with(())
            .given(history.clone())
            .when(by(OWNER, transfer(STRANGER)))
            .then_expect_error(GuildError::UnknownMember);
        TestFramework::<Guild>::with(())
            .given(history)
            .when(by(OWNER, transfer(BOB)))
            .then_expect_events(vec![Domain(GuildEvent::GuildUpdated(GuildUpdated {
                owner_id: Some(BOB),
                ..GuildUpdated::default()
            }))]);
    }

    #[test]
    fn the_system_channel_must_be_a_text_channel_and_the_afk_channel_a_voice_channel() {
        for modify in [
            ModifyGuild {
                system_channel_id: Some(Some(VOICE)),
                ..ModifyGuild::default()
            },
            ModifyGuild {
                afk_channel_id: Some(Some(TEXT)),
                ..ModifyGuild::default()
            },
            ModifyGuild {
                afk_timeout: Some(61),
                ..ModifyGuild::default()
            },
        ] {
            let result = TestFramework::<Guild>::with(())
                .given(guild())
                .when(by(OWNER, GuildCommand::ModifyGuild(modify)))
                .inspect_result();
            assert!(matches!(result, Err(GuildError::Invalid(_))), "{result:?}");
        }
    }

    const HASH: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn icons_and_banners_are_set_and_removed_by_hash_with_manage_guild() {
        let images = || {
            GuildCommand::ModifyGuild(ModifyGuild {
                icon: Some(Some(HASH.into())),
                banner: Some(None),
                ..ModifyGuild::default()
            })
        };
        TestFramework::<Guild>::with(())
            .given(guild())
            .when(by(ALICE, images()))
            .then_expect_error(GuildError::MissingPermissions);
        TestFramework::<Guild>::with(())
            .given(guild())
            .when(by(OWNER, images()))
            .then_expect_events(vec![Domain(GuildEvent::GuildUpdated(GuildUpdated {
                icon: Some(Some(HASH.into())),
                banner: Some(None),
                ..GuildUpdated::default()
            }))]);
    }

    #[test]
    fn an_icon_or_banner_must_be_an_image_hash() {
        for modify in [
            ModifyGuild {
                icon: Some(Some("data:image/png;base64,iVBORw==".into())),
                ..ModifyGuild::default()
            },
            ModifyGuild {
                banner: Some(Some("../other".into())),
                ..ModifyGuild::default()
            },
        ] {
            let result = TestFramework::<Guild>::with(())
                .given(guild())
                .when(by(OWNER, GuildCommand::ModifyGuild(modify)))
                .inspect_result();
            assert!(matches!(result, Err(GuildError::Invalid(_))), "{result:?}");
        }
    }

    #[test]
    fn only_the_owner_deletes_the_guild_and_then_it_is_unknown() {
        TestFramework::<Guild>::with(())
            .given(guild())
            .when(by(ALICE, GuildCommand::DeleteGuild))
            .then_expect_error(GuildError::MissingPermissions);
        let mut history = guild();
        history.push(Domain(GuildEvent::GuildDeleted(
            cloudcord_schemas::guild::GuildDeleted {},
        )));
        TestFramework::<Guild>::with(())
            .given(history)
            .when(by(OWNER, GuildCommand::ModifyGuild(ModifyGuild::default())))
            .then_expect_error(GuildError::UnknownGuild);
    }
}

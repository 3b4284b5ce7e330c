//! Channels and their permission overwrites.
//!
//! Rules (Discord's `channel.mdx` and `guild.mdx`):
//! * Creating needs `MANAGE_CHANNELS`; modifying or deleting needs it *in* the
//!   channel (a channel the actor cannot see is 50001 Missing Access).
//! * Setting overwrites (on create, modify, or one by one) needs `MANAGE_ROLES`
//!   ("Manage Permissions") and may only allow or deny permissions the actor has in
//!   the guild, unless they are the owner or an administrator.
//! * Names 1–100 characters, topic ≤ 1024, slowmode 0–21600 s, bitrate 8000–96000,
//!   user limit 0–99; a parent must be a category and a category has no parent; an
//!   overwrite names an existing role or member, at most once.
//! * At most 500 channels per guild (30013).
//! * Deleting a channel takes its messages, invites and voice connections with it;
//!   a deleted category's channels lose their parent.

use cloudcord_schemas::guild::channels::{
    DEFAULT_BITRATE, MAX_BITRATE, MAX_CHANNEL_NAME_CHARS, MAX_CHANNELS, MAX_RATE_LIMIT_PER_USER,
    MAX_TOPIC_CHARS, MAX_USER_LIMIT, MIN_BITRATE,
};
use cloudcord_schemas::guild::{
    ChannelCreated, ChannelDeleted, ChannelOverwriteDeleted, ChannelOverwriteUpserted, ChannelType,
    ChannelUpdated, CreateChannel, GuildChannel, ModifyChannel,
};
use cloudcord_schemas::ids::{ChannelId, RoleId, Snowflake, UserId};
use cloudcord_schemas::permissions::{OverwriteKind, PermissionOverwrite, Permissions};

use super::{Ctx, Decided, Guild, GuildError, check_length};
use crate::aggregates::messages::InvalidField;

fn check_ranges(
    topic: Option<&str>,
    rate_limit: Option<u32>,
    bitrate: Option<u32>,
    user_limit: Option<u32>,
) -> Result<(), GuildError> {
    if let Some(topic) = topic {
        check_length("topic", topic, 0, MAX_TOPIC_CHARS)?;
    }
    if rate_limit.is_some_and(|r| r > MAX_RATE_LIMIT_PER_USER) {
        return Err(InvalidField::new(
            "rate_limit_per_user",
            "NUMBER_TYPE_MAX",
            format!("int value should be less than or equal to {MAX_RATE_LIMIT_PER_USER}."),
        )
        .into());
    }
    if bitrate.is_some_and(|b| !(MIN_BITRATE..=MAX_BITRATE).contains(&b)) {
        return Err(InvalidField::new(
            "bitrate",
            "BASE_TYPE_BAD_RANGE",
            format!("Must be between {MIN_BITRATE} and {MAX_BITRATE}."),
        )
        .into());
    }
    if user_limit.is_some_and(|l| l > MAX_USER_LIMIT) {
        return Err(InvalidField::new(
            "user_limit",
            "NUMBER_TYPE_MAX",
            format!("int value should be less than or equal to {MAX_USER_LIMIT}."),
        )
        .into());
    }
    Ok(())
}

impl Guild {
    /// A parent for a channel of `kind`: an existing category, and none for categories.
    fn check_parent(&self, kind: ChannelType, parent: Option<ChannelId>) -> Result<(), GuildError> {
        let Some(parent) = parent else { return Ok(()) };
        let invalid = || {
            GuildError::from(InvalidField::new(
                "parent_id",
                "CHANNEL_PARENT_INVALID",
                "The parent must be a category.",
            ))
        };
        if kind == ChannelType::GuildCategory {
            return Err(invalid());
        }
        match self.channels.get(&parent) {
            Some(found) if found.kind == ChannelType::GuildCategory => Ok(()),
            _ => Err(invalid()),
        }
    }

    /// Each overwrite names an existing role or member, at most once.
    fn check_overwrite_targets(
        &self,
        overwrites: &[PermissionOverwrite],
    ) -> Result<(), GuildError> {
        for (i, overwrite) in overwrites.iter().enumerate() {
            self.check_overwrite_target(overwrite)?;
            if overwrites[..i]
                .iter()
                .any(|o| o.id == overwrite.id && o.kind == overwrite.kind)
            {
                return Err(InvalidField::new(
                    "permission_overwrites",
                    "DUPLICATE_OVERWRITE",
                    "Each role or member may have one overwrite.",
                )
                .into());
            }
        }
        Ok(())
    }

    fn check_overwrite_target(&self, overwrite: &PermissionOverwrite) -> Result<(), GuildError> {
        match overwrite.kind {
            OverwriteKind::Role => self.role(RoleId(overwrite.id)).map(|_| ()),
            OverwriteKind::Member => self.member(UserId(overwrite.id)).map(|_| ()),
        }
    }

    /// The actor may hand out every bit these overwrites allow or deny.
    fn check_overwrite_grants<'a>(
        &self,
        ctx: &Ctx,
        overwrites: impl IntoIterator<Item = &'a PermissionOverwrite>,
    ) -> Result<(), GuildError> {
        for overwrite in overwrites {
            self.check_grant(ctx, overwrite.allow.union(overwrite.deny))?;
        }
        Ok(())
    }

    pub(super) fn create_channel(
        &self,
        ctx: &Ctx,
        create: CreateChannel,
    ) -> Result<Decided, GuildError> {
        self.require_guild(ctx, Permissions::MANAGE_CHANNELS)?;
        if !create.permission_overwrites.is_empty() {
            self.require_guild(ctx, Permissions::MANAGE_ROLES)?;
            self.check_overwrite_grants(ctx, &create.permission_overwrites)?;
        }
        if self.channels.len() >= MAX_CHANNELS {
            return Err(GuildError::MaxChannels);
        }
        if self.channels.contains_key(&create.channel_id) {
            return Err(InvalidField::new(
                "id",
                "SNOWFLAKE_ALREADY_USED",
                "This channel id is already used.",
            )
            .into());
        }
        check_length("name", &create.name, 1, MAX_CHANNEL_NAME_CHARS)?;
        check_ranges(
            create.topic.as_deref(),
            create.rate_limit_per_user,
            create.bitrate,
            create.user_limit,
        )?;
        self.check_parent(create.channel_type, create.parent_id)?;
        self.check_overwrite_targets(&create.permission_overwrites)?;
        let kind = create.channel_type;
        let text = kind == ChannelType::GuildText;
        let voice = kind == ChannelType::GuildVoice;
        let position = create
            .position
            .unwrap_or_else(|| u32::try_from(self.channels.len()).unwrap_or(u32::MAX));
        Ok(Decided::event(ChannelCreated {
            channel: GuildChannel {
                id: create.channel_id,
                kind,
                name: create.name,
                position,
                parent_id: create.parent_id,
                topic: create.topic.filter(|_| text),
                nsfw: create.nsfw,
                rate_limit_per_user: if text {
                    create.rate_limit_per_user.unwrap_or(0)
                } else {
                    0
                },
                bitrate: voice.then(|| create.bitrate.unwrap_or(DEFAULT_BITRATE)),
                user_limit: voice.then(|| create.user_limit.unwrap_or(0)),
                permission_overwrites: create.permission_overwrites,
            },
        }))
    }

    pub(super) fn modify_channel(
        &self,
        ctx: &Ctx,
        modify: ModifyChannel,
    ) -> Result<Decided, GuildError> {
        let current = self.require_channel(ctx, modify.channel_id, Permissions::MANAGE_CHANNELS)?;
        let mut channel = current.clone();
        if let Some(overwrites) = &modify.permission_overwrites {
            self.require_channel(ctx, modify.channel_id, Permissions::MANAGE_ROLES)?;
            self.check_overwrite_grants(
                ctx,
                overwrites
                    .iter()
                    .filter(|o| !current.permission_overwrites.contains(o)),
            )?;
            self.check_overwrite_targets(overwrites)?;
        }
        if let Some(name) = &modify.name {
            check_length("name", name, 1, MAX_CHANNEL_NAME_CHARS)?;
        }
        check_ranges(
            modify.topic.as_ref().and_then(Option::as_deref),
            modify.rate_limit_per_user,
            modify.bitrate,
            modify.user_limit,
        )?;
        if let Some(parent) = modify.parent_id {
            self.check_parent(channel.kind, parent)?;
            channel.parent_id = parent;
        }
        let text = channel.kind == ChannelType::GuildText;
        let voice = channel.kind == ChannelType::GuildVoice;
        if let Some(name) = modify.name {
            channel.name = name;
        }
        if let Some(position) = modify.position {
            channel.position = position;
        }
        if let Some(topic) = modify.topic.filter(|_| text) {
            channel.topic = topic;
        }
        if let Some(nsfw) = modify.nsfw {
            channel.nsfw = nsfw;
        }
        if let Some(rate) = modify.rate_limit_per_user.filter(|_| text) {
            channel.rate_limit_per_user = rate;
        }
        if let Some(bitrate) = modify.bitrate.filter(|_| voice) {
            channel.bitrate = Some(bitrate);
        }
        if let Some(limit) = modify.user_limit.filter(|_| voice) {
            channel.user_limit = Some(limit);
        }
        if let Some(overwrites) = modify.permission_overwrites {
            channel.permission_overwrites = overwrites;
        }
        Ok(Decided::event(ChannelUpdated { channel }))
    }

    pub(super) fn delete_channel(
        &self,
        ctx: &Ctx,
        channel_id: ChannelId,
    ) -> Result<Decided, GuildError> {
        let channel = self.require_channel(ctx, channel_id, Permissions::MANAGE_CHANNELS)?;
        Ok(Decided::event(ChannelDeleted {
            channel: channel.clone(),
        }))
    }

    pub(super) fn edit_overwrite(
        &self,
        ctx: &Ctx,
        channel_id: ChannelId,
        overwrite: PermissionOverwrite,
    ) -> Result<Decided, GuildError> {
        self.require_channel(ctx, channel_id, Permissions::MANAGE_ROLES)?;
        self.check_overwrite_target(&overwrite)?;
        self.check_overwrite_grants(ctx, [&overwrite])?;
        Ok(Decided::event(ChannelOverwriteUpserted {
            channel_id,
            overwrite,
        }))
    }

    pub(super) fn delete_overwrite(
        &self,
        ctx: &Ctx,
        channel_id: ChannelId,
        overwrite_id: Snowflake,
    ) -> Result<Decided, GuildError> {
        let channel = self.require_channel(ctx, channel_id, Permissions::MANAGE_ROLES)?;
        if !channel
            .permission_overwrites
            .iter()
            .any(|o| o.id == overwrite_id)
        {
            return Err(GuildError::UnknownOverwrite);
        }
        Ok(Decided::event(ChannelOverwriteDeleted {
            channel_id,
            id: overwrite_id,
        }))
    }

    pub(super) fn on_channel_created(&mut self, event: ChannelCreated) {
        self.channels.insert(event.channel.id, event.channel);
    }

    pub(super) fn on_channel_updated(&mut self, event: ChannelUpdated) {
        self.channels.insert(event.channel.id, event.channel);
    }

    pub(super) fn on_channel_deleted(&mut self, event: &ChannelDeleted) {
        let id = event.channel.id;
        self.channels.remove(&id);
        for channel in self.channels.values_mut() {
            if channel.parent_id == Some(id) {
                channel.parent_id = None;
            }
        }
        self.messages.forget_channel(id);
        self.invites.retain(|_, invite| invite.channel_id != id);
        self.voice.retain(|_, state| state.channel_id != Some(id));
        if self.system_channel_id == Some(id) {
            self.system_channel_id = None;
        }
        if self.afk_channel_id == Some(id) {
            self.afk_channel_id = None;
        }
    }

    pub(super) fn on_overwrite_upserted(&mut self, event: ChannelOverwriteUpserted) {
        if let Some(channel) = self.channels.get_mut(&event.channel_id) {
            let overwrites = &mut channel.permission_overwrites;
            overwrites.retain(|o| o.id != event.overwrite.id);
            overwrites.push(event.overwrite);
        }
    }

    pub(super) fn on_overwrite_deleted(&mut self, event: &ChannelOverwriteDeleted) {
        if let Some(channel) = self.channels.get_mut(&event.channel_id) {
            channel.permission_overwrites.retain(|o| o.id != event.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use cloudcord_schemas::guild::{
        ChannelType, CreateChannel, GuildCommand, GuildEvent, ModifyChannel,
    };
    use cloudcord_schemas::ids::ChannelId;
    use cloudcord_schemas::permissions::{PermissionOverwrite, Permissions};
    use cqrs_es::Aggregate;
    use cqrs_es::test::TestFramework;

    use super::super::fixtures::{
        ALICE, GUILD, HELPERS, MODS, OWNER, TEXT, VOICE, by, channel, guild, role, with_roles,
    };
    use super::super::{Guild, GuildError};
    use crate::aggregates::Domain;

    const NEW: ChannelId = ChannelId::new(3000);
    const CATEGORY: ChannelId = ChannelId::new(3001);

    fn create(name: &str, kind: ChannelType) -> CreateChannel {
        CreateChannel {
            channel_id: NEW,
            name: name.into(),
            channel_type: kind,
            position: None,
            parent_id: None,
            topic: None,
            nsfw: false,
            rate_limit_per_user: None,
            bitrate: None,
            user_limit: None,
            permission_overwrites: Vec::new(),
        }
    }

    fn managers() -> Vec<Domain<GuildEvent>> {
        let mut history = guild();
        history.push(role(MODS, 1, Permissions::MANAGE_CHANNELS));
        history.push(with_roles(ALICE, &[MODS]));
        history
    }

    fn refused(
        history: Vec<Domain<GuildEvent>>,
        actor: cloudcord_schemas::ids::UserId,
        command: GuildCommand,
    ) -> GuildError {
        match TestFramework::<Guild>::with(())
            .given(history)
            .when(by(actor, command))
            .inspect_result()
        {
            Err(error) => error,
            Ok(events) => panic!("accepted: {events:?}"),
        }
    }

    fn accepted(
        history: Vec<Domain<GuildEvent>>,
        actor: cloudcord_schemas::ids::UserId,
        command: GuildCommand,
    ) -> Vec<Domain<GuildEvent>> {
        match TestFramework::<Guild>::with(())
            .given(history)
            .when(by(actor, command))
            .inspect_result()
        {
            Ok(events) => events,
            Err(error) => panic!("refused: {error:?}"),
        }
    }

    #[test]
    fn members_without_manage_channels_cannot_create_channels() {
        TestFramework::<Guild>::with(())
            .given(guild())
            .when(by(
                ALICE,
                GuildCommand::CreateChannel(create("memes", ChannelType::GuildText)),
            ))
            .then_expect_error(GuildError::MissingPermissions);
    }

    #[test]
    fn members_with_manage_channels_create_text_voice_and_category_channels() {
        for kind in [
            ChannelType::GuildText,
            ChannelType::GuildVoice,
            ChannelType::GuildCategory,
        ] {
            let events = accepted(
                managers(),
                ALICE,
                GuildCommand::CreateChannel(create("memes", kind)),
            );
            let [Domain(GuildEvent::ChannelCreated(created))] = events.as_slice() else {
                panic!("{events:?}")
            };
            assert_eq!(created.channel.kind, kind);
            assert_eq!(
                created.channel.user_limit.is_some(),
                kind == ChannelType::GuildVoice
            );
        }
    }

    #[test]
    fn a_channel_name_has_1_to_100_characters() {
        for name in ["", &"x".repeat(101)] {
            let error = refused(
                managers(),
                ALICE,
                GuildCommand::CreateChannel(create(name, ChannelType::GuildText)),
            );
            assert!(
                matches!(&error, GuildError::Invalid(f) if f.field == "name"),
                "{error:?}"
            );
        }
    }

    #[test]
    fn voice_settings_stay_within_discords_bounds() {
        let mut too_many = create("party", ChannelType::GuildVoice);
        too_many.user_limit = Some(100);
        let mut too_fast = create("party", ChannelType::GuildVoice);
        too_fast.bitrate = Some(200_000);
        let mut topic = create("talk", ChannelType::GuildText);
        topic.topic = Some("x".repeat(1025));
        for (command, field) in [
            (too_many, "user_limit"),
            (too_fast, "bitrate"),
            (topic, "topic"),
        ] {
            let error = refused(managers(), ALICE, GuildCommand::CreateChannel(command));
            assert!(
                matches!(&error, GuildError::Invalid(f) if f.field == field),
                "{error:?}"
            );
        }
    }

    #[test]
    fn a_parent_must_be_a_category() {
        let mut command = create("memes", ChannelType::GuildText);
        command.parent_id = Some(TEXT);
        let error = refused(
            managers(),
            ALICE,
            GuildCommand::CreateChannel(command.clone()),
        );
        assert!(
            matches!(&error, GuildError::Invalid(f) if f.field == "parent_id"),
            "{error:?}"
        );
        let mut history = managers();
        history.push(channel(CATEGORY, ChannelType::GuildCategory, vec![]));
        command.parent_id = Some(CATEGORY);
        accepted(history, ALICE, GuildCommand::CreateChannel(command));
    }

    #[test]
    fn a_guild_holds_at_most_500_channels() {
        let mut history = managers();
        for raw in 0..498 {
            history.push(channel(
                ChannelId::new(10_000 + raw),
                ChannelType::GuildText,
                vec![],
            ));
        }
        TestFramework::<Guild>::with(())
            .given(history)
            .when(by(
                ALICE,
                GuildCommand::CreateChannel(create("one more", ChannelType::GuildText)),
            ))
            .then_expect_error(GuildError::MaxChannels);
    }

    #[test]
    fn a_role_overwrite_deny_hides_the_channel() {
        let mut history = managers();
        history.push(channel(
            NEW,
            ChannelType::GuildText,
            vec![PermissionOverwrite::role(
                MODS,
                Permissions::empty(),
                Permissions::VIEW_CHANNEL,
            )],
        ));
        let mut rename = ModifyChannel::new(NEW);
        rename.name = Some("seen".into());
        TestFramework::<Guild>::with(())
            .given(history)
            .when(by(ALICE, GuildCommand::ModifyChannel(rename)))
            .then_expect_error(GuildError::MissingAccess);
    }

    #[test]
    fn a_member_overwrite_can_take_manage_channels_away_in_one_channel() {
        let mut history = managers();
        history.push(channel(
            NEW,
            ChannelType::GuildText,
            vec![PermissionOverwrite::member(
                ALICE,
                Permissions::empty(),
                Permissions::MANAGE_CHANNELS,
            )],
        ));
        TestFramework::<Guild>::with(())
            .given(history)
            .when(by(ALICE, GuildCommand::DeleteChannel { channel_id: NEW }))
            .then_expect_error(GuildError::MissingPermissions);
    }

    #[test]
    fn setting_overwrites_needs_manage_roles() {
        let overwrite = PermissionOverwrite::role(
            GUILD.everyone_role(),
            Permissions::empty(),
            Permissions::SEND_MESSAGES,
        );
        TestFramework::<Guild>::with(())
            .given(managers())
            .when(by(
                ALICE,
                GuildCommand::EditChannelPermissions {
                    channel_id: TEXT,
                    overwrite: overwrite.clone(),
                },
            ))
            .then_expect_error(GuildError::MissingPermissions);
        let mut command = create("quiet", ChannelType::GuildText);
        command.permission_overwrites = vec![overwrite];
        TestFramework::<Guild>::with(())
            .given(managers())
            .when(by(ALICE, GuildCommand::CreateChannel(command)))
            .then_expect_error(GuildError::MissingPermissions);
    }

    #[test]
    fn overwrites_cannot_grant_permissions_the_actor_lacks() {
        let mut history = guild();
        history.push(role(
            MODS,
            1,
            Permissions::MANAGE_ROLES.union(Permissions::MANAGE_CHANNELS),
        ));
        history.push(with_roles(ALICE, &[MODS]));
        let grant_ban =
            PermissionOverwrite::member(ALICE, Permissions::BAN_MEMBERS, Permissions::empty());
        TestFramework::<Guild>::with(())
            .given(history.clone())
            .when(by(
                ALICE,
                GuildCommand::EditChannelPermissions {
                    channel_id: TEXT,
                    overwrite: grant_ban.clone(),
                },
            ))
            .then_expect_error(GuildError::MissingPermissions);
        accepted(
            history,
            OWNER,
            GuildCommand::EditChannelPermissions {
                channel_id: TEXT,
                overwrite: grant_ban,
            },
        );
    }

    #[test]
    fn an_overwrite_must_name_an_existing_role_or_member() {
        let ghost_role =
            PermissionOverwrite::role(HELPERS, Permissions::empty(), Permissions::empty());
        TestFramework::<Guild>::with(())
            .given(guild())
            .when(by(
                OWNER,
                GuildCommand::EditChannelPermissions {
                    channel_id: TEXT,
                    overwrite: ghost_role,
                },
            ))
            .then_expect_error(GuildError::UnknownRole);
        let ghost = PermissionOverwrite::member(
            super::super::fixtures::STRANGER,
            Permissions::empty(),
            Permissions::empty(),
        );
        TestFramework::<Guild>::with(())
            .given(guild())
            .when(by(
                OWNER,
                GuildCommand::EditChannelPermissions {
                    channel_id: TEXT,
                    overwrite: ghost,
                },
            ))
            .then_expect_error(GuildError::UnknownMember);
    }

    #[test]
    fn deleting_an_overwrite_the_channel_does_not_have_is_refused() {
        TestFramework::<Guild>::with(())
            .given(guild())
            .when(by(
                OWNER,
                GuildCommand::DeleteChannelPermission {
                    channel_id: TEXT,
                    overwrite_id: MODS.0,
                },
            ))
            .then_expect_error(GuildError::UnknownOverwrite);
    }

    #[test]
    fn an_unknown_channel_is_refused() {
        TestFramework::<Guild>::with(())
            .given(guild())
            .when(by(OWNER, GuildCommand::DeleteChannel { channel_id: NEW }))
            .then_expect_error(GuildError::UnknownChannel);
    }

    #[test]
    fn deleting_a_category_orphans_its_channels_and_clears_the_system_channel() {
        let mut history = guild();
        history.push(channel(CATEGORY, ChannelType::GuildCategory, vec![]));
        let mut move_in = ModifyChannel::new(VOICE);
        move_in.parent_id = Some(Some(CATEGORY));
        history.extend(accepted(
            history.clone(),
            OWNER,
            GuildCommand::ModifyChannel(move_in),
        ));
        history.extend(accepted(
            history.clone(),
            OWNER,
            GuildCommand::DeleteChannel {
                channel_id: CATEGORY,
            },
        ));
        history.extend(accepted(
            history.clone(),
            OWNER,
            GuildCommand::DeleteChannel { channel_id: TEXT },
        ));
        let mut state = Guild::default();
        for event in history {
            state.apply(event);
        }
        assert_eq!(state.channels.get(&VOICE).and_then(|c| c.parent_id), None);
        assert_eq!(state.system_channel_id, None);
    }
}

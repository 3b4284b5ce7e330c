//! Messages in guild text channels: the guild's side of the shared
//! [`crate::aggregates::messages`] component.
//!
//! The guild resolves what the component cannot know: the actor is a member, the
//! channel exists and is a text channel (50024 otherwise; 50001 if the actor cannot
//! see it), the actor's permissions in it (overwrites and timeouts included), and who
//! can be mentioned — members, and the guild's roles with their `mentionable` flag.

use cloudcord_schemas::guild::ChannelType;
use cloudcord_schemas::ids::{ChannelId, RoleId, UserId};
use cloudcord_schemas::message::{
    AckMessage, AddReaction, BulkDeleteMessages, DeleteMessage, EditMessage, PinMessage,
    RemoveReaction, SendMessage, UnpinMessage, UserSnapshot,
};
use cloudcord_schemas::permissions::Permissions;

use super::{Ctx, Decided, Guild, GuildError, Reply};
use crate::aggregates::messages::{Audience, ChannelContext};

impl Audience for Guild {
    fn user(&self, id: UserId) -> Option<&UserSnapshot> {
        self.members.get(&id).map(|m| &m.user)
    }

    fn role_mentionable(&self, id: RoleId) -> Option<bool> {
        if self.id.is_some_and(|guild| guild.everyone_role() == id) {
            return None;
        }
        self.roles.get(&id).map(|r| r.mentionable)
    }
}

impl Guild {
    /// The component's view of a text channel for the actor.
    fn text_channel(
        &self,
        ctx: &Ctx,
        channel_id: ChannelId,
    ) -> Result<ChannelContext<'_>, GuildError> {
        let (guild_id, _) = self.actor_member(ctx)?;
        let channel = self.channel(channel_id)?;
        let permissions = self.channel_permissions(ctx.actor, channel_id, ctx.at);
        if !permissions.contains(Permissions::VIEW_CHANNEL) {
            return Err(GuildError::MissingAccess);
        }
        if channel.kind != ChannelType::GuildText {
            return Err(GuildError::WrongChannelType);
        }
        Ok(ChannelContext {
            channel_id,
            guild_id: Some(guild_id),
            actor: ctx.actor,
            permissions,
            at: ctx.at,
            audience: self,
        })
    }

    pub(super) fn send_message(&self, ctx: &Ctx, send: SendMessage) -> Result<Decided, GuildError> {
        let channel = self.text_channel(ctx, send.channel_id)?;
        Ok(Decided::event(self.messages.send(&channel, send)?))
    }

    pub(super) fn edit_message(&self, ctx: &Ctx, edit: EditMessage) -> Result<Decided, GuildError> {
        let channel = self.text_channel(ctx, edit.channel_id)?;
        Ok(Decided::event(self.messages.edit(&channel, edit)?))
    }

    pub(super) fn delete_message(
        &self,
        ctx: &Ctx,
        delete: &DeleteMessage,
    ) -> Result<Decided, GuildError> {
        let channel = self.text_channel(ctx, delete.channel_id)?;
        Ok(Decided::event(self.messages.delete(&channel, delete)?))
    }

    pub(super) fn bulk_delete_messages(
        &self,
        ctx: &Ctx,
        bulk: &BulkDeleteMessages,
    ) -> Result<Decided, GuildError> {
        let channel = self.text_channel(ctx, bulk.channel_id)?;
        let deleted = self.messages.bulk_delete(&channel, bulk)?;
        // Only unknown ids: nothing to delete, and Discord still answers 204.
        Ok(optional(Some(deleted).filter(|d| !d.ids.is_empty())))
    }

    pub(super) fn add_reaction(&self, ctx: &Ctx, add: AddReaction) -> Result<Decided, GuildError> {
        let channel = self.text_channel(ctx, add.channel_id)?;
        Ok(optional(self.messages.add_reaction(&channel, add)?))
    }

    pub(super) fn remove_reaction(
        &self,
        ctx: &Ctx,
        remove: RemoveReaction,
    ) -> Result<Decided, GuildError> {
        let channel = self.text_channel(ctx, remove.channel_id)?;
        Ok(optional(self.messages.remove_reaction(&channel, remove)?))
    }

    pub(super) fn pin_message(&self, ctx: &Ctx, pin: &PinMessage) -> Result<Decided, GuildError> {
        let channel = self.text_channel(ctx, pin.channel_id)?;
        Ok(optional(self.messages.pin(&channel, pin)?))
    }

    pub(super) fn ack_message(&self, ctx: &Ctx, ack: &AckMessage) -> Result<Decided, GuildError> {
        let channel = self.text_channel(ctx, ack.channel_id)?;
        Ok(Decided::event(self.messages.ack(&channel, ack)?))
    }

    pub(super) fn unpin_message(
        &self,
        ctx: &Ctx,
        unpin: &UnpinMessage,
    ) -> Result<Decided, GuildError> {
        let channel = self.text_channel(ctx, unpin.channel_id)?;
        Ok(optional(self.messages.unpin(&channel, unpin)?))
    }
}

/// One event, or none (answered 204 either way).
fn optional<E: Into<cloudcord_schemas::guild::GuildEvent>>(event: Option<E>) -> Decided {
    let decided = Decided::nothing().reply(Reply::NoContent);
    match event {
        Some(event) => decided.and(event),
        None => decided,
    }
}

#[cfg(test)]
mod tests {
    use cloudcord_schemas::envelope::{Actor, Authored};
    use cloudcord_schemas::guild::{
        ChannelType, GuildCommand, GuildEvent, ModifyMember, ModifyRole,
    };
    use cloudcord_schemas::ids::{ChannelId, MessageId, UserId};
    use cloudcord_schemas::message::{
        AckMessage, AddReaction, AllowedMentions, BulkDeleteMessages, DeleteMessage, EditMessage,
        MessageAcked, PinMessage, ReactionEmoji, RemoveReaction, SendMessage,
    };
    use cloudcord_schemas::permissions::{PermissionOverwrite, Permissions};
    use cqrs_es::test::TestFramework;
    use time::macros::datetime;

    use super::super::fixtures::{
        ALICE, BOB, GUILD, HELPERS, MODS, NOW, OWNER, STRANGER, TEXT, VOICE, by, channel,
        everyone_can, everyone_has, guild, role, snapshot, with_roles,
    };
    use super::super::{Guild, GuildError};
    use crate::aggregates::messages::MessageError;
    use crate::aggregates::{Decider, Domain, decide};

    const FIRST: MessageId = MessageId::new(7_000_000_000_000_000);

    fn send(author: UserId, id: MessageId, content: &str) -> SendMessage {
        SendMessage {
            attachments: Vec::new(),
            channel_id: TEXT,
            message_id: id,
            author: snapshot(author),
            content: content.into(),
            nonce: None,
            tts: false,
            message_reference: None,
            allowed_mentions: None,
        }
    }

    fn result(
        history: Vec<Domain<GuildEvent>>,
        actor: UserId,
        command: GuildCommand,
    ) -> Result<Vec<Domain<GuildEvent>>, GuildError> {
        TestFramework::<Guild>::with(())
            .given(history)
            .when(by(actor, command))
            .inspect_result()
    }

    /// The guild with one message by BOB in `general`.
    fn with_message() -> Vec<Domain<GuildEvent>> {
        let mut history = guild();
        history.extend(
            result(
                history.clone(),
                BOB,
                GuildCommand::SendMessage(send(BOB, FIRST, "hello")),
            )
            .expect("sent"),
        );
        history
    }

    fn sent(events: &[Domain<GuildEvent>]) -> &cloudcord_schemas::message::MessageSent {
        match events {
            [Domain(GuildEvent::MessageSent(sent))] => sent,
            other => panic!("expected one MessageSent, got {other:?}"),
        }
    }

    #[test]
    fn members_send_messages_to_text_channels() {
        let events = result(
            guild(),
            ALICE,
            GuildCommand::SendMessage(send(ALICE, FIRST, "hi")),
        )
        .expect("sent");
        assert_eq!(sent(&events).author.id, ALICE);
        assert_eq!(sent(&events).timestamp, NOW);
    }

    #[test]
    fn non_members_cannot_send_messages() {
        TestFramework::<Guild>::with(())
            .given(guild())
            .when(by(
                STRANGER,
                GuildCommand::SendMessage(send(STRANGER, FIRST, "hi")),
            ))
            .then_expect_error(GuildError::MissingAccess);
    }

    #[test]
    fn voice_channels_and_categories_take_no_messages() {
        let mut history = guild();
        history.push(channel(
            ChannelId::new(3000),
            ChannelType::GuildCategory,
            vec![],
        ));
        for channel_id in [VOICE, ChannelId::new(3000)] {
            let mut command = send(ALICE, FIRST, "hi");
            command.channel_id = channel_id;
            assert_eq!(
                result(history.clone(), ALICE, GuildCommand::SendMessage(command)),
                Err(GuildError::WrongChannelType)
            );
        }
    }

    #[test]
    fn a_message_to_an_unknown_channel_is_refused() {
        let mut command = send(ALICE, FIRST, "hi");
        command.channel_id = ChannelId::new(4040);
        assert_eq!(
            result(guild(), ALICE, GuildCommand::SendMessage(command)),
            Err(GuildError::UnknownChannel)
        );
    }

    #[test]
    fn a_role_overwrite_deny_of_view_channel_is_missing_access() {
        let mut history = guild();
        history.push(role(MODS, 1, Permissions::empty()));
        history.push(with_roles(ALICE, &[MODS]));
        history.push(Domain(GuildEvent::ChannelOverwriteUpserted(
            cloudcord_schemas::guild::ChannelOverwriteUpserted {
                channel_id: TEXT,
                overwrite: PermissionOverwrite::role(
                    MODS,
                    Permissions::empty(),
                    Permissions::VIEW_CHANNEL,
                ),
            },
        )));
        assert_eq!(
            result(
                history,
                ALICE,
                GuildCommand::SendMessage(send(ALICE, FIRST, "hi"))
            ),
            Err(GuildError::MissingAccess)
        );
    }

    /// `general` with `@everyone` denied SEND_MESSAGES.
    fn silenced() -> Vec<Domain<GuildEvent>> {
        let mut history = guild();
        history.push(Domain(GuildEvent::ChannelOverwriteUpserted(
            cloudcord_schemas::guild::ChannelOverwriteUpserted {
                channel_id: TEXT,
                overwrite: PermissionOverwrite::role(
                    GUILD.everyone_role(),
                    Permissions::empty(),
                    Permissions::SEND_MESSAGES,
                ),
            },
        )));
        history
    }

    #[test]
    fn the_owner_and_administrators_ignore_channel_overwrites() {
        assert!(
            result(
                silenced(),
                OWNER,
                GuildCommand::SendMessage(send(OWNER, FIRST, "hi"))
            )
            .is_ok()
        );
        let mut history = silenced();
        history.push(role(MODS, 1, Permissions::ADMINISTRATOR));
        history.push(with_roles(ALICE, &[MODS]));
        assert!(
            result(
                history,
                ALICE,
                GuildCommand::SendMessage(send(ALICE, FIRST, "hi"))
            )
            .is_ok()
        );
    }

    #[test]
    fn a_member_overwrite_allow_beats_an_everyone_deny() {
        let mut history = silenced();
        history.push(Domain(GuildEvent::ChannelOverwriteUpserted(
            cloudcord_schemas::guild::ChannelOverwriteUpserted {
                channel_id: TEXT,
                overwrite: PermissionOverwrite::member(
                    ALICE,
                    Permissions::SEND_MESSAGES,
                    Permissions::empty(),
                ),
            },
        )));
        assert!(
            result(
                history.clone(),
                ALICE,
                GuildCommand::SendMessage(send(ALICE, FIRST, "hi"))
            )
            .is_ok()
        );
        assert_eq!(
            result(
                history,
                BOB,
                GuildCommand::SendMessage(send(BOB, FIRST, "hi"))
            ),
            Err(GuildError::Message(MessageError::MissingPermissions))
        );
    }

    #[test]
    fn an_everyone_overwrite_denying_send_messages_silences_the_channel() {
        let mut history = guild();
        history.push(Domain(GuildEvent::ChannelOverwriteUpserted(
            cloudcord_schemas::guild::ChannelOverwriteUpserted {
                channel_id: TEXT,
                overwrite: PermissionOverwrite::role(
                    GUILD.everyone_role(),
                    Permissions::empty(),
                    Permissions::SEND_MESSAGES,
                ),
            },
        )));
        assert_eq!(
            result(
                history,
                ALICE,
                GuildCommand::SendMessage(send(ALICE, FIRST, "hi"))
            ),
            Err(GuildError::Message(MessageError::MissingPermissions))
        );
    }

    #[test]
    fn a_timed_out_member_cannot_send_messages() {
        let mut history = guild();
        let mut timeout = ModifyMember::new(ALICE);
        timeout.communication_disabled_until = Some(Some(NOW + time::Duration::minutes(5)));
        history.extend(
            result(history.clone(), OWNER, GuildCommand::ModifyMember(timeout)).expect("timed out"),
        );
        assert_eq!(
            result(
                history,
                ALICE,
                GuildCommand::SendMessage(send(ALICE, FIRST, "hi"))
            ),
            Err(GuildError::Message(MessageError::MissingPermissions))
        );
    }

    #[test]
    fn mentions_of_everyone_need_mention_everyone() {
        let mut history = guild();
        history.push(everyone_has(
            Permissions::VIEW_CHANNEL.union(Permissions::SEND_MESSAGES),
        ));
        let events = result(
            history,
            ALICE,
            GuildCommand::SendMessage(send(ALICE, FIRST, "@everyone look")),
        )
        .expect("sent");
        assert!(!sent(&events).mention_everyone);
        let events = result(
            guild(),
            ALICE,
            GuildCommand::SendMessage(send(ALICE, FIRST, "@everyone look")),
        )
        .expect("sent");
        assert!(
            sent(&events).mention_everyone,
            "@everyone may mention everyone by default"
        );
    }

    #[test]
    fn allowed_mentions_parse_none_suppresses_user_mentions() {
        let mut command = send(ALICE, FIRST, "hey <@30>");
        command.allowed_mentions = Some(AllowedMentions::default());
        let events = result(guild(), ALICE, GuildCommand::SendMessage(command)).expect("sent");
        assert!(sent(&events).mentions.is_empty());
        let events = result(
            guild(),
            ALICE,
            GuildCommand::SendMessage(send(ALICE, FIRST, "hey <@30> <@99>")),
        )
        .expect("sent");
        assert_eq!(
            sent(&events).mentions,
            vec![BOB],
            "only members are mentioned"
        );
    }

    #[test]
    fn unmentionable_roles_are_mentioned_only_with_mention_everyone() {
        let mut history = guild();
        history.push(everyone_has(
            Permissions::VIEW_CHANNEL.union(Permissions::SEND_MESSAGES),
        ));
        history.push(role(HELPERS, 1, Permissions::empty()));
        let mut mentionable = ModifyRole::new(MODS);
        mentionable.mentionable = Some(true);
        history.push(role(MODS, 1, Permissions::empty()));
        history.extend(
            result(
                history.clone(),
                OWNER,
                GuildCommand::ModifyRole(mentionable),
            )
            .expect("mentionable"),
        );
        let events = result(
            history,
            ALICE,
            GuildCommand::SendMessage(send(ALICE, FIRST, "<@&2001> <@&2002>")),
        )
        .expect("sent");
        assert_eq!(sent(&events).mention_roles, vec![MODS]);
        let events = result(
            guild_with_roles(),
            ALICE,
            GuildCommand::SendMessage(send(ALICE, FIRST, "<@&2001> <@&2002>")),
        )
        .expect("sent");
        assert_eq!(sent(&events).mention_roles, vec![MODS, HELPERS]);
    }

    fn guild_with_roles() -> Vec<Domain<GuildEvent>> {
        let mut history = guild();
        history.push(role(HELPERS, 1, Permissions::empty()));
        history.push(role(MODS, 1, Permissions::empty()));
        history
    }

    #[test]
    fn only_the_author_may_edit_a_message() {
        let edit = GuildCommand::EditMessage(EditMessage {
            channel_id: TEXT,
            message_id: FIRST,
            content: "edited".into(),
            allowed_mentions: None,
        });
        assert_eq!(
            result(with_message(), OWNER, edit.clone()),
            Err(GuildError::Message(MessageError::NotAuthor))
        );
        assert!(result(with_message(), BOB, edit).is_ok());
    }

    #[test]
    fn members_with_manage_messages_delete_others_messages() {
        let delete = GuildCommand::DeleteMessage(DeleteMessage {
            channel_id: TEXT,
            message_id: FIRST,
        });
        assert_eq!(
            result(with_message(), ALICE, delete.clone()),
            Err(GuildError::Message(MessageError::MissingPermissions))
        );
        let mut history = with_message();
        history.push(everyone_can(Permissions::MANAGE_MESSAGES));
        assert!(result(history, ALICE, delete).is_ok());
    }

    #[test]
    fn editing_an_unknown_message_is_refused() {
        let edit = GuildCommand::EditMessage(EditMessage {
            channel_id: TEXT,
            message_id: MessageId::new(1),
            content: "x".into(),
            allowed_mentions: None,
        });
        assert_eq!(
            result(guild(), BOB, edit),
            Err(GuildError::Message(MessageError::UnknownMessage))
        );
    }

    #[test]
    fn bulk_delete_refuses_messages_older_than_14_days() {
        let mut history = guild();
        history.push(everyone_can(Permissions::MANAGE_MESSAGES));
        let old = MessageId(cloudcord_schemas::ids::Snowflake::from_timestamp_ms(
            u64::try_from(datetime!(2026-11-01 00:00 UTC).unix_timestamp() * 1000)
                .expect("positive"),
        ));
        let bulk = GuildCommand::BulkDeleteMessages(BulkDeleteMessages {
            channel_id: TEXT,
            messages: vec![old, FIRST],
        });
        assert_eq!(
            result(history, ALICE, bulk),
            Err(GuildError::Message(MessageError::TooOldToBulkDelete))
        );
    }

    #[test]
    fn bulk_delete_needs_manage_messages() {
        let bulk = GuildCommand::BulkDeleteMessages(BulkDeleteMessages {
            channel_id: TEXT,
            messages: vec![FIRST, MessageId::new(FIRST.get() + 1)],
        });
        assert_eq!(
            result(with_message(), ALICE, bulk),
            Err(GuildError::Message(MessageError::MissingPermissions))
        );
    }

    fn fire() -> ReactionEmoji {
        ReactionEmoji::parse("🔥").expect("emoji")
    }

    #[test]
    fn reacting_needs_read_message_history() {
        let mut history = with_message();
        history.push(everyone_has(
            Permissions::VIEW_CHANNEL.union(Permissions::ADD_REACTIONS),
        ));
        let react = GuildCommand::AddReaction(AddReaction {
            channel_id: TEXT,
            message_id: FIRST,
            emoji: fire(),
        });
        assert_eq!(
            result(history, ALICE, react.clone()),
            Err(GuildError::Message(MessageError::MissingPermissions))
        );
        assert!(result(with_message(), ALICE, react).is_ok());
    }

    #[test]
    fn removing_someone_elses_reaction_needs_manage_messages() {
        let mut history = with_message();
        history.extend(
            result(
                history.clone(),
                BOB,
                GuildCommand::AddReaction(AddReaction {
                    channel_id: TEXT,
                    message_id: FIRST,
                    emoji: fire(),
                }),
            )
            .expect("reacted"),
        );
        let remove = GuildCommand::RemoveReaction(RemoveReaction {
            channel_id: TEXT,
            message_id: FIRST,
            emoji: fire(),
            user_id: Some(BOB),
        });
        assert_eq!(
            result(history.clone(), ALICE, remove.clone()),
            Err(GuildError::Message(MessageError::MissingPermissions))
        );
        assert!(result(history.clone(), OWNER, remove).is_ok());
        let own = GuildCommand::RemoveReaction(RemoveReaction {
            channel_id: TEXT,
            message_id: FIRST,
            emoji: fire(),
            user_id: None,
        });
        assert_eq!(result(history, BOB, own).map(|e| e.len()), Ok(1));
    }

    #[test]
    fn pinning_needs_pin_messages() {
        let pin = GuildCommand::PinMessage(PinMessage {
            channel_id: TEXT,
            message_id: FIRST,
        });
        assert_eq!(
            result(with_message(), ALICE, pin.clone()),
            Err(GuildError::Message(MessageError::MissingPermissions))
        );
        assert!(result(with_message(), OWNER, pin).is_ok());
    }

    #[test]
    fn a_deleted_channels_messages_are_gone() {
        let mut history = with_message();
        history.extend(
            result(
                history.clone(),
                OWNER,
                GuildCommand::DeleteChannel { channel_id: TEXT },
            )
            .expect("deleted"),
        );
        let mut guild = Guild::default();
        for event in history {
            cqrs_es::Aggregate::apply(&mut guild, event);
        }
        assert!(guild.messages.index().get(FIRST).is_none());
    }

    #[test]
    fn the_accepted_message_has_discords_shape_and_no_content_answers_are_204() {
        let mut guild = Guild::default();
        for event in with_message() {
            cqrs_es::Aggregate::apply(&mut guild, event);
        }
        let (events, accepted) = decide(
            &mut guild,
            Authored {
                actor: Actor::User(ALICE),
                at: NOW,
                command: GuildCommand::SendMessage(send(
                    ALICE,
                    MessageId::new(FIRST.get() + 1),
                    "hi <@30>",
                )),
            },
        )
        .expect("sent");
        assert_eq!(accepted.status, 200);
        let body = accepted.body.expect("message object");
        assert_eq!(body["author"]["username"], "user20");
        assert_eq!(body["mentions"][0]["id"], "30");
        assert_eq!(body["channel_id"], TEXT.to_string());
        assert_eq!(body["pinned"], false);
        assert_eq!(guild.accepted(&events).status, 200);
        let (_, accepted) = decide(
            &mut guild,
            Authored {
                actor: Actor::User(ALICE),
                at: NOW,
                command: GuildCommand::AddReaction(AddReaction {
                    channel_id: TEXT,
                    message_id: FIRST,
                    emoji: fire(),
                }),
            },
        )
        .expect("reacted");
        assert_eq!(accepted.status, 204);
        assert_eq!(accepted.body, None);
    }

    fn ack(message_id: MessageId) -> GuildCommand {
        GuildCommand::AckMessage(AckMessage {
            channel_id: TEXT,
            message_id,
            manual: false,
        })
    }

    #[test]
    fn a_member_acks_a_message_and_hears_discords_token_answer() {
        let mut guild = Guild::default();
        for event in with_message() {
            cqrs_es::Aggregate::apply(&mut guild, event);
        }
        let (events, accepted) = decide(&mut guild, by(ALICE, ack(FIRST))).expect("acked");
        assert_eq!(
            events,
            [GuildEvent::MessageAcked(MessageAcked {
                user_id: ALICE,
                channel_id: TEXT,
                message_id: FIRST,
                manual: false,
            })]
        );
        assert_eq!(accepted.status, 200);
        assert_eq!(accepted.body, Some(serde_json::json!({ "token": null })));
    }

    #[test]
    fn only_members_who_see_the_channel_ack_in_it() {
        assert_eq!(
            result(with_message(), STRANGER, ack(FIRST)),
            Err(GuildError::MissingAccess)
        );
        let mut hidden = with_message();
        hidden.push(everyone_has(Permissions::empty()));
        assert_eq!(
            result(hidden, ALICE, ack(FIRST)),
            Err(GuildError::MissingAccess)
        );
    }
}

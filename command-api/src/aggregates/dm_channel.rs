//! The DM channel aggregate: one direct-message channel between two users, its
//! messages (through the shared [`messages`](super::messages) component) and the
//! blocks between its recipients.
//!
//! The channel id is derived from the pair
//! ([`dm_channel_id`]), so every
//! request about a pair meets at one single writer; why, and how blocks reach this
//! aggregate, is in [`cloudcord_schemas::dm_channel`].
//!
//! In a DM each recipient may view, send, read history, react, pin and use TTS;
//! nobody has `MANAGE_MESSAGES`, so a recipient deletes only their own messages (as
//! on Discord). Nobody else may act at all (50001).

use std::collections::BTreeSet;

use cloudcord_schemas::dm_channel::{
    DmChannelCommand, DmChannelEvent, DmChannelOpened, DmRecipientBlocked, DmRecipientUnblocked,
    dm_channel_id,
};
use cloudcord_schemas::envelope::{Actor, AggregateType, ApiError, Authored};
use cloudcord_schemas::ids::{ChannelId, MessageId, RoleId, UserId};
use cloudcord_schemas::message::UserSnapshot;
use cloudcord_schemas::permissions::Permissions;
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;

use super::message_index::MessageIndex;
use super::messages::{Audience, ChannelContext, MessageError, Messages, ack_object, user_object};
use super::{Accepted, Decider, Domain, Refusal};

/// What a recipient may do in a DM.
const RECIPIENT_PERMISSIONS: Permissions = Permissions::VIEW_CHANNEL
    .union(Permissions::SEND_MESSAGES)
    .union(Permissions::SEND_TTS_MESSAGES)
    .union(Permissions::READ_MESSAGE_HISTORY)
    .union(Permissions::ADD_REACTIONS)
    .union(Permissions::PIN_MESSAGES);

/// What the HTTP caller receives for the command being decided.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Answer {
    /// 200 with the DM channel object as `viewer` sees it (`None`: both recipients).
    Channel { viewer: Option<UserId> },
    /// 200 with the message object of the sent or edited message.
    Message { viewer: UserId },
    /// 200 with Discord's ack answer.
    Acked,
    /// 204 No Content.
    #[default]
    NoContent,
}

/// A DM channel's decision state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DmChannel {
    /// The two users, ascending; known once the DM is opened or a block is recorded.
    pair: Option<[UserId; 2]>,
    /// The recipients' profiles when it was opened; `None` until opened.
    recipients: Option<[UserSnapshot; 2]>,
    /// `(blocker, blocked)` for each block between the recipients.
    blocks: BTreeSet<(UserId, UserId)>,
    /// The last message sent (Discord's `last_message_id`).
    last_message_id: Option<MessageId>,
    /// The message index.
    messages: Messages,
    /// Set by `handle` for `accepted` (not state: never replayed or snapshotted).
    #[serde(skip)]
    answer: Answer,
}

/// Why a DM channel command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DmChannelError {
    /// The DM was never opened, or the command names another channel.
    #[error("Unknown Channel")]
    UnknownChannel,
    /// The actor is not a recipient.
    #[error("Missing Access")]
    MissingAccess,
    /// One recipient blocked the other, or the DM would be with oneself or between bots.
    #[error("Cannot send messages to this user")]
    CannotMessageUser,
    /// One recipient blocked the other.
    #[error("Reaction was blocked")]
    ReactionBlocked,
    /// A field is invalid.
    #[error("invalid {field}: {message}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// Discord's error code for it.
        code: &'static str,
        /// What is wrong.
        message: &'static str,
    },
    /// The message component refused.
    #[error(transparent)]
    Message(#[from] MessageError),
}

fn sorted(a: UserId, b: UserId) -> [UserId; 2] {
    if a <= b { [a, b] } else { [b, a] }
}

impl Audience for DmChannel {
    fn user(&self, id: UserId) -> Option<&UserSnapshot> {
        self.recipients.as_ref()?.iter().find(|user| user.id == id)
    }

    fn role_mentionable(&self, _id: RoleId) -> Option<bool> {
        None
    }
}

impl DmChannel {
    /// This channel's id, once its pair is known.
    pub fn channel_id(&self) -> Option<ChannelId> {
        self.pair.map(|[a, b]| dm_channel_id(a, b))
    }

    /// Whether either recipient blocks the other.
    pub fn blocked(&self) -> bool {
        !self.blocks.is_empty()
    }

    /// The opened channel's recipients and id, or Unknown Channel.
    fn opened(&self) -> Result<(&[UserSnapshot; 2], ChannelId), DmChannelError> {
        match (&self.recipients, self.channel_id()) {
            (Some(recipients), Some(id)) => Ok((recipients, id)),
            _ => Err(DmChannelError::UnknownChannel),
        }
    }

    /// The context for a message command by `actor` about `channel`, once the
    /// channel exists, is the one named, and `actor` is one of its recipients.
    fn context(
        &self,
        actor: Actor,
        channel: ChannelId,
        at: OffsetDateTime,
    ) -> Result<ChannelContext<'_>, DmChannelError> {
        let (recipients, id) = self.opened()?;
        if channel != id {
            return Err(DmChannelError::UnknownChannel);
        }
        let Actor::User(actor) = actor else {
            return Err(DmChannelError::MissingAccess);
        };
        if !recipients.iter().any(|user| user.id == actor) {
            return Err(DmChannelError::MissingAccess);
        }
        Ok(ChannelContext {
            channel_id: id,
            guild_id: None,
            actor,
            permissions: RECIPIENT_PERMISSIONS,
            at,
            audience: self,
        })
    }

    /// Decides one command into at most one event (`None`: nothing to change).
    fn decide(
        &mut self,
        command: Authored<DmChannelCommand>,
    ) -> Result<Option<DmChannelEvent>, DmChannelError> {
        let Authored { actor, at, command } = command;
        let viewer = match actor {
            Actor::User(id) => Some(id),
            Actor::System => None,
        };
        self.answer = match (&command, viewer) {
            (DmChannelCommand::OpenDmChannel { .. }, _) => Answer::Channel { viewer },
            (DmChannelCommand::SendMessage(_) | DmChannelCommand::EditMessage(_), Some(viewer)) => {
                Answer::Message { viewer }
            }
            (DmChannelCommand::AckMessage(_), _) => Answer::Acked,
            _ => Answer::NoContent,
        };
        let event = match command {
            DmChannelCommand::OpenDmChannel {
                channel_id,
                recipients,
            } => self.open(actor, channel_id, recipients)?,
            DmChannelCommand::RecordBlock { blocker, blocked } => {
                self.check_block_pair(actor, blocker, blocked)?;
                (!self.blocks.contains(&(blocker, blocked))).then_some(
                    DmChannelEvent::DmRecipientBlocked(DmRecipientBlocked { blocker, blocked }),
                )
            }
            DmChannelCommand::RecordUnblock { blocker, blocked } => {
                if self.pair.is_none() {
                    // Nothing was ever recorded about this pair: nothing to lift.
                    return Err(DmChannelError::UnknownChannel);
                }
                self.check_block_pair(actor, blocker, blocked)?;
                self.blocks.contains(&(blocker, blocked)).then_some(
                    DmChannelEvent::DmRecipientUnblocked(DmRecipientUnblocked { blocker, blocked }),
                )
            }
            DmChannelCommand::SendMessage(send) => {
                let ctx = self.context(actor, send.channel_id, at)?;
                if self.blocked() {
                    return Err(DmChannelError::CannotMessageUser);
                }
                Some(DmChannelEvent::MessageSent(self.messages.send(&ctx, send)?))
            }
            DmChannelCommand::EditMessage(edit) => {
                let ctx = self.context(actor, edit.channel_id, at)?;
                Some(DmChannelEvent::MessageEdited(
                    self.messages.edit(&ctx, edit)?,
                ))
            }
            DmChannelCommand::DeleteMessage(delete) => {
                let ctx = self.context(actor, delete.channel_id, at)?;
                Some(DmChannelEvent::MessageDeleted(
                    self.messages.delete(&ctx, &delete)?,
                ))
            }
            DmChannelCommand::AddReaction(react) => {
                let ctx = self.context(actor, react.channel_id, at)?;
                if self.blocked() {
                    return Err(DmChannelError::ReactionBlocked);
                }
                self.messages
                    .add_reaction(&ctx, react)?
                    .map(DmChannelEvent::ReactionAdded)
            }
            DmChannelCommand::RemoveReaction(remove) => {
                let ctx = self.context(actor, remove.channel_id, at)?;
                self.messages
                    .remove_reaction(&ctx, remove)?
                    .map(DmChannelEvent::ReactionRemoved)
            }
            DmChannelCommand::PinMessage(pin) => {
                let ctx = self.context(actor, pin.channel_id, at)?;
                self.messages
                    .pin(&ctx, &pin)?
                    .map(DmChannelEvent::MessagePinned)
            }
            DmChannelCommand::UnpinMessage(unpin) => {
                let ctx = self.context(actor, unpin.channel_id, at)?;
                self.messages
                    .unpin(&ctx, &unpin)?
                    .map(DmChannelEvent::MessageUnpinned)
            }
            DmChannelCommand::AckMessage(ack) => {
                let ctx = self.context(actor, ack.channel_id, at)?;
                Some(DmChannelEvent::MessageAcked(self.messages.ack(&ctx, &ack)?))
            }
        };
        Ok(event)
    }

    fn open(
        &self,
        actor: Actor,
        channel_id: ChannelId,
        recipients: [UserSnapshot; 2],
    ) -> Result<Option<DmChannelEvent>, DmChannelError> {
        let [first, second] = &recipients;
        let pair = sorted(first.id, second.id);
        if let Actor::User(actor) = actor
            && !pair.contains(&actor)
        {
            return Err(DmChannelError::MissingAccess);
        }
        if self.pair.is_some_and(|known| known != pair) {
            // Misrouted: this aggregate belongs to another pair.
            return Err(DmChannelError::MissingAccess);
        }
        if first.id == second.id || (first.bot && second.bot) {
            return Err(DmChannelError::CannotMessageUser);
        }
        if channel_id != dm_channel_id(first.id, second.id) {
            return Err(DmChannelError::Invalid {
                field: "channel_id",
                code: "DM_CHANNEL_ID_MISMATCH",
                message: "A DM channel's id is derived from its two recipients.",
            });
        }
        if self.recipients.is_some() {
            return Ok(None);
        }
        Ok(Some(DmChannelEvent::DmChannelOpened(DmChannelOpened {
            channel_id,
            recipients,
        })))
    }

    /// A block between `blocker` and `blocked` concerns this channel's pair, and
    /// `actor` speaks for `blocker`.
    fn check_block_pair(
        &self,
        actor: Actor,
        blocker: UserId,
        blocked: UserId,
    ) -> Result<(), DmChannelError> {
        if actor != Actor::System && actor != Actor::User(blocker) {
            return Err(DmChannelError::MissingAccess);
        }
        if blocker == blocked {
            return Err(DmChannelError::CannotMessageUser);
        }
        if self
            .pair
            .is_some_and(|known| known != sorted(blocker, blocked))
        {
            return Err(DmChannelError::MissingAccess);
        }
        Ok(())
    }

    /// Discord's DM channel object; `viewer` is left out of the recipients, as
    /// Discord lists only the other user.
    fn channel_object(&self, viewer: Option<UserId>) -> serde_json::Value {
        let Ok((recipients, id)) = self.opened() else {
            return serde_json::Value::Null;
        };
        let others: Vec<serde_json::Value> = recipients
            .iter()
            .filter(|user| Some(user.id) != viewer)
            .map(user_object)
            .collect();
        json!({
            "id": id,
            "type": 1,
            "last_message_id": self.last_message_id,
            "flags": 0,
            "recipients": others,
        })
    }
}

impl Aggregate for DmChannel {
    const TYPE: &'static str = "dm_channel";
    type Command = Authored<DmChannelCommand>;
    type Event = Domain<DmChannelEvent>;
    type Error = DmChannelError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), DmChannelError> {
        if let Some(event) = self.decide(command)? {
            sink.write(Domain(event), self).await;
        }
        Ok(())
    }

    fn apply(&mut self, Domain(event): Domain<DmChannelEvent>) {
        Self::index_event(self.messages.index_mut(), &event);
        match event {
            DmChannelEvent::DmChannelOpened(opened) => {
                let [first, second] = &opened.recipients;
                self.pair = Some(sorted(first.id, second.id));
                self.recipients = Some(opened.recipients);
            }
            DmChannelEvent::DmRecipientBlocked(DmRecipientBlocked { blocker, blocked }) => {
                self.pair = Some(sorted(blocker, blocked));
                self.blocks.insert((blocker, blocked));
            }
            DmChannelEvent::DmRecipientUnblocked(DmRecipientUnblocked { blocker, blocked }) => {
                self.blocks.remove(&(blocker, blocked));
            }
            DmChannelEvent::MessageSent(sent) => self.last_message_id = Some(sent.id),
            DmChannelEvent::MessageEdited(_)
            | DmChannelEvent::ReactionAdded(_)
            | DmChannelEvent::ReactionRemoved(_)
            | DmChannelEvent::MessageAcked(_) => {}
            DmChannelEvent::MessageDeleted(deleted) => self.messages.on_deleted(&deleted),
            DmChannelEvent::MessagePinned(pinned) => self.messages.on_pinned(&pinned),
            DmChannelEvent::MessageUnpinned(unpinned) => self.messages.on_unpinned(&unpinned),
        }
    }
}

impl Decider for DmChannel {
    type Request = DmChannelCommand;
    type Change = DmChannelEvent;
    const KIND: AggregateType = AggregateType::DmChannel;

    fn attach_index(&mut self, index: MessageIndex) {
        self.messages.attach(index);
    }

    fn index_event(index: &mut MessageIndex, event: &DmChannelEvent) {
        match event {
            DmChannelEvent::MessageSent(sent) => index.on_sent(sent),
            DmChannelEvent::MessageDeleted(deleted) => index.remove(deleted.id),
            DmChannelEvent::ReactionAdded(added) => index.on_reaction_added(added),
            DmChannelEvent::ReactionRemoved(removed) => index.on_reaction_removed(removed),
            DmChannelEvent::DmChannelOpened(_)
            | DmChannelEvent::DmRecipientBlocked(_)
            | DmChannelEvent::DmRecipientUnblocked(_)
            | DmChannelEvent::MessageEdited(_)
            | DmChannelEvent::MessagePinned(_)
            | DmChannelEvent::MessageUnpinned(_)
            | DmChannelEvent::MessageAcked(_) => {}
        }
    }

    fn accepted(&self, events: &[DmChannelEvent]) -> Accepted {
        let body = match self.answer {
            Answer::Channel { viewer } => Some(self.channel_object(viewer)),
            Answer::Message { viewer } => events.iter().find_map(|event| match event {
                DmChannelEvent::MessageSent(sent) => {
                    Some(self.messages.sent_object(sent, viewer, self))
                }
                DmChannelEvent::MessageEdited(edited) => {
                    Some(self.messages.edited_object(edited, viewer, self))
                }
                _ => None,
            }),
            Answer::Acked => Some(ack_object()),
            Answer::NoContent => None,
        };
        Accepted {
            status: if body.is_some() { 200 } else { 204 },
            body,
        }
    }

    fn refused(error: &DmChannelError) -> Refusal {
        let (status, code, message) = match error {
            DmChannelError::UnknownChannel => (404, 10003, "Unknown Channel"),
            DmChannelError::MissingAccess => (403, 50001, "Missing Access"),
            DmChannelError::CannotMessageUser => (403, 50007, "Cannot send messages to this user"),
            DmChannelError::ReactionBlocked => (403, 90001, "Reaction was blocked"),
            DmChannelError::Invalid {
                field,
                code,
                message,
            } => {
                return Refusal {
                    status: 400,
                    error: ApiError {
                        code: 50035,
                        message: "Invalid Form Body".into(),
                        errors: Some(
                            json!({ *field: { "_errors": [{ "code": code, "message": message }] } }),
                        ),
                    },
                };
            }
            DmChannelError::Message(error) => return error.refusal(),
        };
        Refusal {
            status,
            error: ApiError {
                code,
                message: message.into(),
                errors: None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use cloudcord_schemas::dm_channel::{
        DmChannelCommand, DmChannelEvent, DmChannelOpened, DmRecipientBlocked,
        DmRecipientUnblocked, dm_channel_id,
    };
    use cloudcord_schemas::envelope::{Actor, Authored};
    use cloudcord_schemas::ids::{ChannelId, MessageId, UserId};
    use cloudcord_schemas::message::{
        AckMessage, AddReaction, DeleteMessage, EditMessage, MessageAcked, MessageSent, PinMessage,
        ReactionEmoji, SendMessage, UserSnapshot,
    };
    use cqrs_es::test::TestFramework;
    use time::macros::datetime;

    use super::{DmChannel, DmChannelError};
    use crate::aggregates::messages::MessageError;
    use crate::aggregates::{Decider, Domain, decide};

    const NELLY: UserId = UserId::new(10);
    const BOB: UserId = UserId::new(20);
    const EVE: UserId = UserId::new(30);
    const FIRST: MessageId = MessageId::new(500);

    fn channel() -> ChannelId {
        dm_channel_id(NELLY, BOB)
    }

    fn snapshot(id: UserId, username: &str) -> UserSnapshot {
        UserSnapshot {
            id,
            username: username.into(),
            global_name: None,
            avatar: None,
            bot: false,
        }
    }

    fn recipients() -> [UserSnapshot; 2] {
        [snapshot(NELLY, "nelly"), snapshot(BOB, "bob")]
    }

    fn by(actor: UserId, command: DmChannelCommand) -> Authored<DmChannelCommand> {
        Authored {
            actor: Actor::User(actor),
            at: datetime!(2026-11-28 12:00 UTC),
            command,
        }
    }

    fn open() -> DmChannelCommand {
        DmChannelCommand::OpenDmChannel {
            channel_id: channel(),
            recipients: recipients(),
        }
    }

    fn opened() -> Domain<DmChannelEvent> {
        Domain(DmChannelEvent::DmChannelOpened(DmChannelOpened {
            channel_id: channel(),
            recipients: recipients(),
        }))
    }

    fn blocked(blocker: UserId, blocked: UserId) -> Domain<DmChannelEvent> {
        Domain(DmChannelEvent::DmRecipientBlocked(DmRecipientBlocked {
            blocker,
            blocked,
        }))
    }

    fn send(author: UserId, content: &str) -> DmChannelCommand {
        DmChannelCommand::SendMessage(SendMessage {
            attachments: Vec::new(),
            channel_id: channel(),
            message_id: FIRST,
            author: snapshot(author, "someone"),
            content: content.into(),
            nonce: None,
            tts: false,
            message_reference: None,
            allowed_mentions: None,
        })
    }

    fn sent(author: UserId) -> Domain<DmChannelEvent> {
        Domain(DmChannelEvent::MessageSent(MessageSent {
            attachments: Vec::new(),
            id: FIRST,
            channel_id: channel(),
            author: snapshot(author, "someone"),
            content: "hi".into(),
            timestamp: datetime!(2026-11-28 12:00 UTC),
            tts: false,
            mention_everyone: false,
            mentions: vec![],
            mention_roles: vec![],
            message_reference: None,
            nonce: None,
        }))
    }

    #[test]
    fn opening_a_dm_records_both_recipients() {
        TestFramework::<DmChannel>::with(())
            .given_no_previous_events()
            .when(by(NELLY, open()))
            .then_expect_events(vec![opened()]);
    }

    #[test]
    fn opening_an_open_dm_returns_it_unchanged() {
        TestFramework::<DmChannel>::with(())
            .given(vec![opened()])
            .when(by(BOB, open()))
            .then_expect_events(vec![]);
    }

    #[test]
    fn only_a_recipient_opens_a_dm() {
        TestFramework::<DmChannel>::with(())
            .given_no_previous_events()
            .when(by(EVE, open()))
            .then_expect_error(DmChannelError::MissingAccess);
    }

    #[test]
    fn a_dm_channel_id_is_derived_from_its_recipients() {
        TestFramework::<DmChannel>::with(())
            .given_no_previous_events()
            .when(by(
                NELLY,
                DmChannelCommand::OpenDmChannel {
                    channel_id: ChannelId::new(1),
                    recipients: recipients(),
                },
            ))
            .then_expect_error_message(
                "invalid channel_id: A DM channel's id is derived from its two recipients.",
            );
    }

    #[test]
    fn nobody_opens_a_dm_with_themself() {
        TestFramework::<DmChannel>::with(())
            .given_no_previous_events()
            .when(by(
                NELLY,
                DmChannelCommand::OpenDmChannel {
                    channel_id: dm_channel_id(NELLY, NELLY),
                    recipients: [snapshot(NELLY, "nelly"), snapshot(NELLY, "nelly")],
                },
            ))
            .then_expect_error(DmChannelError::CannotMessageUser);
    }

    #[test]
    fn opening_answers_with_the_dm_channel_object_listing_the_other_user() {
        let mut dm = DmChannel::default();
        let (_, accepted) = decide(&mut dm, by(NELLY, open())).expect("opened");
        assert_eq!(accepted.status, 200);
        let body = accepted.body.expect("a channel object");
        assert_eq!(body["id"], channel().to_string());
        assert_eq!(body["type"], 1);
        assert_eq!(body["last_message_id"], serde_json::Value::Null);
        assert_eq!(body["recipients"].as_array().map(Vec::len), Some(1));
        assert_eq!(body["recipients"][0]["id"], "20");
        assert_eq!(body["recipients"][0]["username"], "bob");
    }

    #[test]
    fn recipients_send_messages_in_a_dm() {
        TestFramework::<DmChannel>::with(())
            .given(vec![opened()])
            .when(by(NELLY, send(NELLY, "hi")))
            .then_expect_events(vec![sent(NELLY)]);
    }

    #[test]
    fn only_recipients_may_send_in_a_dm() {
        TestFramework::<DmChannel>::with(())
            .given(vec![opened()])
            .when(by(EVE, send(EVE, "hi")))
            .then_expect_error(DmChannelError::MissingAccess);
    }

    #[test]
    fn nothing_is_sent_in_an_unopened_dm() {
        TestFramework::<DmChannel>::with(())
            .given_no_previous_events()
            .when(by(NELLY, send(NELLY, "hi")))
            .then_expect_error(DmChannelError::UnknownChannel);
        let refusal = DmChannel::refused(&DmChannelError::UnknownChannel);
        assert_eq!((refusal.status, refusal.error.code), (404, 10003));
    }

    #[test]
    fn blocked_users_cannot_message_each_other() {
        for (blocker, blockee) in [(BOB, NELLY), (NELLY, BOB)] {
            TestFramework::<DmChannel>::with(())
                .given(vec![opened(), blocked(blocker, blockee)])
                .when(by(NELLY, send(NELLY, "hi")))
                .then_expect_error(DmChannelError::CannotMessageUser);
        }
        let refusal = DmChannel::refused(&DmChannelError::CannotMessageUser);
        assert_eq!((refusal.status, refusal.error.code), (403, 50007));
    }

    #[test]
    fn blocked_users_cannot_react_to_each_others_messages() {
        TestFramework::<DmChannel>::with(())
            .given(vec![opened(), sent(NELLY), blocked(NELLY, BOB)])
            .when(by(
                BOB,
                DmChannelCommand::AddReaction(AddReaction {
                    channel_id: channel(),
                    message_id: FIRST,
                    emoji: ReactionEmoji::parse("🔥").expect("emoji"),
                }),
            ))
            .then_expect_error(DmChannelError::ReactionBlocked);
    }

    #[test]
    fn a_block_is_recorded_even_before_the_dm_is_opened() {
        TestFramework::<DmChannel>::with(())
            .given_no_previous_events()
            .when(by(
                NELLY,
                DmChannelCommand::RecordBlock {
                    blocker: NELLY,
                    blocked: BOB,
                },
            ))
            .then_expect_events(vec![blocked(NELLY, BOB)]);
        TestFramework::<DmChannel>::with(())
            .given(vec![blocked(NELLY, BOB), opened()])
            .when(by(BOB, send(BOB, "hi")))
            .then_expect_error(DmChannelError::CannotMessageUser);
    }

    #[test]
    fn only_the_blocker_records_their_block() {
        TestFramework::<DmChannel>::with(())
            .given(vec![opened()])
            .when(by(
                BOB,
                DmChannelCommand::RecordBlock {
                    blocker: NELLY,
                    blocked: BOB,
                },
            ))
            .then_expect_error(DmChannelError::MissingAccess);
    }

    #[test]
    fn a_block_of_another_pair_is_refused() {
        TestFramework::<DmChannel>::with(())
            .given(vec![opened()])
            .when(by(
                NELLY,
                DmChannelCommand::RecordBlock {
                    blocker: NELLY,
                    blocked: EVE,
                },
            ))
            .then_expect_error(DmChannelError::MissingAccess);
    }

    #[test]
    fn unblocking_lets_messages_through_again() {
        TestFramework::<DmChannel>::with(())
            .given(vec![opened(), blocked(NELLY, BOB)])
            .when(by(
                NELLY,
                DmChannelCommand::RecordUnblock {
                    blocker: NELLY,
                    blocked: BOB,
                },
            ))
            .then_expect_events(vec![Domain(DmChannelEvent::DmRecipientUnblocked(
                DmRecipientUnblocked {
                    blocker: NELLY,
                    blocked: BOB,
                },
            ))]);
        TestFramework::<DmChannel>::with(())
            .given(vec![
                opened(),
                blocked(NELLY, BOB),
                Domain(DmChannelEvent::DmRecipientUnblocked(DmRecipientUnblocked {
                    blocker: NELLY,
                    blocked: BOB,
                })),
            ])
            .when(by(BOB, send(BOB, "hi")))
            .then_expect_events(vec![sent(BOB)]);
    }

    #[test]
    fn only_the_author_edits_a_dm_message() {
        TestFramework::<DmChannel>::with(())
            .given(vec![opened(), sent(NELLY)])
            .when(by(
                BOB,
                DmChannelCommand::EditMessage(EditMessage {
                    channel_id: channel(),
                    message_id: FIRST,
                    content: "mine".into(),
                    allowed_mentions: None,
                }),
            ))
            .then_expect_error(DmChannelError::Message(MessageError::NotAuthor));
    }

    #[test]
    fn a_recipient_deletes_only_their_own_dm_messages() {
        let delete = DmChannelCommand::DeleteMessage(DeleteMessage {
            channel_id: channel(),
            message_id: FIRST,
        });
        TestFramework::<DmChannel>::with(())
            .given(vec![opened(), sent(NELLY)])
            .when(by(BOB, delete.clone()))
            .then_expect_error(DmChannelError::Message(MessageError::MissingPermissions));
        TestFramework::<DmChannel>::with(())
            .given(vec![opened(), sent(NELLY)])
            .when(by(NELLY, delete))
            .then_expect_events(vec![Domain(DmChannelEvent::MessageDeleted(
                cloudcord_schemas::message::MessageDeleted {
                    id: FIRST,
                    channel_id: channel(),
                },
            ))]);
    }

    #[test]
    fn either_recipient_pins_a_dm_message() {
        TestFramework::<DmChannel>::with(())
            .given(vec![opened(), sent(NELLY)])
            .when(by(
                BOB,
                DmChannelCommand::PinMessage(PinMessage {
                    channel_id: channel(),
                    message_id: FIRST,
                }),
            ))
            .then_expect_events(vec![Domain(DmChannelEvent::MessagePinned(
                cloudcord_schemas::message::MessagePinned {
                    message_id: FIRST,
                    channel_id: channel(),
                    pinned_at: datetime!(2026-11-28 12:00 UTC),
                },
            ))]);
    }

    #[test]
    fn a_message_for_another_channel_is_unknown_here() {
        let DmChannelCommand::SendMessage(mut message) = send(NELLY, "hi") else {
            unreachable!("send builds a SendMessage")
        };
        message.channel_id = ChannelId::new(1);
        TestFramework::<DmChannel>::with(())
            .given(vec![opened()])
            .when(by(NELLY, DmChannelCommand::SendMessage(message)))
            .then_expect_error(DmChannelError::UnknownChannel);
    }

    #[test]
    fn the_state_survives_a_snapshot_round_trip() {
        let mut dm = DmChannel::default();
        for event in [opened(), sent(NELLY), blocked(BOB, NELLY)] {
            cqrs_es::Aggregate::apply(&mut dm, event);
        }
        let json = serde_json::to_string(&dm).expect("state serializes");
        let restored: DmChannel = serde_json::from_str(&json).expect("state deserializes");
        assert_eq!(
            serde_json::to_string(&restored).expect("serializes"),
            json,
            "nothing lost or changed (messages live in the index, not the snapshot)"
        );
        assert!(restored.blocked());
        assert_eq!(restored.channel_id(), Some(channel()));
    }

    #[test]
    fn sending_answers_with_the_message_object() {
        let mut dm = DmChannel::default();
        cqrs_es::Aggregate::apply(&mut dm, opened());
        let (_, accepted) = decide(&mut dm, by(NELLY, send(NELLY, "hi <@20>"))).expect("sent");
        assert_eq!(accepted.status, 200);
        let body = accepted.body.expect("a message object");
        assert_eq!(body["id"], "500");
        assert_eq!(body["channel_id"], channel().to_string());
        assert_eq!(body["content"], "hi <@20>");
        assert_eq!(body["mentions"][0]["username"], "bob");
        assert_eq!(
            decide(&mut dm, by(NELLY, open()))
                .expect("reopened")
                .1
                .body
                .map(|channel| channel["last_message_id"].clone()),
            Some(serde_json::json!("500"))
        );
    }

    #[test]
    fn a_recipient_acks_a_dm_message_and_hears_discords_token_answer() {
        let mut dm = DmChannel::default();
        cqrs_es::Aggregate::apply(&mut dm, opened());
        cqrs_es::Aggregate::apply(&mut dm, sent(NELLY));
        let ack = AckMessage {
            channel_id: channel(),
            message_id: FIRST,
            manual: false,
        };
        let (events, accepted) =
            decide(&mut dm, by(BOB, DmChannelCommand::AckMessage(ack))).expect("acked");
        assert_eq!(
            events,
            [DmChannelEvent::MessageAcked(MessageAcked {
                user_id: BOB,
                channel_id: channel(),
                message_id: FIRST,
                manual: false,
            })]
        );
        assert_eq!(accepted.status, 200);
        assert_eq!(accepted.body, Some(serde_json::json!({ "token": null })));
    }
}

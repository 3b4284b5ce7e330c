//! Events for the projection tests: envelopes with fixed ids and a fixed clock, so
//! each test reads as given (the aggregate and its `seq`), when (the event), then
//! (what the projection makes of it).

use cloudcord_schemas::envelope::{
    Actor, AggregateRef, AggregateType, CommandId, ENVELOPE_VERSION, EventEnvelope, event_id,
};
use cloudcord_schemas::guild::{ChannelType, GuildChannel, GuildEvent};
use cloudcord_schemas::ids::{ChannelId, MessageId, Snowflake, UserId};
use cloudcord_schemas::message::{MessageSent, UserSnapshot};
use cloudcord_schemas::user::UserEvent;
use time::OffsetDateTime;
use time::macros::datetime;

use crate::record::{DomainEvent, EventRecord};

/// The guild every test event happens in.
pub(crate) const GUILD: u64 = 41_000;
/// Its text channel.
pub(crate) const CHANNEL: u64 = 41_001;
/// The user who acts.
pub(crate) const ALICE: u64 = 7;
/// Another member.
pub(crate) const BOB: u64 = 8;

/// The test clock's only reading.
pub(crate) const NOW: OffsetDateTime = datetime!(2026-11-28 12:00 UTC);

pub(crate) fn guild_ref() -> AggregateRef {
    AggregateRef {
        kind: AggregateType::Guild,
        id: Snowflake::new(GUILD),
    }
}

pub(crate) fn user_ref(user: u64) -> AggregateRef {
    AggregateRef {
        kind: AggregateType::User,
        id: Snowflake::new(user),
    }
}

pub(crate) fn dm_ref(channel: u64) -> AggregateRef {
    AggregateRef {
        kind: AggregateType::DmChannel,
        id: Snowflake::new(channel),
    }
}

/// `event` as the `seq`th event of `aggregate`, at offset `seq - 1` of partition 0.
pub(crate) fn record(aggregate: AggregateRef, seq: u64, event: DomainEvent) -> EventRecord {
    EventRecord {
        partition: 0,
        offset: i64::try_from(seq).unwrap_or(i64::MAX) - 1,
        envelope: EventEnvelope {
            event_id: event_id(aggregate, seq),
            aggregate,
            seq,
            prev_hash: None,
            command_id: CommandId::random(),
            actor: Actor::User(UserId::new(ALICE)),
            occurred_at: NOW,
            envelope_version: ENVELOPE_VERSION,
            event_version: event.event_version(),
            event,
        },
    }
}

/// The `seq`th event of the test guild.
pub(crate) fn in_guild(seq: u64, event: impl Into<GuildEvent>) -> EventRecord {
    record(guild_ref(), seq, DomainEvent::Guild(event.into()))
}

/// The `seq`th event of user `user`.
pub(crate) fn of_user(user: u64, seq: u64, event: impl Into<UserEvent>) -> EventRecord {
    record(user_ref(user), seq, DomainEvent::User(event.into()))
}

pub(crate) fn snapshot(user: u64) -> UserSnapshot {
    UserSnapshot {
        id: UserId::new(user),
        username: format!("user{user}"),
        global_name: None,
        avatar: None,
        bot: false,
    }
}

/// Message `id`, sent by Alice in the test channel.
pub(crate) fn message_sent(id: u64) -> MessageSent {
    MessageSent {
        attachments: Vec::new(),
        id: MessageId::new(id),
        channel_id: ChannelId::new(CHANNEL),
        author: snapshot(ALICE),
        content: format!("message {id}"),
        timestamp: NOW,
        tts: false,
        mention_everyone: false,
        mentions: vec![UserId::new(BOB)],
        mention_roles: Vec::new(),
        message_reference: None,
        nonce: None,
    }
}

/// The test guild's text channel.
pub(crate) fn text_channel() -> GuildChannel {
    GuildChannel {
        id: ChannelId::new(CHANNEL),
        kind: ChannelType::GuildText,
        name: "general".into(),
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

/// Test ids are small: they always fit `int8`.
pub(crate) fn i(id: u64) -> i64 {
    i64::try_from(id).unwrap_or(i64::MAX)
}

//! Events → Discord dispatches: which `t`, which `d` (in the shapes the write side
//! answers with), which intents, and who may receive each one.
//!
//! Guild events are rendered against the guild's [`GuildState`] and move it
//! forward; who may see a channel is decided when the dispatch is delivered (the
//! [`Audience`]), so an overwrite that changes mid-session takes effect at once.

use std::collections::HashSet;
use std::sync::Arc;

use cloudcord_schemas::guild::{ChannelOverwriteDeleted, ChannelOverwriteUpserted, GuildEvent};
use cloudcord_schemas::ids::{ChannelId, GuildId, MessageId, UserId};
use cloudcord_schemas::message::{
    MessageAcked, MessageEdited, MessageSent, ReactionAdded, ReactionEmoji, ReactionRemoved,
    UserSnapshot,
};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use cloudcord_schemas::timestamp::discord_timestamp;

use cloudcord_runtime::files::signing::UrlSigner;

use crate::guild_state::{GuildState, member_object, role_object, user_object};
use crate::protocol::dispatch::{Dispatch, MessageContent, Scope};
use crate::protocol::intents::Intents;

/// Who receives a dispatch among the sessions that follow its guild or channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    /// Every session in the guild.
    Guild,
    /// The sessions whose user may view the channel (VIEW_CHANNEL after
    /// overwrites), decided at delivery against the current state.
    Channel(ChannelId),
    /// These users' sessions.
    Users(Vec<UserId>),
}

/// A dispatch and its audience.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routed {
    /// What to send.
    pub dispatch: Dispatch,
    /// To whom.
    pub audience: Audience,
}

/// What a guild event does to the sessions that follow the guild.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct GuildOutcome {
    /// Dispatches, in order.
    pub routed: Vec<Routed>,
    /// Users whose sessions must start following the guild (GUILD_CREATE): the
    /// creator of a guild, a member who joined.
    pub subscribe: Vec<UserId>,
    /// Users whose sessions stop following it, after the dispatches.
    pub unsubscribe: Vec<UserId>,
    /// The guild is gone: every session stops following it.
    pub deleted: bool,
}

/// `event` with `data`, for the sessions `scope` and `intents` admit.
pub(crate) fn dispatch(
    event: &'static str,
    data: &Value,
    scope: Scope,
    intents: Intents,
) -> Dispatch {
    Dispatch {
        event,
        data: Arc::from(data.to_string()),
        scope,
        intents,
        always_for: None,
        content: None,
    }
}

/// MESSAGE_ACK's `d` for the acker's own sessions. `version` is the ack's `seq` in
/// its aggregate, as the read state in the read models (and READY) has it.
/// Discord's optional `mention_count` is left out: the mentions after the acked
/// message are counted by the read side, and READY carries them.
pub fn message_ack(ack: &MessageAcked, version: u64) -> Value {
    json!({
        "channel_id": ack.channel_id,
        "message_id": ack.message_id,
        "version": version,
        "manual": ack.manual,
    })
}

fn routed(dispatch: Dispatch, audience: Audience) -> Routed {
    Routed { dispatch, audience }
}

/// `d` with the fields MESSAGE_CONTENT guards emptied.
fn redacted(data: &Value) -> Arc<str> {
    let mut data = data.clone();
    data["content"] = json!("");
    for field in ["embeds", "attachments", "components"] {
        data[field] = json!([]);
    }
    if let Some(object) = data.as_object_mut() {
        object.remove("poll");
    }
    Arc::from(data.to_string())
}

/// A message dispatch carrying content.
fn message_dispatch(
    event: &'static str,
    data: &Value,
    scope: Scope,
    intents: Intents,
    author: UserId,
    mentions: &[UserId],
) -> Dispatch {
    Dispatch {
        content: Some(MessageContent {
            redacted: redacted(data),
            author,
            mentions: mentions.to_vec(),
        }),
        ..dispatch(event, data, scope, intents)
    }
}

/// Who can be shown as a user: a guild's members, or a DM's two recipients.
pub trait Directory {
    /// The user's snapshot, if known.
    fn user(&self, id: UserId) -> Option<&UserSnapshot>;
    /// Their guild member object without `user` (messages carry it so).
    fn partial_member(&self, id: UserId) -> Option<Value>;
}

impl Directory for GuildState {
    fn user(&self, id: UserId) -> Option<&UserSnapshot> {
        self.members.get(&id).map(|member| &member.user)
    }

    fn partial_member(&self, id: UserId) -> Option<Value> {
        self.members.get(&id).map(|member| {
            let mut object = member_object(member);
            if let Some(map) = object.as_object_mut() {
                map.remove("user");
            }
            object
        })
    }
}

impl Directory for [UserSnapshot; 2] {
    fn user(&self, id: UserId) -> Option<&UserSnapshot> {
        self.iter().find(|user| user.id == id)
    }

    fn partial_member(&self, _: UserId) -> Option<Value> {
        None
    }
}

fn mention_objects(mentions: &[UserId], directory: &dyn Directory) -> Value {
    Value::Array(
        mentions
            .iter()
            .map(|id| {
                let mut object = directory
                    .user(*id)
                    .map_or_else(|| json!({ "id": id }), user_object);
                if let Some(member) = directory.partial_member(*id) {
                    object["member"] = member;
                }
                object
            })
            .collect(),
    )
}

fn base_message(
    id: MessageId,
    channel: ChannelId,
    guild: Option<GuildId>,
    directory: &dyn Directory,
    author: UserId,
) -> Map<String, Value> {
    let mut object = Map::new();
    object.insert("id".into(), json!(id));
    object.insert("type".into(), json!(0));
    object.insert("channel_id".into(), json!(channel));
    if let Some(guild) = guild {
        object.insert("guild_id".into(), json!(guild));
    }
    object.insert(
        "author".into(),
        directory
            .user(author)
            .map_or_else(|| json!({ "id": author }), user_object),
    );
    if let Some(member) = directory.partial_member(author) {
        object.insert("member".into(), member);
    }
    object.insert("attachments".into(), json!([]));
    object.insert("embeds".into(), json!([]));
    object.insert("components".into(), json!([]));
    object.insert("pinned".into(), json!(false));
    object.insert("flags".into(), json!(0));
    object
}

/// How the attachment URLs of dispatches are signed: by `signer`, issued at `now`
/// (Unix seconds). A dispatch reaches only sessions that may see its channel
/// ([`Audience`]), so a URL in it is issued to readers of the channel.
#[derive(Clone, Copy)]
pub struct FileUrls<'a> {
    /// The signer.
    pub signer: &'a UrlSigner,
    /// When the URLs are issued.
    pub now: u64,
}

/// MESSAGE_CREATE's `d`.
pub fn message_created(
    sent: &MessageSent,
    guild: Option<GuildId>,
    directory: &dyn Directory,
    urls: FileUrls<'_>,
) -> Value {
    let mut object = base_message(sent.id, sent.channel_id, guild, directory, sent.author.id);
    object.insert("author".into(), user_object(&sent.author));
    object.insert("content".into(), json!(sent.content));
    object.insert("timestamp".into(), json!(discord_timestamp(sent.timestamp)));
    object.insert("edited_timestamp".into(), Value::Null);
    object.insert("tts".into(), json!(sent.tts));
    object.insert("mention_everyone".into(), json!(sent.mention_everyone));
    object.insert(
        "mentions".into(),
        mention_objects(&sent.mentions, directory),
    );
    object.insert("mention_roles".into(), json!(sent.mention_roles));
    if let Some(reference) = &sent.message_reference {
        object.insert("type".into(), json!(19));
        let mut value = json!({
            "type": 0,
            "message_id": reference.message_id,
            "channel_id": reference.channel_id,
        });
        if let Some(guild) = reference.guild_id {
            value["guild_id"] = json!(guild);
        }
        object.insert("message_reference".into(), value);
    }
    if let Some(nonce) = &sent.nonce {
        object.insert("nonce".into(), json!(nonce));
    }
    object.insert("attachments".into(), json!(sent.attachments));
    let mut object = Value::Object(object);
    urls.signer.sign_message(&mut object, urls.now);
    object
}

/// MESSAGE_UPDATE's `d`: the message after the edit. Only its author edits, so the
/// author is the event's actor; the creation time is in the message id.
pub fn message_edited(
    edited: &MessageEdited,
    author: UserId,
    guild: Option<GuildId>,
    directory: &dyn Directory,
    urls: FileUrls<'_>,
) -> Value {
    let mut object = base_message(edited.id, edited.channel_id, guild, directory, author);
    let created = OffsetDateTime::from_unix_timestamp_nanos(
        i128::from(edited.id.0.timestamp_ms()) * 1_000_000,
    )
    .unwrap_or(edited.edited_timestamp);
    object.insert("content".into(), json!(edited.content));
    object.insert("timestamp".into(), json!(discord_timestamp(created)));
    object.insert(
        "edited_timestamp".into(),
        json!(discord_timestamp(edited.edited_timestamp)),
    );
    object.insert("tts".into(), json!(false));
    object.insert("mention_everyone".into(), json!(edited.mention_everyone));
    object.insert(
        "mentions".into(),
        mention_objects(&edited.mentions, directory),
    );
    object.insert("mention_roles".into(), json!(edited.mention_roles));
    object.insert("attachments".into(), json!(edited.attachments));
    let mut object = Value::Object(object);
    urls.signer.sign_message(&mut object, urls.now);
    object
}

fn emoji(emoji: &ReactionEmoji) -> Value {
    json!({ "id": emoji.id, "name": emoji.name })
}

fn with_guild(mut data: Value, guild: Option<GuildId>) -> Value {
    if let Some(guild) = guild {
        data["guild_id"] = json!(guild);
    }
    data
}

/// MESSAGE_REACTION_ADD's `d`.
pub fn reaction_added(
    added: &ReactionAdded,
    guild: Option<GuildId>,
    directory: &dyn Directory,
) -> Value {
    let mut data = with_guild(
        json!({
            "user_id": added.user_id,
            "channel_id": added.channel_id,
            "message_id": added.message_id,
            "emoji": emoji(&added.emoji),
            "burst": false,
            "type": 0,
        }),
        guild,
    );
    if let Some(member) = directory.partial_member(added.user_id) {
        let mut member = member;
        if let Some(user) = directory.user(added.user_id) {
            member["user"] = user_object(user);
        }
        data["member"] = member;
    }
    data
}

/// MESSAGE_REACTION_REMOVE's `d`.
pub fn reaction_removed(removed: &ReactionRemoved, guild: Option<GuildId>) -> Value {
    with_guild(
        json!({
            "user_id": removed.user_id,
            "channel_id": removed.channel_id,
            "message_id": removed.message_id,
            "emoji": emoji(&removed.emoji),
            "burst": false,
            "type": 0,
        }),
        guild,
    )
}

/// The message-kind intents of a scope: guild or DM flavour.
fn message_intents(scope: Scope) -> (Intents, Intents) {
    match scope {
        Scope::Guild(_) => (Intents::GUILD_MESSAGES, Intents::GUILD_MESSAGE_REACTIONS),
        _ => (Intents::DIRECT_MESSAGES, Intents::DIRECT_MESSAGE_REACTIONS),
    }
}

/// The dispatch of a message event (shared by guild channels and DMs); `actor` is
/// the event's actor (an edit's author).
pub fn message_event(
    event: &MessageEventRef<'_>,
    scope: Scope,
    actor: Option<UserId>,
    directory: &dyn Directory,
    urls: FileUrls<'_>,
) -> Dispatch {
    let guild = match scope {
        Scope::Guild(guild) => Some(guild),
        _ => None,
    };
    let (messages, reactions) = message_intents(scope);
    match event {
        MessageEventRef::Sent(sent) => message_dispatch(
            "MESSAGE_CREATE",
            &message_created(sent, guild, directory, urls),
            scope,
            messages,
            sent.author.id,
            &sent.mentions,
        ),
        MessageEventRef::Edited(edited) => {
            // Only the author edits; an edit by the system (none today) shows no author.
            let author = actor.unwrap_or(UserId::new(0));
            message_dispatch(
                "MESSAGE_UPDATE",
                &message_edited(edited, author, guild, directory, urls),
                scope,
                messages,
                author,
                &edited.mentions,
            )
        }
        MessageEventRef::Deleted { id, channel_id } => dispatch(
            "MESSAGE_DELETE",
            &with_guild(json!({ "id": id, "channel_id": channel_id }), guild),
            scope,
            messages,
        ),
        MessageEventRef::BulkDeleted { ids, channel_id } => dispatch(
            "MESSAGE_DELETE_BULK",
            &with_guild(json!({ "ids": ids, "channel_id": channel_id }), guild),
            scope,
            // Discord lists MESSAGE_DELETE_BULK under GUILD_MESSAGES only.
            Intents::GUILD_MESSAGES,
        ),
        MessageEventRef::ReactionAdded(added) => dispatch(
            "MESSAGE_REACTION_ADD",
            &reaction_added(added, guild, directory),
            scope,
            reactions,
        ),
        MessageEventRef::ReactionRemoved(removed) => dispatch(
            "MESSAGE_REACTION_REMOVE",
            &reaction_removed(removed, guild),
            scope,
            reactions,
        ),
        MessageEventRef::PinsChanged {
            channel_id,
            last_pin_timestamp,
        } => dispatch(
            "CHANNEL_PINS_UPDATE",
            &with_guild(
                json!({
                    "channel_id": channel_id,
                    "last_pin_timestamp": last_pin_timestamp.map(discord_timestamp),
                }),
                guild,
            ),
            scope,
            match scope {
                Scope::Guild(_) => Intents::GUILDS,
                _ => Intents::DIRECT_MESSAGES,
            },
        ),
    }
}

/// The message events guild channels and DMs share, borrowed from either enum.
#[derive(Debug, Clone, Copy)]
pub enum MessageEventRef<'a> {
    /// MessageSent.
    Sent(&'a MessageSent),
    /// MessageEdited.
    Edited(&'a MessageEdited),
    /// MessageDeleted.
    Deleted {
        /// The message.
        id: MessageId,
        /// Its channel.
        channel_id: ChannelId,
    },
    /// MessagesBulkDeleted.
    BulkDeleted {
        /// The messages.
        ids: &'a [MessageId],
        /// Their channel.
        channel_id: ChannelId,
    },
    /// ReactionAdded.
    ReactionAdded(&'a ReactionAdded),
    /// ReactionRemoved.
    ReactionRemoved(&'a ReactionRemoved),
    /// MessagePinned (with its time) or MessageUnpinned (`None`: the last pin's
    /// time is not known here).
    PinsChanged {
        /// The channel.
        channel_id: ChannelId,
        /// When the pin happened.
        last_pin_timestamp: Option<OffsetDateTime>,
    },
}

impl<'a> MessageEventRef<'a> {
    /// The message event in a guild event, and its channel.
    pub fn from_guild(event: &'a GuildEvent) -> Option<(Self, ChannelId)> {
        Some(match event {
            GuildEvent::MessageSent(e) => (Self::Sent(e), e.channel_id),
            GuildEvent::MessageEdited(e) => (Self::Edited(e), e.channel_id),
            GuildEvent::MessageDeleted(e) => (
                Self::Deleted {
                    id: e.id,
                    channel_id: e.channel_id,
                },
                e.channel_id,
            ),
            GuildEvent::MessagesBulkDeleted(e) => (
                Self::BulkDeleted {
                    ids: &e.ids,
                    channel_id: e.channel_id,
                },
                e.channel_id,
            ),
            GuildEvent::ReactionAdded(e) => (Self::ReactionAdded(e), e.channel_id),
            GuildEvent::ReactionRemoved(e) => (Self::ReactionRemoved(e), e.channel_id),
            GuildEvent::MessagePinned(e) => (
                Self::PinsChanged {
                    channel_id: e.channel_id,
                    last_pin_timestamp: Some(e.pinned_at),
                },
                e.channel_id,
            ),
            GuildEvent::MessageUnpinned(e) => (
                Self::PinsChanged {
                    channel_id: e.channel_id,
                    last_pin_timestamp: None,
                },
                e.channel_id,
            ),
            _ => return None,
        })
    }
}

/// Applies guild event `seq` to `state` and says what it sends to whom. `actor`
/// is the envelope's actor; `urls` signs the files of a new message.
pub fn guild_event(
    state: &mut GuildState,
    seq: u64,
    event: &GuildEvent,
    actor: Option<UserId>,
    urls: FileUrls<'_>,
) -> GuildOutcome {
    let guild = state.id;
    let scope = Scope::Guild(guild);
    if let Some((message, channel)) = MessageEventRef::from_guild(event) {
        state.apply(seq, event);
        return GuildOutcome {
            routed: vec![routed(
                message_event(&message, scope, actor, state, urls),
                Audience::Channel(channel),
            )],
            ..GuildOutcome::default()
        };
    }
    // What must be captured before the event changes the state.
    let viewers_before = match event {
        GuildEvent::ChannelDeleted(e) => Some(state.viewers(e.channel.id)),
        GuildEvent::ChannelOverwriteUpserted(e) => Some(state.viewers(e.channel_id)),
        GuildEvent::ChannelOverwriteDeleted(e) => Some(state.viewers(e.channel_id)),
        _ => None,
    };
    let member_before = match event {
        GuildEvent::MemberLeft(e) => state.members.get(&e.user_id).cloned(),
        GuildEvent::MemberKicked(e) => state.members.get(&e.user_id).cloned(),
        GuildEvent::MemberBanned(e) => state.members.get(&e.user_id).cloned(),
        _ => None,
    };
    state.apply(seq, event);

    let mut out = Out {
        scope,
        routed: Vec::new(),
    };
    let guilds = Intents::GUILDS;
    let members = Intents::GUILD_MEMBERS;
    let moderation = Intents::GUILD_MODERATION;
    let mut subscribe = Vec::new();
    let mut unsubscribe = Vec::new();
    let mut deleted = false;
    match event {
        GuildEvent::GuildCreated(created) => subscribe.push(created.owner.id),
        GuildEvent::GuildUpdated(_) => {
            out.send(
                "GUILD_UPDATE",
                state.guild_object(),
                guilds,
                Audience::Guild,
            );
        }
        GuildEvent::GuildDeleted(_) => {
            out.send(
                "GUILD_DELETE",
                json!({ "id": guild }),
                guilds,
                Audience::Guild,
            );
            deleted = true;
        }
        GuildEvent::ChannelCreated(e) => out.send(
            "CHANNEL_CREATE",
            state.channel_object(&e.channel),
            guilds,
            Audience::Channel(e.channel.id),
        ),
        GuildEvent::ChannelUpdated(e) => out.send(
            "CHANNEL_UPDATE",
            state.channel_object(&e.channel),
            guilds,
            Audience::Channel(e.channel.id),
        ),
        GuildEvent::ChannelDeleted(e) => out.send(
            "CHANNEL_DELETE",
            state.channel_object(&e.channel),
            guilds,
            Audience::Users(viewers_before.unwrap_or_default()),
        ),
        GuildEvent::ChannelOverwriteUpserted(ChannelOverwriteUpserted { channel_id, .. })
        | GuildEvent::ChannelOverwriteDeleted(ChannelOverwriteDeleted { channel_id, .. }) => {
            overwrites_changed(
                &mut out,
                state,
                *channel_id,
                viewers_before.unwrap_or_default(),
            );
        }
        GuildEvent::RoleCreated(e) => out.send(
            "GUILD_ROLE_CREATE",
            json!({ "guild_id": guild, "role": role_object(&e.role) }),
            guilds,
            Audience::Guild,
        ),
        GuildEvent::RoleUpdated(e) => out.send(
            "GUILD_ROLE_UPDATE",
            json!({ "guild_id": guild, "role": role_object(&e.role) }),
            guilds,
            Audience::Guild,
        ),
        GuildEvent::RoleDeleted(e) => out.send(
            "GUILD_ROLE_DELETE",
            json!({ "guild_id": guild, "role_id": e.role_id }),
            guilds,
            Audience::Guild,
        ),
        GuildEvent::RolePositionsUpdated(e) => {
            for position in &e.positions {
                if let Some(role) = state.roles.get(&position.id) {
                    out.send(
                        "GUILD_ROLE_UPDATE",
                        json!({ "guild_id": guild, "role": role_object(role) }),
                        guilds,
                        Audience::Guild,
                    );
                }
            }
        }
        GuildEvent::MemberJoined(e) => {
            if let Some(member) = state.members.get(&e.user.id) {
                let mut data = member_object(member);
                data["guild_id"] = json!(guild);
                out.send("GUILD_MEMBER_ADD", data, members, Audience::Guild);
            }
            subscribe.push(e.user.id);
        }
        GuildEvent::MemberLeft(e) => {
            out.removed(guild, e.user_id, member_before.as_ref(), &mut unsubscribe)
        }
        GuildEvent::MemberKicked(e) => {
            out.removed(guild, e.user_id, member_before.as_ref(), &mut unsubscribe)
        }
        GuildEvent::MemberBanned(e) => {
            let user_json = e
                .user
                .as_ref()
                .or(member_before.as_ref().map(|m| &m.user))
                .map_or_else(|| json!({ "id": e.user_id }), user_object);
            out.send(
                "GUILD_BAN_ADD",
                json!({ "guild_id": guild, "user": user_json }),
                moderation,
                Audience::Guild,
            );
            if member_before.is_some() {
                out.removed(guild, e.user_id, member_before.as_ref(), &mut unsubscribe);
            }
        }
        GuildEvent::MemberUnbanned(e) => out.send(
            "GUILD_BAN_REMOVE",
            json!({ "guild_id": guild, "user": { "id": e.user_id } }),
            moderation,
            Audience::Guild,
        ),
        GuildEvent::MemberUpdated(e) => {
            if let Some(member) = state.members.get(&e.user_id) {
                let mut data = member_object(member);
                data["guild_id"] = json!(guild);
                // Discord sends a member their own update whatever their intents.
                out.send("GUILD_MEMBER_UPDATE", data, members, Audience::Guild);
                if let Some(update) = out.routed.last_mut() {
                    update.dispatch.always_for = Some(e.user_id);
                }
            }
        }
        GuildEvent::InviteCreated(e) => out.send(
            "INVITE_CREATE",
            json!({
                "channel_id": e.channel_id,
                "code": e.code,
                "created_at": discord_timestamp(e.created_at),
                "guild_id": guild,
                "inviter": state.members.get(&e.inviter_id).map(|m| user_object(&m.user)),
                "max_age": e.max_age,
                "max_uses": e.max_uses,
                "temporary": e.temporary,
                "uses": 0,
            }),
            Intents::GUILD_INVITES,
            Audience::Channel(e.channel_id),
        ),
        GuildEvent::InviteRevoked(e) => out.send(
            "INVITE_DELETE",
            json!({ "channel_id": e.channel_id, "guild_id": guild, "code": e.code }),
            Intents::GUILD_INVITES,
            Audience::Channel(e.channel_id),
        ),
        GuildEvent::VoiceStateUpdated(e) => out.send(
            "VOICE_STATE_UPDATE",
            state.voice_state_object(&e.state, true),
            Intents::GUILD_VOICE_STATES,
            Audience::Guild,
        ),
        GuildEvent::MessageAcked(e) => out.send(
            "MESSAGE_ACK",
            message_ack(e, seq),
            Intents::empty(),
            Audience::Users(vec![e.user_id]),
        ),
        // Handled above with the other message events.
        GuildEvent::MessageSent(_)
        | GuildEvent::MessageEdited(_)
        | GuildEvent::MessageDeleted(_)
        | GuildEvent::MessagesBulkDeleted(_)
        | GuildEvent::ReactionAdded(_)
        | GuildEvent::ReactionRemoved(_)
        | GuildEvent::MessagePinned(_)
        | GuildEvent::MessageUnpinned(_) => {}
    }
    GuildOutcome {
        routed: out.routed,
        subscribe,
        unsubscribe,
        deleted,
    }
}

/// Collects a guild event's dispatches.
struct Out {
    scope: Scope,
    routed: Vec<Routed>,
}

impl Out {
    fn send(&mut self, event: &'static str, data: Value, intents: Intents, audience: Audience) {
        self.routed.push(routed(
            dispatch(event, &data, self.scope, intents),
            audience,
        ));
    }

    /// A member who is gone: the others are told, and so are the member's own
    /// sessions, which then stop following the guild.
    fn removed(
        &mut self,
        guild: GuildId,
        user: UserId,
        before: Option<&crate::guild_state::Member>,
        unsubscribe: &mut Vec<UserId>,
    ) {
        let user_json = before.map_or_else(|| json!({ "id": user }), |m| user_object(&m.user));
        self.send(
            "GUILD_MEMBER_REMOVE",
            json!({ "guild_id": guild, "user": user_json }),
            Intents::GUILD_MEMBERS,
            Audience::Guild,
        );
        self.send(
            "GUILD_DELETE",
            json!({ "id": guild }),
            Intents::GUILDS,
            Audience::Users(vec![user]),
        );
        unsubscribe.push(user);
    }
}

/// A channel's overwrites changed: who may see it may have changed too. Those who
/// still see it get CHANNEL_UPDATE; those who no longer do, CHANNEL_DELETE (their
/// client drops it, as if it were gone, as GUILD_CREATE would leave it out); those
/// who now do, CHANNEL_CREATE.
fn overwrites_changed(out: &mut Out, state: &GuildState, channel: ChannelId, before: Vec<UserId>) {
    let Some(object) = state
        .channels
        .get(&channel)
        .map(|c| state.channel_object(c))
    else {
        return;
    };
    let after: HashSet<UserId> = state.viewers(channel).into_iter().collect();
    let before: HashSet<UserId> = before.into_iter().collect();
    let users = |set: &HashSet<UserId>, without: &HashSet<UserId>| -> Vec<UserId> {
        set.difference(without).copied().collect()
    };
    let kept: Vec<UserId> = before.intersection(&after).copied().collect();
    for (event, audience) in [
        ("CHANNEL_UPDATE", kept),
        ("CHANNEL_DELETE", users(&before, &after)),
        ("CHANNEL_CREATE", users(&after, &before)),
    ] {
        if !audience.is_empty() {
            out.send(
                event,
                object.clone(),
                Intents::GUILDS,
                Audience::Users(audience),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use cloudcord_schemas::guild::{
        ChannelDeleted, ChannelOverwriteDeleted, ChannelOverwriteUpserted, GuildEvent,
        MemberBanned, MemberUpdated,
    };
    use cloudcord_schemas::ids::{ChannelId, RoleId, UserId};
    use cloudcord_schemas::message::MessageSent;
    use cloudcord_schemas::permissions::{PermissionOverwrite, Permissions};
    use serde_json::Value;

    use super::{Audience, guild_event};
    use crate::guild_state::tests::{ALICE, BOB, OWNER, channel, guild};
    use crate::protocol::intents::Intents;

    /// Dispatches' attachment URLs, signed with the default settings at a fixed time.
    fn urls() -> super::FileUrls<'static> {
        static SIGNER: std::sync::LazyLock<cloudcord_runtime::files::signing::UrlSigner> =
            std::sync::LazyLock::new(|| {
                cloudcord_runtime::files::signing::UrlSigner::new(
                    &cloudcord_runtime::files::FilesConfig::default(),
                )
            });
        super::FileUrls {
            signer: &SIGNER,
            now: 1_800_000_000,
        }
    }

    fn data(routed: &super::Routed) -> Value {
        serde_json::from_str(&routed.dispatch.data).expect("json")
    }

    #[test]
    fn a_message_goes_to_the_viewers_of_its_channel_with_a_redacted_twin() {
        let mut state = guild();
        let sent = MessageSent {
            attachments: vec![cloudcord_schemas::message::Attachment {
                id: cloudcord_schemas::ids::AttachmentId::new(11),
                filename: "plans.png".into(),
                description: None,
                content_type: "image/png".into(),
                size: 100,
                height: None,
                width: None,
            }],
            id: cloudcord_schemas::ids::MessageId::new(9),
            channel_id: ChannelId::new(10),
            author: state.members[&ALICE].user.clone(),
            content: "secret plans".into(),
            timestamp: time::macros::datetime!(2026-11-28 12:00 UTC),
            tts: false,
            mention_everyone: false,
            mentions: vec![BOB],
            mention_roles: Vec::new(),
            message_reference: None,
            nonce: None,
        };
        let outcome = guild_event(
            &mut state,
            2,
            &GuildEvent::MessageSent(sent),
            Some(ALICE),
            urls(),
        );
        let [routed] = &outcome.routed[..] else {
            panic!("one dispatch");
        };
        assert_eq!(routed.audience, Audience::Channel(ChannelId::new(10)));
        assert_eq!(routed.dispatch.event, "MESSAGE_CREATE");
        assert_eq!(routed.dispatch.intents, Intents::GUILD_MESSAGES);
        assert_eq!(data(routed)["mentions"][0]["id"], BOB.to_string());
        let file = &data(routed)["attachments"][0];
        assert_eq!(file["content_type"], "image/png");
        let url = file["url"].as_str().expect("a signed url");
        assert!(
            url.starts_with(
                "http://127.0.0.1:8080/cdn/attachments/10/11/plans.png?ex=6b4b2380&is=6b49d200&hm="
            ),
            "{url}"
        );
        let content = routed.dispatch.content.as_ref().expect("carries content");
        let redacted: Value = serde_json::from_str(&content.redacted).expect("json");
        assert_eq!(redacted["content"], "");
        assert_eq!(redacted["attachments"], serde_json::json!([]));
        assert_eq!(redacted["id"], "9");
        assert_eq!(
            (content.author, content.mentions.clone()),
            (ALICE, vec![BOB])
        );
    }

    #[test]
    fn a_deleted_channel_is_announced_to_those_who_could_see_it() {
        let mut state = guild();
        let mut hidden = channel(11);
        hidden.permission_overwrites = vec![PermissionOverwrite::member(
            BOB,
            Permissions::empty(),
            Permissions::VIEW_CHANNEL,
        )];
        state.channels.insert(hidden.id, hidden.clone());
        let outcome = guild_event(
            &mut state,
            2,
            &GuildEvent::ChannelDeleted(ChannelDeleted { channel: hidden }),
            Some(OWNER),
            urls(),
        );
        let Audience::Users(mut users) = outcome.routed[0].audience.clone() else {
            panic!("a user list");
        };
        users.sort();
        assert_eq!(users, vec![OWNER, ALICE]);
        assert!(!state.channels.contains_key(&ChannelId::new(11)));
    }

    /// Who gets each of `outcome`'s dispatches, by event, sorted.
    fn audiences(outcome: &super::GuildOutcome) -> Vec<(String, Vec<UserId>)> {
        outcome
            .routed
            .iter()
            .map(|routed| {
                let Audience::Users(mut users) = routed.audience.clone() else {
                    panic!("a user list");
                };
                users.sort();
                (routed.dispatch.event.to_owned(), users)
            })
            .collect()
    }

    #[test]
    fn an_overwrite_that_hides_a_channel_deletes_it_for_those_who_lose_it() {
        let mut state = guild();
        let everyone = RoleId::new(state.id.get());
        let general = ChannelId::new(10);
        let hide = GuildEvent::ChannelOverwriteUpserted(ChannelOverwriteUpserted {
            channel_id: general,
            overwrite: PermissionOverwrite::role(
                everyone,
                Permissions::empty(),
                Permissions::VIEW_CHANNEL,
            ),
        });
        let hidden = guild_event(&mut state, 2, &hide, Some(OWNER), urls());
        assert_eq!(
            audiences(&hidden),
            [
                ("CHANNEL_UPDATE".to_owned(), vec![OWNER]),
                ("CHANNEL_DELETE".to_owned(), vec![ALICE, BOB]),
            ]
        );
        let show = GuildEvent::ChannelOverwriteDeleted(ChannelOverwriteDeleted {
            channel_id: general,
            id: cloudcord_schemas::ids::Snowflake::new(everyone.get()),
        });
        let shown = guild_event(&mut state, 3, &show, Some(OWNER), urls());
        assert_eq!(
            audiences(&shown),
            [
                ("CHANNEL_UPDATE".to_owned(), vec![OWNER]),
                ("CHANNEL_CREATE".to_owned(), vec![ALICE, BOB]),
            ]
        );
    }

    #[test]
    fn a_members_own_update_ignores_their_intents() {
        let mut state = guild();
        let outcome = guild_event(
            &mut state,
            2,
            &GuildEvent::MemberUpdated(MemberUpdated {
                user_id: ALICE,
                nick: Some("al".into()),
                roles: Vec::new(),
                communication_disabled_until: None,
                mute: false,
                deaf: false,
            }),
            Some(OWNER),
            urls(),
        );
        let routed = &outcome.routed[0];
        assert_eq!(routed.dispatch.event, "GUILD_MEMBER_UPDATE");
        assert_eq!(routed.dispatch.intents, Intents::GUILD_MEMBERS);
        assert_eq!(routed.dispatch.always_for, Some(ALICE));
        assert_eq!(data(routed)["nick"], "al");
    }

    #[test]
    fn a_banned_member_is_removed_told_and_unsubscribed() {
        let mut state = guild();
        let outcome = guild_event(
            &mut state,
            2,
            &GuildEvent::MemberBanned(MemberBanned {
                user_id: BOB,
                user: None,
                reason: None,
                delete_message_seconds: 0,
                banned_at: time::macros::datetime!(2026-11-28 12:00 UTC),
            }),
            Some(OWNER),
            urls(),
        );
        let events: Vec<&str> = outcome.routed.iter().map(|r| r.dispatch.event).collect();
        assert_eq!(
            events,
            ["GUILD_BAN_ADD", "GUILD_MEMBER_REMOVE", "GUILD_DELETE"]
        );
        assert_eq!(data(&outcome.routed[0])["user"]["username"], "bob");
        assert_eq!(outcome.routed[2].audience, Audience::Users(vec![BOB]));
        assert_eq!(outcome.unsubscribe, vec![BOB]);
        assert!(!state.members.contains_key(&BOB));
    }

    #[test]
    fn events_move_the_state_to_their_seq() {
        let mut state = guild();
        let _ = guild_event(
            &mut state,
            7,
            &GuildEvent::GuildDeleted(cloudcord_schemas::guild::GuildDeleted {}),
            Some(OWNER),
            urls(),
        );
        assert_eq!(state.position, 7);
    }
}

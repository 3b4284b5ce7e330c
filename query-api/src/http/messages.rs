//! Message routes (`developers/resources/message.mdx`): the channel's messages,
//! paged as [`crate::pagination`] describes; one message; the pins; who reacted
//! with an emoji; the caller's mention inbox (`GET /users/@me/mentions`). Content
//! comes from the MongoDB message documents.
//!
//! Rights, as Discord states them: the channel must be visible (`VIEW_CHANNEL`,
//! else 403 Missing Access). Without `READ_MESSAGE_HISTORY` the message list is
//! empty ("no messages will be returned"), and reading one message, the pins or a
//! reaction list is 403 Missing Access.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, State};
use cloudcord_runtime::files::signing::now_secs;
use cloudcord_runtime::http_error::HttpError;
use cloudcord_runtime::openapi::Refusals;
use cloudcord_runtime::openapi::objects::{MessageResponse, SnowflakeType, UserResponse};
use cloudcord_schemas::ids::{GuildId, MessageId, UserId};
use cloudcord_schemas::message::ReactionEmoji;
use cloudcord_schemas::permissions::Permissions;
use serde_json::Value;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiContext;
use super::auth::Caller;
use super::channels;
use super::params::{QueryParams, path_id};
use super::read_your_writes;
use crate::access::{ChannelAccess, now_ms};
use crate::objects::{message_object, user_object};
use crate::pagination::{self, Anchor, Page};
use crate::read_models::mongo::MessageDocument;
use crate::read_models::postgres::{MentionFilter, UserRow, key, snowflake};

/// Most pins Discord's deprecated pins route returns.
const MAX_PINS: usize = 50;
/// Default page of `GET /users/@me/mentions` (Discord's); at most 100.
const MENTIONS_DEFAULT: u32 = 25;
/// Most pages of candidates one `GET /users/@me/mentions` reads.
const MENTION_PAGES: usize = 4;

/// Default and largest page of `GET …/reactions/{emoji}`.
const REACTIONS_DEFAULT: u32 = 25;
const REACTIONS_MAX: u32 = 100;

/// The message routes.
pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new()
        .routes(routes!(messages))
        .routes(routes!(message))
        .routes(routes!(pins))
        .routes(routes!(reactions))
        .routes(routes!(mentions))
}

/// The page a `GET /channels/{id}/messages` query asks for; `before`, `after` and
/// `around` exclude each other (Discord: "only one may be passed at a time").
pub fn page(params: &mut QueryParams) -> Page {
    let limit = params.integer("limit", pagination::LIMITS, pagination::DEFAULT_LIMIT);
    let anchors: Vec<(&str, Anchor)> = [
        ("around", params.snowflake("around").map(Anchor::Around)),
        ("before", params.snowflake("before").map(Anchor::Before)),
        ("after", params.snowflake("after").map(Anchor::After)),
    ]
    .into_iter()
    .filter_map(|(name, anchor)| anchor.map(|a| (name, a)))
    .collect();
    if let [_, (second, _), ..] = anchors.as_slice() {
        params.refuse(
            second,
            "BASE_TYPE_BAD_COMBINATION",
            "Only one of around, before and after may be passed.",
        );
    }
    Page {
        anchor: anchors.first().map_or(Anchor::Latest, |(_, a)| *a),
        limit,
    }
}

/// The message objects of `documents` as `viewer` sees them, with their mentioned
/// users looked up.
async fn message_objects(
    context: &ApiContext,
    documents: &[MessageDocument],
    viewer: i64,
) -> Result<Vec<Value>, HttpError> {
    let mentioned: Vec<i64> = documents
        .iter()
        .flat_map(|m| m.mentions.iter().copied())
        .collect();
    let users: HashMap<i64, UserRow> = if mentioned.is_empty() {
        HashMap::new()
    } else {
        context
            .read_models()
            .users(&mentioned)
            .await?
            .into_iter()
            .map(|u| (u.id, u))
            .collect()
    };
    // Every caller checked that `viewer` may read the channel: its files' URLs are
    // signed for them.
    let now = now_secs();
    Ok(documents
        .iter()
        .map(|m| {
            let mut object = message_object(m, viewer, &users);
            context.files().signer().sign_message(&mut object, now);
            object
        })
        .collect())
}

/// `GET /channels/{channel.id}/messages?around|before|after&limit`.
#[utoipa::path(
    get,
    path = "/channels/{channel_id}/messages",
    tag = "messages",
    params(("channel_id" = SnowflakeType, Path, description = "The channel"), ("around" = Option<SnowflakeType>, Query, description = "Messages around this id"), ("before" = Option<SnowflakeType>, Query, description = "Messages before this id"), ("after" = Option<SnowflakeType>, Query, description = "Messages after this id"), ("limit" = Option<u32>, Query, description = "1 to 100 (default 50)")),
    responses((status = 200, description = "A page of messages, newest first", body = Vec<MessageResponse>), Refusals)
)]
async fn messages(
    State(context): State<ApiContext>,
    caller: Caller,
    Path(raw): Path<String>,
    mut params: QueryParams,
) -> Result<Json<Value>, HttpError> {
    let page = page(&mut params);
    params.finish()?;
    let access = message_channel(&context, &raw, caller).await?;
    if !access
        .permissions()
        .contains(Permissions::READ_MESSAGE_HISTORY)
    {
        return Ok(Json(Value::Array(Vec::new())));
    }
    let mut scanned = Vec::new();
    for scan in page.scans() {
        scanned.push(context.read_models().message_ids(access.id(), scan).await?);
    }
    let ids = pagination::assemble(scanned, |id| id.cast_unsigned());
    let documents = context.documents().messages_by_id(&ids).await?;
    Ok(Json(Value::Array(
        message_objects(&context, &documents, caller.key()).await?,
    )))
}

/// The channel of the path, once its message documents show every message the
/// gateway may have dispatched (see [`read_your_writes::wait_for_mongo`]).
async fn message_channel(
    context: &ApiContext,
    raw: &str,
    caller: Caller,
) -> Result<ChannelAccess, HttpError> {
    let access = channels::load(context, raw, caller).await?;
    read_your_writes::wait_for_mongo(context, access.aggregate()).await?;
    Ok(access)
}

/// The message of the path, in the channel of the path, if the caller may read it.
async fn load_message(
    context: &ApiContext,
    raw_channel: &str,
    raw_message: &str,
    caller: Caller,
) -> Result<(i64, MessageDocument), HttpError> {
    let message_id: MessageId = path_id("message_id", raw_message)?;
    let access = message_channel(context, raw_channel, caller).await?;
    access.require_history()?;
    let found = match key(message_id.0) {
        Some(id) => context.documents().message(access.id(), id).await?,
        None => None,
    };
    Ok((access.id(), found.ok_or(HttpError::unknown_message())?))
}

/// `GET /channels/{channel.id}/messages/{message.id}`.
#[utoipa::path(
    get,
    path = "/channels/{channel_id}/messages/{message_id}",
    tag = "messages",
    params(("channel_id" = SnowflakeType, Path, description = "The channel"), ("message_id" = SnowflakeType, Path, description = "The message")),
    responses((status = 200, description = "The message", body = MessageResponse), Refusals)
)]
async fn message(
    State(context): State<ApiContext>,
    caller: Caller,
    Path((raw_channel, raw_message)): Path<(String, String)>,
) -> Result<Json<Value>, HttpError> {
    let (_, document) = load_message(&context, &raw_channel, &raw_message, caller).await?;
    let mut objects = message_objects(&context, &[document], caller.key()).await?;
    Ok(Json(objects.pop().unwrap_or(Value::Null)))
}

/// `GET /channels/{channel.id}/pins` (Discord's deprecated pins route, still what
/// most libraries call): up to 50 pinned messages, most recently pinned first.
#[utoipa::path(
    get,
    path = "/channels/{channel_id}/pins",
    tag = "messages",
    params(("channel_id" = SnowflakeType, Path, description = "The channel")),
    responses((status = 200, description = "The pinned messages", body = Vec<MessageResponse>), Refusals)
)]
async fn pins(
    State(context): State<ApiContext>,
    caller: Caller,
    Path(raw): Path<String>,
) -> Result<Json<Value>, HttpError> {
    let access = message_channel(&context, &raw, caller).await?;
    access.require_history()?;
    let pinned = context.read_models().pinned_ids(access.id()).await?;
    let mut documents = context.documents().messages_by_id(&pinned).await?;
    documents.sort_by_key(|m| std::cmp::Reverse((m.pinned_at, m.id)));
    documents.truncate(MAX_PINS);
    Ok(Json(Value::Array(
        message_objects(&context, &documents, caller.key()).await?,
    )))
}

/// `GET /channels/{channel.id}/messages/{message.id}/reactions/{emoji}?after&limit&type`:
/// the users who reacted with the emoji, by ascending id. CloudCord has no burst
/// (super) reactions, so `type=1` lists nobody.
#[utoipa::path(
    get,
    path = "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}",
    tag = "messages",
    params(("channel_id" = SnowflakeType, Path, description = "The channel"), ("message_id" = SnowflakeType, Path, description = "The message"), ("emoji" = String, Path, description = "A Unicode emoji or `name:id`"), ("after" = Option<SnowflakeType>, Query, description = "Users after this id"), ("limit" = Option<u32>, Query, description = "1 to 100 (default 25)"), ("type" = Option<u8>, Query, description = "0 (normal) or 1 (burst)")),
    responses((status = 200, description = "Who reacted", body = Vec<UserResponse>), Refusals)
)]
async fn reactions(
    State(context): State<ApiContext>,
    caller: Caller,
    Path((raw_channel, raw_message, raw_emoji)): Path<(String, String, String)>,
    mut params: QueryParams,
) -> Result<Json<Value>, HttpError> {
    let after: Option<UserId> = params.snowflake("after");
    let limit = params.integer("limit", 1..=REACTIONS_MAX, REACTIONS_DEFAULT);
    let burst = params.integer("type", 0..=1, 0) == 1;
    params.finish()?;
    let emoji = ReactionEmoji::parse(&raw_emoji).ok_or(HttpError::unknown_emoji())?;
    let (_, document) = load_message(&context, &raw_channel, &raw_message, caller).await?;
    if burst {
        return Ok(Json(Value::Array(Vec::new())));
    }
    let emoji_id = emoji.id.and_then(key);
    let after = after.and_then(|u| key(u.0)).unwrap_or(-1);
    let mut reactors: Vec<i64> = document
        .reactions
        .iter()
        // A custom emoji is known by its id (its name may have changed since).
        .filter(|r| r.emoji_id == emoji_id && (emoji_id.is_some() || r.emoji_name == emoji.name))
        .filter(|r| r.user_id > after)
        .map(|r| r.user_id)
        .collect();
    reactors.sort_unstable();
    reactors.dedup();
    reactors.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let users = context.read_models().users(&reactors).await?;
    Ok(Json(Value::Array(users.iter().map(user_object).collect())))
}

/// `GET /users/@me/mentions?before&limit&guild_id&roles&everyone`: the messages
/// that mention the caller, newest first, in channels whose history they may read.
/// `roles` and `everyone` (default true) include role and `@everyone`/`@here`
/// mentions. Deleted messages drop out, and an edit that removes the mention
/// removes the message.
#[utoipa::path(
    get,
    path = "/users/@me/mentions",
    tag = "users",
    params(("before" = Option<SnowflakeType>, Query, description = "Messages before this id"), ("limit" = Option<u32>, Query, description = "1 to 100 (default 25)"), ("guild_id" = Option<SnowflakeType>, Query, description = "Only this guild's messages"), ("roles" = Option<bool>, Query, description = "Include role mentions (default true)"), ("everyone" = Option<bool>, Query, description = "Include @everyone and @here (default true)")),
    responses((status = 200, description = "Messages mentioning the caller, newest first", body = Vec<MessageResponse>), Refusals)
)]
async fn mentions(
    State(context): State<ApiContext>,
    caller: Caller,
    mut params: QueryParams,
) -> Result<Json<Value>, HttpError> {
    let limit = params.integer("limit", pagination::LIMITS, MENTIONS_DEFAULT);
    let before: Option<MessageId> = params.snowflake("before");
    let guild: Option<GuildId> = params.snowflake("guild_id");
    let mut filter = MentionFilter {
        user_id: caller.key(),
        before: before.and_then(|id| key(id.0)),
        guild_id: guild.and_then(|id| key(id.0)),
        roles: params.boolean_or("roles", true),
        everyone: params.boolean_or("everyone", true),
        limit: i64::from(limit),
    };
    params.finish()?;
    // Candidates come in pages of `limit`; those in channels the caller may not
    // read are skipped, so filling a page may take several — at most
    // MENTION_PAGES, so that a caller shut out of many busy channels costs a
    // bounded amount (the answer is then shorter than `limit`, as Discord's may be).
    let wanted = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut readable: HashMap<i64, bool> = HashMap::new();
    let mut ids = Vec::with_capacity(wanted);
    for _ in 0..MENTION_PAGES {
        let page = context.read_models().mentions(&filter).await?;
        for (message, channel) in &page {
            let may_read = match readable.get(channel) {
                Some(known) => *known,
                None => {
                    let known = may_read_history(&context, *channel, caller).await?;
                    readable.insert(*channel, known);
                    known
                }
            };
            if may_read {
                ids.push(*message);
            }
        }
        filter.before = page.last().map(|(message, _)| *message);
        if ids.len() >= wanted || page.len() < wanted {
            break;
        }
    }
    ids.truncate(wanted);
    let documents = context.documents().messages_by_id(&ids).await?;
    Ok(Json(Value::Array(
        message_objects(&context, &documents, caller.key()).await?,
    )))
}

/// Whether `caller` may read the history of stored channel `channel`; a channel
/// they cannot see, or that is gone, is simply not readable. A readable one's
/// message documents are waited for as the other message reads wait
/// ([`read_your_writes::wait_for_mongo`]), so no mention PostgreSQL lists is
/// missing from MongoDB.
async fn may_read_history(
    context: &ApiContext,
    channel: i64,
    caller: Caller,
) -> Result<bool, HttpError> {
    let access = match ChannelAccess::load(
        context.read_models(),
        snowflake(channel),
        caller.user_id,
        now_ms(),
    )
    .await
    {
        Ok(access) => access,
        Err(HttpError::Api { .. }) => return Ok(false),
        Err(other) => return Err(other),
    };
    if !access
        .permissions()
        .contains(Permissions::READ_MESSAGE_HISTORY)
    {
        return Ok(false);
    }
    read_your_writes::wait_for_mongo(context, access.aggregate()).await?;
    Ok(true)
}

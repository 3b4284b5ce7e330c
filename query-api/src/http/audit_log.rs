//! `GET /guilds/{guild.id}/audit-logs?user_id&action_type&before&after&limit`:
//! the guild's audit log from the MongoDB documents, newest first; needs
//! `VIEW_AUDIT_LOG`.
//!
//! Entry ids are snowflakes of the entry's time whose low 22 bits are the guild's
//! event `seq` ([`crate::objects::audit_entry_id`]), so `before` and `after` page by
//! that `seq`. This is exact while a guild has fewer than 2^22 (about 4.2 million)
//! events; beyond that the low bits wrap and paging by id would skip entries.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, State};
use cloudcord_runtime::http_error::HttpError;
use cloudcord_runtime::openapi::Refusals;
use cloudcord_runtime::openapi::objects::{GuildAuditLogResponse, SnowflakeType};
use cloudcord_schemas::ids::{Snowflake, UserId};
use cloudcord_schemas::permissions::Permissions;
use serde_json::{Value, json};

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiContext;
use super::auth::Caller;
use super::guilds;
use super::params::QueryParams;
use crate::access::now_ms;
use crate::objects::{audit_entry_object, user_object};
use crate::read_models::mongo::{AuditFilter, AuditPage};
use crate::read_models::postgres::key;

/// Default and largest page of entries.
const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 100;

/// The `seq` an entry id carries (see the module docs).
fn entry_seq(entry_id: Snowflake) -> i64 {
    i64::try_from(entry_id.get() & ((1 << 22) - 1)).unwrap_or(0)
}

/// The audit-log route.
pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new().routes(routes!(audit_log))
}

/// `GET /guilds/{guild.id}/audit-logs`.
#[utoipa::path(
    get,
    path = "/guilds/{guild_id}/audit-logs",
    tag = "guilds",
    params(("guild_id" = SnowflakeType, Path, description = "The guild"), ("user_id" = Option<SnowflakeType>, Query, description = "Entries by this user"), ("action_type" = Option<u8>, Query, description = "Entries of this action"), ("before" = Option<SnowflakeType>, Query, description = "Entries before this id"), ("after" = Option<SnowflakeType>, Query, description = "Entries after this id"), ("limit" = Option<u32>, Query, description = "1 to 100 (default 50)")),
    responses((status = 200, description = "A page of the audit log", body = GuildAuditLogResponse), Refusals)
)]
async fn audit_log(
    State(context): State<ApiContext>,
    caller: Caller,
    Path(raw): Path<String>,
    mut params: QueryParams,
) -> Result<Json<Value>, HttpError> {
    let user_id: Option<UserId> = params.snowflake("user_id");
    let action_type = params.integer("action_type", 0..=255, 0);
    let before: Option<Snowflake> = params.snowflake("before");
    let after: Option<Snowflake> = params.snowflake("after");
    let limit = params.integer("limit", 1..=MAX_LIMIT, DEFAULT_LIMIT);
    params.finish()?;
    let access = guilds::load(&context, &raw, caller).await?;
    access.require_any(Permissions::VIEW_AUDIT_LOG, now_ms())?;

    let filter = AuditFilter {
        // An id that fits no row matches no entry.
        user_id: user_id.map(|u| key(u.0).unwrap_or(-1)),
        action_type: (action_type > 0).then(|| i32::try_from(action_type).unwrap_or(0)),
    };
    let page = match (before, after) {
        (Some(before), _) => AuditPage::Before(entry_seq(before)),
        (None, Some(after)) => AuditPage::After(entry_seq(after)),
        (None, None) => AuditPage::Latest,
    };
    let entries = context
        .documents()
        .audit_entries(access.guild.id, filter, page, limit)
        .await?;
    let mut user_ids: Vec<i64> = entries
        .iter()
        .flat_map(|e| [e.user_id, e.target_id])
        .flatten()
        .collect();
    user_ids.sort_unstable();
    user_ids.dedup();
    let users: HashMap<i64, _> = context
        .read_models()
        .users(&user_ids)
        .await?
        .into_iter()
        .map(|u| (u.id, u))
        .collect();
    Ok(Json(json!({
        "audit_log_entries": entries.iter().map(audit_entry_object).collect::<Vec<_>>(),
        "users": users.values().map(user_object).collect::<Vec<_>>(),
        "integrations": [],
        "webhooks": [],
        "guild_scheduled_events": [],
        "threads": [],
        "application_commands": [],
        "auto_moderation_rules": [],
    })))
}

//! The `bot` scope: adding an application's bot to a guild (Discord's "Bot
//! Authorization Flow", `developers/topics/oauth2.mdx`).
//!
//! A bot developer shares Discord's URL, `/oauth2/authorize?client_id={application
//! id}&scope=bot&permissions={bits}`. CloudCord's provider page cannot offer a
//! guild picker (it signs people in afresh and knows nothing of their guilds), so
//! for the `bot` scope it sends the browser to the web client's `/oauth2/bot` page
//! ([`redirect_to_web_client`]), where the user is already signed in, sees their
//! guilds and the permissions asked for, and confirms. The page then calls
//! `POST /api/v10/oauth2/authorize?client_id=…&scope=bot` (`add_bot`) with the
//! user's own token, as Discord's client does; the guild aggregate decides
//! (`MANAGE_GUILD`, grantable permissions, bans: see
//! `crate::aggregates::guild::bots`).
//!
//! Not offered: Discord's "advanced bot authorization" (`bot` with other scopes and a
//! `redirect_uri`, answering with a code); `bot` must be asked for on its own.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use cloudcord_runtime::described_by_schemars;
use cloudcord_runtime::http_error::{FormErrors, HttpError, codes};
use cloudcord_runtime::openapi::Refusals;
use cloudcord_runtime::openapi::objects::SnowflakeType;
use cloudcord_schemas::envelope::Outcome;
use cloudcord_schemas::guild::GuildCommand;
use cloudcord_schemas::ids::GuildId;
use cloudcord_schemas::permissions::Permissions;
use schemars::JsonSchema;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::authorize::redirect;
use super::page;
use super::params::Params;
use crate::http::auth::Caller;
use crate::http::body::Body;
use crate::http::bus::respond;
use crate::http::guilds::on_guild;
use crate::http::replies::BotAdded;
use crate::http::{ApiState, IdempotencyKey};

/// The scope this flow serves.
pub const BOT_SCOPE: &str = "bot";

/// Where the web client shows the bot authorization page.
const WEB_CLIENT_PAGE: &str = "/oauth2/bot";

/// The parameters of Discord's bot authorization URL the web client's page uses.
const PAGE_PARAMS: [&str; 4] = [
    "client_id",
    "permissions",
    "guild_id",
    "disable_guild_select",
];

/// Whether an authorization request asks for the `bot` scope.
pub fn asks_for_bot(params: &Params) -> bool {
    params
        .get("scope")
        .is_some_and(|scope| scope.split(' ').any(|name| name == BOT_SCOPE))
}

/// `GET /oauth2/authorize?…scope=bot…`: the web client's page for an existing
/// application asking for `bot` alone, or an error page.
pub async fn redirect_to_web_client(state: &ApiState, params: &Params) -> Response {
    if !bot_alone(params) {
        return page::error_page(
            "The bot scope must be asked for on its own (scope=bot); ask for other scopes in a \
             separate authorization.",
        );
    }
    match state
        .application_bot(params.get("client_id").unwrap_or_default())
        .await
    {
        Ok(Some(_)) => {}
        Ok(None) => return page::error_page("Unknown application (client_id)."),
        Err(error) => return error.into_response(),
    }
    let pairs: Vec<(&str, &str)> = PAGE_PARAMS
        .iter()
        .filter_map(|name| params.get(name).map(|value| (*name, value)))
        .collect();
    redirect(
        &format!("{}{WEB_CLIENT_PAGE}", state.issuer().issuer()),
        &pairs,
    )
}

/// Whether the request asks for `bot` and nothing else (the only form offered).
fn bot_alone(params: &Params) -> bool {
    params.get("scope").map(str::trim) == Some(BOT_SCOPE)
}

/// The bot authorization page's answer.
#[derive(Debug, Deserialize, JsonSchema)]
struct BotAuthorization {
    /// The guild the bot is added to.
    guild_id: GuildId,
    /// The bot's permissions there (its managed role); none when omitted.
    #[serde(default)]
    permissions: Option<Permissions>,
    /// `false` when the user declined.
    authorize: bool,
}

/// The `bot` routes under `/api/v10`.
pub fn router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new().routes(routes!(add_bot))
}

/// `POST /oauth2/authorize?client_id={application.id}&scope=bot` → 200
/// `{"location"}`: the caller adds the application's bot to `guild_id`.
#[utoipa::path(
    post,
    path = "/oauth2/authorize",
    tag = "oauth2",
    params(
        ("client_id" = SnowflakeType, Query, description = "The application whose bot is added"),
        ("scope" = String, Query, description = "`bot` (the only scope this route authorizes)"),
        IdempotencyKey
    ),
    request_body = BotAuthorization,
    responses((status = 200, description = "Where to send the user next: the guild, or home when they declined", body = BotAdded), Refusals)
)]
async fn add_bot(
    State(state): State<ApiState>,
    caller: Caller,
    key: IdempotencyKey,
    RawQuery(query): RawQuery,
    Body(request): Body<BotAuthorization>,
) -> Result<Response, HttpError> {
    caller.person()?;
    let params = Params::parse(query.unwrap_or_default().as_bytes())
        .map_err(|repeated| FormErrors::single("", "PARAM_REPEATED", repeated.to_string()))?;
    if !bot_alone(&params) {
        return Err(FormErrors::single(
            "scope",
            "SCOPE_INVALID",
            "Only the bot scope can be authorized here.",
        )
        .into());
    }
    let bot_id = state
        .application_bot(params.get("client_id").unwrap_or_default())
        .await?
        .ok_or_else(|| HttpError::unknown(codes::UNKNOWN_APPLICATION, "Application"))?;
    let home = state.issuer().issuer();
    if !request.authorize {
        return Ok(Json(BotAdded {
            location: format!("{home}/channels/@me"),
        })
        .into_response());
    }
    let bot = state.snapshot(bot_id).await?;
    let guild_id = request.guild_id;
    let command = GuildCommand::AddBot {
        bot,
        // Bits Discord has not defined are not granted (nor stored).
        permissions: request
            .permissions
            .map_or_else(Permissions::empty, |asked| {
                Permissions::from_bits_truncate(asked.bits())
            }),
        role_id: state.next_id().into(),
    };
    let outcome = on_guild(&state, caller, &key, guild_id, command).await?;
    if !matches!(outcome, Outcome::Accepted { .. }) {
        return respond(outcome);
    }
    // Read-your-writes: the bot may act in the guild as soon as the user is told.
    state
        .accounts()
        .wait_until(state.projection_timeout(), |view| {
            view.is_member(guild_id, bot_id).then_some(())
        })
        .await?;
    Ok(Json(BotAdded {
        location: format!("{home}/channels/{guild_id}"),
    })
    .into_response())
}

described_by_schemars!(BotAuthorization);

#[cfg(test)]
mod tests {
    use super::{Params, asks_for_bot};

    #[test]
    fn the_bot_scope_is_found_among_others() {
        let asks = |query: &str| asks_for_bot(&Params::parse(query.as_bytes()).expect("params"));
        assert!(asks("client_id=1&scope=bot"));
        assert!(asks("scope=identify+bot"));
        assert!(!asks("scope=identify+guilds"));
        assert!(!asks("scope=robot"));
        assert!(!asks("client_id=1"));
    }
}

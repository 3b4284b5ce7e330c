//! What every HTTP service's part of CloudCord's OpenAPI 3.1 document shares.
//!
//! The document is generated from the route tables: each service builds its routes
//! as a `utoipa_axum::router::OpenApiRouter`, so a route cannot be served without
//! being described, and every handler carries a `#[utoipa::path]`.
//!
//! Three kinds of schema appear in it:
//! - **Discord's objects** ([`objects`]): CloudCord promises Discord's shapes, so its
//!   responses point at the component of that name in Discord's own OpenAPI document
//!   ([`DISCORD_SPEC`]) instead of restating it. A test resolves those references
//!   against the copy under `../shared/reference/` and validates real responses.
//! - **Request bodies**, described by the `schemars` derives CloudCord's types
//!   already carry for the event contracts ([`schema_of`],
//!   [`described_by_schemars!`](crate::described_by_schemars)), so there is one
//!   description per type.
//! - **Refusals** ([`Refusals`]): Discord's error object, and its rate-limit object
//!   for 429, declared once by [`finish`].

use std::collections::BTreeMap;

use cloudcord_schemas::envelope::ApiError;
use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde_json::{Value, json};
use utoipa::IntoResponses;
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{AnyOfBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, AuthorizationCode, Flow, HttpAuthScheme, HttpBuilder, OAuth2, Scopes,
    SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{OpenApi, Ref, RefOr, Response};

/// Discord's official OpenAPI document, whose components describe the objects
/// CloudCord answers with.
pub const DISCORD_SPEC: &str =
    "https://raw.githubusercontent.com/discord/discord-api-spec/main/specs/openapi.json";

/// The security scheme of a user's (or OAuth2 application's) `Bearer` access token.
pub const BEARER: &str = "Bearer";
/// The security scheme of a bot's `Bot <token>`.
pub const BOT: &str = "BotToken";
/// The security scheme of a third-party application's OAuth2 access token, which only
/// the routes that name a scope of it accept.
pub const OAUTH2: &str = "OAuth2";

/// A reference to the component `name` of Discord's OpenAPI document.
pub fn discord(name: &str) -> RefOr<Schema> {
    RefOr::Ref(Ref::new(format!(
        "{DISCORD_SPEC}#/components/schemas/{name}"
    )))
}

/// The JSON Schema `schemars` derives for `T`, as a utoipa schema: subschemas
/// inlined, so the description stands alone.
///
/// # Panics
///
/// When utoipa cannot read what schemars wrote: a programming error that the
/// OpenAPI document's drift test finds at once.
pub fn schema_of<T: JsonSchema>() -> RefOr<Schema> {
    let mut settings = SchemaSettings::draft2020_12();
    settings.inline_subschemas = true;
    settings.meta_schema = None;
    let mut schema = settings
        .into_generator()
        .into_root_schema_for::<T>()
        .to_value();
    spell_for_utoipa(&mut schema);
    serde_json::from_value(schema).unwrap_or_else(|error| {
        panic!(
            "the schemars schema of {} is not a utoipa schema: {error}",
            T::schema_name()
        )
    })
}

/// Rewrites the two JSON Schema spellings utoipa cannot read into equivalent ones
/// it can: "any value" (`true`, or a schema without a type or combinator) names
/// every type, and `const` becomes a one-value `enum` (utoipa drops `const`).
fn spell_for_utoipa(schema: &mut Value) {
    const COMBINATORS: [&str; 4] = ["type", "oneOf", "anyOf", "allOf"];
    if *schema == Value::Bool(true) {
        *schema = json!({});
    }
    let Some(map) = schema.as_object_mut() else {
        return;
    };
    if let Some(value) = map.remove("const") {
        map.insert("enum".to_owned(), json!([value]));
    }
    if !map.contains_key("$ref") && !COMBINATORS.iter().any(|key| map.contains_key(*key)) {
        map.insert(
            "type".to_owned(),
            json!(["object", "array", "string", "number", "boolean", "null"]),
        );
    }
    for (key, child) in map.iter_mut() {
        match key.as_str() {
            "properties" | "$defs" => child
                .as_object_mut()
                .into_iter()
                .flat_map(|children| children.values_mut())
                .for_each(spell_for_utoipa),
            "oneOf" | "anyOf" | "allOf" | "prefixItems" => child
                .as_array_mut()
                .into_iter()
                .flatten()
                .for_each(spell_for_utoipa),
            "items" | "additionalProperties" | "not" => spell_for_utoipa(child),
            _ => {}
        }
    }
}

/// Implements utoipa's `ToSchema` for types that derive `schemars::JsonSchema`,
/// named as schemars names them (see [`schema_of`]); `Name = Type` declares a marker
/// type `Name` described as `Type` is, for a `Type` of another crate.
#[macro_export]
macro_rules! described_by_schemars {
    ($($name:ident = $ty:ty),+ $(,)?) => {$(
        #[doc = concat!("Described as [`", stringify!($ty), "`] is (OpenAPI only).")]
        pub struct $name;

        impl ::utoipa::PartialSchema for $name {
            fn schema() -> ::utoipa::openapi::RefOr<::utoipa::openapi::schema::Schema> {
                $crate::openapi::schema_of::<$ty>()
            }
        }

        impl ::utoipa::ToSchema for $name {
            fn name() -> ::std::borrow::Cow<'static, str> {
                ::std::borrow::Cow::Borrowed(stringify!($name))
            }
        }
    )+};
    ($($ty:ty),* $(,)?) => {$(
        impl ::utoipa::PartialSchema for $ty {
            fn schema() -> ::utoipa::openapi::RefOr<::utoipa::openapi::schema::Schema> {
                $crate::openapi::schema_of::<$ty>()
            }
        }

        impl ::utoipa::ToSchema for $ty {
            fn name() -> ::std::borrow::Cow<'static, str> {
                <$ty as ::schemars::JsonSchema>::schema_name()
            }
        }
    )*};
}

/// Declares marker types that stand for Discord's component of the same name.
macro_rules! discord_objects {
    ($($(#[$doc:meta])* $name:ident;)*) => {$(
        $(#[$doc])*
        pub struct $name;

        impl utoipa::PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                discord(stringify!($name))
            }
        }

        impl utoipa::ToSchema for $name {
            fn name() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed(stringify!($name))
            }
        }
    )*};
}

/// Discord's objects, for `body = …` in `#[utoipa::path]` responses.
pub mod objects {
    use std::borrow::Cow;

    use utoipa::openapi::RefOr;
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, SchemaType, Type};

    use super::discord;

    discord_objects! {
        /// A snowflake id: a decimal string.
        SnowflakeType;
        /// A user as anyone sees them.
        UserResponse;
        /// The caller's own user, with email and settings.
        UserPIIResponse;
        /// A guild in the caller's guild list.
        MyGuildResponse;
        /// A guild.
        GuildResponse;
        /// A guild with approximate member and presence counts.
        GuildWithCountsResponse;
        /// A guild channel.
        GuildChannelResponse;
        /// A DM channel.
        PrivateChannelResponse;
        /// A role.
        GuildRoleResponse;
        /// A guild member.
        GuildMemberResponse;
        /// A ban.
        GuildBanResponse;
        /// A guild invite.
        GuildInviteResponse;
        /// A guild's audit log.
        GuildAuditLogResponse;
        /// A message.
        MessageResponse;
        /// `GET /gateway`.
        GatewayResponse;
        /// `GET /gateway/bot`.
        GatewayBotResponse;
    }

    /// A channel: a guild channel or a DM.
    pub struct ChannelResponse;

    impl utoipa::PartialSchema for ChannelResponse {
        fn schema() -> RefOr<Schema> {
            OneOfBuilder::new()
                .item(discord("GuildChannelResponse"))
                .item(discord("PrivateChannelResponse"))
                .into()
        }
    }

    impl utoipa::ToSchema for ChannelResponse {
        fn name() -> Cow<'static, str> {
            Cow::Borrowed("ChannelResponse")
        }
    }

    /// A relationship (friend, block or request): Discord documents it
    /// (`developers/resources/relationships`) but its OpenAPI document does not.
    pub struct RelationshipResponse;

    impl utoipa::PartialSchema for RelationshipResponse {
        fn schema() -> RefOr<Schema> {
            let kind = ObjectBuilder::new()
                .schema_type(Type::Integer)
                .description(Some(
                    "1 friend, 2 blocked, 3 incoming request, 4 outgoing request",
                ))
                .enum_values(Some([1, 2, 3, 4]));
            let nickname =
                ObjectBuilder::new().schema_type(SchemaType::from_iter([Type::String, Type::Null]));
            ObjectBuilder::new()
                .property("id", discord("SnowflakeType"))
                .property("type", kind)
                .property("user", discord("UserResponse"))
                .property("nickname", nickname)
                .required("id")
                .required("type")
                .required("user")
                .into()
        }
    }

    impl utoipa::ToSchema for RelationshipResponse {
        fn name() -> Cow<'static, str> {
            Cow::Borrowed("RelationshipResponse")
        }
    }
}

/// The ways any route refuses, for `responses(…, Refusals)`: a `4XX` with Discord's
/// error object (or its rate-limit object for 429), and `503` when what the request
/// needs was not ready in time. Both refer to the responses [`finish`] declares.
pub struct Refusals;

/// The name of the `4XX` response component.
const REFUSED: &str = "Refused";
/// The name of the `503` response component.
const NOT_READY: &str = "NotReady";

impl IntoResponses for Refusals {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let component = |name: &str| RefOr::Ref(Ref::new(format!("#/components/responses/{name}")));
        BTreeMap::from([
            ("4XX".to_owned(), component(REFUSED)),
            ("503".to_owned(), component(NOT_READY)),
        ])
    }
}

/// Completes a document the routes described: declares what they refer to — the
/// [`Refusals`] responses, the [`SnowflakeType`](objects::SnowflakeType) of path
/// parameters, the [`BEARER`], [`BOT`] and [`OAUTH2`] security schemes — and
/// requires a bearer or bot token everywhere (routes open to anyone say
/// `security(())`, routes open to OAuth2 scopes name them).
pub fn finish(document: &mut OpenApi) {
    let components = document.components.get_or_insert_with(Default::default);
    // Path parameters name it, but utoipa registers only body schemas.
    components.schemas.insert(
        <objects::SnowflakeType as utoipa::ToSchema>::name().into_owned(),
        <objects::SnowflakeType as utoipa::PartialSchema>::schema(),
    );
    components
        .schemas
        .insert("ApiError".to_owned(), schema_of::<ApiError>());
    let error = || RefOr::Ref(Ref::from_schema_name("ApiError"));
    let rate_limited = ObjectBuilder::new()
        .description(Some("Discord's rate-limit object"))
        .property("message", ObjectBuilder::new().schema_type(Type::String))
        .property(
            "retry_after",
            ObjectBuilder::new().schema_type(Type::Number),
        )
        .property("global", ObjectBuilder::new().schema_type(Type::Boolean))
        .required("message")
        .required("retry_after")
        .required("global");
    components
        .schemas
        .insert("RateLimited".to_owned(), rate_limited.into());
    let refused = AnyOfBuilder::new()
        .item(error())
        .item(RefOr::Ref(Ref::from_schema_name("RateLimited")));
    components.responses.insert(
        REFUSED.to_owned(),
        json_response(
            "Refused: Discord's error object, or its rate-limit object with 429",
            refused.into(),
        ),
    );
    components.responses.insert(
        NOT_READY.to_owned(),
        json_response(
            "Not served in time (Retry-After says when to try again)",
            error(),
        ),
    );
    components.add_security_scheme(
        BEARER,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .description(Some(
                    "A user's access token (from login or the OAuth2 provider)",
                ))
                .build(),
        ),
    );
    components.add_security_scheme(
        BOT,
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
            "Authorization",
            "`Bot <token>`: a bot's token",
        ))),
    );
    components.add_security_scheme(
        OAUTH2,
        SecurityScheme::OAuth2(OAuth2::with_description(
            [Flow::AuthorizationCode(AuthorizationCode::new(
                "/oauth2/authorize",
                "/api/v10/oauth2/token",
                Scopes::from_iter([
                    ("identify", "GET /users/@me without the e-mail address"),
                    ("email", "the e-mail address too"),
                    ("guilds", "GET /users/@me/guilds"),
                    ("openid", "an ID token"),
                ]),
            ))],
            "A third-party application's access token (authorization code with PKCE S256)",
        )),
    );
    document.security = Some(vec![
        SecurityRequirement::new(BEARER, Vec::<String>::new()),
        SecurityRequirement::new(BOT, Vec::<String>::new()),
    ]);
}

fn json_response(description: &str, schema: RefOr<Schema>) -> RefOr<Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new().schema(Some(schema)).build(),
        )
        .build()
        .into()
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use utoipa::PartialSchema;

    use super::*;

    #[test]
    fn schemars_descriptions_survive_the_conversion() {
        let converted = serde_json::to_value(schema_of::<ApiError>()).expect("serializes");
        assert_eq!(converted["properties"]["code"]["type"], json!("integer"));
        assert_eq!(converted["properties"]["message"]["type"], json!("string"));
        assert_eq!(converted["required"], json!(["code", "message"]));
    }

    #[test]
    fn any_value_and_const_are_spelled_as_utoipa_reads_them() {
        let mut schema = json!({
            "type": "object",
            "properties": {"anything": true, "described": {"description": "x"}, "kind": {"const": 1}},
            "oneOf": [{"items": true, "type": "array"}]
        });
        spell_for_utoipa(&mut schema);
        let any = json!(["object", "array", "string", "number", "boolean", "null"]);
        assert_eq!(schema["properties"]["anything"]["type"], any);
        assert_eq!(schema["properties"]["described"]["type"], any);
        assert_eq!(schema["properties"]["kind"]["enum"], json!([1]));
        assert_eq!(schema["oneOf"][0]["items"]["type"], any);
    }

    #[test]
    fn discord_objects_point_into_discords_document() {
        let schema = serde_json::to_value(objects::GuildResponse::schema()).expect("serializes");
        assert_eq!(
            schema["$ref"],
            json!(format!("{DISCORD_SPEC}#/components/schemas/GuildResponse"))
        );
    }

    #[test]
    fn refusals_refer_to_the_responses_finish_declares() {
        let mut document = OpenApi::default();
        finish(&mut document);
        let document = serde_json::to_value(document).expect("serializes");
        for (status, reference) in Refusals::responses() {
            let reference = serde_json::to_value(reference).expect("serializes");
            let local = reference["$ref"]
                .as_str()
                .expect("a reference")
                .trim_start_matches('#');
            assert!(document.pointer(local).is_some(), "{status}: {local}");
        }
    }
}

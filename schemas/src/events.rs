//! What every event type declares about itself — its name and payload version —
//! for envelopes, CloudEvents headers, schema files and upcasters, and the
//! [`event_enum!`](crate::event_enum) macro that keeps an aggregate's event enum,
//! names, versions and catalog in one list.

/// The name and version of an event, as written in `ce_type`, schema file names
/// and upcasters.
pub trait EventType {
    /// The event's type name, e.g. `GuildCreated` (past tense).
    fn event_type(&self) -> &'static str;

    /// The version of this event type's payload layout, from 1.
    fn event_version(&self) -> u32;
}

/// One event type in an aggregate's catalog: what the schema files are made from.
#[derive(Debug, Clone, Copy)]
pub struct CatalogEntry {
    /// The type name (the `type` tag in JSON).
    pub name: &'static str,
    /// The current payload version.
    pub version: u32,
    /// Builds the JSON Schema of the payload.
    pub schema: fn(&mut schemas_support::SchemaGenerator) -> schemas_support::Schema,
}

#[doc(hidden)]
pub mod schemas_support {
    pub use schemars::{JsonSchema, Schema, SchemaGenerator};
}

/// Declares an aggregate's event enum from its event structs and their versions:
///
/// ```text
/// event_enum! {
///     /// What happened to a guild.
///     pub enum GuildEvent {
///         GuildCreated = 1,
///         GuildUpdated = 1,
///     }
/// }
/// ```
///
/// Each variant wraps the struct of the same name and is tagged `"type": "<Name>"` in
/// JSON. The macro implements [`EventType`] and a `catalog()` listing every event
/// type with its version and schema.
#[macro_export]
macro_rules! event_enum {
    (
        $(#[$doc:meta])*
        pub enum $enum:ident {
            $($event:ident = $version:literal),* $(,)?
        }
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
        #[serde(tag = "type")]
        pub enum $enum {
            $(
                #[doc = concat!("See [`", stringify!($event), "`].")]
                $event($event),
            )*
        }

        impl $crate::events::EventType for $enum {
            fn event_type(&self) -> &'static str {
                match self {
                    $(Self::$event(_) => stringify!($event),)*
                }
            }

            fn event_version(&self) -> u32 {
                match self {
                    $(Self::$event(_) => $version,)*
                }
            }
        }

        impl $enum {
            /// Every event type of this aggregate with its version and schema.
            pub fn catalog() -> Vec<$crate::events::CatalogEntry> {
                vec![$(
                    $crate::events::CatalogEntry {
                        name: stringify!($event),
                        version: $version,
                        schema: <$event as $crate::events::schemas_support::JsonSchema>::json_schema,
                    },
                )*]
            }
        }

        $(
            impl From<$event> for $enum {
                fn from(event: $event) -> Self {
                    Self::$event(event)
                }
            }
        )*
    };
}

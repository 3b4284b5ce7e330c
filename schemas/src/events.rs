//! What every event type declares about itself, for envelopes, CloudEvents headers
//! and schema files.

/// The name and version of an event, as written in `ce_type`, schema file names
/// and upcasters.
pub trait EventType {
    /// The event's type name, e.g. `GuildCreated` (past tense).
    fn event_type(&self) -> &'static str;

    /// The version of this event type's payload layout, from 1.
    fn event_version(&self) -> u32;
}

//! Event values as the signed 64- and 32-bit integers both stores index: snowflakes
//! and permission sets as `int8` / BSON `Int64`, counts and settings as `int4`.
//!
//! CloudCord's ids stay below 2^63 (snowflake timestamps, and hashed ids with their
//! top bit cleared), so a value that does not fit is a broken event, reported as
//! [`Unrepresentable`] and never silently wrapped.

use cloudcord_schemas::ids::{
    ApplicationId, AttachmentId, ChannelId, GuildId, MessageId, RoleId, Snowflake, UserId,
};

/// A value of an event that does not fit its column: the event cannot be projected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} = {value} does not fit its column")]
pub struct Unrepresentable {
    /// Which value.
    pub field: &'static str,
    /// The value.
    pub value: u64,
}

/// Any of the snowflake id types.
pub(crate) trait RawId: Copy {
    /// The raw 64-bit value.
    fn raw(self) -> u64;
}

macro_rules! raw_ids {
    ($($ty:ty),*) => {$(
        impl RawId for $ty {
            fn raw(self) -> u64 {
                self.get()
            }
        }
    )*};
}

raw_ids!(
    Snowflake,
    UserId,
    GuildId,
    ChannelId,
    RoleId,
    MessageId,
    ApplicationId,
    AttachmentId
);

/// A snowflake as a signed 64-bit integer.
pub(crate) fn id(field: &'static str, id: impl RawId) -> Result<i64, Unrepresentable> {
    let value = id.raw();
    i64::try_from(value).map_err(|_| Unrepresentable { field, value })
}

/// A bit set (permissions) as a signed 64-bit integer.
pub(crate) fn bits(field: &'static str, value: u64) -> Result<i64, Unrepresentable> {
    i64::try_from(value).map_err(|_| Unrepresentable { field, value })
}

/// A count or setting as a signed 32-bit integer.
pub(crate) fn int4(field: &'static str, value: u32) -> Result<i32, Unrepresentable> {
    i32::try_from(value).map_err(|_| Unrepresentable {
        field,
        value: value.into(),
    })
}

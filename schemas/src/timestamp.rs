//! Timestamps as Discord writes them in API objects and gateway payloads:
//! `2021-08-10T11:16:37.020000+00:00` — UTC, an explicit `+00:00` offset and always
//! six fraction digits.
//!
//! Plain RFC 3339 output (`Z`, trailing zeros dropped: `…:16.85Z`) is valid ISO 8601
//! but not what clients expect: twilight, for one, refuses a timestamp shorter than
//! Discord's fixed-width form. Every service renders Discord timestamps through
//! [`discord_timestamp`], so write answers, reads and dispatches agree.

use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

const DISCORD: &[BorrowedFormatItem<'_>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]+00:00");

/// `at` in Discord's timestamp form (converted to UTC).
pub fn discord_timestamp(at: OffsetDateTime) -> String {
    // Invariant: the description has only numeric components of a valid date-time,
    // which always format.
    at.to_offset(UtcOffset::UTC)
        .format(DISCORD)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::discord_timestamp;

    #[test]
    fn timestamps_have_discords_fixed_width_utc_form() {
        assert_eq!(
            discord_timestamp(datetime!(2021-08-10 11:16:37.02 UTC)),
            "2021-08-10T11:16:37.020000+00:00"
        );
        assert_eq!(
            discord_timestamp(datetime!(2026-11-28 12:00 UTC)),
            "2026-11-28T12:00:00.000000+00:00",
            "a whole second keeps its fraction"
        );
        assert_eq!(
            discord_timestamp(datetime!(2026-11-28 13:30:00.123456789 +01:30)),
            "2026-11-28T12:00:00.123456+00:00",
            "converted to UTC, truncated to microseconds"
        );
    }
}

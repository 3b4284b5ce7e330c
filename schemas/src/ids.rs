//! Snowflake identifiers in Discord's layout, and one newtype per kind of thing.
//!
//! ```text
//!  63                                  22 21   17 16   12 11          0
//! +--------------------------------------+-------+-------+-------------+
//! | milliseconds since 2015-01-01 (42)   |worker |process| increment   |
//! +--------------------------------------+-------+-------+-------------+
//! ```
//!
//! IDs travel as decimal strings in JSON (as Discord sends them, because JavaScript
//! numbers lose precision above 2^53) and are accepted as strings or integers.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Discord's epoch, the first millisecond of 2015, in Unix milliseconds.
pub const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;

const WORKER_BITS: u32 = 5;
const PROCESS_BITS: u32 = 5;
const INCREMENT_BITS: u32 = 12;
const TIMESTAMP_SHIFT: u32 = WORKER_BITS + PROCESS_BITS + INCREMENT_BITS;
const MAX_INCREMENT: u16 = (1 << INCREMENT_BITS) - 1;

/// A 64-bit snowflake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Snowflake(u64);

impl Snowflake {
    /// The snowflake with this raw value.
    pub const fn new(raw: u64) -> Self {
        Self(raw)
    }

    /// The raw 64-bit value.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// When it was made, in Unix milliseconds.
    pub const fn timestamp_ms(self) -> u64 {
        (self.0 >> TIMESTAMP_SHIFT) + DISCORD_EPOCH_MS
    }

    /// The smallest snowflake of the given Unix millisecond (for `before`/`after`
    /// pagination by time).
    pub const fn from_timestamp_ms(unix_ms: u64) -> Self {
        Self(unix_ms.saturating_sub(DISCORD_EPOCH_MS) << TIMESTAMP_SHIFT)
    }
}

/// Why a string is not a snowflake.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a snowflake (a decimal 64-bit unsigned integer)")]
pub struct InvalidSnowflake(pub String);

impl FromStr for Snowflake {
    type Err = InvalidSnowflake;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse()
            .map(Self)
            .map_err(|_| InvalidSnowflake(s.to_owned()))
    }
}

impl fmt::Display for Snowflake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Serialize for Snowflake {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Snowflake {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SnowflakeVisitor;

        impl Visitor<'_> for SnowflakeVisitor {
            type Value = Snowflake;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a snowflake as a decimal string or an unsigned integer")
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Snowflake, E> {
                Ok(Snowflake(v))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Snowflake, E> {
                u64::try_from(v)
                    .map(Snowflake)
                    .map_err(|_| E::custom(format!("{v} is not a snowflake")))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Snowflake, E> {
                v.parse().map_err(E::custom)
            }
        }

        deserializer.deserialize_any(SnowflakeVisitor)
    }
}

impl schemars::JsonSchema for Snowflake {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Snowflake".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[0-9]{1,20}$",
            "description": "A snowflake id: a decimal 64-bit unsigned integer as a string"
        })
    }
}

/// Declares a snowflake newtype that serializes as the snowflake does.
macro_rules! id_types {
    ($($(#[$doc:meta])* $name:ident;)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema)]
        #[serde(transparent)]
        pub struct $name(pub Snowflake);

        impl $name {
            /// The ID with this raw value.
            pub const fn new(raw: u64) -> Self {
                Self(Snowflake::new(raw))
            }

            /// The raw 64-bit value.
            pub const fn get(self) -> u64 {
                self.0.get()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = InvalidSnowflake;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.parse().map(Self)
            }
        }

        impl From<Snowflake> for $name {
            fn from(id: Snowflake) -> Self {
                Self(id)
            }
        }
    )*};
}

id_types! {
    /// A user or bot account.
    UserId;
    /// A guild ("server"). Its `@everyone` role has the same ID.
    GuildId;
    /// A guild channel or DM channel.
    ChannelId;
    /// A role in a guild.
    RoleId;
    /// A message.
    MessageId;
    /// An application (owner of a bot user).
    ApplicationId;
    /// A file attached to a message (also its key in the file store).
    AttachmentId;
}

impl GuildId {
    /// The guild's `@everyone` role, which shares the guild's ID.
    pub const fn everyone_role(self) -> RoleId {
        RoleId(self.0)
    }
}

/// Hands out unique snowflakes for one worker/process pair.
///
/// The clock is passed in (`now_ms`), so the generator is deterministic under test.
/// Within one millisecond it counts up to 4096 IDs, then borrows the next
/// millisecond; a clock that steps backwards never produces a smaller ID.
#[derive(Debug, Clone)]
pub struct SnowflakeGenerator {
    worker: u8,
    process: u8,
    last_ms: u64,
    increment: u16,
}

/// Worker or process number out of its 5-bit range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("snowflake {field} must be 0..=31, got {value}")]
pub struct InvalidGeneratorId {
    /// `worker` or `process`.
    pub field: &'static str,
    /// The rejected value.
    pub value: u8,
}

impl SnowflakeGenerator {
    /// A generator for `worker` and `process`, each 0..=31 (from configuration, so
    /// that every running process has a distinct pair).
    pub fn new(worker: u8, process: u8) -> Result<Self, InvalidGeneratorId> {
        for (field, value) in [("worker", worker), ("process", process)] {
            if value >= 1 << WORKER_BITS {
                return Err(InvalidGeneratorId { field, value });
            }
        }
        Ok(Self {
            worker,
            process,
            last_ms: 0,
            increment: 0,
        })
    }

    /// The next snowflake at Unix millisecond `now_ms`.
    pub fn next(&mut self, now_ms: u64) -> Snowflake {
        let now = now_ms.saturating_sub(DISCORD_EPOCH_MS);
        if now > self.last_ms {
            self.last_ms = now;
            self.increment = 0;
        } else if self.increment == MAX_INCREMENT {
            self.last_ms += 1;
            self.increment = 0;
        } else {
            self.increment += 1;
        }
        Snowflake(
            (self.last_ms << TIMESTAMP_SHIFT)
                | (u64::from(self.worker) << (PROCESS_BITS + INCREMENT_BITS))
                | (u64::from(self.process) << INCREMENT_BITS)
                | u64::from(self.increment),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::{GuildId, Snowflake, SnowflakeGenerator};

    #[test]
    fn discords_documented_example_decodes_to_its_timestamp() {
        // developers/reference.mdx: 175928847299117063 was made at 2016-04-30 11:18:25.796 UTC.
        let id: Snowflake = "175928847299117063".parse().expect("parses");
        assert_eq!(id.timestamp_ms(), 1_462_015_105_796);
    }

    #[test]
    fn ids_serialize_as_strings_and_accept_strings_or_numbers() {
        let id = GuildId::new(41_771_983_423_143_937);
        assert_eq!(
            serde_json::to_string(&id).expect("ser"),
            "\"41771983423143937\""
        );
        let from_str: GuildId = serde_json::from_str("\"41771983423143937\"").expect("str");
        let from_num: GuildId = serde_json::from_str("41771983423143937").expect("num");
        assert_eq!(from_str, id);
        assert_eq!(from_num, id);
        assert!(serde_json::from_str::<GuildId>("\"12ab\"").is_err());
        assert!(serde_json::from_str::<GuildId>("-5").is_err());
    }

    #[test]
    fn generator_encodes_worker_process_and_increment() {
        let mut generator = SnowflakeGenerator::new(3, 7).expect("valid");
        let now = 1_700_000_000_000;
        let first = generator.next(now);
        let second = generator.next(now);
        assert_eq!(first.timestamp_ms(), now);
        assert_eq!((first.get() >> 17) & 0x1f, 3);
        assert_eq!((first.get() >> 12) & 0x1f, 7);
        assert_eq!(second.get() - first.get(), 1);
    }

    #[test]
    fn generator_never_repeats_or_goes_backwards() {
        let mut generator = SnowflakeGenerator::new(0, 0).expect("valid");
        let now = 1_700_000_000_000;
        let mut previous = generator.next(now);
        // 10,000 IDs in one millisecond overflow the 12-bit increment twice, and a
        // clock stepping back must not matter.
        for i in 0..10_000_u64 {
            let next = generator.next(now - (i % 3));
            assert!(next > previous, "{next:?} after {previous:?}");
            previous = next;
        }
    }

    #[test]
    fn generator_rejects_out_of_range_ids() {
        assert!(SnowflakeGenerator::new(32, 0).is_err());
        assert!(SnowflakeGenerator::new(0, 32).is_err());
    }
}

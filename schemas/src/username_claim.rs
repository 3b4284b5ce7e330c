//! Username claims: what makes usernames unique across every shard.
//!
//! Users are sharded by user id, so no single user aggregate can see whether a name
//! is free. Each username therefore has its own tiny aggregate, the *claim*
//! ([`crate::envelope::AggregateType::UsernameClaim`]), whose id is
//! [`claim_id`] of the normalized name: every request for the same name lands on the
//! same single writer, which decides who holds it.
//!
//! **Registration** (orchestrated by command-api's HTTP layer):
//! 1. normalize the requested name ([`normalize_username`]) and assign the user id;
//! 2. `ClaimUsername { username, user_id }` on claim `claim_id(name)` — refused with
//!    `USERNAME_ALREADY_TAKEN` when someone else holds it;
//! 3. `RegisterUser` on the user aggregate.
//!
//! **Renaming**: claim the new name, then `ModifyCurrentUser { username }` on the
//! user, then `ReleaseUsername` on the old name's claim.
//!
//! If a later step fails, the HTTP layer releases the claim it just took
//! (`ReleaseUsername`, actor System). If command-api dies between the steps, a
//! claim is left held by a user who never registered (or never switched to it);
//! such orphans are harmless for correctness (the name is merely unavailable) and
//! are repaired by a sweep that compares claims with the users' current names and
//! releases the strays as System.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::ids::{Snowflake, UserId};

/// Fewest characters in a username.
pub const MIN_USERNAME_LEN: usize = 2;
/// Most characters in a username.
pub const MAX_USERNAME_LEN: usize = 32;

/// Discord's error code when a username is held by someone else.
pub const USERNAME_ALREADY_TAKEN: &str = "USERNAME_ALREADY_TAKEN";
/// Discord's text for [`USERNAME_ALREADY_TAKEN`].
pub const USERNAME_ALREADY_TAKEN_MESSAGE: &str =
    "Username is unavailable. Try adding numbers, letters, underscores _ , or periods.";

/// Why a requested username cannot be used at all (as opposed to being taken).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.message())]
pub enum InvalidUsername {
    /// Fewer than 2 or more than 32 characters.
    BadLength,
    /// A character other than `a-z`, `0-9`, `_` and `.`.
    InvalidCharacters,
    /// Two periods in a row.
    ConsecutivePeriods,
    /// Contains `discord`, or is `everyone` or `here` (Discord's reserved names).
    Reserved,
}

impl InvalidUsername {
    /// The `message` of this error inside Discord's `_errors` list.
    pub const fn message(self) -> &'static str {
        match self {
            Self::BadLength => "Must be between 2 and 32 in length.",
            Self::InvalidCharacters => {
                "Please only use numbers, letters, underscores _ , or periods."
            }
            Self::ConsecutivePeriods => "Username cannot contain consecutive periods.",
            Self::Reserved => "Username is unavailable.",
        }
    }

    /// The `code` of this error inside Discord's `_errors` list.
    pub const fn code(self) -> &'static str {
        match self {
            Self::BadLength => "BASE_TYPE_BAD_LENGTH",
            Self::InvalidCharacters => "USERNAME_INVALID_CHARACTERS",
            Self::ConsecutivePeriods => "USERNAME_INVALID_CONSECUTIVE_PERIODS",
            Self::Reserved => "USERNAME_INVALID_CONTAINS",
        }
    }

    /// Discord's nested form errors for the `username` field.
    pub fn form_errors(self) -> serde_json::Value {
        username_form_error(self.code(), self.message())
    }
}

/// `{"username": {"_errors": [{"code": …, "message": …}]}}`, Discord's shape for one
/// error on the `username` field of an Invalid Form Body (50035).
pub fn username_form_error(code: &str, message: &str) -> serde_json::Value {
    json!({ "username": { "_errors": [{ "code": code, "message": message }] } })
}

/// The form errors of a username held by someone else.
pub fn username_taken_errors() -> serde_json::Value {
    username_form_error(USERNAME_ALREADY_TAKEN, USERNAME_ALREADY_TAKEN_MESSAGE)
}

/// The canonical form of a username under Discord's rules for unique usernames:
/// surrounding whitespace trimmed, lowercased, then 2–32 characters of `a-z`,
/// `0-9`, `_` and `.`, never two periods in a row, never containing `discord`, and
/// neither `everyone` nor `here`.
///
/// `Nelly.Dev` and `nelly.dev` are the same username; the normalized form is what
/// is stored, displayed and hashed into [`claim_id`].
pub fn normalize_username(raw: &str) -> Result<String, InvalidUsername> {
    let name = raw.trim().to_lowercase();
    if !(MIN_USERNAME_LEN..=MAX_USERNAME_LEN).contains(&name.chars().count()) {
        return Err(InvalidUsername::BadLength);
    }
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.';
    if !name.chars().all(allowed) {
        return Err(InvalidUsername::InvalidCharacters);
    }
    if name.contains("..") {
        return Err(InvalidUsername::ConsecutivePeriods);
    }
    if name.contains("discord") || name == "everyone" || name == "here" {
        return Err(InvalidUsername::Reserved);
    }
    Ok(name)
}

/// The id of the claim aggregate for a *normalized* username.
///
/// Recipe (stable forever — data teams recompute it): take the SHA-256 digest of
/// the normalized username's UTF-8 bytes, read its first 8 bytes as a big-endian
/// unsigned 64-bit integer, and clear the top bit (so it fits a signed 64-bit
/// column too). In Python:
/// `int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") & (2**63 - 1)`.
///
/// Two names sharing a claim id (a 63-bit collision) are safe: the claim stores
/// its name, and a claim for a different name on an occupied id is refused as
/// taken.
pub fn claim_id(normalized: &str) -> Snowflake {
    let digest = Sha256::digest(normalized.as_bytes());
    let first = digest
        .iter()
        .take(8)
        .fold(0_u64, |acc, byte| (acc << 8) | u64::from(*byte));
    Snowflake::new(first & (u64::MAX >> 1))
}

/// What can be asked of a username claim.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum UsernameClaimCommand {
    /// Reserve the name for `user_id`. Claiming a name one already holds succeeds
    /// and changes nothing.
    ClaimUsername {
        /// The username, normalized ([`normalize_username`]).
        username: String,
        /// Who will hold it.
        user_id: UserId,
    },
    /// Give the name up (its holder, or CloudCord itself when repairing).
    ReleaseUsername,
}

/// The username is held by `user_id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UsernameClaimed {
    /// The normalized username.
    pub username: String,
    /// Its holder.
    pub user_id: UserId,
}

/// The username is free again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UsernameReleased {
    /// The normalized username.
    pub username: String,
    /// Who held it until now.
    pub user_id: UserId,
}

crate::event_enum! {
    /// What happened to a username claim.
    pub enum UsernameClaimEvent {
        UsernameClaimed = 1,
        UsernameReleased = 1,
    }
}

#[cfg(test)]
mod tests {
    use super::{InvalidUsername, claim_id, normalize_username};

    #[test]
    fn usernames_are_trimmed_and_lowercased() {
        assert_eq!(
            normalize_username("  Nelly.Dev_42 ").as_deref(),
            Ok("nelly.dev_42")
        );
    }

    #[test]
    fn usernames_have_2_to_32_characters() {
        assert_eq!(normalize_username("a"), Err(InvalidUsername::BadLength));
        assert_eq!(
            normalize_username(&"a".repeat(33)),
            Err(InvalidUsername::BadLength)
        );
        assert!(normalize_username("ab").is_ok());
        assert!(normalize_username(&"a".repeat(32)).is_ok());
    }

    #[test]
    fn usernames_use_only_letters_digits_underscores_and_periods() {
        for bad in ["nel ly", "nelly!", "nélly", "nelly#1337", "ne-lly"] {
            assert_eq!(
                normalize_username(bad),
                Err(InvalidUsername::InvalidCharacters),
                "{bad}"
            );
        }
    }

    #[test]
    fn usernames_never_have_two_periods_in_a_row() {
        assert_eq!(
            normalize_username("nel..ly"),
            Err(InvalidUsername::ConsecutivePeriods)
        );
        assert!(normalize_username("n.e.l.l.y").is_ok());
    }

    #[test]
    fn reserved_usernames_are_refused() {
        for bad in ["discord", "mydiscordbot", "everyone", "Here"] {
            assert_eq!(
                normalize_username(bad),
                Err(InvalidUsername::Reserved),
                "{bad}"
            );
        }
    }

    #[test]
    fn claim_ids_are_the_documented_hash() {
        // Fixed vectors, computed independently with Python's hashlib (see the docs).
        assert_eq!(claim_id("nelly").get(), 6_284_300_856_714_187_970);
        assert_eq!(claim_id("wumpus").get(), 2_070_625_821_871_707_568);
        assert!(claim_id("anything").get() < 1 << 63);
    }

    #[test]
    fn invalid_usernames_render_discords_nested_form_errors() {
        assert_eq!(
            InvalidUsername::BadLength.form_errors(),
            serde_json::json!({"username": {"_errors": [{
                "code": "BASE_TYPE_BAD_LENGTH",
                "message": "Must be between 2 and 32 in length."
            }]}})
        );
    }
}

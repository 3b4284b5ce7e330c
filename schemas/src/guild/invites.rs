//! Invites: the codec that lets command-api find a guild from an invite code alone,
//! and the invite events.
//!
//! # Invite codes
//!
//! ```text
//! code = base62(guild_id) zero-padded to 11 characters ++ 6 random base62 characters
//! ```
//!
//! Base62 uses the digits `0-9A-Za-z` in that order, most significant first. A
//! 64-bit id needs at most 11 base62 digits, so every code is 17 characters long.
//! The random part (from command-api's random source, passed to
//! [`new_invite_code`]) makes codes unguessable per guild; the guild part lets
//! `POST /invites/{code}` route the accept command to the guild's shard without a
//! lookup.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ids::{ChannelId, GuildId, UserId};

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Characters of the guild part of a code.
pub const GUILD_PART_LEN: usize = 11;

/// Characters of the random part of a code.
pub const RANDOM_PART_LEN: usize = 6;

/// Characters of a whole invite code.
pub const INVITE_CODE_LEN: usize = GUILD_PART_LEN + RANDOM_PART_LEN;

/// Longest `max_age`, in seconds (7 days); 0 means never expires.
pub const MAX_INVITE_AGE_SECONDS: u32 = 604_800;

/// Default `max_age`, in seconds (24 hours).
pub const DEFAULT_INVITE_AGE_SECONDS: u32 = 86_400;

/// Most `max_uses`; 0 means unlimited.
pub const MAX_INVITE_USES: u32 = 100;

/// Most live invites per guild (JSON error 30016).
pub const MAX_INVITES: usize = 1000;

fn push_base62(out: &mut String, mut value: u64, width: usize) {
    let mut digits = vec![b'0'; width];
    for slot in digits.iter_mut().rev() {
        // `value % 62` is below 62, so the index is in range and fits in usize.
        *slot = ALPHABET[usize::from(u8::try_from(value % 62).unwrap_or(0))];
        value /= 62;
    }
    out.extend(digits.into_iter().map(char::from));
}

fn base62_digit(byte: u8) -> Option<u64> {
    ALPHABET
        .iter()
        .position(|&b| b == byte)
        .and_then(|i| u64::try_from(i).ok())
}

/// A new invite code for `guild`, its random part taken from `random`.
pub fn new_invite_code(guild: GuildId, random: u64) -> String {
    let mut code = String::with_capacity(INVITE_CODE_LEN);
    push_base62(&mut code, guild.get(), GUILD_PART_LEN);
    // 62^6 values for the random part.
    push_base62(&mut code, random % 56_800_235_584, RANDOM_PART_LEN);
    code
}

/// The guild an invite code belongs to, or `None` if it is no CloudCord invite code.
pub fn guild_of_invite(code: &str) -> Option<GuildId> {
    let bytes = code.as_bytes();
    if bytes.len() != INVITE_CODE_LEN {
        return None;
    }
    if !bytes[GUILD_PART_LEN..]
        .iter()
        .all(|&b| base62_digit(b).is_some())
    {
        return None;
    }
    let mut value: u64 = 0;
    for &byte in &bytes[..GUILD_PART_LEN] {
        value = value.checked_mul(62)?.checked_add(base62_digit(byte)?)?;
    }
    Some(GuildId::new(value))
}

/// An invite was created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct InviteCreated {
    /// The code.
    pub code: String,
    /// The channel it leads to.
    pub channel_id: ChannelId,
    /// Who made it.
    pub inviter_id: UserId,
    /// Seconds it is valid for (0: forever).
    pub max_age: u32,
    /// How many times it may be used (0: unlimited).
    pub max_uses: u32,
    /// Whether it grants temporary membership.
    pub temporary: bool,
    /// When it was made.
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String")]
    pub created_at: OffsetDateTime,
}

/// An invite was deleted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct InviteRevoked {
    /// The code.
    pub code: String,
    /// The channel it led to.
    pub channel_id: ChannelId,
}

#[cfg(test)]
mod tests {
    use super::{INVITE_CODE_LEN, guild_of_invite, new_invite_code};
    use crate::ids::GuildId;

    #[test]
    fn an_invite_code_names_its_guild() {
        for raw in [0, 1, 41_771_983_423_143_937, u64::MAX] {
            let guild = GuildId::new(raw);
            for random in [0, 7, u64::MAX] {
                let code = new_invite_code(guild, random);
                assert_eq!(code.len(), INVITE_CODE_LEN, "{code}");
                assert!(code.bytes().all(|b| b.is_ascii_alphanumeric()), "{code}");
                assert_eq!(guild_of_invite(&code), Some(guild), "{code}");
            }
        }
    }

    #[test]
    fn random_parts_differ_and_the_guild_part_is_zero_padded() {
        let guild = GuildId::new(61);
        assert_eq!(new_invite_code(guild, 0), "0000000000z000000");
        assert_ne!(new_invite_code(guild, 1), new_invite_code(guild, 2));
    }

    #[test]
    fn what_is_not_an_invite_code_names_no_guild() {
        assert_eq!(guild_of_invite(""), None);
        assert_eq!(guild_of_invite("discord-gg"), None);
        assert_eq!(guild_of_invite("0000000000z00000!"), None);
        // Eleven 'z's overflow 64 bits.
        assert_eq!(guild_of_invite("zzzzzzzzzzz000000"), None);
    }
}

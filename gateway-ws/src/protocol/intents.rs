//! Gateway intents: which groups of dispatches a session asked for, which of them are
//! privileged, and the check Identify's `intents` must pass.

use bitflags::bitflags;

use super::close_code::CloseCode;

bitflags! {
    /// Discord's "Gateway Intents" list. Bits 17–19, 22 and 23 are unassigned.
    ///
    /// In configuration it is written by name: `"GUILD_MEMBERS | MESSAGE_CONTENT"`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
    pub struct Intents: u64 {
        /// Guild, role, channel and thread lifecycle events.
        const GUILDS = 1 << 0;
        /// Privileged: member join, update and leave.
        const GUILD_MEMBERS = 1 << 1;
        /// Bans, unbans and audit log entries.
        const GUILD_MODERATION = 1 << 2;
        /// Emoji and sticker updates.
        const GUILD_EXPRESSIONS = 1 << 3;
        /// Integration updates.
        const GUILD_INTEGRATIONS = 1 << 4;
        /// Webhook updates.
        const GUILD_WEBHOOKS = 1 << 5;
        /// Invite creation and deletion.
        const GUILD_INVITES = 1 << 6;
        /// Voice state updates.
        const GUILD_VOICE_STATES = 1 << 7;
        /// Privileged: presence updates.
        const GUILD_PRESENCES = 1 << 8;
        /// Messages in guild channels.
        const GUILD_MESSAGES = 1 << 9;
        /// Reactions in guild channels.
        const GUILD_MESSAGE_REACTIONS = 1 << 10;
        /// Typing in guild channels.
        const GUILD_MESSAGE_TYPING = 1 << 11;
        /// Messages in DMs.
        const DIRECT_MESSAGES = 1 << 12;
        /// Reactions in DMs.
        const DIRECT_MESSAGE_REACTIONS = 1 << 13;
        /// Typing in DMs.
        const DIRECT_MESSAGE_TYPING = 1 << 14;
        /// Privileged: the content fields of messages (no events of its own).
        const MESSAGE_CONTENT = 1 << 15;
        /// Scheduled events.
        const GUILD_SCHEDULED_EVENTS = 1 << 16;
        /// Auto-moderation rule changes.
        const AUTO_MODERATION_CONFIGURATION = 1 << 20;
        /// Auto-moderation actions.
        const AUTO_MODERATION_EXECUTION = 1 << 21;
        /// Poll votes in guilds.
        const GUILD_MESSAGE_POLLS = 1 << 24;
        /// Poll votes in DMs.
        const DIRECT_MESSAGE_POLLS = 1 << 25;
    }
}

impl Intents {
    /// The intents an application must be allowed to use ("Privileged Intents").
    pub const PRIVILEGED: Self = Self::GUILD_MEMBERS
        .union(Self::GUILD_PRESENCES)
        .union(Self::MESSAGE_CONTENT);

    /// Parses Identify's `intents`: a bit that names no intent is 4013.
    pub fn parse(raw: u64) -> Result<Self, CloseCode> {
        Self::from_bits(raw).ok_or(CloseCode::InvalidIntents)
    }

    /// The privileged intents in `self` that `allowed` does not grant, if any
    /// (4014). Only bots are checked: a person's own client acts with the user's
    /// full rights, as Discord's first-party clients do.
    pub fn check_privileged(self, bot: bool, allowed: Self) -> Result<(), CloseCode> {
        let refused = self & Self::PRIVILEGED & !allowed;
        if bot && !refused.is_empty() {
            return Err(CloseCode::DisallowedIntents);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Intents;
    use crate::protocol::close_code::CloseCode;

    #[test]
    fn every_documented_intent_parses() {
        // The sum of every intent in Discord's list (bits 0–16, 20, 21, 24, 25).
        assert_eq!(Intents::parse(53_608_447), Ok(Intents::all()));
        assert_eq!(Intents::parse(0), Ok(Intents::empty()));
    }

    #[test]
    fn undefined_intent_bits_close_with_4013() {
        for bit in [17, 18, 19, 22, 23, 26, 63] {
            assert_eq!(
                Intents::parse(1 << bit),
                Err(CloseCode::InvalidIntents),
                "bit {bit}"
            );
        }
    }

    #[test]
    fn privileged_intents_a_bot_is_not_allowed_close_with_4014() {
        let asked = Intents::GUILDS | Intents::MESSAGE_CONTENT;
        assert_eq!(
            asked.check_privileged(true, Intents::GUILD_MEMBERS),
            Err(CloseCode::DisallowedIntents)
        );
        assert_eq!(asked.check_privileged(true, Intents::PRIVILEGED), Ok(()));
        assert_eq!(
            Intents::GUILDS.check_privileged(true, Intents::empty()),
            Ok(())
        );
    }

    #[test]
    fn people_may_use_privileged_intents() {
        assert_eq!(
            Intents::PRIVILEGED.check_privileged(false, Intents::empty()),
            Ok(())
        );
    }
}

//! Voice states: who is connected to which voice channel, muted or deafened.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ids::{ChannelId, UserId};

/// A member's voice connection, in Discord's voice state object's field names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct VoiceState {
    /// The member.
    pub user_id: UserId,
    /// The voice channel, or `None` once disconnected.
    pub channel_id: Option<ChannelId>,
    /// The gateway session that connected.
    pub session_id: Option<String>,
    /// Server-deafened.
    pub deaf: bool,
    /// Server-muted.
    pub mute: bool,
    /// Deafened by themselves.
    pub self_deaf: bool,
    /// Muted by themselves.
    pub self_mute: bool,
    /// Cannot speak: the member lacks `SPEAK` in the channel.
    pub suppress: bool,
}

impl VoiceState {
    /// The `session_id` of Discord's voice state object, which is a string: a join
    /// over REST has no gateway session, so it is empty rather than `null` (which
    /// Discord libraries such as twilight refuse).
    pub fn session_id_field(&self) -> &str {
        self.session_id.as_deref().unwrap_or_default()
    }
}

/// A member's voice state changed (joined, moved, left, muted, deafened); carries
/// the whole new state, as Discord's `VOICE_STATE_UPDATE` does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct VoiceStateUpdated {
    /// The new state; `channel_id: None` means disconnected.
    pub state: VoiceState,
}

//! The gateway's close codes (4000–4014) and what each lets a client do next.

/// Why the gateway closed a connection: Discord's "Gateway Close Event Codes".
///
/// 4006 is not in the table (Discord retired it), so it is not here either.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloseCode {
    /// 4000: something went wrong on our side (also a slow client whose queue
    /// overflowed, and a server shutting down): reconnect and resume.
    UnknownError,
    /// 4001: an opcode a client may not send.
    UnknownOpcode,
    /// 4002: not JSON, the wrong shape, or more than 4,096 bytes.
    DecodeError,
    /// 4003: a payload other than Heartbeat, Identify or Resume before identifying.
    NotAuthenticated,
    /// 4004: the token in Identify or Resume is not valid.
    AuthenticationFailed,
    /// 4005: a second Identify (or a Resume) on an identified connection.
    AlreadyAuthenticated,
    /// 4007: the `seq` of a Resume is not one this session can replay from.
    InvalidSeq,
    /// 4008: more than 120 payloads in 60 seconds.
    RateLimited,
    /// 4009: no heartbeat within the interval and its grace.
    SessionTimedOut,
    /// 4010: `shard` is not `[id, count]` with `id < count`.
    InvalidShard,
    /// 4011: the session would hold too many guilds without sharding.
    ShardingRequired,
    /// 4012: the `v` query parameter is not 10.
    InvalidApiVersion,
    /// 4013: `intents` has a bit that is no intent.
    InvalidIntents,
    /// 4014: a privileged intent the bot is not allowed to use.
    DisallowedIntents,
}

impl CloseCode {
    /// The number sent in the WebSocket close frame.
    pub const fn code(self) -> u16 {
        match self {
            Self::UnknownError => 4000,
            Self::UnknownOpcode => 4001,
            Self::DecodeError => 4002,
            Self::NotAuthenticated => 4003,
            Self::AuthenticationFailed => 4004,
            Self::AlreadyAuthenticated => 4005,
            Self::InvalidSeq => 4007,
            Self::RateLimited => 4008,
            Self::SessionTimedOut => 4009,
            Self::InvalidShard => 4010,
            Self::ShardingRequired => 4011,
            Self::InvalidApiVersion => 4012,
            Self::InvalidIntents => 4013,
            Self::DisallowedIntents => 4014,
        }
    }

    /// The close frame's reason text: the description in Discord's table.
    pub const fn reason(self) -> &'static str {
        match self {
            Self::UnknownError => "Unknown error",
            Self::UnknownOpcode => "Unknown opcode",
            Self::DecodeError => "Decode error",
            Self::NotAuthenticated => "Not authenticated",
            Self::AuthenticationFailed => "Authentication failed",
            Self::AlreadyAuthenticated => "Already authenticated",
            Self::InvalidSeq => "Invalid seq",
            Self::RateLimited => "Rate limited",
            Self::SessionTimedOut => "Session timed out",
            Self::InvalidShard => "Invalid shard",
            Self::ShardingRequired => "Sharding required",
            Self::InvalidApiVersion => "Invalid API version",
            Self::InvalidIntents => "Invalid intent(s)",
            Self::DisallowedIntents => "Disallowed intent(s)",
        }
    }

    /// The "Reconnect" column: whether a client may connect again after this code.
    /// The others (bad token, shard, version, intents) would fail the same way again.
    pub const fn reconnect(self) -> bool {
        !matches!(
            self,
            Self::AuthenticationFailed
                | Self::InvalidShard
                | Self::ShardingRequired
                | Self::InvalidApiVersion
                | Self::InvalidIntents
                | Self::DisallowedIntents
        )
    }

    /// Whether the session survives the close, so that a Resume on a new connection
    /// replays what was missed. Codes whose documented advice is to start a new
    /// session (4007, and every non-reconnect code) end it.
    pub const fn resumable(self) -> bool {
        self.reconnect() && !matches!(self, Self::InvalidSeq)
    }
}

#[cfg(test)]
mod tests {
    use super::CloseCode;

    const ALL: [CloseCode; 14] = [
        CloseCode::UnknownError,
        CloseCode::UnknownOpcode,
        CloseCode::DecodeError,
        CloseCode::NotAuthenticated,
        CloseCode::AuthenticationFailed,
        CloseCode::AlreadyAuthenticated,
        CloseCode::InvalidSeq,
        CloseCode::RateLimited,
        CloseCode::SessionTimedOut,
        CloseCode::InvalidShard,
        CloseCode::ShardingRequired,
        CloseCode::InvalidApiVersion,
        CloseCode::InvalidIntents,
        CloseCode::DisallowedIntents,
    ];

    #[test]
    fn close_codes_match_discords_table() {
        let table: Vec<(u16, bool)> = ALL
            .iter()
            .map(|code| (code.code(), code.reconnect()))
            .collect();
        assert_eq!(
            table,
            [
                (4000, true),
                (4001, true),
                (4002, true),
                (4003, true),
                (4004, false),
                (4005, true),
                (4007, true),
                (4008, true),
                (4009, true),
                (4010, false),
                (4011, false),
                (4012, false),
                (4013, false),
                (4014, false),
            ]
        );
    }

    #[test]
    fn invalid_seq_and_fatal_codes_end_the_session() {
        for code in ALL {
            let expected = code.reconnect() && code != CloseCode::InvalidSeq;
            assert_eq!(code.resumable(), expected, "{code:?}");
        }
    }
}

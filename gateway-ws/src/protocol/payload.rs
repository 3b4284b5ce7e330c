//! Gateway payloads: the opcodes, what a client may send (decoded and checked
//! here), and the frames the server sends (rendered here).
//!
//! Every payload is `{"op": …, "d": …, "s": …, "t": …}`; `s` and `t` are set only on
//! dispatches (op 0).

use std::fmt::{self, Write as _};
use std::num::NonZeroU16;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use cloudcord_schemas::ephemeral::Status;
use cloudcord_schemas::ids::{ChannelId, GuildId, UserId};

use super::close_code::CloseCode;
use super::intents::Intents;

/// Longest payload a client may send, in bytes ("Sending Events"): longer is 4002.
pub const MAX_CLIENT_PAYLOAD_BYTES: usize = 4096;

/// Gateway opcodes ("Gateway Opcodes").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opcode {
    /// 0, server → client: an event.
    Dispatch,
    /// 1, both ways: a heartbeat (from the server: a request for one).
    Heartbeat,
    /// 2, client → server: start a session.
    Identify,
    /// 3, client → server: change the client's presence.
    PresenceUpdate,
    /// 4, client → server: join, move between or leave voice channels.
    VoiceStateUpdate,
    /// 6, client → server: continue a session on a new connection.
    Resume,
    /// 7, server → client: reconnect and resume.
    Reconnect,
    /// 8, client → server: ask for a guild's members.
    RequestGuildMembers,
    /// 9, server → client: the session is invalid (`d`: whether it may be resumed).
    InvalidSession,
    /// 10, server → client: the first payload, with the heartbeat interval.
    Hello,
    /// 11, server → client: a heartbeat was received.
    HeartbeatAck,
    /// 31, client → server: ask for guilds' soundboard sounds.
    RequestSoundboardSounds,
}

impl Opcode {
    /// The opcode numbered `op`, if there is one.
    pub const fn from_number(op: u64) -> Option<Self> {
        Some(match op {
            0 => Self::Dispatch,
            1 => Self::Heartbeat,
            2 => Self::Identify,
            3 => Self::PresenceUpdate,
            4 => Self::VoiceStateUpdate,
            6 => Self::Resume,
            7 => Self::Reconnect,
            8 => Self::RequestGuildMembers,
            9 => Self::InvalidSession,
            10 => Self::Hello,
            11 => Self::HeartbeatAck,
            31 => Self::RequestSoundboardSounds,
            _ => return None,
        })
    }

    /// Its number on the wire.
    pub const fn number(self) -> u8 {
        match self {
            Self::Dispatch => 0,
            Self::Heartbeat => 1,
            Self::Identify => 2,
            Self::PresenceUpdate => 3,
            Self::VoiceStateUpdate => 4,
            Self::Resume => 6,
            Self::Reconnect => 7,
            Self::RequestGuildMembers => 8,
            Self::InvalidSession => 9,
            Self::Hello => 10,
            Self::HeartbeatAck => 11,
            Self::RequestSoundboardSounds => 31,
        }
    }
}

/// A payload a client sent, decoded.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientPayload {
    /// op 1 with the last `s` the client saw (`null` before the first dispatch).
    Heartbeat(Option<u64>),
    /// op 2.
    Identify(Identify),
    /// op 6.
    Resume(Resume),
    /// op 8.
    RequestGuildMembers(RequestGuildMembers),
    /// op 3.
    PresenceUpdate(PresenceUpdate),
    /// op 4.
    VoiceStateUpdate(VoiceStateUpdate),
    /// op 31: a valid request this gateway accepts but does not act on yet
    /// (soundboard requests come with their feature).
    Unhandled(Opcode),
}

/// Voice State Update (op 4): join or move to a voice channel of `guild_id`, or
/// leave its voice (`channel_id: null`), with self mute and deafen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct VoiceStateUpdate {
    /// The guild.
    pub guild_id: GuildId,
    /// The voice channel, or `None` to leave.
    pub channel_id: Option<ChannelId>,
    /// Muted by the user.
    #[serde(default)]
    pub self_mute: bool,
    /// Deafened by the user.
    #[serde(default)]
    pub self_deaf: bool,
}

/// Presence Update (op 3, and Identify's `presence`): what the session shows.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PresenceUpdate {
    /// Since when the client is idle (Unix ms), or `null`.
    #[serde(default)]
    pub since: Option<u64>,
    /// The activities (Discord's activity objects, kept as sent).
    #[serde(default)]
    pub activities: Vec<Value>,
    /// `online`, `dnd`, `idle`, `invisible` or `offline` (shown as invisible: the
    /// session is still there).
    pub status: Status,
    /// Whether the client is AFK.
    #[serde(default)]
    pub afk: bool,
}

impl PresenceUpdate {
    /// The status the session keeps: a client saying `offline` is invisible.
    pub fn status(&self) -> Status {
        match self.status {
            Status::Offline => Status::Invisible,
            status => status,
        }
    }
}

/// Identify (op 2) as a client sends it, shape-checked but not yet validated.
#[derive(Clone, PartialEq, Deserialize)]
pub struct Identify {
    /// A user's access token (a JWT) or a bot token (without `Bot `).
    pub token: String,
    /// The client's operating system, library and device.
    pub properties: ConnectionProperties,
    /// Whether the client wants payload compression (zlib per message).
    #[serde(default)]
    pub compress: bool,
    /// The member count above which GUILD_CREATE leaves offline members out.
    #[serde(default = "default_large_threshold")]
    pub large_threshold: u64,
    /// `[shard_id, num_shards]`.
    #[serde(default)]
    pub shard: Option<[u64; 2]>,
    /// The initial presence (online when absent).
    #[serde(default)]
    pub presence: Option<PresenceUpdate>,
    /// The raw intents bit set.
    pub intents: u64,
}

fn default_large_threshold() -> u64 {
    LARGE_THRESHOLD.start
}

/// The documented range of `large_threshold` (50 to 250).
pub const LARGE_THRESHOLD: std::ops::Range<u64> = 50..251;

impl fmt::Debug for Identify {
    // Tokens are credentials: never in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identify")
            .field("properties", &self.properties)
            .field("compress", &self.compress)
            .field("large_threshold", &self.large_threshold)
            .field("shard", &self.shard)
            .field("intents", &self.intents)
            .finish_non_exhaustive()
    }
}

/// Identify's `properties`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ConnectionProperties {
    /// Operating system.
    #[serde(default)]
    pub os: String,
    /// Library name.
    #[serde(default)]
    pub browser: String,
    /// Library name again (Discord's convention).
    #[serde(default)]
    pub device: String,
}

/// A shard of a bot's guilds: guild `g` belongs to shard `(g >> 22) % count`, and
/// DMs to shard 0 ("Sharding").
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shard {
    /// This shard's number, below `count`.
    pub id: u64,
    /// How many shards there are, at least 1.
    pub count: u64,
}

impl Shard {
    /// Checks Identify's `[shard_id, num_shards]` (4010 when impossible).
    pub fn parse([id, count]: [u64; 2]) -> Result<Self, CloseCode> {
        if count == 0 || id >= count {
            return Err(CloseCode::InvalidShard);
        }
        Ok(Self { id, count })
    }

    /// Whether `guild_id`'s events go to this shard.
    pub const fn owns_guild(self, guild_id: u64) -> bool {
        (guild_id >> 22) % self.count == self.id
    }

    /// Whether DMs go to this shard (only shard 0 receives them).
    pub const fn owns_direct_messages(self) -> bool {
        self.id == 0
    }

    /// Discord's `rate_limit_key`, `shard_id % max_concurrency`: shards with the
    /// same key start one at a time ("Sharding", "Session Start Limit Object").
    pub fn rate_limit_key(self, max_concurrency: NonZeroU16) -> u16 {
        let key = self.id % u64::from(max_concurrency.get());
        // A remainder of a division by a u16 is below it.
        u16::try_from(key).expect("a remainder fits its divisor's type")
    }
}

/// What Identify asks for, once its values are valid (a client's token is checked
/// by the driver, which can look it up).
#[derive(Clone, PartialEq)]
pub struct IdentifyRequest {
    /// The token, as sent.
    pub token: String,
    /// The intents.
    pub intents: Intents,
    /// The shard, when the client shards.
    pub shard: Option<Shard>,
    /// Within [`LARGE_THRESHOLD`].
    pub large_threshold: u64,
    /// Payload compression.
    pub compress: bool,
    /// The initial presence.
    pub presence: Option<PresenceUpdate>,
}

impl fmt::Debug for IdentifyRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdentifyRequest")
            .field("intents", &self.intents)
            .field("shard", &self.shard)
            .field("large_threshold", &self.large_threshold)
            .field("compress", &self.compress)
            .finish_non_exhaustive()
    }
}

impl Identify {
    /// Checks the values: intents (4013), shard (4010), `large_threshold` (4002).
    pub fn validate(self) -> Result<IdentifyRequest, CloseCode> {
        let intents = Intents::parse(self.intents)?;
        let shard = self.shard.map(Shard::parse).transpose()?;
        if !LARGE_THRESHOLD.contains(&self.large_threshold) {
            return Err(CloseCode::DecodeError);
        }
        Ok(IdentifyRequest {
            token: self.token,
            intents,
            shard,
            large_threshold: self.large_threshold,
            compress: self.compress,
            presence: self.presence,
        })
    }
}

/// Resume (op 6).
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct Resume {
    /// The token the session was identified with.
    pub token: String,
    /// READY's `session_id`.
    pub session_id: String,
    /// The last `s` the client received.
    pub seq: u64,
}

impl fmt::Debug for Resume {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resume")
            .field("session_id", &self.session_id)
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

/// Request Guild Members (op 8) as a client sends it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RequestGuildMembers {
    /// The guild.
    pub guild_id: GuildId,
    /// A username prefix; `""` with `limit` 0 asks for every member.
    #[serde(default)]
    pub query: Option<String>,
    /// Most members matching `query` (required with it).
    #[serde(default)]
    pub limit: Option<u64>,
    /// Whether presences are wanted (none are kept yet, so always empty).
    #[serde(default)]
    pub presences: bool,
    /// Which users, one or several.
    #[serde(default)]
    pub user_ids: Option<OneOrMany>,
    /// Echoed in the chunks when it is at most 32 bytes.
    #[serde(default)]
    pub nonce: Option<String>,
}

/// A snowflake or an array of them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    /// One user.
    One(UserId),
    /// Several users.
    Many(Vec<UserId>),
}

/// Longest nonce echoed in GUILD_MEMBERS_CHUNK ("up to 32 bytes").
const MAX_NONCE_BYTES: usize = 32;

/// Most members a prefix query or a user list returns.
pub const MAX_MEMBERS_PER_QUERY: u64 = 100;

/// What a member request asks for, once valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRequest {
    /// The guild.
    pub guild_id: GuildId,
    /// Which members.
    pub members: MemberSelection,
    /// The nonce to echo, if valid.
    pub nonce: Option<String>,
}

/// Which members a request selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberSelection {
    /// Every member (needs GUILD_MEMBERS).
    All,
    /// Members whose username starts with the prefix (case-insensitive), at most
    /// `limit`.
    Prefix {
        /// The lower-cased prefix.
        prefix: String,
        /// At most this many (1 to 100).
        limit: u64,
    },
    /// These users (at most 100).
    Users(Vec<UserId>),
}

impl RequestGuildMembers {
    /// Checks the shape: `query` (with `limit`) or `user_ids`, else 4002.
    pub fn validate(self) -> Result<MemberRequest, CloseCode> {
        let members = match (self.query, self.limit, self.user_ids) {
            (_, _, Some(users)) => {
                let mut users = match users {
                    OneOrMany::One(user) => vec![user],
                    OneOrMany::Many(users) => users,
                };
                users.truncate(usize::try_from(MAX_MEMBERS_PER_QUERY).unwrap_or(usize::MAX));
                MemberSelection::Users(users)
            }
            (Some(query), Some(0), None) if query.is_empty() => MemberSelection::All,
            (Some(query), Some(limit), None) => MemberSelection::Prefix {
                prefix: query.to_lowercase(),
                limit: limit.clamp(1, MAX_MEMBERS_PER_QUERY),
            },
            _ => return Err(CloseCode::DecodeError),
        };
        Ok(MemberRequest {
            guild_id: self.guild_id,
            members,
            nonce: self.nonce.filter(|nonce| nonce.len() <= MAX_NONCE_BYTES),
        })
    }
}

#[derive(Deserialize)]
struct Envelope {
    op: Value,
    #[serde(default)]
    d: Value,
}

/// Decodes what a client sent, or says which close code it earns: over 4,096 bytes,
/// not JSON, or the wrong shape → 4002; an opcode that does not exist or that only
/// the server sends → 4001.
pub fn decode(bytes: &[u8]) -> Result<ClientPayload, CloseCode> {
    if bytes.len() > MAX_CLIENT_PAYLOAD_BYTES {
        return Err(CloseCode::DecodeError);
    }
    let envelope: Envelope = serde_json::from_slice(bytes).map_err(|_| CloseCode::DecodeError)?;
    let op = envelope.op.as_u64().ok_or(CloseCode::DecodeError)?;
    let opcode = Opcode::from_number(op).ok_or(CloseCode::UnknownOpcode)?;
    match opcode {
        Opcode::Heartbeat => match envelope.d {
            Value::Null => Ok(ClientPayload::Heartbeat(None)),
            d => d
                .as_u64()
                .map(|seq| ClientPayload::Heartbeat(Some(seq)))
                .ok_or(CloseCode::DecodeError),
        },
        Opcode::Identify => data(envelope.d).map(ClientPayload::Identify),
        Opcode::Resume => data(envelope.d).map(ClientPayload::Resume),
        Opcode::RequestGuildMembers => data(envelope.d).map(ClientPayload::RequestGuildMembers),
        Opcode::PresenceUpdate => data(envelope.d).map(ClientPayload::PresenceUpdate),
        Opcode::VoiceStateUpdate => data(envelope.d).map(ClientPayload::VoiceStateUpdate),
        Opcode::RequestSoundboardSounds => Ok(ClientPayload::Unhandled(opcode)),
        Opcode::Dispatch
        | Opcode::Reconnect
        | Opcode::InvalidSession
        | Opcode::Hello
        | Opcode::HeartbeatAck => Err(CloseCode::UnknownOpcode),
    }
}

fn data<T: DeserializeOwned>(d: Value) -> Result<T, CloseCode> {
    serde_json::from_value(d).map_err(|_| CloseCode::DecodeError)
}

/// Renders a payload without `s` and `t`: `d` is already JSON text.
fn control(op: Opcode, d: &str) -> String {
    format!(r#"{{"op":{},"d":{d},"s":null,"t":null}}"#, op.number())
}

/// Hello (op 10).
pub fn hello(heartbeat_interval_ms: u64) -> String {
    control(
        Opcode::Hello,
        &format!(r#"{{"heartbeat_interval":{heartbeat_interval_ms}}}"#),
    )
}

/// Heartbeat ACK (op 11).
pub fn heartbeat_ack() -> String {
    control(Opcode::HeartbeatAck, "null")
}

/// A server-requested heartbeat (op 1): the client must answer with one at once.
pub fn heartbeat_request() -> String {
    control(Opcode::Heartbeat, "null")
}

/// Reconnect (op 7).
pub fn reconnect() -> String {
    control(Opcode::Reconnect, "null")
}

/// Invalid Session (op 9): `resumable` is `d`.
pub fn invalid_session(resumable: bool) -> String {
    control(
        Opcode::InvalidSession,
        if resumable { "true" } else { "false" },
    )
}

/// Bytes a dispatch frame has besides its `t` and `d`, at most (a 20-digit `s`).
pub const DISPATCH_FRAMING: usize = r#"{"op":0,"d":,"s":,"t":""}"#.len() + 20;

/// A dispatch (op 0) of `event` with sequence number `seq`; `d` is JSON text.
pub fn dispatch(event: &str, seq: u64, d: &str) -> String {
    // Sized once: this runs for every frame a connection writes.
    let mut frame = String::with_capacity(DISPATCH_FRAMING + event.len() + d.len());
    let _ = write!(frame, r#"{{"op":0,"d":{d},"s":{seq},"t":"{event}"}}"#);
    frame
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU16;

    use serde_json::{Value, json};

    use cloudcord_schemas::ephemeral::Status;

    use super::{ClientPayload, Opcode, Shard, decode};
    use crate::protocol::close_code::CloseCode;
    use crate::protocol::intents::Intents;

    fn identify(d: Value) -> Vec<u8> {
        json!({ "op": 2, "d": d }).to_string().into_bytes()
    }

    fn identify_data() -> Value {
        json!({
            "token": "t",
            "properties": { "os": "linux", "browser": "twilight", "device": "twilight" },
            "intents": 513,
        })
    }

    #[test]
    fn heartbeat_carries_the_last_seq_or_null() {
        assert_eq!(
            decode(br#"{"op":1,"d":null}"#),
            Ok(ClientPayload::Heartbeat(None))
        );
        assert_eq!(
            decode(br#"{"op":1,"d":251}"#),
            Ok(ClientPayload::Heartbeat(Some(251)))
        );
        // Missing `d` is null, as serde reads it.
        assert_eq!(decode(br#"{"op":1}"#), Ok(ClientPayload::Heartbeat(None)));
        assert_eq!(decode(br#"{"op":1,"d":"x"}"#), Err(CloseCode::DecodeError));
    }

    #[test]
    fn identify_decodes_with_documented_defaults() {
        let Ok(ClientPayload::Identify(identify)) = decode(&identify(identify_data())) else {
            panic!("identify decodes");
        };
        let request = identify.validate().expect("valid");
        assert_eq!(request.intents, Intents::GUILDS | Intents::GUILD_MESSAGES);
        assert_eq!(request.large_threshold, 50);
        assert_eq!(request.shard, None);
        assert!(!request.compress);
    }

    #[test]
    fn invalid_json_closes_with_4002() {
        for bad in [
            &b"{"[..],
            b"not json",
            b"[]",
            b"{\"d\":1}",
            b"{\"op\":\"1\"}",
            b"\xff",
        ] {
            assert_eq!(decode(bad), Err(CloseCode::DecodeError), "{bad:?}");
        }
    }

    #[test]
    fn identify_of_the_wrong_shape_closes_with_4002() {
        let mut no_token = identify_data();
        no_token["token"].take();
        let mut no_intents = identify_data();
        no_intents
            .as_object_mut()
            .expect("object")
            .remove("intents");
        for d in [no_token, no_intents, json!("token"), Value::Null] {
            assert_eq!(decode(&identify(d)), Err(CloseCode::DecodeError));
        }
    }

    #[test]
    fn payload_over_4096_bytes_closes_with_4002() {
        let mut d = identify_data();
        d["properties"]["os"] = json!("x".repeat(4096));
        assert_eq!(decode(&identify(d)), Err(CloseCode::DecodeError));
        // Exactly 4,096 bytes is allowed.
        let padding = 4096 - br#"{"op":1,"d":null,"x":""}"#.len();
        let exact = format!(r#"{{"op":1,"d":null,"x":"{}"}}"#, "y".repeat(padding));
        assert_eq!(exact.len(), 4096);
        assert_eq!(decode(exact.as_bytes()), Ok(ClientPayload::Heartbeat(None)));
    }

    #[test]
    fn unknown_and_server_only_opcodes_close_with_4001() {
        for op in [0, 5, 7, 9, 10, 11, 12, 99] {
            let payload = format!(r#"{{"op":{op},"d":null}}"#);
            assert_eq!(
                decode(payload.as_bytes()),
                Err(CloseCode::UnknownOpcode),
                "op {op}"
            );
        }
    }

    #[test]
    fn presence_updates_decode_and_offline_means_invisible() {
        let payload = br#"{"op":3,"d":{"since":null,"activities":[{"name":"chess","type":0}],"status":"offline","afk":false}}"#;
        let Ok(ClientPayload::PresenceUpdate(update)) = decode(payload) else {
            panic!("a presence update");
        };
        assert_eq!(update.activities, [json!({"name": "chess", "type": 0})]);
        assert_eq!(update.status(), Status::Invisible);
        assert_eq!(
            decode(br#"{"op":3,"d":{"status":"sleeping"}}"#),
            Err(CloseCode::DecodeError)
        );
    }

    #[test]
    fn soundboard_requests_are_accepted_but_not_acted_on() {
        assert_eq!(
            decode(br#"{"op":31,"d":{}}"#),
            Ok(ClientPayload::Unhandled(Opcode::RequestSoundboardSounds))
        );
    }

    #[test]
    fn a_voice_state_update_names_a_guild_and_a_channel_or_null() {
        let join = br#"{"op":4,"d":{"guild_id":"41","channel_id":"42","self_mute":true,"self_deaf":false}}"#;
        assert_eq!(
            decode(join),
            Ok(ClientPayload::VoiceStateUpdate(super::VoiceStateUpdate {
                guild_id: cloudcord_schemas::ids::GuildId::new(41),
                channel_id: Some(cloudcord_schemas::ids::ChannelId::new(42)),
                self_mute: true,
                self_deaf: false,
            }))
        );
        let leave = br#"{"op":4,"d":{"guild_id":"41","channel_id":null}}"#;
        assert!(matches!(
            decode(leave),
            Ok(ClientPayload::VoiceStateUpdate(update)) if update.channel_id.is_none()
        ));
        assert_eq!(
            decode(br#"{"op":4,"d":{"channel_id":"42"}}"#),
            Err(CloseCode::DecodeError),
            "a guild is required"
        );
    }

    fn member_request(d: Value) -> Result<super::MemberRequest, CloseCode> {
        let payload = json!({ "op": 8, "d": d }).to_string();
        match decode(payload.as_bytes())? {
            ClientPayload::RequestGuildMembers(request) => request.validate(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn member_requests_select_all_a_prefix_or_users() {
        use super::MemberSelection;
        use cloudcord_schemas::ids::UserId;

        let all = member_request(json!({ "guild_id": "1", "query": "", "limit": 0 }));
        assert_eq!(all.map(|r| r.members), Ok(MemberSelection::All));
        let prefix = member_request(json!({ "guild_id": "1", "query": "Al", "limit": 500 }));
        assert_eq!(
            prefix.map(|r| r.members),
            Ok(MemberSelection::Prefix {
                prefix: "al".into(),
                limit: 100
            })
        );
        let one = member_request(json!({ "guild_id": "1", "user_ids": "7", "nonce": "n" }))
            .expect("valid");
        assert_eq!(one.members, MemberSelection::Users(vec![UserId::new(7)]));
        assert_eq!(one.nonce.as_deref(), Some("n"));
        let many = member_request(json!({ "guild_id": "1", "user_ids": ["7", "8"] }));
        assert_eq!(
            many.map(|r| r.members),
            Ok(MemberSelection::Users(vec![UserId::new(7), UserId::new(8)]))
        );
    }

    #[test]
    fn a_member_request_without_query_or_users_closes_with_4002() {
        for d in [
            json!({ "guild_id": "1" }),
            json!({ "guild_id": "1", "query": "a" }),
            json!({ "query": "", "limit": 0 }),
        ] {
            assert_eq!(member_request(d), Err(CloseCode::DecodeError));
        }
    }

    #[test]
    fn a_nonce_over_32_bytes_is_not_echoed() {
        let request = member_request(
            json!({ "guild_id": "1", "query": "", "limit": 0, "nonce": "x".repeat(33) }),
        )
        .expect("valid");
        assert_eq!(request.nonce, None);
    }

    #[test]
    fn a_shards_rate_limit_key_is_its_id_modulo_max_concurrency() {
        let sixteen = NonZeroU16::new(16).expect("non-zero");
        let keys: Vec<u16> = [0, 15, 16, 17]
            .into_iter()
            .map(|id| Shard { id, count: 32 }.rate_limit_key(sixteen))
            .collect();
        assert_eq!(keys, [0, 15, 0, 1]);
        assert_eq!(
            Shard { id: 5, count: 8 }.rate_limit_key(NonZeroU16::MIN),
            0,
            "max_concurrency 1: one bucket"
        );
    }

    #[test]
    fn invalid_shard_closes_with_4010() {
        assert_eq!(Shard::parse([0, 0]), Err(CloseCode::InvalidShard));
        assert_eq!(Shard::parse([2, 2]), Err(CloseCode::InvalidShard));
        // Guild 41771983423143937's timestamp part is 9959216934: even, so shard 0 of 2.
        let (first, second) = (
            Shard::parse([0, 2]).expect("valid"),
            Shard::parse([1, 2]).expect("valid"),
        );
        assert!(first.owns_guild(41_771_983_423_143_937));
        assert!(!second.owns_guild(41_771_983_423_143_937));
        assert!(first.owns_direct_messages());
        assert!(!second.owns_direct_messages());
        let mut d = identify_data();
        d["shard"] = json!([3, 2]);
        let Ok(ClientPayload::Identify(identify)) = decode(&identify(d)) else {
            panic!("decodes");
        };
        assert_eq!(identify.validate(), Err(CloseCode::InvalidShard));
    }

    #[test]
    fn identify_with_undefined_intents_closes_with_4013() {
        let mut d = identify_data();
        d["intents"] = json!(1u64 << 40);
        let Ok(ClientPayload::Identify(identify)) = decode(&identify(d)) else {
            panic!("decodes");
        };
        assert_eq!(identify.validate(), Err(CloseCode::InvalidIntents));
    }

    #[test]
    fn large_threshold_outside_50_to_250_closes_with_4002() {
        for (threshold, ok) in [(49, false), (50, true), (250, true), (251, false)] {
            let mut d = identify_data();
            d["large_threshold"] = json!(threshold);
            let Ok(ClientPayload::Identify(identify)) = decode(&identify(d)) else {
                panic!("decodes");
            };
            assert_eq!(identify.validate().is_ok(), ok, "{threshold}");
        }
    }

    #[test]
    fn server_frames_have_op_d_s_t() {
        let hello: Value = serde_json::from_str(&super::hello(41_250)).expect("json");
        assert_eq!(
            hello,
            json!({"op": 10, "d": {"heartbeat_interval": 41250}, "s": null, "t": null})
        );
        let dispatch: Value =
            serde_json::from_str(&super::dispatch("READY", 1, r#"{"v":10}"#)).expect("json");
        assert_eq!(
            dispatch,
            json!({"op": 0, "d": {"v": 10}, "s": 1, "t": "READY"})
        );
        for (frame, op, d) in [
            (super::heartbeat_ack(), 11, Value::Null),
            (super::heartbeat_request(), 1, Value::Null),
            (super::reconnect(), 7, Value::Null),
            (super::invalid_session(true), 9, json!(true)),
            (super::invalid_session(false), 9, json!(false)),
        ] {
            let value: Value = serde_json::from_str(&frame).expect("json");
            assert_eq!(value, json!({"op": op, "d": d, "s": null, "t": null}));
        }
    }
}

//! [`Connection`]: the state machine of one WebSocket, sans I/O.
//!
//! # Calling contract
//!
//! The driver owns the socket and the clock; this type owns the rules. It never
//! blocks, never reads a clock and never sees a socket:
//!
//! 1. Create it with [`Connection::new`] when the socket opens; it queues Hello.
//! 2. Feed every client message to [`Connection::handle_message`] and call
//!    [`Connection::handle_timeout`] when [`Connection::poll_timeout`]'s instant
//!    passes, always with the current `now`.
//! 3. After each call, drain [`Connection::poll_output`] until `None` and act on each
//!    [`Output`] in order: send a frame, check an Identify or a Resume (which needs
//!    token verification and the session registry, so it is the driver's), or close.
//! 4. Answer [`Output::Identify`] with [`Connection::identified`],
//!    [`Connection::session_invalid`] or [`Connection::close`], and
//!    [`Output::Resume`] with [`Connection::resumed`],
//!    [`Connection::session_invalid`] or [`Connection::close`].
//!
//! Bad input is never a panic: it becomes [`Output::Close`] with Discord's code,
//! after which the connection ignores everything.
//!
//! Dispatches do not pass through here: they are numbered by the
//! [`Session`](super::session::Session) and written by the driver, in the order it
//! receives them.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::close_code::CloseCode;
use super::payload::{
    self, ClientPayload, IdentifyRequest, MemberRequest, PresenceUpdate, Resume, VoiceStateUpdate,
};

/// The timing and flood rules of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionConfig {
    /// Hello's `heartbeat_interval`.
    pub heartbeat_interval: Duration,
    /// How long past the interval a heartbeat may be late before the connection is
    /// a zombie and closed (4009). Halfway through the grace the server asks for a
    /// heartbeat (op 1), so a client that lost its timer gets one nudge.
    pub heartbeat_grace: Duration,
    /// Most payloads a client may send per [`Self::rate_window`] (Discord: 120).
    pub rate_limit: u32,
    /// The rate limit's window (Discord: 60 s).
    pub rate_window: Duration,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        Self {
            heartbeat_interval: Duration::from_millis(41_250),
            heartbeat_grace: Duration::from_secs(10),
            rate_limit: 120,
            rate_window: Duration::from_secs(60),
        }
    }
}

/// What the driver must do next.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Send this frame (JSON text).
    Send(String),
    /// Verify this Identify's token, check its privileged intents and session
    /// start limit and create the session; then call [`Connection::identified`],
    /// [`Connection::session_invalid`] or [`Connection::close`].
    Identify(IdentifyRequest),
    /// Find the session, check that the token is its owner's and replay; then call
    /// [`Connection::resumed`], [`Connection::session_invalid`] or
    /// [`Connection::close`].
    Resume(Resume),
    /// Send the session GUILD_MEMBERS_CHUNKs for this request (identified
    /// connections only).
    RequestGuildMembers(MemberRequest),
    /// The client has every dispatch up to this `s` (a heartbeat said so): the
    /// session need not keep them for Resume.
    Acknowledge(u64),
    /// The session's presence changes (identified connections only).
    UpdatePresence(PresenceUpdate),
    /// The session's user joins, moves or leaves voice (identified connections
    /// only).
    UpdateVoiceState(VoiceStateUpdate),
    /// Close the socket with this code. Nothing follows it.
    Close(CloseCode),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Hello sent; Identify or Resume expected.
    AwaitingIdentify,
    /// An Identify or a Resume is being checked by the driver.
    Authenticating,
    /// Identified or resumed: dispatches flow.
    Active,
    /// Closed; all input is ignored.
    Closed,
}

/// One WebSocket's protocol state.
#[derive(Debug)]
pub struct Connection {
    config: ConnectionConfig,
    state: State,
    /// When the client last heartbeated (or connected).
    last_heartbeat: Instant,
    /// Whether the op 1 nudge for the current interval has been sent.
    heartbeat_requested: bool,
    /// Start of the current rate-limit window and payloads counted in it.
    window_start: Instant,
    window_count: u32,
    outputs: VecDeque<Output>,
}

impl Connection {
    /// A new connection at `now`; Hello is queued.
    pub fn new(now: Instant, config: ConnectionConfig) -> Self {
        let interval_ms = u64::try_from(config.heartbeat_interval.as_millis()).unwrap_or(u64::MAX);
        Self {
            config,
            state: State::AwaitingIdentify,
            last_heartbeat: now,
            heartbeat_requested: false,
            window_start: now,
            window_count: 0,
            outputs: VecDeque::from([Output::Send(payload::hello(interval_ms))]),
        }
    }

    /// The next thing the driver must do, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When [`Self::handle_timeout`] must be called next (`None` once closed).
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.state == State::Closed {
            return None;
        }
        let due = self.last_heartbeat + self.config.heartbeat_interval;
        Some(if self.heartbeat_requested {
            due + self.config.heartbeat_grace
        } else {
            due + self.config.heartbeat_grace / 2
        })
    }

    /// Whether the connection has closed (or been told to).
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Whether the connection is identified (dispatches may be written).
    pub fn is_active(&self) -> bool {
        self.state == State::Active
    }

    /// Checks the heartbeat deadlines at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.state == State::Closed {
            return;
        }
        let due = self.last_heartbeat + self.config.heartbeat_interval;
        if now >= due + self.config.heartbeat_grace {
            self.close(CloseCode::SessionTimedOut);
        } else if now >= due + self.config.heartbeat_grace / 2 && !self.heartbeat_requested {
            self.heartbeat_requested = true;
            self.outputs
                .push_back(Output::Send(payload::heartbeat_request()));
        }
    }

    /// Handles one message the client sent at `now` (text or binary, as bytes).
    pub fn handle_message(&mut self, now: Instant, bytes: &[u8]) {
        if self.state == State::Closed {
            return;
        }
        if !self.count_payload(now) {
            self.close(CloseCode::RateLimited);
            return;
        }
        match payload::decode(bytes) {
            Err(code) => self.close(code),
            Ok(ClientPayload::Heartbeat(seq)) => {
                self.last_heartbeat = now;
                self.heartbeat_requested = false;
                self.outputs
                    .push_back(Output::Send(payload::heartbeat_ack()));
                if let (Some(seq), State::Active) = (seq, self.state) {
                    self.outputs.push_back(Output::Acknowledge(seq));
                }
            }
            Ok(ClientPayload::Identify(identify)) => match self.state {
                State::AwaitingIdentify => match identify.validate() {
                    Ok(request) => {
                        self.state = State::Authenticating;
                        self.outputs.push_back(Output::Identify(request));
                    }
                    Err(code) => self.close(code),
                },
                _ => self.close(CloseCode::AlreadyAuthenticated),
            },
            Ok(ClientPayload::Resume(resume)) => match self.state {
                State::AwaitingIdentify => {
                    self.state = State::Authenticating;
                    self.outputs.push_back(Output::Resume(resume));
                }
                _ => self.close(CloseCode::AlreadyAuthenticated),
            },
            Ok(ClientPayload::RequestGuildMembers(request)) => {
                if self.state != State::Active {
                    self.close(CloseCode::NotAuthenticated);
                } else {
                    match request.validate() {
                        Ok(request) => self.outputs.push_back(Output::RequestGuildMembers(request)),
                        Err(code) => self.close(code),
                    }
                }
            }
            Ok(ClientPayload::PresenceUpdate(update)) => {
                if self.state == State::Active {
                    self.outputs.push_back(Output::UpdatePresence(update));
                } else {
                    self.close(CloseCode::NotAuthenticated);
                }
            }
            Ok(ClientPayload::VoiceStateUpdate(update)) => {
                if self.state == State::Active {
                    self.outputs.push_back(Output::UpdateVoiceState(update));
                } else {
                    self.close(CloseCode::NotAuthenticated);
                }
            }
            Ok(ClientPayload::Unhandled(opcode)) => {
                if self.state != State::Active {
                    self.close(CloseCode::NotAuthenticated);
                } else {
                    tracing::debug!(?opcode, "a request this gateway does not act on yet");
                }
            }
        }
    }

    /// Counts a payload in the rate-limit window; `false` when it is one too many.
    fn count_payload(&mut self, now: Instant) -> bool {
        if now.duration_since(self.window_start) >= self.config.rate_window {
            self.window_start = now;
            self.window_count = 0;
        }
        self.window_count += 1;
        self.window_count <= self.config.rate_limit
    }

    /// The Identify was accepted at `now` and its session created (the driver sends
    /// READY). The heartbeat clock restarts: while the driver checked the token the
    /// client's heartbeats went unread, and that wait was ours, not its silence.
    pub fn identified(&mut self, now: Instant) {
        if self.state == State::Authenticating {
            self.state = State::Active;
            self.last_heartbeat = now;
            self.heartbeat_requested = false;
        }
    }

    /// The Resume was accepted at `now` (the driver sends the replay and RESUMED).
    pub fn resumed(&mut self, now: Instant) {
        self.identified(now);
    }

    /// Invalid Session. `resumable` false: the Resume named no session that can be
    /// resumed, or the Identify would start a session past the bot's session start
    /// limit. `resumable` true: the Resume's session could not be reached just now
    /// and may be resumed later. The connection stays open and may Identify or
    /// Resume (again, once the limit allows; Discord's clients usually reconnect
    /// first).
    pub fn session_invalid(&mut self, resumable: bool) {
        if self.state == State::Authenticating {
            self.state = State::AwaitingIdentify;
            self.outputs
                .push_back(Output::Send(payload::invalid_session(resumable)));
        }
    }

    /// Asks the client to reconnect and resume (op 7), e.g. before a shutdown; the
    /// driver closes the socket with [`CloseCode::UnknownError`] soon after, in case
    /// the client does not.
    pub fn reconnect(&mut self) {
        if self.state != State::Closed {
            self.outputs.push_back(Output::Send(payload::reconnect()));
        }
    }

    /// Closes with `code`: queues [`Output::Close`] once and ignores all that follows.
    pub fn close(&mut self, code: CloseCode) {
        if self.state != State::Closed {
            self.state = State::Closed;
            self.outputs.push_back(Output::Close(code));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use serde_json::{Value, json};

    use super::{Connection, ConnectionConfig, Output};
    use crate::protocol::close_code::CloseCode;

    const IDENTIFY: &str = r#"{"op":2,"d":{"token":"t","properties":{"os":"linux","browser":"b","device":"b"},"intents":513}}"#;
    const RESUME: &str = r#"{"op":6,"d":{"token":"t","session_id":"abc","seq":3}}"#;
    const HEARTBEAT: &str = r#"{"op":1,"d":null}"#;

    fn drain(connection: &mut Connection) -> Vec<Output> {
        std::iter::from_fn(|| connection.poll_output()).collect()
    }

    fn json(output: &Output) -> Value {
        match output {
            Output::Send(text) => serde_json::from_str(text).expect("json"),
            other => panic!("not a frame: {other:?}"),
        }
    }

    fn connected() -> (Connection, Instant) {
        let now = Instant::now();
        let mut connection = Connection::new(now, ConnectionConfig::default());
        drain(&mut connection);
        (connection, now)
    }

    fn identified() -> (Connection, Instant) {
        let (mut connection, now) = connected();
        connection.handle_message(now, IDENTIFY.as_bytes());
        assert!(matches!(drain(&mut connection)[..], [Output::Identify(_)]));
        connection.identified(now);
        (connection, now)
    }

    #[test]
    fn hello_carries_the_heartbeat_interval() {
        let mut connection = Connection::new(Instant::now(), ConnectionConfig::default());
        let outputs = drain(&mut connection);
        assert_eq!(outputs.len(), 1);
        assert_eq!(
            json(&outputs[0]),
            json!({"op": 10, "d": {"heartbeat_interval": 41250}, "s": null, "t": null})
        );
    }

    #[test]
    fn identify_is_handed_to_the_driver_then_activates() {
        let (mut connection, now) = connected();
        connection.handle_message(now, IDENTIFY.as_bytes());
        let outputs = drain(&mut connection);
        let [Output::Identify(request)] = &outputs[..] else {
            panic!("{outputs:?}");
        };
        assert_eq!(request.token, "t");
        assert!(!connection.is_active());
        connection.identified(now);
        assert!(connection.is_active());
    }

    #[test]
    fn heartbeat_is_acknowledged_before_and_after_identify() {
        let (mut connection, now) = connected();
        connection.handle_message(now, HEARTBEAT.as_bytes());
        let outputs = drain(&mut connection);
        assert_eq!(json(&outputs[0])["op"], 11);
        let (mut connection, now) = identified();
        connection.handle_message(now, br#"{"op":1,"d":5}"#);
        let outputs = drain(&mut connection);
        assert_eq!(json(&outputs[0])["op"], 11);
        // Once identified, the heartbeat's `s` tells the session what it may forget.
        assert_eq!(outputs[1..], [Output::Acknowledge(5)]);
    }

    #[test]
    fn silent_client_is_asked_for_a_heartbeat_then_closed_as_a_zombie() {
        let (mut connection, start) = identified();
        let config = ConnectionConfig::default();
        let nudge = start + config.heartbeat_interval + config.heartbeat_grace / 2;
        assert_eq!(connection.poll_timeout(), Some(nudge));
        connection.handle_timeout(nudge - Duration::from_millis(1));
        assert!(drain(&mut connection).is_empty());
        connection.handle_timeout(nudge);
        let outputs = drain(&mut connection);
        assert_eq!(
            json(&outputs[0]),
            json!({"op": 1, "d": null, "s": null, "t": null})
        );
        let deadline = start + config.heartbeat_interval + config.heartbeat_grace;
        assert_eq!(connection.poll_timeout(), Some(deadline));
        connection.handle_timeout(deadline);
        assert_eq!(
            drain(&mut connection),
            [Output::Close(CloseCode::SessionTimedOut)]
        );
        assert_eq!(connection.poll_timeout(), None);
    }

    #[test]
    fn answering_a_heartbeat_request_keeps_the_connection() {
        let (mut connection, start) = identified();
        let config = ConnectionConfig::default();
        let nudge = start + config.heartbeat_interval + config.heartbeat_grace / 2;
        connection.handle_timeout(nudge);
        drain(&mut connection);
        connection.handle_message(nudge, HEARTBEAT.as_bytes());
        drain(&mut connection);
        connection.handle_timeout(start + config.heartbeat_interval + config.heartbeat_grace);
        assert!(drain(&mut connection).is_empty());
        assert_eq!(
            connection.poll_timeout(),
            Some(nudge + config.heartbeat_interval + config.heartbeat_grace / 2)
        );
    }

    #[test]
    fn a_slow_identify_does_not_count_as_client_silence() {
        let (mut connection, start) = connected();
        connection.handle_message(start, IDENTIFY.as_bytes());
        drain(&mut connection);
        let config = ConnectionConfig::default();
        let late = start + config.heartbeat_interval + config.heartbeat_grace;
        connection.identified(late);
        connection.handle_timeout(late);
        assert!(drain(&mut connection).is_empty());
        assert_eq!(
            connection.poll_timeout(),
            Some(late + config.heartbeat_interval + config.heartbeat_grace / 2)
        );
    }

    #[test]
    fn payload_before_identify_closes_with_4003() {
        let (mut connection, now) = connected();
        connection.handle_message(now, br#"{"op":3,"d":{"status":"online"}}"#);
        assert_eq!(
            drain(&mut connection),
            [Output::Close(CloseCode::NotAuthenticated)]
        );
    }

    #[test]
    fn member_requests_are_handed_to_the_driver_once_identified() {
        let request = br#"{"op":8,"d":{"guild_id":"1","query":"","limit":0}}"#;
        let (mut connection, now) = connected();
        connection.handle_message(now, request);
        assert_eq!(
            drain(&mut connection),
            [Output::Close(CloseCode::NotAuthenticated)]
        );
        let (mut connection, now) = identified();
        connection.handle_message(now, request);
        assert!(matches!(
            drain(&mut connection)[..],
            [Output::RequestGuildMembers(_)]
        ));
    }

    #[test]
    fn presence_after_identify_is_handed_to_the_driver() {
        let (mut connection, now) = identified();
        connection.handle_message(now, br#"{"op":3,"d":{"status":"idle"}}"#);
        let outputs = drain(&mut connection);
        let [Output::UpdatePresence(update)] = &outputs[..] else {
            panic!("{outputs:?}");
        };
        assert_eq!(update.status(), cloudcord_schemas::ephemeral::Status::Idle);
        assert!(!connection.is_closed());
    }

    #[test]
    fn second_identify_closes_with_4005() {
        let (mut connection, now) = identified();
        connection.handle_message(now, IDENTIFY.as_bytes());
        assert_eq!(
            drain(&mut connection),
            [Output::Close(CloseCode::AlreadyAuthenticated)]
        );
        // Also while the first one is still being checked.
        let (mut connection, now) = connected();
        connection.handle_message(now, IDENTIFY.as_bytes());
        connection.handle_message(now, IDENTIFY.as_bytes());
        assert_eq!(
            drain(&mut connection)[1..],
            [Output::Close(CloseCode::AlreadyAuthenticated)]
        );
    }

    #[test]
    fn resume_on_an_identified_connection_closes_with_4005() {
        let (mut connection, now) = identified();
        connection.handle_message(now, RESUME.as_bytes());
        assert_eq!(
            drain(&mut connection),
            [Output::Close(CloseCode::AlreadyAuthenticated)]
        );
    }

    #[test]
    fn resume_is_handed_to_the_driver() {
        let (mut connection, now) = connected();
        connection.handle_message(now, RESUME.as_bytes());
        let outputs = drain(&mut connection);
        let [Output::Resume(resume)] = &outputs[..] else {
            panic!("{outputs:?}");
        };
        assert_eq!((resume.session_id.as_str(), resume.seq), ("abc", 3));
        connection.resumed(now);
        assert!(connection.is_active());
    }

    /// A connection whose `handshake` (Identify or Resume) got Invalid Session with
    /// `resumable`, after checking that op 9 said so.
    fn refused(handshake: &str, resumable: bool) -> (Connection, Instant) {
        let (mut connection, now) = connected();
        connection.handle_message(now, handshake.as_bytes());
        drain(&mut connection);
        connection.session_invalid(resumable);
        let outputs = drain(&mut connection);
        assert_eq!(
            json(&outputs[0]),
            json!({"op": 9, "d": resumable, "s": null, "t": null})
        );
        (connection, now)
    }

    #[test]
    fn resume_of_an_unknown_session_is_invalid_session_false_and_may_identify() {
        let (mut connection, now) = refused(RESUME, false);
        connection.handle_message(now, IDENTIFY.as_bytes());
        assert!(matches!(drain(&mut connection)[..], [Output::Identify(_)]));
    }

    #[test]
    fn a_session_out_of_reach_is_invalid_session_true_and_may_resume_again() {
        let (mut connection, now) = refused(RESUME, true);
        connection.handle_message(now, RESUME.as_bytes());
        assert!(matches!(drain(&mut connection)[..], [Output::Resume(_)]));
    }

    #[test]
    fn a_refused_identify_is_invalid_session_false_and_may_identify_again() {
        let (mut connection, now) = refused(IDENTIFY, false);
        assert!(!connection.is_active() && !connection.is_closed());
        connection.handle_message(now, IDENTIFY.as_bytes());
        assert!(matches!(drain(&mut connection)[..], [Output::Identify(_)]));
        connection.identified(now);
        assert!(connection.is_active());
    }

    #[test]
    fn reconnect_sends_op_7() {
        let (mut connection, _) = identified();
        connection.reconnect();
        assert_eq!(
            json(&drain(&mut connection)[0]),
            json!({"op": 7, "d": null, "s": null, "t": null})
        );
    }

    #[test]
    fn bad_input_closes_with_its_code_and_nothing_follows() {
        for (input, code) in [
            (&b"{oops"[..], CloseCode::DecodeError),
            (br#"{"op":42,"d":null}"#, CloseCode::UnknownOpcode),
            (
                br#"{"op":2,"d":{"token":"t","properties":{},"intents":131072}}"#,
                CloseCode::InvalidIntents,
            ),
            (
                br#"{"op":2,"d":{"token":"t","properties":{},"intents":1,"shard":[1,1]}}"#,
                CloseCode::InvalidShard,
            ),
        ] {
            let (mut connection, now) = connected();
            connection.handle_message(now, input);
            connection.handle_message(now, HEARTBEAT.as_bytes());
            assert_eq!(drain(&mut connection), [Output::Close(code)]);
            assert!(connection.is_closed());
        }
    }

    #[test]
    fn oversized_payload_closes_with_4002() {
        let (mut connection, now) = identified();
        let big = format!(r#"{{"op":1,"d":null,"pad":"{}"}}"#, "x".repeat(4096));
        connection.handle_message(now, big.as_bytes());
        assert_eq!(
            drain(&mut connection),
            [Output::Close(CloseCode::DecodeError)]
        );
    }

    #[test]
    fn more_than_120_payloads_in_60_seconds_closes_with_4008() {
        // Identify was the first payload of the window.
        let (mut connection, start) = identified();
        for n in 0..119 {
            connection.handle_message(start + Duration::from_millis(n * 100), HEARTBEAT.as_bytes());
        }
        assert!(!connection.is_closed());
        drain(&mut connection);
        connection.handle_message(start + Duration::from_secs(30), HEARTBEAT.as_bytes());
        assert_eq!(
            drain(&mut connection),
            [Output::Close(CloseCode::RateLimited)]
        );
    }

    #[test]
    fn the_rate_limit_window_restarts_after_60_seconds() {
        let (mut connection, start) = identified();
        for _ in 0..119 {
            connection.handle_message(start, HEARTBEAT.as_bytes());
        }
        connection.handle_message(start + Duration::from_secs(60), HEARTBEAT.as_bytes());
        assert!(!connection.is_closed());
    }
}

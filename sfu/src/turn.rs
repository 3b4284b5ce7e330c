//! Time-limited TURN credentials, for clients whose network lets no UDP through to
//! the SFU (the "TURN REST API" scheme, which coturn implements as
//! `use-auth-secret`): the username is `<expiry unix time>:<user id>` and the
//! password is base64(HMAC-SHA1(shared secret, username)). The TURN server checks
//! both with the same secret, so nothing is stored and a leaked credential dies at
//! its expiry.
//!
//! Clients get them from `GET /sfu/ice-servers` with their media token (see
//! [`crate::signalling`]) and pass them as `iceServers` to `RTCPeerConnection`.
//!
//! # A coturn (Debian) beside the SFU
//!
//! ```text
//! apt-get install coturn
//! turnserver --use-auth-secret --static-auth-secret=<sfu.turn.secret> \
//!     --realm=cloudcord --listening-port=3479 --fingerprint \
//!     --no-cli --no-multicast-peers --no-tlsv1 --no-tlsv1_1
//! ```
//!
//! and `[sfu.turn] urls = ["turn:turn.example.com:3479?transport=udp",
//! "turn:turn.example.com:3479?transport=tcp"]`, `secret` the same string. The SFU
//! is ICE-lite, so media relayed by the TURN server reaches it like any client's. On
//! a single host (tests) coturn must be told `--allow-loopback-peers`; in production
//! keep its defaults, which refuse relaying to private and loopback addresses except
//! those allowed with `--allowed-peer-ip=<the SFU's address>`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use cloudcord_schemas::ids::UserId;
use serde::{Deserialize, Serialize};

/// The `[sfu.turn]` section.
#[derive(Clone, Deserialize)]
pub struct TurnSettings {
    /// The TURN server's URLs (`turn:host:port?transport=udp`, `turns:…`).
    pub urls: Vec<String>,
    /// The secret shared with the TURN server (coturn's `static-auth-secret`).
    pub secret: String,
    /// How long credentials are valid, in seconds: a call that outlives them keeps
    /// its allocation (refreshes need the same credentials only while it lasts).
    #[serde(default = "default_ttl_secs")]
    pub ttl_secs: u64,
}

impl std::fmt::Debug for TurnSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret, in logs or errors.
        f.debug_struct("TurnSettings")
            .field("urls", &self.urls)
            .field("ttl_secs", &self.ttl_secs)
            .finish_non_exhaustive()
    }
}

fn default_ttl_secs() -> u64 {
    // A day: long enough for any call, short enough that a leaked one lapses.
    86_400
}

/// One entry of `RTCConfiguration.iceServers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IceServer {
    /// The server's URLs.
    pub urls: Vec<String>,
    /// `<expiry>:<user id>`.
    pub username: String,
    /// The HMAC of the username.
    pub credential: String,
}

impl TurnSettings {
    /// Credentials for `user`, valid from `now` for the configured time.
    pub fn credentials(&self, user: UserId, now: SystemTime) -> IceServer {
        let now = now.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
        let expiry = now.as_secs().saturating_add(self.ttl_secs);
        let username = format!("{expiry}:{user}");
        let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, self.secret.as_bytes());
        let credential = STANDARD.encode(hmac::sign(&key, username.as_bytes()));
        IceServer {
            urls: self.urls.clone(),
            username,
            credential,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use cloudcord_schemas::ids::UserId;

    use super::TurnSettings;

    #[test]
    fn credentials_follow_the_turn_rest_api_scheme() {
        let turn = TurnSettings {
            urls: vec!["turn:127.0.0.1:3479".to_owned()],
            secret: "north-wind".to_owned(),
            ttl_secs: 120,
        };
        let server = turn.credentials(
            UserId::new(1001),
            UNIX_EPOCH + Duration::from_secs(1_790_000_000),
        );
        assert_eq!(server.username, "1790000120:1001");
        // Python: base64(hmac.new(b"north-wind", b"1790000120:1001", sha1).digest())
        assert_eq!(server.credential, "9xY9DQulusY9xrsnvXd4LdRV7bw=");
        assert!(!format!("{turn:?}").contains("north-wind"));
    }
}

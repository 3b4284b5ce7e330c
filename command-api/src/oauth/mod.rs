//! The OAuth 2.0 / OpenID Connect provider's state and rules (the routes are in
//! [`crate::http::oauth2`] and [`crate::http::sessions`]).
//!
//! What it does: the authorization code grant with PKCE (S256 only) for registered
//! clients with exactly matching `redirect_uri`s; refresh tokens rotated on every
//! use, where presenting a used one revokes its whole family; revocation (RFC 7009);
//! sessions a user can list and end.
//!
//! # Where the state lives, and why not in the event log
//!
//! Authorization codes, refresh tokens and sessions are **security state, not domain
//! history**: they are bearer secrets (only their SHA-256 hashes are stored), they
//! live minutes to weeks, they change on every token refresh, and revoking one must
//! take effect at once and everywhere. The event log is the opposite on each count —
//! kept forever (`retention.ms=-1`), replayed by every projector, exported to data
//! teams and auditors, and eventually consistent through projections. So they live
//! in a PostgreSQL schema owned by command-api (`[command_api.http.oauth] schema`,
//! default `command_api`), created and migrated from `command-api/migrations` at
//! start-up, beside the read models that belong to the projectors (like
//! gateway-ws's own schema). Every command-api process shares it, so a refresh
//! token rotated through one process is spent for all; the decisions that must not
//! race (redeeming a code, rotating a refresh token) take a row lock in one
//! transaction. What *is* domain history — the user, their password hash — stays in
//! the event log.
//!
//! Access tokens stay stateless RFC 9068 JWTs, checked by every service with the
//! public keys alone. Revoking a session therefore stops its refresh tokens at once,
//! but an access token already handed out stays valid until it expires
//! (`[auth] access_token_ttl_secs`); the routes of this provider that see a token's
//! `sid` (userinfo, sessions, logout) check the session and refuse a revoked one.
//!
//! Module map:
//! - [`store`]: [`OAuthStore`], the schema's queries (codes, sessions, refresh tokens).
//! - [`pkce`]: the S256 code challenge check (RFC 7636).
//! - [`secret`]: random tokens and their stored hashes.
//! - [`totp`]: TOTP two-factor codes (RFC 6238) and recovery codes; their state
//!   (`mfa_*` tables) is in the same schema, for the same reasons.
//! - [`metrics`]: security events (failed logins, code and refresh-token reuse).

pub mod metrics;
pub mod pkce;
pub mod secret;
pub mod store;
pub mod totp;

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use serde::Deserialize;

pub use self::metrics::OAuthMetrics;
pub use self::store::OAuthStore;

/// The `[command_api.http.oauth]` settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct OAuthSettings {
    /// The PostgreSQL schema holding codes, sessions and refresh tokens.
    pub schema: String,
    /// How long an authorization code may wait to be redeemed (RFC 6749 §4.1.2
    /// recommends at most 10 minutes).
    pub code_ttl_secs: u64,
    /// How long a session's refresh tokens keep working, from its sign-in.
    pub session_ttl_secs: u64,
    /// The registered clients (`[[command_api.http.oauth.clients]]`).
    pub clients: Vec<ClientSettings>,
}

impl Default for OAuthSettings {
    fn default() -> Self {
        Self {
            schema: "command_api".to_owned(),
            code_ttl_secs: 300,
            session_ttl_secs: 30 * 24 * 3600,
            clients: vec![ClientSettings {
                client_id: crate::http::auth::FIRST_PARTY_CLIENT.to_owned(),
                name: "CloudCord".to_owned(),
                redirect_uris: vec!["http://127.0.0.1:8080/oauth2/callback".to_owned()],
                client_secret_sha256: None,
                first_party: true,
            }],
        }
    }
}

impl OAuthSettings {
    /// [`Self::code_ttl_secs`] as a duration.
    pub fn code_ttl(&self) -> Duration {
        Duration::from_secs(self.code_ttl_secs)
    }

    /// [`Self::session_ttl_secs`] as a duration.
    pub fn session_ttl(&self) -> Duration {
        Duration::from_secs(self.session_ttl_secs)
    }
}

/// One registered client.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct ClientSettings {
    /// The `client_id`.
    pub client_id: String,
    /// What the consent page calls it.
    pub name: String,
    /// The redirect URIs it may ask for, compared exactly (no prefix or pattern).
    pub redirect_uris: Vec<String>,
    /// A confidential client's secret as lowercase hex SHA-256 (client secrets are
    /// high-entropy random strings, so a fast hash suffices); `None` for a public
    /// client, which authenticates with PKCE alone.
    #[serde(default)]
    pub client_secret_sha256: Option<String>,
    /// CloudCord's own clients (the web client): no consent step, and their tokens
    /// act with the user's full rights (`cloudcord_kind: session`).
    #[serde(default)]
    pub first_party: bool,
}

/// The registered clients, by id.
#[derive(Debug, Clone, Default)]
pub struct Clients(HashMap<String, ClientSettings>);

impl Clients {
    /// The clients of `settings` (a later duplicate id replaces an earlier one).
    pub fn new(settings: &[ClientSettings]) -> Self {
        Self(
            settings
                .iter()
                .map(|client| (client.client_id.clone(), client.clone()))
                .collect(),
        )
    }

    /// The client `client_id`.
    pub fn get(&self, client_id: &str) -> Option<&ClientSettings> {
        self.0.get(client_id)
    }
}

impl ClientSettings {
    /// Whether `redirect_uri` is one of the registered ones, character for character.
    pub fn allows_redirect(&self, redirect_uri: &str) -> bool {
        self.redirect_uris.iter().any(|uri| uri == redirect_uri)
    }

    /// Whether `secret` authenticates this client: a confidential client needs its
    /// secret (compared in constant time), a public client must not send one.
    pub fn authenticates(&self, secret: Option<&str>) -> bool {
        match (&self.client_secret_sha256, secret) {
            (None, None) => true,
            (Some(expected), Some(secret)) => {
                let given = secret::sha256_hex(secret);
                aws_lc_rs::constant_time::verify_slices_are_equal(
                    given.as_bytes(),
                    expected.to_ascii_lowercase().as_bytes(),
                )
                .is_ok()
            }
            _ => false,
        }
    }
}

/// A scope CloudCord grants: Discord's, plus OpenID Connect's `openid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// `openid`: an ID token with the token response.
    OpenId,
    /// `identify`: the user's id, username and display name (`GET /users/@me`).
    Identify,
    /// `email`: and their e-mail address.
    Email,
    /// `guilds`: the guilds they are in (`GET /users/@me/guilds`).
    Guilds,
}

impl Scope {
    /// Every scope, in the order the consent page lists them.
    pub const ALL: [Self; 4] = [Self::OpenId, Self::Identify, Self::Email, Self::Guilds];

    /// Its name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OpenId => "openid",
            Self::Identify => "identify",
            Self::Email => "email",
            Self::Guilds => "guilds",
        }
    }

    /// What the consent page says it allows.
    pub fn describe(self) -> &'static str {
        match self {
            Self::OpenId => "Sign you in with your CloudCord account",
            Self::Identify => "Access your username, avatar and display name",
            Self::Email => "Access your e-mail address",
            Self::Guilds => "Know what servers you're in",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A requested scope string names a scope CloudCord does not grant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scope {0:?}")]
pub struct UnknownScope(pub String);

/// A set of scopes, sorted and without duplicates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scopes(Vec<Scope>);

impl Scopes {
    /// Parses a space-separated scope parameter (RFC 6749 §3.3).
    pub fn parse(text: &str) -> Result<Self, UnknownScope> {
        let mut scopes = text
            .split(' ')
            .filter(|name| !name.is_empty())
            .map(|name| {
                Scope::ALL
                    .into_iter()
                    .find(|scope| scope.as_str() == name)
                    .ok_or_else(|| UnknownScope(name.to_owned()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        scopes.sort_unstable();
        scopes.dedup();
        Ok(Self(scopes))
    }

    /// Whether `scope` is in the set.
    pub fn contains(&self, scope: Scope) -> bool {
        self.0.contains(&scope)
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether every scope of `self` is in `other`.
    pub fn is_subset_of(&self, other: &Self) -> bool {
        self.0.iter().all(|scope| other.contains(*scope))
    }

    /// The scopes, in order.
    pub fn iter(&self) -> impl Iterator<Item = Scope> + '_ {
        self.0.iter().copied()
    }

    /// The names, for a token's `scope` claim.
    pub fn names(&self) -> Vec<String> {
        self.0
            .iter()
            .map(|scope| scope.as_str().to_owned())
            .collect()
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.names().join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::{ClientSettings, Scope, Scopes, UnknownScope, secret};

    fn client(secret_hash: Option<String>) -> ClientSettings {
        ClientSettings {
            client_id: "app".to_owned(),
            name: "App".to_owned(),
            redirect_uris: vec!["https://app.example/cb".to_owned()],
            client_secret_sha256: secret_hash,
            first_party: false,
        }
    }

    #[test]
    fn redirect_uris_match_exactly() {
        let client = client(None);
        assert!(client.allows_redirect("https://app.example/cb"));
        for near in [
            "https://app.example/cb/",
            "https://app.example/cb?x=1",
            "https://app.example/c",
            "https://APP.example/cb",
            "http://app.example/cb",
            "https://app.example/cb#f",
        ] {
            assert!(!client.allows_redirect(near), "{near}");
        }
    }

    #[test]
    fn a_confidential_client_needs_its_secret_and_a_public_one_none() {
        let confidential = client(Some(secret::sha256_hex("s3cret")));
        assert!(confidential.authenticates(Some("s3cret")));
        assert!(!confidential.authenticates(Some("s3cret2")));
        assert!(!confidential.authenticates(None));
        let public = client(None);
        assert!(public.authenticates(None));
        assert!(!public.authenticates(Some("anything")));
    }

    #[test]
    fn scopes_parse_sorted_without_duplicates_and_refuse_unknown_ones() {
        let scopes = Scopes::parse("email  openid identify email").expect("known scopes");
        assert_eq!(scopes.to_string(), "openid identify email");
        assert!(scopes.contains(Scope::Email));
        assert!(!scopes.contains(Scope::Guilds));
        assert_eq!(
            Scopes::parse("identify admin"),
            Err(UnknownScope("admin".to_owned()))
        );
        assert!(Scopes::parse("").expect("empty is valid").is_empty());
        let narrow = Scopes::parse("identify").expect("known");
        assert!(narrow.is_subset_of(&scopes));
        assert!(!scopes.is_subset_of(&narrow));
    }
}

//! Security events as metrics, for alerting: failed sign-ins, reused authorization
//! codes and refresh tokens (a reuse means a token was stolen or a client is broken),
//! revoked sessions, and tokens issued. Each event is also a structured log line
//! (target `cloudcord_command_api::security`) with the user and client, never a
//! secret.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// Where a password was refused: `password_login`, `authorize`, `password_change`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabel {
    /// The route.
    pub endpoint: &'static str,
}

/// Why a session ended.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    /// `logout`, `revoked`, `refresh_token_reuse`, `code_reuse`, `user_revoked`,
    /// `password_changed`.
    pub reason: &'static str,
}

/// A grant type that issued tokens.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GrantLabel {
    /// `password`, `authorization_code`, `refresh_token`.
    pub grant: &'static str,
}

/// The provider's security counters. Cheap to clone (shared inside).
#[derive(Clone, Default)]
pub struct OAuthMetrics {
    /// Failed sign-ins, by endpoint.
    pub failed_logins: Family<EndpointLabel, Counter>,
    /// Refresh tokens presented again after rotation (each revoked a family).
    pub refresh_token_reuse: Counter,
    /// Authorization codes presented again.
    pub code_reuse: Counter,
    /// Token requests refused (`invalid_grant`, `invalid_client`, …).
    pub refused_token_requests: Counter,
    /// Sessions ended, by reason.
    pub sessions_revoked: Family<ReasonLabel, Counter>,
    /// Token responses, by grant.
    pub tokens_issued: Family<GrantLabel, Counter>,
}

impl OAuthMetrics {
    /// Registers the counters (prefixed `cloudcord_` by the service registry; the
    /// crate appends `_total`).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "auth_failed_logins",
            "Sign-ins refused for a wrong login or password, by endpoint",
            self.failed_logins.clone(),
        );
        registry.register(
            "auth_refresh_token_reuse",
            "Rotated refresh tokens presented again; each revoked its token family",
            self.refresh_token_reuse.clone(),
        );
        registry.register(
            "auth_code_reuse",
            "Authorization codes presented again; each revoked the session it started",
            self.code_reuse.clone(),
        );
        registry.register(
            "auth_refused_token_requests",
            "Token endpoint requests refused with an OAuth2 error",
            self.refused_token_requests.clone(),
        );
        registry.register(
            "auth_sessions_revoked",
            "Sessions (refresh-token families) ended, by reason",
            self.sessions_revoked.clone(),
        );
        registry.register(
            "auth_tokens_issued",
            "Token responses, by grant type",
            self.tokens_issued.clone(),
        );
    }

    /// A wrong login or password at `endpoint`.
    pub fn failed_login(&self, endpoint: &'static str) {
        self.failed_logins
            .get_or_create(&EndpointLabel { endpoint })
            .inc();
    }

    /// A session ended for `reason`.
    pub fn session_revoked(&self, reason: &'static str) {
        self.sessions_revoked
            .get_or_create(&ReasonLabel { reason })
            .inc();
    }

    /// Tokens issued by `grant`.
    pub fn issued(&self, grant: &'static str) {
        self.tokens_issued
            .get_or_create(&GrantLabel { grant })
            .inc();
    }
}

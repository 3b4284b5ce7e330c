//! [`RateLimitSettings`]: the `rate_limits` section of a service's HTTP settings
//! (`[command_api.http.rate_limits]`, `[query_api.http.rate_limits]`).
//!
//! ```toml
//! [command_api.http.rate_limits]
//! enabled = true
//! global = { limit = 50, window_ms = 1000 }           # per caller, every route
//! default_route = { limit = 10, window_ms = 10000 }   # per caller, route and resource
//! trusted_proxies = ["10.0.0.0/8"]                    # whose forwarding header counts
//! forwarded_header = "x-forwarded-for"                # or "forwarded"
//!
//! [[command_api.http.rate_limits.routes]]             # replaces a route's limit
//! route = "POST /channels/{channel_id}/messages"
//! limit = 5
//! window_ms = 5000
//! ```
//!
//! Everything is checked while the settings load: a zero limit or window, a route
//! that is not `METHOD /template` or a malformed CIDR fails start-up.

use std::fmt;
use std::num::{NonZeroU32, NonZeroU64};
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;

/// How many requests a window allows, and how long a window lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct Quota {
    /// Requests per window (`X-RateLimit-Limit`).
    pub limit: NonZeroU32,
    /// The window's length in milliseconds.
    pub window_ms: NonZeroU64,
}

impl Quota {
    /// `limit` requests per `window_ms` milliseconds, for built-in tables.
    ///
    /// # Panics
    ///
    /// When either is zero; in a `const` that is a compile error.
    pub const fn new(limit: u32, window_ms: u64) -> Self {
        match (NonZeroU32::new(limit), NonZeroU64::new(window_ms)) {
            (Some(limit), Some(window_ms)) => Self { limit, window_ms },
            _ => panic!("a quota allows at least one request per non-empty window"),
        }
    }

    /// The window's length.
    pub fn window(&self) -> Duration {
        Duration::from_millis(self.window_ms.get())
    }
}

/// A route as buckets name it: the method and the route template without the
/// `/api/v{n}` prefix, e.g. `POST /channels/{channel_id}/messages`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct RouteName(String);

/// A route name that is not `METHOD /template`.
#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not a route such as \"POST /channels/{{channel_id}}/messages\"")]
pub struct InvalidRouteName(String);

impl RouteName {
    /// The name of `method` on `template`.
    pub(crate) fn of(method: &str, template: &str) -> Self {
        Self(format!("{method} {template}"))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for RouteName {
    type Error = InvalidRouteName;

    fn try_from(name: String) -> Result<Self, InvalidRouteName> {
        let parsed = name.trim().split_once(' ').and_then(|(method, template)| {
            let well_formed = !method.is_empty()
                && method.bytes().all(|b| b.is_ascii_alphabetic())
                && template.starts_with('/')
                && !template.contains(char::is_whitespace);
            well_formed.then(|| Self::of(&method.to_ascii_uppercase(), template))
        });
        parsed.ok_or(InvalidRouteName(name))
    }
}

impl fmt::Display for RouteName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A route's own quota, replacing the default (or the service's built-in one).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RouteQuota {
    /// The route.
    pub route: RouteName,
    /// Its quota.
    #[serde(flatten)]
    pub quota: Quota,
}

/// Which header a trusted proxy reports the client's address in.
///
/// One, not both: a proxy appends to the header it writes and passes any other
/// through untouched, so honouring a second header would let a client name its own
/// address in it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, …` (what most proxies write).
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for=proxy1`.
    Forwarded,
}

/// The `rate_limits` section.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct RateLimitSettings {
    /// Whether requests are limited at all (and carry rate-limit headers).
    pub enabled: bool,
    /// Per caller over every route of the service: Discord's global limit.
    pub global: Quota,
    /// Per caller, route and top-level resource, for routes without a quota of their
    /// own.
    pub default_route: Quota,
    /// Quotas of single routes; they replace the service's built-in ones.
    pub routes: Vec<RouteQuota>,
    /// Peers (CIDR blocks) whose `forwarded_header` names the client; every other
    /// peer is the client itself, whatever it sends.
    pub trusted_proxies: Vec<IpNet>,
    /// The header trusted proxies write.
    pub forwarded_header: ForwardedHeader,
}

impl Default for RateLimitSettings {
    /// Discord's global limit (50 requests per second per bot or user) and a per-route
    /// default in the range Discord answers with for most routes.
    fn default() -> Self {
        Self {
            enabled: true,
            global: Quota::new(50, 1_000),
            default_route: Quota::new(10, 10_000),
            routes: Vec::new(),
            trusted_proxies: Vec::new(),
            forwarded_header: ForwardedHeader::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use config::{Config, File, FileFormat};
    use serde::Deserialize;

    use super::{ForwardedHeader, Quota, RateLimitSettings, RouteName};

    #[derive(Deserialize)]
    struct Section {
        #[serde(default)]
        rate_limits: RateLimitSettings,
    }

    fn load(toml: &str, overrides: &[(&str, &str)]) -> Result<RateLimitSettings, String> {
        let mut builder = Config::builder().add_source(File::from_str(toml, FileFormat::Toml));
        for (key, value) in overrides {
            builder = builder
                .set_override(*key, *value)
                .map_err(|e| e.to_string())?;
        }
        builder
            .build()
            .and_then(Config::try_deserialize::<Section>)
            .map(|section| section.rate_limits)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn missing_keys_take_discords_defaults() {
        let settings = load("", &[]).expect("defaults");
        assert_eq!(settings, RateLimitSettings::default());
        assert!(settings.enabled);
        assert_eq!(settings.global, Quota::new(50, 1_000));
    }

    #[test]
    fn a_file_sets_routes_proxies_and_header_and_strings_from_the_environment_parse() {
        let settings = load(
            r#"
            [rate_limits]
            trusted_proxies = ["10.0.0.0/8", "::1/128"]
            forwarded_header = "forwarded"
            [[rate_limits.routes]]
            route = "post /channels/{channel_id}/messages"
            limit = 2
            window_ms = 3000
            "#,
            // Environment variables arrive as strings.
            &[
                ("rate_limits.enabled", "false"),
                ("rate_limits.global.limit", "100"),
                ("rate_limits.global.window_ms", "2000"),
            ],
        )
        .expect("valid settings");
        assert!(!settings.enabled);
        assert_eq!(settings.global, Quota::new(100, 2_000));
        assert_eq!(settings.forwarded_header, ForwardedHeader::Forwarded);
        assert_eq!(settings.trusted_proxies.len(), 2);
        assert_eq!(
            settings.routes[0].route.as_str(),
            "POST /channels/{channel_id}/messages"
        );
        assert_eq!(settings.routes[0].quota, Quota::new(2, 3_000));
    }

    #[test]
    fn zero_quotas_bad_routes_and_bad_cidrs_fail_to_load() {
        for bad in [
            "[rate_limits]\nglobal = { limit = 0, window_ms = 1000 }",
            "[rate_limits]\ndefault_route = { limit = 1, window_ms = 0 }",
            "[rate_limits]\ntrusted_proxies = [\"10.0.0.300/8\"]",
            "[[rate_limits.routes]]\nroute = \"/channels\"\nlimit = 1\nwindow_ms = 1",
            "[[rate_limits.routes]]\nroute = \"GET channels\"\nlimit = 1\nwindow_ms = 1",
        ] {
            assert!(load(bad, &[]).is_err(), "{bad}");
        }
    }

    #[test]
    fn route_names_are_method_and_template() {
        let name = RouteName::try_from(" delete /guilds/{guild_id} ".to_owned()).expect("valid");
        assert_eq!(name.as_str(), "DELETE /guilds/{guild_id}");
        assert!(RouteName::try_from("GET /a b".to_owned()).is_err());
        assert!(RouteName::try_from("G3T /a".to_owned()).is_err());
    }
}

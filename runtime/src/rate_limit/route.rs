//! [`Route`]: which route bucket a request falls in — the route's name and the value
//! of its top-level resource — and the bucket id clients see.
//!
//! Discord counts a route separately per top-level resource: `channels/{id}`,
//! `guilds/{id}`, `webhooks/{id}` and `webhooks/{id}/{token}`, when the path starts
//! with one. Its `X-RateLimit-Bucket` names the route without the resource, so it is
//! the same for every caller and channel, here a hash of the route's name: stable
//! across processes and restarts, which is what clients key their buckets on.

use std::fmt::Write as _;

use aws_lc_rs::digest;

use super::settings::RouteName;

/// The first path segments that make the next one a top-level resource.
const TOP_LEVEL: [&str; 3] = ["channels", "guilds", "webhooks"];

/// The route bucket of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// `POST /channels/{channel_id}/messages`.
    pub name: RouteName,
    /// The top-level resource's id (with a webhook's token), e.g. `1234`.
    pub resource: Option<Box<str>>,
}

impl Route {
    /// The route of a request with `method` that matched the route `template`
    /// (`/api/v10/channels/{channel_id}/messages`), whose path parameters are `params`
    /// (decoded, as the handler sees them).
    pub fn of<'a>(
        method: &str,
        template: &str,
        params: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Self {
        let template = unversioned(template);
        let mut segments = template.trim_start_matches('/').split('/');
        let resource = match segments.next() {
            Some(first) if TOP_LEVEL.contains(&first) => {
                // `webhooks/{webhook_id}/{webhook_token}` counts per token too.
                let take = if first == "webhooks" { 2 } else { 1 };
                let names: Vec<&str> = segments
                    .take(take)
                    .map_while(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
                    .collect();
                resource_of(&names, params)
            }
            _ => None,
        };
        Self {
            name: RouteName::of(method, template),
            resource,
        }
    }

    /// The route's `X-RateLimit-Bucket`: the first 128 bits of the SHA-256 of its name,
    /// in hex, like Discord's 32-character bucket hashes.
    pub fn bucket(&self) -> String {
        let hash = digest::digest(&digest::SHA256, self.name.as_str().as_bytes());
        hash.as_ref()[..16]
            .iter()
            .fold(String::with_capacity(32), |mut hex, byte| {
                let _ = write!(hex, "{byte:02x}");
                hex
            })
    }
}

/// `template` without its `/api/v{n}` prefix, so every API version shares a route's
/// buckets as Discord's do.
fn unversioned(template: &str) -> &str {
    template
        .strip_prefix("/api/v")
        .map(|rest| rest.trim_start_matches(|c: char| c.is_ascii_digit()))
        .filter(|rest| rest.starts_with('/'))
        .unwrap_or(template)
}

/// The values of the parameters `names`, joined by `/`; a numeric id in its
/// canonical form, so that `0123` or `%31%32%33` cannot open a fresh bucket for the
/// resource `123` the handler will parse them as.
fn resource_of<'a>(
    names: &[&str],
    params: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Option<Box<str>> {
    if names.is_empty() {
        return None;
    }
    let params: Vec<(&str, &str)> = params.into_iter().collect();
    let values: Vec<String> = names
        .iter()
        .filter_map(|name| {
            let (_, value) = params.iter().find(|(key, _)| key == name)?;
            Some(
                value
                    .parse::<u64>()
                    .map_or_else(|_| (*value).to_owned(), |id| id.to_string()),
            )
        })
        .collect();
    (!values.is_empty()).then(|| values.join("/").into_boxed_str())
}

#[cfg(test)]
mod tests {
    use super::Route;

    #[test]
    fn routes_are_named_without_the_api_version_and_resources_kept_apart() {
        let route = Route::of(
            "POST",
            "/api/v10/channels/{channel_id}/messages",
            [("channel_id", "123")],
        );
        assert_eq!(route.name.as_str(), "POST /channels/{channel_id}/messages");
        assert_eq!(route.resource.as_deref(), Some("123"));
        let v9 = Route::of(
            "POST",
            "/api/v9/channels/{channel_id}/messages",
            [("channel_id", "123")],
        );
        assert_eq!(v9, route);
    }

    #[test]
    fn only_a_leading_channel_guild_or_webhook_is_a_top_level_resource() {
        let member = Route::of(
            "PATCH",
            "/api/v10/guilds/{guild_id}/members/{user_id}",
            [("guild_id", "7"), ("user_id", "8")],
        );
        assert_eq!(member.resource.as_deref(), Some("7"));
        let leave = Route::of(
            "DELETE",
            "/api/v10/users/@me/guilds/{guild_id}",
            [("guild_id", "7")],
        );
        assert_eq!(leave.resource, None);
        let webhook = Route::of(
            "POST",
            "/api/v10/webhooks/{webhook_id}/{webhook_token}",
            [("webhook_id", "9"), ("webhook_token", "secret")],
        );
        assert_eq!(webhook.resource.as_deref(), Some("9/secret"));
        let guilds = Route::of("POST", "/api/v10/guilds", []);
        assert_eq!(guilds.resource, None);
    }

    #[test]
    fn spellings_of_one_id_share_its_bucket() {
        for spelling in ["123", "0123", "+123"] {
            let route = Route::of(
                "GET",
                "/api/v10/channels/{channel_id}",
                [("channel_id", spelling)],
            );
            assert_eq!(route.resource.as_deref(), Some("123"), "{spelling}");
        }
    }

    #[test]
    fn the_bucket_hash_names_the_route_alone() {
        let one = Route::of(
            "POST",
            "/api/v10/channels/{channel_id}/messages",
            [("channel_id", "1")],
        );
        let two = Route::of(
            "POST",
            "/api/v9/channels/{channel_id}/messages",
            [("channel_id", "2")],
        );
        let read = Route::of(
            "GET",
            "/api/v10/channels/{channel_id}/messages",
            [("channel_id", "1")],
        );
        assert_eq!(one.bucket(), two.bucket());
        assert_ne!(one.bucket(), read.bucket());
        assert_eq!(one.bucket().len(), 32);
        assert!(one.bucket().bytes().all(|b| b.is_ascii_hexdigit()));
        // Fixed across processes and releases: clients and dashboards remember it.
        assert_eq!(
            Route::of("GET", "/api/v10/gateway", []).bucket(),
            "500acf683888f5bedc03b25212f5eaed"
        );
    }
}

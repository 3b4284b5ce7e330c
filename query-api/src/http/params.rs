//! Strict parsing of path segments and query strings, with Discord's 50035 answers.
//!
//! Discord answers a value that does not parse with `400 50035` naming the field
//! (`{"limit": {"_errors": [{"code": "NUMBER_TYPE_COERCE", …}]}}`), and a number out
//! of range with `NUMBER_TYPE_MIN` / `NUMBER_TYPE_MAX`; so do we, for the path's ids
//! as well as for the query, so a malformed id never reaches a database.

use std::ops::RangeInclusive;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use cloudcord_schemas::ids::Snowflake;

use cloudcord_runtime::http_error::{FormErrors, HttpError};

/// A snowflake path segment (`{channel_id}` …), or 50035 naming `field`.
pub fn path_id<T: From<Snowflake>>(field: &str, raw: &str) -> Result<T, HttpError> {
    parse_snowflake(raw)
        .map(T::from)
        .ok_or_else(|| FormErrors::single(field, "NUMBER_TYPE_COERCE", not_snowflake(raw)).into())
}

/// A canonical decimal snowflake: digits only, no sign, no leading zeros, in range.
fn parse_snowflake(raw: &str) -> Option<Snowflake> {
    let canonical = !raw.is_empty()
        && raw.bytes().all(|b| b.is_ascii_digit())
        && (raw == "0" || !raw.starts_with('0'));
    canonical.then(|| raw.parse().ok()).flatten()
}

fn not_snowflake(raw: &str) -> String {
    format!("Value \"{raw}\" is not snowflake.")
}

/// The query string of a request. Each accessor parses one parameter and records
/// what is wrong with it; [`Self::finish`] answers 50035 with every recorded error.
/// Parameters a route does not ask for are ignored, as Discord ignores them.
#[derive(Debug, Default)]
pub struct QueryParams {
    pairs: Vec<(String, String)>,
    errors: FormErrors,
}

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, HttpError> {
        Ok(Self::parse(parts.uri.query().unwrap_or_default()))
    }
}

impl QueryParams {
    /// The parameters of `query` (without the `?`).
    pub fn parse(query: &str) -> Self {
        Self {
            pairs: url::form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect(),
            errors: FormErrors::default(),
        }
    }

    /// The last value given for `name` (Discord, like most servers, keeps the last).
    fn raw(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// An optional snowflake.
    pub fn snowflake<T: From<Snowflake>>(&mut self, name: &str) -> Option<T> {
        let raw = self.raw(name)?.to_owned();
        match parse_snowflake(&raw) {
            Some(id) => Some(T::from(id)),
            None => {
                self.errors
                    .add(name, "NUMBER_TYPE_COERCE", not_snowflake(&raw));
                None
            }
        }
    }

    /// An optional integer in `range`, `default` when absent (or invalid: the error
    /// is recorded and the request fails at [`Self::finish`]).
    pub fn integer(&mut self, name: &str, range: RangeInclusive<u32>, default: u32) -> u32 {
        let Some(raw) = self.raw(name).map(str::to_owned) else {
            return default;
        };
        let Ok(value) = raw.parse::<i64>() else {
            self.errors.add(
                name,
                "NUMBER_TYPE_COERCE",
                format!("Value \"{raw}\" is not int."),
            );
            return default;
        };
        if value < i64::from(*range.start()) {
            self.errors.add(
                name,
                "NUMBER_TYPE_MIN",
                format!(
                    "Int value should be greater than or equal to {}.",
                    range.start()
                ),
            );
            return default;
        }
        match u32::try_from(value) {
            Ok(value) if range.contains(&value) => value,
            _ => {
                self.errors.add(
                    name,
                    "NUMBER_TYPE_MAX",
                    format!("Int value should be less than or equal to {}.", range.end()),
                );
                default
            }
        }
    }

    /// An optional boolean (`true`/`false`, also `1`/`0` and any case, as Discord
    /// accepts); `false` when absent.
    pub fn boolean(&mut self, name: &str) -> bool {
        self.boolean_or(name, false)
    }

    /// An optional boolean, `default` when absent.
    pub fn boolean_or(&mut self, name: &str, default: bool) -> bool {
        let Some(raw) = self.raw(name).map(str::to_owned) else {
            return default;
        };
        match raw.to_ascii_lowercase().as_str() {
            "true" | "1" => true,
            "false" | "0" => false,
            _ => {
                self.errors.add(
                    name,
                    "BOOLEAN_TYPE_COERCE",
                    format!("Value \"{raw}\" is not a valid boolean."),
                );
                false
            }
        }
    }

    /// Records an error that is not about one value's syntax (e.g. two parameters
    /// that exclude each other).
    pub fn refuse(&mut self, name: &str, code: &str, message: &str) {
        self.errors.add(name, code, message);
    }

    /// `Ok(())` when every parameter read was valid, else 50035 with all errors.
    pub fn finish(self) -> Result<(), HttpError> {
        self.errors.into_result()
    }
}

#[cfg(test)]
mod tests {
    use cloudcord_schemas::ids::{ChannelId, Snowflake};

    use super::{QueryParams, parse_snowflake, path_id};
    use cloudcord_runtime::http_error::HttpError;

    #[test]
    fn only_canonical_snowflakes_parse() {
        assert_eq!(parse_snowflake("123"), Some(Snowflake::new(123)));
        assert_eq!(parse_snowflake("0"), Some(Snowflake::new(0)));
        for bad in [
            "",
            "abc",
            "-1",
            "+1",
            "012",
            " 1",
            "1.0",
            "18446744073709551616",
        ] {
            assert_eq!(parse_snowflake(bad), None, "{bad:?}");
        }
        assert!(matches!(
            path_id::<ChannelId>("channel_id", "@me"),
            Err(HttpError::Api { error, .. }) if error.code == 50035
        ));
    }

    #[test]
    fn integers_outside_their_range_are_refused() {
        for (query, ok) in [
            ("limit=1", true),
            ("limit=100", true),
            ("", true),
            ("limit=0", false),
            ("limit=101", false),
            ("limit=-5", false),
            ("limit=ten", false),
            ("limit=99999999999999999999", false),
        ] {
            let mut params = QueryParams::parse(query);
            let limit = params.integer("limit", 1..=100, 50);
            assert_eq!(params.finish().is_ok(), ok, "{query}");
            assert!((1..=100).contains(&limit));
        }
    }

    #[test]
    fn the_last_repeated_parameter_wins_and_booleans_are_strict() {
        let mut params = QueryParams::parse("limit=3&limit=7&with_counts=TRUE");
        assert_eq!(params.integer("limit", 1..=100, 50), 7);
        assert!(params.boolean("with_counts"));
        assert!(params.finish().is_ok());
        let mut params = QueryParams::parse("with_counts=yes");
        assert!(!params.boolean("with_counts"));
        assert!(params.finish().is_err());
    }
}

//! OAuth2 request parameters: `application/x-www-form-urlencoded` bodies and query
//! strings, where a repeated parameter is an error (RFC 6749 §3.1, §3.2), and client
//! authentication at the token and revocation endpoints (RFC 6749 §2.3.1).

use std::collections::HashMap;

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// A parameter was sent twice.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("parameter {0:?} is repeated")]
pub struct Repeated(pub String);

/// Parsed parameters, each at most once.
#[derive(Debug, Clone, Default)]
pub struct Params(HashMap<String, String>);

impl Params {
    /// Parses a form body or query string.
    pub fn parse(encoded: &[u8]) -> Result<Self, Repeated> {
        let mut params = HashMap::new();
        for (name, value) in url::form_urlencoded::parse(encoded) {
            if params
                .insert(name.to_string(), value.into_owned())
                .is_some()
            {
                return Err(Repeated(name.into_owned()));
            }
        }
        Ok(Self(params))
    }

    /// The value of `name`, if sent and not empty (RFC 6749 §3.1: an empty
    /// parameter counts as omitted).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|value| !value.is_empty())
    }
}

/// The client's claimed identity at the token endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCredentials {
    /// `client_id`.
    pub client_id: String,
    /// `client_secret`, if the client sent one.
    pub secret: Option<String>,
    /// Whether they came in an `Authorization: Basic` header (a failure then answers
    /// 401 with `WWW-Authenticate`, RFC 6749 §5.2).
    pub basic: bool,
}

/// Why the client's credentials cannot even be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsError {
    /// No `client_id` anywhere.
    #[error("no client_id")]
    Missing,
    /// A malformed `Basic` header, or credentials in both the header and the body
    /// (RFC 6749 §2.3: a client uses one method per request).
    #[error("malformed client credentials")]
    Malformed,
}

/// The client credentials of a token or revocation request: `Authorization: Basic`
/// (`client_secret_basic`, each part form-urlencoded) or `client_id` and
/// `client_secret` in the body (`client_secret_post`, or a public client's `none`).
pub fn client_credentials(
    headers: &HeaderMap,
    params: &Params,
) -> Result<ClientCredentials, CredentialsError> {
    let basic = headers
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            let (scheme, encoded) = value.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("basic")
                .then(|| encoded.trim().to_owned())
        });
    if let Some(encoded) = basic {
        if params.get("client_secret").is_some() {
            return Err(CredentialsError::Malformed);
        }
        let decoded = STANDARD
            .decode(encoded)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or(CredentialsError::Malformed)?;
        let (id, secret) = decoded.split_once(':').ok_or(CredentialsError::Malformed)?;
        let unescape = |part: &str| -> Result<String, CredentialsError> {
            let wrapped = format!("v={part}");
            url::form_urlencoded::parse(wrapped.as_bytes())
                .next()
                .map(|(_, value)| value.into_owned())
                .ok_or(CredentialsError::Malformed)
        };
        let client_id = unescape(id)?;
        if params
            .get("client_id")
            .is_some_and(|body| body != client_id)
        {
            return Err(CredentialsError::Malformed);
        }
        let secret = unescape(secret)?;
        return Ok(ClientCredentials {
            client_id,
            secret: (!secret.is_empty()).then_some(secret),
            basic: true,
        });
    }
    let client_id = params
        .get("client_id")
        .ok_or(CredentialsError::Missing)?
        .to_owned();
    Ok(ClientCredentials {
        client_id,
        secret: params.get("client_secret").map(str::to_owned),
        basic: false,
    })
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, HeaderValue};
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;

    use super::{CredentialsError, Params, Repeated, client_credentials};

    #[test]
    fn a_repeated_parameter_is_refused_and_empty_counts_as_absent() {
        assert_eq!(
            Params::parse(b"code=a&code=b").err(),
            Some(Repeated("code".to_owned()))
        );
        let params = Params::parse(b"code=a%20b&state=").expect("parses");
        assert_eq!(params.get("code"), Some("a b"));
        assert_eq!(params.get("state"), None);
    }

    #[test]
    fn client_credentials_come_from_basic_or_the_body_but_not_both() {
        let mut headers = HeaderMap::new();
        let basic = STANDARD.encode("my%3Aapp:s%26cret");
        headers.insert(
            "authorization",
            HeaderValue::from_str(&format!("Basic {basic}")).expect("header"),
        );
        let from_basic =
            client_credentials(&headers, &Params::parse(b"").expect("ok")).expect("valid");
        assert_eq!(from_basic.client_id, "my:app");
        assert_eq!(from_basic.secret.as_deref(), Some("s&cret"));
        assert!(from_basic.basic);
        assert_eq!(
            client_credentials(&headers, &Params::parse(b"client_secret=x").expect("ok")),
            Err(CredentialsError::Malformed)
        );

        let body = Params::parse(b"client_id=app&client_secret=s").expect("ok");
        let from_body = client_credentials(&HeaderMap::new(), &body).expect("valid");
        assert_eq!(
            (from_body.client_id.as_str(), from_body.secret.as_deref()),
            ("app", Some("s"))
        );
        assert_eq!(
            client_credentials(&HeaderMap::new(), &Params::default()),
            Err(CredentialsError::Missing)
        );
    }
}

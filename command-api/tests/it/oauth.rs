//! The OAuth 2.0 / OpenID Connect provider against an independent relying party —
//! the `openidconnect` crate — over real HTTP, with the real broker and PostgreSQL:
//! discovery, the authorization code grant with PKCE (driving the sign-in form the
//! way a browser does), token exchange, ID token verification, userinfo, refresh
//! and revocation; then every way a grant or a token must be refused.

use std::future::Future;
use std::time::{Duration, SystemTime};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cloudcord_command_api::http::HttpSettings;
use cloudcord_command_api::oauth::{ClientSettings, OAuthSettings};
use cloudcord_runtime::auth::{
    AuthConfig, NewAccessToken, SigningKey, TokenIssuer, TokenKind, TokenVerifier,
};
use cloudcord_schemas::ids::UserId;
use openidconnect::core::{
    CoreAuthDisplay, CoreClaimName, CoreClaimType, CoreClient, CoreClientAuthMethod,
    CoreErrorResponseType, CoreGenderClaim, CoreGrantType, CoreJsonWebKey,
    CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm, CoreJwsSigningAlgorithm,
    CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType, CoreTokenResponse,
};
use openidconnect::{
    AccessTokenHash, AdditionalProviderMetadata, AuthenticationFlow, AuthorizationCode, ClientId,
    ClientSecret, CsrfToken, EmptyAdditionalClaims, EndpointMaybeSet, EndpointNotSet, EndpointSet,
    HttpRequest, HttpResponse, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    PkceCodeVerifier, ProviderMetadata, RedirectUrl, RefreshToken, RequestTokenError,
    RevocationUrl, Scope, TokenResponse, UserInfoClaims,
};
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::http::{World, unique};
use crate::support::{generous_rate_limits, realistic_http_settings};

/// A confidential client (`client_secret_basic`).
const APP: &str = "test-app";
const APP_SECRET: &str = "test-app-secret-0123456789abcdef";
/// Its registered redirect URIs (never contacted: the tests read the redirect).
const REDIRECT: &str = "http://127.0.0.1:9/callback";
const OTHER_REDIRECT: &str = "http://127.0.0.1:9/other-callback";
/// A second client, to present another client's grants.
const OTHER_APP: &str = "test-other-app";
const PASSWORD: &str = "correct horse battery";

/// The discovery document with the revocation endpoint (not in the core metadata).
#[derive(Clone, Debug, Deserialize, Serialize)]
struct RevocationEndpoint {
    revocation_endpoint: String,
}
impl AdditionalProviderMetadata for RevocationEndpoint {}

type Metadata = ProviderMetadata<
    RevocationEndpoint,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// The relying party's client, configured from discovery.
type Rp = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

fn sha256_hex(text: &str) -> String {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes())
        .as_ref()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The API's settings with the two test clients registered beside the default
/// first-party one.
fn settings() -> HttpSettings {
    let mut oauth = OAuthSettings::default();
    oauth.clients.push(ClientSettings {
        client_id: APP.to_owned(),
        name: "Test <App>".to_owned(),
        redirect_uris: vec![REDIRECT.to_owned(), OTHER_REDIRECT.to_owned()],
        client_secret_sha256: Some(sha256_hex(APP_SECRET)),
        first_party: false,
    });
    oauth.clients.push(ClientSettings {
        client_id: OTHER_APP.to_owned(),
        name: "Other".to_owned(),
        redirect_uris: vec![REDIRECT.to_owned()],
        client_secret_sha256: Some(sha256_hex("other-secret")),
        first_party: false,
    });
    HttpSettings {
        rate_limits: generous_rate_limits(),
        oauth,
        ..realistic_http_settings()
    }
}

/// One test's provider, a user of it, and an HTTP client that never follows
/// redirects (a relying party reads them).
struct Provider {
    world: World,
    http: reqwest::Client,
    base: String,
    user: UserId,
    username: String,
}

impl Provider {
    async fn new() -> Self {
        let world = World::with_settings(settings()).await;
        Self::over(world).await
    }

    async fn over(world: World) -> Self {
        let base = world.api.base.clone();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client");
        let username = unique("oidc");
        let (status, body) = world
            .post(
                "/api/v10/auth/register",
                None,
                json!({
                    "username": username, "password": PASSWORD,
                    "global_name": "Olive", "email": format!("{username}@example.test"),
                }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let token = body["token"].as_str().expect("token");
        let user = world
            .api
            .state
            .verifier()
            .verify(token)
            .expect("the registration's token verifies")
            .user_id;
        Self {
            world,
            http,
            base,
            user,
            username,
        }
    }

    /// openidconnect's HTTP client: reqwest, without redirects.
    fn rp_http(&self) -> impl Fn(HttpRequest) -> RpFuture + '_ {
        let client = self.http.clone();
        move |request| Box::pin(send(client.clone(), request))
    }

    /// Discovery, then a client for `client_id` with `secret`.
    async fn relying_party(&self, client_id: &str, secret: &str) -> Rp {
        let issuer = IssuerUrl::new(self.base.clone()).expect("issuer URL");
        let metadata = Metadata::discover_async(issuer, &self.rp_http())
            .await
            .expect("discovery succeeds");
        let revocation = metadata.additional_metadata().revocation_endpoint.clone();
        CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(client_id.to_owned()),
            Some(ClientSecret::new(secret.to_owned())),
        )
        .set_redirect_uri(RedirectUrl::new(REDIRECT.to_owned()).expect("redirect URL"))
        .set_revocation_url(RevocationUrl::new(revocation).expect("revocation URL"))
    }

    async fn app(&self) -> Rp {
        self.relying_party(APP, APP_SECRET).await
    }

    /// Opens `url` like a browser, fills in the sign-in form and submits it with
    /// `decision`; returns the redirect's target.
    async fn sign_in(&self, url: &url::Url, password: &str, decision: &str) -> url::Url {
        let submitted = self.submit_sign_in(url, password, None, decision).await;
        assert_eq!(submitted.status(), StatusCode::SEE_OTHER, "a redirect");
        let location = submitted
            .headers()
            .get("location")
            .and_then(|value| value.to_str().ok())
            .expect("Location");
        url::Url::parse(location).expect("an absolute redirect")
    }

    /// Opens `url`, fills in the form (with a two-factor `code`, if given) and
    /// submits it; the answer.
    async fn submit_sign_in(
        &self,
        url: &url::Url,
        password: &str,
        code: Option<&str>,
        decision: &str,
    ) -> reqwest::Response {
        let page = self.http.get(url.as_str()).send().await.expect("GET page");
        assert_eq!(page.status(), StatusCode::OK, "the sign-in page");
        assert_eq!(
            page.headers()
                .get("x-frame-options")
                .and_then(|v| v.to_str().ok()),
            Some("DENY")
        );
        let html = page.text().await.expect("HTML");
        let (action, mut fields) = form_of(&html);
        fields.push(("login".to_owned(), self.username.clone()));
        fields.push(("password".to_owned(), password.to_owned()));
        if let Some(code) = code {
            fields.push(("code".to_owned(), code.to_owned()));
        }
        fields.push(("decision".to_owned(), decision.to_owned()));
        self.http
            .post(format!("{}{action}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(encode(&fields))
            .send()
            .await
            .expect("POST form")
    }

    /// A full authorization up to the code: (code, PKCE verifier, nonce).
    async fn authorize(
        &self,
        rp: &Rp,
        scopes: &[&str],
    ) -> (AuthorizationCode, PkceCodeVerifier, Nonce) {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = rp
            .authorize_url(
                AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for scope in scopes {
            request = request.add_scope(Scope::new((*scope).to_owned()));
        }
        let (url, state, nonce) = request.url();
        let back = self.sign_in(&url, PASSWORD, "authorize").await;
        assert!(back.as_str().starts_with(REDIRECT), "{back}");
        assert_eq!(
            query(&back, "state").as_deref(),
            Some(state.secret().as_str())
        );
        assert_eq!(query(&back, "iss").as_deref(), Some(self.base.as_str()));
        let code = query(&back, "code").expect("a code");
        (AuthorizationCode::new(code), verifier, nonce)
    }

    /// The code exchanged for tokens.
    async fn exchange(
        &self,
        rp: &Rp,
        code: AuthorizationCode,
        verifier: PkceCodeVerifier,
    ) -> CoreTokenResponse {
        rp.exchange_code(code)
            .expect("a token endpoint")
            .set_pkce_verifier(verifier)
            .request_async(&self.rp_http())
            .await
            .expect("the token exchange succeeds")
    }

    /// The OAuth2 error code the token endpoint answered the exchange of `code`
    /// with (`expected`: why it must be refused).
    async fn exchange_error(
        &self,
        rp: &Rp,
        code: AuthorizationCode,
        verifier: PkceCodeVerifier,
        expected: &str,
    ) -> CoreErrorResponseType {
        let refused = rp
            .exchange_code(code)
            .expect("a token endpoint")
            .set_pkce_verifier(verifier)
            .request_async(&self.rp_http())
            .await
            .expect_err(expected);
        server_error(refused)
    }

    /// The OAuth2 error code the token endpoint answered `refresh` with.
    async fn refresh_error(&self, rp: &Rp, refresh: &RefreshToken) -> CoreErrorResponseType {
        let refused = rp
            .exchange_refresh_token(refresh)
            .expect("a token endpoint")
            .request_async(&self.rp_http())
            .await
            .expect_err("the refresh is refused");
        server_error(refused)
    }

    /// `GET /api/v10/oauth2/userinfo` with `token`: status and body.
    async fn userinfo(&self, token: &str) -> (StatusCode, Value) {
        let response = self
            .http
            .get(format!("{}/api/v10/oauth2/userinfo", self.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("userinfo");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// RFC 7009 revocation of `token` by the confidential client. (openidconnect
    /// refuses a revocation endpoint that is not HTTPS, as RFC 7009 §2 asks, and
    /// these tests run on plain loopback HTTP, so this one request is made by hand;
    /// the discovered endpoint is the one used.)
    async fn revoke(&self, token: &str) -> StatusCode {
        let discovery: Value = self
            .http
            .get(format!("{}/.well-known/openid-configuration", self.base))
            .send()
            .await
            .expect("discovery")
            .json()
            .await
            .expect("JSON");
        let endpoint = discovery["revocation_endpoint"]
            .as_str()
            .expect("an endpoint");
        self.http
            .post(endpoint)
            .basic_auth(APP, Some(APP_SECRET))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(encode(&[
                ("token".to_owned(), token.to_owned()),
                ("token_type_hint".to_owned(), "refresh_token".to_owned()),
            ]))
            .send()
            .await
            .expect("revocation")
            .status()
    }

    /// A form POST to the token endpoint (for what a well-behaved RP never sends).
    async fn token_request(&self, fields: &[(&str, &str)]) -> (StatusCode, Value) {
        let fields: Vec<(String, String)> = fields
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        let response = self
            .http
            .post(format!("{}/api/v10/oauth2/token", self.base))
            .basic_auth(APP, Some(APP_SECRET))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(encode(&fields))
            .send()
            .await
            .expect("token request");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

type RpFuture =
    std::pin::Pin<Box<dyn Future<Output = Result<HttpResponse, reqwest::Error>> + Send>>;

/// One openidconnect request over reqwest.
async fn send(
    client: reqwest::Client,
    request: HttpRequest,
) -> Result<HttpResponse, reqwest::Error> {
    let (parts, body) = request.into_parts();
    let response = client
        .request(parts.method, parts.uri.to_string())
        .headers(parts.headers)
        .body(body)
        .send()
        .await?;
    let mut built = openidconnect::http::Response::builder().status(response.status());
    for (name, value) in response.headers() {
        built = built.header(name, value);
    }
    let body = response.bytes().await?;
    Ok(built
        .body(body.to_vec())
        .expect("a response from valid parts"))
}

fn server_error<E: std::error::Error>(
    error: RequestTokenError<E, openidconnect::StandardErrorResponse<CoreErrorResponseType>>,
) -> CoreErrorResponseType {
    match error {
        RequestTokenError::ServerResponse(response) => response.error().clone(),
        other => panic!("expected an OAuth2 error response, got {other:?}"),
    }
}

fn encode(fields: &[(String, String)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
}

fn query(url: &url::Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// The sign-in form's action and hidden fields, read from the page's HTML (ours is
/// regular: one form, attributes in double quotes).
fn form_of(html: &str) -> (String, Vec<(String, String)>) {
    let attribute = |tag: &str, name: &str| -> Option<String> {
        let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
        let end = start + tag[start..].find('"')?;
        Some(unescape(&tag[start..end]))
    };
    let form_start = html.find("<form").expect("a form");
    let form_tag = &html[form_start..form_start + html[form_start..].find('>').expect("tag end")];
    let action = attribute(form_tag, "action").expect("an action");
    let mut fields = Vec::new();
    for piece in html.split("<input").skip(1) {
        let tag = &piece[..piece.find('>').expect("tag end")];
        if attribute(tag, "type").as_deref() == Some("hidden") {
            fields.push((
                attribute(tag, "name").expect("a name"),
                attribute(tag, "value").unwrap_or_default(),
            ));
        }
    }
    (action, fields)
}

fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn header_of(jwt: &str) -> Value {
    let header = jwt.split('.').next().expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).expect("base64url")).expect("JSON")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_relying_party_signs_in_with_pkce_verifies_the_id_token_refreshes_and_revokes() {
    let provider = Provider::new().await;
    let rp = provider.app().await;
    let (code, verifier, nonce) = provider.authorize(&rp, &["identify", "email"]).await;
    let tokens = provider.exchange(&rp, code, verifier).await;

    // The ID token, verified by the relying party (signature with the discovered
    // JWKS, EdDSA pinned, iss, aud, exp, nonce), and bound to the access token.
    let id_token = tokens.id_token().expect("an ID token for the openid scope");
    let id_verifier = rp
        .id_token_verifier()
        .set_allowed_algs(vec![CoreJwsSigningAlgorithm::EdDsa]);
    let claims = id_token
        .claims(&id_verifier, &nonce)
        .expect("the ID token verifies");
    assert_eq!(claims.subject().as_str(), provider.user.to_string());
    assert_eq!(
        claims.preferred_username().map(|name| name.as_str()),
        Some(provider.username.as_str())
    );
    assert_eq!(
        claims.email().map(|email| email.as_str().to_owned()),
        Some(format!("{}@example.test", provider.username))
    );
    let at_hash = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().expect("alg"),
        id_token.signing_key(&id_verifier).expect("key"),
    )
    .expect("hash");
    assert_eq!(claims.access_token_hash(), Some(&at_hash));

    // The access token is an RFC 9068 JWT for the API, not for the client.
    let access = tokens.access_token().secret();
    let header = header_of(access);
    assert_eq!(
        (header["typ"].as_str(), header["alg"].as_str()),
        (Some("at+jwt"), Some("EdDSA"))
    );
    assert_eq!(
        tokens
            .scopes()
            .map(|scopes| scopes.iter().map(|s| s.to_string()).collect::<Vec<_>>()),
        Some(vec![
            "openid".to_owned(),
            "identify".to_owned(),
            "email".to_owned()
        ])
    );

    // UserInfo, through the relying party.
    let info: UserInfoClaims<EmptyAdditionalClaims, CoreGenderClaim> = rp
        .user_info(
            tokens.access_token().clone(),
            Some(claims.subject().clone()),
        )
        .expect("a userinfo endpoint")
        .request_async(&provider.rp_http())
        .await
        .expect("userinfo succeeds");
    assert_eq!(
        info.preferred_username().map(|name| name.as_str()),
        Some(provider.username.as_str())
    );

    // An application's token does not act as the user on the rest of the API.
    let (status, _) = provider
        .world
        .post(
            "/api/v10/guilds",
            Some(&format!("Bearer {access}")),
            json!({"name": "not yours"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Refresh: a new refresh token every time.
    let first_refresh = tokens.refresh_token().expect("a refresh token").clone();
    let refreshed = rp
        .exchange_refresh_token(&first_refresh)
        .expect("a token endpoint")
        .request_async(&provider.rp_http())
        .await
        .expect("the refresh succeeds");
    let second_refresh = refreshed
        .refresh_token()
        .expect("a rotated refresh token")
        .clone();
    assert_ne!(second_refresh.secret(), first_refresh.secret());
    let (status, _) = provider.userinfo(refreshed.access_token().secret()).await;
    assert_eq!(status, StatusCode::OK);

    // Revocation (RFC 7009) of the refresh token ends the session: no more refresh,
    // and the provider refuses the session's access tokens at once.
    assert_eq!(
        provider.revoke(second_refresh.secret()).await,
        StatusCode::OK
    );
    assert_eq!(
        provider.refresh_error(&rp, &second_refresh).await,
        CoreErrorResponseType::InvalidGrant
    );
    let (status, _) = provider.userinfo(refreshed.access_token().secret()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Revoking an unknown token is fine (RFC 7009 §2.2).
    assert_eq!(provider.revoke("unknown").await, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_code_exchange_needs_the_right_pkce_verifier_client_and_redirect_uri() {
    let provider = Provider::new().await;
    let rp = provider.app().await;

    // No code_verifier at all.
    let (code, _, _) = provider.authorize(&rp, &["identify"]).await;
    let (status, body) = provider
        .token_request(&[
            ("grant_type", "authorization_code"),
            ("code", code.secret()),
            ("redirect_uri", REDIRECT),
        ])
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request")),
        "{body}"
    );

    // A wrong one (well formed, another verifier's).
    let (code, _, _) = provider.authorize(&rp, &["identify"]).await;
    let (_, wrong) = PkceCodeChallenge::new_random_sha256();
    assert_eq!(
        provider
            .exchange_error(&rp, code, wrong, "a wrong verifier is refused")
            .await,
        CoreErrorResponseType::InvalidGrant
    );

    // The right verifier, but another registered redirect_uri than the request's.
    let (code, verifier, _) = provider.authorize(&rp, &["identify"]).await;
    let (status, body) = provider
        .token_request(&[
            ("grant_type", "authorization_code"),
            ("code", code.secret()),
            ("redirect_uri", OTHER_REDIRECT),
            ("code_verifier", verifier.secret()),
        ])
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "{body}"
    );

    // Another client presenting the code, with the right verifier.
    let (code, verifier, _) = provider.authorize(&rp, &["identify"]).await;
    let other = provider.relying_party(OTHER_APP, "other-secret").await;
    assert_eq!(
        provider
            .exchange_error(&other, code, verifier, "another client's code is refused")
            .await,
        CoreErrorResponseType::InvalidGrant
    );

    // A wrong client secret.
    let (code, verifier, _) = provider.authorize(&rp, &["identify"]).await;
    let impostor = provider.relying_party(APP, "not-the-secret").await;
    assert_eq!(
        provider
            .exchange_error(&impostor, code, verifier, "a wrong secret is refused")
            .await,
        CoreErrorResponseType::InvalidClient
    );

    // Grants that are not offered.
    for grant in ["password", "client_credentials", "implicit"] {
        let (status, body) = provider
            .token_request(&[
                ("grant_type", grant),
                ("username", &provider.username),
                ("password", PASSWORD),
            ])
            .await;
        assert_eq!(
            body["error"], "unsupported_grant_type",
            "{grant}: {status} {body}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_authorization_request_needs_pkce_s256_a_code_response_and_a_registered_redirect_uri() {
    let provider = Provider::new().await;
    let (challenge, _) = PkceCodeChallenge::new_random_sha256();
    let authorize = |pairs: &[(&str, &str)]| {
        let mut url = url::Url::parse(&format!("{}/oauth2/authorize", provider.base)).expect("URL");
        url.query_pairs_mut().extend_pairs(pairs);
        url
    };
    let valid = [
        ("response_type", "code"),
        ("client_id", APP),
        ("redirect_uri", REDIRECT),
        ("scope", "openid identify"),
        ("state", "s1"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let with = |name: &str, value: Option<&str>| -> url::Url {
        let pairs: Vec<(&str, &str)> = valid
            .iter()
            .filter_map(|(n, v)| {
                if *n == name {
                    value.map(|value| (*n, value))
                } else {
                    Some((*n, *v))
                }
            })
            .collect();
        authorize(&pairs)
    };
    let get = |url: url::Url| {
        let http = provider.http.clone();
        async move { http.get(url.as_str()).send().await.expect("GET") }
    };

    let page = get(with("state", Some("s1"))).await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.expect("HTML");
    assert!(
        html.contains("Test &lt;App&gt;"),
        "the client's name, escaped"
    );

    // Errors the client can be told about go back to its redirect_uri.
    for (url, error) in [
        (with("code_challenge", None), "invalid_request"),
        (
            with("code_challenge_method", Some("plain")),
            "invalid_request",
        ),
        (with("code_challenge_method", None), "invalid_request"),
        (
            with("response_type", Some("token")),
            "unsupported_response_type",
        ),
        (
            with("response_type", Some("id_token token")),
            "unsupported_response_type",
        ),
        (with("scope", Some("identify admin")), "invalid_scope"),
    ] {
        let response = get(url.clone()).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{url}");
        let location =
            url::Url::parse(response.headers()["location"].to_str().expect("ASCII")).expect("URL");
        assert!(location.as_str().starts_with(REDIRECT), "{location}");
        assert_eq!(query(&location, "error").as_deref(), Some(error), "{url}");
        assert_eq!(query(&location, "state").as_deref(), Some("s1"));
    }
    // An unregistered or inexact redirect_uri, or an unknown client, is never
    // redirected to.
    for url in [
        with("redirect_uri", Some("http://127.0.0.1:9/callback/")),
        with("redirect_uri", Some("http://127.0.0.1:9/callback?x=1")),
        with("redirect_uri", Some("https://evil.example/callback")),
        with("redirect_uri", None),
        with("client_id", Some("nobody")),
    ] {
        let response = get(url.clone()).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{url}");
        assert!(response.headers().get("location").is_none(), "{url}");
    }

    // Cancel → access_denied; a wrong password → the form again, no code.
    let rp = provider.app().await;
    let (url, _, _) = rp
        .authorize_url(
            AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(PkceCodeChallenge::new_random_sha256().0)
        .url();
    let back = provider.sign_in(&url, PASSWORD, "deny").await;
    assert_eq!(query(&back, "error").as_deref(), Some("access_denied"));
    let page = provider.http.get(url.as_str()).send().await.expect("GET");
    let (action, mut fields) = form_of(&page.text().await.expect("HTML"));
    fields.push(("login".to_owned(), provider.username.clone()));
    fields.push(("password".to_owned(), "wrong password".to_owned()));
    fields.push(("decision".to_owned(), "authorize".to_owned()));
    let failures_before = failed_logins(&provider);
    let wrong = provider
        .http
        .post(format!("{}{action}", provider.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(encode(&fields))
        .send()
        .await
        .expect("POST");
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.headers().get("location").is_none());
    assert!(
        wrong
            .text()
            .await
            .expect("HTML")
            .contains("Login or password is invalid.")
    );
    assert_eq!(failed_logins(&provider), failures_before + 1);
}

/// The `cloudcord_auth_failed_logins_total` counter of the authorize page.
fn failed_logins(provider: &Provider) -> u64 {
    use cloudcord_command_api::oauth::metrics::EndpointLabel;
    provider
        .world
        .api
        .state
        .oauth_metrics()
        .failed_logins
        .get_or_create(&EndpointLabel {
            endpoint: "authorize",
        })
        .get()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reused_code_is_refused_and_revokes_the_session_it_started() {
    let provider = Provider::new().await;
    let rp = provider.app().await;
    let (code, verifier, _) = provider.authorize(&rp, &["identify"]).await;
    let verifier_again = PkceCodeVerifier::new(verifier.secret().clone());
    let tokens = provider.exchange(&rp, code.clone(), verifier).await;

    assert_eq!(
        provider
            .exchange_error(&rp, code, verifier_again, "a code works once")
            .await,
        CoreErrorResponseType::InvalidGrant
    );
    assert_eq!(provider.world.api.state.oauth_metrics().code_reuse.get(), 1);
    // What the first redemption granted is revoked too (RFC 6749 §4.1.2).
    let refresh = tokens.refresh_token().expect("a refresh token");
    assert_eq!(
        provider.refresh_error(&rp, refresh).await,
        CoreErrorResponseType::InvalidGrant
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reused_refresh_token_revokes_its_whole_family() {
    let provider = Provider::new().await;
    let rp = provider.app().await;
    let (code, verifier, _) = provider.authorize(&rp, &["identify"]).await;
    let tokens = provider.exchange(&rp, code, verifier).await;
    let first = tokens.refresh_token().expect("a refresh token").clone();
    let second = rp
        .exchange_refresh_token(&first)
        .expect("a token endpoint")
        .request_async(&provider.rp_http())
        .await
        .expect("the first refresh succeeds")
        .refresh_token()
        .expect("rotated")
        .clone();
    // The first token again (a thief's copy, say): refused, and the family is gone,
    // so the legitimate holder of the newest token must sign in again.
    assert_eq!(
        provider.refresh_error(&rp, &first).await,
        CoreErrorResponseType::InvalidGrant
    );
    assert_eq!(
        provider.refresh_error(&rp, &second).await,
        CoreErrorResponseType::InvalidGrant
    );
    assert_eq!(
        provider
            .world
            .api
            .state
            .oauth_metrics()
            .refresh_token_reuse
            .get(),
        1
    );
    // Another client cannot use (or burn) this client's refresh tokens.
    let (code, verifier, _) = provider.authorize(&rp, &["identify"]).await;
    let live = provider.exchange(&rp, code, verifier).await;
    let other = provider.relying_party(OTHER_APP, "other-secret").await;
    let live_refresh = live.refresh_token().expect("a refresh token");
    assert_eq!(
        provider.refresh_error(&other, live_refresh).await,
        CoreErrorResponseType::InvalidGrant
    );
    rp.exchange_refresh_token(live_refresh)
        .expect("a token endpoint")
        .request_async(&provider.rp_http())
        .await
        .expect("still valid for its own client");
}

/// The API's own signing key, from the file it was started with.
fn api_key(provider: &Provider) -> SigningKey {
    SigningKey::load(&provider.world.api.signing_key_path).expect("the API's key file")
}

fn request_for(user: UserId) -> NewAccessToken {
    NewAccessToken {
        user_id: user,
        client_id: "cloudcord".to_owned(),
        scopes: vec!["identify".to_owned()],
        kind: TokenKind::Session,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn forged_expired_early_and_misaddressed_access_tokens_are_refused_by_the_api() {
    let provider = Provider::new().await;
    let auth = provider.world.api.auth.clone();
    let now = SystemTime::now();
    let mint = |config: &AuthConfig, key: SigningKey, at: SystemTime| {
        TokenIssuer::new(key, config)
            .issue(&request_for(provider.user), at)
            .expect("issued")
            .token
    };
    // The control: a token made exactly as the API makes them is accepted, so each
    // refusal below is for the one thing that differs.
    let good = mint(&auth, api_key(&provider), now);
    assert_eq!(provider.userinfo(&good).await.0, StatusCode::OK);

    let key = api_key(&provider);
    let kid = key.kid().to_owned();
    let claims = {
        let payload = good.split('.').nth(1).expect("payload");
        URL_SAFE_NO_PAD.encode(URL_SAFE_NO_PAD.decode(payload).expect("base64url"))
    };
    let alg_none = format!(
        "{}.{claims}.",
        URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"none","typ":"at+jwt","kid":"{kid}"}}"#))
    );
    let hs256 = {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        header.typ = Some("at+jwt".to_owned());
        header.kid = Some(kid.clone());
        let claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&claims).expect("base64url"))
                .expect("JSON");
        // The classic confusion: HMAC keyed with the public key anyone can fetch.
        jsonwebtoken::encode(
            &header,
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(key.public_key_bytes()),
        )
        .expect("HS256")
    };
    let hour = Duration::from_secs(3600);
    let refused = [
        ("alg none", alg_none),
        ("HS256 with the public key", hs256),
        ("expired", mint(&auth, api_key(&provider), now - 2 * hour)),
        ("not yet valid", mint(&auth, api_key(&provider), now + hour)),
        (
            "wrong aud",
            mint(
                &AuthConfig {
                    audience: "someone-else".to_owned(),
                    ..auth.clone()
                },
                api_key(&provider),
                now,
            ),
        ),
        (
            "wrong iss",
            mint(
                &AuthConfig {
                    issuer: "https://evil.example".to_owned(),
                    ..auth.clone()
                },
                api_key(&provider),
                now,
            ),
        ),
        (
            "unknown kid",
            mint(&auth, SigningKey::generate().expect("key"), now),
        ),
    ];
    for (what, token) in refused {
        let (status, body) = provider.userinfo(&token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "userinfo, {what}: {body}");
        let (status, body) = provider
            .world
            .post(
                "/api/v10/guilds",
                Some(&format!("Bearer {token}")),
                json!({"name": "forged"}),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "a write, {what}: {body}");
        assert_eq!(body["code"], 0, "Discord's 401 shape: {body}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_jwks_publishes_previous_keys_until_they_are_retired() {
    let bus = std::sync::Arc::new(crate::support::Bus::new().await);
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let old_path = dir.join(format!("{}old.pem", bus.kafka.topic_prefix));
    let new_path = dir.join(format!("{}new.pem", bus.kafka.topic_prefix));
    let old = SigningKey::load_or_generate(&old_path).expect("old key");
    let new = SigningKey::load_or_generate(&new_path).expect("new key");
    let rotating = AuthConfig {
        signing_key_path: new_path.clone(),
        previous_signing_key_paths: vec![old_path.clone()],
        ..AuthConfig::default()
    };
    let api = bus.spawn_api_with_auth(settings(), rotating).await;
    let http = reqwest::Client::new();
    let jwks: Value = http
        .get(format!("{}/.well-known/jwks.json", api.base))
        .send()
        .await
        .expect("JWKS")
        .json()
        .await
        .expect("JSON");
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|key| key["kid"].as_str().expect("every key has a kid"))
        .collect();
    assert_eq!(kids, [new.kid(), old.kid()], "newest first");

    // What the old key signed still verifies; the API signs with the new one.
    let user = UserId::new(80_351_110_224_678_912);
    let with_old = TokenIssuer::new(old, &api.auth)
        .issue(&request_for(user), SystemTime::now())
        .expect("issued")
        .token;
    let verifier =
        TokenVerifier::from_jwks(&serde_json::from_value(jwks).expect("a JWKS"), &api.auth)
            .expect("usable");
    assert!(verifier.verify(&with_old).is_ok());
    assert!(api.state.verifier().verify(&with_old).is_ok());
    let discovery: Value = http
        .get(format!("{}/.well-known/openid-configuration", api.base))
        .send()
        .await
        .expect("discovery")
        .json()
        .await
        .expect("JSON");
    assert_eq!(
        discovery["id_token_signing_alg_values_supported"],
        json!(["EdDSA"])
    );
    assert_eq!(
        discovery["code_challenge_methods_supported"],
        json!(["S256"])
    );
    assert_eq!(discovery["response_types_supported"], json!(["code"]));
    api.shutdown.cancel();

    // Retired: the old key is dropped from the list, and its tokens stop verifying.
    let retired = AuthConfig {
        signing_key_path: new_path,
        ..AuthConfig::default()
    };
    let api = bus.spawn_api_with_auth(settings(), retired).await;
    let jwks: Value = http
        .get(format!("{}/.well-known/jwks.json", api.base))
        .send()
        .await
        .expect("JWKS")
        .json()
        .await
        .expect("JSON");
    assert_eq!(jwks["keys"].as_array().map(Vec::len), Some(1));
    assert!(api.state.verifier().verify(&with_old).is_err());
    api.shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_are_listed_and_ended_one_by_one_or_by_logging_out() {
    let provider = Provider::new().await;
    let login = |agent: &'static str| {
        let http = provider.http.clone();
        let base = provider.base.clone();
        let username = provider.username.clone();
        async move {
            let body: Value = http
                .post(format!("{base}/api/v10/auth/login"))
                .header("user-agent", agent)
                .json(&json!({"login": username, "password": PASSWORD}))
                .send()
                .await
                .expect("login")
                .json()
                .await
                .expect("JSON");
            (
                body["token"].as_str().expect("token").to_owned(),
                body["refresh_token"]
                    .as_str()
                    .expect("refresh token")
                    .to_owned(),
            )
        }
    };
    let (laptop, laptop_refresh) = login("laptop").await;
    let (phone, phone_refresh) = login("phone").await;
    let sessions = |token: String| {
        let http = provider.http.clone();
        let base = provider.base.clone();
        async move {
            let response = http
                .get(format!("{base}/api/v10/auth/sessions"))
                .bearer_auth(token)
                .send()
                .await
                .expect("sessions");
            let status = response.status();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let (status, listed) = sessions(laptop.clone()).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let listed = listed["user_sessions"].as_array().expect("a list").clone();
    // Registration started one too.
    assert_eq!(listed.len(), 3, "{listed:?}");
    let current: Vec<_> = listed.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["client_info"]["user_agent"], "laptop");
    let phone_hash = listed
        .iter()
        .find(|s| s["client_info"]["user_agent"] == "phone")
        .expect("the phone's session")["id_hash"]
        .as_str()
        .expect("id_hash")
        .to_owned();

    // End the phone's session from the laptop: its refresh token and its tokens'
    // session-checked routes stop working.
    let ended = provider
        .http
        .post(format!("{}/api/v10/auth/sessions/logout", provider.base))
        .bearer_auth(&laptop)
        .json(&json!({"session_id_hashes": [phone_hash]}))
        .send()
        .await
        .expect("logout sessions");
    assert_eq!(ended.status(), StatusCode::NO_CONTENT);
    let refresh = |token: String| {
        let http = provider.http.clone();
        let base = provider.base.clone();
        async move {
            let body = encode(&[
                ("grant_type".to_owned(), "refresh_token".to_owned()),
                ("refresh_token".to_owned(), token),
                ("client_id".to_owned(), "cloudcord".to_owned()),
            ]);
            let response = http
                .post(format!("{base}/api/v10/oauth2/token"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .expect("refresh");
            let status = response.status();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let (status, body) = refresh(phone_refresh).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    assert_eq!(sessions(phone).await.0, StatusCode::UNAUTHORIZED);

    // The first-party client refreshes like any other (rotated), then logs out.
    let (status, body) = refresh(laptop_refresh.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let rotated = body["refresh_token"].as_str().expect("rotated").to_owned();
    assert_ne!(rotated, laptop_refresh);
    let logout = provider
        .http
        .post(format!("{}/api/v10/auth/logout", provider.base))
        .bearer_auth(&laptop)
        .send()
        .await
        .expect("logout");
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    assert_eq!(refresh(rotated).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(sessions(laptop).await.0, StatusCode::UNAUTHORIZED);

    // Ended sessions are purged once older than the retention; live ones stay.
    let store = provider.world.api.state.oauth();
    let live = store
        .active_sessions(provider.user)
        .await
        .expect("sessions");
    let kept = store
        .purge(std::time::Duration::from_secs(3600))
        .await
        .expect("purge");
    assert_eq!(kept, 0, "nothing ended an hour ago");
    let purged = store.purge(std::time::Duration::ZERO).await.expect("purge");
    assert!(
        purged >= 2,
        "the phone's and the laptop's sessions: {purged}"
    );
    let after = store
        .active_sessions(provider.user)
        .await
        .expect("sessions");
    assert_eq!(after.len(), live.len(), "live sessions are never purged");
}

#[tokio::test(flavor = "multi_thread")]
async fn registered_passwords_are_hashed_with_argon2id_at_or_above_owasp_minimums() {
    let provider = Provider::new().await;
    let stored = provider
        .world
        .api
        .state
        .accounts()
        .read()
        .user(provider.user)
        .and_then(|account| account.password_hash.clone())
        .expect("the registered account has a password hash");
    // `$argon2id$v=19$m=…,t=…,p=…$salt$hash`
    let phc = stored.as_str();
    let fields: Vec<&str> = phc.split('$').collect();
    assert_eq!(fields.get(1), Some(&"argon2id"), "{phc:.30}");
    let parameter = |name: &str| -> u64 {
        fields[3]
            .split(',')
            .find_map(|pair| pair.strip_prefix(&format!("{name}=")))
            .and_then(|value| value.parse().ok())
            .unwrap_or_else(|| panic!("{name} in {}", fields[3]))
    };
    // OWASP Password Storage Cheat Sheet: m = 19 MiB, t = 2, p = 1 at least.
    assert!(parameter("m") >= 19_456, "memory {}", parameter("m"));
    assert!(parameter("t") >= 2, "iterations {}", parameter("t"));
    assert!(parameter("p") >= 1, "parallelism {}", parameter("p"));
    let salt = URL_SAFE_NO_PAD
        .decode(fields[4])
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(fields[4]))
        .expect("a base64 salt");
    assert!(salt.len() >= 16, "a 128-bit salt at least");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_change_ends_every_session_and_starts_a_fresh_one() {
    let provider = Provider::new().await;
    let login = |password: &'static str| {
        let http = provider.http.clone();
        let base = provider.base.clone();
        let username = provider.username.clone();
        async move {
            let response = http
                .post(format!("{base}/api/v10/auth/login"))
                .json(&json!({"login": username, "password": password}))
                .send()
                .await
                .expect("login");
            let status = response.status();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let (status, laptop) = login(PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{laptop}");
    let laptop_token = laptop["token"].as_str().expect("token").to_owned();
    let laptop_refresh = RefreshToken::new(
        laptop["refresh_token"]
            .as_str()
            .expect("refresh")
            .to_owned(),
    );
    // An application's grant is a session of the user's too.
    let rp = provider.app().await;
    let (code, verifier, _) = provider.authorize(&rp, &["identify"]).await;
    let app_tokens = provider.exchange(&rp, code, verifier).await;
    let app_refresh = app_tokens.refresh_token().expect("a refresh token").clone();
    let first_party = provider.relying_party("cloudcord", "").await;

    let change = |current: &'static str| {
        let auth = format!("Bearer {laptop_token}");
        let world = &provider.world;
        async move {
            world
                .send(
                    reqwest::Method::PATCH,
                    "/api/v10/users/@me",
                    Some(&auth),
                    crate::http::Body::Json(
                        json!({"password": current, "new_password": "a brand new battery"}),
                    ),
                    &[],
                )
                .await
        }
    };
    // The wrong current password changes nothing.
    let (status, _, body) = change("not my password").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        body["errors"]["password"]["_errors"][0]["code"], "PASSWORD_DOES_NOT_MATCH",
        "{body}"
    );

    let (status, _, changed) = change(PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(
        changed["username"],
        provider.username.as_str(),
        "the user object: {changed}"
    );
    let fresh_refresh = changed["refresh_token"]
        .as_str()
        .expect("a new session")
        .to_owned();
    assert!(changed["token"].is_string(), "{changed}");

    // Every earlier session is over: the first-party one and the application's.
    assert_eq!(
        provider.refresh_error(&first_party, &laptop_refresh).await,
        CoreErrorResponseType::InvalidGrant
    );
    assert_eq!(
        provider.refresh_error(&rp, &app_refresh).await,
        CoreErrorResponseType::InvalidGrant
    );
    assert_eq!(
        provider
            .userinfo(app_tokens.access_token().secret())
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    // The new one works, and only the new password logs in.
    first_party
        .exchange_refresh_token(&RefreshToken::new(fresh_refresh))
        .expect("a token endpoint")
        .request_async(&provider.rp_http())
        .await
        .expect("the fresh session refreshes");
    assert_eq!(login(PASSWORD).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(login("a brand new battery").await.0, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_factor_codes_guard_login_and_authorize_and_each_works_once() {
    use totp_rs::{Algorithm, Secret, TOTP};
    let provider = Provider::new().await;
    let post = |path: &'static str, auth: Option<String>, body: Value| {
        let http = provider.http.clone();
        let base = provider.base.clone();
        async move {
            let mut request = http.post(format!("{base}/api/v10{path}")).json(&body);
            if let Some(auth) = auth {
                request = request.bearer_auth(auth);
            }
            let response = request.send().await.expect("request");
            let status = response.status();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let login = || {
        post(
            "/auth/login",
            None,
            json!({"login": provider.username, "password": PASSWORD}),
        )
    };
    let (status, session) = login().await;
    assert_eq!(status, StatusCode::OK);
    assert!(session["token"].is_string(), "no two-factor yet: {session}");
    let token = session["token"].as_str().expect("token").to_owned();

    // The client makes the secret, as an authenticator app would scan it.
    let mut raw = [0u8; 20];
    aws_lc_rs::rand::fill(&mut raw).expect("random");
    let Secret::Encoded(base32) = Secret::Raw(raw.to_vec()).to_encoded() else {
        panic!("base32");
    };
    let app = TOTP::new(Algorithm::SHA1, 6, 1, 30, raw.to_vec()).expect("a TOTP");
    let now = SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let current = app.generate(now);
    let wrong = format!(
        "{:06}",
        (current.parse::<u32>().expect("digits") + 500_000) % 1_000_000
    );

    let enable = |password: &'static str, code: String| {
        post(
            "/users/@me/mfa/totp/enable",
            Some(token.clone()),
            json!({"password": password, "secret": base32, "code": code}),
        )
    };
    let (status, body) = enable("wrong password", current.clone()).await;
    assert_eq!(
        (status, &body["errors"]["password"]["_errors"][0]["code"]),
        (StatusCode::BAD_REQUEST, &json!("PASSWORD_DOES_NOT_MATCH")),
        "{body}"
    );
    let (status, body) = enable(PASSWORD, wrong.clone()).await;
    assert_eq!(
        (status, &body["code"]),
        (StatusCode::BAD_REQUEST, &json!(60008)),
        "{body}"
    );
    let (status, enabled) = enable(PASSWORD, current.clone()).await;
    assert_eq!(status, StatusCode::OK, "{enabled}");
    let backup: Vec<String> = enabled["backup_codes"]
        .as_array()
        .expect("backup codes")
        .iter()
        .map(|code| code["code"].as_str().expect("a code").to_owned())
        .collect();
    assert_eq!(backup.len(), 10);
    // Enabling ended the other sessions: the old token's session is gone.
    assert_eq!(provider.userinfo(&token).await.0, StatusCode::UNAUTHORIZED);

    // A password alone no longer signs in: it gets a ticket for the second factor.
    let ticket = || async {
        let (status, body) = login().await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            (body["mfa"].as_bool(), body["token"].is_null()),
            (Some(true), true),
            "{body}"
        );
        body["ticket"].as_str().expect("a ticket").to_owned()
    };
    let complete = |ticket: String, code: String| {
        post(
            "/auth/mfa/totp",
            None,
            json!({"ticket": ticket, "code": code}),
        )
    };
    let first = ticket().await;
    // The code used to enable is spent (no replay), a wrong one is refused.
    for code in [current.clone(), wrong] {
        let (status, body) = complete(first.clone(), code).await;
        assert_eq!(
            (status, &body["code"]),
            (StatusCode::BAD_REQUEST, &json!(60008)),
            "{body}"
        );
    }
    let next = app.generate(now + 30);
    let (status, body) = complete(first.clone(), next.clone()).await;
    assert_eq!(status, StatusCode::OK, "the next step's code: {body}");
    assert!(
        body["token"].is_string() && body["refresh_token"].is_string(),
        "{body}"
    );
    let (status, _) = complete(first, next).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a ticket works once");

    // Recovery codes work once each.
    let (status, _) = complete(ticket().await, backup[0].to_uppercase()).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = complete(ticket().await, backup[0].clone()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Five wrong codes end a ticket.
    let doomed = ticket().await;
    for _ in 0..5 {
        let (status, _) = complete(doomed.clone(), "nope-nope".to_owned()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
    let (status, body) = complete(doomed, backup[1].clone()).await;
    assert_eq!(
        (status, &body["code"]),
        (StatusCode::BAD_REQUEST, &json!(60006)),
        "{body}"
    );

    // The authorize page asks for the code too.
    let rp = provider.app().await;
    let (url, _, _) = rp
        .authorize_url(
            AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(PkceCodeChallenge::new_random_sha256().0)
        .url();
    let without = provider
        .submit_sign_in(&url, PASSWORD, None, "authorize")
        .await;
    assert_eq!(without.status(), StatusCode::UNAUTHORIZED);
    let with = provider
        .submit_sign_in(&url, PASSWORD, Some(&backup[2]), "authorize")
        .await;
    assert_eq!(with.status(), StatusCode::SEE_OTHER);
    let location =
        url::Url::parse(with.headers()["location"].to_str().expect("ASCII")).expect("URL");
    assert!(query(&location, "code").is_some(), "{location}");

    // Turned off with a recovery code: the password alone signs in again.
    let (status, body) = complete(ticket().await, backup[3].clone()).await;
    assert_eq!(status, StatusCode::OK);
    let fresh = body["token"].as_str().expect("token").to_owned();
    let (status, body) = post(
        "/users/@me/mfa/totp/disable",
        Some(fresh),
        json!({"code": backup[4]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, session) = login().await;
    assert_eq!(
        (status, session["token"].is_string()),
        (StatusCode::OK, true),
        "{session}"
    );
}

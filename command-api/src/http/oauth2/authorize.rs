//! `GET /oauth2/authorize` (the sign-in and consent page) and `POST /oauth2/authorize`
//! (the page's form): the authorization code grant's front half (RFC 6749 §4.1.1,
//! with PKCE S256 required, RFC 7636).
//!
//! Validation order follows RFC 6749 §4.1.2.1: an unknown client or a `redirect_uri`
//! that is not registered character for character gets an error page and is never
//! redirected to; every other error is sent back to the client's `redirect_uri`
//! with `error`, `state` and `iss` (RFC 9207).

use std::time::SystemTime;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::header::{CACHE_CONTROL, LOCATION};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use cloudcord_runtime::http_error::HttpError;
use time::OffsetDateTime;

use super::bot;
use super::page::{self, CARRIED, SignIn};
use super::params::Params;
use crate::http::ApiState;
use crate::http::auth::check_password;
use crate::oauth::store::NewCode;
use crate::oauth::{ClientSettings, Scopes, pkce};

/// A validated authorization request.
struct AuthorizationRequest<'a> {
    client: &'a ClientSettings,
    redirect_uri: &'a str,
    state: Option<&'a str>,
    scopes: Scopes,
    code_challenge: &'a str,
    nonce: Option<&'a str>,
}

/// `GET /oauth2/authorize`: the page, or the reason there is none.
pub async fn show(State(state): State<ApiState>, RawQuery(query): RawQuery) -> Response {
    let params = match Params::parse(query.unwrap_or_default().as_bytes()) {
        Ok(params) => params,
        Err(repeated) => return page::error_page(&repeated.to_string()),
    };
    if bot::asks_for_bot(&params) {
        return bot::redirect_to_web_client(&state, &params).await;
    }
    let request = match validate(&state, &params) {
        Ok(request) => request,
        Err(refusal) => return *refusal,
    };
    if params.get("prompt") == Some("none") {
        // No sign-in is remembered between requests, so one is always needed.
        return redirect_error(&state, &request, "login_required", "the user must sign in");
    }
    sign_in_page(&params, &request, "", None, StatusCode::OK)
}

/// `POST /oauth2/authorize`: the page's form. Checks the password (and the
/// two-factor code, for an account that has it on), then redirects
/// with a code (or `access_denied` when the user cancelled).
pub async fn submit(State(state): State<ApiState>, body: Bytes) -> Response {
    match submit_form(&state, &body).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn submit_form(state: &ApiState, body: &[u8]) -> Result<Response, HttpError> {
    let params = match Params::parse(body) {
        Ok(params) => params,
        Err(repeated) => return Ok(page::error_page(&repeated.to_string())),
    };
    let request = match validate(state, &params) {
        Ok(request) => request,
        Err(refusal) => return Ok(*refusal),
    };
    if params.get("decision") != Some("authorize") {
        return Ok(redirect_error(
            state,
            &request,
            "access_denied",
            "the user cancelled",
        ));
    }
    let login = params.get("login").unwrap_or_default();
    let password = params.get("password").unwrap_or_default().to_owned();
    let Some(user_id) = check_password(state, login, password).await? else {
        state.oauth_metrics().failed_login("authorize");
        tracing::warn!(
            target: "cloudcord_command_api::security",
            event = "failed_login",
            endpoint = "authorize",
            client_id = %request.client.client_id,
            "sign-in refused: wrong login or password"
        );
        return Ok(sign_in_page(
            &params,
            &request,
            login,
            Some("Login or password is invalid."),
            StatusCode::UNAUTHORIZED,
        ));
    };
    if crate::http::mfa::enabled(state, user_id).await? {
        let code = params.get("code").unwrap_or_default();
        if code.is_empty() || !crate::http::mfa::check_code(state, user_id, code).await? {
            crate::http::mfa::failed_code(state, user_id, "authorize_mfa");
            return Ok(sign_in_page(
                &params,
                &request,
                login,
                Some("Enter a valid two-factor code (or a recovery code)."),
                StatusCode::UNAUTHORIZED,
            ));
        }
    }
    let scopes = request.scopes.to_string();
    let code = state
        .oauth()
        .create_code(&NewCode {
            client_id: &request.client.client_id,
            user_id,
            redirect_uri: request.redirect_uri,
            scopes: &scopes,
            code_challenge: request.code_challenge,
            nonce: request.nonce,
            auth_time: OffsetDateTime::from(SystemTime::now()),
            ttl: state.oauth_settings().code_ttl(),
        })
        .await
        .map_err(|error| HttpError::internal("storing an authorization code", error))?;
    tracing::info!(
        target: "cloudcord_command_api::security",
        event = "authorized",
        %user_id,
        client_id = %request.client.client_id,
        scope = %scopes,
        "authorization code issued"
    );
    let mut pairs = vec![("code", code.as_str())];
    pairs.extend(request.state.map(|value| ("state", value)));
    pairs.push(("iss", state.issuer().issuer()));
    Ok(redirect(request.redirect_uri, &pairs))
}

fn sign_in_page(
    params: &Params,
    request: &AuthorizationRequest<'_>,
    login: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let carried = CARRIED
        .iter()
        .filter_map(|field| params.get(field).map(|value| (*field, value)))
        .collect();
    SignIn {
        client: request.client,
        scopes: &request.scopes,
        carried,
        login,
        error,
    }
    .render(status)
}

/// Checks an authorization request; the refusal is an error page or a redirect
/// (boxed: a response is large, and the happy path should not carry its size).
fn validate<'a>(
    state: &'a ApiState,
    params: &'a Params,
) -> Result<AuthorizationRequest<'a>, Box<Response>> {
    let client = params
        .get("client_id")
        .and_then(|id| state.clients().get(id))
        .ok_or_else(|| Box::new(page::error_page("Unknown application (client_id).")))?;
    let redirect_uri = params
        .get("redirect_uri")
        .filter(|uri| client.allows_redirect(uri))
        .ok_or_else(|| {
            Box::new(page::error_page(
                "The redirect_uri is not registered for this application.",
            ))
        })?;
    let mut request = AuthorizationRequest {
        client,
        redirect_uri,
        state: params.get("state"),
        scopes: Scopes::default(),
        code_challenge: "",
        nonce: params.get("nonce"),
    };
    if params.get("response_type") != Some("code") {
        // The implicit grant (`token`, `id_token`) and hybrid flows are not offered.
        return Err(Box::new(redirect_error(
            state,
            &request,
            "unsupported_response_type",
            "only response_type=code is supported",
        )));
    }
    match (
        params.get("code_challenge"),
        params.get("code_challenge_method"),
    ) {
        (Some(challenge), Some(pkce::S256)) if pkce::is_well_formed(challenge) => {
            request.code_challenge = challenge;
        }
        _ => {
            return Err(Box::new(redirect_error(
                state,
                &request,
                "invalid_request",
                "PKCE is required: code_challenge with code_challenge_method=S256",
            )));
        }
    }
    match params.get("scope").map(Scopes::parse) {
        Some(Ok(scopes)) if !scopes.is_empty() => request.scopes = scopes,
        _ => {
            return Err(Box::new(redirect_error(
                state,
                &request,
                "invalid_scope",
                "scope must name one or more of: openid identify email guilds",
            )));
        }
    }
    Ok(request)
}

/// Sends the browser back to the client with an OAuth2 error.
fn redirect_error(
    state: &ApiState,
    request: &AuthorizationRequest<'_>,
    error: &str,
    description: &str,
) -> Response {
    let mut pairs = vec![("error", error), ("error_description", description)];
    pairs.extend(request.state.map(|value| ("state", value)));
    pairs.push(("iss", state.issuer().issuer()));
    redirect(request.redirect_uri, &pairs)
}

/// `303 See Other` to `redirect_uri` with `pairs` added to its query.
pub fn redirect(redirect_uri: &str, pairs: &[(&str, &str)]) -> Response {
    let Ok(mut target) = url::Url::parse(redirect_uri) else {
        return page::error_page("The registered redirect_uri is not a valid URL.");
    };
    target.query_pairs_mut().extend_pairs(pairs);
    let Ok(location) = HeaderValue::from_str(target.as_str()) else {
        return page::error_page("The registered redirect_uri is not a valid URL.");
    };
    (
        StatusCode::SEE_OTHER,
        [
            (LOCATION, location),
            (CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
    )
        .into_response()
}

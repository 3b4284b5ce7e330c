//! The signalling endpoint, WHIP-style (RFC 9725) over the SFU's own HTTP server.
//!
//! ```text
//! POST   /sfu/sessions        Authorization: Bearer <media token>
//!                             Content-Type: application/sdp, body: the SDP offer
//!   201  Content-Type: application/sdp, Location: /sfu/sessions/{id}, body: the answer
//! DELETE /sfu/sessions/{id}   Authorization: Bearer <the same user's media token>
//!   204
//! GET    /sfu/ice-servers     Authorization: Bearer <media token>
//!   200  {"ice_servers": [{"urls", "username", "credential"}]}  (TURN; see crate::turn)
//! ```
//!
//! One session is one peer: it publishes what its offer sends and receives everyone
//! else in the channel. The user and the voice channel come from the media token
//! (see `cloudcord_runtime::auth::media_token`), never from the request, so CONNECT
//! and the user limit are the token issuer's to check. Later changes — someone
//! publishes or leaves — are negotiated over the session's own data channel (see
//! [`crate::core::SIGNALLING_LABEL`]), not over HTTP. The client says on the same
//! channel how large it shows each video it receives,
//! `{"type":"video_size","mid":"…","width":…,"height":…}`, so that a simulcast
//! publisher's smaller layer reaches a small tile: the m-line is the session's, known
//! only once negotiated, and the channel is where the session already talks.
//!
//! Errors are Discord-shaped JSON (`{"code", "message"}`): 401 for a missing,
//! malformed or expired token; 400 (50035) for a body that is not an acceptable SDP
//! offer; 415 for another content type; 404 for a session that is not the caller's;
//! 413 above [`OFFER_LIMIT`]; 503 when the media loop is busy or stopping.

use std::sync::Arc;
use std::time::SystemTime;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use cloudcord_runtime::auth::{MediaGrant, MediaTokenVerifier};
use cloudcord_runtime::http_error::{HttpError, codes};
use str0m::change::SdpOffer;

use crate::core::{JoinError, Participant, PeerId};
use crate::driver::{DriverError, SfuHandle};
use crate::turn::TurnSettings;

/// The largest SDP offer read; browsers' offers are a few KiB.
pub const OFFER_LIMIT: usize = 64 * 1024;

/// The SDP media type (RFC 4566).
const APPLICATION_SDP: &str = "application/sdp";

/// What the handlers share. Cheap to clone.
#[derive(Clone)]
pub struct Signalling {
    sfu: SfuHandle,
    verifier: MediaTokenVerifier,
    turn: Option<Arc<TurnSettings>>,
}

impl Signalling {
    /// Handlers over the media loop `sfu`, admitting tokens `verifier` accepts, and
    /// handing out credentials for the TURN server `turn`, if there is one.
    pub fn new(sfu: SfuHandle, verifier: MediaTokenVerifier, turn: Option<TurnSettings>) -> Self {
        Self {
            sfu,
            verifier,
            turn: turn.map(Arc::new),
        }
    }

    /// The endpoint's routes, without fallbacks (see [`with_fallbacks`]).
    pub fn routes(self) -> Router {
        Router::new()
            .route("/sfu/sessions", post(create_session))
            .route("/sfu/sessions/{id}", delete(delete_session))
            .route("/sfu/ice-servers", get(ice_servers))
            .layer(DefaultBodyLimit::max(OFFER_LIMIT))
            .with_state(self)
    }

    /// The grant of the request's bearer media token.
    fn authenticate(&self, headers: &HeaderMap) -> Result<MediaGrant, HttpError> {
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .ok_or(HttpError::Unauthorized)?;
        self.verifier
            .verify_at(token.trim(), SystemTime::now())
            .map_err(|error| {
                tracing::debug!(%error, "media token refused");
                HttpError::Unauthorized
            })
    }
}

/// `routes` answering Discord's JSON 404 and 405 for every other path and method, as
/// the SFU's own server does.
pub fn with_fallbacks(routes: Router) -> Router {
    routes
        .fallback(|| async { HttpError::NotFound })
        .method_not_allowed_fallback(|| async { HttpError::MethodNotAllowed })
}

/// `POST /sfu/sessions`: joins the token's channel with the offer in the body.
async fn create_session(
    State(signalling): State<Signalling>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, HttpError> {
    let grant = signalling.authenticate(&headers)?;
    let is_sdp = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.trim().starts_with(APPLICATION_SDP));
    if !is_sdp {
        return Err(HttpError::api(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            0,
            "The body must be an SDP offer (application/sdp).",
        ));
    }
    let body = body.map_err(|rejection| match rejection {
        BytesRejection::FailedToBufferBody(_)
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE =>
        {
            HttpError::PayloadTooLarge
        }
        other => HttpError::internal("reading the SDP offer", other),
    })?;
    let offer = std::str::from_utf8(&body)
        .ok()
        .and_then(|text| SdpOffer::from_sdp_string(text).ok())
        .ok_or_else(invalid_offer)?;
    let (peer, answer) = match signalling
        .sfu
        .join(
            Participant {
                user: grant.user_id,
                guild: grant.guild_id,
                channel: grant.channel_id,
                may_speak: grant.may_speak,
                may_stream: grant.may_stream,
            },
            offer,
        )
        .await
        .map_err(unavailable)?
    {
        Ok(joined) => joined,
        Err(JoinError::InvalidOffer(error)) => {
            tracing::debug!(%error, "SDP offer refused");
            return Err(invalid_offer());
        }
        Err(error @ JoinError::Candidate) => {
            return Err(HttpError::internal("answering an offer", error));
        }
    };
    Ok((
        StatusCode::CREATED,
        [
            (header::CONTENT_TYPE, APPLICATION_SDP.to_owned()),
            (header::LOCATION, format!("/sfu/sessions/{peer}")),
        ],
        answer.to_sdp_string(),
    )
        .into_response())
}

/// `DELETE /sfu/sessions/{id}`: leaves, if the session is the caller's.
async fn delete_session(
    State(signalling): State<Signalling>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, HttpError> {
    let grant = signalling.authenticate(&headers)?;
    let peer = id
        .parse::<u64>()
        .map(PeerId)
        .map_err(|_| HttpError::NotFound)?;
    if signalling
        .sfu
        .leave(peer, grant.user_id)
        .await
        .map_err(unavailable)?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(HttpError::NotFound)
    }
}

/// `GET /sfu/ice-servers`: TURN credentials for the caller (none without a TURN
/// server), to pass as `iceServers` before creating the offer.
async fn ice_servers(
    State(signalling): State<Signalling>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, HttpError> {
    let grant = signalling.authenticate(&headers)?;
    let servers: Vec<_> = signalling
        .turn
        .iter()
        .map(|turn| turn.credentials(grant.user_id, SystemTime::now()))
        .collect();
    Ok(Json(serde_json::json!({ "ice_servers": servers })))
}

fn invalid_offer() -> HttpError {
    HttpError::api(
        StatusCode::BAD_REQUEST,
        codes::INVALID_FORM_BODY,
        "Invalid SDP offer",
    )
}

fn unavailable(error: DriverError) -> HttpError {
    HttpError::Unavailable {
        message: match error {
            DriverError::Busy => "The media server is busy; retry shortly.",
            DriverError::Stopped => "The media server is shutting down.",
        },
        retry_after: Some(std::time::Duration::from_secs(1)),
    }
}

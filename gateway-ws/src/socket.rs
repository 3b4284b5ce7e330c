//! The tokio driver of one WebSocket: [`router`] upgrades the request and runs a
//! task that feeds the socket and the clock to the sans-IO
//! [`crate::protocol::connection::Connection`], performs what it asks
//! (Identify, Resume, frames, close) and writes the session's queued dispatches.
//!
//! tokio-tungstenite reads, answers pings and closes. Frames we send are formatted
//! by tungstenite into a buffer of each write's own and written to the TCP stream
//! directly: tungstenite's write buffer keeps the capacity of the largest write
//! for the connection's life — a GUILD_CREATE listing a large guild's presences
//! is ~100 KB, which every idle connection would then hold (BENCHMARKS.md).
//!
//! One task per connection; it waits only on its own socket. Fan-out numbers frames
//! into the session's buffer and wakes the task, which renders and writes them
//! (see [`crate::hub`]).

use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{RawQuery, Request, State};
use axum::http::header::{
    CONNECTION, ORIGIN, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION, UPGRADE,
};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::{CloseFrame, Frame as WireFrame};
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Bytes, Message};

use crate::gateway::{Gateway, HandshakeFailure};
use crate::hub::Attachment;
use crate::metrics::Metrics;
use crate::protocol::close_code::CloseCode;
use crate::protocol::compression::{Encoder, WireMessage};
use crate::protocol::connection::{Connection, Output};
use crate::protocol::payload::MAX_CLIENT_PAYLOAD_BYTES;
use crate::protocol::payload::VoiceStateUpdate;
use crate::protocol::query::ConnectParams;
use crate::protocol::session::Frame;
use crate::voice;

/// Largest message the WebSocket layer reads at all. Above Discord's 4,096 bytes,
/// so that a payload somewhat too large still gets its 4002 from the protocol
/// core; a larger one is refused while being read and also closes with 4002.
const MAX_WEBSOCKET_MESSAGE: usize = 4 * MAX_CLIENT_PAYLOAD_BYTES;

/// The socket's read buffer. Client payloads are heartbeats and an Identify well
/// under 1 KiB (the buffer grows for a larger one, up to the 4 KiB limit), and
/// tungstenite fills the whole buffer on its first read: tungstenite's 128 KiB
/// default would cost that much per idle connection (see NOTES: ~131 KB versus
/// ~7 KB per connection), 4 KiB still 3 KB more than needed (BENCHMARKS.md).
const READ_BUFFER: usize = 1024;

/// Most bytes of waiting frames written at once. Writing each frame with its own
/// `send` cost half the gateway's CPU in system calls (BENCHMARKS.md); frames
/// already waiting go out together.
const WRITE_BURST: usize = 16 * 1024;

/// How long a closing connection waits for the client's close frame.
const CLOSE_LINGER: Duration = Duration::from_secs(1);

/// The gateway's routes: a WebSocket upgrade at every path, so the router works
/// both on its own listener (`ws://host:port/?v=10…`) and nested under a prefix of
/// the front door (`ws://host/gateway/?v=10…`, as clients append `/?v=…` or `?v=…`
/// to the URL they were given).
pub fn router(gateway: Gateway) -> Router {
    Router::new().fallback(upgrade).with_state(gateway)
}

/// The WebSocket on an upgraded HTTP/1.1 connection.
type Socket = WebSocketStream<TokioIo<Upgraded>>;

async fn upgrade(
    State(gateway): State<Gateway>,
    RawQuery(query): RawQuery,
    mut request: Request,
) -> Response {
    let origin = request
        .headers()
        .get(ORIGIN)
        .and_then(|value| value.to_str().ok());
    if !gateway.allowed_origins().allow(origin) {
        tracing::warn!(
            origin,
            "refused a gateway connection from a page not allowed"
        );
        return (
            StatusCode::FORBIDDEN,
            "this origin may not open the gateway",
        )
            .into_response();
    }
    let Some(accept) = websocket_key(request.method(), request.headers()).map(derive_accept_key)
    else {
        return (
            StatusCode::UPGRADE_REQUIRED,
            [(UPGRADE, "websocket")],
            "the gateway speaks WebSocket (RFC 6455, version 13)",
        )
            .into_response();
    };
    let Some(on_upgrade) = request.extensions_mut().remove::<OnUpgrade>() else {
        return (
            StatusCode::UPGRADE_REQUIRED,
            [(UPGRADE, "websocket")],
            "this connection cannot be upgraded (HTTP/1.1 is needed)",
        )
            .into_response();
    };
    let params = ConnectParams::parse(query.as_deref().unwrap_or_default());
    let tracker = gateway.connections().clone();
    tokio::spawn(tracker.track_future(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                let config = WebSocketConfig::default()
                    .read_buffer_size(READ_BUFFER)
                    // Only tungstenite's own frames (pongs, close) go through its
                    // buffer: at once.
                    .write_buffer_size(0)
                    .max_message_size(Some(MAX_WEBSOCKET_MESSAGE))
                    .max_frame_size(Some(MAX_WEBSOCKET_MESSAGE));
                let socket = WebSocketStream::from_raw_socket(
                    TokioIo::new(upgraded),
                    Role::Server,
                    Some(config),
                )
                .await;
                serve(gateway, params, socket).await;
            }
            Err(error) => tracing::debug!(%error, "a gateway upgrade failed"),
        }
    }));
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(CONNECTION, "upgrade")
        .header(UPGRADE, "websocket")
        .header(SEC_WEBSOCKET_ACCEPT, accept)
        .body(Body::empty())
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// The `Sec-WebSocket-Key` of a valid opening handshake (RFC 6455 §4.2.1).
fn websocket_key<'a>(method: &Method, headers: &'a HeaderMap) -> Option<&'a [u8]> {
    let has = |name, token: &str| {
        headers.get_all(name).iter().any(|value| {
            value.to_str().is_ok_and(|value| {
                value
                    .split(',')
                    .any(|part| part.trim().eq_ignore_ascii_case(token))
            })
        })
    };
    let upgrade_requested = *method == Method::GET
        && has(CONNECTION, "upgrade")
        && has(UPGRADE, "websocket")
        && headers
            .get(SEC_WEBSOCKET_VERSION)
            .is_some_and(|version| version == "13");
    upgrade_requested
        .then(|| headers.get(SEC_WEBSOCKET_KEY))
        .flatten()
        .map(|key| key.as_bytes())
}

/// Runs one connection to its end.
async fn serve(gateway: Gateway, params: Result<ConnectParams, CloseCode>, socket: Socket) {
    let metrics = gateway.metrics().clone();
    metrics.connections.inc();
    serve_connection(gateway, params, socket).await;
    metrics.connections.dec();
}

async fn serve_connection(
    gateway: Gateway,
    params: Result<ConnectParams, CloseCode>,
    socket: Socket,
) {
    let mut link = Link {
        socket,
        encoder: None,
        metrics: gateway.metrics().clone(),
    };
    let params = match params {
        Ok(params) => params,
        Err(code) => return link.close(code).await,
    };
    match Encoder::new(params.compression) {
        Ok(encoder) => link.encoder = Some(encoder),
        Err(error) => {
            tracing::error!(%error, "cannot start a compressor");
            return link.close(CloseCode::UnknownError).await;
        }
    }
    let mut task = ConnectionTask {
        connection: Connection::new(Instant::now(), gateway.connection_config()),
        gateway,
        link,
        attachment: None,
        authorization: None,
        voice_requests: None,
    };
    let end = task.run().await;
    if let Some(attachment) = &task.attachment {
        task.gateway.detach(attachment, end.resumable());
    }
}

/// The socket and how to encode for it.
struct Link {
    socket: Socket,
    /// `None` only before the query is checked.
    encoder: Option<Encoder>,
    metrics: Metrics,
}

/// The socket is gone (or its compressor broke): stop.
struct Gone;

impl Link {
    /// Writes one frame now.
    async fn send(&mut self, text: String) -> Result<(), Gone> {
        self.send_all([text]).await
    }

    /// Writes `frames` with one write.
    async fn send_burst(&mut self, frames: Vec<Frame>) -> Result<(), Gone> {
        self.send_all(frames.iter().map(Frame::render)).await
    }

    /// Formats `texts` as WebSocket messages into a buffer of this write's own
    /// and writes it, after anything tungstenite has queued (a pong) so frames
    /// never interleave.
    async fn send_all(&mut self, texts: impl IntoIterator<Item = String>) -> Result<(), Gone> {
        let mut out = Vec::new();
        for text in texts {
            let (payload, opcode) = match self.encode(text)? {
                WireMessage::Text(text) => (Bytes::from(text), Data::Text),
                WireMessage::Binary(bytes) => (Bytes::from(bytes), Data::Binary),
            };
            WireFrame::message(payload, OpCode::Data(opcode), true)
                .format(&mut out)
                .map_err(|_| Gone)?;
        }
        if out.is_empty() {
            return Ok(());
        }
        self.socket.flush().await.map_err(|_| Gone)?;
        let stream = self.socket.get_mut();
        stream.write_all(&out).await.map_err(|_| Gone)?;
        stream.flush().await.map_err(|_| Gone)
    }

    fn encode(&mut self, text: String) -> Result<WireMessage, Gone> {
        match &mut self.encoder {
            None => Ok(WireMessage::Text(text)),
            Some(encoder) => encoder.encode(text).map_err(|error| {
                tracing::error!(%error, "cannot compress a frame");
                Gone
            }),
        }
    }

    /// Completes a close the client started: tungstenite queues the echo of its
    /// close frame when it reads it and sends it on the next read, which then ends
    /// the stream. Without it a client that waits for the echo (as RFC 6455 has it;
    /// twilight does) hangs until its own timeout.
    async fn answer_close(&mut self) {
        let _ = tokio::time::timeout(CLOSE_LINGER, async {
            while let Some(Ok(_)) = self.socket.next().await {}
        })
        .await;
    }

    /// Sends the close frame and waits briefly for the client's.
    async fn close(&mut self, code: CloseCode) {
        self.metrics.closed(code);
        let frame = CloseFrame {
            code: code.code().into(),
            reason: code.reason().into(),
        };
        if self.socket.send(Message::Close(Some(frame))).await.is_err() {
            return;
        }
        let _ = tokio::time::timeout(CLOSE_LINGER, async {
            while let Some(Ok(_)) = self.socket.next().await {}
        })
        .await;
    }
}

struct ConnectionTask {
    gateway: Gateway,
    connection: Connection,
    link: Link,
    attachment: Option<Attachment>,
    /// The session's credential as an HTTP `Authorization` value, for the calls op 4
    /// makes on the user's behalf (see [`crate::voice`]).
    authorization: Option<String>,
    /// Where this connection's op 4s queue, once it sent one.
    voice_requests: Option<mpsc::Sender<VoiceStateUpdate>>,
}

/// How a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// We closed it with this code.
    Closed(CloseCode),
    /// The client closed it with 1000 or 1001: it is done with the session
    /// (Discord invalidates a session closed so).
    ClientDone,
    /// The client closed it otherwise, or it dropped: the client may resume.
    Dropped,
}

impl End {
    /// Whether the session survives for a Resume.
    fn resumable(self) -> bool {
        match self {
            Self::Closed(code) => code.resumable(),
            Self::ClientDone => false,
            Self::Dropped => true,
        }
    }
}

/// WebSocket close codes with which a client ends its session for good.
const NORMAL_CLOSURES: [u16; 2] = [1000, 1001];

impl ConnectionTask {
    async fn run(&mut self) -> End {
        let shutdown = self.gateway.shutdown().clone();
        loop {
            if let Some(end) = self.perform_outputs().await {
                return end;
            }
            let timeout = self
                .connection
                .poll_timeout()
                .map_or_else(far_future, tokio::time::Instant::from_std);
            tokio::select! {
                () = shutdown.cancelled(), if !self.connection.is_closed() => {
                    // Ask the client to come back (to another process, or to this
                    // one once it has restarted); the close follows in any case.
                    self.connection.reconnect();
                    self.connection.close(CloseCode::UnknownError);
                }
                incoming = self.link.socket.next() => match incoming {
                    Some(Ok(Message::Text(text))) => {
                        self.connection.handle_message(Instant::now(), text.as_bytes());
                    }
                    Some(Ok(Message::Binary(bytes))) => {
                        self.connection.handle_message(Instant::now(), &bytes);
                    }
                    // tungstenite answers pings itself; whole frames are not read.
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                    Some(Ok(Message::Close(frame))) => {
                        let done = frame
                            .is_some_and(|frame| NORMAL_CLOSURES.contains(&u16::from(frame.code)));
                        self.link.answer_close().await;
                        return if done { End::ClientDone } else { End::Dropped };
                    }
                    None => return End::Dropped,
                    Some(Err(error)) => {
                        // Mostly a message over the size limit; a broken socket
                        // makes the close below fail, which is fine.
                        tracing::debug!(%error, "cannot read from a client");
                        self.connection.close(CloseCode::DecodeError);
                    }
                },
                frames = next_frames(self.attachment.as_ref()) => match frames {
                    Some(frames) => {
                        if self.link.send_burst(frames).await.is_err() {
                            return End::Dropped;
                        }
                    }
                    // The hub detached it: it fell too far behind, or another
                    // connection resumed the session.
                    None => self.connection.close(CloseCode::UnknownError),
                },
                () = tokio::time::sleep_until(timeout) => {
                    self.connection.handle_timeout(Instant::now());
                }
            }
        }
    }

    /// Queues an op 4 for this connection's voice requests (started at the first).
    fn update_voice_state(&mut self, update: VoiceStateUpdate) {
        let (Some(attachment), Some(authorization)) = (&self.attachment, &self.authorization)
        else {
            return;
        };
        let requests = self.voice_requests.get_or_insert_with(|| {
            self.gateway
                .voice_requests(attachment, authorization.clone())
        });
        if requests.try_send(update).is_err() {
            tracing::debug!("op 4 dropped: too many waiting on this connection");
        }
    }

    /// Acts on everything the connection asked for; `Some` when the connection is
    /// over.
    async fn perform_outputs(&mut self) -> Option<End> {
        while let Some(output) = self.connection.poll_output() {
            match output {
                Output::Send(text) => {
                    if self.link.send(text).await.is_err() {
                        return Some(End::Dropped);
                    }
                }
                // Boxed: the handshakes' futures are large and would otherwise make
                // every idle connection's task that large (BENCHMARKS.md).
                Output::Identify(request) => {
                    match Box::pin(self.gateway.identify(&request)).await {
                        Ok(attachment) => {
                            if request.compress
                                && let Some(encoder) = &mut self.link.encoder
                            {
                                encoder.enable_payload_compression();
                            }
                            self.connection.identified(Instant::now());
                            self.authorization =
                                Some(voice::authorization(&request.token, &attachment));
                            self.attachment = Some(attachment);
                        }
                        Err(failure) => self.refuse(failure),
                    }
                }
                Output::Resume(resume) => match Box::pin(self.gateway.resume(&resume)).await {
                    Ok(attachment) => {
                        self.connection.resumed(Instant::now());
                        self.authorization = Some(voice::authorization(&resume.token, &attachment));
                        self.attachment = Some(attachment);
                    }
                    Err(failure) => self.refuse(failure),
                },
                Output::RequestGuildMembers(request) => {
                    if let Some(attachment) = &self.attachment {
                        self.gateway.request_guild_members(attachment, &request);
                    }
                }
                Output::UpdatePresence(update) => {
                    if let Some(attachment) = &self.attachment {
                        self.gateway.update_presence(attachment, &update);
                    }
                }
                Output::UpdateVoiceState(update) => self.update_voice_state(update),
                Output::Acknowledge(seq) => {
                    if let Some(attachment) = &self.attachment {
                        attachment.slot.acknowledge(seq);
                    }
                }
                Output::Close(code) => {
                    self.link.close(code).await;
                    return Some(End::Closed(code));
                }
            }
        }
        None
    }

    /// Tells the connection how its Identify or Resume was refused.
    fn refuse(&mut self, failure: HandshakeFailure) {
        match failure {
            HandshakeFailure::SessionInvalid { resumable } => {
                self.connection.session_invalid(resumable);
            }
            HandshakeFailure::Close(code) => self.connection.close(code),
        }
    }
}

/// The next frames of the session to write, once there are any (`None`: the
/// session is no longer this connection's); pending forever before Identify.
async fn next_frames(attachment: Option<&Attachment>) -> Option<Vec<Frame>> {
    let Some(attachment) = attachment else {
        return std::future::pending().await;
    };
    attachment.wake.notified().await;
    attachment.take(WRITE_BURST)
}

/// A deadline that never comes (a closed connection has no timer).
fn far_future() -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_secs(86_400 * 365)
}

#[cfg(test)]
mod tests {
    use axum::http::header::{CONNECTION, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION, UPGRADE};
    use axum::http::{HeaderMap, HeaderValue, Method};

    use super::websocket_key;

    fn handshake() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(CONNECTION, HeaderValue::from_static("keep-alive, Upgrade"));
        headers.insert(UPGRADE, HeaderValue::from_static("WebSocket"));
        headers.insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
        headers.insert(
            SEC_WEBSOCKET_KEY,
            HeaderValue::from_static("dGhlIHNhbXBsZSBub25jZQ=="),
        );
        headers
    }

    #[test]
    fn an_opening_handshake_yields_its_key() {
        assert_eq!(
            websocket_key(&Method::GET, &handshake()),
            Some(&b"dGhlIHNhbXBsZSBub25jZQ=="[..])
        );
    }

    #[test]
    fn anything_else_is_not_a_handshake() {
        assert_eq!(websocket_key(&Method::POST, &handshake()), None);
        for missing in [
            CONNECTION,
            UPGRADE,
            SEC_WEBSOCKET_VERSION,
            SEC_WEBSOCKET_KEY,
        ] {
            let mut headers = handshake();
            headers.remove(missing);
            assert_eq!(websocket_key(&Method::GET, &headers), None);
        }
        let mut old_version = handshake();
        old_version.insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("8"));
        assert_eq!(websocket_key(&Method::GET, &old_version), None);
    }
}

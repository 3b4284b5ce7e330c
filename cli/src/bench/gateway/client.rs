//! The load generator: a [`Fleet`] of gateway clients, one tokio task each,
//! speaking Gateway v10 with JSON encoding like a Discord client library does —
//! Hello, Identify, READY and one GUILD_CREATE per guild, heartbeats at Hello's
//! `heartbeat_interval` (the first after a per-client jitter), an immediate
//! heartbeat when the server asks for one — and counting the dispatches.
//!
//! It is built to be cheap per connection, so that one process can hold 19,000
//! of them and still read 200,000+ frames a second on a shared 2-core machine:
//! 4 KiB read buffers, no write buffer, and a fast path for MESSAGE_CREATE that
//! reads `s` and the benchmark's marker from the frame's text without parsing the
//! whole JSON (anything else is parsed in full).
//!
//! Latency: [`SendLog`] holds the instant each benchmark message was sent (the
//! sender and the clients share one process and one monotonic clock); a client
//! finds the message's index in its content and records now − sent.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use flate2::{Decompress, FlushDecompress};
use futures::{SinkExt as _, StreamExt as _};
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;
use zstd::stream::raw::{InBuffer, Operation as _, OutBuffer};

use crate::bench::{histogram, micros};

/// GUILDS | GUILD_MESSAGES: what a chat client needs for MESSAGE_CREATE.
pub const INTENTS: u64 = 1 | (1 << 9);

/// How long one connection may take from TCP connect to its last GUILD_CREATE.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(120);

/// Handshakes a client tries before it gives up.
const HANDSHAKE_ATTEMPTS: u32 = 5;

/// Wait before the next handshake, times the attempts so far.
const RETRY_BACKOFF: Duration = Duration::from_secs(1);

/// How long a closing client waits for the server's close frame.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// The end of every MESSAGE_CREATE frame the gateway renders
/// (`{"op":0,"d":…,"s":N,"t":"MESSAGE_CREATE"}`); frames that do not end so take
/// the slow path, so a change of field order costs speed, not correctness.
const MESSAGE_CREATE_SUFFIX: &str = r#","t":"MESSAGE_CREATE"}"#;

/// Latency histograms are sharded so that the clients on different worker
/// threads rarely wait for the same lock.
const LATENCY_SHARDS: usize = 16;

/// Transport compression, the `compress` query parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Compression {
    /// Plain JSON text frames.
    None,
    /// `zlib-stream`.
    ZlibStream,
    /// `zstd-stream`.
    ZstdStream,
}

impl Compression {
    /// The query parameter's value.
    pub fn query(self) -> Option<&'static str> {
        match self {
            Self::None => None,
            Self::ZlibStream => Some("zlib-stream"),
            Self::ZstdStream => Some("zstd-stream"),
        }
    }

    /// Its name in reports.
    pub fn name(self) -> &'static str {
        self.query().unwrap_or("none")
    }
}

/// When each benchmark message was sent, and how clients recognise it: its
/// content starts with `gwbench:<run>:<index> `.
#[derive(Debug)]
pub struct SendLog {
    base: Instant,
    marker: String,
    /// Microseconds after `base`, plus one (0: not sent yet).
    sent: Vec<AtomicU64>,
    /// Messages below this index are a warm-up: counted, not timed.
    timed_from: usize,
}

impl SendLog {
    /// Room for `messages` messages, timing those from `timed_from` on.
    pub fn new(messages: usize, timed_from: usize) -> Self {
        Self {
            base: Instant::now(),
            marker: format!(
                "gwbench:{}:",
                &uuid::Uuid::new_v4().simple().to_string()[..8]
            ),
            sent: (0..messages).map(|_| AtomicU64::new(0)).collect(),
            timed_from,
        }
    }

    /// How many messages it has room for.
    pub fn capacity(&self) -> usize {
        self.sent.len()
    }

    /// Message `index`'s content, padded with `x` to at least `bytes`.
    pub fn content(&self, index: usize, bytes: usize) -> String {
        let mut content = format!("{}{index} ", self.marker);
        let padding = bytes.saturating_sub(content.len());
        content.extend(std::iter::repeat_n('x', padding));
        content
    }

    /// Message `index` is being sent now.
    pub fn sent(&self, index: usize) {
        if let Some(slot) = self.sent.get(index) {
            slot.store(micros(self.base.elapsed()) + 1, Ordering::Release);
        }
    }

    /// The time from sending to `now` of the message whose frame is `text`, if it
    /// is a timed message of this run.
    fn latency(&self, text: &str, now: Instant) -> Option<u64> {
        let at = text.find(&self.marker)? + self.marker.len();
        let digits = text[at..].split(|c: char| !c.is_ascii_digit()).next()?;
        let index: usize = digits.parse().ok()?;
        if index < self.timed_from {
            return None;
        }
        let sent = self
            .sent
            .get(index)?
            .load(Ordering::Acquire)
            .checked_sub(1)?;
        Some(micros(now.duration_since(self.base)).saturating_sub(sent))
    }
}

/// What every client of a fleet adds to.
#[derive(Debug)]
struct Shared {
    /// MESSAGE_CREATE dispatches received.
    message_creates: AtomicU64,
    /// Other dispatches received after the handshake.
    other_dispatches: AtomicU64,
    /// Connections that ended before they were told to.
    lost: AtomicUsize,
    /// Handshakes tried again after a failure.
    retries: AtomicUsize,
    /// The last close code of a lost connection (0: none).
    last_close_code: AtomicU64,
    send_log: Option<Arc<SendLog>>,
    latencies: Vec<Mutex<Histogram<u64>>>,
}

/// What a client's handshake received: READY, and the GUILD_CREATEs of READY's
/// guilds, which the session keeps in its replay buffer.
#[derive(Debug, Clone, Copy, Default)]
pub struct Handshake {
    /// Guilds in READY.
    pub guilds: usize,
    /// Bytes of the READY frame (decompressed).
    pub ready_bytes: usize,
    /// Bytes of the GUILD_CREATE frames (decompressed).
    pub guild_create_bytes: usize,
    /// Bytes on the wire for the whole handshake, Hello included.
    pub wire_bytes: usize,
}

/// Many gateway clients, connected to one URL.
#[derive(Debug)]
pub struct Fleet {
    url: String,
    compression: Compression,
    shared: Arc<Shared>,
    stop: CancellationToken,
    clients: Vec<JoinHandle<()>>,
    handshakes: Vec<Handshake>,
}

impl Fleet {
    /// An empty fleet for `gateway_url` (e.g. `ws://127.0.0.1:9224`); with a
    /// `send_log`, clients time the benchmark messages they receive.
    pub fn new(
        gateway_url: &str,
        compression: Compression,
        send_log: Option<Arc<SendLog>>,
    ) -> anyhow::Result<Self> {
        let mut url = format!("{}/?v=10&encoding=json", gateway_url.trim_end_matches('/'));
        if let Some(value) = compression.query() {
            url.push_str("&compress=");
            url.push_str(value);
        }
        let latencies = match send_log {
            Some(_) => (0..LATENCY_SHARDS)
                .map(|_| histogram().map(Mutex::new))
                .collect::<anyhow::Result<_>>()?,
            None => Vec::new(),
        };
        Ok(Self {
            url,
            compression,
            shared: Arc::new(Shared {
                message_creates: AtomicU64::new(0),
                other_dispatches: AtomicU64::new(0),
                lost: AtomicUsize::new(0),
                retries: AtomicUsize::new(0),
                last_close_code: AtomicU64::new(0),
                send_log,
                latencies,
            }),
            stop: CancellationToken::new(),
            clients: Vec::new(),
            handshakes: Vec::new(),
        })
    }

    /// Connected clients.
    pub fn len(&self) -> usize {
        self.clients.len()
    }

    /// Whether no client is connected.
    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }

    /// Opens connections until there are `total`, client `i` identifying with
    /// `tokens[i % tokens.len()]`, at most `concurrency` handshakes at a time; returns
    /// once each new one has READY and its GUILD_CREATEs.
    pub async fn grow(
        &mut self,
        tokens: &[String],
        total: usize,
        concurrency: usize,
    ) -> anyhow::Result<()> {
        if tokens.is_empty() {
            bail!("no tokens to identify with");
        }
        let first = self.clients.len();
        let mut handshakes = Vec::new();
        for index in first..total {
            let (ready, handshake) = oneshot::channel();
            let client = Client {
                index,
                url: self.url.clone(),
                token: tokens[index % tokens.len()].clone(),
                compression: self.compression,
                shared: Arc::clone(&self.shared),
                stop: self.stop.clone(),
            };
            handshakes.push((client, ready, handshake));
        }
        let mut pending =
            futures::stream::iter(handshakes.into_iter().map(|(client, ready, handshake)| {
                let task = tokio::spawn(client.run(ready));
                async move {
                    let outcome = tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await;
                    (task, outcome)
                }
            }))
            .buffer_unordered(concurrency.max(1));
        let mut failure = None;
        let mut failed = 0;
        while let Some((task, outcome)) = pending.next().await {
            self.clients.push(task);
            let error = match outcome {
                Ok(Ok(Ok(handshake))) => {
                    self.handshakes.push(handshake);
                    if self.handshakes.len().is_multiple_of(1000) {
                        tracing::info!(identified = self.handshakes.len(), "gateway clients");
                    }
                    continue;
                }
                Ok(Ok(Err(error))) => error,
                Ok(Err(_)) => anyhow::anyhow!("a client task ended"),
                Err(_) => anyhow::anyhow!("a handshake took over {HANDSHAKE_TIMEOUT:?}"),
            };
            failed += 1;
            failure.get_or_insert(error);
        }
        match failure {
            Some(error) => Err(error.context(format!(
                "{failed} of {} new connections failed their handshake",
                total - first
            ))),
            None => Ok(()),
        }
    }

    /// The handshakes so far.
    pub fn handshakes(&self) -> &[Handshake] {
        &self.handshakes
    }

    /// MESSAGE_CREATE dispatches received so far, by all clients.
    pub fn message_creates(&self) -> u64 {
        self.shared.message_creates.load(Ordering::Relaxed)
    }

    /// Other dispatches received after the handshakes.
    pub fn other_dispatches(&self) -> u64 {
        self.shared.other_dispatches.load(Ordering::Relaxed)
    }

    /// Connections that ended on their own (the server closed them, or they
    /// broke), and the last close code seen (0 when none).
    pub fn lost(&self) -> (usize, u64) {
        (
            self.shared.lost.load(Ordering::Relaxed),
            self.shared.last_close_code.load(Ordering::Relaxed),
        )
    }

    /// Handshakes tried again after a failure (the gateway answered 4000, or the
    /// connection broke), so far.
    pub fn handshake_retries(&self) -> usize {
        self.shared.retries.load(Ordering::Relaxed)
    }

    /// The timed messages' latencies so far, from all clients.
    pub fn latencies(&self) -> anyhow::Result<Histogram<u64>> {
        let mut all = histogram()?;
        for shard in &self.shared.latencies {
            let shard = shard
                .lock()
                .map_err(|_| anyhow::anyhow!("a client panicked while recording"))?;
            all.add(&*shard)?;
        }
        Ok(all)
    }

    /// Closes every connection (code 1000: the sessions end) and waits for the
    /// clients to finish.
    pub async fn close(self) {
        self.stop.cancel();
        for client in self.clients {
            let _ = client.await;
        }
    }
}

/// One connection's client.
struct Client {
    index: usize,
    url: String,
    token: String,
    compression: Compression,
    shared: Arc<Shared>,
    stop: CancellationToken,
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

impl Client {
    async fn run(self, ready: oneshot::Sender<anyhow::Result<Handshake>>) {
        let mut attempt = 1;
        let (mut socket, mut session) = loop {
            match self.handshake().await {
                Ok((socket, session, handshake)) => {
                    let _ = ready.send(Ok(handshake));
                    break (socket, session);
                }
                // As client libraries do after a 4000 or a broken connection:
                // reconnect and identify again, a little later.
                Err(error) if attempt < HANDSHAKE_ATTEMPTS && !self.stop.is_cancelled() => {
                    tracing::debug!(client = self.index, attempt, %error, "identifying again");
                    self.shared.retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(RETRY_BACKOFF * attempt).await;
                    attempt += 1;
                }
                Err(error) => {
                    let _ = ready.send(Err(error));
                    return;
                }
            }
        };
        let ended = tokio::select! {
            () = self.stop.cancelled() => None,
            ended = session.serve(&mut socket) => Some(ended),
        };
        match ended {
            None => {
                let _ = socket
                    .send(Message::Close(Some(CloseFrame {
                        code: CloseCode::Normal,
                        reason: "benchmark done".into(),
                    })))
                    .await;
                let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
                    while let Some(Ok(_)) = socket.next().await {}
                })
                .await;
            }
            Some(code) => {
                self.shared.lost.fetch_add(1, Ordering::Relaxed);
                self.shared
                    .last_close_code
                    .store(u64::from(code), Ordering::Relaxed);
                tracing::debug!(client = self.index, code, "a gateway connection ended");
            }
        }
    }

    async fn handshake(&self) -> anyhow::Result<(Socket, Session, Handshake)> {
        // Gateway frames to a client are small, except READY and GUILD_CREATE,
        // which the frame decoder grows its buffer for.
        let config = WebSocketConfig::default()
            .read_buffer_size(4096)
            .write_buffer_size(0);
        let (mut socket, _) =
            tokio_tungstenite::connect_async_with_config(self.url.as_str(), Some(config), true)
                .await
                .context("connecting")?;
        let mut session = Session {
            index: self.index,
            inflater: Inflater::new(self.compression)?,
            scratch: Vec::new(),
            last_size: 0,
            seq: None,
            heartbeat_interval: Duration::ZERO,
            shared: Arc::clone(&self.shared),
        };
        let mut handshake = Handshake::default();
        let hello = session.next_value(&mut socket, &mut handshake).await?;
        if hello["op"] != 10 {
            bail!("expected Hello, got {hello}");
        }
        session.heartbeat_interval = Duration::from_millis(
            hello["d"]["heartbeat_interval"]
                .as_u64()
                .context("Hello without heartbeat_interval")?,
        );
        let identify = json!({
            "op": 2,
            "d": {
                "token": self.token,
                "properties": { "os": "linux", "browser": "cloudcord-bench", "device": "cloudcord-bench" },
                "intents": INTENTS,
            }
        });
        socket
            .send(Message::Text(identify.to_string().into()))
            .await
            .context("sending Identify")?;
        let mut guild_creates = 0;
        let mut expected = None;
        while expected != Some(guild_creates) {
            let frame = session.next_value(&mut socket, &mut handshake).await?;
            let size = session.last_size;
            session.seq = frame["s"].as_u64().or(session.seq);
            match (frame["op"].as_u64(), frame["t"].as_str()) {
                (Some(0), Some("READY")) => {
                    let guilds = frame["d"]["guilds"].as_array().map_or(0, Vec::len);
                    handshake.guilds = guilds;
                    handshake.ready_bytes = size;
                    expected = Some(guilds);
                }
                (Some(0), Some("GUILD_CREATE")) => {
                    guild_creates += 1;
                    handshake.guild_create_bytes += size;
                }
                (Some(11), _) | (Some(0), _) => {}
                (Some(9), _) => bail!("Invalid Session during Identify"),
                _ => bail!("unexpected during Identify: {frame}"),
            }
        }
        Ok((socket, session, handshake))
    }
}

/// A client's protocol state after its handshake.
struct Session {
    index: usize,
    inflater: Inflater,
    /// Decompressed text of the last binary frame.
    scratch: Vec<u8>,
    /// Bytes of the last frame `next_value` read.
    last_size: usize,
    seq: Option<u64>,
    heartbeat_interval: Duration,
    shared: Arc<Shared>,
}

impl Session {
    /// Reads frames until `socket` ends; returns the close code (1006 when it
    /// broke without one).
    async fn serve(&mut self, socket: &mut Socket) -> u16 {
        // Discord's rule: the first heartbeat after interval × a random jitter.
        let jitter = (self.index.wrapping_mul(2_654_435_761) % 1000) as f64 / 1000.0;
        let mut next_heartbeat =
            tokio::time::Instant::now() + self.heartbeat_interval.mul_f64(jitter);
        loop {
            tokio::select! {
                message = socket.next() => {
                    let message = match message {
                        Some(Ok(message)) => message,
                        Some(Err(_)) | None => return 1006,
                    };
                    match self.receive(&message) {
                        Ok(Step::Continue) => {}
                        Ok(Step::HeartbeatNow) => {
                            if self.heartbeat(socket).await.is_err() {
                                return 1006;
                            }
                        }
                        Ok(Step::Closed(code)) => return code,
                        Err(error) => {
                            tracing::warn!(client = self.index, %error, "unreadable gateway frame");
                            return 1006;
                        }
                    }
                }
                () = tokio::time::sleep_until(next_heartbeat) => {
                    if self.heartbeat(socket).await.is_err() {
                        return 1006;
                    }
                    next_heartbeat = tokio::time::Instant::now() + self.heartbeat_interval;
                }
            }
        }
    }

    async fn heartbeat(&self, socket: &mut Socket) -> anyhow::Result<()> {
        let beat = json!({ "op": 1, "d": self.seq });
        socket.send(Message::Text(beat.to_string().into())).await?;
        Ok(())
    }

    fn receive(&mut self, message: &Message) -> anyhow::Result<Step> {
        let text = match message {
            Message::Close(frame) => {
                return Ok(Step::Closed(
                    frame.as_ref().map_or(1005, |frame| u16::from(frame.code)),
                ));
            }
            Message::Text(_) | Message::Binary(_) => {
                self.inflater.text(message, &mut self.scratch)?
            }
            _ => return Ok(Step::Continue),
        };
        if let Some(seq) = message_create_seq(text) {
            self.seq = Some(seq);
            self.shared.message_creates.fetch_add(1, Ordering::Relaxed);
            if let Some(log) = &self.shared.send_log
                && let Some(latency) = log.latency(text, Instant::now())
            {
                let shard = &self.shared.latencies[self.index % LATENCY_SHARDS];
                if let Ok(mut histogram) = shard.lock() {
                    histogram.saturating_record(latency);
                }
            }
            return Ok(Step::Continue);
        }
        let frame: Value = serde_json::from_str(text).context("a frame that is not JSON")?;
        Ok(match frame["op"].as_u64() {
            Some(0) => {
                self.seq = frame["s"].as_u64().or(self.seq);
                if frame["t"] == "MESSAGE_CREATE" {
                    self.shared.message_creates.fetch_add(1, Ordering::Relaxed);
                } else {
                    self.shared.other_dispatches.fetch_add(1, Ordering::Relaxed);
                }
                Step::Continue
            }
            Some(1) => Step::HeartbeatNow,
            // Reconnect or Invalid Session: this client does not resume.
            Some(7 | 9) => Step::Closed(4000),
            _ => Step::Continue,
        })
    }

    /// The next frame as JSON (handshake only).
    async fn next_value(
        &mut self,
        socket: &mut Socket,
        handshake: &mut Handshake,
    ) -> anyhow::Result<Value> {
        loop {
            let message = socket
                .next()
                .await
                .context("the gateway closed the connection")?
                .context("reading from the gateway")?;
            match &message {
                Message::Text(text) => handshake.wire_bytes += text.len(),
                Message::Binary(bytes) => handshake.wire_bytes += bytes.len(),
                Message::Close(frame) => bail!("the gateway closed the connection: {frame:?}"),
                _ => continue,
            }
            let text = self.inflater.text(&message, &mut self.scratch)?;
            self.last_size = text.len();
            return serde_json::from_str(text).context("a frame that is not JSON");
        }
    }
}

/// The `s` of a MESSAGE_CREATE frame as the gateway renders it; `None` for
/// anything else (which then takes the slow path).
fn message_create_seq(text: &str) -> Option<u64> {
    let head = text.strip_suffix(MESSAGE_CREATE_SUFFIX)?;
    let at = head.rfind(r#","s":"#)?;
    head[at + 5..].parse().ok()
}

/// What to do after a frame.
enum Step {
    Continue,
    HeartbeatNow,
    Closed(u16),
}

/// Undoes the transport compression: one stream context per connection.
enum Inflater {
    Plain,
    Zlib(Box<Decompress>),
    Zstd(Box<zstd::stream::raw::Decoder<'static>>),
}

impl Inflater {
    fn new(compression: Compression) -> anyhow::Result<Self> {
        Ok(match compression {
            Compression::None => Self::Plain,
            Compression::ZlibStream => Self::Zlib(Box::new(Decompress::new(true))),
            Compression::ZstdStream => Self::Zstd(Box::new(zstd::stream::raw::Decoder::new()?)),
        })
    }

    /// The JSON text of `message` (a text frame, or a compressed binary frame
    /// decompressed into `scratch`).
    fn text<'a>(
        &mut self,
        message: &'a Message,
        scratch: &'a mut Vec<u8>,
    ) -> anyhow::Result<&'a str> {
        let input: &[u8] = match message {
            Message::Text(text) => return Ok(text.as_str()),
            Message::Binary(bytes) => bytes,
            _ => bail!("not a data frame"),
        };
        scratch.clear();
        match self {
            Self::Plain => scratch.extend_from_slice(input),
            Self::Zlib(inflate) => {
                let mut consumed = 0;
                loop {
                    grow(scratch);
                    let before = inflate.total_in();
                    inflate.decompress_vec(&input[consumed..], scratch, FlushDecompress::Sync)?;
                    consumed += usize::try_from(inflate.total_in() - before)?;
                    if consumed >= input.len() && scratch.len() < scratch.capacity() {
                        break;
                    }
                }
            }
            Self::Zstd(decoder) => {
                let mut input = InBuffer::around(input);
                loop {
                    grow(scratch);
                    let pos = scratch.len();
                    // The output buffer sets the vector's length as it goes.
                    let full = {
                        let mut output = OutBuffer::around_pos(scratch, pos);
                        decoder.run(&mut input, &mut output)?;
                        output.pos() == output.capacity()
                    };
                    if input.pos() >= input.src.len() && !full {
                        break;
                    }
                }
            }
        }
        Ok(std::str::from_utf8(scratch)?)
    }
}

/// Makes room for more output: decompressors write only into spare capacity.
fn grow(out: &mut Vec<u8>) {
    if out.capacity() - out.len() < 1024 {
        out.reserve(out.capacity().max(4096));
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use flate2::{Compress, FlushCompress};
    use tokio_tungstenite::tungstenite::Message;
    use zstd::stream::raw::{InBuffer, Operation as _, OutBuffer};

    use super::{Compression, Inflater, SendLog, message_create_seq};

    fn frame(content: &str, seq: u64) -> String {
        format!(
            r#"{{"op":0,"d":{{"channel_id":"1","content":"{content}","id":"2"}},"s":{seq},"t":"MESSAGE_CREATE"}}"#
        )
    }

    #[test]
    fn message_create_frames_take_the_fast_path_and_others_do_not() {
        assert_eq!(message_create_seq(&frame("hi", 42)), Some(42));
        let update = r#"{"op":0,"d":{},"s":7,"t":"MESSAGE_UPDATE"}"#;
        assert_eq!(message_create_seq(update), None);
        // Another field order is read the slow way, not misread.
        let reordered = r#"{"op":0,"s":7,"t":"MESSAGE_CREATE","d":{}}"#;
        assert_eq!(message_create_seq(reordered), None);
    }

    #[test]
    fn only_this_runs_timed_messages_are_timed() {
        let log = SendLog::new(3, 1);
        let warm_up = log.content(0, 40);
        let timed = log.content(1, 40);
        assert!(timed.len() >= 40);
        log.sent(0);
        log.sent(1);
        let later = Instant::now() + Duration::from_millis(5);
        assert_eq!(log.latency(&frame(&warm_up, 1), later), None);
        let latency = log.latency(&frame(&timed, 2), later).expect("timed");
        assert!((5_000..1_000_000).contains(&latency), "{latency} µs");
        // Not sent yet, or another run's: not timed.
        assert_eq!(log.latency(&frame(&log.content(2, 0), 3), later), None);
        let other = SendLog::new(3, 0);
        assert_eq!(log.latency(&frame(&other.content(1, 0), 4), later), None);
    }

    #[test]
    fn zlib_stream_messages_inflate_with_one_context() {
        let mut deflate = Compress::new(flate2::Compression::fast(), true);
        let mut inflater = Inflater::new(Compression::ZlibStream).expect("inflater");
        let mut scratch = Vec::new();
        for text in [frame("one", 1), frame(&"two".repeat(5_000), 2)] {
            let mut wire = Vec::with_capacity(text.len() + 64);
            deflate
                .compress_vec(text.as_bytes(), &mut wire, FlushCompress::Sync)
                .expect("deflates");
            let message = Message::Binary(wire.into());
            assert_eq!(
                inflater.text(&message, &mut scratch).expect("inflates"),
                text
            );
        }
    }

    #[test]
    fn zstd_stream_messages_decompress_with_one_context() {
        let mut encoder = zstd::stream::raw::Encoder::new(1).expect("encoder");
        let mut inflater = Inflater::new(Compression::ZstdStream).expect("inflater");
        let mut scratch = Vec::new();
        for text in [frame("one", 1), frame(&"two".repeat(5_000), 2)] {
            let mut wire = vec![0; text.len() + 1024];
            let mut output = OutBuffer::around(&mut wire[..]);
            let mut input = InBuffer::around(text.as_bytes());
            encoder.run(&mut input, &mut output).expect("compresses");
            while encoder.flush(&mut output).expect("flushes") > 0 {}
            let written = output.pos();
            wire.truncate(written);
            let message = Message::Binary(wire.into());
            assert_eq!(
                inflater.text(&message, &mut scratch).expect("inflates"),
                text
            );
        }
    }
}

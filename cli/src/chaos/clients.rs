//! Gateway clients that behave like Discord's: they identify, heartbeat, resume
//! after a dropped connection or a resumable Invalid Session (on another gateway
//! when theirs is gone), and after any other Invalid Session they identify afresh
//! and fetch the channel's history they missed from the REST API. Each records
//! every MESSAGE_CREATE of the channel, and traces its connections.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{Context as _, bail};
use cloudcord_schemas::ids::Snowflake;
use futures::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// GUILDS | GUILD_MESSAGES.
const INTENTS: u64 = 1 | (1 << 9);

/// How far a message's id may precede the ids of messages committed before it:
/// command-api mints the id, then the command waits for its partition's
/// processor, which a fault can hold up for the length of the fault.
const ID_SKEW: Duration = Duration::from_secs(60);

/// How long a connection's handshake or one history request may take: a service
/// that does not answer (frozen, or stuck after a database restart) is given up
/// on, and the client tries again.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// What one client saw.
#[derive(Debug, Default, Clone)]
pub struct Received {
    /// MESSAGE_CREATE dispatches of the channel, by message id: how many times each
    /// arrived.
    pub dispatched: BTreeMap<u64, u32>,
    /// Messages fetched from the REST API after a session was lost.
    pub backfilled: BTreeMap<u64, u32>,
    /// Sessions resumed.
    pub resumes: u32,
    /// Sessions lost (Invalid Session) and identified afresh.
    pub reidentified: u32,
    /// What happened to the client's connections, with times: read it when the
    /// client misses messages.
    pub trace: Vec<String>,
}

impl Received {
    /// Adds `what` to the trace, stamped with the time of day (UTC).
    fn note(&mut self, what: impl std::fmt::Display) {
        let now = time::OffsetDateTime::now_utc();
        self.trace.push(format!(
            "{:02}:{:02}:{:02}.{:03} {what}",
            now.hour(),
            now.minute(),
            now.second(),
            now.millisecond()
        ));
    }
}

/// The clients, running until [`Clients::stop`].
pub struct Clients {
    stop: CancellationToken,
    tasks: JoinSet<anyhow::Result<Received>>,
    received: Vec<Arc<Mutex<Received>>>,
}

/// Where the clients connect and read history.
#[derive(Clone)]
pub struct Endpoints {
    /// The gateway instances' `ws://` URLs.
    pub gateways: Vec<String>,
    /// The query-api instances' URLs, for history.
    pub query_apis: Vec<String>,
    /// The channel under load.
    pub channel: u64,
}

impl Clients {
    /// Connects one client per token, spread over the gateways.
    pub fn start(tokens: &[String], endpoints: &Endpoints) -> Self {
        let stop = CancellationToken::new();
        let mut tasks = JoinSet::new();
        let mut received = Vec::new();
        for (i, token) in tokens.iter().enumerate() {
            let client = Client {
                token: token.clone(),
                endpoints: endpoints.clone(),
                first_gateway: i % endpoints.gateways.len(),
                received: Arc::new(Mutex::new(Received::default())),
            };
            received.push(Arc::clone(&client.received));
            let stop = stop.clone();
            tasks.spawn(async move { client.run(&stop).await });
        }
        Self {
            stop,
            tasks,
            received,
        }
    }

    /// Waits until every client has each of `ids` (dispatched or backfilled), at
    /// most `timeout`; whether they all did.
    pub async fn wait_for(&self, ids: &BTreeSet<u64>, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let complete = self.received.iter().all(|received| {
                let received = received.lock().unwrap_or_else(PoisonError::into_inner);
                ids.iter().all(|id| {
                    received.dispatched.contains_key(id) || received.backfilled.contains_key(id)
                })
            });
            if complete || tokio::time::Instant::now() > deadline {
                return complete;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Stops the clients; what each received.
    pub async fn stop(mut self) -> anyhow::Result<Vec<Received>> {
        self.stop.cancel();
        let mut all = Vec::new();
        while let Some(received) = self.tasks.join_next().await {
            all.push(received.context("a client panicked")??);
        }
        Ok(all)
    }
}

#[derive(Clone)]
struct Client {
    token: String,
    endpoints: Endpoints,
    first_gateway: usize,
    received: Arc<Mutex<Received>>,
}

/// A session to resume.
#[derive(Clone)]
struct Resumable {
    id: String,
    seq: u64,
    url: String,
}

/// How a connection ended.
enum Ended {
    /// The harness stopped the client.
    Stopped,
    /// The socket dropped, or the gateway said the session may be resumed: resume.
    Dropped(Resumable),
    /// The server ended the session: identify afresh.
    Invalidated,
}

impl Client {
    async fn run(self, stop: &CancellationToken) -> anyhow::Result<Received> {
        let mut session: Option<Resumable> = None;
        let mut attempt = 0_usize;
        loop {
            if stop.is_cancelled() {
                break;
            }
            // Resume where the session lives; when that gateway is gone, any other.
            let gateways = &self.endpoints.gateways;
            let url = match &session {
                Some(s) if attempt == 0 => s.url.clone(),
                _ => gateways[(self.first_gateway + attempt) % gateways.len()].clone(),
            };
            // Every wait inside a connection is bounded, but a stop ends it at once.
            let connected = tokio::select! {
                () = stop.cancelled() => break,
                connected = self.connect(&url, session.clone(), stop) => connected,
            };
            let ended = match connected {
                Ok(ended) => ended,
                Err(error) => {
                    self.lock()
                        .note(format_args!("connection to {url} failed: {error:#}"));
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            };
            attempt = 0;
            match ended {
                Ended::Stopped => break,
                Ended::Dropped(resumable) => session = Some(resumable),
                Ended::Invalidated => {
                    session = None;
                    let mut received = self.lock();
                    received.reidentified += 1;
                    received.note("Invalid Session: identifying afresh");
                }
            }
        }
        Ok(self.lock().clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Received> {
        self.received.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// One connection: Hello, Identify or Resume, then dispatches until it ends.
    async fn connect(
        &self,
        url: &str,
        resume: Option<Resumable>,
        stop: &CancellationToken,
    ) -> anyhow::Result<Ended> {
        let handshake = tokio_tungstenite::connect_async(format!("{url}/?v=10&encoding=json"));
        let (mut socket, _) = tokio::time::timeout(REQUEST_TIMEOUT, handshake)
            .await
            .with_context(|| format!("connecting to {url}: no answer"))?
            .with_context(|| format!("connecting to {url}"))?;
        let hello = next_json(&mut socket).await?;
        let interval = Duration::from_millis(
            hello["d"]["heartbeat_interval"]
                .as_u64()
                .context("Hello without heartbeat_interval")?,
        );
        let resuming = resume.is_some();
        let mut state = match resume {
            Some(resumable) => {
                self.lock().note(format_args!(
                    "{url}: resuming session {} at seq {}",
                    resumable.id, resumable.seq
                ));
                send(
                    &mut socket,
                    &json!({"op": 6, "d": {
                        "token": self.token, "session_id": resumable.id, "seq": resumable.seq,
                    }}),
                )
                .await?;
                resumable
            }
            None => {
                self.lock().note(format_args!("{url}: identifying"));
                send(&mut socket, &json!({"op": 2, "d": {
                    "token": self.token,
                    "properties": {"os": "linux", "browser": "cloudcord-chaos", "device": "cloudcord-chaos"},
                    "intents": INTENTS,
                }}))
                .await?;
                Resumable {
                    id: String::new(),
                    seq: 0,
                    url: url.to_owned(),
                }
            }
        };
        let channel = self.endpoints.channel.to_string();
        let mut heartbeat = tokio::time::interval(interval);
        heartbeat.tick().await;
        let mut seen = Dispatches::default();
        let ended = loop {
            let frame = tokio::select! {
                () = stop.cancelled() => {
                    let _ = socket.close(None).await;
                    return Ok(Ended::Stopped);
                }
                _ = heartbeat.tick() => {
                    if let Err(error) = send(&mut socket, &json!({"op": 1, "d": state.seq})).await {
                        break (format!("heartbeat failed: {error:#}"), dropped(state));
                    }
                    continue;
                }
                frame = next_json(&mut socket) => frame,
            };
            let frame = match frame {
                Ok(frame) => frame,
                Err(error) => break (format!("{error:#}"), dropped(state)),
            };
            if let Some(seq) = frame["s"].as_u64() {
                state.seq = seq;
            }
            match (frame["op"].as_u64(), frame["t"].as_str()) {
                (Some(0), Some("READY")) => {
                    state.id = frame["d"]["session_id"]
                        .as_str()
                        .context("READY without session_id")?
                        .to_owned();
                    if let Some(url) = frame["d"]["resume_gateway_url"].as_str() {
                        url.clone_into(&mut state.url);
                    }
                    self.lock()
                        .note(format_args!("READY: session {}", state.id));
                    if !resuming {
                        // A fresh session: what it missed is history now, read
                        // beside the connection, which must go on heartbeating.
                        let (client, stop) = (self.clone(), stop.clone());
                        tokio::spawn(async move { client.backfill(&stop).await });
                    }
                }
                (Some(0), Some("RESUMED")) => {
                    let mut received = self.lock();
                    received.resumes += 1;
                    received.note("RESUMED");
                }
                (Some(0), Some("MESSAGE_CREATE"))
                    if frame["d"]["channel_id"].as_str() == Some(channel.as_str()) =>
                {
                    let id = id_of(&frame["d"])?;
                    seen.add(id, state.seq);
                    *self.lock().dispatched.entry(id).or_default() += 1;
                }
                // `d: true`: the session may still be resumed (the gateway could not
                // take it over just now); Discord asks clients to wait 1–5 s first.
                (Some(9), _) if frame["d"] == true => {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    break ("Invalid Session, resumable".to_owned(), dropped(state));
                }
                (Some(9), _) => break ("Invalid Session".to_owned(), Ended::Invalidated),
                (Some(7), _) => break ("Reconnect".to_owned(), dropped(state)),
                _ => {}
            }
        };
        let (why, ended) = ended;
        self.lock().note(format_args!(
            "connection to {url} ended ({why}); it brought {seen}"
        ));
        Ok(ended)
    }

    /// Reads the channel's history that this client may have missed from
    /// query-api, oldest first, and records the messages no dispatch brought;
    /// a failed request (a 503 while the read models catch up, a restarting
    /// database) is asked again, of the other query-api too, until the harness
    /// stops.
    ///
    /// Like a Discord client it starts from the newest message it has, less
    /// [`ID_SKEW`]: ids are minted before commands are committed, so a message
    /// committed after the newest one seen can carry a slightly older id.
    async fn backfill(&self, stop: &CancellationToken) {
        let Ok(client) = reqwest::Client::builder().timeout(REQUEST_TIMEOUT).build() else {
            return;
        };
        let newest = {
            let received = self.lock();
            let last = |ids: &BTreeMap<u64, u32>| ids.keys().next_back().copied();
            last(&received.dispatched).max(last(&received.backfilled))
        };
        let mut after = newest.map_or(0, |id| {
            let ms = Snowflake::new(id).timestamp_ms();
            let skew = u64::try_from(ID_SKEW.as_millis()).unwrap_or(u64::MAX);
            Snowflake::from_timestamp_ms(ms.saturating_sub(skew)).get()
        });
        let from = after;
        self.lock().note(format_args!(
            "reading the history sent from {}",
            sent_at(from)
        ));
        let mut read = 0_usize;
        let mut failures = 0_usize;
        loop {
            let reads = &self.endpoints.query_apis;
            let url = format!(
                "{}/api/v10/channels/{}/messages?limit=100&after={after}",
                reads[(self.first_gateway + failures) % reads.len()],
                self.endpoints.channel
            );
            let page = tokio::select! {
                () = stop.cancelled() => return,
                page = self.page(&client, &url) => page,
            };
            let page = match page {
                Ok(page) => page,
                Err(error) => {
                    failures += 1;
                    self.lock().note(format_args!("{error:#}; asking again"));
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    }
                }
            };
            if page.is_empty() {
                self.lock().note(format_args!(
                    "history read: {read} messages, up to {}",
                    sent_at(after)
                ));
                return;
            }
            let mut received = self.lock();
            for message in &page {
                let Ok(id) = id_of(message) else {
                    received.note(format_args!("a history message without an id: {message}"));
                    continue;
                };
                after = after.max(id);
                *received.backfilled.entry(id).or_default() += 1;
                read += 1;
            }
        }
    }

    /// One page of history.
    async fn page(&self, client: &reqwest::Client, url: &str) -> anyhow::Result<Vec<Value>> {
        Ok(client
            .get(url)
            .header("Authorization", format!("Bearer {}", self.token))
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .with_context(|| format!("GET {url}"))?
            .json()
            .await?)
    }
}

/// The channel's dispatches one connection brought, for the trace.
#[derive(Default)]
struct Dispatches {
    count: u64,
    first: Option<(u64, u64)>,
    last: Option<(u64, u64)>,
}

impl Dispatches {
    fn add(&mut self, id: u64, seq: u64) {
        self.count += 1;
        self.first.get_or_insert((id, seq));
        self.last = Some((id, seq));
    }
}

impl std::fmt::Display for Dispatches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.first, self.last) {
            (Some((first, first_seq)), Some((last, last_seq))) => write!(
                f,
                "{} messages, sent {} (s {first_seq}) to {} (s {last_seq})",
                self.count,
                sent_at(first),
                sent_at(last)
            ),
            _ => f.write_str("no messages"),
        }
    }
}

/// When message `id` was sent (its snowflake's time of day, UTC).
pub fn sent_at(id: u64) -> String {
    let ms = Snowflake::new(id).timestamp_ms();
    let at = time::OffsetDateTime::UNIX_EPOCH + Duration::from_millis(ms);
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        at.hour(),
        at.minute(),
        at.second(),
        at.millisecond()
    )
}

fn dropped(state: Resumable) -> Ended {
    if state.id.is_empty() {
        Ended::Invalidated
    } else {
        Ended::Dropped(state)
    }
}

fn id_of(message: &Value) -> anyhow::Result<u64> {
    message["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .with_context(|| format!("a message without an id: {message}"))
}

async fn send(socket: &mut Socket, value: &Value) -> anyhow::Result<()> {
    socket
        .send(Message::Text(value.to_string().into()))
        .await
        .context("sending to the gateway")
}

/// The next JSON frame (text or binary); an error when the socket ends.
async fn next_json(socket: &mut Socket) -> anyhow::Result<Value> {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(60), socket.next())
            .await
            .context("the gateway fell silent")?
            .context("the gateway closed the connection")??;
        match message {
            Message::Text(text) => return Ok(serde_json::from_str(&text)?),
            Message::Binary(bytes) => return Ok(serde_json::from_slice(&bytes)?),
            Message::Close(frame) => bail!("closed: {frame:?}"),
            _ => {}
        }
    }
}

//! The load: a guild with one text channel, members whose gateway clients watch it,
//! and senders that post uniquely numbered messages through the command-api
//! instances in turn, keeping a ledger of what each POST answered.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use cloudcord_schemas::ids::{ChannelId, GuildId};
use serde_json::json;
use tokio::task::JoinSet;

use crate::bench::api::{Api, unique_username};

/// The guild under load and who is in it.
pub struct Scene {
    /// The guild.
    pub guild: GuildId,
    /// Its text channel, where every message goes.
    pub channel: ChannelId,
    /// The owner's token: the senders post as the owner.
    pub owner: String,
    /// The members' tokens, one per gateway client.
    pub members: Vec<String>,
}

impl Scene {
    /// Registers the owner and `members` users, creates the guild and channel, and
    /// lets the members in through an invite.
    pub async fn prepare(api: &Api, members: usize) -> anyhow::Result<Self> {
        let owner = api.register(&unique_username("chaos")).await?;
        let guild = api.create_guild(&owner, "chaos").await?;
        let channel = api.create_text_channel(&owner, guild, "load").await?;
        let code = api.create_invite(&owner, channel).await?;
        let mut tokens = Vec::with_capacity(members);
        for _ in 0..members {
            let token = api.register(&unique_username("chaos_member")).await?;
            api.accept_invite(&token, &code).await?;
            tokens.push(token);
        }
        Ok(Self {
            guild,
            channel,
            owner,
            members: tokens,
        })
    }
}

/// What a POST of one message answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx with the message: the write is acknowledged.
    Acked(u64),
    /// Anything else: the write may or may not have happened, and must not have
    /// happened twice. Why, in a few words: `refused`, `timed out`, `HTTP 503`, …
    Unacked(String),
}

/// One message a sender posted.
#[derive(Debug, Clone)]
pub struct Sent {
    /// Unique across runs: `chaos <run> <sender>-<n>`.
    pub content: String,
    /// What the POST answered.
    pub outcome: Outcome,
}

/// How long a sender waits for one POST before counting it unacknowledged.
const POST_TIMEOUT: Duration = Duration::from_secs(10);

/// The senders, running until [`Senders::stop`].
pub struct Senders {
    stop: Arc<AtomicBool>,
    tasks: JoinSet<Vec<Sent>>,
}

impl Senders {
    /// Starts `count` senders, each posting one message at a time, `pause` apart,
    /// to the command-api instances at `urls` in turn.
    pub fn start(urls: &[String], scene: &Scene, count: usize, pause: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let run = uuid::Uuid::new_v4().simple().to_string();
        let mut tasks = JoinSet::new();
        let client = reqwest::Client::builder()
            .timeout(POST_TIMEOUT)
            .build()
            .unwrap_or_default();
        for sender in 0..count {
            let (stop, client, urls, run) = (
                Arc::clone(&stop),
                client.clone(),
                urls.to_vec(),
                run.clone(),
            );
            let (token, channel) = (scene.owner.clone(), scene.channel);
            tasks.spawn(async move {
                let mut sent = Vec::new();
                let mut n = 0_usize;
                while !stop.load(Ordering::Relaxed) {
                    let url = format!(
                        "{}/api/v10/channels/{channel}/messages",
                        urls[(sender + n) % urls.len()]
                    );
                    let content = format!("chaos {run} {sender}-{n}");
                    let outcome = post(&client, &url, &token, &content).await;
                    sent.push(Sent { content, outcome });
                    n += 1;
                    tokio::time::sleep(pause).await;
                }
                sent
            });
        }
        Self { stop, tasks }
    }

    /// Stops the senders after their current POST; returns every message sent.
    pub async fn stop(mut self) -> anyhow::Result<Vec<Sent>> {
        self.stop.store(true, Ordering::Relaxed);
        let mut all = Vec::new();
        while let Some(sent) = self.tasks.join_next().await {
            all.extend(sent.context("a sender panicked")?);
        }
        Ok(all)
    }
}

async fn post(client: &reqwest::Client, url: &str, token: &str, content: &str) -> Outcome {
    let answer = client
        .post(url)
        .header("Authorization", format!("Bearer {token}"))
        .json(&json!({ "content": content }))
        .send()
        .await;
    let response = match answer {
        Ok(response) => response,
        Err(error) if error.is_connect() => return Outcome::Unacked("refused".into()),
        Err(error) if error.is_timeout() => return Outcome::Unacked("timed out".into()),
        // Other transport errors name the URL; the report counts kinds, the log keeps
        // the detail.
        Err(error) => {
            tracing::debug!(error = %format!("{error:#}"), "a POST failed");
            return Outcome::Unacked("transport error".into());
        }
    };
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    let id = body["id"].as_str().and_then(|id| id.parse().ok());
    match id {
        Some(id) if status.is_success() => Outcome::Acked(id),
        _ => Outcome::Unacked(format!("HTTP {}", status.as_u16())),
    }
}

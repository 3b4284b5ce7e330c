//! The benchmark guild: one guild with a text channel and N members who joined
//! through an invite, all made through REST like clients make them, and kept in
//! `<state_dir>/bench/gateway-guild.json` so later runs reuse it instead of
//! registering 1,000 users again (their access tokens are renewed by logging in
//! once they are older than `TOKEN_REUSE`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use cloudcord_schemas::ids::{ChannelId, GuildId};
use futures::StreamExt as _;
use serde::{Deserialize, Serialize};

use crate::bench::api::{Api, unique_username};

/// Access tokens live an hour by default (`auth.access_token_ttl_secs`); reuse
/// them for well under that, so none expires during a run.
const TOKEN_REUSE: Duration = Duration::from_secs(30 * 60);

/// The guild, its channel and its members (the first is the owner).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BenchGuild {
    /// The API it was made through.
    pub api_url: String,
    /// The guild.
    pub guild: GuildId,
    /// Its text channel, where the benchmarks post.
    pub channel: ChannelId,
    /// An invite that never expires.
    pub invite: String,
    /// Every member, the owner first.
    pub members: Vec<Member>,
    /// When the tokens were issued (Unix seconds).
    pub tokens_issued_at: u64,
}

/// A member and its access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Member {
    /// Its username (the password is [`crate::bench::api::PASSWORD`]).
    pub username: String,
    /// Its access token.
    pub token: String,
}

impl BenchGuild {
    /// Where the guild is remembered.
    pub fn file(state_dir: &Path) -> PathBuf {
        state_dir.join("bench").join("gateway-guild.json")
    }

    /// The remembered guild if it was made through `api_url` and has at least
    /// `members` members (renewing old tokens), else a new one; `new_guild` always
    /// makes a new one. At most `concurrency` registrations or logins at a time.
    pub async fn prepare(
        api: &Api,
        api_url: &str,
        state_dir: &Path,
        members: usize,
        new_guild: bool,
        concurrency: usize,
    ) -> anyhow::Result<Self> {
        let file = Self::file(state_dir);
        let remembered = if new_guild {
            None
        } else {
            std::fs::read(&file)
                .ok()
                .and_then(|bytes| serde_json::from_slice::<Self>(&bytes).ok())
                .filter(|guild| guild.api_url == api_url)
        };
        let mut guild = match remembered {
            Some(mut guild) => {
                if now_unix() > guild.tokens_issued_at + TOKEN_REUSE.as_secs() {
                    tracing::info!(
                        members = guild.members.len(),
                        "logging the benchmark guild's members in again"
                    );
                    guild.log_in(api, concurrency).await?;
                }
                tracing::info!(guild = %guild.guild, members = guild.members.len(), "reusing the benchmark guild");
                guild
            }
            None => Self::create(api, api_url).await?,
        };
        // Whoever joined is kept, also when a registration failed.
        let added = if guild.members.len() < members {
            guild.add_members(api, members, concurrency).await
        } else {
            Ok(())
        };
        guild.save(&file)?;
        added?;
        Ok(guild)
    }

    async fn create(api: &Api, api_url: &str) -> anyhow::Result<Self> {
        let username = unique_username("gwbench_");
        let token = api
            .register(&username)
            .await
            .context("registering the owner")?;
        let guild = api.create_guild(&token, "Gateway bench").await?;
        let channel = api.create_text_channel(&token, guild, "fanout").await?;
        let invite = api.create_invite(&token, channel).await?;
        tracing::info!(%guild, %channel, "created the benchmark guild");
        Ok(Self {
            api_url: api_url.to_owned(),
            guild,
            channel,
            invite,
            members: vec![Member { username, token }],
            tokens_issued_at: now_unix(),
        })
    }

    /// Registers users and has them accept the invite until there are `total`
    /// members.
    async fn add_members(
        &mut self,
        api: &Api,
        total: usize,
        concurrency: usize,
    ) -> anyhow::Result<()> {
        let missing = total - self.members.len();
        tracing::info!(missing, "registering benchmark guild members");
        let invite: Arc<str> = Arc::from(self.invite.as_str());
        let mut joined = futures::stream::iter(0..missing)
            .map(|_| {
                let api = api.clone();
                let invite = Arc::clone(&invite);
                async move {
                    let username = unique_username("gwbench_");
                    let token = api.register(&username).await?;
                    api.accept_invite(&token, &invite).await?;
                    anyhow::Ok(Member { username, token })
                }
            })
            .buffer_unordered(concurrency.max(1));
        while let Some(member) = joined.next().await {
            self.members.push(member.context("registering a member")?);
            if self.members.len().is_multiple_of(100) {
                tracing::info!(members = self.members.len(), "benchmark guild members");
            }
        }
        Ok(())
    }

    /// Fresh tokens for every member.
    async fn log_in(&mut self, api: &Api, concurrency: usize) -> anyhow::Result<()> {
        let issued_at = now_unix();
        let tokens: Vec<anyhow::Result<String>> = futures::stream::iter(
            self.members
                .iter()
                .map(|member| api.login(&member.username)),
        )
        .buffered(concurrency.max(1))
        .collect()
        .await;
        for (member, token) in self.members.iter_mut().zip(tokens) {
            member.token = token.with_context(|| format!("logging {} in", member.username))?;
        }
        self.tokens_issued_at = issued_at;
        Ok(())
    }

    fn save(&self, file: &Path) -> anyhow::Result<()> {
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::write(file, serde_json::to_vec_pretty(self)?)
            .with_context(|| format!("writing {}", file.display()))
    }

    /// The first `count` members' tokens.
    pub fn tokens(&self, count: usize) -> Vec<String> {
        self.members
            .iter()
            .take(count)
            .map(|member| member.token.clone())
            .collect()
    }
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

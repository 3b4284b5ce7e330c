//! The REST calls the benchmarks set up and load the stack with, as a client makes
//! them: `POST`s under `/api/v10` with a user's bearer token.

use anyhow::{Context as _, bail};
use cloudcord_schemas::ids::{ChannelId, GuildId};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// The password of every user a benchmark registers (they are throwaway accounts
/// on a development stack).
pub const PASSWORD: &str = "bench-password-123";

/// The stack's REST API, `{url}/api/v10` (the front door, or command-api's own
/// listener: every call here is a write).
#[derive(Debug, Clone)]
pub struct Api {
    client: reqwest::Client,
    base: String,
}

#[derive(serde::Deserialize)]
struct Created<Id> {
    id: Id,
}

impl Api {
    /// The API behind `url`, e.g. `http://127.0.0.1:8080`.
    pub fn new(url: &str) -> Self {
        Self {
            client: reqwest::Client::new(),
            base: format!("{}/api/v10", url.trim_end_matches('/')),
        }
    }

    /// `POST {base}{path}` with `body`; the answer's JSON (`null` when empty).
    pub async fn post(
        &self,
        path: &str,
        token: Option<&str>,
        body: &Value,
    ) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.base);
        let mut request = self.client.post(&url).json(body);
        if let Some(token) = token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("POST {url}"))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("POST {url} answered {status}: {body}");
        }
        Ok(body)
    }

    async fn post_as<T: DeserializeOwned>(
        &self,
        path: &str,
        token: &str,
        body: &Value,
    ) -> anyhow::Result<T> {
        let answer = self.post(path, Some(token), body).await?;
        serde_json::from_value(answer).with_context(|| format!("the answer to POST {path}"))
    }

    /// Registers `username` with [`PASSWORD`]; returns the user's access token.
    pub async fn register(&self, username: &str) -> anyhow::Result<String> {
        let answer = self
            .post(
                "/auth/register",
                None,
                &json!({ "username": username, "password": PASSWORD }),
            )
            .await?;
        token(&answer)
    }

    /// Logs `username` in with [`PASSWORD`]; returns a fresh access token.
    pub async fn login(&self, username: &str) -> anyhow::Result<String> {
        let answer = self
            .post(
                "/auth/login",
                None,
                &json!({ "login": username, "password": PASSWORD }),
            )
            .await?;
        token(&answer)
    }

    /// Creates a guild owned by `token`'s user.
    pub async fn create_guild(&self, token: &str, name: &str) -> anyhow::Result<GuildId> {
        let created: Created<GuildId> = self
            .post_as("/guilds", token, &json!({ "name": name }))
            .await?;
        Ok(created.id)
    }

    /// Creates a text channel in `guild`.
    pub async fn create_text_channel(
        &self,
        token: &str,
        guild: GuildId,
        name: &str,
    ) -> anyhow::Result<ChannelId> {
        let created: Created<ChannelId> = self
            .post_as(
                &format!("/guilds/{guild}/channels"),
                token,
                &json!({ "name": name, "type": 0 }),
            )
            .await?;
        Ok(created.id)
    }

    /// An invite to `channel` that never expires and has no use limit; its code.
    pub async fn create_invite(&self, token: &str, channel: ChannelId) -> anyhow::Result<String> {
        let answer = self
            .post(
                &format!("/channels/{channel}/invites"),
                Some(token),
                &json!({ "max_age": 0, "max_uses": 0 }),
            )
            .await?;
        Ok(answer["code"]
            .as_str()
            .context("invite without code")?
            .to_owned())
    }

    /// Joins the invite's guild as `token`'s user.
    pub async fn accept_invite(&self, token: &str, code: &str) -> anyhow::Result<()> {
        self.post(&format!("/invites/{code}"), Some(token), &json!({}))
            .await?;
        Ok(())
    }

    /// Sends a message with `content` to `channel`; returns once the API answered.
    pub async fn send_message(
        &self,
        token: &str,
        channel: ChannelId,
        content: &str,
    ) -> anyhow::Result<()> {
        self.post(
            &format!("/channels/{channel}/messages"),
            Some(token),
            &json!({ "content": content }),
        )
        .await?;
        Ok(())
    }
}

fn token(answer: &Value) -> anyhow::Result<String> {
    Ok(answer["token"]
        .as_str()
        .context("no token in the answer")?
        .to_owned())
}

/// A new username nobody has: `prefix` and 12 random hex digits.
pub fn unique_username(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

//! Posting the benchmark's messages at a steady rate: message `i` is due at
//! `start + i / rate` whatever happened to the ones before (an open-loop schedule,
//! so a slow answer delays no later message), each a `POST
//! /channels/{id}/messages` by the guild's members in turn, at most
//! `MAX_IN_FLIGHT` awaiting their answer.

use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use cloudcord_schemas::ids::ChannelId;
use hdrhistogram::Histogram;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::client::SendLog;
use crate::bench::api::Api;
use crate::bench::{histogram, micros};

/// Requests awaiting their answer at most; past it the schedule slips (and the
/// report says by how much).
const MAX_IN_FLIGHT: usize = 512;

/// Who posts where.
#[derive(Debug, Clone)]
pub struct Sender {
    /// The API.
    pub api: Api,
    /// The channel.
    pub channel: ChannelId,
    /// The authors' tokens, used in turn.
    pub authors: Arc<[String]>,
    /// Where send times go, and what the contents are.
    pub log: Arc<SendLog>,
    /// Content length in bytes.
    pub content_bytes: usize,
}

/// How a run of posts went.
#[derive(Debug)]
pub struct Sent {
    /// Messages the API accepted.
    pub accepted: usize,
    /// Messages it refused or that failed.
    pub failed: usize,
    /// From the first send to the last answer.
    pub elapsed: Duration,
    /// The latest any message went out after its due time.
    pub max_behind: Duration,
    /// Time to the API's answer, per accepted message.
    pub answers: Histogram<u64>,
}

impl Sender {
    /// Posts messages `indexes` at `rate` per second and waits for every answer.
    pub async fn post(&self, indexes: Range<usize>, rate: f64) -> anyhow::Result<Sent> {
        if indexes.end > self.log.capacity() {
            bail!("the send log has room for {} messages", self.log.capacity());
        }
        let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
        let mut posts = JoinSet::new();
        let start = Instant::now();
        let mut max_behind = Duration::ZERO;
        let mut answers = histogram()?;
        let (mut accepted, mut failed) = (0, 0);
        let mut tally = |outcome: anyhow::Result<u64>| match outcome {
            Ok(latency) => {
                accepted += 1;
                answers.saturating_record(latency);
            }
            Err(error) => {
                failed += 1;
                tracing::warn!(%error, "a benchmark message failed");
            }
        };
        for (n, index) in indexes.enumerate() {
            let due = start + Duration::from_secs_f64(n as f64 / rate);
            tokio::time::sleep_until(due.into()).await;
            let permit = Arc::clone(&in_flight).acquire_owned().await?;
            max_behind = max_behind.max(Instant::now().saturating_duration_since(due));
            let sender = self.clone();
            posts.spawn(async move {
                let token = &sender.authors[index % sender.authors.len()];
                let content = sender.log.content(index, sender.content_bytes);
                sender.log.sent(index);
                let posted = Instant::now();
                sender
                    .api
                    .send_message(token, sender.channel, &content)
                    .await?;
                drop(permit);
                Ok(micros(posted.elapsed()))
            });
            // Collect what finished, so the set stays small.
            while let Some(done) = posts.try_join_next() {
                tally(done?);
            }
        }
        while let Some(done) = posts.join_next().await {
            tally(done?);
        }
        Ok(Sent {
            accepted,
            failed,
            elapsed: start.elapsed(),
            max_behind,
            answers,
        })
    }
}

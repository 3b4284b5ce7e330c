//! Handing sessions over between gateway processes, so a client resumes without a
//! lost or repeated dispatch wherever it reconnects: on this process after it
//! restarted (it hands every session over when it shuts down), and on another
//! process while this one runs (which asks for the session through `ephemeral`).
//!
//! 1. The holder takes the session out under the routing lock
//!    ([`Fanout::hand_over`](crate::fanout::Fanout::hand_over)): the session with
//!    its replay buffer, the states of the guilds it follows and its DM channels,
//!    all true at one `projected` position, and [`store`] writes them to PostgreSQL.
//! 2. The process the client resumes on claims the row; when there is none yet it
//!    publishes an [`Ephemeral::HandoverRequest`] and waits a moment for it.
//! 3. [`catch_up`] routes the records between the export's position and this
//!    process's into a router of the session's own and merges it; the Resume then
//!    replays from the session's buffer as on the process that identified it.
//!
//! A process that crashes hands nothing over: its sessions get Invalid Session and
//! their clients identify anew.

pub mod catch_up;
pub mod store;

use std::time::Duration;

use cloudcord_runtime::kafka::KafkaConfig;
use cloudcord_schemas::ids::UserId;
use rdkafka::error::KafkaError;

use self::store::HandoverStore;
use crate::ephemeral::Publisher;
use crate::fanout::{Handover, SessionExport};
use crate::guild_state::GuildState;
use crate::store::GatewayStore;
use cloudcord_schemas::ephemeral::Ephemeral;

/// How long a resume waits for the holder of a session to hand it over.
const REQUEST_WAIT: Duration = Duration::from_secs(3);

/// How often the store is asked again meanwhile.
const CLAIM_RETRY: Duration = Duration::from_millis(50);

/// Why a hand-over failed.
#[derive(Debug, thiserror::Error)]
pub enum HandoverError {
    /// The store failed.
    #[error("the session hand-over store failed")]
    Store(#[from] sqlx::Error),
    /// The request could not be published.
    #[error("cannot ask other gateway processes for a session")]
    Kafka(#[from] KafkaError),
}

/// This process's side of hand-overs: the store, and where to ask for sessions.
pub struct Handovers {
    store: HandoverStore,
    publisher: Publisher,
    kafka: KafkaConfig,
    /// How long a handed-over session can still be resumed.
    window: Duration,
}

impl Handovers {
    /// Hand-overs stored in `store`, asked for through `publisher`, caught up
    /// from `kafka`'s `projected`, resumable for `window`.
    pub fn new(
        publisher: Publisher,
        kafka: &KafkaConfig,
        store: &GatewayStore,
        window: Duration,
    ) -> Result<Self, HandoverError> {
        Ok(Self {
            store: HandoverStore::new(store),
            publisher,
            kafka: kafka.clone(),
            window,
        })
    }

    /// The `ephemeral` publisher hand-over requests go through.
    pub fn publisher(&self) -> &Publisher {
        &self.publisher
    }

    /// The store (to sweep it).
    pub fn store(&self) -> &HandoverStore {
        &self.store
    }

    /// Where the brokers are (the catch-up reads `projected`).
    pub fn kafka(&self) -> &KafkaConfig {
        &self.kafka
    }

    /// Writes `handover` for another process to claim.
    pub async fn save(&self, handover: &Handover) -> Result<(), HandoverError> {
        Ok(self.store.save(handover, self.window).await?)
    }

    /// The session `session_id` of `user`, from a hand-over: one already stored
    /// (this or another process shut down), or one the process holding it writes
    /// when asked. `None` when nobody hands it over in time (it expired, its
    /// process crashed, or it is another user's).
    pub async fn receive(
        &self,
        session_id: &str,
        user: UserId,
    ) -> Result<Option<(SessionExport, Vec<GuildState>)>, HandoverError> {
        if let Some(claimed) = self.store.claim(session_id, user).await? {
            return Ok(Some(claimed));
        }
        let request = Ephemeral::HandoverRequest {
            session_id: session_id.to_owned(),
        };
        self.publisher.publish(session_id, &request).await?;
        let deadline = tokio::time::Instant::now() + REQUEST_WAIT;
        while tokio::time::Instant::now() < deadline {
            tokio::time::sleep(CLAIM_RETRY).await;
            if let Some(claimed) = self.store.claim(session_id, user).await? {
                return Ok(Some(claimed));
            }
        }
        Ok(None)
    }
}

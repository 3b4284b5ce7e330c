//! [`Turns`]: one turn per connection of a pool, taken before using it. A storm of
//! handshakes or hand-over claims (thousands of clients reconnecting at once) then
//! waits here, without a deadline, instead of on the pool, whose short acquire
//! timeout would fail most of them (a refused handshake, or a hand-over lost to
//! Invalid Session and a fresh READY).

use std::sync::Arc;

use sqlx::PgPool;
use tokio::sync::{Semaphore, SemaphorePermit};

/// See the module docs. Cheap to clone; clones share the turns.
#[derive(Debug, Clone)]
pub struct Turns(Arc<Semaphore>);

impl Turns {
    /// As many turns as `pool` has connections.
    pub fn of(pool: &PgPool) -> Self {
        let connections = usize::try_from(pool.options().get_max_connections()).unwrap_or(1);
        Self(Arc::new(Semaphore::new(connections.max(1))))
    }

    /// Waits for a turn; the connection is the holder's until it drops the permit.
    pub async fn take(&self) -> Result<SemaphorePermit<'_>, sqlx::Error> {
        self.0.acquire().await.map_err(|_| sqlx::Error::PoolClosed)
    }
}

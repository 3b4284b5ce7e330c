//! Read-your-writes: a read that names the writes it must reflect waits, bounded,
//! until the read models show them.
//!
//! command-api answers every accepted write with `X-CloudCord-Position:
//! <aggregate_type>:<aggregate_id>:<seq>` — the aggregate's history up to and
//! including the write. A client sends that value back on its next read (several
//! positions comma-separated, or the header repeated). Before the route runs, [`wait`]
//! polls each projector's per-aggregate position — PostgreSQL's
//! `aggregate_positions` table, and for routes that read MongoDB also the Mongo
//! projector's `aggregate_positions` collection — until every named aggregate has
//! reached its `seq`, then lets the request through. Both projectors advance those
//! positions in the same step as the rows and documents they cover, so a reached
//! position means the write is visible.
//!
//! If the positions are not reached within `[query_api.http]
//! read_your_writes_timeout_ms` (5 s by default), the answer is `503` in Discord's
//! error shape with `Retry-After`: the write happened, the read models are behind.
//! A value that is not a list of positions is `400 50035`, naming the header.
//!
//! Polling (every 10 ms) rather than listening: the projectors publish no
//! notification a query process could wait on, and the wait is short and bounded.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use cloudcord_runtime::http_error::{FormErrors, HttpError};
use cloudcord_schemas::envelope::{AggregateRef, Position};

use super::ApiContext;

/// The request header naming the positions a read must reflect.
pub const POSITION_HEADER: &str = "x-cloudcord-position";

/// Most positions one request may name (a client names the writes it just made).
const MAX_POSITIONS: usize = 32;

/// How often the positions are read while waiting.
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// What a client is told to wait after a timeout.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Which read models a route reads, and so must wait for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stores {
    /// PostgreSQL only.
    Postgres,
    /// PostgreSQL and MongoDB.
    PostgresAndMongo,
    /// MongoDB only (PostgreSQL is known to be there).
    Mongo,
}

/// The positions named by every `X-CloudCord-Position` header of a request.
///
/// Strict: each comma-separated element (optional whitespace around commas, as in
/// any HTTP list) must be a position exactly as command-api writes it — no signs,
/// leading zeros, empty elements or unknown aggregate types.
pub fn parse(headers: &HeaderMap) -> Result<Vec<Position>, FormErrors> {
    let invalid = || {
        FormErrors::single(
            "X-CloudCord-Position",
            "POSITION_INVALID",
            "Must be one or more <aggregate_type>:<aggregate_id>:<seq>, comma-separated.",
        )
    };
    let mut positions = Vec::new();
    for value in headers.get_all(POSITION_HEADER) {
        let text = value.to_str().map_err(|_| invalid())?;
        for element in text.split(',') {
            let element = element.trim_matches([' ', '\t']);
            let position: Position = element.parse().map_err(|_| invalid())?;
            // The canonical text round-trips; anything else is not what we wrote.
            if position.to_string() != element {
                return Err(invalid());
            }
            positions.push(position);
        }
    }
    if positions.len() > MAX_POSITIONS {
        return Err(FormErrors::single(
            "X-CloudCord-Position",
            "BASE_TYPE_MAX_LENGTH",
            format!("Must name {MAX_POSITIONS} or fewer positions."),
        ));
    }
    Ok(positions)
}

/// Middleware: waits until the read models in `stores` reach the request's
/// positions, then runs the route (see the module docs).
pub async fn wait(
    State((context, stores)): State<(ApiContext, Stores)>,
    request: Request,
    next: Next,
) -> Response {
    let positions = match parse(request.headers()) {
        Ok(positions) => positions,
        Err(errors) => return HttpError::from(errors).into_response(),
    };
    if !positions.is_empty()
        && let Err(error) = wait_until_visible(&context, &positions, stores).await
    {
        return error.into_response();
    }
    next.run(request).await
}

/// Waits until MongoDB shows as much of `aggregate`'s history as PostgreSQL does,
/// at most the configured time (then `503`, as for a named position).
///
/// Routes that read messages call it. The gateway dispatches what the PostgreSQL
/// projector has committed, but message documents come from MongoDB, whose
/// projector may trail it. A client that lost its session identifies afresh and
/// reads the history it missed; without this wait, a message that PostgreSQL had
/// before the new session started (so the session was never sent it) but MongoDB
/// did not yet would be in neither, and the client would never see it.
pub async fn wait_for_mongo(
    context: &ApiContext,
    aggregate: AggregateRef,
) -> Result<(), HttpError> {
    let kind = aggregate.kind.as_str().to_owned();
    let id = i64::try_from(aggregate.id.get()).unwrap_or(-1);
    let stored = context.read_models().positions(&[kind], &[id]).await?;
    let Some(&(_, _, seq)) = stored.first() else {
        return Ok(());
    };
    let position = Position {
        aggregate,
        seq: seq.cast_unsigned(),
    };
    wait_until_visible(context, &[position], Stores::Mongo).await
}

/// Waits until every position is reached in `stores`, at most the configured time.
async fn wait_until_visible(
    context: &ApiContext,
    positions: &[Position],
    stores: Stores,
) -> Result<(), HttpError> {
    let deadline = tokio::time::Instant::now() + context.read_your_writes_timeout();
    let wanted: Vec<Position> = positions.iter().filter(|p| p.seq > 0).copied().collect();
    let (mut pending, mut mongo_pending) = match stores {
        Stores::Postgres => (wanted, Vec::new()),
        Stores::PostgresAndMongo => (wanted.clone(), wanted),
        Stores::Mongo => (Vec::new(), wanted),
    };
    loop {
        if !pending.is_empty() {
            let reached = postgres_positions(context, &pending).await?;
            pending.retain(|p| !reached.contains(p));
        }
        if !mongo_pending.is_empty() {
            let reached = mongo_positions(context, &mongo_pending).await?;
            mongo_pending.retain(|p| !reached.contains(p));
        }
        if pending.is_empty() && mongo_pending.is_empty() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            tracing::warn!(
                postgres = ?pending,
                mongo = ?mongo_pending,
                "positions not projected in time"
            );
            return Err(HttpError::Unavailable {
                message: "The read models have not caught up with your write yet; retry shortly.",
                retry_after: Some(RETRY_AFTER),
            });
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// The positions among `wanted` that PostgreSQL has reached.
async fn postgres_positions(
    context: &ApiContext,
    wanted: &[Position],
) -> Result<Vec<Position>, HttpError> {
    let (kinds, ids): (Vec<String>, Vec<i64>) = wanted
        .iter()
        .map(|p| {
            (
                p.aggregate.kind.as_str().to_owned(),
                i64::try_from(p.aggregate.id.get()).unwrap_or(-1),
            )
        })
        .unzip();
    let stored = context.read_models().positions(&kinds, &ids).await?;
    Ok(wanted
        .iter()
        .filter(|p| {
            stored.iter().any(|(kind, id, seq)| {
                kind == p.aggregate.kind.as_str()
                    && id.cast_unsigned() == p.aggregate.id.get()
                    && seq.cast_unsigned() >= p.seq
            })
        })
        .copied()
        .collect())
}

/// The Mongo projector's key for an aggregate's position.
fn mongo_key(position: &Position) -> String {
    format!(
        "{}/{}",
        position.aggregate.kind.as_str(),
        position.aggregate.id
    )
}

/// The positions among `wanted` that MongoDB has reached.
async fn mongo_positions(
    context: &ApiContext,
    wanted: &[Position],
) -> Result<Vec<Position>, HttpError> {
    let keys: Vec<String> = wanted.iter().map(mongo_key).collect();
    let stored = context.documents().positions(&keys).await?;
    Ok(wanted
        .iter()
        .filter(|p| {
            let key = mongo_key(p);
            stored
                .iter()
                .any(|(id, seq)| *id == key && seq.cast_unsigned() >= p.seq)
        })
        .copied()
        .collect())
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, HeaderValue};
    use cloudcord_schemas::envelope::{AggregateRef, AggregateType, Position};
    use cloudcord_schemas::ids::Snowflake;

    use super::{POSITION_HEADER, parse};

    fn headers(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(
                POSITION_HEADER,
                HeaderValue::from_str(value).expect("valid header"),
            );
        }
        headers
    }

    fn position(kind: AggregateType, id: u64, seq: u64) -> Position {
        Position {
            aggregate: AggregateRef {
                kind,
                id: Snowflake::new(id),
            },
            seq,
        }
    }

    #[test]
    fn positions_are_read_from_lists_and_repeated_headers() {
        assert_eq!(parse(&headers(&[])), Ok(Vec::new()));
        assert_eq!(
            parse(&headers(&["guild:1234:57"])),
            Ok(vec![position(AggregateType::Guild, 1234, 57)])
        );
        assert_eq!(
            parse(&headers(&["guild:1:2, user:3:4", "dm_channel:5:0"])),
            Ok(vec![
                position(AggregateType::Guild, 1, 2),
                position(AggregateType::User, 3, 4),
                position(AggregateType::DmChannel, 5, 0),
            ])
        );
    }

    #[test]
    fn anything_but_canonical_positions_is_refused() {
        for bad in [
            "",
            "guild:1234",
            "guild:1234:57:1",
            "team:1:1",
            "Guild:1:1",
            "guild:+1:1",
            "guild:01:1",
            "guild:1:+7",
            "guild:1:-1",
            "guild:1:1,",
            ",guild:1:1",
            "guild:1:1,,user:2:2",
            "guild:18446744073709551616:1",
            "guild : 1 : 1",
        ] {
            assert!(parse(&headers(&[bad])).is_err(), "{bad:?} accepted");
        }
        let many = vec!["guild:1:1"; 33].join(",");
        assert!(parse(&headers(&[&many])).is_err());
    }
}

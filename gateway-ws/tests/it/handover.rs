//! Resume across gateway processes: a session goes on, with no dispatch lost,
//! repeated or reordered, on another process while its own runs, and on a new
//! process after its own shut down.

use cloudcord_gateway_ws::metrics::ResumeOutcome;
use cloudcord_gateway_ws::settings::SessionSettings;
use serde_json::{Value, json};

use crate::support::{ALICE, Client, Ended, GENERAL, OWNER, World, sent};

/// GUILDS | GUILD_MESSAGES.
const MESSAGES: u64 = 513;

fn resume(token: &str, session_id: &str, seq: u64) -> Value {
    json!({ "op": 6, "d": { "token": token, "session_id": session_id, "seq": seq } })
}

/// The next dispatch's `(s, t, content)`.
async fn next(client: &mut Client) -> (u64, String, Option<String>) {
    let payload = client.expect_op(0).await;
    (
        payload["s"].as_u64().expect("s"),
        payload["t"].as_str().expect("t").to_owned(),
        payload["d"]["content"].as_str().map(str::to_owned),
    )
}

/// Reads dispatches after `seq`: MESSAGE_CREATEs of `expected` contents in order,
/// numbered on from `seq` without a gap, then RESUMED; returns the last `s`.
async fn expect_replay(client: &mut Client, seq: u64, expected: &[&str]) -> u64 {
    let mut seq = seq;
    for content in expected {
        seq += 1;
        assert_eq!(
            next(client).await,
            (
                seq,
                "MESSAGE_CREATE".to_owned(),
                Some((*content).to_owned())
            )
        );
    }
    seq += 1;
    assert_eq!(next(client).await, (seq, "RESUMED".to_owned(), None));
    seq
}

/// ALICE's session identified on `client`'s process, with the first message
/// received; returns its id and the last `s`.
async fn identified_with_one_message(world: &mut World, client: &mut Client) -> (String, u64) {
    client.hello().await;
    client.identify(&world.token(ALICE), MESSAGES).await;
    let ready = client.ready(MESSAGES).await;
    world.publish(vec![sent(GENERAL, 1, OWNER)]).await;
    let (seq, event, content) = next(client).await;
    assert_eq!(
        (event.as_str(), content.as_deref()),
        ("MESSAGE_CREATE", Some("message 1"))
    );
    (ready["session_id"].as_str().expect("an id").to_owned(), seq)
}

#[tokio::test]
async fn a_session_resumes_on_another_process_with_nothing_lost_or_repeated() {
    let mut world = World::with_kafka(SessionSettings::default()).await;
    let other = world.node().await;
    let mut client = world.connect("v=10&encoding=json").await;
    let (session_id, seq) = identified_with_one_message(&mut world, &mut client).await;
    client.drop_connection().await;
    world
        .publish((2..=4).map(|n| sent(GENERAL, n, OWNER)).collect())
        .await;

    let mut client = other.connect("v=10&encoding=json").await;
    client.hello().await;
    client
        .send(resume(&world.token(ALICE), &session_id, seq))
        .await;
    let seq = expect_replay(&mut client, seq, &["message 2", "message 3", "message 4"]).await;
    // Live on its new process, numbered on.
    world.publish(vec![sent(GENERAL, 5, OWNER)]).await;
    assert_eq!(
        next(&mut client).await,
        (
            seq + 1,
            "MESSAGE_CREATE".to_owned(),
            Some("message 5".to_owned())
        )
    );
    // The first process let it go: resuming there again finds it handed over once
    // more, now by the second process.
    client.drop_connection().await;
    let mut back = world.connect("v=10&encoding=json").await;
    back.hello().await;
    back.send(resume(&world.token(ALICE), &session_id, seq + 1))
        .await;
    expect_replay(&mut back, seq + 1, &[]).await;
}

#[tokio::test]
async fn a_session_resumes_after_its_process_restarts() {
    let mut world = World::with_kafka(SessionSettings::default()).await;
    let first = world.node().await;
    let mut client = first.connect("v=10&encoding=json").await;
    let (session_id, seq) = identified_with_one_message(&mut world, &mut client).await;

    // A rolling restart: the process asks its clients to reconnect, hands its
    // sessions over and exits; events go on while no process runs.
    let stopped = tokio::spawn(first.stop());
    client.expect_op(7).await;
    assert_eq!(client.ended().await, Ended::Closed(4000));
    stopped.await.expect("the first process stops");
    world
        .publish((2..=3).map(|n| sent(GENERAL, n, OWNER)).collect())
        .await;

    let second = world.node().await;
    let mut client = second.connect("v=10&encoding=json").await;
    client.hello().await;
    client
        .send(resume(&world.token(ALICE), &session_id, seq))
        .await;
    let seq = expect_replay(&mut client, seq, &["message 2", "message 3"]).await;
    world.publish(vec![sent(GENERAL, 4, OWNER)]).await;
    assert_eq!(
        next(&mut client).await,
        (
            seq + 1,
            "MESSAGE_CREATE".to_owned(),
            Some("message 4".to_owned())
        )
    );
}

#[tokio::test]
async fn a_session_nobody_holds_is_invalid_and_another_users_is_not_handed_over() {
    let mut world = World::with_kafka(SessionSettings::default()).await;
    let other = world.node().await;
    let mut client = world.connect("v=10&encoding=json").await;
    let (session_id, seq) = identified_with_one_message(&mut world, &mut client).await;
    client.drop_connection().await;

    // OWNER presents ALICE's session id: nothing is handed over to them.
    let mut thief = other.connect("v=10&encoding=json").await;
    thief.hello().await;
    thief
        .send(resume(&world.token(OWNER), &session_id, seq))
        .await;
    assert_eq!(thief.expect_op(9).await["d"], false);

    // ALICE still resumes it.
    let mut client = other.connect("v=10&encoding=json").await;
    client.hello().await;
    client
        .send(resume(&world.token(ALICE), &session_id, seq))
        .await;
    expect_replay(&mut client, seq, &[]).await;
}

#[tokio::test]
async fn a_session_out_of_reach_is_invalid_but_resumable_and_resumes_once_reachable() {
    let mut world = World::with_kafka(SessionSettings::default()).await;
    let other = world.node().await;
    let mut client = other.connect("v=10&encoding=json").await;
    let (session_id, seq) = identified_with_one_message(&mut world, &mut client).await;
    client.drop_connection().await;

    // The hand-over store fails (its table is away): the session cannot be asked
    // for, but nothing is lost, so Invalid Session says it may be resumed.
    let store = world
        .postgres
        .lazy_schema_pool(&world.store_schema)
        .expect("the store's pool");
    let rename = async |statement: &'static str| {
        sqlx::query(statement)
            .execute(&store)
            .await
            .expect("renamed");
    };
    rename("ALTER TABLE handover_sessions RENAME TO handover_sessions_away").await;
    let mut client = world.connect("v=10&encoding=json").await;
    client.hello().await;
    client
        .send(resume(&world.token(ALICE), &session_id, seq))
        .await;
    assert_eq!(client.expect_op(9).await["d"], true);
    let metrics = world.gateway.metrics().clone();
    assert_eq!(metrics.resumes(ResumeOutcome::Unreachable), 1);

    // Once the store is back, the same connection resumes with nothing missed.
    rename("ALTER TABLE handover_sessions_away RENAME TO handover_sessions").await;
    world.publish(vec![sent(GENERAL, 2, OWNER)]).await;
    client
        .send(resume(&world.token(ALICE), &session_id, seq))
        .await;
    expect_replay(&mut client, seq, &["message 2"]).await;
    assert_eq!(metrics.resumes(ResumeOutcome::TakenOver), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_storm_of_claims_waits_for_the_pool_instead_of_failing() {
    use cloudcord_gateway_ws::handover::store::HandoverStore;
    use cloudcord_gateway_ws::store::GatewayStore;

    // A process taking over thousands of sessions claims them all at once; on one
    // connection with its 2 s acquire timeout, most would fail (and their clients
    // lose the hand-over) if they queued on the pool.
    const CLAIMS: usize = 8000;
    let world = World::new(SessionSettings::default()).await;
    let mut postgres = world.postgres.clone();
    postgres.max_connections = 1;
    let store = GatewayStore::connect_lazy(&postgres, &world.store_schema).expect("pool");
    let handovers = HandoverStore::new(&store);
    let claims: Vec<_> = (0..CLAIMS)
        .map(|n| {
            let handovers = handovers.clone();
            tokio::spawn(async move { handovers.claim(&format!("gone-{n}"), ALICE).await })
        })
        .collect();
    for claim in claims {
        let claimed = claim
            .await
            .expect("the claim ran")
            .expect("the claim answered");
        assert!(claimed.is_none(), "no such session was handed over");
    }
}

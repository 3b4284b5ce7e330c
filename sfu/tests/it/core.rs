//! The core with several str0m client peers and a simulated clock
//! (`cloudcord_sfu::sim`): join, publish, subscribe, leave, keyframe requests, bad
//! datagrams.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use cloudcord_schemas::ids::{ChannelId, GuildId, UserId};
use cloudcord_sfu::core::{LeaveReason, Participant, Sfu, SfuEvent};
use cloudcord_sfu::metrics::{Metrics, Refusal};
use cloudcord_sfu::sim::{ClientId, Network, Publish};
use str0m::media::{KeyframeRequestKind, MediaKind};

pub(crate) const ALICE: UserId = UserId::new(1001);
pub(crate) const BOB: UserId = UserId::new(1002);
pub(crate) const CAROL: UserId = UserId::new(1003);
const GUILD: GuildId = GuildId::new(2000);
pub(crate) const LOBBY: ChannelId = ChannelId::new(2001);
const STAGE: ChannelId = ChannelId::new(2002);

fn sfu_addr() -> SocketAddr {
    SocketAddr::from(([192, 0, 2, 1], 3478))
}

/// The SFU, its clients and the simulated clock.
pub(crate) struct Test {
    pub(crate) net: Network,
    pub(crate) now: Instant,
    pub(crate) metrics: Metrics,
}

impl Test {
    pub(crate) fn new() -> Self {
        let metrics = Metrics::default();
        Self {
            net: Network::new(Sfu::new(sfu_addr(), metrics.clone())),
            now: Instant::now(),
            metrics,
        }
    }

    pub(crate) fn join(&mut self, user: UserId, channel: ChannelId, publish: Publish) -> ClientId {
        self.join_as(
            Participant {
                user,
                guild: GUILD,
                channel,
                may_speak: true,
                may_stream: true,
            },
            publish,
        )
    }

    fn join_as(&mut self, who: Participant, publish: Publish) -> ClientId {
        self.net
            .join(self.now, who, publish)
            .expect("the SFU answers a str0m offer")
    }

    pub(crate) fn run(&mut self, duration: Duration) {
        self.net
            .run_for(&mut self.now, duration)
            .expect("sessions keep working");
    }

    /// `client` sends `count` packets of `kind`, 20 ms apart.
    fn send(&mut self, client: ClientId, kind: MediaKind, count: usize) {
        for index in 0..count {
            let payload = [0x10, 0x00, 0x00, u8::try_from(index % 256).unwrap_or(0)];
            self.net
                .client_mut(client)
                .expect("client is there")
                .send(self.now, kind, &payload)
                .expect("client can send");
            self.run(Duration::from_millis(20));
        }
    }

    fn received(&self, client: ClientId, from: UserId, kind: MediaKind) -> usize {
        self.net
            .client(client)
            .expect("client is there")
            .received_from(from, kind)
    }

    fn events(&mut self) -> Vec<SfuEvent> {
        std::iter::from_fn(|| self.net.sfu.poll_event()).collect()
    }
}

#[test]
fn two_peers_in_a_room_receive_each_others_audio_and_video() {
    let mut test = Test::new();
    let alice = test.join(ALICE, LOBBY, Publish::BOTH);
    let bob = test.join(BOB, LOBBY, Publish::BOTH);
    test.run(Duration::from_secs(2));
    assert!(test.net.client(alice).expect("alice").is_connected());
    assert!(test.net.client(bob).expect("bob").is_connected());

    test.send(alice, MediaKind::Video, 10);
    test.send(alice, MediaKind::Audio, 10);
    test.send(bob, MediaKind::Video, 10);

    assert_eq!(test.received(bob, ALICE, MediaKind::Video), 10);
    assert_eq!(test.received(bob, ALICE, MediaKind::Audio), 10);
    assert_eq!(test.received(alice, BOB, MediaKind::Video), 10);
    // Nobody gets their own media back.
    assert_eq!(test.received(alice, ALICE, MediaKind::Video), 0);
    assert_eq!(test.metrics.forwarded_packets(), 30);
}

#[test]
fn forwarded_payload_is_untouched() {
    let mut test = Test::new();
    let alice = test.join(ALICE, LOBBY, Publish::BOTH);
    let bob = test.join(BOB, LOBBY, Publish::NOTHING);
    test.run(Duration::from_secs(2));
    let payload: Vec<u8> = (0..=255u8).cycle().take(1100).collect();
    test.net
        .client_mut(alice)
        .expect("alice")
        .send(test.now, MediaKind::Video, &payload)
        .expect("sends");
    test.run(Duration::from_millis(20));
    let bob = test.net.client(bob).expect("bob");
    assert_eq!(bob.received.len(), 1);
    assert_eq!(&bob.received[0].payload[..], &payload[..]);
}

#[test]
fn a_packet_is_forwarded_without_waiting_for_a_deadline() {
    let mut test = Test::new();
    let alice = test.join(ALICE, LOBBY, Publish::BOTH);
    let bob = test.join(BOB, LOBBY, Publish::NOTHING);
    test.run(Duration::from_secs(2));
    test.net
        .client_mut(alice)
        .expect("alice")
        .send(test.now, MediaKind::Audio, &[1, 2, 3])
        .expect("sends");
    // Same instant: no timeout of anyone's is handled in between.
    test.net.deliver(test.now).expect("delivers");
    assert_eq!(test.received(bob, ALICE, MediaKind::Audio), 1);
}

#[test]
fn a_late_joiner_receives_tracks_published_before_it_came() {
    let mut test = Test::new();
    let alice = test.join(ALICE, LOBBY, Publish::BOTH);
    test.run(Duration::from_secs(1));
    test.send(alice, MediaKind::Audio, 5);

    let carol = test.join(CAROL, LOBBY, Publish::NOTHING);
    test.run(Duration::from_secs(2));
    test.send(alice, MediaKind::Audio, 5);
    test.send(alice, MediaKind::Video, 5);

    assert_eq!(test.received(carol, ALICE, MediaKind::Audio), 5);
    assert_eq!(test.received(carol, ALICE, MediaKind::Video), 5);
}

#[test]
fn a_user_who_may_not_speak_is_seen_but_not_heard() {
    let mut test = Test::new();
    let alice = test.join_as(
        Participant {
            user: ALICE,
            guild: GUILD,
            channel: LOBBY,
            may_speak: false,
            may_stream: true,
        },
        Publish::BOTH,
    );
    let bob = test.join(BOB, LOBBY, Publish::BOTH);
    test.run(Duration::from_secs(2));
    test.events();
    test.send(alice, MediaKind::Audio, 5);
    test.send(alice, MediaKind::Video, 5);
    test.send(bob, MediaKind::Audio, 5);

    assert_eq!(test.received(bob, ALICE, MediaKind::Audio), 0);
    assert_eq!(test.received(bob, ALICE, MediaKind::Video), 5);
    // Alice still hears Bob, and her silence raises no speaking indicator.
    assert_eq!(test.received(alice, BOB, MediaKind::Audio), 5);
    assert!(
        !test
            .events()
            .iter()
            .any(|event| matches!(event, SfuEvent::Speaking { user, .. } if *user == ALICE))
    );
}

/// Alice publishing camera and screen (with or without STREAM) and Bob listening:
/// how many packets Bob receives on each of Alice's video m-lines, fewest first.
fn camera_and_screen_received(may_stream: bool) -> Vec<usize> {
    let mut test = Test::new();
    let alice = test.join_as(
        Participant {
            user: ALICE,
            guild: GUILD,
            channel: LOBBY,
            may_speak: true,
            may_stream,
        },
        Publish {
            screen: true,
            ..Publish::BOTH
        },
    );
    let bob = test.join(BOB, LOBBY, Publish::NOTHING);
    test.run(Duration::from_secs(2));
    test.send(alice, MediaKind::Video, 4);
    for _ in 0..6 {
        test.net
            .client_mut(alice)
            .expect("alice")
            .send_screen(test.now, &[0x10, 0, 0, 1])
            .expect("sends");
        test.run(Duration::from_millis(20));
    }
    let mut counts: Vec<usize> = test
        .net
        .client(bob)
        .expect("bob")
        .received_by_mid(ALICE, MediaKind::Video)
        .into_values()
        .collect();
    counts.sort_unstable();
    counts
}

#[test]
fn a_screen_share_is_a_second_video_track() {
    assert_eq!(
        camera_and_screen_received(true),
        [4, 6],
        "camera and screen on two m-lines"
    );
}

#[test]
fn without_stream_a_screen_share_reaches_no_one_but_the_camera_does() {
    assert_eq!(
        camera_and_screen_received(false),
        [4],
        "only the camera is offered and forwarded"
    );
}

#[test]
fn rooms_are_isolated() {
    let mut test = Test::new();
    let alice = test.join(ALICE, LOBBY, Publish::BOTH);
    let bob = test.join(BOB, LOBBY, Publish::NOTHING);
    let carol = test.join(CAROL, STAGE, Publish::NOTHING);
    test.run(Duration::from_secs(2));
    test.send(alice, MediaKind::Audio, 5);

    assert_eq!(test.received(bob, ALICE, MediaKind::Audio), 5);
    assert!(test.net.client(carol).expect("carol").received.is_empty());
    assert_eq!(test.net.sfu.room_size(LOBBY), 2);
    assert_eq!(test.net.sfu.room_size(STAGE), 1);
}

#[test]
fn a_subscribers_keyframe_request_reaches_the_publisher() {
    let mut test = Test::new();
    let alice = test.join(ALICE, LOBBY, Publish::BOTH);
    let bob = test.join(BOB, LOBBY, Publish::NOTHING);
    test.run(Duration::from_secs(2));
    test.send(alice, MediaKind::Video, 5);
    // Past the SFU's throttle, so only Bob's request can explain the next one.
    test.run(Duration::from_secs(1));
    let before = test
        .net
        .client(alice)
        .expect("alice")
        .keyframe_requests
        .len();

    let mid = test
        .net
        .client(bob)
        .expect("bob")
        .incoming_mid(ALICE, MediaKind::Video)
        .expect("bob receives alice's video");
    test.net
        .client_mut(bob)
        .expect("bob")
        .request_keyframe(mid)
        .expect("bob can ask");
    test.run(Duration::from_millis(100));

    let alice = test.net.client(alice).expect("alice");
    let video = alice.video.expect("alice publishes video");
    let after = &alice.keyframe_requests[before..];
    assert_eq!(after, [(video, None, KeyframeRequestKind::Pli)]);
}

#[test]
fn a_new_subscriber_triggers_a_keyframe_request() {
    let mut test = Test::new();
    let alice = test.join(ALICE, LOBBY, Publish::BOTH);
    test.run(Duration::from_secs(1));
    test.send(alice, MediaKind::Video, 5);
    assert!(
        test.net
            .client(alice)
            .expect("alice")
            .keyframe_requests
            .is_empty()
    );

    test.join(BOB, LOBBY, Publish::NOTHING);
    test.run(Duration::from_secs(2));
    let alice = test.net.client(alice).expect("alice");
    assert!(
        !alice.keyframe_requests.is_empty(),
        "bob needs a keyframe to start"
    );
}

#[test]
fn leaving_stops_forwarding_and_empties_the_room() {
    let mut test = Test::new();
    let alice = test.join(ALICE, LOBBY, Publish::BOTH);
    let bob = test.join(BOB, LOBBY, Publish::BOTH);
    test.run(Duration::from_secs(2));
    test.events();

    let alice_peer = test.net.client(alice).expect("alice").peer;
    assert!(test.net.sfu.leave(test.now, alice_peer));
    assert!(!test.net.sfu.leave(test.now, alice_peer), "already gone");
    test.run(Duration::from_secs(1));
    assert!(test.events().contains(&SfuEvent::Left {
        peer: alice_peer,
        user: ALICE,
        guild: GUILD,
        channel: LOBBY,
        reason: LeaveReason::Left,
    }));
    // Bob's session carries on; his media goes to no one.
    test.send(bob, MediaKind::Audio, 3);
    assert_eq!(test.metrics.forwarded_packets(), 0);
    assert_eq!(test.net.sfu.room_size(LOBBY), 1);

    let bob_peer = test.net.client(bob).expect("bob").peer;
    test.net.sfu.leave(test.now, bob_peer);
    assert_eq!(test.net.sfu.room_size(LOBBY), 0);
    assert_eq!(test.net.sfu.poll_timeout(), None);
}

#[test]
fn a_peer_that_vanishes_is_dropped() {
    let mut test = Test::new();
    let alice = test.join(ALICE, LOBBY, Publish::BOTH);
    let bob = test.join(BOB, LOBBY, Publish::NOTHING);
    test.run(Duration::from_secs(2));
    test.events();
    test.net.drop_client(alice);
    test.run(Duration::from_secs(60));
    let left = test.events().into_iter().any(|event| {
        matches!(event, SfuEvent::Left { user, reason: LeaveReason::Disconnected, .. } if user == ALICE)
    });
    assert!(left, "ICE consent runs out");
    assert_eq!(test.net.sfu.room_size(LOBBY), 1);
    assert!(test.net.client(bob).expect("bob").is_connected());
}

#[test]
fn stopping_ends_every_session() {
    let mut test = Test::new();
    test.join(ALICE, LOBBY, Publish::BOTH);
    test.join(BOB, LOBBY, Publish::NOTHING);
    test.run(Duration::from_secs(2));
    test.events();

    test.net.sfu.stop(test.now);
    let mut stopped: Vec<UserId> = test
        .events()
        .into_iter()
        .filter_map(|event| match event {
            SfuEvent::Left {
                user,
                reason: LeaveReason::Stopped,
                ..
            } => Some(user),
            _ => None,
        })
        .collect();
    stopped.sort_unstable();
    assert_eq!(stopped, [ALICE, BOB]);
    assert_eq!(test.net.sfu.room_size(LOBBY), 0);
    assert_eq!(test.net.sfu.poll_timeout(), None);
}

#[test]
fn joining_again_replaces_the_earlier_session() {
    let mut test = Test::new();
    let first = test.join(ALICE, LOBBY, Publish::BOTH);
    test.run(Duration::from_secs(1));
    test.events();
    let first_peer = test.net.client(first).expect("first").peer;
    test.join(ALICE, LOBBY, Publish::BOTH);
    assert_eq!(test.net.sfu.room_size(LOBBY), 1);
    assert!(test.events().contains(&SfuEvent::Left {
        peer: first_peer,
        user: ALICE,
        guild: GUILD,
        channel: LOBBY,
        reason: LeaveReason::Replaced,
    }));
}

#[test]
fn speaking_is_reported_from_the_audio_level() {
    let mut test = Test::new();
    let alice = test.join(ALICE, LOBBY, Publish::BOTH);
    let bob = test.join(BOB, LOBBY, Publish::NOTHING);
    test.run(Duration::from_secs(2));
    test.events();
    test.send(alice, MediaKind::Audio, 3);
    // Silence: the indicator holds a moment, then stops.
    test.net.client_mut(alice).expect("alice").audio_level = -127;
    test.send(alice, MediaKind::Audio, 30);
    let speaking: Vec<bool> = test
        .events()
        .into_iter()
        .filter_map(|event| match event {
            SfuEvent::Speaking { user, speaking, .. } if user == ALICE => Some(speaking),
            _ => None,
        })
        .collect();
    assert_eq!(speaking, [true, false]);
    // Everyone else in the room hears of it on the signalling channel.
    let notices = &test.net.client(bob).expect("bob").notices;
    let said: Vec<_> = notices
        .iter()
        .map(|notice| {
            (
                notice["type"].clone(),
                notice["user_id"].clone(),
                notice["speaking"].clone(),
            )
        })
        .collect();
    assert_eq!(
        said,
        [
            ("speaking".into(), ALICE.to_string().into(), true.into()),
            ("speaking".into(), ALICE.to_string().into(), false.into()),
        ]
    );
    assert!(test.net.client(alice).expect("alice").notices.is_empty());
}

#[test]
fn a_peer_who_joins_while_someone_speaks_is_told_at_once() {
    let mut test = Test::new();
    let alice = test.join(ALICE, LOBBY, Publish::BOTH);
    test.run(Duration::from_secs(2));
    // Alice speaks with nobody else in the room: no notice reaches anyone.
    test.send(alice, MediaKind::Audio, 3);
    let bob = test.join(BOB, LOBBY, Publish::NOTHING);
    test.run(Duration::from_secs(2));
    // Bob's channel opened while she still spoke: he hears of it without her
    // stopping and starting again.
    test.send(alice, MediaKind::Audio, 3);
    let notices = &test.net.client(bob).expect("bob").notices;
    assert!(
        notices.iter().any(|notice| notice["type"] == "speaking"
            && notice["user_id"] == ALICE.to_string()
            && notice["speaking"] == true),
        "{notices:?}"
    );
}

#[test]
fn garbage_datagrams_are_refused_and_harm_no_one() {
    let mut test = Test::new();
    let alice = test.join(ALICE, LOBBY, Publish::BOTH);
    let bob = test.join(BOB, LOBBY, Publish::NOTHING);
    test.run(Duration::from_secs(2));
    let alice_addr = test.net.client(alice).expect("alice").addr;
    let stranger = SocketAddr::from(([198, 51, 100, 7], 4000));

    let sfu = &mut test.net.sfu;
    assert!(sfu.handle_datagram(test.now, stranger, &[]).is_err());
    assert!(
        sfu.handle_datagram(test.now, stranger, &[0xff; 40])
            .is_err()
    );
    // Looks like RTP, from nobody.
    assert!(
        sfu.handle_datagram(
            test.now,
            stranger,
            &[0x80, 0x60, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]
        )
        .is_err()
    );
    // A STUN header without the attributes of a binding request.
    let mut stun = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42];
    stun.extend([7u8; 12]);
    assert!(sfu.handle_datagram(test.now, stranger, &stun).is_err());
    // Garbage from a real peer's address: refused by its session, which lives on.
    let _ = sfu.handle_datagram(
        test.now,
        alice_addr,
        &[0x80, 0x60, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1],
    );

    assert_eq!(test.metrics.refused_datagrams(Refusal::Malformed), 3);
    assert_eq!(test.metrics.refused_datagrams(Refusal::Unroutable), 1);
    test.send(alice, MediaKind::Audio, 3);
    assert_eq!(test.received(bob, ALICE, MediaKind::Audio), 3);
}

#[test]
fn round_trip_time_and_loss_are_sampled_per_peer() {
    let mut test = Test::new();
    let mut registry = prometheus_client::registry::Registry::with_prefix("cloudcord");
    test.metrics.register(&mut registry);
    let alice = test.join(ALICE, LOBBY, Publish::BOTH);
    test.join(BOB, LOBBY, Publish::NOTHING);
    test.run(Duration::from_secs(2));
    // Media both ways for a few stats intervals, so RTCP reports carry RTT and loss.
    for _ in 0..12 {
        test.send(alice, MediaKind::Audio, 50);
    }
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).expect("encodes");
    let count = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|value| value.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    assert!(count("cloudcord_sfu_peer_rtt_seconds_count ") > 0, "{text}");
    let samples = count("cloudcord_sfu_peer_loss_ratio_count{direction=\"ingress\"} ");
    assert!(samples > 0, "{text}");
    // A perfect network: every sample in the lowest bucket.
    assert_eq!(
        count("cloudcord_sfu_peer_loss_ratio_bucket{le=\"0.0\",direction=\"ingress\"} "),
        samples,
        "{text}"
    );
}

//! Simulcast through the core, with str0m peers on the simulated clock: Alice
//! publishes her camera in three layers (`sim::LAYERS`: q, h, f); each subscriber
//! receives one, chosen by its bandwidth estimate and the size it asks for, switched
//! at keyframes, on one unbroken stream.

use std::time::Duration;

use cloudcord_sfu::metrics::LayerSwitch;
use cloudcord_sfu::sim::{ClientId, Publish, Received};
use str0m::bwe::Bitrate;
use str0m::format::Codec;
use str0m::media::{KeyframeRequestKind, MediaKind, Mid, Rid};

use crate::core::{ALICE, BOB, CAROL, LOBBY, Test};

const LOW: usize = 0;
const HIGH: usize = 2;

/// Alice with a simulcast camera, and `subscribers` (Bob, Carol) who publish
/// nothing, connected.
fn room(subscribers: usize) -> (Test, ClientId, Vec<ClientId>) {
    let mut test = Test::new();
    let alice = test.join(ALICE, LOBBY, Publish::SIMULCAST_CAMERA);
    let others = [BOB, CAROL][..subscribers]
        .iter()
        .map(|user| test.join(*user, LOBBY, Publish::NOTHING))
        .collect();
    test.run(Duration::from_secs(2));
    (test, alice, others)
}

impl Test {
    /// Alice's camera sends `duration` of frames, 30 a second.
    fn camera(&mut self, alice: ClientId, duration: Duration) {
        let frame = Duration::from_millis(33);
        for _ in 0..duration.as_millis() / frame.as_millis() {
            self.net
                .client_mut(alice)
                .expect("alice is there")
                .send_camera_frame(self.now)
                .expect("alice can send");
            self.run(frame);
        }
    }

    /// The video packets `client` received from Alice, in order.
    fn video(&self, client: ClientId) -> Vec<Received> {
        let client = self.net.client(client).expect("client is there");
        let Some(mid) = client.incoming_mid(ALICE, MediaKind::Video) else {
            return Vec::new();
        };
        client
            .received
            .iter()
            .filter(|packet| packet.mid == mid)
            .cloned()
            .collect()
    }

    /// The layer of the last video packet `client` received.
    fn layer(&self, client: ClientId) -> Option<usize> {
        self.video(client).last().and_then(Received::layer)
    }

    /// `client`'s m-line receiving Alice's camera.
    fn camera_mid(&self, client: ClientId) -> Mid {
        self.net
            .client(client)
            .expect("client is there")
            .incoming_mid(ALICE, MediaKind::Video)
            .expect("receives alice's camera")
    }

    fn ask_size(&mut self, client: ClientId, width: u32, height: u32) {
        let mid = self.camera_mid(client);
        self.net
            .client_mut(client)
            .expect("client is there")
            .send_video_size(mid, width, height)
            .expect("client can ask");
    }

    /// The keyframe requests Alice received for layer `rid` of her camera.
    fn keyframe_requests(&self, alice: ClientId, rid: &str) -> usize {
        let alice = self.net.client(alice).expect("alice is there");
        let rid = Some(Rid::from(rid));
        alice
            .keyframe_requests
            .iter()
            .filter(|(mid, request_rid, _)| Some(*mid) == alice.video && *request_rid == rid)
            .count()
    }
}

/// The index of the first packet of each run of one layer, with its layer.
fn switches(video: &[Received]) -> Vec<(usize, Option<usize>)> {
    let mut runs: Vec<(usize, Option<usize>)> = Vec::new();
    for (index, packet) in video.iter().enumerate() {
        if runs
            .last()
            .is_none_or(|(_, layer)| *layer != packet.layer())
        {
            runs.push((index, packet.layer()));
        }
    }
    runs
}

#[test]
fn a_subscriber_with_bandwidth_gets_the_high_layer_and_only_it() {
    let (mut test, alice, subscribers) = room(1);
    let bob = subscribers[0];
    test.camera(alice, Duration::from_secs(10));

    assert_eq!(test.layer(bob), Some(HIGH), "the estimate grew past f");
    // One layer at a time: it started low, moved up at keyframes, and each layer
    // was left for good (never two interleaved).
    let video = test.video(bob);
    let runs = switches(&video);
    assert_eq!(runs.first().map(|(_, layer)| *layer), Some(Some(LOW)));
    for window in runs.windows(2) {
        assert!(window[0].1 < window[1].1, "only upwards: {runs:?}");
        assert!(video[window[1].0].is_keyframe(), "switched at a keyframe");
    }
    // Each frame is one packet per layer: Bob got one stream's worth, not three
    // (a frame whose higher layer's keyframe was switched to after its lower
    // layer had gone out counts twice).
    let frames = 10_000 / 33;
    assert!(video.len() < frames + runs.len(), "{} packets", video.len());
    assert_eq!(
        test.metrics.layer_switches(LayerSwitch::Up),
        runs.len() as u64 - 1
    );
}

#[test]
fn a_dropping_estimate_switches_down_and_recovery_switches_up_only_at_a_keyframe() {
    let (mut test, alice, subscribers) = room(1);
    let bob = subscribers[0];
    test.camera(alice, Duration::from_secs(10));
    assert_eq!(test.layer(bob), Some(HIGH));

    // Bob's link shrinks below the f layer (~300 kbit/s of payload alone).
    test.net
        .set_downlink(bob, Some(Bitrate::kbps(250)), test.now);
    test.camera(alice, Duration::from_secs(6));
    let down = test.layer(bob).expect("bob still receives");
    assert!(down < HIGH, "switched down to {down}");
    assert!(test.metrics.layer_switches(LayerSwitch::Down) >= 1);

    // The link recovers, but Alice's encoder ignores keyframe requests for now: the
    // SFU asks for an f keyframe once the estimate has grown back (slowly, and then
    // a probe: ~12 s here), and without one Bob stays where he is.
    test.net.set_downlink(bob, None, test.now);
    test.net
        .client_mut(alice)
        .expect("alice")
        .answers_keyframe_requests = false;
    let asked_before = test.keyframe_requests(alice, "f");
    test.camera(alice, Duration::from_secs(20));
    assert!(
        test.keyframe_requests(alice, "f") > asked_before,
        "the SFU wants f again"
    );
    assert_eq!(test.layer(bob), Some(down), "no f keyframe, no switch");

    let received = test.video(bob).len();
    test.net
        .client_mut(alice)
        .expect("alice")
        .answers_keyframe_requests = true;
    test.camera(alice, Duration::from_secs(3));
    assert_eq!(test.layer(bob), Some(HIGH), "back up");
    let video = test.video(bob);
    let first_high = video[received..]
        .iter()
        .find(|packet| packet.layer() == Some(HIGH))
        .expect("f arrived");
    assert!(first_high.is_keyframe(), "the switch up came at a keyframe");
}

#[test]
fn a_subscriber_asking_for_a_small_size_gets_the_low_layer() {
    small_size_gets_the_low_layer(Codec::Vp8);
}

/// H.264 layers are sized from the SPS in their keyframes: the offer declares no
/// sizes.
#[test]
fn an_h264_subscriber_asking_for_a_small_size_gets_the_low_layer() {
    small_size_gets_the_low_layer(Codec::H264);
}

fn small_size_gets_the_low_layer(codec: Codec) {
    let (mut test, alice, subscribers) = room(2);
    let (bob, carol) = (subscribers[0], subscribers[1]);
    test.net.client_mut(alice).expect("alice").camera_codec = codec;
    test.camera(alice, Duration::from_secs(2));
    // A thumbnail: q is 320x180.
    test.ask_size(bob, 300, 170);
    test.camera(alice, Duration::from_secs(8));

    assert_eq!(test.layer(bob), Some(LOW));
    // Same room, same bandwidth, no size asked: Carol gets f.
    assert_eq!(test.layer(carol), Some(HIGH));
    // In the codec asked for: an H.264 frame starts with a STAP-A or a slice.
    let h264 = test
        .video(bob)
        .iter()
        .all(|packet| matches!(packet.payload.first(), Some(0x78 | 0x41)));
    assert_eq!(h264, codec == Codec::H264);
}

#[test]
fn sequence_numbers_timestamps_and_picture_ids_stay_continuous_across_switches() {
    let (mut test, alice, subscribers) = room(1);
    let bob = subscribers[0];
    test.camera(alice, Duration::from_secs(10));
    test.ask_size(bob, 320, 180);
    test.camera(alice, Duration::from_secs(2));
    test.ask_size(bob, 1280, 720);
    test.camera(alice, Duration::from_secs(3));

    let video = test.video(bob);
    let layers: Vec<Option<usize>> = switches(&video).into_iter().map(|(_, l)| l).collect();
    assert!(
        layers.ends_with(&[Some(HIGH), Some(LOW), Some(HIGH)]),
        "down and up again: {layers:?}"
    );
    // Alice's layers number their packets from 10000, 20000 and 30000 and start
    // their timestamps far apart; Bob sees one stream.
    for pair in video.windows(2) {
        assert_eq!(pair[1].seq_no, pair[0].seq_no + 1, "{pair:?}");
        let step = pair[1].rtp_time.wrapping_sub(pair[0].rtp_time);
        // One frame is 3000 ticks at 90 kHz; a switch may stretch or shrink a
        // little, never jump.
        assert!((1..=6000).contains(&step), "timestamp step {step}");
        // Each packet is a picture. Alice's layers number theirs far apart (h's
        // wrapping, see `sim`), yet Bob sees one VP8 picture sequence.
        let [before, after] =
            [&pair[0], &pair[1]].map(|packet| packet.vp8_picture_ids().expect("VP8"));
        assert_eq!(
            after.0,
            (before.0 + 1) % (1 << 15),
            "PictureID {before:?} {after:?}"
        );
        assert_eq!(
            after.1,
            before.1.wrapping_add(1),
            "TL0PICIDX {before:?} {after:?}"
        );
    }
}

#[test]
fn a_keyframe_request_reaches_the_layer_the_subscriber_receives() {
    let (mut test, alice, subscribers) = room(1);
    let bob = subscribers[0];
    test.camera(alice, Duration::from_secs(2));
    test.ask_size(bob, 320, 180);
    test.camera(alice, Duration::from_secs(2));
    assert_eq!(test.layer(bob), Some(LOW));

    for (rid, width, height) in [("q", 320, 180), ("f", 1280, 720)] {
        test.ask_size(bob, width, height);
        test.camera(alice, Duration::from_secs(8));
        let before = test.keyframe_requests(alice, rid);
        let mid = test.camera_mid(bob);
        test.net
            .client_mut(bob)
            .expect("bob")
            .request_keyframe(mid)
            .expect("bob can ask");
        test.run(Duration::from_millis(100));
        assert_eq!(
            test.keyframe_requests(alice, rid),
            before + 1,
            "bob's PLI went to {rid}"
        );
    }
    let alice = test.net.client(alice).expect("alice");
    assert!(
        alice
            .keyframe_requests
            .iter()
            .all(|(_, _, kind)| *kind == KeyframeRequestKind::Pli)
    );
}

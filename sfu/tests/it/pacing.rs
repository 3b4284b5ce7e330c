//! Forwarded video is not held back by str0m's pacer (the core sends it unpaced),
//! on the simulated clock.
//!
//! * A subscriber who joins while a single-layer camera already sends at a
//!   camera's bitrate receives it at once. Its bandwidth estimate starts at
//!   300 kbit/s; paced at the estimate, the video queued for seconds while the
//!   estimate crept up.
//! * A frame's packets leave together, as they came, also while the estimator
//!   probes: paced, they went out at the probe's rate, a frame spread over 15 ms
//!   every 5 s.

use std::time::{Duration, Instant};

use cloudcord_sfu::sim::{ClientId, Publish, Received};
use str0m::media::MediaKind;

use crate::core::{ALICE, BOB, LOBBY, Test};

/// 9 packets of 1,150 bytes every 33 ms: about 2.5 Mbit/s.
const FRAME: Duration = Duration::from_millis(33);
const PACKETS_PER_FRAME: usize = 9;
const PAYLOAD: usize = 1150;

impl Test {
    /// Alice's camera sends `duration` of frames, a frame's packets at once; each
    /// packet carries its number (its index in `sent`, where its sending time goes)
    /// in its last 8 bytes.
    fn camera_at_bitrate(&mut self, alice: ClientId, duration: Duration, sent: &mut Vec<Instant>) {
        // A VP8 payload descriptor (start of partition), then filler.
        let mut payload = vec![0x10u8; PAYLOAD];
        for _ in 0..duration.as_millis() / FRAME.as_millis() {
            for _ in 0..PACKETS_PER_FRAME {
                payload[PAYLOAD - 8..].copy_from_slice(&(sent.len() as u64).to_le_bytes());
                self.net
                    .client_mut(alice)
                    .expect("alice is there")
                    .send(self.now, MediaKind::Video, &payload)
                    .expect("alice can send");
                sent.push(self.now);
            }
            self.run(FRAME);
        }
    }

    /// The packets of Alice's camera that `client` has received, with their numbers.
    fn camera_of_alice(&self, client: ClientId) -> Vec<(usize, &Received)> {
        let client = self.net.client(client).expect("client is there");
        let Some(mid) = client.incoming_mid(ALICE, MediaKind::Video) else {
            return Vec::new();
        };
        client
            .received
            .iter()
            .filter(|packet| packet.mid == mid)
            .filter_map(|packet| {
                let number = packet.payload.get(packet.payload.len().checked_sub(8)?..)?;
                let number = u64::from_le_bytes(number.try_into().ok()?);
                Some((usize::try_from(number).ok()?, packet))
            })
            .collect()
    }
}

#[test]
fn a_late_subscriber_of_a_single_layer_camera_gets_it_without_seconds_of_queueing() {
    let mut test = Test::new();
    let alice = test.join(ALICE, LOBBY, Publish::CAMERA);
    test.run(Duration::from_secs(2));
    let mut sent = Vec::new();
    test.camera_at_bitrate(alice, Duration::from_secs(3), &mut sent);

    let bob = test.join(BOB, LOBBY, Publish::NOTHING);
    test.camera_at_bitrate(alice, Duration::from_secs(5), &mut sent);

    let newest = test
        .camera_of_alice(bob)
        .into_iter()
        .map(|(number, _)| number)
        .max()
        .expect("bob receives alice's camera");
    let behind = sent[sent.len() - 1] - sent[newest];
    // Paced at the starting estimate, bob would be seconds behind by now.
    assert!(
        behind <= Duration::from_millis(250),
        "bob's newest packet of alice's camera is {behind:?} behind what she sent"
    );
}

#[test]
fn a_frame_leaves_at_once_even_while_the_subscribers_estimator_probes() {
    let mut test = Test::new();
    let alice = test.join(ALICE, LOBBY, Publish::CAMERA);
    let bob = test.join(BOB, LOBBY, Publish::NOTHING);
    test.run(Duration::from_secs(2));
    // Long enough for several of the probes str0m sends every 5 s while the
    // subscriber's link is not full.
    let mut sent = Vec::new();
    test.camera_at_bitrate(alice, Duration::from_secs(20), &mut sent);

    let received = test.camera_of_alice(bob);
    assert!(
        received.len() == sent.len(),
        "bob received {} of alice's {} packets",
        received.len(),
        sent.len()
    );
    let slowest = received
        .iter()
        .map(|(number, packet)| (packet.at - sent[*number], *number))
        .max()
        .expect("bob receives alice's camera");
    // The simulated network takes no time; a step of its clock is 1 ms.
    assert!(
        slowest.0 <= Duration::from_millis(1),
        "packet {} of alice's camera reached bob {:?} after she sent it",
        slowest.1,
        slowest.0
    );
}

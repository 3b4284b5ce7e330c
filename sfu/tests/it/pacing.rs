//! A subscriber who joins while a single-layer camera already sends at a camera's
//! bitrate receives it at once, on the simulated clock. Its bandwidth estimate
//! starts at 300 kbit/s and str0m paces at the estimate: unless the core tells the
//! estimator what the subscriber's tracks need (so that it probes for it), the
//! video queues in the pacer for seconds while the estimate creeps up.

use std::time::Duration;

use cloudcord_sfu::sim::{ClientId, Publish};
use str0m::media::MediaKind;

use crate::core::{ALICE, BOB, LOBBY, Test};

/// 9 packets of 1,150 bytes every 33 ms: about 2.5 Mbit/s.
const FRAME: Duration = Duration::from_millis(33);
const PACKETS_PER_FRAME: u64 = 9;
const PAYLOAD: usize = 1150;

impl Test {
    /// Alice's camera sends `duration` of frames; each packet carries its number
    /// (counted on from `*sent`) in its last 8 bytes.
    fn camera_at_bitrate(&mut self, alice: ClientId, duration: Duration, sent: &mut u64) {
        // A VP8 payload descriptor (start of partition), then filler.
        let mut payload = vec![0x10u8; PAYLOAD];
        for _ in 0..duration.as_millis() / FRAME.as_millis() {
            for _ in 0..PACKETS_PER_FRAME {
                payload[PAYLOAD - 8..].copy_from_slice(&sent.to_le_bytes());
                self.net
                    .client_mut(alice)
                    .expect("alice is there")
                    .send(self.now, MediaKind::Video, &payload)
                    .expect("alice can send");
                *sent += 1;
            }
            self.run(FRAME);
        }
    }

    /// The highest packet number of Alice's camera that `client` has received.
    fn newest_from_alice(&self, client: ClientId) -> Option<u64> {
        let client = self.net.client(client).expect("client is there");
        let mid = client.incoming_mid(ALICE, MediaKind::Video)?;
        client
            .received
            .iter()
            .filter(|packet| packet.mid == mid)
            .filter_map(|packet| {
                let number = packet.payload.get(packet.payload.len().checked_sub(8)?..)?;
                Some(u64::from_le_bytes(number.try_into().ok()?))
            })
            .max()
    }
}

#[test]
fn a_late_subscriber_of_a_single_layer_camera_gets_it_without_seconds_of_queueing() {
    let mut test = Test::new();
    let alice = test.join(ALICE, LOBBY, Publish::CAMERA);
    test.run(Duration::from_secs(2));
    let mut sent = 0;
    test.camera_at_bitrate(alice, Duration::from_secs(3), &mut sent);

    let bob = test.join(BOB, LOBBY, Publish::NOTHING);
    test.camera_at_bitrate(alice, Duration::from_secs(5), &mut sent);

    let newest = test
        .newest_from_alice(bob)
        .expect("bob receives alice's camera");
    let behind = Duration::from_secs_f64(
        (sent - 1 - newest) as f64 / PACKETS_PER_FRAME as f64 * FRAME.as_secs_f64(),
    );
    // Paced at the starting estimate, bob would be seconds behind by now.
    assert!(
        behind <= Duration::from_millis(250),
        "bob's newest packet of alice's camera is {behind:?} behind what she sent"
    );
}

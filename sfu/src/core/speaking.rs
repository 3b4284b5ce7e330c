//! [`SpeakingDetector`]: whether a publisher is speaking, from the RFC 6464 audio
//! level header extension the client puts on every audio packet (no decoding).
//!
//! The level is in −dBov: 0 is the loudest, −127 silence. A packet at or above
//! [`SPEAKING_LEVEL`] (or one the client flags as voice activity) starts speaking;
//! [`HOLD`] without one ends it, so the indicator does not flicker between words.

use std::time::{Duration, Instant};

use str0m::rtp::RtpPacket;

/// The loudness, in −dBov, at which a packet counts as speech.
const SPEAKING_LEVEL: i8 = -50;

/// How long speaking lasts after the last loud packet.
const HOLD: Duration = Duration::from_millis(400);

/// Per audio track; see the module docs.
#[derive(Debug, Default)]
pub(crate) struct SpeakingDetector {
    speaking: bool,
    last_loud: Option<Instant>,
}

impl SpeakingDetector {
    /// Whether the track is speaking, as last reported.
    pub(crate) fn is_speaking(&self) -> bool {
        self.speaking
    }

    /// Takes in one packet; returns the new state when it changed.
    pub(crate) fn observe(&mut self, packet: &RtpPacket, now: Instant) -> Option<bool> {
        let ext = &packet.header.ext_vals;
        let loud = ext.voice_activity == Some(true)
            || ext.audio_level.is_some_and(|level| level >= SPEAKING_LEVEL);
        if loud {
            self.last_loud = Some(now);
        }
        let speaking = self
            .last_loud
            .is_some_and(|last| now.saturating_duration_since(last) < HOLD);
        (speaking != self.speaking).then(|| {
            self.speaking = speaking;
            speaking
        })
    }
}

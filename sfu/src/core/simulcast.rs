//! Simulcast: the layers of a published track, and which one a subscriber gets.
//!
//! A publisher may send its camera as several encodings of the same picture, one RTP
//! stream per RID (RFC 8853), declared **lowest first** as browsers' `sendEncodings`
//! conventionally are (`q`, `h`, `f` with `scaleResolutionDownBy` 4, 2, 1). A track
//! sent without simulcast is one layer. For each layer the SFU measures the bitrate
//! as it arrives ([`Layer::record`]) and learns the picture size from the RID's
//! restrictions in the offer (`a=rid:f send max-width=1280;max-height=720`, RFC 8851)
//! or from every keyframe that states it (VP8's frame header, H.264's SPS; see
//! [`super::keyframe`]).
//!
//! Every subscriber receives one layer of each track; [`select`] decides which from
//! its share of the bandwidth estimate and the size it asked for. The route switches
//! at the chosen layer's next keyframe (see [`super::route`]).

use std::time::{Duration, Instant};

use serde::Deserialize;
use str0m::media::{Rid, SimulcastLayer};

/// Bitrates are measured over windows this long: long enough to smooth out
/// keyframes, short enough to notice a publisher dropping a layer.
const RATE_WINDOW: Duration = Duration::from_secs(1);

/// A layer with no packet for this long is not being sent (browsers stop their top
/// layers when their own uplink is short).
const STALE: Duration = Duration::from_secs(2);

/// A picture size in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub(crate) struct Size {
    pub(crate) width: u32,
    pub(crate) height: u32,
}

impl Size {
    /// Whether a picture of this size shows `wanted` without upscaling.
    fn covers(self, wanted: Size) -> bool {
        self.width >= wanted.width && self.height >= wanted.height
    }
}

/// One layer of a published track: its RID (none without simulcast), measured
/// bitrate and known size.
#[derive(Debug)]
pub(crate) struct Layer {
    pub(crate) rid: Option<Rid>,
    pub(crate) size: Option<Size>,
    /// When a keyframe was last asked of this layer (see `Peer::request_keyframe`).
    pub(crate) last_keyframe_request: Option<Instant>,
    window_start: Option<Instant>,
    window_bytes: u64,
    bitrate: Option<u64>,
    last_packet: Option<Instant>,
}

impl Layer {
    /// A layer sent without simulcast.
    pub(crate) fn single() -> Self {
        Self::new(None, None)
    }

    /// The layer the offer declares as `declared`, sized by its `max-width` and
    /// `max-height` restrictions if it has both.
    pub(crate) fn declared(declared: &SimulcastLayer) -> Self {
        let restriction = |key: &str| {
            declared
                .attributes
                .iter()
                .flatten()
                .find(|(name, _)| name == key)
                .and_then(|(_, value)| value.parse().ok())
        };
        let size = restriction("max-width")
            .zip(restriction("max-height"))
            .map(|(width, height)| Size { width, height });
        Self::new(Some(declared.rid), size)
    }

    fn new(rid: Option<Rid>, size: Option<Size>) -> Self {
        Self {
            rid,
            size,
            last_keyframe_request: None,
            window_start: None,
            window_bytes: 0,
            bitrate: None,
            last_packet: None,
        }
    }

    /// Counts a packet of `bytes` payload bytes arriving at `now`.
    pub(crate) fn record(&mut self, bytes: usize, now: Instant) {
        let start = *self.window_start.get_or_insert(now);
        let elapsed = now.saturating_duration_since(start);
        if elapsed >= RATE_WINDOW {
            let bits = u128::from(self.window_bytes) * 8 * 1000;
            let rate = bits / elapsed.as_millis().max(1);
            self.bitrate = Some(u64::try_from(rate).unwrap_or(u64::MAX));
            self.window_start = Some(now);
            self.window_bytes = 0;
        }
        self.window_bytes += bytes as u64;
        self.last_packet = Some(now);
    }

    /// What [`select`] needs to know of the layer at `now`.
    pub(crate) fn view(&self, now: Instant) -> LayerView {
        let sending = self
            .last_packet
            .is_some_and(|last| now.saturating_duration_since(last) < STALE);
        LayerView {
            sending,
            bitrate: self.bitrate.filter(|_| sending),
            size: self.size,
        }
    }
}

/// One layer as [`select`] sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LayerView {
    /// Whether packets are arriving.
    pub(crate) sending: bool,
    /// Its bitrate in bits per second, once a full window has been measured.
    pub(crate) bitrate: Option<u64>,
    /// Its picture size, if known.
    pub(crate) size: Option<Size>,
}

/// The hysteresis of [`select`]: a layer above the one forwarded must fit the
/// budget with this much to spare (5/4, 25%), while the forwarded one and those
/// below need only fit. Estimates and measured rates both wobble, and every switch
/// costs a keyframe; without the margin a subscriber near a threshold would flap.
const UP_MARGIN: (u64, u64) = (5, 4);

/// The budget a layer of `bitrate` needs before a subscriber moves up to it.
pub(crate) fn up_threshold(bitrate: u64) -> u64 {
    bitrate.saturating_mul(UP_MARGIN.0) / UP_MARGIN.1
}

/// The layer (index into `layers`, lowest first) a subscriber should receive, given
/// the bits per second it can take for this track (`budget`), the size it asked for
/// (`wanted`) and the layer it receives now (`current`); `None` while the publisher
/// sends nothing.
///
/// * Layers above the smallest one that covers `wanted` are left out: the
///   subscriber would only scale them down. Layers of unknown size are not.
/// * Of the rest, the highest whose measured bitrate fits the budget wins (with
///   [`UP_MARGIN`] when it is above `current`).
/// * If none fits, or no bitrate is measured yet, the lowest layer being sent:
///   the subscriber always gets some picture.
pub(crate) fn select(
    layers: &[LayerView],
    budget: u64,
    wanted: Option<Size>,
    current: Option<usize>,
) -> Option<usize> {
    let cap = wanted
        .and_then(|wanted| {
            layers
                .iter()
                .position(|layer| layer.size.is_some_and(|size| size.covers(wanted)))
        })
        .unwrap_or(layers.len());
    let mut lowest = None;
    let mut best = None;
    for (index, layer) in layers.iter().enumerate().take(cap.saturating_add(1)) {
        if !layer.sending {
            continue;
        }
        lowest.get_or_insert(index);
        let Some(bitrate) = layer.bitrate else {
            continue;
        };
        let needed = if current.is_some_and(|current| index > current) {
            up_threshold(bitrate)
        } else {
            bitrate
        };
        if needed <= budget {
            best = Some(index);
        }
    }
    best.or(lowest)
}

#[cfg(test)]
mod tests {
    use super::{LayerView, Size, select};

    const fn layer(bitrate: u64, height: u32) -> LayerView {
        LayerView {
            sending: true,
            bitrate: Some(bitrate),
            size: Some(Size {
                width: height * 16 / 9,
                height,
            }),
        }
    }

    /// 150 kbit/s at 180p, 500 at 360p, 1500 at 720p.
    const LADDER: [LayerView; 3] = [
        layer(150_000, 180),
        layer(500_000, 360),
        layer(1_500_000, 720),
    ];

    #[test]
    fn the_highest_layer_that_fits_the_budget_is_chosen() {
        for (budget, expected) in [
            (10_000_000, 2),
            (1_500_000, 2),
            (1_499_999, 1),
            (500_000, 1),
            (200_000, 0),
            // Nothing fits: the lowest still goes.
            (50_000, 0),
        ] {
            assert_eq!(
                select(&LADDER, budget, None, Some(2)),
                Some(expected),
                "{budget}"
            );
        }
    }

    #[test]
    fn going_up_needs_a_margin_and_staying_does_not() {
        // From 360p, 720p needs 1875 kbit/s; at 1600 the subscriber stays.
        assert_eq!(select(&LADDER, 1_600_000, None, Some(1)), Some(1));
        assert_eq!(select(&LADDER, 1_875_000, None, Some(1)), Some(2));
        // Already at 720p, 1600 is enough to stay: no flapping in between.
        assert_eq!(select(&LADDER, 1_600_000, None, Some(2)), Some(2));
        // A budget wobbling between the thresholds never moves it.
        for budget in [1_550_000, 1_800_000, 1_520_000, 1_870_000] {
            assert_eq!(select(&LADDER, budget, None, Some(1)), Some(1));
            assert_eq!(select(&LADDER, budget, None, Some(2)), Some(2));
        }
    }

    #[test]
    fn the_wanted_size_caps_the_layer() {
        let small = Size {
            width: 320,
            height: 180,
        };
        let between = Size {
            width: 400,
            height: 225,
        };
        let huge = Size {
            width: 3840,
            height: 2160,
        };
        assert_eq!(select(&LADDER, u64::MAX, Some(small), None), Some(0));
        // No upscaling: the smallest layer that covers it.
        assert_eq!(select(&LADDER, u64::MAX, Some(between), None), Some(1));
        assert_eq!(select(&LADDER, u64::MAX, Some(huge), None), Some(2));
        // The budget still rules below the cap.
        assert_eq!(select(&LADDER, 200_000, Some(between), None), Some(0));
    }

    #[test]
    fn layers_not_sent_or_not_measured_yet_are_not_chosen() {
        let mut layers = LADDER;
        layers[2].sending = false;
        layers[2].bitrate = None;
        assert_eq!(select(&layers, u64::MAX, None, Some(2)), Some(1));
        // Nothing measured yet: start at the lowest layer.
        let fresh = LADDER.map(|layer| LayerView {
            bitrate: None,
            ..layer
        });
        assert_eq!(select(&fresh, u64::MAX, None, None), Some(0));
        let silent = LADDER.map(|layer| LayerView {
            sending: false,
            bitrate: None,
            ..layer
        });
        assert_eq!(select(&silent, u64::MAX, None, None), None);
    }
}

//! [`Route`]: one published track forwarded to one subscriber, in RTP mode.
//!
//! Forwarding rewrites only what must differ between the publisher's and the
//! subscriber's sessions; the payload travels untouched (no depacketizing):
//!
//! * **SSRC**: the subscriber's send stream for the negotiated m-line has its own.
//! * **Payload type**: both sides may number the same codec differently, so the
//!   publisher's PT is matched to the subscriber's by codec parameters (cached).
//! * **Sequence numbers**: str0m extends them to 64 bits. A subscriber who joins a
//!   long-running publisher must start low (no rollover counter has been signalled to
//!   it), so each route rebases them to start at [`SEQ_HEADROOM`].
//! * **Header extensions**: transport-wide ones (transport-cc, abs-send-time, mid)
//!   belong to each session and str0m writes them itself; only those describing the
//!   media (audio level, voice activity, video orientation) are carried over.
//!
//! Of a simulcast track the route forwards one layer (see [`super::simulcast`]) onto
//! the subscriber's one stream. It moves to its target layer at that layer's first
//! keyframe (the decoder needs nothing from before it); until then the current
//! layer goes on. Layers are independent RTP streams with their own sequence
//! numbers and timestamps, so at a switch both are rebased to continue where the
//! previous layer stopped: the subscriber sees one unbroken stream. So are VP8's
//! picture ids, in the payload descriptor (see [`super::vp8`]): the one part of a
//! payload a route rewrites. A route of one layer never switches: its offsets stay
//! zero, and its payloads go out as they came, through the same code.

use std::time::Instant;

use str0m::Rtc;
use str0m::format::PayloadParams;
use str0m::media::{MediaKind, Mid, Pt};
use str0m::rtp::{ExtensionValues, RtpPacket, RtpWrite, SeqNo};

use super::PeerId;
use super::vp8::{Descriptor, PictureIdOffsets, PictureIds};
use crate::metrics::LayerSwitch;

/// Where rebased sequence numbers start. Packets of the publisher that arrive
/// reordered, up to this many before the first forwarded one, still fit.
pub(crate) const SEQ_HEADROOM: u64 = 1000;

/// What a [`Route::forward`] sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sent {
    /// Payload bytes written.
    pub(crate) bytes: usize,
    /// The layer switch this packet made, if it made one.
    pub(crate) switch: Option<LayerSwitch>,
}

/// How the current layer's sequence numbers and timestamps map onto the
/// subscriber's stream.
#[derive(Debug, Clone, Copy)]
struct Rebase {
    /// The publisher's extended sequence number of the layer's first forwarded
    /// packet, and the subscriber's it became.
    first: (u64, u64),
    /// The lowest sequence number the layer may use: after a switch, those below
    /// were the previous layer's.
    floor: u64,
    /// Added to the layer's RTP timestamps.
    time_offset: u32,
    /// Added to the layer's VP8 picture ids.
    pictures: PictureIdOffsets,
}

/// The last packet forwarded, where the next layer continues from.
#[derive(Debug, Clone, Copy)]
struct Last {
    seq: u64,
    time: u32,
    arrival: Instant,
    /// Its VP8 picture ids, as forwarded.
    pictures: PictureIds,
}

/// Forwarding state of one published track to one subscriber.
#[derive(Debug)]
pub(crate) struct Route {
    /// Who receives.
    pub(crate) subscriber: PeerId,
    /// The subscriber's m-line carrying the track.
    pub(crate) mid: Mid,
    kind: MediaKind,
    /// The publisher's layer being forwarded; `None` until the target's first
    /// keyframe.
    current: Option<usize>,
    /// The layer to forward from its next keyframe on.
    target: usize,
    rebase: Option<Rebase>,
    last: Option<Last>,
    /// Publisher PT → subscriber PT (`None`: the subscriber has no such codec).
    pts: Vec<(Pt, Option<Pt>)>,
}

impl Route {
    /// A route to `subscriber`'s m-line `mid` of a track of `layers` layers. One
    /// layer is forwarded from its first packet; of several, the lowest is the first
    /// target (until the core chooses), forwarded from its first keyframe.
    pub(crate) fn new(subscriber: PeerId, mid: Mid, kind: MediaKind, layers: usize) -> Self {
        Self {
            subscriber,
            mid,
            kind,
            current: (layers <= 1).then_some(0),
            target: 0,
            rebase: None,
            last: None,
            pts: Vec::new(),
        }
    }

    /// The layer being forwarded, if any yet.
    pub(crate) fn current(&self) -> Option<usize> {
        self.current
    }

    /// Makes `target` the layer to forward; `true` if forwarding it needs a
    /// keyframe of it (it is not the current layer).
    pub(crate) fn retarget(&mut self, target: usize) -> bool {
        self.target = target;
        self.current != Some(target)
    }

    /// The layer a keyframe helps now: the current one, or the target before any.
    pub(crate) fn keyframe_layer(&self) -> usize {
        self.current.unwrap_or(self.target)
    }

    /// Queues `packet` (received on the publisher's `layer` with codec `params`,
    /// `keyframe` if it starts one, with its VP8 payload descriptor `vp8` if it has
    /// one) on the subscriber's `rtc`; `None` when it is not forwarded (another
    /// layer, no common codec, no send stream yet, a packet too old to rebase).
    ///
    /// A mutation of `rtc`: the caller drains it afterwards.
    pub(crate) fn forward(
        &mut self,
        rtc: &mut Rtc,
        layer: usize,
        keyframe: bool,
        packet: &RtpPacket,
        params: &PayloadParams,
        vp8: Option<&Descriptor>,
    ) -> Option<Sent> {
        let mut switch = None;
        if self.current != Some(layer) {
            if layer != self.target || !keyframe {
                return None;
            }
            switch = self.current.map(|from| {
                if layer > from {
                    LayerSwitch::Up
                } else {
                    LayerSwitch::Down
                }
            });
            self.current = Some(layer);
            self.rebase = None;
        }
        let pt = self.subscriber_pt(rtc, packet.header.payload_type, params)?;
        let rebase = *self.rebase.get_or_insert_with(|| {
            self.last.map_or_else(
                || first_layer(packet),
                |last| next_layer(last, packet, params, vp8),
            )
        });
        let seq = (*packet.seq_no + rebase.first.1)
            .checked_sub(rebase.first.0)
            .filter(|seq| *seq >= rebase.floor)?;
        let time = packet.header.timestamp.wrapping_add(rebase.time_offset);
        let exts = ExtensionValues {
            audio_level: packet.header.ext_vals.audio_level,
            voice_activity: packet.header.ext_vals.voice_activity,
            video_orientation: packet.header.ext_vals.video_orientation,
            ..ExtensionValues::default()
        };

        let (pictures, patch) = vp8.map_or((PictureIds::default(), None), |descriptor| {
            rebase.pictures.shift(descriptor)
        });

        let mut direct = rtc.direct_api();
        let stream = direct.stream_tx_by_mid(self.mid, None)?;
        let mut write = RtpWrite::new(
            pt,
            SeqNo::from(seq),
            time,
            packet.timestamp,
            packet.payload.clone(),
        )
        .marker(packet.header.marker)
        .ext_vals(exts)
        // Lost video is worth resending from the RTX cache; late audio is not.
        .nackable(self.kind == MediaKind::Video);
        if let Some(patch) = patch {
            write = write.vp8_patch(patch);
        }
        stream.write_rtp(write);
        if self.last.is_none_or(|last| seq > last.seq) {
            self.last = Some(Last {
                seq,
                time,
                arrival: packet.timestamp,
                pictures,
            });
        }
        Some(Sent {
            bytes: packet.payload.len(),
            switch,
        })
    }

    fn subscriber_pt(&mut self, rtc: &Rtc, pt: Pt, params: &PayloadParams) -> Option<Pt> {
        if let Some((_, mapped)) = self.pts.iter().find(|(from, _)| *from == pt) {
            return *mapped;
        }
        let mapped = rtc.codec_config().match_params(*params).map(|p| p.pt());
        self.pts.push((pt, mapped));
        mapped
    }
}

/// The first layer forwarded keeps its timestamps and starts at [`SEQ_HEADROOM`].
fn first_layer(packet: &RtpPacket) -> Rebase {
    Rebase {
        first: (*packet.seq_no, SEQ_HEADROOM),
        floor: 0,
        time_offset: 0,
        pictures: PictureIdOffsets::default(),
    }
}

/// A later layer continues from `last`: the next sequence number, the timestamp
/// advanced by the time between the two packets' arrivals, and (VP8) the next
/// picture ids.
fn next_layer(
    last: Last,
    packet: &RtpPacket,
    params: &PayloadParams,
    vp8: Option<&Descriptor>,
) -> Rebase {
    let elapsed = packet.timestamp.saturating_duration_since(last.arrival);
    let clock_rate = u128::from(params.spec().clock_rate.get());
    // At least one tick: the new layer's keyframe is a new picture. RTP time
    // wraps at 32 bits by definition.
    let ticks =
        u32::try_from((elapsed.as_micros() * clock_rate / 1_000_000).max(1)).unwrap_or(u32::MAX);
    let time = last.time.wrapping_add(ticks);
    let pictures = vp8
        .map(|next| PictureIdOffsets::continuing(last.pictures, next))
        .unwrap_or_default();
    Rebase {
        first: (*packet.seq_no, last.seq + 1),
        floor: last.seq + 1,
        time_offset: time.wrapping_sub(packet.header.timestamp),
        pictures,
    }
}

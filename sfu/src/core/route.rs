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

use str0m::Rtc;
use str0m::format::PayloadParams;
use str0m::media::{MediaKind, Mid, Pt};
use str0m::rtp::{ExtensionValues, RtpPacket, RtpWrite, SeqNo};

use super::PeerId;

/// Where rebased sequence numbers start. Packets of the publisher that arrive
/// reordered, up to this many before the first forwarded one, still fit.
pub(crate) const SEQ_HEADROOM: u64 = 1000;

/// Forwarding state of one published track to one subscriber.
#[derive(Debug)]
pub(crate) struct Route {
    /// Who receives.
    pub(crate) subscriber: PeerId,
    /// The subscriber's m-line carrying the track.
    pub(crate) mid: Mid,
    kind: MediaKind,
    /// The publisher's extended sequence number of the first forwarded packet.
    first_seq: Option<u64>,
    /// Publisher PT → subscriber PT (`None`: the subscriber has no such codec).
    pts: Vec<(Pt, Option<Pt>)>,
}

impl Route {
    /// A route to `subscriber`'s m-line `mid`.
    pub(crate) fn new(subscriber: PeerId, mid: Mid, kind: MediaKind) -> Self {
        Self {
            subscriber,
            mid,
            kind,
            first_seq: None,
            pts: Vec::new(),
        }
    }

    /// Queues `packet` (received with codec `params`) on the subscriber's `rtc`;
    /// returns the payload bytes written, or `None` when it cannot be forwarded (no
    /// common codec, the m-line has no send stream yet, a packet too old to rebase).
    ///
    /// A mutation of `rtc`: the caller drains it afterwards.
    pub(crate) fn forward(
        &mut self,
        rtc: &mut Rtc,
        packet: &RtpPacket,
        params: &PayloadParams,
    ) -> Option<usize> {
        let pt = self.subscriber_pt(rtc, packet.header.payload_type, params)?;
        let seq_no = self.rebase(packet.seq_no)?;
        let exts = ExtensionValues {
            audio_level: packet.header.ext_vals.audio_level,
            voice_activity: packet.header.ext_vals.voice_activity,
            video_orientation: packet.header.ext_vals.video_orientation,
            ..ExtensionValues::default()
        };

        let mut direct = rtc.direct_api();
        let stream = direct.stream_tx_by_mid(self.mid, None)?;
        stream.write_rtp(
            RtpWrite::new(
                pt,
                seq_no,
                packet.header.timestamp,
                packet.timestamp,
                packet.payload.clone(),
            )
            .marker(packet.header.marker)
            .ext_vals(exts)
            // Lost video is worth resending from the RTX cache; late audio is not.
            .nackable(self.kind == MediaKind::Video),
        );
        Some(packet.payload.len())
    }

    fn subscriber_pt(&mut self, rtc: &Rtc, pt: Pt, params: &PayloadParams) -> Option<Pt> {
        if let Some((_, mapped)) = self.pts.iter().find(|(from, _)| *from == pt) {
            return *mapped;
        }
        let mapped = rtc.codec_config().match_params(*params).map(|p| p.pt());
        self.pts.push((pt, mapped));
        mapped
    }

    fn rebase(&mut self, seq_no: SeqNo) -> Option<SeqNo> {
        let seq = *seq_no;
        let first = *self.first_seq.get_or_insert(seq);
        (seq + SEQ_HEADROOM).checked_sub(first).map(SeqNo::from)
    }
}

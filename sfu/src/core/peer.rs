//! [`Peer`]: one participant's WebRTC session — its `str0m::Rtc`, the tracks it
//! publishes, the tracks it receives and the renegotiation that adds and removes them.
//!
//! Renegotiation is SFU-initiated and travels over the peer's own data channel
//! labelled [`SIGNALLING_LABEL`]: when tracks come or go, the SFU sends an SDP offer
//! there as JSON (`{"type":"offer","sdp":…}`) and the client answers the same way. One
//! offer is outstanding at a time; changes made meanwhile wait for the answer.
//!
//! The same channel carries notices the client does not answer:
//! `{"type":"speaking","user_id":"…","speaking":true|false}` when someone else in the
//! room starts or stops speaking.
//!
//! And the client may tell the SFU how large it shows a video it receives:
//! `{"type":"video_size","mid":"…","width":320,"height":180}` for its m-line `mid`
//! (the transceiver's `mid`), so that a small tile gets a small simulcast layer (see
//! [`super::simulcast`]). Until it does, only bandwidth limits the layer.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use cloudcord_schemas::ids::{ChannelId, GuildId, UserId};
use serde::Deserialize;
use str0m::bwe::{Bitrate, BweKind};
use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::channel::{ChannelData, ChannelId as DataChannelId};
use str0m::format::{Codec, PayloadParams};
use str0m::media::{Direction, KeyframeRequest, KeyframeRequestKind, MediaAdded, MediaKind, Mid};
use str0m::rtp::RtpPacket;
use str0m::{Event, IceConnectionState, Input, Output, Rtc};

use super::keyframe::starts_keyframe;
use super::simulcast::{Layer, Size};
use super::speaking::SpeakingDetector;
use super::vp8::Descriptor;
use super::{Forward, Outbox, Participant, PeerId, TrackRef, Work};

/// The label of the data channel a client opens for renegotiation.
pub const SIGNALLING_LABEL: &str = "cloudcord-signalling";

/// Keyframe requests to one publisher's track are sent at most this often: with many
/// subscribers, a loss burst would otherwise make every one of them ask at once.
const KEYFRAME_REQUEST_INTERVAL: Duration = Duration::from_millis(500);

/// A track this peer publishes (an m-line it sends on).
#[derive(Debug)]
pub(crate) struct Published {
    pub(crate) mid: Mid,
    pub(crate) kind: MediaKind,
    /// Its simulcast layers, lowest first; one without simulcast.
    pub(crate) layers: Vec<Layer>,
    speaking: SpeakingDetector,
}

/// What a client says on the signalling channel.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ClientMessage {
    /// Its answer to the outstanding offer.
    Answer { sdp: String },
    /// The size it shows the video of its m-line `mid` at.
    VideoSize {
        mid: String,
        width: u32,
        height: u32,
    },
}

/// Where one subscription is in its negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SubscriptionState {
    /// To be offered in the next renegotiation.
    Wanted,
    /// Offered on `mid`; `cancelled` when the publisher left before the answer came.
    Offered { mid: Mid, cancelled: bool },
    /// Negotiated: media flows on `mid`.
    Open(Mid),
    /// The publisher left: `mid` is to be stopped in the next renegotiation.
    Stopping(Mid),
    /// A stop of `mid` is offered; the subscription goes when it is answered.
    StopOffered(Mid),
}

/// A track of another peer that this peer receives.
#[derive(Debug)]
struct Subscription {
    source: TrackRef,
    kind: MediaKind,
    /// The publisher's user, the client's MediaStream ID (so it knows whose it is).
    publisher: UserId,
    state: SubscriptionState,
    /// The size the client shows it at, if it said.
    wanted: Option<Size>,
}

/// One participant; see the module docs.
pub(crate) struct Peer {
    pub(crate) id: PeerId,
    pub(crate) user: UserId,
    pub(crate) guild: GuildId,
    pub(crate) channel: ChannelId,
    /// Whether its audio is forwarded (see [`Participant::may_speak`]).
    may_speak: bool,
    /// Whether a second video track is forwarded (see [`Participant::may_stream`]).
    may_stream: bool,
    pub(crate) rtc: Rtc,
    /// The local ICE ufrag, the [`super::demux::Demux`] key of its first STUN request.
    pub(crate) ufrag: String,
    /// The remote addresses datagrams have arrived from.
    pub(crate) addrs: Vec<SocketAddr>,
    /// When str0m next wants a timeout, as registered in the core's timer set.
    pub(crate) timeout: Instant,
    /// When the peer joined; one that never connects is dropped after a while.
    pub(crate) joined_at: Instant,
    pub(crate) connected: bool,
    pub(crate) published: Vec<Published>,
    subscriptions: Vec<Subscription>,
    signalling: Option<DataChannelId>,
    pending_offer: Option<SdpPendingOffer>,
    /// How much the SFU may send to this peer: str0m's estimate from the client's
    /// transport-wide congestion control feedback.
    pub(crate) estimate: Bitrate,
}

impl Peer {
    /// A peer around `rtc`, whose offer has been answered.
    pub(crate) fn new(id: PeerId, who: Participant, mut rtc: Rtc, now: Instant) -> Self {
        let ufrag = rtc.direct_api().local_ice_credentials().ufrag;
        Self {
            id,
            user: who.user,
            guild: who.guild,
            channel: who.channel,
            may_speak: who.may_speak,
            may_stream: who.may_stream,
            rtc,
            ufrag,
            addrs: Vec::new(),
            timeout: now,
            joined_at: now,
            connected: false,
            published: Vec::new(),
            subscriptions: Vec::new(),
            signalling: None,
            pending_offer: None,
            estimate: super::INITIAL_ESTIMATE,
        }
    }

    /// Starts receiving `source` (published by `publisher`) at the next renegotiation.
    pub(crate) fn subscribe(&mut self, source: TrackRef, kind: MediaKind, publisher: UserId) {
        self.subscriptions.push(Subscription {
            source,
            kind,
            publisher,
            state: SubscriptionState::Wanted,
            wanted: None,
        });
    }

    /// Stops receiving everything `publisher` published (the core drops the routes).
    pub(crate) fn unsubscribe_from(&mut self, publisher: PeerId) {
        self.subscriptions.retain_mut(|sub| {
            if sub.source.peer != publisher {
                return true;
            }
            match sub.state {
                SubscriptionState::Wanted => return false,
                SubscriptionState::Offered { mid, .. } => {
                    sub.state = SubscriptionState::Offered {
                        mid,
                        cancelled: true,
                    };
                }
                SubscriptionState::Open(mid) => sub.state = SubscriptionState::Stopping(mid),
                SubscriptionState::Stopping(_) | SubscriptionState::StopOffered(_) => {}
            }
            true
        });
    }

    /// The published track behind this peer's outgoing m-line `mid`, if it carries one.
    fn source_of(&self, mid: Mid) -> Option<TrackRef> {
        self.subscriptions
            .iter()
            .find(|sub| sub.state == SubscriptionState::Open(mid))
            .map(|sub| sub.source)
    }

    /// The tracks this peer receives, each with the size it asked for.
    pub(crate) fn receiving(&self) -> impl Iterator<Item = (TrackRef, Option<Size>)> + '_ {
        self.subscriptions
            .iter()
            .filter(|sub| matches!(sub.state, SubscriptionState::Open(_)))
            .map(|sub| (sub.source, sub.wanted))
    }

    /// Its published track on `mid`.
    pub(crate) fn track(&self, mid: Mid) -> Option<&Published> {
        self.published.iter().find(|track| track.mid == mid)
    }

    /// Asks the publisher of `mid` for a keyframe of its `layer`, unless one was
    /// asked for recently. A mutation of the `Rtc`: the caller drains it afterwards.
    pub(crate) fn request_keyframe(
        &mut self,
        mid: Mid,
        layer: usize,
        kind: KeyframeRequestKind,
        now: Instant,
    ) {
        let Some(layer) = self
            .published
            .iter_mut()
            .find(|track| track.mid == mid)
            .and_then(|track| track.layers.get_mut(layer))
        else {
            return;
        };
        if layer
            .last_keyframe_request
            .is_some_and(|last| now.saturating_duration_since(last) < KEYFRAME_REQUEST_INTERVAL)
        {
            return;
        }
        // No receive stream yet means no media yet; its first packets will do.
        if let Some(stream) = self.rtc.direct_api().stream_rx_by_mid(mid, layer.rid) {
            stream.request_keyframe(kind);
            layer.last_keyframe_request = Some(now);
        }
    }

    /// Tells str0m's bandwidth estimator how much the SFU would like to send: it
    /// probes for that much, so a subscriber on a low layer can find room for a
    /// higher one. A mutation of the `Rtc`.
    pub(crate) fn set_desired_bitrate(&mut self, desired: Bitrate) {
        self.rtc.bwe().set_bitrate(Bitrate::ZERO, desired);
    }

    /// Sends what is forwarded on `mid` as it comes instead of at str0m's pacing
    /// rate: the publisher's encoder and pacer have shaped it already, and what
    /// fits the subscriber's link is chosen by layer, not by queueing. Paced, a
    /// frame's packets were spread at the probe's rate whenever str0m probed (15 ms
    /// every 5 s), and a new subscriber's video queued while its estimate grew. The
    /// estimator still learns from the feedback, and probes with padding.
    pub(crate) fn pass_through(&mut self, mid: Mid) {
        if let Some(stream) = self.rtc.direct_api().stream_tx_by_mid(mid, None) {
            stream.set_unpaced(true);
        }
    }

    /// Whether one of the peer's microphones is speaking now.
    pub(crate) fn is_speaking(&self) -> bool {
        self.published
            .iter()
            .any(|track| track.speaking.is_speaking())
    }

    /// Sends `message` (JSON) to the client on the signalling channel, if it is open.
    /// For notices that lose nothing when dropped (the next one supersedes them), so
    /// a full channel is not an error. A mutation of the `Rtc`.
    pub(crate) fn notify(&mut self, message: &[u8]) {
        let Some(channel) = self.signalling else {
            return;
        };
        if let Some(Ok(false) | Err(_)) = self
            .rtc
            .channel(channel)
            .map(|mut channel| channel.write(false, message))
        {
            tracing::debug!(peer = %self.id, "signalling channel full; notice dropped");
        }
    }

    /// Sends what was just written: str0m queues written RTP until time is handled
    /// (its pacer takes a snapshot of the queues then), and a forwarded packet must
    /// not wait for the session's next deadline. A mutation of the `Rtc`.
    pub(crate) fn send_queued(&mut self, now: Instant) {
        if let Err(error) = self.rtc.handle_input(Input::Timeout(now)) {
            tracing::info!(peer = %self.id, %error, "session failed; disconnecting");
            self.rtc.disconnect();
        }
    }

    /// Offers the pending subscription changes, if any and if the signalling channel
    /// is open and no other offer is outstanding. A mutation of the `Rtc`.
    fn renegotiate(&mut self) {
        let Some(channel) = self.signalling else {
            return;
        };
        // Checked first because drains run per forwarded packet: most find nothing to
        // offer, and that must not cost an SDP change set.
        let pending_changes = self.subscriptions.iter().any(|sub| {
            matches!(
                sub.state,
                SubscriptionState::Wanted | SubscriptionState::Stopping(_)
            )
        });
        if self.pending_offer.is_some() || !pending_changes {
            return;
        }
        let mut change = self.rtc.sdp_api();
        for sub in &mut self.subscriptions {
            match sub.state {
                SubscriptionState::Wanted => {
                    let mid = change.add_media(
                        sub.kind,
                        Direction::SendOnly,
                        Some(sub.publisher.to_string()),
                        None,
                        None,
                    );
                    sub.state = SubscriptionState::Offered {
                        mid,
                        cancelled: false,
                    };
                }
                SubscriptionState::Stopping(mid) => {
                    change.stop_media(mid);
                    sub.state = SubscriptionState::StopOffered(mid);
                }
                _ => {}
            }
        }
        if !change.has_changes() {
            return;
        }
        let Some((offer, pending)) = change.apply() else {
            return;
        };
        let json = match serde_json::to_vec(&offer) {
            Ok(json) => json,
            // Serializing a string pair cannot fail; if it did, nothing is pending.
            Err(error) => {
                tracing::error!(peer = %self.id, %error, "cannot serialize an SDP offer");
                return;
            }
        };
        let written = self
            .rtc
            .channel(channel)
            .map(|mut channel| channel.write(false, &json));
        match written {
            Some(Ok(true)) => self.pending_offer = Some(pending),
            other => {
                // The channel is gone or full: the client will never answer, so the
                // session cannot follow the room any more.
                tracing::warn!(peer = %self.id, ?other, "cannot send an SDP offer; disconnecting");
                self.rtc.disconnect();
            }
        }
    }

    /// Handles a message from the client on the signalling channel.
    fn client_message(&mut self, data: &ChannelData, outbox: &mut Outbox) {
        match serde_json::from_slice::<ClientMessage>(&data.data) {
            Ok(ClientMessage::Answer { sdp }) => match SdpAnswer::from_sdp_string(&sdp) {
                Ok(answer) => self.accept_answer(answer, outbox),
                Err(error) => {
                    tracing::debug!(peer = %self.id, %error, "ignoring an unparsable SDP answer");
                }
            },
            Ok(ClientMessage::VideoSize { mid, width, height }) => {
                let mid = Mid::from(mid.as_str());
                let sub = self
                    .subscriptions
                    .iter_mut()
                    .find(|sub| sub.state == SubscriptionState::Open(mid));
                if let Some(sub) = sub {
                    sub.wanted = Some(Size { width, height });
                    outbox.work.push_back(Work::Reselect(self.id));
                }
            }
            Err(error) => {
                tracing::debug!(peer = %self.id, %error, "ignoring an unknown signalling message");
            }
        }
    }

    /// Applies the client's answer to the outstanding offer.
    fn accept_answer(&mut self, answer: SdpAnswer, outbox: &mut Outbox) {
        let Some(pending) = self.pending_offer.take() else {
            tracing::debug!(peer = %self.id, "ignoring an SDP answer without an offer");
            return;
        };
        if let Err(error) = self.rtc.sdp_api().accept_answer(pending, answer) {
            tracing::info!(peer = %self.id, %error, "the client's SDP answer was refused; disconnecting");
            self.rtc.disconnect();
            return;
        }
        self.subscriptions.retain_mut(|sub| match sub.state {
            SubscriptionState::Offered { mid, cancelled } => {
                if cancelled {
                    sub.state = SubscriptionState::Stopping(mid);
                } else {
                    sub.state = SubscriptionState::Open(mid);
                    outbox.work.push_back(Work::Subscribed {
                        source: sub.source,
                        subscriber: self.id,
                        mid,
                        kind: sub.kind,
                    });
                }
                true
            }
            SubscriptionState::StopOffered(_) => false,
            _ => true,
        });
    }

    /// Renegotiates if needed, then polls str0m until it returns a timeout: transmits
    /// go to the outbox, events are handled here or become work for the core.
    pub(crate) fn drain(&mut self, now: Instant, outbox: &mut Outbox) {
        self.renegotiate();
        loop {
            if !self.rtc.is_alive() {
                outbox.work.push_back(Work::Remove(self.id));
                return;
            }
            let output = match self.rtc.poll_output() {
                Ok(output) => output,
                Err(error) => {
                    tracing::info!(peer = %self.id, %error, "session failed; disconnecting");
                    self.rtc.disconnect();
                    continue;
                }
            };
            match output {
                Output::Timeout(at) => {
                    outbox.set_timer(self.id, &mut self.timeout, at);
                    return;
                }
                Output::Transmit(transmit) => outbox.transmits.push_back(transmit),
                Output::Event(event) => self.handle_event(event, now, outbox),
            }
        }
    }

    fn handle_event(&mut self, event: Event, now: Instant, outbox: &mut Outbox) {
        match event {
            Event::Connected => {
                self.connected = true;
                outbox.work.push_back(Work::Connected(self.id));
            }
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                // ICE-lite cannot restart ICE; the client rejoins with a new offer.
                self.rtc.disconnect();
            }
            Event::MediaAdded(added) => self.media_added(added, outbox),
            Event::ChannelOpen(channel, label) if label == SIGNALLING_LABEL => {
                self.signalling = Some(channel);
                outbox.work.push_back(Work::SignallingOpen(self.id));
                self.renegotiate();
            }
            Event::ChannelData(data) if Some(data.id) == self.signalling => {
                self.client_message(&data, outbox);
                // Changes that waited for this answer go out now.
                self.renegotiate();
            }
            Event::RtpPacket(packet) => self.rtp_packet(packet, now, outbox),
            Event::PeerStats(stats) => {
                outbox.metrics.peer_stats(&stats);
                // Layers' bitrates change without the estimate changing.
                outbox.work.push_back(Work::Reselect(self.id));
            }
            Event::KeyframeRequest(KeyframeRequest { mid, kind, .. }) => {
                if let Some(source) = self.source_of(mid) {
                    outbox.work.push_back(Work::KeyframeFor {
                        subscriber: self.id,
                        source,
                        kind,
                    });
                }
            }
            Event::EgressBitrateEstimate(BweKind::Twcc { estimate, .. }) => {
                self.estimate = estimate;
                outbox.work.push_back(Work::Reselect(self.id));
            }
            _ => {}
        }
    }

    fn media_added(&mut self, added: MediaAdded, outbox: &mut Outbox) {
        // Only m-lines the client sends on are publications; the SFU's own send-only
        // m-lines are added locally and never announced.
        if !matches!(added.direction, Direction::RecvOnly | Direction::SendRecv) {
            return;
        }
        // A muted or suppressed user's microphone is no publication: its packets
        // find no track and go nowhere.
        if added.kind == MediaKind::Audio && !self.may_speak {
            return;
        }
        // Likewise a screen share without STREAM: the camera is the first video
        // track, a screen share the second.
        let publishes_video = self
            .published
            .iter()
            .any(|track| track.kind == MediaKind::Video);
        if added.kind == MediaKind::Video && publishes_video && !self.may_stream {
            return;
        }
        let declared = added
            .simulcast
            .map(|simulcast| simulcast.recv)
            .unwrap_or_default();
        let layers = if declared.is_empty() {
            vec![Layer::single()]
        } else {
            declared.iter().map(Layer::declared).collect()
        };
        self.published.push(Published {
            mid: added.mid,
            kind: added.kind,
            layers,
            speaking: SpeakingDetector::default(),
        });
        outbox.work.push_back(Work::Published {
            source: TrackRef {
                peer: self.id,
                mid: added.mid,
            },
            kind: added.kind,
        });
    }

    fn rtp_packet(&mut self, packet: RtpPacket, now: Instant, outbox: &mut Outbox) {
        let ssrc = packet.header.ssrc;
        let Some((mid, rid)) = self
            .rtc
            .direct_api()
            .stream_rx(&ssrc)
            .map(|stream| (stream.mid(), stream.rid()))
        else {
            return;
        };
        let Some(params) = self.payload_params(&packet) else {
            return;
        };
        let Some(track) = self.published.iter_mut().find(|track| track.mid == mid) else {
            return;
        };
        // A packet of a layer the offer did not declare goes nowhere.
        let Some(layer) = track.layers.iter().position(|layer| layer.rid == rid) else {
            return;
        };
        track.layers[layer].record(packet.payload.len(), now);
        let codec = params.spec().codec;
        let keyframe = (track.kind == MediaKind::Video)
            .then(|| starts_keyframe(codec, &packet.payload))
            .flatten();
        // Parsed here, once per packet, rather than by each route.
        let vp8 = (codec == Codec::Vp8)
            .then(|| Descriptor::parse(&packet.payload))
            .flatten();
        if let Some(size) = keyframe.and_then(|keyframe| keyframe.size) {
            track.layers[layer].size = Some(size);
        }
        if track.kind == MediaKind::Audio
            && let Some(speaking) = track.speaking.observe(&packet, now)
        {
            outbox.work.push_back(Work::Speaking {
                peer: self.id,
                speaking,
            });
        }
        outbox.forwards.push_back(Forward {
            source: TrackRef { peer: self.id, mid },
            layer,
            keyframe: keyframe.is_some(),
            vp8,
            packet,
            params,
        });
    }

    fn payload_params(&self, packet: &RtpPacket) -> Option<PayloadParams> {
        self.rtc
            .codec_config()
            .find(|params| params.pt() == packet.header.payload_type)
            .copied()
    }
}

//! The sans-IO core: [`Sfu`] holds every room, peer and route of one process and is
//! driven by explicit calls with an explicit `now`; it never reads a clock, opens a
//! socket or spawns a task.
//!
//! # Calling contract
//!
//! * Feed each received datagram to [`Sfu::handle_datagram`], and call
//!   [`Sfu::handle_timeout`] when [`Sfu::poll_timeout`]'s deadline has passed.
//! * After every call, send everything [`Sfu::poll_transmit`] returns and handle every
//!   [`Sfu::poll_event`]; the deadline may have moved.
//! * `now` never goes backwards.
//!
//! Inside, every input goes to one peer's `str0m::Rtc`, which is then drained to its
//! next timeout (str0m's single-mutation rule). What the drain produces for other
//! peers — a packet to forward, a track to offer, a keyframe request — is queued as
//! work and done after, each step again one mutation and one drain, until the
//! queue is empty. Nothing is ever forwarded by scanning peers: datagrams are routed
//! by `demux::Demux`, packets by the published track's `route::Route`s.
//!
//! Simulcast: a track's layers are measured as they arrive (`simulcast`), and each
//! subscriber's layer of each track is chosen again whenever its bandwidth estimate
//! changes, it asks for another size, or its statistics come round: its estimate,
//! less what its single-layer tracks take, is shared equally among its simulcast
//! tracks. A new target layer gets a keyframe request, and the route switches at
//! that keyframe (`route`).
//!
//! Errors are bad input (a refused offer, a datagram for no one) and are returned;
//! a broken invariant would be a bug, and there is none to `expect` here.

mod demux;
mod h264;
mod keyframe;
mod peer;
mod route;
mod shard;
mod simulcast;
mod speaking;
mod vp8;

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use cloudcord_schemas::ids::{ChannelId, GuildId, UserId};
use str0m::bwe::Bitrate;
use str0m::change::{SdpAnswer, SdpOffer};
use str0m::format::PayloadParams;
use str0m::media::{KeyframeRequestKind, MediaKind, Mid};
use str0m::net::{Protocol, Receive, Transmit};
use str0m::rtp::RtpPacket;
use str0m::{Candidate, IceCreds, Input, Rtc, RtcError};

use crate::metrics::{Metrics, Refusal};
use demux::Demux;
pub use demux::stun_local_ufrag;
use peer::Peer;

pub use peer::SIGNALLING_LABEL;
use route::Route;
pub use shard::Shard;
use simulcast::{LayerView, select, up_threshold};

/// How often each peer's statistics (round-trip time, loss) are sampled for the
/// metrics.
pub const STATS_INTERVAL: Duration = Duration::from_secs(5);

/// What the SFU assumes it may send a new peer before str0m's bandwidth estimator
/// knows better (WebRTC's customary start bitrate): simulcast subscribers start low
/// and move up as the estimate grows.
pub(crate) const INITIAL_ESTIMATE: Bitrate = Bitrate::kbps(300);

/// How long a peer may take from its answer to a connected DTLS session before it is
/// dropped (a client that never sends a STUN request would otherwise stay forever).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// One peer (a user's session in one voice channel) of this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerId(pub u64);

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Who joins, as the media token says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Participant {
    /// The user.
    pub user: UserId,
    /// The channel's guild (where the user's voice state lives).
    pub guild: GuildId,
    /// The voice channel (the room).
    pub channel: ChannelId,
    /// Whether the user's audio is forwarded (not suppressed, not server-muted);
    /// when not, the user's microphone reaches no one.
    pub may_speak: bool,
    /// Whether the user's screen share (a second video track) is forwarded (STREAM
    /// in the channel); when not, only their camera (the first) is.
    pub may_stream: bool,
}

/// A published track: the publisher and its m-line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct TrackRef {
    pub(crate) peer: PeerId,
    pub(crate) mid: Mid,
}

/// Why a peer left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaveReason {
    /// It asked to ([`Sfu::leave`]).
    Left,
    /// The same user joined the channel again; the newer session wins.
    Replaced,
    /// ICE or DTLS failed or closed, or it never connected.
    Disconnected,
    /// The SFU is stopping ([`Sfu::stop`]).
    Stopped,
}

/// What the core tells its driver about (for voice state, the speaking indicator,
/// logs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SfuEvent {
    /// A peer's ICE and DTLS are up.
    Connected {
        /// The peer.
        peer: PeerId,
        /// Its user.
        user: UserId,
        /// Its voice channel.
        channel: ChannelId,
    },
    /// A peer is gone, with its tracks.
    Left {
        /// The peer.
        peer: PeerId,
        /// Its user.
        user: UserId,
        /// Its voice channel's guild.
        guild: GuildId,
        /// Its voice channel.
        channel: ChannelId,
        /// Why.
        reason: LeaveReason,
    },
    /// A peer started or stopped speaking.
    Speaking {
        /// The peer.
        peer: PeerId,
        /// Its user.
        user: UserId,
        /// Its voice channel.
        channel: ChannelId,
        /// Whether it speaks now.
        speaking: bool,
    },
}

/// Why an offer was not answered.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    /// The SDP offer is not valid SDP, or str0m cannot answer it.
    #[error("the SDP offer was refused")]
    InvalidOffer(#[source] RtcError),
    /// The SFU's public address cannot be an ICE candidate (a configuration error).
    #[error("the public address cannot be an ICE candidate")]
    Candidate,
}

/// Why a datagram was dropped (all bad input, counted in metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DatagramError {
    /// Not STUN, DTLS, RTP or RTCP.
    #[error("not a WebRTC datagram")]
    Malformed,
    /// From an unknown address and not a STUN request naming a peer's ufrag.
    #[error("the datagram belongs to no peer")]
    Unroutable,
    /// The peer's session refused it.
    #[error("the peer's session refused the datagram")]
    Refused,
}

/// Work queued by one peer's drain for the core or other peers; see the module docs.
enum Work {
    Connected(PeerId),
    Published {
        source: TrackRef,
        kind: MediaKind,
    },
    Subscribed {
        source: TrackRef,
        subscriber: PeerId,
        mid: Mid,
        kind: MediaKind,
    },
    /// A keyframe of one layer of a track is wanted.
    Keyframe {
        source: TrackRef,
        layer: usize,
        kind: KeyframeRequestKind,
    },
    /// A subscriber asked for a keyframe: of the layer it receives.
    KeyframeFor {
        subscriber: PeerId,
        source: TrackRef,
        kind: KeyframeRequestKind,
    },
    /// The peer's simulcast layers are to be chosen again.
    Reselect(PeerId),
    Speaking {
        peer: PeerId,
        speaking: bool,
    },
    /// The peer's signalling channel opened: it hears of who speaks already.
    SignallingOpen(PeerId),
    Remove(PeerId),
}

/// A received packet to send to the subscribers of its track. Queued apart from
/// [`Work`]: it is the common case and much larger than the rest.
struct Forward {
    source: TrackRef,
    /// The index of the publisher's layer it arrived on.
    layer: usize,
    /// Whether it starts a keyframe.
    keyframe: bool,
    /// Its VP8 payload descriptor, if it is VP8.
    vp8: Option<vp8::Descriptor>,
    packet: RtpPacket,
    params: PayloadParams,
}

/// Where drains put their output: metrics, transmits for the driver, work for the
/// core, and the timer set (each peer's next str0m deadline, ordered).
pub(crate) struct Outbox {
    metrics: Metrics,
    transmits: VecDeque<Transmit>,
    forwards: VecDeque<Forward>,
    work: VecDeque<Work>,
    timers: BTreeSet<(Instant, PeerId)>,
}

impl Outbox {
    /// Moves `peer`'s registered deadline from `*current` to `at`.
    fn set_timer(&mut self, peer: PeerId, current: &mut Instant, at: Instant) {
        if *current != at || !self.timers.contains(&(at, peer)) {
            self.timers.remove(&(*current, peer));
            self.timers.insert((at, peer));
            *current = at;
        }
    }
}

/// The SFU of one process; see the module docs.
pub struct Sfu {
    public_addr: SocketAddr,
    peers: HashMap<PeerId, Peer>,
    rooms: HashMap<ChannelId, Vec<PeerId>>,
    routes: HashMap<TrackRef, Vec<Route>>,
    demux: Demux,
    outbox: Outbox,
    events: VecDeque<SfuEvent>,
    /// Scratch list of the peers due in [`Sfu::handle_timeout`], kept to reuse its
    /// allocation.
    due: Vec<PeerId>,
    next_peer: PeerId,
    shard: Shard,
    /// Addresses no peer of this core uses any more, for the driver's router.
    released: VecDeque<SocketAddr>,
}

impl Sfu {
    /// An empty SFU reachable at `public_addr` (the one ICE candidate it announces,
    /// and the destination of every datagram it is fed).
    pub fn new(public_addr: SocketAddr, metrics: Metrics) -> Self {
        Self {
            public_addr,
            peers: HashMap::new(),
            rooms: HashMap::new(),
            routes: HashMap::new(),
            demux: Demux::default(),
            outbox: Outbox {
                metrics,
                transmits: VecDeque::new(),
                forwards: VecDeque::new(),
                work: VecDeque::new(),
                timers: BTreeSet::new(),
            },
            events: VecDeque::new(),
            due: Vec::new(),
            next_peer: Shard::SOLE.first_peer(),
            shard: Shard::SOLE,
            released: VecDeque::new(),
        }
    }

    /// The core of `shard` of a sharded process: its peer ids and ICE ufrags name
    /// the shard (see [`Shard`]).
    pub fn sharded(public_addr: SocketAddr, metrics: Metrics, shard: Shard) -> Self {
        Self {
            next_peer: shard.first_peer(),
            shard,
            ..Self::new(public_addr, metrics)
        }
    }

    /// The address the SFU announces.
    pub fn public_addr(&self) -> SocketAddr {
        self.public_addr
    }

    /// How many peers are in `channel`.
    pub fn room_size(&self, channel: ChannelId) -> usize {
        self.rooms.get(&channel).map_or(0, Vec::len)
    }

    /// The user and channel of `peer`, if it is here.
    pub fn peer(&self, peer: PeerId) -> Option<(UserId, ChannelId)> {
        self.peers.get(&peer).map(|peer| (peer.user, peer.channel))
    }

    /// Answers `who`'s offer to join a voice channel: a new peer, ICE-lite, RTP mode,
    /// with the SFU's public address as its only candidate. The user's earlier peer
    /// in the same channel, if any, is replaced.
    pub fn join(
        &mut self,
        now: Instant,
        who: Participant,
        offer: SdpOffer,
    ) -> Result<(PeerId, SdpAnswer), JoinError> {
        let Participant { user, channel, .. } = who;
        let creds = IceCreds::new();
        let creds = IceCreds {
            ufrag: self.shard.tag_ufrag(&creds.ufrag),
            pass: creds.pass,
        };
        let mut rtc = Rtc::builder()
            .set_local_ice_credentials(creds)
            .set_ice_lite(true)
            .set_rtp_mode(true)
            .clear_codecs()
            .enable_opus(true, false)
            .enable_vp8(true)
            .enable_h264(true)
            .enable_bwe(Some(INITIAL_ESTIMATE))
            .set_stats_interval(Some(STATS_INTERVAL))
            .build(now);
        let candidate =
            Candidate::host(self.public_addr, "udp").map_err(|_| JoinError::Candidate)?;
        rtc.add_local_candidate(candidate)
            .ok_or(JoinError::Candidate)?;
        let answer = rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(JoinError::InvalidOffer)?;

        let earlier = self.rooms.get(&channel).and_then(|members| {
            members
                .iter()
                .copied()
                .find(|id| self.peers.get(id).is_some_and(|peer| peer.user == user))
        });
        if let Some(earlier) = earlier {
            self.remove(now, earlier, LeaveReason::Replaced);
        }

        let id = self.next_peer;
        self.next_peer = PeerId(id.0 + 1);
        let mut peer = Peer::new(id, who, rtc, now);
        self.demux.add_ufrag(peer.ufrag.clone(), id);
        let members = self.rooms.entry(channel).or_default();
        if members.is_empty() {
            self.outbox.metrics.room_opened();
        }
        // Every track already published in the room is offered to the newcomer.
        for member in members.iter() {
            if let Some(publisher) = self.peers.get(member) {
                for track in &publisher.published {
                    let source = TrackRef {
                        peer: publisher.id,
                        mid: track.mid,
                    };
                    peer.subscribe(source, track.kind, publisher.user);
                }
            }
        }
        members.push(id);
        peer.drain(now, &mut self.outbox);
        self.peers.insert(id, peer);
        self.outbox.metrics.peer_joined();
        self.pump(now);
        tracing::info!(peer = %id, %user, %channel, "peer joined");
        Ok((id, answer))
    }

    /// Removes `peer` (it asked to leave); `false` if it was not here.
    pub fn leave(&mut self, now: Instant, peer: PeerId) -> bool {
        let found = self.remove(now, peer, LeaveReason::Left);
        self.pump(now);
        found
    }

    /// Ends every peer's session: the process is stopping. Each is reported as
    /// [`SfuEvent::Left`] with [`LeaveReason::Stopped`], so that its user's voice
    /// state is corrected as a dropped connection's is.
    pub fn stop(&mut self, now: Instant) {
        let peers: Vec<PeerId> = self.peers.keys().copied().collect();
        for id in peers {
            self.remove(now, id, LeaveReason::Stopped);
        }
        self.pump(now);
    }

    /// Feeds a datagram received from `source`.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        source: SocketAddr,
        datagram: &[u8],
    ) -> Result<(), DatagramError> {
        let result = self.receive(now, source, datagram);
        if let Err(error) = result {
            self.outbox.metrics.refused(match error {
                DatagramError::Malformed => Refusal::Malformed,
                DatagramError::Unroutable => Refusal::Unroutable,
                DatagramError::Refused => Refusal::Refused,
            });
        }
        self.pump(now);
        result
    }

    fn receive(
        &mut self,
        now: Instant,
        source: SocketAddr,
        datagram: &[u8],
    ) -> Result<(), DatagramError> {
        let receive = Receive::new(Protocol::Udp, source, self.public_addr, datagram)
            .map_err(|_| DatagramError::Malformed)?;
        let id = self
            .demux
            .route(source, datagram)
            .ok_or(DatagramError::Unroutable)?;
        let peer = self.peers.get_mut(&id).ok_or(DatagramError::Unroutable)?;
        let input = Input::Receive(now, receive);
        if !peer.rtc.accepts(&input) {
            return Err(DatagramError::Refused);
        }
        // A peer has an address or two: checking them is cheaper than a map write
        // per datagram.
        if !peer.addrs.contains(&source) {
            self.demux.learn_addr(source, id);
            peer.addrs.push(source);
        }
        if let Err(error) = peer.rtc.handle_input(input) {
            tracing::debug!(peer = %id, %error, "datagram refused");
            peer.drain(now, &mut self.outbox);
            return Err(DatagramError::Refused);
        }
        peer.drain(now, &mut self.outbox);
        Ok(())
    }

    /// The earliest deadline of any peer, if there are peers.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.outbox.timers.first().map(|(at, _)| *at)
    }

    /// Lets time pass to `now`: every peer whose deadline has come gets its timeout.
    pub fn handle_timeout(&mut self, now: Instant) {
        // Each peer due gets one timeout per call, even if str0m answers with a
        // deadline that is still not in the future.
        let mut due = std::mem::take(&mut self.due);
        while let Some(&(at, id)) = self.outbox.timers.first() {
            if at > now {
                break;
            }
            self.outbox.timers.pop_first();
            due.push(id);
        }
        for id in due.drain(..) {
            let Some(peer) = self.peers.get_mut(&id) else {
                continue;
            };
            if !peer.connected && now.saturating_duration_since(peer.joined_at) > CONNECT_TIMEOUT {
                tracing::info!(peer = %id, "peer never connected; dropping it");
                peer.rtc.disconnect();
            } else if let Err(error) = peer.rtc.handle_input(Input::Timeout(now)) {
                tracing::info!(peer = %id, %error, "session failed; disconnecting");
                peer.rtc.disconnect();
            }
            peer.drain(now, &mut self.outbox);
        }
        self.due = due;
        self.pump(now);
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.outbox.transmits.pop_front()
    }

    /// The next address that no peer of this core uses any more (only for a sharded
    /// core, whose driver routes addresses to shards).
    pub fn poll_released_addr(&mut self) -> Option<SocketAddr> {
        self.released.pop_front()
    }

    /// The next thing to tell the driver.
    pub fn poll_event(&mut self) -> Option<SfuEvent> {
        self.events.pop_front()
    }

    /// Does the queued work until there is none; see the module docs.
    fn pump(&mut self, now: Instant) {
        loop {
            if let Some(forward) = self.outbox.forwards.pop_front() {
                self.forward(now, &forward);
                continue;
            }
            let Some(work) = self.outbox.work.pop_front() else {
                return;
            };
            match work {
                Work::Keyframe {
                    source,
                    layer,
                    kind,
                } => {
                    if let Some(publisher) = self.peers.get_mut(&source.peer) {
                        publisher.request_keyframe(source.mid, layer, kind, now);
                        publisher.drain(now, &mut self.outbox);
                    }
                }
                Work::KeyframeFor {
                    subscriber,
                    source,
                    kind,
                } => {
                    let layer = self
                        .route(source, subscriber)
                        .map(|route| route.keyframe_layer());
                    if let Some(layer) = layer {
                        self.outbox.work.push_back(Work::Keyframe {
                            source,
                            layer,
                            kind,
                        });
                    }
                }
                Work::Reselect(subscriber) => self.reselect(now, subscriber),
                Work::Published { source, kind } => self.published(now, source, kind),
                Work::Subscribed {
                    source,
                    subscriber,
                    mid,
                    kind,
                } => self.subscribed(source, subscriber, mid, kind, now),
                Work::Connected(id) => {
                    if let Some(peer) = self.peers.get(&id) {
                        self.events.push_back(SfuEvent::Connected {
                            peer: id,
                            user: peer.user,
                            channel: peer.channel,
                        });
                    }
                }
                Work::Speaking { peer, speaking } => self.speaking(now, peer, speaking),
                Work::SignallingOpen(id) => self.tell_who_speaks(now, id),
                Work::Remove(id) => {
                    self.remove(now, id, LeaveReason::Disconnected);
                }
            }
        }
    }

    /// `subscriber`'s route of `source`, if it receives it.
    fn route(&mut self, source: TrackRef, subscriber: PeerId) -> Option<&mut Route> {
        self.routes
            .get_mut(&source)?
            .iter_mut()
            .find(|route| route.subscriber == subscriber)
    }

    /// Starts forwarding `source` to `subscriber`'s m-line `mid`, now negotiated.
    fn subscribed(
        &mut self,
        source: TrackRef,
        subscriber: PeerId,
        mid: Mid,
        kind: MediaKind,
        now: Instant,
    ) {
        let layers = self
            .peers
            .get(&source.peer)
            .and_then(|publisher| publisher.track(source.mid))
            .map_or(1, |track| track.layers.len());
        self.routes
            .entry(source)
            .or_default()
            .push(Route::new(subscriber, mid, kind, layers));
        if let Some(peer) = self.peers.get_mut(&subscriber) {
            peer.pass_through(mid);
        }
        if layers == 1 && kind == MediaKind::Video {
            // The subscriber joins mid-stream: it needs a keyframe to start.
            self.outbox.work.push_back(Work::Keyframe {
                source,
                layer: 0,
                kind: KeyframeRequestKind::Pli,
            });
        }
        // Picks a simulcast track's layer (and asks for its keyframe), and tells the
        // estimator what the subscriber now needs.
        self.reselect(now, subscriber);
    }

    /// Chooses the layer of every simulcast track `id` receives (see the module
    /// docs and [`select`]), asks for a keyframe of each new target, and tells `id`'s
    /// bandwidth estimator how much it would take to send every track, each
    /// simulcast one at its best.
    ///
    /// That desired bitrate counts single-layer tracks too: what simulcast tracks
    /// share is the estimate less what those take, and str0m probes for more only
    /// up to the desired bitrate.
    fn reselect(&mut self, now: Instant, id: PeerId) {
        let Some(subscriber) = self.peers.get(&id) else {
            return;
        };
        let mut single_layer = 0;
        let mut layered: Vec<(TrackRef, Option<simulcast::Size>, Vec<LayerView>)> = Vec::new();
        for (source, wanted) in subscriber.receiving() {
            let Some(track) = self
                .peers
                .get(&source.peer)
                .and_then(|publisher| publisher.track(source.mid))
            else {
                continue;
            };
            let views: Vec<LayerView> = track.layers.iter().map(|layer| layer.view(now)).collect();
            if views.len() > 1 {
                layered.push((source, wanted, views));
            } else {
                single_layer += views.first().and_then(|view| view.bitrate).unwrap_or(0);
            }
        }
        let share = subscriber.estimate.as_u64().saturating_sub(single_layer)
            / (layered.len() as u64).max(1);
        let mut desired = single_layer;
        for (source, wanted, views) in layered {
            if let Some(best) = select(&views, u64::MAX, wanted, None) {
                desired += up_threshold(views[best].bitrate.unwrap_or(0));
            }
            let Some(route) = self.route(source, id) else {
                continue;
            };
            let Some(target) = select(&views, share, wanted, route.current()) else {
                continue;
            };
            if route.retarget(target) {
                self.outbox.work.push_back(Work::Keyframe {
                    source,
                    layer: target,
                    kind: KeyframeRequestKind::Pli,
                });
            }
        }
        if let Some(subscriber) = self.peers.get_mut(&id) {
            subscriber.set_desired_bitrate(Bitrate::bps(desired));
            subscriber.drain(now, &mut self.outbox);
        }
    }

    /// Sends one received packet to every subscriber of its track (of its layer).
    fn forward(&mut self, now: Instant, forward: &Forward) {
        let Some(routes) = self.routes.get_mut(&forward.source) else {
            return;
        };
        for route in routes {
            let Some(subscriber) = self.peers.get_mut(&route.subscriber) else {
                continue;
            };
            let sent = route.forward(
                &mut subscriber.rtc,
                forward.layer,
                forward.keyframe,
                &forward.packet,
                &forward.params,
                forward.vp8.as_ref(),
            );
            if let Some(sent) = sent {
                self.outbox.metrics.forwarded(sent.bytes);
                if let Some(switch) = sent.switch {
                    self.outbox.metrics.layer_switched(switch);
                    tracing::debug!(subscriber = %route.subscriber, ?switch, layer = forward.layer, "simulcast layer switched");
                }
                subscriber.drain(now, &mut self.outbox);
                subscriber.send_queued(now);
            }
            subscriber.drain(now, &mut self.outbox);
        }
    }

    /// Tells the driver and everyone else in the room that `id` started or stopped
    /// speaking.
    fn speaking(&mut self, now: Instant, id: PeerId, speaking: bool) {
        let Some((user, channel)) = self.peer(id) else {
            return;
        };
        self.events.push_back(SfuEvent::Speaking {
            peer: id,
            user,
            channel,
            speaking,
        });
        let notice = speaking_notice(user, speaking);
        let Some(members) = self.rooms.get(&channel) else {
            return;
        };
        for member in members {
            if *member == id {
                continue;
            }
            if let Some(other) = self.peers.get_mut(member) {
                other.notify(notice.as_bytes());
                other.drain(now, &mut self.outbox);
            }
        }
    }

    /// Tells `id` who in its room is speaking now: a notice goes out only when
    /// someone starts or stops, and they may have started before `id` could hear.
    fn tell_who_speaks(&mut self, now: Instant, id: PeerId) {
        let Some((_, channel)) = self.peer(id) else {
            return;
        };
        let speakers: Vec<UserId> = self
            .rooms
            .get(&channel)
            .into_iter()
            .flatten()
            .filter(|member| **member != id)
            .filter_map(|member| self.peers.get(member))
            .filter(|member| member.is_speaking())
            .map(|member| member.user)
            .collect();
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        for user in speakers {
            peer.notify(speaking_notice(user, true).as_bytes());
        }
        peer.drain(now, &mut self.outbox);
    }

    /// Offers a newly published track to everyone else in the room.
    fn published(&mut self, now: Instant, source: TrackRef, kind: MediaKind) {
        let Some((publisher, channel)) = self.peer(source.peer) else {
            return;
        };
        let Some(members) = self.rooms.get(&channel) else {
            return;
        };
        for member in members {
            if *member == source.peer {
                continue;
            }
            if let Some(subscriber) = self.peers.get_mut(member) {
                subscriber.subscribe(source, kind, publisher);
                subscriber.drain(now, &mut self.outbox);
            }
        }
    }

    /// Removes a peer with its tracks and routes; `false` if it was not here.
    fn remove(&mut self, now: Instant, id: PeerId, reason: LeaveReason) -> bool {
        let Some(mut peer) = self.peers.remove(&id) else {
            return false;
        };
        peer.rtc.disconnect();
        self.demux.forget(id, &peer.ufrag, &peer.addrs);
        if self.shard.is_sharded() {
            self.released.extend(peer.addrs.iter().copied());
        }
        self.outbox.timers.remove(&(peer.timeout, id));
        for track in &peer.published {
            self.routes.remove(&TrackRef {
                peer: id,
                mid: track.mid,
            });
        }
        // A busy room's routes are many, but leaving is rare next to forwarding.
        for routes in self.routes.values_mut() {
            routes.retain(|route| route.subscriber != id);
        }
        if let Some(members) = self.rooms.get_mut(&peer.channel) {
            members.retain(|member| *member != id);
            for member in members.iter() {
                if let Some(other) = self.peers.get_mut(member) {
                    other.unsubscribe_from(id);
                    other.drain(now, &mut self.outbox);
                }
            }
            if members.is_empty() {
                self.rooms.remove(&peer.channel);
                self.outbox.metrics.room_closed();
            }
        }
        self.outbox.metrics.peer_left();
        tracing::info!(peer = %id, user = %peer.user, channel = %peer.channel, ?reason, "peer left");
        self.events.push_back(SfuEvent::Left {
            peer: id,
            user: peer.user,
            guild: peer.guild,
            channel: peer.channel,
            reason,
        });
        true
    }
}

/// The data-channel notice that `user` started or stopped speaking.
fn speaking_notice(user: UserId, speaking: bool) -> String {
    serde_json::json!({
        "type": "speaking",
        "user_id": user.to_string(),
        "speaking": speaking,
    })
    .to_string()
}

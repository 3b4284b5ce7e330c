//! An in-memory network of str0m client peers around an [`Sfu`], with the clock in
//! the caller's hands: the harness of the core's tests and of the benchmark.
//!
//! Each [`Client`] is a full WebRTC endpoint (ICE controlling, DTLS, SRTP, SCTP) like
//! a browser, in RTP mode so that tests see exactly the packets the SFU forwarded. It
//! offers what it publishes plus the [`SIGNALLING_LABEL`] data channel, and answers
//! the SFU's renegotiation offers on that channel. Datagrams travel without delay or
//! loss, unless a client's downlink is given a capacity ([`Network::set_downlink`]);
//! time moves only when the caller says so.
//!
//! A client may publish its camera in simulcast ([`Publish::simulcast`]): the
//! [`LAYERS`] of [`Client::send_camera_frame`], each its own RTP stream with its own
//! sequence numbers and timestamps, as a browser's are, in VP8 (each layer with its
//! own picture ids) or H.264 ([`Client::camera_codec`]).

use std::collections::{HashMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cloudcord_schemas::ids::UserId;
use str0m::bwe::Bitrate;
use str0m::change::{SdpOffer, SdpPendingOffer};
use str0m::channel::ChannelId as DataChannelId;
use str0m::format::Codec;
use str0m::media::{
    Direction, KeyframeRequestKind, MediaKind, Mid, Rid, Simulcast, SimulcastLayer,
};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{ExtensionValues, RtpWrite, SeqNo};
use str0m::{Candidate, Event, Input, Output, Rtc, RtcError};

use crate::core::{JoinError, Participant, PeerId, SIGNALLING_LABEL, Sfu};

/// Why the harness could not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A client's str0m session failed.
    #[error("client session failed")]
    Rtc(#[from] RtcError),
    /// A datagram from the SFU was not a WebRTC datagram.
    #[error("the SFU sent a malformed datagram")]
    Net(#[from] str0m::error::NetError),
    /// The SFU refused the client's offer.
    #[error("the SFU refused the offer")]
    Join(#[from] JoinError),
    /// The client has no such track or codec to send with.
    #[error("the client cannot send {0:?}")]
    CannotSend(MediaKind),
}

/// The simulcast layers of a [`Publish::simulcast`] camera, lowest first: RID,
/// picture width and height, and the payload bytes of each frame (one packet each,
/// so at 30 frames a second about 50, 150 and 300 kbit/s).
pub const LAYERS: [(&str, u16, u16, usize); 3] = [
    ("q", 320, 180, 200),
    ("h", 640, 360, 600),
    ("f", 1280, 720, 1200),
];

/// How long a capped downlink queues datagrams before it drops them, as a router's
/// buffer would.
const DOWNLINK_QUEUE: Duration = Duration::from_millis(100);

/// The length of the VP8 payload descriptor of [`Client::send_camera_frame`]: X, I
/// with a 15-bit PictureID, L with TL0PICIDX, and T (which L requires).
const VP8_DESCRIPTOR: usize = 6;

/// One frame of layer `layer` of [`LAYERS`] as a VP8 payload: the descriptor with
/// the layer's `picture_id` and `tl0_pic_idx`, a key frame header stating the
/// layer's size or an interframe header, then filler; its last byte is `layer`.
fn vp8_frame(layer: usize, keyframe: bool, picture_id: u16, tl0_pic_idx: u8) -> Vec<u8> {
    let (_, width, height, len) = LAYERS[layer.min(LAYERS.len() - 1)];
    // Descriptor: start of partition 0, then the ids (every picture is on temporal
    // layer 0).
    let [high, low] = picture_id.to_be_bytes();
    let mut payload = vec![0x90, 0xe0, 0x80 | high, low, tl0_pic_idx, 0x00];
    // Frame tag: P clear on a key frame.
    payload.extend([if keyframe { 0x50 } else { 0x51 }, 0x00, 0x00]);
    if keyframe {
        payload.extend([0x9d, 0x01, 0x2a]);
        payload.extend(width.to_le_bytes());
        payload.extend(height.to_le_bytes());
    }
    payload.resize(len - 1, 0xaa);
    payload.push(u8::try_from(layer).unwrap_or(u8::MAX));
    payload
}

/// The sequence parameter set of each of [`LAYERS`] (constrained baseline, as
/// browsers send; written by x264 0.164.3095 for frames of each size, NAL unit
/// header first).
const H264_SPS: [&[u8]; 3] = [
    &[
        0x67, 0x42, 0xc0, 0x0d, 0xd9, 0x01, 0x41, 0x9f, 0x9e, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10,
        0x00, 0x00, 0x03, 0x03, 0xc8, 0xf1, 0x42, 0xa4, 0x80,
    ],
    &[
        0x67, 0x42, 0xc0, 0x1e, 0xd9, 0x00, 0xa0, 0x2f, 0xf9, 0x61, 0x00, 0x00, 0x03, 0x00, 0x01,
        0x00, 0x00, 0x03, 0x00, 0x3c, 0x8f, 0x16, 0x2e, 0x48,
    ],
    &[
        0x67, 0x42, 0xc0, 0x1f, 0xd9, 0x00, 0x50, 0x05, 0xba, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10,
        0x00, 0x00, 0x03, 0x03, 0xc8, 0xf1, 0x83, 0x24, 0x80,
    ],
];
/// The picture parameter set x264 wrote with each of them.
const H264_PPS: [u8; 5] = [0x68, 0xcb, 0x83, 0xcb, 0x20];

/// One frame of layer `layer` of [`LAYERS`] as an H.264 payload: a key frame is a
/// STAP-A of the layer's SPS, the PPS and an IDR slice, an interframe a non-IDR
/// slice; slices are filler, and the payload's last byte is `layer`.
fn h264_frame(layer: usize, keyframe: bool) -> Vec<u8> {
    let layer = layer.min(LAYERS.len() - 1);
    let (.., len) = LAYERS[layer];
    let mut payload = Vec::with_capacity(len);
    let slice = if keyframe {
        // STAP-A (NRI 3), each unit after its 16-bit size.
        payload.push(0x78);
        for unit in [H264_SPS[layer], &H264_PPS] {
            payload.extend(u16::try_from(unit.len()).unwrap_or(u16::MAX).to_be_bytes());
            payload.extend(unit);
        }
        let size = len.saturating_sub(payload.len() + 2);
        payload.extend(u16::try_from(size).unwrap_or(u16::MAX).to_be_bytes());
        0x65
    } else {
        0x41
    };
    payload.push(slice);
    payload.resize(len - 1, 0xaa);
    payload.push(u8::try_from(layer).unwrap_or(u8::MAX));
    payload
}

/// A client's index in the [`Network`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientId(pub usize);

/// One received RTP packet, as the client saw it.
#[derive(Debug, Clone)]
pub struct Received {
    /// The client's m-line it arrived on.
    pub mid: Mid,
    /// Its payload.
    pub payload: Arc<[u8]>,
    /// Its audio level header extension.
    pub audio_level: Option<i8>,
    /// Its (extended) sequence number.
    pub seq_no: u64,
    /// Its RTP timestamp.
    pub rtp_time: u32,
    /// When it arrived.
    pub at: Instant,
}

impl Received {
    /// The layer of a frame of [`Client::send_camera_frame`]: its last byte.
    pub fn layer(&self) -> Option<usize> {
        self.payload.last().map(|byte| usize::from(*byte))
    }

    /// Whether it starts a key frame of [`Client::send_camera_frame`] (VP8).
    pub fn is_keyframe(&self) -> bool {
        self.payload
            .get(VP8_DESCRIPTOR)
            .is_some_and(|tag| tag & 0x01 == 0)
    }

    /// The PictureID and TL0PICIDX of a frame of [`Client::send_camera_frame`]
    /// (VP8), as the SFU forwarded them.
    pub fn vp8_picture_ids(&self) -> Option<(u16, u8)> {
        match self.payload.get(..VP8_DESCRIPTOR)? {
            [_, _, high, low, tl0_pic_idx, _] => {
                Some((u16::from_be_bytes([high & 0x7f, *low]), *tl0_pic_idx))
            }
            _ => None,
        }
    }
}

/// The sending state of one layer of a simulcast camera.
#[derive(Debug)]
struct CameraLayer {
    rid: Rid,
    seq: u64,
    /// Where its RTP timestamps start (each layer its own, as in browsers).
    time_base: u32,
    /// The VP8 PictureID and TL0PICIDX of its next frame (each layer its own).
    picture_id: u16,
    tl0_pic_idx: u8,
    /// A keyframe was asked for since its last frame.
    keyframe_wanted: bool,
}

/// A browser-like WebRTC client; see the module docs.
pub struct Client {
    /// The client's session.
    pub rtc: Rtc,
    /// The client's address.
    pub addr: SocketAddr,
    /// Its peer in the SFU.
    pub peer: PeerId,
    /// Its published m-lines.
    pub audio: Option<Mid>,
    /// Its published video m-line (a camera).
    pub video: Option<Mid>,
    /// Its second published video m-line (a screen share).
    pub screen: Option<Mid>,
    /// Media received, in arrival order.
    pub received: Vec<Received>,
    /// Keyframe requests received for its published tracks (with the simulcast
    /// layer's RID).
    pub keyframe_requests: Vec<(Mid, Option<Rid>, KeyframeRequestKind)>,
    /// Whether its camera answers a keyframe request with a keyframe on the next
    /// frame of that layer, as encoders do.
    pub answers_keyframe_requests: bool,
    /// The codec of its camera's frames: VP8 (the default) or H.264.
    pub camera_codec: Codec,
    /// The audio level its audio packets carry, in −dBov (−20: speaking, −127:
    /// silence).
    pub audio_level: i8,
    /// Notices the SFU sent on the signalling channel (everything but offers).
    pub notices: Vec<serde_json::Value>,
    signalling: Option<DataChannelId>,
    seq: u64,
    camera: Vec<CameraLayer>,
    frames: u64,
    timeout: Instant,
    outgoing: VecDeque<Vec<u8>>,
    connected: bool,
}

impl Client {
    /// Whether ICE and DTLS are up.
    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// The MediaStream ID (the publisher's user) of the client's m-line `mid`.
    pub fn stream_id(&self, mid: Mid) -> Option<String> {
        self.rtc
            .media(mid)
            .map(|media| media.stream_id().to_owned())
    }

    /// How many packets arrived from the user `publisher`'s tracks of `kind`.
    pub fn received_from(&self, publisher: UserId, kind: MediaKind) -> usize {
        let publisher = publisher.to_string();
        self.received
            .iter()
            .filter(|packet| {
                self.rtc.media(packet.mid).is_some_and(|media| {
                    media.kind() == kind && media.stream_id() == publisher.as_str()
                })
            })
            .count()
    }

    /// The m-lines on which packets from `publisher`'s tracks of `kind` arrived, each
    /// with how many.
    pub fn received_by_mid(&self, publisher: UserId, kind: MediaKind) -> HashMap<Mid, usize> {
        let publisher = publisher.to_string();
        let mut counts = HashMap::new();
        for packet in &self.received {
            let from = self.rtc.media(packet.mid).is_some_and(|media| {
                media.kind() == kind && media.stream_id() == publisher.as_str()
            });
            if from {
                *counts.entry(packet.mid).or_insert(0) += 1;
            }
        }
        counts
    }

    /// The m-line on which the client receives `publisher`'s track of `kind`.
    pub fn incoming_mid(&self, publisher: UserId, kind: MediaKind) -> Option<Mid> {
        let publisher = publisher.to_string();
        self.received.iter().map(|packet| packet.mid).find(|mid| {
            self.rtc.media(*mid).is_some_and(|media| {
                media.kind() == kind && media.stream_id() == publisher.as_str()
            })
        })
    }

    /// Sends one RTP packet on its published track of `kind` (audio at
    /// [`Self::audio_level`]) at `now`.
    pub fn send(&mut self, now: Instant, kind: MediaKind, payload: &[u8]) -> Result<(), SimError> {
        let mid = match kind {
            MediaKind::Audio => self.audio,
            MediaKind::Video => self.video,
        };
        self.send_on(now, mid.ok_or(SimError::CannotSend(kind))?, kind, payload)
    }

    /// Sends one video packet on its screen share at `now`.
    pub fn send_screen(&mut self, now: Instant, payload: &[u8]) -> Result<(), SimError> {
        let mid = self.screen.ok_or(SimError::CannotSend(MediaKind::Video))?;
        self.send_on(now, mid, MediaKind::Video, payload)
    }

    fn send_on(
        &mut self,
        now: Instant,
        mid: Mid,
        kind: MediaKind,
        payload: &[u8],
    ) -> Result<(), SimError> {
        let codec = match kind {
            MediaKind::Audio => Codec::Opus,
            MediaKind::Video => Codec::Vp8,
        };
        let pt = self.pt(codec).ok_or(SimError::CannotSend(kind))?;
        self.seq += 1;
        let exts = match kind {
            MediaKind::Audio => ExtensionValues {
                audio_level: Some(self.audio_level),
                voice_activity: Some(self.audio_level > -50),
                ..ExtensionValues::default()
            },
            MediaKind::Video => ExtensionValues::default(),
        };
        // 20 ms of audio (48 kHz) or one 30 fps frame (90 kHz) per packet.
        let step: u64 = if kind == MediaKind::Audio { 960 } else { 3000 };
        // RTP time wraps at 32 bits by definition.
        let time = u32::try_from(self.seq.wrapping_mul(step) & 0xffff_ffff).unwrap_or(0);
        let mut direct = self.rtc.direct_api();
        let stream = direct
            .stream_tx_by_mid(mid, None)
            .ok_or(SimError::CannotSend(kind))?;
        stream.write_rtp(
            RtpWrite::new(pt, SeqNo::from(self.seq), time, now, payload.to_vec())
                .marker(true)
                .ext_vals(exts)
                .nackable(kind == MediaKind::Video),
        );
        // Written packets wait in str0m's send queue until time is handled; sent
        // now, they leave at once, as a browser's would.
        self.drain()?;
        self.rtc.handle_input(Input::Timeout(now))?;
        self.drain()
    }

    /// Sends one frame of its simulcast camera on every layer: a keyframe where one
    /// was asked for (if it answers requests), and on the first frame.
    pub fn send_camera_frame(&mut self, now: Instant) -> Result<(), SimError> {
        let mid = self.video.ok_or(SimError::CannotSend(MediaKind::Video))?;
        let codec = self.camera_codec;
        let pt = self
            .pt(codec)
            .ok_or(SimError::CannotSend(MediaKind::Video))?;
        let first = self.frames == 0;
        self.frames += 1;
        let answers = self.answers_keyframe_requests;
        for (index, layer) in self.camera.iter_mut().enumerate() {
            let keyframe = first || (answers && layer.keyframe_wanted);
            if keyframe {
                layer.keyframe_wanted = false;
            }
            layer.seq += 1;
            // 30 frames a second at 90 kHz; RTP time wraps at 32 bits by definition.
            let time = layer
                .time_base
                .wrapping_add(u32::try_from((self.frames * 3000) & 0xffff_ffff).unwrap_or(0));
            let payload = match codec {
                Codec::H264 => h264_frame(index, keyframe),
                _ => vp8_frame(index, keyframe, layer.picture_id, layer.tl0_pic_idx),
            };
            // PictureID is 15 bits wide.
            layer.picture_id = (layer.picture_id + 1) % (1 << 15);
            layer.tl0_pic_idx = layer.tl0_pic_idx.wrapping_add(1);
            let mut direct = self.rtc.direct_api();
            let stream = direct
                .stream_tx_by_mid(mid, Some(layer.rid))
                .ok_or(SimError::CannotSend(MediaKind::Video))?;
            stream.write_rtp(
                RtpWrite::new(pt, SeqNo::from(layer.seq), time, now, payload)
                    .marker(true)
                    .nackable(true),
            );
        }
        self.drain()?;
        self.rtc.handle_input(Input::Timeout(now))?;
        self.drain()
    }

    /// Tells the SFU, on the signalling channel, the size it shows the video of its
    /// incoming m-line `mid` at.
    pub fn send_video_size(&mut self, mid: Mid, width: u32, height: u32) -> Result<(), SimError> {
        let message = serde_json::json!({
            "type": "video_size",
            "mid": mid.to_string(),
            "width": width,
            "height": height,
        })
        .to_string();
        if let Some(mut channel) = self.signalling.and_then(|id| self.rtc.channel(id)) {
            channel.write(false, message.as_bytes())?;
        }
        self.drain()
    }

    fn pt(&self, codec: Codec) -> Option<str0m::media::Pt> {
        self.rtc
            .codec_config()
            .find(|params| params.spec().codec == codec)
            .map(|params| params.pt())
    }

    /// Asks, as a decoder that lost a frame would, for a keyframe on the incoming
    /// m-line `mid`, then drains.
    pub fn request_keyframe(&mut self, mid: Mid) -> Result<(), SimError> {
        if let Some(stream) = self.rtc.direct_api().stream_rx_by_mid(mid, None) {
            stream.request_keyframe(KeyframeRequestKind::Pli);
        }
        self.drain()
    }

    /// Takes the datagrams the client has sent since the last call (the benchmark
    /// feeds them to the SFU itself).
    pub fn take_outgoing(&mut self) -> VecDeque<Vec<u8>> {
        std::mem::take(&mut self.outgoing)
    }

    /// Takes in a datagram from `source` at `now` (the benchmark delivers the SFU's
    /// datagrams itself, to time the core apart from its clients).
    pub fn receive(
        &mut self,
        now: Instant,
        source: SocketAddr,
        datagram: &[u8],
    ) -> Result<(), SimError> {
        let receive = Receive::new(Protocol::Udp, source, self.addr, datagram)?;
        self.rtc.handle_input(Input::Receive(now, receive))?;
        self.drain()
    }

    /// When the client's session next wants [`Self::handle_timeout`].
    pub fn next_timeout(&self) -> Instant {
        self.timeout
    }

    /// Lets time pass to `now`, if its deadline has come.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), SimError> {
        if self.timeout <= now {
            self.rtc.handle_input(Input::Timeout(now))?;
            self.drain()?;
        }
        Ok(())
    }

    fn drain(&mut self) -> Result<(), SimError> {
        loop {
            match self.rtc.poll_output()? {
                Output::Timeout(at) => {
                    self.timeout = at;
                    return Ok(());
                }
                Output::Transmit(transmit) => self.outgoing.push_back(transmit.contents.to_vec()),
                Output::Event(event) => self.handle_event(event)?,
            }
        }
    }

    fn handle_event(&mut self, event: Event) -> Result<(), SimError> {
        match event {
            Event::Connected => self.connected = true,
            Event::ChannelOpen(id, label) if label == SIGNALLING_LABEL => {
                self.signalling = Some(id);
            }
            Event::ChannelData(data) if Some(data.id) == self.signalling => {
                // The SFU offers; the client answers, as a browser's script would.
                let Ok(message) = serde_json::from_slice::<serde_json::Value>(&data.data) else {
                    return Ok(());
                };
                if message["type"] != "offer" {
                    self.notices.push(message);
                } else if let Ok(offer) = serde_json::from_value::<SdpOffer>(message) {
                    let answer = self.rtc.sdp_api().accept_offer(offer)?;
                    let json = answer.to_sdp_string();
                    let json = serde_json::json!({"type": "answer", "sdp": json}).to_string();
                    if let Some(mut channel) = self.rtc.channel(data.id) {
                        channel.write(false, json.as_bytes())?;
                    }
                }
            }
            Event::RtpPacket(packet) => {
                let mid = self
                    .rtc
                    .direct_api()
                    .stream_rx(&packet.header.ssrc)
                    .map(|stream| stream.mid());
                if let Some(mid) = mid {
                    self.received.push(Received {
                        mid,
                        audio_level: packet.header.ext_vals.audio_level,
                        seq_no: *packet.seq_no,
                        rtp_time: packet.header.timestamp,
                        at: packet.timestamp,
                        payload: packet.payload,
                    });
                }
            }
            Event::KeyframeRequest(request) => {
                self.keyframe_requests
                    .push((request.mid, request.rid, request.kind));
                let layer = self
                    .camera
                    .iter_mut()
                    .find(|layer| Some(layer.rid) == request.rid);
                if let Some(layer) = layer {
                    layer.keyframe_wanted = true;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// What a joining client publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Publish {
    /// A microphone.
    pub audio: bool,
    /// A camera.
    pub video: bool,
    /// A screen share (a second video track).
    pub screen: bool,
    /// The camera in simulcast: the [`LAYERS`] (see [`Client::send_camera_frame`]).
    pub simulcast: bool,
}

impl Publish {
    /// Microphone and camera.
    pub const BOTH: Self = Self {
        audio: true,
        video: true,
        screen: false,
        simulcast: false,
    };
    /// A simulcast camera and no microphone.
    pub const SIMULCAST_CAMERA: Self = Self {
        audio: false,
        video: true,
        screen: false,
        simulcast: true,
    };
    /// A camera alone: no microphone, one layer.
    pub const CAMERA: Self = Self {
        audio: false,
        video: true,
        screen: false,
        simulcast: false,
    };
    /// Nothing (a listener).
    pub const NOTHING: Self = Self {
        audio: false,
        video: false,
        screen: false,
        simulcast: false,
    };
}

/// The SFU and its clients; see the module docs.
pub struct Network {
    /// The SFU under test.
    pub sfu: Sfu,
    clients: Vec<Option<Client>>,
    by_addr: HashMap<SocketAddr, ClientId>,
    downlinks: HashMap<ClientId, Downlink>,
    /// Datagrams on capped downlinks: when each arrives, where, from where.
    in_flight: Vec<(Instant, ClientId, SocketAddr, Vec<u8>)>,
}

/// A client's downlink of limited capacity: a FIFO that sends one datagram after
/// the other and drops what would wait longer than [`DOWNLINK_QUEUE`].
#[derive(Debug)]
struct Downlink {
    capacity: Bitrate,
    /// When the last datagram queued will have left.
    free_at: Instant,
}

impl Network {
    /// A network around `sfu`, with no clients yet.
    pub fn new(sfu: Sfu) -> Self {
        Self {
            sfu,
            clients: Vec::new(),
            by_addr: HashMap::new(),
            downlinks: HashMap::new(),
            in_flight: Vec::new(),
        }
    }

    /// Limits what the SFU can send client `id` per second (`None`: no limit), from
    /// `now` on.
    pub fn set_downlink(&mut self, id: ClientId, capacity: Option<Bitrate>, now: Instant) {
        match capacity {
            Some(capacity) => {
                self.downlinks.insert(
                    id,
                    Downlink {
                        capacity,
                        free_at: now,
                    },
                );
            }
            None => {
                self.downlinks.remove(&id);
            }
        }
    }

    /// A new client of `who` offering to join and publish `publish`; the SFU answers
    /// at once (as the signalling endpoint would).
    pub fn join(
        &mut self,
        now: Instant,
        who: Participant,
        publish: Publish,
    ) -> Result<ClientId, SimError> {
        let id = ClientId(self.clients.len());
        let index = u32::try_from(id.0).unwrap_or(u32::MAX);
        // 10.0.0.0/8 from the client index: unique, valid host candidates.
        let addr = SocketAddr::from((Ipv4Addr::from(0x0a00_0000 | (index + 1)), 5000));
        let mut rtc = Rtc::builder()
            .set_rtp_mode(true)
            .clear_codecs()
            .enable_opus(true, false)
            .enable_vp8(true)
            .enable_h264(true)
            .build(now);
        if let Ok(candidate) = Candidate::host(addr, "udp") {
            rtc.add_local_candidate(candidate);
        }
        let mut change = rtc.sdp_api();
        let audio = publish
            .audio
            .then(|| change.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None));
        let simulcast = publish.simulcast.then(|| {
            let mut simulcast = Simulcast::new();
            for (rid, ..) in LAYERS {
                simulcast.add_send_layer(SimulcastLayer::new(rid));
            }
            simulcast
        });
        let video = publish.video.then(|| {
            change.add_media(MediaKind::Video, Direction::SendOnly, None, None, simulcast)
        });
        let screen = publish
            .screen
            .then(|| change.add_media(MediaKind::Video, Direction::SendOnly, None, None, None));
        change.add_channel(SIGNALLING_LABEL.to_owned());
        let (offer, pending): (SdpOffer, SdpPendingOffer) = change
            .apply()
            .ok_or(SimError::CannotSend(MediaKind::Audio))?;
        let (peer, answer) = self.sfu.join(now, who, offer)?;
        rtc.sdp_api().accept_answer(pending, answer)?;
        let mut client = Client {
            rtc,
            addr,
            peer,
            audio,
            video,
            screen,
            received: Vec::new(),
            keyframe_requests: Vec::new(),
            answers_keyframe_requests: true,
            camera_codec: Codec::Vp8,
            audio_level: -20,
            notices: Vec::new(),
            signalling: None,
            seq: 0,
            camera: if publish.simulcast {
                LAYERS
                    .iter()
                    .zip(1u32..)
                    .map(|((rid, ..), n)| CameraLayer {
                        rid: Rid::from(*rid),
                        seq: u64::from(n) * 10_000,
                        time_base: n.wrapping_mul(0x1234_5678),
                        // Far apart, and h's 15-bit PictureID wraps after 268
                        // frames, f's TL0PICIDX after 16.
                        picture_id: u16::try_from((n * 15_000 + 2_500) % (1 << 15)).unwrap_or(0),
                        tl0_pic_idx: u8::try_from(n * 80).unwrap_or(0),
                        keyframe_wanted: false,
                    })
                    .collect()
            } else {
                Vec::new()
            },
            frames: 0,
            timeout: now,
            outgoing: VecDeque::new(),
            connected: false,
        };
        client.drain()?;
        self.clients.push(Some(client));
        self.by_addr.insert(addr, id);
        Ok(id)
    }

    /// The client `id`, unless it was dropped.
    pub fn client(&self, id: ClientId) -> Option<&Client> {
        self.clients.get(id.0).and_then(Option::as_ref)
    }

    /// The client `id`, mutably.
    pub fn client_mut(&mut self, id: ClientId) -> Option<&mut Client> {
        self.clients.get_mut(id.0).and_then(Option::as_mut)
    }

    /// Drops client `id` without a goodbye (a closed tab): the SFU notices on its own.
    pub fn drop_client(&mut self, id: ClientId) {
        if let Some(slot) = self.clients.get_mut(id.0) {
            *slot = None;
        }
    }

    /// The earliest deadline of the SFU and the clients.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.clients
            .iter()
            .flatten()
            .map(|client| client.timeout)
            .chain(self.sfu.poll_timeout())
            .chain(self.in_flight.iter().map(|(at, ..)| *at))
            .min()
    }

    /// Handles every deadline up to `now`, then delivers datagrams until none is in
    /// flight.
    pub fn step(&mut self, now: Instant) -> Result<(), SimError> {
        if self.sfu.poll_timeout().is_some_and(|at| at <= now) {
            self.sfu.handle_timeout(now);
        }
        for client in self.clients.iter_mut().flatten() {
            client.handle_timeout(now)?;
        }
        self.deliver(now)
    }

    /// Delivers datagrams both ways until none is in flight.
    pub fn deliver(&mut self, now: Instant) -> Result<(), SimError> {
        loop {
            let mut moved = false;
            while let Some(transmit) = self.sfu.poll_transmit() {
                moved = true;
                let Some(id) = self.by_addr.get(&transmit.destination).copied() else {
                    continue;
                };
                if let Some(link) = self.downlinks.get_mut(&id) {
                    let start = link.free_at.max(now);
                    if start - now > DOWNLINK_QUEUE {
                        continue;
                    }
                    let bits = transmit.contents.len() as u64 * 8;
                    let micros = bits * 1_000_000 / link.capacity.as_u64().max(1);
                    link.free_at = start + Duration::from_micros(micros);
                    self.in_flight.push((
                        link.free_at,
                        id,
                        transmit.source,
                        transmit.contents.to_vec(),
                    ));
                    continue;
                }
                if let Some(client) = self.clients.get_mut(id.0).and_then(Option::as_mut) {
                    client.receive(now, transmit.source, &transmit.contents)?;
                }
            }
            // In queue order, which is arrival order on each link.
            let mut index = 0;
            while index < self.in_flight.len() {
                if self.in_flight[index].0 > now {
                    index += 1;
                    continue;
                }
                moved = true;
                let (_, id, source, datagram) = self.in_flight.remove(index);
                if let Some(client) = self.clients.get_mut(id.0).and_then(Option::as_mut) {
                    client.receive(now, source, &datagram)?;
                }
            }
            for client in self.clients.iter_mut().flatten() {
                while let Some(datagram) = client.outgoing.pop_front() {
                    moved = true;
                    // What the SFU refuses is counted in its metrics; tests check those.
                    let _refused = self.sfu.handle_datagram(now, client.addr, &datagram);
                }
            }
            if !moved {
                return Ok(());
            }
        }
    }

    /// Runs the simulated clock from `*now` for `duration`, jumping from deadline to
    /// deadline (at least 1 ms at a time, so a deadline in the past cannot stall it).
    pub fn run_for(&mut self, now: &mut Instant, duration: Duration) -> Result<(), SimError> {
        let end = *now + duration;
        while *now < end {
            let next = self
                .next_deadline()
                .unwrap_or(end)
                .max(*now + Duration::from_millis(1))
                .min(end);
            *now = next;
            self.step(next)?;
        }
        Ok(())
    }
}

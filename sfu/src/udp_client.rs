//! [`UdpClient`]: a str0m client on a real loopback UDP socket, for tests that talk
//! to a running SFU (the signalling tests, and the dev stack's voice tests) where
//! [`crate::sim`]'s in-memory network does not reach.
//!
//! It offers audio, video and the [`SIGNALLING_LABEL`] data channel like a browser,
//! takes the SFU's answer, and completes ICE and DTLS in real time. Dropping it is a
//! peer that vanishes without a word.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::media::{Direction, MediaKind};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc, RtcError};
use tokio::net::UdpSocket;

use crate::core::SIGNALLING_LABEL;

/// Why the client could not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum UdpClientError {
    /// The socket failed.
    #[error("the client's UDP socket failed")]
    Io(#[from] io::Error),
    /// The client's session failed.
    #[error("the client's session failed")]
    Rtc(#[from] RtcError),
    /// The SFU sent something that is not an SDP answer, or a datagram that is not
    /// WebRTC.
    #[error("the SFU's answer or datagram is invalid")]
    Invalid,
}

/// A WebRTC client over loopback UDP; see the module docs.
pub struct UdpClient {
    rtc: Rtc,
    socket: UdpSocket,
    pending: Option<SdpPendingOffer>,
}

impl UdpClient {
    /// A client on a fresh loopback port and its SDP offer.
    pub async fn offer() -> Result<(Self, String), UdpClientError> {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let mut rtc = Rtc::builder().set_rtp_mode(true).build(Instant::now());
        let candidate =
            Candidate::host(socket.local_addr()?, "udp").map_err(|_| UdpClientError::Invalid)?;
        rtc.add_local_candidate(candidate);
        let mut change = rtc.sdp_api();
        change.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
        change.add_media(MediaKind::Video, Direction::SendOnly, None, None, None);
        change.add_channel(SIGNALLING_LABEL.to_owned());
        let (offer, pending) = change.apply().ok_or(UdpClientError::Invalid)?;
        let client = Self {
            rtc,
            socket,
            pending: Some(pending),
        };
        Ok((client, offer.to_sdp_string()))
    }

    /// The client's socket (to send it garbage from, say).
    pub fn socket(&self) -> &UdpSocket {
        &self.socket
    }

    /// Applies the SFU's SDP answer to the offer.
    pub fn accept_answer(&mut self, sdp: &str) -> Result<(), UdpClientError> {
        let answer = SdpAnswer::from_sdp_string(sdp).map_err(|_| UdpClientError::Invalid)?;
        let pending = self.pending.take().ok_or(UdpClientError::Invalid)?;
        self.rtc.sdp_api().accept_answer(pending, answer)?;
        Ok(())
    }

    /// Drives the session until it connects (`true`) or `within` passes (`false`).
    pub async fn connect(&mut self, within: Duration) -> Result<bool, UdpClientError> {
        let addr = self.socket.local_addr()?;
        let deadline = Instant::now() + within;
        let mut connected = false;
        let mut buffer = vec![0u8; 2048];
        while !connected && Instant::now() < deadline {
            let timeout = loop {
                match self.rtc.poll_output()? {
                    Output::Timeout(at) => break at,
                    Output::Transmit(transmit) => {
                        self.socket
                            .send_to(&transmit.contents, transmit.destination)
                            .await?;
                    }
                    Output::Event(Event::Connected) => connected = true,
                    Output::Event(_) => {}
                }
            };
            let wait = timeout
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1));
            match tokio::time::timeout(wait, self.socket.recv_from(&mut buffer)).await {
                Ok(received) => {
                    let (len, source) = received?;
                    self.receive(source, addr, &buffer[..len])?;
                }
                Err(_) => self.rtc.handle_input(Input::Timeout(Instant::now()))?,
            }
        }
        Ok(connected)
    }

    fn receive(
        &mut self,
        source: SocketAddr,
        destination: SocketAddr,
        datagram: &[u8],
    ) -> Result<(), UdpClientError> {
        let receive = Receive::new(Protocol::Udp, source, destination, datagram)
            .map_err(|_| UdpClientError::Invalid)?;
        self.rtc
            .handle_input(Input::Receive(Instant::now(), receive))?;
        Ok(())
    }
}

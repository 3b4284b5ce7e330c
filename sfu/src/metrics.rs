//! [`Metrics`]: the SFU's Prometheus metrics, registered in the service's registry
//! (served on the admin port's `/metrics`, prefixed `cloudcord_`).
//!
//! The handles are shared atomics, so the core updates them in place on its hot path
//! at the cost of one relaxed add per forwarded packet. Round-trip time and loss come
//! from str0m's per-peer statistics, every [`crate::core::STATS_INTERVAL`]. Layer
//! switches count each subscriber moving to another simulcast layer of a track.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};
use str0m::stats::PeerStats;

/// Why a datagram was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// Not a WebRTC datagram.
    Malformed,
    /// For no known peer.
    Unroutable,
    /// The peer's session refused it.
    Refused,
    /// Its shard's queue was full (the core is behind).
    Overloaded,
}

impl Refusal {
    /// The `reason` label.
    fn label(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::Unroutable => "unroutable",
            Self::Refused => "refused",
            Self::Overloaded => "overloaded",
        }
    }
}

/// What became of a voice state correction or a session record (see
/// [`crate::voice_state`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Appended to its topic (`commands`, `voice-sessions`).
    Appended,
    /// Kafka did not take it in time.
    Failed,
    /// Its queue was full.
    Dropped,
}

impl Outcome {
    /// The `outcome` label.
    fn label(self) -> &'static str {
        match self {
            Self::Appended => "appended",
            Self::Failed => "failed",
            Self::Dropped => "dropped",
        }
    }
}

/// Which way a subscriber moved between the simulcast layers of a track.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LayerSwitch {
    /// To a higher layer (more bandwidth, or a larger size asked for).
    Up,
    /// To a lower one.
    Down,
}

impl LayerSwitch {
    /// The `direction` label.
    fn label(self) -> &'static str {
        match self {
            Self::Up => "up",
            Self::Down => "down",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RefusalLabels {
    reason: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct DirectionLabels {
    /// `ingress` (client → SFU) or `egress` (SFU → client) for loss; `up` or `down`
    /// for layer switches.
    direction: &'static str,
}

/// The SFU's metrics; see the module docs.
#[derive(Debug, Clone)]
pub struct Metrics {
    rooms: Gauge,
    peers: Gauge,
    forwarded_packets: Counter,
    forwarded_bytes: Counter,
    refused_datagrams: Family<RefusalLabels, Counter>,
    layer_switches: Family<DirectionLabels, Counter>,
    voice_state_corrections: Family<OutcomeLabels, Counter>,
    voice_session_records: Family<OutcomeLabels, Counter>,
    rtt: Histogram,
    loss: Family<DirectionLabels, Histogram>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            rooms: Gauge::default(),
            peers: Gauge::default(),
            forwarded_packets: Counter::default(),
            forwarded_bytes: Counter::default(),
            refused_datagrams: Family::default(),
            layer_switches: Family::default(),
            voice_state_corrections: Family::default(),
            voice_session_records: Family::default(),
            // 1 ms to ~1 s: loopback to a bad mobile link.
            rtt: Histogram::new(exponential_buckets(0.001, 2.0, 11)),
            // Fractions: none, then 0.1% to ~50%; 1% is where calls start to suffer.
            loss: Family::new_with_constructor(|| {
                Histogram::new([0.0, 0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5])
            }),
        }
    }
}

impl Metrics {
    /// Registers the metrics in `registry`.
    pub fn register(&self, registry: &mut Registry) {
        let sfu = registry.sub_registry_with_prefix("sfu");
        sfu.register(
            "rooms",
            "Voice channels with at least one peer",
            self.rooms.clone(),
        );
        sfu.register("peers", "Connected or connecting peers", self.peers.clone());
        sfu.register(
            "forwarded_packets",
            "RTP packets forwarded to subscribers",
            self.forwarded_packets.clone(),
        );
        sfu.register_with_unit(
            "forwarded_payload",
            "RTP payload forwarded to subscribers",
            Unit::Bytes,
            self.forwarded_bytes.clone(),
        );
        sfu.register(
            "refused_datagrams",
            "Datagrams dropped, by reason",
            self.refused_datagrams.clone(),
        );
        sfu.register(
            "layer_switches",
            "Subscribers moved to another simulcast layer of a track, by direction",
            self.layer_switches.clone(),
        );
        sfu.register(
            "voice_state_corrections",
            "Voice states cleared after a dropped connection, by outcome",
            self.voice_state_corrections.clone(),
        );
        sfu.register(
            "voice_session_records",
            "Media sessions' openings and ends recorded for a restart, by outcome",
            self.voice_session_records.clone(),
        );
        sfu.register_with_unit(
            "peer_rtt",
            "Round-trip time to each peer, sampled every stats interval",
            Unit::Seconds,
            self.rtt.clone(),
        );
        sfu.register(
            "peer_loss_ratio",
            "Fraction of packets lost per peer and direction, sampled every stats interval",
            self.loss.clone(),
        );
    }

    /// Records one peer's periodic statistics.
    pub(crate) fn peer_stats(&self, stats: &PeerStats) {
        if let Some(rtt) = stats.rtt {
            self.rtt.observe(rtt.as_secs_f64());
        }
        for (direction, loss) in [
            ("ingress", stats.ingress_loss_fraction),
            ("egress", stats.egress_loss_fraction),
        ] {
            if let Some(loss) = loss {
                self.loss
                    .get_or_create(&DirectionLabels { direction })
                    .observe(f64::from(loss));
            }
        }
    }

    /// A room got its first peer. (Gauges move by steps, not absolute values: each
    /// shard of a process counts its own rooms and peers into the same gauges.)
    pub(crate) fn room_opened(&self) {
        self.rooms.inc();
    }

    /// A room lost its last peer.
    pub(crate) fn room_closed(&self) {
        self.rooms.dec();
    }

    /// A peer joined.
    pub(crate) fn peer_joined(&self) {
        self.peers.inc();
    }

    /// A peer left.
    pub(crate) fn peer_left(&self) {
        self.peers.dec();
    }

    /// Counts one forwarded packet of `bytes` payload bytes.
    pub(crate) fn forwarded(&self, bytes: usize) {
        self.forwarded_packets.inc();
        self.forwarded_bytes.inc_by(bytes as u64);
    }

    /// Counts one dropped datagram.
    pub(crate) fn refused(&self, reason: Refusal) {
        self.refused_datagrams
            .get_or_create(&RefusalLabels {
                reason: reason.label(),
            })
            .inc();
    }

    /// Counts one subscriber moving between simulcast layers.
    pub(crate) fn layer_switched(&self, switch: LayerSwitch) {
        self.layer_switches
            .get_or_create(&DirectionLabels {
                direction: switch.label(),
            })
            .inc();
    }

    /// Counts one voice state correction.
    pub(crate) fn correction(&self, outcome: Outcome) {
        self.voice_state_corrections
            .get_or_create(&OutcomeLabels {
                outcome: outcome.label(),
            })
            .inc();
    }

    /// Counts one record of a session's opening or end.
    pub(crate) fn session_record(&self, outcome: Outcome) {
        self.voice_session_records
            .get_or_create(&OutcomeLabels {
                outcome: outcome.label(),
            })
            .inc();
    }

    /// Forwarded packets so far (for the benchmark and tests).
    pub fn forwarded_packets(&self) -> u64 {
        self.forwarded_packets.get()
    }

    /// Layer switches in `direction` so far.
    pub fn layer_switches(&self, direction: LayerSwitch) -> u64 {
        self.layer_switches
            .get_or_create(&DirectionLabels {
                direction: direction.label(),
            })
            .get()
    }

    /// Dropped datagrams of `reason` so far.
    pub fn refused_datagrams(&self, reason: Refusal) -> u64 {
        self.refused_datagrams
            .get_or_create(&RefusalLabels {
                reason: reason.label(),
            })
            .get()
    }
}

#[cfg(test)]
mod tests {
    use prometheus_client::encoding::text::encode;
    use prometheus_client::registry::Registry;

    use super::{LayerSwitch, Metrics, Refusal};

    #[test]
    fn metrics_are_exposed_with_base_units_and_the_service_prefix() {
        let metrics = Metrics::default();
        let mut registry = Registry::with_prefix("cloudcord");
        metrics.register(&mut registry);
        for _ in 0..2 {
            metrics.room_opened();
        }
        for _ in 0..6 {
            metrics.peer_joined();
        }
        metrics.peer_left();
        metrics.forwarded(1200);
        metrics.refused(Refusal::Unroutable);
        metrics.layer_switched(LayerSwitch::Down);
        let mut text = String::new();
        encode(&mut text, &registry).expect("encodes");
        for line in [
            "cloudcord_sfu_rooms 2",
            "cloudcord_sfu_peers 5",
            "cloudcord_sfu_forwarded_packets_total 1",
            "cloudcord_sfu_forwarded_payload_bytes_total 1200",
            "cloudcord_sfu_refused_datagrams_total{reason=\"unroutable\"} 1",
            "cloudcord_sfu_layer_switches_total{direction=\"down\"} 1",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing from:\n{text}"
            );
        }
    }
}

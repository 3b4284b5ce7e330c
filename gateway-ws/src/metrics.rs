//! The gateway's Prometheus metrics (prefixed `cloudcord_` by the service's
//! registry). Cheap to clone: every clone updates the same values.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::protocol::close_code::CloseCode;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabel {
    code: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

/// What a `projected` record came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordOutcome {
    /// Routed to the sessions it concerns (possibly none).
    Routed,
    /// Another store's record, or an aggregate the gateway does not follow.
    Ignored,
    /// Not a valid event envelope.
    Invalid,
}

/// What a Resume came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResumeOutcome {
    /// Resumed on the process that held the session.
    Resumed,
    /// Resumed after taking the session over from another process (or from
    /// before a restart).
    TakenOver,
    /// No process holds the session (Invalid Session, `d: false`).
    Unknown,
    /// The session could not be asked for (Invalid Session, `d: true`).
    Unreachable,
    /// The `seq` could not be replayed from (4007).
    InvalidSeq,
    /// The token is not the session owner's (4004).
    NotOwner,
}

impl ResumeOutcome {
    fn label(self) -> &'static str {
        match self {
            Self::Resumed => "resumed",
            Self::TakenOver => "taken_over",
            Self::Unknown => "unknown",
            Self::Unreachable => "unreachable",
            Self::InvalidSeq => "invalid_seq",
            Self::NotOwner => "not_owner",
        }
    }
}

/// Every metric of a gateway process.
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    /// Open WebSocket connections.
    pub connections: Gauge,
    /// Sessions held, connected or waiting to be resumed.
    pub sessions: Gauge,
    /// Frames numbered for attached connections (dispatches after filtering).
    pub frames: Counter,
    /// Connections closed for falling too far behind (slow clients).
    pub overflows: Counter,
    closes: Family<CodeLabel, Counter>,
    records: Family<OutcomeLabel, Counter>,
    resumes: Family<OutcomeLabel, Counter>,
}

impl Metrics {
    /// Registers these metrics in `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "gateway_connections",
            "Open gateway WebSocket connections",
            self.connections.clone(),
        );
        registry.register(
            "gateway_sessions",
            "Gateway sessions held, connected or resumable",
            self.sessions.clone(),
        );
        registry.register(
            "gateway_frames",
            "Dispatch frames queued to connections",
            self.frames.clone(),
        );
        registry.register(
            "gateway_queue_overflows",
            "Connections closed because a slow client's queue overflowed",
            self.overflows.clone(),
        );
        registry.register(
            "gateway_closes",
            "Connections the gateway closed, by close code",
            self.closes.clone(),
        );
        registry.register(
            "gateway_projected_records",
            "Records read from the projected topic, by outcome",
            self.records.clone(),
        );
        registry.register(
            "gateway_resumes",
            "Resumes, by outcome (resumed, taken_over, unknown, unreachable, invalid_seq, not_owner)",
            self.resumes.clone(),
        );
    }

    /// The gateway closed a connection with `code`.
    pub fn closed(&self, code: CloseCode) {
        self.closes
            .get_or_create(&CodeLabel { code: code.code() })
            .inc();
    }

    /// A `projected` record came to `outcome`.
    pub fn record(&self, outcome: RecordOutcome) {
        let outcome = match outcome {
            RecordOutcome::Routed => "routed",
            RecordOutcome::Ignored => "ignored",
            RecordOutcome::Invalid => "invalid",
        };
        self.records.get_or_create(&OutcomeLabel { outcome }).inc();
    }

    /// A Resume came to `outcome`.
    pub fn resumed(&self, outcome: ResumeOutcome) {
        self.resumes
            .get_or_create(&OutcomeLabel {
                outcome: outcome.label(),
            })
            .inc();
    }

    /// How many Resumes came to `outcome`.
    pub fn resumes(&self, outcome: ResumeOutcome) -> u64 {
        self.resumes
            .get_or_create(&OutcomeLabel {
                outcome: outcome.label(),
            })
            .get()
    }
}

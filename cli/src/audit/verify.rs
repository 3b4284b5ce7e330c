//! `cloudcord audit verify`: the offline check of an export's hash chains.
//!
//! The [`Verifier`] is fed one line at a time and keeps, per aggregate, only the
//! last `seq` and the hash of the last line, so a file of any size is checked in
//! constant memory per aggregate. It stops at the first break: everything after a
//! break is unverifiable (its chain no longer reaches the aggregate's first event).

use std::collections::BTreeMap;
use std::fmt;
use std::io::BufRead;

use cloudcord_schemas::envelope::{AggregateRef, EventEnvelope, EventHash, event_id};

/// The first place where an export stops being a gap-free, hash-chained history.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {kind}")]
pub struct ChainBreak {
    /// 1-based line number in the file.
    pub line: u64,
    /// What is wrong there.
    pub kind: BreakKind,
}

/// The kinds of break, each naming what was expected and what was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BreakKind {
    /// The line is not an event envelope.
    Undecodable {
        /// The decoder's message.
        error: String,
    },
    /// The `seq` is not the previous one of its aggregate plus one (1 for its first).
    Seq {
        /// The aggregate.
        aggregate: AggregateRef,
        /// The seq the history needed.
        expected: u64,
        /// The seq the line carries.
        found: u64,
    },
    /// The `prev_hash` is not the hash of the aggregate's previous line.
    PrevHash {
        /// The aggregate.
        aggregate: AggregateRef,
        /// The seq of the line whose link is wrong.
        seq: u64,
        /// The hash of the previous line's bytes (`None` for `seq` 1).
        expected: Option<EventHash>,
        /// The `prev_hash` the line carries.
        found: Option<EventHash>,
    },
    /// The `event_id` is not the one derived from the aggregate and `seq`.
    EventId {
        /// The aggregate.
        aggregate: AggregateRef,
        /// The seq of the line.
        seq: u64,
        /// `event_id(aggregate, seq)`.
        expected: uuid::Uuid,
        /// The id the line carries.
        found: uuid::Uuid,
    },
}

/// An aggregate as `guild 42`, the way people name it.
struct Named(AggregateRef);

impl fmt::Display for Named {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.0.kind.as_str(), self.0.id)
    }
}

/// A hash or `none`, for `prev_hash` values.
struct Link<'a>(&'a Option<EventHash>);

impl fmt::Display for Link<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_ref().map_or("none", EventHash::as_str))
    }
}

impl fmt::Display for BreakKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Undecodable { error } => write!(f, "not an event envelope: {error}"),
            Self::Seq {
                aggregate,
                expected,
                found,
            } => write!(
                f,
                "{}: expected seq {expected}, found seq {found}",
                Named(*aggregate)
            ),
            Self::PrevHash {
                aggregate,
                seq,
                expected,
                found,
            } => write!(
                f,
                "{} seq {seq}: expected prev_hash {}, found {}",
                Named(*aggregate),
                Link(expected),
                Link(found)
            ),
            Self::EventId {
                aggregate,
                seq,
                expected,
                found,
            } => write!(
                f,
                "{} seq {seq}: expected event_id {expected}, found {found}",
                Named(*aggregate)
            ),
        }
    }
}

/// Why a file could not be verified.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// Reading the file failed.
    #[error("cannot read the export")]
    Io(#[from] std::io::Error),
    /// The chain breaks.
    #[error(transparent)]
    Break(#[from] ChainBreak),
}

/// Where one aggregate's verified history ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    /// The last verified seq (also the number of its events).
    pub seq: u64,
    /// The hash of its last line: what its next event's `prev_hash` must be, and what
    /// an auditor compares with a trusted copy to rule out a truncated tail.
    pub hash: EventHash,
}

/// What a successful verification covered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verified {
    /// Lines (events) checked.
    pub events: u64,
    /// Each aggregate's head, by aggregate.
    pub aggregates: BTreeMap<AggregateRef, ChainHead>,
}

/// Checks an export line by line; see the [module docs](super) for the rules.
#[derive(Debug, Default)]
pub struct Verifier {
    lines: u64,
    verified: Verified,
}

impl Verifier {
    /// A verifier that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Checks the next line: `record` is its bytes without the final `\n`.
    pub fn push(&mut self, record: &[u8]) -> Result<(), ChainBreak> {
        self.lines += 1;
        let line = self.lines;
        let at = |kind| ChainBreak { line, kind };
        let envelope: EventEnvelope<serde_json::Value> =
            serde_json::from_slice(record).map_err(|error| {
                at(BreakKind::Undecodable {
                    error: error.to_string(),
                })
            })?;
        let aggregate = envelope.aggregate;
        let head = self.verified.aggregates.get(&aggregate);
        let expected_seq = head.map_or(1, |head| head.seq + 1);
        if envelope.seq != expected_seq {
            return Err(at(BreakKind::Seq {
                aggregate,
                expected: expected_seq,
                found: envelope.seq,
            }));
        }
        let expected_hash = head.map(|head| head.hash.clone());
        if envelope.prev_hash != expected_hash {
            return Err(at(BreakKind::PrevHash {
                aggregate,
                seq: envelope.seq,
                expected: expected_hash,
                found: envelope.prev_hash,
            }));
        }
        let expected_id = event_id(aggregate, envelope.seq);
        if envelope.event_id != expected_id {
            return Err(at(BreakKind::EventId {
                aggregate,
                seq: envelope.seq,
                expected: expected_id,
                found: envelope.event_id,
            }));
        }
        self.verified.aggregates.insert(
            aggregate,
            ChainHead {
                seq: envelope.seq,
                hash: EventHash::of_record(record),
            },
        );
        self.verified.events += 1;
        Ok(())
    }

    /// What was verified so far.
    pub fn finish(self) -> Verified {
        self.verified
    }
}

/// Verifies a whole export read from `input`.
///
/// Lines are split on `\n` only and hashed exactly as they are (a `\r` stays part of
/// its line), because the hash covers the record's bytes, not its meaning.
pub fn verify(mut input: impl BufRead) -> Result<Verified, VerifyError> {
    let mut verifier = Verifier::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            return Ok(verifier.finish());
        }
        let record = line.strip_suffix(b"\n").unwrap_or(&line);
        verifier.push(record)?;
    }
}

#[cfg(test)]
mod tests {
    use cloudcord_schemas::envelope::{AggregateRef, AggregateType, EventHash, event_id};
    use cloudcord_schemas::ids::Snowflake;
    use serde_json::json;

    use super::{BreakKind, ChainBreak, Verifier, verify};

    fn guild() -> AggregateRef {
        AggregateRef {
            kind: AggregateType::Guild,
            id: Snowflake::new(10),
        }
    }

    fn user() -> AggregateRef {
        AggregateRef {
            kind: AggregateType::User,
            id: Snowflake::new(20),
        }
    }

    /// The record of event `seq` of `aggregate`, linked to `prev`.
    fn record(aggregate: AggregateRef, seq: u64, prev: Option<&[u8]>, name: &str) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "event_id": event_id(aggregate, seq),
            "aggregate_type": aggregate.kind,
            "aggregate_id": aggregate.id,
            "seq": seq,
            "prev_hash": prev.map(EventHash::of_record),
            "command_id": format!("c{seq}"),
            "actor": {"type": "system"},
            "occurred_at": "2025-03-01T12:00:00Z",
            "envelope_version": 1,
            "event_version": 1,
            "event": {"type": "GuildUpdated", "name": name},
        }))
        .expect("JSON")
    }

    /// A chain of `count` records of `aggregate`.
    fn history(aggregate: AggregateRef, count: u64) -> Vec<Vec<u8>> {
        let mut records: Vec<Vec<u8>> = Vec::new();
        for seq in 1..=count {
            let prev = records.last().map(Vec::as_slice);
            let next = record(aggregate, seq, prev, &format!("name {seq}"));
            records.push(next);
        }
        records
    }

    /// Feeds `lines` to a verifier; the first break, if any.
    fn check(lines: &[Vec<u8>]) -> Result<super::Verified, ChainBreak> {
        let mut verifier = Verifier::new();
        for line in lines {
            verifier.push(line)?;
        }
        Ok(verifier.finish())
    }

    #[test]
    fn interleaved_histories_of_two_aggregates_verify_separately() {
        let (g, u) = (history(guild(), 3), history(user(), 2));
        let lines = [&g[0], &u[0], &g[1], &u[1], &g[2]].map(Clone::clone);
        let verified = check(&lines).expect("intact");
        assert_eq!(verified.events, 5);
        assert_eq!(verified.aggregates[&guild()].seq, 3);
        assert_eq!(
            verified.aggregates[&guild()].hash,
            EventHash::of_record(&g[2])
        );
        assert_eq!(verified.aggregates[&user()].seq, 2);
    }

    #[test]
    fn a_history_must_start_at_seq_1() {
        let lines = history(guild(), 3);
        assert_eq!(
            check(&lines[1..]),
            Err(ChainBreak {
                line: 1,
                kind: BreakKind::Seq {
                    aggregate: guild(),
                    expected: 1,
                    found: 2,
                },
            })
        );
    }

    #[test]
    fn the_first_event_has_no_prev_hash() {
        let linked = record(guild(), 1, Some(b"something before"), "x");
        assert_eq!(
            check(&[linked]),
            Err(ChainBreak {
                line: 1,
                kind: BreakKind::PrevHash {
                    aggregate: guild(),
                    seq: 1,
                    expected: None,
                    found: Some(EventHash::of_record(b"something before")),
                },
            })
        );
    }

    #[test]
    fn a_changed_byte_breaks_the_next_events_link() {
        let mut lines = history(guild(), 3);
        let original = lines[0].clone();
        lines[0] = record(guild(), 1, None, "forged");
        assert_eq!(
            check(&lines),
            Err(ChainBreak {
                line: 2,
                kind: BreakKind::PrevHash {
                    aggregate: guild(),
                    seq: 2,
                    expected: Some(EventHash::of_record(&lines[0])),
                    found: Some(EventHash::of_record(&original)),
                },
            })
        );
    }

    #[test]
    fn reformatting_a_line_breaks_the_chain_even_if_its_meaning_is_unchanged() {
        let mut lines = history(guild(), 2);
        let value: serde_json::Value = serde_json::from_slice(&lines[0]).expect("JSON");
        lines[0] = serde_json::to_vec_pretty(&value)
            .expect("JSON")
            .into_iter()
            .filter(|byte| *byte != b'\n')
            .collect();
        assert!(matches!(
            check(&lines),
            Err(ChainBreak {
                line: 2,
                kind: BreakKind::PrevHash { .. }
            })
        ));
    }

    #[test]
    fn a_wrong_event_id_is_reported() {
        let mut value: serde_json::Value =
            serde_json::from_slice(&history(guild(), 1)[0]).expect("JSON");
        let other = event_id(user(), 1);
        value["event_id"] = json!(other);
        let line = serde_json::to_vec(&value).expect("JSON");
        assert_eq!(
            check(&[line]),
            Err(ChainBreak {
                line: 1,
                kind: BreakKind::EventId {
                    aggregate: guild(),
                    seq: 1,
                    expected: event_id(guild(), 1),
                    found: other,
                },
            })
        );
    }

    #[test]
    fn an_undecodable_line_is_reported_by_its_number() {
        let mut lines = history(guild(), 2);
        lines.insert(1, b"{\"not\": \"an envelope\"}".to_vec());
        let chain_break = check(&lines).expect_err("refused");
        assert_eq!(chain_break.line, 2);
        assert!(matches!(chain_break.kind, BreakKind::Undecodable { .. }));
    }

    #[test]
    fn files_split_on_newlines_only_and_a_carriage_return_stays_hashed() {
        let lines = history(guild(), 2);
        let intact = [lines[0].as_slice(), b"\n", &lines[1], b"\n"].concat();
        assert_eq!(verify(intact.as_slice()).expect("intact").events, 2);
        // The last line may lack its newline.
        assert_eq!(
            verify(&intact[..intact.len() - 1]).expect("intact").events,
            2
        );
        // CRLF line ends (a Windows editor) change the bytes the chain covers.
        let crlf = [lines[0].as_slice(), b"\r\n", &lines[1], b"\r\n"].concat();
        assert!(matches!(
            verify(crlf.as_slice()),
            Err(super::VerifyError::Break(ChainBreak { line: 2, .. }))
        ));
    }

    #[test]
    fn breaks_read_as_line_aggregate_expected_and_found() {
        let chain_break = ChainBreak {
            line: 7,
            kind: BreakKind::Seq {
                aggregate: guild(),
                expected: 3,
                found: 5,
            },
        };
        assert_eq!(
            chain_break.to_string(),
            "line 7: guild 10: expected seq 3, found seq 5"
        );
    }
}

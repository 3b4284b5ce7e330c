//! Records of the `ephemeral` topic: what gateway processes tell each other that is
//! not event history. Every process reads every record (see [`crate::consumer`]).

use serde::{Deserialize, Serialize};

/// One `ephemeral` record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Ephemeral {
    /// A client resumes `session_id` on another process: whoever holds the session
    /// hands it over (see [`crate::handover`]).
    HandoverRequest {
        /// The session.
        session_id: String,
    },
}

/// Why a record could not be read (logged and skipped).
#[derive(Debug, thiserror::Error)]
#[error("the ephemeral record is not valid")]
pub struct DecodeError(#[from] serde_json::Error);

impl Ephemeral {
    /// Decodes one record's value.
    pub fn decode(value: &[u8]) -> Result<Self, DecodeError> {
        Ok(serde_json::from_slice(value)?)
    }

    /// The record's value.
    pub fn encode(&self) -> Vec<u8> {
        // A plain enum of strings always serializes.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::Ephemeral;

    #[test]
    fn records_round_trip_with_a_type_tag() {
        let request = Ephemeral::HandoverRequest {
            session_id: "abc".to_owned(),
        };
        let value = request.encode();
        assert_eq!(
            std::str::from_utf8(&value).expect("utf-8"),
            r#"{"type":"handover_request","session_id":"abc"}"#
        );
        assert_eq!(Ephemeral::decode(&value).expect("decodes"), request);
        assert!(Ephemeral::decode(br#"{"type":"unknown"}"#).is_err());
    }
}

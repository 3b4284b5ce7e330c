//! TOTP codes (RFC 6238: HMAC-SHA1, 6 digits, 30-second steps — what every
//! authenticator app speaks) computed by `totp-rs`, and recovery codes.
//!
//! A code is accepted for the current step or one step either side (clock drift),
//! and only for a step newer than the last one accepted, so an observed code cannot
//! be replayed ([`TotpSecret::matching_step`] finds the step; the store records it atomically).

use totp_rs::{Algorithm, Secret, TOTP};

use super::secret::RandomFailed;

/// Digits of a code.
const DIGITS: usize = 6;
/// Seconds per step.
const STEP_SECS: u64 = 30;
/// Steps accepted either side of the current one.
const SKEW: u64 = 1;
/// Recovery codes handed out at enrolment.
pub const RECOVERY_CODES: usize = 10;

/// The secret is not base32, or shorter than 128 bits (RFC 4226 §4 asks for at
/// least that; 160 is recommended).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the TOTP secret must be base32 of at least 128 bits")]
pub struct InvalidSecret;

/// A user's authenticator secret.
#[derive(Clone)]
pub struct TotpSecret {
    totp: TOTP,
    base32: String,
}

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret(…)")
    }
}

impl TotpSecret {
    /// Parses a base32 secret (spaces and case ignored, as apps display it).
    pub fn parse(base32: &str) -> Result<Self, InvalidSecret> {
        let normalized: String = base32
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '=')
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let bytes = Secret::Encoded(normalized.clone())
            .to_bytes()
            .map_err(|_| InvalidSecret)?;
        let totp =
            TOTP::new(Algorithm::SHA1, DIGITS, 0, STEP_SECS, bytes).map_err(|_| InvalidSecret)?;
        Ok(Self {
            totp,
            base32: normalized,
        })
    }

    /// The normalized base32 form, for storing.
    pub fn as_base32(&self) -> &str {
        &self.base32
    }

    /// The step `code` is valid for at `now_unix` (within the skew), if any.
    pub fn matching_step(&self, code: &str, now_unix: u64) -> Option<u64> {
        let code = code.trim();
        if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let current = now_unix / STEP_SECS;
        (current.saturating_sub(SKEW)..=current + SKEW).find(|step| {
            let expected = self.totp.generate(step * STEP_SECS);
            aws_lc_rs::constant_time::verify_slices_are_equal(expected.as_bytes(), code.as_bytes())
                .is_ok()
        })
    }
}

/// Whether `code` has a TOTP code's shape (else it may be a recovery code).
pub fn looks_like_totp(code: &str) -> bool {
    let code = code.trim();
    code.len() == DIGITS && code.bytes().all(|b| b.is_ascii_digit())
}

/// New recovery codes: 40 random bits each, as `xxxxx-xxxxx` lowercase hex.
pub fn new_recovery_codes() -> Result<Vec<String>, RandomFailed> {
    (0..RECOVERY_CODES)
        .map(|_| {
            let mut bytes = [0u8; 5];
            aws_lc_rs::rand::fill(&mut bytes).map_err(|_| RandomFailed)?;
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            Ok(format!("{}-{}", &hex[..5], &hex[5..]))
        })
        .collect()
}

/// A recovery code as stored and compared: lowercase, without separators.
pub fn normalize_recovery_code(code: &str) -> String {
    code.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{
        InvalidSecret, TotpSecret, looks_like_totp, new_recovery_codes, normalize_recovery_code,
    };

    /// RFC 6238 appendix B's SHA-1 key, "12345678901234567890", in base32.
    const RFC_KEY: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

    #[test]
    fn the_rfc_6238_vector_matches_at_its_step_and_the_neighbours_only() {
        let secret = TotpSecret::parse(RFC_KEY).expect("valid");
        // T = 59 s → 94287082 with 8 digits; the 6-digit code is its last six.
        assert_eq!(secret.matching_step("287082", 59), Some(1));
        assert_eq!(
            secret.matching_step("287082", 59 + 30),
            Some(1),
            "one step of skew"
        );
        assert_eq!(
            secret.matching_step("287082", 59 + 60),
            None,
            "two steps late"
        );
        assert_eq!(secret.matching_step("287083", 59), None);
        assert_eq!(secret.matching_step("28708", 59), None);
    }

    #[test]
    fn short_or_malformed_secrets_are_refused() {
        assert_eq!(TotpSecret::parse("GEZDGNBV").err(), Some(InvalidSecret));
        assert_eq!(
            TotpSecret::parse("not base32 !!").err(),
            Some(InvalidSecret)
        );
        // App-style grouping and lowercase are fine.
        assert!(TotpSecret::parse("gezd gnbv gy3t qojq gezd gnbv gy3t qojq").is_ok());
    }

    #[test]
    fn recovery_codes_are_distinct_and_normalize() {
        let codes = new_recovery_codes().expect("random");
        assert_eq!(codes.len(), 10);
        let mut unique = codes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 10);
        assert_eq!(normalize_recovery_code("AB12C-3DE4F"), "ab12c3de4f");
        assert!(!looks_like_totp(&codes[0]));
        assert!(looks_like_totp(" 123456 "));
    }
}

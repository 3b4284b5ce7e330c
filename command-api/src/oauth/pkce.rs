//! Proof Key for Code Exchange (RFC 7636), S256 only: the client sends
//! `BASE64URL(SHA256(code_verifier))` with the authorization request and the verifier
//! with the token request, so a stolen code is useless without the verifier. The
//! `plain` method is refused (it protects nothing against an observer of the
//! authorization request).

use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The only `code_challenge_method` accepted.
pub const S256: &str = "S256";

/// Whether `text` is a well-formed verifier or challenge: 43 to 128 characters of
/// `[A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~"` (RFC 7636 §4.1, §4.2).
pub fn is_well_formed(text: &str) -> bool {
    (43..=128).contains(&text.len())
        && text
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~'))
}

/// The S256 challenge of `verifier`.
pub fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest(&SHA256, verifier.as_bytes()))
}

/// Whether `verifier` is well formed and hashes to `challenge` (compared in constant
/// time).
pub fn verify(verifier: &str, challenge: &str) -> bool {
    is_well_formed(verifier)
        && aws_lc_rs::constant_time::verify_slices_are_equal(
            self::challenge(verifier).as_bytes(),
            challenge.as_bytes(),
        )
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::{challenge, is_well_formed, verify};

    /// RFC 7636 appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn the_rfc_example_verifies() {
        assert_eq!(challenge(VERIFIER), CHALLENGE);
        assert!(verify(VERIFIER, CHALLENGE));
    }

    #[test]
    fn a_wrong_or_malformed_verifier_fails() {
        assert!(!verify(&VERIFIER.replace('d', "e"), CHALLENGE));
        // `plain`: the challenge itself as the verifier.
        assert!(!verify(CHALLENGE, CHALLENGE));
        assert!(!is_well_formed("short"));
        assert!(!is_well_formed(&"a".repeat(129)));
        assert!(!is_well_formed(&format!("{}+/", &VERIFIER[..41])));
        assert!(is_well_formed(&"~".repeat(43)));
    }
}

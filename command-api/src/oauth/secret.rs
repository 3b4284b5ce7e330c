//! Random bearer secrets (authorization codes, refresh tokens, session ids) and the
//! hashes stored in their place.
//!
//! A leaked database row must not be usable as a token, so codes and refresh tokens
//! are stored as SHA-256 hashes: they are 256-bit random values, so a fast hash is
//! enough (no password-style stretching needed).

use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The system random number generator failed.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the system random number generator failed")]
pub struct RandomFailed;

/// `BYTES` random bytes, base64url without padding.
fn random<const BYTES: usize>() -> Result<String, RandomFailed> {
    let mut bytes = [0u8; BYTES];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| RandomFailed)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// A new authorization code or refresh token: 256 random bits.
pub fn new_token() -> Result<String, RandomFailed> {
    random::<32>()
}

/// A new session id: 128 random bits (it is not a secret on its own — it rides in
/// every access token's `sid` — but it must not be guessable or collide).
pub fn new_session_id() -> Result<String, RandomFailed> {
    random::<16>()
}

/// What is stored for a token: its SHA-256.
pub fn hash(token: &str) -> Vec<u8> {
    digest(&SHA256, token.as_bytes()).as_ref().to_vec()
}

/// SHA-256 of `text` as lowercase hex (how client secrets are configured).
pub fn sha256_hex(text: &str) -> String {
    use std::fmt::Write as _;
    digest(&SHA256, text.as_bytes()).as_ref().iter().fold(
        String::with_capacity(64),
        |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        },
    )
}

/// A session's public handle in the sessions list (`id_hash`, as Discord's
/// sessions API names it): base64url SHA-256 of its id, so the list never shows
/// another device's `sid`.
pub fn session_handle(session_id: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest(&SHA256, session_id.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::{hash, new_session_id, new_token, sha256_hex};

    #[test]
    fn tokens_are_long_random_and_distinct() {
        let a = new_token().expect("random");
        let b = new_token().expect("random");
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert_eq!(new_session_id().expect("random").len(), 22);
        assert_eq!(hash(&a).len(), 32);
        assert_ne!(hash(&a), hash(&b));
    }

    #[test]
    fn sha256_hex_matches_the_published_test_vector() {
        // FIPS 180-2 appendix B.1.
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}

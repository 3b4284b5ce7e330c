//! Password hashing with argon2id, stored as PHC strings.
//!
//! The parameters are the `argon2` crate's defaults, which are OWASP's argon2id
//! minimum: 19 MiB of memory (m=19456 KiB), 2 passes (t=2), 1 lane (p=1), a 16-byte
//! random salt and a 32-byte output. The PHC string
//! (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`) carries its own parameters, so
//! raising them later still verifies old hashes.
//!
//! # Calling contract
//!
//! [`hash_password`], [`verify_password`] and [`verify_dummy_password`] are
//! deliberately slow (tens of milliseconds of CPU and 19 MiB each). Async callers must
//! run them on a blocking thread (`tokio::task::spawn_blocking`), never on an async
//! worker, and should bound how many run at once (e.g. with a semaphore), since each
//! holds its 19 MiB for the whole computation.

use std::fmt;

use argon2::password_hash::phc::PasswordHash as PhcString;
use argon2::password_hash::{self, PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2};

/// The hash of a random password that was thrown away, made with the parameters
/// [`hash_password`] uses, so that [`verify_dummy_password`] costs what a real
/// verification costs (a test keeps the parameters in step).
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$Usao4AlEt8XONI9nPdFW6Q$Uo6okD5T76GRY1vX68TwGCrMTVlfWkq4crC1APDngmg";

/// Why a password could not be hashed or checked. A wrong password is not an error:
/// [`verify_password`] returns `Ok(false)`.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// The stored string is not an argon2id PHC string.
    #[error("stored password hash is not an argon2id PHC string")]
    InvalidHash(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Hashing failed (the system random number generator failed, or memory ran out).
    #[error("password hashing failed")]
    Hashing(#[source] password_hash::Error),
}

/// An argon2id password hash in PHC string format, as stored in the users table.
///
/// `Debug` shows only the algorithm and parameters, never the salt and hash, so
/// logging a user record does not leak material for offline cracking.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Accepts a stored PHC string after checking that it is argon2id.
    pub fn parse(phc: impl Into<String>) -> Result<Self, PasswordError> {
        let phc = phc.into();
        parse_argon2id(&phc)?;
        Ok(Self(phc))
    }

    /// The PHC string, for storing.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Consumes the hash, returning the PHC string.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `$argon2id$v=19$m=…,t=…,p=…` is the first four `$`-separated fields.
        let parameters: Vec<&str> = self.0.splitn(5, '$').take(4).collect();
        f.debug_tuple("PasswordHash")
            .field(&format_args!("{}$…", parameters.join("$")))
            .finish()
    }
}

/// Hashes `password` with argon2id and a fresh random salt. Slow: see the module
/// docs' calling contract.
pub fn hash_password(password: &str) -> Result<PasswordHash, PasswordError> {
    let phc = Argon2::default()
        .hash_password(password.as_bytes())
        .map_err(PasswordError::Hashing)?;
    Ok(PasswordHash(phc.to_string()))
}

/// Whether `password` matches `hash`. The final comparison is constant-time, so the
/// time taken says nothing about how much of the hash matched. Slow: see the module
/// docs' calling contract.
///
/// Uses the parameters stored in `hash`, not the current defaults.
pub fn verify_password(password: &str, hash: &PasswordHash) -> Result<bool, PasswordError> {
    let phc = parse_argon2id(&hash.0)?;
    match Argon2::default().verify_password(password.as_bytes(), &phc) {
        Ok(()) => Ok(true),
        Err(password_hash::Error::PasswordInvalid) => Ok(false),
        Err(error) => Err(PasswordError::InvalidHash(Box::new(error))),
    }
}

/// Spends as long as [`verify_password`] does and always fails.
///
/// Call it when a login names an account that does not exist (or has no password), so
/// that the response time does not tell an attacker which accounts exist.
pub fn verify_dummy_password(password: &str) {
    let outcome = PasswordHash::parse(DUMMY_HASH).and_then(|hash| verify_password(password, &hash));
    // The outcome is meaningless (nobody knows the dummy password), but the work must
    // not be optimised away.
    std::hint::black_box(outcome).ok();
}

/// Parses `phc` and insists on argon2id, the only variant CloudCord writes.
fn parse_argon2id(phc: &str) -> Result<PhcString, PasswordError> {
    let parsed =
        PhcString::new(phc).map_err(|error| PasswordError::InvalidHash(Box::new(error)))?;
    if parsed.algorithm.as_str() != Algorithm::Argon2id.as_str() {
        return Err(PasswordError::InvalidHash(
            format!("algorithm {} is not argon2id", parsed.algorithm).into(),
        ));
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::{
        DUMMY_HASH, PasswordError, PasswordHash, hash_password, verify_dummy_password,
        verify_password,
    };

    /// The PHC prefix of argon2id with OWASP's minimum parameters.
    const OWASP_PREFIX: &str = "$argon2id$v=19$m=19456,t=2,p=1$";

    #[test]
    fn password_verifies() {
        let hash = hash_password("correct horse battery staple").expect("hashing works");
        assert_eq!(
            verify_password("correct horse battery staple", &hash).ok(),
            Some(true)
        );
    }

    #[test]
    fn wrong_password_fails() {
        let hash = hash_password("correct horse battery staple").expect("hashing works");
        assert_eq!(
            verify_password("correct horse battery stapler", &hash).ok(),
            Some(false)
        );
        assert_eq!(verify_password("", &hash).ok(), Some(false));
    }

    #[test]
    fn hash_is_argon2id_with_the_owasp_parameters() {
        let hash = hash_password("hunter2").expect("hashing works");
        assert!(hash.as_str().starts_with(OWASP_PREFIX), "{}", hash.as_str());
        // Salted: the same password hashes differently each time.
        let again = hash_password("hunter2").expect("hashing works");
        assert_ne!(hash, again);
    }

    #[test]
    fn dummy_hash_uses_the_current_parameters() {
        // Otherwise a login for a missing account would take a different time.
        assert!(DUMMY_HASH.starts_with(OWASP_PREFIX));
        assert!(PasswordHash::parse(DUMMY_HASH).is_ok());
        verify_dummy_password("anything");
    }

    #[test]
    fn hash_other_than_argon2id_is_rejected() {
        for stored in [
            "not a hash",
            "$argon2i$v=19$m=19456,t=2,p=1$Usao4AlEt8XONI9nPdFW6Q$Uo6okD5T76GRY1vX68TwGCrMTVlfWkq4crC1APDngmg",
            "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
        ] {
            assert!(
                matches!(
                    PasswordHash::parse(stored),
                    Err(PasswordError::InvalidHash(_))
                ),
                "{stored}"
            );
        }
    }

    #[test]
    fn debug_hides_salt_and_hash() {
        let hash = PasswordHash::parse(DUMMY_HASH).expect("valid");
        let shown = format!("{hash:?}");
        assert_eq!(shown, r#"PasswordHash($argon2id$v=19$m=19456,t=2,p=1$…)"#);
    }
}

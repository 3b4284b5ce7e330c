//! Message encryption for Web Push (RFC 8291) in the `aes128gcm` content coding
//! (RFC 8188): what only the subscribing browser can read.
//!
//! A fresh P-256 key pair per message agrees a secret with the browser's `p256dh`;
//! HKDF-SHA256 mixes in the browser's `auth` secret and a random salt into the
//! content key and nonce; the payload, followed by the final record's delimiter
//! `0x02`, is sealed with AES-128-GCM as one record. The body starts with the
//! header the browser needs to undo it: salt, record size, and our public key.
//! aws-lc-rs does the arithmetic (the workspace's one crypto library).

use aws_lc_rs::aead::{AES_128_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::agreement::{self, ECDH_P256, PrivateKey, UnparsedPublicKey};
use aws_lc_rs::hkdf::{HKDF_SHA256, KeyType, Salt};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};

/// The record size announced in the header. One record holds the whole message
/// (a push payload is at most a few KiB), and 4096 is what RFC 8291 recommends.
const RECORD_SIZE: u32 = 4096;

/// AES-GCM's tag length.
const TAG_LEN: usize = 16;

/// The longest payload one record holds: the record size less the delimiter and
/// the tag.
pub const MAX_PAYLOAD: usize = RECORD_SIZE as usize - 1 - TAG_LEN;

/// Why a payload could not be encrypted for a subscription.
#[derive(Debug, thiserror::Error)]
pub enum EncryptionError {
    /// The subscription's `p256dh` is not a P-256 point (command-api checks it, so
    /// only a record written before that check, or a bug, gets here).
    #[error("the subscription's p256dh is not a P-256 public key")]
    BadPublicKey,
    /// The subscription's `auth` is not 16 bytes.
    #[error("the subscription's auth secret is not 16 bytes")]
    BadAuthSecret,
    /// The payload does not fit one record.
    #[error("the payload has {0} bytes, more than {MAX_PAYLOAD}")]
    TooLong(usize),
    /// The system's randomness or a primitive failed.
    #[error("a cryptographic primitive failed")]
    Crypto,
}

impl From<aws_lc_rs::error::Unspecified> for EncryptionError {
    fn from(_: aws_lc_rs::error::Unspecified) -> Self {
        Self::Crypto
    }
}

/// Encrypts `payload` for the browser whose keys are `ua_public` (the 65-byte
/// uncompressed point) and `auth_secret` (16 bytes), with a fresh key and salt.
pub fn encrypt(
    payload: &[u8],
    ua_public: &[u8],
    auth_secret: &[u8],
) -> Result<Vec<u8>, EncryptionError> {
    let rng = SystemRandom::new();
    let mut salt = [0; 16];
    rng.fill(&mut salt)?;
    let key = PrivateKey::generate(&ECDH_P256)?;
    encrypt_with(payload, ua_public, auth_secret, &key, salt)
}

/// [`encrypt`] with the application server's key and the salt given (RFC 8291's
/// example fixes both; nothing else may reuse either).
fn encrypt_with(
    payload: &[u8],
    ua_public: &[u8],
    auth_secret: &[u8],
    as_private: &PrivateKey,
    salt: [u8; 16],
) -> Result<Vec<u8>, EncryptionError> {
    if payload.len() > MAX_PAYLOAD {
        return Err(EncryptionError::TooLong(payload.len()));
    }
    if auth_secret.len() != 16 {
        return Err(EncryptionError::BadAuthSecret);
    }
    let as_public = as_private.compute_public_key()?;
    let as_public = as_public.as_ref();
    // RFC 8291 section 3.4: the input keying material from the shared secret and
    // the auth secret, bound to both public keys.
    let ikm = agreement::agree(
        as_private,
        UnparsedPublicKey::new(&ECDH_P256, ua_public),
        EncryptionError::BadPublicKey,
        |ecdh_secret| {
            let prk = Salt::new(HKDF_SHA256, auth_secret).extract(ecdh_secret);
            let info = [b"WebPush: info\0".as_slice(), ua_public, as_public];
            expand::<32>(&prk, &info)
        },
    )?;
    // RFC 8188 section 2.2 and 2.3: the content key and the nonce from the salt.
    let prk = Salt::new(HKDF_SHA256, &salt).extract(&ikm);
    let cek = expand::<16>(&prk, &[b"Content-Encoding: aes128gcm\0"])?;
    let nonce = expand::<12>(&prk, &[b"Content-Encoding: nonce\0"])?;
    // One record, so the nonce is used as derived (record sequence number 0).
    let mut record = Vec::with_capacity(payload.len() + 1 + TAG_LEN);
    record.extend_from_slice(payload);
    record.push(0x02);
    LessSafeKey::new(UnboundKey::new(&AES_128_GCM, &cek)?).seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::empty(),
        &mut record,
    )?;
    let key_id_len = u8::try_from(as_public.len()).map_err(|_| EncryptionError::Crypto)?;
    let mut body = Vec::with_capacity(16 + 4 + 1 + as_public.len() + record.len());
    body.extend_from_slice(&salt);
    body.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    body.push(key_id_len);
    body.extend_from_slice(as_public);
    body.extend_from_slice(&record);
    Ok(body)
}

/// An HKDF output length as aws-lc-rs wants it named.
struct Len(usize);

impl KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// HKDF-Expand of `prk` with the concatenation of `info` into `N` bytes.
fn expand<const N: usize>(
    prk: &aws_lc_rs::hkdf::Prk,
    info: &[&[u8]],
) -> Result<[u8; N], EncryptionError> {
    let mut out = [0; N];
    prk.expand(info, Len(N))?.fill(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::agreement::{ECDH_P256, PrivateKey};

    use super::{EncryptionError, MAX_PAYLOAD, encrypt, encrypt_with};

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
            .collect()
    }

    /// RFC 8291 Appendix A: the example's keys, salt and plaintext give exactly
    /// its encrypted message.
    #[test]
    fn the_rfc_8291_example_encrypts_to_its_message() {
        let ua_public = hex(
            "042571b2becdfde360551aaf1ed0f4cd366c11cebe555f89bcb7b186a53339173168ece2ebe018597bd30479b86e3c8f8eced577ca59187e9246990db682008b0e",
        );
        let auth = hex("05305932a1c7eabe13b6cec9fda48882");
        let as_private = PrivateKey::from_private_key(
            &ECDH_P256,
            &hex("c9f58f89813e9f8e872e71f42aa64e1757c9254dcc62b72ddc010bb4043ea11c"),
        )
        .expect("the example's private key");
        let salt: [u8; 16] = hex("0c6bfaadad67958803092d454676f397")
            .try_into()
            .expect("16 bytes");
        let message = encrypt_with(
            b"When I grow up, I want to be a watermelon",
            &ua_public,
            &auth,
            &as_private,
            salt,
        )
        .expect("encrypts");
        assert_eq!(
            message,
            hex(concat!(
                "0c6bfaadad67958803092d454676f397000010004104fe33f4ab0dea71914db55823f73b54",
                "948f41306d920732dbb9a59a53286482200e597a7b7bc260ba1c227998580992e93973002f",
                "3012a28ae8f06bbb78e5ec0ff297de5b429bba7153d3a4ae0caa091fd425f3b4b5414add8a",
                "b37a19c1bbb05cf5cb5b2a2e0562d558635641ec52812c6c8ff42e95ccb86be7cd",
            ))
        );
    }

    #[test]
    fn bad_keys_and_long_payloads_are_refused() {
        let browser = PrivateKey::generate(&ECDH_P256).expect("key");
        let public = browser.compute_public_key().expect("public");
        assert!(matches!(
            encrypt(b"hi", &public.as_ref()[..64], &[0; 16]),
            Err(EncryptionError::BadPublicKey)
        ));
        assert!(matches!(
            encrypt(b"hi", public.as_ref(), &[0; 15]),
            Err(EncryptionError::BadAuthSecret)
        ));
        assert!(matches!(
            encrypt(&[b'x'; MAX_PAYLOAD + 1], public.as_ref(), &[0; 16]),
            Err(EncryptionError::TooLong(_))
        ));
        let fresh = encrypt(b"hi", public.as_ref(), &[0; 16]).expect("encrypts");
        let again = encrypt(b"hi", public.as_ref(), &[0; 16]).expect("encrypts");
        assert_ne!(fresh, again, "a fresh key and salt every time");
    }
}

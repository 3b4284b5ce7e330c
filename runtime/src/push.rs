//! Web Push's server identity: the `[push]` settings and the VAPID key (RFC 8292).
//!
//! Two services read them: command-api hands the public key to browsers
//! (`GET /push/vapid-public-key`, which the browser passes to
//! `pushManager.subscribe` as `applicationServerKey`) and checks subscriptions'
//! endpoints; gateway-ws signs each delivery's JWT with the private key. A push
//! service accepts deliveries for a subscription only when they are signed by the
//! key the subscription was made with, so every replica of both must load the
//! same key, and it must outlive restarts: a new key silently orphans every
//! subscription. Hence a file (or a Secret), generated once in development like
//! the token signing key, and never generated in production.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use aws_lc_rs::agreement;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair, UnparsedPublicKey,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};

use crate::auth::keys::write_new_private_file;

/// The PEM label of the PKCS#8 files this module writes.
const PKCS8_PEM_LABEL: &str = "PRIVATE KEY";

/// The `[push]` settings section.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct PushConfig {
    /// Whether Web Push is on: gateway-ws delivers pushes only then; command-api
    /// always stores subscriptions and serves the public key.
    pub enabled: bool,
    /// The VAPID key as a P-256 private key in a PEM file (PKCS#8 or SEC1's
    /// `EC PRIVATE KEY`).
    pub vapid_key_path: PathBuf,
    /// The VAPID key inline instead of a file (e.g. from a Secret in an
    /// environment variable): PEM as above, or the raw 32-byte private scalar in
    /// base64url, as web-push tools print it. Takes precedence over the file.
    pub vapid_private_key: Option<String>,
    /// Generate the key file when it is missing (development only: in production a
    /// missing key must fail start-up, never mint a key the push services do not
    /// know).
    pub generate_vapid_key: bool,
    /// Who push services can contact about our traffic (the JWT's `sub`): a
    /// `mailto:` or `https:` URI.
    pub contact: String,
    /// Accept `http://` subscription endpoints (tests and development; browsers'
    /// push services are all https).
    pub allow_http_endpoints: bool,
}

impl Default for PushConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            vapid_key_path: PathBuf::from(".cloudcord/push/vapid.pem"),
            vapid_private_key: None,
            generate_vapid_key: true,
            contact: "mailto:admin@localhost".to_owned(),
            allow_http_endpoints: false,
        }
    }
}

/// Why the VAPID key or contact is unusable. Each message names the setting to fix.
#[derive(Debug, thiserror::Error)]
pub enum VapidError {
    /// The key file could not be read (or written, when generating).
    #[error(
        "cannot read the VAPID key file {path} (set push.vapid_key_path, or \
         push.vapid_private_key, to a P-256 private key; `openssl ecparam -name prime256v1 \
         -genkey -noout` makes one)"
    )]
    Read {
        /// The file.
        path: PathBuf,
        /// The operating system's answer.
        source: io::Error,
    },
    /// The key is not a P-256 private key in a form this module reads.
    #[error(
        "the VAPID key ({origin}) is not a P-256 private key (PKCS#8 or SEC1 PEM, or a \
         base64url 32-byte scalar): fix push.vapid_key_path or push.vapid_private_key"
    )]
    Invalid {
        /// Where it came from.
        origin: String,
    },
    /// The contact is neither `mailto:` nor `https:`.
    #[error("push.contact must be a mailto: or https: URI (RFC 8292), not {0:?}")]
    Contact(String),
    /// The generated key could not be stored.
    #[error("cannot store the generated VAPID key (check push.vapid_key_path)")]
    Store(#[source] crate::auth::KeyError),
    /// The system's randomness or the key generation failed.
    #[error("cannot generate a VAPID key")]
    Generate,
}

/// The VAPID key pair (P-256), ready to sign delivery JWTs.
pub struct VapidKey {
    pair: EcdsaKeyPair,
    encoding: EncodingKey,
    contact: String,
}

impl std::fmt::Debug for VapidKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the private half.
        f.debug_struct("VapidKey")
            .field("public_key", &self.public_key_base64())
            .finish_non_exhaustive()
    }
}

/// The claims of a VAPID JWT.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct VapidClaims {
    /// The push service's origin (`https://push.example.net`).
    pub aud: String,
    /// Expiry, seconds since the epoch (at most 24 hours ahead).
    pub exp: u64,
    /// Our contact.
    pub sub: String,
}

impl VapidKey {
    /// Loads the key `config` names, generating the file first when it is missing
    /// and `generate_vapid_key` is set; checks the contact. Reads files
    /// synchronously: call it at start-up.
    pub fn load(config: &PushConfig) -> Result<Self, VapidError> {
        if !(config.contact.starts_with("mailto:") || config.contact.starts_with("https:")) {
            return Err(VapidError::Contact(config.contact.clone()));
        }
        let pair = match &config.vapid_private_key {
            Some(inline) => parse(inline.trim(), "push.vapid_private_key")?,
            None => load_file(&config.vapid_key_path, config.generate_vapid_key)?,
        };
        Self::new(pair, config.contact.clone())
    }

    fn new(pair: EcdsaKeyPair, contact: String) -> Result<Self, VapidError> {
        // jsonwebtoken's aws-lc backend signs ES256 with a PKCS#8 document.
        let pkcs8 = pair.to_pkcs8v1().map_err(|_| VapidError::Generate)?;
        Ok(Self {
            encoding: EncodingKey::from_ec_der(pkcs8.as_ref()),
            pair,
            contact,
        })
    }

    /// The public key: the uncompressed P-256 point (65 bytes).
    pub fn public_key(&self) -> &[u8] {
        self.pair.public_key().as_ref()
    }

    /// [`Self::public_key`] in base64url without padding, as browsers take it.
    pub fn public_key_base64(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.public_key())
    }

    /// The `Authorization` header value for a delivery to `audience` (the
    /// endpoint's origin), valid until `exp` (seconds since the epoch):
    /// `vapid t=<ES256 JWT>, k=<public key>` (RFC 8292 section 3).
    pub fn authorization(&self, audience: &str, exp: u64) -> Result<String, VapidError> {
        let claims = VapidClaims {
            aud: audience.to_owned(),
            exp,
            sub: self.contact.clone(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::ES256), &claims, &self.encoding)
            .map_err(|_| VapidError::Generate)?;
        Ok(format!("vapid t={token}, k={}", self.public_key_base64()))
    }
}

/// Whether `bytes` are an uncompressed P-256 point on the curve (a browser's
/// `p256dh`, or a VAPID public key).
pub fn is_p256_point(bytes: &[u8]) -> bool {
    bytes.len() == 65
        && bytes[0] == 4
        && agreement::ParsedPublicKey::try_from(agreement::UnparsedPublicKey::new(
            &agreement::ECDH_P256,
            bytes,
        ))
        .is_ok()
}

fn load_file(path: &Path, generate: bool) -> Result<EcdsaKeyPair, VapidError> {
    match fs::read_to_string(path) {
        Ok(text) => parse(&text, &path.display().to_string()),
        Err(error) if error.kind() == io::ErrorKind::NotFound && generate => {
            let rng = SystemRandom::new();
            let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .map_err(|_| VapidError::Generate)?;
            let text = pem::encode_config(
                &pem::Pem::new(PKCS8_PEM_LABEL, pkcs8.as_ref()),
                pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
            );
            if !write_new_private_file(path, text.as_bytes()).map_err(VapidError::Store)? {
                // Another process wrote it first: use theirs, as every replica must.
                return load_file(path, false);
            }
            tracing::warn!(
                path = %path.display(),
                "no VAPID key found: generated a new development key and stored it; \
                 provision one (push.vapid_key_path) for production"
            );
            parse(&text, &path.display().to_string())
        }
        Err(source) => Err(VapidError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

/// A PEM (PKCS#8 or SEC1) or base64url raw scalar key; `origin` names it in errors.
fn parse(text: &str, origin: &str) -> Result<EcdsaKeyPair, VapidError> {
    let invalid = || VapidError::Invalid {
        origin: origin.to_owned(),
    };
    if text.starts_with("-----BEGIN") {
        let pem = pem::parse(text).map_err(|_| invalid())?;
        return EcdsaKeyPair::from_private_key_der(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            pem.contents(),
        )
        .map_err(|_| invalid());
    }
    let raw = URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .map_err(|_| invalid())?;
    let private = agreement::PrivateKey::from_private_key(&agreement::ECDH_P256, &raw)
        .map_err(|_| invalid())?;
    let der: aws_lc_rs::encoding::EcPrivateKeyRfc5915Der<'_> =
        private.as_der().map_err(|_| invalid())?;
    EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_FIXED_SIGNING, der.as_ref())
        .map_err(|_| invalid())
}

/// Checks a VAPID JWT's ES256 signature against `public_key` (the uncompressed
/// point); what push services do, and what tests do.
pub fn verify_signature(token: &str, public_key: &[u8]) -> bool {
    let Some((signed, signature)) = token.rsplit_once('.') else {
        return false;
    };
    let Ok(signature) = URL_SAFE_NO_PAD.decode(signature) else {
        return false;
    };
    UnparsedPublicKey::new(&aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED, public_key)
        .verify(signed.as_bytes(), &signature)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::{PushConfig, VapidError, VapidKey, is_p256_point, verify_signature};

    fn inline(key: &str) -> PushConfig {
        PushConfig {
            vapid_private_key: Some(key.to_owned()),
            ..PushConfig::default()
        }
    }

    #[test]
    fn a_raw_key_signs_jwts_its_public_key_verifies() {
        // RFC 8291 Appendix A's application server private key, used here only as
        // some valid P-256 scalar in the raw base64url form.
        let key = VapidKey::load(&inline("yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw"))
            .expect("a raw scalar loads");
        assert!(is_p256_point(key.public_key()));
        let header = key
            .authorization("https://push.example.net", 1_800_000_000)
            .expect("signs");
        let token = header
            .strip_prefix("vapid t=")
            .and_then(|rest| rest.split_once(", k="))
            .map(|(token, k)| {
                assert_eq!(k, key.public_key_base64());
                token
            })
            .expect("vapid t=…, k=…");
        assert!(verify_signature(token, key.public_key()));
        assert!(!verify_signature(&format!("{token}x"), key.public_key()));
        let claims = token.split('.').nth(1).expect("claims part");
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).expect("base64url"))
                .expect("json");
        assert_eq!(
            claims,
            serde_json::json!({"aud": "https://push.example.net", "exp": 1_800_000_000u64, "sub": "mailto:admin@localhost"})
        );
    }

    #[test]
    fn bad_keys_and_contacts_name_the_setting_to_fix() {
        let error = VapidKey::load(&inline("not a key")).expect_err("refused");
        assert!(matches!(error, VapidError::Invalid { .. }));
        assert!(error.to_string().contains("push.vapid_private_key"));
        let error = VapidKey::load(&PushConfig {
            contact: "admin@example.org".to_owned(),
            ..inline("yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw")
        })
        .expect_err("refused");
        assert!(error.to_string().contains("push.contact"));
        let missing = PushConfig {
            vapid_key_path: "/nonexistent/vapid.pem".into(),
            generate_vapid_key: false,
            ..PushConfig::default()
        };
        let error = VapidKey::load(&missing).expect_err("refused");
        assert!(error.to_string().contains("push.vapid_key_path"));
    }

    #[test]
    fn a_generated_key_file_is_kept_and_loaded_again() {
        let dir = std::env::temp_dir().join(format!("vapid-{}", uuid::Uuid::new_v4().simple()));
        let config = PushConfig {
            vapid_key_path: dir.join("push/vapid.pem"),
            ..PushConfig::default()
        };
        let first = VapidKey::load(&config).expect("generated");
        let again = VapidKey::load(&config).expect("loaded");
        assert_eq!(first.public_key(), again.public_key());
        let _ = std::fs::remove_dir_all(dir);
    }
}

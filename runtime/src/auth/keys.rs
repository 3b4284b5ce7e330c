//! Ed25519 signing keys, the public JSON Web Key Set, and the verifying keys built
//! from it.
//!
//! One [`SigningKey`] signs both access tokens and bot tokens. Only the process that
//! mints tokens loads it (from a PKCS#8 PEM file); every other service receives the
//! public half as a [`Jwks`] and turns it into [`VerifyingKeys`].
//!
//! Each key is named by its `kid`, the RFC 7638 thumbprint of its public JWK
//! (base64url SHA-256 of `{"crv":"Ed25519","kty":"OKP","x":…}`): stable across
//! restarts, derived from the key itself so two processes loading the same file agree,
//! and never reused by a different key.
//!
//! Rotation: publish the new key's JWK beside the old one, switch the issuer to the
//! new key, and drop the old JWK only once nothing signed by it should still be valid
//! — access tokens expire within the TTL, but bot tokens live until reset, so dropping
//! a key invalidates every bot token it signed.

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::error::KeyRejected;
use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, KeyPair, Signature, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{DecodingKey, EncodingKey};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

/// The PEM label of an unencrypted PKCS#8 private key (RFC 7468 §10).
const PKCS8_PEM_LABEL: &str = "PRIVATE KEY";

/// Length of an Ed25519 public key (RFC 8032).
const ED25519_PUBLIC_KEY_LEN: usize = 32;

/// JWK `kty` of an octet key pair (RFC 8037).
const KTY_OKP: &str = "OKP";
/// JWK `crv` of an Ed25519 key (RFC 8037).
const CRV_ED25519: &str = "Ed25519";
/// JWK and JWS `alg` of an EdDSA signature (RFC 8037).
const ALG_EDDSA: &str = "EdDSA";
/// JWK `use` of a signing key (RFC 7517 §4.2).
const USE_SIG: &str = "sig";

/// Why a signing key could not be loaded, created or written.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key file could not be read.
    #[error("cannot read signing key file {}", path.display())]
    Read {
        /// The configured key file.
        path: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },
    /// A new key file could not be written.
    #[error("cannot write signing key file {}", path.display())]
    Write {
        /// The file (or its directory) being written.
        path: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },
    /// The key file exists but does not hold a usable key.
    #[error("signing key file {} is not usable", path.display())]
    InvalidFile {
        /// The configured key file.
        path: PathBuf,
        /// What is wrong with its contents.
        source: Box<KeyError>,
    },
    /// The text is not PEM.
    #[error("signing key is not PEM")]
    Pem(#[from] pem::PemError),
    /// The PEM text holds something other than exactly one `PRIVATE KEY` block.
    #[error("expected exactly one PEM block labelled \"PRIVATE KEY\" (PKCS#8), found {found:?}")]
    NotPkcs8 {
        /// The labels of the blocks that were found.
        found: Vec<String>,
    },
    /// The PKCS#8 document is not an Ed25519 private key.
    #[error("signing key is not an unencrypted Ed25519 PKCS#8 key")]
    NotEd25519(#[from] KeyRejected),
    /// Key generation or encoding failed inside the crypto library (the system random
    /// number generator failed).
    #[error("could not generate an Ed25519 key")]
    Generate,
}

/// An Ed25519 private key that signs access tokens and bot tokens.
///
/// Its `Debug` output shows only the `kid`.
pub struct SigningKey {
    kid: String,
    key_pair: Ed25519KeyPair,
    /// The same key for `jsonwebtoken` (which keeps its own copy of the PKCS#8
    /// document and zeroes it on drop).
    encoding_key: EncodingKey,
}

impl SigningKey {
    /// A fresh random key (for tests and ephemeral setups; persistent keys come from
    /// [`Self::load`] or [`Self::load_or_generate`]).
    pub fn generate() -> Result<Self, KeyError> {
        let key_pair = Ed25519KeyPair::generate().map_err(|_| KeyError::Generate)?;
        // PKCS#8 v1 is what `openssl genpkey -algorithm ed25519` writes, so files we
        // create and files operators create look the same.
        let pkcs8 = key_pair.to_pkcs8v1().map_err(|_| KeyError::Generate)?;
        Self::from_pkcs8_der(pkcs8.as_ref())
    }

    /// Parses an unencrypted Ed25519 PKCS#8 private key (v1 or v2) in DER.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyError> {
        let key_pair = Ed25519KeyPair::from_pkcs8(der)?;
        let kid = thumbprint(&URL_SAFE_NO_PAD.encode(key_pair.public_key().as_ref()));
        Ok(Self {
            kid,
            key_pair,
            encoding_key: EncodingKey::from_ed_der(der),
        })
    }

    /// Parses a PEM file's text holding exactly one `PRIVATE KEY` block (PKCS#8).
    pub fn from_pkcs8_pem(text: &str) -> Result<Self, KeyError> {
        let blocks = pem::parse_many(text)?;
        match blocks.as_slice() {
            [block] if block.tag() == PKCS8_PEM_LABEL => Self::from_pkcs8_der(block.contents()),
            _ => Err(KeyError::NotPkcs8 {
                found: blocks.iter().map(|block| block.tag().to_owned()).collect(),
            }),
        }
    }

    /// Loads the key from a PKCS#8 PEM file, e.g. one made with
    /// `openssl genpkey -algorithm ed25519 -out ed25519.pem`.
    ///
    /// This reads the file synchronously: call it at start-up, not on an async worker
    /// in the middle of serving. It warns when the file is readable by group or others.
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let text = fs::read_to_string(path).map_err(|source| KeyError::Read {
            path: path.to_owned(),
            source,
        })?;
        warn_if_shared(path);
        Self::from_pkcs8_pem(&text).map_err(|source| KeyError::InvalidFile {
            path: path.to_owned(),
            source: Box::new(source),
        })
    }

    /// For development: loads the key like [`Self::load`], or, when `path` does not
    /// exist, generates a new key, stores it there (mode 0600, parent directories 0700)
    /// and logs a warning naming the file.
    ///
    /// Production deployments should provision the key and call [`Self::load`], so a
    /// missing secret fails start-up instead of silently minting with a key no other
    /// replica knows.
    pub fn load_or_generate(path: &Path) -> Result<Self, KeyError> {
        match fs::metadata(path) {
            Ok(_) => return Self::load(path),
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(KeyError::Read {
                    path: path.to_owned(),
                    source,
                });
            }
        }
        let key_pair = Ed25519KeyPair::generate().map_err(|_| KeyError::Generate)?;
        let pkcs8 = key_pair.to_pkcs8v1().map_err(|_| KeyError::Generate)?;
        let text = pem::encode_config(
            &pem::Pem::new(PKCS8_PEM_LABEL, pkcs8.as_ref()),
            pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
        );
        if !write_new_private_file(path, text.as_bytes())? {
            // Another process created the file between our check and our write: use
            // its key, so both processes sign with the same one.
            return Self::load(path);
        }
        let key = Self::from_pkcs8_der(pkcs8.as_ref())?;
        tracing::warn!(
            path = %path.display(),
            kid = %key.kid,
            "no signing key found: generated a new development key and stored it; \
             provision a key file for production"
        );
        Ok(key)
    }

    /// The key ID (RFC 7638 thumbprint of the public key).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The raw 32-byte Ed25519 public key.
    pub fn public_key_bytes(&self) -> &[u8] {
        self.key_pair.public_key().as_ref()
    }

    /// The public half as a JWK, for the JWKS that verifiers download.
    pub fn public_jwk(&self) -> Jwk {
        Jwk {
            kty: KTY_OKP.to_owned(),
            crv: Some(CRV_ED25519.to_owned()),
            x: Some(URL_SAFE_NO_PAD.encode(self.public_key_bytes())),
            kid: Some(self.kid.clone()),
            alg: Some(ALG_EDDSA.to_owned()),
            key_use: Some(USE_SIG.to_owned()),
        }
    }

    /// A JWKS holding only this key's public half.
    pub fn jwks(&self) -> Jwks {
        Jwks {
            keys: vec![self.public_jwk()],
        }
    }

    /// The key in `jsonwebtoken`'s form.
    pub(crate) fn encoding_key(&self) -> &EncodingKey {
        &self.encoding_key
    }

    /// Signs `message` (Ed25519 is deterministic: the same message gives the same
    /// signature).
    pub(crate) fn sign(&self, message: &[u8]) -> Signature {
        self.key_pair.sign(message)
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// The RFC 7638 thumbprint of an Ed25519 JWK with public key `x` (base64url).
fn thumbprint(x: &str) -> String {
    // RFC 7638 §3.2: only the required members, in lexicographic order, no whitespace.
    // `x` is base64url, which needs no JSON escaping.
    let canonical = format!(r#"{{"crv":"{CRV_ED25519}","kty":"{KTY_OKP}","x":"{x}"}}"#);
    URL_SAFE_NO_PAD.encode(digest(&SHA256, canonical.as_bytes()))
}

/// Creates `path` with `contents`, readable only by the owner, without ever exposing a
/// partly written file or replacing an existing one. Returns `false` when `path`
/// already exists.
pub(crate) fn write_new_private_file(path: &Path, contents: &[u8]) -> Result<bool, KeyError> {
    let write_error = |path: &Path| {
        let path = path.to_owned();
        move |source| KeyError::Write { path, source }
    };
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(directory).map_err(write_error(directory))?;

    // Write a private temporary file beside the target, then hard-link it into place:
    // the link is atomic and fails if the target exists, so concurrent starters never
    // see half a key nor overwrite each other's.
    let mut nonce = [0u8; 8];
    aws_lc_rs::rand::fill(&mut nonce).map_err(|_| KeyError::Generate)?;
    let file_name = path
        .file_name()
        .map_or_else(|| "signing-key".into(), |name| name.to_string_lossy());
    let temporary = directory.join(format!(
        ".{file_name}.{}.tmp",
        URL_SAFE_NO_PAD.encode(nonce)
    ));
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&temporary).and_then(|mut file| {
        file.write_all(contents)?;
        file.sync_all()
    });
    if let Err(source) = written {
        // Best effort: the write error is the one worth reporting.
        let _ = fs::remove_file(&temporary);
        return Err(KeyError::Write {
            path: temporary,
            source,
        });
    }
    let linked = fs::hard_link(&temporary, path);
    // The temporary name is no longer needed whether or not the link succeeded; a
    // leftover would only be an unused private file in a private directory.
    let _ = fs::remove_file(&temporary);
    match linked {
        Ok(()) => Ok(true),
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(source) => Err(KeyError::Write {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Logs a warning when the private key file can be read by group or others.
fn warn_if_shared(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(metadata) = fs::metadata(path) {
            let mode = metadata.permissions().mode();
            if mode & 0o077 != 0 {
                tracing::warn!(
                    path = %path.display(),
                    mode = format!("{:o}", mode & 0o777),
                    "signing key file is accessible to group or others; chmod 600 it"
                );
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// One JSON Web Key (RFC 7517), as published in a [`Jwks`].
///
/// The members other than `kty` are optional so that a set holding keys of other
/// types still parses; [`VerifyingKeys::from_jwks`] decides which keys are usable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Jwk {
    /// Key type: `OKP` for Ed25519.
    pub kty: String,
    /// Curve: `Ed25519`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// The public key, base64url without padding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// The key ID that token headers name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// The algorithm the key is for: `EdDSA`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// What the key is for: `sig`.
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    pub key_use: Option<String>,
}

/// A JSON Web Key Set (RFC 7517 §5): `{"keys":[…]}`, served to verifiers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Jwks {
    /// The published keys, current first by convention.
    pub keys: Vec<Jwk>,
}

crate::described_by_schemars!(Jwks);

impl FromIterator<Jwk> for Jwks {
    fn from_iter<I: IntoIterator<Item = Jwk>>(keys: I) -> Self {
        Self {
            keys: keys.into_iter().collect(),
        }
    }
}

/// Why a JWKS cannot be used to verify tokens.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwksError {
    /// No key in the set is an Ed25519 signing key with a `kid`.
    #[error("the JWKS holds no usable Ed25519 signing key")]
    NoUsableKeys,
    /// Two usable keys share a `kid`, so a token's key would be ambiguous.
    #[error("the JWKS holds two keys with kid {0:?}")]
    DuplicateKid(String),
}

/// One public key that verifiers trust.
#[derive(Clone)]
struct VerifyingKey {
    kid: String,
    public: [u8; ED25519_PUBLIC_KEY_LEN],
    decoding_key: DecodingKey,
}

/// The public Ed25519 keys that verify access tokens and bot tokens, by `kid`.
///
/// Clones share one set: [`Self::replace`] (the JWKS fetched again, see
/// `crate::issuer::keep_keys_fresh`) changes what every clone trusts, and a token
/// naming a key not in the set wakes [`Self::unknown_kid_seen`].
#[derive(Clone)]
pub struct VerifyingKeys {
    shared: Arc<SharedKeys>,
}

struct SharedKeys {
    // A handful of keys at most (current + retiring), so a list beats a map.
    keys: RwLock<Vec<VerifyingKey>>,
    unknown_kid: Notify,
}

impl VerifyingKeys {
    fn new(keys: Vec<VerifyingKey>) -> Self {
        Self {
            shared: Arc::new(SharedKeys {
                keys: RwLock::new(keys),
                unknown_kid: Notify::new(),
            }),
        }
    }

    /// The usable keys of `jwks`: `kty` `OKP`, `crv` `Ed25519`, a `kid`, a 32-byte `x`,
    /// and `alg`/`use` absent or `EdDSA`/`sig`.
    ///
    /// Other keys are skipped with a warning, as RFC 7517 §5 asks of keys an
    /// implementation does not understand; a set with no usable key is an error.
    pub fn from_jwks(jwks: &Jwks) -> Result<Self, JwksError> {
        usable_keys(jwks).map(Self::new)
    }

    /// Trusts the usable keys of `jwks` instead of the current ones (in every clone);
    /// an unusable set changes nothing.
    pub fn replace(&self, jwks: &Jwks) -> Result<(), JwksError> {
        let keys = usable_keys(jwks)?;
        *self.write() = keys;
        Ok(())
    }

    /// Waits until a token names a key not in the set (a new signing key, perhaps).
    pub async fn unknown_kid_seen(&self) {
        self.shared.unknown_kid.notified().await;
    }

    /// The `kid`s of the trusted keys.
    pub fn kids(&self) -> Vec<String> {
        self.read().iter().map(|key| key.kid.clone()).collect()
    }

    /// The key named `kid`, in `jsonwebtoken`'s form.
    pub(crate) fn decoding_key(&self, kid: &str) -> Option<DecodingKey> {
        let found = self
            .read()
            .iter()
            .find(|key| key.kid == kid)
            .map(|key| key.decoding_key.clone());
        if found.is_none() {
            self.shared.unknown_kid.notify_one();
        }
        found
    }

    /// Whether any trusted key made `signature` over `message`.
    pub(crate) fn verify_any(&self, message: &[u8], signature: &[u8]) -> bool {
        self.read().iter().any(|key| {
            UnparsedPublicKey::new(&ED25519, &key.public)
                .verify(message, signature)
                .is_ok()
        })
    }

    fn read(&self) -> RwLockReadGuard<'_, Vec<VerifyingKey>> {
        self.shared
            .keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Vec<VerifyingKey>> {
        self.shared
            .keys
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

fn usable_keys(jwks: &Jwks) -> Result<Vec<VerifyingKey>, JwksError> {
    let mut keys: Vec<VerifyingKey> = Vec::with_capacity(jwks.keys.len());
    for jwk in &jwks.keys {
        let Some(key) = usable_key(jwk) else {
            tracing::warn!(
                kid = ?jwk.kid,
                kty = %jwk.kty,
                crv = ?jwk.crv,
                "ignoring a JWK that is not an Ed25519 signing key"
            );
            continue;
        };
        if keys.iter().any(|known| known.kid == key.kid) {
            return Err(JwksError::DuplicateKid(key.kid));
        }
        keys.push(key);
    }
    if keys.is_empty() {
        return Err(JwksError::NoUsableKeys);
    }
    Ok(keys)
}

impl From<&SigningKey> for VerifyingKeys {
    /// The public half of `key` alone (for a process that both issues and verifies).
    fn from(key: &SigningKey) -> Self {
        let mut public = [0u8; ED25519_PUBLIC_KEY_LEN];
        public.copy_from_slice(key.public_key_bytes());
        Self::new(vec![VerifyingKey {
            kid: key.kid.clone(),
            public,
            decoding_key: DecodingKey::from_ed_der(&public),
        }])
    }
}

impl fmt::Debug for VerifyingKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKeys")
            .field("kids", &self.kids())
            .finish()
    }
}

/// `jwk` as a trusted key, or `None` when it is not an Ed25519 signing key.
fn usable_key(jwk: &Jwk) -> Option<VerifyingKey> {
    let is_ed25519 = jwk.kty == KTY_OKP && jwk.crv.as_deref() == Some(CRV_ED25519);
    let alg_ok = jwk.alg.as_deref().is_none_or(|alg| alg == ALG_EDDSA);
    let use_ok = jwk
        .key_use
        .as_deref()
        .is_none_or(|key_use| key_use == USE_SIG);
    if !(is_ed25519 && alg_ok && use_ok) {
        return None;
    }
    let kid = jwk.kid.clone()?;
    let public: [u8; ED25519_PUBLIC_KEY_LEN] = URL_SAFE_NO_PAD
        .decode(jwk.x.as_deref()?)
        .ok()?
        .try_into()
        .ok()?;
    Some(VerifyingKey {
        kid,
        public,
        // `jsonwebtoken` takes the raw 32-byte public key for EdDSA.
        decoding_key: DecodingKey::from_ed_der(&public),
    })
}

#[cfg(test)]
mod tests {
    use super::{Jwk, Jwks, JwksError, KeyError, SigningKey, VerifyingKeys, thumbprint};
    use aws_lc_rs::signature::Ed25519KeyPair;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    /// RFC 8037 Appendix A.1: the example Ed25519 key.
    const RFC8037_D: &str = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
    const RFC8037_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

    #[test]
    fn kid_is_the_rfc7638_thumbprint() {
        // RFC 8037 Appendix A.3 gives the thumbprint of the A.1 key.
        assert_eq!(
            thumbprint(RFC8037_X),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
        let seed = URL_SAFE_NO_PAD
            .decode(RFC8037_D)
            .expect("test vector is base64url");
        let pair = Ed25519KeyPair::from_seed_unchecked(&seed).expect("test vector is a seed");
        let pkcs8 = pair.to_pkcs8v1().expect("key pair encodes");
        let key = SigningKey::from_pkcs8_der(pkcs8.as_ref()).expect("valid PKCS#8");
        assert_eq!(key.public_jwk().x.as_deref(), Some(RFC8037_X));
        assert_eq!(key.kid(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
    }

    #[test]
    fn jwks_json_shape() {
        let key = SigningKey::generate().expect("key generation works");
        let json = serde_json::to_value(key.jwks()).expect("JWKS serializes");
        let x = URL_SAFE_NO_PAD.encode(key.public_key_bytes());
        assert_eq!(
            json,
            serde_json::json!({
                "keys": [{
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "x": x,
                    "kid": key.kid(),
                    "alg": "EdDSA",
                    "use": "sig",
                }]
            })
        );
        let parsed: Jwks = serde_json::from_value(json).expect("JWKS parses back");
        assert_eq!(parsed, key.jwks());
    }

    #[test]
    fn jwks_skips_keys_of_other_types() {
        let key = SigningKey::generate().expect("key generation works");
        let rsa = Jwk {
            kty: "RSA".to_owned(),
            crv: None,
            x: None,
            kid: Some("rsa".to_owned()),
            alg: Some("RS256".to_owned()),
            key_use: Some("sig".to_owned()),
        };
        let jwks: Jwks = [rsa.clone(), key.public_jwk()].into_iter().collect();
        let keys = VerifyingKeys::from_jwks(&jwks).expect("one usable key");
        assert_eq!(keys.kids(), [key.kid()]);

        let only_rsa: Jwks = [rsa].into_iter().collect();
        assert_eq!(
            VerifyingKeys::from_jwks(&only_rsa).map(|_| ()),
            Err(JwksError::NoUsableKeys)
        );
    }

    #[test]
    fn jwks_with_duplicate_kid_is_rejected() {
        let key = SigningKey::generate().expect("key generation works");
        let jwks: Jwks = [key.public_jwk(), key.public_jwk()].into_iter().collect();
        assert_eq!(
            VerifyingKeys::from_jwks(&jwks).map(|_| ()),
            Err(JwksError::DuplicateKid(key.kid().to_owned()))
        );
    }

    #[test]
    fn openssl_style_pkcs8_pem_loads() {
        // RFC 8410 §10.3: the PKCS#8 v1 form `openssl genpkey -algorithm ed25519`
        // writes; §10.1 gives its public key.
        let text = "-----BEGIN PRIVATE KEY-----\n\
                    MC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n\
                    -----END PRIVATE KEY-----\n";
        let key = SigningKey::from_pkcs8_pem(text).expect("RFC 8410 key loads");
        assert_eq!(
            key.public_jwk().x.as_deref(),
            Some("Gb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE")
        );

        // PKCS#8 v2 (with the public key inside) loads too.
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let v2 = Ed25519KeyPair::generate_pkcs8(&rng).expect("generation works");
        assert!(SigningKey::from_pkcs8_der(v2.as_ref()).is_ok());
    }

    #[test]
    fn pem_other_than_one_private_key_is_rejected() {
        let text = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
        assert!(matches!(
            SigningKey::from_pkcs8_pem(text),
            Err(KeyError::NotPkcs8 { found }) if found == ["PUBLIC KEY"]
        ));
    }

    #[test]
    fn generated_key_file_is_private_and_reloads_to_the_same_key() {
        let directory = std::env::temp_dir().join(format!(
            "cloudcord-auth-test-{}",
            uuid::Uuid::new_v4().simple()
        ));
        let path = directory.join("nested").join("ed25519.pem");

        let created = SigningKey::load_or_generate(&path).expect("creates a new key file");
        let reloaded = SigningKey::load_or_generate(&path).expect("loads the existing file");
        assert_eq!(created.kid(), reloaded.kid());
        assert_eq!(
            SigningKey::load(&path).expect("plain load works").kid(),
            created.kid()
        );

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &std::path::Path| {
                std::fs::metadata(p).expect("exists").permissions().mode() & 0o777
            };
            assert_eq!(mode(&path), 0o600);
            assert_eq!(mode(path.parent().expect("has a parent")), 0o700);
        }
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().expect("has a parent"))
            .expect("directory is readable")
            .map(|entry| entry.expect("entry is readable").file_name())
            .collect();
        assert_eq!(leftovers, ["ed25519.pem"]);

        std::fs::remove_dir_all(&directory).expect("cleanup");
    }
}

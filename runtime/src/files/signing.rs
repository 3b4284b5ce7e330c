//! [`UrlSigner`]: expiring, signed CDN URLs for attachments, shaped like Discord's:
//! `{cdn_url}/attachments/{channel_id}/{attachment_id}/{filename}?ex=…&is=…&hm=…`
//! with `ex` the expiry and `is` the issue time (Unix seconds, hex) and `hm` the
//! HMAC-SHA256 (hex) of the path and both times.
//!
//! Whoever serves a message object signs its attachments' URLs, after checking that
//! the reader may see the channel (query-api's access checks, the gateway's
//! audience, the sender's own answer); the CDN only checks the signature and the
//! expiry, so it needs no read model. A URL cannot be re-pointed at another file
//! or made to live longer without the key.

use std::fmt::Write as _;
use std::sync::Arc;

use aws_lc_rs::hmac;
use cloudcord_schemas::ids::{AttachmentId, ChannelId};
use serde_json::{Value, json};

use super::FilesConfig;

/// How far in the future an issue time may lie (clock skew between services).
const ISSUE_SKEW_SECS: u64 = 60;

/// Signs and checks attachment URLs. Cheap to clone.
#[derive(Clone)]
pub struct UrlSigner {
    key: Arc<hmac::Key>,
    cdn_url: Arc<str>,
    ttl_secs: u64,
}

/// Why a signed URL was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// `ex`, `is` or `hm` is missing or not hex.
    #[error("the URL is not signed")]
    Unsigned,
    /// The signature does not match the path and times.
    #[error("the URL's signature is wrong")]
    Forged,
    /// The URL has expired.
    #[error("the URL has expired")]
    Expired,
}

/// The `ex`, `is` and `hm` query parameters of a signed URL, as received.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct Signature {
    /// Expiry, Unix seconds in hex.
    pub ex: Option<String>,
    /// Issue time, Unix seconds in hex.
    pub is: Option<String>,
    /// HMAC-SHA256 in hex.
    pub hm: Option<String>,
}

impl UrlSigner {
    /// A signer with `config`'s key, CDN URL and lifetime.
    pub fn new(config: &FilesConfig) -> Self {
        Self {
            key: Arc::new(hmac::Key::new(
                hmac::HMAC_SHA256,
                config.signing_secret.as_bytes(),
            )),
            cdn_url: config.cdn_url.trim_end_matches('/').into(),
            ttl_secs: config.url_ttl_secs,
        }
    }

    /// The CDN path (below the CDN URL, no leading slash) of an attachment.
    pub fn attachment_path(channel: ChannelId, attachment: AttachmentId, filename: &str) -> String {
        format!("attachments/{channel}/{attachment}/{filename}")
    }

    /// The whole URL of `path`, valid from `now` (Unix seconds) for the configured
    /// lifetime.
    pub fn sign(&self, path: &str, now: u64) -> String {
        let expires = now.saturating_add(self.ttl_secs);
        let times = format!("ex={expires:x}&is={now:x}");
        let tag = hmac::sign(&self.key, message(path, &times).as_bytes());
        format!("{}/{path}?{times}&hm={}", self.cdn_url, hex(tag.as_ref()))
    }

    /// Whether `signature` was issued by [`Self::sign`] for `path` and is still
    /// valid at `now`.
    pub fn verify(
        &self,
        path: &str,
        signature: &Signature,
        now: u64,
    ) -> Result<(), SignatureError> {
        let (Some(ex), Some(is), Some(hm)) = (&signature.ex, &signature.is, &signature.hm) else {
            return Err(SignatureError::Unsigned);
        };
        let expires = u64::from_str_radix(ex, 16).map_err(|_| SignatureError::Unsigned)?;
        let issued = u64::from_str_radix(is, 16).map_err(|_| SignatureError::Unsigned)?;
        let tag = unhex(hm).ok_or(SignatureError::Unsigned)?;
        // The times are checked as signed, in the canonical form `sign` writes.
        let times = format!("ex={expires:x}&is={issued:x}");
        hmac::verify(&self.key, message(path, &times).as_bytes(), &tag)
            .map_err(|_| SignatureError::Forged)?;
        if now > expires || issued > now.saturating_add(ISSUE_SKEW_SECS) {
            return Err(SignatureError::Expired);
        }
        Ok(())
    }

    /// Adds `url` and `proxy_url` to each attachment of a message object (which
    /// names its `channel_id`, and its attachments' `id` and `filename`).
    pub fn sign_message(&self, message: &mut Value, now: u64) {
        let Some(channel) = message["channel_id"].as_str().and_then(|c| c.parse().ok()) else {
            return;
        };
        let Some(attachments) = message["attachments"].as_array_mut() else {
            return;
        };
        for attachment in attachments {
            let id = attachment["id"].as_str().and_then(|id| id.parse().ok());
            let path = attachment["filename"]
                .as_str()
                .zip(id)
                .map(|(filename, id)| Self::attachment_path(channel, id, filename));
            if let (Some(path), Some(map)) = (path, attachment.as_object_mut()) {
                let url = self.sign(&path, now);
                map.insert("url".into(), json!(url));
                map.insert("proxy_url".into(), json!(url));
            }
        }
    }
}

fn message(path: &str, times: &str) -> String {
    format!("{path}?{times}")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut out, byte| {
        // Writing to a String cannot fail.
        let _ = write!(out, "{byte:02x}");
        out
    })
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

/// The Unix time now, in seconds.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> UrlSigner {
        UrlSigner::new(&FilesConfig::default())
    }

    fn signature_of(url: &str) -> (String, Signature) {
        let (path, query) = url.split_once('?').expect("a query");
        let path = path
            .strip_prefix("http://127.0.0.1:8080/cdn/")
            .expect("the CDN URL")
            .to_owned();
        let mut signature = Signature::default();
        for pair in query.split('&') {
            let (name, value) = pair.split_once('=').expect("name=value");
            let value = Some(value.to_owned());
            match name {
                "ex" => signature.ex = value,
                "is" => signature.is = value,
                "hm" => signature.hm = value,
                _ => {}
            }
        }
        (path, signature)
    }

    #[test]
    fn a_signed_url_verifies_until_it_expires() {
        let signer = signer();
        let (path, signature) = signature_of(&signer.sign("attachments/1/2/a.png", 1_000));
        assert_eq!(signer.verify(&path, &signature, 1_000), Ok(()));
        assert_eq!(signer.verify(&path, &signature, 1_000 + 86_400), Ok(()));
        assert_eq!(
            signer.verify(&path, &signature, 1_001 + 86_400),
            Err(SignatureError::Expired)
        );
    }

    #[test]
    fn another_path_or_a_later_expiry_is_forged() {
        let signer = signer();
        let (_, signature) = signature_of(&signer.sign("attachments/1/2/a.png", 1_000));
        assert_eq!(
            signer.verify("attachments/1/3/a.png", &signature, 1_000),
            Err(SignatureError::Forged)
        );
        let longer = Signature {
            ex: Some(format!("{:x}", 1_000 + 10 * 86_400)),
            ..signature
        };
        assert_eq!(
            signer.verify("attachments/1/2/a.png", &longer, 1_000),
            Err(SignatureError::Forged)
        );
    }

    #[test]
    fn another_key_does_not_verify() {
        let other = UrlSigner::new(&FilesConfig {
            signing_secret: "another".to_owned(),
            ..FilesConfig::default()
        });
        let (path, signature) = signature_of(&signer().sign("attachments/1/2/a.png", 1_000));
        assert_eq!(
            other.verify(&path, &signature, 1_000),
            Err(SignatureError::Forged)
        );
    }
}

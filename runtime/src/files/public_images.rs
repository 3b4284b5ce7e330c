//! Avatars: uploaded as Discord's image data URIs, stored content-addressed, served
//! at Discord's CDN path `/avatars/{user.id}/{hash}.{ext}`.
//!
//! The hash is the first 16 bytes of the image's SHA-256 in hex (Discord's hashes
//! have the same look), with Discord's `a_` prefix for animated (GIF) images. The
//! same bytes give the same hash, so the URL of an avatar never changes meaning and
//! can be cached forever. Avatars are public, as on Discord: their URLs are not
//! signed.

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::FileKey;

/// The bytes of a `data:image/…;base64,…` URI (Discord's "image data"); the type it
/// claims is ignored (the bytes are sniffed).
pub fn decode_data_uri(uri: &str) -> Option<Vec<u8>> {
    let (header, data) = uri.strip_prefix("data:")?.split_once(',')?;
    if !header.ends_with(";base64") {
        return None;
    }
    STANDARD.decode(data.trim()).ok()
}

/// The content hash of an image (see the module docs).
pub fn hash(bytes: &[u8], animated: bool) -> String {
    let digest = digest::digest(&digest::SHA256, bytes);
    let hex: String = digest.as_ref()[..16]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    if animated { format!("a_{hex}") } else { hex }
}

/// Where `owner`'s avatar `hash` is stored: derived from both, so two users with the
/// same picture have a file each (one can delete theirs without touching the other's).
pub fn key(owner: u64, hash: &str) -> FileKey {
    let mut context = digest::Context::new(&digest::SHA256);
    context.update(&owner.to_be_bytes());
    context.update(hash.as_bytes());
    let digest = context.finish();
    let mut first = [0; 8];
    first.copy_from_slice(&digest.as_ref()[..8]);
    // Stores keep keys as signed 64-bit integers.
    FileKey(u64::from_be_bytes(first) >> 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_uris_decode_and_other_text_does_not() {
        assert_eq!(
            decode_data_uri("data:image/png;base64,iVBORw=="),
            Some(vec![0x89, 0x50, 0x4e, 0x47])
        );
        assert_eq!(decode_data_uri("data:image/png,rawtext"), None);
        assert_eq!(decode_data_uri("a1b2c3"), None);
    }

    #[test]
    fn hashes_name_the_content_and_mark_animation() {
        let still = hash(b"picture", false);
        assert_eq!(still.len(), 32);
        assert_eq!(hash(b"picture", false), still);
        assert_ne!(hash(b"other", false), still);
        assert_eq!(hash(b"picture", true), format!("a_{still}"));
        assert_ne!(key(1, &still), key(2, &still));
    }
}

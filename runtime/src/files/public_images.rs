//! Public images: users' avatars and guilds' icons and banners. Uploaded as
//! Discord's image data URIs, stored content-addressed, served at Discord's CDN
//! paths `/avatars/{user.id}/{hash}.{ext}`, `/icons/{guild.id}/{hash}.{ext}` and
//! `/banners/{guild.id}/{hash}.{ext}` ([`PublicImage`]).
//!
//! The hash is the first 16 bytes of the image's SHA-256 in hex (Discord's hashes
//! have the same look), with Discord's `a_` prefix for animated (GIF) images. The
//! same bytes give the same hash, so the URL of an image never changes meaning and
//! can be cached forever. These images are public, as on Discord: their URLs are not
//! signed.

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::FileKey;

/// What a public image is of. Each kind has its own CDN directory and its own keys,
/// so a guild's icon never lands on (or is served as) a user's avatar even where
/// the two ids and pictures are equal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublicImage {
    /// A user's avatar (`/avatars/{user.id}/…`).
    Avatar,
    /// A guild's icon (`/icons/{guild.id}/…`).
    GuildIcon,
    /// A guild's banner (`/banners/{guild.id}/…`).
    GuildBanner,
}

impl PublicImage {
    /// The request field that carries it (`avatar`, `icon`, `banner`).
    pub fn field(self) -> &'static str {
        match self {
            Self::Avatar => "avatar",
            Self::GuildIcon => "icon",
            Self::GuildBanner => "banner",
        }
    }

    /// The kind served from CDN directory `dir` (`avatars`, `icons`, `banners`).
    pub fn from_cdn_dir(dir: &str) -> Option<Self> {
        match dir {
            "avatars" => Some(Self::Avatar),
            "icons" => Some(Self::GuildIcon),
            "banners" => Some(Self::GuildBanner),
            _ => None,
        }
    }

    /// What goes into its keys besides the owner and the hash. Avatars, stored
    /// before the other kinds existed, keep their original (empty) one.
    fn domain(self) -> &'static [u8] {
        match self {
            Self::Avatar => b"",
            Self::GuildIcon => b"guild-icon\0",
            Self::GuildBanner => b"guild-banner\0",
        }
    }
}

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

/// Whether `text` has the shape of a [`hash`]: 32 lowercase hex digits, perhaps
/// after `a_`.
pub fn is_hash(text: &str) -> bool {
    let hex = text.strip_prefix("a_").unwrap_or(text);
    hex.len() == 32 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Where `owner`'s `kind` image `hash` is stored: derived from all three, so two
/// owners with the same picture have a file each (one can remove theirs without
/// touching the other's), and kinds never share a key.
pub fn key(kind: PublicImage, owner: u64, hash: &str) -> FileKey {
    let mut context = digest::Context::new(&digest::SHA256);
    context.update(kind.domain());
    context.update(&owner.to_be_bytes());
    context.update(hash.as_bytes());
    let digest = context.finish();
    let mut first = [0; 8];
    first.copy_from_slice(&digest.as_ref()[..8]);
    // Below 2^63, as every id CloudCord stores.
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
        assert!(is_hash(&still) && is_hash(&format!("a_{still}")));
        assert!(!is_hash("../x") && !is_hash(&still.to_uppercase()) && !is_hash(&still[1..]));
    }

    #[test]
    fn cdn_directories_name_the_kinds() {
        assert_eq!(
            PublicImage::from_cdn_dir("icons"),
            Some(PublicImage::GuildIcon)
        );
        assert_eq!(
            PublicImage::from_cdn_dir("banners"),
            Some(PublicImage::GuildBanner)
        );
        assert_eq!(
            PublicImage::from_cdn_dir("avatars"),
            Some(PublicImage::Avatar)
        );
        assert_eq!(PublicImage::from_cdn_dir("splashes"), None);
    }

    #[test]
    fn keys_differ_by_owner_and_by_kind() {
        let still = hash(b"picture", false);
        let avatar = key(PublicImage::Avatar, 1, &still);
        assert_ne!(avatar, key(PublicImage::Avatar, 2, &still));
        assert_ne!(avatar, key(PublicImage::GuildIcon, 1, &still));
        assert_ne!(
            key(PublicImage::GuildIcon, 1, &still),
            key(PublicImage::GuildBanner, 1, &still)
        );
    }

    #[test]
    fn avatar_keys_are_those_stored_before_guild_images() {
        // SHA-256 of the owner's 8 bytes then the hash, as avatars were keyed.
        let mut context = digest::Context::new(&digest::SHA256);
        context.update(&7u64.to_be_bytes());
        context.update(b"0123456789abcdef0123456789abcdef");
        let mut first = [0; 8];
        first.copy_from_slice(&context.finish().as_ref()[..8]);
        assert_eq!(
            key(PublicImage::Avatar, 7, "0123456789abcdef0123456789abcdef"),
            FileKey(u64::from_be_bytes(first) >> 1)
        );
    }
}

//! What a file is and how it may be served.
//!
//! The type comes from the file's first bytes ([`sniff`]), never from the name or
//! the client's `Content-Type`: a "picture.png" that is HTML is HTML. The CDN then
//! serves only passive types under their own type ([`served_as`]); anything a
//! browser could run (HTML, SVG, XML, scripts, PDFs, unknown bytes) goes out as
//! `application/octet-stream` with `Content-Disposition: attachment`, and every
//! answer carries `X-Content-Type-Options: nosniff`, so no browser second-guesses it.

/// How many leading bytes [`sniff`] looks at (the longest signature `infer` reads
/// is well within this).
pub const SNIFF_BYTES: usize = 8 * 1024;

/// The type of bytes nobody recognised.
pub const OCTET_STREAM: &str = "application/octet-stream";

/// Plain UTF-8 text.
const PLAIN_TEXT: &str = "text/plain; charset=utf-8";

/// The types the CDN serves as what they are: raster images, audio, video, and
/// plain text. Nothing here is active content.
const INLINE_IMAGES: [&str; 6] = [
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "image/avif",
    "image/bmp",
];

/// The media type of a file that starts with `prefix` (its first [`SNIFF_BYTES`]
/// bytes, or all of it when shorter).
pub fn sniff(prefix: &[u8]) -> String {
    if let Some(kind) = infer::get(prefix) {
        return kind.mime_type().to_owned();
    }
    if looks_like_plain_text(prefix) {
        PLAIN_TEXT.to_owned()
    } else {
        OCTET_STREAM.to_owned()
    }
}

/// UTF-8 (a character cut off by the end of the prefix is fine) that does not open
/// with markup: `infer` recognises common HTML and XML, this keeps anything else
/// starting with `<` from being called text.
fn looks_like_plain_text(prefix: &[u8]) -> bool {
    let valid = match std::str::from_utf8(prefix) {
        Ok(_) => true,
        Err(error) => error.error_len().is_none(),
    };
    let first = prefix.iter().find(|b| !b.is_ascii_whitespace());
    valid && !prefix.contains(&0) && first.is_some_and(|&b| b != b'<')
}

/// How the CDN answers with a file of `content_type`: the `Content-Type` header and
/// whether a browser may show it inline (else `Content-Disposition: attachment`).
pub fn served_as(content_type: &str) -> (&str, bool) {
    let passive = INLINE_IMAGES.contains(&content_type)
        || content_type.starts_with("audio/")
        || content_type.starts_with("video/")
        || content_type == PLAIN_TEXT;
    if passive {
        (content_type, true)
    } else {
        (OCTET_STREAM, false)
    }
}

/// Whether audio or video, which players fetch in ranges.
pub fn is_media(content_type: &str) -> bool {
    content_type.starts_with("audio/") || content_type.starts_with("video/")
}

/// A file name safe in a URL path segment and a `Content-Disposition` header:
/// the last path component of `name`, with anything but ASCII letters, digits,
/// `.`, `-` and `_` replaced by `_` (as Discord does with spaces), at most 128
/// characters, never empty or dots only.
pub fn safe_filename(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let mut safe: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .take(128)
        .collect();
    if safe.chars().all(|c| c == '.') {
        safe = "unknown".to_owned();
    }
    safe
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_named_png_is_not_an_image() {
        let html = b"<!DOCTYPE html><html><script>alert(1)</script></html>";
        let sniffed = sniff(html);
        assert_ne!(sniffed, "image/png");
        assert_eq!(served_as(&sniffed), (OCTET_STREAM, false));
    }

    #[test]
    fn markup_infer_misses_is_not_text() {
        assert_eq!(
            sniff(b"  <svg xmlns='http://www.w3.org/2000/svg'/>"),
            OCTET_STREAM
        );
    }

    #[test]
    fn png_is_served_inline() {
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
        assert_eq!(sniff(png), "image/png");
        assert_eq!(served_as("image/png"), ("image/png", true));
    }

    #[test]
    fn utf8_text_cut_mid_character_is_text() {
        let text = "grüße".as_bytes();
        assert_eq!(sniff(&text[..3]), PLAIN_TEXT);
        assert_eq!(served_as(PLAIN_TEXT), (PLAIN_TEXT, true));
    }

    #[test]
    fn filenames_lose_paths_and_odd_characters() {
        assert_eq!(safe_filename("../../etc/pass wd?.png"), "pass_wd_.png");
        assert_eq!(safe_filename(".."), "unknown");
        assert_eq!(safe_filename(""), "unknown");
    }
}

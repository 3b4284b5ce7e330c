//! Uploaded images: their dimensions, their metadata stripped, a preview.
//!
//! Photos carry EXIF (GPS position, camera serial numbers, time taken) that senders
//! rarely mean to publish, so the metadata blocks are cut out of the file before it
//! is stored — without re-encoding, so no pixel changes: JPEG `APP1` (EXIF, XMP) and
//! `APP13` (IPTC) segments, PNG `eXIf`/`tEXt`/`zTXt`/`iTXt`/`tIME` chunks, WebP
//! `EXIF`/`XMP ` chunks (and their flags). GIF has no EXIF and is kept as is.
//!
//! Known limit: the EXIF orientation goes with the rest of EXIF, so a photo whose
//! camera stored it sideways (and said so only in EXIF) is shown sideways.
//!
//! Decoding runs on the caller's blocking thread (`spawn_blocking`): it is CPU
//! work. The decoder's allocation is limited, so a small file declaring a huge
//! canvas ("decompression bomb") fails instead of exhausting memory.

use std::io::Cursor;

use image::{ImageFormat, ImageReader, Limits};

/// The longest side of a preview, in pixels.
pub const THUMBNAIL_SIDE: u32 = 400;

/// Most bytes the decoder may allocate for one image (a 8192×8192 RGBA canvas).
const DECODE_ALLOCATION: u64 = 8192 * 8192 * 4;

/// An image ready to store.
#[derive(Debug)]
pub struct Prepared {
    /// The file without its metadata.
    pub bytes: Vec<u8>,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// A PNG preview at most [`THUMBNAIL_SIDE`] on its longest side, when the image
    /// decodes within the limits.
    pub thumbnail: Option<Vec<u8>>,
}

/// The format of the types this module prepares (what `media::sniff` names them).
fn format(content_type: &str) -> Option<ImageFormat> {
    Some(match content_type {
        "image/png" => ImageFormat::Png,
        "image/jpeg" => ImageFormat::Jpeg,
        "image/gif" => ImageFormat::Gif,
        "image/webp" => ImageFormat::WebP,
        _ => return None,
    })
}

/// Whether files of `content_type` are prepared (and so read whole before storing).
pub fn is_prepared(content_type: &str) -> bool {
    format(content_type).is_some()
}

/// Strips the metadata of an image of `content_type` and reads its size; `None`
/// when it is not an image this module handles or its header does not parse (it
/// is then stored as it came, without dimensions).
pub fn prepare(content_type: &str, bytes: Vec<u8>) -> Option<Prepared> {
    let format = format(content_type)?;
    let bytes = match format {
        ImageFormat::Jpeg => strip_jpeg(&bytes).unwrap_or(bytes),
        ImageFormat::Png => strip_png(&bytes).unwrap_or(bytes),
        ImageFormat::WebP => strip_webp(&bytes).unwrap_or(bytes),
        _ => bytes,
    };
    let mut limits = Limits::default();
    limits.max_alloc = Some(DECODE_ALLOCATION);
    let reader = |bytes: &[u8]| {
        let mut reader = ImageReader::with_format(Cursor::new(bytes.to_vec()), format);
        reader.limits(limits.clone());
        reader
    };
    let (width, height) = reader(&bytes).into_dimensions().ok()?;
    let thumbnail = reader(&bytes).decode().ok().and_then(|image| {
        let preview = image.thumbnail(THUMBNAIL_SIDE, THUMBNAIL_SIDE);
        let mut png = Vec::new();
        preview
            .write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
            .ok()
            .map(|()| png)
    });
    Some(Prepared {
        bytes,
        width,
        height,
        thumbnail,
    })
}

/// A JPEG without its `APP1` and `APP13` segments; `None` when it does not parse
/// as the marker sequence up to the image data.
fn strip_jpeg(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(bytes.get(..2).filter(|soi| *soi == [0xFF, 0xD8])?);
    let mut at = 2;
    loop {
        let marker = *bytes.get(at + 1).filter(|_| bytes.get(at) == Some(&0xFF))?;
        // Start of scan: the entropy-coded data and everything after stay as they are.
        if marker == 0xDA {
            out.extend_from_slice(&bytes[at..]);
            return Some(out);
        }
        let length = usize::from(u16::from_be_bytes([
            *bytes.get(at + 2)?,
            *bytes.get(at + 3)?,
        ]));
        let end = at + 2 + length;
        let segment = bytes.get(at..end)?;
        if marker != 0xE1 && marker != 0xED {
            out.extend_from_slice(segment);
        }
        at = end;
    }
}

/// A PNG without its metadata chunks; `None` when the chunk sequence does not parse.
fn strip_png(bytes: &[u8]) -> Option<Vec<u8>> {
    const SIGNATURE: usize = 8;
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(bytes.get(..SIGNATURE)?);
    let mut at = SIGNATURE;
    while at < bytes.len() {
        let length = u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?);
        let kind = bytes.get(at + 4..at + 8)?;
        // Length, type, data, CRC.
        let end = at + 12 + usize::try_from(length).ok()?;
        let chunk = bytes.get(at..end)?;
        if !matches!(kind, b"eXIf" | b"tEXt" | b"zTXt" | b"iTXt" | b"tIME") {
            out.extend_from_slice(chunk);
        }
        at = end;
    }
    Some(out)
}

/// A WebP without its `EXIF` and `XMP ` chunks (and with `VP8X` no longer claiming
/// them); `None` when the RIFF structure does not parse.
fn strip_webp(bytes: &[u8]) -> Option<Vec<u8>> {
    if bytes.get(..4)? != b"RIFF" || bytes.get(8..12)? != b"WEBP" {
        return None;
    }
    let mut out = bytes[..12].to_vec();
    let mut at = 12;
    while at < bytes.len() {
        let kind = bytes.get(at..at + 4)?;
        let length = usize::try_from(u32::from_le_bytes(
            bytes.get(at + 4..at + 8)?.try_into().ok()?,
        ))
        .ok()?;
        // Chunks are padded to an even length.
        let end = (at + 8 + length + (length & 1)).min(bytes.len());
        let chunk = bytes.get(at..end)?;
        match kind {
            b"EXIF" | b"XMP " => {}
            b"VP8X" => {
                let mut chunk = chunk.to_vec();
                // Flags byte: bit 3 EXIF, bit 2 XMP.
                if let Some(flags) = chunk.get_mut(8) {
                    *flags &= !0b0000_1100;
                }
                out.extend_from_slice(&chunk);
            }
            _ => out.extend_from_slice(chunk),
        }
        at = end;
    }
    let riff_size = u32::try_from(out.len() - 8).ok()?;
    out[4..8].copy_from_slice(&riff_size.to_le_bytes());
    Some(out)
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use image::{ImageFormat, RgbImage};

    use super::*;

    fn encoded(format: ImageFormat, width: u32, height: u32) -> Vec<u8> {
        let image = RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([x.to_le_bytes()[0], y.to_le_bytes()[0], 7])
        });
        let mut bytes = Vec::new();
        image
            .write_to(&mut Cursor::new(&mut bytes), format)
            .expect("encodes");
        bytes
    }

    /// An EXIF payload naming a GPS position, as a camera writes it.
    const EXIF: &[u8] = b"Exif\0\0MM\0*\0\0\0\x08GPSLatitude 52.52N";

    #[test]
    fn jpeg_exif_is_cut_and_the_size_read() {
        let plain = encoded(ImageFormat::Jpeg, 640, 480);
        // SOI, then an APP1 segment with the EXIF payload, then the rest.
        let mut tagged = plain[..2].to_vec();
        tagged.extend_from_slice(&[0xFF, 0xE1]);
        tagged.extend_from_slice(&u16::try_from(EXIF.len() + 2).expect("short").to_be_bytes());
        tagged.extend_from_slice(EXIF);
        tagged.extend_from_slice(&plain[2..]);

        let prepared = prepare("image/jpeg", tagged).expect("a JPEG");
        assert_eq!(prepared.bytes, plain);
        assert_eq!((prepared.width, prepared.height), (640, 480));
        let thumbnail = prepared.thumbnail.expect("a preview");
        let preview = image::load_from_memory(&thumbnail).expect("a PNG");
        assert_eq!((preview.width(), preview.height()), (400, 300));
    }

    #[test]
    fn png_text_and_exif_chunks_are_cut() {
        let plain = encoded(ImageFormat::Png, 20, 10);
        let chunk = |kind: &[u8], data: &[u8]| {
            let mut chunk = u32::try_from(data.len())
                .expect("short")
                .to_be_bytes()
                .to_vec();
            chunk.extend_from_slice(kind);
            chunk.extend_from_slice(data);
            chunk.extend_from_slice(&[0, 0, 0, 0]);
            chunk
        };
        // After the signature and IHDR (8 + 25 bytes).
        let mut tagged = plain[..33].to_vec();
        tagged.extend(chunk(b"eXIf", &EXIF[6..]));
        tagged.extend(chunk(b"tEXt", b"Author\0someone"));
        tagged.extend_from_slice(&plain[33..]);

        let prepared = prepare("image/png", tagged).expect("a PNG");
        assert_eq!(prepared.bytes, plain);
        assert_eq!((prepared.width, prepared.height), (20, 10));
    }

    #[test]
    fn what_does_not_parse_is_not_prepared() {
        assert!(prepare("image/png", b"\x89PNG\r\n\x1a\nnot really".to_vec()).is_none());
        assert!(prepare("text/html", b"<html>".to_vec()).is_none());
    }
}

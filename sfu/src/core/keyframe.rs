//! Keyframes found in RTP payloads without decoding them: a subscriber can move to
//! another simulcast layer only where that layer starts a keyframe (nothing before
//! it is needed to decode what follows), and a VP8 keyframe states the layer's
//! picture size.

use str0m::format::Codec;

use super::simulcast::Size;
use super::vp8::Descriptor;

/// The first packet of a keyframe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Keyframe {
    /// The picture size, when the packet states it (VP8 does).
    pub(crate) size: Option<Size>,
}

/// The keyframe `payload` (an RTP payload of `codec`) starts, if it starts one.
pub(crate) fn starts_keyframe(codec: Codec, payload: &[u8]) -> Option<Keyframe> {
    match codec {
        Codec::Vp8 => vp8(payload),
        Codec::H264 => h264(payload).then_some(Keyframe { size: None }),
        _ => None,
    }
}

/// RFC 7741's payload descriptor, then RFC 6386's frame header (section 9.1).
fn vp8(payload: &[u8]) -> Option<Keyframe> {
    let descriptor = Descriptor::parse(payload)?;
    // Only a frame's first packet carries the frame header.
    if !descriptor.starts_frame {
        return None;
    }
    let header = payload.get(descriptor.len..)?;
    // The P bit: clear on key frames.
    if *header.first()? & 0x01 != 0 {
        return None;
    }
    // After the 3-byte frame tag: the start code, then width and height as 14-bit
    // little-endian values (the top two bits are scaling).
    let size = match header.get(3..10)? {
        [0x9d, 0x01, 0x2a, w0, w1, h0, h1] => Some(Size {
            width: u32::from(u16::from_le_bytes([*w0, *w1]) & 0x3fff),
            height: u32::from(u16::from_le_bytes([*h0, *h1]) & 0x3fff),
        }),
        _ => None,
    };
    Some(Keyframe { size })
}

/// RFC 6184 NAL unit types that begin a keyframe: an IDR slice, or the sequence
/// parameter set browsers send just before one.
const IDR: u8 = 5;
const SPS: u8 = 7;
/// RFC 6184 packetizations that hold other NAL units.
const STAP_A: u8 = 24;
const FU_A: u8 = 28;

fn h264(payload: &[u8]) -> bool {
    let Some(first) = payload.first() else {
        return false;
    };
    let starts = |nal_type: u8| nal_type == IDR || nal_type == SPS;
    match first & 0x1f {
        STAP_A => {
            // Each aggregated unit: a 16-bit size, then the unit.
            let mut rest = &payload[1..];
            while let [hi, lo, unit @ ..] = rest {
                let size = usize::from(u16::from_be_bytes([*hi, *lo]));
                if unit.first().is_some_and(|header| starts(header & 0x1f)) {
                    return true;
                }
                rest = unit.get(size..).unwrap_or_default();
            }
            false
        }
        // A fragment's type is in its FU header; only the start fragment counts.
        FU_A => payload
            .get(1)
            .is_some_and(|fu| fu & 0x80 != 0 && starts(fu & 0x1f)),
        nal_type => starts(nal_type),
    }
}

#[cfg(test)]
mod tests {
    use str0m::format::Codec;

    use super::{Keyframe, Size, starts_keyframe};

    #[test]
    fn vp8_keyframes_are_found_with_their_size() {
        // Descriptor with X, I (15-bit PictureID), L and T; then a key frame tag,
        // the start code and 1280x720.
        let key = [
            0x90, 0xe0, 0x81, 0x23, 0x05, 0x40, 0x50, 0x2a, 0x01, 0x9d, 0x01, 0x2a, 0x00, 0x05,
            0xd0, 0x02, 0xff,
        ];
        assert_eq!(
            starts_keyframe(Codec::Vp8, &key),
            Some(Keyframe {
                size: Some(Size {
                    width: 1280,
                    height: 720
                })
            })
        );
        // The same with the P bit set: an interframe.
        let mut delta = key;
        delta[6] |= 0x01;
        assert_eq!(starts_keyframe(Codec::Vp8, &delta), None);
        // A later packet of the key frame (S clear).
        let mut later = key;
        later[0] &= !0x10;
        assert_eq!(starts_keyframe(Codec::Vp8, &later), None);
        assert_eq!(starts_keyframe(Codec::Vp8, &[]), None);
        assert_eq!(starts_keyframe(Codec::Vp8, &[0x90, 0xe0]), None);
    }

    #[test]
    fn h264_keyframes_are_found_in_every_packetization() {
        let idr = [0x65, 0x88, 0x80];
        let slice = [0x41, 0x9a, 0x00];
        // STAP-A holding SPS (2 bytes) and PPS (2 bytes).
        let stap = [0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xce];
        let stap_slices = [0x78, 0x00, 0x02, 0x41, 0x9a, 0x00, 0x01, 0x41];
        // FU-A start and middle fragments of an IDR slice.
        let fu_start = [0x7c, 0x85, 0x88];
        let fu_middle = [0x7c, 0x05, 0x88];
        for (payload, expected) in [
            (&idr[..], true),
            (&slice[..], false),
            (&stap[..], true),
            (&stap_slices[..], false),
            (&fu_start[..], true),
            (&fu_middle[..], false),
            (&[][..], false),
        ] {
            assert_eq!(
                starts_keyframe(Codec::H264, payload).is_some(),
                expected,
                "{payload:02x?}"
            );
        }
    }
}

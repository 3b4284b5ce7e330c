//! Keyframes found in RTP payloads without decoding them: a subscriber can move to
//! another simulcast layer only where that layer starts a keyframe (nothing before
//! it is needed to decode what follows), and a keyframe states the layer's picture
//! size (VP8's frame header, H.264's sequence parameter set).

use str0m::format::Codec;

use super::h264::{IDR, SPS, nal_units, sps_size};
use super::simulcast::Size;
use super::vp8::Descriptor;

/// The first packet of a keyframe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Keyframe {
    /// The picture size, when the packet states it (VP8's always does, H.264's when
    /// it holds the SPS).
    pub(crate) size: Option<Size>,
}

/// The keyframe `payload` (an RTP payload of `codec`) starts, if it starts one.
pub(crate) fn starts_keyframe(codec: Codec, payload: &[u8]) -> Option<Keyframe> {
    match codec {
        Codec::Vp8 => vp8(payload),
        Codec::H264 => h264(payload),
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

/// An IDR slice begins a keyframe, and so does the sequence parameter set browsers
/// send just before one, which states the picture size.
fn h264(payload: &[u8]) -> Option<Keyframe> {
    let mut keyframe = None;
    for (nal_type, body) in nal_units(payload) {
        let size = match nal_type {
            SPS => sps_size(body),
            IDR => None,
            _ => continue,
        };
        let keyframe = keyframe.get_or_insert(Keyframe { size: None });
        keyframe.size = keyframe.size.or(size);
    }
    keyframe
}

#[cfg(test)]
mod tests {
    use str0m::format::Codec;

    use super::{Keyframe, Size, starts_keyframe};
    use crate::core::h264::tests::X264_1280X720_MAIN;

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

    #[test]
    fn h264_keyframes_state_the_size_of_their_sequence_parameter_set() {
        let sps = &X264_1280X720_MAIN;
        let hd = Some(Keyframe {
            size: Some(Size {
                width: 1280,
                height: 720,
            }),
        });
        // Alone, in a STAP-A with the PPS (as browsers send it), or FU-A's start.
        let mut stap = vec![0x78, 0x00, 24];
        stap.extend(sps);
        stap.extend([0x00, 0x02, 0x68, 0xce]);
        let mut fu = vec![0x7c, 0x80 | sps[0] & 0x1f];
        fu.extend(&sps[1..]);
        for payload in [&sps[..], &stap, &fu] {
            assert_eq!(starts_keyframe(Codec::H264, payload), hd, "{payload:02x?}");
        }
        // An IDR slice alone starts a keyframe of unknown size; so does an SPS
        // too short to read.
        let unsized_keyframe = Some(Keyframe { size: None });
        assert_eq!(
            starts_keyframe(Codec::H264, &[0x65, 0x88]),
            unsized_keyframe
        );
        assert_eq!(starts_keyframe(Codec::H264, &sps[..6]), unsized_keyframe);
    }
}

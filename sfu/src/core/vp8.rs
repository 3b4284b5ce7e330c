//! The VP8 payload descriptor (RFC 7741, section 4.2) that starts every VP8 RTP
//! payload: read to find keyframes and their size (see [`super::keyframe`]), and its
//! picture ids rewritten by a route so that a subscriber sees one picture sequence
//! across simulcast layers.
//!
//! Each layer is its own encoder with its own PictureID and TL0PICIDX sequences. A
//! receiver's reference finder (libwebrtc's) keys frames by picture id: after a
//! switch, a jump (worse, one backwards) looks like lost or stale frames. So at a
//! switch a route shifts the new layer's ids to continue from the last ones it
//! forwarded, as mediasoup and LiveKit do, in the width the packet carries them (7
//! or 15 bits). KEYIDX is left alone: browsers do not send it.
//!
//! str0m parses the descriptor ([`Vp8Descriptor`], which also enforces RFC 7741's
//! rules) and applies the rewrite as a [`Vp8Patch`] while it serializes the packet:
//! the payload, shared by every subscriber, is never copied to be changed. Only
//! where the VP8 payload begins, which str0m keeps to itself, is worked out here.

use str0m::rtp::{Vp8Descriptor, Vp8Patch};

/// Flags of the descriptor's first byte: X (the extension byte follows), S (the
/// packet starts a partition) and PID (the partition index).
const EXTENDED: u8 = 0x80;
const START: u8 = 0x10;
const PARTITION: u8 = 0x07;
/// Flags of the extension byte: I (PictureID), L (TL0PICIDX), T and K (the byte of
/// TID, Y and KEYIDX).
const PICTURE_ID: u8 = 0x80;
const TL0_PIC_IDX: u8 = 0x40;
const TID_OR_KEYIDX: u8 = 0x30;
/// PictureID is 15 bits wide when the first bit of its first byte (M) is set.
const LONG_PICTURE_ID: u8 = 0x80;

/// A payload descriptor's picture ids.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct PictureIds {
    /// PictureID, 7 or 15 bits wide as the packet carries it.
    pub(crate) picture_id: Option<u16>,
    /// TL0PICIDX: the index of the last picture of temporal layer 0.
    pub(crate) tl0_pic_idx: Option<u8>,
}

/// A valid payload descriptor.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Descriptor {
    /// str0m's reading: the fields and where they are, to patch them.
    fields: Vp8Descriptor,
    /// S set and PID 0: the packet starts a frame (and so holds its header).
    pub(crate) starts_frame: bool,
    /// Whether PictureID is 15 bits wide.
    long_picture_id: bool,
    /// The descriptor's length: where the VP8 payload starts.
    pub(crate) len: usize,
}

impl Descriptor {
    /// The descriptor `payload` starts with; `None` if it is malformed or the
    /// payload holds nothing after it.
    pub(crate) fn parse(payload: &[u8]) -> Option<Self> {
        let fields = Vp8Descriptor::parse(payload).ok()?;
        let first = *payload.first()?;
        let mut descriptor = Self {
            fields,
            starts_frame: first & START != 0 && first & PARTITION == 0,
            long_picture_id: false,
            len: 1,
        };
        if first & EXTENDED != 0 {
            let extension = *payload.get(1)?;
            descriptor.len = 2;
            if extension & PICTURE_ID != 0 {
                descriptor.long_picture_id = *payload.get(2)? & LONG_PICTURE_ID != 0;
                descriptor.len += if descriptor.long_picture_id { 2 } else { 1 };
            }
            if extension & TL0_PIC_IDX != 0 {
                descriptor.len += 1;
            }
            if extension & TID_OR_KEYIDX != 0 {
                descriptor.len += 1;
            }
        }
        Some(descriptor)
    }

    /// Its picture ids.
    pub(crate) fn ids(&self) -> PictureIds {
        PictureIds {
            picture_id: self.fields.picture_id(),
            tl0_pic_idx: self.fields.tl0_pic_idx(),
        }
    }

    /// PictureID's modulus: 2^7 or 2^15.
    fn picture_id_modulus(&self) -> u16 {
        if self.long_picture_id {
            1 << 15
        } else {
            1 << 7
        }
    }
}

/// What a route adds to the ids of the layer it forwards, modulo each field's
/// width. PictureID's is kept modulo 2^15, which also serves 7-bit ids: 2^7
/// divides 2^15.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct PictureIdOffsets {
    picture_id: u16,
    tl0_pic_idx: u8,
}

impl PictureIdOffsets {
    /// The offsets that make the layer whose first forwarded packet has the
    /// descriptor `next` continue from `last`, the ids the subscriber saw last:
    /// PictureID and TL0PICIDX both one further (a keyframe, where layers are
    /// switched, is a new picture of temporal layer 0). A field that `last` or
    /// `next` lacks is not shifted.
    pub(crate) fn continuing(last: PictureIds, next: &Descriptor) -> Self {
        let next = next.ids();
        let picture_id = last
            .picture_id
            .zip(next.picture_id)
            .map_or(0, |(last, next)| last.wrapping_add(1).wrapping_sub(next))
            % (1 << 15);
        let tl0_pic_idx = last
            .tl0_pic_idx
            .zip(next.tl0_pic_idx)
            .map_or(0, |(last, next)| last.wrapping_add(1).wrapping_sub(next));
        Self {
            picture_id,
            tl0_pic_idx,
        }
    }

    /// The ids of the packet whose descriptor is `descriptor` once shifted, and the
    /// patch that writes them (`None`: nothing changes).
    pub(crate) fn shift(self, descriptor: &Descriptor) -> (PictureIds, Option<Vp8Patch>) {
        let ids = descriptor.ids();
        if self == Self::default() {
            return (ids, None);
        }
        let shifted = PictureIds {
            picture_id: ids.picture_id.map(|picture_id| {
                picture_id.wrapping_add(self.picture_id) % descriptor.picture_id_modulus()
            }),
            tl0_pic_idx: ids
                .tl0_pic_idx
                .map(|tl0_pic_idx| tl0_pic_idx.wrapping_add(self.tl0_pic_idx)),
        };
        let mut patch = descriptor.fields.patch();
        if let Some(picture_id) = shifted.picture_id {
            patch = patch.picture_id(picture_id);
        }
        if let Some(tl0_pic_idx) = shifted.tl0_pic_idx {
            patch = patch.tl0_pic_idx(tl0_pic_idx);
        }
        // Only fields the descriptor has are patched, each within its width, so
        // str0m finds nothing to refuse; if it did, the packet goes unchanged.
        match patch.build() {
            Ok(patch) => (shifted, Some(patch)),
            Err(_) => (ids, None),
        }
    }
}

#[cfg(test)]
mod tests {
    use str0m::rtp::Vp8Descriptor;

    use super::{Descriptor, PictureIdOffsets, PictureIds};

    /// X, I (15-bit PictureID 0x0123), L (TL0PICIDX 5), T (TID 1, Y); S, partition
    /// 0; then two bytes of VP8 payload.
    const FULL: [u8; 8] = [0x90, 0xe0, 0x81, 0x23, 0x05, 0x60, 0xab, 0xcd];
    /// X, I (7-bit PictureID 100); S, partition 0.
    const SHORT: [u8; 5] = [0x90, 0x80, 100, 0xab, 0xcd];

    fn ids(picture_id: u16, tl0_pic_idx: Option<u8>) -> PictureIds {
        PictureIds {
            picture_id: Some(picture_id),
            tl0_pic_idx,
        }
    }

    fn parse(payload: &[u8]) -> Descriptor {
        Descriptor::parse(payload).expect("a valid descriptor")
    }

    /// What `offsets` make of `payload`'s ids, checked against the patch str0m
    /// builds for those ids.
    fn shift(offsets: PictureIdOffsets, payload: &[u8]) -> PictureIds {
        let (shifted, patch) = offsets.shift(&parse(payload));
        let mut expected = Vp8Descriptor::parse(payload).expect("valid").patch();
        if let Some(picture_id) = shifted.picture_id {
            expected = expected.picture_id(picture_id);
        }
        if let Some(tl0_pic_idx) = shifted.tl0_pic_idx {
            expected = expected.tl0_pic_idx(tl0_pic_idx);
        }
        assert_eq!(patch, expected.build().ok());
        shifted
    }

    #[test]
    fn descriptors_are_parsed_with_and_without_optional_fields() {
        let full = parse(&FULL);
        assert!(full.starts_frame);
        assert_eq!(full.ids(), ids(0x0123, Some(5)));
        assert_eq!(full.len, 6);

        let short = parse(&SHORT);
        assert_eq!(short.ids(), ids(100, None));
        assert_eq!(short.len, 3);

        // No X, a later partition: the one-byte descriptor.
        let bare = parse(&[0x12, 0xab]);
        assert!(!bare.starts_frame);
        assert_eq!(bare.ids(), PictureIds::default());
        assert_eq!(bare.len, 1);

        // K alone also announces the TID/Y/KEYIDX byte.
        assert_eq!(parse(&[0x90, 0x10, 0x1f, 0xab]).len, 3);
    }

    #[test]
    fn short_or_malformed_descriptors_are_refused() {
        // Up to the descriptor alone: nothing follows it.
        for len in 0..=6 {
            assert!(Descriptor::parse(&FULL[..len]).is_none(), "{len} bytes");
        }
        assert!(Descriptor::parse(&SHORT[..3]).is_none());
        // L without T (RFC 7741: T must be set with L).
        assert!(Descriptor::parse(&[0x90, 0x40, 0x05, 0xab]).is_none());
    }

    #[test]
    fn a_switch_continues_from_the_last_ids_forwarded() {
        // The subscriber saw 0x0200 / TL0 9 last; the new layer's keyframe has
        // 0x0123 / 5: its ids become 0x0201 / 10 and keep counting from there.
        let offsets = PictureIdOffsets::continuing(ids(0x0200, Some(9)), &parse(&FULL));
        assert_eq!(shift(offsets, &FULL), ids(0x0201, Some(10)));
        let next = [0x90, 0xe0, 0x81, 0x24, 0x06, 0x60, 0xab];
        assert_eq!(shift(offsets, &next), ids(0x0202, Some(11)));

        // Continuing below the layer's own ids.
        let offsets = PictureIdOffsets::continuing(ids(7, Some(200)), &parse(&FULL));
        assert_eq!(shift(offsets, &FULL), ids(8, Some(201)));
    }

    #[test]
    fn ids_wrap_in_the_width_the_packet_carries() {
        // 7 bits: 127 + 1 is 0.
        let offsets = PictureIdOffsets::continuing(ids(127, None), &parse(&SHORT));
        assert_eq!(shift(offsets, &SHORT), ids(0, None));
        let later = [0x90, 0x80, 127, 0xab];
        assert_eq!(shift(offsets, &later), ids(27, None));

        // 15 bits and TL0PICIDX: 0x7fff + 1 is 0, 255 + 1 is 0.
        let offsets = PictureIdOffsets::continuing(ids(0x7fff, Some(255)), &parse(&FULL));
        assert_eq!(shift(offsets, &FULL), ids(0, Some(0)));
    }

    #[test]
    fn unshifted_ids_need_no_patch() {
        // A route's first layer, and a single-layer route, keep the publisher's ids.
        let (same, patch) = PictureIdOffsets::default().shift(&parse(&FULL));
        assert_eq!((same, patch), (ids(0x0123, Some(5)), None));

        // The last packet forwarded had no TL0PICIDX: the new layer's is kept.
        let offsets = PictureIdOffsets::continuing(ids(0x0200, None), &parse(&FULL));
        assert_eq!(shift(offsets, &FULL), ids(0x0201, Some(5)));

        // Without PictureID or TL0PICIDX there is nothing to shift.
        let offsets = PictureIdOffsets::continuing(ids(0x0200, Some(9)), &parse(&FULL));
        assert_eq!(shift(offsets, &[0x10, 0xab]), PictureIds::default());
    }
}

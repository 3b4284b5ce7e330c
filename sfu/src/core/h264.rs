//! H.264 as the SFU reads it without decoding: the NAL units an RTP payload holds
//! (RFC 6184 packetizations), and the picture size a sequence parameter set states
//! (ITU-T H.264 section 7.3.2.1.1), so that simulcast layers are sized from their
//! keyframes as VP8's are (browsers send the SPS just before each IDR picture), not
//! only when the offer declares `max-width` and `max-height`.
//!
//! A crate such as `h264-reader` would parse the SPS, but none is in the workspace
//! or the offline registry, and the size needs only the fields up to the frame
//! cropping: the reader here stops there (past emulation prevention bytes, the
//! high profiles' chroma format and scaling lists, and picture order count type
//! 1's cycle).

use super::simulcast::Size;

/// NAL unit types (Table 7-1): an IDR slice, and the sequence parameter set.
pub(crate) const IDR: u8 = 5;
pub(crate) const SPS: u8 = 7;
/// RFC 6184 packetizations that hold other NAL units.
const STAP_A: u8 = 24;
const FU_A: u8 = 28;

/// The NAL units (type, and the bytes after the one-byte header) that begin in an
/// RTP payload: the payload itself, each unit of a STAP-A, or the unit a FU-A start
/// fragment begins (its bytes cut at the fragment's end).
pub(crate) fn nal_units(payload: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
    let (first, rest) = payload.split_first().unzip();
    let rest = rest.unwrap_or_default();
    let (single, mut aggregated) = match first.map(|header| header & 0x1f) {
        Some(STAP_A) => (None, rest),
        // A fragment's type is in its FU header; only the start fragment has a
        // unit's beginning.
        Some(FU_A) => (
            rest.split_first()
                .filter(|(fu, _)| **fu & 0x80 != 0)
                .map(|(fu, body)| (fu & 0x1f, body)),
            &[][..],
        ),
        Some(nal_type) => (Some((nal_type, rest)), &[][..]),
        None => (None, &[][..]),
    };
    // Each aggregated unit: a 16-bit size, then the unit (a truncated last one
    // still counts, cut short).
    let aggregated = std::iter::from_fn(move || {
        let [hi, lo, unit @ ..] = aggregated else {
            return None;
        };
        let size = usize::from(u16::from_be_bytes([*hi, *lo])).min(unit.len());
        let (unit, after) = unit.split_at(size);
        aggregated = after;
        Some(
            unit.split_first()
                .map(|(header, body)| (header & 0x1f, body)),
        )
    })
    .flatten();
    single.into_iter().chain(aggregated)
}

/// `profile_idc`s whose SPS has the chroma format, bit depths and scaling lists.
const HIGH_PROFILES: [u8; 13] = [100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135];

/// The cropped picture size the SPS `sps` (the bytes after its NAL unit header)
/// states; `None` if it ends early or its numbers are out of range.
pub(crate) fn sps_size(sps: &[u8]) -> Option<Size> {
    let mut bits = Bits::new(sps);
    let profile_idc = bits.u8()?;
    bits.skip(16)?; // constraint flags, level_idc
    bits.ue()?; // seq_parameter_set_id
    // 4:2:0 unless the profile says otherwise.
    let mut chroma_format_idc = 1;
    let mut separate_colour_planes = false;
    if HIGH_PROFILES.contains(&profile_idc) {
        chroma_format_idc = bits.ue()?;
        if chroma_format_idc == 3 {
            separate_colour_planes = bits.flag()?;
        }
        bits.ue()?; // bit_depth_luma_minus8
        bits.ue()?; // bit_depth_chroma_minus8
        bits.skip(1)?; // qpprime_y_zero_transform_bypass_flag
        if bits.flag()? {
            let lists = if chroma_format_idc == 3 { 12 } else { 8 };
            for list in 0..lists {
                if bits.flag()? {
                    bits.scaling_list(if list < 6 { 16 } else { 64 })?;
                }
            }
        }
    }
    bits.ue()?; // log2_max_frame_num_minus4
    match bits.ue()? {
        0 => {
            bits.ue()?; // log2_max_pic_order_cnt_lsb_minus4
        }
        1 => {
            bits.skip(1)?; // delta_pic_order_always_zero_flag
            bits.se()?; // offset_for_non_ref_pic
            bits.se()?; // offset_for_top_to_bottom_field
            for _ in 0..bits.ue()? {
                bits.se()?; // offset_for_ref_frame
            }
        }
        _ => {}
    }
    bits.ue()?; // max_num_ref_frames
    bits.skip(1)?; // gaps_in_frame_num_value_allowed_flag
    let width_in_mbs = bits.ue()?.checked_add(1)?;
    let height_in_map_units = bits.ue()?.checked_add(1)?;
    let frame_mbs_only = bits.flag()?;
    if !frame_mbs_only {
        bits.skip(1)?; // mb_adaptive_frame_field_flag
    }
    bits.skip(1)?; // direct_8x8_inference_flag
    let [left, right, top, bottom] = if bits.flag()? {
        [bits.ue()?, bits.ue()?, bits.ue()?, bits.ue()?]
    } else {
        [0; 4]
    };
    // Fields (no frame_mbs_only) make map units pairs of macroblock rows.
    let field_factor = if frame_mbs_only { 1 } else { 2 };
    // Crop offsets count chroma samples (equations 7-19 to 7-22): SubWidthC and
    // SubHeightC of the chroma format, 1 without chroma arrays.
    let (crop_x, crop_y) = match (separate_colour_planes, chroma_format_idc) {
        (false, 1) => (2, 2 * field_factor),
        (false, 2) => (2, field_factor),
        _ => (1, field_factor),
    };
    let width = width_in_mbs
        .checked_mul(16)?
        .checked_sub(crop_x * left.checked_add(right)?)?;
    let height = height_in_map_units
        .checked_mul(16 * field_factor)?
        .checked_sub(crop_y * top.checked_add(bottom)?)?;
    Some(Size {
        width: u32::try_from(width).ok()?,
        height: u32::try_from(height).ok()?,
    })
}

/// Reads a NAL unit's payload bit by bit, most significant first, dropping its
/// emulation prevention bytes (an 0x03 after two zero bytes) on the way.
struct Bits<'a> {
    bytes: &'a [u8],
    /// The next byte to read from `bytes`.
    next: usize,
    /// Zero bytes just read, to spot emulation prevention.
    zeros: u8,
    /// The byte being read and how many of its bits are left.
    current: u8,
    left: u8,
}

impl<'a> Bits<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            next: 0,
            zeros: 0,
            current: 0,
            left: 0,
        }
    }

    fn bit(&mut self) -> Option<u64> {
        if self.left == 0 {
            let mut byte = *self.bytes.get(self.next)?;
            self.next += 1;
            if self.zeros >= 2 && byte == 0x03 {
                byte = *self.bytes.get(self.next)?;
                self.next += 1;
                self.zeros = 0;
            }
            self.zeros = if byte == 0 { self.zeros + 1 } else { 0 };
            self.current = byte;
            self.left = 8;
        }
        self.left -= 1;
        Some(u64::from((self.current >> self.left) & 1))
    }

    fn bits(&mut self, count: u32) -> Option<u64> {
        (0..count).try_fold(0, |value, _| Some(value << 1 | self.bit()?))
    }

    fn skip(&mut self, count: u32) -> Option<()> {
        self.bits(count).map(drop)
    }

    fn flag(&mut self) -> Option<bool> {
        self.bit().map(|bit| bit == 1)
    }

    fn u8(&mut self) -> Option<u8> {
        self.bits(8).and_then(|value| u8::try_from(value).ok())
    }

    /// An unsigned exp-Golomb code, `ue(v)` (section 9.1). Values past 32 bits
    /// occur in no valid SPS.
    fn ue(&mut self) -> Option<u64> {
        let mut zeros = 0;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros > 32 {
                return None;
            }
        }
        Some((1 << zeros) - 1 + self.bits(zeros)?)
    }

    /// A signed exp-Golomb code, `se(v)`: 1, −1, 2, −2, … for 1, 2, 3, 4, …
    fn se(&mut self) -> Option<i64> {
        let code = i64::try_from(self.ue()?).ok()?;
        Some(if code % 2 == 1 {
            (code + 1) / 2
        } else {
            -(code / 2)
        })
    }

    /// A `scaling_list()` of `size` entries (section 7.3.2.1.1.1): read only to
    /// get past it. Its deltas stop once one makes the next scale zero.
    fn scaling_list(&mut self, size: usize) -> Option<()> {
        let mut last = 8;
        for _ in 0..size {
            let next = (last + self.se()? + 256).rem_euclid(256);
            if next == 0 {
                return Some(());
            }
            last = next;
        }
        Some(())
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::{IDR, SPS, Size, nal_units, sps_size};

    /// Sequence parameter sets (NAL units, header byte first) written by x264
    /// 0.164.3095 for two gray frames of each size (`x264 --input-res WxH --profile
    /// P -o out.264 in.yuv`), cut from its Annex B output. Their VUI, after the
    /// fields read here, holds emulation prevention bytes. (`sim` has more: its
    /// H.264 camera's layers.)
    /// 864x480 coded, cropped by 10 columns.
    const X264_854X480_BASELINE: [u8; 24] = [
        0x67, 0x42, 0xc0, 0x1f, 0xd9, 0x00, 0xd8, 0x3d, 0xe6, 0xe1, 0x00, 0x00, 0x03, 0x00, 0x01,
        0x00, 0x00, 0x03, 0x00, 0x3c, 0x8f, 0x18, 0x32, 0x48,
    ];
    pub(crate) const X264_1280X720_MAIN: [u8; 24] = [
        0x67, 0x4d, 0x40, 0x1f, 0xec, 0xa0, 0x28, 0x02, 0xdd, 0x08, 0x00, 0x00, 0x03, 0x00, 0x08,
        0x00, 0x00, 0x03, 0x01, 0xe4, 0x78, 0xc1, 0x8c, 0xb0,
    ];
    /// 1920x1088 coded, cropped by 8 rows.
    const X264_1920X1080_HIGH: [u8; 26] = [
        0x67, 0x64, 0x00, 0x28, 0xac, 0xd9, 0x40, 0x78, 0x02, 0x27, 0xe5, 0x84, 0x00, 0x00, 0x03,
        0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0xf2, 0x3c, 0x60, 0xc6, 0x58,
    ];
    /// `--tff`: interlaced (frame_mbs_only_flag clear), 34 map units of field
    /// macroblock pairs, crop units of two rows.
    const X264_1920X1080_INTERLACED: [u8; 25] = [
        0x67, 0x64, 0x00, 0x28, 0xac, 0xd9, 0x40, 0x78, 0x04, 0x4f, 0xdc, 0x20, 0x00, 0x00, 0x03,
        0x00, 0x20, 0x00, 0x00, 0x07, 0x93, 0xe2, 0xc5, 0xb2, 0xc0,
    ];
    /// `--output-csp i444 --profile high444`: chroma_format_idc 3, crop units of
    /// one sample.
    const X264_640X360_444: [u8; 26] = [
        0x67, 0xf4, 0x00, 0x1e, 0x91, 0x9b, 0x28, 0x14, 0x05, 0xff, 0x13, 0x08, 0x00, 0x00, 0x03,
        0x00, 0x08, 0x00, 0x00, 0x03, 0x01, 0xe4, 0x78, 0xb1, 0x6c, 0xb0,
    ];

    fn size(width: u32, height: u32) -> Option<Size> {
        Some(Size { width, height })
    }

    #[test]
    fn sizes_are_read_from_real_sequence_parameter_sets() {
        for (sps, expected) in [
            (&X264_854X480_BASELINE[..], size(854, 480)),
            (&X264_1280X720_MAIN[..], size(1280, 720)),
            (&X264_1920X1080_HIGH[..], size(1920, 1080)),
            (&X264_1920X1080_INTERLACED[..], size(1920, 1080)),
            (&X264_640X360_444[..], size(640, 360)),
        ] {
            assert_eq!(sps[0] & 0x1f, SPS);
            assert_eq!(sps_size(&sps[1..]), expected, "{sps:02x?}");
        }
    }

    /// Writes SPS fields as bits, then packs them into a NAL unit the way an
    /// encoder does: the stop bit, then emulation prevention bytes.
    #[derive(Default)]
    struct Writer(Vec<bool>);

    impl Writer {
        fn u(&mut self, bits: u32, value: u64) -> &mut Self {
            self.0
                .extend((0..bits).rev().map(|bit| value >> bit & 1 == 1));
            self
        }

        fn ue(&mut self, value: u64) -> &mut Self {
            let len = 64 - (value + 1).leading_zeros();
            self.u(len - 1, 0).u(len, value + 1)
        }

        fn se(&mut self, value: i64) -> &mut Self {
            self.ue(if value > 0 {
                value.unsigned_abs() * 2 - 1
            } else {
                value.unsigned_abs() * 2
            })
        }

        fn nal(&mut self) -> Vec<u8> {
            self.u(1, 1);
            let mut nal = vec![0x67];
            let mut zeros = 0;
            for chunk in self.0.chunks(8) {
                let byte = chunk
                    .iter()
                    .enumerate()
                    .fold(0u8, |byte, (i, bit)| byte | u8::from(*bit) << (7 - i));
                if zeros >= 2 && byte <= 3 {
                    nal.push(0x03);
                    zeros = 0;
                }
                nal.push(byte);
                zeros = if byte == 0 { zeros + 1 } else { 0 };
            }
            nal
        }
    }

    /// A High profile SPS with what x264 never writes: scaling lists (explicit,
    /// "use the default" and 8x8), picture order count type 1, and a large
    /// reference frame offset whose zero bits need emulation prevention before the
    /// size fields; 1920x1080 as 120x68 macroblocks, 8 rows cropped.
    fn constructed_sps() -> Vec<u8> {
        let mut sps = Writer::default();
        sps.u(8, 100).u(8, 0).u(8, 40).ue(0);
        sps.ue(1).ue(0).ue(0).u(1, 0); // 4:2:0, 8 bits, no bypass
        sps.u(1, 1); // seq_scaling_matrix_present_flag
        for list in 0..8 {
            match list {
                // 16 explicit scales (all deltas read).
                0 => {
                    sps.u(1, 1);
                    for _ in 0..16 {
                        sps.se(1);
                    }
                }
                // Use the default: the first delta makes the next scale zero.
                1 => {
                    sps.u(1, 1).se(-8);
                }
                // An 8x8 list of 64, wrapping past 255 (never to zero).
                6 => {
                    sps.u(1, 1);
                    for _ in 0..64 {
                        sps.se(7);
                    }
                }
                _ => {
                    sps.u(1, 0);
                }
            }
        }
        sps.ue(0).ue(1); // log2_max_frame_num_minus4, pic_order_cnt_type
        sps.u(1, 0).se(-1).se(2).ue(2).se(1 << 20).se(-3);
        sps.ue(1).u(1, 0); // max_num_ref_frames, gaps
        sps.ue(119).ue(67).u(1, 1).u(1, 1); // size, frame_mbs_only, direct_8x8
        sps.u(1, 1).ue(0).ue(0).ue(0).ue(4); // cropping
        sps.u(1, 0); // no VUI
        sps.nal()
    }

    #[test]
    fn scaling_lists_order_count_cycles_and_emulation_prevention_are_read_past() {
        let sps = constructed_sps();
        let size_fields = sps.len() - 6;
        assert!(
            sps[..size_fields]
                .windows(3)
                .any(|window| window == [0x00, 0x00, 0x03]),
            "emulation prevention before the size: {sps:02x?}"
        );
        assert_eq!(sps_size(&sps[1..]), size(1920, 1080));
    }

    #[test]
    fn truncated_or_nonsensical_sequence_parameter_sets_have_no_size() {
        // Every prefix that stops before the cropping fields are read.
        for len in 1..10 {
            assert_eq!(sps_size(&X264_1920X1080_HIGH[1..len]), None, "{len} bytes");
        }
        // Half of the constructed one stops in its scaling lists.
        let sps = constructed_sps();
        for len in 1..sps.len() / 2 {
            assert_eq!(sps_size(&sps[1..len]), None, "{len} bytes");
        }
        // Exp-Golomb codes longer than 32 bits.
        assert_eq!(sps_size(&[0x42, 0xc0, 0x1e, 0, 0, 0, 0, 0, 0]), None);
        // Cropping more than the picture has.
        let mut over_cropped = Writer::default();
        over_cropped
            .u(8, 66)
            .u(8, 0)
            .u(8, 30)
            .ue(0)
            .ue(0)
            .ue(2)
            .ue(1)
            .u(1, 0);
        over_cropped.ue(0).ue(0).u(1, 1).u(1, 1);
        over_cropped.u(1, 1).ue(9).ue(0).ue(0).ue(0);
        assert_eq!(sps_size(&over_cropped.nal()[1..]), None);
    }

    #[test]
    fn nal_units_are_found_in_every_packetization() {
        let types = |payload: &[u8]| -> Vec<(u8, Vec<u8>)> {
            nal_units(payload)
                .map(|(nal_type, body)| (nal_type, body.to_vec()))
                .collect()
        };
        assert_eq!(types(&[0x65, 0x88]), [(IDR, vec![0x88])]);
        // STAP-A of SPS and PPS, then a unit whose size overruns the payload.
        assert_eq!(
            types(&[
                0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x01, 0x68, 0x00, 0x09, 0x65, 0x88
            ]),
            [(SPS, vec![0x42]), (8, vec![]), (IDR, vec![0x88])]
        );
        // FU-A: the start fragment of an SPS; a middle fragment begins nothing.
        assert_eq!(types(&[0x7c, 0x87, 0x42, 0xc0]), [(SPS, vec![0x42, 0xc0])]);
        assert_eq!(types(&[0x7c, 0x07, 0x42]), []);
        assert_eq!(types(&[0x7c]), []);
        assert_eq!(types(&[]), []);
    }
}

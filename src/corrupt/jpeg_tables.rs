//! The JPEG quantisation tables as libjpeg builds them for a quality setting, and the zig-zag order.
//!
//! The base tables are the example tables of ITU-T T.81 (1992) Annex K.1 (Tables K.1 and K.2), which libjpeg
//! (and libjpeg-turbo, which PIL bundles) uses by default. A quality `q` in 1…100 becomes a percentage scale
//! `s = 5000 / q` for `q < 50` and `s = 200 − 2q` otherwise (`jpeg_quality_scaling`), and each entry becomes
//! `⌊(base · s + 50) / 100⌋`, clamped to `1…255` (baseline: PIL asks libjpeg to force 8-bit tables).

/// Entries per 8×8 block.
pub const BLOCK: usize = 64;

/// T.81 Table K.1, luminance, in natural (row-major) order.
#[rustfmt::skip]
const LUMA_BASE: [u16; BLOCK] = [
    16, 11, 10, 16, 24, 40, 51, 61,
    12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77,
    24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101,
    72, 92, 95, 98, 112, 100, 103, 99,
];

/// T.81 Table K.2, chrominance, in natural order.
#[rustfmt::skip]
const CHROMA_BASE: [u16; BLOCK] = [
    17, 18, 24, 47, 99, 99, 99, 99,
    18, 21, 26, 66, 99, 99, 99, 99,
    24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99,
];

/// `ZIGZAG[k]` is the natural-order index of the `k`-th coefficient in zig-zag order (T.81 Figure A.6).
#[rustfmt::skip]
pub const ZIGZAG: [usize; BLOCK] = [
    0, 1, 8, 16, 9, 2, 3, 10,
    17, 24, 32, 25, 18, 11, 4, 5,
    12, 19, 26, 33, 40, 48, 41, 34,
    27, 20, 13, 6, 7, 14, 21, 28,
    35, 42, 49, 56, 57, 50, 43, 36,
    29, 22, 15, 23, 30, 37, 44, 51,
    58, 59, 52, 45, 38, 31, 39, 46,
    53, 60, 61, 54, 47, 55, 62, 63,
];

/// libjpeg's percentage scale for a quality (clamped to 1…100 first, as `jpeg_quality_scaling` does).
pub fn quality_scale(quality: u8) -> u32 {
    let q = u32::from(quality.clamp(1, 100));
    if q < 50 { 5000 / q } else { 200 - 2 * q }
}

fn scaled(base: &[u16; BLOCK], quality: u8) -> [u16; BLOCK] {
    let s = quality_scale(quality);
    base.map(|b| ((u32::from(b) * s + 50) / 100).clamp(1, 255) as u16)
}

/// The luminance table libjpeg uses at `quality` (natural order).
pub fn luma_table(quality: u8) -> [u16; BLOCK] {
    scaled(&LUMA_BASE, quality)
}

/// The chrominance table libjpeg uses at `quality` (natural order).
pub fn chroma_table(quality: u8) -> [u16; BLOCK] {
    scaled(&CHROMA_BASE, quality)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quality_50_is_the_base_table_and_100_is_all_ones() {
        assert_eq!(luma_table(50), LUMA_BASE);
        assert_eq!(chroma_table(50), CHROMA_BASE);
        assert_eq!(luma_table(100), [1; BLOCK]);
    }

    #[test]
    fn low_qualities_clamp_to_baseline() {
        // q = 7: scale 714, so 121 · 7.14 = 864 is clamped to 255.
        assert_eq!(quality_scale(7), 714);
        assert_eq!(luma_table(7)[6 * 8 + 5], 255);
        assert_eq!(luma_table(7)[0], (16 * 714 + 50) / 100);
    }

    #[test]
    fn zigzag_is_a_permutation() {
        let mut seen = [false; BLOCK];
        for &i in &ZIGZAG {
            assert!(!seen[i]);
            seen[i] = true;
        }
    }
}

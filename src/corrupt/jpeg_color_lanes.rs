//! libjpeg's colour conversions of [`super::jpeg_color`] with AVX2 (x86-64, chosen at run time by
//! [`crate::wide::v3`]): 32 pixels per step in 16-bit lanes, the interleaved RGB bytes taken apart and put back
//! together with byte shuffles, as libjpeg-turbo's own SIMD code does. The results are those of
//! [`jpeg_color::rgb_to_ycc`] and [`jpeg_color::ycc_to_rgb`], bit for bit.
//!
//! Why the 16-bit arithmetic gives the same integers. Both conversions are sums of products of 8-bit values
//! with 16-bit fixed-point constants `k = FIX(x)` (`jpeg_color`), shifted right by 16 with a rounding half.
//!
//! - **RGB → YCbCr.** `vpmaddwd` multiplies pairs of signed 16-bit lanes and adds each pair exactly into 32
//!   bits, so every sum is formed exactly; only the constants must fit in a signed 16-bit lane. Those that do
//!   not are split: `FIX(0.587)·g = 22086·g + 16384·g` (libjpeg-turbo's split), and the `FIX(0.5) = 2¹⁵` terms
//!   are `x << 15` on 32-bit lanes. Every partial sum is below 2²⁵ in magnitude, so the 32-bit additions are
//!   exact, and the totals before the shift are non-negative (Y in `[2¹⁵, 2²⁴)`, Cb and Cr in
//!   `[2¹⁶ − 1, 2²⁴)`), so the logical shift by 16 (`vpsrld`) is the scalar arithmetic one.
//! - **YCbCr → RGB.** With `c = cb − 128`, `d = cr − 128` (−128 ≤ c, d ≤ 127): `FIX(1.402) = 2¹⁶ + 26345` and
//!   `FIX(1.772) = 2·2¹⁶ − 14942`, so `(FIX(1.402)·d + 2¹⁵) >> 16 = d + ((26345·d + 2¹⁵) >> 16)` and
//!   `(FIX(1.772)·c + 2¹⁵) >> 16 = 2c + ((−14942·c + 2¹⁵) >> 16)` (since `⌊(m·2¹⁶ + x) / 2¹⁶⌋ = m +
//!   ⌊x / 2¹⁶⌋` for integers m, x). For a 32-bit product `x = k·d` held as its high half `h = ⌊x / 2¹⁶⌋` (`vpmulhw`) and its low
//!   half `l = x mod 2¹⁶` (`vpmullw`), `⌊(x + 2¹⁵) / 2¹⁶⌋ = h + ⌊l / 2¹⁵⌋`: the rounding half carries into the
//!   high half exactly when the low half's top bit is set. Green is `⌊(−22554·c − 46802·d + 2¹⁵) / 2¹⁶⌋ =
//!   −d + ⌊(−22554·c + 18734·d + 2¹⁵) / 2¹⁶⌋` (`−46802 = −2¹⁶ + 18734`), the inner sum formed by `vpmaddwd`.
//!   Before the clamp R lies in `[−179, 433]`, G in `[−134, 390]` and B in `[−227, 480]` (16-bit lanes hold
//!   them), and packing with unsigned saturation is the scalar clamp to 0…255.
//!
//! `tests::both_conversions_match_the_scalar_ones_on_every_input` compares the two with the scalar functions on
//! all 2²⁴ inputs of each.

use super::jpeg_color;
use core::arch::x86_64::{__m128i, __m256i};
use pulp::x86::V3;

/// Pixels per step.
const STEP: usize = 32;

/// The `vpshufb` masks between 16 interleaved RGB pixels (48 bytes in three registers k = 0, 1, 2) and their
/// three channels c = 0 (R), 1 (G), 2 (B): byte t of register k is channel c of pixel p when 16k + t = 3p + c.
/// `split`: indexed `[c][k]`, the mask that moves channel c's bytes found in register k to their pixels'
/// positions; else `[k][c]`, the mask that moves channel c's samples to their bytes in register k. −128 clears
/// a byte.
const fn shuffle_masks(split: bool) -> [[[i8; 16]; 3]; 3] {
    let mut table = [[[-128i8; 16]; 3]; 3];
    let mut at = 0;
    while at < 48 {
        let (k, t, p, c) = (at / 16, at % 16, at / 3, at % 3);
        if split {
            table[c][k][p] = t as i8;
        } else {
            table[k][c][t] = p as i8;
        }
        at += 1;
    }
    table
}

/// Channel c from register k: `SPLIT[c][k]` (one channel gathers from the three registers).
const SPLIT: [[[i8; 16]; 3]; 3] = shuffle_masks(true);

/// Register k from channel c: `JOIN[k][c]` (one register gathers from the three channels).
const JOIN: [[[i8; 16]; 3]; 3] = shuffle_masks(false);

/// A 16-byte mask in both 128-bit lanes (`vpshufb` shuffles within each lane).
#[inline(always)]
fn both_lanes(s: V3, m: [i8; 16]) -> __m256i {
    s.avx2._mm256_broadcastsi128_si256(pulp::cast::<_, __m128i>(m))
}

/// Every 32-bit lane the 16-bit pair `(lo, hi)`, for `vpmaddwd`; both must fit in 16 signed bits (the
/// constants passed are checked below).
#[inline(always)]
fn pair(s: V3, lo: i32, hi: i32) -> __m256i {
    debug_assert!(fits_16(lo) && fits_16(hi));
    s.avx._mm256_set1_epi32(((u32::from(hi as u16) << 16) | u32::from(lo as u16)) as i32)
}

const fn fits_16(k: i32) -> bool {
    k >= i16::MIN as i32 && k <= i16::MAX as i32
}

// The split constants of the module documentation, each a signed 16-bit lane.
const _: () = {
    use jpeg_color::*;
    assert!(fits_16(FIX_0_29900) && fits_16(FIX_0_58700 - (1 << 14)) && fits_16(FIX_0_11400));
    assert!(fits_16(FIX_0_16874) && fits_16(FIX_0_33126) && fits_16(FIX_0_41869) && fits_16(FIX_0_08131));
    assert!(fits_16(FIX_1_40200 - (1 << 16)) && fits_16(FIX_1_77200 - (2 << 16)));
    assert!(fits_16(FIX_0_34414) && fits_16(FIX_0_71414 - (1 << 16)));
    assert!(FIX_0_50000 == 1 << 15);
};

/// [`jpeg_color::rgb_to_ycc`] of the interleaved RGB pixels `px` into `y`, `cb`, `cr` (as many pixels as `y`
/// holds).
pub(super) fn rgb_to_ycc(s: V3, px: &[u8], y: &mut [u8], cb: &mut [u8], cr: &mut [u8]) {
    s.vectorize(ToYcc { s, px, y, cb, cr });
}

/// [`jpeg_color::ycc_to_rgb`] of the samples `y`, `cb`, `cr` into interleaved RGB pixels `out` (as many pixels
/// as `out` holds).
pub(super) fn ycc_to_rgb(s: V3, y: &[u8], cb: &[u8], cr: &[u8], out: &mut [u8]) {
    s.vectorize(ToRgb { s, y, cb, cr, out });
}

/// [`rgb_to_ycc`]'s work, a type rather than a closure so that it is compiled inside the AVX2 function.
struct ToYcc<'a> {
    s: V3,
    px: &'a [u8],
    y: &'a mut [u8],
    cb: &'a mut [u8],
    cr: &'a mut [u8],
}

impl pulp::NullaryFnOnce for ToYcc<'_> {
    type Output = ();

    #[inline(always)]
    fn call(self) {
        rgb_to_ycc_row(self.s, self.px, self.y, self.cb, self.cr);
    }
}

/// [`ycc_to_rgb`]'s work, a type for the same reason.
struct ToRgb<'a> {
    s: V3,
    y: &'a [u8],
    cb: &'a [u8],
    cr: &'a [u8],
    out: &'a mut [u8],
}

impl pulp::NullaryFnOnce for ToRgb<'_> {
    type Output = ();

    #[inline(always)]
    fn call(self) {
        ycc_to_rgb_row(self.s, self.y, self.cb, self.cr, self.out);
    }
}

// The row loops below call only `#[inline(always)]` functions, never closures: a closure is compiled on its own,
// without AVX2, and every intrinsic in it would become a call.

/// The sixteen bytes of `m` in both 128-bit lanes.
#[inline(always)]
fn masks(s: V3, m: &[[i8; 16]; 3]) -> [__m256i; 3] {
    [both_lanes(s, m[0]), both_lanes(s, m[1]), both_lanes(s, m[2])]
}

/// The or of `x[k]` shuffled by `m[k]`, k = 0, 1, 2.
#[inline(always)]
fn gather(s: V3, x: &[__m256i; 3], m: &[__m256i; 3]) -> __m256i {
    let a = s.avx2;
    let (p0, p1, p2) = (
        a._mm256_shuffle_epi8(x[0], m[0]),
        a._mm256_shuffle_epi8(x[1], m[1]),
        a._mm256_shuffle_epi8(x[2], m[2]),
    );
    a._mm256_or_si256(a._mm256_or_si256(p0, p1), p2)
}

/// The low (bytes 0‥8 of each lane) or high (8‥16) bytes of `x` as 16-bit lanes.
#[inline(always)]
fn widen(s: V3, x: __m256i, low: bool) -> __m256i {
    let zero = s.avx._mm256_setzero_si256();
    if low { s.avx2._mm256_unpacklo_epi8(x, zero) } else { s.avx2._mm256_unpackhi_epi8(x, zero) }
}

/// The low or high 16-bit lanes of each 128-bit lane of `x` and `y`, interleaved as 32-bit pairs.
#[inline(always)]
fn pairs_of(s: V3, x: __m256i, y: __m256i, low: bool) -> __m256i {
    if low { s.avx2._mm256_unpacklo_epi16(x, y) } else { s.avx2._mm256_unpackhi_epi16(x, y) }
}

/// The constants of RGB → YCbCr.
#[derive(Clone, Copy)]
struct YccConstants {
    rg_y: __m256i,
    bg_y: __m256i,
    rg_cb: __m256i,
    bg_cr: __m256i,
    y_half: __m256i,
    c_offset: __m256i,
}

impl YccConstants {
    #[inline(always)]
    fn new(s: V3) -> YccConstants {
        use jpeg_color::*;
        YccConstants {
            rg_y: pair(s, FIX_0_29900, FIX_0_58700 - (1 << 14)),
            bg_y: pair(s, FIX_0_11400, 1 << 14),
            rg_cb: pair(s, -FIX_0_16874, -FIX_0_33126),
            bg_cr: pair(s, -FIX_0_08131, -FIX_0_41869),
            y_half: s.avx._mm256_set1_epi32(ONE_HALF),
            c_offset: s.avx._mm256_set1_epi32(CBCR_OFFSET + ONE_HALF - 1),
        }
    }
}

/// Y, Cb, Cr in 32-bit lanes of the low or high 16-bit lanes of the 16-bit samples `r`, `g`, `b`.
#[inline(always)]
fn ycc_quarter(s: V3, k: YccConstants, [r, g, b]: [__m256i; 3], low: bool) -> [__m256i; 3] {
    let a = s.avx2;
    let zero = s.avx._mm256_setzero_si256();
    let (rg, bg) = (pairs_of(s, r, g, low), pairs_of(s, b, g, low));
    let (r32, b32) = (pairs_of(s, r, zero, low), pairs_of(s, b, zero, low));
    let y = a._mm256_add_epi32(a._mm256_madd_epi16(rg, k.rg_y), a._mm256_madd_epi16(bg, k.bg_y));
    let cb = a._mm256_add_epi32(a._mm256_madd_epi16(rg, k.rg_cb), a._mm256_slli_epi32::<15>(b32));
    let cr = a._mm256_add_epi32(a._mm256_madd_epi16(bg, k.bg_cr), a._mm256_slli_epi32::<15>(r32));
    [
        a._mm256_srli_epi32::<16>(a._mm256_add_epi32(y, k.y_half)),
        a._mm256_srli_epi32::<16>(a._mm256_add_epi32(cb, k.c_offset)),
        a._mm256_srli_epi32::<16>(a._mm256_add_epi32(cr, k.c_offset)),
    ]
}

/// Y, Cb, Cr in 16-bit lanes of the 16-bit samples `rgb`.
#[inline(always)]
fn ycc_of(s: V3, k: YccConstants, rgb: [__m256i; 3]) -> [__m256i; 3] {
    let a = s.avx2;
    let (lo, hi) = (ycc_quarter(s, k, rgb, true), ycc_quarter(s, k, rgb, false));
    [
        a._mm256_packs_epi32(lo[0], hi[0]),
        a._mm256_packs_epi32(lo[1], hi[1]),
        a._mm256_packs_epi32(lo[2], hi[2]),
    ]
}

/// Sixteen bytes at `bytes[at..]` in lane 0 and sixteen at `bytes[at + 48..]` in lane 1.
#[inline(always)]
fn load_lanes(s: V3, bytes: &[u8], at: usize) -> __m256i {
    let lo: [u8; 16] = bytes[at..at + 16].try_into().expect("16 bytes");
    let hi: [u8; 16] = bytes[at + 48..at + 64].try_into().expect("16 bytes");
    s.avx._mm256_set_m128i(pulp::cast(hi), pulp::cast(lo))
}

#[inline(always)]
fn rgb_to_ycc_row(s: V3, px: &[u8], y: &mut [u8], cb: &mut [u8], cr: &mut [u8]) {
    let n = y.len();
    let (a, px, cb, cr) = (s.avx2, &px[..3 * n], &mut cb[..n], &mut cr[..n]);
    let split = [masks(s, &SPLIT[0]), masks(s, &SPLIT[1]), masks(s, &SPLIT[2])];
    let k = YccConstants::new(s);
    let steps = n / STEP;
    for i in 0..steps {
        // Lane 0 takes pixels 0‥16 (bytes 0‥48), lane 1 pixels 16‥32 (bytes 48‥96).
        let bytes = &px[3 * STEP * i..][..3 * STEP];
        let parts = [load_lanes(s, bytes, 0), load_lanes(s, bytes, 16), load_lanes(s, bytes, 32)];
        let rgb = [gather(s, &parts, &split[0]), gather(s, &parts, &split[1]), gather(s, &parts, &split[2])];
        // 16-bit samples: `lo` holds pixels 0‥8 and 16‥24, `hi` pixels 8‥16 and 24‥32; packing restores the order.
        let lo = ycc_of(s, k, [widen(s, rgb[0], true), widen(s, rgb[1], true), widen(s, rgb[2], true)]);
        let hi = ycc_of(s, k, [widen(s, rgb[0], false), widen(s, rgb[1], false), widen(s, rgb[2], false)]);
        for (plane, (lo, hi)) in [&mut *y, &mut *cb, &mut *cr].into_iter().zip(lo.into_iter().zip(hi)) {
            let packed: [u8; STEP] = pulp::cast(a._mm256_packus_epi16(lo, hi));
            plane[STEP * i..][..STEP].copy_from_slice(&packed);
        }
    }
    let done = STEP * steps;
    jpeg_color::rgb_to_ycc_scalar(&px[3 * done..], &mut y[done..], &mut cb[done..], &mut cr[done..]);
}

/// The constants of YCbCr → RGB.
#[derive(Clone, Copy)]
struct RgbConstants {
    centre: __m256i,
    half: __m256i,
    cbcr_g: __m256i,
    r_cr: __m256i,
    b_cb: __m256i,
}

impl RgbConstants {
    #[inline(always)]
    fn new(s: V3) -> RgbConstants {
        use jpeg_color::*;
        RgbConstants {
            centre: s.avx._mm256_set1_epi16(128),
            half: s.avx._mm256_set1_epi32(ONE_HALF),
            cbcr_g: pair(s, -FIX_0_34414, -FIX_0_71414 + (1 << 16)),
            r_cr: s.avx._mm256_set1_epi16((FIX_1_40200 - (1 << 16)) as i16),
            b_cb: s.avx._mm256_set1_epi16((FIX_1_77200 - (2 << 16)) as i16),
        }
    }
}

/// ⌊(x·k + 2¹⁵) / 2¹⁶⌋ in 16-bit lanes: the high half of the product plus the low half's top bit.
#[inline(always)]
fn scaled(s: V3, x: __m256i, k: __m256i) -> __m256i {
    let a = s.avx2;
    a._mm256_add_epi16(a._mm256_mulhi_epi16(x, k), a._mm256_srli_epi16::<15>(a._mm256_mullo_epi16(x, k)))
}

/// R, G, B in 16-bit lanes (before the clamp) of the 16-bit samples `y`, `cb`, `cr`.
#[inline(always)]
fn rgb_of(s: V3, k: RgbConstants, [y, cb, cr]: [__m256i; 3]) -> [__m256i; 3] {
    let a = s.avx2;
    let (c, d) = (a._mm256_sub_epi16(cb, k.centre), a._mm256_sub_epi16(cr, k.centre));
    let r = a._mm256_add_epi16(y, a._mm256_add_epi16(d, scaled(s, d, k.r_cr)));
    let b = a._mm256_add_epi16(y, a._mm256_add_epi16(a._mm256_add_epi16(c, c), scaled(s, c, k.b_cb)));
    let g_lo = a._mm256_madd_epi16(pairs_of(s, c, d, true), k.cbcr_g);
    let g_hi = a._mm256_madd_epi16(pairs_of(s, c, d, false), k.cbcr_g);
    let g_off = a._mm256_packs_epi32(
        a._mm256_srai_epi32::<16>(a._mm256_add_epi32(g_lo, k.half)),
        a._mm256_srai_epi32::<16>(a._mm256_add_epi32(g_hi, k.half)),
    );
    [r, a._mm256_add_epi16(a._mm256_sub_epi16(y, d), g_off), b]
}

/// Thirty-two bytes of `p` from `at`.
#[inline(always)]
fn load32(p: &[u8], at: usize) -> __m256i {
    let b: [u8; STEP] = p[at..at + STEP].try_into().expect("32 bytes");
    pulp::cast(b)
}

#[inline(always)]
fn ycc_to_rgb_row(s: V3, y: &[u8], cb: &[u8], cr: &[u8], out: &mut [u8]) {
    let n = out.len() / 3;
    let (a, y, cb, cr, out) = (s.avx2, &y[..n], &cb[..n], &cr[..n], &mut out[..3 * n]);
    let join = [masks(s, &JOIN[0]), masks(s, &JOIN[1]), masks(s, &JOIN[2])];
    let k = RgbConstants::new(s);
    let steps = n / STEP;
    for i in 0..steps {
        let ycc = [load32(y, STEP * i), load32(cb, STEP * i), load32(cr, STEP * i)];
        // 16-bit samples: `lo` holds pixels 0‥8 and 16‥24, `hi` pixels 8‥16 and 24‥32; packing restores the order.
        let lo = rgb_of(s, k, [widen(s, ycc[0], true), widen(s, ycc[1], true), widen(s, ycc[2], true)]);
        let hi = rgb_of(s, k, [widen(s, ycc[0], false), widen(s, ycc[1], false), widen(s, ycc[2], false)]);
        let rgb = [
            a._mm256_packus_epi16(lo[0], hi[0]),
            a._mm256_packus_epi16(lo[1], hi[1]),
            a._mm256_packus_epi16(lo[2], hi[2]),
        ];
        // Each lane interleaves its 16 pixels into 48 bytes: lane 0 bytes 0‥48, lane 1 bytes 48‥96.
        let v = [gather(s, &rgb, &join[0]), gather(s, &rgb, &join[1]), gather(s, &rgb, &join[2])];
        let words = [
            a._mm256_permute2x128_si256::<0x20>(v[0], v[1]),
            a._mm256_permute2x128_si256::<0x30>(v[2], v[0]),
            a._mm256_permute2x128_si256::<0x31>(v[1], v[2]),
        ];
        let dst = &mut out[3 * STEP * i..][..3 * STEP];
        for (d, w) in dst.chunks_exact_mut(STEP).zip(words) {
            d.copy_from_slice(&pulp::cast::<_, [u8; STEP]>(w));
        }
    }
    let done = STEP * steps;
    jpeg_color::ycc_to_rgb_scalar(&y[done..], &cb[done..], &cr[done..], &mut out[3 * done..]);
}

/// [`jpeg_color::fancy_pairs_scalar`] from 0, sixteen sums (32 outputs) per step; returns the number of pairs
/// written (a multiple of 16), the rest left to the scalar loop. The sums are at most `4 · 255`, so
/// `3·s + s + 8 < 2¹⁵` and the 16-bit lanes compute the scalar values.
pub(super) fn fancy_pairs(s: V3, sums: &[u16], pairs: &mut [u8]) -> usize {
    s.vectorize(FancyPairs { s, sums, pairs })
}

/// [`fancy_pairs`]'s work, a type for the reason given at [`ToYcc`].
struct FancyPairs<'a> {
    s: V3,
    sums: &'a [u16],
    pairs: &'a mut [u8],
}

impl pulp::NullaryFnOnce for FancyPairs<'_> {
    type Output = usize;

    #[inline(always)]
    fn call(self) -> usize {
        let FancyPairs { s, sums, pairs } = self;
        let a = s.avx2;
        let (eight, seven) = (s.avx._mm256_set1_epi16(8), s.avx._mm256_set1_epi16(7));
        let load = |at: usize| -> __m256i {
            let v: [u16; 16] = sums[at..at + 16].try_into().expect("16 sums");
            pulp::cast(v)
        };
        let steps = (pairs.len() / 2) / 16;
        for i in 0..steps {
            let (prev, cur, next) = (load(16 * i), load(16 * i + 1), load(16 * i + 2));
            let cur3 = a._mm256_add_epi16(a._mm256_add_epi16(cur, cur), cur);
            let even = a._mm256_srli_epi16::<4>(a._mm256_add_epi16(a._mm256_add_epi16(cur3, prev), eight));
            let odd = a._mm256_srli_epi16::<4>(a._mm256_add_epi16(a._mm256_add_epi16(cur3, next), seven));
            // Per 128-bit lane: outputs 0‥8 of the lane's eight sums from the low halves, 8‥16 from the high.
            let out =
                a._mm256_packus_epi16(a._mm256_unpacklo_epi16(even, odd), a._mm256_unpackhi_epi16(even, odd));
            pairs[32 * i..32 * i + 32].copy_from_slice(&pulp::cast::<_, [u8; 32]>(out));
        }
        16 * steps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every (a, b, c) of 8-bit values, as 256 rows of 65,536 pixels (plus a tail of 7 so that the scalar end
    /// of a row runs too): RGB → YCbCr and YCbCr → RGB against the scalar functions.
    #[test]
    fn both_conversions_match_the_scalar_ones_on_every_input() {
        let Some(s) = V3::try_new() else { return };
        let n = 256 * 256 + 7;
        let mut px = vec![0u8; 3 * n];
        let planes = || [0, 1, 2].map(|_| vec![0u8; n]);
        let ([mut y0, mut cb0, mut cr0], [mut y1, mut cb1, mut cr1]) = (planes(), planes());
        let (mut rgb0, mut rgb1) = (vec![0u8; 3 * n], vec![0u8; 3 * n]);
        for first in 0..=255u8 {
            for (i, p) in px.chunks_exact_mut(3).enumerate() {
                p.copy_from_slice(&[first, (i >> 8) as u8, i as u8]);
            }
            jpeg_color::rgb_to_ycc_scalar(&px, &mut y0, &mut cb0, &mut cr0);
            rgb_to_ycc(s, &px, &mut y1, &mut cb1, &mut cr1);
            assert!(y0 == y1 && cb0 == cb1 && cr0 == cr1, "RGB → YCbCr differs for R = {first}");
            let [a, b, c] = [0, 1, 2].map(|k| px.iter().skip(k).step_by(3).copied().collect::<Vec<u8>>());
            jpeg_color::ycc_to_rgb_scalar(&a, &b, &c, &mut rgb0);
            ycc_to_rgb(s, &a, &b, &c, &mut rgb1);
            assert!(rgb0 == rgb1, "YCbCr → RGB differs for Y = {first}");
        }
    }

    /// Rows of random sums (0 … 4·255, the extremes included) of every length up to 200 pairs: the lanes and
    /// the scalar loop write the same outputs.
    #[test]
    fn fancy_pairs_match_the_scalar_loop() {
        use rand::{Rng, SeedableRng};
        let Some(s) = V3::try_new() else { return };
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for m in 0..200 {
            let sums: Vec<u16> = (0..m + 2)
                .map(|_| match rng.random_range(0..8) {
                    0 => 0,
                    1 => 1020,
                    _ => rng.random_range(0..=1020),
                })
                .collect();
            let (mut scalar, mut lanes) = (vec![0u8; 2 * m], vec![0u8; 2 * m]);
            jpeg_color::fancy_pairs_scalar(&sums, &mut scalar, 0);
            let done = fancy_pairs(s, &sums, &mut lanes);
            assert_eq!(done, m / 16 * 16);
            jpeg_color::fancy_pairs_scalar(&sums, &mut lanes, done);
            assert_eq!(scalar, lanes, "{m} pairs");
        }
    }
}

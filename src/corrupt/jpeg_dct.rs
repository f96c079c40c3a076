//! The "islow" integer DCTs of libjpeg (`jfdctint.c`, `jidctint.c`), and libjpeg's quantisation rounding.
//!
//! Both transforms are the Loeffler–Ligtenberg–Moschytz factorisation (C. Loeffler, A. Ligtenberg,
//! G. Moschytz, "Practical fast 1-D DCT algorithms with 11 multiplications", ICASSP 1989) in fixed point: the
//! twelve rotation constants carry [`CONST_BITS`] = 13 fractional bits, the first (row, resp. column) pass keeps
//! [`PASS1_BITS`] = 2 extra bits, and every descale rounds half up with an arithmetic shift. The forward
//! transform returns coefficients scaled by 8 (the scale a true orthonormal 2-D DCT would need is folded into
//! the quantiser, which divides by `8·Q`); the inverse multiplies by `Q` on the way in and adds the sample
//! centre 128 on the way out, range-limited exactly as libjpeg's wrapping table does.
//!
//! libjpeg-turbo's SIMD versions (which PIL runs) reproduce these integer results bit for bit, so matching the
//! C arithmetic matches PIL; `tests/jpeg_golden.rs` checks it against PIL's output.

use super::jpeg_tables::BLOCK;

/// Fractional bits of the rotation constants.
pub(super) const CONST_BITS: u32 = 13;
/// Extra bits kept between the two passes.
pub(super) const PASS1_BITS: u32 = 2;

// The constants `round(c · 2^13)` of the LLM factorisation, named by their value as libjpeg does.
pub(super) const FIX_0_298631336: i32 = 2446;
pub(super) const FIX_0_390180644: i32 = 3196;
pub(super) const FIX_0_541196100: i32 = 4433;
pub(super) const FIX_0_765366865: i32 = 6270;
pub(super) const FIX_0_899976223: i32 = 7373;
pub(super) const FIX_1_175875602: i32 = 9633;
pub(super) const FIX_1_501321110: i32 = 12299;
pub(super) const FIX_1_847759065: i32 = 15137;
pub(super) const FIX_1_961570560: i32 = 16069;
pub(super) const FIX_2_053119869: i32 = 16819;
pub(super) const FIX_2_562915447: i32 = 20995;
pub(super) const FIX_3_072711026: i32 = 25172;

/// `x / 2^n` rounded half up (libjpeg's `DESCALE`: add half, arithmetic shift).
#[inline]
fn descale(x: i32, n: u32) -> i32 {
    (x + (1 << (n - 1))) >> n
}

/// The odd part shared by both transforms: from the four inputs `(i0, i1, i2, i3)` (forward: the differences
/// `x3−x4, x2−x5, x1−x6, x0−x7`; inverse: the coefficients 7, 5, 3, 1) the four rotated outputs in the same order.
#[inline]
fn odd_part(i0: i32, i1: i32, i2: i32, i3: i32) -> [i32; 4] {
    let z5 = (i0 + i1 + i2 + i3) * FIX_1_175875602;
    let z1 = (i0 + i3) * -FIX_0_899976223;
    let z2 = (i1 + i2) * -FIX_2_562915447;
    let z3 = (i0 + i2) * -FIX_1_961570560 + z5;
    let z4 = (i1 + i3) * -FIX_0_390180644 + z5;
    [
        i0 * FIX_0_298631336 + z1 + z3,
        i1 * FIX_2_053119869 + z2 + z4,
        i2 * FIX_3_072711026 + z2 + z3,
        i3 * FIX_1_501321110 + z1 + z4,
    ]
}

/// One 1-D forward pass over the 8 values `d[at(k)]`; `shift` is the descale of the rotated outputs and `dc`
/// how the unrotated outputs 0 and 4 are scaled.
#[inline]
fn fdct_1d(d: &mut [i32; BLOCK], at: impl Fn(usize) -> usize, shift: u32, dc: impl Fn(i32) -> i32) {
    let x = |k: usize| d[at(k)];
    let (t0, t7) = (x(0) + x(7), x(0) - x(7));
    let (t1, t6) = (x(1) + x(6), x(1) - x(6));
    let (t2, t5) = (x(2) + x(5), x(2) - x(5));
    let (t3, t4) = (x(3) + x(4), x(3) - x(4));
    let (t10, t13, t11, t12) = (t0 + t3, t0 - t3, t1 + t2, t1 - t2);
    let z1 = (t12 + t13) * FIX_0_541196100;
    let [o7, o5, o3, o1] = odd_part(t4, t5, t6, t7);
    d[at(0)] = dc(t10 + t11);
    d[at(4)] = dc(t10 - t11);
    d[at(2)] = descale(z1 + t13 * FIX_0_765366865, shift);
    d[at(6)] = descale(z1 - t12 * FIX_1_847759065, shift);
    d[at(7)] = descale(o7, shift);
    d[at(5)] = descale(o5, shift);
    d[at(3)] = descale(o3, shift);
    d[at(1)] = descale(o1, shift);
}

/// Forward islow DCT of one block of centred samples (`sample − 128`, natural order), in place; the results are
/// 8× the orthonormal DCT coefficients.
pub fn fdct_islow(d: &mut [i32; BLOCK]) {
    for r in 0..8 {
        fdct_1d(d, |k| r * 8 + k, CONST_BITS - PASS1_BITS, |v| v << PASS1_BITS);
    }
    for c in 0..8 {
        fdct_1d(d, |k| k * 8 + c, CONST_BITS + PASS1_BITS, |v| descale(v, PASS1_BITS));
    }
}

/// libjpeg's quantiser for one table: `sign(x) · ⌊(|x| + 4Q) / 8Q⌋` (the islow output is scaled by 8;
/// libjpeg-turbo's reciprocal multiply gives exactly this division).
///
/// The division is a multiplication by `m = ⌈2³² / d⌉` and a shift: writing `m = 2³²/d + δ` with `0 ≤ δ < 1`,
/// `n·m / 2³² = n/d + n·δ/2³²`, which has the floor of `n/d` whenever `n·d < 2³²`. Here `n < 2¹⁶` (the forward
/// DCT of 8-bit samples stays below 2¹⁴ in magnitude) and `d = 8Q ≤ 2¹⁹`.
#[derive(Clone, Debug)]
pub struct Quantizer {
    pub(super) half: [u32; BLOCK],
    pub(super) magic: [u32; BLOCK],
}

impl Quantizer {
    /// The quantiser of a table (natural order, entries 1…65535).
    pub fn new(table: &[u16; BLOCK]) -> Quantizer {
        let div = table.map(|q| u64::from(q.max(1)) << 3);
        // d ≥ 8, so m ≤ 2²⁹ fits in 32 bits (and the product is a 32×32→64-bit multiply).
        Quantizer { half: div.map(|d| (d >> 1) as u32), magic: div.map(|d| (1u64 << 32).div_ceil(d) as u32) }
    }

    /// Quantises forward-DCT output `d` into `out`.
    #[inline(always)]
    pub fn quantize(&self, d: &[i32; BLOCK], out: &mut [i16; BLOCK]) {
        for k in 0..BLOCK {
            let x = d[k];
            let n = u64::from(x.unsigned_abs() + self.half[k]);
            let v = ((n * u64::from(self.magic[k])) >> 32) as i32;
            // Branch-free sign: s is 0 or −1.
            let s = x >> 31;
            out[k] = ((v ^ s) - s) as i16;
        }
    }
}

/// libjpeg's post-IDCT range limit: the descaled value `v` (centred on 0) plus 128, clamped to 0…255 for
/// `|v| ≤ 512`, and wrapped modulo 1024 beyond (the `RANGE_MASK` table lookup; only corrupt data reaches it).
#[inline]
pub(super) fn range_limit(v: i32) -> u8 {
    match v & 1023 {
        j @ 0..128 => (j + 128) as u8,
        128..512 => 255,
        512..896 => 0,
        j => (j - 896) as u8,
    }
}

/// Inverse islow DCT of one quantised block (natural order) with its quantisation table, writing 8 rows of 8
/// samples at `out[r · stride ..]`. The arithmetic is 64-bit, as libjpeg's `JLONG` products are on 64-bit
/// systems, so no input overflows; results of valid data fit in 32 bits at every step.
pub fn idct_islow(coef: &[i16; BLOCK], table: &[u16; BLOCK], out: &mut [u8], stride: usize) {
    let mut ws = [0i64; BLOCK];
    // Pass 1: columns, dequantised, results scaled by 2^PASS1_BITS.
    for c in 0..8 {
        let x = |k: usize| i64::from(coef[k * 8 + c]) * i64::from(table[k * 8 + c]);
        if (1..8).all(|k| coef[k * 8 + c] == 0) {
            let dc = i64::from((x(0) << PASS1_BITS) as i32);
            (0..8).for_each(|k| ws[k * 8 + c] = dc);
            continue;
        }
        let v = idct_1d([x(0), x(1), x(2), x(3), x(4), x(5), x(6), x(7)]);
        // libjpeg keeps the workspace in `int`.
        (0..8).for_each(|k| ws[k * 8 + c] = i64::from(descale64(v[k], CONST_BITS - PASS1_BITS) as i32));
    }
    // Pass 2: rows, descaled by the pass-1 bits and the factor 8, then range-limited.
    let shift = CONST_BITS + PASS1_BITS + 3;
    for r in 0..8 {
        let row: [i64; 8] = std::array::from_fn(|k| ws[r * 8 + k]);
        let dst = &mut out[r * stride..r * stride + 8];
        if row[1..].iter().all(|&v| v == 0) {
            dst.fill(range_limit(descale64(row[0], PASS1_BITS + 3) as i32));
            continue;
        }
        let v = idct_1d(row);
        for (o, &v) in dst.iter_mut().zip(&v) {
            *o = range_limit(descale64(v, shift) as i32);
        }
    }
}

/// The one sample value of a block whose AC coefficients are all zero, as [`idct_islow`] computes it: pass 1
/// puts the dequantised DC, scaled by `2^PASS1_BITS` (kept in `int`), in every row of column 0 and zeros
/// elsewhere, and pass 2 descales each row's first entry.
#[inline]
pub(super) fn dc_only_sample(dc: i16, q: u16) -> u8 {
    let ws = i64::from(((i64::from(dc) * i64::from(q)) << PASS1_BITS) as i32);
    range_limit(descale64(ws, PASS1_BITS + 3) as i32)
}

/// [`descale`] in 64 bits.
#[inline]
fn descale64(x: i64, n: u32) -> i64 {
    (x + (1 << (n - 1))) >> n
}

/// [`odd_part`] in 64 bits.
#[inline]
fn odd_part64(i0: i64, i1: i64, i2: i64, i3: i64) -> [i64; 4] {
    let f = i64::from;
    let z5 = (i0 + i1 + i2 + i3) * f(FIX_1_175875602);
    let z1 = (i0 + i3) * -f(FIX_0_899976223);
    let z2 = (i1 + i2) * -f(FIX_2_562915447);
    let z3 = (i0 + i2) * -f(FIX_1_961570560) + z5;
    let z4 = (i1 + i3) * -f(FIX_0_390180644) + z5;
    [
        i0 * f(FIX_0_298631336) + z1 + z3,
        i1 * f(FIX_2_053119869) + z2 + z4,
        i2 * f(FIX_3_072711026) + z2 + z3,
        i3 * f(FIX_1_501321110) + z1 + z4,
    ]
}

/// One 1-D inverse pass, before the descale: the 8 outputs scaled by 2^CONST_BITS.
#[inline]
pub(super) fn idct_1d(x: [i64; 8]) -> [i64; 8] {
    let f = i64::from;
    let z1 = (x[2] + x[6]) * f(FIX_0_541196100);
    let t2 = z1 - x[6] * f(FIX_1_847759065);
    let t3 = z1 + x[2] * f(FIX_0_765366865);
    let t0 = (x[0] + x[4]) << CONST_BITS;
    let t1 = (x[0] - x[4]) << CONST_BITS;
    let (t10, t13, t11, t12) = (t0 + t3, t0 - t3, t1 + t2, t1 - t2);
    let [o0, o1, o2, o3] = odd_part64(x[7], x[5], x[3], x[1]);
    [t10 + o3, t11 + o2, t12 + o1, t13 + o0, t13 - o0, t12 - o1, t11 - o2, t10 - o3]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_block_has_only_a_dc_term_and_round_trips() {
        let mut d = [37i32; BLOCK];
        fdct_islow(&mut d);
        assert_eq!(d[0], 37 * 64);
        assert!(d[1..].iter().all(|&v| v == 0));
        let mut q = [0i16; BLOCK];
        Quantizer::new(&[1; BLOCK]).quantize(&d, &mut q);
        let mut out = [0u8; BLOCK];
        idct_islow(&q, &[1; BLOCK], &mut out, 8);
        assert!(out.iter().all(|&v| v == 128 + 37));
    }

    #[test]
    fn quantizer_rounds_half_away_from_zero() {
        let mut out = [0i16; BLOCK];
        let mut d = [0i32; BLOCK];
        (d[0], d[1], d[2], d[3]) = (12, -12, 11, -11);
        Quantizer::new(&[3; BLOCK]).quantize(&d, &mut out);
        assert_eq!(&out[..4], &[1, -1, 0, 0]);
    }

    #[test]
    fn the_reciprocal_is_the_division_for_every_forward_dct_value() {
        for q in [1u16, 2, 3, 7, 16, 99, 121, 255, 1000, 65535] {
            let div = i32::from(q) << 3;
            let quant = Quantizer::new(&[q; BLOCK]);
            for x in -(1 << 15)..(1 << 15) {
                let mut d = [0i32; BLOCK];
                d[0] = x;
                let mut out = [0i16; BLOCK];
                quant.quantize(&d, &mut out);
                let v = (x.abs() + (div >> 1)) / div;
                assert_eq!(i32::from(out[0]), if x < 0 { -v } else { v }, "x = {x}, q = {q}");
            }
        }
    }

    #[test]
    fn range_limit_clamps_then_wraps() {
        assert_eq!(range_limit(-128), 0);
        assert_eq!(range_limit(127), 255);
        assert_eq!(range_limit(300), 255);
        assert_eq!(range_limit(-300), 0);
        assert_eq!(range_limit(1024), 128);
    }
}

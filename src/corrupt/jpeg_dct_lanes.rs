//! The islow DCTs of [`super::jpeg_dct`] and libjpeg's quantiser with AVX2 (x86-64, chosen at run time by
//! [`crate::wide::v3`]): a block's eight columns, or rows, at a time in 32-bit lanes, like libjpeg-turbo's own
//! AVX2 code. The results are those of `jpeg_dct`, bit for bit.
//!
//! Why 32 bits give the same integers. Every step of a 1-D pass before its final descale is an addition, a
//! subtraction, a multiplication by a constant or a left shift, and these are exact modulo 2³² in wrapping
//! 32-bit arithmetic, whatever the intermediate values. So when the true value of each output plus its
//! rounding half lies in `[−2³¹, 2³¹)`, the wrapped result *is* that value, and the arithmetic shift that
//! descales it gives what 64-bit arithmetic gives. Each output is a fixed linear form in the eight inputs; if
//! `L` is the largest sum of absolute coefficients of a form, inputs of magnitude at most `B` keep every output
//! within `L·B`. [`IDCT_LANE_BOUND`] is the largest `B` with `L·B + 2¹⁷ < 2³¹` (2¹⁷ is the larger rounding
//! half, that of the second pass); `tests::the_lane_bound_keeps_every_idct_output_in_32_bits` recomputes `L`
//! from the 64-bit transform. A block whose dequantised coefficients, or whose first-pass results, exceed the
//! bound (only damaged or forged files come near it: dequantised coefficients of real images stay below about
//! 2¹¹) is handed to the 64-bit [`super::jpeg_dct::idct_islow`]. The forward transform reads centred 8-bit
//! samples (magnitude at most 128), far inside the bound.

use super::jpeg_codec::Component;
use super::jpeg_color::Plane;
use super::jpeg_dct::{self, CONST_BITS, PASS1_BITS};
use super::jpeg_dct::{
    FIX_0_298631336, FIX_0_390180644, FIX_0_541196100, FIX_0_765366865, FIX_0_899976223, FIX_1_175875602,
    FIX_1_501321110, FIX_1_847759065, FIX_1_961570560, FIX_2_053119869, FIX_2_562915447, FIX_3_072711026,
};
use super::jpeg_tables::BLOCK;
use core::arch::x86_64::{__m128i, __m256i};
use pulp::x86::V3;
use std::ops::Range;

/// The largest input magnitude of a 1-D inverse pass for which every output, with its rounding half, fits in
/// 32 bits (see the module documentation).
pub(super) const IDCT_LANE_BOUND: i32 = 35_079;

/// Eight 32-bit lanes (an AVX2 register) with wrapping arithmetic; `s` is the proof that AVX2 is there.
#[derive(Clone, Copy)]
struct L {
    s: V3,
    v: __m256i,
}

impl std::ops::Add for L {
    type Output = L;
    #[inline(always)]
    fn add(self, o: L) -> L {
        L { s: self.s, v: self.s.avx2._mm256_add_epi32(self.v, o.v) }
    }
}

impl std::ops::Sub for L {
    type Output = L;
    #[inline(always)]
    fn sub(self, o: L) -> L {
        L { s: self.s, v: self.s.avx2._mm256_sub_epi32(self.v, o.v) }
    }
}

impl std::ops::Mul<i32> for L {
    type Output = L;
    #[inline(always)]
    fn mul(self, k: i32) -> L {
        L { s: self.s, v: self.s.avx2._mm256_mullo_epi32(self.v, self.s.avx._mm256_set1_epi32(k)) }
    }
}

impl L {
    #[inline(always)]
    fn splat(s: V3, k: i32) -> L {
        L { s, v: s.avx._mm256_set1_epi32(k) }
    }

    #[inline(always)]
    fn load(s: V3, a: [i32; 8]) -> L {
        L { s, v: pulp::cast(a) }
    }

    #[inline(always)]
    fn shl<const N: i32>(self) -> L {
        L { s: self.s, v: self.s.avx2._mm256_slli_epi32::<N>(self.v) }
    }

    /// `(v + 2ⁿ⁻¹) >> n` per lane (libjpeg's `DESCALE`).
    #[inline(always)]
    fn descale<const N: i32>(self) -> L {
        let v = self + L::splat(self.s, 1 << (N - 1));
        L { s: self.s, v: self.s.avx2._mm256_srai_epi32::<N>(v.v) }
    }

    #[inline(always)]
    fn abs(self) -> L {
        L { s: self.s, v: self.s.avx2._mm256_abs_epi32(self.v) }
    }

    #[inline(always)]
    fn max(self, o: L) -> L {
        L { s: self.s, v: self.s.avx2._mm256_max_epi32(self.v, o.v) }
    }
}

/// Eight rows of lanes: `[k]` is the k-th input (or output) of the 1-D transform, one lane per column or row.
type Rows = [L; 8];

/// The 8×8 transpose: lane `j` of row `i` becomes lane `i` of row `j`. (No closures here or below: a closure
/// is compiled apart from the AVX2 code that calls it, and its intrinsics would not be inlined.)
#[inline(always)]
fn transpose(r: &Rows) -> Rows {
    let (s, a) = (r[0].s, r[0].s.avx2);
    let t0 = a._mm256_unpacklo_epi32(r[0].v, r[1].v);
    let t1 = a._mm256_unpackhi_epi32(r[0].v, r[1].v);
    let t2 = a._mm256_unpacklo_epi32(r[2].v, r[3].v);
    let t3 = a._mm256_unpackhi_epi32(r[2].v, r[3].v);
    let t4 = a._mm256_unpacklo_epi32(r[4].v, r[5].v);
    let t5 = a._mm256_unpackhi_epi32(r[4].v, r[5].v);
    let t6 = a._mm256_unpacklo_epi32(r[6].v, r[7].v);
    let t7 = a._mm256_unpackhi_epi32(r[6].v, r[7].v);
    // u_k: columns k (low half) and k + 4 (high half) of rows 0‥3; w_k the same of rows 4‥7.
    let u0 = a._mm256_unpacklo_epi64(t0, t2);
    let u1 = a._mm256_unpackhi_epi64(t0, t2);
    let u2 = a._mm256_unpacklo_epi64(t1, t3);
    let u3 = a._mm256_unpackhi_epi64(t1, t3);
    let w0 = a._mm256_unpacklo_epi64(t4, t6);
    let w1 = a._mm256_unpackhi_epi64(t4, t6);
    let w2 = a._mm256_unpacklo_epi64(t5, t7);
    let w3 = a._mm256_unpackhi_epi64(t5, t7);
    [
        L { s, v: a._mm256_permute2x128_si256::<0x20>(u0, w0) },
        L { s, v: a._mm256_permute2x128_si256::<0x20>(u1, w1) },
        L { s, v: a._mm256_permute2x128_si256::<0x20>(u2, w2) },
        L { s, v: a._mm256_permute2x128_si256::<0x20>(u3, w3) },
        L { s, v: a._mm256_permute2x128_si256::<0x31>(u0, w0) },
        L { s, v: a._mm256_permute2x128_si256::<0x31>(u1, w1) },
        L { s, v: a._mm256_permute2x128_si256::<0x31>(u2, w2) },
        L { s, v: a._mm256_permute2x128_si256::<0x31>(u3, w3) },
    ]
}

/// Whether some lane of `a` exceeds [`IDCT_LANE_BOUND`] in magnitude (no lane holds `i32::MIN`: see the
/// callers).
#[inline(always)]
fn exceeds_bound(a: &Rows) -> bool {
    let s = a[0].s;
    let mut m = a[0].abs();
    for x in &a[1..] {
        m = m.max(x.abs());
    }
    s.avx2._mm256_movemask_epi8(s.avx2._mm256_cmpgt_epi32(m.v, L::splat(s, IDCT_LANE_BOUND).v)) != 0
}

/// The odd part of both transforms, as in `jpeg_dct::odd_part`.
#[inline(always)]
fn odd_part(i0: L, i1: L, i2: L, i3: L) -> [L; 4] {
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

/// One 1-D inverse pass on every lane, before the descale (`jpeg_dct::idct_1d`).
#[inline(always)]
fn idct_1d(x: &Rows) -> Rows {
    let z1 = (x[2] + x[6]) * FIX_0_541196100;
    let t2 = z1 - x[6] * FIX_1_847759065;
    let t3 = z1 + x[2] * FIX_0_765366865;
    let t0 = (x[0] + x[4]).shl::<{ CONST_BITS as i32 }>();
    let t1 = (x[0] - x[4]).shl::<{ CONST_BITS as i32 }>();
    let (t10, t13, t11, t12) = (t0 + t3, t0 - t3, t1 + t2, t1 - t2);
    let [o0, o1, o2, o3] = odd_part(x[7], x[5], x[3], x[1]);
    [t10 + o3, t11 + o2, t12 + o1, t13 + o0, t13 - o0, t12 - o1, t11 - o2, t10 - o3]
}

/// [`jpeg_dct::idct_islow`] with AVX2, eight lanes at a time; the same samples.
#[inline(always)]
pub(super) fn idct_islow(s: V3, coef: &[i16; BLOCK], table: &[u16; BLOCK], out: &mut [u8], stride: usize) {
    let a = s.avx2;
    // A block without AC coefficients (common in chroma and at low qualities) is one value.
    let mut quarters = [[0i16; 16]; 4];
    for (k, q) in quarters.iter_mut().enumerate() {
        q.copy_from_slice(&coef[16 * k..16 * k + 16]);
    }
    quarters[0][0] = 0;
    let [q0, q1, q2, q3] = quarters.map(pulp::cast::<[i16; 16], __m256i>);
    let ac = a._mm256_or_si256(a._mm256_or_si256(q0, q1), a._mm256_or_si256(q2, q3));
    if s.avx._mm256_testz_si256(ac, ac) == 1 {
        let v = jpeg_dct::dc_only_sample(coef[0], table[0]);
        for r in 0..8 {
            out[r * stride..r * stride + 8].fill(v);
        }
        return;
    }
    // Rows of eight dequantised coefficients: |coef · q| ≤ 2¹⁵ · 65535 < 2³¹, so the product never wraps and
    // is never i32::MIN.
    let mut x = [L::splat(s, 0); 8];
    for (k, xk) in x.iter_mut().enumerate() {
        let c: [i16; 8] = coef[k * 8..k * 8 + 8].try_into().expect("eight coefficients");
        let q: [u16; 8] = table[k * 8..k * 8 + 8].try_into().expect("eight entries");
        let c = a._mm256_cvtepi16_epi32(pulp::cast::<_, __m128i>(c));
        let q = a._mm256_cvtepu16_epi32(pulp::cast::<_, __m128i>(q));
        xk.v = a._mm256_mullo_epi32(c, q);
    }
    if exceeds_bound(&x) {
        return jpeg_dct::idct_islow(coef, table, out, stride);
    }
    // Pass 1, a lane per column: ws[k] holds row k of libjpeg's workspace (a descaled value, never i32::MIN).
    let mut ws = idct_1d(&x);
    for v in &mut ws {
        *v = v.descale::<{ (CONST_BITS - PASS1_BITS) as i32 }>();
    }
    if exceeds_bound(&ws) {
        return jpeg_dct::idct_islow(coef, table, out, stride);
    }
    // Pass 2, a lane per row; transposed back, row r of samples per register. Range limit: wrap to
    // [−512, 512), add 128, then the saturating packs clamp to 0…255.
    let mut v = transpose(&idct_1d(&transpose(&ws)));
    for r in &mut v {
        let d = r.descale::<{ (CONST_BITS + PASS1_BITS + 3) as i32 }>() + L::splat(s, 512);
        r.v = a._mm256_sub_epi32(a._mm256_and_si256(d.v, L::splat(s, 1023).v), L::splat(s, 384).v);
    }
    let order = L::load(s, [0, 4, 1, 5, 2, 6, 3, 7]).v;
    for half in 0..2 {
        let l = &v[half * 4..half * 4 + 4];
        // Bytes [r0 0‥3, r1 0‥3, r2 0‥3, r3 0‥3 | r0 4‥7, r1 4‥7, …], then each row's eight bytes together.
        let p01 = a._mm256_packs_epi32(l[0].v, l[1].v);
        let p23 = a._mm256_packs_epi32(l[2].v, l[3].v);
        let bytes = a._mm256_packus_epi16(p01, p23);
        let rows: [[u8; 8]; 4] = pulp::cast(a._mm256_permutevar8x32_epi32(bytes, order));
        for (i, row) in rows.iter().enumerate() {
            let r = half * 4 + i;
            out[r * stride..r * stride + 8].copy_from_slice(row);
        }
    }
}

/// The scaling of the unrotated outputs 0 and 4 of a forward pass.
#[inline(always)]
fn fdct_dc<const FIRST: bool>(v: L) -> L {
    if FIRST { v.shl::<{ PASS1_BITS as i32 }>() } else { v.descale::<{ PASS1_BITS as i32 }>() }
}

/// One 1-D forward pass on every lane (`jpeg_dct::fdct_1d`): the rotated outputs descaled by `SHIFT`; the
/// outputs 0 and 4 shifted left by `PASS1_BITS` in the first pass, descaled by it in the second (`FIRST`).
#[inline(always)]
fn fdct_1d<const SHIFT: i32, const FIRST: bool>(x: &Rows) -> Rows {
    let (t0, t7) = (x[0] + x[7], x[0] - x[7]);
    let (t1, t6) = (x[1] + x[6], x[1] - x[6]);
    let (t2, t5) = (x[2] + x[5], x[2] - x[5]);
    let (t3, t4) = (x[3] + x[4], x[3] - x[4]);
    let (t10, t13, t11, t12) = (t0 + t3, t0 - t3, t1 + t2, t1 - t2);
    let z1 = (t12 + t13) * FIX_0_541196100;
    let [o7, o5, o3, o1] = odd_part(t4, t5, t6, t7);
    [
        fdct_dc::<FIRST>(t10 + t11),
        o1.descale::<SHIFT>(),
        (z1 + t13 * FIX_0_765366865).descale::<SHIFT>(),
        o3.descale::<SHIFT>(),
        fdct_dc::<FIRST>(t10 - t11),
        o5.descale::<SHIFT>(),
        (z1 - t12 * FIX_1_847759065).descale::<SHIFT>(),
        o7.descale::<SHIFT>(),
    ]
}

/// [`jpeg_dct::Quantizer::quantize`] of one row of eight coefficients, as eight `i32` lanes.
#[inline(always)]
fn quantize_row(x: L, half: [u32; 8], magic: [u32; 8]) -> __m256i {
    let (s, a) = (x.s, x.s.avx2);
    // n = |x| + half < 2³², then the high half of n · magic: even lanes, then odd lanes, of the 64-bit products.
    let n = a._mm256_add_epi32(x.abs().v, pulp::cast(half));
    let m: __m256i = pulp::cast(magic);
    let even = a._mm256_srli_epi64::<32>(a._mm256_mul_epu32(n, m));
    let odd = a._mm256_mul_epu32(a._mm256_srli_epi64::<32>(n), a._mm256_srli_epi64::<32>(m));
    let v = a._mm256_blend_epi32::<0b1010_1010>(even, odd);
    // The sign of x back on: (v ^ s) − s with s = 0 or −1.
    let sign = a._mm256_srai_epi32::<31>(x.v);
    let _ = s;
    a._mm256_sub_epi32(a._mm256_xor_si256(v, sign), sign)
}

/// The forward transform and quantisation of every block of a plane padded to whole blocks, with AVX2: the
/// blocks `jpeg_codec` computes with [`jpeg_dct::fdct_islow`] and [`jpeg_dct::Quantizer::quantize`].
pub(super) fn forward_plane(s: V3, p: &Plane, quantizer: &jpeg_dct::Quantizer) -> Vec<[i16; BLOCK]> {
    s.vectorize(Forward { s, p, quantizer })
}

/// [`forward_plane`]'s work, a type rather than a closure so that it is compiled inside the AVX2 function.
struct Forward<'a> {
    s: V3,
    p: &'a Plane,
    quantizer: &'a jpeg_dct::Quantizer,
}

impl pulp::NullaryFnOnce for Forward<'_> {
    type Output = Vec<[i16; BLOCK]>;

    #[inline(always)]
    fn call(self) -> Vec<[i16; BLOCK]> {
        let Forward { s, p, quantizer } = self;
        let a = s.avx2;
        let (bw, bh) = (p.width / 8, p.height / 8);
        let mut out = Vec::with_capacity(bw * bh);
        let centre = L::splat(s, 128);
        for by in 0..bh {
            for bx in 0..bw {
                let mut rows = [centre; 8];
                for (r, row) in rows.iter_mut().enumerate() {
                    let at = (by * 8 + r) * p.width + bx * 8;
                    let mut bytes = [0u8; 16];
                    bytes[..8].copy_from_slice(&p.data[at..at + 8]);
                    *row = L { s, v: a._mm256_cvtepu8_epi32(pulp::cast::<_, __m128i>(bytes)) } - centre;
                }
                // A lane per row: after the transpose, t[k] holds sample k of every row.
                let by_row = fdct_1d::<{ (CONST_BITS - PASS1_BITS) as i32 }, true>(&transpose(&rows));
                // A lane per column: transposed back, c[k] holds row k of the coefficients.
                let cols = fdct_1d::<{ (CONST_BITS + PASS1_BITS) as i32 }, false>(&transpose(&by_row));
                let mut q = [0i16; BLOCK];
                for k in (0..8).step_by(2) {
                    let h = |j: usize| -> [u32; 8] {
                        quantizer.half[j * 8..j * 8 + 8].try_into().expect("a row")
                    };
                    let m = |j: usize| -> [u32; 8] {
                        quantizer.magic[j * 8..j * 8 + 8].try_into().expect("a row")
                    };
                    let q0 = quantize_row(cols[k], h(k), m(k));
                    let q1 = quantize_row(cols[k + 1], h(k + 1), m(k + 1));
                    // packs interleaves the halves: [q0 0‥3, q1 0‥3 | q0 4‥7, q1 4‥7]; 0b11_01_10_00 restores order.
                    let packed = a._mm256_permute4x64_epi64::<0b11_01_10_00>(a._mm256_packs_epi32(q0, q1));
                    let pair: [i16; 16] = pulp::cast(packed);
                    q[k * 8..k * 8 + 16].copy_from_slice(&pair);
                }
                out.push(q);
            }
        }
        out
    }
}

/// Dequantisation and inverse transform of the blocks `rows × cols` of `c` (block indices, within its blocks)
/// into `data` (a plane of whole blocks), with AVX2: the samples `jpeg_codec` computes with
/// [`jpeg_dct::idct_islow`].
pub(super) fn inverse_plane(s: V3, c: &Component, rows: Range<usize>, cols: Range<usize>, data: &mut [u8]) {
    s.vectorize(Inverse { s, c, rows, cols, data });
}

/// [`inverse_plane`]'s work, a type rather than a closure so that it is compiled inside the AVX2 function.
struct Inverse<'a> {
    s: V3,
    c: &'a Component,
    rows: Range<usize>,
    cols: Range<usize>,
    data: &'a mut [u8],
}

impl pulp::NullaryFnOnce for Inverse<'_> {
    type Output = ();

    #[inline(always)]
    fn call(self) {
        let Inverse { s, c, rows, cols, data } = self;
        let w = c.blocks_w * 8;
        for by in rows {
            for (bx, block) in c.blocks[by * c.blocks_w..][cols.clone()].iter().enumerate() {
                idct_islow(s, block, &c.table, &mut data[by * 8 * w + (cols.start + bx) * 8..], w);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lane_bound_keeps_every_idct_output_in_32_bits() {
        // The coefficient of input j in output k is the transform of the unit vector e_j, read at k.
        let mut l1 = [0i64; 8];
        for j in 0..8 {
            let mut unit = [0i64; 8];
            unit[j] = 1;
            let v = jpeg_dct::idct_1d(unit);
            for k in 0..8 {
                l1[k] += v[k].abs();
            }
        }
        let worst = *l1.iter().max().unwrap();
        let b = i64::from(IDCT_LANE_BOUND);
        assert!(worst * b + (1 << 17) < 1 << 31, "L = {worst}");
        assert!(worst * (b + 1) + (1 << 17) >= 1 << 31, "the bound could be larger (L = {worst})");
    }

    #[test]
    fn lanes_give_the_64_bit_idct_samples() {
        let Some(s) = V3::try_new() else { return };
        let mut next = crate::corrupt::test_stream(7);
        let table: [u16; BLOCK] = std::array::from_fn(|_| (next() % 255 + 1) as u16);
        for case in 0..20_000 {
            // Small coefficients (real images), large ones near the bound, and damaged-file extremes.
            let range = [64, 2048, 1 << 15][case % 3];
            let coef: [i16; BLOCK] = std::array::from_fn(|i| {
                if i > 0 && next().is_multiple_of(3) {
                    0
                } else {
                    ((next() % (2 * range)) as i64 - range as i64) as i16
                }
            });
            let q = if case % 5 == 0 { [1; BLOCK] } else { table };
            let (mut a, mut b) = ([0u8; 80], [0u8; 80]);
            jpeg_dct::idct_islow(&coef, &q, &mut a, 10);
            s.vectorize(|| idct_islow(s, &coef, &q, &mut b, 10));
            assert_eq!(a, b, "case {case}");
        }
    }

    #[test]
    fn lanes_give_the_scalar_quantised_coefficients() {
        let Some(s) = V3::try_new() else { return };
        let mut next = crate::corrupt::test_stream(11);
        for case in 0..200 {
            let (w, h) = (8 * (1 + case % 5), 8 * (1 + case % 3));
            let p = Plane { width: w, height: h, data: (0..w * h).map(|_| (next() % 256) as u8).collect() };
            let table: [u16; BLOCK] =
                std::array::from_fn(|_| (next() % [2, 40, 255, 65535][case % 4] + 1) as u16);
            let quantizer = jpeg_dct::Quantizer::new(&table);
            let mut expected = Vec::new();
            for by in 0..h / 8 {
                for bx in 0..w / 8 {
                    let mut d: [i32; BLOCK] = std::array::from_fn(|i| {
                        i32::from(p.data[(by * 8 + i / 8) * w + bx * 8 + i % 8]) - 128
                    });
                    jpeg_dct::fdct_islow(&mut d);
                    let mut q = [0i16; BLOCK];
                    quantizer.quantize(&d, &mut q);
                    expected.push(q);
                }
            }
            assert_eq!(forward_plane(s, &p, &quantizer), expected, "case {case}");
        }
    }
}

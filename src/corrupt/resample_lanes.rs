//! PIL's horizontal resampling pass on 8-bit rows with AVX2 (x86-64, chosen at run time by
//! [`crate::wide::v3`]): eight output values of a row at a time, in 32-bit lanes. The results are those of the
//! scalar pass in [`super::resample`], bit for bit.
//!
//! Every output value `d` of a row (a channel of an output pixel) is
//! `clip8(½·2²² + Σₜ kₜ · s[iₜ])`, with its own source indices `iₜ = (first + t)·c + channel` and weights `kₜ`
//! (PIL's fixed-point coefficients). A [`RowPlan`] lays these out once per coefficient table: for a block of
//! eight consecutive output values and a tap `t`, each half of the block (four values) reads its four source
//! bytes from one 16-byte window of the row, so that one byte shuffle puts each source byte in the low byte of
//! its 32-bit lane (the other bytes zero). The lanes then hold exactly `s[iₜ]`, and the products and sums are
//! the scalar pass's 32-bit integer operations (PIL's own `int` arithmetic) in the same order; the arithmetic
//! shift by 22 followed by the two saturating packs (to 16 bits signed, then 8 bits unsigned) is `clip8`. A
//! tap an output does not have gets weight 0 and a zeroed lane, which adds nothing.
//!
//! A plan exists when every half-block's window fits in 16 bytes (its four source indices span at most 15),
//! which holds for scale factors up to about 5; otherwise the scalar pass runs. Rows whose windows would read
//! past the end of the input are copied into a zero-padded buffer first (the padding is never selected).

use core::arch::x86_64::{__m128i, __m256i};
use pulp::x86::V3;

/// PIL's fixed-point bits (as in [`super::resample`]).
const BITS: i32 = 22;

/// Output values per block (eight 32-bit lanes).
const BLOCK: usize = 8;

/// One tap of one block: the byte shuffle selecting its eight source bytes from the two windows, the eight
/// weights, and the start of each half's 16-byte window in the row.
#[derive(Clone, Debug)]
struct Entry {
    mask: [u8; 32],
    weights: [i32; 8],
    windows: [usize; 2],
}

/// The lane layout of a horizontal pass for rows of one length and one channel count.
#[derive(Clone, Debug)]
pub(super) struct RowPlan {
    /// Taps per block.
    taps: usize,
    /// `taps` entries per full block of [`BLOCK`] output values.
    entries: Vec<Entry>,
    /// The source indices and weights of the output values after the last full block (computed scalar).
    tail: Vec<Vec<(usize, i32)>>,
    /// Output values per row.
    out_len: usize,
    /// How many bytes from the start of a row the windows read.
    reach: usize,
}

impl RowPlan {
    /// The plan of `n_out` output pixels of `c` channels, output `o` reading pixels `first(o) …` with the
    /// weights `weights(o)`; `None` when some half-block's sources do not fit a 16-byte window.
    pub(super) fn new<'a>(
        c: usize,
        n_out: usize,
        first: impl Fn(usize) -> usize,
        weights: impl Fn(usize) -> &'a [i32],
    ) -> Option<RowPlan> {
        let taps = (0..n_out).map(|o| weights(o).len()).max().unwrap_or(0);
        if taps == 0 || taps > 16 {
            return None;
        }
        let out_len = n_out * c;
        // The source index of output value v at tap t, with its weight (None past the output's taps).
        let source = |v: usize, t: usize| -> Option<(usize, i32)> {
            let (o, ch) = (v / c, v % c);
            weights(o).get(t).map(|&k| ((first(o) + t) * c + ch, k))
        };
        let blocks = out_len / BLOCK;
        let mut entries = Vec::with_capacity(blocks * taps);
        let mut reach = 0;
        for b in 0..blocks {
            for t in 0..taps {
                let mut e = Entry { mask: [0x80; 32], weights: [0; 8], windows: [0; 2] };
                for half in 0..2 {
                    let lanes = b * BLOCK + half * 4..b * BLOCK + half * 4 + 4;
                    let found: Vec<(usize, usize, i32)> =
                        lanes.filter_map(|v| source(v, t).map(|(i, k)| (v % 4, i, k))).collect();
                    let lo = found.iter().map(|f| f.1).min().unwrap_or(0);
                    let hi = found.iter().map(|f| f.1).max().unwrap_or(0);
                    if hi - lo > 15 {
                        return None;
                    }
                    e.windows[half] = lo;
                    reach = reach.max(lo + 16);
                    for (lane, i, k) in found {
                        e.mask[half * 16 + lane * 4] = (i - lo) as u8;
                        e.weights[half * 4 + lane] = k;
                    }
                }
                entries.push(e);
            }
        }
        let tail =
            (blocks * BLOCK..out_len).map(|v| (0..taps).map_while(|t| source(v, t)).collect()).collect();
        Some(RowPlan { taps, entries, tail, out_len, reach })
    }
}

/// The horizontal pass over rows of `row_len` bytes of `px` with `plan`, into `out` (`out_len` values per row).
pub(super) fn rows(s: V3, plan: &RowPlan, px: &[u8], row_len: usize, out: &mut [u8]) {
    s.vectorize(Rows { s, plan, px, row_len, out });
}

/// [`rows`] as a function object, so that all of it is compiled with AVX2.
struct Rows<'a> {
    s: V3,
    plan: &'a RowPlan,
    px: &'a [u8],
    row_len: usize,
    out: &'a mut [u8],
}

impl pulp::NullaryFnOnce for Rows<'_> {
    type Output = ();

    #[inline(always)]
    fn call(self) {
        let Rows { s, plan, px, row_len, out } = self;
        let mut padded = Vec::new();
        for (r, orow) in out.chunks_exact_mut(plan.out_len).enumerate() {
            let row = &px[r * row_len..];
            let row = if row.len() >= plan.reach {
                row
            } else {
                // The last rows: their windows run past the input, so read them from a zero-padded copy.
                padded.clear();
                padded.extend_from_slice(&row[..row_len]);
                padded.resize(plan.reach.max(row_len), 0);
                &padded[..]
            };
            one_row(s, plan, row, orow);
        }
    }
}

/// Sixteen bytes of `row` from `at`, as a register.
#[inline(always)]
fn window(row: &[u8], at: usize) -> __m128i {
    let bytes: [u8; 16] = row[at..at + 16].try_into().expect("sixteen bytes");
    pulp::cast(bytes)
}

/// One output row.
#[inline(always)]
fn one_row(s: V3, plan: &RowPlan, row: &[u8], orow: &mut [u8]) {
    let a = s.avx2;
    let half = s.avx._mm256_set1_epi32(1 << (BITS - 1));
    let (blocks, tail) = orow.split_at_mut(plan.entries.len() / plan.taps * BLOCK);
    for (dst, entries) in blocks.chunks_exact_mut(BLOCK).zip(plan.entries.chunks_exact(plan.taps)) {
        let mut acc = half;
        for e in entries {
            let v = s.avx._mm256_set_m128i(window(row, e.windows[1]), window(row, e.windows[0]));
            let x = a._mm256_shuffle_epi8(v, pulp::cast::<_, __m256i>(e.mask));
            acc = a._mm256_add_epi32(acc, a._mm256_mullo_epi32(x, pulp::cast::<_, __m256i>(e.weights)));
        }
        let shifted = a._mm256_srai_epi32::<BITS>(acc);
        // Signed saturation to 16 bits, then unsigned to 8 bits: PIL's clamp to 0…255. Lane dwords 0 and 4 hold
        // the two halves' four bytes.
        let packed = a._mm256_packus_epi16(
            a._mm256_packs_epi32(shifted, shifted),
            a._mm256_packs_epi32(shifted, shifted),
        );
        let dwords: [u32; 8] = pulp::cast(packed);
        dst[..4].copy_from_slice(&dwords[0].to_le_bytes());
        dst[4..].copy_from_slice(&dwords[4].to_le_bytes());
    }
    for (d, sources) in tail.iter_mut().zip(&plan.tail) {
        let acc = sources.iter().fold(1i32 << (BITS - 1), |acc, &(i, k)| acc + k * i32::from(row[i]));
        *d = (acc >> BITS).clamp(0, 255) as u8;
    }
}

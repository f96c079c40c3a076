//! libjpeg's colour conversion and chroma resampling, in its fixed-point arithmetic.
//!
//! - **RGB → YCbCr** (`jccolor.c`): JFIF's full-range BT.601 matrix with 16 fractional bits; Y rounds half
//!   up, Cb and Cr add `0.5 − 2⁻¹⁶` so that 255 cannot overflow.
//! - **YCbCr → RGB** (`jdcolor.c`): per-value tables of `1.402·Cr`, `1.772·Cb` (rounded) and the two green
//!   terms (summed, then rounded), clamped to 0…255.
//! - **2×2 downsampling** (`jcsample.c`, `h2v2_downsample`): the mean of each 2×2 cell with a bias that
//!   alternates 1, 2, 1, 2 along the row, so that rounding does not drift one way.
//! - **Fancy upsampling** (`jdsample.c`): each output sample is the triangle-filter mix `3/4 · nearest +
//!   1/4 · next nearest` per direction (9-3-3-1 in 2-D), with biases 8 and 7 alternating by output column; the
//!   edges repeat the outermost sample.
//!
//! The row conversions ([`rgb_to_ycc_row`], [`ycc_to_rgb_row`]) and the interior of the fancy upsampling run 32
//! samples at a time with AVX2 where the processor has it ([`super::jpeg_color_lanes`], the same bits); the
//! per-pixel functions and loops here are the definition.

/// Fractional bits of the colour tables.
const SCALEBITS: u32 = 16;
pub(super) const ONE_HALF: i32 = 1 << (SCALEBITS - 1);
/// The 128 added to Cb and Cr, in the fixed point.
pub(super) const CBCR_OFFSET: i32 = 128 << SCALEBITS;

/// `round(x · 2^16)`, libjpeg's `FIX`.
const fn fix(x: f64) -> i32 {
    (x * (1u32 << SCALEBITS) as f64 + 0.5) as i32
}

// The constants of `jccolor.c` and `jdcolor.c`.
pub(super) const FIX_0_29900: i32 = fix(0.29900);
pub(super) const FIX_0_58700: i32 = fix(0.58700);
pub(super) const FIX_0_11400: i32 = fix(0.11400);
pub(super) const FIX_0_16874: i32 = fix(0.16874);
pub(super) const FIX_0_33126: i32 = fix(0.33126);
pub(super) const FIX_0_50000: i32 = fix(0.5);
pub(super) const FIX_0_41869: i32 = fix(0.41869);
pub(super) const FIX_0_08131: i32 = fix(0.08131);
pub(super) const FIX_1_40200: i32 = fix(1.40200);
pub(super) const FIX_1_77200: i32 = fix(1.77200);
pub(super) const FIX_0_34414: i32 = fix(0.34414);
pub(super) const FIX_0_71414: i32 = fix(0.71414);

/// One RGB pixel to YCbCr, as `rgb_ycc_convert` does.
#[inline(always)]
pub fn rgb_to_ycc(r: u8, g: u8, b: u8) -> [u8; 3] {
    let (r, g, b) = (i32::from(r), i32::from(g), i32::from(b));
    let y = FIX_0_29900 * r + FIX_0_58700 * g + FIX_0_11400 * b + ONE_HALF;
    let cb = -FIX_0_16874 * r - FIX_0_33126 * g + FIX_0_50000 * b + CBCR_OFFSET + ONE_HALF - 1;
    let cr = FIX_0_50000 * r - FIX_0_41869 * g - FIX_0_08131 * b + CBCR_OFFSET + ONE_HALF - 1;
    [(y >> SCALEBITS) as u8, (cb >> SCALEBITS) as u8, (cr >> SCALEBITS) as u8]
}

/// One YCbCr pixel to RGB, as `ycc_rgb_convert` does.
#[inline(always)]
pub fn ycc_to_rgb(y: u8, cb: u8, cr: u8) -> [u8; 3] {
    let (y, cb, cr) = (i32::from(y), i32::from(cb) - 128, i32::from(cr) - 128);
    let clamp = |v: i32| v.clamp(0, 255) as u8;
    let r = y + ((FIX_1_40200 * cr + ONE_HALF) >> SCALEBITS);
    let g = y + ((-FIX_0_34414 * cb + ONE_HALF - FIX_0_71414 * cr) >> SCALEBITS);
    let b = y + ((FIX_1_77200 * cb + ONE_HALF) >> SCALEBITS);
    [clamp(r), clamp(g), clamp(b)]
}

/// [`rgb_to_ycc`] of interleaved RGB pixels `px` into the planes `y`, `cb`, `cr` (as many pixels as `y`
/// has; `px`, `cb` and `cr` must hold at least that many, or it panics): with AVX2 where the processor has it
/// ([`super::jpeg_color_lanes`]), else [`rgb_to_ycc_scalar`].
#[inline(always)]
pub fn rgb_to_ycc_row(px: &[u8], y: &mut [u8], cb: &mut [u8], cr: &mut [u8]) {
    #[cfg(target_arch = "x86_64")]
    if let Some(s) = crate::wide::v3() {
        return super::jpeg_color_lanes::rgb_to_ycc(s, px, y, cb, cr);
    }
    rgb_to_ycc_scalar(px, y, cb, cr);
}

/// [`rgb_to_ycc_row`] pixel by pixel, written with indices so that the compiler vectorises it where it can.
#[inline(always)]
pub fn rgb_to_ycc_scalar(px: &[u8], y: &mut [u8], cb: &mut [u8], cr: &mut [u8]) {
    let n = y.len();
    let (px, cb, cr) = (&px[..3 * n], &mut cb[..n], &mut cr[..n]);
    for (i, p) in px.chunks_exact(3).enumerate() {
        [y[i], cb[i], cr[i]] = rgb_to_ycc(p[0], p[1], p[2]);
    }
}

/// [`ycc_to_rgb`] of the samples `y`, `cb`, `cr` into interleaved RGB pixels `out` (as many pixels as `out`
/// holds; `y`, `cb` and `cr` must hold at least that many, or it panics): with AVX2 where the processor has it
/// ([`super::jpeg_color_lanes`]), else [`ycc_to_rgb_scalar`].
#[inline(always)]
pub fn ycc_to_rgb_row(y: &[u8], cb: &[u8], cr: &[u8], out: &mut [u8]) {
    #[cfg(target_arch = "x86_64")]
    if let Some(s) = crate::wide::v3() {
        return super::jpeg_color_lanes::ycc_to_rgb(s, y, cb, cr, out);
    }
    ycc_to_rgb_scalar(y, cb, cr, out);
}

/// [`ycc_to_rgb_row`] pixel by pixel, written to be vectorised like [`rgb_to_ycc_scalar`].
#[inline(always)]
pub fn ycc_to_rgb_scalar(y: &[u8], cb: &[u8], cr: &[u8], out: &mut [u8]) {
    let n = out.len() / 3;
    let (y, cb, cr, out) = (&y[..n], &cb[..n], &cr[..n], &mut out[..3 * n]);
    for i in 0..n {
        let [r, g, b] = ycc_to_rgb(y[i], cb[i], cr[i]);
        (out[3 * i], out[3 * i + 1], out[3 * i + 2]) = (r, g, b);
    }
}

/// A plane of 8-bit samples, row-major.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plane {
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// `width · height` samples.
    pub data: Vec<u8>,
}

impl Plane {
    /// The sample at `(row, col)`.
    #[inline]
    pub fn at(&self, row: usize, col: usize) -> u8 {
        self.data[row * self.width + col]
    }

    /// This plane grown to `width × height` by repeating its last column and last row (libjpeg's
    /// `expand_right_edge` / `expand_bottom_edge`); a larger plane is kept as is on that side.
    pub fn padded(self, width: usize, height: usize) -> Plane {
        let (width, height) = (width.max(self.width), height.max(self.height));
        if (width, height) == (self.width, self.height) {
            return self;
        }
        let mut data = Vec::with_capacity(width * height);
        for r in 0..height {
            let row = &self.data[r.min(self.height - 1) * self.width..][..self.width];
            data.extend_from_slice(row);
            data.resize(data.len() + width - self.width, row[self.width - 1]);
        }
        Plane { width, height, data }
    }
}

/// `h2v2_downsample`: halves an even-sized plane, each output the mean of its 2×2 cell with bias 1 on even
/// and 2 on odd output columns.
pub fn downsample_h2v2(p: &Plane) -> Plane {
    crate::wide::wide(Downsample { p })
}

/// [`downsample_h2v2`]'s work, a type rather than a closure so that [`crate::wide::wide`] compiles it with the
/// wider instructions.
struct Downsample<'a> {
    p: &'a Plane,
}

impl pulp::NullaryFnOnce for Downsample<'_> {
    type Output = Plane;

    #[inline(always)]
    fn call(self) -> Plane {
        let p = self.p;
        let (w, h) = (p.width / 2, p.height / 2);
        let mut data = vec![0u8; w * h];
        for (r, out) in data.chunks_exact_mut(w.max(1)).take(h).enumerate() {
            let (a, b) = (&p.data[2 * r * p.width..][..2 * w], &p.data[(2 * r + 1) * p.width..][..2 * w]);
            let out = &mut out[..w];
            for c in 0..w {
                // At most 4 · 255 + 2: 16 bits hold it (and let the loop be vectorised).
                let sum = u16::from(a[2 * c])
                    + u16::from(a[2 * c + 1])
                    + u16::from(b[2 * c])
                    + u16::from(b[2 * c + 1]);
                out[c] = ((sum + 1 + (c as u16 & 1)) >> 2) as u8;
            }
        }
        Plane { width: w, height: h, data }
    }
}

/// Horizontal fancy upsampling of one row of column sums `s` (each `3·nearest + next` vertically for h2v2),
/// `n` of them used (at least 1; `s[1]` is read when `n = 1`, as libjpeg reads the padding column): the two
/// outputs of column `i` are `(3·s[i] + s[i−1] + 8) >> 4` and `(3·s[i] + s[i+1] + 7) >> 4`, with `4·s` at the
/// two image edges. The sums are at most `4 · 255`, so every value fits in 16 bits.
#[inline(always)]
fn fancy_row(s: &[u16], n: usize, out: &mut [u8]) {
    let push = |out: &mut [u8], k: usize, v: u16| {
        if k < out.len() {
            out[k] = (v >> 4) as u8;
        }
    };
    push(out, 0, s[0] * 4 + 8);
    push(out, 1, s[0] * 3 + s[1] + 7);
    let interior = n.max(2) - 1;
    if 2 * interior <= out.len() {
        // Columns 1 … n − 2 all inside `out`: with indices the compiler can vectorise.
        let m = interior - 1;
        let (s, pairs) = (&s[..m + 2], &mut out[2..2 + 2 * m]);
        #[cfg(target_arch = "x86_64")]
        let done = crate::wide::v3().map_or(0, |v3| super::jpeg_color_lanes::fancy_pairs(v3, s, pairs));
        #[cfg(not(target_arch = "x86_64"))]
        let done = 0;
        fancy_pairs_scalar(s, pairs, done);
    } else {
        for i in 1..interior {
            push(out, 2 * i, s[i] * 3 + s[i - 1] + 8);
            push(out, 2 * i + 1, s[i] * 3 + s[i + 1] + 7);
        }
    }
    if n >= 2 {
        let i = n - 1;
        push(out, 2 * i, s[i] * 3 + s[i - 1] + 8);
        push(out, 2 * i + 1, s[i] * 4 + 7);
    } else {
        // One column: libjpeg's first step already read the padding column; its "last column" step then
        // treats that column as the current one.
        push(out, 2, s[1] * 3 + s[0] + 8);
        push(out, 3, s[1] * 4 + 7);
    }
}

/// The interior outputs of [`fancy_row`] from the pair `from` on: `pairs[2i]` and `pairs[2i + 1]` are the two
/// outputs of the sum `s[i + 1]`, between its neighbours `s[i]` and `s[i + 2]` (`s` holds `pairs.len() / 2 + 2`
/// sums). Written with indices so that the compiler vectorises it.
#[inline(always)]
pub(super) fn fancy_pairs_scalar(s: &[u16], pairs: &mut [u8], from: usize) {
    let m = pairs.len() / 2;
    let (prev, cur, next) = (&s[..m], &s[1..=m], &s[2..m + 2]);
    for i in from..m {
        pairs[2 * i] = ((cur[i] * 3 + prev[i] + 8) >> 4) as u8;
        pairs[2 * i + 1] = ((cur[i] * 3 + next[i] + 7) >> 4) as u8;
    }
}

/// Row `y` of [`upsample_h2v2`] into `out` (`width` samples), with `sums` a scratch row of at least
/// `min(max(dw, 2), p.width)` entries.
#[inline(always)]
pub fn upsample_h2v2_row(p: &Plane, dw: usize, dh: usize, y: usize, sums: &mut [u16], out: &mut [u8]) {
    let cols = dw.max(2).min(p.width);
    let r = y / 2;
    let other = if y.is_multiple_of(2) { r.saturating_sub(1) } else { (r + 1).min(dh - 1) };
    let (a, b) = (&p.data[r * p.width..][..cols], &p.data[other * p.width..][..cols]);
    let sums = &mut sums[..cols];
    for c in 0..cols {
        sums[c] = 3 * u16::from(a[c]) + u16::from(b[c]);
    }
    fancy_row(sums, dw, out);
}

/// The chroma columns `span` of [`upsample_h2v2_row`] (at least three, inside the `dw` columns the image
/// covers): writes the output columns `2·span.start … 2·span.end` (those inside `out`, a full row), of which
/// all but the first and the last are the values [`upsample_h2v2_row`] gives them (the two at the ends take
/// the edge rule, as if the span were the whole row). Only the span's samples are read.
#[inline(always)]
pub fn upsample_h2v2_span(
    p: &Plane,
    dh: usize,
    y: usize,
    span: std::ops::Range<usize>,
    sums: &mut [u16],
    out: &mut [u8],
) {
    debug_assert!(span.len() >= 3 && span.end <= p.width);
    let r = y / 2;
    let other = if y.is_multiple_of(2) { r.saturating_sub(1) } else { (r + 1).min(dh - 1) };
    let n = span.len();
    let (a, b) = (&p.data[r * p.width..][span.clone()], &p.data[other * p.width..][span.clone()]);
    let sums = &mut sums[..n];
    for c in 0..n {
        sums[c] = 3 * u16::from(a[c]) + u16::from(b[c]);
    }
    let hi = (2 * span.end).min(out.len());
    fancy_row(sums, n, &mut out[2 * span.start..hi]);
}

/// `h2v2_fancy_upsample`: the `dw × dh` top-left part of `p` (the chroma samples the image covers; `p` may be
/// wider, as the IDCT output is) doubled in both directions and cropped to `width × height`. Rows above the
/// first and below row `dh − 1` repeat the edge row (libjpeg's context rows).
#[cfg(test)]
pub fn upsample_h2v2(p: &Plane, dw: usize, dh: usize, width: usize, height: usize) -> Plane {
    let mut data = vec![0u8; width * height];
    let mut sums = vec![0u16; dw.max(2).min(p.width)];
    for (y, out) in data.chunks_mut(width).enumerate() {
        upsample_h2v2_row(p, dw, dh, y, &mut sums, out);
    }
    Plane { width, height, data }
}

/// `h2v1_fancy_upsample`: doubles the `dw` first columns of each row horizontally (rows as they are), cropped to
/// `width × height`. With column sums `4·s`, the biases 8 and 7 over 16 are libjpeg's 2 and 1 over 4.
pub fn upsample_h2v1(p: &Plane, dw: usize, width: usize, height: usize) -> Plane {
    let cols = dw.max(2).min(p.width);
    let mut data = vec![0u8; width * height];
    let mut sums = vec![0u32; cols];
    for (y, out) in data.chunks_mut(width).enumerate() {
        for (c, s) in sums.iter_mut().enumerate() {
            *s = 4 * u32::from(p.at(y, c));
        }
        fancy_row_h2v1(&sums, dw, out);
    }
    Plane { width, height, data }
}

/// [`fancy_row`] with libjpeg's h2v1 rounding: `(3·s[i] + s[i−1] + 1) >> 2` and `(3·s[i] + s[i+1] + 2) >> 2`
/// on samples, i.e. biases 4 and 8 on the `4·s` sums, and the edge samples copied.
fn fancy_row_h2v1(s: &[u32], n: usize, out: &mut [u8]) {
    let mut push = |k: usize, v: u32| {
        if k < out.len() {
            out[k] = (v >> 4) as u8;
        }
    };
    push(0, s[0] * 4);
    push(1, s[0] * 3 + s[1] + 8);
    for i in 1..n.max(2) - 1 {
        push(2 * i, s[i] * 3 + s[i - 1] + 4);
        push(2 * i + 1, s[i] * 3 + s[i + 1] + 8);
    }
    let i = n.max(2) - 1;
    push(2 * i, s[i] * 3 + s[i - 1] + 4);
    push(2 * i + 1, s[i] * 4);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grays_keep_their_value_through_ycc() {
        for v in [0u8, 1, 77, 128, 254, 255] {
            let [y, cb, cr] = rgb_to_ycc(v, v, v);
            assert_eq!((y, cb, cr), (v, 128, 128));
            assert_eq!(ycc_to_rgb(y, cb, cr), [v, v, v]);
        }
    }

    #[test]
    fn downsampling_bias_alternates() {
        // Every cell sums to 2 (mean 0.5): bias 1 rounds down, bias 2 rounds up.
        let p = Plane { width: 4, height: 2, data: vec![1, 0, 1, 0, 0, 1, 0, 1] };
        assert_eq!(downsample_h2v2(&p).data, vec![0, 1]);
    }

    #[test]
    fn flat_planes_stay_flat_when_upsampled() {
        let p = Plane { width: 8, height: 8, data: vec![200; 64] };
        let up = upsample_h2v2(&p, 3, 3, 5, 5);
        assert!(up.data.iter().all(|&v| v == 200));
        let up = upsample_h2v1(&p, 3, 5, 3);
        assert!(up.data.iter().all(|&v| v == 200));
    }
}

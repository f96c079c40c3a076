//! Linear filters on whole interleaved images (HWC, all channels in one pass): separable correlation and the
//! defocus disk in two stages.
//!
//! A row of an HWC image is one contiguous slice of `w·c` values, and moving a pixel along x moves `c` values,
//! so correlating a row with a 1-D kernel is, tap by tap, `dst += k_t · padded[t·c ..]` over the whole row: a
//! loop over contiguous slices the compiler turns into SIMD, with no plane extraction and no horizontal
//! reduction. Every output still sums its taps in kernel order from zero, so [`rows`] and [`cols`] give
//! **bit-identical** results to [`filter::filter_rows`] / [`filter::filter_cols`] applied to each plane.

use super::filter::{self, Border};

/// Outputs summed in registers at a time by [`taps_into`].
const CHUNK: usize = 32;

/// `dst[i] = Σ_t k_t · src(t)[i]`, the taps in kernel order from zero, `CHUNK` outputs at a time kept in
/// registers (each output sums the same products in the same order as the tap-by-tap loop `dst += k_t ·
/// src(t)`). `src(t)` is `None` for a tap that reads only zeros (it adds nothing).
#[inline(always)]
fn taps_into<'a>(dst: &mut [f32], kernel: &[f32], src: impl Fn(usize) -> Option<&'a [f32]>) {
    let n = dst.len();
    let mut start = 0;
    while start + CHUNK <= n {
        let mut acc = [0.0f32; CHUNK];
        for (t, &k) in kernel.iter().enumerate() {
            if let Some(s) = src(t) {
                let s: &[f32; CHUNK] = s[start..start + CHUNK].try_into().expect("a chunk");
                for i in 0..CHUNK {
                    acc[i] += k * s[i];
                }
            }
        }
        dst[start..start + CHUNK].copy_from_slice(&acc);
        start += CHUNK;
    }
    let tail = &mut dst[start..];
    tail.fill(0.0);
    for (t, &k) in kernel.iter().enumerate() {
        if let Some(s) = src(t) {
            tail.iter_mut().zip(&s[start..]).for_each(|(d, v)| *d += k * v);
        }
    }
}

/// [`rows`] or [`cols`] with their arguments, run by [`super::wide::wide`].
struct Correlate<'a> {
    src: &'a [f32],
    dims: [usize; 3],
    kernel: &'a [f32],
    border: Border,
    along_rows: bool,
}

impl pulp::NullaryFnOnce for Correlate<'_> {
    type Output = Vec<f32>;

    #[inline(always)]
    fn call(self) -> Vec<f32> {
        let Correlate { src, dims: [h, w, c], kernel, border, along_rows } = self;
        if along_rows {
            rows_body(src, h, w, c, kernel, border)
        } else {
            cols_body(src, h, w, c, kernel, border)
        }
    }
}

/// Correlates every row of the `h × w × c` image `src` with `kernel` (odd length, centred).
pub fn rows(src: &[f32], h: usize, w: usize, c: usize, kernel: &[f32], border: Border) -> Vec<f32> {
    super::wide::wide(Correlate { src, dims: [h, w, c], kernel, border, along_rows: true })
}

/// Correlates every column of the `h × w × c` image `src` with `kernel` (odd length, centred).
pub fn cols(src: &[f32], h: usize, w: usize, c: usize, kernel: &[f32], border: Border) -> Vec<f32> {
    super::wide::wide(Correlate { src, dims: [h, w, c], kernel, border, along_rows: false })
}

/// [`rows`]'s body.
#[inline(always)]
fn rows_body(src: &[f32], h: usize, w: usize, c: usize, kernel: &[f32], border: Border) -> Vec<f32> {
    debug_assert_eq!(src.len(), h * w * c);
    if kernel.len() == 1 {
        return src.iter().map(|v| v * kernel[0]).collect();
    }
    if kernel.len() > 2 * w {
        return per_plane(src, h, w, c, |p| filter::filter_rows(p, h, w, kernel, border));
    }
    let r = kernel.len() / 2;
    let rowlen = w * c;
    let idx: Vec<Option<usize>> = (0..w + 2 * r).map(|j| border.index(j as isize - r as isize, w)).collect();
    let mut padded = vec![0.0f32; (w + 2 * r) * c];
    let mut out = vec![0.0f32; h * rowlen];
    for (row, dst) in src.chunks_exact(rowlen).zip(out.chunks_exact_mut(rowlen)) {
        fill_padded(&mut padded, row, c, r, &idx);
        let padded = &padded;
        taps_into(dst, kernel, |t| Some(&padded[t * c..t * c + rowlen]));
    }
    out
}

/// [`cols`]'s body.
#[inline(always)]
fn cols_body(src: &[f32], h: usize, w: usize, c: usize, kernel: &[f32], border: Border) -> Vec<f32> {
    debug_assert_eq!(src.len(), h * w * c);
    if kernel.len() == 1 {
        return src.iter().map(|v| v * kernel[0]).collect();
    }
    if kernel.len() > 2 * h {
        return per_plane(src, h, w, c, |p| filter::filter_cols(p, h, w, kernel, border));
    }
    let r = kernel.len() as isize / 2;
    let rowlen = w * c;
    let mut out = vec![0.0f32; h * rowlen];
    for (y, dst) in out.chunks_exact_mut(rowlen).enumerate() {
        taps_into(dst, kernel, |t| {
            border.index(y as isize + t as isize - r, h).map(|sy| &src[sy * rowlen..(sy + 1) * rowlen])
        });
    }
    out
}

/// scikit-image's `gaussian(x, σ, mode, truncate)` on every channel of an HWC image (rows, then columns, as
/// [`filter::gaussian_blur`] does per plane).
pub fn gaussian(
    src: &[f32],
    h: usize,
    w: usize,
    c: usize,
    sigma: f32,
    border: Border,
    truncate: f32,
) -> Vec<f32> {
    if sigma <= 0.0 {
        return src.to_vec();
    }
    let k = filter::gaussian_kernel(sigma, truncate);
    cols(&rows(src, h, w, c, &k, border), h, w, c, &k, border)
}

/// Runs a plane filter on every channel (the fallback for kernels wider than twice the image).
fn per_plane(src: &[f32], h: usize, w: usize, c: usize, f: impl Fn(&[f32]) -> Vec<f32>) -> Vec<f32> {
    let mut out = vec![0.0f32; h * w * c];
    for ch in 0..c {
        let plane: Vec<f32> = src.iter().skip(ch).step_by(c).copied().collect();
        for (d, v) in out.iter_mut().skip(ch).step_by(c).zip(f(&plane)) {
            *d = v;
        }
    }
    out
}

/// The image extended by `pad` pixels on every side through `border`, HWC.
pub fn pad(src: &[f32], h: usize, w: usize, c: usize, pad: usize, border: Border) -> Vec<f32> {
    let (ph, pw) = (h + 2 * pad, w + 2 * pad);
    let xs: Vec<Option<usize>> = (0..pw).map(|j| border.index(j as isize - pad as isize, w)).collect();
    let mut out = vec![0.0f32; ph * pw * c];
    for (py, dst) in out.chunks_exact_mut(pw * c).enumerate() {
        let Some(sy) = border.index(py as isize - pad as isize, h) else { continue };
        fill_padded(dst, &src[sy * w * c..(sy + 1) * w * c], c, pad, &xs);
    }
    out
}

/// Writes one row extended by `pad` pixels on each side into `dst`: the row itself in one copy, the border
/// pixels through `idx` (the source pixel of every padded position, `None` for zero).
fn fill_padded(dst: &mut [f32], row: &[f32], c: usize, pad: usize, idx: &[Option<usize>]) {
    let n = row.len();
    let (left, rest) = dst.split_at_mut(pad * c);
    let (middle, right) = rest.split_at_mut(n);
    middle.copy_from_slice(row);
    let border =
        left.chunks_exact_mut(c).zip(&idx[..pad]).chain(right.chunks_exact_mut(c).zip(&idx[pad + n / c..]));
    for (p, i) in border {
        match i {
            Some(i) => p.iter_mut().zip(&row[i * c..(i + 1) * c]).for_each(|(d, &v)| *d = v),
            None => p.fill(0.0),
        }
    }
}

//! Linear filters on one channel plane (row-major `h × w`): border modes, Gaussian kernels, separable and
//! sparse 2-D correlation.
//!
//! Every kernel built here sums to one, so a constant image stays constant away from `Constant` borders.

/// How a filter reads outside the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Border {
    /// `c b | a b c | b a`: mirror without repeating the edge (OpenCV's default, `BORDER_REFLECT_101`).
    Reflect101,
    /// `b a | a b c | c b`: mirror repeating the edge (SciPy's and scikit-image's `reflect`).
    Reflect,
    /// `a a | a b c | c c`: replicate the edge (`nearest`, ImageMagick's edge virtual pixels).
    Nearest,
    /// Zero outside (`constant` with value 0).
    Zero,
}

impl Border {
    /// Maps index `i` (possibly outside `0..n`) to the index it reads, or `None` for a zero.
    #[inline]
    pub fn index(self, i: isize, n: usize) -> Option<usize> {
        let n_i = n as isize;
        if (0..n_i).contains(&i) {
            return Some(i as usize);
        }
        match self {
            Border::Zero => None,
            Border::Nearest => Some(i.clamp(0, n_i - 1) as usize),
            Border::Reflect => {
                let period = 2 * n_i;
                let m = i.rem_euclid(period);
                Some(if m < n_i { m } else { period - 1 - m } as usize)
            }
            Border::Reflect101 => {
                if n == 1 {
                    return Some(0);
                }
                let period = 2 * n_i - 2;
                let m = i.rem_euclid(period);
                Some(if m < n_i { m } else { period - m } as usize)
            }
        }
    }
}

/// SciPy's `gaussian_filter1d` kernel: taps `exp(−x²/2σ²)` for `|x| ≤ ⌊truncate·σ + ½⌋`, normalised to sum one.
/// `σ ≤ 0` gives the identity kernel `[1]`.
pub fn gaussian_kernel(sigma: f32, truncate: f32) -> Vec<f32> {
    if sigma <= 0.0 {
        return vec![1.0];
    }
    let radius = (truncate * sigma + 0.5) as isize;
    let mut k: Vec<f64> =
        (-radius..=radius).map(|x| (-0.5 * (x * x) as f64 / f64::from(sigma).powi(2)).exp()).collect();
    let sum: f64 = k.iter().sum();
    k.iter_mut().for_each(|v| *v /= sum);
    k.into_iter().map(|v| v as f32).collect()
}

/// OpenCV's `getGaussianKernel(ksize, σ)` for σ > 0: `ksize` taps `exp(−x²/2σ²)`, `x = i − (ksize−1)/2`, normalised.
pub fn cv_gaussian_kernel(ksize: usize, sigma: f32) -> Vec<f32> {
    let c = (ksize as f64 - 1.0) / 2.0;
    let k: Vec<f64> =
        (0..ksize).map(|i| (-((i as f64 - c).powi(2)) / (2.0 * f64::from(sigma).powi(2))).exp()).collect();
    let sum: f64 = k.iter().sum();
    k.into_iter().map(|v| (v / sum) as f32).collect()
}

/// Correlates every row with `kernel` (odd length, centred).
pub fn filter_rows(src: &[f32], h: usize, w: usize, kernel: &[f32], border: Border) -> Vec<f32> {
    if kernel.len() == 1 {
        return src.iter().map(|v| v * kernel[0]).collect();
    }
    if kernel.len() > 2 * w {
        let m = folded(w, kernel, border);
        let mut out = vec![0.0; h * w];
        for y in 0..h {
            let row = &src[y * w..(y + 1) * w];
            for x in 0..w {
                out[y * w + x] = m[x * w..(x + 1) * w].iter().zip(row).map(|(a, b)| a * b).sum();
            }
        }
        return out;
    }
    let r = kernel.len() / 2;
    let mut out = vec![0.0; h * w];
    let mut padded = vec![0.0f32; w + 2 * r];
    let idx: Vec<Option<usize>> = (0..w + 2 * r).map(|j| border.index(j as isize - r as isize, w)).collect();
    for y in 0..h {
        let row = &src[y * w..(y + 1) * w];
        for (p, i) in padded.iter_mut().zip(&idx) {
            *p = i.map_or(0.0, |i| row[i]);
        }
        // Tap by tap over the whole row (vectorisable); each output still sums its taps in kernel order.
        let dst = &mut out[y * w..(y + 1) * w];
        for (t, &k) in kernel.iter().enumerate() {
            dst.iter_mut().zip(&padded[t..t + w]).for_each(|(d, v)| *d += k * v);
        }
    }
    out
}

/// Correlates every column with `kernel` (odd length, centred).
pub fn filter_cols(src: &[f32], h: usize, w: usize, kernel: &[f32], border: Border) -> Vec<f32> {
    if kernel.len() == 1 {
        return src.iter().map(|v| v * kernel[0]).collect();
    }
    if kernel.len() > 2 * h {
        let m = folded(h, kernel, border);
        let mut out = vec![0.0; h * w];
        for y in 0..h {
            let dst = &mut out[y * w..(y + 1) * w];
            for (sy, &kv) in m[y * h..(y + 1) * h].iter().enumerate() {
                if kv != 0.0 {
                    dst.iter_mut().zip(&src[sy * w..(sy + 1) * w]).for_each(|(d, s)| *d += kv * s);
                }
            }
        }
        return out;
    }
    let r = kernel.len() as isize / 2;
    let mut out = vec![0.0; h * w];
    for y in 0..h {
        let dst = &mut out[y * w..(y + 1) * w];
        for (k, &kv) in kernel.iter().enumerate() {
            if let Some(sy) = border.index(y as isize + k as isize - r, h) {
                let row = &src[sy * w..(sy + 1) * w];
                dst.iter_mut().zip(row).for_each(|(d, s)| *d += kv * s);
            }
        }
    }
    out
}

/// A kernel wider than the signal folded through the border: `M[i][j] = Σ { k_t : border(i + t − r) = j }`,
/// so that correlating is one `n × n` matrix product instead of `n · len` reads.
fn folded(n: usize, kernel: &[f32], border: Border) -> Vec<f32> {
    let r = (kernel.len() / 2) as isize;
    let mut m = vec![0.0f32; n * n];
    for i in 0..n {
        for (t, &k) in kernel.iter().enumerate() {
            if let Some(j) = border.index(i as isize + t as isize - r, n) {
                m[i * n + j] += k;
            }
        }
    }
    m
}

/// Separable correlation: the same 1-D kernel along rows, then along columns.
pub fn separable(src: &[f32], h: usize, w: usize, kernel: &[f32], border: Border) -> Vec<f32> {
    filter_cols(&filter_rows(src, h, w, kernel, border), h, w, kernel, border)
}

/// scikit-image's `gaussian(x, σ, mode, truncate)` on one plane.
pub fn gaussian_blur(src: &[f32], h: usize, w: usize, sigma: f32, border: Border, truncate: f32) -> Vec<f32> {
    if sigma <= 0.0 {
        return src.to_vec();
    }
    separable(src, h, w, &gaussian_kernel(sigma, truncate), border)
}

/// A 2-D kernel stored as its non-zero taps `(dy, dx, weight)` relative to the centre.
#[derive(Clone, Debug)]
pub struct SparseKernel {
    /// The taps.
    pub taps: Vec<(isize, isize, f32)>,
}

impl SparseKernel {
    /// From a dense row-major `kh × kw` kernel whose centre is `(kh/2, kw/2)`.
    pub fn from_dense(k: &[f32], kh: usize, kw: usize) -> Self {
        let mut taps = Vec::new();
        for y in 0..kh {
            for x in 0..kw {
                let v = k[y * kw + x];
                if v != 0.0 {
                    taps.push((y as isize - (kh / 2) as isize, x as isize - (kw / 2) as isize, v));
                }
            }
        }
        SparseKernel { taps }
    }

    /// Sum of the weights.
    pub fn sum(&self) -> f32 {
        self.taps.iter().map(|t| t.2).sum()
    }

    /// Correlates a plane with the kernel (`cv2.filter2D` semantics).
    ///
    /// Within each kernel row, a run of three or more equal weights (the flat inside of a disk) is applied as
    /// one box sum from per-row prefix sums instead of tap by tap; the other taps are applied one by one.
    pub fn correlate(&self, src: &[f32], h: usize, w: usize, border: Border) -> Vec<f32> {
        let rx = self.taps.iter().map(|t| t.1.unsigned_abs()).max().unwrap_or(0);
        let ry = self.taps.iter().map(|t| t.0.unsigned_abs()).max().unwrap_or(0);
        let pw = w + 2 * rx;
        let padded = pad(src, h, w, ry, rx, border);
        let (spans, singles) = self.runs();
        let prefix: Vec<f32> = if spans.is_empty() {
            Vec::new()
        } else {
            let mut p = vec![0.0f32; (h + 2 * ry) * (pw + 1)];
            for (row, out) in padded.chunks_exact(pw).zip(p.chunks_exact_mut(pw + 1)) {
                let mut acc = 0.0f32;
                for (o, v) in out[1..].iter_mut().zip(row) {
                    acc += v;
                    *o = acc;
                }
            }
            p
        };
        let mut out = vec![0.0; h * w];
        for y in 0..h {
            let dst = &mut out[y * w..(y + 1) * w];
            for &(dy, dx, wgt) in &singles {
                let py = (y as isize + ry as isize + dy) as usize;
                let px = (rx as isize + dx) as usize;
                let row = &padded[py * pw + px..py * pw + px + w];
                dst.iter_mut().zip(row).for_each(|(d, s)| *d += wgt * s);
            }
            for &(dy, dx0, len, wgt) in &spans {
                let py = (y as isize + ry as isize + dy) as usize;
                let start = py * (pw + 1) + (rx as isize + dx0) as usize;
                let lo = &prefix[start..start + w];
                let hi = &prefix[start + len..start + len + w];
                dst.iter_mut().zip(lo.iter().zip(hi)).for_each(|(d, (a, b))| *d += wgt * (b - a));
            }
        }
        out
    }

    /// Passes over the image [`SparseKernel::correlate`] makes: one per run of equal weights and one per other
    /// tap.
    pub fn cost(&self) -> usize {
        let (spans, singles) = self.runs();
        spans.len() + singles.len()
    }

    /// Splits the taps into runs of ≥ 3 equal weights along x, `(dy, first dx, length, weight)`, and the rest.
    #[allow(clippy::type_complexity)]
    fn runs(&self) -> (Vec<(isize, isize, usize, f32)>, Vec<(isize, isize, f32)>) {
        let mut taps = self.taps.clone();
        taps.sort_by_key(|t| (t.0, t.1));
        let (mut spans, mut singles) = (Vec::new(), Vec::new());
        let mut i = 0;
        while i < taps.len() {
            let (dy, dx, wgt) = taps[i];
            let mut j = i + 1;
            while j < taps.len() && taps[j].0 == dy && taps[j].1 == dx + (j - i) as isize && taps[j].2 == wgt
            {
                j += 1;
            }
            if j - i >= 3 {
                spans.push((dy, dx, j - i, wgt));
            } else {
                singles.extend_from_slice(&taps[i..j]);
            }
            i = j;
        }
        (spans, singles)
    }
}

/// The plane extended by `ry` rows and `rx` columns on each side, read through `border`.
pub fn pad(src: &[f32], h: usize, w: usize, ry: usize, rx: usize, border: Border) -> Vec<f32> {
    let (ph, pw) = (h + 2 * ry, w + 2 * rx);
    let xs: Vec<Option<usize>> = (0..pw).map(|j| border.index(j as isize - rx as isize, w)).collect();
    let mut out = vec![0.0; ph * pw];
    for py in 0..ph {
        let Some(sy) = border.index(py as isize - ry as isize, h) else { continue };
        let row = &src[sy * w..(sy + 1) * w];
        for (d, i) in out[py * pw..(py + 1) * pw].iter_mut().zip(&xs) {
            *d = i.map_or(0.0, |i| row[i]);
        }
    }
    out
}

/// OpenCV's `blur(x, (3, 3))`: the normalised 3×3 box filter with `BORDER_REFLECT_101`.
pub fn box3(src: &[f32], h: usize, w: usize) -> Vec<f32> {
    let k = [1.0 / 3.0; 3];
    separable(src, h, w, &k, Border::Reflect101)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn border_modes_match_their_definitions() {
        let n = 4;
        let get = |b: Border| (-3..7).map(|i| b.index(i, n).map_or(-1, |v| v as i32)).collect::<Vec<_>>();
        assert_eq!(get(Border::Reflect101), vec![3, 2, 1, 0, 1, 2, 3, 2, 1, 0]);
        assert_eq!(get(Border::Reflect), vec![2, 1, 0, 0, 1, 2, 3, 3, 2, 1]);
        assert_eq!(get(Border::Nearest), vec![0, 0, 0, 0, 1, 2, 3, 3, 3, 3]);
        assert_eq!(get(Border::Zero), vec![-1, -1, -1, 0, 1, 2, 3, -1, -1, -1]);
    }

    #[test]
    fn scipy_kernel_radius_and_sum() {
        let k = gaussian_kernel(1.0, 4.0);
        assert_eq!(k.len(), 9);
        assert!((k.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert_eq!(gaussian_kernel(0.0, 4.0), vec![1.0]);
    }
}

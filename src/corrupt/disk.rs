//! The defocus kernel applied in two cheap stages instead of tap by tap.
//!
//! The reference kernel ([`super::blur::disk_kernel`]) is `K = crop(G ⊛ D′)`: the flat disk `D` (every tap
//! `1/N`) reflected by `p` taps beyond its grid (OpenCV's `BORDER_REFLECT_101`, giving `D′`), smoothed by the
//! separable Gaussian `G` (`2p + 1` taps) and cropped back to the grid. Correlation is linear, so
//!
//! ```text
//! I ⋆ K = (I ⋆ D′) ⋆ (G ⊗ G)  −  I ⋆ R,        R = the taps of G ⊛ D′ outside the grid
//! ```
//!
//! - `I ⋆ D′` is a sum over the rows of `D′` of horizontal box sums (each row of a disk is one run of equal
//!   taps, plus a few reflected runs), each one difference of per-row prefix sums: `≈ 2r + 1` operations per
//!   value instead of the `≈ π r²` taps of `K`;
//! - `G ⊗ G` is two short 1-D passes;
//! - `R` is empty unless the disk touches its grid (the ImageNet table's r = 8 and r = 10), and then a few
//!   dozen taps.
//!
//! Everything works on interleaved HWC rows. The result equals `I ⋆ K` up to `f32` summation order (the
//! golden tests at 32 and 224 px hold it within their one-level tolerance).

use super::filter::{self, Border};
use super::interleaved;

/// Taps of `G ⊛ D′` below this (relative to the disk weight) count as zero when collecting `R`.
const RING_EPS: f64 = 1e-12;

/// The two-stage form of the defocus kernel of radius `radius` and alias σ `alias`.
#[derive(Clone, Debug)]
pub struct DiskFilter {
    /// Half-size of `D′` (grid half-size plus `p`).
    half: usize,
    /// Runs of `D′`: `(dy, first dx, length)` relative to the centre.
    runs: Vec<(isize, isize, usize)>,
    /// The weight `1/N` of every tap of `D` (and `D′`).
    weight: f32,
    /// OpenCV's Gaussian, `2p + 1` taps.
    gauss: Vec<f32>,
    /// `−R`: `(dy, dx, weight)`.
    ring: Vec<(isize, isize, f32)>,
}

impl DiskFilter {
    /// The decomposition of [`super::blur::disk_kernel`]`(radius, alias)`, or `None` when its grid has an even
    /// side (a non-integer radius above 8: no tables use one) and the kernel must be applied tap by tap.
    pub fn new(radius: f32, alias: f32) -> Option<DiskFilter> {
        let (grid, ksize) = super::blur::disk_grid(radius);
        let n = grid.len();
        if n % 2 == 0 {
            return None;
        }
        let r2 = f64::from(radius).powi(2);
        let inside = |i: usize, j: usize| grid[i] * grid[i] + grid[j] * grid[j] <= r2;
        let count = (0..n * n).filter(|&k| inside(k / n, k % n)).count();
        if count == 0 {
            return None;
        }
        let p = ksize / 2;
        let m = n + 2 * p;
        // D′: the disk read through reflect-101 beyond its grid (0/1 entries; the weight is applied later).
        let refl =
            |i: usize| Border::Reflect101.index(i as isize - p as isize, n).expect("reflect-101 maps inside");
        let dp: Vec<bool> = (0..m * m).map(|k| inside(refl(k / m), refl(k % m))).collect();
        let mut runs = Vec::new();
        for i in 0..m {
            let mut j = 0;
            while j < m {
                if !dp[i * m + j] {
                    j += 1;
                    continue;
                }
                let start = j;
                while j < m && dp[i * m + j] {
                    j += 1;
                }
                let half = (m / 2) as isize;
                runs.push((i as isize - half, start as isize - half, j - start));
            }
        }
        // F = G ⊛ D′ in f64 on the (m + 2p)² grid; its taps outside the central n × n are R.
        let g64 = cv_gaussian_f64(ksize, f64::from(alias));
        let f_side = m + 2 * p;
        let weight = 1.0 / count as f64;
        let mut ring = Vec::new();
        let centre = (f_side / 2) as isize;
        for u in 0..f_side {
            for v in 0..f_side {
                let in_grid = (2 * p..2 * p + n).contains(&u) && (2 * p..2 * p + n).contains(&v);
                if in_grid {
                    continue;
                }
                let mut acc = 0.0;
                for (a, ga) in g64.iter().enumerate() {
                    for (b, gb) in g64.iter().enumerate() {
                        let (i, j) = (u as isize - a as isize, v as isize - b as isize);
                        if (0..m as isize).contains(&i)
                            && (0..m as isize).contains(&j)
                            && dp[i as usize * m + j as usize]
                        {
                            acc += ga * gb;
                        }
                    }
                }
                if acc > RING_EPS {
                    ring.push((u as isize - centre, v as isize - centre, (-acc * weight) as f32));
                }
            }
        }
        Some(DiskFilter {
            half: m / 2,
            runs,
            weight: weight as f32,
            gauss: filter::cv_gaussian_kernel(ksize, alias),
            ring,
        })
    }

    /// Passes over the image [`DiskFilter::apply`] makes: one per run of `D′`, two per Gaussian tap, one per
    /// correction tap. Where the disk touches its grid (r = 8 and 10) the correction makes this larger than
    /// the tap-by-tap cost, and [`super::blur::defocus`] takes the other route.
    pub fn cost(&self) -> usize {
        self.runs.len() + 2 * self.gauss.len() + self.ring.len()
    }

    /// Correlates the `h × w × c` image with the defocus kernel, reflect-101 border (`cv2.filter2D`).
    pub fn apply(&self, src: &[f32], h: usize, w: usize, c: usize) -> Vec<f32> {
        let p = self.gauss.len() / 2;
        let big = self.half + p;
        let (ph, pw) = (h + 2 * big, w + 2 * big);
        let padded = interleaved::pad(src, h, w, c, big, Border::Reflect101);
        // Prefix sums along every padded row, per channel: pre[j·c + ch] = Σ_{k<j} row[k·c + ch].
        let plen = (pw + 1) * c;
        let mut prefix = vec![0.0f32; ph * plen];
        for (row, pre) in padded.chunks_exact(pw * c).zip(prefix.chunks_exact_mut(plen)) {
            match c {
                1 => running_sums::<1>(row, &mut pre[1..]),
                3 => running_sums::<3>(row, &mut pre[3..]),
                _ => {
                    for k in 0..pw * c {
                        pre[k + c] = pre[k] + row[k];
                    }
                }
            }
        }
        // Stage 1: M = Σ runs of box sums, on the image grown by p on every side.
        let (mh, mw) = (h + 2 * p, w + 2 * p);
        let mlen = mw * c;
        let mut sums = vec![0.0f32; mh * mlen];
        for (my, dst) in sums.chunks_exact_mut(mlen).enumerate() {
            for &(dy, dx0, len) in &self.runs {
                let py = (my as isize + (big - p) as isize + dy) as usize;
                let lo = ((big - p) as isize + dx0) as usize * c;
                let pre = &prefix[py * plen..(py + 1) * plen];
                let (a, b) = (&pre[lo..lo + mlen], &pre[lo + len * c..lo + len * c + mlen]);
                dst.iter_mut().zip(a.iter().zip(b)).for_each(|(d, (a, b))| *d += b - a);
            }
        }
        // Stage 2: the Gaussian, rows (with the disk weight folded in) then columns, on the valid region.
        let gw: Vec<f32> = self.gauss.iter().map(|g| g * self.weight).collect();
        let rowlen = w * c;
        let mut horiz = vec![0.0f32; mh * rowlen];
        for (src_row, dst) in sums.chunks_exact(mlen).zip(horiz.chunks_exact_mut(rowlen)) {
            for (t, &k) in gw.iter().enumerate() {
                let s = &src_row[t * c..t * c + rowlen];
                dst.iter_mut().zip(s).for_each(|(d, v)| *d += k * v);
            }
        }
        let mut out = vec![0.0f32; h * rowlen];
        for (y, dst) in out.chunks_exact_mut(rowlen).enumerate() {
            for (t, &k) in self.gauss.iter().enumerate() {
                let s = &horiz[(y + t) * rowlen..(y + t + 1) * rowlen];
                dst.iter_mut().zip(s).for_each(|(d, v)| *d += k * v);
            }
            // The correction −R, read from the padded image.
            for &(dy, dx, k) in &self.ring {
                let py = (y as isize + big as isize + dy) as usize;
                let px = (big as isize + dx) as usize;
                let s = &padded[(py * pw + px) * c..(py * pw + px) * c + rowlen];
                dst.iter_mut().zip(s).for_each(|(d, v)| *d += k * v);
            }
        }
        out
    }
}

/// `out[k] = Σ_{j ≤ k, j ≡ k mod C} row[j]`: running sums of each of `C` interleaved channels, kept in registers
/// (reading back a value just stored would wait on the store).
fn running_sums<const C: usize>(row: &[f32], out: &mut [f32]) {
    let mut acc = [0.0f32; C];
    for (px, o) in row.chunks_exact(C).zip(out.chunks_exact_mut(C)) {
        for (a, &v) in acc.iter_mut().zip(px) {
            *a += v;
        }
        o.copy_from_slice(&acc);
    }
}

/// OpenCV's `getGaussianKernel(ksize, σ)` in `f64`.
fn cv_gaussian_f64(ksize: usize, sigma: f64) -> Vec<f64> {
    let c = (ksize as f64 - 1.0) / 2.0;
    let k: Vec<f64> = (0..ksize).map(|i| (-((i as f64 - c).powi(2)) / (2.0 * sigma * sigma)).exp()).collect();
    let sum: f64 = k.iter().sum();
    k.into_iter().map(|v| v / sum).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corrupt::blur::disk_kernel;
    use crate::corrupt::filter::SparseKernel;

    /// Largest tolerated difference between the two-stage and the tap-by-tap result (values in `[0, 1]`).
    const SUMMATION_TOL: f32 = 2e-5;

    #[test]
    fn two_stages_equal_the_dense_kernel_for_every_table_row() {
        let (h, w, c) = (37, 41, 3);
        let img: Vec<f32> = (0..h * w * c).map(|i| ((i * 7919) % 256) as f32 / 255.0).collect();
        let rows = [
            (0.3, 0.4),
            (0.5, 0.6),
            (1.0, 0.2),
            (1.5, 0.1),
            (3.0, 0.1),
            (4.0, 0.5),
            (6.0, 0.5),
            (8.0, 0.5),
            (10.0, 0.5),
        ];
        for (r, a) in rows {
            let f = DiskFilter::new(r, a).expect("odd grid");
            let fast = f.apply(&img, h, w, c);
            let (k, n) = disk_kernel(r, a);
            let sparse = SparseKernel::from_dense(&k, n, n);
            for ch in 0..c {
                let plane: Vec<f32> = img.iter().skip(ch).step_by(c).copied().collect();
                let slow = sparse.correlate(&plane, h, w, Border::Reflect101);
                for (i, s) in slow.iter().enumerate() {
                    let d = (fast[i * c + ch] - s).abs();
                    assert!(d < SUMMATION_TOL, "r {r} alias {a}: value {i} ch {ch} differs by {d}");
                }
            }
        }
    }

    #[test]
    fn the_correction_is_empty_unless_the_disk_touches_its_grid() {
        assert!(DiskFilter::new(6.0, 0.5).unwrap().ring.is_empty());
        assert!(!DiskFilter::new(8.0, 0.5).unwrap().ring.is_empty());
        let f = DiskFilter::new(6.0, 0.5).unwrap();
        assert_eq!(f.runs.len(), 13);
        let (k, n) = disk_kernel(6.0, 0.5);
        assert!(
            f.cost() < SparseKernel::from_dense(&k, n, n).cost(),
            "the two stages must be the cheaper route"
        );
    }
}

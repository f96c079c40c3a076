//! Edge and distance tools used by spatter and MNIST-C: Canny edges, a chamfer distance transform and
//! histogram equalisation, on single planes.

use super::filter::{self, Border};

/// Settings of [`canny`].
#[derive(Clone, Copy, Debug)]
pub struct CannySettings {
    /// Gaussian pre-smoothing σ (0: none).
    pub sigma: f32,
    /// Weak-edge threshold on the gradient magnitude.
    pub low: f32,
    /// Strong-edge threshold.
    pub high: f32,
    /// `true`: magnitude `√(gx² + gy²)` (scikit-image); `false`: `|gx| + |gy|` (OpenCV's default).
    pub l2: bool,
    /// Whether pixels on the image border may be edges (scikit-image excludes them).
    pub border_edges: bool,
    /// Non-maximum suppression across a diagonal: `true` keeps a pixel only when its magnitude is strictly
    /// greater than both diagonal neighbours (OpenCV); `false` strictly greater than the first and at least the
    /// second, as across rows and columns. The difference decides small blobs: on a 2×2 plateau every pixel
    /// ties with a diagonal neighbour, so OpenCV finds no edge there at all.
    pub strict_diagonal: bool,
}

impl CannySettings {
    /// OpenCV's `Canny(img_u8, 50, 150)` (values on the 0…255 scale, no smoothing, L1 magnitude).
    pub const OPENCV_50_150: CannySettings = CannySettings {
        sigma: 0.0,
        low: 50.0,
        high: 150.0,
        l2: false,
        border_edges: true,
        strict_diagonal: true,
    };
    /// scikit-image's `feature.canny(img)` defaults on a `[0, 1]` image: σ = 1, thresholds 0.1 and 0.2.
    pub const SKIMAGE_DEFAULT: CannySettings = CannySettings {
        sigma: 1.0,
        low: 0.1,
        high: 0.2,
        l2: true,
        border_edges: false,
        strict_diagonal: false,
    };
}

/// Canny edge map (1 on edges, 0 elsewhere): optional Gaussian smoothing, 3×3 Sobel gradients, non-maximum
/// suppression along the gradient direction (quantised to 4 sectors), and hysteresis: weak pixels survive only
/// when 8-connected to a strong one.
pub fn canny(src: &[f32], h: usize, w: usize, s: &CannySettings) -> Vec<u8> {
    let smoothed = if s.sigma > 0.0 {
        // scikit-image normalises by the smoothed mask, i.e. a zero border renormalised.
        let num = filter::gaussian_blur(src, h, w, s.sigma, Border::Zero, 4.0);
        let den = filter::gaussian_blur(&vec![1.0; h * w], h, w, s.sigma, Border::Zero, 4.0);
        num.iter().zip(&den).map(|(a, b)| a / b).collect()
    } else {
        src.to_vec()
    };
    let gx = filter::filter_cols(
        &filter::filter_rows(&smoothed, h, w, &[-1.0, 0.0, 1.0], Border::Nearest),
        h,
        w,
        &[1.0, 2.0, 1.0],
        Border::Nearest,
    );
    let gy = filter::filter_cols(
        &filter::filter_rows(&smoothed, h, w, &[1.0, 2.0, 1.0], Border::Nearest),
        h,
        w,
        &[-1.0, 0.0, 1.0],
        Border::Nearest,
    );
    let mag: Vec<f32> = gx
        .iter()
        .zip(&gy)
        .map(|(a, b)| if s.l2 { (a * a + b * b).sqrt() } else { a.abs() + b.abs() })
        .collect();
    let at = |y: isize, x: isize| -> f32 {
        if y < 0 || x < 0 || y >= h as isize || x >= w as isize {
            0.0
        } else {
            mag[y as usize * w + x as usize]
        }
    };
    const TAN_22_5: f32 = 0.414_213_57;
    const TAN_67_5: f32 = 2.414_213_6;
    // 0 none, 1 weak, 2 strong
    let mut state = vec![0u8; h * w];
    for y in 0..h {
        for x in 0..w {
            if !s.border_edges && (y == 0 || x == 0 || y + 1 == h || x + 1 == w) {
                continue;
            }
            let i = y * w + x;
            let m = mag[i];
            if m <= s.low {
                continue;
            }
            let (ax, ay) = (gx[i].abs(), gy[i].abs());
            let (yi, xi) = (y as isize, x as isize);
            // The two neighbours across the edge, and whether a tie with the second one suppresses.
            let (a, b, strict) = if ay <= ax * TAN_22_5 {
                (at(yi, xi - 1), at(yi, xi + 1), false)
            } else if ay >= ax * TAN_67_5 {
                (at(yi - 1, xi), at(yi + 1, xi), false)
            } else {
                let sgn = if (gx[i] > 0.0) == (gy[i] > 0.0) { 1 } else { -1 };
                (at(yi - 1, xi - sgn), at(yi + 1, xi + sgn), s.strict_diagonal)
            };
            if m > a && (m > b || (m == b && !strict)) {
                state[i] = if m > s.high { 2 } else { 1 };
            }
        }
    }
    // Hysteresis by flood fill from the strong pixels.
    let mut out = vec![0u8; h * w];
    let mut stack: Vec<usize> = (0..h * w).filter(|&i| state[i] == 2).collect();
    for &i in &stack {
        out[i] = 1;
    }
    while let Some(i) = stack.pop() {
        let (y, x) = ((i / w) as isize, (i % w) as isize);
        for dy in -1..=1 {
            for dx in -1..=1 {
                let (ny, nx) = (y + dy, x + dx);
                if ny < 0 || nx < 0 || ny >= h as isize || nx >= w as isize {
                    continue;
                }
                let j = ny as usize * w + nx as usize;
                if state[j] == 1 && out[j] == 0 {
                    out[j] = 1;
                    stack.push(j);
                }
            }
        }
    }
    out
}

/// OpenCV's `distanceTransform(·, DIST_L2, 5)`: the 5×5 chamfer distance to the nearest zero pixel, with weights
/// 1 (axial), 1.4 (diagonal) and 2.1969 (knight moves). Pixels with no zero pixel anywhere get `f32::MAX`.
pub fn distance_transform(zero: &[bool], h: usize, w: usize) -> Vec<f32> {
    super::wide::wide(Chamfer { zero, h, w })
}

/// [`distance_transform`]'s arguments, run by [`super::wide::wide`].
struct Chamfer<'a> {
    zero: &'a [bool],
    h: usize,
    w: usize,
}

impl pulp::NullaryFnOnce for Chamfer<'_> {
    type Output = Vec<f32>;

    #[inline(always)]
    fn call(self) -> Vec<f32> {
        chamfer(self.zero, self.h, self.w)
    }
}

/// The smaller of two values that are never NaN (one compare and select, which vectorises).
#[inline(always)]
fn min2(a: f32, b: f32) -> f32 {
    if b < a { b } else { a }
}

/// The two chamfer passes. The image is padded by 2 on every side with +∞ (a neighbour outside is never the
/// minimum, as the reference skips it). Each pass takes, row by row, the minimum over the seven neighbours in
/// the rows already done (independent across x: one loop over equal-length slices, vectorised), then the one
/// along the row in scan order. Every candidate is one `f32` addition of a weight to a neighbour, and the
/// minimum is exact, so the order of the comparisons does not change the result.
#[inline(always)]
fn chamfer(zero: &[bool], h: usize, w: usize) -> Vec<f32> {
    const A: f32 = 1.0;
    let pw = w + 4;
    let mut d = vec![f32::INFINITY; (h + 4) * pw];
    for (y, row) in zero.chunks_exact(w).enumerate() {
        for (v, &z) in d[(y + 2) * pw + 2..][..w].iter_mut().zip(row) {
            *v = if z { 0.0 } else { f32::MAX };
        }
    }
    let mut tmp = vec![0.0f32; w];
    // Forward: rows y − 1 and y − 2, then from the left.
    for y in 2..h + 2 {
        let (done, rest) = d.split_at_mut(y * pw);
        let (r1, r2) = (&done[(y - 1) * pw..y * pw], &done[(y - 2) * pw..(y - 1) * pw]);
        let cur = &mut rest[..pw];
        from_rows(&mut tmp, &cur[2..w + 2], r1, r2);
        let mut prev = cur[1];
        for (v, &t) in cur[2..w + 2].iter_mut().zip(&tmp) {
            prev = min2(t, prev + A);
            *v = prev;
        }
    }
    // Backward: rows y + 1 and y + 2 (mirrored, so the same neighbour offsets), then from the right.
    for y in (2..h + 2).rev() {
        let (upto, below) = d.split_at_mut((y + 1) * pw);
        let (r1, r2) = (&below[..pw], &below[pw..2 * pw]);
        let cur = &mut upto[y * pw..];
        from_rows(&mut tmp, &cur[2..w + 2], r1, r2);
        let mut prev = cur[w + 2];
        for (v, &t) in cur[2..w + 2].iter_mut().zip(&tmp).rev() {
            prev = min2(t, prev + A);
            *v = prev;
        }
    }
    let mut out = Vec::with_capacity(h * w);
    for y in 2..h + 2 {
        out.extend(d[y * pw + 2..y * pw + w + 2].iter().map(|&v| if v.is_finite() { v } else { f32::MAX }));
    }
    out
}

/// `tmp[x] = min(cur[x], r1[x] + A, r1[x ± 1] + B, r2[x ± 1] + C, r1[x ± 2] + C)` for the padded rows `r1`
/// (adjacent) and `r2` (two away), `x` running over the `w` interior columns.
#[inline(always)]
fn from_rows(tmp: &mut [f32], cur: &[f32], r1: &[f32], r2: &[f32]) {
    const A: f32 = 1.0;
    const B: f32 = 1.4;
    const C: f32 = 2.1969;
    let w = tmp.len();
    let (cur, r1m2, r1m1, r10, r1p1, r1p2) =
        (&cur[..w], &r1[..w], &r1[1..w + 1], &r1[2..w + 2], &r1[3..w + 3], &r1[4..w + 4]);
    let (r2m1, r2p1) = (&r2[1..w + 1], &r2[3..w + 3]);
    for x in 0..w {
        let v = min2(cur[x], r10[x] + A);
        let v = min2(v, min2(r1m1[x] + B, r1p1[x] + B));
        let v = min2(v, min2(r2m1[x] + C, r2p1[x] + C));
        tmp[x] = min2(v, min2(r1m2[x] + C, r1p2[x] + C));
    }
}

/// OpenCV's `equalizeHist` on 8-bit values: `lut[v] = round(255 · (cdf(v) − cdf(v₀)) / (N − cdf(v₀)))` with
/// `v₀` the smallest value present (a constant image maps to itself).
pub fn equalize_hist(px: &[u8]) -> Vec<u8> {
    let mut hist = [0usize; 256];
    px.iter().for_each(|&v| hist[usize::from(v)] += 1);
    let total = px.len();
    let Some(first) = hist.iter().position(|&c| c > 0) else { return Vec::new() };
    if hist[first] == total {
        return px.to_vec();
    }
    let scale = 255.0 / (total - hist[first]) as f64;
    let mut lut = [0u8; 256];
    let mut sum = 0usize;
    for v in first + 1..256 {
        sum += hist[v];
        lut[v] = (sum as f64 * scale).round().clamp(0.0, 255.0) as u8;
    }
    px.iter().map(|&v| lut[usize::from(v)]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_is_zero_on_zeros_and_grows() {
        let mut zero = vec![false; 25];
        zero[12] = true;
        let d = distance_transform(&zero, 5, 5);
        assert_eq!(d[12], 0.0);
        assert_eq!(d[13], 1.0);
        assert_eq!(d[18], 1.4);
        assert_eq!(d[14], 2.0);
    }

    #[test]
    fn a_step_has_one_edge_column() {
        let (h, w) = (8, 8);
        let img: Vec<f32> = (0..h * w).map(|i| if i % w >= 4 { 200.0 } else { 0.0 }).collect();
        let e = canny(&img, h, w, &CannySettings::OPENCV_50_150);
        for y in 1..h - 1 {
            let row: Vec<u8> = e[y * w..(y + 1) * w].to_vec();
            assert_eq!(row.iter().map(|&v| v as usize).sum::<usize>(), 1, "row {y}: {row:?}");
        }
    }

    /// A plateau of 176 on zeros, `n × n` at (3, 3) in an 8 × 8 image, through the OpenCV settings.
    fn plateau_edges(n: usize) -> Vec<u8> {
        let img: Vec<f32> = (0..64)
            .map(|i| if (3..3 + n).contains(&(i / 8)) && (3..3 + n).contains(&(i % 8)) { 176.0 } else { 0.0 })
            .collect();
        canny(&img, 8, 8, &CannySettings::OPENCV_50_150)
    }

    #[test]
    fn opencv_finds_no_edge_on_a_two_by_two_plateau() {
        // `cv2.Canny(a, 50, 150)` (OpenCV 4.10) on this image is all zero: each of the four pixels has a
        // diagonal gradient and ties with its diagonal neighbour inside the plateau.
        assert!(plateau_edges(2).iter().all(|&e| e == 0));
    }

    #[test]
    fn opencv_edges_of_a_three_by_three_plateau() {
        // Rows 2-5 of `cv2.Canny(a, 50, 150)` (OpenCV 4.10); the other rows are zero.
        let want: [[u8; 8]; 4] = [
            [0, 0, 0, 0, 1, 0, 0, 0],
            [0, 0, 0, 1, 0, 1, 0, 0],
            [0, 0, 1, 0, 0, 1, 0, 0],
            [0, 0, 0, 1, 1, 1, 0, 0],
        ];
        let e = plateau_edges(3);
        for (y, row) in e.chunks_exact(8).enumerate() {
            let expect = if (2..6).contains(&y) { want[y - 2] } else { [0; 8] };
            assert_eq!(row, expect, "row {y}");
        }
    }
}

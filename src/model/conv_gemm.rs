//! Convolution as matrix products on the CPU: the forward pass and both gradients, through im2col and a GEMM.
//!
//! For one image x (c_i × h × w), a kernel W (c_o × c_i × k × k), stride s and zero padding p, the patch matrix
//! X̃ = im2col(x) has a row per (channel c, kernel row a, kernel column b) and a column per output pixel (i, j):
//!
//! X̃[(c, a, b), (i, j)] = x[c, s·i + a − p, s·j + b − p]   (zero outside the image).
//!
//! With W read as a c_o × c_i·k² matrix,
//!
//! * forward: y = W·X̃, which is the output image (c_o × oh·ow) in NCHW order;
//! * input gradient: dX̃ = Wᵀ·dy and dx = col2im(dX̃), the adjoint of im2col (every entry of dX̃ is added back
//!   to the pixel im2col copied it from; padding positions are dropped);
//! * weight gradient: dW = Σ over the images of dy·X̃ᵀ.
//!
//! Images go in fixed groups (chunks) whose patch matrices sit side by side, so that every product has a few
//! hundred columns and runs near the GEMM's peak even on 7×7 maps; chunks run in parallel on rayon, each with
//! a single-threaded product. The chunk size depends on the shapes only, and the weight gradient's per-chunk
//! parts are added in chunk order, so every result is the same bit for bit whatever the number of threads.
//! The products are nalgebra's (matrixmultiply's kernels for all but tiny sizes).

use nalgebra::{DMatrixView, DMatrixViewMut, Dyn, RealField};
use rayon::prelude::*;

/// Columns (output pixels of all images of a chunk) aimed at per product.
const TARGET_COLUMNS: usize = 512;

/// The element types of the kernels: `f32` and `f64`.
pub trait Real: RealField + Copy + Send + Sync {}
impl Real for f32 {}
impl Real for f64 {}

/// A batch convolution: NCHW input, OIHW square kernel, one stride and one zero padding for both axes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvShape {
    /// Images.
    pub batch: usize,
    /// Input channels.
    pub c_in: usize,
    /// Input height.
    pub height: usize,
    /// Input width.
    pub width: usize,
    /// Output channels.
    pub c_out: usize,
    /// Kernel side k.
    pub kernel: usize,
    /// Stride s ≥ 1.
    pub stride: usize,
    /// Zero padding p on each side.
    pub padding: usize,
}

impl ConvShape {
    /// Why the shape cannot be convolved, if it cannot.
    pub fn problem(&self) -> Option<String> {
        if self.kernel == 0 || self.stride == 0 {
            return Some(format!("kernel {} and stride {} must be positive", self.kernel, self.stride));
        }
        let fits = |side: usize| side + 2 * self.padding >= self.kernel;
        if !fits(self.height) || !fits(self.width) {
            return Some(format!(
                "a {0}×{0} kernel does not fit a {1}×{2} input padded by {3}",
                self.kernel, self.height, self.width, self.padding
            ));
        }
        None
    }

    /// Output height ⌊(h + 2p − k)/s⌋ + 1.
    pub fn out_height(&self) -> usize {
        (self.height + 2 * self.padding - self.kernel) / self.stride + 1
    }

    /// Output width ⌊(w + 2p − k)/s⌋ + 1.
    pub fn out_width(&self) -> usize {
        (self.width + 2 * self.padding - self.kernel) / self.stride + 1
    }

    /// Rows of the patch matrix, c_i·k².
    fn patch(&self) -> usize {
        self.c_in * self.kernel * self.kernel
    }

    /// Output pixels per image (columns of one image's patch matrix).
    fn pixels(&self) -> usize {
        self.out_height() * self.out_width()
    }

    /// Values of one input image.
    fn in_len(&self) -> usize {
        self.c_in * self.height * self.width
    }

    /// Values of one output image.
    fn out_len(&self) -> usize {
        self.c_out * self.pixels()
    }

    /// Images per chunk: enough for about [`TARGET_COLUMNS`] columns, and at least one.
    fn chunk(&self) -> usize {
        (TARGET_COLUMNS / self.pixels()).clamp(1, self.batch.max(1))
    }
}

/// A strided matrix view: (values, rows, columns, row stride, column stride).
type Operand<'a, T> = (&'a [T], usize, usize, usize, usize);

/// Below this size in any dimension a product is computed here: nalgebra 0.35 hands products with a side of 5
/// or less to a matrix-vector path that, on views whose rows are not adjacent in memory, loops over the span of
/// the view instead of its rows and writes out of bounds.
const SMALL: usize = 8;

fn view<'a, T: Real>((v, r, c, rs, cs): Operand<'a, T>) -> DMatrixView<'a, T, Dyn, Dyn> {
    DMatrixView::from_slice_with_strides_generic(v, Dyn(r), Dyn(c), Dyn(rs), Dyn(cs))
}

/// dst (m × n, row-major with row stride `ld`) ← a·b.
fn product<T: Real>(dst: &mut [T], ld: usize, a: Operand<T>, b: Operand<T>) {
    let (m, k, n) = (a.1, a.2, b.2);
    assert_eq!(k, b.1, "product: inner dimensions differ");
    if m.min(k).min(n) < SMALL {
        let at = |(v, _, _, rs, cs): Operand<T>, i: usize, j: usize| v[i * rs + j * cs];
        for i in 0..m {
            for j in 0..n {
                dst[i * ld + j] = (0..k).fold(T::zero(), |s, l| s + at(a, i, l) * at(b, l, j));
            }
        }
        return;
    }
    let mut out = DMatrixViewMut::from_slice_with_strides_generic(dst, Dyn(m), Dyn(n), Dyn(ld), Dyn(1));
    out.gemm(T::one(), &view(a), &view(b), T::zero());
}

/// For kernel offset `tap` (a or b): the output positions o with 0 ≤ s·o + tap − p < side, as a range.
fn valid(side: usize, out: usize, tap: usize, g: &ConvShape) -> (usize, usize) {
    let (s, p) = (g.stride, g.padding);
    let lo = p.saturating_sub(tap).div_ceil(s).min(out);
    // s·o + tap − p ≤ side − 1  ⇔  o ≤ (side − 1 + p − tap)/s.
    let hi = match (side + p).checked_sub(tap + 1) {
        Some(top) => (top / s + 1).min(out),
        None => 0,
    };
    (lo, hi.max(lo))
}

/// Writes im2col(x) of one image into columns `offset..offset + pixels` of `col` (row stride `ld`).
pub(super) fn im2col<T: Real>(g: &ConvShape, x: &[T], col: &mut [T], ld: usize, offset: usize) {
    let (k, s, p) = (g.kernel, g.stride, g.padding);
    let (oh, ow, w) = (g.out_height(), g.out_width(), g.width);
    for c in 0..g.c_in {
        let plane = &x[c * g.height * w..(c + 1) * g.height * w];
        for a in 0..k {
            let rows = valid(g.height, oh, a, g);
            for b in 0..k {
                let (lo, hi) = valid(w, ow, b, g);
                let r = (c * k + a) * k + b;
                let dst = &mut col[r * ld + offset..r * ld + offset + oh * ow];
                for (i, out) in dst.chunks_exact_mut(ow).enumerate() {
                    if i < rows.0 || i >= rows.1 {
                        out.fill(T::zero());
                        continue;
                    }
                    let src = &plane[(s * i + a - p) * w..][..w];
                    out[..lo].fill(T::zero());
                    out[hi..].fill(T::zero());
                    if s == 1 {
                        out[lo..hi].copy_from_slice(&src[lo + b - p..hi + b - p]);
                    } else {
                        let taken = src[s * lo + b - p..].iter().step_by(s);
                        for (v, x) in out[lo..hi].iter_mut().zip(taken) {
                            *v = *x;
                        }
                    }
                }
            }
        }
    }
}

/// dx += col2im(columns `offset..offset + pixels` of `col`) for one image: the adjoint of [`im2col`].
pub(super) fn col2im_add<T: Real>(g: &ConvShape, col: &[T], ld: usize, offset: usize, dx: &mut [T]) {
    let (k, s, p) = (g.kernel, g.stride, g.padding);
    let (oh, ow, w) = (g.out_height(), g.out_width(), g.width);
    for c in 0..g.c_in {
        let plane = &mut dx[c * g.height * w..(c + 1) * g.height * w];
        for a in 0..k {
            let rows = valid(g.height, oh, a, g);
            for b in 0..k {
                let (lo, hi) = valid(w, ow, b, g);
                let r = (c * k + a) * k + b;
                let src = &col[r * ld + offset..r * ld + offset + oh * ow];
                for i in rows.0..rows.1 {
                    let dst = &mut plane[(s * i + a - p) * w..][..w];
                    let from = &src[i * ow..(i + 1) * ow];
                    if s == 1 {
                        for (d, v) in dst[lo + b - p..hi + b - p].iter_mut().zip(&from[lo..hi]) {
                            *d += *v;
                        }
                    } else {
                        for (d, v) in dst[s * lo + b - p..].iter_mut().step_by(s).zip(&from[lo..hi]) {
                            *d += *v;
                        }
                    }
                }
            }
        }
    }
}

/// The output gradient of `n` images (starting at image `first`) as a c_o × n·pixels matrix: the slice itself
/// for one image, else gathered into `buf`.
fn gather_output<'a, T: Real>(
    g: &ConvShape,
    dy: &'a [T],
    first: usize,
    n: usize,
    buf: &'a mut Vec<T>,
) -> Operand<'a, T> {
    let (pix, len) = (g.pixels(), g.out_len());
    let images = &dy[first * len..(first + n) * len];
    if n == 1 {
        return (images, g.c_out, pix, pix, 1);
    }
    let cols = n * pix;
    buf.resize(g.c_out * cols, T::zero());
    for (i, image) in images.chunks_exact(len).enumerate() {
        for (c, row) in image.chunks_exact(pix).enumerate() {
            buf[c * cols + i * pix..c * cols + (i + 1) * pix].copy_from_slice(row);
        }
    }
    (buf.as_slice(), g.c_out, cols, cols, 1)
}

/// im2col of `n` images starting at `first`, side by side in `col` (patch × n·pixels).
fn patches<T: Real>(g: &ConvShape, x: &[T], first: usize, n: usize, col: &mut Vec<T>) {
    let cols = n * g.pixels();
    col.resize(g.patch() * cols, T::zero());
    for i in 0..n {
        im2col(g, &x[(first + i) * g.in_len()..][..g.in_len()], col, cols, i * g.pixels());
    }
}

/// y = conv(x, w): `x` is `batch × c_in × h × w`, `w` is `c_out × c_in × k × k`, both contiguous.
pub fn forward<T: Real>(g: &ConvShape, x: &[T], w: &[T]) -> Vec<T> {
    let (pix, len, chunk) = (g.pixels(), g.out_len(), g.chunk());
    let weights: Operand<T> = (w, g.c_out, g.patch(), g.patch(), 1);
    let mut y = vec![T::zero(); g.batch * len];
    y.par_chunks_mut(chunk * len).enumerate().for_each_init(
        || (Vec::new(), Vec::new()),
        |(col, out), (j, ys)| {
            let n = ys.len() / len;
            let cols = n * pix;
            patches(g, x, j * chunk, n, col);
            if n == 1 {
                product(ys, pix, weights, (col, g.patch(), cols, cols, 1));
                return;
            }
            out.resize(g.c_out * cols, T::zero());
            product(out, cols, weights, (col, g.patch(), cols, cols, 1));
            for (i, image) in ys.chunks_exact_mut(len).enumerate() {
                for (c, row) in image.chunks_exact_mut(pix).enumerate() {
                    row.copy_from_slice(&out[c * cols + i * pix..c * cols + (i + 1) * pix]);
                }
            }
        },
    );
    y
}

/// dx = col2im(Wᵀ·dy): the gradient with respect to the input, `batch × c_in × h × w`.
pub fn input_grad<T: Real>(g: &ConvShape, dy: &[T], w: &[T]) -> Vec<T> {
    let (pix, len, chunk, patch) = (g.pixels(), g.in_len(), g.chunk(), g.patch());
    let mut dx = vec![T::zero(); g.batch * len];
    dx.par_chunks_mut(chunk * len).enumerate().for_each_init(
        || (Vec::new(), Vec::new()),
        |(buf, dcol), (j, dxs)| {
            let n = dxs.len() / len;
            let cols = n * pix;
            let grad = gather_output(g, dy, j * chunk, n, buf);
            dcol.resize(patch * cols, T::zero());
            product(dcol, cols, (w, patch, g.c_out, 1, patch), grad);
            for (i, image) in dxs.chunks_exact_mut(len).enumerate() {
                col2im_add(g, dcol, cols, i * pix, image);
            }
        },
    );
    dx
}

/// dW = Σ dy·X̃ᵀ: the gradient with respect to the kernel, `c_out × c_in × k × k`. One part per chunk, added
/// in chunk order.
pub fn weight_grad<T: Real>(g: &ConvShape, x: &[T], dy: &[T]) -> Vec<T> {
    let (chunk, patch) = (g.chunk(), g.patch());
    let parts: Vec<Vec<T>> = (0..g.batch.div_ceil(chunk))
        .into_par_iter()
        .map_init(
            || (Vec::new(), Vec::new()),
            |(col, buf), j| {
                let (first, n) = (j * chunk, chunk.min(g.batch - j * chunk));
                let cols = n * g.pixels();
                patches(g, x, first, n, col);
                let grad = gather_output(g, dy, first, n, buf);
                let mut part = vec![T::zero(); g.c_out * patch];
                product(&mut part, patch, grad, (col, cols, patch, 1, cols));
                part
            },
        )
        .collect();
    let mut sum = vec![T::zero(); g.c_out * patch];
    for part in parts {
        for (s, v) in sum.iter_mut().zip(part) {
            *s += v;
        }
    }
    sum
}

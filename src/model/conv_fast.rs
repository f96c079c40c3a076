//! The training convolutions on the vector kernels of [`conv_kernels`](super::conv_kernels), with
//! [`conv_gemm`](super::conv_gemm)'s portable path where AVX2 and FMA are missing or `LCR_VERIFY_PORTABLE=1`
//! asks for it (the two paths sum in different orders: their results differ in the last bits, each is
//! deterministic).
//!
//! Two routes, chosen from the shape alone (the buffers of both are laid out by
//! [`conv_layout`](super::conv_layout)):
//!
//! * **direct** (stride 1, maps wide enough that the padding adds little): each image is copied once into
//!   zero-padded planes of width w' = w + 2p, and row (c, a, b) of its patch matrix is that copy read from
//!   offset c·plane + a·w' + b. The products then run over output pixels in the padded width (oh·w' columns,
//!   of which the w' − ow last of each row are discarded), so no patch matrix is written or read. The input
//!   gradient is the same convolution of the output gradient padded by k − 1 − p with the kernel flipped in
//!   space and its channel axes swapped; the kernel gradient is [`Dots`](super::conv_kernels::Dots) of the
//!   output gradient (laid out in the padded width, zero in the discarded columns) with the shifted rows of the
//!   padded input, image after image; on 7×7 maps those rows are too short, and the kernel gradient takes the
//!   columns route.
//! * **columns** (stride 2, and the kernel gradient of small maps): im2col of a group of images side by side,
//!   as in [`conv_gemm`](super::conv_gemm), with the products on the vector kernels.
//!
//! Work is split over images (forward and input gradient) and over fixed groups of images whose kernel-gradient
//! parts are added in group order, so every result is the same bit for bit whatever the number of threads.

use super::conv_gemm::{self, ConvShape};

/// The element types of the convolutions: `f32` and `f64` (with their vector kernels on x86-64).
#[cfg(target_arch = "x86_64")]
pub trait Element: super::conv_kernels::Lanes {}
/// The element types of the convolutions: `f32` and `f64`.
#[cfg(not(target_arch = "x86_64"))]
pub trait Element: conv_gemm::Real {}
impl Element for f32 {}
impl Element for f64 {}

/// y = conv(x, w) (shapes as in [`conv_gemm::forward`]).
pub fn forward<T: Element>(g: &ConvShape, x: &[T], w: &[T]) -> Vec<T> {
    #[cfg(target_arch = "x86_64")]
    if let Some(s) = vector_token() {
        return vector::forward(s, g, x, w);
    }
    conv_gemm::forward(g, x, w)
}

/// dx from dy (shapes as in [`conv_gemm::input_grad`]).
pub fn input_grad<T: Element>(g: &ConvShape, dy: &[T], w: &[T]) -> Vec<T> {
    #[cfg(target_arch = "x86_64")]
    if let Some(s) = vector_token() {
        return vector::input_grad(s, g, dy, w);
    }
    conv_gemm::input_grad(g, dy, w)
}

/// dW from x and dy (shapes as in [`conv_gemm::weight_grad`]).
pub fn weight_grad<T: Element>(g: &ConvShape, x: &[T], dy: &[T]) -> Vec<T> {
    #[cfg(target_arch = "x86_64")]
    if let Some(s) = vector_token() {
        return vector::weight_grad(s, g, x, dy);
    }
    conv_gemm::weight_grad(g, x, dy)
}

/// The AVX2 and FMA token of the vector kernels, unless the processor lacks them or `LCR_VERIFY_PORTABLE` (set,
/// and not `0`) asks for the portable path, as it does for the corruptions ([`crate::wide::v3`]).
#[cfg(target_arch = "x86_64")]
fn vector_token() -> Option<pulp::x86::V3> {
    crate::wide::v3()
}

#[cfg(target_arch = "x86_64")]
mod vector {
    use pulp::x86::V3;
    use rayon::prelude::*;

    use super::super::conv_gemm::{ConvShape, col2im_add};
    use super::super::conv_kernels::{DC, DR, Dots, Product, pack, strip};
    use super::super::conv_layout::{Padded, columns, gather, padded_len, round_up, widen};
    use super::super::kernel::zeros;
    use super::Element;

    /// Adds the parts in order: the sum is the same whatever thread computed which part.
    fn sum_in_order<T: Element>(parts: Vec<Vec<T>>, len: usize) -> Vec<T> {
        let mut sum = vec![T::zero(); len];
        for part in parts {
            for (s, v) in sum.iter_mut().zip(part) {
                *s += v;
            }
        }
        sum
    }

    /// Images per part of the kernel gradient on the direct route.
    const GRADIENT_IMAGES: usize = 8;
    /// Columns aimed at per product on the columns route (images side by side).
    const TARGET_COLUMNS: usize = 512;
    /// The direct route is taken while the padded width adds at most this fraction of columns (7×7 maps padded
    /// to 9 columns still gain).
    const MAX_PADDING_WASTE: f64 = 0.3;
    /// Output values per image (in the padded width) from which the kernel gradient takes the direct route
    /// (measured: 14×14 maps and larger gain, 7×7 maps lose to image groups on the columns route).
    const MIN_DIRECT_GRADIENT_ROW: usize = 128;

    /// Whether the forward pass and the input gradient of `g` take the direct route.
    fn direct(g: &ConvShape) -> bool {
        g.stride == 1
            && g.padding < g.kernel
            && (g.width + 2 * g.padding) as f64 <= (1.0 + MAX_PADDING_WASTE) * g.out_width() as f64
    }

    /// Whether the kernel gradient of `g` takes the direct route: its dot products run over one image's
    /// padded rows, which must be long enough to amortise each block's reductions.
    fn direct_gradient(g: &ConvShape) -> bool {
        direct(g) && g.out_height() * (g.width + 2 * g.padding) >= MIN_DIRECT_GRADIENT_ROW
    }

    /// out = A·src rows at `base`, for the blocks of `a` (packed), `ld` columns.
    fn product<T: Element>(s: V3, a: &[T], src: &[T], base: &[usize], ld: usize, out: &mut Vec<T>) {
        out.resize(a.len() / base.len() * ld, T::zero());
        s.vectorize(Product { s, a, src, base, out, ld });
    }

    /// conv(src) for one image on the direct route: `input` describes `src` unpadded, `kernel` is packed with
    /// one row per output plane, and the result goes to `dst` (planes of `height × width`).
    #[allow(clippy::too_many_arguments)]
    fn direct_image<T: Element>(
        s: V3,
        input: Padded,
        k: usize,
        kernel: &[T],
        src: &[T],
        dst: &mut [T],
        (height, width): (usize, usize),
        (padded, out): (&mut Vec<T>, &mut Vec<T>),
    ) {
        let base = input.base(k);
        let ld = round_up(height * input.row(), strip::<T>());
        padded.resize(padded_len(&input, &base, ld), T::zero());
        input.fill(src, padded);
        product(s, kernel, padded, &base, ld, out);
        for (c, plane) in dst.chunks_exact_mut(height * width).enumerate() {
            for (i, line) in plane.chunks_exact_mut(width).enumerate() {
                let at = c * ld + i * input.row();
                line.copy_from_slice(&out[at..at + width]);
            }
        }
    }

    /// Images per group on the columns route.
    fn group(g: &ConvShape) -> usize {
        (TARGET_COLUMNS / (g.out_height() * g.out_width())).clamp(1, g.batch.max(1))
    }

    pub(super) fn forward<T: Element>(s: V3, g: &ConvShape, x: &[T], w: &[T]) -> Vec<T> {
        let (patch, pix) = (g.c_in * g.kernel * g.kernel, g.out_height() * g.out_width());
        let (in_len, out_len) = (g.c_in * g.height * g.width, g.c_out * pix);
        let kernel = pack(g.c_out, patch, |r, k| w[r * patch + k]);
        let mut y = zeros(g.batch * out_len, T::zero());
        if direct(g) {
            let input = Padded { planes: g.c_in, height: g.height, width: g.width, pad: g.padding };
            let size = (g.out_height(), g.out_width());
            y.par_chunks_mut(out_len.max(1)).zip(x.par_chunks(in_len.max(1))).for_each_init(
                || (Vec::new(), Vec::new()),
                |(padded, out), (y, x)| direct_image(s, input, g.kernel, &kernel, x, y, size, (padded, out)),
            );
            return y;
        }
        let n = group(g);
        y.par_chunks_mut((n * out_len).max(1)).enumerate().for_each_init(
            || (Vec::new(), Vec::new()),
            |(col, out), (j, ys)| {
                let images = ys.len() / out_len;
                let ld = round_up(images * pix, strip::<T>());
                columns(g, x, j * n, images, ld, col);
                let base: Vec<usize> = (0..patch).map(|k| k * ld).collect();
                product(s, &kernel, col, &base, ld, out);
                for (i, image) in ys.chunks_exact_mut(out_len).enumerate() {
                    for (c, row) in image.chunks_exact_mut(pix).enumerate() {
                        row.copy_from_slice(&out[c * ld + i * pix..c * ld + (i + 1) * pix]);
                    }
                }
            },
        );
        y
    }

    pub(super) fn input_grad<T: Element>(s: V3, g: &ConvShape, dy: &[T], w: &[T]) -> Vec<T> {
        let (k, patch, pix) = (g.kernel, g.c_in * g.kernel * g.kernel, g.out_height() * g.out_width());
        let (in_len, out_len) = (g.c_in * g.height * g.width, g.c_out * pix);
        let mut dx = zeros(g.batch * in_len, T::zero());
        if direct(g) {
            // dx[c, u, v] = Σ_{o, a, b} w[o, c, k−1−a, k−1−b] · dy[o, u + a − (k−1−p), v + b − (k−1−p)].
            let flipped = pack(g.c_in, g.c_out * k * k, |c, r| {
                let (o, a, b) = (r / (k * k), r / k % k, r % k);
                w[((o * g.c_in + c) * k + k - 1 - a) * k + k - 1 - b]
            });
            let grad = Padded {
                planes: g.c_out,
                height: g.out_height(),
                width: g.out_width(),
                pad: k - 1 - g.padding,
            };
            dx.par_chunks_mut(in_len.max(1)).zip(dy.par_chunks(out_len.max(1))).for_each_init(
                || (Vec::new(), Vec::new()),
                |(padded, out), (dx, dy)| {
                    direct_image(s, grad, k, &flipped, dy, dx, (g.height, g.width), (padded, out))
                },
            );
            return dx;
        }
        // dX̃ = Wᵀ·dy, then col2im.
        let transposed = pack(patch, g.c_out, |r, c| w[c * patch + r]);
        let n = group(g);
        dx.par_chunks_mut((n * in_len).max(1)).enumerate().for_each_init(
            || (Vec::new(), Vec::new()),
            |(grad, dcol), (j, dxs)| {
                let images = dxs.len() / in_len;
                let ld = round_up(images * pix, strip::<T>());
                gather(g, dy, j * n, images, (g.c_out, ld), grad);
                let base: Vec<usize> = (0..g.c_out).map(|c| c * ld).collect();
                product(s, &transposed, grad, &base, ld, dcol);
                for (i, image) in dxs.chunks_exact_mut(in_len).enumerate() {
                    col2im_add(g, dcol, ld, i * pix, image);
                }
            },
        );
        dx
    }

    pub(super) fn weight_grad<T: Element>(s: V3, g: &ConvShape, x: &[T], dy: &[T]) -> Vec<T> {
        let (patch, pix) = (g.c_in * g.kernel * g.kernel, g.out_height() * g.out_width());
        let (in_len, out_len, rows) = (g.c_in * g.height * g.width, g.c_out * pix, round_up(g.c_out, DR));
        let direct = direct_gradient(g);
        let n = if direct { GRADIENT_IMAGES } else { group(g) };
        let parts: Vec<Vec<T>> = (0..g.batch.div_ceil(n))
            .into_par_iter()
            .map_init(
                || (Vec::new(), Vec::new()),
                |(src, grad), j| {
                    let (first, images) = (j * n, n.min(g.batch - j * n));
                    // (rows of B, A's row stride, values per row, A's and B's steps between images, images)
                    let (mut base, lda, len, a_step, src_step, images) = if direct {
                        // Each image's padded input, and its output gradient in the padded width.
                        let input =
                            Padded { planes: g.c_in, height: g.height, width: g.width, pad: g.padding };
                        let base = input.base(g.kernel);
                        let ld = round_up(g.out_height() * input.row(), T::N);
                        let step = padded_len(&input, &base, ld);
                        // Both buffers are written in full below (fill and widen write their zeros).
                        src.resize(images * step, T::zero());
                        grad.resize(images * rows * ld, T::zero());
                        for i in 0..images {
                            let image = first + i;
                            input.fill(
                                &x[image * in_len..(image + 1) * in_len],
                                &mut src[i * step..(i + 1) * step],
                            );
                            let d = &dy[image * out_len..(image + 1) * out_len];
                            let rows_of_image = &mut grad[i * rows * ld..(i + 1) * rows * ld];
                            widen(d, (g.out_height(), g.out_width()), input.row(), ld, rows_of_image);
                        }
                        (base, ld, ld, rows * ld, step, images)
                    } else {
                        let ld = round_up(images * pix, strip::<T>());
                        columns(g, x, first, images, ld, src);
                        gather(g, dy, first, images, (rows, ld), grad);
                        ((0..patch).map(|k| k * ld).collect(), ld, round_up(images * pix, T::N), 0, 0, 1)
                    };
                    let last = *base.last().expect("a kernel has at least one tap");
                    base.resize(round_up(patch, DC), last);
                    let cols = base.len();
                    let mut part = vec![T::zero(); rows * cols];
                    s.vectorize(Dots {
                        s,
                        a: grad,
                        lda,
                        a_step,
                        rows,
                        src,
                        src_step,
                        base: &base,
                        len,
                        images,
                        out: &mut part,
                    });
                    let mut dw = vec![T::zero(); g.c_out * patch];
                    for (o, row) in dw.chunks_exact_mut(patch).enumerate() {
                        row.copy_from_slice(&part[o * cols..o * cols + patch]);
                    }
                    dw
                },
            )
            .collect();
        sum_in_order(parts, g.c_out * patch)
    }

    /// Which route `g` takes (for tests and benches).
    pub(super) fn route(g: &ConvShape) -> &'static str {
        match (direct(g), direct_gradient(g)) {
            (true, true) => "direct",
            (true, false) => "direct, columns for the kernel gradient",
            _ => "columns",
        }
    }
}

/// Which route the vector kernels take for `g`: `"direct"`, `"columns"`, or `"portable"` without AVX2 and FMA.
pub fn route(g: &ConvShape) -> &'static str {
    #[cfg(target_arch = "x86_64")]
    if vector_token().is_some() {
        return vector::route(g);
    }
    let _ = g;
    "portable"
}

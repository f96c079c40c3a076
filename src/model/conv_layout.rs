//! How the convolutions lay their operands out for the vector kernels of
//! [`conv_kernels`](super::conv_kernels): zero-padded copies of images (whose shifted rows are the rows of the
//! patch matrix), output gradients widened to the padded width, im2col of groups of images side by side, and
//! output gradients gathered into rows. Each writes every value of its buffer once, zeros included, so a buffer
//! reused from one image or group to the next never needs clearing first.

use super::conv_fast::Element;
use super::conv_gemm::{ConvShape, im2col};

/// The least multiple of `m` not below `v`.
pub(super) fn round_up(v: usize, m: usize) -> usize {
    v.div_ceil(m) * m
}

/// Zero-padded planes: `planes` planes of `height × width` with `pad` zeros around each.
#[derive(Clone, Copy)]
pub(super) struct Padded {
    /// Planes (channels of one image).
    pub(super) planes: usize,
    /// Rows of a plane, unpadded.
    pub(super) height: usize,
    /// Columns of a plane, unpadded.
    pub(super) width: usize,
    /// Zeros on each side.
    pub(super) pad: usize,
}

impl Padded {
    /// Values per padded row.
    pub(super) fn row(&self) -> usize {
        self.width + 2 * self.pad
    }

    /// Values per padded plane.
    pub(super) fn plane(&self) -> usize {
        (self.height + 2 * self.pad) * self.row()
    }

    /// Start of row (c, a, b) of the patch matrix of a k×k kernel, c over the planes.
    pub(super) fn base(&self, k: usize) -> Vec<usize> {
        let mut base = Vec::with_capacity(self.planes * k * k);
        for c in 0..self.planes {
            for a in 0..k {
                base.extend((0..k).map(|b| c * self.plane() + a * self.row() + b));
            }
        }
        base
    }

    /// Copies the planes of `src` into `dst`, zero around and after them.
    pub(super) fn fill<T: Element>(&self, src: &[T], dst: &mut [T]) {
        let (h, w, p, row) = (self.height, self.width, self.pad, self.row());
        let (planes, tail) = dst.split_at_mut(self.planes * self.plane());
        for (padded, plane) in planes.chunks_exact_mut(self.plane()).zip(src.chunks_exact(h * w)) {
            let (top, rest) = padded.split_at_mut(p * row);
            let (middle, bottom) = rest.split_at_mut(h * row);
            top.fill(T::zero());
            bottom.fill(T::zero());
            for (line, values) in middle.chunks_exact_mut(row).zip(plane.chunks_exact(w)) {
                line[..p].fill(T::zero());
                line[p..p + w].copy_from_slice(values);
                line[p + w..].fill(T::zero());
            }
        }
        tail.fill(T::zero());
    }
}

/// Values the padded copy needs so that every row read at `base` for `ld` columns lies inside it.
pub(super) fn padded_len(p: &Padded, base: &[usize], ld: usize) -> usize {
    (p.planes * p.plane()).max(base.last().map_or(0, |b| b + ld))
}

/// Planes of `height × width` (`src`) laid out as rows of `ld` values in which each line of the plane takes
/// `row` values: the lines first, zero in the `row − width` values after each line, after the last line and
/// in the rows past the planes.
pub(super) fn widen<T: Element>(
    src: &[T],
    (height, width): (usize, usize),
    row: usize,
    ld: usize,
    dst: &mut [T],
) {
    let planes = src.chunks_exact(height * width);
    let count = planes.len();
    for (out, plane) in dst.chunks_exact_mut(ld).zip(planes) {
        let (lines, tail) = out.split_at_mut(height * row);
        for (line, values) in lines.chunks_exact_mut(row).zip(plane.chunks_exact(width)) {
            line[..width].copy_from_slice(values);
            line[width..].fill(T::zero());
        }
        tail.fill(T::zero());
    }
    dst[count * ld..].fill(T::zero());
}

/// im2col of images `first..first + n` side by side in `col` (patch rows of `ld`, zero past the images).
pub(super) fn columns<T: Element>(
    g: &ConvShape,
    x: &[T],
    first: usize,
    n: usize,
    ld: usize,
    col: &mut Vec<T>,
) {
    let (pix, len) = (g.out_height() * g.out_width(), g.c_in * g.height * g.width);
    // im2col writes every value of its columns: only the columns past the images need zeros.
    col.resize(g.c_in * g.kernel * g.kernel * ld, T::zero());
    for i in 0..n {
        im2col(g, &x[(first + i) * len..(first + i + 1) * len], col, ld, i * pix);
    }
    for row in col.chunks_exact_mut(ld) {
        row[n * pix..].fill(T::zero());
    }
}

/// The output gradient of images `first..first + n` as `rows` rows of `ld` (zero past the images and
/// below `c_out`).
pub(super) fn gather<T: Element>(
    g: &ConvShape,
    dy: &[T],
    first: usize,
    n: usize,
    (rows, ld): (usize, usize),
    buf: &mut Vec<T>,
) {
    let pix = g.out_height() * g.out_width();
    // Every value of the images' columns is written below: zeros go past them and below c_out only.
    buf.resize(rows * ld, T::zero());
    for (i, image) in
        dy[first * g.c_out * pix..(first + n) * g.c_out * pix].chunks_exact(g.c_out * pix).enumerate()
    {
        for (c, row) in image.chunks_exact(pix).enumerate() {
            buf[c * ld + i * pix..c * ld + (i + 1) * pix].copy_from_slice(row);
        }
    }
    for (c, row) in buf.chunks_exact_mut(ld).enumerate() {
        row[if c < g.c_out { n * pix } else { 0 }..].fill(T::zero());
    }
}

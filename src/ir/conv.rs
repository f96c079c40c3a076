//! 2-D convolution (cross-correlation) and its adjoint, by im2col and one matrix product.
//!
//! With K = c_in·kh·kw taps and P = h'·w' output positions, the patches form a P×K matrix C (row j holds the
//! zero-padded input values read by output position j) and the output in CHW order is the column-major P×c_out
//! matrix C·Wᵀ, where Wᵀ (K×c_out, column-major) is exactly the row-major kernel data. The adjoint maps y to
//! col2im(Y·W): every tap value is added back to the input position it was read from.

use nalgebra::{DMatrix, DMatrixView};

use super::Kernel;

/// The geometry of a convolution on a given input shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeometry {
    /// Input channels.
    pub c_in: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Output channels.
    pub c_out: usize,
    /// Kernel height.
    pub kh: usize,
    /// Kernel width.
    pub kw: usize,
    /// Stride.
    pub stride: usize,
    /// Zero padding on each side.
    pub padding: usize,
}

impl ConvGeometry {
    /// The geometry of `kernel` applied to `in_shape` with the given stride and padding.
    pub fn new(kernel: &Kernel, in_shape: [usize; 3], stride: usize, padding: usize) -> Self {
        ConvGeometry {
            c_in: in_shape[0],
            h: in_shape[1],
            w: in_shape[2],
            c_out: kernel.c_out,
            kh: kernel.kh,
            kw: kernel.kw,
            stride,
            padding,
        }
    }

    /// Output height ⌊(h + 2p − kh)/s⌋ + 1 (0 when the kernel does not fit).
    pub fn out_h(&self) -> usize {
        (self.h + 2 * self.padding).checked_sub(self.kh).map_or(0, |d| d / self.stride + 1)
    }

    /// Output width.
    pub fn out_w(&self) -> usize {
        (self.w + 2 * self.padding).checked_sub(self.kw).map_or(0, |d| d / self.stride + 1)
    }

    /// Output shape `[c_out, out_h, out_w]`.
    pub fn out_shape(&self) -> [usize; 3] {
        [self.c_out, self.out_h(), self.out_w()]
    }

    /// Number of taps K = c_in·kh·kw (terms in each output sum).
    pub fn taps(&self) -> usize {
        self.c_in * self.kh * self.kw
    }

    /// Calls `f(tap, out_pos, in_index)` for every pair whose input position lies inside the image.
    fn for_each_read(&self, mut f: impl FnMut(usize, usize, usize)) {
        let (oh, ow) = (self.out_h(), self.out_w());
        let (s, p) = (self.stride as isize, self.padding as isize);
        for c in 0..self.c_in {
            for a in 0..self.kh {
                for b in 0..self.kw {
                    let tap = (c * self.kh + a) * self.kw + b;
                    for i in 0..oh {
                        let r = i as isize * s + a as isize - p;
                        if r < 0 || r >= self.h as isize {
                            continue;
                        }
                        let row = (c * self.h + r as usize) * self.w;
                        for j in 0..ow {
                            let q = j as isize * s + b as isize - p;
                            if q >= 0 && q < self.w as isize {
                                f(tap, i * ow + j, row + q as usize);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// y = conv(x) (no bias), x and y in CHW order.
pub fn conv2d(kernel: &Kernel, g: &ConvGeometry, x: &[f64]) -> Vec<f64> {
    let (p, k) = (g.out_h() * g.out_w(), g.taps());
    let mut cols = DMatrix::<f64>::zeros(p, k);
    {
        let data = cols.as_mut_slice();
        g.for_each_read(|tap, pos, idx| data[tap * p + pos] = x[idx]);
    }
    let wt = DMatrixView::from_slice(&kernel.data, k, g.c_out);
    let y = cols * wt;
    y.data.into()
}

/// x = convᵀ(y): the adjoint of [`conv2d`], y in CHW order of the output shape.
pub fn conv2d_transpose(kernel: &Kernel, g: &ConvGeometry, y: &[f64]) -> Vec<f64> {
    let (p, k) = (g.out_h() * g.out_w(), g.taps());
    let ym = DMatrixView::from_slice(y, p, g.c_out);
    let wt = DMatrixView::from_slice(&kernel.data, k, g.c_out);
    let cols = ym * wt.transpose();
    let data = cols.as_slice();
    let mut x = vec![0.0; g.c_in * g.h * g.w];
    g.for_each_read(|tap, pos, idx| x[idx] += data[tap * p + pos]);
    x
}

//! Retention matrices (Shang et al. ECCV 2022, §3; released code `LCR.py::retention_matrix`).
//!
//! For a layer mapping features X to features Y:
//!
//! * **spatial features** `(n, C, H, W)`: per sample b, with X_b ∈ R^{C_in×N} and Y_b ∈ R^{C_out×N},
//!   N = H_out·W_out, RM_b = X_b·Y_bᵀ / N (C_in × C_out). When X is spatially larger than Y it is first
//!   adaptive-average-pooled to Y's size (bins as in PyTorch's `adaptive_avg_pool2d`), as the released code does.
//! * **dense features** `(n, C)`: a per-sample matrix would have rank one, so the batch plays the role of the
//!   spatial axis: RM = XᵀY / n, one matrix per batch. (This is our extension to MLPs; the paper and its code only
//!   treat convolutional stages.)
//!
//! The result always has shape `(m, C_in, C_out)`, with m = n for spatial features and m = 1 for dense ones.

use candle_core::{DType, Device, Tensor};

use crate::error::{Error, Result};

/// PyTorch's adaptive-average-pooling bin of output index `i` of `out` over an axis of length `len`.
pub fn adaptive_bin(i: usize, out: usize, len: usize) -> (usize, usize) {
    let start = (i * len) / out;
    let end = ((i + 1) * len).div_ceil(out);
    (start, end)
}

/// The `(h·w) × (oh·ow)` matrix P with x_flat · P = adaptive_avg_pool(x)_flat.
pub fn pooling_matrix(
    h: usize,
    w: usize,
    oh: usize,
    ow: usize,
    dtype: DType,
    device: &Device,
) -> Result<Tensor> {
    let mut p = vec![0f64; h * w * oh * ow];
    for i in 0..oh {
        let (y0, y1) = adaptive_bin(i, oh, h);
        for j in 0..ow {
            let (x0, x1) = adaptive_bin(j, ow, w);
            let weight = 1.0 / ((y1 - y0) * (x1 - x0)) as f64;
            for y in y0..y1 {
                for x in x0..x1 {
                    p[(y * w + x) * (oh * ow) + i * ow + j] = weight;
                }
            }
        }
    }
    Ok(Tensor::from_vec(p, (h * w, oh * ow), device)?.to_dtype(dtype)?)
}

/// The factors (X, Y) with RM = X·Yᵀ/N: `(m, C_in, N)` and `(m, C_out, N)`, X pooled to Y's grid.
pub fn retention_factors(x: &Tensor, y: &Tensor) -> Result<(Tensor, Tensor)> {
    match (x.rank(), y.rank()) {
        (2, 2) => Ok((x.t()?.unsqueeze(0)?, y.t()?.unsqueeze(0)?)),
        (4, 4) => {
            let (b, ci, h, w) = x.dims4()?;
            let (b2, co, oh, ow) = y.dims4()?;
            if b != b2 || oh > h || ow > w {
                return Err(Error::Shape {
                    context: "retention matrix: input features must cover the output grid".into(),
                    expected: vec![b2, ci, oh, ow],
                    found: x.dims().to_vec(),
                });
            }
            let mut xf = x.reshape((b, ci, h * w))?;
            if (h, w) != (oh, ow) {
                let p = pooling_matrix(h, w, oh, ow, x.dtype(), x.device())?;
                xf = xf.broadcast_matmul(&p)?;
            }
            Ok((xf, y.reshape((b, co, oh * ow))?))
        }
        _ => Err(Error::Shape {
            context: "retention matrix: features must both be (n, C) or both (n, C, H, W)".into(),
            expected: x.dims().to_vec(),
            found: y.dims().to_vec(),
        }),
    }
}

/// The retention matrices of the map X → Y (see the module docs), shape `(m, C_in, C_out)`.
pub fn retention_matrix(x: &Tensor, y: &Tensor) -> Result<Tensor> {
    let (xf, yf) = retention_factors(x, y)?;
    let n = xf.dim(2)?;
    Ok((xf.matmul(&yf.transpose(1, 2)?)? / n as f64)?)
}

//! Fused CPU kernels for batch normalisation.
//!
//! The generic form in [`batchnorm`](super::batchnorm) builds BatchNorm from broadcast tensor operations; on the
//! CPU their reductions over the batch and spatial axes, forward and backward, cost a sixth of a CNN training
//! step. Here the statistics are one sweep, the forward one sweep, and the backward one sweep computing, with
//! x̂ = (x − μ)·r, r = 1/√(σ² + ε) and M the number of values per channel,
//!
//! * batch statistics: dx = γ·r/M · (M·dy − Σdy − x̂·Σ(dy·x̂));
//! * fixed (running) statistics: dx = γ·r·dy;
//! * dγ = Σ dy·x̂, dβ = Σ dy.
//!
//! The sums run over each channel with [`LANES`] accumulators in `f64` (vectorisable; the order is fixed), one
//! channel per rayon task, and the element-wise passes one image per task, so the results do not depend on the
//! number of threads. A test holds these equal to the generic form's values and gradients.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, CustomOp3, Layout, Shape, Tensor, WithDType};
use rayon::prelude::*;

use super::kernel::{contiguous, float_op1, float_op2, zeros};

/// (batch, channels, values per channel and sample) of an `(n, c)` or `(n, c, h, w)` layout.
pub(super) fn geometry(l: &Layout) -> candle_core::Result<(usize, usize, usize)> {
    let d = l.dims();
    match d.len() {
        2 => Ok((d[0], d[1], 1)),
        4 => Ok((d[0], d[1], d[2] * d[3])),
        _ => candle_core::bail!("batchnorm: expected a rank-2 or rank-4 input, got {d:?}"),
    }
}

/// The values of an `f32` or `f64` parameter vector, as `f64`.
pub(super) fn float_params(s: &CpuStorage, l: &Layout, op: &str) -> candle_core::Result<Vec<f64>> {
    Ok(match s {
        CpuStorage::F32(_) => contiguous::<f32>(s, l, op)?.iter().map(|v| *v as f64).collect(),
        CpuStorage::F64(_) => contiguous::<f64>(s, l, op)?.to_vec(),
        _ => candle_core::bail!("{op}: only f32 and f64 are supported"),
    })
}

/// Per-channel mean and biased variance, as a `(2, c)` tensor (no gradient).
pub struct ChannelStats;

/// Independent partial sums per channel plane: enough to keep the vector units busy, in a fixed order.
const LANES: usize = 8;

/// Σ f(v) over `values` in `f64`, in [`LANES`] interleaved partial sums added at the end.
fn lane_sum<T: WithDType>(values: &[T], f: impl Fn(f64) -> f64) -> f64 {
    let mut acc = [0f64; LANES];
    let chunks = values.chunks_exact(LANES);
    let rest = chunks.remainder().iter().map(|v| f(v.to_f64())).sum::<f64>();
    for chunk in chunks {
        for (a, v) in acc.iter_mut().zip(chunk) {
            *a += f(v.to_f64());
        }
    }
    acc.iter().sum::<f64>() + rest
}

/// The planes of channel `ch`, image by image.
fn planes<T>(x: &[T], ch: usize, (n, c, s): (usize, usize, usize)) -> impl Iterator<Item = &[T]> {
    (0..n).map(move |b| &x[(b * c + ch) * s..(b * c + ch + 1) * s])
}

fn stats<T: WithDType>(x: &[T], g: (usize, usize, usize)) -> Vec<T> {
    let m = (g.0 * g.2) as f64;
    let moments: Vec<(f64, f64)> = (0..g.1)
        .into_par_iter()
        .map(|ch| {
            let mean = planes(x, ch, g).map(|p| lane_sum(p, |v| v)).sum::<f64>() / m;
            let var = planes(x, ch, g).map(|p| lane_sum(p, |v| (v - mean) * (v - mean))).sum::<f64>() / m;
            (mean, var)
        })
        .collect();
    let (mean, var): (Vec<f64>, Vec<f64>) = moments.into_iter().unzip();
    mean.iter().chain(&var).map(|v| T::from_f64(*v)).collect()
}

impl CustomOp1 for ChannelStats {
    fn name(&self) -> &'static str {
        "channel-stats"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = geometry(l)?;
        let out = float_op1!(self.name(), s, l, |x| stats(x, g));
        Ok((out, Shape::from((2, g.1))))
    }
}

/// y = γ·(x − μ)·r + β with fixed per-channel μ and r; `batch` says whether μ and r came from this batch (which
/// couples the gradient across the batch).
pub struct Normalize {
    /// Per-channel mean.
    pub mean: Vec<f64>,
    /// Per-channel 1/√(σ² + ε).
    pub inv_std: Vec<f64>,
    /// Statistics of this very batch (train mode) or running ones (eval mode).
    pub batch: bool,
}

impl Normalize {
    /// The per-channel (μ, γ·r, β) of the affine map y = (x − μ)·(γ·r) + β.
    pub(super) fn coefficients(&self, gamma: &[f64], beta: &[f64]) -> Vec<(f64, f64, f64)> {
        (0..gamma.len()).map(|ch| (self.mean[ch], gamma[ch] * self.inv_std[ch], beta[ch])).collect()
    }
}

/// y = (x − μ)·scale + shift, rounded to `T`.
#[inline(always)]
pub(super) fn affine<T: WithDType>(x: T, (mu, scale, shift): (f64, f64, f64)) -> T {
    T::from_f64((x.to_f64() - mu) * scale + shift)
}

fn normalize<T: WithDType>(
    op: &Normalize,
    x: &[T],
    gamma: &[f64],
    beta: &[f64],
    (_, c, s): (usize, usize, usize),
) -> Vec<T> {
    let coefficients = op.coefficients(gamma, beta);
    let mut out = zeros(x.len(), T::zero());
    out.par_chunks_mut(c * s).zip(x.par_chunks(c * s)).for_each(|(out, x)| {
        for (ch, &k) in coefficients.iter().enumerate() {
            for (o, v) in out[ch * s..(ch + 1) * s].iter_mut().zip(&x[ch * s..(ch + 1) * s]) {
                *o = affine(*v, k);
            }
        }
    });
    out
}

impl CustomOp3 for Normalize {
    fn name(&self) -> &'static str {
        "batchnorm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = geometry(l1)?;
        let (gamma, beta) = (float_params(s2, l2, self.name())?, float_params(s3, l3, self.name())?);
        let out = float_op1!(self.name(), s1, l1, |x| normalize(self, x, &gamma, &beta, g));
        Ok((out, l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        gamma: &Tensor,
        _beta: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let gamma = gamma.to_dtype(candle_core::DType::F64)?.to_vec1::<f64>()?;
        let op = NormalizeGrad { mean: &self.mean, inv_std: &self.inv_std, batch: self.batch, gamma: &gamma };
        let packed = x.contiguous()?.apply_op2_no_bwd(&grad.contiguous()?, &op)?;
        let (n, c) = (x.elem_count(), gamma.len());
        let dx = packed.narrow(0, 0, n)?.reshape(x.shape())?;
        let dgamma = packed.narrow(0, n, c)?;
        let dbeta = packed.narrow(0, n + c, c)?;
        Ok((Some(dx), Some(dgamma), Some(dbeta)))
    }
}

/// (x, dy) ↦ [dx (flattened), dγ, dβ].
pub(super) struct NormalizeGrad<'a> {
    /// Per-channel mean.
    pub mean: &'a [f64],
    /// Per-channel 1/√(σ² + ε).
    pub inv_std: &'a [f64],
    /// Batch statistics (train mode).
    pub batch: bool,
    /// Per-channel γ.
    pub gamma: &'a [f64],
}

impl NormalizeGrad<'_> {
    fn run<T: WithDType>(&self, x: &[T], dy: &[T], g: (usize, usize, usize)) -> Vec<T> {
        let (_, c, s) = g;
        let m = (g.0 * s) as f64;
        // dβ = Σ dy and dγ = Σ dy·x̂ = r·Σ dy·(x − μ), per channel.
        let sums: Vec<(f64, f64)> = (0..c)
            .into_par_iter()
            .map(|ch| {
                let (mut dbeta, mut centred) = (0f64, 0f64);
                for (xp, gp) in planes(x, ch, g).zip(planes(dy, ch, g)) {
                    dbeta += lane_sum(gp, |v| v);
                    centred += lane_dot(gp, xp, self.mean[ch]);
                }
                (dbeta, centred * self.inv_std[ch])
            })
            .collect();
        // dx = a·dy − b − e·(x − μ) with a = γ·r, and in batch mode b = a·dβ/M, e = a·r·dγ/M.
        let coefficients: Vec<(f64, f64, f64)> = (0..c)
            .map(|ch| {
                let a = self.gamma[ch] * self.inv_std[ch];
                let (dbeta, dgamma) = sums[ch];
                if self.batch { (a, a * dbeta / m, a * self.inv_std[ch] * dgamma / m) } else { (a, 0.0, 0.0) }
            })
            .collect();
        let mut out = zeros(x.len() + 2 * c, T::zero());
        let (dx, tail) = out.split_at_mut(x.len());
        dx.par_chunks_mut(c * s).zip(x.par_chunks(c * s).zip(dy.par_chunks(c * s))).for_each(
            |(dx, (x, dy))| {
                for (ch, &(a, b, e)) in coefficients.iter().enumerate() {
                    let mu = self.mean[ch];
                    let range = ch * s..(ch + 1) * s;
                    for ((d, xv), gv) in dx[range.clone()].iter_mut().zip(&x[range.clone()]).zip(&dy[range]) {
                        *d = T::from_f64(a * gv.to_f64() - b - e * (xv.to_f64() - mu));
                    }
                }
            },
        );
        for (ch, &(dbeta, dgamma)) in sums.iter().enumerate() {
            tail[ch] = T::from_f64(dgamma);
            tail[c + ch] = T::from_f64(dbeta);
        }
        out
    }
}

/// Σ a·(b − shift) over two equal-length slices in `f64`, in [`LANES`] interleaved partial sums.
fn lane_dot<T: WithDType>(a: &[T], b: &[T], shift: f64) -> f64 {
    let mut acc = [0f64; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let term = |u: &T, v: &T| u.to_f64() * (v.to_f64() - shift);
    let rest = ca.remainder().iter().zip(cb.remainder()).map(|(u, v)| term(u, v)).sum::<f64>();
    for (u, v) in ca.zip(cb) {
        for i in 0..LANES {
            acc[i] += term(&u[i], &v[i]);
        }
    }
    acc.iter().sum::<f64>() + rest
}

impl CustomOp2 for NormalizeGrad<'_> {
    fn name(&self) -> &'static str {
        "batchnorm-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = geometry(l1)?;
        let out = float_op2!(self.name(), (s1, l1), (s2, l2), |x, dy| self.run(x, dy, g));
        Ok((out, Shape::from(l1.shape().elem_count() + 2 * g.1)))
    }
}

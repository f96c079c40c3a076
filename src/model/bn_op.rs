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
//! A test holds these equal to the generic form's values and gradients.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, CustomOp3, Layout, Shape, Tensor, WithDType};

use super::kernel::{contiguous, float_op1, float_op2};

/// (batch, channels, values per channel and sample) of an `(n, c)` or `(n, c, h, w)` layout.
fn geometry(l: &Layout) -> candle_core::Result<(usize, usize, usize)> {
    let d = l.dims();
    match d.len() {
        2 => Ok((d[0], d[1], 1)),
        4 => Ok((d[0], d[1], d[2] * d[3])),
        _ => candle_core::bail!("batchnorm: expected a rank-2 or rank-4 input, got {d:?}"),
    }
}

/// The values of an `f32` or `f64` parameter vector, as `f64`.
fn float_params(s: &CpuStorage, l: &Layout, op: &str) -> candle_core::Result<Vec<f64>> {
    Ok(match s {
        CpuStorage::F32(_) => contiguous::<f32>(s, l, op)?.iter().map(|v| *v as f64).collect(),
        CpuStorage::F64(_) => contiguous::<f64>(s, l, op)?.to_vec(),
        _ => candle_core::bail!("{op}: only f32 and f64 are supported"),
    })
}

/// Per-channel mean and biased variance, as a `(2, c)` tensor (no gradient).
pub struct ChannelStats;

fn stats<T: WithDType>(x: &[T], (n, c, s): (usize, usize, usize)) -> Vec<T> {
    let m = (n * s) as f64;
    let mut sum = vec![0f64; c];
    for b in 0..n {
        for ch in 0..c {
            sum[ch] += x[(b * c + ch) * s..(b * c + ch + 1) * s].iter().map(|v| v.to_f64()).sum::<f64>();
        }
    }
    let mean: Vec<f64> = sum.iter().map(|v| v / m).collect();
    let mut sq = vec![0f64; c];
    for b in 0..n {
        for ch in 0..c {
            let mu = mean[ch];
            sq[ch] += x[(b * c + ch) * s..(b * c + ch + 1) * s]
                .iter()
                .map(|v| (v.to_f64() - mu).powi(2))
                .sum::<f64>();
        }
    }
    mean.iter().chain(sq.iter().map(|v| v / m).collect::<Vec<_>>().iter()).map(|v| T::from_f64(*v)).collect()
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

fn normalize<T: WithDType>(
    op: &Normalize,
    x: &[T],
    gamma: &[f64],
    beta: &[f64],
    (n, c, s): (usize, usize, usize),
) -> Vec<T> {
    let mut out = Vec::with_capacity(x.len());
    for b in 0..n {
        for ch in 0..c {
            let (mu, r, g, bt) = (op.mean[ch], op.inv_std[ch], gamma[ch], beta[ch]);
            out.extend(
                x[(b * c + ch) * s..(b * c + ch + 1) * s]
                    .iter()
                    .map(|v| T::from_f64(g * ((v.to_f64() - mu) * r) + bt)),
            );
        }
    }
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
struct NormalizeGrad<'a> {
    mean: &'a [f64],
    inv_std: &'a [f64],
    batch: bool,
    gamma: &'a [f64],
}

impl NormalizeGrad<'_> {
    fn run<T: WithDType>(&self, x: &[T], dy: &[T], (n, c, s): (usize, usize, usize)) -> Vec<T> {
        let m = (n * s) as f64;
        let (mut dgamma, mut dbeta) = (vec![0f64; c], vec![0f64; c]);
        for b in 0..n {
            for ch in 0..c {
                let (mu, r) = (self.mean[ch], self.inv_std[ch]);
                let range = (b * c + ch) * s..(b * c + ch + 1) * s;
                for (xv, g) in x[range.clone()].iter().zip(&dy[range]) {
                    let g = g.to_f64();
                    dbeta[ch] += g;
                    dgamma[ch] += g * (xv.to_f64() - mu) * r;
                }
            }
        }
        let mut out = Vec::with_capacity(x.len() + 2 * c);
        for b in 0..n {
            for ch in 0..c {
                let (mu, r, gm) = (self.mean[ch], self.inv_std[ch], self.gamma[ch]);
                let range = (b * c + ch) * s..(b * c + ch + 1) * s;
                for (xv, g) in x[range.clone()].iter().zip(&dy[range]) {
                    let g = g.to_f64();
                    let v = if self.batch {
                        let xhat = (xv.to_f64() - mu) * r;
                        gm * r / m * (m * g - dbeta[ch] - xhat * dgamma[ch])
                    } else {
                        gm * r * g
                    };
                    out.push(T::from_f64(v));
                }
            }
        }
        out.extend(dgamma.iter().chain(&dbeta).map(|v| T::from_f64(*v)));
        out
    }
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

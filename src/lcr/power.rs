//! Spectral-norm proxies of retention matrices by power iteration on K = RM·RMᵀ.
//!
//! * **Unnormalised** (`normalised = false`, `steps = s`): v₀ = 1 (the all-ones vector), v_{i+1} = K·v_i, value
//!   = ‖v_s‖^{1/(2s)}. With s = 1 this is exactly the released code's `TopEigenvalue(K, n_power_iterations=1)`:
//!   √‖K·1‖₂. It is neither an upper nor a lower bound on σ_max(RM): for unit-norm u = 1/√C it equals
//!   C^{1/4}·‖K u‖^{1/2}, which lies between ‖RMᵀ1‖·C^{−1/4} and σ_max(RM)·C^{1/4}.
//! * **Normalised** (`normalised = true`): u₀ = 1/√C, u_{i+1} = K u_i / ‖K u_i‖ (the iterate is detached, as
//!   in spectral normalisation), value = ‖RMᵀ u_s‖. For any unit u, ‖RMᵀu‖ ≤ σ_max(RM), so this value is a lower
//!   bound on σ_max(RM) that converges to it when u₀ is not orthogonal to the top singular vector.
//!
//! Gradients flow through every step of the unnormalised form and through the final product of the normalised
//! form. [`NORM_EPS`] inside square roots keeps gradients finite when RM = 0.

use candle_core::Tensor;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Added under square roots so that gradients stay finite at zero.
pub const NORM_EPS: f64 = 1e-12;

/// How the top singular value of a retention matrix is estimated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PowerEstimate {
    /// Normalise the iterate each step (converged proxy) or not (released code).
    pub normalised: bool,
    /// Number of power steps (≥ 1).
    pub steps: usize,
}

impl PowerEstimate {
    /// The released code's single unnormalised step from the ones vector.
    pub const RELEASED: PowerEstimate = PowerEstimate { normalised: false, steps: 1 };

    /// A normalised iteration with `steps` steps.
    pub fn converged(steps: usize) -> Self {
        PowerEstimate { normalised: true, steps }
    }

    /// Estimates for a batch of explicit matrices `(m, C_in, C_out)`; returns `(m,)`.
    pub fn estimate(&self, rm: &Tensor) -> Result<Tensor> {
        let (m, ci, _) = rm.dims3()?;
        let rmt = rm.transpose(1, 2)?;
        let ones = Tensor::ones((m, ci, 1), rm.dtype(), rm.device())?;
        self.run(ones, |v| Ok(rmt.matmul(v)?), |t| Ok(rm.matmul(t)?))
    }

    /// The same estimates for RM = X·Yᵀ/N given as its factors, `x: (m, C_in, N)` and `y: (m, C_out, N)`,
    /// without forming RM: every product is a matrix–vector product of cost O(N·(C_in + C_out)) instead of the
    /// O(N·C_in·C_out) of forming RM.
    pub fn estimate_factored(&self, x: &Tensor, y: &Tensor) -> Result<Tensor> {
        let (m, ci, n) = x.dims3()?;
        let xt = x.transpose(1, 2)?;
        let yt = y.transpose(1, 2)?;
        let scale = 1.0 / n as f64;
        let ones = Tensor::ones((m, ci, 1), x.dtype(), x.device())?;
        self.run(
            ones,
            |v| Ok((y.matmul(&xt.matmul(v)?)? * scale)?),
            |t| Ok((x.matmul(&yt.matmul(t)?)? * scale)?),
        )
    }

    /// The iteration from the ones vector, given v ↦ RMᵀv and t ↦ RM·t on `(m, ·, 1)` batches.
    fn run(
        &self,
        ones: Tensor,
        rm_t: impl Fn(&Tensor) -> Result<Tensor>,
        rm: impl Fn(&Tensor) -> Result<Tensor>,
    ) -> Result<Tensor> {
        if self.steps == 0 {
            return Err(Error::config("lcr_power_steps", "must be at least 1"));
        }
        if self.normalised {
            let ci = ones.dim(1)?;
            let mut u = (ones / (ci as f64).sqrt())?;
            for _ in 0..self.steps {
                let w = rm(&rm_t(&u)?)?.detach();
                let norm = (w.sqr()?.sum_keepdim(1)? + NORM_EPS)?.sqrt()?;
                u = w.broadcast_div(&norm)?;
            }
            let t = rm_t(&u)?;
            Ok((t.sqr()?.sum((1, 2))? + NORM_EPS)?.sqrt()?)
        } else {
            let mut v = ones;
            for _ in 0..self.steps {
                v = rm(&rm_t(&v)?)?;
            }
            let norm = (v.sqr()?.sum((1, 2))? + NORM_EPS)?.sqrt()?;
            Ok(norm.powf(1.0 / (2.0 * self.steps as f64))?)
        }
    }
}

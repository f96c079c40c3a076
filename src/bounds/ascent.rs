//! Lower bounds by gradient-norm ascent: points found by climbing a smoothed gradient norm, each then evaluated
//! rigorously as in `sampled-gradient` (theorem E2, `proofs/exact.md`).
//!
//! The Lipschitz constant of a margin m = (e_t − e_j)ᵀf is the supremum of ‖∇m(x)‖_* over the points where f is
//! differentiable (theorem L0), so any point gives a lower bound; the sample points of `sampled-gradient` are
//! natural images, where most hardtanh units are saturated and the gradient is small. This method moves each
//! start point uphill on a smooth stand-in for ‖∇m(x)‖_*: the activation slopes 1[−1 < z < 1] (hardtanh) or
//! 1[z > 0] (ReLU) are replaced by sigmoids of width τ, which shrinks over the climb, so that the stand-in's
//! gradient says which units to bring into their linear piece. With the dual direction v (sign(g) for ℓ∞ inputs,
//! g/‖g‖ for ℓ2) held for one step, F(x) = vᵀJ_τ(x)ᵀc is a directional derivative of a smoothed network, and
//! ∇F is one forward pass of values, one backward pass of c, one forward pass of the tangent v and one backward
//! pass of the adjoints: four passes of matrix products over a batch of columns.
//!
//! Nothing about the climb needs to be right for the bound to hold: its points are only candidates. Every
//! snapshot goes through [`witness_lower`], which keeps a point only where the interval forward pass proves
//! every unit strictly inside one piece and subtracts the a-priori rounding bound of the gradient (E2, F3, F4).

use std::time::Instant;

use nalgebra::DMatrix;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;
use serde_json::json;

use super::bound::{Bound, Method, Norm, Scope, Soundness, class_pairs};
use super::chain::{Act, Chain, Step};
use super::sampled::witness_lower;
use crate::error::{Error, Result};
use crate::ir::Function;

/// Options of [`gradient_ascent`].
#[derive(Clone, Debug, PartialEq)]
pub struct AscentOptions {
    /// Start points per class pair (sample points, then seeded Gaussian points).
    pub starts_per_pair: usize,
    /// Ascent steps per start.
    pub steps: usize,
    /// A candidate point is kept every this many steps (and at the end).
    pub snapshot_every: usize,
    /// Step size (ℓ∞ length of one sign step in input units) at the start; it decays to a tenth.
    pub step: f64,
    /// Sigmoid width of the smoothed slopes at the start and at the end (geometric in between).
    pub tau: (f64, f64),
    /// Seed of the Gaussian start points.
    pub seed: u64,
}

impl Default for AscentOptions {
    fn default() -> Self {
        AscentOptions {
            starts_per_pair: 4,
            steps: 120,
            snapshot_every: 10,
            step: 0.05,
            tau: (0.5, 0.02),
            seed: 0,
        }
    }
}

impl AscentOptions {
    fn check(&self) -> Result<()> {
        let ok = self.starts_per_pair >= 1
            && self.steps >= 1
            && self.snapshot_every >= 1
            && self.step.is_finite()
            && self.step > 0.0
            && self.tau.0.is_finite()
            && self.tau.1.is_finite()
            && self.tau.0 > 0.0
            && self.tau.1 > 0.0;
        if ok {
            Ok(())
        } else {
            Err(Error::config(
                "gradient ascent options",
                format!("{self:?}: every count ≥ 1, step and τ > 0"),
            ))
        }
    }
}

/// The smoothed slope of `act` at z with width τ, and its derivative.
fn soft_slope(act: Act, z: f64, tau: f64) -> (f64, f64) {
    let (arg, sign) = match act {
        Act::Relu => (z / tau, 1.0),
        Act::HardTanh => ((1.0 - z.abs()) / tau, -z.signum()),
    };
    let s = 1.0 / (1.0 + (-arg).exp());
    (s, s * (1.0 - s) * sign / tau)
}

/// y = step(x), column by column.
fn apply(step: &Step, x: &DMatrix<f64>) -> DMatrix<f64> {
    match step {
        Step::Linear { w, b } => {
            let mut y = w * x;
            for mut col in y.column_iter_mut() {
                col += b;
            }
            y
        }
        Step::Diag { s, t } => DMatrix::from_fn(x.nrows(), x.ncols(), |i, k| s[i] * x[(i, k)] + t[i]),
        Step::Act(a) => x.map(|z| a.apply(z)),
    }
}

/// The linear part of a step applied to a tangent (`transpose`: its adjoint), for Linear and Diag steps.
fn linear(step: &Step, x: &DMatrix<f64>, transpose: bool) -> DMatrix<f64> {
    match step {
        Step::Linear { w, .. } if transpose => w.tr_mul(x),
        Step::Linear { w, .. } => w * x,
        Step::Diag { s, .. } => DMatrix::from_fn(x.nrows(), x.ncols(), |i, k| s[i] * x[(i, k)]),
        Step::Act(_) => unreachable!("activations are handled by the caller"),
    }
}

/// The dual direction of g for `norm` (the v with vᵀg = ‖g‖_*), column by column.
fn dual_direction(g: &DMatrix<f64>, norm: Norm) -> DMatrix<f64> {
    let mut v = DMatrix::zeros(g.nrows(), g.ncols());
    for (k, col) in g.column_iter().enumerate() {
        match norm {
            Norm::LinfMargin => {
                for (i, x) in col.iter().enumerate() {
                    v[(i, k)] = if *x >= 0.0 { 1.0 } else { -1.0 };
                }
            }
            Norm::L1Margin => {
                let i = col.iamax();
                v[(i, k)] = col[i].signum();
            }
            _ => {
                let n = col.norm();
                if n > 0.0 {
                    v.set_column(k, &(col / n));
                }
            }
        }
    }
    v
}

/// ∇ₓ of vᵀJ_τ(x)ᵀc for every column (x, c), v the dual direction of J_τ(x)ᵀc.
fn ascent_direction(chain: &Chain, x: &DMatrix<f64>, c: &DMatrix<f64>, norm: Norm, tau: f64) -> DMatrix<f64> {
    let steps = &chain.steps;
    // Values: inputs[s] is the input of step s.
    let mut inputs = Vec::with_capacity(steps.len());
    let mut cur = x.clone();
    for step in steps {
        let next = apply(step, &cur);
        inputs.push(cur);
        cur = next;
    }
    let soft: Vec<Option<(DMatrix<f64>, DMatrix<f64>)>> = steps
        .iter()
        .zip(&inputs)
        .map(|(step, z)| match step {
            Step::Act(a) => {
                let pairs = z.map(|v| soft_slope(*a, v, tau));
                Some((pairs.map(|p| p.0), pairs.map(|p| p.1)))
            }
            _ => None,
        })
        .collect();
    // Backward pass of c with the smoothed slopes: cbar[s] is the adjoint of step s's output tangent.
    let mut cbar = vec![DMatrix::zeros(0, 0); steps.len()];
    let mut back = c.clone();
    for (s, step) in steps.iter().enumerate().rev() {
        let prev = match (&soft[s], step) {
            (Some((sl, _)), _) => back.component_mul(sl),
            (None, step) => linear(step, &back, true),
        };
        cbar[s] = back;
        back = prev;
    }
    let v = dual_direction(&back, norm);
    // Forward pass of the tangent v: tin[s] is the tangent entering step s.
    let mut tin = Vec::with_capacity(steps.len());
    let mut t = v;
    for (s, step) in steps.iter().enumerate() {
        let next = match (&soft[s], step) {
            (Some((sl, _)), _) => t.component_mul(sl),
            (None, step) => linear(step, &t, false),
        };
        tin.push(t);
        t = next;
    }
    // Backward pass of the value adjoints.
    let mut xbar = DMatrix::zeros(t.nrows(), t.ncols());
    for (s, step) in steps.iter().enumerate().rev() {
        xbar = match (&soft[s], step) {
            (Some((_, dsl)), Step::Act(a)) => {
                let z = &inputs[s];
                DMatrix::from_fn(z.nrows(), z.ncols(), |i, k| {
                    let hard = if a.slope(z[(i, k)]) { xbar[(i, k)] } else { 0.0 };
                    hard + dsl[(i, k)] * tin[s][(i, k)] * cbar[s][(i, k)]
                })
            }
            (_, step) => linear(step, &xbar, true),
        };
    }
    xbar
}

/// Climbs from every column of `starts` (its margin row in the matching column of `rows`) and returns the
/// snapshots, column by column.
fn climb(
    chain: &Chain,
    starts: DMatrix<f64>,
    rows: &DMatrix<f64>,
    norm: Norm,
    opts: &AscentOptions,
) -> Vec<Vec<f64>> {
    let mut x = starts;
    let mut out = Vec::new();
    let last = opts.steps;
    for k in 0..last {
        let frac = k as f64 / last as f64;
        let tau = opts.tau.0 * (opts.tau.1 / opts.tau.0).powf(frac);
        let eta = opts.step * (0.1f64).powf(frac);
        let d = ascent_direction(chain, &x, rows, norm, tau);
        x.zip_apply(&d, |xi, di| {
            if di.is_finite() && di != 0.0 {
                *xi += eta * di.signum();
            }
        });
        if (k + 1) % opts.snapshot_every == 0 || k + 1 == last {
            out.extend(x.column_iter().map(|c| c.iter().copied().collect::<Vec<f64>>()));
        }
    }
    out
}

/// Columns per parallel task.
const TASK_COLUMNS: usize = 16;

/// The best proven lower bound over points found by gradient-norm ascent from the sample points and seeded
/// Gaussian points, one climb per class pair and start (margins; `l2` climbs every pair's ℓ2 margin and bounds
/// σ₁ of the Jacobian at the points found). The sample points themselves are candidates too, so the value is
/// never below `sampled-gradient` on the same sample.
///
/// Theorem E2 (proofs/exact.md): only the rigorous evaluation of [`witness_lower`] makes a value; checked by
/// tests/exact.rs::gradient_ascent_stays_below_the_exact_value_and_above_the_sample.
pub fn gradient_ascent(
    chain: &Chain,
    function: Function,
    norm: Norm,
    sample: &[Vec<f64>],
    opts: &AscentOptions,
) -> Result<Bound> {
    opts.check()?;
    let start = Instant::now();
    let out = chain.output_dim();
    let pairs = class_pairs(out);
    let climb_norm = if norm == Norm::L2 { Norm::L2Margin } else { norm };
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    // Column list: (pair index, start point).
    let mut columns: Vec<(usize, Vec<f64>)> = Vec::new();
    for (p, _) in pairs.iter().enumerate() {
        for s in 0..opts.starts_per_pair {
            let from_sample = s + 1 < opts.starts_per_pair || opts.starts_per_pair == 1;
            let x = if from_sample && !sample.is_empty() {
                sample[(p * opts.starts_per_pair + s) % sample.len()].clone()
            } else {
                (0..chain.input_dim).map(|_| StandardNormal.sample(&mut rng)).collect()
            };
            columns.push((p, x));
        }
    }
    let mut candidates: Vec<Vec<f64>> = columns
        .par_chunks(TASK_COLUMNS)
        .flat_map_iter(|task| {
            let starts = DMatrix::from_fn(chain.input_dim, task.len(), |i, k| task[k].1[i]);
            let rows = DMatrix::from_fn(out, task.len(), |r, k| {
                let (t, j) = pairs[task[k].0];
                if r == t {
                    1.0
                } else if r == j {
                    -1.0
                } else {
                    0.0
                }
            });
            climb(chain, starts, &rows, climb_norm, opts)
        })
        .collect();
    let climbed = candidates.len();
    candidates.extend(sample.iter().cloned());
    let (best, used, constants) = witness_lower(chain, norm, &candidates);
    let detail = json!({
        "starts_per_pair": opts.starts_per_pair, "steps": opts.steps, "snapshot_every": opts.snapshot_every,
        "step": opts.step, "tau": [opts.tau.0, opts.tau.1], "seed": opts.seed,
        "candidates_climbed": climbed, "candidates_from_sample": sample.len(),
        "points_used": used, "points_skipped_near_kinks": candidates.len() - used,
    });
    Ok(Bound {
        request: None,
        method: Method::GradientAscent,
        function,
        soundness: Soundness::Lower,
        norm,
        scope: Scope::Network,
        value: best,
        pairs: constants,
        per_layer: Vec::new(),
        seconds: start.elapsed().as_secs_f64(),
        detail,
    })
}

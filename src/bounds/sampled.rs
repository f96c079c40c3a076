//! Lower bounds from gradients at sample points (theorem E2, `proofs/exact.md`).
//!
//! At a point x where no pre-activation is at a kink, f is affine near x with Jacobian J(x), so
//! L ≥ ‖∇m(x)‖_dual (margins) or L ≥ σ₁(J(x)) (ℓ2). The pattern is taken only where the rigorous interval
//! forward pass at the degenerate box [x, x] shows every unit stable (points near a kink are skipped), and the
//! floating-point gradient is corrected downward by the a-priori bound of theorem F3.

use std::time::Instant;

use nalgebra::{DMatrix, SVD};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;
use serde_json::json;

use super::bound::{Bound, Method, Norm, PairConstant, Scope, Soundness, class_pairs};
use super::chain::{Chain, Step};
use super::exact::dual_norm_up;
use super::float::{add_up, dn, norm2_dn, sqrt_up, sum_sq_up};
use super::interval::forward_batch;
use super::power::{DenseOp, rayleigh_lower};
use crate::error::Result;
use crate::ir::Function;

/// Where gradients are sampled.
#[derive(Clone, Debug, PartialEq)]
pub struct SampledOptions {
    /// Random Gaussian points added to the data sample.
    pub random_points: usize,
    /// Standard deviation of the random points.
    pub scale: f64,
    /// Seed of the random points.
    pub seed: u64,
}

impl Default for SampledOptions {
    fn default() -> Self {
        SampledOptions { random_points: 200, scale: 1.0, seed: 0 }
    }
}

fn dual_norm_dn(g: &[f64], norm: Norm) -> f64 {
    match norm {
        Norm::LinfMargin => g.iter().fold(0.0f64, |s, v| dn(s + v.abs()).max(0.0)),
        Norm::L1Margin => g.iter().fold(0.0f64, |m, v| m.max(v.abs())),
        _ => norm2_dn(g),
    }
}

/// Points per batch of the interval forward pass.
const POINT_BATCH: usize = 64;

/// For each point x of the batch, the patterns at x if every unit's enclosure over the degenerate box [x, x] lies
/// strictly inside one piece (theorem E2), else `None`.
fn certain_patterns(chain: &Chain, xs: &[Vec<f64>]) -> Vec<Option<Vec<Vec<bool>>>> {
    let at = DMatrix::from_fn(chain.input_dim, xs.len(), |i, k| xs[k][i]);
    let boxes = forward_batch(chain, at.clone(), at);
    (0..xs.len())
        .map(|k| {
            chain
                .steps
                .iter()
                .enumerate()
                .filter_map(|(s, step)| match step {
                    Step::Act(a) => {
                        let (lo, hi) = &boxes[s];
                        Some(
                            lo.column(k)
                                .iter()
                                .zip(hi.column(k).iter())
                                .map(|(&l, &u)| a.strictly_stable(l, u))
                                .collect(),
                        )
                    }
                    _ => None,
                })
                .collect()
        })
        .collect()
}

/// The best proven lower bound over `points` (theorem E2): (value, points used, per-pair values for margins,
/// empty for ℓ2).
/// Points whose pattern is not certain (an enclosure touches a kink) are skipped.
///
/// Checked by tests/exact.rs::sampled_lower_bounds_stay_below_the_exact_value.
pub(crate) fn witness_lower(
    chain: &Chain,
    norm: Norm,
    points: &[Vec<f64>],
) -> (f64, usize, Vec<PairConstant>) {
    let out = chain.output_dim();
    let pairs = class_pairs(out);
    let unit = |i: usize, j: Option<usize>| -> Vec<f64> {
        (0..out)
            .map(|k| {
                if k == i {
                    1.0
                } else if Some(k) == j {
                    -1.0
                } else {
                    0.0
                }
            })
            .collect()
    };
    // One seed row per output (ℓ2: the Jacobian) or per pair (margins); F3's slack of each row bounds its error
    // whatever order the product takes (A-GEMM), so the rows go through the chain together.
    let seeds = if norm == Norm::L2 {
        DMatrix::from_fn(out, out, |r, c| if r == c { 1.0 } else { 0.0 })
    } else {
        DMatrix::from_fn(pairs.len(), out, |r, c| unit(pairs[r].0, Some(pairs[r].1))[c])
    };
    let slack_rows = chain.gradient_slack_rows(&seeds);
    let slacks: Vec<Vec<f64>> = slack_rows.row_iter().map(|r| r.iter().copied().collect()).collect();
    let err = sqrt_up(slacks.iter().map(|s| sum_sq_up(s.iter())).fold(0.0, add_up));
    let pair_slack: Vec<f64> = slacks.iter().map(|s| dual_norm_up(s, norm)).collect();
    // Per point: None where a kink is too close, else (best ℓ2 value, per-pair values).
    let per_point: Vec<Option<(f64, Vec<f64>)>> = points
        .par_chunks(POINT_BATCH)
        .flat_map_iter(|batch| certain_patterns(chain, batch))
        .map(|pat| {
            let pat = pat?;
            let g = chain.backward_rows(&seeds, &pat);
            if norm == Norm::L2 {
                let value = SVD::try_new(g.clone(), false, true, 1e-15, 10_000)
                    .map(|svd| {
                        let v: Vec<f64> = svd.v_t.expect("v requested").row(0).iter().copied().collect();
                        dn(rayleigh_lower(&DenseOp(&g), &v) - err).max(0.0)
                    })
                    .unwrap_or(0.0);
                Some((value, Vec::new()))
            } else {
                let values: Vec<f64> = (0..pairs.len())
                    .map(|k| {
                        let row: Vec<f64> = g.row(k).iter().copied().collect();
                        dn(dual_norm_dn(&row, norm) - pair_slack[k]).max(0.0)
                    })
                    .collect();
                Some((values.iter().fold(0.0f64, |m, &v| m.max(v)), values))
            }
        })
        .collect();
    let used = per_point.iter().flatten().count();
    let best = per_point.iter().flatten().fold(0.0f64, |m, (v, _)| m.max(*v));
    let mut best_pairs = vec![0.0f64; pairs.len()];
    for (_, values) in per_point.iter().flatten() {
        for (b, v) in best_pairs.iter_mut().zip(values) {
            *b = b.max(*v);
        }
    }
    let constants = if norm == Norm::L2 {
        Vec::new()
    } else {
        pairs.iter().zip(&best_pairs).map(|(&(t, j), &value)| PairConstant { t, j, value }).collect()
    };
    (best, used, constants)
}

/// The best proven lower bound over the sample points and seeded random points.
///
/// Theorem E2 (proofs/exact.md); checked by tests/exact.rs::sampled_lower_bounds_stay_below_the_exact_value.
pub fn sampled_gradient(
    chain: &Chain,
    function: Function,
    norm: Norm,
    sample: &[Vec<f64>],
    opts: &SampledOptions,
) -> Result<Bound> {
    let start = Instant::now();
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let mut points: Vec<Vec<f64>> = sample.to_vec();
    points.extend((0..opts.random_points).map(|_| {
        (0..chain.input_dim)
            .map(|_| {
                let z: f64 = StandardNormal.sample(&mut rng);
                opts.scale * z
            })
            .collect::<Vec<f64>>()
    }));
    let (best, used, pairs) = witness_lower(chain, norm, &points);
    let detail = json!({
        "points_used": used, "points_skipped_near_kinks": points.len() - used,
        "random_points": opts.random_points, "seed": opts.seed,
    });
    Ok(Bound {
        request: None,
        method: Method::SampledGradient,
        function,
        soundness: Soundness::Lower,
        norm,
        scope: Scope::Network,
        value: best,
        pairs,
        per_layer: Vec::new(),
        seconds: start.elapsed().as_secs_f64(),
        detail,
    })
}

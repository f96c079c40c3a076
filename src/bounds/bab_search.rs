//! Witness candidates for the branch and bound's lower side: a local search over the first pre-activations of a
//! chain whose first layer is proven onto (theorem B6), proposing inputs whose gradient norm is then proven by
//! theorem E2 (B3: nothing proven rests on the search).
//!
//! Over an onto first layer the margin is m(x) = F(z(x)) with z = σ ⊙ (W₁x + b₁) + τ free in ℝ^U, and
//! ∇ₓm = W₁ᵀ(σ ⊙ ∇F(z)), so ‖∇ₓm‖₁ is a piecewise constant function φ of m coordinates instead of n (16 or 32
//! instead of 784 on the MNIST MLPs). The search draws z piece by piece (each unit on a random piece: a saturated
//! piece at a fixed distance beyond its kink, the slope-1 piece at a random value inside it), then moves one
//! coordinate at a time to a fresh draw and keeps the move when φ does not drop (plateaus are walked). Then an
//! iterated local search starts from the best point: one to three coordinates redrawn (a kick), a shorter climb,
//! kept when φ does not drop. The best point of every restart and every improving kick is mapped back to an input
//! by the least-squares preimage.

use nalgebra::{DMatrix, DVector};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::chain::{Act, Chain, Step};
use super::first_layer::FirstLayer;

/// Budget of the search.
#[derive(Clone, Debug, PartialEq)]
pub struct SearchOptions {
    /// Independent random starts.
    pub restarts: usize,
    /// Coordinate moves per start.
    pub moves: usize,
    /// Seed of the draws.
    pub seed: u64,
    /// Rounds of iterated local search after the restarts: the best point so far with one to three coordinates
    /// redrawn, then `kick_moves` coordinate moves; kept when it does not drop.
    pub kicks: usize,
    /// Coordinate moves after each kick.
    pub kick_moves: usize,
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions { restarts: 24, moves: 1500, seed: 0, kicks: 300, kick_moves: 200 }
    }
}

/// Distance of a drawn pre-activation from the kinks of its piece (in pre-activation units), so that the
/// proposed point's first-layer pattern is certain (E2's interval check) after the preimage's rounding.
const MARGIN: f64 = 0.02;

/// The chain from the first activation on, W₁ and σ: what φ needs.
struct Tail {
    sub: Chain,
    w1: DMatrix<f64>,
    sigma: Vec<f64>,
    act: Act,
}

impl Tail {
    fn of(chain: &Chain, first: &FirstLayer) -> Option<Tail> {
        let Some(Step::Linear { w, .. }) = chain.steps.first() else { return None };
        let Step::Act(act) = chain.steps[first.act_step] else { return None };
        let mut sigma = vec![1.0; w.nrows()];
        for step in &chain.steps[1..first.act_step] {
            if let Step::Diag { s, .. } = step {
                sigma.iter_mut().zip(s).for_each(|(a, s)| *a *= s);
            }
        }
        let sub = Chain {
            input_dim: w.nrows(),
            steps: chain.steps[first.act_step..].to_vec(),
            widths: chain.widths[first.act_step..].to_vec(),
        };
        Some(Tail { sub, w1: w.clone(), sigma, act })
    }

    /// φ(z) = ‖W₁ᵀ(σ ⊙ ∇F(z))‖₁ in floating point.
    fn value(&self, c: &[f64], z: &[f64]) -> f64 {
        let pats = self.sub.patterns_at(z);
        let gz = self.sub.backward(c, &pats);
        let v = DVector::from_iterator(gz.len(), gz.iter().zip(&self.sigma).map(|(g, s)| g * s));
        self.w1.tr_mul(&v).iter().map(|g| g.abs()).sum()
    }

    /// A pre-activation drawn on a random piece of the first activation.
    fn draw(&self, rng: &mut ChaCha8Rng) -> f64 {
        match self.act {
            Act::HardTanh => match rng.random_range(0..3u8) {
                0 => -1.0 - 4.0 * MARGIN,
                1 => rng.random_range(-1.0 + MARGIN..1.0 - MARGIN),
                _ => 1.0 + 4.0 * MARGIN,
            },
            Act::Relu => {
                if rng.random::<bool>() {
                    -4.0 * MARGIN
                } else {
                    rng.random_range(MARGIN..2.0)
                }
            }
        }
    }
}

/// Candidate inputs for margin `c` (one per restart, best first) with their floating-point φ; empty when the
/// chain does not start with a dense layer, diagonal steps and an activation. Only candidates: the caller proves
/// their values with [`super::sampled::witness_lower`] (theorem E2).
pub fn witness_candidates(
    chain: &Chain,
    first: &FirstLayer,
    c: &[f64],
    opts: &SearchOptions,
) -> Vec<(f64, Vec<f64>)> {
    let Some(tail) = Tail::of(chain, first) else { return Vec::new() };
    let m = tail.w1.nrows();
    let free: Vec<usize> = (0..m).filter(|&u| first.free[u]).collect();
    if free.is_empty() {
        return Vec::new();
    }
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let mut found = Vec::with_capacity(opts.restarts);
    let mut best: Option<(f64, Vec<f64>)> = None;
    for _ in 0..opts.restarts {
        let mut z: Vec<f64> = (0..m).map(|_| tail.draw(&mut rng)).collect();
        let cur = climb(&tail, c, &free, &mut z, opts.moves, &mut rng);
        if best.as_ref().is_none_or(|b| cur > b.0) {
            best = Some((cur, z.clone()));
        }
        found.push((cur, first.input_for(&z)));
    }
    // Iterated local search from the best point: a kick of one to three coordinates, then a climb.
    if let Some((mut best_v, mut best_z)) = best.filter(|_| opts.kicks > 0) {
        for _ in 0..opts.kicks {
            let mut z = best_z.clone();
            for _ in 0..rng.random_range(1..=3usize.min(free.len())) {
                z[free[rng.random_range(0..free.len())]] = tail.draw(&mut rng);
            }
            let v = climb(&tail, c, &free, &mut z, opts.kick_moves, &mut rng);
            if v >= best_v {
                if v > best_v {
                    found.push((v, first.input_for(&z)));
                }
                (best_v, best_z) = (v, z);
            }
        }
    }
    found.sort_by(|a, b| b.0.total_cmp(&a.0));
    found
}

/// `moves` coordinate moves from z, each a fresh draw of one free coordinate kept when φ does not drop; the final
/// value.
fn climb(tail: &Tail, c: &[f64], free: &[usize], z: &mut [f64], moves: usize, rng: &mut ChaCha8Rng) -> f64 {
    let mut cur = tail.value(c, z);
    for _ in 0..moves {
        let u = free[rng.random_range(0..free.len())];
        let old = z[u];
        z[u] = tail.draw(rng);
        let v = tail.value(c, z);
        if v >= cur {
            cur = v;
        } else {
            z[u] = old;
        }
    }
    cur
}

//! The exact maximum of ‖∇m‖₁ over a node's undecided slopes, when there are few (theorem B7, `proofs/bab.md`).
//!
//! On a node every unit's slope is 0, 1 or undecided, and the gradient cᵀW_S D_{S−1} ⋯ D_1 W_1 is multilinear in
//! the undecided slopes, so ‖∇m‖₁ (convex in each layer's slopes) is largest at a 0/1 assignment: the maximum
//! over the 2^k assignments bounds the node, with no relaxation at all (the LipLP bound relaxes each of the n
//! input coordinates' |g_j| by a secant, which is loose for wide inputs). The assignments of the later layers
//! are enumerated one by one (a floating-point backward pass down to y = W₁x + b₁ each), those of the first
//! layer in Gray-code order, adding or removing one row u_i·W₁ᵢ of the input gradient per step (n operations),
//! recomputed from scratch every [`RESET`] steps. The rounding errors are bounded a priori: F3 for the backward
//! pass to y (|ũ − u| ≤ e), and for the Gray-code sums |g̃_j − g_j| ≤ (R + 1)γ_{m+R+2}·Σᵢ(Uᵢ + eᵢ)|W₁,ji| +
//! Σᵢ eᵢ|W₁,ji| with U ≥ |u| over every assignment, so the maximum plus their sum over j is certified.

use super::bab_leaf::activations;
use super::chain::{Chain, Step};
use super::float::{ETA, add_up, dn, gamma, mul_up, up};

/// Gray-code steps between two fresh evaluations of the input gradient.
pub const RESET: usize = 16;

/// The steps of a chain from the output down to the first activation's output, and the first layer.
struct Layout {
    /// Chain step of each activation.
    acts: Vec<usize>,
    /// W₁ row by row (each of length n).
    rows: Vec<Vec<f64>>,
}

fn layout(chain: &Chain) -> Option<Layout> {
    let Some(Step::Linear { w, .. }) = chain.steps.first() else { return None };
    let acts: Vec<usize> = activations(chain).iter().map(|&(k, _)| k).collect();
    let first = *acts.first()?;
    if !chain.steps[1..first].iter().all(|s| matches!(s, Step::Diag { .. })) {
        return None;
    }
    let rows = (0..w.nrows()).map(|i| w.row(i).iter().copied().collect()).collect();
    Some(Layout { acts, rows })
}

/// g ← (step)ᵀ g for a linear or diagonal step (floating point, as F3 models it).
fn back(step: &Step, g: &[f64]) -> Vec<f64> {
    match step {
        Step::Linear { w, .. } => {
            (0..w.ncols()).map(|j| w.column(j).iter().zip(g).map(|(a, b)| a * b).sum()).collect()
        }
        Step::Diag { s, .. } => g.iter().zip(s).map(|(g, s)| g * s).collect(),
        Step::Act(_) => g.to_vec(),
    }
}

/// |step|ᵀ v rounded up (v ≥ 0).
fn back_abs(step: &Step, v: &[f64]) -> Vec<f64> {
    match step {
        Step::Linear { w, .. } => (0..w.ncols())
            .map(|j| w.column(j).iter().zip(v).fold(0.0, |s, (a, b)| add_up(s, mul_up(a.abs(), *b))))
            .collect(),
        Step::Diag { s, .. } => v.iter().zip(s).map(|(v, s)| mul_up(*v, s.abs())).collect(),
        Step::Act(_) => v.to_vec(),
    }
}

struct Search<'a> {
    chain: &'a Chain,
    lay: &'a Layout,
    slopes: &'a [Vec<Option<bool>>],
    /// The largest floating-point Σ|g̃_j| seen.
    best: f64,
}

impl Search<'_> {
    /// `g`: the gradient at the output of activation `ai`; enumerates its undecided units, then recurses down.
    fn layer(&mut self, ai: usize, g: &[f64]) {
        let live: Vec<usize> =
            (0..g.len()).filter(|&i| self.slopes[ai][i].is_none() && g[i] != 0.0).collect();
        if ai == 0 {
            return self.first(g, &live);
        }
        let (hi, lo) = (self.lay.acts[ai], self.lay.acts[ai - 1]);
        for mask in 0u64..(1u64 << live.len()) {
            let mut h: Vec<f64> = g.to_vec();
            for (i, v) in h.iter_mut().enumerate() {
                if self.slopes[ai][i] == Some(false) {
                    *v = 0.0;
                }
            }
            for (bit, &i) in live.iter().enumerate() {
                if mask >> bit & 1 == 0 {
                    h[i] = 0.0;
                }
            }
            for k in (lo + 1..hi).rev() {
                h = back(&self.chain.steps[k], &h);
            }
            self.layer(ai - 1, &h);
        }
    }

    /// The first layer: u = (diagonal scales)ᵀ v on every unit that can be on, then Gray code over `live`.
    fn first(&mut self, v: &[f64], live: &[usize]) {
        let mut u = v.to_vec();
        for k in (1..self.lay.acts[0]).rev() {
            u = back(&self.chain.steps[k], &u);
        }
        let on0: Vec<usize> =
            (0..u.len()).filter(|&i| self.slopes[0][i] == Some(true) && u[i] != 0.0).collect();
        let live: Vec<usize> = live.iter().copied().filter(|&i| u[i] != 0.0).collect();
        let n = self.chain.input_dim;
        let mut on = vec![false; u.len()];
        on0.iter().for_each(|&i| on[i] = true);
        let fresh = |on: &[bool]| -> Vec<f64> {
            let mut g = vec![0.0; n];
            for (i, row) in self.lay.rows.iter().enumerate().filter(|(i, _)| on[*i]) {
                g.iter_mut().zip(row).for_each(|(g, w)| *g += u[i] * w);
            }
            g
        };
        let mut g = fresh(&on);
        let mut since = 0;
        for step in 0u64..(1u64 << live.len()) {
            if step > 0 {
                let i = live[step.trailing_zeros() as usize];
                on[i] = !on[i];
                since += 1;
                if since == RESET {
                    g = fresh(&on);
                    since = 0;
                } else {
                    let s = if on[i] { u[i] } else { -u[i] };
                    g.iter_mut().zip(&self.lay.rows[i]).for_each(|(g, w)| *g += s * w);
                }
            }
            let total: f64 = g.iter().map(|v| v.abs()).sum();
            self.best = self.best.max(total);
        }
    }
}

/// The number of undecided units a vertex bound enumerates, and its work 2^k·n, or `None` for a chain it does not
/// handle (first step not dense, or anything but diagonal steps before the first activation).
pub fn vertex_work(chain: &Chain, slopes: &[Vec<Option<bool>>]) -> Option<f64> {
    layout(chain)?;
    let k: usize = slopes.iter().map(|l| l.iter().filter(|s| s.is_none()).count()).sum();
    Some(2f64.powi(k as i32) * chain.input_dim as f64)
}

/// A certified upper bound on max ‖∇m‖₁ over every 0/1 assignment of the undecided slopes (`None` entries of
/// `slopes`, one vector per activation step), for margin `c`; `None` when the chain is not handled.
///
/// Theorem B7 (proofs/bab.md); checked by tests/bab_region.rs::vertex_bound_is_the_pattern_maximum.
pub fn vertex_bound(chain: &Chain, c: &[f64], slopes: &[Vec<Option<bool>>]) -> Option<f64> {
    let lay = layout(chain)?;
    let (first, last) = (lay.acts[0], *lay.acts.last()?);
    // Backward from c to the output of the last activation.
    let mut g = c.to_vec();
    for k in (last + 1..chain.steps.len()).rev() {
        g = back(&chain.steps[k], &g);
    }
    let mut search = Search { chain, lay: &lay, slopes, best: 0.0 };
    search.layer(lay.acts.len() - 1, &g);
    // e ≥ |ũ − u| (F3 on the chain after the first dense step), U ≥ |u| for every assignment.
    let sub = Chain {
        input_dim: chain.widths[0],
        steps: chain.steps[1..].to_vec(),
        widths: chain.widths[1..].to_vec(),
    };
    let e = sub.gradient_slack(c);
    let mut mag: Vec<f64> = c.iter().map(|v| v.abs()).collect();
    let mut ai = lay.acts.len();
    for k in (1..chain.steps.len()).rev() {
        if let Step::Act(_) = chain.steps[k] {
            ai -= 1;
            mag.iter_mut().zip(&slopes[ai]).for_each(|(v, s)| {
                if *s == Some(false) {
                    *v = 0.0;
                }
            });
        } else {
            mag = back_abs(&chain.steps[k], &mag);
        }
    }
    debug_assert!(first >= 1);
    let m = chain.widths[0];
    let gk = mul_up((RESET + 1) as f64, gamma(m + RESET + 2));
    let mut slack = 0.0f64;
    for (i, row) in lay.rows.iter().enumerate() {
        let norm = row.iter().fold(0.0f64, |s, w| add_up(s, w.abs()));
        let per = add_up(mul_up(gk, add_up(mag[i], e[i])), e[i]);
        slack = add_up(slack, mul_up(norm, per));
    }
    // The float sum Σ|g̃_j| of n terms (F5: Σ ≤ (fl + nη)/(1 − γ_n)), plus the slack.
    let n = chain.input_dim;
    let best = up(up(search.best + mul_up(n as f64, ETA)) / dn(1.0 - gamma(n)));
    Some(add_up(best, add_up(slack, 1e-300)))
}

/// Convenience for tests: every slope undecided.
pub fn all_undecided(chain: &Chain) -> Vec<Vec<Option<bool>>> {
    activations(chain).iter().map(|&(k, _)| vec![None; chain.width_before(k)]).collect()
}

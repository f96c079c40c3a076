//! A node bound that keeps the n input-gradient entries coupled: the box of the gradient with respect to the
//! first dense layer's output, and the maximum of ‖W₁ᵀu‖₁ over that box (theorem B8, `proofs/bab.md`).
//!
//! With y = W₁x + b₁ the first dense step, ∇ₓm = W₁ᵀu where u = ∂m/∂y. Backward interval propagation
//! ([`super::interval::backward`], with the node's known slopes) gives a box [l, h] ∋ u for every pattern of
//! the node. The LipLP bound and the interval bound relax each input coordinate |gⱼ| on its own, so they pay for
//! sign combinations no single u produces; here u is one point of the box for all n coordinates at once.
//! ‖W₁ᵀu‖₁ is convex in u, so its maximum over the box is at a vertex. The coordinates of the box are split:
//! a set E (the widest, up to a budget) is enumerated at its two ends in Gray-code order (one row of n
//! differences added or subtracted per step), every other coordinate i is written u_i = μ_i + ρ_i·θ, |θ| ≤ 1, and its part is bounded
//! per input coordinate: ‖W₁ᵀu‖₁ ≤ Σⱼ|Σ_{i∈E} W₁,ᵢⱼu_i + Σ_{i∉E} W₁,ᵢⱼμ_i| + Σ_{i∉E} ρ_i‖W₁,ᵢ‖₁. With E empty
//! this is the interval bound of the input gradient; with E all the nondegenerate coordinates it is the exact
//! maximum over the box. When more coordinates are wide than the budget, the next ones (as many as the budget)
//! are held at their centres in that walk and their offsets from the centres walked on their own: the two
//! maxima add up (B8 (c)), which pays less than bounding those coordinates per input coordinate. The rounding
//! of the floating-point sums is bounded a priori, as for B7.

use nalgebra::DMatrix;

use super::chain::{Chain, Step};
use super::float::{ETA, abs_sum_up, add_up, dn, gamma, mul_up, up};
use super::interval::{Interval, backward, mid_rad};

/// Gray-code steps between two fresh evaluations of the sums (the rounding slack grows as R², which at 256 is
/// about 10⁻¹¹ of the bound; a fresh evaluation costs m steps).
pub const RESET: usize = 256;

/// max over the 2^|E| vertices of Σⱼ|gⱼ| in floating point, g updated by one difference row per Gray-code step.
struct Enumerate<'a> {
    /// Products fl(l_i·W₁,ᵢⱼ) and fl(h_i·W₁,ᵢⱼ) of each enumerated coordinate.
    at_lo: &'a [Vec<f64>],
    at_hi: &'a [Vec<f64>],
    /// Their differences fl(fl(h_i·W₁,ᵢⱼ) − fl(l_i·W₁,ᵢⱼ)).
    diff: &'a [Vec<f64>],
    /// Products fl(μ_i·W₁,ᵢⱼ) of the other coordinates.
    fixed: &'a [Vec<f64>],
    n: usize,
}

impl Enumerate<'_> {
    #[inline(always)]
    fn fresh(&self, on: &[bool]) -> Vec<f64> {
        let mut g = vec![0.0; self.n];
        for row in self.fixed {
            g.iter_mut().zip(row).for_each(|(g, p)| *g += p);
        }
        for (k, &o) in on.iter().enumerate() {
            let row = if o { &self.at_hi[k] } else { &self.at_lo[k] };
            g.iter_mut().zip(row).for_each(|(g, p)| *g += p);
        }
        g
    }

    #[inline(always)]
    fn run(&self) -> f64 {
        gray_walk(self.at_lo.len(), |on| self.fresh(on), |k| &self.diff[k])
    }
}

/// The largest Σⱼ|gⱼ| over the 2^e vertices of a walk in Gray-code order: `fresh(on)` evaluates a vertex from
/// scratch (the first, and every [`RESET`] steps), `row(k)` is what switching coordinate k on adds (switching it
/// off subtracts it). An overflow (∞ − ∞ makes a NaN, which `max` would skip) gives +∞, never a vertex lost.
#[inline(always)]
pub(crate) fn gray_walk<'r>(
    e: usize,
    fresh: impl Fn(&[bool]) -> Vec<f64>,
    row: impl Fn(usize) -> &'r [f64],
) -> f64 {
    let mut on = vec![false; e];
    let mut g = fresh(&on);
    let mut best = abs_sum(&g);
    if best.is_nan() {
        return f64::INFINITY;
    }
    let mut since = 0;
    for step in 1u64..(1u64 << e) {
        let k = step.trailing_zeros() as usize;
        on[k] = !on[k];
        since += 1;
        let total = if since == RESET {
            since = 0;
            g = fresh(&on);
            abs_sum(&g)
        } else {
            toggle(&mut g, row(k), on[k])
        };
        if total.is_nan() {
            return f64::INFINITY;
        }
        best = best.max(total);
    }
    best
}

/// Σⱼ|gⱼ| in floating point (four partial sums; F5 holds for any order).
#[inline(always)]
fn abs_sum(g: &[f64]) -> f64 {
    let mut acc = [0.0f64; 4];
    let mut chunks = g.chunks_exact(4);
    for c in &mut chunks {
        for l in 0..4 {
            acc[l] += c[l].abs();
        }
    }
    let rest: f64 = chunks.remainder().iter().map(|v| v.abs()).sum();
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + rest
}

/// Lanes of the vectorised loops: sixteen partial sums (four AVX2 registers of four), so that the additions of
/// Σ|gⱼ| do not wait on each other.
const LANES: usize = 16;

/// g ← g + p (`add`) or g − p, one rounding per entry, returning the new Σ|gⱼ|.
#[inline(always)]
fn toggle(g: &mut [f64], p: &[f64], add: bool) -> f64 {
    if add { update(g, p, |a, b| a + b) } else { update(g, p, |a, b| a - b) }
}

/// gⱼ ← op(gⱼ, pⱼ), returning the new Σⱼ|gⱼ| (partial sums per lane; F5 holds for any order).
#[inline(always)]
fn update(g: &mut [f64], p: &[f64], op: impl Fn(f64, f64) -> f64) -> f64 {
    let mut acc = [0.0f64; LANES];
    let nl = g.len() / LANES * LANES;
    let (gh, gt) = g.split_at_mut(nl);
    for (c, q) in gh.chunks_exact_mut(LANES).zip(p.chunks_exact(LANES)) {
        // Fixed-size lanes, so that the compiler emits vector operations.
        let c: &mut [f64; LANES] = c.try_into().expect("a chunk of LANES");
        let q: &[f64; LANES] = q.try_into().expect("a chunk of LANES");
        let v: [f64; LANES] = std::array::from_fn(|l| op(c[l], q[l]));
        *c = v;
        acc = std::array::from_fn(|l| acc[l] + v[l].abs());
    }
    let mut rest = 0.0;
    for (j, v) in gt.iter_mut().enumerate() {
        *v = op(*v, p[nl + j]);
        rest += v.abs();
    }
    acc.iter().sum::<f64>() + rest
}

impl pulp::NullaryFnOnce for Enumerate<'_> {
    type Output = f64;
    #[inline(always)]
    fn call(self) -> f64 {
        self.run()
    }
}

/// A certified upper bound on ‖∇m(x)‖₁ over every pattern that agrees with the known slopes (`None` entries of
/// `slopes` undecided, one vector per activation step), for margin `c`, enumerating at most `max_enum`
/// coordinates of the box in each of at most two walks; `None` when the chain does not start with a dense step.
///
/// Theorem B8 (proofs/bab.md); checked by tests/bab_region.rs::box_bound_is_above_the_pattern_maximum.
pub fn box_bound(chain: &Chain, c: &[f64], slopes: &[Vec<Option<bool>>], max_enum: usize) -> Option<f64> {
    box_bound_with(chain, &backward(chain, c, slopes), max_enum)
}

/// [`box_bound`] from the backward boxes already computed (`grads` = `interval::backward(chain, c, slopes)`).
///
/// Theorem B8 (proofs/bab.md); checked by tests/bab_region.rs::box_bound_is_above_the_pattern_maximum.
pub fn box_bound_with(chain: &Chain, grads: &[Interval], max_enum: usize) -> Option<f64> {
    let Some(Step::Linear { w, .. }) = chain.steps.first() else { return None };
    let ub = &grads[1];
    if ub.lo.iter().chain(&ub.hi).any(|v| !v.is_finite()) {
        return None;
    }
    let m = w.nrows();
    let norms: Vec<f64> = (0..m).map(|i| abs_sum_up(w.row(i).iter())).collect();
    let order = widest(&ub.lo, &ub.hi, &norms);
    if order.len() <= max_enum {
        return Some(vertex_max(w, &norms, &ub.lo, &ub.hi, max_enum));
    }
    // Two blocks (B8 (c)): the next `max_enum` widest coordinates collapsed to their centres μ in the first walk,
    // and their offsets δ ∈ [−ρ, ρ] walked on their own: u = u′ + δ, ‖W₁ᵀu‖₁ ≤ ‖W₁ᵀu′‖₁ + ‖W₁ᵀδ‖₁.
    let (mut lo1, mut hi1) = (ub.lo.clone(), ub.hi.clone());
    let (mut lo2, mut hi2) = (vec![0.0; m], vec![0.0; m]);
    for &i in order.iter().skip(max_enum).take(max_enum) {
        let (mu, rho) = mid_rad(ub.lo[i], ub.hi[i]);
        if !(mu.is_finite() && rho.is_finite()) {
            // h − l overflowed: one block, whose per-coordinate bound is then +∞ (never a NaN).
            return Some(vertex_max(w, &norms, &ub.lo, &ub.hi, max_enum));
        }
        (lo1[i], hi1[i]) = (mu, mu);
        (lo2[i], hi2[i]) = (-rho, rho);
    }
    Some(add_up(vertex_max(w, &norms, &lo1, &hi1, max_enum), vertex_max(w, &norms, &lo2, &hi2, max_enum)))
}

/// The nondegenerate coordinates of the box [lo, hi], widest first (width times the row's ℓ1 norm).
fn widest(lo: &[f64], hi: &[f64], norms: &[f64]) -> Vec<usize> {
    let mut wide: Vec<usize> = (0..lo.len()).filter(|&i| lo[i] < hi[i]).collect();
    wide.sort_by(|&a, &b| ((hi[b] - lo[b]) * norms[b]).total_cmp(&((hi[a] - lo[a]) * norms[a])));
    wide
}

/// B8 (b) on the box [lo, hi]: a number ≥ max over the box of ‖Wᵀu‖₁, its `max_enum` widest coordinates
/// enumerated at their ends and the others bounded per input coordinate; `norms` the rows' ℓ1 norms rounded up.
fn vertex_max(w: &DMatrix<f64>, norms: &[f64], lo: &[f64], hi: &[f64], max_enum: usize) -> f64 {
    let (m, n) = (w.nrows(), w.ncols());
    let row = |i: usize| -> Vec<f64> { w.row(i).iter().copied().collect() };
    // The enumerated coordinates: the widest boxes (weighted by the row's norm), up to the budget.
    let mut wide = widest(lo, hi, norms);
    wide.truncate(max_enum.min(62));
    let mut in_e = vec![false; m];
    wide.iter().for_each(|&i| in_e[i] = true);
    let scale = |x: f64, r: &[f64]| -> Vec<f64> { r.iter().map(|v| x * v).collect() };
    let (mut at_lo, mut at_hi, mut fixed) = (Vec::new(), Vec::new(), Vec::new());
    let mut radius = 0.0f64;
    let mut mag = vec![0.0f64; m];
    for i in 0..m {
        let (l, h) = (lo[i], hi[i]);
        mag[i] = l.abs().max(h.abs());
        let r = row(i);
        if in_e[i] {
            at_lo.push(scale(l, &r));
            at_hi.push(scale(h, &r));
        } else {
            // [l, h] ⊆ [μ − ρ, μ + ρ].
            let (mu, rho) = mid_rad(l, h);
            mag[i] = mag[i].max(mu.abs());
            if mu != 0.0 {
                fixed.push(scale(mu, &r));
            }
            radius = add_up(radius, mul_up(rho, norms[i]));
        }
    }
    let diff: Vec<Vec<f64>> =
        at_lo.iter().zip(&at_hi).map(|(l, h)| l.iter().zip(h).map(|(l, h)| h - l).collect()).collect();
    let best = crate::wide::wide(Enumerate { at_lo: &at_lo, at_hi: &at_hi, diff: &diff, fixed: &fixed, n });
    // Rounding: each gⱼ is a float sum of at most m + RESET terms, the fresh products and the differences added
    // since, unit i contributing at most 2·RESET + 1 product magnitudes |W₁,ᵢⱼ|·mag_i, plus the rounding of one
    // difference per unit: |g̃ⱼ − gⱼ| ≤ (2R + 2)γ_{m+2R+3}Σᵢ|W₁,ᵢⱼ|mag_i (proofs/bab.md, B8 (b)).
    let gk = mul_up((2 * RESET + 2) as f64, gamma(m + 2 * RESET + 3));
    let slack = (0..m).fold(0.0f64, |s, i| add_up(s, mul_up(gk, mul_up(norms[i], mag[i]))));
    // The float sum Σ|g̃ⱼ| of n terms (F5: Σ ≤ (fl + nη)/(1 − γ_n)), plus the slack and the radius part.
    let best = up(up(best + mul_up(n as f64, ETA)) / dn(1.0 - gamma(n)));
    let total = add_up(add_up(best, slack), add_up(radius, 1e-300));
    // An overflow (an infinite box end times a zero weight makes a NaN) bounds nothing: +∞, never a NaN.
    if total.is_finite() { total } else { f64::INFINITY }
}

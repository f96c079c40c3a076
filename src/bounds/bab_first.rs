//! A node bound that enumerates the first activation's slopes exactly and relaxes the later layers per input
//! coordinate (theorem B9, `proofs/bab.md`).
//!
//! Let the chain start y = W₁x + b₁, diagonal steps (factors σ), the first activation (slopes D₁), then a dense
//! step W₂. With q = ∂m/∂(W₂h₁) the gradient is ∇ₓm = W₁ᵀ(σ ⊙ D₁ ⊙ W₂ᵀq), and backward interval propagation
//! with the node's known slopes gives a box q ∈ μ ± ρ. For a fixed D₁, ∇ₓm = Σⱼ qⱼHⱼ(D₁) with
//! Hⱼ(D₁) = W₁ᵀ(σ ⊙ D₁ ⊙ W₂,ⱼ) linear in q, so |∂ₖm| ≤ |Σⱼ μⱼHⱼₖ| + Σⱼ ρⱼ|Hⱼₖ| (the exact maximum of |·| of a
//! linear function over the box). The first-layer slopes are enumerated (Gray code over the undecided units
//! E, up to a budget; the others are relaxed to their box of u = ∂m/∂y as in B8), each wide q-coordinate of a
//! set J keeps its own row Hⱼ, and the other q-coordinates are bounded by Σᵢ|σᵢW₂,ⱼᵢ|‖W₁,ᵢ‖₁. Where every later
//! slope is known, q is a point and the bound is the exact maximum over D₁; the box bound of B8 couples the
//! input coordinates through one u instead and is tighter where the later slopes are free, so a node takes the
//! smaller of the two. The rounding of the floating-point sums is bounded a priori, as for B7 and B8.

use nalgebra::DMatrix;

use super::bab_box::{RESET, gray_walk};
use super::chain::{Chain, Step};
use super::float::{ETA, abs_sum_up, add_up, dn, gamma, mul_up, up};
use super::interval::{Interval, mid_rad};

/// max over the 2^|E| slope assignments of Σ over the rows of Σₖ|gᵣₖ|, the rows updated by one product block per
/// Gray-code step.
struct Walk<'a> {
    /// Per enumerated unit, its product rows (`rows` blocks of n, block r at r·n).
    prods: &'a [Vec<f64>],
    /// The terms present at every assignment (known slope-1 units, relaxed units' centres), as a list of blocks.
    base: &'a [Vec<f64>],
    len: usize,
}

impl Walk<'_> {
    #[inline(always)]
    fn fresh(&self, on: &[bool]) -> Vec<f64> {
        let mut g = vec![0.0; self.len];
        for row in self.base.iter().chain(on.iter().zip(self.prods).filter(|(o, _)| **o).map(|(_, p)| p)) {
            g.iter_mut().zip(row).for_each(|(g, p)| *g += p);
        }
        g
    }

    #[inline(always)]
    fn run(&self) -> f64 {
        gray_walk(self.prods.len(), |on| self.fresh(on), |k| &self.prods[k])
    }
}

impl pulp::NullaryFnOnce for Walk<'_> {
    type Output = f64;
    #[inline(always)]
    fn call(self) -> f64 {
        self.run()
    }
}

/// W₁, the first layer's diagonal factors, W₂ and W₂'s step index.
type Shape<'a> = (&'a DMatrix<f64>, Vec<&'a [f64]>, &'a DMatrix<f64>, usize);

/// The chain's [`Shape`] when it starts `Linear`, `Diag`*, an activation, `Linear`.
fn shape(chain: &Chain) -> Option<Shape<'_>> {
    let Some(Step::Linear { w: w1, .. }) = chain.steps.first() else { return None };
    let mut diags = Vec::new();
    let mut k = 1;
    while let Some(Step::Diag { s, .. }) = chain.steps.get(k) {
        diags.push(s.as_slice());
        k += 1;
    }
    let (Some(Step::Act(_)), Some(Step::Linear { w: w2, .. })) = (chain.steps.get(k), chain.steps.get(k + 1))
    else {
        return None;
    };
    Some((w1, diags, w2, k + 1))
}

/// A certified upper bound on ‖∇m(x)‖₁ over every pattern that agrees with the known slopes, from the backward
/// boxes `grads` = `interval::backward(chain, c, slopes)` and the first activation's known slopes `first`
/// (`slopes[0]`): at most `max_first` undecided first-layer units enumerated, at most `max_later` wide
/// coordinates of q kept as rows. `None` when the chain does not start as [`shape`] needs or a box is infinite.
///
/// Theorem B9 (proofs/bab.md); checked by tests/bab_region.rs::first_slopes_bound_is_above_the_pattern_maximum.
pub fn first_slopes_bound(
    chain: &Chain,
    grads: &[Interval],
    first: &[Option<bool>],
    max_first: usize,
    max_later: usize,
) -> Option<f64> {
    let (w1, diags, w2, k2) = shape(chain)?;
    let (ub, qb) = (&grads[1], &grads[k2 + 1]);
    if ub.lo.iter().chain(&ub.hi).chain(&qb.lo).chain(&qb.hi).any(|v| !v.is_finite()) {
        return None;
    }
    let (m, n, m2) = (w1.nrows(), w1.ncols(), w2.nrows());
    let p = diags.len();
    // σ̃ (p − 1 roundings) and an upper bound on |σ|.
    let sigma: Vec<f64> = (0..m).map(|i| diags.iter().fold(1.0, |a, s| a * s[i])).collect();
    let sabs: Vec<f64> = (0..m).map(|i| diags.iter().fold(1.0, |a, s| mul_up(a, s[i].abs()))).collect();
    // Pᵢ ≥ Π max(1, |sᵢ⁽ᵗ⁾|): the most a product that underflowed inside σ̃ᵢ can be scaled by later factors.
    let grow: Vec<f64> =
        (0..m).map(|i| diags.iter().fold(1.0, |a, s| mul_up(a, s[i].abs().max(1.0)))).collect();
    let norms: Vec<f64> = (0..m).map(|i| abs_sum_up(w1.row(i).iter())).collect();
    // The first-layer units: enumerated (E), always on (K1), relaxed to their u-box (N); slope-0 units drop out.
    let width = |i: usize| (ub.hi[i] - ub.lo[i]) * norms[i];
    let mut und: Vec<usize> = (0..m).filter(|&i| first[i].is_none()).collect();
    und.sort_by(|&a, &b| width(b).total_cmp(&width(a)));
    let relaxed = und.split_off(max_first.min(und.len()).min(24));
    let (enumerated, on): (Vec<usize>, Vec<usize>) =
        (und, (0..m).filter(|&i| first[i] == Some(true)).collect());
    let exact_units: Vec<usize> = enumerated.iter().chain(&on).copied().collect();
    // q = μ ± ρ; the crude bound of coordinate j: ρⱼ Σ_{i ∈ E ∪ K1} |σᵢ||W₂,ⱼᵢ|‖W₁,ᵢ‖₁.
    let (mu, rho) = qb.mid_rad();
    let crude: Vec<f64> = (0..m2)
        .map(|j| {
            let mass = exact_units
                .iter()
                .fold(0.0f64, |s, &i| add_up(s, mul_up(mul_up(sabs[i], w2[(j, i)].abs()), norms[i])));
            mul_up(rho[j], mass)
        })
        .collect();
    // A NaN crude bound (an overflow) keeps its coordinate as a row, where it makes the result +∞.
    let mut wide: Vec<usize> = (0..m2).filter(|&j| crude[j] > 0.0 || crude[j].is_nan()).collect();
    wide.sort_by(|&a, &b| crude[b].total_cmp(&crude[a]));
    let rest = wide.split_off(max_later.min(wide.len()));
    let rows = 1 + wide.len();
    // Coefficients of each exact unit per row (row 0: aᵢ = σᵢ(W₂ᵀμ)ᵢ; row r: ρⱼσᵢW₂,ⱼᵢ for the r-th j of J) and
    // an upper bound on each one's error.
    let gp = gamma(m2 + p + 1);
    let gb = gamma(p + 2);
    let mut coef_err = 0.0f64;
    let mut gray_mass = 0.0f64;
    let block = |coefs: &[f64], i: usize| -> Vec<f64> {
        let mut v = Vec::with_capacity(rows * n);
        for &a in coefs {
            v.extend(w1.row(i).iter().map(|w| a * w));
        }
        v
    };
    let mut prods = Vec::with_capacity(enumerated.len());
    let mut base = Vec::new();
    for (t, &i) in exact_units.iter().enumerate() {
        let dot = (0..m2).fold(0.0, |s, j| s + w2[(j, i)] * mu[j]);
        let tabs = (0..m2).fold(0.0f64, |s, j| add_up(s, mul_up(w2[(j, i)].abs(), mu[j].abs())));
        let mut coefs = vec![sigma[i] * dot];
        // Relative rounding, then the products that may underflow (η each, scaled by the factors after them).
        let mut err = mul_up(gp, mul_up(sabs[i], tabs));
        let under = mul_up(mul_up(4.0 * grow[i], (m2 + p) as f64), add_up(1.0, tabs));
        err = add_up(err, mul_up(ETA, add_up(under, 1.0)));
        for &j in &wide {
            coefs.push(rho[j] * (sigma[i] * w2[(j, i)]));
            err = add_up(err, mul_up(gb, mul_up(rho[j], mul_up(sabs[i], w2[(j, i)].abs()))));
            let under =
                mul_up(2.0 * rho[j], add_up(1.0, mul_up(2.0 * p as f64, mul_up(grow[i], w2[(j, i)].abs()))));
            err = add_up(err, mul_up(ETA, add_up(under, 1.0)));
        }
        coef_err = add_up(coef_err, mul_up(norms[i], err));
        let mag = coefs.iter().fold(0.0f64, |s, a| add_up(s, a.abs()));
        gray_mass = add_up(gray_mass, mul_up(norms[i], mag));
        if t < enumerated.len() {
            prods.push(block(&coefs, i));
        } else {
            base.push(block(&coefs, i));
        }
    }
    // Relaxed units: u ∈ μ' ± ρ', the centre in row 0 at every assignment, the radius per input coordinate.
    let mut radius = 0.0f64;
    for &i in &relaxed {
        let (c, r) = mid_rad(ub.lo[i], ub.hi[i]);
        radius = add_up(radius, mul_up(r, norms[i]));
        gray_mass = add_up(gray_mass, mul_up(norms[i], c.abs()));
        if c != 0.0 {
            let mut v = vec![0.0; rows * n];
            v[..n].iter_mut().zip(w1.row(i).iter()).for_each(|(v, w)| *v = c * w);
            base.push(v);
        }
    }
    let outside = rest.iter().fold(0.0f64, |s, &j| add_up(s, crude[j]));
    let best = crate::wide::wide(Walk { prods: &prods, base: &base, len: rows * n });
    // Rounding of the walk: each entry is a float sum of at most m + RESET − 1 products, each unit contributing
    // at most RESET of them: |g̃ − g| ≤ (R(1 + u)γ_{m+R−1} + u)Σᵢ|W₁,ᵢₖ||coefᵢ| ≤ γ_{m+R+1}(R + 1)Σᵢ|W₁,ᵢₖ||coefᵢ|
    // per entry, summed over the entries.
    let slack = mul_up(mul_up((RESET + 1) as f64, gamma(m + RESET + 1)), gray_mass);
    // The float sum of rows·n absolute values (F5), then the coefficient errors, the relaxed radii and the
    // q-coordinates outside J.
    let count = rows * n;
    let best = up(up(best + mul_up(count as f64, ETA)) / dn(1.0 - gamma(count)));
    let extra = add_up(add_up(slack, coef_err), add_up(radius, outside));
    let total = add_up(add_up(best, extra), 1e-300);
    // An overflow anywhere (an infinite or NaN sum) bounds nothing: +∞, never a NaN a caller's max could skip.
    Some(if total.is_finite() { total } else { f64::INFINITY })
}

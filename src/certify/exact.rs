//! The exact minimal adversarial perturbation of a tiny deployed net, bracketed (theorem V5,
//! `proofs/certify.md`).
//!
//! When the input reaches the output only through the first sign and the prefix is affine, z(y) = z(x) +
//! σ ⊙ (W(y − x)) with W the first linear layer's rows and σ the product of the affine scales after it. The
//! deployed function is constant on each sign-pattern region R_s = {y : sign(z(y)) = s}, where it equals g(s), the
//! rest of the net fed with s. Patterns whose enclosure of g(s) does not prove t are the adversarial ones; R_s lies
//! in the closed polyhedron P_s = {y : s_u·z_u(y) ≥ 0 (s_u = ±1), z_u(y) = 0 (s_u = 0)} (∩ the domain), so
//! r* = inf{‖y − x‖ : y misclassified} ≥ min over adversarial s of dist(x, P_s). Each distance is bounded below
//! by weak duality ([`super::region`]); the minimum of those lower bounds is the certified radius. The upper
//! value is the distance of an actual input, the solver's minimiser pushed inside the strict rows and confirmed
//! misclassified by the exact enclosure. Patterns are visited in increasing order of their best single-row
//! bound and the search stops once that bound reaches the best upper value (every remaining pattern's distance
//! is at least its single-row bound, which then enters the minimum).

use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

use super::prefix::{affine_prefix, locate};
use super::region::{Polyhedron, region_distance};
use super::{Applicable, Coverage, NotApplicable, check_batch, check_domain};
use crate::error::{Error, Result};
use crate::float::{dn, up};
use crate::ir::{BoxBatch, Function, InputNorm, Net, SignZero, Verdict, verdict};

/// The largest number of first-sign units enumerated: 2^12 = 4096 patterns (3^12 when sign(0) = 0).
pub const EXACT_MAX_UNITS: usize = 12;

/// Whatever `max_units` says, at most this many patterns are enumerated (their logit enclosures are kept).
const MAX_PATTERNS: usize = 1 << 22;

/// Options of [`exact_minimal_perturbation`].
#[derive(Clone, Debug, PartialEq)]
pub struct ExactOptions {
    /// Nets with more first-sign units are declined.
    pub max_units: usize,
    /// Per-coordinate bounds every input satisfies; with them the result is about domain inputs only.
    pub domain: Option<(Vec<f64>, Vec<f64>)>,
    /// How far (in the input norm) the upper-side point keeps from the region's strict boundaries.
    pub interior: f64,
}

impl Default for ExactOptions {
    fn default() -> Self {
        ExactOptions { max_units: EXACT_MAX_UNITS, domain: None, interior: 1e-7 }
    }
}

/// The bracket of one sample's minimal adversarial perturbation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExactRadius {
    /// The certified radius: no input closer than this is misclassified (+∞ when no pattern can change the
    /// class).
    pub lower: f64,
    /// The distance of `witness` (+∞ when no pattern can change the class; none when no point was confirmed).
    pub upper: Option<f64>,
    /// A misclassified input at distance `upper` (the sample itself when it is misclassified).
    pub witness: Option<Vec<f64>>,
    /// Number of adversarial patterns for the label.
    pub patterns: usize,
    /// Number of polyhedra solved.
    pub solved: usize,
    /// Which inputs the bracket is about.
    pub coverage: Coverage,
}

/// Logit enclosures of the rest of the net for every sign pattern (columns in pattern order).
fn pattern_logits(net: &Net, at: usize, shape: &[usize], values: &[f64]) -> Result<(usize, BoxBatch)> {
    let units: usize = shape.iter().product();
    let count = values.len().pow(units as u32);
    let (mut lo, mut hi) = (DMatrix::zeros(net.classes, count), DMatrix::zeros(net.classes, count));
    for start in (0..count).step_by(4096) {
        let end = (start + 4096).min(count);
        let s = DMatrix::from_fn(units, end - start, |u, c| values[digit(start + c, u, values.len())]);
        let b = net.enclose_layers(
            at + 1..net.layers.len(),
            BoxBatch::points(s, shape.to_vec()),
            Function::Deployed,
        )?;
        lo.columns_mut(start, end - start).copy_from(&b.lo);
        hi.columns_mut(start, end - start).copy_from(&b.hi);
    }
    Ok((count, BoxBatch { lo, hi, shape: vec![net.classes] }))
}

/// Digit u of pattern index p in base b.
fn digit(p: usize, u: usize, b: usize) -> usize {
    (p / b.pow(u as u32)) % b
}

/// The exact minimal perturbation bracket of every sample (columns of `x`, labels `labels`) in `norm`.
///
/// Declines nets without an affine prefix before a top-level first sign, or with more than `max_units` units
/// in that sign layer (or more than 2²² patterns).
///
/// Theorem V5 (proofs/certify.md); checked by tests/certify.rs::exact_radius_brackets_every_certificate.
pub fn exact_minimal_perturbation(
    net: &Net,
    x: &DMatrix<f64>,
    labels: &[usize],
    norm: InputNorm,
    opts: &ExactOptions,
) -> Result<Applicable<Vec<ExactRadius>>> {
    check_batch(net, x, labels)?;
    check_domain(opts.domain.as_ref(), x)?;
    if !(opts.interior.is_finite() && opts.interior >= 0.0) {
        return Err(Error::config("exact interior", "must be finite and ≥ 0"));
    }
    let method = "exact minimal perturbation";
    let first = match locate(net, method)? {
        Ok(f) => f,
        Err(na) => return Ok(Err(na)),
    };
    if !first.affine_prefix {
        let reason = "the first sign's input is not affine in the input (only flatten, one dense or convolution \
                      layer and per-channel affine maps may come before it)";
        return Ok(Err(NotApplicable { method, reason: reason.into() }));
    }
    let values: &[f64] = match net.sign_zero {
        SignZero::PlusOne => &[-1.0, 1.0],
        SignZero::Zero => &[-1.0, 0.0, 1.0],
    };
    let count = u32::try_from(first.units()).ok().and_then(|u| values.len().checked_pow(u));
    if first.units() > opts.max_units || count.is_none_or(|c| c > MAX_PATTERNS) {
        let reason = format!(
            "{} units in the first sign layer, above the limit of {} (and of {MAX_PATTERNS} patterns)",
            first.units(),
            opts.max_units
        );
        return Ok(Err(NotApplicable { method, reason }));
    }
    let (count, logits) = pattern_logits(net, first.at, &first.shape, values)?;
    let prefix = affine_prefix(net, &first)?;
    let f = Function::Deployed;
    let z = net.enclose_layers(0..first.at, BoxBatch::points(x.clone(), net.input_shape.clone()), f)?;
    let point = net.enclose_layers(first.at..net.layers.len(), z.clone(), f)?;
    let sample = Sample { net, norm, opts, values, prefix: &prefix };
    let mut out = Vec::with_capacity(x.ncols());
    for (k, &t) in labels.iter().enumerate() {
        let xk: Vec<f64> = x.column(k).iter().copied().collect();
        let zk: Vec<(f64, f64)> = (0..first.units()).map(|u| (z.lo[(u, k)], z.hi[(u, k)])).collect();
        let adversarial: Vec<usize> =
            (0..count).filter(|&p| verdict(&logits, p, t) != Verdict::Keeps).collect();
        let r = match verdict(&point, k, t) {
            Verdict::Keeps => sample.bracket(&xk, &zk, t, &adversarial)?,
            v => ExactRadius {
                lower: 0.0,
                upper: (v == Verdict::Loses).then_some(0.0),
                witness: (v == Verdict::Loses).then(|| xk.clone()),
                patterns: adversarial.len(),
                solved: 0,
                coverage: sample.coverage(),
            },
        };
        out.push(r);
    }
    Ok(Ok(out))
}

/// What every sample's bracket needs.
struct Sample<'a> {
    net: &'a Net,
    norm: InputNorm,
    opts: &'a ExactOptions,
    values: &'a [f64],
    prefix: &'a super::prefix::AffinePrefix,
}

impl Sample<'_> {
    fn coverage(&self) -> Coverage {
        if self.opts.domain.is_some() { Coverage::Domain } else { Coverage::Network }
    }

    /// ρ_u = z_u(x)/σ_u enclosed, and e_u = sign(σ_u); `None` when σ_u may be 0 (the unit then adds no row,
    /// which only enlarges the polyhedra).
    fn offsets(&self, z: &[(f64, f64)]) -> Vec<Option<(f64, f64, f64)>> {
        z.iter()
            .zip(&self.prefix.sigma)
            .map(|(&(zl, zh), &(sl, sh))| {
                if sl <= 0.0 && sh >= 0.0 {
                    return None;
                }
                let q = [zl / sl, zl / sh, zh / sl, zh / sh];
                let lo = dn(q.iter().copied().fold(f64::INFINITY, f64::min));
                let hi = up(q.iter().copied().fold(f64::NEG_INFINITY, f64::max));
                Some((lo, hi, if sl > 0.0 { 1.0 } else { -1.0 }))
            })
            .collect()
    }

    /// The polyhedron of pattern p: rows c·w_u·δ ≥ −c·ρ_u with c = s_u·e_u (both signs for s_u = 0), then the
    /// domain rows ±δ_i ≥ (D_lo − x)_i, (x − D_hi)_i.
    fn polyhedron(&self, p: usize, x: &[f64], rho: &[Option<(f64, f64, f64)>]) -> Polyhedron {
        let n = x.len();
        let mut rows: Vec<(Vec<f64>, f64, f64, bool)> = Vec::new();
        for (u, r) in rho.iter().enumerate() {
            let Some((lo, hi, e)) = *r else { continue };
            let s = self.values[digit(p, u, self.values.len())];
            let signs: &[f64] = if s == 0.0 {
                &[1.0, -1.0]
            } else if s > 0.0 {
                &[1.0]
            } else {
                &[-1.0]
            };
            for &c in signs {
                let c = c * e;
                let g: Vec<f64> = self.prefix.w.row(u).iter().map(|w| c * w).collect();
                let (bl, bh) = if c > 0.0 { (-hi, -lo) } else { (lo, hi) };
                rows.push((g, bl, bh, s != 0.0));
            }
        }
        if let Some((dl, dh)) = &self.opts.domain {
            for i in 0..n {
                let mut g = vec![0.0; n];
                g[i] = 1.0;
                rows.push((g.clone(), dn(dl[i] - x[i]), up(dl[i] - x[i]), false));
                g[i] = -1.0;
                rows.push((g, dn(x[i] - dh[i]), up(x[i] - dh[i]), false));
            }
        }
        Polyhedron {
            g: DMatrix::from_fn(rows.len(), n, |r, i| rows[r].0[i]),
            beta_lo: rows.iter().map(|r| r.1).collect(),
            beta_hi: rows.iter().map(|r| r.2).collect(),
            strict: rows.iter().map(|r| r.3).collect(),
        }
    }

    /// The single-row bound of every pattern: max over its unit rows of β̲/‖w_u‖_q (the domain rows contain x,
    /// so their β̲ ≤ 0 adds nothing); `unit[u][i]` is unit u's bound for s_u = −1 (i = 0) and +1 (i = 1).
    fn row_bounds(&self, rho: &[Option<(f64, f64, f64)>], patterns: &[usize]) -> Vec<f64> {
        let unit: Vec<[f64; 2]> = rho
            .iter()
            .enumerate()
            .map(|(u, r)| {
                let Some((lo, hi, e)) = *r else { return [0.0; 2] };
                let norm = self.norm.dual_norm_up(self.prefix.w.row(u).iter());
                [-1.0, 1.0].map(|s: f64| {
                    let beta = if s * e > 0.0 { -hi } else { lo };
                    match beta {
                        b if b.is_nan() || b <= 0.0 => 0.0,
                        _ if norm == 0.0 => f64::INFINITY,
                        b => dn(b / norm).max(0.0),
                    }
                })
            })
            .collect();
        patterns
            .iter()
            .map(|&p| {
                (0..rho.len())
                    .map(|u| match self.values[digit(p, u, self.values.len())] {
                        s if s < 0.0 => unit[u][0],
                        s if s > 0.0 => unit[u][1],
                        _ => unit[u][0].max(unit[u][1]),
                    })
                    .fold(0.0, f64::max)
            })
            .collect()
    }

    /// The bracket of one sample whose prediction t is proven at the point.
    fn bracket(&self, x: &[f64], z: &[(f64, f64)], t: usize, adversarial: &[usize]) -> Result<ExactRadius> {
        let rho = self.offsets(z);
        let mut queue: Vec<(f64, usize)> =
            self.row_bounds(&rho, adversarial).into_iter().zip(adversarial.iter().copied()).collect();
        queue.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (mut lower, mut upper, mut witness, mut solved) = (f64::INFINITY, f64::INFINITY, None, 0);
        for &(rows, p) in &queue {
            if rows >= upper {
                lower = lower.min(rows);
                break;
            }
            let d = region_distance(&self.polyhedron(p, x, &rho), self.norm, self.opts.interior);
            solved += 1;
            lower = lower.min(d.lower);
            let Some(delta) = d.point.filter(|_| d.lower < upper) else { continue };
            let mut y: Vec<f64> = x.iter().zip(&delta).map(|(a, b)| a + b).collect();
            if let Some((dl, dh)) = &self.opts.domain {
                y.iter_mut().enumerate().for_each(|(i, v)| *v = v.clamp(dl[i], dh[i]));
            }
            let cols = DMatrix::from_column_slice(y.len(), 1, &y);
            if verdict(&self.net.enclose_points(&cols, Function::Deployed)?, 0, t) == Verdict::Loses {
                let dist = self.norm.dist_up(&y, x);
                if dist < upper {
                    upper = dist;
                    witness = Some(y);
                }
            }
        }
        let none_adversarial = adversarial.is_empty();
        Ok(ExactRadius {
            lower,
            upper: if none_adversarial || upper.is_finite() { Some(upper) } else { None },
            witness,
            patterns: adversarial.len(),
            solved,
            coverage: self.coverage(),
        })
    }
}

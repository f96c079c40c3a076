//! Margin radii of the surrogate and latent functions (theorem V2, `proofs/certify.md`).
//!
//! r(x) = min over j ≠ t of m_tj(x)/L_tj, with m_tj = logit_t − logit_j bounded below by the point enclosure
//! (theorem V1) and L_tj the smallest certified, network-scope constant of |m_tj(x) − m_tj(y)| ≤ L_tj‖x − y‖
//! among the given bounds of the function: for ℓ2 inputs the `l2-margin` entries (per pair, or the entry's value
//! for every pair when it lists none) and √2 times the `l2` logit-map entries (Tsuzuku et al. 2018; √2 and the
//! product rounded up); for ℓ∞ inputs the `linf-margin` entries. `lower` and `estimate` bounds and `local-box`
//! entries never enter; `domain` entries enter only the domain table (theorem V8), whose radii cover the inputs of
//! the ball that lie in the domain. The quotient is rounded down; L_tj = L_jt because m_jt = −m_tj.

use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

use super::{check_batch, check_inputs};
use crate::bounds::Soundness;
use crate::bounds::{Bound, Method, Norm, Scope};
use crate::error::{Error, Result};
use crate::float::{dn, mul_up};
use crate::ir::{BoxBatch, Function, InputNorm, Net, Verdict, pair_margin_lower, verdict};

/// The per-pair constants of a bound as (t, j, L_tj), or `None` when the bound lists no pairs (its value, the
/// maximum over pairs, then holds for every pair).
fn pair_constants(b: &Bound) -> Option<Vec<(usize, usize, f64)>> {
    (!b.pairs.is_empty()).then(|| b.pairs.iter().map(|p| (p.t, p.j, p.value)).collect())
}

/// The tightest certified network-scope constant of every class pair, with the method that gave it.
#[derive(Clone, Debug, PartialEq)]
pub struct PairTable {
    classes: usize,
    function: Function,
    norm: InputNorm,
    /// Row-major `classes × classes`, symmetric.
    entries: Vec<Option<(f64, Method)>>,
}

impl PairTable {
    /// Collects the constants for `function` and input norm `norm` from `bounds` (see the module doc for which
    /// entries count). A certified entry with a NaN or negative value, or a pair outside the classes, is an error.
    ///
    /// Theorem V2 (proofs/certify.md); checked by tests/certify.rs::margin_radii_use_only_certified_network_constants.
    pub fn from_bounds(
        bounds: &[Bound],
        function: Function,
        norm: InputNorm,
        classes: usize,
    ) -> Result<Self> {
        Self::collect(bounds, function, norm, classes, &[Scope::Network])
    }

    /// The same with the `domain`-scope constants as well (the smaller of the two per pair): the table of
    /// theorem V8, whose radii speak about inputs in the domain only.
    ///
    /// Theorem V8 (proofs/certify.md); checked by tests/certify.rs::domain_margin_radii_hold_inside_the_domain.
    pub fn from_bounds_on_domain(
        bounds: &[Bound],
        function: Function,
        norm: InputNorm,
        classes: usize,
    ) -> Result<Self> {
        Self::collect(bounds, function, norm, classes, &[Scope::Network, Scope::Domain])
    }

    /// Whether `bounds` hold a certified domain-scope constant that [`PairTable::from_bounds_on_domain`] would
    /// read for `function` and `norm`.
    pub fn has_domain_constants(bounds: &[Bound], function: Function, norm: InputNorm) -> bool {
        bounds.iter().any(|b| {
            b.function == function
                && b.soundness == Soundness::Certified
                && b.scope == Scope::Domain
                && matches!(
                    (norm, b.norm),
                    (InputNorm::L2, Norm::L2Margin | Norm::L2) | (InputNorm::Linf, Norm::LinfMargin)
                )
        })
    }

    fn collect(
        bounds: &[Bound],
        function: Function,
        norm: InputNorm,
        classes: usize,
        scopes: &[Scope],
    ) -> Result<Self> {
        let mut table = PairTable { classes, function, norm, entries: vec![None; classes * classes] };
        for b in bounds {
            if b.function != function || b.soundness != Soundness::Certified || !scopes.contains(&b.scope) {
                continue;
            }
            let factor = match (norm, b.norm) {
                (InputNorm::L2, Norm::L2Margin) | (InputNorm::Linf, Norm::LinfMargin) => None,
                // |m_tj(x) − m_tj(y)| ≤ ‖e_t − e_j‖₂‖f(x) − f(y)‖₂ = √2‖f(x) − f(y)‖₂.
                (InputNorm::L2, Norm::L2) => Some(std::f64::consts::SQRT_2.next_up()),
                _ => continue,
            };
            let check = |v: f64| {
                if v.is_nan() || v < 0.0 {
                    Err(Error::config(
                        "bound value",
                        format!("{} entry: certified constant {v}", b.method.name()),
                    ))
                } else {
                    Ok(v)
                }
            };
            match (factor, pair_constants(b)) {
                (Some(c), _) => table.offer_all(mul_up(c, check(b.value)?), b.method),
                // Only the spectral product states a margin value for every pair without listing them (a net
                // without a dense head: ‖e_t − e_j‖_q times the logit map's constant); a per-pair method that
                // lists no pair bounds none.
                (None, None) if b.method == Method::SpectralProduct => {
                    table.offer_all(check(b.value)?, b.method)
                }
                (None, None) => {}
                (None, Some(pairs)) => {
                    for (t, j, v) in pairs {
                        if t >= classes || j >= classes || t == j {
                            return Err(Error::config(
                                "bound pairs",
                                format!("{} entry: pair ({t}, {j}) for {classes} classes", b.method.name()),
                            ));
                        }
                        table.offer(t, j, check(v)?, b.method);
                    }
                }
            }
        }
        Ok(table)
    }

    fn offer(&mut self, t: usize, j: usize, v: f64, method: Method) {
        for (a, b) in [(t, j), (j, t)] {
            let e = &mut self.entries[a * self.classes + b];
            if e.is_none_or(|(old, _)| v < old) {
                *e = Some((v, method));
            }
        }
    }

    fn offer_all(&mut self, v: f64, method: Method) {
        for t in 0..self.classes {
            for j in t + 1..self.classes {
                self.offer(t, j, v, method);
            }
        }
    }

    /// The constant of pair (t, j) and its method, if any bound gave one.
    pub fn constant(&self, t: usize, j: usize) -> Option<(f64, Method)> {
        (t < self.classes && j < self.classes).then(|| self.entries[t * self.classes + j]).flatten()
    }

    /// Whether every class pair has a constant.
    pub fn covers_every_pair(&self) -> bool {
        (0..self.classes).all(|t| (t + 1..self.classes).all(|j| self.constant(t, j).is_some()))
    }

    /// The input norm of the constants.
    pub fn norm(&self) -> InputNorm {
        self.norm
    }
}

/// The pair that binds a margin radius.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Binding {
    /// The competing class j.
    pub class: usize,
    /// The method of the constant L_tj (none: no bound gave one, and the radius is 0).
    pub method: Option<Method>,
    /// L_tj (+∞ when no bound gave one).
    pub constant: f64,
}

/// The margin radius of one sample.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct MarginRadius {
    /// The certified radius (0 when the prediction is not proven; +∞ when every constant is 0).
    pub radius: f64,
    /// The binding pair (none when the prediction is not proven).
    pub binding: Option<Binding>,
}

/// The point enclosure (theorem V1) of one function's logits at a batch: computed once, it serves the pair
/// tables of both norms.
#[derive(Clone, Debug, PartialEq)]
pub struct PointLogits {
    function: Function,
    logits: BoxBatch,
}

impl PointLogits {
    /// Encloses the logits of `function` (surrogate or latent) at the columns of `x`.
    ///
    /// Theorem V1 (proofs/certify.md); checked by tests/certify.rs::margin_radii_are_sound_by_sampling.
    pub fn new(net: &Net, function: Function, x: &DMatrix<f64>) -> Result<Self> {
        check_inputs(net, x)?;
        if function == Function::Deployed {
            return Err(Error::config(
                "function",
                "the deployed (sign) network has no Lipschitz constant: use sign stability or bound propagation",
            ));
        }
        Ok(PointLogits { function, logits: net.enclose_points(x, function)? })
    }

    /// The enclosure itself.
    pub fn logits(&self) -> &BoxBatch {
        &self.logits
    }
}

/// The margin radius of every sample (columns of `x`, labels `labels`) for `function` with the constants of
/// `table`; the certificates cover all of ℝⁿ.
///
/// Theorem V2 (proofs/certify.md); checked by tests/certify.rs::margin_radii_are_sound_by_sampling.
pub fn margin_radii(
    net: &Net,
    function: Function,
    table: &PairTable,
    x: &DMatrix<f64>,
    labels: &[usize],
) -> Result<Vec<MarginRadius>> {
    check_batch(net, x, labels)?;
    margin_radii_at(&PointLogits::new(net, function, x)?, table, labels)
}

/// [`margin_radii`] from a point enclosure computed once (e.g. for the ℓ2 and the ℓ∞ table of one function).
///
/// Theorem V2 (proofs/certify.md); checked by tests/certify.rs::margin_radii_are_sound_by_sampling.
pub fn margin_radii_at(
    points: &PointLogits,
    table: &PairTable,
    labels: &[usize],
) -> Result<Vec<MarginRadius>> {
    let logits = &points.logits;
    let classes = logits.lo.nrows();
    if table.function != points.function || table.classes != classes {
        return Err(Error::config(
            "pair table",
            format!(
                "built for {} with {} classes, used for {} with {classes}",
                table.function.name(),
                table.classes,
                points.function.name()
            ),
        ));
    }
    if labels.len() != logits.samples() || labels.iter().any(|&t| t >= classes) {
        return Err(Error::config(
            "certify labels",
            format!("need {} labels below {classes}", logits.samples()),
        ));
    }
    Ok(labels
        .iter()
        .enumerate()
        .map(|(k, &t)| {
            if verdict(logits, k, t) != Verdict::Keeps {
                return MarginRadius { radius: 0.0, binding: None };
            }
            let mut best = MarginRadius { radius: f64::INFINITY, binding: None };
            for j in (0..classes).filter(|&j| j != t) {
                let m = pair_margin_lower(logits, k, t, j).max(0.0);
                let (r, method, constant) = match table.constant(t, j) {
                    None => (0.0, None, f64::INFINITY),
                    Some((l, method)) if l == 0.0 => (f64::INFINITY, Some(method), l),
                    Some((l, method)) => (dn(m / l).max(0.0), Some(method), l),
                };
                if best.binding.is_none() || r < best.radius {
                    best = MarginRadius { radius: r, binding: Some(Binding { class: j, method, constant }) };
                }
            }
            best
        })
        .collect())
}

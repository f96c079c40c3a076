//! Local LP radii of the surrogate and latent functions, ℓ∞ inputs, small nets (theorem V6,
//! `proofs/certify.md`).
//!
//! For a trial ε, the LipLP relaxation over the box B_ε = [x − ε, x + ε] ∩ D ([`crate::bounds::lp::lp_bound`] in
//! [`LpMode::Local`], certified by theorems L0–L2) bounds the margin's Lipschitz constant L_tj(ε) for pairs of
//! inputs inside B_ε; x lies in B_ε, so m_tj(y) ≥ m_tj(x) − ε·L_tj(ε) for every y ∈ B_ε. If that is > 0 for
//! every j ≠ t, every input of the closed ℓ∞ ball of radius ε inside D is classified t. The constant is used
//! only on the box it was computed on. A bisection on ε starts from the global margin radius (theorem V2), so
//! the result is never below it; each passing ε is its own proof.

use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

use super::bisect::{Bisection, bisect};
use super::margin::{PairTable, PointLogits, margin_radii_at};
use super::{Applicable, Coverage, NotApplicable, check_batch, check_domain};
use crate::bounds::Norm;
use crate::bounds::chain::Chain;
use crate::bounds::lp::{LpMode, LpOptions, lp_bound};
use crate::error::{Error, Result};
use crate::float::mul_up;
use crate::ir::{Function, InputNorm, Net, Verdict, pair_margin_lower, verdict};

/// The largest number of activation units (hidden units of the chain) for which the local LP radius runs: a
/// few LPs per class pair and bisection round stay in milliseconds up to about this size.
pub const LOCAL_LP_MAX_HIDDEN: usize = 64;

/// Options of [`local_lp_radii`].
#[derive(Clone, Debug, PartialEq)]
pub struct LocalLpOptions {
    /// Nets with more activation units are declined.
    pub max_hidden: usize,
    /// Per-coordinate bounds every input satisfies; the LP box uses their envelope (min lower, max upper), a
    /// superset, and the certificate then covers domain inputs only.
    pub domain: Option<(Vec<f64>, Vec<f64>)>,
    /// Bisection rounds (each up to one LP per competing class).
    pub rounds: usize,
    /// A sample stops when its bracket is this narrow, relative to its upper end.
    pub rel_tol: f64,
    /// The first ε tried when the global radius is 0 (normalised units).
    pub start: f64,
    /// Largest unrolled convolution (entries) when lowering the net to a chain.
    pub max_unrolled: usize,
    /// Options of each LP (`pairs` is set per call).
    pub lp: LpOptions,
}

impl Default for LocalLpOptions {
    fn default() -> Self {
        LocalLpOptions {
            max_hidden: LOCAL_LP_MAX_HIDDEN,
            domain: None,
            rounds: 10,
            rel_tol: 1e-2,
            start: 0.01,
            max_unrolled: 1 << 20,
            lp: LpOptions::default(),
        }
    }
}

/// The local LP radius of one sample.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LocalLpRadius {
    /// The certified radius: at least `global`.
    pub radius: f64,
    /// The global margin radius (theorem V2) the bisection started from.
    pub global: f64,
    /// `Domain` when a domain was given and the local LP improved on the global radius.
    pub coverage: Coverage,
    /// Number of LPs solved for this sample.
    pub lps: usize,
}

/// Lowers `net`; unsupported layers and sizes become a [`NotApplicable`].
fn lower(net: &Net, function: Function, opts: &LocalLpOptions) -> Result<Applicable<Chain>> {
    let method = "local LP radius";
    let chain = match Chain::from_net(net, function, opts.max_unrolled) {
        Ok(c) => c,
        Err(Error::NotApplicable { reason: problem, .. } | Error::TooLarge { problem, .. }) => {
            return Ok(Err(NotApplicable { method, reason: problem }));
        }
        Err(e) => return Err(e),
    };
    let h = chain.hidden_units();
    if h > opts.max_hidden {
        let reason = format!("{h} activation units, above the limit of {} for local LPs", opts.max_hidden);
        return Ok(Err(NotApplicable { method, reason }));
    }
    Ok(Ok(chain))
}

/// The local LP radius (ℓ∞) of every sample for `function`, starting from the global margin radius with the
/// constants of `table` (which must be for ℓ∞ inputs).
///
/// Theorem V6 (proofs/certify.md); checked by tests/certify.rs::local_lp_radius_dominates_and_is_sound.
pub fn local_lp_radii(
    net: &Net,
    function: Function,
    table: &PairTable,
    x: &DMatrix<f64>,
    labels: &[usize],
    opts: &LocalLpOptions,
) -> Result<Applicable<Vec<LocalLpRadius>>> {
    check_batch(net, x, labels)?;
    check_domain(opts.domain.as_ref(), x)?;
    if table.norm() != InputNorm::Linf {
        return Err(Error::config("pair table", "the local LP radius is for ℓ∞ inputs: pass ℓ∞ constants"));
    }
    if !(opts.start.is_finite() && opts.start > 0.0) {
        return Err(Error::config("local LP start", "must be finite and > 0"));
    }
    let chain = match lower(net, function, opts)? {
        Ok(c) => c,
        Err(na) => return Ok(Err(na)),
    };
    let points = PointLogits::new(net, function, x)?;
    let global: Vec<f64> = margin_radii_at(&points, table, labels)?.iter().map(|m| m.radius).collect();
    let logits = points.logits();
    let domain = opts.domain.as_ref().map(|(lo, hi)| {
        (
            lo.iter().copied().fold(f64::INFINITY, f64::min),
            hi.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        )
    });
    let n = x.ncols();
    // Competing classes in the order the global radius binds them (most likely to fail first).
    let order: Vec<Vec<(usize, f64)>> = (0..n)
        .map(|k| {
            let t = labels[k];
            let mut js: Vec<(usize, f64, f64)> = (0..net.classes)
                .filter(|&j| j != t)
                .map(|j| {
                    let m = pair_margin_lower(logits, k, t, j);
                    let l = table.constant(t, j).map_or(f64::INFINITY, |c| c.0);
                    (j, m, m / l)
                })
                .collect();
            js.sort_by(|a, b| a.2.total_cmp(&b.2));
            js.into_iter().map(|(j, m, _)| (j, m)).collect()
        })
        .collect();
    let active: Vec<bool> = (0..n).map(|k| verdict(logits, k, labels[k]) == Verdict::Keeps).collect();
    let mut lps = vec![0usize; n];
    let limits = Bisection { rounds: opts.rounds, rel_tol: opts.rel_tol };
    let radius = bisect(global.clone(), &active, &vec![opts.start; n], limits, |samples, eps| {
        samples
            .iter()
            .zip(eps)
            .map(|(&k, &e)| {
                let center: Vec<f64> = x.column(k).iter().copied().collect();
                let mode = LpMode::Local { center, radius: e, domain };
                for &(j, m) in &order[k] {
                    let lp = LpOptions { pairs: Some(vec![(labels[k], j)]), ..opts.lp.clone() };
                    lps[k] += 1;
                    let l = lp_bound(&chain, function, Norm::LinfMargin, &mode, &lp, &|_| {})?.value;
                    let holds = m > mul_up(e, l);
                    if !holds {
                        return Ok(false);
                    }
                }
                Ok(true)
            })
            .collect()
    })?;
    Ok(Ok((0..n)
        .map(|k| LocalLpRadius {
            radius: radius[k],
            global: global[k],
            coverage: if radius[k] > global[k] && domain.is_some() {
                Coverage::Domain
            } else {
                Coverage::Network
            },
            lps: lps[k],
        })
        .collect()))
}

//! The certify stage's computation on loaded inputs: the deployed network's radii (sign stability, bound
//! propagation, the exact minimal perturbation on tiny nets) and the Lipschitz functions' margin and local-LP
//! radii, batch by batch in parallel, collected as an [`Outcome`] before anything is written.

use std::ops::Range;
use std::time::Instant;

use nalgebra::DMatrix;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::file::{SkippedMethod, method, to_file};
use super::{
    Applicable, Coverage, ExactOptions, LocalLpOptions, PairTable, PointLogits, PropagationOptions,
    bound_propagation, exact_minimal_perturbation, first_sign, local_lp_radii, margin_radii_at,
};
use crate::bounds::{BoundsFile, Method};
use crate::error::Result;
use crate::ir::{BoxBatch, Function, InputNorm, Net, Verdict, verdict};

use super::stage::CHUNK;

/// Runs `f` on batches of `n` samples in parallel and concatenates the results in order.
fn batched<T: Send>(n: usize, f: impl Fn(Range<usize>) -> Result<Vec<T>> + Sync) -> Result<Vec<T>> {
    let ranges: Vec<Range<usize>> = (0..n).step_by(CHUNK).map(|s| s..(s + CHUNK).min(n)).collect();
    let parts: Vec<Vec<T>> = ranges.into_par_iter().map(&f).collect::<Result<_>>()?;
    Ok(parts.into_iter().flatten().collect())
}

/// The class an enclosure proves at column k, if any.
fn proven(b: &BoxBatch, k: usize) -> Option<usize> {
    let col = b.lo.column(k);
    let c = (0..col.len()).max_by(|&a, &b| col[a].total_cmp(&col[b]))?;
    (verdict(b, k, c) == Verdict::Keeps).then_some(c)
}

/// What one method gave for every sample, before it is written out.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(super) struct Radii {
    pub(super) function: Function,
    pub(super) norm: InputNorm,
    pub(super) method: String,
    pub(super) coverage: Coverage,
    pub(super) theorem: String,
    #[serde(with = "crate::shard::partial::radii")]
    pub(super) radius: Vec<f64>,
    pub(super) seconds: f64,
}

/// The work of the stage, on loaded inputs.
pub(super) struct Work<'a> {
    pub(super) net: &'a Net,
    /// The nets of the Lipschitz functions (the latent one refitted when the run has `latent_bn.json`).
    pub(super) nets: &'a crate::latent_bn::FunctionNets,
    pub(super) x: &'a DMatrix<f64>,
    pub(super) labels: &'a [usize],
    pub(super) domain: &'a (Vec<f64>, Vec<f64>),
    pub(super) bounds: Option<&'a BoundsFile>,
    pub(super) bound_methods: Option<&'a [Method]>,
    pub(super) progress: &'a (dyn Fn(&str) + Sync),
}

impl Work<'_> {
    fn cols(&self, r: &Range<usize>) -> DMatrix<f64> {
        self.x.columns(r.start, r.len()).into_owned()
    }

    /// Deployed: predictions, then per norm bound propagation (with sign stability on the way) and the exact
    /// bracket on tiny nets.
    pub(super) fn deployed(&self, norms: &[InputNorm], out: &mut Outcome) -> Result<()> {
        let f = Function::Deployed;
        (self.progress)("deployed: predictions");
        out.predictions.push((
            f,
            batched(self.labels.len(), |r| {
                let b = self.net.enclose_points(&self.cols(&r), f)?;
                Ok((0..r.len()).map(|k| proven(&b, k)).collect())
            })?,
        ));
        let stability_na = first_sign(self.net)?.err();
        for &norm in norms {
            (self.progress)(&format!("deployed {}: bound propagation", norm.name()));
            let start = Instant::now();
            let opts = PropagationOptions::default();
            let bp = batched(self.labels.len(), |r| {
                bound_propagation(self.net, &self.cols(&r), &self.labels[r], norm, &opts)
            })?;
            let seconds = start.elapsed().as_secs_f64();
            match &stability_na {
                None => out.radii.push(Radii {
                    function: f,
                    norm,
                    method: method::SIGN_STABILITY.into(),
                    coverage: Coverage::Network,
                    theorem: "V3".into(),
                    radius: bp.iter().map(|p| p.stability.unwrap_or(0.0)).collect(),
                    seconds,
                }),
                Some(na) => out.skip(f, Some(norm), method::SIGN_STABILITY, &na.reason),
            }
            let coverage = if bp.iter().any(|p| p.coverage == Coverage::Domain) {
                Coverage::Domain
            } else {
                Coverage::Network
            };
            out.radii.push(Radii {
                function: f,
                norm,
                method: method::BOUND_PROPAGATION.into(),
                coverage,
                theorem: "V4".into(),
                radius: bp.iter().map(|p| p.radius).collect(),
                seconds,
            });
            let start = Instant::now();
            let opts = ExactOptions { domain: Some(self.domain.clone()), ..Default::default() };
            let exact = batched(self.labels.len(), |r| {
                Ok(vec![exact_minimal_perturbation(self.net, &self.cols(&r), &self.labels[r], norm, &opts)?])
            })?;
            match exact.into_iter().collect::<Applicable<Vec<_>>>() {
                Ok(parts) => {
                    (self.progress)(&format!("deployed {}: exact minimal perturbation", norm.name()));
                    let all: Vec<_> = parts.into_iter().flatten().collect();
                    out.radii.push(Radii {
                        function: f,
                        norm,
                        method: method::EXACT.into(),
                        coverage: Coverage::Domain,
                        theorem: "V5".into(),
                        radius: all.iter().map(|e| e.lower).collect(),
                        seconds: start.elapsed().as_secs_f64(),
                    });
                    out.exact.push((norm, all.iter().map(|e| (to_file(e.lower), e.upper)).collect()));
                }
                Err(na) => out.skip(f, Some(norm), method::EXACT, &na.reason),
            }
        }
        Ok(())
    }

    /// Surrogate or latent: predictions and margin radii from one point enclosure, and the local LP radius on
    /// small nets (ℓ∞).
    pub(super) fn lipschitz(&self, f: Function, norms: &[InputNorm], out: &mut Outcome) -> Result<()> {
        let Some(bounds) = self.bounds else {
            out.skip(f, None, method::MARGIN, "no bounds.json: run `lcr-verify bound RUN_DIR` first");
            return Ok(());
        };
        let allowed: Vec<_> = bounds
            .bounds
            .iter()
            .filter(|b| self.bound_methods.is_none_or(|m| m.contains(&b.method)))
            .cloned()
            .collect();
        // (table, coverage): the network-scope table of each norm, and beside it the domain table (V8) where
        // bounds.json holds domain-scope constants.
        let mut tables: Vec<(PairTable, Coverage)> = Vec::new();
        for &norm in norms {
            let t = PairTable::from_bounds(&allowed, f, norm, self.net.classes)?;
            if t.covers_every_pair() {
                tables.push((t, Coverage::Network));
                if PairTable::has_domain_constants(&allowed, f, norm) {
                    let d = PairTable::from_bounds_on_domain(&allowed, f, norm, self.net.classes)?;
                    tables.push((d, Coverage::Domain));
                }
            } else {
                out.skip(
                    f,
                    Some(norm),
                    method::MARGIN,
                    &format!(
                        "bounds.json holds no certified network-scope constant for every class pair of {} in {} \
                         (run `lcr-verify bound` with that function and norm)",
                        f.name(),
                        norm.name()
                    ),
                );
            }
        }
        (self.progress)(&format!("{}: predictions and margin radii", f.name()));
        let start = Instant::now();
        let per: Vec<(Option<usize>, Vec<f64>)> = batched(self.labels.len(), |r| {
            let points = PointLogits::new(self.nets.get(f), f, &self.cols(&r))?;
            let radii: Vec<Vec<f64>> = tables
                .iter()
                .map(|(t, _)| {
                    Ok(margin_radii_at(&points, t, &self.labels[r.clone()])?
                        .iter()
                        .map(|m| m.radius)
                        .collect())
                })
                .collect::<Result<_>>()?;
            Ok((0..r.len())
                .map(|k| (proven(points.logits(), k), radii.iter().map(|v| v[k]).collect()))
                .collect())
        })?;
        let seconds = start.elapsed().as_secs_f64();
        out.predictions.push((f, per.iter().map(|p| p.0).collect()));
        for (i, (t, coverage)) in tables.iter().enumerate() {
            let (method, theorem) = match coverage {
                Coverage::Network => (method::MARGIN, "V2"),
                Coverage::Domain => (method::MARGIN_DOMAIN, "V8"),
            };
            out.radii.push(Radii {
                function: f,
                norm: t.norm(),
                method: method.into(),
                coverage: *coverage,
                theorem: theorem.into(),
                radius: per.iter().map(|p| p.1[i]).collect(),
                seconds,
            });
        }
        let network_linf = tables
            .iter()
            .find(|(t, c)| t.norm() == InputNorm::Linf && *c == Coverage::Network)
            .map(|(t, _)| t);
        if let Some(t) = network_linf {
            let start = Instant::now();
            let opts = LocalLpOptions { domain: Some(self.domain.clone()), ..Default::default() };
            let local = batched(self.labels.len(), |r| {
                Ok(vec![local_lp_radii(self.nets.get(f), f, t, &self.cols(&r), &self.labels[r], &opts)?])
            })?;
            match local.into_iter().collect::<Applicable<Vec<_>>>() {
                Ok(parts) => {
                    (self.progress)(&format!("{}: local LP radii", f.name()));
                    out.radii.push(Radii {
                        function: f,
                        norm: InputNorm::Linf,
                        method: method::LOCAL_LP.into(),
                        coverage: Coverage::Domain,
                        theorem: "V6".into(),
                        radius: parts.into_iter().flatten().map(|l| l.radius).collect(),
                        seconds: start.elapsed().as_secs_f64(),
                    });
                }
                Err(na) => out.skip(f, Some(InputNorm::Linf), method::LOCAL_LP, &na.reason),
            }
        }
        Ok(())
    }
}

/// The exact minimal perturbation of one sample: the certified lower side (`None` for +∞, as in the file) and
/// the distance of a proven misclassified input.
pub(super) type ExactBracket = (Option<f64>, Option<f64>);

/// What the stage computed, before it is written out: per-sample vectors in sample order (a shard's partial
/// file holds the same for its samples).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(super) struct Outcome {
    pub(super) predictions: Vec<(Function, Vec<Option<usize>>)>,
    pub(super) radii: Vec<Radii>,
    pub(super) exact: Vec<(InputNorm, Vec<ExactBracket>)>,
    pub(super) skipped: Vec<SkippedMethod>,
}

impl Outcome {
    fn skip(&mut self, function: Function, norm: Option<InputNorm>, method: &str, reason: &str) {
        self.skipped.push(SkippedMethod { function, norm, method: method.into(), reason: reason.into() });
    }
}

//! The true Lipschitz constant from below: enumeration of the linear regions that exist (theorem E3,
//! `proofs/exact.md`).
//!
//! [`super::exact`] maximises over all activation patterns (FGL), which can exceed the true L when some patterns
//! never occur. Here the input space (within a large box) is split depth-first, unit by unit, into the pieces of
//! each activation (ReLU: z ≤ 0 | z ≥ 0; hardtanh: z ≤ −1 | −1 ≤ z ≤ 1 | z ≥ 1); a branch is kept only while
//! its polyhedron has an interior point (Chebyshev LP: max s with aᵢᵀx + s‖aᵢ‖ ≤ βᵢ, solved with microlp). Each
//! leaf's Chebyshev centre is a witness: its pattern is re-derived by the outward-rounded interval forward pass
//! and its gradient taken with the downward allowance of E2, so every value is a proven lower bound, realised by
//! the network. The maximum is the true L whenever no region is lost to the solver's tolerance; comparing it with
//! FGL brackets L (`lower ≤ L ≤ FGL`).

use std::time::Instant;

use good_lp::{Expression, ProblemVariables, Solution, SolverModel, Variable, microlp, variable};
use nalgebra::{DMatrix, DVector};
use serde_json::json;

use super::bound::{Bound, Method, Norm, Scope, Soundness};
use super::chain::{Act, Chain, Step};
use super::sampled::witness_lower;
use crate::error::{Error, Result};
use crate::ir::Function;

/// Limits of the region enumeration.
#[derive(Clone, Debug, PartialEq)]
pub struct RegionOptions {
    /// Largest input dimension.
    pub max_inputs: usize,
    /// Largest number of activation units.
    pub max_hidden: usize,
    /// Largest number of feasibility LPs.
    pub max_lps: usize,
    /// Half-width of the input box searched (regions outside it are not visited; the value stays a lower bound).
    pub box_radius: f64,
    /// Chebyshev radius below which a region is treated as empty.
    pub min_radius: f64,
}

impl Default for RegionOptions {
    fn default() -> Self {
        RegionOptions { max_inputs: 8, max_hidden: 10, max_lps: 100_000, box_radius: 1e3, min_radius: 1e-9 }
    }
}

/// One piece of an activation: its half-spaces aᵀx ≤ β, and the output d·z + c on it.
type Piece = (Vec<(Vec<f64>, f64)>, f64, f64);

struct Search<'a> {
    chain: &'a Chain,
    opts: &'a RegionOptions,
    cons: Vec<(Vec<f64>, f64)>,
    lps: usize,
    leaves: Vec<Vec<f64>>,
}

impl Search<'_> {
    /// The Chebyshev centre and radius of {aᵀx ≤ β} ∩ box, or `None` when it has no interior.
    fn interior(&mut self) -> Result<Option<Vec<f64>>> {
        self.lps += 1;
        if self.lps > self.opts.max_lps {
            return Err(Error::TooLarge {
                method: "exact-regions",
                problem: format!("more than {} region LPs", self.opts.max_lps),
            });
        }
        let n = self.chain.input_dim;
        let b = self.opts.box_radius;
        let mut vars = ProblemVariables::new();
        let x: Vec<Variable> = (0..n).map(|_| vars.add(variable().min(-b).max(b))).collect();
        let s = vars.add(variable().min(0.0).max(1.0));
        let mut model = vars.maximise(s).using(microlp);
        for (a, beta) in &self.cons {
            let norm = a.iter().map(|v| v * v).sum::<f64>().sqrt();
            let mut e = Expression::with_capacity(n + 1);
            for (xi, ai) in x.iter().zip(a) {
                e.add_mul(*ai, *xi);
            }
            e.add_mul(norm, s);
            model = model.with(e.leq(*beta));
        }
        match model.solve() {
            Ok(sol) if sol.value(s) > self.opts.min_radius => {
                Ok(Some(x.iter().map(|&v| sol.value(v)).collect()))
            }
            _ => Ok(None),
        }
    }

    /// Splits on unit `i` of the activation at step `k`, with the pre-activations z = M x + m of that layer;
    /// `inside` is an interior point of the current region (a piece that contains it strictly needs no LP).
    fn unit(
        &mut self,
        k: usize,
        i: usize,
        m: &DMatrix<f64>,
        off: &DVector<f64>,
        out: (&mut DMatrix<f64>, &mut DVector<f64>),
        inside: &[f64],
    ) -> Result<()> {
        let (om, oo) = out;
        if i == m.nrows() {
            return self.step(k + 1, om.clone(), oo.clone(), inside);
        }
        let Step::Act(act) = &self.chain.steps[k] else { unreachable!() };
        let a: Vec<f64> = m.row(i).iter().copied().collect();
        let neg: Vec<f64> = a.iter().map(|v| -v).collect();
        // Pieces: (constraints as aᵀx ≤ β, output row = d·z + const).
        let pieces: Vec<Piece> = match act {
            Act::Relu => {
                vec![(vec![(a.clone(), -off[i])], 0.0, 0.0), (vec![(neg.clone(), off[i])], 1.0, 0.0)]
            }
            Act::HardTanh => vec![
                (vec![(a.clone(), -1.0 - off[i])], 0.0, -1.0),
                (vec![(neg.clone(), 1.0 + off[i]), (a.clone(), 1.0 - off[i])], 1.0, 0.0),
                (vec![(neg.clone(), off[i] - 1.0)], 0.0, 1.0),
            ],
        };
        for (cons, d, c) in pieces {
            let strictly = cons.iter().all(|(a, b)| {
                a.iter().zip(inside).map(|(a, x)| a * x).sum::<f64>() < *b - 1e-9 * (1.0 + b.abs())
            });
            let before = self.cons.len();
            self.cons.extend(cons);
            let witness = if strictly { Some(inside.to_vec()) } else { self.interior()? };
            if let Some(w) = witness {
                let (row_m, row_o) = (om.row(i).into_owned(), oo[i]);
                om.set_row(i, &(m.row(i) * d));
                oo[i] = d * off[i] + c;
                self.unit(k, i + 1, m, off, (&mut *om, &mut *oo), &w)?;
                om.set_row(i, &row_m);
                oo[i] = row_o;
            }
            self.cons.truncate(before);
        }
        Ok(())
    }

    /// Continues from step `k` with the current value v = M x + m; `inside` is an interior point of the region.
    fn step(&mut self, k: usize, m: DMatrix<f64>, off: DVector<f64>, inside: &[f64]) -> Result<()> {
        if k == self.chain.steps.len() {
            if let Some(x) = self.interior()? {
                self.leaves.push(x);
            }
            return Ok(());
        }
        match &self.chain.steps[k] {
            Step::Linear { w, b } => self.step(k + 1, w * &m, w * &off + b, inside),
            Step::Diag { s, t } => {
                let sv = DVector::from_column_slice(s);
                let mut m2 = m.clone();
                m2.row_iter_mut().zip(s).for_each(|(mut r, s)| r *= *s);
                self.step(k + 1, m2, off.component_mul(&sv) + DVector::from_column_slice(t), inside)
            }
            Step::Act(_) => {
                let (mut om, mut oo) = (m.clone(), off.clone());
                self.unit(k, 0, &m, &off, (&mut om, &mut oo), inside)
            }
        }
    }
}

/// Interior witnesses of the linear regions found (one per region), with the search statistics.
#[derive(Clone, Debug, PartialEq)]
pub struct RegionWitnesses {
    /// One Chebyshev centre per region.
    pub points: Vec<Vec<f64>>,
    /// Feasibility LPs solved.
    pub lps: usize,
    /// Seconds spent.
    pub seconds: f64,
}

/// Enumerates the linear regions of `chain` inside the box and returns one interior point of each.
///
/// Theorem E3, enumeration part (proofs/exact.md); checked by
/// tests/exact.rs::regions_bracket_the_constant_with_fgl.
pub fn region_witnesses(chain: &Chain, opts: &RegionOptions) -> Result<RegionWitnesses> {
    let start = Instant::now();
    let h = chain.hidden_units();
    if chain.input_dim > opts.max_inputs || h > opts.max_hidden {
        return Err(Error::TooLarge {
            method: "exact-regions",
            problem: format!(
                "{} inputs and {h} units (limits {} and {})",
                chain.input_dim, opts.max_inputs, opts.max_hidden
            ),
        });
    }
    let n = chain.input_dim;
    let mut search = Search { chain, opts, cons: Vec::new(), lps: 0, leaves: Vec::new() };
    search.step(0, DMatrix::identity(n, n), DVector::zeros(n), &vec![0.0; n])?;
    Ok(RegionWitnesses { points: search.leaves, lps: search.lps, seconds: start.elapsed().as_secs_f64() })
}

/// The largest proven-realised gradient norm over the regions of `w` (theorem E3): a `lower` bound that equals L
/// when every region was found.
///
/// Checked by tests/exact.rs::regions_bracket_the_constant_with_fgl.
pub fn regions_bound(
    chain: &Chain,
    function: Function,
    norm: Norm,
    w: &RegionWitnesses,
    opts: &RegionOptions,
) -> Bound {
    let start = Instant::now();
    let (value, witnessed, pairs) = witness_lower(chain, norm, &w.points);
    let detail = json!({
        "regions": w.points.len(), "witnessed": witnessed, "lps": w.lps,
        "box_radius": opts.box_radius, "min_radius": opts.min_radius,
        "exact": "max over the linear regions found, each witnessed by an interior point; equals L if none was lost",
    });
    Bound {
        request: None,
        method: Method::ExactRegions,
        function,
        soundness: Soundness::Lower,
        norm,
        scope: Scope::Network,
        value,
        pairs,
        per_layer: Vec::new(),
        seconds: w.seconds + start.elapsed().as_secs_f64(),
        detail,
    }
}

/// [`region_witnesses`] then [`regions_bound`].
///
/// Theorem E3 (proofs/exact.md); checked by tests/exact.rs::regions_bracket_the_constant_with_fgl.
pub fn exact_regions(chain: &Chain, function: Function, norm: Norm, opts: &RegionOptions) -> Result<Bound> {
    Ok(regions_bound(chain, function, norm, &region_witnesses(chain, opts)?, opts))
}

//! LP-based certified bounds on pairwise margin Lipschitz constants (theorems L1–L4, `proofs/lp.md`).
//!
//! For each pair t < j (L_tj = L_jt: the relaxation is symmetric under c ↦ −c) the LipLP relaxation of
//! [`super::lp_model`] is built with interval boxes, multipliers are obtained (by default: for a global LP in
//! closed form by the backward pass of theorem L4, [`super::lp_backward`], accepted when its gap to its own
//! primal point is small; otherwise Clarabel's duals; or microlp on the explicit dual LP), and the certified value
//! is min(dual bound of theorem L2, box bound) — both proven upper bounds whatever produced the multipliers. The primal can also be solved with microlp's
//! simplex, only to report the gap. For ℓ1 inputs the dual norm is max_j |g_j|: one LP per coordinate and sign, visited in
//! decreasing order of the coordinate's interval bound and stopped when no remaining interval bound can exceed
//! the best LP value.

use std::time::Instant;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::bound::{Bound, Method, Norm, PairConstant, Scope, Soundness, class_pairs};
use super::chain::Chain;
use super::float::{dn, up};
use super::interval::{Interval, Stability, backward, forward, stability};
use super::lp_backward::fast_path;
use super::lp_model::{Forward, Layout, Objective, build_with_layout};
use super::lp_solve::{LpProblem, SolveStatus, report_json, solve_clarabel, solve_dual, solve_primal};
use crate::error::{Error, Result};
use crate::ir::Function;

/// Where the Lipschitz constant is taken.
#[derive(Clone, Debug, PartialEq)]
pub enum LpMode {
    /// Over the whole input space (no forward constraints; every unit unstable).
    Global,
    /// Over the ℓ∞ box of `radius` around `center`, intersected with `domain` (e.g. [0, 1] pixels).
    Local {
        /// The input around which the box is taken.
        center: Vec<f64>,
        /// Half-width of the box.
        radius: f64,
        /// Optional bounds every input coordinate satisfies.
        domain: Option<(f64, f64)>,
    },
    /// Over the input domain D = [lo, hi] (the normalised pixel box): the units the interval boxes over D keep on
    /// one piece of their activation are fixed, with no forward rows, so the backward pass still gives the
    /// multipliers (theorem L5).
    Domain {
        /// Lower end of every input coordinate.
        lo: Vec<f64>,
        /// Upper end of every input coordinate.
        hi: Vec<f64>,
    },
}

/// Which method provides the multipliers of the dual bound (all pure Rust). In files: `"backward"`,
/// `"clarabel"`, `"microlp-dual"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LpBackend {
    /// The backward pass of theorem L4 (`super::lp_backward`): closed-form multipliers of the global LP in two
    /// passes over the nonzeros, checked per LP against the primal point it builds; where that gap exceeds
    /// [`LpOptions::gap_tolerance`], and for local-mode LPs (forward rows), the multipliers come from Clarabel.
    Backward,
    /// Clarabel's interior point on the primal; its duals are the multipliers (through good_lp).
    Clarabel,
    /// microlp's simplex on the explicitly written dual LP (slower; fails on some larger LPs, which then fall
    /// back to the box bound).
    MicrolpDual,
}

impl LpBackend {
    /// The backend's name in messages.
    pub fn name(self) -> &'static str {
        match self {
            LpBackend::Backward => "backward pass",
            LpBackend::Clarabel => "Clarabel",
            LpBackend::MicrolpDual => "microlp (dual simplex)",
        }
    }
}

/// Limits and switches of the LP method.
#[derive(Clone, Debug, PartialEq)]
pub struct LpOptions {
    /// Largest number of activation units accepted.
    pub max_hidden: usize,
    /// Largest number of LP variables a solver (Clarabel, microlp) is given.
    pub max_vars: usize,
    /// Largest number of nonzero coefficients a solver is given (Clarabel: 784-256-256-10, 0.28M, ≈1.6 s per
    /// pair; 784-512-512-10, 0.68M, ≈11 s per pair, refused by default). A global LP the backward pass solves
    /// never reaches a solver and has no such limit.
    pub max_nnz: usize,
    /// The solver of the multipliers.
    pub backend: LpBackend,
    /// Also solve the primal with microlp's simplex to report the gap to an independent optimum.
    pub check_primal: bool,
    /// Per-solve time limit in seconds (a solve that stops early still yields a certified bound).
    pub time_limit: Option<f64>,
    /// Largest number of per-coordinate LPs per pair for ℓ1 inputs.
    pub max_coordinate_lps: usize,
    /// Only these class pairs (t < j); `None` = all pairs.
    pub pairs: Option<Vec<(usize, usize)>>,
    /// The backward backend's acceptance test: certified value ≤ (1 + this) × the value of its own primal point
    /// (a lower estimate of the LP optimum) + [`super::lp_backward::GAP_FLOOR`]; above it, Clarabel is run as
    /// well.
    pub gap_tolerance: f64,
}

impl Default for LpOptions {
    fn default() -> Self {
        LpOptions {
            max_hidden: 1024,
            max_vars: 20_000,
            max_nnz: 500_000,
            backend: LpBackend::Backward,
            check_primal: false,
            time_limit: Some(600.0),
            max_coordinate_lps: 64,
            pairs: None,
            gap_tolerance: 1e-3,
        }
    }
}

struct Solved {
    value: f64,
    detail: serde_json::Value,
}

fn solve_one(lp: &LpProblem, layout: &Layout, opts: &LpOptions) -> Result<Solved> {
    let boxb = lp.box_bound();
    let mut detail =
        json!({ "vars": lp.obj.len(), "rows": lp.rows.len(), "nnz": lp.nnz(), "box_bound": boxb });
    // The backward pass first (global mode): accepted when its certified value is within the tolerance of the
    // value of its own primal point; otherwise its bound still counts, and a solver is run as well. Its cost is
    // linear in the nonzeros, so the size limits (theorem L3) apply only to LPs that reach a solver.
    let fast = (opts.backend == LpBackend::Backward)
        .then(|| fast_path(lp, layout, opts.gap_tolerance, &mut detail))
        .flatten();
    let value = match fast.filter(|f| f.accepted) {
        Some(f) => f.dual.min(boxb),
        None => {
            check_size(lp, opts)?;
            let earlier = fast.map_or(boxb, |f| f.dual.min(boxb));
            solver_path(lp, opts, earlier, boxb, &mut detail)
        }
    };
    // The gap against an independent optimum: the objective of a primal solution the simplex reports optimal.
    if opts.check_primal {
        let (mut primal, x) = solve_primal(lp, opts.time_limit);
        if let Some(x) = x {
            primal.objective = Some(x.iter().zip(&lp.obj).map(|(x, c)| x * c).sum());
        }
        detail["primal_solve"] = report_json(&primal);
        if let (Some(p), SolveStatus::Optimal) = (primal.objective, &primal.status) {
            detail["gap"] = json!(value - p);
            detail["relative_gap"] = json!(relative(value, p));
            detail["gap_against"] = json!("primal solve objective");
        }
    }
    Ok(Solved { value, detail })
}

/// Refuses an LP beyond the solver's limits (theorem L3).
fn check_size(lp: &LpProblem, opts: &LpOptions) -> Result<()> {
    if lp.obj.len() > opts.max_vars || lp.nnz() > opts.max_nnz {
        let solver =
            if opts.backend == LpBackend::MicrolpDual { LpBackend::MicrolpDual } else { LpBackend::Clarabel };
        return Err(Error::TooLarge {
            method: "lp",
            problem: format!(
                "the relaxation has {} variables and {} nonzeros (limits {} and {}); beyond this {} takes \
                 minutes per LP (--lp-max-nnz raises the nonzero limit)",
                lp.obj.len(),
                lp.nnz(),
                opts.max_vars,
                opts.max_nnz,
                solver.name()
            ),
        });
    }
    Ok(())
}

/// Multipliers from Clarabel or microlp; `earlier` is the best certified value so far. Returns the certified
/// value and records the solve and the gap to the solver's objective in `detail`.
fn solver_path(
    lp: &LpProblem,
    opts: &LpOptions,
    earlier: f64,
    boxb: f64,
    detail: &mut serde_json::Value,
) -> f64 {
    let (dual, y) = match opts.backend {
        LpBackend::Backward | LpBackend::Clarabel => solve_clarabel(lp, opts.time_limit),
        LpBackend::MicrolpDual => solve_dual(lp, opts.time_limit),
    };
    let used =
        if opts.backend == LpBackend::MicrolpDual { LpBackend::MicrolpDual } else { LpBackend::Clarabel };
    let ns = y.as_ref().map(|y| lp.dual_bound(y));
    let value = ns.map_or(earlier, |n| n.min(earlier));
    detail["backend"] = json!(used.name());
    detail["multiplier_solve"] = report_json(&dual);
    detail["dual_bound"] = json!(ns);
    detail["value_from"] = json!(if ns.is_some_and(|n| n <= earlier && n < boxb) {
        value_from(true)
    } else if value < boxb {
        "dual bound (L2) with the backward pass's multipliers"
    } else {
        value_from(false)
    });
    if let Some(o) = dual.objective.filter(|o| o.is_finite()) {
        detail["gap"] = json!(value - o);
        detail["relative_gap"] = json!(relative(value, o));
        detail["gap_against"] = json!("multiplier solve objective");
    }
    value
}

pub(crate) fn value_from(dual: bool) -> &'static str {
    if dual { "dual bound (L2)" } else { "box bound (L2 with zero multipliers)" }
}

/// (value − estimate) / estimate, `None` when the estimate is not positive.
pub(crate) fn relative(value: f64, estimate: f64) -> Option<f64> {
    (estimate > 0.0).then(|| (value - estimate) / estimate)
}

fn input_box(chain: &Chain, mode: &LpMode) -> Result<Option<Interval>> {
    match mode {
        LpMode::Global => Ok(None),
        LpMode::Local { center, radius, domain } => {
            if center.len() != chain.input_dim || !radius.is_finite() || *radius < 0.0 {
                return Err(Error::config(
                    "lp local box",
                    format!("needs a center of length {} and a radius ≥ 0", chain.input_dim),
                ));
            }
            let (dl, dh) = domain.unwrap_or((f64::NEG_INFINITY, f64::INFINITY));
            let lo: Vec<f64> = center.iter().map(|c| dn(c - radius).max(dl)).collect();
            let hi: Vec<f64> = center.iter().map(|c| up(c + radius).min(dh)).collect();
            if let Some(i) = (0..lo.len()).find(|&i| lo[i].is_nan() || hi[i].is_nan() || lo[i] > hi[i]) {
                return Err(Error::config(
                    "lp local box",
                    format!("coordinate {i} of the center lies outside the domain"),
                ));
            }
            Ok(Some(Interval::new(lo, hi)))
        }
        LpMode::Domain { lo, hi } => {
            if lo.len() != chain.input_dim || hi.len() != chain.input_dim {
                return Err(Error::config(
                    "lp domain",
                    format!(
                        "needs {} lower and upper ends, got {} and {}",
                        chain.input_dim,
                        lo.len(),
                        hi.len()
                    ),
                ));
            }
            if let Some(i) =
                (0..lo.len()).find(|&i| !(lo[i].is_finite() && hi[i].is_finite() && lo[i] <= hi[i]))
            {
                return Err(Error::config(
                    "lp domain",
                    format!("coordinate {i}: [{}, {}] is not a finite interval", lo[i], hi[i]),
                ));
            }
            Ok(Some(Interval::new(lo.clone(), hi.clone())))
        }
    }
}

/// The certified LP bound of `chain` for margin norm `norm` (ℓ∞ or ℓ1 inputs).
///
/// Theorems L0–L3 and, in domain mode, L5 (proofs/lp.md); checked by
/// tests/lp.rs::local_is_tighter_and_holds_inside_its_box and tests/lp.rs::domain_scope_holds_inside_the_domain.
pub fn lp_bound(
    chain: &Chain,
    function: Function,
    norm: Norm,
    mode: &LpMode,
    opts: &LpOptions,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Bound> {
    let start = Instant::now();
    if !matches!(norm, Norm::LinfMargin | Norm::L1Margin) {
        return Err(Error::config("lp norm", "the LP bounds margins for ℓ∞ or ℓ1 inputs only"));
    }
    let h = chain.hidden_units();
    if h > opts.max_hidden {
        return Err(Error::TooLarge {
            method: "lp",
            problem: format!("{h} activation units (limit {})", opts.max_hidden),
        });
    }
    let ibox = input_box(chain, mode)?;
    let boxes = ibox.as_ref().map(|b| forward(chain, b));
    let stable: Vec<Stability> = stability(chain, boxes.as_deref());
    let unstable: usize = stable.iter().map(|s| s.iter().filter(|d| d.is_none()).count()).sum();
    // Domain mode keeps only the stability the boxes prove (L5): no forward rows.
    let fwd = boxes.as_ref().filter(|_| !matches!(mode, LpMode::Domain { .. })).map(|b| Forward { boxes: b });
    let out = chain.output_dim();
    let pairs: Vec<(usize, usize)> = opts.pairs.clone().unwrap_or_else(|| class_pairs(out));
    if pairs.is_empty() {
        // A bound over no pair would read as a bound over every pair (its value, 0, is their maximum).
        return Err(Error::config("lp pairs", "an empty list of class pairs bounds nothing"));
    }
    if let Some(&(t, j)) = pairs.iter().find(|&&(t, j)| t >= out || j >= out || t == j) {
        return Err(Error::config(
            "lp pairs",
            format!("pair ({t}, {j}) is not two distinct classes below {out}"),
        ));
    }
    // The pairs are independent LPs: solve them in parallel, keeping their order in the output.
    let done = std::sync::atomic::AtomicUsize::new(0);
    let solved: Vec<(f64, serde_json::Value)> = pairs
        .par_iter()
        .map(|&(t, j)| -> Result<(f64, serde_json::Value)> {
            let mut c = vec![0.0; out];
            (c[t], c[j]) = (1.0, -1.0);
            let grads = backward(chain, &c, &stable);
            let (value, detail) = match norm {
                Norm::LinfMargin => {
                    let (lp, layout) =
                        build_with_layout(chain, &c, &grads, &stable, fwd.as_ref(), Objective::SumAbs);
                    let s = solve_one(&lp, &layout, opts)?;
                    (s.value, s.detail)
                }
                _ => coordinate_max(chain, &c, &grads, &stable, fwd.as_ref(), opts)?,
            };
            let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            progress(&format!("lp {}: pair {t}-{j} done ({n}/{})", norm.name(), pairs.len()));
            Ok((value, json!({ "pair": [t, j], "value": value, "lp": detail })))
        })
        .collect::<Result<_>>()?;
    let mode_json = match mode {
        LpMode::Global => json!("global"),
        LpMode::Local { radius, domain, .. } => json!({ "local_radius": radius, "domain": domain }),
        LpMode::Domain { lo, hi } => json!({ "domain": domain_summary(lo, hi) }),
    };
    let (method, scope) = match mode {
        LpMode::Global => (Method::LpGlobal, Scope::Network),
        LpMode::Local { .. } => (Method::LpLocal, Scope::LocalBox),
        LpMode::Domain { .. } => (Method::LpGlobal, Scope::Domain),
    };
    let parts = PairParts { function, norm, method, scope, mode: mode_json, hidden: h, unstable };
    Ok(parts.bound(opts.backend.name(), &pairs, solved, start.elapsed().as_secs_f64()))
}

/// What an LP bound's entry says besides its pairs: the same for every subset of the pairs.
struct PairParts {
    function: Function,
    norm: Norm,
    method: Method,
    scope: Scope,
    mode: serde_json::Value,
    hidden: usize,
    unstable: usize,
}

impl PairParts {
    /// The entry of the pairs `pairs` with their (value, detail row) `solved`, in that order.
    fn bound(
        self,
        backend: &str,
        pairs: &[(usize, usize)],
        solved: Vec<(f64, serde_json::Value)>,
        seconds: f64,
    ) -> Bound {
        let best = solved.iter().fold(0.0f64, |m, (v, _)| m.max(*v));
        let constants: Vec<PairConstant> =
            pairs.iter().zip(&solved).map(|(&(t, j), &(value, _))| PairConstant { t, j, value }).collect();
        let rows: Vec<serde_json::Value> = solved.into_iter().map(|(_, r)| r).collect();
        let summary = backends_used(&rows);
        Bound {
            request: None,
            method: self.method,
            function: self.function,
            soundness: Soundness::Certified,
            norm: self.norm,
            scope: self.scope,
            value: best,
            pairs: constants,
            per_layer: Vec::new(),
            seconds,
            detail: json!({
                "mode": self.mode, "backend": backend, "backends_used": summary,
                "hidden_units": self.hidden, "unstable_units": self.unstable,
                "per_pair": rows,
            }),
        }
    }
}

/// One LP bound from entries of the same method, function, norm and LP over disjoint sets of class pairs (the
/// shards of a split): the pairs in class-pair order, the value their maximum, the detail as [`lp_bound`] writes
/// it for all of them at once, the seconds summed. `None` when the entries do not fit together (no entry,
/// another method or LP, a pair twice, a detail that is not [`lp_bound`]'s).
pub fn join_pairs(parts: &[Bound]) -> Option<Bound> {
    let first = parts.first()?;
    let d = &first.detail;
    let mut rows: Vec<((usize, usize), f64, serde_json::Value)> = Vec::new();
    for b in parts {
        let same = (b.method, b.function, b.norm, b.scope)
            == (first.method, first.function, first.norm, first.scope)
            && ["mode", "backend", "hidden_units", "unstable_units"].iter().all(|k| b.detail[k] == d[k]);
        let per_pair = b.detail["per_pair"].as_array()?;
        if !same || per_pair.len() != b.pairs.len() {
            return None;
        }
        for (p, row) in b.pairs.iter().zip(per_pair) {
            rows.push(((p.t, p.j), p.value, row.clone()));
        }
    }
    rows.sort_by_key(|r| r.0);
    if rows.windows(2).any(|w| w[0].0 == w[1].0) {
        return None;
    }
    let parts_of = PairParts {
        function: first.function,
        norm: first.norm,
        method: first.method,
        scope: first.scope,
        mode: d["mode"].clone(),
        hidden: usize::try_from(d["hidden_units"].as_u64()?).ok()?,
        unstable: usize::try_from(d["unstable_units"].as_u64()?).ok()?,
    };
    let pairs: Vec<(usize, usize)> = rows.iter().map(|r| r.0).collect();
    let solved = rows.into_iter().map(|r| (r.1, r.2)).collect();
    Some(parts_of.bound(d["backend"].as_str()?, &pairs, solved, parts.iter().map(|b| b.seconds).sum()))
}

/// A domain box in a few numbers: the envelope of its ends and whether every coordinate has the same interval.
pub(crate) fn domain_summary(lo: &[f64], hi: &[f64]) -> serde_json::Value {
    let min = lo.iter().copied().fold(f64::INFINITY, f64::min);
    let max = hi.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let uniform = lo.iter().all(|&l| l == lo[0]) && hi.iter().all(|&h| h == hi[0]);
    json!({ "coordinates": lo.len(), "lowest": min, "highest": max, "uniform": uniform })
}

/// How many LPs each backend gave the multipliers of, and the largest relative gap measured (certified value
/// against the LP optimum's estimate named in each LP's `gap_against`).
fn backends_used(rows: &[serde_json::Value]) -> serde_json::Value {
    let mut lps: Vec<&serde_json::Value> = Vec::new();
    for r in rows {
        match r["lp"]["coordinate_lps"].as_array() {
            Some(list) => lps.extend(list.iter().map(|c| &c["lp"])),
            None => lps.push(&r["lp"]),
        }
    }
    let mut counts = serde_json::Map::new();
    for lp in &lps {
        let name = lp["backend"].as_str().unwrap_or("none").to_string();
        let n = counts.get(&name).and_then(|v| v.as_u64()).unwrap_or(0);
        counts.insert(name, json!(n + 1));
    }
    let gaps: Vec<f64> = lps.iter().filter_map(|lp| lp["relative_gap"].as_f64()).collect();
    json!({
        "lps": counts,
        "max_relative_gap": gaps.iter().copied().reduce(f64::max),
        "lps_with_a_measured_gap": gaps.len(),
    })
}

/// max_j |g_j| by one LP per coordinate and sign, pruned by interval bounds.
fn coordinate_max(
    chain: &Chain,
    c: &[f64],
    grads: &[Interval],
    stable: &[Stability],
    fwd: Option<&Forward>,
    opts: &LpOptions,
) -> Result<(f64, serde_json::Value)> {
    let g = &grads[0];
    let mut cands: Vec<(f64, usize, bool)> = (0..g.lo.len())
        .flat_map(|j| [(g.hi[j], j, true), (-g.lo[j], j, false)])
        .filter(|c| c.0 > 0.0)
        .collect();
    cands.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (mut best, mut solved, mut remaining) = (0.0f64, Vec::new(), 0.0f64);
    for (k, &(ib, j, positive)) in cands.iter().enumerate() {
        if ib <= best {
            break;
        }
        if k >= opts.max_coordinate_lps {
            remaining = ib; // not solved: the interval bound stands for all the rest
            break;
        }
        let (lp, layout) =
            build_with_layout(chain, c, grads, stable, fwd, Objective::Coordinate { j, positive });
        let s = solve_one(&lp, &layout, opts)?;
        best = best.max(s.value);
        solved.push(json!({ "coordinate": j, "sign": if positive { 1 } else { -1 }, "value": s.value, "lp": s.detail }));
    }
    let value = best.max(remaining);
    Ok((value, json!({ "coordinate_lps": solved, "unsolved_interval_bound": remaining })))
}

//! Branch and bound on the LipLP relaxation (`lp-bab`): an anytime certified upper bound that closes on the
//! Lipschitz constant, with a proven lower bound beside it (theorems B1–B9, `proofs/bab.md`).
//!
//! For each class pair (in parallel) the input space ℝⁿ is split best-first (LipBaB, Bhowmick et al. 2021;
//! LipMIP, Jordan & Dimakis 2020): a node fixes some activation units to a piece (ReLU z ≤ 0 | z ≥ 0, hardtanh
//! z ≤ −1 | −1 ≤ z ≤ 1 | z ≥ 1; a last-layer hardtanh unit first to −1 ≤ z ≤ 1 or to both flat pieces at once,
//! [`super::bab_leaf::FLAT`]), which fixes their slopes and cuts their intervals, and is bounded by the certified
//! dual bound of its LipLP relaxation ([`super::bab_leaf`]) and by the box bound of [`super::bab_box`] (B8: the
//! largest ‖W₁ᵀu‖₁ over the box of the first-layer gradient u, one u for all input coordinates) and, when asked
//! for, by the first-slopes bound of [`super::bab_first`] (B9: the first layer's slopes enumerated, the later
//! layers relaxed per input coordinate), whichever is smallest. The children of a node cover it, so at any moment the
//! maximum of the bounds of the leaves (open, finished, or dropped because their bound is below the proven lower
//! bound) is a certified upper bound on L_tj (B1); leaves whose interval cuts are empty are proven empty and
//! drop out, and so do leaves whose region LP proves that no open set of inputs realises their pieces
//! ([`super::bab_region`], B4 with the certificate of B5; over the first layer's pre-activations when that layer
//! is proven onto, B6). A popped node with few undecided slopes is bounded exactly over them
//! ([`super::bab_vertex`], B7) before it is split. The point of every region LP with a positive margin is tried
//! as a witness of a proven lower bound (B3), and so, before the tree, are the best points of a local search over
//! the pre-activations of an onto first layer ([`super::bab_search`]). A leaf where every slope is known is a
//! pattern whose region LP is exact, so a closed tree whose pattern leaves are all decided has the maximum over
//! the patterns realised on open sets — the true constant — and the witnesses reach it from below;
//! `detail.per_pair` reports both, the gap, the nodes, the region LPs and whether the tree closed.

use std::collections::BinaryHeap;
use std::time::Instant;

use rayon::prelude::*;
use serde_json::json;

use super::ascent::{AscentOptions, gradient_ascent};
use super::bab_leaf::{
    Budgets, FREE, Memo, Pieces, activations, evaluate, known_slopes, leaf_boxes, piece_holds,
    witness_candidate,
};
use super::bab_node::{Inside, Node};
use super::bab_region::{Verdict, check_region};
use super::bab_search::{SearchOptions, witness_candidates};
use super::bab_vertex::{vertex_bound, vertex_work};
use super::bound::{Bound, Method, Norm, PairConstant, Scope, Soundness, class_pairs};
use super::chain::Chain;
use super::first_layer::FirstLayer;
use super::sampled::witness_lower;
use crate::error::{Error, Result};
use crate::ir::Function;

/// Budgets and switches of the branch and bound.
#[derive(Clone, Debug, PartialEq)]
pub struct BabOptions {
    /// Wall-clock seconds per class pair (the tree stops there; its value is still certified).
    pub seconds_per_pair: f64,
    /// Nodes evaluated per class pair.
    pub max_nodes: usize,
    /// Stop a pair when upper ≤ (1 + this) × lower.
    pub gap_tolerance: f64,
    /// Half-width of the input box searched for witness points of pattern leaves.
    pub witness_radius: f64,
    /// Start the lower bounds from gradient ascent (theorem E2) with these options.
    pub ascent: Option<AscentOptions>,
    /// Largest number of activation units accepted.
    pub max_hidden: usize,
    /// Only these class pairs (t < j); `None` = all pairs.
    pub pairs: Option<Vec<(usize, usize)>>,
    /// Solve each node's region LP: drop nodes proven to have no interior (B4, B5) and try its point as a
    /// witness.
    pub regions: bool,
    /// Largest input dimension for region LPs over ℝⁿ (a first layer proven onto works over ℝᵐ instead, B6).
    pub region_max_inputs: usize,
    /// Largest work 2^k·n of the exact maximum over a popped node's k undecided slopes (B7); 0 turns it off.
    pub vertex_work: f64,
    /// Before the tree, search the first pre-activations of an onto first layer for witness points (B3, with
    /// [`super::bab_search`]); `None` turns it off.
    pub search: Option<SearchOptions>,
    /// How many of the search's best candidates are checked as witnesses.
    pub search_witnesses: usize,
    /// Coordinates of the first-layer gradient box enumerated by the box bound (B8) at every node; 0 turns it
    /// off.
    pub box_enum: usize,
    /// Undecided first-layer slopes enumerated by the first-slopes bound (B9) at every node; 0 turns it off.
    pub first_enum: usize,
    /// Coordinates of the gradient box after the second dense step that B9 keeps coupled per input coordinate.
    pub later_enum: usize,
}

impl Default for BabOptions {
    fn default() -> Self {
        BabOptions {
            seconds_per_pair: 60.0,
            max_nodes: 200_000,
            gap_tolerance: 1e-4,
            witness_radius: 1e3,
            ascent: Some(AscentOptions::default()),
            max_hidden: 1024,
            pairs: None,
            regions: true,
            region_max_inputs: 64,
            vertex_work: 4_194_304.0,
            search: Some(SearchOptions::default()),
            search_witnesses: 4,
            box_enum: 16,
            first_enum: 0,
            later_enum: 0,
        }
    }
}

/// The outcome of one pair's tree.
#[derive(Clone, Debug, PartialEq)]
pub struct PairResult {
    /// The certified upper bound (theorem B1).
    pub upper: f64,
    /// The proven lower bound (theorem B3; with the ascent's start).
    pub lower: f64,
    /// Whether no open leaf remains that could lower `upper` (the upper side has reached its limit, B1).
    pub closed: bool,
    /// Nodes evaluated.
    pub nodes: usize,
    /// The details for `bounds.json`.
    pub detail: serde_json::Value,
}

/// The state of one pair's tree.
struct Tree<'a> {
    chain: &'a Chain,
    c: Vec<f64>,
    k_pair: usize,
    opts: &'a BabOptions,
    heap: BinaryHeap<Node>,
    lower: f64,
    /// Largest bound of a pattern leaf (finished: no split left).
    finished_max: f64,
    /// Largest bound of a leaf dropped because its bound was ≤ the lower bound.
    dropped_max: f64,
    nodes: usize,
    patterns: usize,
    witnessed: usize,
    empty: usize,
    dropped: usize,
    /// Region LPs: on, and over the first pre-activations when the first layer is proven onto.
    regions: bool,
    first: Option<FirstLayer>,
    region_lps: usize,
    /// Nodes dropped because their region LP proved them empty.
    region_empty: usize,
    /// Region LPs that neither found an interior point nor proved emptiness.
    region_unknown: usize,
    /// Points of inner nodes' region LPs certified as witnesses (E2).
    region_witnesses: usize,
    /// Vertex bounds computed, and how many lowered a node's bound.
    vertex_bounds: usize,
    vertex_lowered: usize,
    /// Search candidates certified as witnesses (E2).
    search_witnesses: usize,
    /// Nodes whose bound came from the first-slopes bound (B9).
    first_bounds: usize,
    /// The coupled bounds of every known-slope pattern met so far, reused by nodes with the same known slopes.
    memo: Memo,
    /// Nodes that reused them.
    memo_hits: usize,
}

impl Tree<'_> {
    /// Evaluates a node and sends it to the heap, to the finished patterns, or drops it; `cap` is its parent's
    /// bound (valid on the child's region too).
    fn place(&mut self, pieces: Pieces, cap: f64, point: Option<Inside>) {
        self.nodes += 1;
        let Some(ev) = evaluate(self.chain, &self.c, &pieces, self.budgets(), &mut self.memo) else {
            self.empty += 1;
            return;
        };
        self.first_bounds += usize::from(ev.by_first && ev.bound < cap);
        self.memo_hits += usize::from(ev.reused);
        let bound = ev.bound.min(cap);
        match ev.split {
            // An inner node's region LP waits until it is popped (most nodes never are).
            Some(split) if bound > self.lower => {
                self.heap.push(Node { bound, pieces, split, point, vertex_done: false })
            }
            Some(_) => {
                self.dropped += 1;
                self.dropped_max = self.dropped_max.max(bound);
            }
            None => {
                self.patterns += 1;
                if bound <= self.lower {
                    // Neither the upper side nor the lower bound can change. (A leaf at or below the finished
                    // maximum but above the lower bound is still tried: its witness can raise the lower bound.)
                    self.finished_max = self.finished_max.max(bound);
                    return;
                }
                let lp_point = match point {
                    Some(p) => Some(p.x), // inside the region: no LP needed
                    None => match self.region(&pieces) {
                        Some(Verdict::Empty) => return,
                        Some(Verdict::Open { input, .. }) => Some(input),
                        _ => None,
                    },
                };
                self.finished_max = self.finished_max.max(bound);
                let x = lp_point.or_else(|| {
                    ev.pattern.and_then(|p| witness_candidate(self.chain, &p, self.opts.witness_radius))
                });
                if let Some(x) = x
                    && self.witness(&x)
                {
                    self.witnessed += 1;
                }
            }
        }
    }

    fn budgets(&self) -> Budgets {
        let o = self.opts;
        Budgets { box_enum: o.box_enum, first_enum: o.first_enum, later_enum: o.later_enum }
    }

    /// The vertex bound of a node (B7) when its work is within the budget.
    fn vertex(&mut self, pieces: &Pieces) -> Option<f64> {
        if self.opts.vertex_work <= 0.0 {
            return None;
        }
        let boxes = leaf_boxes(self.chain, pieces)?;
        let slopes = known_slopes(self.chain, pieces, &boxes);
        if vertex_work(self.chain, &slopes)? > self.opts.vertex_work {
            return None;
        }
        self.vertex_bounds += 1;
        vertex_bound(self.chain, &self.c, &slopes)
    }

    /// The node's region LP when region LPs are on (B4–B6), with the counters kept.
    fn region(&mut self, pieces: &Pieces) -> Option<Verdict> {
        if !self.regions {
            return None;
        }
        let boxes = leaf_boxes(self.chain, pieces).expect("evaluate found the boxes non-empty");
        self.region_lps += 1;
        let v = check_region(self.chain, self.first.as_ref(), pieces, &boxes);
        match &v {
            Verdict::Empty => self.region_empty += 1,
            Verdict::Unknown => self.region_unknown += 1,
            Verdict::Open { .. } => {}
        }
        Some(v)
    }

    /// Raises the lower bound with the proven value at x (E2); whether x was certified.
    fn witness(&mut self, x: &[f64]) -> bool {
        let (_, used, pairs) = witness_lower(self.chain, Norm::LinfMargin, &[x.to_vec()]);
        if used == 1 {
            self.lower = self.lower.max(pairs[self.k_pair].value);
        }
        used == 1
    }
}

/// The tree of one class pair, margin c = e_t − e_j, starting from the proven lower bound `start_lower`.
///
/// Theorems B1–B9 (proofs/bab.md); checked by tests/bab.rs::bab_brackets_the_true_constant and
/// tests/bab_region.rs::closed_trees_reach_the_region_enumeration.
pub fn bab_pair(chain: &Chain, t: usize, j: usize, start_lower: f64, opts: &BabOptions) -> PairResult {
    let start = Instant::now();
    let out = chain.output_dim();
    let mut c = vec![0.0; out];
    (c[t], c[j]) = (1.0, -1.0);
    let k_pair = class_pairs(out).iter().position(|&p| p == (t, j)).expect("a pair of the chain");
    let root: Pieces = activations(chain).iter().map(|&(k, _)| vec![FREE; chain.width_before(k)]).collect();
    let first = if opts.regions { FirstLayer::of(chain) } else { None };
    let regions = opts.regions && (first.is_some() || chain.input_dim <= opts.region_max_inputs);
    let mut tr = Tree {
        chain,
        c,
        k_pair,
        opts,
        heap: BinaryHeap::new(),
        lower: start_lower,
        finished_max: 0.0,
        dropped_max: 0.0,
        nodes: 0,
        patterns: 0,
        witnessed: 0,
        empty: 0,
        dropped: 0,
        regions,
        first,
        region_lps: 0,
        region_empty: 0,
        region_unknown: 0,
        region_witnesses: 0,
        vertex_bounds: 0,
        vertex_lowered: 0,
        search_witnesses: 0,
        first_bounds: 0,
        memo: Memo::default(),
        memo_hits: 0,
    };
    if let (Some(so), Some(fl)) = (&opts.search, &tr.first) {
        let c = tr.c.clone();
        for (_, x) in witness_candidates(chain, fl, &c, so).into_iter().take(opts.search_witnesses) {
            tr.search_witnesses += usize::from(tr.witness(&x));
        }
    }
    tr.place(root, f64::INFINITY, None);
    // Upper side settled when no open leaf's bound exceeds the finished and dropped leaves'; the open leaves are
    // still explored while they can raise the lower bound.
    let settled = |tr: &Tree| tr.heap.peek().is_none_or(|n| n.bound <= tr.finished_max.max(tr.dropped_max));
    let stop = loop {
        let upper = tr.heap.peek().map_or(0.0, |n| n.bound).max(tr.finished_max).max(tr.dropped_max);
        if upper <= tr.lower * (1.0 + opts.gap_tolerance) {
            break "gap tolerance";
        }
        if tr.heap.is_empty() {
            break "tree exhausted";
        }
        if tr.nodes >= opts.max_nodes {
            break "node budget";
        }
        if start.elapsed().as_secs_f64() >= opts.seconds_per_pair {
            break "time budget";
        }
        let mut node = tr.heap.pop().expect("non-empty");
        if node.bound <= tr.lower {
            tr.dropped += 1;
            tr.dropped_max = tr.dropped_max.max(node.bound);
            continue;
        }
        // The exact maximum over the node's undecided slopes, when affordable (B7); a lower value sends the
        // node back to the heap instead of splitting it.
        if !node.vertex_done {
            node.vertex_done = true;
            if let Some(vb) = tr.vertex(&node.pieces)
                && vb < node.bound
            {
                tr.vertex_lowered += 1;
                node.bound = vb;
                if vb <= tr.lower {
                    tr.dropped += 1;
                    tr.dropped_max = tr.dropped_max.max(vb);
                } else {
                    tr.heap.push(node);
                }
                continue;
            }
        }
        // A point inside the node, inherited or from its region LP; the child whose piece it has inherits it.
        let point = match node.point {
            Some(p) => Some(p),
            None => match tr.region(&node.pieces) {
                Some(Verdict::Empty) => continue,
                Some(Verdict::Open { input, .. }) => {
                    if tr.witness(&input) {
                        tr.region_witnesses += 1;
                    }
                    Some(Inside::at(chain, input)).filter(|p| p.realises(&node.pieces))
                }
                _ => None,
            },
        };
        for &p in &node.split.pieces {
            let mut child = node.pieces.clone();
            child[node.split.act][node.split.unit] = p;
            let inherit =
                point.as_ref().filter(|q| piece_holds(p, q.pieces[node.split.act][node.split.unit])).cloned();
            tr.place(child, node.bound, inherit);
        }
    };
    let open_max = tr.heap.peek().map_or(0.0, |n| n.bound);
    let upper = open_max.max(tr.finished_max).max(tr.dropped_max);
    let (lower, closed, gap) = (tr.lower, settled(&tr), upper - tr.lower);
    let detail = json!({
        "pair": [t, j], "upper": upper, "lower": lower, "gap": gap,
        "relative_gap": (lower > 0.0).then(|| gap / lower), "closed": closed, "stopped_by": stop,
        "nodes": tr.nodes, "open_leaves": tr.heap.len(), "pattern_leaves": tr.patterns,
        "witnessed_patterns": tr.witnessed, "empty_leaves": tr.empty, "dropped_leaves": tr.dropped,
        "region_lps": tr.region_lps, "region_empty": tr.region_empty, "region_unknown": tr.region_unknown,
        "region_witnesses": tr.region_witnesses, "vertex_bounds": tr.vertex_bounds,
        "vertex_lowered": tr.vertex_lowered, "search_witnesses": tr.search_witnesses,
        "first_bounds": tr.first_bounds, "memo_hits": tr.memo_hits,
        "region_space": if !tr.regions { "off".to_string() } else if let Some(f) = &tr.first {
            format!("first pre-activations (ℝ^{})", f.width())
        } else {
            format!("input (ℝ^{})", chain.input_dim)
        },
        "seconds": start.elapsed().as_secs_f64(),
    });
    PairResult { upper, lower, closed, nodes: tr.nodes, detail }
}

/// The certified branch-and-bound bound of `chain` (ℓ∞ inputs, pairwise margins, network scope).
///
/// Theorems B1–B9 (proofs/bab.md); checked by tests/bab.rs::bab_brackets_the_true_constant,
/// tests/bab.rs::order_holds_on_random_nets and tests/bab_region.rs::closed_trees_reach_the_region_enumeration.
pub fn bab_bound(
    chain: &Chain,
    function: Function,
    norm: Norm,
    opts: &BabOptions,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Bound> {
    let start = Instant::now();
    if norm != Norm::LinfMargin {
        return Err(Error::not_applicable("lp-bab", "branch and bound is implemented for ℓ∞ margins only"));
    }
    let h = chain.hidden_units();
    if h > opts.max_hidden {
        return Err(Error::TooLarge {
            method: "lp-bab",
            problem: format!("{h} activation units (limit {})", opts.max_hidden),
        });
    }
    if !(opts.seconds_per_pair >= 0.0
        && opts.gap_tolerance >= 0.0
        && opts.witness_radius > 0.0
        && opts.vertex_work >= 0.0)
    {
        return Err(Error::config(
            "lp-bab options",
            "budgets, tolerance and witness radius must be ≥ 0 (radius > 0)",
        ));
    }
    let out = chain.output_dim();
    let all = class_pairs(out);
    let pairs = opts.pairs.clone().unwrap_or_else(|| all.clone());
    if pairs.is_empty() {
        return Err(Error::config("lp-bab pairs", "an empty list of class pairs bounds nothing"));
    }
    if let Some(&(t, j)) = pairs.iter().find(|&&(t, j)| t >= j || j >= out) {
        return Err(Error::config("lp-bab pairs", format!("pair ({t}, {j}) is not t < j below {out}")));
    }
    // Proven lower bounds to start from (E2), one per pair.
    let start_lower: Vec<f64> = match &opts.ascent {
        Some(a) => {
            let b = gradient_ascent(chain, function, norm, &[], a)?;
            pairs.iter().map(|&(t, j)| b.pair_value(t, j).unwrap_or(0.0)).collect()
        }
        None => vec![0.0; pairs.len()],
    };
    let done = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<PairResult> = pairs
        .par_iter()
        .zip(&start_lower)
        .map(|(&(t, j), &lo)| {
            let r = bab_pair(chain, t, j, lo, opts);
            let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            progress(&format!(
                "lp-bab: pair {t}-{j}: [{:.6}, {:.6}], {} nodes ({n}/{})",
                r.lower,
                r.upper,
                r.nodes,
                pairs.len()
            ));
            r
        })
        .collect();
    let value = results.iter().fold(0.0f64, |m, r| m.max(r.upper));
    let lower = results.iter().fold(0.0f64, |m, r| m.max(r.lower));
    let constants: Vec<PairConstant> =
        pairs.iter().zip(&results).map(|(&(t, j), r)| PairConstant { t, j, value: r.upper }).collect();
    let closed = results.iter().filter(|r| r.closed).count();
    let nodes: usize = results.iter().map(|r| r.nodes).sum();
    Ok(Bound {
        request: None,
        method: Method::LpBab,
        function,
        soundness: Soundness::Certified,
        norm,
        scope: Scope::Network,
        value,
        pairs: constants,
        per_layer: Vec::new(),
        seconds: start.elapsed().as_secs_f64(),
        detail: json!({
            "lower": lower, "gap": value - lower, "relative_gap": (lower > 0.0).then(|| (value - lower) / lower),
            "lower_is": "proven lower bound on the largest pair constant (witness points, theorem E2)",
            "pairs_closed": closed, "nodes": nodes, "seconds_per_pair": opts.seconds_per_pair,
            "max_nodes": opts.max_nodes, "gap_tolerance": opts.gap_tolerance,
            "converges_to": if opts.regions {
                "the maximum over activation patterns not refuted by intervals or region LPs (L when every pattern leaf's LP is decided)"
            } else {
                "the maximum over activation patterns not refuted by interval propagation (between L and FGL)"
            },
            "per_pair": results.iter().map(|r| r.detail.clone()).collect::<Vec<_>>(),
        }),
    })
}

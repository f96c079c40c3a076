//! The open nodes of the branch and bound ([`super::bab`]): ordered by their bound for the best-first heap, each
//! with an input known to lie inside its region when one was found (so that its region LP can be skipped).

use std::cmp::Ordering;

use super::bab_leaf::{FREE, Pieces, Split, activations, piece_holds};
use super::chain::{Act, Chain};

/// An open node: its bound (the heap's key) and its pieces.
pub(crate) struct Node {
    pub bound: f64,
    pub pieces: Pieces,
    pub split: Split,
    /// An input inside the node's region with every fixed unit off its kinks (no region LP needed).
    pub point: Option<Inside>,
    /// Whether the vertex bound (B7) has been tried on it.
    pub vertex_done: bool,
}

/// An input and the piece of every unit there (`FREE` where a pre-activation is near a kink).
#[derive(Clone)]
pub(crate) struct Inside {
    pub x: Vec<f64>,
    pub pieces: Pieces,
}

/// Relative distance to a kink below which a floating-point pre-activation's piece is taken as unknown.
const NEAR_KINK: f64 = 1e-9;

impl Inside {
    /// The pieces of `chain` at x (floating-point forward pass; only a heuristic, nothing proven rests on it).
    pub fn at(chain: &Chain, x: Vec<f64>) -> Inside {
        let trace = chain.trace(&x);
        let pieces = activations(chain)
            .iter()
            .map(|&(k, a)| {
                let kinks: &[f64] = if a == Act::Relu { &[0.0] } else { &[-1.0, 1.0] };
                trace[k]
                    .iter()
                    .map(|&z| {
                        if kinks.iter().any(|k| (z - k).abs() <= NEAR_KINK * (1.0 + z.abs())) {
                            FREE
                        } else {
                            kinks.iter().filter(|&&k| z > k).count() as u8
                        }
                    })
                    .collect()
            })
            .collect();
        Inside { x, pieces }
    }

    /// Whether every fixed unit of `node` has its piece at x.
    pub fn realises(&self, node: &Pieces) -> bool {
        node.iter()
            .zip(&self.pieces)
            .all(|(n, p)| n.iter().zip(p).all(|(&a, &b)| a == FREE || piece_holds(a, b)))
    }
}

impl PartialEq for Node {
    fn eq(&self, o: &Self) -> bool {
        self.bound.total_cmp(&o.bound) == Ordering::Equal
    }
}
impl Eq for Node {}
impl PartialOrd for Node {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Node {
    fn cmp(&self, o: &Self) -> Ordering {
        self.bound.total_cmp(&o.bound)
    }
}

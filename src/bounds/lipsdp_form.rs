//! A feed-forward chain in the form of LipSDP (Fazlyab et al., NeurIPS 2019): affine maps W₁, …, W_L with a
//! slope-restricted activation (slopes in [0, 1]) after every map but the last.
//!
//! The steps of a [`Chain`] between two activations (dense maps, per-feature affine maps such as folded
//! BatchNorm, binary layers whose scale is already in their weights) are multiplied into one matrix Ŵ_k in
//! floating point, with an entrywise bound B_k on |W_k − Ŵ_k| (theorems F1, F2 and F5, `proofs/float.md`), so
//! that a certificate about the exact maps W_k can be drawn from the floating-point ones (theorem LS2,
//! `proofs/lipsdp.md`). Offsets do not change a Lipschitz constant and are dropped.
//!
//! [`LipForm::margin`] replaces the last map by one row (w_t − w_j)ᵀ: the form of the margin f_t − f_j.

use nalgebra::DMatrix;

use super::chain::{Chain, Step};
use super::float::{ETA, add_up, dn, gamma, mul_up, up};
use crate::error::{Error, Result};

/// The maps W₁, …, W_L of a network in LipSDP form.
#[derive(Clone, Debug, PartialEq)]
pub struct LipForm {
    /// Input dimension n₀.
    pub input_dim: usize,
    /// Ŵ_k, of shape n_k × n_{k−1}, in floating point.
    pub weights: Vec<DMatrix<f64>>,
    /// B_k ≥ |W_k − Ŵ_k| entrywise, `None` when Ŵ_k is exactly W_k.
    pub errors: Vec<Option<DMatrix<f64>>>,
}

/// An upper bound on every entry of A·M for A, M ≥ 0 entrywise (theorem F5): (fl(AM) + nη)/(1 − γ_n).
pub(crate) fn abs_product_up(a: &DMatrix<f64>, m: &DMatrix<f64>) -> DMatrix<f64> {
    let n = a.ncols();
    let p = a * m;
    let denom = dn(1.0 - gamma(n));
    let floor = mul_up(n as f64, ETA);
    p.map(|v| up(up(v + floor) / denom))
}

/// The running product of one segment, with its error bound.
struct Segment {
    m: DMatrix<f64>,
    err: Option<DMatrix<f64>>,
    identity: bool,
}

impl Segment {
    fn identity(n: usize) -> Self {
        Segment { m: DMatrix::identity(n, n), err: None, identity: true }
    }

    /// y = W·(current): |W C − fl(W Ĉ)| ≤ |W|B + γ_n|W||Ĉ| + nη (F2), all rounded up (F5).
    fn linear(&mut self, w: &DMatrix<f64>) {
        if self.identity {
            *self = Segment { m: w.clone(), err: None, identity: false };
            return;
        }
        let abs_w = w.abs();
        let n = w.ncols();
        let prod = abs_product_up(&abs_w, &self.m.abs());
        let (g, floor) = (gamma(n), mul_up(n as f64, ETA));
        let mut e = prod.map(|v| add_up(mul_up(g, v), floor));
        if let Some(b) = &self.err {
            e.zip_apply(&abs_product_up(&abs_w, b), |x, y| *x = add_up(*x, y));
        }
        self.m = w * &self.m;
        self.err = Some(e);
    }

    /// y = s ⊙ (current): |s·c − fl(s·ĉ)| ≤ |s|·b + γ₁|fl(s·ĉ)| + η (F1).
    fn diag(&mut self, s: &[f64]) {
        let (rows, cols) = self.m.shape();
        let g1 = gamma(1);
        let mut e = DMatrix::zeros(rows, cols);
        for j in 0..cols {
            for i in 0..rows {
                let v = s[i] * self.m[(i, j)];
                let prior = self.err.as_ref().map_or(0.0, |b| mul_up(s[i].abs(), b[(i, j)]));
                e[(i, j)] = add_up(add_up(prior, mul_up(g1, v.abs())), ETA);
                self.m[(i, j)] = v;
            }
        }
        self.err = Some(e);
        self.identity = false;
    }
}

impl LipForm {
    /// The LipSDP form of `chain`: every activation (ReLU, hardtanh) has slopes in [0, 1]; the steps between two
    /// activations are multiplied out with their error bound. A chain with no activation is one linear map.
    pub fn from_chain(chain: &Chain) -> Result<LipForm> {
        let mut weights = Vec::new();
        let mut errors = Vec::new();
        let mut seg = Segment::identity(chain.input_dim);
        for (s, step) in chain.steps.iter().enumerate() {
            match step {
                Step::Linear { w, .. } => seg.linear(w),
                Step::Diag { s, .. } => seg.diag(s),
                Step::Act(_) => {
                    let done = std::mem::replace(&mut seg, Segment::identity(chain.widths[s]));
                    weights.push(done.m);
                    errors.push(done.err);
                }
            }
        }
        weights.push(seg.m);
        errors.push(seg.err);
        let form = LipForm { input_dim: chain.input_dim, weights, errors };
        form.check()?;
        Ok(form)
    }

    /// Refuses NaN or infinite weights (they have no Lipschitz constant to certify).
    fn check(&self) -> Result<()> {
        for (k, w) in self.weights.iter().enumerate() {
            if w.iter().any(|v| !v.is_finite()) {
                return Err(Error::not_applicable(
                    "LipSDP",
                    format!("map {} of the LipSDP form has a non-finite entry", k + 1),
                ));
            }
        }
        Ok(())
    }

    /// The form of the margin f_t − f_j: the last map replaced by the row ŵ_t − ŵ_j, its error bound
    /// b_t + b_j + γ₁|ŵ_t − ŵ_j| + η per entry (F1).
    pub fn margin(&self, t: usize, j: usize) -> LipForm {
        let last = self.weights.last().expect("at least one map");
        let row = DMatrix::from_fn(1, last.ncols(), |_, c| last[(t, c)] - last[(j, c)]);
        let g1 = gamma(1);
        let err = DMatrix::from_fn(1, last.ncols(), |_, c| {
            let prior = self
                .errors
                .last()
                .expect("one per map")
                .as_ref()
                .map_or(0.0, |b| add_up(b[(t, c)], b[(j, c)]));
            add_up(add_up(prior, mul_up(g1, row[(0, c)].abs())), ETA)
        });
        let mut form = self.clone();
        *form.weights.last_mut().expect("non-empty") = row;
        *form.errors.last_mut().expect("non-empty") = Some(err);
        form
    }

    /// Number of maps L.
    pub fn depth(&self) -> usize {
        self.weights.len()
    }

    /// Widths n₁, …, n_{L−1} of the hidden (activation) layers.
    pub fn hidden(&self) -> Vec<usize> {
        self.weights[..self.depth() - 1].iter().map(|w| w.nrows()).collect()
    }

    /// N = Σ n_k over the hidden layers: the number of multipliers of LipSDP-Neuron.
    pub fn neurons(&self) -> usize {
        self.hidden().iter().sum()
    }

    /// Offsets of the blocks of the LMI matrix: block 0 is the input (n₀), block k the k-th hidden layer; the
    /// last entry is the dimension n₀ + N.
    pub fn offsets(&self) -> Vec<usize> {
        let mut o = vec![0, self.input_dim];
        for h in self.hidden() {
            o.push(o.last().expect("non-empty") + h);
        }
        o
    }
}

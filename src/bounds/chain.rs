//! A feed-forward net lowered to a chain of exact linear maps and piecewise-linear activations.
//!
//! The LP and exact methods work on `x → step₁ → ⋯ → step_S`, each step a dense affine map, a diagonal affine
//! map or an activation (ReLU or hardtanh; `Sign` is hardtanh in the surrogate and latent functions). Every
//! matrix entry is a number of the net itself (convolutions are unrolled, a per-channel affine map is repeated
//! over positions), so the chain is the same real function as the net; nothing is multiplied out in floating
//! point. Residual blocks, max pooling and averages over a window whose size is not a power of two are refused.

use nalgebra::{DMatrix, DVector};

use super::float::{ETA, dn, gamma, mul_up, up};
use crate::error::{Error, Result};
use crate::ir::{ConvGeometry, Function, Layer, Net, layer_output};

/// A piecewise-linear activation with derivative in {0, 1}.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Act {
    /// max(0, z): derivative 1 for z > 0.
    Relu,
    /// clamp(z, −1, 1): derivative 1 for −1 < z < 1.
    HardTanh,
}

impl Act {
    /// The activation's value.
    pub fn apply(self, z: f64) -> f64 {
        match self {
            Act::Relu => z.max(0.0),
            Act::HardTanh => z.clamp(-1.0, 1.0),
        }
    }

    /// The derivative pattern at z (the right derivative at a kink, one element of the Clarke gradient).
    pub fn slope(self, z: f64) -> bool {
        match self {
            Act::Relu => z >= 0.0,
            Act::HardTanh => (-1.0..1.0).contains(&z),
        }
    }

    /// The derivative if [l, u] lies strictly inside one piece (no kink in the closed interval), else `None`.
    pub fn strictly_stable(self, l: f64, u: f64) -> Option<bool> {
        match self {
            Act::Relu if l > 0.0 => Some(true),
            Act::Relu if u < 0.0 => Some(false),
            Act::HardTanh if l > -1.0 && u < 1.0 => Some(true),
            Act::HardTanh if u < -1.0 || l > 1.0 => Some(false),
            _ => None,
        }
    }

    /// The derivative if it is the same on all of [l, u] (up to kinks, a null set), else `None`.
    pub fn stable(self, l: f64, u: f64) -> Option<bool> {
        match self {
            Act::Relu if l >= 0.0 => Some(true),
            Act::Relu if u <= 0.0 => Some(false),
            Act::HardTanh if l >= -1.0 && u <= 1.0 => Some(true),
            Act::HardTanh if u <= -1.0 || l >= 1.0 => Some(false),
            _ => None,
        }
    }
}

/// One step of a [`Chain`].
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// y = W x + b.
    Linear {
        /// The matrix.
        w: DMatrix<f64>,
        /// The offset.
        b: DVector<f64>,
    },
    /// y = s ⊙ x + t.
    Diag {
        /// Scales.
        s: Vec<f64>,
        /// Offsets.
        t: Vec<f64>,
    },
    /// y = act(x) elementwise.
    Act(Act),
}

/// A net as a chain of steps on a flat input.
#[derive(Clone, Debug, PartialEq)]
pub struct Chain {
    /// Input dimension.
    pub input_dim: usize,
    /// The steps in order.
    pub steps: Vec<Step>,
    /// Width of the vector after each step.
    pub widths: Vec<usize>,
}

fn unsupported(path: &str, what: &str) -> Error {
    Error::not_applicable(
        "LP/exact methods",
        format!(
            "layer {path}: {what} is not supported (feed-forward dense/conv/affine/relu/hardtanh nets only)"
        ),
    )
}

fn conv_matrix(layer: &Layer, f: Function, max_entries: usize, path: &str) -> Result<Step> {
    let Layer::Conv2d { bias, stride, padding, in_shape, .. } = layer else { unreachable!() };
    let k = layer.conv_kernel(f).expect("conv");
    let g = ConvGeometry::new(k, *in_shape, *stride, *padding);
    let (n_in, [co, oh, ow]) = (in_shape.iter().product::<usize>(), g.out_shape());
    let n_out = co * oh * ow;
    if n_in * n_out > max_entries {
        return Err(Error::TooLarge {
            method: "LP/exact methods",
            problem: format!(
                "layer {path}: unrolling the convolution needs {n_in}×{n_out} entries (limit {max_entries})"
            ),
        });
    }
    let mut w = DMatrix::zeros(n_out, n_in);
    let (s, p) = (*stride as isize, *padding as isize);
    for o in 0..co {
        for i in 0..oh {
            for j in 0..ow {
                let row = (o * oh + i) * ow + j;
                for c in 0..k.c_in {
                    for a in 0..k.kh {
                        for b in 0..k.kw {
                            let (r, q) = (i as isize * s + a as isize - p, j as isize * s + b as isize - p);
                            if r >= 0 && q >= 0 && (r as usize) < g.h && (q as usize) < g.w {
                                w[(row, (c * g.h + r as usize) * g.w + q as usize)] = k.at(o, c, a, b);
                            }
                        }
                    }
                }
            }
        }
    }
    let b = DVector::from_fn(n_out, |r, _| bias.as_ref().map_or(0.0, |b| b[r / (oh * ow)]));
    Ok(Step::Linear { w, b })
}

impl Chain {
    /// Lowers `net` under `function` (not `deployed`); convolutions are unrolled up to `max_entries` entries.
    pub fn from_net(net: &Net, function: Function, max_entries: usize) -> Result<Chain> {
        if function == Function::Deployed {
            return Err(Error::not_applicable(
                "LP/exact methods",
                "the deployed (sign) network is discontinuous; use surrogate or latent",
            ));
        }
        net.validate()?;
        let mut shape = net.input_shape.clone();
        let (mut steps, mut widths) = (Vec::new(), Vec::new());
        for (i, layer) in net.layers.iter().enumerate() {
            let path = i.to_string();
            let next = layer_output(&path, layer, &shape, false)?;
            let n_in: usize = shape.iter().product();
            let step = match layer {
                Layer::Dense { bias, .. } => {
                    let w = layer.dense_weight(function).expect("dense").clone();
                    let b = bias.clone().unwrap_or_else(|| DVector::zeros(w.nrows()));
                    Some(Step::Linear { w, b })
                }
                Layer::Conv2d { .. } => Some(conv_matrix(layer, function, max_entries, &path)?),
                Layer::Affine { scale, shift } => {
                    let per = n_in / scale.len();
                    Some(Step::Diag {
                        s: (0..n_in).map(|k| scale[k / per]).collect(),
                        t: (0..n_in).map(|k| shift[k / per]).collect(),
                    })
                }
                Layer::Sign | Layer::HardTanh => Some(Step::Act(Act::HardTanh)),
                Layer::Relu => Some(Step::Act(Act::Relu)),
                Layer::Flatten => None,
                Layer::GlobalAvgPool => {
                    let n = shape[1] * shape[2];
                    if !n.is_power_of_two() {
                        return Err(unsupported(
                            &path,
                            "global average pooling over a non-power-of-two area",
                        ));
                    }
                    let w = DMatrix::from_fn(
                        shape[0],
                        n_in,
                        |r, c| if c / n == r { 1.0 / n as f64 } else { 0.0 },
                    );
                    Some(Step::Linear { w, b: DVector::zeros(shape[0]) })
                }
                Layer::Residual { .. } => return Err(unsupported(&path, "a residual block")),
                Layer::MaxPool { .. } => return Err(unsupported(&path, "max pooling")),
                Layer::AvgPool { .. } => return Err(unsupported(&path, "average pooling")),
            };
            if let Some(step) = step {
                steps.push(step);
                widths.push(next.iter().product());
            }
            shape = next;
        }
        Ok(Chain { input_dim: net.input_len(), steps, widths })
    }

    /// The width of the input of step `s`.
    pub fn width_before(&self, s: usize) -> usize {
        if s == 0 { self.input_dim } else { self.widths[s - 1] }
    }

    /// Output dimension.
    pub fn output_dim(&self) -> usize {
        self.widths.last().copied().unwrap_or(self.input_dim)
    }

    /// Total number of activation units (the size that matters for LP and enumeration).
    pub fn hidden_units(&self) -> usize {
        self.steps
            .iter()
            .enumerate()
            .filter(|(_, s)| matches!(s, Step::Act(_)))
            .map(|(i, _)| self.widths[i])
            .sum()
    }

    /// Forward pass in floating point; returns the input of every step and the output.
    pub fn trace(&self, x: &[f64]) -> Vec<Vec<f64>> {
        let mut vals = vec![x.to_vec()];
        for step in &self.steps {
            let v = vals.last().expect("non-empty");
            let next = match step {
                Step::Linear { w, b } => (w * DVector::from_column_slice(v) + b).data.into(),
                Step::Diag { s, t } => v.iter().zip(s).zip(t).map(|((x, s), t)| s * x + t).collect(),
                Step::Act(a) => v.iter().map(|&z| a.apply(z)).collect(),
            };
            vals.push(next);
        }
        vals
    }

    /// The derivative pattern of every activation step at x (from a floating-point forward pass).
    pub fn patterns_at(&self, x: &[f64]) -> Vec<Vec<bool>> {
        let trace = self.trace(x);
        self.steps
            .iter()
            .enumerate()
            .filter_map(|(s, st)| match st {
                Step::Act(a) => Some(trace[s].iter().map(|&z| a.slope(z)).collect()),
                _ => None,
            })
            .collect()
    }

    /// The gradient cᵀ·J for the given derivative patterns (one `Vec<bool>` per activation step, in order).
    pub fn backward(&self, c: &[f64], patterns: &[Vec<bool>]) -> Vec<f64> {
        let mut g = c.to_vec();
        let mut act = patterns.len();
        for step in self.steps.iter().rev() {
            g = match step {
                Step::Linear { w, .. } => w.tr_mul(&DVector::from_column_slice(&g)).data.into(),
                Step::Diag { s, .. } => g.iter().zip(s).map(|(g, s)| g * s).collect(),
                Step::Act(_) => {
                    act -= 1;
                    g.iter().zip(&patterns[act]).map(|(&g, &d)| if d { g } else { 0.0 }).collect()
                }
            };
        }
        g
    }

    /// The gradients cᵢᵀ·J of every row cᵢ of `c` (one row per output combination) for the given derivative
    /// patterns, as one matrix product per step. Each entry is a dot product computed in some order (A-GEMM), so
    /// theorem F3's slack of row cᵢ bounds the error of row i exactly as for [`Chain::backward`].
    pub fn backward_rows(&self, c: &DMatrix<f64>, patterns: &[Vec<bool>]) -> DMatrix<f64> {
        let mut g = c.clone();
        let mut act = patterns.len();
        for step in self.steps.iter().rev() {
            match step {
                Step::Linear { w, .. } => g = &g * w,
                Step::Diag { s, .. } => {
                    for (mut col, s) in g.column_iter_mut().zip(s) {
                        col *= *s;
                    }
                }
                Step::Act(_) => {
                    act -= 1;
                    for (mut col, &d) in g.column_iter_mut().zip(&patterns[act]) {
                        if !d {
                            col.fill(0.0);
                        }
                    }
                }
            }
        }
        g
    }

    /// γ_K·|W₁|ᵀ⋯|W_S|ᵀ|c| + B rounded upward, K the summed inner dimensions and B the propagated underflow
    /// terms: |fl(cᵀJ) − cᵀJ| ≤ this for every pattern (theorem F3, `proofs/float.md`).
    pub fn gradient_slack(&self, c: &[f64]) -> Vec<f64> {
        let abs_mul = |w: &DMatrix<f64>, v: &[f64]| -> Vec<f64> {
            (0..w.ncols())
                .map(|j| w.column(j).iter().zip(v).fold(0.0, |s, (a, b)| up(s + up(a.abs() * b))))
                .collect()
        };
        let mut g: Vec<f64> = c.iter().map(|v| v.abs()).collect();
        // B: the absolute (underflow) part, B' = (1 + γ_n)|W|ᵀB + nη per dense step, (1 + γ₁)|s|B + η per
        // diagonal step.
        let mut b = vec![0.0f64; c.len()];
        let mut k = 0usize;
        for step in self.steps.iter().rev() {
            match step {
                Step::Linear { w, .. } => {
                    let n = w.nrows();
                    k += n;
                    let grow = up(1.0 + gamma(n));
                    let floor = mul_up(n as f64, ETA);
                    b = abs_mul(w, &b).into_iter().map(|v| up(mul_up(v, grow) + floor)).collect();
                    g = abs_mul(w, &g);
                }
                Step::Diag { s, .. } => {
                    k += 1;
                    let grow = up(1.0 + gamma(1));
                    b = b.iter().zip(s).map(|(b, s)| up(mul_up(mul_up(*b, s.abs()), grow) + ETA)).collect();
                    g = g.iter().zip(s).map(|(g, s)| up(g * s.abs())).collect();
                }
                Step::Act(_) => {}
            }
        }
        let gk = gamma(k);
        g.into_iter().zip(b).map(|(v, b)| up(up(v * gk) + b)).collect()
    }

    /// [`Chain::gradient_slack`] of every row of `c` at once: the absolute chain A and the underflow part B as
    /// one matrix product with |W| per dense step, each entry bounded from the rounded product by theorem F5
    /// instead of rounding every operation upward. Row i bounds |fl(cᵢᵀJ) − cᵢᵀJ| (theorem F3).
    pub fn gradient_slack_rows(&self, c: &DMatrix<f64>) -> DMatrix<f64> {
        // x ≥ 0 entrywise, n terms per entry: (x|W|)ᵢⱼ ≤ (fl(x|W|)ᵢⱼ + nη)/(1 − γ_n) (F5).
        let abs_rows = |x: &DMatrix<f64>, w: &DMatrix<f64>| -> DMatrix<f64> {
            let n = w.nrows();
            let (n_eta, one_minus) = (n as f64 * ETA, dn(1.0 - gamma(n)));
            (x * w.abs()).map(|a| up(up(a + n_eta) / one_minus))
        };
        let mut g = c.abs();
        let mut b = DMatrix::<f64>::zeros(c.nrows(), c.ncols());
        let mut k = 0usize;
        for step in self.steps.iter().rev() {
            match step {
                Step::Linear { w, .. } => {
                    let n = w.nrows();
                    k += n;
                    let grow = up(1.0 + gamma(n));
                    let floor = mul_up(n as f64, ETA);
                    b = abs_rows(&b, w).map(|v| up(mul_up(v, grow) + floor));
                    g = abs_rows(&g, w);
                }
                Step::Diag { s, .. } => {
                    k += 1;
                    let grow = up(1.0 + gamma(1));
                    for (j, s) in s.iter().enumerate() {
                        for i in 0..g.nrows() {
                            b[(i, j)] = up(mul_up(mul_up(b[(i, j)], s.abs()), grow) + ETA);
                            g[(i, j)] = up(g[(i, j)] * s.abs());
                        }
                    }
                }
                Step::Act(_) => {}
            }
        }
        let gk = gamma(k);
        g.zip_map(&b, |v, b| up(up(v * gk) + b))
    }
}

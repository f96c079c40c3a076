//! The first sign layer of a deployed net and certified per-unit Lipschitz constants of the layers before it
//! (the prefix), used by theorems V3–V5 (`proofs/certify.md`).
//!
//! When every layer before the first top-level `Sign` is a plain feed-forward layer (no `Sign` anywhere, no
//! residual block), the deployed function is f = g ∘ sign ∘ z with z the prefix: the input reaches the output only
//! through that sign. For each unit u of z a constant L_u with |z_u(y) − z_u(x)| ≤ L_u‖y − x‖_p for all x, y is
//! propagated through the prefix, rounded upward:
//!
//! | layer | rule |
//! |---|---|
//! | first linear layer (dense row or conv kernel slice w_u) | ‖w_u‖_q, q = 2 (ℓ2 input) or 1 (ℓ∞ input) |
//! | a later dense or conv layer W | Σ_k \|W_uk\| L_k |
//! | per-channel affine s ⊙ x + t | \|s_u\| L_u |
//! | max, average and global average pooling | max of L over the window |
//! | hardtanh, ReLU, flatten | unchanged |

use nalgebra::{DMatrix, DVector};

use super::{Applicable, NotApplicable};
use crate::error::Result;
use crate::float::{ETA, dn, gamma, up};
use crate::ir::{ConvGeometry, Function, InputNorm, Kernel, Layer, Net, conv2d};

/// The first top-level sign of a net whose prefix is feed-forward.
#[derive(Clone, Debug, PartialEq)]
pub struct FirstSign {
    /// Index of the `Sign` layer in `net.layers`.
    pub at: usize,
    /// Shape of its input z (and output).
    pub shape: Vec<usize>,
    /// Whether the prefix is affine: flatten layers, one dense or convolution layer, then per-channel affine
    /// maps (theorem V5 needs z affine in the input).
    pub affine_prefix: bool,
}

impl FirstSign {
    /// Number of units of the sign layer.
    pub fn units(&self) -> usize {
        self.shape.iter().product()
    }
}

/// Finds the first top-level `Sign` and checks that the input reaches the output only through it (the
/// structure theorems V3 and V5 need; V4 uses its threshold form exactly when this applies).
///
/// Theorem V3 (proofs/certify.md); checked by tests/certify.rs::resnet_is_declined_and_propagation_is_sound.
pub fn first_sign(net: &Net) -> Result<Applicable<FirstSign>> {
    locate(net, "first-sign structure")
}

/// [`first_sign`], declining in the name of `method`.
pub(crate) fn locate(net: &Net, method: &'static str) -> Result<Applicable<FirstSign>> {
    let shapes = net.shapes()?;
    let decline = |reason: String| Ok(Err(NotApplicable { method, reason }));
    let mut linear = 0;
    let mut affine_prefix = true;
    for (i, layer) in net.layers.iter().enumerate() {
        match layer {
            Layer::Sign => {
                if linear == 0 {
                    affine_prefix = false;
                }
                return Ok(Ok(FirstSign { at: i, shape: shapes[i].clone(), affine_prefix }));
            }
            Layer::Residual { .. } if layer.contains_sign() => {
                return decline(format!(
                    "the first sign sits inside the residual block at layer {i}, with a shortcut around it: the \
                     input also reaches the output without passing that sign"
                ));
            }
            Layer::Residual { .. } => {
                return decline(format!("layer {i} is a residual block before the first sign"));
            }
            Layer::Dense { .. } | Layer::Conv2d { .. } => {
                linear += 1;
                affine_prefix &= linear == 1;
            }
            Layer::Affine { .. } => affine_prefix &= linear == 1,
            Layer::Flatten => {}
            Layer::MaxPool { .. }
            | Layer::AvgPool { .. }
            | Layer::GlobalAvgPool
            | Layer::HardTanh
            | Layer::Relu => affine_prefix = false,
        }
    }
    decline("the net has no top-level sign activation".into())
}

/// Per-unit constants: either still the identity on the input, or one value per unit.
enum Lip {
    Identity,
    Units(Vec<f64>),
}

impl Lip {
    /// Each input coordinate moves by at most ‖y − x‖_p (p = 2 or ∞).
    fn units(self, n: usize) -> Vec<f64> {
        match self {
            Lip::Identity => vec![1.0; n],
            Lip::Units(v) => v,
        }
    }
}

/// An upper bound on A·v for A ≥ 0 entrywise and v ≥ 0, from one rounded product `a` with n terms per entry
/// (theorem F5, proofs/float.md).
fn nonneg_product_up(a: &[f64], n: usize) -> Vec<f64> {
    let (n_eta, one_minus) = (n as f64 * ETA, dn(1.0 - gamma(n)));
    a.iter().map(|&a| up(up(a.max(0.0) + n_eta) / one_minus)).collect()
}

/// Max of `l` over each pooling window (`rows(o)` lists the input rows of output o).
fn window_max(l: &[f64], outputs: usize, rows: impl Fn(usize) -> Vec<usize>) -> Vec<f64> {
    (0..outputs).map(|o| rows(o).into_iter().map(|r| l[r]).fold(0.0, f64::max)).collect()
}

/// Certified L_u for every unit of the first sign's input, in the input norm `norm` (see the module table).
///
/// Theorem V3 (proofs/certify.md); checked by tests/certify.rs::stability_is_sound_by_sampling.
pub fn unit_lipschitz(net: &Net, first: &FirstSign, norm: InputNorm) -> Result<Vec<f64>> {
    let shapes = net.shapes()?;
    let f = Function::Deployed;
    let mut lip = Lip::Identity;
    for (i, layer) in net.layers[..first.at].iter().enumerate() {
        let (shape, out) = (&shapes[i], &shapes[i + 1]);
        let n_in: usize = shape.iter().product();
        lip = match (layer, lip) {
            (Layer::Dense { .. }, Lip::Identity) => {
                let w = layer.dense_weight(f).expect("dense");
                Lip::Units((0..w.nrows()).map(|u| norm.dual_norm_up(w.row(u).iter())).collect())
            }
            (Layer::Conv2d { .. }, Lip::Identity) => {
                let k = layer.conv_kernel(f).expect("conv");
                let per_out = k.c_in * k.kh * k.kw;
                let per_pos = out[1] * out[2];
                Lip::Units(
                    (0..k.c_out)
                        .flat_map(|o| {
                            let n = norm.dual_norm_up(&k.data[o * per_out..(o + 1) * per_out]);
                            std::iter::repeat_n(n, per_pos)
                        })
                        .collect(),
                )
            }
            (Layer::Dense { .. }, l) => {
                let w = layer.dense_weight(f).expect("dense").abs();
                let a = &w * DVector::from_vec(l.units(n_in));
                Lip::Units(nonneg_product_up(a.as_slice(), w.ncols()))
            }
            (Layer::Conv2d { stride, padding, in_shape, .. }, l) => {
                let k = layer.conv_kernel(f).expect("conv");
                let abs = Kernel { data: k.data.iter().map(|v| v.abs()).collect(), ..k.clone() };
                let g = ConvGeometry::new(&abs, *in_shape, *stride, *padding);
                Lip::Units(nonneg_product_up(&conv2d(&abs, &g, &l.units(n_in)), g.taps()))
            }
            (Layer::Affine { scale, .. }, l) => {
                let per = n_in / scale.len();
                let v = l.units(n_in);
                Lip::Units(v.iter().enumerate().map(|(r, l)| up(l * scale[r / per].abs())).collect())
            }
            (Layer::MaxPool { kernel, stride, padding }, l) => {
                let (h, w, oh, ow) = (shape[1], shape[2], out[1], out[2]);
                let (k, s, p) = (*kernel, *stride, *padding);
                let v = l.units(n_in);
                Lip::Units(window_max(&v, out.iter().product(), |o| {
                    let (c, i, j) = (o / (oh * ow), (o / ow) % oh, o % ow);
                    let mut rows = Vec::new();
                    for a in 0..k {
                        for b in 0..k {
                            let (r, q) =
                                ((i * s + a) as isize - p as isize, (j * s + b) as isize - p as isize);
                            if r >= 0 && q >= 0 && (r as usize) < h && (q as usize) < w {
                                rows.push((c * h + r as usize) * w + q as usize);
                            }
                        }
                    }
                    rows
                }))
            }
            (Layer::AvgPool { kernel, stride }, l) => {
                let (h, w, oh, ow) = (shape[1], shape[2], out[1], out[2]);
                let (k, s) = (*kernel, *stride);
                let v = l.units(n_in);
                Lip::Units(window_max(&v, out.iter().product(), |o| {
                    let (c, i, j) = (o / (oh * ow), (o / ow) % oh, o % ow);
                    (0..k * k).map(|ab| (c * h + i * s + ab / k) * w + j * s + ab % k).collect()
                }))
            }
            (Layer::GlobalAvgPool, l) => {
                let per = shape[1] * shape[2];
                let v = l.units(n_in);
                Lip::Units(window_max(&v, shape[0], |o| (o * per..(o + 1) * per).collect()))
            }
            (Layer::HardTanh | Layer::Relu | Layer::Flatten, l) => l,
            (Layer::Sign | Layer::Residual { .. }, _) => unreachable!("checked by first_sign"),
        };
    }
    Ok(lip.units(first.units()))
}

/// The exact rows and scales of an affine prefix: z_u(y) = σ_u·(w_u·y) + c_u with w_u the rows of `w` (exact
/// floats of the net) and σ_u ∈ [σ_lo, σ_hi] the product of the affine scales that follow (outward rounded).
pub(crate) struct AffinePrefix {
    /// Row u: the first linear layer's row of unit u (a dense row, or the unrolled convolution row).
    pub w: DMatrix<f64>,
    /// Enclosure of the scale product per unit.
    pub sigma: Vec<(f64, f64)>,
}

/// The affine prefix of `first` (requires `first.affine_prefix`).
pub(crate) fn affine_prefix(net: &Net, first: &FirstSign) -> Result<AffinePrefix> {
    let shapes = net.shapes()?;
    let f = Function::Deployed;
    let units = first.units();
    let mut w = None;
    let mut sigma = vec![(1.0f64, 1.0f64); units];
    for (i, layer) in net.layers[..first.at].iter().enumerate() {
        match layer {
            Layer::Dense { .. } => w = Some(layer.dense_weight(f).expect("dense").clone()),
            Layer::Conv2d { stride, padding, in_shape, .. } => {
                let k = layer.conv_kernel(f).expect("conv");
                let g = ConvGeometry::new(k, *in_shape, *stride, *padding);
                let n: usize = in_shape.iter().product();
                // Row u of the unrolled convolution is convᵀ(e_u): each entry is one kernel value (exact).
                let mut m = DMatrix::zeros(units, n);
                let mut e = vec![0.0; units];
                for u in 0..units {
                    e[u] = 1.0;
                    let row = crate::ir::conv2d_transpose(k, &g, &e);
                    m.row_mut(u).copy_from_slice(&row);
                    e[u] = 0.0;
                }
                w = Some(m);
            }
            Layer::Affine { scale, .. } => {
                let n: usize = shapes[i].iter().product();
                let per = n / scale.len();
                for (u, s) in sigma.iter_mut().enumerate() {
                    let c = scale[u / per];
                    let (a, b) = (s.0 * c, s.1 * c);
                    *s = (dn(a.min(b)), up(a.max(b)));
                    if c == 0.0 {
                        *s = (0.0, 0.0);
                    }
                }
            }
            _ => {}
        }
    }
    let w = w.expect("an affine prefix has one linear layer");
    Ok(AffinePrefix { w, sigma })
}

//! The verification IR: an f64 description of a trained network with explicit semantics.
//!
//! Everything that computes Lipschitz constants, certifies or judges a network works on a [`Net`]. Training
//! happens in candle; the export is the only bridge into this IR. The IR depends on no other part of the crate
//! but its error type: it owns the sign activation and its sign(0) convention ([`SignZero`]), which training
//! imports from here.
//!
//! # Activations
//! An activation is a flat `Vec<f64>` with a shape: `[d]` for a feature vector or `[c, h, w]` for an image,
//! stored in CHW order (index `(ch·h + i)·w + j`).
//!
//! # Layer semantics
//! | layer | input → output | definition |
//! |---|---|---|
//! | [`Layer::Dense`] | `[d]` → `[m]` | y = W x + b, W of shape m×d |
//! | [`Layer::Conv2d`] | `in_shape = [c,h,w]` → `[o, h', w']` | cross-correlation (PyTorch): y[o,i,j] = b[o] + Σ_{c,a,b} W[o,c,a,b]·x̄[c, s·i+a, s·j+b], x̄ = x zero-padded by `padding` on each side; h' = ⌊(h+2p−kh)/s⌋+1 |
//! | [`Layer::Affine`] | same shape | y = scale ⊙ x + shift, per channel on `[c,h,w]`, per feature on `[d]` (eval-mode BatchNorm folded: scale = γ/√(var+ε), shift = β − scale·μ) |
//! | [`Layer::Sign`] | same | `deployed`: sign(x) ∈ {−1, +1} with sign(0) given by [`Net::sign_zero`]; `surrogate`/`latent`: hardtanh |
//! | [`Layer::HardTanh`] | same | clamp(x, −1, 1) |
//! | [`Layer::Relu`] | same | max(0, x) |
//! | [`Layer::Residual`] | x → body(x) + shortcut(x) | an empty shortcut is the identity; both branches must give the same shape |
//! | [`Layer::MaxPool`] | `[c,h,w]` | max over k×k windows at stride s, padding p with −∞ (never selected); h' = ⌊(h+2p−k)/s⌋+1 |
//! | [`Layer::AvgPool`] | `[c,h,w]` | mean over k×k windows at stride s, no padding; h' = ⌊(h−k)/s⌋+1 |
//! | [`Layer::GlobalAvgPool`] | `[c,h,w]` → `[c]` | mean over all h·w positions |
//! | [`Layer::Flatten`] | `[c,h,w]` → `[c·h·w]` | CHW order; the identity on `[d]` |
//!
//! # The three functions (DESIGN.md §2)
//! * [`Function::Deployed`]: `Sign` is the sign function and the weights are `weight` (binary layers: the scale
//!   factors times ±1 already multiplied in). Discontinuous: it has no finite Lipschitz constant.
//! * [`Function::Surrogate`]: every `Sign` becomes `HardTanh`; the weights are still `weight`.
//! * [`Function::Latent`]: every `Sign` becomes `HardTanh` and binary layers use their real `latent` weights.
//!
//! # Points
//! The *points* are the real activations the retention matrices are built from (lcr-bnn.md §2.1): the input of
//! every top-level layer that is, or contains, a `Sign`, and, when the last such layer is a `Residual`, the
//! output of that block after the element-wise activations that directly follow it. Binary layer k maps point
//! k−1 to point k. For the MLP (`…, Affine, Sign, Dense, Affine, Sign, …`) the points are the inputs of the
//! signs; for a Bi-Real ResNet they are the block inputs and the last block's output.

mod backward;
mod conv;
mod enclose;
mod enclose_rows;
mod forward;
pub mod matvec;
mod refit;
mod sign;
pub(crate) mod validate;

use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

pub use conv::{ConvGeometry, conv2d, conv2d_transpose};
pub use enclose::{
    BoxBatch, InputNorm, Perturbation, Verdict, columns, margin_lower, pair_margin_lower, verdict,
};
pub use forward::{Forward, Point};
pub use refit::{ChannelMoments, affine_count};
pub use sign::{SignZero, sign};
pub(crate) use validate::layer_output;

/// Which function of a trained network a number describes (DESIGN.md §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Function {
    /// The network as it runs: sign activations, binary weights times their scale.
    Deployed,
    /// The same weights with each sign replaced by hardtanh.
    Surrogate,
    /// The real latent weights with hardtanh activations.
    Latent,
}

impl Function {
    /// The name used in files and tables.
    pub fn name(self) -> &'static str {
        match self {
            Function::Deployed => "deployed",
            Function::Surrogate => "surrogate",
            Function::Latent => "latent",
        }
    }
}

/// A convolution kernel of shape `c_out × c_in × kh × kw`, stored row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Kernel {
    /// Output channels.
    pub c_out: usize,
    /// Input channels.
    pub c_in: usize,
    /// Kernel height.
    pub kh: usize,
    /// Kernel width.
    pub kw: usize,
    /// `c_out·c_in·kh·kw` values; entry (o, c, a, b) at `((o·c_in + c)·kh + a)·kw + b`.
    pub data: Vec<f64>,
}

impl Kernel {
    /// A kernel from its dimensions and row-major data; checks the length.
    pub fn new(c_out: usize, c_in: usize, kh: usize, kw: usize, data: Vec<f64>) -> crate::Result<Self> {
        if data.len() != c_out * c_in * kh * kw {
            return Err(crate::Error::Shape {
                context: "convolution kernel data".into(),
                expected: vec![c_out, c_in, kh, kw],
                found: vec![data.len()],
            });
        }
        Ok(Kernel { c_out, c_in, kh, kw, data })
    }

    /// The dimensions `[c_out, c_in, kh, kw]`.
    pub fn dims(&self) -> [usize; 4] {
        [self.c_out, self.c_in, self.kh, self.kw]
    }

    /// Entry (o, c, a, b).
    pub fn at(&self, o: usize, c: usize, a: usize, b: usize) -> f64 {
        self.data[((o * self.c_in + c) * self.kh + a) * self.kw + b]
    }

    /// The kernel with output channel o multiplied by `scale[o]` (per-channel affine folded in).
    pub fn scaled_out(&self, scale: &[f64]) -> Kernel {
        let per_out = self.c_in * self.kh * self.kw;
        let data = self.data.iter().enumerate().map(|(i, w)| w * scale[i / per_out]).collect();
        Kernel { data, ..self.clone() }
    }
}

/// One layer of a [`Net`]; the module documentation gives the exact semantics.
#[derive(Clone, Debug, PartialEq)]
pub enum Layer {
    /// Fully connected layer y = W x + b on a flat input.
    Dense {
        /// out×in deployed weights (binary layers: scale·(±1), already multiplied).
        weight: DMatrix<f64>,
        /// The real latent weights of a binary layer (same shape), `None` for a real-valued layer.
        latent: Option<DMatrix<f64>>,
        /// Optional bias.
        bias: Option<DVector<f64>>,
    },
    /// 2-D cross-correlation with zero padding.
    Conv2d {
        /// Deployed kernel.
        weight: Kernel,
        /// Latent kernel of a binary layer, `None` for a real-valued layer.
        latent: Option<Kernel>,
        /// Optional per-output-channel bias.
        bias: Option<Vec<f64>>,
        /// Stride (both directions), ≥ 1.
        stride: usize,
        /// Zero padding on each side (both directions).
        padding: usize,
        /// The input shape `[c, h, w]` the layer was trained on.
        in_shape: [usize; 3],
    },
    /// Per-channel (or per-feature) affine map; eval-mode BatchNorm folded.
    Affine {
        /// Multiplicative factors.
        scale: Vec<f64>,
        /// Additive terms.
        shift: Vec<f64>,
    },
    /// sign in the deployed function, hardtanh in the other two.
    Sign,
    /// clamp(x, −1, 1).
    HardTanh,
    /// max(0, x).
    Relu,
    /// y = body(x) + shortcut(x); an empty shortcut is the identity.
    Residual {
        /// The main branch.
        body: Vec<Layer>,
        /// The shortcut branch.
        shortcut: Vec<Layer>,
    },
    /// Max pooling with −∞ padding.
    MaxPool {
        /// Window size.
        kernel: usize,
        /// Stride.
        stride: usize,
        /// Padding on each side.
        padding: usize,
    },
    /// Average pooling without padding.
    AvgPool {
        /// Window size.
        kernel: usize,
        /// Stride.
        stride: usize,
    },
    /// Mean over all spatial positions: `[c,h,w]` → `[c]`.
    GlobalAvgPool,
    /// `[c,h,w]` → `[c·h·w]`.
    Flatten,
}

impl Layer {
    /// A short name for messages and tables.
    pub fn kind(&self) -> &'static str {
        match self {
            Layer::Dense { .. } => "dense",
            Layer::Conv2d { .. } => "conv2d",
            Layer::Affine { .. } => "affine",
            Layer::Sign => "sign",
            Layer::HardTanh => "hardtanh",
            Layer::Relu => "relu",
            Layer::Residual { .. } => "residual",
            Layer::MaxPool { .. } => "maxpool",
            Layer::AvgPool { .. } => "avgpool",
            Layer::GlobalAvgPool => "global-avgpool",
            Layer::Flatten => "flatten",
        }
    }

    /// Whether this layer has binary weights (a latent copy is recorded).
    pub fn is_binary(&self) -> bool {
        matches!(self, Layer::Dense { latent: Some(_), .. } | Layer::Conv2d { latent: Some(_), .. })
    }

    /// Whether this layer is, or contains, a `Sign`.
    pub fn contains_sign(&self) -> bool {
        match self {
            Layer::Sign => true,
            Layer::Residual { body, shortcut } => body.iter().chain(shortcut).any(Layer::contains_sign),
            _ => false,
        }
    }

    /// The dense weight used by `function` (latent weights for [`Function::Latent`] when present).
    pub fn dense_weight(&self, function: Function) -> Option<&DMatrix<f64>> {
        match self {
            Layer::Dense { weight, latent, .. } => Some(match (function, latent) {
                (Function::Latent, Some(l)) => l,
                _ => weight,
            }),
            _ => None,
        }
    }

    /// The convolution kernel used by `function`.
    pub fn conv_kernel(&self, function: Function) -> Option<&Kernel> {
        match self {
            Layer::Conv2d { weight, latent, .. } => Some(match (function, latent) {
                (Function::Latent, Some(l)) => l,
                _ => weight,
            }),
            _ => None,
        }
    }
}

/// A trained network in f64.
#[derive(Clone, Debug, PartialEq)]
pub struct Net {
    /// `[c, h, w]` for images or `[d]` for vectors.
    pub input_shape: Vec<usize>,
    /// Number of classes (the length of the output).
    pub classes: usize,
    /// The recorded sign(0) convention.
    pub sign_zero: SignZero,
    /// The layers in order.
    pub layers: Vec<Layer>,
}

/// Formats the path of a (possibly nested) layer: `"3"`, `"5.body.1"`.
pub fn layer_path(prefix: &str, index: usize) -> String {
    if prefix.is_empty() { index.to_string() } else { format!("{prefix}.{index}") }
}

impl Net {
    /// Number of input values.
    pub fn input_len(&self) -> usize {
        self.input_shape.iter().product()
    }

    /// Whether any layer (at any depth) has binary weights.
    pub fn has_binary_layers(&self) -> bool {
        fn any(layers: &[Layer]) -> bool {
            layers.iter().any(|l| match l {
                Layer::Residual { body, shortcut } => any(body) || any(shortcut),
                l => l.is_binary(),
            })
        }
        any(&self.layers)
    }
}

//! One layer of a spec, and how messages name it.

use crate::model::WeightScaling;

/// One checked layer of a spec. Layers with tensors carry `name`, the prefix of their keys in the weights file.
#[derive(Clone, Debug, PartialEq)]
pub enum SpecLayer {
    /// `nn.Linear`: `name.weight` of shape out×in, `name.bias` when `bias`.
    Dense {
        /// Key prefix.
        name: String,
        /// Output features.
        out: usize,
        /// Whether the layer has a bias.
        bias: bool,
        /// How its weights are binarised, `None` for real weights.
        binary: Option<WeightScaling>,
    },
    /// `nn.Conv2d` with a square kernel: `name.weight` of shape out×in×k×k, `name.bias` when `bias`.
    Conv {
        /// Key prefix.
        name: String,
        /// Output channels.
        out: usize,
        /// Kernel size.
        kernel: usize,
        /// Stride.
        stride: usize,
        /// Zero padding on each side.
        padding: usize,
        /// Whether the layer has a bias.
        bias: bool,
        /// How its weights are binarised, `None` for real weights.
        binary: Option<WeightScaling>,
    },
    /// `nn.BatchNorm1d`/`2d` in eval mode: `name.running_mean`, `name.running_var`, and with `affine`
    /// `name.weight` (γ) and `name.bias` (β).
    BatchNorm {
        /// Key prefix.
        name: String,
        /// Whether γ and β are stored (without them γ = 1, β = 0).
        affine: bool,
    },
    /// sign, with the spec's sign(0) convention.
    Sign,
    /// clamp(x, −1, 1).
    HardTanh,
    /// max(0, x).
    Relu,
    /// body(x) + shortcut(x); an empty shortcut is the identity.
    Residual {
        /// Main branch.
        body: Vec<SpecLayer>,
        /// Shortcut branch.
        shortcut: Vec<SpecLayer>,
    },
    /// Max pooling.
    MaxPool {
        /// Window.
        kernel: usize,
        /// Stride.
        stride: usize,
        /// Padding on each side.
        padding: usize,
    },
    /// Average pooling without padding.
    AvgPool {
        /// Window.
        kernel: usize,
        /// Stride.
        stride: usize,
    },
    /// Mean over every spatial position.
    GlobalAvgPool,
    /// `[c, h, w]` → `[c·h·w]`.
    Flatten,
}

impl SpecLayer {
    /// The kind as written in a spec.
    pub fn kind(&self) -> &'static str {
        match self {
            SpecLayer::Dense { .. } => "dense",
            SpecLayer::Conv { .. } => "conv",
            SpecLayer::BatchNorm { .. } => "batchnorm",
            SpecLayer::Sign => "sign",
            SpecLayer::HardTanh => "hardtanh",
            SpecLayer::Relu => "relu",
            SpecLayer::Residual { .. } => "residual",
            SpecLayer::MaxPool { .. } => "maxpool",
            SpecLayer::AvgPool { .. } => "avgpool",
            SpecLayer::GlobalAvgPool => "global-avgpool",
            SpecLayer::Flatten => "flatten",
        }
    }

    /// The key prefix of a layer with tensors.
    pub fn name(&self) -> Option<&str> {
        match self {
            SpecLayer::Dense { name, .. }
            | SpecLayer::Conv { name, .. }
            | SpecLayer::BatchNorm { name, .. } => Some(name),
            _ => None,
        }
    }
}

/// How a layer is named in messages: ``layer 3 `fc1` (dense)``; `path` is its position (`"5.body.1"` inside a
/// residual block).
pub fn label(path: &str, layer: &SpecLayer) -> String {
    match layer.name() {
        Some(name) => format!("layer {path} `{name}` ({})", layer.kind()),
        None => format!("layer {path} ({})", layer.kind()),
    }
}

/// The position of layer `index` under `prefix` (`"3"`, `"5.body.1"`).
pub fn child(prefix: &str, index: usize) -> String {
    crate::ir::layer_path(prefix, index)
}

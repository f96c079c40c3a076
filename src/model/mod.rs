//! Binary neural networks in candle: an MLP, a small CNN and a Bi-Real/IR-Net-style ResNet.
//!
//! Every architecture is described by a [`ModelSpec`] (stored with the weights) and built over a
//! [`ParamStore`]. A forward pass returns the logits and the **points**: the real-valued activations that feed
//! each sign, in order. Binary layer k maps point k−1 to point k; these pairs are what the LCR regulariser and
//! the retention-matrix estimates look at. `stages` marks the points that end a stage (for the per-stage
//! variant of the regulariser).

pub mod batchnorm;
pub mod binarize;
mod bn_clamp_op;
mod bn_op;
mod clamp_op;
mod cnn;
pub mod conv_fast;
pub mod conv_gemm;
#[cfg(target_arch = "x86_64")]
mod conv_kernels;
#[cfg(target_arch = "x86_64")]
mod conv_layout;
pub mod conv_op;
pub mod io;
mod kernel;
pub mod layers;
mod mlp;
pub mod pool_op;
mod resnet;
mod ste_op;
pub mod store;

use candle_core::{DType, Device, Tensor, Var};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

pub use binarize::{SignZero, SteKind, WeightScaling};
pub use cnn::Cnn;
pub use layers::Ctx;
pub use mlp::Mlp;
pub use resnet::ResNet;
pub use store::ParamStore;

use crate::error::{Error, Result};

/// The architectures lcr-verify trains.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Arch {
    /// Fully connected: real first layer, binary hidden layers, real classifier.
    Mlp,
    /// Convolutional: real stem, binary 3×3 conv–maxpool–BN blocks, real classifier.
    Cnn,
    /// Bi-Real/IR-Net-style ResNet: a real shortcut around every binary 3×3 conv.
    Resnet,
}

impl Arch {
    /// Every architecture.
    pub const ALL: [Arch; 3] = [Arch::Mlp, Arch::Cnn, Arch::Resnet];

    /// The name used on the command line and in files.
    pub fn name(self) -> &'static str {
        match self {
            Arch::Mlp => "mlp",
            Arch::Cnn => "cnn",
            Arch::Resnet => "resnet",
        }
    }
}

/// Everything needed to rebuild a network from its tensors.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// Architecture family.
    pub arch: Arch,
    /// Input shape (channels, height, width).
    pub input: [usize; 3],
    /// Number of classes.
    pub classes: usize,
    /// MLP: hidden widths; CNN: channels of the stem and of each block; ResNet: channels per stage.
    pub widths: Vec<usize>,
    /// ResNet: binary conv units per stage (ignored by the other architectures).
    pub blocks: usize,
    /// Whether the first layer keeps real-valued weights.
    pub real_first: bool,
    /// Whether the classifier keeps real-valued weights.
    pub real_last: bool,
    /// `false` builds the full-precision counterpart (real weights, hardtanh activations), e.g. a teacher.
    pub binary: bool,
    /// Binary weight scaling.
    pub weight_scaling: WeightScaling,
    /// sign(0) convention.
    pub sign_zero: SignZero,
}

impl ModelSpec {
    /// Checks the spec for impossible values.
    pub fn check(&self) -> Result<()> {
        if self.widths.is_empty() || self.widths.contains(&0) {
            return Err(Error::config(
                "widths",
                format!("{:?}: need at least one positive width", self.widths),
            ));
        }
        if let Some(&w) = self.widths.iter().find(|&&w| w > MAX_WIDTH) {
            return Err(Error::config(
                "widths",
                format!("{w} exceeds the largest supported width {MAX_WIDTH}"),
            ));
        }
        if self.input.contains(&0) || self.classes < 2 {
            return Err(Error::config("input", format!("{:?} with {} classes", self.input, self.classes)));
        }
        if self.input_len().is_none() {
            return Err(Error::config(
                "input",
                format!("{:?}: the number of input values overflows", self.input),
            ));
        }
        // Checked: a shift by the bit width or more would wrap around in release builds.
        let pooled = u32::try_from(self.widths.len())
            .ok()
            .and_then(|s| self.input[1].min(self.input[2]).checked_shr(s))
            .unwrap_or(0);
        match self.arch {
            Arch::Mlp if self.widths.len() < 2 => {
                Err(Error::config("widths", "the MLP needs at least two hidden widths (one binary layer)"))
            }
            Arch::Cnn if self.widths.len() < 2 => {
                Err(Error::config("widths", "the CNN needs a stem width and at least one block width"))
            }
            Arch::Cnn if pooled == 0 => {
                Err(Error::config("widths", "too many pooling blocks for the input size"))
            }
            Arch::Resnet if self.blocks == 0 => Err(Error::config("blocks", "must be at least 1")),
            _ => Ok(()),
        }
    }
}

impl ModelSpec {
    /// Number of input values, c·h·w, or `None` when it overflows (refused by [`ModelSpec::check`]).
    pub fn input_len(&self) -> Option<usize> {
        self.input.iter().try_fold(1usize, |a, &d| a.checked_mul(d))
    }
}

/// The widest layer accepted (wider ones would need tens of GiB before the first step).
pub const MAX_WIDTH: usize = 1 << 16;

/// The result of a forward pass.
pub struct Forward {
    /// `(n, classes)` logits.
    pub logits: Tensor,
    /// The real activations feeding each sign, in order (see the module docs).
    pub points: Vec<Tensor>,
    /// Indices into `points` of the stage outputs.
    pub stages: Vec<usize>,
}

enum Network {
    Mlp(Mlp),
    Cnn(Cnn),
    ResNet(ResNet),
}

/// A network with its parameters.
pub struct Model {
    /// What the network is.
    pub spec: ModelSpec,
    /// Its tensors.
    pub store: ParamStore,
    net: Network,
}

impl Model {
    fn build(spec: &ModelSpec, mut store: ParamStore, rng: &mut ChaCha8Rng) -> Result<Model> {
        spec.check()?;
        let net = match spec.arch {
            Arch::Mlp => Network::Mlp(Mlp::new(spec, &mut store, rng)?),
            Arch::Cnn => Network::Cnn(Cnn::new(spec, &mut store, rng)?),
            Arch::Resnet => Network::ResNet(ResNet::new(spec, &mut store, rng)?),
        };
        Ok(Model { spec: spec.clone(), store, net })
    }

    /// A freshly initialised model; `seed` fixes every initial value.
    pub fn new(spec: &ModelSpec, device: &Device, seed: u64) -> Result<Model> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        Model::build(spec, ParamStore::new(device), &mut rng)
    }

    /// A model over loaded tensors, converted to `dtype`; every tensor must exist with the right shape and
    /// the file must hold no other.
    pub fn from_tensors(
        spec: &ModelSpec,
        tensors: std::collections::BTreeMap<String, Tensor>,
        device: &Device,
        dtype: DType,
    ) -> Result<Model> {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let model = Model::build(spec, ParamStore::from_tensors(tensors, device, dtype), &mut rng)?;
        let unused = model.store.unused();
        if !unused.is_empty() {
            return Err(Error::config("model tensors", format!("not part of the architecture: {unused:?}")));
        }
        Ok(model)
    }

    /// A copy of this model in `dtype` (evaluation runs in `F64`).
    pub fn converted(&self, dtype: DType) -> Result<Model> {
        Model::from_tensors(&self.spec, self.store.tensors(), self.store.device(), dtype)
    }

    /// Runs the network. A full-precision spec always runs latent (`ctx.binarize` is ignored).
    pub fn forward(&self, x: &Tensor, ctx: &Ctx) -> Result<Forward> {
        let ctx = Ctx { binarize: ctx.binarize && self.spec.binary, ..*ctx };
        match &self.net {
            Network::Mlp(m) => m.forward(x, &ctx),
            Network::Cnn(m) => m.forward(x, &ctx),
            Network::ResNet(m) => m.forward(x, &ctx),
        }
    }

    /// The latent weights of the binary layers, by name (for flip ratios).
    pub fn binary_weights(&self) -> Vec<(String, Var)> {
        if !self.spec.binary {
            return Vec::new();
        }
        let names: Vec<String> = match &self.net {
            Network::Mlp(m) => m.binary_weight_names(),
            Network::Cnn(m) => m.binary_weight_names(),
            Network::ResNet(m) => m.binary_weight_names(),
        };
        names
            .into_iter()
            .filter_map(|n| self.store.params().get(&n).map(|v| (n.clone(), v.clone())))
            .collect()
    }

    /// The MLP, if this is one.
    pub fn as_mlp(&self) -> Option<&Mlp> {
        match &self.net {
            Network::Mlp(m) => Some(m),
            _ => None,
        }
    }

    /// The CNN, if this is one.
    pub fn as_cnn(&self) -> Option<&Cnn> {
        match &self.net {
            Network::Cnn(m) => Some(m),
            _ => None,
        }
    }

    /// The ResNet, if this is one.
    pub fn as_resnet(&self) -> Option<&ResNet> {
        match &self.net {
            Network::ResNet(m) => Some(m),
            _ => None,
        }
    }
}

//! Lipschitz bounds of a [`crate::ir::Net`], each a [`Bound`] with its provenance.
//!
//! | method | function | soundness | what |
//! |---|---|---|---|
//! | [`Method::SpectralProduct`] | surrogate, latent | certified | Π of certified layer norms (ℓ2 by Gram iteration and the conv bracket; ℓ∞, ℓ1 by abs sums), BN folded, residual 1 + L, pooling factors |
//! | [`Method::RetentionReleased`], [`Method::RetentionConverged`] | deployed activations | estimate | the LCR-BNN proxies of each binary layer / stage, with their ratio to the exact σ |
//! | [`Method::RetentionNormalised`] | deployed activations | lower | σ(XᵀY/N)/σ(XᵀX/N) with Y = A·X: a proven lower bound on each binary layer's σ(A) |
//! | [`Method::LpGlobal`], [`Method::LpLocal`] | surrogate, latent | certified | LipLP relaxation, value from a dual bound with outward rounding |
//! | [`Method::LpBab`] | surrogate, latent | certified (lower bound in `detail`) | branch and bound on the LipLP relaxation, best-first over activation pieces, budgeted per pair; max of leaf dual bounds, witnessed lower bound |
//! | [`Method::ExactPatterns`] | surrogate, latent | certified (exact FGL) | enumeration over activation patterns, tiny nets |
//! | [`Method::ExactRegions`] | surrogate, latent | lower (= L when complete) | enumeration of the linear regions that exist, tiny nets |
//! | [`Method::SampledGradient`] | surrogate, latent | lower | gradient norms at sample points |
//! | [`Method::GradientAscent`] | surrogate, latent | lower | gradient norms at points found by ascent on a smoothed gradient norm |
//! | [`Method::LipSdpNeuron`] | surrogate, latent | certified | LipSDP-Neuron (ℓ2) by a barrier method, multipliers proven feasible by a rounded Cholesky check |
//! | [`Method::LipSdpSequential`] | surrogate, latent | certified | closed-form layer-by-layer LipSDP multipliers (ℓ2), proven feasible by the same check |
//! | [`Method::NormConversion`] | surrogate, latent | certified | ℓ∞ margin constants √n·L₂ from the certified ℓ2 entries computed with them ([`conversion`]) |
//!
//! Scope ([`Scope`]): every constant above holds over all of ℝⁿ (`network`) unless labelled otherwise. With a
//! domain (the normalised pixel box), the global LP and the spectral product of dense nets also give `domain`
//! constants, valid for pairs of inputs inside the box: the LP with the units the box keeps on one activation
//! piece fixed (theorem L5), the product with saturated units pruned ([`saturation`], theorem S11).
//!
//! The stage is [`run`]: a [`BoundRequest`] in, `RUN_DIR/bounds.json` (a [`BoundsFile`]) out, with
//! [`reusable`] saying when an earlier file stands for it; underneath, [`compute_bounds`] runs every method on
//! a [`crate::ir::Net`]. Every certified function names its theorem in `proofs/`.

pub mod ascent;
pub mod bab;
pub mod bab_box;
pub mod bab_first;
pub mod bab_leaf;
mod bab_node;
pub mod bab_region;
pub mod bab_search;
pub mod bab_vertex;
mod bound;
pub mod chain;
mod compute;
pub mod conv_norm;
pub mod conversion;
pub mod exact;
mod file;
pub mod first_layer;
pub use crate::float;
pub mod gram;
pub mod interval;
pub mod layer_norm;
pub mod lipsdp;
pub mod lipsdp_form;
pub mod lipsdp_lmi;
pub mod lipsdp_solve;
pub mod lp;
pub mod lp_backward;
pub mod lp_model;
pub mod lp_solve;
pub mod power;
pub mod psd_check;
pub mod region_cert;
pub mod region_strict;
pub mod region_unit;
pub mod regions;
pub mod retention;
pub mod sampled;
pub mod saturation;
pub mod sequential;
pub mod shard;
mod solve_status;
pub mod spectral;
mod stage;

pub use bound::{Bound, LayerPart, Method, Norm, PairConstant, Scope, Soundness, class_pairs};
pub use compute::{BoundOptions, Bounds, Methods, Skipped, capped_by_global, compute_bounds};
pub use file::{BOUNDS_FORMAT, BoundsFile, NetSummary, render_table};
pub use solve_status::SolveStatus;
pub use stage::{BoundRequest, NormChoice, reusable, run};

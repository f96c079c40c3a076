//! Lipschitz bounds of a [`crate::ir::Net`]: certified spectral products, retention-matrix estimates, LP bounds
//! on small nets and exact values on tiny nets, each a [`Bound`] with its provenance.

mod bound;
pub mod chain;
pub mod conv_norm;
pub mod exact;
pub mod float;
pub mod gram;
pub mod interval;
pub mod layer_norm;
pub mod lp;
pub mod lp_model;
pub mod lp_solve;
pub mod power;
pub mod sampled;
pub mod spectral;

pub use bound::{Bound, LayerPart, Method, Norm, Scope};

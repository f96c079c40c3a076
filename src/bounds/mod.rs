//! Lipschitz bounds.

pub mod conv_norm;
pub mod float;
pub mod gram;
pub mod power;

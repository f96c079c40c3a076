//! The sign activation of the deployed network and its sign(0) convention.
//!
//! sign(x) = +1 for x > 0, −1 for x < 0, and at x = 0 whatever [`SignZero`] says. Training records the
//! convention with every trained network, and every function of the IR that evaluates a sign honours it.

use serde::{Deserialize, Serialize};

/// What sign(0) evaluates to. Recorded with every trained network and honoured by the verification IR.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignZero {
    /// sign(0) = +1, so activations are strictly binary (the deployed-hardware convention).
    PlusOne,
    /// sign(0) = 0, as `torch.sign` in the released LCR-BNN code.
    Zero,
}

impl SignZero {
    /// Every convention.
    pub const ALL: [SignZero; 2] = [SignZero::PlusOne, SignZero::Zero];

    /// The name used on the command line and in files.
    pub fn name(self) -> &'static str {
        match self {
            SignZero::PlusOne => "plus-one",
            SignZero::Zero => "zero",
        }
    }
}

/// sign(x) under the given sign(0) convention.
pub fn sign(x: f64, zero: SignZero) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        match zero {
            SignZero::PlusOne => 1.0,
            SignZero::Zero => 0.0,
        }
    }
}

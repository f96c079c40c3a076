//! The loss every gradient attack maximises: the logit margin, untargeted or towards one class.
//!
//! Untargeted: L(z) = max_{j≠t} z_j − z_t, the margin loss of Carlini & Wagner ("Towards Evaluating the
//! Robustness of Neural Networks", IEEE S&P 2017, their f₆ with κ = 0) and the numerator of Croce & Hein's DLR
//! loss (ICML 2020). Targeted at class j: L_j(z) = z_j − z_t. An input is adversarial exactly when L ≥ 0
//! (ties count against t). Cross-entropy is never used: a BNN's large integer-valued logits saturate the
//! softmax, and its gradient vanishes (corruptions-and-attacks.md §6.5).
//!
//! The gradient is ∇L = Jᵀ(e_j − e_t) with j the maximising class at the same point, one vector–Jacobian
//! product ([`crate::ir::Net::value_and_grad`]).

use super::Target;
use crate::error::{Error, Result};

/// Which margin an attack climbs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Loss {
    /// max_{j≠t} z_j − z_t.
    Margin,
    /// z_j − z_t for the given class j ≠ t.
    Targeted(usize),
}

/// The untargeted margin max_{j≠t} z_j − z_t and the maximising class j (the first on ties); −∞ and t itself
/// when there is no other class.
///
/// # Panics
/// When t ≥ `logits.len()` (the attacks check labels first and return an error).
pub fn margin(logits: &[f64], t: usize) -> (f64, usize) {
    let mut best = (f64::NEG_INFINITY, t);
    for (j, &z) in logits.iter().enumerate() {
        if j != t && z > best.0 {
            best = (z, j);
        }
    }
    (best.0 - logits[t], best.1)
}

/// Whether the floating-point logits say the input is adversarial: some j ≠ t has z_j ≥ z_t.
///
/// # Panics
/// When t ≥ `logits.len()`.
pub fn is_adversarial(logits: &[f64], t: usize) -> bool {
    margin(logits, t).0 >= 0.0
}

impl Loss {
    /// The loss value and the class j it compares t with.
    ///
    /// # Panics
    /// When t or the targeted class is not below `logits.len()` ([`Loss::check`] first).
    pub fn value(self, logits: &[f64], t: usize) -> (f64, usize) {
        match self {
            Loss::Margin => margin(logits, t),
            Loss::Targeted(j) => (logits[j] - logits[t], j),
        }
    }

    /// Checks a targeted class against the label and the number of classes.
    pub fn check(self, t: usize, classes: usize) -> Result<()> {
        match self {
            Loss::Targeted(j) if j == t || j >= classes => Err(Error::config(
                "attack target class",
                format!("class {j} for label {t} of {classes} classes"),
            )),
            _ => Ok(()),
        }
    }
}

/// One evaluation of the loss with its input gradient.
#[derive(Clone, Debug, PartialEq)]
pub struct LossGrad {
    /// The logits at the point.
    pub logits: Vec<f64>,
    /// The loss value.
    pub value: f64,
    /// ∇ₓL (BPDA direction for the deployed function).
    pub grad: Vec<f64>,
}

impl Target<'_> {
    /// The loss at `x` for label `t` and its input gradient, from one forward and one backward pass.
    pub fn loss_and_grad(&self, x: &[f64], t: usize, loss: Loss) -> Result<LossGrad> {
        if t >= self.net.classes {
            return Err(Error::config("label", format!("label {t} of {} classes", self.net.classes)));
        }
        loss.check(t, self.net.classes)?;
        let classes = self.net.classes;
        let cotangent = |z: &[f64]| {
            if z.len() != classes {
                return Vec::new(); // refused by value_and_grad, or below
            }
            let (_, j) = loss.value(z, t);
            let mut c = vec![0.0; z.len()];
            if j != t {
                c[j] = 1.0;
                c[t] = -1.0;
            }
            c
        };
        let (logits, grad) = self.net.value_and_grad(x, self.function, &cotangent)?;
        self.check_outputs(logits.len())?;
        let value = loss.value(&logits, t).0;
        Ok(LossGrad { logits, value, grad })
    }

    /// The floating-point logits at `x` (one forward pass of the attacked function).
    pub fn logits(&self, x: &[f64]) -> Result<Vec<f64>> {
        let z = self.net.forward(x, self.function)?;
        self.check_outputs(z.len())?;
        Ok(z)
    }

    /// The network's output has one value per class (an unvalidated net may disagree with `classes`).
    pub(crate) fn check_outputs(&self, n: usize) -> Result<()> {
        if n != self.net.classes {
            return Err(Error::Shape {
                context: "network output (logits)".into(),
                expected: vec![self.net.classes],
                found: vec![n],
            });
        }
        Ok(())
    }
}

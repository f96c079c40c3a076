//! Certified robustness radii of single samples (theorems V2–V6, `proofs/certify.md`).
//!
//! A radius r certifies sample x with label t when every input y with ‖y − x‖ < r (ℓ2 or ℓ∞ in the normalised
//! input space, inside the stated [`Coverage`]) is classified t by the **exact** function: logit_t(y) > logit_j(y)
//! for every j ≠ t (ties count against t). A sample whose prediction the point enclosure (theorem V1) cannot prove
//! to be t gets radius 0 from every method.
//!
//! | method | function | theorem | what |
//! |---|---|---|---|
//! | [`margin_radii`] | surrogate, latent | V2 | min over j of m_tj(x)/L_tj with certified network-scope pair constants |
//! | [`local_lp_radii`] | surrogate, latent (ℓ∞, small nets) | V6 | bisection on ε with local LP constants over the box of radius ε |
//! | [`sign_stability`] | deployed | V3 | no unit of the first sign layer changes sign: min_u \|z_u(x)\|/L_u |
//! | [`bound_propagation`] | deployed | V4 | interval propagation through the signs, with k units free or a ball of radius ε |
//! | [`exact_minimal_perturbation`] | deployed (tiny nets) | V5 | pattern enumeration of the first sign layer: dual lower bound and verified upper value |
//! | [`certified_accuracy`] | any | — | the fraction of samples whose radius exceeds ε, over a grid |
//!
//! Inputs are batched as the columns of a `DMatrix` (flattened CHW order, as [`crate::ir::Net::enclose`]); no
//! function here starts threads (callers split batches with rayon). A method that does not apply to a network
//! returns [`NotApplicable`] with the reason, never a configuration error.

mod bisect;
mod curve;
mod exact;
pub mod file;
mod local_lp;
mod margin;
mod prefix;
mod propagation;
mod region;
pub mod shard;
mod stability;
mod stage;
mod work;

use serde::{Deserialize, Serialize};

pub use curve::{CurvePoint, certified_accuracy, default_grid};
pub use exact::{EXACT_MAX_UNITS, ExactOptions, ExactRadius, exact_minimal_perturbation};
pub use file::{CERTIFICATES_FORMAT, CertificatesFile, render_table};
pub use local_lp::{LOCAL_LP_MAX_HIDDEN, LocalLpOptions, LocalLpRadius, local_lp_radii};
pub use margin::{Binding, MarginRadius, PairTable, PointLogits, margin_radii, margin_radii_at};
pub use prefix::{FirstSign, first_sign, unit_lipschitz};
pub use propagation::{PropagationForm, PropagationOptions, PropagationRadius, bound_propagation};
pub use region::{Polyhedron, RegionDistance, dual_lower, region_distance, row_lower};
pub use stability::{StabilityRadius, sign_stability};
pub use stage::{CertifyRequest, reusable, run};

use crate::error::{Error, Result};
use crate::ir::Net;

/// Which inputs a certificate speaks about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Coverage {
    /// Every input of the open ball, anywhere in ℝⁿ.
    Network,
    /// The inputs of the open ball that lie in the given domain box (e.g. the valid pixel range).
    Domain,
}

/// A method does not apply to a network: the method and the reason, in words.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotApplicable {
    /// The method that declines.
    pub method: &'static str,
    /// Why, naming the layer or the limit.
    pub reason: String,
}

impl std::fmt::Display for NotApplicable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} does not apply: {}", self.method, self.reason)
    }
}

/// The outcome of a method that may not apply to a network.
pub type Applicable<T> = std::result::Result<T, NotApplicable>;

/// Checks a batch: one label per column, labels below `net.classes`, inputs of the net's length.
fn check_batch(net: &Net, x: &nalgebra::DMatrix<f64>, labels: &[usize]) -> Result<()> {
    if labels.len() != x.ncols() {
        return Err(Error::config(
            "certify labels",
            format!("{} labels for {} samples", labels.len(), x.ncols()),
        ));
    }
    if let Some(t) = labels.iter().find(|&&t| t >= net.classes) {
        return Err(Error::config(
            "certify labels",
            format!("label {t} for a net with {} classes", net.classes),
        ));
    }
    check_inputs(net, x)
}

/// Checks the inputs of a batch: the net's input length, finite values.
fn check_inputs(net: &Net, x: &nalgebra::DMatrix<f64>) -> Result<()> {
    if x.nrows() != net.input_len() {
        return Err(Error::Shape {
            context: "certify input".into(),
            expected: net.input_shape.clone(),
            found: vec![x.nrows()],
        });
    }
    if let Some(i) = x.iter().position(|v| !v.is_finite()) {
        return Err(Error::NonFinite { context: format!("certify input, sample {}", i / x.nrows().max(1)) });
    }
    Ok(())
}

/// Checks an optional domain box against the input length and the samples (each sample must lie inside).
fn check_domain(domain: Option<&(Vec<f64>, Vec<f64>)>, x: &nalgebra::DMatrix<f64>) -> Result<()> {
    let Some((lo, hi)) = domain else { return Ok(()) };
    if lo.len() != x.nrows() || hi.len() != x.nrows() {
        return Err(Error::config(
            "certify domain",
            "needs one lower and one upper end per input coordinate",
        ));
    }
    if let Some(i) = (0..lo.len()).find(|&i| lo[i].is_nan() || hi[i].is_nan() || lo[i] > hi[i]) {
        return Err(Error::config("certify domain", format!("coordinate {i}: lower end above upper end")));
    }
    for (k, col) in x.column_iter().enumerate() {
        if let Some(i) = col.iter().enumerate().position(|(i, v)| *v < lo[i] || *v > hi[i]) {
            return Err(Error::config(
                "certify domain",
                format!("sample {k} lies outside the domain at coordinate {i}"),
            ));
        }
    }
    Ok(())
}

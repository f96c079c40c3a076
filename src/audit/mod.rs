//! The audit: certificates held against reality.
//!
//! A certified radius r for sample x (function F, norm p) claims that every input within distance r of x keeps
//! F's label. Reality answers in two ways:
//!
//! * **adversarial** ([`adversarial`]): the smallest confirmed adversarial example of x lies at distance d, so
//!   r ≤ d must hold (theorem M1, `proofs/attack.md`);
//! * **corruption** ([`corruption`]): a corrupted version of x at distance d < r must keep F's label.
//!
//! Either failing is a bug in a certificate, a norm, the clipping or a forward pass, never a property of the
//! network: the command that finds one exits with status 1, names the sample and writes the pair of inputs to
//! `RUN_DIR/violations/` ([`Violation`]).

pub mod adversarial;
pub mod corruption;
pub mod stats;
mod violation;

use serde::{Deserialize, Serialize};

pub use violation::{VIOLATIONS_DIR, Violation, ViolationKind, clear_records};

use crate::ir::{Function, InputNorm};

/// How many comparisons an audit made for one function and norm, and how many failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditCount {
    /// The function the certificates are about.
    pub function: Function,
    /// The input norm.
    pub norm: InputNorm,
    /// Comparisons made (samples with both a certificate and an adversarial example, or corrupted images
    /// inside a certified ball).
    pub checked: usize,
    /// Comparisons that contradict the certificate (always 0 unless something is wrong).
    pub violations: usize,
}

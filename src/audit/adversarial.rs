//! The adversarial audit: for every sample, certified radius ≤ empirical radius.

use super::AuditCount;
use crate::ir::{Function, InputNorm};

/// One sample's two radii for one function and norm.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RadiusPair {
    /// The sample's index in the test set.
    pub sample: usize,
    /// The best certified radius (0 when nothing is certified).
    pub certified: f64,
    /// The distance of the smallest confirmed adversarial example, rounded up; `None` when no attack succeeded.
    pub empirical: Option<f64>,
}

impl RadiusPair {
    /// Whether the pair contradicts the certificate: an adversarial example strictly closer than the radius.
    /// (A certificate covers the open ball ‖δ‖ < r, so an example at distance exactly r is no contradiction.)
    pub fn violates(&self) -> bool {
        self.empirical.is_some_and(|d| self.certified > d)
    }
}

/// Audits `pairs`: counts the samples with both radii and returns the indices (into `pairs`) of violations.
///
/// Theorem M1 (proofs/attack.md) is what makes a violation a bug; checked by
/// tests/audit.rs::adversarial_audit_counts_and_flags.
pub fn audit(function: Function, norm: InputNorm, pairs: &[RadiusPair]) -> (AuditCount, Vec<usize>) {
    let checked = pairs.iter().filter(|p| p.empirical.is_some()).count();
    let bad: Vec<usize> = pairs.iter().enumerate().filter(|(_, p)| p.violates()).map(|(i, _)| i).collect();
    (AuditCount { function, norm, checked, violations: bad.len() }, bad)
}

//! Robustness evaluation.

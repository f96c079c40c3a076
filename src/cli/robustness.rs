//! robustness command

//! # lcr-verify
//!
//! Train Lipschitz-continuity-retained binary neural networks (LCR-BNN, Shang et al., ECCV 2022) and find out how
//! robust they really are.
//!
//! ```text
//! datasets/ --data--> Dataset --train (candle)--> run/model.safetensors + config.toml + metrics.json
//! weights.safetensors + spec.toml (a network trained elsewhere) --import--> run/ as if trained here
//! run/model --eval--> accuracy of the deployed (binarised, eval-mode) network
//! run/model --export--> Net (the verification IR) --bound--> run/bounds.json
//! Net + bounds.json --certify--> run/certificates.json (a certified radius per test image, function and norm)
//! Net + certificates.json --attack--> run/empirical.json (confirmed adversarial examples; the audit)
//! Dataset --corrupt--> corrupted sets in the benchmark layouts
//! run/model + corrupted images (+ certificates.json) --robustness--> run/corruption.json (with the audit)
//! run/*.json of any set of runs --report--> report.{md,csv,json,tex,html} + plots/*.svg
//! ```
//!
//! Each stage is a library call with a typed request that is checked before any work:
//! [`train::train`], [`eval::evaluate_run`], [`bounds::run`] with [`bounds::BoundRequest`],
//! [`certify::run`] with [`certify::CertifyRequest`], [`attack::run`] with [`attack::AttackRequest`],
//! [`corrupt::run`] with [`corrupt::CorruptRequest`], [`robustness::run`] with
//! [`robustness::RobustnessRequest`], [`report::run`] with [`report::ReportRequest`], [`import::run`] with
//! [`import::ImportRequest`]; the paths of a run
//! directory are [`run_dir::RunDir`]'s. The command line ([`cli`]) only turns flags into requests, takes the lock
//! of each directory it writes ([`lock::RunLock`]) and prints results; a program that calls the stages takes the
//! locks itself.
//!
//! Every number the crate produces says which function it is about (`deployed`, `surrogate`, `latent`) and how
//! far it can be trusted (`certified`, `lower`, `estimate`); see the README.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod attack;
pub mod audit;
pub mod bounds;
pub mod certify;
pub mod corrupt;
pub mod data;
pub mod digest;
pub mod error;
pub mod float;
pub mod format;
pub mod fsio;
pub mod import;
pub mod ir;
pub mod robustness;
pub mod shard;
pub mod study;
pub mod wide;

pub use error::{Error, Result};
pub mod cli;
pub mod eval;
pub mod export;
pub mod latent_bn;
pub mod lcr;
pub mod lock;
pub mod model;
pub mod onnx;
pub mod progress;
pub mod report;
pub mod run_dir;
pub mod train;

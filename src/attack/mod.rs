//! Attacks that try to refute per-sample certified radii: FGSM, PGD, a decision-based attack, a random-noise
//! baseline and the minimal-perturbation search, all on the verification IR ([`crate::ir::Net`], `f64`).
//!
//! Everything happens in the network's (normalised) input space, inside a per-coordinate domain box (the
//! valid pixel range), for any of the three functions (DESIGN.md §2) and the ℓ2 or ℓ∞ norm: a [`Target`]. A
//! [`Sample`] is one clean input x with its label t. The loss is the margin max_{j≠t} z_j − z_t
//! ([`loss`]); gradients come from one vector–Jacobian product ([`crate::ir::Net::value_and_grad`]), for the
//! deployed function through the straight-through estimator (BPDA).
//!
//! | attack | what it does | reference |
//! |---|---|---|
//! | [`fgsm()`] | x + ε·sign(∇L) (ℓ∞), x + ε·∇L/‖∇L‖₂ (ℓ2), projected | Goodfellow et al., ICLR 2015 |
//! | [`pgd()`] | projected steepest ascent, restarts, targeted runs | Madry et al., ICLR 2018 |
//! | [`decision()`] | label-only: rays, bisection to the boundary, normal estimates | Brendel et al., ICLR 2018; Chen et al., S&P 2020 |
//! | [`noise()`] | uniformly random directions of norm ε | Carlini et al. 2019 (checklist) |
//! | [`minimal()`] | shrink to the boundary, bisection on ε with PGD | corruptions-and-attacks.md §6.3 |
//!
//! # Confirmation (theorem M1)
//! Every returned example is an [`Adversarial`]: it lies in the domain and the outward-rounded enclosure of the
//! *exact* function at the point proves some class j ≠ t has logit_j ≥ logit_t ([`Target::confirm`]). Its
//! distance is rounded up. So a confirmed example at distance d proves r*(x) ≤ d for the exact minimal
//! adversarial perturbation r* within the domain, and every sound certified radius is at most d (theorem M2):
//! that is the audit. Candidates that do not confirm are discarded.
//!
//! # Determinism and threads
//! Every random choice comes from [`Target::rng`]: ChaCha8 seeded from (seed, sample index, function, norm,
//! attack, salt). The functions work on one sample, hold no shared state and spawn no threads; callers
//! parallelise over samples (e.g. with rayon) and get the same results in any order.
//!
//! ```
//! use lcr_verify::attack::{Sample, Target, pgd, PgdConfig};
//! use lcr_verify::ir::{Function, InputNorm, Layer, Net, SignZero};
//! use nalgebra::DMatrix;
//!
//! // A linear classifier z = Wx on [−10, 10]²: x = (1, 0) is class 0 with margin 1 over class 1,
//! // and ‖w₀ − w₁‖₂ = √2, so the nearest adversarial example is at ℓ2 distance 1/√2.
//! let net = Net {
//!     input_shape: vec![2],
//!     classes: 2,
//!     sign_zero: SignZero::PlusOne,
//!     layers: vec![Layer::Dense { weight: DMatrix::from_row_slice(2, 2, &[1.0, 0.0, 0.0, 1.0]), latent: None, bias: None }],
//! };
//! let domain = (vec![-10.0; 2], vec![10.0; 2]);
//! let target = Target::new(&net, Function::Surrogate, InputNorm::L2, &domain, 7)?;
//! let sample = Sample { x: &[1.0, 0.0], label: 0, index: 0 };
//! assert!(pgd(&target, &sample, 0.70, &PgdConfig::default())?.adversarial.is_none());
//! let found = pgd(&target, &sample, 0.75, &PgdConfig::default())?.adversarial.expect("found");
//! assert!(found.distance <= 0.75 && found.class == 1);
//! # Ok::<(), lcr_verify::Error>(())
//! ```

mod assemble;
mod ball;
mod boundary;
mod confirm;
pub mod decision;
pub mod fgsm;
pub mod file;
pub mod loss;
pub mod minimal;
pub mod noise;
pub mod pgd;
pub mod shard;
mod stage;
pub mod sweep;
mod target;

pub use ball::{direction, norm_of, project, random_direction, random_in_ball};
pub use boundary::Path;
pub use confirm::{Adversarial, AttackKind, closer, distance};
pub use decision::{DecisionConfig, DecisionOutcome, decision};
pub use fgsm::fgsm;
pub use file::{EMPIRICAL_FORMAT, EmpiricalFile, render_table};
pub use loss::{Loss, LossGrad, is_adversarial, margin};
pub use minimal::{MinimalConfig, MinimalOutcome, minimal};
pub use noise::noise;
pub use pgd::{PgdConfig, PgdOutcome, Start, StepSchedule, pgd};
pub use stage::{
    AttackChoice, AttackRequest, DEFAULT_RESTARTS, DEFAULT_SAMPLES, DEFAULT_STEPS, reusable, run,
};
pub use sweep::{SweepPoint, success_rate, sweep};
pub use target::{Domain, Sample, Target};

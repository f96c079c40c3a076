//! Projected gradient descent on the margin loss, ℓ∞ and ℓ2, with restarts and targeted runs.
//!
//! Madry, Makelov, Schmidt, Tsipras & Vladu, "Towards Deep Learning Models Resistant to Adversarial Attacks",
//! ICLR 2018: x⁰ a start in the ball, x^{k+1} = Π(x^k + α_k·d(∇L(x^k))), with d the steepest-ascent direction
//! (sign for ℓ∞, g/‖g‖₂ for ℓ2) and Π the projection onto ball ∩ domain ([`super::project`]). L is the margin loss
//! (Carlini & Wagner 2017); for the deployed function ∇L is the BPDA direction (Athalye et al. 2018).
//!
//! # Runs
//! `restarts` untargeted runs, then one targeted run (loss z_j − z_t, as in Croce & Hein's APGD-T) for each of
//! the `targeted` classes j with the largest clean logits. Run 0 and every targeted run start at
//! [`PgdConfig::start`]; untargeted runs 1, 2, … start uniformly at random in the ball. Each run draws from its
//! own stream ([`Target::rng`] with the run as salt), so a run does not depend on how many runs follow.
//!
//! # What is kept
//! Every iterate (the start included) that the floating-point forward pass reports adversarial is confirmed
//! ([`Target::confirm`]) unless a confirmed example at least as close is already held; the closest confirmed
//! example is returned. With `stop_at_first` the attack returns at the first confirmed example. A run stops
//! early when its gradient is zero (no direction).
//!
//! # Monotone budgets
//! With a schedule that does not depend on the number of steps ([`StepSchedule::Constant`],
//! [`StepSchedule::Halving`]), a run of T steps is a prefix of the same run with T′ > T steps, and the runs
//! of `restarts = R` are a prefix of those of R′ > R: whenever the smaller budget finds a confirmed example,
//! so does the larger. With [`Start::Fgsm`] the first iterate is FGSM's point, so PGD finds an example whenever
//! FGSM does.

use serde::{Deserialize, Serialize};

use super::ball::{direction, project, random_in_ball, step};
use super::loss::{Loss, is_adversarial};
use super::{Adversarial, AttackKind, Sample, Target};
use crate::error::{Error, Result};

/// The step size α_k of step k (k = 0, 1, …) as a multiple of ε.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepSchedule {
    /// α_k = c·ε.
    Constant(f64),
    /// α_k = c·ε/T for T steps (c = 2.5 in Madry et al.'s ℓ2 setting); depends on T, so budgets do not nest.
    PerStep(f64),
    /// α_k = c·ε·2^{−⌊k/every⌋}: halved every `every` steps.
    Halving {
        /// The first step as a multiple of ε.
        c: f64,
        /// Steps between halvings (≥ 1).
        every: usize,
    },
}

impl StepSchedule {
    /// α_k for budget `eps` and `steps` steps in all.
    pub fn alpha(self, k: usize, eps: f64, steps: usize) -> f64 {
        match self {
            StepSchedule::Constant(c) => c * eps,
            StepSchedule::PerStep(c) => c * eps / steps.max(1) as f64,
            StepSchedule::Halving { c, every } => c * eps * 0.5f64.powi((k / every.max(1)).min(1000) as i32),
        }
    }
}

/// Where a run starts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Start {
    /// At the clean input x.
    Clean,
    /// At FGSM's point Π(x + ε·d(∇L(x))) (x when the gradient is zero).
    Fgsm,
    /// Uniformly at random in the ball (Madry et al.).
    Random,
    /// At the given point, projected onto the ball ∩ domain (the minimal search restarts from its best point).
    Point(Vec<f64>),
}

/// The budget and options of [`pgd`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PgdConfig {
    /// Gradient steps per run (0: only the start is tried).
    pub steps: usize,
    /// Untargeted runs (≥ 1): run 0 from `start`, the others from uniformly random points of the ball.
    pub restarts: usize,
    /// Targeted runs, towards the classes with the largest clean logits (0: none).
    pub targeted: usize,
    /// The step sizes.
    pub schedule: StepSchedule,
    /// The start of run 0 and of the targeted runs.
    pub start: Start,
    /// Return at the first confirmed example instead of the closest one.
    pub stop_at_first: bool,
}

impl Default for PgdConfig {
    /// 40 steps of ε/4, halved every 10 steps; 1 run from FGSM's point, 1 random restart; no targeted runs;
    /// keep the closest example.
    fn default() -> Self {
        PgdConfig {
            steps: 40,
            restarts: 2,
            targeted: 0,
            schedule: StepSchedule::Halving { c: 0.25, every: 10 },
            start: Start::Fgsm,
            stop_at_first: false,
        }
    }
}

impl PgdConfig {
    /// Checks the configuration: at least one run, positive finite step factors, a start point of the right
    /// length.
    pub fn check(&self, inputs: usize) -> Result<()> {
        if self.restarts == 0 {
            return Err(Error::config("pgd restarts", "need at least one run"));
        }
        let c = match self.schedule {
            StepSchedule::Constant(c) | StepSchedule::PerStep(c) => c,
            StepSchedule::Halving { c, every } => {
                if every == 0 {
                    return Err(Error::config("pgd schedule", "halving every 0 steps"));
                }
                c
            }
        };
        if !(c.is_finite() && c > 0.0) {
            return Err(Error::config(
                "pgd schedule",
                format!("step factor {c} must be finite and positive"),
            ));
        }
        if let Start::Point(p) = &self.start {
            if p.len() != inputs {
                return Err(Error::Shape {
                    context: "pgd start point".into(),
                    expected: vec![inputs],
                    found: vec![p.len()],
                });
            }
            if p.iter().any(|v| !v.is_finite()) {
                return Err(Error::NonFinite { context: "pgd start point".into() });
            }
        }
        Ok(())
    }
}

/// What [`pgd`] returns.
#[derive(Clone, Debug, PartialEq)]
pub struct PgdOutcome {
    /// The closest confirmed example (the first with `stop_at_first`), or `None`.
    pub adversarial: Option<Adversarial>,
    /// The largest untargeted margin max_{j≠t} z_j − z_t seen at any iterate (floating point).
    pub best_margin: f64,
    /// Forward–backward passes spent.
    pub gradient_calls: usize,
}

/// State shared by the runs of one attack.
struct Search<'s, 't> {
    target: &'s Target<'t>,
    sample: &'s Sample<'s>,
    eps: f64,
    config: &'s PgdConfig,
    out: PgdOutcome,
}

impl Search<'_, '_> {
    /// Confirms an iterate the forward pass reports adversarial, unless a closer example is held; true when the
    /// attack should stop.
    fn consider(&mut self, y: &[f64], logits: &[f64]) -> Result<bool> {
        let margin = super::loss::margin(logits, self.sample.label).0;
        self.out.best_margin = self.out.best_margin.max(margin);
        if !is_adversarial(logits, self.sample.label) {
            return Ok(false);
        }
        let d = super::distance(self.target.norm, self.sample.x, y);
        if self.out.adversarial.as_ref().is_some_and(|a| a.distance <= d) {
            return Ok(false);
        }
        if let Some(a) = self.target.confirm(self.sample, y.to_vec(), AttackKind::Pgd)? {
            self.out.adversarial = Some(a);
            return Ok(self.config.stop_at_first);
        }
        Ok(false)
    }

    /// One run from `start` with `loss`; true when the attack should stop.
    fn run(&mut self, start: Vec<f64>, loss: Loss) -> Result<bool> {
        let (t, target, x) = (self.sample.label, self.target, self.sample.x);
        let mut y = start;
        for k in 0..=self.config.steps {
            if k == self.config.steps {
                let logits = target.logits(&y)?;
                return self.consider(&y, &logits);
            }
            let g = target.loss_and_grad(&y, t, loss)?;
            self.out.gradient_calls += 1;
            if self.consider(&y, &g.logits)? {
                return Ok(true);
            }
            let Some(d) = direction(target.norm, &g.grad) else { return Ok(false) };
            let alpha = self.config.schedule.alpha(k, self.eps, self.config.steps);
            y = project(target.norm, x, &step(&y, alpha, &d), self.eps, target.domain);
        }
        Ok(false)
    }

    /// The start of a run.
    fn start(&self, kind: &Start, loss: Loss, salt: u64) -> Result<Vec<f64>> {
        let (target, x) = (self.target, self.sample.x);
        Ok(match kind {
            Start::Clean => x.to_vec(),
            Start::Fgsm => target.fgsm_point(self.sample, self.eps, loss)?.unwrap_or_else(|| x.to_vec()),
            Start::Random => {
                let mut rng = target.rng(self.sample, AttackKind::Pgd, salt);
                random_in_ball(&mut rng, target.norm, x, self.eps, target.domain)
            }
            Start::Point(p) => project(target.norm, x, p, self.eps, target.domain),
        })
    }
}

/// Targeted runs are salted above every untargeted run index.
const TARGETED_SALT: u64 = 1 << 32;

/// PGD at budget `eps` (module documentation): the closest confirmed example within ε (rounded up) in the
/// domain, the best margin seen and the passes spent.
///
/// Errors: a bad target, sample, budget or configuration.
pub fn pgd(target: &Target, sample: &Sample, eps: f64, config: &PgdConfig) -> Result<PgdOutcome> {
    pgd_salted(target, sample, eps, config, 0)
}

/// [`pgd`] with the random streams shifted by `salt` (the minimal search's rounds differ by it).
pub(crate) fn pgd_salted(
    target: &Target,
    sample: &Sample,
    eps: f64,
    config: &PgdConfig,
    salt: u64,
) -> Result<PgdOutcome> {
    target.check(sample)?;
    target.check_eps(eps)?;
    config.check(target.net.input_len())?;
    let out = PgdOutcome { adversarial: None, best_margin: f64::NEG_INFINITY, gradient_calls: 0 };
    let mut s = Search { target, sample, eps, config, out };
    let salt = salt << 40;
    for r in 0..config.restarts {
        let kind = if r == 0 { config.start.clone() } else { Start::Random };
        let start = s.start(&kind, Loss::Margin, salt + r as u64)?;
        if s.run(start, Loss::Margin)? {
            return Ok(s.out);
        }
    }
    if config.targeted > 0 {
        let z = target.logits(sample.x)?;
        let mut classes: Vec<usize> = (0..z.len()).filter(|&j| j != sample.label).collect();
        classes.sort_by(|&a, &b| z[b].total_cmp(&z[a]).then(a.cmp(&b)));
        for &j in classes.iter().take(config.targeted) {
            let loss = Loss::Targeted(j);
            let start = s.start(&config.start, loss, salt + TARGETED_SALT + j as u64)?;
            if s.run(start, loss)? {
                return Ok(s.out);
            }
        }
    }
    Ok(s.out)
}

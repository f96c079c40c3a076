//! What is attacked: a network function, a norm and a domain ([`Target`]), and one labelled input ([`Sample`]);
//! and the seed streams every random choice is drawn from.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::AttackKind;
use crate::error::{Error, Result};
use crate::ir::{Function, InputNorm, Net};

/// A per-coordinate box `(lo, hi)` in the network's input space (e.g. the valid pixel range,
/// [`crate::data::Normalization::input_box`]); an infinite end leaves that side open.
pub type Domain = (Vec<f64>, Vec<f64>);

/// The function under attack: a network, which of its functions, the norm perturbations are measured in, the
/// domain every adversarial example must lie in, and the seed of every random choice.
///
/// Attacks work in the network's (normalised) input space. Every field is public; each attack checks the
/// target and the sample first ([`Target::check`]) and returns an error, never panics, on a bad one.
#[derive(Clone, Copy, Debug)]
pub struct Target<'a> {
    /// The network (assumed validated, [`Net::validate`]).
    pub net: &'a Net,
    /// `deployed` (sign; gradients by BPDA), `surrogate` or `latent` (hardtanh; true gradients).
    pub function: Function,
    /// ℓ2 or ℓ∞.
    pub norm: InputNorm,
    /// The box every input must lie in; the clean input lies inside it.
    pub domain: &'a Domain,
    /// The seed of every random choice (see [`Target::rng`]).
    pub seed: u64,
}

/// One labelled input: the clean point x (flat, CHW order), its label t and its index in the evaluated set
/// (which, with the target's seed, picks the sample's random streams).
#[derive(Clone, Copy, Debug)]
pub struct Sample<'a> {
    /// The clean input.
    pub x: &'a [f64],
    /// The label t an adversarial example must lose.
    pub label: usize,
    /// The sample's index (a seed component).
    pub index: u64,
}

/// SplitMix64's finaliser (Steele, Lea & Flood, OOPSLA 2014): a bijective mix of 64 bits.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl<'a> Target<'a> {
    /// A target after checking the domain against the network's input ([`Target::check_domain`]).
    pub fn new(
        net: &'a Net,
        function: Function,
        norm: InputNorm,
        domain: &'a Domain,
        seed: u64,
    ) -> Result<Self> {
        let t = Target { net, function, norm, domain, seed };
        t.check_domain()?;
        Ok(t)
    }

    /// The domain has one bound per input coordinate, no NaN, and lo ≤ hi everywhere.
    pub fn check_domain(&self) -> Result<()> {
        let n = self.net.input_len();
        let (lo, hi) = self.domain;
        if lo.len() != n || hi.len() != n {
            return Err(Error::Shape {
                context: "attack domain (lower and upper bounds)".into(),
                expected: vec![n, n],
                found: vec![lo.len(), hi.len()],
            });
        }
        if let Some(i) = (0..n).find(|&i| lo[i].is_nan() || hi[i].is_nan() || lo[i] > hi[i]) {
            return Err(Error::config(
                "attack domain",
                format!("coordinate {i}: [{}, {}] is not an interval", lo[i], hi[i]),
            ));
        }
        Ok(())
    }

    /// Checks the target and one sample: the domain, the input's length and finiteness, the label against the
    /// number of classes, and that the clean input lies in the domain.
    pub fn check(&self, sample: &Sample) -> Result<()> {
        self.check_domain()?;
        let n = self.net.input_len();
        if sample.x.len() != n {
            return Err(Error::Shape {
                context: format!("attacked sample {}", sample.index),
                expected: self.net.input_shape.clone(),
                found: vec![sample.x.len()],
            });
        }
        if let Some(i) = sample.x.iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFinite {
                context: format!("attacked sample {} at index {i}", sample.index),
            });
        }
        if sample.label >= self.net.classes {
            return Err(Error::config(
                "label",
                format!("sample {}: label {} of {} classes", sample.index, sample.label, self.net.classes),
            ));
        }
        if !self.contains(sample.x) {
            return Err(Error::config(
                "attack domain",
                format!("sample {} lies outside the domain", sample.index),
            ));
        }
        Ok(())
    }

    /// Whether every coordinate of `y` lies in the domain (exact comparisons).
    pub fn contains(&self, y: &[f64]) -> bool {
        let (lo, hi) = self.domain;
        y.len() == lo.len() && y.iter().zip(lo.iter().zip(hi)).all(|(v, (l, h))| l <= v && v <= h)
    }

    /// Checks a perturbation budget: finite and ≥ 0.
    pub fn check_eps(&self, eps: f64) -> Result<()> {
        if eps.is_finite() && eps >= 0.0 {
            Ok(())
        } else {
            Err(Error::config("eps", format!("{eps}: a budget must be finite and at least 0")))
        }
    }

    /// The random stream of one attack on one sample: ChaCha8 seeded by a mix of (seed, sample index,
    /// function, norm, attack, salt). Equal arguments give equal streams on every platform and thread, so
    /// results do not depend on how the caller schedules samples; `salt` separates the restarts, rounds or
    /// draws of one attack.
    pub fn rng(&self, sample: &Sample, attack: AttackKind, salt: u64) -> ChaCha8Rng {
        let function = match self.function {
            crate::ir::Function::Deployed => 1,
            crate::ir::Function::Surrogate => 2,
            crate::ir::Function::Latent => 3,
        };
        let norm = match self.norm {
            InputNorm::L2 => 1,
            InputNorm::Linf => 2,
        };
        let parts = [self.seed, sample.index, function, norm, attack as u64, salt];
        let z =
            parts.iter().fold(0x6a09_e667_f3bc_c908u64, |h, &p| mix(h ^ mix(p.wrapping_add(0x9e37_79b9))));
        ChaCha8Rng::seed_from_u64(z)
    }
}

//! Batched bisection on a radius, where every trial that passes is a proof of its own.
//!
//! Each sample keeps the largest radius certified so far (`good`) and the smallest that failed (`bad`, +∞ at
//! first). A trial is 2·good (or the sample's first guess while good = 0) until a trial fails, then the midpoint.
//! Soundness needs no monotonicity of the test: the result is always a radius some trial (or the caller) proved.

use crate::error::Result;

/// Limits of a bisection.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Bisection {
    /// Rounds of trials (each round is one call of the test for every unfinished sample).
    pub rounds: usize,
    /// A sample stops when bad − good ≤ rel_tol·bad.
    pub rel_tol: f64,
}

/// Runs the bisection: `good[k]` is already certified (0 if nothing is), `first[k]` is the first trial used while
/// good is 0, samples with `active[k] == false` keep `good[k]`. `test(samples, radii)` returns, for each listed
/// sample and trial radius, whether that radius is certified.
pub(crate) fn bisect(
    mut good: Vec<f64>,
    active: &[bool],
    first: &[f64],
    limits: Bisection,
    mut test: impl FnMut(&[usize], &[f64]) -> Result<Vec<bool>>,
) -> Result<Vec<f64>> {
    let mut bad = vec![f64::INFINITY; good.len()];
    for _ in 0..limits.rounds {
        let mut samples = Vec::new();
        let mut trials = Vec::new();
        for k in 0..good.len() {
            if !active[k] || !good[k].is_finite() {
                continue;
            }
            if bad[k].is_finite() && bad[k] - good[k] <= limits.rel_tol * bad[k] {
                continue;
            }
            let trial = if bad[k].is_finite() {
                good[k] + (bad[k] - good[k]) / 2.0
            } else if good[k] > 0.0 {
                2.0 * good[k]
            } else {
                first[k]
            };
            if trial.is_finite() && trial > good[k] && trial < bad[k] {
                samples.push(k);
                trials.push(trial);
            }
        }
        if samples.is_empty() {
            break;
        }
        let passed = test(&samples, &trials)?;
        for ((&k, &e), ok) in samples.iter().zip(&trials).zip(passed) {
            if ok {
                good[k] = e;
            } else {
                bad[k] = e;
            }
        }
    }
    Ok(good)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_threshold_and_never_returns_a_failed_trial() {
        let limits = Bisection { rounds: 60, rel_tol: 1e-9 };
        let thresholds = [0.3, 5.0, 0.0];
        let r = bisect(vec![0.0, 1.0, 0.0], &[true, true, true], &[1.0, 1.0, 1.0], limits, |s, e| {
            Ok(s.iter().zip(e).map(|(&k, &e)| e <= thresholds[k]).collect())
        })
        .unwrap();
        assert!(r[0] <= 0.3 && r[0] > 0.3 * (1.0 - 1e-6), "{r:?}");
        assert!(r[1] <= 5.0 && r[1] > 5.0 * (1.0 - 1e-6), "{r:?}");
        assert_eq!(r[2], 0.0);
    }
}

//! Aggregates over seeds: mean ± sample standard deviation with the per-seed values, and the difference of two
//! configurations with its spread.

use serde::Serialize;

/// One run's value of a figure.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct SeedValue {
    /// The run's seed.
    pub seed: u64,
    /// Its value.
    pub value: f64,
}

/// A figure over the seeds of one configuration.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    /// The per-seed values, in seed order (runs without the figure are left out).
    pub values: Vec<SeedValue>,
}

impl Summary {
    /// The summary of `values` (sorted by seed here).
    pub fn new(mut values: Vec<SeedValue>) -> Summary {
        values.sort_by_key(|v| v.seed);
        Summary { values }
    }

    /// Number of values.
    pub fn n(&self) -> usize {
        self.values.len()
    }

    /// The mean (`None` without values). Any infinite value makes it infinite; NaN propagates.
    pub fn mean(&self) -> Option<f64> {
        mean(self.values.iter().map(|v| v.value))
    }

    /// The sample standard deviation (n − 1 in the denominator); `None` for fewer than two values or when a
    /// value is not finite.
    pub fn sd(&self) -> Option<f64> {
        sample_sd(&self.values.iter().map(|v| v.value).collect::<Vec<_>>())
    }

    /// The value of `seed`, if that run has one.
    pub fn of_seed(&self, seed: u64) -> Option<f64> {
        self.values.iter().find(|v| v.seed == seed).map(|v| v.value)
    }
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (mut sum, mut n) = (0.0, 0usize);
    for v in values {
        sum += v;
        n += 1;
    }
    (n > 0).then(|| sum / n as f64)
}

/// The sample standard deviation of `values` (n − 1), `None` for fewer than two or any non-finite value.
pub fn sample_sd(values: &[f64]) -> Option<f64> {
    if values.len() < 2 || values.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let m = values.iter().sum::<f64>() / values.len() as f64;
    let ss: f64 = values.iter().map(|v| (v - m) * (v - m)).sum();
    Some((ss / (values.len() - 1) as f64).sqrt())
}

/// How a difference compares with the spread over seeds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// |difference| > spread.
    Exceeds,
    /// |difference| ≤ spread.
    Within,
    /// Fewer than two values on a side (or paired seeds): no spread to compare with.
    Unknown,
}

impl Verdict {
    /// A plain statement for tables.
    pub fn statement(self) -> &'static str {
        match self {
            Verdict::Exceeds => "exceeds the seed spread",
            Verdict::Within => "within the seed spread",
            Verdict::Unknown => "spread unknown (one seed)",
        }
    }
}

/// Treatment minus baseline over seeds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Difference {
    /// Mean of the treatment minus mean of the baseline (over the paired seeds when paired).
    pub mean: f64,
    /// The spread it is compared with: the sample sd of the per-seed differences when paired, otherwise
    /// √(sd_a² + sd_b²), the sd of the difference of one run of each.
    pub spread: Option<f64>,
    /// Whether the seeds were paired.
    pub paired: bool,
    /// Seeds (paired) or the smaller side's count (unpaired).
    pub n: usize,
    /// The per-seed differences (paired only).
    pub values: Vec<SeedValue>,
    /// The comparison.
    pub verdict: Verdict,
}

impl Difference {
    /// `treatment − baseline`: paired by seed when the two share at least one seed (the per-seed differences
    /// then give the mean and the spread), otherwise unpaired. `None` when either side has no value.
    pub fn of(treatment: &Summary, baseline: &Summary) -> Option<Difference> {
        let paired: Vec<SeedValue> = treatment
            .values
            .iter()
            .filter_map(|t| baseline.of_seed(t.seed).map(|b| SeedValue { seed: t.seed, value: t.value - b }))
            .collect();
        let d = if paired.is_empty() {
            let (mt, mb) = (treatment.mean()?, baseline.mean()?);
            let spread = match (treatment.sd(), baseline.sd()) {
                (Some(a), Some(b)) => Some((a * a + b * b).sqrt()),
                _ => None,
            };
            let n = treatment.n().min(baseline.n());
            Difference {
                mean: mt - mb,
                spread,
                paired: false,
                n,
                values: Vec::new(),
                verdict: Verdict::Unknown,
            }
        } else {
            let diffs: Vec<f64> = paired.iter().map(|v| v.value).collect();
            Difference {
                mean: mean(diffs.iter().copied())?,
                spread: sample_sd(&diffs),
                paired: true,
                n: diffs.len(),
                values: paired,
                verdict: Verdict::Unknown,
            }
        };
        let verdict = match d.spread {
            Some(s) if d.mean.is_finite() => {
                if d.mean.abs() > s {
                    Verdict::Exceeds
                } else {
                    Verdict::Within
                }
            }
            _ => Verdict::Unknown,
        };
        Some(Difference { verdict, ..d })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[(u64, f64)]) -> Summary {
        Summary::new(v.iter().map(|&(seed, value)| SeedValue { seed, value }).collect())
    }

    #[test]
    fn sample_standard_deviation_uses_n_minus_one() {
        let x = s(&[(2, 4.0), (1, 2.0)]);
        assert_eq!(x.mean(), Some(3.0));
        assert_eq!(x.sd(), Some(2f64.sqrt()));
        assert_eq!(x.values[0].seed, 1);
        assert_eq!(s(&[(1, 5.0)]).sd(), None);
        assert_eq!(s(&[]).mean(), None);
    }

    #[test]
    fn paired_differences_give_mean_and_spread() {
        let t = s(&[(1, 10.0), (2, 12.0), (3, 14.0)]);
        let b = s(&[(1, 9.0), (2, 9.0), (3, 10.0)]);
        let d = Difference::of(&t, &b).unwrap();
        assert!(d.paired);
        assert_eq!(d.n, 3);
        assert!((d.mean - 8.0 / 3.0).abs() < 1e-12);
        assert_eq!(d.spread, sample_sd(&[1.0, 3.0, 4.0]));
        assert_eq!(d.verdict, Verdict::Exceeds);
        let one = Difference::of(&s(&[(1, 2.0)]), &s(&[(1, 1.0)])).unwrap();
        assert_eq!((one.mean, one.verdict), (1.0, Verdict::Unknown));
    }

    #[test]
    fn unpaired_spread_adds_variances() {
        let t = s(&[(1, 1.0), (2, 3.0)]);
        let b = s(&[(5, 2.0), (6, 2.0), (7, 5.0)]);
        let d = Difference::of(&t, &b).unwrap();
        assert!(!d.paired);
        assert_eq!(d.mean, 2.0 - 3.0);
        let expect = (2.0f64 + 3.0).sqrt();
        assert!((d.spread.unwrap() - expect).abs() < 1e-12);
        assert_eq!(d.verdict, Verdict::Within);
    }
}

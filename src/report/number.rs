//! Fixed-precision decimal text of a float, rounded in a chosen direction.
//!
//! A printed bound must stay a bound: a certified upper bound on a Lipschitz constant is printed rounded up, a
//! certified radius or a certified accuracy rounded down, so the digits a reader sees are as true as the value
//! in the file. Rounding works on the exact decimal expansion of the `f64` (every `f64` has a finite one, at most
//! 1074 fraction digits), never on a product such as `v * 100.0` that would round again; percentages shift the
//! decimal point of that expansion instead. The text is the same on every platform.

use serde::Serialize;

/// Which way a value is rounded to the printed digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rounding {
    /// To the nearest printed value (ties away from zero): measurements and estimates.
    Nearest,
    /// Towards +∞: upper bounds (certified Lipschitz constants, empirical radii).
    Up,
    /// Towards −∞: lower bounds (certified radii and accuracies, proven lower bounds).
    Down,
}

/// How many digits are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Precision {
    /// A fixed number of decimals.
    Decimals(usize),
    /// A fixed number of significant digits; values below 1e-4 or from 1e6 on in scientific notation.
    Significant(usize),
}

/// The exact decimal expansion of |v|: `digits` with the decimal point after `int_len` of them.
struct Exact {
    negative: bool,
    digits: Vec<u8>,
    int_len: usize,
}

impl Exact {
    fn of(v: f64, shift: usize) -> Exact {
        // 1100 decimals hold every f64's expansion exactly, so this formatting does not round.
        let text = format!("{:.1100}", v.abs());
        let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
        let digits: Vec<u8> = int.bytes().chain(frac.bytes()).map(|b| b - b'0').collect();
        Exact { negative: v.is_sign_negative(), digits, int_len: int.len() + shift }
    }

    /// Keeps the first `keep` digits, rounding what is dropped in direction `dir`.
    fn round(&mut self, keep: usize, dir: Rounding) {
        if keep >= self.digits.len() {
            return;
        }
        let dropped = &self.digits[keep..];
        let nonzero = dropped.iter().any(|&d| d != 0);
        let increase = match (dir, self.negative) {
            (Rounding::Nearest, _) => dropped[0] >= 5,
            (Rounding::Up, false) | (Rounding::Down, true) => nonzero,
            (Rounding::Up, true) | (Rounding::Down, false) => false,
        };
        self.digits.truncate(keep);
        if increase {
            let mut i = keep;
            loop {
                if i == 0 {
                    self.digits.insert(0, 1);
                    self.int_len += 1;
                    break;
                }
                i -= 1;
                if self.digits[i] == 9 {
                    self.digits[i] = 0;
                } else {
                    self.digits[i] += 1;
                    break;
                }
            }
        }
    }

    /// Index of the first non-zero digit.
    fn first_nonzero(&self) -> Option<usize> {
        self.digits.iter().position(|&d| d != 0)
    }

    fn is_zero(&self) -> bool {
        self.first_nonzero().is_none()
    }

    fn sign(&self) -> &'static str {
        if self.negative && !self.is_zero() { "-" } else { "" }
    }

    /// The kept digits as fixed-point text with `decimals` decimals.
    fn fixed_text(&self, decimals: usize) -> String {
        let int: String = self.digits[..self.int_len].iter().map(|d| char::from(b'0' + d)).collect();
        let int = int.trim_start_matches('0');
        let int = if int.is_empty() { "0" } else { int };
        let mut s = format!("{}{int}", self.sign());
        if decimals > 0 {
            s.push('.');
            s.extend(self.digits[self.int_len..self.int_len + decimals].iter().map(|d| char::from(b'0' + d)));
        }
        s
    }
}

/// Digits kept, to the nearest, before a fraction of counts is rounded in its direction (see [`format`]).
const COUNT_SNAP_DIGITS: usize = 9;

/// `v · 10^shift` with `decimals` decimals, rounded in direction `dir`; `∞`/`-∞` for infinities and `NaN`.
pub fn fixed(v: f64, shift: usize, decimals: usize, dir: Rounding) -> String {
    fixed_snapped(v, shift, decimals, dir, false)
}

fn fixed_snapped(v: f64, shift: usize, decimals: usize, dir: Rounding, count: bool) -> String {
    if !v.is_finite() {
        return non_finite(v);
    }
    let mut e = Exact::of(v, shift);
    if count {
        e.round(e.int_len + decimals + COUNT_SNAP_DIGITS, Rounding::Nearest);
    }
    e.round(e.int_len + decimals, dir);
    e.fixed_text(decimals)
}

/// `v · 10^shift` with `sig` significant digits, rounded in direction `dir`: fixed-point text between 1e-4 and
/// 1e6, scientific (`1.234e-5`) outside.
pub fn significant(v: f64, shift: usize, sig: usize, dir: Rounding) -> String {
    if !v.is_finite() {
        return non_finite(v);
    }
    let sig = sig.max(1);
    let mut e = Exact::of(v, shift);
    let Some(first) = e.first_nonzero() else {
        return fixed(0.0, 0, sig - 1, dir);
    };
    let exponent = e.int_len as i64 - 1 - first as i64;
    if (-4..6).contains(&exponent) {
        let decimals = (sig as i64 - 1 - exponent).max(0) as usize;
        e.round(e.int_len + decimals, dir);
        return e.fixed_text(decimals);
    }
    e.round(first + sig, dir);
    // A carry may have added a leading digit (9.99e-5 → 1.00e-4).
    let first = e.first_nonzero().unwrap_or(0);
    let exponent = e.int_len as i64 - 1 - first as i64;
    let mantissa: String = e.digits[first..first + sig].iter().map(|d| char::from(b'0' + d)).collect();
    let (lead, rest) = mantissa.split_at(1);
    let point = if rest.is_empty() { String::new() } else { format!(".{rest}") };
    format!("{}{lead}{point}e{exponent}", e.sign())
}

/// `v · 10^shift` at `precision`, rounded in direction `dir`.
///
/// With `count`, `v` is a fraction k/n of counts (an accuracy, an error rate) whose `f64` may lie a rounding
/// error below or above k/n: it is first rounded to the nearest at 9 more decimals, which gives k/n's own
/// digits for every n below 10⁹, and only then in direction `dir`. Without it the direction applies to the
/// `f64` itself. `count` applies to [`Precision::Decimals`] only.
pub fn format(v: f64, shift: usize, precision: Precision, dir: Rounding, count: bool) -> String {
    match precision {
        Precision::Decimals(d) => fixed_snapped(v, shift, d, dir, count),
        Precision::Significant(s) => significant(v, shift, s, dir),
    }
}

fn non_finite(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v > 0.0 {
        "∞".into()
    } else {
        "-∞".into()
    }
}

#[cfg(test)]
mod tests {
    use super::Rounding::{Down, Nearest, Up};
    use super::*;

    #[test]
    fn directed_rounding_brackets_the_value() {
        assert_eq!(fixed(13.199217319434165, 0, 2, Up), "13.20");
        assert_eq!(fixed(13.199217319434165, 0, 2, Down), "13.19");
        assert_eq!(fixed(13.199217319434165, 0, 2, Nearest), "13.20");
        assert_eq!(fixed(-1.234, 0, 1, Up), "-1.2");
        assert_eq!(fixed(-1.234, 0, 1, Down), "-1.3");
        assert_eq!(fixed(-0.0001, 0, 2, Up), "0.00");
        assert_eq!(fixed(-0.0001, 0, 2, Down), "-0.01");
    }

    #[test]
    fn exact_expansion_decides_not_the_nearest_float() {
        // 0.1 is 0.1000000000000000055511151231257827…: above 0.1, so rounding up at 1 decimal gives 0.2.
        assert_eq!(fixed(0.1, 0, 1, Up), "0.2");
        assert_eq!(fixed(0.1, 0, 1, Down), "0.1");
        // 0.3 is 0.299999999999999988897769753748…: below 0.3.
        assert_eq!(fixed(0.3, 0, 1, Down), "0.2");
        assert_eq!(fixed(0.3, 0, 1, Up), "0.3");
        // Values that are exact decimals stay as they are in every direction.
        for d in [Up, Down, Nearest] {
            assert_eq!(fixed(0.5, 0, 1, d), "0.5");
            assert_eq!(fixed(0.25, 2, 0, d), "25");
        }
    }

    #[test]
    fn percent_shifts_the_expansion() {
        assert_eq!(fixed(0.9782, 2, 2, Nearest), "97.82");
        // 0.9782 lies just below 97.82 %, so rounding down reaches 97.81.
        assert_eq!(fixed(0.9782, 2, 2, Down), "97.81");
        assert_eq!(fixed(0.9782, 2, 2, Up), "97.82");
        assert_eq!(fixed(1.0, 2, 1, Up), "100.0");
    }

    #[test]
    fn fractions_of_counts_round_from_their_own_digits() {
        // 9782/10000 as an f64 lies just below 0.9782; as a fraction of counts it prints as 97.82 both ways.
        assert_eq!(format(0.9782, 2, Precision::Decimals(2), Down, true), "97.82");
        assert_eq!(format(0.9782, 2, Precision::Decimals(2), Up, true), "97.82");
        // 2/3 keeps its direction.
        assert_eq!(format(2.0 / 3.0, 2, Precision::Decimals(1), Down, true), "66.6");
        assert_eq!(format(2.0 / 3.0, 2, Precision::Decimals(1), Up, true), "66.7");
    }

    #[test]
    fn carries_propagate() {
        assert_eq!(fixed(9.999, 0, 2, Up), "10.00");
        assert_eq!(fixed(0.999, 0, 1, Nearest), "1.0");
        assert_eq!(significant(9.9999e-5, 0, 3, Up), "1.00e-4");
    }

    #[test]
    fn significant_digits_switch_to_scientific_outside_the_range() {
        assert_eq!(significant(13733.94224138437, 0, 4, Up), "13734");
        assert_eq!(significant(13733.94224138437, 0, 4, Down), "13733");
        assert_eq!(significant(1.3396212800502656, 0, 4, Down), "1.339");
        assert_eq!(significant(0.000199, 0, 3, Nearest), "0.000199");
        assert_eq!(significant(5e-324, 0, 3, Up), "4.95e-324");
        assert_eq!(significant(5e-324, 0, 3, Down), "4.94e-324");
        assert_eq!(significant(2.5e7, 0, 2, Nearest), "2.5e7");
        assert_eq!(significant(0.0, 0, 3, Nearest), "0.00");
    }

    #[test]
    fn non_finite_values_have_symbols() {
        assert_eq!(fixed(f64::INFINITY, 0, 2, Down), "∞");
        assert_eq!(fixed(f64::NEG_INFINITY, 0, 2, Down), "-∞");
        assert_eq!(fixed(f64::NAN, 0, 2, Down), "NaN");
    }
}

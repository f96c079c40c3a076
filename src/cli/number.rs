//! Numbers on the command line. Every numeric option takes the token after it as its value, a negative number
//! included (clap's `allow_negative_numbers`), so that `--samples -5` is refused for what it is, naming the
//! option and what it takes, rather than read as an unknown flag `-5`:
//!
//! ```text
//! #[arg(long, allow_negative_numbers = true, value_parser = number::positive)]
//! pub samples: usize,
//! ```
//!
//! Comma-separated lists (`--widths`, `--eps`) take `allow_hyphen_values` instead, since `-3,16` is not one
//! number. Real-valued options accept any finite number here; whether a negative one makes sense is the request's
//! check (`--lcr-weight -1` is refused there, naming the key).

use std::str::FromStr;

/// A whole number of at least `min`, described as `what` in the message.
fn whole<T: FromStr + PartialOrd + From<u8>>(s: &str, min: u8, what: &str) -> Result<T, String> {
    let t = s.trim();
    let digits = t.strip_prefix('+').unwrap_or(t);
    if let Some(rest) = t.strip_prefix('-')
        && !rest.is_empty()
        && rest.parse::<f64>().is_ok()
    {
        return Err(format!("must be {what}; {s} is negative"));
    }
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("must be {what}"));
    }
    let v: T = digits.parse().map_err(|_| format!("{s} is too large"))?;
    if v < T::from(min) {
        return Err(format!("must be {what}"));
    }
    Ok(v)
}

/// A count that may be 0: a non-negative whole number.
pub(crate) fn count(s: &str) -> Result<usize, String> {
    whole(s, 0, "a non-negative whole number (0 or more)")
}

/// A count of at least 1: a positive whole number.
pub(crate) fn positive(s: &str) -> Result<usize, String> {
    whole(s, 1, "a positive whole number (1 or more)")
}

/// A seed: a non-negative whole number below 2⁶⁴.
pub(crate) fn seed(s: &str) -> Result<u64, String> {
    whole(s, 0, "a non-negative whole number (0 or more)")
}

/// A finite real number, of either sign.
pub(crate) fn real(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(_) => Err("must be a finite number".into()),
        Err(_) => Err("must be a number, e.g. 0.5 or 1e-3".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_and_malformed_counts_say_what_the_option_takes() {
        assert_eq!(count("0"), Ok(0));
        assert_eq!(positive("+7"), Ok(7));
        let e = positive("-5").unwrap_err();
        assert!(e.contains("positive") && e.contains("-5 is negative"), "{e}");
        let e = count("-0.5").unwrap_err();
        assert!(e.contains("non-negative") && e.contains("negative"), "{e}");
        assert!(positive("0").unwrap_err().contains("1 or more"));
        for bad in ["", "1.5", "abc", "--quiet", "-", "1e3"] {
            assert!(count(bad).is_err(), "{bad}");
        }
        assert!(seed("99999999999999999999999").unwrap_err().contains("too large"));
    }

    #[test]
    fn reals_take_either_sign_but_only_finite_values() {
        assert_eq!(real("-0.5"), Ok(-0.5));
        assert_eq!(real("1e-3"), Ok(1e-3));
        for bad in ["nan", "inf", "-inf", "x"] {
            assert!(real(bad).is_err(), "{bad}");
        }
    }
}

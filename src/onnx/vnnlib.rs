//! VNN-LIB properties (the VNN-COMP format: SMT-LIB declarations and assertions over the ONNX graph's inputs
//! `X_i` and outputs `Y_j`) for local robustness: every input in a box keeps label t.
//!
//! A VNN-LIB file states the *unsafe* condition, so a verifier proves the property by showing it unsatisfiable:
//! the inputs lie in the box, and some other class scores at least as high as t (`Y_j ≥ Y_t`, ties counted as
//! lost, as in lcr-verify's own verdicts).

use std::fmt::Write;

use crate::float::{dn, up};

/// The ℓ∞ ball of radius `eps` (pixel scale p/255) around the image `pixels` (p/255 values, CHW order),
/// intersected with the pixel box [0, 1], in the network's normalised coordinates (x − mean_c)/std_c.
/// `plane` is the number of pixels per channel. The ends are rounded outward, so the box holds every
/// normalised image of the ball.
pub fn linf_box(pixels: &[f64], eps: f64, mean: &[f64], std: &[f64], plane: usize) -> (Vec<f64>, Vec<f64>) {
    pixels
        .iter()
        .enumerate()
        .map(|(i, &p)| {
            let c = i / plane;
            let lo = dn(p - eps).max(0.0);
            let hi = up(p + eps).min(1.0);
            (dn(dn(lo - mean[c]) / std[c]), up(up(hi - mean[c]) / std[c]))
        })
        .unzip()
}

/// The property "every input in [lo, hi] is classified as `label`" over `classes` outputs, as VNN-LIB text;
/// `comment` lines open the file.
pub fn property(lo: &[f64], hi: &[f64], label: usize, classes: usize, comment: &[String]) -> String {
    let mut s = String::new();
    for line in comment {
        let _ = writeln!(s, "; {line}");
    }
    for i in 0..lo.len() {
        let _ = writeln!(s, "(declare-const X_{i} Real)");
    }
    for j in 0..classes {
        let _ = writeln!(s, "(declare-const Y_{j} Real)");
    }
    s.push('\n');
    // Rust prints a float as the shortest decimal that reads back as the same float, never in exponent form.
    for (i, (l, h)) in lo.iter().zip(hi).enumerate() {
        let _ = writeln!(s, "(assert (>= X_{i} {}))", decimal(*l));
        let _ = writeln!(s, "(assert (<= X_{i} {}))", decimal(*h));
    }
    s.push_str("\n(assert (or\n");
    for j in (0..classes).filter(|&j| j != label) {
        let _ = writeln!(s, "    (and (>= Y_{j} Y_{label}))");
    }
    s.push_str("))\n");
    s
}

/// A finite float as a plain decimal that reads back as the same float (`1` is written `1.0`).
fn decimal(v: f64) -> String {
    let t = format!("{v}");
    if t.contains('.') { t } else { format!("{t}.0") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boxes_are_outward_and_clipped_to_the_pixel_range() {
        let (lo, hi) = linf_box(&[0.0, 0.5, 1.0, 0.25], 0.1, &[0.5, 0.0], &[0.25, 1.0], 2);
        // Channel 0: (p − 0.5)/0.25; the ball is cut at 0 and 1.
        assert!(lo[0] <= -2.0 && lo[0] > -2.0 - 1e-12);
        assert!(hi[0] >= (0.1 - 0.5) / 0.25 && hi[0] < (0.1 - 0.5) / 0.25 + 1e-12);
        assert!(lo[1] <= (0.4 - 0.5) / 0.25 && hi[1] >= (0.6 - 0.5) / 0.25);
        // Channel 1: identity normalisation.
        assert!(hi[2] >= 1.0 && hi[2] < 1.0 + 1e-12 && lo[2] <= 0.9);
        assert!(lo[3] <= 0.15 && hi[3] >= 0.35);
    }

    #[test]
    fn the_property_asserts_the_unsafe_side_for_every_other_class() {
        let text = property(&[-1.0, 0.0], &[1.0, 0.5], 1, 3, &["sample 4".into()]);
        assert!(text.starts_with("; sample 4\n"));
        assert!(text.contains("(declare-const X_1 Real)") && !text.contains("X_2 "));
        assert!(text.contains("(assert (>= X_0 -1.0))") && text.contains("(assert (<= X_1 0.5))"));
        assert!(text.contains("(and (>= Y_0 Y_1))") && text.contains("(and (>= Y_2 Y_1))"));
        assert!(!text.contains("(>= Y_1 Y_1)"));
        assert_eq!(text.matches('(').count(), text.matches(')').count());
    }
}

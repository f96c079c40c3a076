//! Golden comparison with the reference implementation at 224 px: the deterministic ImageNet-C corruptions
//! computed by the functions of hendrycks/robustness `make_imagenet_c.py` (NumPy 1.26, SciPy 1.11,
//! scikit-image 0.20, OpenCV 4.10, Pillow 10.4; `scripts/reference_imagenet_c.py golden`) on the two real 224-px
//! photographs, against ours, every pixel of the stored rows (see tests/fixtures/README.md).

mod common;

use lcr_verify::corrupt::{Corruption, Corruptor, Table, npy};

/// The corruptions of the golden file, in its order, with the largest tolerated difference in 8-bit levels.
/// Pixelate goes through PIL's 8-bit box filter exactly; the float pipelines may land on the other side of a
/// truncation boundary (`np.uint8` truncates), which is one level.
const MAX_LEVELS: [(Corruption, u8); 7] = [
    (Corruption::Contrast, 1),
    (Corruption::Brightness, 1),
    (Corruption::Saturate, 1),
    (Corruption::Pixelate, 0),
    (Corruption::GaussianBlur, 1),
    (Corruption::DefocusBlur, 1),
    (Corruption::ZoomBlur, 1),
];

/// Fraction of values allowed to differ by that one level: values whose exact result is a whole number of
/// levels (`V + 0.2` in HSV, a flat region under a normalised kernel) are decided by `f32` against `f64`
/// round-off, on either side of the truncation.
const MAX_DIFFERING_FRACTION: f64 = 0.10;

/// The rows the golden file keeps (`golden_rows()` in the script): the first and last four, every eighth between.
fn golden_rows() -> Vec<usize> {
    let mut rows: Vec<usize> = (0..4).chain(220..224).chain((4..220).step_by(8)).collect();
    rows.sort_unstable();
    rows.dedup();
    rows
}

#[test]
fn deterministic_corruptions_match_the_reference_scripts_at_224px() {
    let path = common::fixture("reference_imagenet_deterministic.npy");
    let reference = npy::read(&path).unwrap();
    let rows = golden_rows();
    assert_eq!(reference.shape, vec![7, 5, 2, rows.len(), 224, 3]);
    let photos = common::photos224();
    let cor = Corruptor::new(Table::ImageNet);
    let row_len = 224 * 3;
    let per = rows.len() * row_len;
    let mut report = Vec::new();
    for (ci, &(c, max_levels)) in MAX_LEVELS.iter().enumerate() {
        for s in 1..=5u8 {
            for (k, clean) in photos.iter().enumerate() {
                let full = cor.apply_seeded(c, s, clean, 0, k as u64).unwrap().to_u8();
                let ours: Vec<u8> =
                    rows.iter().flat_map(|&r| full[r * row_len..(r + 1) * row_len].iter().copied()).collect();
                let off = ((ci * 5 + usize::from(s - 1)) * 2 + k) * per;
                let want = &reference.data[off..off + per];
                let diffs: Vec<u8> = ours.iter().zip(want).map(|(a, b)| a.abs_diff(*b)).collect();
                let worst = *diffs.iter().max().unwrap();
                let frac = diffs.iter().filter(|&&d| d > 0).count() as f64 / per as f64;
                if worst > max_levels || frac > MAX_DIFFERING_FRACTION {
                    report.push(format!(
                        "{c} s{s} photo {k}: max difference {worst} levels, {:.2}% of values differ",
                        frac * 100.0
                    ));
                }
            }
        }
    }
    assert!(report.is_empty(), "differences from the reference at 224 px:\n{}", report.join("\n"));
}

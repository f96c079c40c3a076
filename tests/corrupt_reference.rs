//! Golden comparison with the reference implementation: the deterministic CIFAR-10-C corruptions, computed by
//! the functions of hendrycks/robustness `make_cifar_c.py` (NumPy 1.26, SciPy 1.11, scikit-image 0.20,
//! OpenCV 4.10, Pillow 10.4) on two real CIFAR-10 images, against ours (see tests/fixtures/README.md).

mod common;

use lcr_verify::corrupt::{Corruption, Corruptor, Image, Table, npy};

/// Largest tolerated difference, in 8-bit levels, per corruption. Pixelate goes through PIL's 8-bit box filter
/// exactly; the float pipelines may land on the other side of a truncation boundary (1 level), or differ by
/// rounding of `f32` against NumPy's `f64`.
const MAX_LEVELS: [(Corruption, u8); 7] = [
    (Corruption::Contrast, 1),
    (Corruption::Brightness, 1),
    (Corruption::Saturate, 1),
    (Corruption::Pixelate, 0),
    (Corruption::GaussianBlur, 1),
    (Corruption::DefocusBlur, 1),
    (Corruption::ZoomBlur, 1),
];

/// Fraction of values allowed to differ by that one level. The reference truncates (`np.uint8`) values that are
/// often whole numbers in exact arithmetic (`V + 0.2` in HSV, a defocus cross of weight 0.2 per tap), so `f64`
/// round-off there decides the level; up to 10% of values sit on such a boundary for some rows of the table.
const MAX_DIFFERING_FRACTION: f64 = 0.10;

#[test]
fn deterministic_corruptions_match_the_reference_scripts() {
    let reference = npy::read(&common::fixture("reference_cifar_deterministic.npy")).unwrap();
    assert_eq!(reference.shape, vec![7, 5, 2, 32, 32, 3]);
    let set = common::cifar_images();
    let cor = Corruptor::new(Table::Cifar);
    let per = 32 * 32 * 3;
    for (ci, &(c, max_levels)) in MAX_LEVELS.iter().enumerate() {
        for s in 1..=5u8 {
            for k in 0..2 {
                let clean = Image::from_u8(32, 32, 3, set.image(k)).unwrap();
                let ours = cor.apply_seeded(c, s, &clean, 0, k as u64).unwrap().to_u8();
                let off = ((ci * 5 + usize::from(s - 1)) * 2 + k) * per;
                let want = &reference.data[off..off + per];
                let diffs: Vec<u8> = ours.iter().zip(want).map(|(a, b)| a.abs_diff(*b)).collect();
                let worst = *diffs.iter().max().unwrap();
                let frac = diffs.iter().filter(|&&d| d > 0).count() as f64 / per as f64;
                assert!(worst <= max_levels, "{c} s{s} image {k}: max difference {worst} levels");
                assert!(
                    frac <= MAX_DIFFERING_FRACTION,
                    "{c} s{s} image {k}: {:.2}% of values differ",
                    frac * 100.0
                );
            }
        }
    }
}

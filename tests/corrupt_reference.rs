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

/// Mean absolute difference (0…1 scale) from the clean image of the random CIFAR-10-C corruptions, per
/// severity, over the 20 CIFAR-10 fixture images × 3 seeds, computed with the reference functions of
/// `make_cifar_c.py` (motion blur and snow through `imagecorruptions`' NumPy port of ImageMagick's motion blur,
/// as Wand is not installed; JPEG through PIL; software versions as above).
const REFERENCE_DAMAGE: [(Corruption, [f64; 5]); 12] = [
    (Corruption::GaussianNoise, [0.03158, 0.04687, 0.06182, 0.06903, 0.07667]),
    (Corruption::ShotNoise, [0.02322, 0.03258, 0.05128, 0.05874, 0.07117]),
    (Corruption::ImpulseNoise, [0.00494, 0.00998, 0.01503, 0.02465, 0.03526]),
    (Corruption::GlassBlur, [0.0487, 0.04886, 0.048, 0.0783, 0.07515]),
    (Corruption::MotionBlur, [0.03099, 0.04482, 0.05504, 0.05722, 0.06661]),
    (Corruption::Snow, [0.04241, 0.09507, 0.09907, 0.14508, 0.19934]),
    (Corruption::Frost, [0.1197, 0.17882, 0.18435, 0.18344, 0.16906]),
    (Corruption::Fog, [0.0427, 0.08938, 0.11141, 0.13312, 0.15781]),
    (Corruption::ElasticTransform, [0.09737, 0.08427, 0.0781, 0.07386, 0.05929]),
    (Corruption::JpegCompression, [0.02228, 0.02785, 0.02984, 0.03172, 0.03434]),
    (Corruption::SpeckleNoise, [0.02231, 0.03654, 0.04343, 0.05707, 0.07079]),
    (Corruption::Spatter, [0.00394, 0.01097, 0.02623, 0.01115, 0.01929]),
];

/// Relative tolerance on a mean damage over 60 draws. Noise and blurs agree within 3 %; fog, frost and spatter
/// vary much from draw to draw (which plasma map, which of five photographs, where the blobs fall) and agree
/// within 11 %. A real departure, such as swapping instead of copying in glass blur, moves the damage by ~40 %.
const DAMAGE_REL: f64 = 0.15;

#[test]
fn random_corruptions_do_as_much_damage_as_the_reference() {
    let set = common::images(&common::cifar_images());
    let cor = Corruptor::new(Table::Cifar);
    let mut report = Vec::new();
    for (c, want) in REFERENCE_DAMAGE {
        for s in 1..=5u8 {
            let mut total = 0.0;
            for seed in 0..3 {
                for (i, img) in set.iter().enumerate() {
                    let out = cor.apply_seeded(c, s, img, seed, i as u64).unwrap().to_u8();
                    total += Image::from_u8(32, 32, 3, &out).unwrap().mean_abs_diff(img);
                }
            }
            let ours = total / (3 * set.len()) as f64;
            let w = want[usize::from(s - 1)];
            if (ours - w).abs() > DAMAGE_REL * w {
                report.push(format!("{c} s{s}: ours {ours:.5}, reference {w:.5}"));
            }
        }
    }
    assert!(
        report.is_empty(),
        "damage differs from the reference by more than {DAMAGE_REL}:\n{}",
        report.join("\n")
    );
}

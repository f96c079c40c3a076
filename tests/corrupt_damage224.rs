//! Damage statistics of the random ImageNet-C corruptions at 224 px against the reference implementation: the
//! mean absolute difference from the clean image (0…1 scale, after the 8-bit truncation), per severity, over
//! many draws on the two real 224-px photographs, against the same statistic of the functions of
//! hendrycks/robustness `make_imagenet_c.py` (NumPy 1.26, SciPy 1.11, scikit-image 0.20, OpenCV 4.10,
//! Pillow 10.4, ImageMagick 6.9.11 through Wand 0.6.11 for motion blur and snow), computed by
//! `scripts/reference_imagenet_c.py damage` (see tests/fixtures/README.md).

mod common;

use lcr_verify::corrupt::{Corruption, Corruptor, Image, Table};
use rayon::prelude::*;

/// Per corruption: the reference mean damage at severities 1–5, and the draws per photograph taken here
/// (more where one draw varies much: the angle of motion blur, which frost photograph, the elastic field).
const REFERENCE_DAMAGE: [(Corruption, [f64; 5], u64); 11] = [
    (Corruption::GaussianNoise, [0.05776, 0.08408, 0.12057, 0.16418, 0.21964], 8),
    (Corruption::ShotNoise, [0.0567, 0.08517, 0.11804, 0.17186, 0.21332], 8),
    (Corruption::ImpulseNoise, [0.01503, 0.02997, 0.04533, 0.08499, 0.13448], 8),
    (Corruption::SpeckleNoise, [0.04715, 0.06145, 0.10106, 0.1248, 0.15555], 8),
    (Corruption::GlassBlur, [0.03673, 0.03741, 0.0639, 0.06164, 0.0711], 4),
    (Corruption::MotionBlur, [0.04324, 0.06184, 0.0821, 0.10095, 0.11206], 200),
    (Corruption::Snow, [0.15716, 0.25071, 0.24901, 0.29939, 0.35102], 50),
    (Corruption::Frost, [0.22495, 0.27307, 0.29991, 0.29124, 0.3061], 500),
    (Corruption::Fog, [0.18922, 0.21028, 0.22736, 0.2285, 0.23968], 100),
    (Corruption::ElasticTransform, [0.16768, 0.21645, 0.07052, 0.07231, 0.07855], 200),
    (Corruption::Spatter, [0.00322, 0.0173, 0.0296, 0.03287, 0.05323], 200),
];

/// Relative tolerance on a mean damage. The reference means carry a sampling error of at most ~2 % (one
/// standard error, from the spread of its draws), ours less, so 5 % is about 2.5 standard errors; a real
/// departure (copying instead of swapping in glass blur, a lost motion-blur tap, a tie rule of OpenCV's Canny
/// that spatter s1's small drops depend on) moves the damage by far more.
const DAMAGE_REL: f64 = 0.05;

#[test]
fn random_corruptions_do_as_much_damage_as_the_reference_at_224px() {
    let photos = common::photos224();
    let cor = Corruptor::new(Table::ImageNet);
    let mut report = Vec::new();
    let mut table = Vec::new();
    for (c, want, seeds) in REFERENCE_DAMAGE {
        for s in 1..=5u8 {
            let prepared = cor.prepare(c, s, 224, 224).unwrap();
            let total: f64 = (0..seeds)
                .into_par_iter()
                .map(|seed| {
                    photos
                        .iter()
                        .enumerate()
                        .map(|(k, img)| {
                            let out = prepared.apply_u8(224, 224, 3, &img.to_u8(), seed, k as u64).unwrap();
                            Image::from_u8(224, 224, 3, &out).unwrap().mean_abs_diff(img)
                        })
                        .sum::<f64>()
                })
                .sum();
            let ours = total / (seeds as usize * photos.len()) as f64;
            let w = want[usize::from(s - 1)];
            table.push(format!(
                "{c} s{s}: ours {ours:.5}, reference {w:.5} ({:+.1}%)",
                100.0 * (ours / w - 1.0)
            ));
            if (ours - w).abs() > DAMAGE_REL * w {
                report.push(table.last().unwrap().clone());
            }
        }
    }
    eprintln!("{}", table.join("\n"));
    assert!(
        report.is_empty(),
        "damage differs from the reference by more than {DAMAGE_REL}:\n{}",
        report.join("\n")
    );
}

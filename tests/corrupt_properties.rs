//! Properties every corruption must have: seeded determinism (independent of chunking and threads), any size
//! and channel count, and damage that grows with severity.

mod common;

use lcr_verify::corrupt::{Corruption, Corruptor, Image, Suite, Table, mnist_c_severity};
use lcr_verify::data::ImageSet;

fn standard() -> Vec<Corruption> {
    Corruption::BENCHMARK.iter().chain(&Corruption::EXTRA).copied().collect()
}

/// Mean absolute difference (0…1 scale) between the 8-bit corrupted images and the clean ones, averaged over
/// the set, at each severity 1–5.
fn damage(cor: &Corruptor, c: Corruption, set: &[Image]) -> Vec<f64> {
    (1..=5u8)
        .map(|s| {
            set.iter()
                .enumerate()
                .map(|(i, img)| {
                    let out = cor.apply_seeded(c, s, img, 3, i as u64).unwrap();
                    let q = Image::from_u8(img.height, img.width, img.channels, &out.to_u8()).unwrap();
                    q.mean_abs_diff(img)
                })
                .sum::<f64>()
                / set.len() as f64
        })
        .collect()
}

/// Tolerance on "non-decreasing": two rows of a table that differ only in a parameter that barely matters (e.g.
/// motion blur (6, 2) vs (8, 2): the taps past 6 weigh under 0.2 %; fog (2.5, 1.7) vs (2.5, 1.5): same strength,
/// only the roughness changes) give equal damage up to sampling noise.
const TIE: f64 = 0.005;

/// Where the reference tables themselves do not order the damage, with the reason; every other
/// (table, corruption) pair must be non-decreasing (within [`TIE`]) and strictly worse at s5 than at s1.
fn exception(table: Table, c: Corruption, colour: bool, side: usize) -> Option<&'static str> {
    use Corruption::*;
    match (table, c) {
        (_, ElasticTransform) => {
            Some("the tables trade the affine shift (large at s1-s2) for local displacement")
        }
        (_, Saturate) => {
            Some("the tables scale S by 0.3, 0.1, then 1.5-20: the change |a - 1| is not ordered")
        }
        (_, Spatter) => Some("s1-s3 are water drops, s4-s5 mud: two different effects"),
        (Table::Cifar, GlassBlur) => {
            Some("CIFAR rows (.05,1,1) (.25,1,1) (.4,1,1) (.25,1,2) (.4,1,2): more blur smooths the shuffle")
        }
        (_, Frost) if colour => Some(
            "the image weight falls (1 -> .6) while the frost weight levels off: on bright images |(a-1)x + bF| can shrink",
        ),
        (Table::ImageNet, Snow) if colour => {
            Some("s2 -> s3 raises the flake threshold from .5 to .9 (fewer flakes)")
        }
        (Table::ImageNet, GlassBlur) if side < 64 => Some(
            "rows (1,2,3) -> (1.1,3,2): s3 sweeps three times, s4 twice; on small images the sweep count dominates",
        ),
        _ => None,
    }
}

fn check_monotone(name: &str, table: Table, set: &[Image]) {
    let cor = Corruptor::new(table);
    let colour = set[0].channels == 3;
    let mut failures = Vec::new();
    for c in standard() {
        let d = damage(&cor, c, set);
        match exception(table, c, colour, set[0].height.min(set[0].width)) {
            Some(_) => {
                // Even where the order is not monotone, every severity must do visible damage (except that
                // scaling S leaves gray pixels, S = 0, alone: saturate's s1-s3 do nothing to gray images).
                let gray_saturate = c == Corruption::Saturate && !colour;
                if !gray_saturate && d.iter().any(|&v| v <= 0.0) {
                    failures.push(format!("{c}: a severity leaves the images unchanged: {d:.4?}"));
                }
            }
            None => {
                let ok = d.windows(2).all(|w| w[1] >= w[0] - TIE) && d[4] > d[0];
                if !ok {
                    failures.push(format!("{c}: {d:.4?}"));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{name} ({table}): damage not monotone in severity:\n{}",
        failures.join("\n")
    );
}

#[test]
fn damage_grows_with_severity_on_mnist_digits() {
    let set = common::mnist_digits(40);
    check_monotone("40 MNIST digits", Table::Cifar, &set);
    check_monotone("40 MNIST digits", Table::ImageNet, &set);
}

#[test]
fn damage_grows_with_severity_on_cifar_images() {
    let set = common::images(&common::cifar_images());
    check_monotone("20 CIFAR-10 images", Table::Cifar, &set);
    check_monotone("20 CIFAR-10 images", Table::ImageNet, &set[..8]);
}

#[test]
fn damage_grows_with_severity_on_photos_at_224() {
    let set = common::photos224();
    check_monotone("2 photos at 224 px", Table::ImageNet, &set);
}

#[test]
fn spatter_damage_grows_within_each_mode() {
    let set = common::images(&common::cifar_images());
    for table in [Table::Cifar, Table::ImageNet] {
        let d = damage(&Corruptor::new(table), Corruption::Spatter, &set);
        assert!(d[0] < d[1] && d[1] < d[2], "{table} water s1-s3: {d:?}");
        assert!(d[3] < d[4], "{table} mud s4-s5: {d:?}");
    }
}

#[test]
fn same_seed_same_image_other_seed_other_image() {
    let clean = common::images(&common::cifar_images()).remove(3);
    let digit = common::mnist_digits(1).remove(0);
    for (table, img, list) in [
        (Table::Cifar, &clean, standard()),
        (Table::ImageNet, &clean, standard()),
        (Table::MnistC, &digit, Corruption::MNIST_C.to_vec()),
    ] {
        let cor = Corruptor::new(table);
        for c in list {
            let s = if table == Table::MnistC { mnist_c_severity(c) } else { 3 };
            let a = cor.apply_seeded(c, s, img, 5, 0).unwrap().to_u8();
            let b = cor.apply_seeded(c, s, img, 5, 0).unwrap().to_u8();
            assert_eq!(a, b, "{table} {c}: not reproducible");
            if c.is_random() {
                // Some draws have few outcomes (shear and rotate: a sign), so look at several seeds / indices.
                let by_seed = (6..14).any(|seed| cor.apply_seeded(c, s, img, seed, 0).unwrap().to_u8() != a);
                let by_index = (1..9).any(|i| cor.apply_seeded(c, s, img, 5, i).unwrap().to_u8() != a);
                assert!(by_seed, "{table} {c}: the seed has no effect");
                assert!(by_index, "{table} {c}: the image index has no effect");
            }
        }
    }
}

#[test]
fn sets_do_not_depend_on_chunking_or_threads() {
    let set = common::cifar_images();
    let cor = Corruptor::new(Table::Cifar);
    for c in
        [Corruption::GaussianNoise, Corruption::GlassBlur, Corruption::Frost, Corruption::ElasticTransform]
    {
        let whole = cor.corrupt_set(&set, c, 4, 9, 0, &|| {}).unwrap();
        let per = set.image_len();
        let first =
            ImageSet::new(32, 32, 3, set.pixels[..7 * per].to_vec(), set.labels[..7].to_vec()).unwrap();
        let rest =
            ImageSet::new(32, 32, 3, set.pixels[7 * per..].to_vec(), set.labels[7..].to_vec()).unwrap();
        let a = cor.corrupt_set(&first, c, 4, 9, 0, &|| {}).unwrap();
        let one_thread = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let b = one_thread.install(|| cor.corrupt_set(&rest, c, 4, 9, 7, &|| {}).unwrap());
        assert_eq!([a.pixels, b.pixels].concat(), whole.pixels, "{c}");
        assert_eq!(whole.labels, set.labels);
    }
}

#[test]
fn every_corruption_handles_gray_colour_and_odd_sizes() {
    let shapes = [(28, 28, 1), (32, 32, 3), (17, 23, 3), (23, 17, 1), (40, 33, 1)];
    for (h, w, ch) in shapes {
        let px: Vec<u8> = (0..h * w * ch).map(|i| ((i * 37 + i / 7) % 256) as u8).collect();
        let img = Image::from_u8(h, w, ch, &px).unwrap();
        for (table, list) in [
            (Table::Cifar, standard()),
            (Table::ImageNet, standard()),
            (Table::MnistC, Suite::MnistC.corruptions()),
        ] {
            let cor = Corruptor::new(table);
            for c in list {
                for s in 1..=5 {
                    let out = cor.apply_seeded(c, s, &img, 1, 0).unwrap();
                    assert_eq!((out.height, out.width, out.channels), (h, w, ch), "{table} {c} s{s}");
                    assert!(
                        out.data.iter().all(|v| v.is_finite() && (0.0..=1.0).contains(v)),
                        "{table} {c} s{s} {h}x{w}x{ch}"
                    );
                }
            }
        }
    }
}

#[test]
fn mnist_only_corruptions_need_the_mnist_table() {
    let img = common::mnist_digits(1).remove(0);
    let err =
        Corruptor::new(Table::Cifar).apply_seeded(Corruption::Shear, 2, &img, 0, 0).unwrap_err().to_string();
    assert!(err.contains("mnist-c"), "{err}");
    let err =
        Corruptor::new(Table::Cifar).apply_seeded(Corruption::Fog, 6, &img, 0, 0).unwrap_err().to_string();
    assert!(err.contains("severity"), "{err}");
}

#[test]
fn the_exceptions_follow_their_mechanism() {
    let set = common::images(&common::cifar_images());
    let cifar = Corruptor::new(Table::Cifar);
    // CIFAR glass blur: at equal σ, a second sweep does more damage: s2 (.25,1,1) < s4 (.25,1,2) and
    // s3 (.4,1,1) < s5 (.4,1,2).
    let g = damage(&cifar, Corruption::GlassBlur, &set);
    assert!(g[1] < g[3] && g[2] < g[4], "glass: {g:?}");
    // CIFAR saturate: the damage follows |a − 1| (.7, .9, .5, 1 + shift .1, 1.5 + shift .2): s3 < s1 < s2 < s4 < s5.
    let s = damage(&cifar, Corruption::Saturate, &set);
    assert!(s[2] < s[0] && s[0] < s[1] && s[1] < s[3] && s[3] < s[4], "saturate: {s:?}");
    // Frost: on dark images (MNIST digits) the frost weight dominates and the damage does grow.
    let digits = common::mnist_digits(40);
    for table in [Table::Cifar, Table::ImageNet] {
        let f = damage(&Corruptor::new(table), Corruption::Frost, &digits);
        assert!(f.windows(2).all(|w| w[1] >= w[0] - TIE) && f[4] > f[0], "{table} frost on digits: {f:?}");
    }
    // Elastic: the CIFAR table shrinks the affine jitter (2.56 px at s1 to 0.96 px at s5) while the local
    // displacement grows; the damage follows the affine part.
    let e = damage(&cifar, Corruption::ElasticTransform, &set);
    assert!(e.windows(2).all(|w| w[1] <= w[0] + TIE), "elastic: {e:?}");
}

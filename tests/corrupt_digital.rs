//! Weather and digital corruptions against their definitions: contrast keeps each channel's mean, brightness
//! and saturate move only V or S in HSV, pixelate is blocky, lower JPEG quality does more damage, fog never
//! exceeds the image maximum, snow and water only brighten, frost adds a non-negative layer, mud pulls towards
//! its colour, elastic only resamples.

mod common;

use lcr_verify::corrupt::{Corruption, Corruptor, Image, Table, params, rgb_to_hsv};

fn cifar() -> Vec<Image> {
    common::images(&common::cifar_images())
}

fn hsv(img: &Image) -> Vec<[f32; 3]> {
    img.data.chunks(3).map(|p| rgb_to_hsv([p[0], p[1], p[2]])).collect()
}

/// Float tolerance for exact identities computed in `f32`.
const EPS: f32 = 1e-5;

#[test]
fn contrast_preserves_every_channel_mean() {
    for table in [Table::Cifar, Table::ImageNet] {
        let cor = Corruptor::new(table);
        for img in cifar().iter().take(6) {
            for s in 1..=5 {
                let out = cor.apply_seeded(Corruption::Contrast, s, img, 0, 0).unwrap();
                for ch in 0..3 {
                    let mean = |im: &Image| im.plane(ch).iter().map(|&v| f64::from(v)).sum::<f64>() / 1024.0;
                    assert!((mean(&out) - mean(img)).abs() < 1e-5, "{table} s{s} channel {ch}");
                }
                // And the spread shrinks by exactly the factor.
                let c = if table == Table::Cifar { params::CONTRAST.0 } else { params::CONTRAST.1 }
                    [usize::from(s - 1)];
                let sd = |im: &Image| {
                    let p = im.plane(0);
                    let m = p.iter().sum::<f32>() / p.len() as f32;
                    (p.iter().map(|v| (v - m).powi(2)).sum::<f32>() / p.len() as f32).sqrt()
                };
                assert!((sd(&out) - c * sd(img)).abs() < 1e-4, "{table} s{s}");
            }
        }
    }
}

#[test]
fn brightness_adds_to_v_only() {
    for (table, shifts) in [(Table::Cifar, params::BRIGHTNESS.0), (Table::ImageNet, params::BRIGHTNESS.1)] {
        let cor = Corruptor::new(table);
        for img in cifar().iter().take(4) {
            for (k, &c) in shifts.iter().enumerate() {
                let out = cor.apply_seeded(Corruption::Brightness, k as u8 + 1, img, 0, 0).unwrap();
                for (a, b) in hsv(img).iter().zip(hsv(&out)) {
                    assert!((b[2] - (a[2] + c).min(1.0)).abs() < EPS, "{table}: V");
                    if a[1] > 0.01 && a[2] > 0.01 {
                        assert!(
                            (b[1] - a[1]).abs() < 1e-4 && (b[0] - a[0]).abs() < 1e-4,
                            "{table}: H and S kept"
                        );
                    }
                }
            }
        }
    }
    // Gray images: V is the value itself.
    let digit = common::mnist_digits(1).remove(0);
    let out = Corruptor::new(Table::Cifar).apply_seeded(Corruption::Brightness, 5, &digit, 0, 0).unwrap();
    assert!(digit.data.iter().zip(&out.data).all(|(a, b)| (b - (a + 0.3).min(1.0)).abs() < EPS));
}

#[test]
fn saturate_scales_s_only() {
    for (table, rows) in [(Table::Cifar, params::SATURATE.0), (Table::ImageNet, params::SATURATE.1)] {
        let cor = Corruptor::new(table);
        for img in cifar().iter().take(4) {
            for (k, &(a_, b_)) in rows.iter().enumerate() {
                let out = cor.apply_seeded(Corruption::Saturate, k as u8 + 1, img, 0, 0).unwrap();
                for (a, b) in hsv(img).iter().zip(hsv(&out)) {
                    assert!((b[2] - a[2]).abs() < EPS, "{table}: V kept");
                    if a[2] > 0.02 {
                        assert!(
                            (b[1] - (a[1] * a_ + b_).clamp(0.0, 1.0)).abs() < 1e-4,
                            "{table} s{}: S",
                            k + 1
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn pixelate_is_blocky() {
    let set = common::cifar_images();
    // ImageNet s2 on 32 px: factor 0.5 → 16 px → 2×2 blocks, each the rounded mean of its four pixels
    // (PIL rounds after each of its two passes, so within one level).
    let cor = Corruptor::new(Table::ImageNet);
    for i in 0..4 {
        let img = Image::from_u8(32, 32, 3, set.image(i)).unwrap();
        let out = cor.apply_seeded(Corruption::Pixelate, 2, &img, 0, 0).unwrap().to_u8();
        let src = set.image(i);
        for by in 0..16 {
            for bx in 0..16 {
                for ch in 0..3 {
                    let at = |v: &[u8], y: usize, x: usize| i32::from(v[(y * 32 + x) * 3 + ch]);
                    let (y, x) = (2 * by, 2 * bx);
                    let block =
                        [at(&out, y, x), at(&out, y, x + 1), at(&out, y + 1, x), at(&out, y + 1, x + 1)];
                    assert!(block.iter().all(|&v| v == block[0]), "block ({by},{bx}) not constant");
                    let mean = (at(src, y, x) + at(src, y, x + 1) + at(src, y + 1, x) + at(src, y + 1, x + 1))
                        as f64
                        / 4.0;
                    assert!(
                        (f64::from(block[0]) - mean).abs() <= 1.0,
                        "block ({by},{bx}): {} vs {mean}",
                        block[0]
                    );
                }
            }
        }
    }
    // Any factor: at most ⌊32·c⌋ distinct rows and columns, each output row a copy of a neighbour or new.
    for (table, factors) in [(Table::Cifar, params::PIXELATE.0), (Table::ImageNet, params::PIXELATE.1)] {
        let cor = Corruptor::new(table);
        let img = Image::from_u8(32, 32, 3, set.image(5)).unwrap();
        for (k, &c) in factors.iter().enumerate() {
            let out = cor.apply_seeded(Corruption::Pixelate, k as u8 + 1, &img, 0, 0).unwrap().to_u8();
            let rows: Vec<&[u8]> = out.chunks(96).collect();
            let mut changes = 1;
            for w in rows.windows(2) {
                if w[0] != w[1] {
                    changes += 1;
                }
            }
            assert!(changes <= (32.0 * c) as usize, "{table} s{}: {changes} distinct row runs", k + 1);
        }
    }
}

#[test]
fn lower_jpeg_quality_does_more_damage() {
    let set = cifar();
    let photos = common::photos224();
    for (table, imgs) in
        [(Table::Cifar, &set[..]), (Table::ImageNet, &set[..]), (Table::ImageNet, &photos[..])]
    {
        let cor = Corruptor::new(table);
        let damage: Vec<f64> = (1..=5)
            .map(|s| {
                imgs.iter()
                    .map(|im| {
                        cor.apply_seeded(Corruption::JpegCompression, s, im, 0, 0).unwrap().mean_abs_diff(im)
                    })
                    .sum()
            })
            .collect();
        assert!(damage.windows(2).all(|w| w[1] > w[0]), "{table}: {damage:?}");
    }
}

#[test]
fn fog_never_exceeds_the_image_maximum() {
    for table in [Table::Cifar, Table::ImageNet] {
        let cor = Corruptor::new(table);
        for (i, img) in cifar().iter().take(5).enumerate() {
            let max = img.max();
            for s in 1..=5 {
                let out = cor.apply_seeded(Corruption::Fog, s, img, 1, i as u64).unwrap();
                assert!(out.max() <= max + EPS, "{table} s{s}");
            }
        }
    }
    let p = lcr_verify::corrupt::plasma_fractal(
        64,
        2.0,
        &mut lcr_verify::corrupt::image_rng(0, Corruption::Fog, 0),
    );
    let (lo, hi) = p.iter().fold((f64::MAX, f64::MIN), |(a, b), &v| (a.min(v), b.max(v)));
    assert_eq!((lo, hi), (0.0, 1.0), "the plasma map is normalised to [0, 1]");
}

#[test]
fn snow_and_water_only_brighten_frost_adds_mud_pulls() {
    let set = cifar();
    for table in [Table::Cifar, Table::ImageNet] {
        let cor = Corruptor::new(table);
        let (frost, spatter) = if table == Table::Cifar {
            (params::FROST.0, params::SPATTER.0)
        } else {
            (params::FROST.1, params::SPATTER.1)
        };
        for (i, img) in set.iter().take(5).enumerate() {
            for s in 1..=5u8 {
                let k = usize::from(s - 1);
                let snow = cor.apply_seeded(Corruption::Snow, s, img, 2, i as u64).unwrap();
                assert!(img.data.iter().zip(&snow.data).all(|(a, b)| *b >= a - EPS), "{table} snow s{s}");
                let fr = cor.apply_seeded(Corruption::Frost, s, img, 2, i as u64).unwrap();
                let (a, b) = frost[k];
                assert!(
                    img.data
                        .iter()
                        .zip(&fr.data)
                        .all(|(x, y)| *y >= (a * x).min(1.0) - EPS && *y <= a * x + b + EPS),
                    "{table} frost s{s}"
                );
                let sp = cor.apply_seeded(Corruption::Spatter, s, img, 2, i as u64).unwrap();
                if spatter[k].5 == 0 {
                    assert!(img.data.iter().zip(&sp.data).all(|(a, b)| *b >= a - EPS), "{table} water s{s}");
                } else {
                    let mud = [63.0 / 255.0, 42.0 / 255.0, 20.0 / 255.0];
                    for (j, (x, y)) in img.data.iter().zip(&sp.data).enumerate() {
                        let c = mud[j % 3];
                        assert!(x == y || (y - c).abs() <= 0.2 * (x - c).abs() + EPS, "{table} mud s{s}");
                    }
                }
            }
        }
    }
}

#[test]
fn elastic_only_resamples() {
    for table in [Table::Cifar, Table::ImageNet] {
        let cor = Corruptor::new(table);
        for (i, img) in cifar().iter().take(5).enumerate() {
            for s in 1..=5 {
                let out = cor.apply_seeded(Corruption::ElasticTransform, s, img, 4, i as u64).unwrap();
                for ch in 0..3 {
                    let (p, q) = (img.plane(ch), out.plane(ch));
                    let (lo, hi) = p.iter().fold((1f32, 0f32), |(a, b), &v| (a.min(v), b.max(v)));
                    assert!(
                        q.iter().all(|&v| v >= lo - EPS && v <= hi + EPS),
                        "{table} s{s}: bilinear values stay in range"
                    );
                }
            }
        }
    }
    let flat = Image::new(32, 32, 3, vec![0.3; 3072]).unwrap();
    let out =
        Corruptor::new(Table::Cifar).apply_seeded(Corruption::ElasticTransform, 3, &flat, 0, 0).unwrap();
    assert!(out.data.iter().all(|v| (v - 0.3).abs() < EPS));
}

#[test]
fn the_frost_asset_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let src = lcr_verify::corrupt::default_frost_dir();
    for name in lcr_verify::corrupt::FROST_FILES.iter().chain(&["SHA256SUMS"]) {
        std::fs::copy(src.join(name), dir.path().join(name)).unwrap();
    }
    let img = cifar().remove(0);
    assert!(
        Corruptor::with_frost_dir(Table::Cifar, dir.path())
            .apply_seeded(Corruption::Frost, 1, &img, 0, 0)
            .is_ok()
    );
    let mut bytes = std::fs::read(dir.path().join("frost2.png")).unwrap();
    let last = bytes.len() - 20;
    bytes[last] ^= 0xff;
    std::fs::write(dir.path().join("frost2.png"), bytes).unwrap();
    let err = Corruptor::with_frost_dir(Table::Cifar, dir.path())
        .apply_seeded(Corruption::Frost, 1, &img, 0, 0)
        .unwrap_err();
    assert!(err.to_string().contains("checksum mismatch") && err.to_string().contains("frost2.png"), "{err}");
}

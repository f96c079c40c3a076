//! `jpeg_compression` against PIL: every pixel of our JPEG round trip, at every severity of both tables, on
//! real photos (224 px), real CIFAR-10 images (32 px) and an odd-sized crop (29×37, partial blocks and an odd
//! chroma size), colour and gray, compared with what `PIL.Image.save(buf, "JPEG", quality=q)` and reloading
//! gave (Pillow 13.0.0 with libjpeg-turbo 3.2.0; `scripts/make_jpeg_fixtures.py`, provenance in
//! `tests/fixtures/README.md`).

mod common;

use lcr_verify::corrupt::{Corruption, Corruptor, Table, npy, params};

/// The qualities the fixtures hold, in order: the CIFAR-10-C table, then the ImageNet-C table.
fn qualities() -> Vec<(Table, u8, u8)> {
    let mut out = Vec::new();
    for (table, qs) in [(Table::Cifar, params::JPEG_QUALITY.0), (Table::ImageNet, params::JPEG_QUALITY.1)] {
        for (k, &q) in qs.iter().enumerate() {
            out.push((table, k as u8 + 1, q));
        }
    }
    out
}

fn load(name: &str) -> npy::Array {
    npy::read(&common::fixture(name)).expect("fixture")
}

/// Compares every image of `inputs` (N, H, W, C) at every quality with PIL's round trip in `golden`
/// (10, N, H, W, C), through the corruption as the suite applies it; returns one line per quality.
fn compare(label: &str, inputs: &npy::Array, golden: &npy::Array) -> Vec<String> {
    let (n, h, w, c) = (inputs.shape[0], inputs.shape[1], inputs.shape[2], inputs.shape[3]);
    assert_eq!(golden.shape, vec![10, n, h, w, c], "{label}: fixture shape");
    let len = h * w * c;
    let mut lines = Vec::new();
    for (qi, (table, severity, quality)) in qualities().into_iter().enumerate() {
        let prepared =
            Corruptor::new(table).prepare(Corruption::JpegCompression, severity, h, w).expect("parameters");
        let (mut max, mut sum, mut differing) = (0u8, 0u64, 0usize);
        for i in 0..n {
            let src = &inputs.data[i * len..][..len];
            let ours = prepared.apply_u8(h, w, c, src, 0, i as u64).expect("jpeg");
            let pil = &golden.data[(qi * n + i) * len..][..len];
            for (&a, &b) in ours.iter().zip(pil) {
                let d = a.abs_diff(b);
                max = max.max(d);
                sum += u64::from(d);
                differing += usize::from(d > 0);
            }
        }
        let line = format!(
            "{label} {table} s{severity} q{quality}: max |diff| {max}, mean {:.5}, {differing} of {} values differ",
            sum as f64 / (n * len) as f64,
            n * len
        );
        // The port reproduces libjpeg-turbo's integer arithmetic, so it is exact: any difference is a defect.
        assert_eq!(max, 0, "{line}");
        lines.push(line);
    }
    lines
}

fn check(set: &str, input_rgb: &str) {
    let mut lines =
        compare(&format!("{set} rgb"), &load(input_rgb), &load(&format!("jpeg_pil_{set}_rgb.npy")));
    lines.extend(compare(
        &format!("{set} gray"),
        &load(&format!("jpeg_in_{set}_gray.npy")),
        &load(&format!("jpeg_pil_{set}_gray.npy")),
    ));
    println!("{}", lines.join("\n"));
}

#[test]
fn photos_224_match_pil_at_every_severity() {
    check("photos", "photos224_images.npy");
}

#[test]
fn cifar_32_match_pil_at_every_severity() {
    check("cifar", "cifar10_foolbox_images.npy");
}

#[test]
fn odd_sizes_match_pil_at_every_severity() {
    check("odd", "jpeg_in_odd_rgb.npy");
}

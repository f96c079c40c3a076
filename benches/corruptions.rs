//! Throughput of every corruption, one image at a time (single thread), at 32 px with the CIFAR table and at
//! 224 px with the ImageNet table, severity 3. Criterion reports elements per second = images per second.
//!
//! `cargo bench --bench corruptions` (filter: `cargo bench --bench corruptions -- 224px/frost`); the group
//! `224px-defocus` times defocus blur at each severity.
//!
//! The `jpeg-files` group times the ImageNet-C file path at 224 px: compressing an image at quality 85 and
//! writing the JPEG bytes (what `corrupt --layout imagenet-c` does per image), and decoding those bytes (what
//! `robustness --from` does per image).
//!
//! The `digest` group hashes one 224-px image's bytes with each function a set's manifest may list
//! (`src/digest.rs`): what `corrupt` spends per image on the manifest.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lcr_verify::corrupt::{Corruption, Corruptor, Table, decode, jpeg_codec, jpeg_file, npy};
use lcr_verify::digest::DigestKind;

/// (label, fixture file, image side, table).
const WORKLOADS: [(&str, &str, usize, Table); 2] = [
    ("32px", "cifar10_foolbox_images.npy", 32, Table::Cifar),
    ("224px", "photos224_images.npy", 224, Table::ImageNet),
];

/// The severity timed (the middle row of each table).
const SEVERITY: u8 = 3;

fn corruptions(c: &mut Criterion) {
    for (label, file, side, table) in WORKLOADS {
        let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(file);
        let pixels = npy::read(&path).expect("fixture").data;
        let image = &pixels[..side * side * 3];
        let corruptor = Corruptor::new(table);
        let mut group = c.benchmark_group(label);
        group.throughput(Throughput::Elements(1));
        group
            .sample_size(10)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(1));
        for corruption in Corruption::BENCHMARK.iter().chain(&Corruption::EXTRA) {
            let prepared = corruptor.prepare(*corruption, SEVERITY, side, side).expect("parameters");
            let mut index = 0u64;
            group.bench_function(corruption.as_str(), |b| {
                b.iter(|| {
                    index += 1;
                    black_box(prepared.apply_u8(side, side, 3, black_box(image), 0, index).expect("corrupt"))
                })
            });
        }
        group.finish();
    }
}

fn jpeg_files(c: &mut Criterion) {
    let path =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/photos224_images.npy");
    let pixels = npy::read(&path).expect("fixture").data;
    let image = &pixels[..224 * 224 * 3];
    let file = jpeg_file::write(&jpeg_codec::jpeg_compress(image, 224, 224, 3, 85));
    let mut group = c.benchmark_group("jpeg-files");
    group.throughput(Throughput::Elements(1));
    group.sample_size(10).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(1));
    group.bench_function("224px/write_q85", |b| {
        b.iter(|| black_box(jpeg_file::write(&jpeg_codec::jpeg_compress(black_box(image), 224, 224, 3, 85))))
    });
    group.bench_function("224px/read", |b| {
        b.iter(|| black_box(decode::decode(&path, black_box(&file)).expect("decode")))
    });
    group.finish();
}

fn digests(c: &mut Criterion) {
    let path =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/photos224_images.npy");
    let pixels = npy::read(&path).expect("fixture").data;
    let image = &pixels[..224 * 224 * 3];
    let mut group = c.benchmark_group("digest");
    group.throughput(Throughput::Bytes(image.len() as u64));
    group.sample_size(10).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(1));
    for kind in [DigestKind::Sha256, DigestKind::Blake3] {
        group.bench_function(format!("224px/{}", kind.name()), |b| {
            b.iter(|| black_box(kind.hex(black_box(image))))
        });
    }
    group.finish();
}

/// Defocus blur at every severity of the ImageNet table at 224 px: s1–s3 take the two-stage route (disk box
/// sums, then the small Gaussian), s4–s5 (where the disk touches its grid) the run-by-run one.
fn defocus_severities(c: &mut Criterion) {
    let path =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/photos224_images.npy");
    let pixels = npy::read(&path).expect("fixture").data;
    let image = &pixels[..224 * 224 * 3];
    let corruptor = Corruptor::new(Table::ImageNet);
    let mut group = c.benchmark_group("224px-defocus");
    group.throughput(Throughput::Elements(1));
    group.sample_size(10).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(1));
    for severity in 1..=5u8 {
        let prepared = corruptor.prepare(Corruption::DefocusBlur, severity, 224, 224).expect("parameters");
        group.bench_function(format!("s{severity}"), |b| {
            b.iter(|| black_box(prepared.apply_u8(224, 224, 3, black_box(image), 0, 0).expect("corrupt")))
        });
    }
    group.finish();
}

criterion_group!(benches, corruptions, jpeg_files, digests, defocus_severities);
criterion_main!(benches);

//! Where the time of `corrupt --dataset DIR --crop 224` goes, per image, one thread, in CPU time: reading and
//! hashing the input files, decoding them (whole, and only the part the crop reads, as the command does; for
//! baseline JPEG files the whole decoding also in two halves: the entropy-coded data to coefficients, the
//! coefficients to pixels), the resize to 256 and centre crop, each corruption at severity 3, hashing the output
//! and the JPEG-85 file of the ImageNet-C layout. Prints `<part> <microseconds per image>` lines.
//!
//! `cargo run --release --example cli_parts -- DIR [repeats]` (DIR: class folders of photographs, e.g. written
//! by `scripts/bench_cli_224.py data DIR`).

use std::path::PathBuf;

use lcr_verify::corrupt::resample::{self, PilFilter};
use lcr_verify::corrupt::{Corruption, Corruptor, Table, decode, folder, jpeg_codec, jpeg_file};

/// CPU seconds of this thread (the machine may be shared: wall time would count the others).
fn cpu_now() -> f64 {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `t` is a valid timespec to write into.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
}

fn per_image(label: &str, n: usize, reps: usize, mut f: impl FnMut()) {
    let mut best = f64::INFINITY;
    for _ in 0..reps {
        let t = cpu_now();
        f();
        best = best.min(cpu_now() - t);
    }
    println!("{label:20} {:8.1}", best / n as f64 * 1e6);
}

fn main() -> lcr_verify::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = PathBuf::from(args.first().expect("DIR"));
    let reps: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(5);
    let mut files: Vec<PathBuf> = Vec::new();
    for sub in std::fs::read_dir(&dir).expect("listing") {
        for f in std::fs::read_dir(sub.expect("entry").path()).expect("listing") {
            files.push(f.expect("entry").path());
        }
    }
    files.sort();
    let n = files.len();
    let bytes: Vec<Vec<u8>> = files.iter().map(|p| std::fs::read(p).expect("read")).collect();
    per_image("read", n, reps, || {
        files.iter().for_each(|p| drop(std::hint::black_box(std::fs::read(p))));
    });
    per_image("sha256 input", n, reps, || {
        bytes.iter().for_each(|b| drop(std::hint::black_box(lcr_verify::fsio::sha256_hex(b))));
    });
    let mut decoded = Vec::new();
    per_image("decode", n, reps, || {
        decoded = files.iter().zip(&bytes).map(|(p, b)| decode::decode(p, b).expect("decode")).collect();
    });
    // What the command decodes with `--crop 224`: only the pixels the resize reads.
    per_image("decode, crop's part", n, reps, || {
        for ((p, b), d) in files.iter().zip(&bytes).zip(&decoded) {
            let [rows, cols] = folder::crop_span(d.height, d.width, 224);
            drop(std::hint::black_box(decode::decode_part(p, b, rows, cols).expect("decode")));
        }
    });
    // The two halves of decoding a whole baseline JPEG: its entropy-coded data to coefficients, then the pixels.
    let ok = |_: usize, _: usize, _: usize| Ok(());
    let mut coefs = Vec::new();
    per_image("  of it: coefficients", n, reps, || {
        coefs = bytes
            .iter()
            .filter_map(|b| match jpeg_file::read(b, &ok) {
                Ok(jpeg_file::Read::Coefficients(c)) => Some(c),
                _ => None,
            })
            .collect();
    });
    if coefs.len() == n {
        per_image("  of it: pixels", n, reps, || {
            coefs.iter().for_each(|c| drop(std::hint::black_box(c.decode())));
        });
    }
    let mut crops: Vec<Vec<u8>> = Vec::new();
    per_image("resize 256 crop 224", n, reps, || {
        crops = decoded
            .iter()
            .map(|d| {
                let (size, rows, cols) = folder::crop_geometry(d.height, d.width, 224);
                let shape = [d.height, d.width, d.channels];
                resample::pil_resize_window(&d.pixels, shape, size, rows, cols, PilFilter::Bilinear)
            })
            .collect();
    });
    let mut out = Vec::new();
    per_image("sha256 output", n, reps, || {
        crops.iter().for_each(|b| drop(std::hint::black_box(lcr_verify::fsio::sha256_hex(b))));
    });
    per_image("jpeg-85 file", n, reps, || {
        crops.iter().for_each(|b| {
            drop(std::hint::black_box(jpeg_file::write(&jpeg_codec::jpeg_compress(b, 224, 224, 3, 85))))
        });
    });
    let corruptor = Corruptor::new(Table::ImageNet);
    let only = args.get(2);
    for c in Corruption::BENCHMARK.iter().chain(&Corruption::EXTRA) {
        if only.is_some_and(|o| o != c.as_str()) || *c == Corruption::GlassBlur {
            continue;
        }
        let prepared = corruptor.prepare(*c, 3, 224, 224)?;
        per_image(c.as_str(), n, reps, || {
            out = crops
                .iter()
                .enumerate()
                .map(|(i, px)| prepared.apply_u8(224, 224, 3, px, 0, i as u64).expect("apply"))
                .collect();
        });
    }
    Ok(())
}

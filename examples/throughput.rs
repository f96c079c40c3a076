//! Images per CPU-second of every corruption, single thread, severity 3, on the same images and with the same
//! parameter table as the Python `imagecorruptions` package uses (the ImageNet table at every size), for a
//! side-by-side comparison. Prints `<size> <corruption> <images/s>` lines.
//!
//! `cargo run --release --example throughput [32px|224px] [seconds per corruption]`

use lcr_verify::corrupt::{Corruption, Corruptor, Table, npy};

/// CPU seconds of this thread: on a shared machine, wall time would count the other processes too.
fn cpu_seconds() -> f64 {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `t` is a valid timespec to write into.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
}

fn main() -> lcr_verify::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let which = args.first().cloned().unwrap_or_else(|| "both".into());
    let budget: f64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1.0);
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    for (label, file, side) in
        [("32px", "cifar10_foolbox_images.npy", 32), ("224px", "photos224_images.npy", 224)]
    {
        if which != "both" && which != label {
            continue;
        }
        let pixels = npy::read(&root.join(file))?.data;
        let image = &pixels[..side * side * 3];
        let corruptor = Corruptor::new(Table::ImageNet);
        for c in Corruption::BENCHMARK.iter().chain(&Corruption::EXTRA) {
            let prepared = corruptor.prepare(*c, 3, side, side)?;
            prepared.apply_u8(side, side, 3, image, 0, 0)?;
            let (start, mut reps) = (cpu_seconds(), 0u64);
            while cpu_seconds() - start < budget && reps < 100_000 {
                std::hint::black_box(prepared.apply_u8(side, side, 3, image, 0, reps)?);
                reps += 1;
            }
            println!("{label} {c} {:.1}", reps as f64 / (cpu_seconds() - start));
        }
    }
    Ok(())
}

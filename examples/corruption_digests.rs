//! SHA-256 of every corruption's output on the fixture images, to check that a change to the code leaves every
//! byte as it was: the two 224-px photos under the ImageNet table and eight 32-px CIFAR-10 images under the
//! CIFAR table, at every severity, three seeds each for the random corruptions, through both the byte path
//! (`Prepared::apply_u8`, what `corrupt` runs) and the float path (`Prepared::apply`); gray versions (luma) of
//! the same images too; plus the ImageNet-C file path (`jpeg_file::write` of a quality-85 compression, and
//! decoding that file back). Prints one `<what> <digest>` line per corruption and table.
//!
//! `cargo run --release --example corruption_digests > before.txt`, change the code, run again, `diff`.

use lcr_verify::corrupt::resample::{self, PilFilter};
use lcr_verify::corrupt::{
    Corruption, Corruptor, Image, Table, decode, image_rng, jpeg_codec, jpeg_file, npy,
};
use sha2::{Digest, Sha256};

fn main() -> lcr_verify::Result<()> {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let photos = npy::read(&root.join("photos224_images.npy"))?.data;
    let cifar = npy::read(&root.join("cifar10_foolbox_images.npy"))?.data;
    let sets: [(&str, Table, usize, Vec<u8>, usize); 2] =
        [("224px", Table::ImageNet, 224, photos, 2), ("32px", Table::Cifar, 32, cifar, 8)];
    for (label, table, side, pixels, count) in sets {
        let corruptor = Corruptor::new(table);
        let len = side * side * 3;
        for gray in [false, true] {
            let channels = if gray { 1 } else { 3 };
            let images: Vec<Vec<u8>> = (0..count)
                .map(|i| {
                    let rgb = &pixels[i * len..(i + 1) * len];
                    if gray {
                        let img = Image::from_u8(side, side, 3, rgb).expect("image");
                        Image { channels: 1, data: img.luma(), ..img }.to_u8()
                    } else {
                        rgb.to_vec()
                    }
                })
                .collect();
            for c in Corruption::BENCHMARK.iter().chain(&Corruption::EXTRA) {
                let seeds: &[u64] = if c.is_random() { &[0, 1, 2] } else { &[0] };
                let mut bytes = Sha256::new();
                let mut floats = Sha256::new();
                for severity in 1..=5u8 {
                    let prepared = corruptor.prepare(*c, severity, side, side)?;
                    for &seed in seeds {
                        for (i, px) in images.iter().enumerate() {
                            bytes.update(prepared.apply_u8(side, side, channels, px, seed, i as u64)?);
                            let img = Image::from_u8(side, side, channels, px)?;
                            let out = prepared.apply(&img, &mut image_rng(seed, *c, i as u64));
                            out.data.iter().for_each(|v| floats.update(v.to_le_bytes()));
                        }
                    }
                }
                let kind = if gray { "gray" } else { "rgb" };
                println!("{label} {kind} {c} bytes {:x}", bytes.finalize());
                println!("{label} {kind} {c} floats {:x}", floats.finalize());
            }
            let mut files = Sha256::new();
            let mut decoded = Sha256::new();
            for px in &images {
                let file = jpeg_file::write(&jpeg_codec::jpeg_compress(px, side, side, channels, 85));
                files.update(&file);
                decoded.update(decode::decode(std::path::Path::new("q85.jpg"), &file)?.pixels);
            }
            let mut resized = Sha256::new();
            for px in &images {
                for (filter, out) in [
                    (PilFilter::Bilinear, side * 8 / 7),
                    (PilFilter::Bilinear, side * 3 / 7),
                    (PilFilter::Box, side / 3),
                ] {
                    resized.update(resample::pil_resize(px, side, side, channels, out, out + 3, filter));
                }
            }
            let kind = if gray { "gray" } else { "rgb" };
            println!("{label} {kind} pil-resize {:x}", resized.finalize());
            println!("{label} {kind} jpeg-85 files {:x}", files.finalize());
            println!("{label} {kind} jpeg-85 decoded {:x}", decoded.finalize());
        }
    }
    Ok(())
}

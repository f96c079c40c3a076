//! Strict image decoding (`corrupt::decode`): valid PNG files decode exactly as the `image` crate decodes
//! them, JPEGs within a few levels of it (we decode as libjpeg-turbo does, as PIL does, and zune-jpeg under
//! `image` does not; exactness against PIL is checked in `tests/imagenet_c.rs`), and files cut short or
//! damaged are refused by name instead of being filled in. Files with restart intervals decode to PIL's pixels.

mod common;

use std::path::Path;

use lcr_verify::corrupt::decode::{self, EXPANSION_FLOOR};
use lcr_verify::corrupt::folder::load_image_folder;
use lcr_verify::corrupt::{jpeg_file, npy};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn p() -> &'static Path {
    Path::new("photo.jpg")
}

/// A noisy `w×h` RGB (or gray) image, so that the encoded scan data is long and every cut lands inside it.
fn noisy(w: u32, h: u32, gray: bool, seed: u64) -> image::DynamicImage {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    if gray {
        image::DynamicImage::ImageLuma8(image::GrayImage::from_fn(w, h, |_, _| image::Luma([rng.random()])))
    } else {
        image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(w, h, |_, _| image::Rgb(rng.random())))
    }
}

fn encoded(img: &image::DynamicImage, format: image::ImageFormat) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

/// Largest difference accepted between our (libjpeg-turbo's) and zune-jpeg's decoding of the same JPEG: the
/// two integer IDCTs round differently and the chroma upsampling filters differ.
const ZUNE_LEVELS: u8 = 4;

#[test]
fn valid_files_decode_as_the_image_crate_decodes_them() {
    for gray in [false, true] {
        for format in [image::ImageFormat::Jpeg, image::ImageFormat::Png] {
            let bytes = encoded(&noisy(37, 23, gray, 1), format);
            let d = decode::decode(p(), &bytes).unwrap();
            let reference = image::load_from_memory(&bytes).unwrap();
            assert_eq!((d.width, d.height, d.channels), (37, 23, if gray { 1 } else { 3 }), "{format:?}");
            let want = if gray { reference.to_luma8().into_raw() } else { reference.to_rgb8().into_raw() };
            if format == image::ImageFormat::Jpeg {
                let worst = d.pixels.iter().zip(&want).map(|(a, b)| a.abs_diff(*b)).max();
                assert!(worst <= Some(ZUNE_LEVELS), "JPEG gray={gray} off by {worst:?}");
            } else {
                assert_eq!(d.pixels, want, "{format:?} gray={gray}");
            }
        }
    }
    // Zero padding after the end-of-image marker, as some writers leave it, is accepted.
    let mut padded = encoded(&noisy(8, 8, false, 2), image::ImageFormat::Jpeg);
    padded.extend([0; 16]);
    assert!(decode::decode(p(), &padded).is_ok());
}

/// Regression (issue 9): a JPEG cut inside its image data was decoded, its missing part painted grey, and
/// scored. Every cut is refused by name, also when the missing tail reads as zeros (a file preallocated and
/// never filled). The lenient decoder of the `image` crate accepts the same bytes, which is the bug this guards.
#[test]
fn jpegs_cut_inside_their_data_are_refused() {
    let bytes = encoded(&noisy(64, 48, false, 3), image::ImageFormat::Jpeg);
    for frac in [0.3, 0.6, 0.9, 0.99] {
        let cut = &bytes[..(bytes.len() as f64 * frac) as usize];
        assert!(image::load_from_memory(cut).is_ok(), "{frac}: the lenient decoder fills the gap");
        let err = decode::decode(p(), cut).map(|_| ()).unwrap_err().to_string();
        assert!(err.contains("photo.jpg") && err.contains("cut short"), "{frac}: {err}");
        let zero_filled = [cut, &vec![0; bytes.len() - cut.len()]].concat();
        let err = decode::decode(p(), &zero_filled).map(|_| ()).unwrap_err().to_string();
        assert!(err.contains("photo.jpg") && err.contains("cut short"), "{frac} zero-filled: {err}");
    }
}

/// Damage that the strict decoder sees: a marker other than a restart inside the scan data.
#[test]
fn jpegs_with_stray_markers_in_their_data_are_refused() {
    let bytes = encoded(&noisy(64, 48, false, 6), image::ImageFormat::Jpeg);
    let sos = bytes.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
    let mut damaged = bytes.clone();
    let at = sos + (bytes.len() - sos) / 2;
    damaged[at..at + 2].copy_from_slice(&[0xFF, 0xC4]);
    let err = decode::decode(p(), &damaged).map(|_| ()).unwrap_err().to_string();
    assert!(err.contains("photo.jpg") && err.contains("cannot decode JPEG"), "{err}");
}

/// Restart intervals (T.81 E.1.4): PIL's files with a restart after every MCU (4:2:0, the marker numbers
/// wrapping from RST7 to RST0), every 5 (4:4:4) and every 7 (gray), all with partial last MCUs, are read by the
/// baseline reader (not handed to a fallback decoder) and decode to PIL's pixels exactly; a restart marker
/// with the wrong number is refused, naming the marker expected.
#[test]
fn files_with_restart_intervals_decode_to_pils_pixels() {
    for name in ["420", "444", "gray"] {
        let path = common::fixture(&format!("jpeg_restart_{name}.jpg"));
        let bytes = std::fs::read(&path).unwrap();
        let read = jpeg_file::read(&bytes, &|_, _, _| Ok(())).unwrap();
        assert!(matches!(read, jpeg_file::Read::Coefficients(_)), "{name}: not read by the baseline reader");
        let pil = npy::read(&common::fixture(&format!("jpeg_restart_{name}.npy"))).unwrap();
        let ours = decode::decode(&path, &bytes).unwrap();
        assert_eq!(
            [ours.height, ours.width, ours.channels],
            [pil.shape[0], pil.shape[1], pil.shape[2]],
            "{name}"
        );
        assert!(ours.pixels == pil.data, "{name}: our decoding differs from PIL's");
        // The third restart marker (RST2) renumbered: refused, naming it.
        let rst: Vec<usize> = (0..bytes.len() - 1)
            .filter(|&i| bytes[i] == 0xFF && (0xD0..=0xD7).contains(&bytes[i + 1]))
            .collect();
        assert!(rst.len() >= 6, "{name}: {} restart markers", rst.len());
        let mut damaged = bytes.clone();
        damaged[rst[2] + 1] = 0xD5;
        let err = decode::decode(p(), &damaged).map(|_| ()).unwrap_err().to_string();
        assert!(err.contains("photo.jpg") && err.contains("RST2"), "{name}: {err}");
    }
}

#[test]
fn pngs_cut_short_or_damaged_are_refused() {
    let bytes = encoded(&noisy(40, 30, false, 4), image::ImageFormat::Png);
    for frac in [0.2, 0.5, 0.95] {
        let cut = &bytes[..(bytes.len() as f64 * frac) as usize];
        let err = decode::decode(Path::new("a.png"), cut).map(|_| ()).unwrap_err().to_string();
        assert!(err.contains("a.png") && err.contains("cut short"), "{frac}: {err}");
    }
    // A flipped byte inside the image data, the file otherwise whole: the chunk's CRC no longer matches.
    let mut damaged = bytes.clone();
    let mid = damaged.len() / 2;
    damaged[mid] ^= 0x40;
    let err = decode::decode(Path::new("a.png"), &damaged).map(|_| ()).unwrap_err().to_string();
    assert!(err.contains("a.png") && err.contains("cannot decode PNG"), "{err}");
    // Neither format: refused by content, not by extension.
    let err = decode::decode(Path::new("b.png"), b"GIF89a....").map(|_| ()).unwrap_err().to_string();
    assert!(err.contains("b.png") && err.contains("not a JPEG or PNG"), "{err}");
}

/// A header claiming far more pixels than its file could hold is refused before any pixel buffer exists.
#[test]
fn forged_sizes_are_refused_before_decoding() {
    let mut png = encoded(&noisy(4, 4, false, 5), image::ImageFormat::Png);
    png[16..20].copy_from_slice(&16_000u32.to_be_bytes());
    png[20..24].copy_from_slice(&16_000u32.to_be_bytes());
    let err = decode::decode(Path::new("big.png"), &png).map(|_| ()).unwrap_err().to_string();
    assert!(err.contains("big.png") && err.contains("16000×16000"), "{err}");
    const { assert!(16_000 * 16_000 * 3 > EXPANSION_FLOOR, "the claim is above what small files may expand to") };
    png[16..20].copy_from_slice(&100_000u32.to_be_bytes());
    let err = decode::decode(Path::new("big.png"), &png).map(|_| ()).unwrap_err().to_string();
    assert!(err.contains("sides from 1 to"), "{err}");
}

/// The image-folder reader refuses a truncated JPEG by name instead of scoring a partly grey image.
#[test]
fn image_folders_refuse_truncated_files() {
    let dir = tempfile::tempdir().unwrap();
    for class in ["cat", "dog"] {
        std::fs::create_dir(dir.path().join(class)).unwrap();
        for i in 0..2 {
            let bytes = encoded(&noisy(16, 16, false, i), image::ImageFormat::Jpeg);
            std::fs::write(dir.path().join(class).join(format!("{i}.jpg")), bytes).unwrap();
        }
    }
    let (set, classes, _) = load_image_folder(dir.path(), None).unwrap();
    assert_eq!((set.len(), classes.len()), (4, 2));
    let path = dir.path().join("dog/1.jpg");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let err = load_image_folder(dir.path(), None).unwrap_err().to_string();
    assert!(err.contains("dog/1.jpg") && err.contains("cut short"), "{err}");
}

/// What `decode::header` reads without decoding is what `decode` gives (size and channels), for every colour
/// type a folder may hold: gray, gray with alpha, 16-bit gray, RGB, RGBA, palette PNGs; gray and colour JPEGs.
/// A folder's shape is decided from the headers, so a disagreement would write a set of the wrong shape.
#[test]
fn headers_declare_the_size_and_channels_decoding_gives() {
    let (w, h) = (19u32, 11u32);
    let rgb = noisy(w, h, false, 5);
    let gray = noisy(w, h, true, 6);
    let palette = {
        let mut out = Vec::new();
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Indexed);
        enc.set_palette(vec![0, 0, 0, 255, 255, 255, 10, 200, 30]);
        let mut writer = enc.write_header().unwrap();
        writer.write_image_data(&(0..w * h).map(|i| (i % 3) as u8).collect::<Vec<_>>()).unwrap();
        writer.finish().unwrap();
        out
    };
    let files = [
        (encoded(&rgb, image::ImageFormat::Jpeg), 3),
        (encoded(&gray, image::ImageFormat::Jpeg), 1),
        (encoded(&rgb, image::ImageFormat::Png), 3),
        (encoded(&gray, image::ImageFormat::Png), 1),
        (encoded(&image::DynamicImage::ImageLumaA8(gray.to_luma_alpha8()), image::ImageFormat::Png), 1),
        (encoded(&image::DynamicImage::ImageLuma16(gray.to_luma16()), image::ImageFormat::Png), 1),
        (encoded(&image::DynamicImage::ImageRgba8(rgb.to_rgba8()), image::ImageFormat::Png), 3),
        (palette, 3),
    ];
    for (k, (bytes, channels)) in files.iter().enumerate() {
        let d = decode::decode(p(), bytes).unwrap();
        let header = decode::header(p(), bytes).unwrap();
        assert_eq!(header, (d.height, d.width, d.channels), "file {k}");
        assert_eq!(header, (h as usize, w as usize, *channels), "file {k}");
    }
    // A file cut short is refused by its header read already, as decoding refuses it.
    let jpeg = &files[0].0;
    assert!(decode::header(p(), &jpeg[..jpeg.len() - 100]).unwrap_err().to_string().contains("cut short"));
    let png = &files[2].0;
    assert!(decode::header(p(), &png[..png.len() - 5]).unwrap_err().to_string().contains("cut short"));
}

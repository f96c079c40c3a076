//! A folder of images in class sub-folders (`DIR/<class>/<image>`, the ImageNet validation layout) as an
//! [`ImageSet`]: labels are class indices in sorted folder order; images may be resized and centre-cropped.

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::decode::Decoded;
use super::resample::{self, PilFilter};
use crate::data::ImageSet;
use crate::error::{Error, Result};
use crate::fsio;

/// Image file extensions read, in any letter case (`.JPEG` in ImageNet, `.png`, `.jpg`).
const EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];

/// Whether `path` names an image file by its extension (any letter case).
pub(crate) fn is_image_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| EXTENSIONS.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

/// The largest `--crop` size accepted (ImageNet-C uses 224).
pub const MAX_CROP: usize = 4096;

/// Refuses a crop size of 0 or above [`MAX_CROP`].
pub fn check_crop(crop: Option<usize>) -> Result<()> {
    match crop {
        Some(s) if s == 0 || s > MAX_CROP => Err(Error::config(
            "crop",
            format!("{s} is not an image size from 1 to {MAX_CROP} pixels (ImageNet-C uses 224)"),
        )),
        _ => Ok(()),
    }
}

/// The images of `dir`, with their labels and the sorted class names, plus a checksum over the files.
///
/// With `crop = Some(s)`, each image is resized (PIL bilinear, antialiased) so that its shorter side is
/// `round(s · 256/224)` and centre-cropped to `s × s` — the ImageNet-C preprocessing for `s = 224`. Without it
/// every image must already have the same size. Colour files give RGB sets; a folder of gray files gives gray.
/// Files are decoded strictly ([`super::decode`]): one cut short or damaged is an error naming it.
pub fn load_image_folder(dir: &Path, crop: Option<usize>) -> Result<(ImageSet, Vec<String>, String)> {
    check_crop(crop)?;
    let mut classes = Vec::new();
    let mut files: Vec<(PathBuf, u8)> = Vec::new();
    let mut subdirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io("listing", dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    subdirs.sort();
    for sub in subdirs {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&sub)
            .map_err(|e| Error::io("listing", &sub, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| is_image_file(p))
            .collect();
        if names.is_empty() {
            continue;
        }
        if classes.len() == 256 {
            return Err(Error::TooLarge { method: "image folder", problem: "more than 256 classes".into() });
        }
        names.sort();
        let label = classes.len() as u8;
        classes.push(sub.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
        files.extend(names.into_iter().map(|p| (p, label)));
    }
    if files.is_empty() {
        return Err(Error::Missing {
            path: dir.to_path_buf(),
            what: "images in class folders (DIR/<class>/*.png|jpg)",
        });
    }
    if let Some(s) = crop {
        return load_cropped(dir, &files, classes, s);
    }
    let decoded: Vec<(Decoded, String)> =
        files.par_iter().map(|(path, _)| read_decoded(path)).collect::<Result<_>>()?;
    let channels = if decoded.iter().all(|d| d.0.channels == 1) { 1 } else { 3 };
    let (h, w) = (decoded[0].0.height, decoded[0].0.width);
    let mut pixels = Vec::with_capacity(decoded.len() * h * w * channels);
    for ((d, _), (path, _)) in decoded.iter().zip(&files) {
        let (dh, dw) = (d.height, d.width);
        if (dh, dw) != (h, w) {
            return Err(Error::format(
                path,
                format!("image is {dw}x{dh}, the first is {w}x{h}; pass --crop SIZE"),
            ));
        }
        if d.channels == channels {
            pixels.extend_from_slice(&d.pixels);
        } else {
            pixels.extend(d.pixels.iter().flat_map(|&v| [v, v, v]));
        }
    }
    let listing = listing_digest(dir, &files, decoded.iter().map(|d| d.1.as_str()));
    let set = ImageSet::new(h, w, channels, pixels, files.iter().map(|f| f.1).collect())?;
    Ok((set, classes, listing))
}

/// A file's bytes decoded, with the SHA-256 of the bytes.
fn read_decoded(path: &Path) -> Result<(Decoded, String)> {
    let bytes = fsio::read(path)?;
    let digest = fsio::sha256_hex(&bytes);
    Ok((super::decode::decode(path, &bytes)?, digest))
}

/// The SHA-256 of the listing `<digest>  <path below dir>` of every file, one per line.
fn listing_digest<'a>(dir: &Path, files: &[(PathBuf, u8)], digests: impl Iterator<Item = &'a str>) -> String {
    let mut listing = String::new();
    for (digest, (path, _)) in digests.zip(files) {
        let rel = path.strip_prefix(dir).unwrap_or(path);
        listing.push_str(&format!("{digest}  {}\n", rel.display()));
    }
    fsio::sha256_hex(listing.as_bytes())
}

/// [`load_image_folder`] with `crop = Some(s)`: every image is `s × s`, so each is decoded, resized and cropped
/// straight into its place in the set (an RGB slot of `s·s·3` values; a gray file fills the first third of its
/// slot and is spread to RGB, or the slots compacted, once all are known) instead of being kept apart and copied.
fn load_cropped(
    dir: &Path,
    files: &[(PathBuf, u8)],
    classes: Vec<String>,
    s: usize,
) -> Result<(ImageSet, Vec<String>, String)> {
    let slot = s * s * 3;
    let mut pixels = vec![0u8; files.len() * slot];
    let found: Vec<(usize, String)> = pixels
        .par_chunks_mut(slot)
        .zip(files.par_iter())
        .map(|(dst, (path, _))| {
            let (d, digest) = read_decoded(path)?;
            resize_crop(&d.pixels, d.height, d.width, d.channels, s, &mut dst[..s * s * d.channels]);
            Ok((d.channels, digest))
        })
        .collect::<Result<_>>()?;
    let channels = if found.iter().all(|f| f.0 == 1) { 1 } else { 3 };
    let plane = s * s;
    if channels == 1 {
        for k in 1..files.len() {
            pixels.copy_within(k * slot..k * slot + plane, k * plane);
        }
        pixels.truncate(files.len() * plane);
    } else {
        for (dst, _) in pixels.chunks_exact_mut(slot).zip(&found).filter(|(_, f)| f.0 == 1) {
            // Backwards, so that no gray value is overwritten before it is spread (3i ≥ i).
            for i in (0..plane).rev() {
                let v = dst[i];
                dst[3 * i..3 * i + 3].fill(v);
            }
        }
    }
    let listing = listing_digest(dir, files, found.iter().map(|f| f.1.as_str()));
    let set = ImageSet::new(s, s, channels, pixels, files.iter().map(|f| f.1).collect())?;
    Ok((set, classes, listing))
}

/// The ImageNet-C preprocessing of one decoded image (`h × w × c`) into `out` (`s · s · c` bytes): PIL's
/// bilinear resize of the shorter side to `round(s · 256/224)`, then the centre `s × s` crop.
fn resize_crop(raw: &[u8], h: usize, w: usize, c: usize, s: usize, out: &mut [u8]) {
    let short = (s as f64 * 256.0 / 224.0).round() as usize;
    let (nh, nw) = if h <= w {
        (short, ((w as f64 * short as f64 / h as f64).round() as usize).max(short))
    } else {
        (((h as f64 * short as f64 / w as f64).round() as usize).max(short), short)
    };
    // Only the centre crop of the resized image is computed (the same pixels as resizing, then cropping).
    let (top, left) = ((nh - s) / 2, (nw - s) / 2);
    resample::pil_resize_window_into(
        raw,
        [h, w, c],
        [nh, nw],
        top..top + s,
        left..left + s,
        PilFilter::Bilinear,
        out,
    );
}

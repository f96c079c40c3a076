//! The frost photographs (`datasets/frost`, from the Apache-2.0 `imagecorruptions` 1.1.2 wheel) and their
//! preparation for one image size.
//!
//! The reference draws the photograph with `randint(5)`, so only `frost1` … `frost5` are ever used; `frost6`
//! ships for completeness. Each file is checked against `SHA256SUMS` before it is decoded. PNG alpha channels
//! are dropped (OpenCV's `imread` does the same).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::image::Image;
use super::resample;
use crate::data::parse_sha256sums;
use crate::error::{Error, Result};
use crate::fsio;

/// The photograph files, in the reference's order.
pub const FROST_FILES: [&str; 6] =
    ["frost1.png", "frost2.png", "frost3.png", "frost4.jpg", "frost5.jpg", "frost6.jpg"];

/// How many of [`FROST_FILES`] the reference draws from.
pub const FROST_USED: usize = 5;

/// The directory holding the frost photographs: `$LCR_VERIFY_FROST`, else `frost/` under the datasets root.
pub fn default_frost_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("LCR_VERIFY_FROST") {
        return PathBuf::from(dir);
    }
    crate::data::datasets_root().join("frost")
}

/// (height, width, scale bits) of a prepared copy.
type PreparedKey = (usize, usize, u32);

/// The decoded photographs and, per image size, their rescaled copies.
#[derive(Debug)]
pub struct FrostBank {
    originals: Vec<Image>,
    prepared: Mutex<HashMap<PreparedKey, Arc<Vec<Image>>>>,
}

impl FrostBank {
    /// Reads, checks and decodes the photographs in `dir`.
    pub fn load(dir: &Path) -> Result<FrostBank> {
        let sums_path = dir.join("SHA256SUMS");
        let sums_bytes = fsio::read(&sums_path)?;
        let text = String::from_utf8(sums_bytes).map_err(|_| Error::format(&sums_path, "not UTF-8 text"))?;
        let sums = parse_sha256sums(&sums_path, &text)?;
        let mut originals = Vec::new();
        for name in &FROST_FILES[..FROST_USED] {
            let path = dir.join(name);
            let bytes = fsio::read(&path)?;
            let found = fsio::sha256_hex(&bytes);
            match sums.get(*name) {
                Some(want) if *want == found => {}
                Some(want) => {
                    return Err(Error::Checksum {
                        path,
                        function: crate::digest::DigestKind::Sha256.name(),
                        expected: want.clone(),
                        found,
                    });
                }
                None => return Err(Error::format(&sums_path, format!("no digest for `{name}`"))),
            }
            let d = super::decode::decode(&path, &bytes)?.into_rgb();
            originals.push(Image::from_u8(d.height, d.width, 3, &d.pixels)?);
        }
        Ok(FrostBank { originals, prepared: Mutex::new(HashMap::new()) })
    }

    /// The photographs scaled by `scale` (`cv2.resize`, bilinear) and, where that leaves one no larger than
    /// `height × width`, scaled up further so that a random crop of that size exists.
    pub fn prepared(&self, height: usize, width: usize, scale: f32) -> Arc<Vec<Image>> {
        let key = (height, width, scale.to_bits());
        let mut cache = self.prepared.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .entry(key)
            .or_insert_with(|| {
                Arc::new(self.originals.iter().map(|img| fit(img, height, width, f64::from(scale))).collect())
            })
            .clone()
    }
}

/// The photograph scaled as the reference does (`cv2.resize(frost, (0, 0), fx = scale, fy = scale)`: coordinates
/// mapped by exactly 1/scale); where that leaves it no larger than the image, which the reference never meets,
/// scaled up to the smallest size that holds a crop.
fn fit(img: &Image, height: usize, width: usize, scale: f64) -> Image {
    let h = (img.height as f64 * scale).round().max(1.0) as usize;
    let w = (img.width as f64 * scale).round().max(1.0) as usize;
    if h <= height || w <= width {
        let up = ((height + 1) as f64 / h as f64).max((width + 1) as f64 / w as f64).max(1.0);
        let (h, w) = ((h as f64 * up).ceil() as usize, (w as f64 * up).ceil() as usize);
        return resample::cv_resize_linear(img, h, w);
    }
    resample::cv_resize_linear_by(img, scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 527-px photograph at ×0.2 becomes 105 px, and output pixel i reads input (i + 0.5)·5 − 0.5 = 5i + 2, as
    /// in `cv2.resize(fx = 0.2)`; mapping by 527/105 instead put pixel 100 at 504.4 (up to 58 levels off on the
    /// frost photographs).
    #[test]
    fn scaling_keeps_the_factor_not_the_ratio_of_rounded_sizes() {
        let (h, w) = (9, 527);
        let data: Vec<f32> = (0..h).flat_map(|_| (0..w).map(|x| x as f32)).collect();
        let img = Image::new(h, w, 1, data).unwrap();
        let out = fit(&img, 1, 32, 0.2);
        assert_eq!((out.height, out.width), (2, 105));
        for x in 0..out.width {
            let want = (5 * x + 2) as f32;
            assert_eq!(out.data[x], want, "pixel {x}");
        }
    }
}

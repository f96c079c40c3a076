//! [`Image`]: one picture as `f32` values in `[0, 1]`, rows × columns × channels (HWC), the form every
//! corruption works on.
//!
//! Conversion back to bytes mimics the reference pipeline's saver, `np.uint8(255 · x)`, which **truncates**:
//! `u = ⌊255 · clamp(x, 0, 1) + ε⌋` with `ε =` [`TRUNCATION_GUARD`], a guard so that values that are whole numbers
//! up to `f32` rounding (e.g. `254.99998`) are not pushed down one level.

use crate::error::{Error, Result};

/// Added before truncating to `u8` (on the 0…255 scale): absorbs `f32` round-off only.
pub const TRUNCATION_GUARD: f32 = 1e-3;

/// ITU-R BT.601 luma weights (R, G, B), as OpenCV's `COLOR_RGB2GRAY` uses.
pub const LUMA: [f32; 3] = [0.299, 0.587, 0.114];

/// A float image, HWC, values nominally in `[0, 1]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Image {
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
    /// Channels per pixel: 1 (gray) or 3 (RGB).
    pub channels: usize,
    /// `height · width · channels` values.
    pub data: Vec<f32>,
}

impl Image {
    /// Wraps `data`, checking its length.
    pub fn new(height: usize, width: usize, channels: usize, data: Vec<f32>) -> Result<Self> {
        if height == 0 || width == 0 || !(channels == 1 || channels == 3) {
            return Err(Error::config(
                "image shape",
                format!("{height}x{width}x{channels}: need a non-empty gray (1) or RGB (3) image"),
            ));
        }
        if data.len() != height * width * channels {
            return Err(Error::Shape {
                context: "image".into(),
                expected: vec![height, width, channels],
                found: vec![data.len()],
            });
        }
        Ok(Image { height, width, channels, data })
    }

    /// An all-zero (black) image.
    pub fn zeros(height: usize, width: usize, channels: usize) -> Self {
        Image { height, width, channels, data: vec![0.0; height * width * channels] }
    }

    /// Bytes (HWC) to floats: `x = u / 255`.
    pub fn from_u8(height: usize, width: usize, channels: usize, bytes: &[u8]) -> Result<Self> {
        Image::new(height, width, channels, bytes.iter().map(|&b| f32::from(b) / 255.0).collect())
    }

    /// Floats to bytes with the reference saver's truncation (see the module docs).
    pub fn to_u8(&self) -> Vec<u8> {
        self.data.iter().map(|&v| quantize(v)).collect()
    }

    /// Pixels per channel.
    pub fn area(&self) -> usize {
        self.height * self.width
    }

    /// One channel as a row-major plane.
    pub fn plane(&self, ch: usize) -> Vec<f32> {
        self.data.iter().skip(ch).step_by(self.channels).copied().collect()
    }

    /// Overwrites one channel from a row-major plane.
    pub fn set_plane(&mut self, ch: usize, plane: &[f32]) {
        debug_assert_eq!(plane.len(), self.area());
        for (dst, &v) in self.data.iter_mut().skip(ch).step_by(self.channels).zip(plane) {
            *dst = v;
        }
    }

    /// Applies `f` to every channel plane independently (the `multichannel=True` convention).
    pub fn map_planes(&self, mut f: impl FnMut(&[f32]) -> Vec<f32>) -> Image {
        let mut out = self.clone();
        for ch in 0..self.channels {
            let p = f(&self.plane(ch));
            out.set_plane(ch, &p);
        }
        out
    }

    /// Largest value over all pixels and channels.
    pub fn max(&self) -> f32 {
        self.data.iter().copied().fold(f32::NEG_INFINITY, f32::max)
    }

    /// Clamps every value into `[0, 1]`.
    pub fn clamp01(mut self) -> Image {
        for v in &mut self.data {
            *v = v.clamp(0.0, 1.0);
        }
        self
    }

    /// The luma plane: the value itself for gray, BT.601 ([`LUMA`]) for RGB.
    pub fn luma(&self) -> Vec<f32> {
        if self.channels == 1 {
            return self.data.clone();
        }
        self.data.chunks_exact(3).map(|p| LUMA[0] * p[0] + LUMA[1] * p[1] + LUMA[2] * p[2]).collect()
    }

    /// An RGB copy (gray is replicated into three channels).
    pub fn to_rgb(&self) -> Image {
        if self.channels == 3 {
            return self.clone();
        }
        let data = self.data.iter().flat_map(|&v| [v, v, v]).collect();
        Image { height: self.height, width: self.width, channels: 3, data }
    }

    /// Back to `channels` channels: identity for RGB targets, luma for gray ones.
    pub fn to_channels(self, channels: usize) -> Image {
        if channels == self.channels {
            return self;
        }
        let data = self.luma();
        Image { height: self.height, width: self.width, channels: 1, data }
    }

    /// Runs a colour operation on gray images too: gray is replicated to RGB, `f` applied, and the result
    /// converted back with [`LUMA`] (MNIST-C does the same with `gray2rgb` / `rgb2gray`).
    pub fn via_rgb(&self, f: impl FnOnce(Image) -> Image) -> Image {
        let channels = self.channels;
        f(self.to_rgb()).to_channels(channels)
    }

    /// Mean absolute difference from `other` (same shape), on the 0…1 scale.
    pub fn mean_abs_diff(&self, other: &Image) -> f64 {
        let sum: f64 = self.data.iter().zip(&other.data).map(|(a, b)| f64::from((a - b).abs())).sum();
        sum / self.data.len() as f64
    }
}

/// One value to a byte with the reference saver's truncation.
#[inline]
pub fn quantize(v: f32) -> u8 {
    // `as` truncates towards zero (= floor for the non-negative values here), saturates at 255 and maps NaN
    // to 0; it avoids a libm `floor` call per value.
    (v.clamp(0.0, 1.0) * 255.0 + TRUNCATION_GUARD) as u8
}

/// `⌊v⌋` as an integer without a libm call (exact for |v| < 2²³).
#[inline]
pub fn floor_i(v: f32) -> isize {
    let i = v as isize;
    if (i as f32) > v { i - 1 } else { i }
}

/// Rounds to the nearest of the 256 levels `k / 255` (what an 8-bit PNG round trip does).
#[inline]
pub fn round_to_u8_level(v: f32) -> f32 {
    f32::from((v.clamp(0.0, 1.0) * 255.0 + 0.5) as u8) / 255.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip_exactly() {
        let bytes: Vec<u8> = (0..=255).collect();
        let img = Image::from_u8(16, 16, 1, &bytes).unwrap();
        assert_eq!(img.to_u8(), bytes);
    }

    #[test]
    fn quantisation_truncates() {
        assert_eq!(quantize(10.9 / 255.0), 10);
        assert_eq!(quantize(-0.5), 0);
        assert_eq!(quantize(2.0), 255);
        assert_eq!(quantize(f32::NAN), 0);
    }
}

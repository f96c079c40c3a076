//! [`ImageSet`]: labelled `u8` images in NHWC order.

use crate::error::{Error, Result};

/// Labelled images, `u8` pixels in NHWC order (row-major, channels last, as image files store them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageSet {
    /// Image height in pixels.
    pub height: usize,
    /// Image width in pixels.
    pub width: usize,
    /// Channels per pixel (1 gray, 3 RGB).
    pub channels: usize,
    /// `len() * height * width * channels` bytes.
    pub pixels: Vec<u8>,
    /// One class index per image.
    pub labels: Vec<u8>,
}

impl ImageSet {
    /// Builds a set, checking that the pixel buffer and the labels agree with the shape.
    pub fn new(
        height: usize,
        width: usize,
        channels: usize,
        pixels: Vec<u8>,
        labels: Vec<u8>,
    ) -> Result<Self> {
        let per = height * width * channels;
        if per == 0 {
            return Err(Error::config("image shape", format!("{height}x{width}x{channels} has no pixels")));
        }
        if pixels.len() != per * labels.len() {
            return Err(Error::Shape {
                context: "image set".into(),
                expected: vec![labels.len(), height, width, channels],
                found: vec![pixels.len() / per, height, width, channels],
            });
        }
        Ok(ImageSet { height, width, channels, pixels, labels })
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the set holds no image.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Bytes per image.
    pub fn image_len(&self) -> usize {
        self.height * self.width * self.channels
    }

    /// The pixels of image `i` (HWC).
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.image_len();
        &self.pixels[i * n..(i + 1) * n]
    }

    /// A new set holding the first `n` images (all of them if there are fewer).
    pub fn take(&self, n: usize) -> ImageSet {
        let n = n.min(self.len());
        ImageSet {
            height: self.height,
            width: self.width,
            channels: self.channels,
            pixels: self.pixels[..n * self.image_len()].to_vec(),
            labels: self.labels[..n].to_vec(),
        }
    }
}

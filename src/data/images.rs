//! [`ImageSet`]: labelled `u8` images in NHWC order.

use std::path::Path;

use crate::error::{Error, Result};

/// Refuses image geometry `found` (`[channels, height, width]`, read from `path`) that differs from `expected`
/// (the shape of `what`) in any dimension, listing each dimension that differs. Comparing every dimension, not
/// only the number of values, keeps a 56×14 image from being read as a 28×28 one.
pub fn check_geometry(path: &Path, found: [usize; 3], expected: [usize; 3], what: &str) -> Result<()> {
    if found == expected {
        return Ok(());
    }
    let names = ["channels", "height", "width"];
    let differ: Vec<String> = (0..3)
        .filter(|&d| found[d] != expected[d])
        .map(|d| format!("{} {} instead of {}", names[d], found[d], expected[d]))
        .collect();
    Err(Error::format(
        path,
        format!(
            "images are {}×{}×{} (channels×height×width) instead of {}×{}×{}, the shape of {what}: {}",
            found[0],
            found[1],
            found[2],
            expected[0],
            expected[1],
            expected[2],
            differ.join(", ")
        ),
    ))
}

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
        let per = height.checked_mul(width).and_then(|n| n.checked_mul(channels)).ok_or_else(|| {
            Error::config(
                "image shape",
                format!("{height}x{width}x{channels} pixels overflow the address space"),
            )
        })?;
        if per == 0 {
            return Err(Error::config("image shape", format!("{height}x{width}x{channels} has no pixels")));
        }
        if Some(pixels.len()) != per.checked_mul(labels.len()) {
            return Err(Error::Shape {
                context: "image set".into(),
                expected: vec![labels.len(), height, width, channels],
                found: vec![pixels.len() / per, height, width, channels],
            });
        }
        Ok(ImageSet { height, width, channels, pixels, labels })
    }

    /// `[channels, height, width]`: the shape of one image as a network takes it.
    pub fn geometry(&self) -> [usize; 3] {
        [self.channels, self.height, self.width]
    }

    /// Refuses images whose shape differs from `expected` (`[channels, height, width]`) in any dimension.
    /// `path` names the file the images came from and `what` what `expected` is the shape of ("the model's
    /// input", "the training images of DIR"): the error lists each dimension that differs.
    pub fn check_geometry(&self, path: &Path, expected: [usize; 3], what: &str) -> Result<()> {
        check_geometry(path, self.geometry(), expected, what)
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

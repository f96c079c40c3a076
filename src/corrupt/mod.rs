//! Common corruptions: ImageNet-C / CIFAR-10-C (Hendrycks & Dietterich, ICLR 2019) and MNIST-C (Mu & Gilmer,
//! 2019), natively, for gray and colour images of any size; readers and writers for the benchmark file layouts;
//! a preview grid.
//!
//! ```text
//! ImageSet (u8) --Image::from_u8--> Image (f32, [0,1]) --Prepared::apply(rng)--> Image --to_u8 (truncate)--> u8
//! ```
//!
//! - **Which corruption, how strong**: [`Corruption`] (reference names), a severity 1–5, and an explicit
//!   parameter [`Table`]; every table is in [`params`]. A [`Suite`] bundles a table, a corruption list and the
//!   severities.
//! - **Seeded**: image `i` of a set corrupted with `(seed, corruption)` draws from its own `ChaCha8Rng` seeded
//!   by [`image_seed`], so results do not depend on threads, chunking or order. The severity is deliberately
//!   left out of the seed (common random numbers): an image gets the same random draws (noise field, angle,
//!   frost crop, …) at every severity, so its severity curve reflects the parameters, not a new dice roll.
//! - **Faithful**: each family file documents its recipe and where it departs from the reference (motion blur
//!   keeps the weight of taps leaving the image; JPEG reproduces PIL's libjpeg-turbo bit for bit).
//!
//! ```
//! use lcr_verify::corrupt::{Corruption, Corruptor, Image, Table};
//! let clean = Image::from_u8(32, 32, 1, &[128u8; 32 * 32]).unwrap();
//! let c = Corruptor::new(Table::Cifar);
//! let noisy = c.apply_seeded(Corruption::GaussianNoise, 3, &clean, 7, 0).unwrap();
//! assert_eq!(noisy, c.apply_seeded(Corruption::GaussianNoise, 3, &clean, 7, 0).unwrap());
//! ```

mod blur;
mod color;
pub mod decode;
mod digital;
mod disk;
pub mod edges;
pub mod filter;
pub mod folder;
mod frost;
mod image;
mod imagenet_c;
mod interleaved;
pub mod jpeg_codec;
mod jpeg_color;
#[cfg(target_arch = "x86_64")]
mod jpeg_color_lanes;
mod jpeg_dct;
#[cfg(target_arch = "x86_64")]
mod jpeg_dct_lanes;
pub mod jpeg_file;
mod jpeg_huffman;
mod jpeg_read;
mod jpeg_scan;
mod jpeg_tables;
mod kinds;
pub mod layout;
mod mnist_c;
mod noise;
pub mod npy;
pub mod params;
pub mod preview;
pub mod resample;
#[cfg(target_arch = "x86_64")]
mod resample_lanes;
mod source;
mod spatter;
mod spatter_shading;
mod stage;
mod weather;
pub use crate::wide;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

pub use self::blur::{disk_kernel, motion_kernel};
pub use self::color::{hsv_to_rgb, rgb_to_hsv};
pub use self::frost::{FROST_FILES, FrostBank, default_frost_dir};
pub use self::image::{Image, LUMA, TRUNCATION_GUARD, quantize};
pub use self::kinds::{
    Corruption, Suite, Table, mnist_c_severity, parse_corruption_list, parse_severity_list,
};
pub use self::params::Params;
pub use self::spatter_shading::drop_shading;
pub use self::stage::{CleanSet, CorruptOutcome, CorruptRequest, Split, load_clean, plan, run};
pub use self::weather::plasma_fractal;

use crate::data::ImageSet;
use crate::error::{Error, Result};

/// The seed of image `index` under `(seed, corruption)`: SplitMix64 steps over the three values (the corruption
/// enters by a hash of its name, so adding corruptions never changes existing streams). The severity is not an
/// input: see the module docs (common random numbers).
pub fn image_seed(seed: u64, corruption: Corruption, index: u64) -> u64 {
    let name_hash = corruption
        .as_str()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    let mut s = splitmix(seed ^ 0x6c63_722d_7665_7269);
    s = splitmix(s ^ name_hash);
    splitmix(s ^ index)
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The random generator of image `index` (see [`image_seed`]).
pub fn image_rng(seed: u64, corruption: Corruption, index: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(image_seed(seed, corruption, index))
}

/// Applies corruptions with one parameter [`Table`]; loads the frost photographs on first use.
#[derive(Debug)]
pub struct Corruptor {
    table: Table,
    frost_dir: PathBuf,
    frost: OnceLock<Arc<FrostBank>>,
}

/// One corruption at one severity, ready for images of one size.
#[derive(Clone, Debug)]
pub struct Prepared {
    /// Which corruption.
    pub corruption: Corruption,
    /// Its severity.
    pub severity: u8,
    /// The table row.
    pub params: Params,
    frost: Option<Arc<Vec<Image>>>,
    shot: Option<Arc<noise::ShotTable>>,
}

impl Corruptor {
    /// A corruptor for `table`, reading frost photographs from [`default_frost_dir`].
    pub fn new(table: Table) -> Self {
        Corruptor::with_frost_dir(table, default_frost_dir())
    }

    /// A corruptor reading the frost photographs from `dir`.
    pub fn with_frost_dir(table: Table, dir: impl Into<PathBuf>) -> Self {
        Corruptor { table, frost_dir: dir.into(), frost: OnceLock::new() }
    }

    /// The parameter table in use.
    pub fn table(&self) -> Table {
        self.table
    }

    fn frost_bank(&self) -> Result<Arc<FrostBank>> {
        if let Some(b) = self.frost.get() {
            return Ok(b.clone());
        }
        let bank = Arc::new(FrostBank::load(&self.frost_dir)?);
        Ok(self.frost.get_or_init(|| bank).clone())
    }

    /// Looks up the parameters and loads what `corruption` needs for `height × width` images.
    pub fn prepare(
        &self,
        corruption: Corruption,
        severity: u8,
        height: usize,
        width: usize,
    ) -> Result<Prepared> {
        let params = params::lookup(corruption, self.table, severity)?;
        let frost = match &params {
            Params::Frost { frost_scale, .. } => {
                Some(self.frost_bank()?.prepared(height, width, *frost_scale))
            }
            _ => None,
        };
        let shot = match &params {
            Params::ShotNoise { lambda } => Some(Arc::new(noise::ShotTable::new(*lambda))),
            _ => None,
        };
        Ok(Prepared { corruption, severity, params, frost, shot })
    }

    /// Corrupts one float image with an explicit generator.
    pub fn apply(
        &self,
        corruption: Corruption,
        severity: u8,
        img: &Image,
        rng: &mut ChaCha8Rng,
    ) -> Result<Image> {
        Ok(self.prepare(corruption, severity, img.height, img.width)?.apply(img, rng))
    }

    /// Corrupts one float image as image `index` of a set corrupted with `seed`.
    pub fn apply_seeded(
        &self,
        corruption: Corruption,
        severity: u8,
        img: &Image,
        seed: u64,
        index: u64,
    ) -> Result<Image> {
        self.apply(corruption, severity, img, &mut image_rng(seed, corruption, index))
    }

    /// Corrupts every image of `set` in parallel; image `i` is treated as image `first_index + i` of the whole
    /// set for seeding. `on_image` is called once per finished image (for progress bars).
    pub fn corrupt_set(
        &self,
        set: &ImageSet,
        corruption: Corruption,
        severity: u8,
        seed: u64,
        first_index: usize,
        on_image: &(dyn Fn() + Sync),
    ) -> Result<ImageSet> {
        let prepared = self.prepare(corruption, severity, set.height, set.width)?;
        let pixels = prepared.apply_bytes(set, seed, first_index, on_image)?;
        ImageSet::new(set.height, set.width, set.channels, pixels, set.labels.clone())
    }
}

impl Prepared {
    /// Corrupts one float image (the parameters are already checked, so this cannot fail).
    pub fn apply(&self, img: &Image, rng: &mut ChaCha8Rng) -> Image {
        match &self.params {
            Params::GaussianNoise { sigma } => noise::gaussian(img, *sigma, rng),
            Params::ShotNoise { .. } => {
                noise::shot(img, self.shot.as_ref().expect("prepare builds the table"), rng)
            }
            Params::ImpulseNoise { amount } => noise::impulse(img, *amount, rng),
            Params::SpeckleNoise { sigma } => noise::speckle(img, *sigma, rng),
            Params::GaussianBlur { sigma } => blur::gaussian(img, *sigma),
            Params::DefocusBlur { radius, alias } => blur::defocus(img, *radius, *alias),
            Params::GlassBlur { sigma, delta, iterations, swap_probability, swap } => {
                blur::glass(img, *sigma, *delta, *iterations, *swap_probability, *swap, rng)
            }
            Params::MotionBlur { radius, sigma } => blur::motion(img, *radius, *sigma, rng),
            Params::ZoomBlur { zooms } => blur::zoom(img, zooms),
            Params::Snow(p) => weather::snow(img, p, rng),
            Params::Frost { image_weight, frost_weight, .. } => {
                let photos = self.frost.as_ref().expect("prepare loads the frost photographs");
                weather::frost(img, *image_weight, *frost_weight, photos, rng)
            }
            Params::Fog { strength, decay, map_size } => weather::fog(img, *strength, *decay, *map_size, rng),
            Params::Brightness { shift } => weather::brightness(img, *shift),
            Params::Contrast { factor } => digital::contrast(img, *factor),
            Params::ElasticTransform { alpha, sigma, affine, border } => {
                digital::elastic(img, *alpha, *sigma, *affine, *border, rng)
            }
            Params::Pixelate { factor } => digital::pixelate(img, *factor),
            Params::JpegCompression { quality } => digital::jpeg(img, *quality),
            Params::Spatter(p) => spatter::spatter(img, p, rng),
            Params::Saturate { scale, shift } => digital::saturate(img, *scale, *shift),
            Params::Shear { shear } => mnist_c::shear(img, *shear, rng),
            Params::Scale { zoom } => mnist_c::scale(img, *zoom),
            Params::Rotate { angle } => mnist_c::rotate(img, *angle, rng),
            Params::Translate { shift } => mnist_c::translate(img, *shift, rng),
            Params::Stripe => mnist_c::stripe(img),
            Params::DottedLine => mnist_c::dotted_line(img, rng),
            Params::Zigzag => mnist_c::zigzag(img, rng),
            Params::CannyEdges => mnist_c::canny_edges(img),
        }
    }

    /// Corrupts one 8-bit image (HWC) as image `index` of a set corrupted with `seed`, returning 8-bit pixels
    /// truncated as the reference saver does.
    pub fn apply_u8(
        &self,
        h: usize,
        w: usize,
        c: usize,
        pixels: &[u8],
        seed: u64,
        index: u64,
    ) -> Result<Vec<u8>> {
        let mut out = vec![0u8; pixels.len()];
        self.apply_u8_into([h, w, c], pixels, seed, index, &mut out)?;
        Ok(out)
    }

    /// [`Prepared::apply_u8`] written into `out` (as long as `pixels`): the byte-native corruptions write their
    /// result there directly.
    pub fn apply_u8_into(
        &self,
        [h, w, c]: [usize; 3],
        pixels: &[u8],
        seed: u64,
        index: u64,
        out: &mut [u8],
    ) -> Result<()> {
        if pixels.len() != h * w * c || out.len() != pixels.len() {
            return Err(Error::Shape {
                context: "image".into(),
                expected: vec![h, w, c],
                found: vec![pixels.len(), out.len()],
            });
        }
        // Byte-native corruptions skip the float image (they give the same bytes as the float path).
        let mut rng = image_rng(seed, self.corruption, index);
        match &self.params {
            Params::Pixelate { factor } => digital::pixelate_into(pixels, [h, w, c], *factor, out),
            Params::Contrast { factor } => digital::contrast_into(pixels, c, *factor, out),
            Params::JpegCompression { quality } => digital::jpeg_into(pixels, [h, w, c], *quality, out),
            Params::GaussianNoise { sigma } => noise::gaussian_into(pixels, *sigma, &mut rng, out),
            Params::SpeckleNoise { sigma } => noise::speckle_into(pixels, *sigma, &mut rng, out),
            Params::ImpulseNoise { amount } => noise::impulse_into(pixels, *amount, &mut rng, out),
            Params::ShotNoise { .. } => {
                let table = self.shot.as_ref().expect("prepare builds the table");
                noise::shot_into(pixels, table, &mut rng, out);
            }
            params => {
                let bytes = match params {
                    Params::Spatter(p) => spatter::spatter_u8(pixels, h, w, c, p, &mut rng),
                    Params::Fog { strength, decay, map_size } => {
                        weather::fog_u8(pixels, [h, w, c], *strength, *decay, *map_size, &mut rng)
                    }
                    _ => self.apply(&Image::from_u8(h, w, c, pixels)?, &mut rng).to_u8(),
                };
                out.copy_from_slice(&bytes);
            }
        }
        Ok(())
    }

    /// Corrupts every image of `set` in parallel (see [`Corruptor::corrupt_set`]); returns the pixels.
    pub fn apply_bytes(
        &self,
        set: &ImageSet,
        seed: u64,
        first_index: usize,
        on_image: &(dyn Fn() + Sync),
    ) -> Result<Vec<u8>> {
        let mut out = vec![0u8; set.pixels.len()];
        let shape = [set.height, set.width, set.channels];
        self.apply_into(shape, &set.pixels, seed, first_index, &mut out, on_image)?;
        Ok(out)
    }

    /// Corrupts the `h × w × c` images stored one after the other in `pixels`, in parallel, into `out` (as long
    /// as `pixels`); image `i` is image `first_index + i` of the set for seeding. `on_image` is called once per
    /// finished image.
    pub fn apply_into(
        &self,
        [h, w, c]: [usize; 3],
        pixels: &[u8],
        seed: u64,
        first_index: usize,
        out: &mut [u8],
        on_image: &(dyn Fn() + Sync),
    ) -> Result<()> {
        let len = h * w * c;
        if len == 0 || !pixels.len().is_multiple_of(len) || out.len() != pixels.len() {
            return Err(Error::Shape {
                context: "images".into(),
                expected: vec![h, w, c],
                found: vec![pixels.len(), out.len()],
            });
        }
        out.par_chunks_mut(len).zip(pixels.par_chunks(len)).enumerate().try_for_each(|(i, (dst, src))| {
            self.apply_u8_into([h, w, c], src, seed, (first_index + i) as u64, dst)?;
            on_image();
            Ok::<(), Error>(())
        })
    }
}

/// A seeded stream of 31-bit pseudo-random numbers for the JPEG modules' tests.
#[cfg(test)]
fn test_stream(seed: u64) -> impl FnMut() -> u64 {
    use rand::RngCore;
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    move || r.next_u64() >> 33
}

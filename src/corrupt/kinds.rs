//! The names: [`Corruption`], parameter [`Table`], benchmark [`Suite`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Every corruption lcr-verify implements. Names (`as_str`) are the reference implementations' function names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Corruption {
    // The 15 benchmark corruptions of Hendrycks & Dietterich (2019), in their order.
    /// Additive Gaussian noise `x + N(0, σ²)`.
    GaussianNoise,
    /// Poisson (shot) noise `Poisson(λx)/λ`.
    ShotNoise,
    /// Salt-and-pepper noise: each value replaced by 0 or 1 with probability `p`.
    ImpulseNoise,
    /// Convolution with an anti-aliased disk (out-of-focus lens).
    DefocusBlur,
    /// Gaussian blur, local pixel shuffling, Gaussian blur again (frosted glass).
    GlassBlur,
    /// One-sided Gaussian line blur at a random angle (camera motion).
    MotionBlur,
    /// Mean of centred zooms (moving towards the scene).
    ZoomBlur,
    /// Motion-blurred snow flakes over a whitened image.
    Snow,
    /// A crop of a frost photograph blended in.
    Frost,
    /// Plasma-fractal haze.
    Fog,
    /// `V + c` in HSV.
    Brightness,
    /// `(x − mean)·c + mean` per channel.
    Contrast,
    /// Random affine map, then a smooth random displacement field.
    ElasticTransform,
    /// Box-downscale by a factor, then box-upscale back.
    Pixelate,
    /// JPEG encode at quality `q` and decode.
    JpegCompression,
    // The 4 extra ("validation") corruptions.
    /// Multiplicative noise `x + x·N(0, σ²)`.
    SpeckleNoise,
    /// Gaussian blur of standard deviation σ.
    GaussianBlur,
    /// Water or mud splashes.
    Spatter,
    /// `S·a + b` in HSV.
    Saturate,
    // MNIST-C only (Mu & Gilmer 2019).
    /// Shear by `±c` about the image centre.
    Shear,
    /// Zoom by `c` about the image centre.
    Scale,
    /// Rotation by `±c` radians about the image centre.
    Rotate,
    /// Translation by `±c` pixels along each axis.
    Translate,
    /// Invert the 7 leftmost and 7 rightmost columns.
    Stripe,
    /// A random straight line drawn in alternating 2-pixel dashes.
    DottedLine,
    /// A random zigzag line.
    Zigzag,
    /// The Canny edge map replaces the image.
    CannyEdges,
}

impl Corruption {
    /// The 15 benchmark corruptions (the ones mCE averages over), in the reference order.
    pub const BENCHMARK: [Corruption; 15] = [
        Corruption::GaussianNoise,
        Corruption::ShotNoise,
        Corruption::ImpulseNoise,
        Corruption::DefocusBlur,
        Corruption::GlassBlur,
        Corruption::MotionBlur,
        Corruption::ZoomBlur,
        Corruption::Snow,
        Corruption::Frost,
        Corruption::Fog,
        Corruption::Brightness,
        Corruption::Contrast,
        Corruption::ElasticTransform,
        Corruption::Pixelate,
        Corruption::JpegCompression,
    ];

    /// The 4 extra corruptions, outside mCE.
    pub const EXTRA: [Corruption; 4] =
        [Corruption::SpeckleNoise, Corruption::GaussianBlur, Corruption::Spatter, Corruption::Saturate];

    /// The 15 MNIST-C corruptions (the clean `identity` set is not a corruption here).
    pub const MNIST_C: [Corruption; 15] = [
        Corruption::ShotNoise,
        Corruption::ImpulseNoise,
        Corruption::GlassBlur,
        Corruption::MotionBlur,
        Corruption::Shear,
        Corruption::Scale,
        Corruption::Rotate,
        Corruption::Brightness,
        Corruption::Translate,
        Corruption::Stripe,
        Corruption::Fog,
        Corruption::Spatter,
        Corruption::DottedLine,
        Corruption::Zigzag,
        Corruption::CannyEdges,
    ];

    /// Every variant.
    pub const ALL: [Corruption; 27] = [
        Corruption::GaussianNoise,
        Corruption::ShotNoise,
        Corruption::ImpulseNoise,
        Corruption::DefocusBlur,
        Corruption::GlassBlur,
        Corruption::MotionBlur,
        Corruption::ZoomBlur,
        Corruption::Snow,
        Corruption::Frost,
        Corruption::Fog,
        Corruption::Brightness,
        Corruption::Contrast,
        Corruption::ElasticTransform,
        Corruption::Pixelate,
        Corruption::JpegCompression,
        Corruption::SpeckleNoise,
        Corruption::GaussianBlur,
        Corruption::Spatter,
        Corruption::Saturate,
        Corruption::Shear,
        Corruption::Scale,
        Corruption::Rotate,
        Corruption::Translate,
        Corruption::Stripe,
        Corruption::DottedLine,
        Corruption::Zigzag,
        Corruption::CannyEdges,
    ];

    /// The reference name (`gaussian_noise`, …), used in files and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Corruption::GaussianNoise => "gaussian_noise",
            Corruption::ShotNoise => "shot_noise",
            Corruption::ImpulseNoise => "impulse_noise",
            Corruption::DefocusBlur => "defocus_blur",
            Corruption::GlassBlur => "glass_blur",
            Corruption::MotionBlur => "motion_blur",
            Corruption::ZoomBlur => "zoom_blur",
            Corruption::Snow => "snow",
            Corruption::Frost => "frost",
            Corruption::Fog => "fog",
            Corruption::Brightness => "brightness",
            Corruption::Contrast => "contrast",
            Corruption::ElasticTransform => "elastic_transform",
            Corruption::Pixelate => "pixelate",
            Corruption::JpegCompression => "jpeg_compression",
            Corruption::SpeckleNoise => "speckle_noise",
            Corruption::GaussianBlur => "gaussian_blur",
            Corruption::Spatter => "spatter",
            Corruption::Saturate => "saturate",
            Corruption::Shear => "shear",
            Corruption::Scale => "scale",
            Corruption::Rotate => "rotate",
            Corruption::Translate => "translate",
            Corruption::Stripe => "stripe",
            Corruption::DottedLine => "dotted_line",
            Corruption::Zigzag => "zigzag",
            Corruption::CannyEdges => "canny_edges",
        }
    }

    /// Whether the corruption draws random numbers (the others are deterministic functions of the image).
    pub fn is_random(self) -> bool {
        !matches!(
            self,
            Corruption::DefocusBlur
                | Corruption::ZoomBlur
                | Corruption::Brightness
                | Corruption::Contrast
                | Corruption::Pixelate
                | Corruption::JpegCompression
                | Corruption::GaussianBlur
                | Corruption::Saturate
                | Corruption::Scale
                | Corruption::Stripe
                | Corruption::CannyEdges
        )
    }

    /// Whether it is one of the 15 benchmark corruptions.
    pub fn is_benchmark(self) -> bool {
        Corruption::BENCHMARK.contains(&self)
    }
}

impl fmt::Display for Corruption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Corruption {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let norm = s.trim().to_ascii_lowercase().replace('-', "_");
        let alias = match norm.as_str() {
            "elastic" => "elastic_transform",
            "jpeg" => "jpeg_compression",
            other => other,
        };
        Corruption::ALL.iter().copied().find(|c| c.as_str() == alias).ok_or_else(|| {
            let names: Vec<_> = Corruption::ALL.iter().map(|c| c.as_str()).collect();
            Error::config("corruption", format!("unknown corruption `{s}`; known: {}", names.join(", ")))
        })
    }
}

/// Which per-severity parameter table to use. The choice is always explicit; nothing is rescaled to the image
/// size (parameters are pixels, as in the reference scripts).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Table {
    /// `make_cifar_c.py`: tuned for 32×32 images (CIFAR-10-C).
    Cifar,
    /// `make_imagenet_c.py`: tuned for 224×224 images (ImageNet-C).
    #[serde(rename = "imagenet")]
    ImageNet,
    /// google-research/mnist-c `corruptions.py`: the ImageNet values at 28×28, with MNIST-C's variants (glass
    /// blur swaps with probability ½, spatter is always gray mud, elastic scales by 28 with zero borders), plus
    /// the MNIST-C-only corruptions.
    #[serde(rename = "mnist-c")]
    MnistC,
}

impl Table {
    /// The name used in files.
    pub fn as_str(self) -> &'static str {
        match self {
            Table::Cifar => "cifar",
            Table::ImageNet => "imagenet",
            Table::MnistC => "mnist-c",
        }
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A benchmark: a parameter table, a list of corruptions and the severities each is used at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Suite {
    /// ImageNet-C: the 15 + 4 corruptions at severities 1–5 with the ImageNet (224 px) table.
    ImagenetC,
    /// CIFAR-10-C: the 15 + 4 corruptions at severities 1–5 with the CIFAR (32 px) table.
    CifarC,
    /// MNIST-C: 15 corruptions, each at its one fixed severity.
    MnistC,
}

impl Suite {
    /// Every suite.
    pub const ALL: [Suite; 3] = [Suite::ImagenetC, Suite::CifarC, Suite::MnistC];

    /// The name used on the command line and in files.
    pub fn as_str(self) -> &'static str {
        match self {
            Suite::ImagenetC => "imagenet-c",
            Suite::CifarC => "cifar-c",
            Suite::MnistC => "mnist-c",
        }
    }

    /// The parameter table the suite uses.
    pub fn table(self) -> Table {
        match self {
            Suite::ImagenetC => Table::ImageNet,
            Suite::CifarC => Table::Cifar,
            Suite::MnistC => Table::MnistC,
        }
    }

    /// The corruptions whose mean gives mCE / mPC.
    pub fn benchmark(self) -> &'static [Corruption] {
        match self {
            Suite::ImagenetC | Suite::CifarC => &Corruption::BENCHMARK,
            Suite::MnistC => &Corruption::MNIST_C,
        }
    }

    /// Every corruption the suite generates by default: benchmark, then extras.
    pub fn corruptions(self) -> Vec<Corruption> {
        match self {
            Suite::ImagenetC | Suite::CifarC => {
                Corruption::BENCHMARK.iter().chain(&Corruption::EXTRA).copied().collect()
            }
            Suite::MnistC => Corruption::MNIST_C.to_vec(),
        }
    }

    /// Whether `c` belongs to the suite.
    pub fn contains(self, c: Corruption) -> bool {
        self.corruptions().contains(&c)
    }

    /// The severities `c` is used at: 1–5, or MNIST-C's one fixed level.
    pub fn severities(self, c: Corruption) -> Vec<u8> {
        match self {
            Suite::ImagenetC | Suite::CifarC => vec![1, 2, 3, 4, 5],
            Suite::MnistC => vec![mnist_c_severity(c)],
        }
    }

    /// The default suite for images of this size: MNIST-C for 28×28 gray, CIFAR-10-C up to 64 px, else ImageNet-C.
    pub fn default_for(height: usize, width: usize, channels: usize) -> Suite {
        if height == 28 && width == 28 && channels == 1 {
            Suite::MnistC
        } else if height.max(width) <= 64 {
            Suite::CifarC
        } else {
            Suite::ImagenetC
        }
    }
}

impl fmt::Display for Suite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Suite {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "imagenet-c" | "imagenet_c" => Ok(Suite::ImagenetC),
            "cifar-c" | "cifar_c" | "cifar-10-c" | "cifar10-c" => Ok(Suite::CifarC),
            "mnist-c" | "mnist_c" => Ok(Suite::MnistC),
            _ => Err(Error::config(
                "suite",
                format!("unknown suite `{s}`; known: imagenet-c, cifar-c, mnist-c"),
            )),
        }
    }
}

/// The severity MNIST-C fixes for each of its corruptions (the default arguments of its `corruptions.py`); 1 for
/// the parameter-free ones.
pub fn mnist_c_severity(c: Corruption) -> u8 {
    match c {
        Corruption::ShotNoise | Corruption::Brightness | Corruption::Fog => 5,
        Corruption::ImpulseNoise | Corruption::Spatter => 4,
        Corruption::Scale | Corruption::Translate => 3,
        Corruption::Shear | Corruption::Rotate => 2,
        _ => 1,
    }
}

/// Parses a comma-separated list of corruption names (`all`, `benchmark` and `extra` are accepted too).
pub fn parse_corruption_list(s: &str, suite: Suite) -> Result<Vec<Corruption>> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim) {
        if part.is_empty() {
            return Err(Error::config(
                "corruptions",
                format!("`{s}` has an empty name (a leading, trailing or doubled comma)"),
            ));
        }
        match part {
            "all" => out.extend(suite.corruptions()),
            "benchmark" => out.extend_from_slice(suite.benchmark()),
            "extra" => out.extend_from_slice(&Corruption::EXTRA),
            name => out.push(name.parse()?),
        }
    }
    out.dedup();
    if out.is_empty() {
        return Err(Error::config("corruptions", "the list is empty"));
    }
    Ok(out)
}

/// Parses a severity list such as `1,3,5` or `1-5`.
pub fn parse_severity_list(s: &str) -> Result<Vec<u8>> {
    let bad =
        |p: &str| Error::config("severities", format!("`{p}` is not a severity 1-5 or a range like 2-4"));
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim) {
        if part.is_empty() {
            return Err(Error::config(
                "severities",
                format!("`{s}` has an empty entry (a leading, trailing or doubled comma)"),
            ));
        }
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (
                a.trim().parse::<u8>().map_err(|_| bad(part))?,
                b.trim().parse::<u8>().map_err(|_| bad(part))?,
            ),
            None => {
                let v = part.parse::<u8>().map_err(|_| bad(part))?;
                (v, v)
            }
        };
        if !(1..=5).contains(&a) || !(1..=5).contains(&b) || a > b {
            return Err(bad(part));
        }
        out.extend(a..=b);
    }
    out.sort_unstable();
    out.dedup();
    if out.is_empty() {
        return Err(Error::config("severities", "the list is empty"));
    }
    Ok(out)
}

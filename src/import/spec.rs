//! The spec of a network to import: a TOML file naming its dataset, input, sign(0) convention and layers in order
//! (the format is in the [module documentation](super)). Parsing checks every key of every layer; what the
//! layers need from the weights is worked out in [`super::weights`].

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::data::{DatasetKind, Normalization};
use crate::error::{Error, Result};
use crate::ir::SignZero;
use crate::model::WeightScaling;
use crate::model::batchnorm::BN_EPS;

use super::layer::{SpecLayer, child};
use crate::model::MAX_WIDTH;

/// The largest kernel, stride or padding a spec may give (far above any real network's, low enough that no size
/// computed from it overflows).
pub const MAX_WINDOW: usize = 1 << 12;

/// A checked spec.
#[derive(Clone, Debug, PartialEq)]
pub struct NetSpec {
    /// The spec file.
    pub path: PathBuf,
    /// The dataset the network classifies.
    pub dataset: DatasetKind,
    /// Its directory, when the spec names one.
    pub data_dir: Option<PathBuf>,
    /// Input shape `[c, h, w]` (the dataset's image shape).
    pub input: [usize; 3],
    /// Number of classes (the dataset's).
    pub classes: usize,
    /// sign(0).
    pub sign_zero: SignZero,
    /// The input normalisation the network was trained with.
    pub normalization: Normalization,
    /// Patterns (`*` matches any run of characters) of tensors in the weights that no layer uses.
    pub ignore: Vec<String>,
    /// The layers in order.
    pub layers: Vec<SpecLayer>,
    /// SHA-256 of the text parsed.
    pub sha256: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpec {
    dataset: DatasetKind,
    data_dir: Option<PathBuf>,
    input: Vec<usize>,
    classes: usize,
    sign_zero: SignZero,
    normalization: RawNormalization,
    #[serde(default)]
    ignore: Vec<String>,
    layers: Vec<toml::Table>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNormalization {
    mean: Vec<f32>,
    std: Vec<f32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLayer {
    name: Option<String>,
    out: Option<usize>,
    kernel: Option<usize>,
    stride: Option<usize>,
    padding: Option<usize>,
    bias: Option<bool>,
    binary: Option<String>,
    eps: Option<f64>,
    affine: Option<bool>,
    body: Option<Vec<toml::Table>>,
    shortcut: Option<Vec<toml::Table>>,
}

/// Every layer kind with the keys it takes besides `kind`.
const KINDS: &[(&str, &[&str])] = &[
    ("dense", &["name", "out", "bias", "binary"]),
    ("conv", &["name", "out", "kernel", "stride", "padding", "bias", "binary"]),
    ("batchnorm", &["name", "eps", "affine"]),
    ("sign", &[]),
    ("hardtanh", &[]),
    ("relu", &[]),
    ("residual", &["body", "shortcut"]),
    ("maxpool", &["kernel", "stride", "padding"]),
    ("avgpool", &["kernel", "stride"]),
    ("global-avgpool", &[]),
    ("flatten", &[]),
];

impl NetSpec {
    /// Reads and checks a spec file.
    pub fn from_file(path: &Path) -> Result<NetSpec> {
        if !crate::fsio::exists(path)? {
            return Err(Error::Missing { path: path.to_path_buf(), what: "spec file" });
        }
        let bytes = crate::fsio::read(path)?;
        let text = String::from_utf8(bytes).map_err(|_| Error::format(path, "not UTF-8 text"))?;
        NetSpec::from_text(path, &text)
    }

    /// Parses and checks spec text; `path` names it in errors.
    pub fn from_text(path: &Path, text: &str) -> Result<NetSpec> {
        let raw: RawSpec = toml::from_str(text)
            .map_err(|e| Error::format(path, format!("not a network spec: {}", e.to_string().trim_end())))?;
        let top = |key: &str, problem: String| Error::Import {
            path: path.to_path_buf(),
            layer: format!("key `{key}`"),
            problem,
        };
        let (c, h, w) = raw.dataset.image_shape();
        if raw.input != [c, h, w] {
            return Err(top(
                "input",
                format!(
                    "{:?}, but {} images are {:?} (channels, height, width)",
                    raw.input,
                    raw.dataset,
                    [c, h, w]
                ),
            ));
        }
        if raw.classes != raw.dataset.classes() {
            return Err(top(
                "classes",
                format!("{}, but {} has {} classes", raw.classes, raw.dataset, raw.dataset.classes()),
            ));
        }
        let n = &raw.normalization;
        if n.mean.len() != c || n.std.len() != c {
            return Err(top(
                "normalization",
                format!("{} means and {} deviations for {c}-channel inputs", n.mean.len(), n.std.len()),
            ));
        }
        if let Some(s) = n.std.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            return Err(top("normalization", format!("deviation {s} is not a positive number")));
        }
        if let Some(m) = n.mean.iter().find(|m| !m.is_finite()) {
            return Err(top("normalization", format!("mean {m} is not finite")));
        }
        if let Some(p) = raw.ignore.iter().find(|p| p.is_empty()) {
            return Err(top("ignore", format!("{p:?}: an empty pattern")));
        }
        if raw.layers.is_empty() {
            return Err(top("layers", "no layers".into()));
        }
        let layers = parse_layers(path, "", &raw.layers)?;
        Ok(NetSpec {
            path: path.to_path_buf(),
            dataset: raw.dataset,
            data_dir: raw.data_dir,
            input: [c, h, w],
            classes: raw.classes,
            sign_zero: raw.sign_zero,
            normalization: Normalization { mean: raw.normalization.mean, std: raw.normalization.std },
            ignore: raw.ignore,
            layers,
            sha256: crate::fsio::sha256_hex(text.as_bytes()),
        })
    }
}

fn parse_layers(path: &Path, prefix: &str, tables: &[toml::Table]) -> Result<Vec<SpecLayer>> {
    tables.iter().enumerate().map(|(i, t)| parse_layer(path, &child(prefix, i), t)).collect()
}

fn parse_layer(path: &Path, at: &str, table: &toml::Table) -> Result<SpecLayer> {
    let named = table.get("name").and_then(|n| n.as_str()).map(|n| format!(" `{n}`")).unwrap_or_default();
    let err = |problem: String| Error::Import {
        path: path.to_path_buf(),
        layer: format!("layer {at}{named}"),
        problem,
    };
    let kind = match table.get("kind") {
        Some(toml::Value::String(k)) => k.as_str(),
        Some(other) => return Err(err(format!("`kind` must be a string, found {other}"))),
        None => return Err(err("has no `kind`".into())),
    };
    let Some((_, keys)) = KINDS.iter().find(|(k, _)| *k == kind) else {
        let kinds: Vec<&str> = KINDS.iter().map(|(k, _)| *k).collect();
        return Err(err(format!(
            "unknown layer kind `{kind}`: the layers that can be imported are those of the verification IR ({})",
            kinds.join(", ")
        )));
    };
    let err = |problem: String| Error::Import {
        path: path.to_path_buf(),
        layer: format!("layer {at}{named} ({kind})"),
        problem,
    };
    if let Some(key) = table.keys().find(|k| *k != "kind" && !keys.contains(&k.as_str())) {
        return Err(err(format!(
            "key `{key}` does not apply to a {kind} layer (its keys: {})",
            if keys.is_empty() { "none but `kind`".to_string() } else { keys.join(", ") }
        )));
    }
    let mut fields = table.clone();
    fields.remove("kind");
    let raw = RawLayer::deserialize(fields).map_err(|e| err(e.message().trim_end().to_string()))?;
    for (key, value, limit) in [
        ("out", raw.out, MAX_WIDTH),
        ("kernel", raw.kernel, MAX_WINDOW),
        ("stride", raw.stride, MAX_WINDOW),
        ("padding", raw.padding, MAX_WINDOW),
    ] {
        if let Some(v) = value.filter(|v| *v > limit) {
            return Err(err(format!("`{key}` = {v} exceeds {limit}, the largest lcr-verify takes")));
        }
    }
    let required = |value: Option<usize>, key: &str| -> Result<usize> {
        match value {
            Some(0) => Err(err(format!("`{key}` must be at least 1"))),
            Some(v) => Ok(v),
            None => Err(err(format!("needs `{key}`"))),
        }
    };
    let positive = |value: Option<usize>, default: usize, key: &str| -> Result<usize> {
        if value == Some(0) {
            Err(err(format!("`{key}` must be at least 1")))
        } else {
            Ok(value.unwrap_or(default))
        }
    };
    let name = || -> Result<String> {
        match &raw.name {
            Some(n) if !n.is_empty() => Ok(n.clone()),
            _ => Err(err("needs `name`, the prefix of its tensors' keys (e.g. \"layer1.0.conv1\")".into())),
        }
    };
    let binary = || -> Result<Option<WeightScaling>> {
        match raw.binary.as_deref() {
            None => Ok(None),
            Some("plain") => Ok(Some(WeightScaling::None)),
            Some("mean") => Ok(Some(WeightScaling::Mean)),
            Some("irnet") => Ok(Some(WeightScaling::Irnet)),
            Some(other) => Err(err(format!(
                "`binary = \"{other}\"`: the binarisations are \"plain\" (sign), \"mean\" (XNOR-Net's mean |w| per \
                 output channel) and \"irnet\" (IR-Net's standardised sign with a power-of-two scale)"
            ))),
        }
    };
    Ok(match kind {
        "dense" => SpecLayer::Dense {
            name: name()?,
            out: required(raw.out, "out")?,
            bias: raw.bias.unwrap_or(true),
            binary: binary()?,
        },
        "conv" => SpecLayer::Conv {
            name: name()?,
            out: required(raw.out, "out")?,
            kernel: required(raw.kernel, "kernel")?,
            stride: positive(raw.stride, 1, "stride")?,
            padding: raw.padding.unwrap_or(0),
            bias: raw.bias.unwrap_or(true),
            binary: binary()?,
        },
        "batchnorm" => {
            let eps = raw.eps.unwrap_or(BN_EPS);
            if eps != BN_EPS {
                return Err(err(format!(
                    "eps = {eps}: a run directory's BatchNorm divides by √(σ² + {BN_EPS}) (PyTorch's default)"
                )));
            }
            SpecLayer::BatchNorm { name: name()?, affine: raw.affine.unwrap_or(true) }
        }
        "sign" => SpecLayer::Sign,
        "hardtanh" => SpecLayer::HardTanh,
        "relu" => SpecLayer::Relu,
        "residual" => {
            let body = raw.body.as_deref().ok_or_else(|| err("needs `body`, a list of layers".into()))?;
            SpecLayer::Residual {
                body: parse_layers(path, &format!("{at}.body"), body)?,
                shortcut: parse_layers(
                    path,
                    &format!("{at}.shortcut"),
                    raw.shortcut.as_deref().unwrap_or(&[]),
                )?,
            }
        }
        "maxpool" => {
            let kernel = required(raw.kernel, "kernel")?;
            let padding = raw.padding.unwrap_or(0);
            if 2 * padding > kernel {
                return Err(err(format!("padding {padding} exceeds half the window {kernel}")));
            }
            SpecLayer::MaxPool { kernel, stride: positive(raw.stride, kernel, "stride")?, padding }
        }
        "avgpool" => {
            let kernel = required(raw.kernel, "kernel")?;
            SpecLayer::AvgPool { kernel, stride: positive(raw.stride, kernel, "stride")? }
        }
        "global-avgpool" => SpecLayer::GlobalAvgPool,
        _ => SpecLayer::Flatten,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "dataset = \"mnist\"\ninput = [1, 28, 28]\nclasses = 10\nsign_zero = \"zero\"\n\
                        normalization = { mean = [0.1307], std = [0.3081] }\n";

    fn parse(layers: &str) -> Result<NetSpec> {
        NetSpec::from_text(Path::new("net.toml"), &format!("{HEAD}{layers}"))
    }

    #[test]
    fn layers_parse_with_pytorch_defaults() {
        let spec = parse(
            "[[layers]]\nkind = \"flatten\"\n[[layers]]\nkind = \"dense\"\nname = \"fc\"\nout = 10\n\
             [[layers]]\nkind = \"residual\"\nbody = [ { kind = \"sign\" } ]\n",
        )
        .unwrap();
        assert_eq!(spec.layers[1], SpecLayer::Dense { name: "fc".into(), out: 10, bias: true, binary: None });
        assert_eq!(spec.layers[2], SpecLayer::Residual { body: vec![SpecLayer::Sign], shortcut: vec![] });
    }

    #[test]
    fn bad_layers_are_named() {
        let e = parse("[[layers]]\nkind = \"flatten\"\n[[layers]]\nkind = \"prelu\"\nname = \"act\"\n")
            .unwrap_err();
        assert!(e.to_string().contains("layer 1 `act`: unknown layer kind `prelu`"), "{e}");
        let e = parse("[[layers]]\nkind = \"dense\"\nname = \"fc\"\nout = 3\nstride = 2\n").unwrap_err();
        assert!(e.to_string().contains("layer 0 `fc` (dense): key `stride` does not apply"), "{e}");
        let e = parse("[[layers]]\nkind = \"conv\"\nname = \"c\"\nkernel = 3\n").unwrap_err();
        assert!(e.to_string().contains("needs `out`"), "{e}");
        let e =
            parse("[[layers]]\nkind = \"residual\"\nbody = [ { kind = \"dense\", out = 2 } ]\n").unwrap_err();
        assert!(e.to_string().contains("layer 0.body.0 (dense): needs `name`"), "{e}");
        let e = parse("[[layers]]\nkind = \"batchnorm\"\nname = \"bn\"\neps = 1e-3\n").unwrap_err();
        assert!(e.to_string().contains("eps = 0.001"), "{e}");
        let e = parse("[[layers]]\nkind = \"conv\"\nname = \"c\"\nout = 4\nkernel = 3\npadding = 99999999\n")
            .unwrap_err();
        assert!(e.to_string().contains("`padding` = 99999999 exceeds"), "{e}");
    }
}

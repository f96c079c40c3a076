//! The weights of a network to import: which tensors its spec needs, with their shapes, and the safetensors file
//! checked against them tensor by tensor (presence, type, shape, finite values, every tensor used).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors};

use super::layer::{SpecLayer, child, label};
use super::spec::NetSpec;
use crate::error::{Error, Result};
use crate::fsio;

/// One tensor a layer needs.
#[derive(Clone, Debug, PartialEq)]
pub struct Expected {
    /// Its key in the weights file.
    pub key: String,
    /// Its shape.
    pub shape: Vec<usize>,
    /// The layer it belongs to, as messages name it.
    pub layer: String,
}

/// The tensors every layer of `spec` needs, in layer order. Shapes follow from the input shape through every
/// layer; a layer that cannot take the shape it receives (a dense layer on an image, a window larger than the
/// map, branches of a residual block that disagree, a last layer that is not one value per class) is refused.
pub fn expected(spec: &NetSpec) -> Result<Vec<Expected>> {
    let mut walk = Walk { path: &spec.path, out: Vec::new() };
    let shape = walk.layers("", &spec.layers, spec.input.to_vec())?;
    if shape != [spec.classes] {
        return Err(Error::Import {
            path: spec.path.clone(),
            layer: "layers".into(),
            problem: format!(
                "the network ends with shape {shape:?}, not one value per class ([{}])",
                spec.classes
            ),
        });
    }
    Ok(walk.out)
}

struct Walk<'a> {
    path: &'a Path,
    out: Vec<Expected>,
}

impl Walk<'_> {
    fn layers(&mut self, prefix: &str, layers: &[SpecLayer], mut shape: Vec<usize>) -> Result<Vec<usize>> {
        for (i, layer) in layers.iter().enumerate() {
            shape = self.layer(&child(prefix, i), layer, shape)?;
        }
        Ok(shape)
    }

    /// Records that `layer` needs the tensor `key`; a key two layers claim is refused (their names collide).
    fn need(&mut self, layer: &str, key: String, shape: Vec<usize>) -> Result<()> {
        if let Some(other) = self.out.iter().find(|e| e.key == key) {
            return Err(Error::Import {
                path: self.path.to_path_buf(),
                layer: layer.to_string(),
                problem: format!(
                    "tensor `{key}` is already the tensor of {}: give the layers distinct names",
                    other.layer
                ),
            });
        }
        self.out.push(Expected { key, shape, layer: layer.to_string() });
        Ok(())
    }

    fn layer(&mut self, at: &str, layer: &SpecLayer, shape: Vec<usize>) -> Result<Vec<usize>> {
        let here = label(at, layer);
        let path = self.path;
        let err = |problem: String| Error::Import { path: path.to_path_buf(), layer: here.clone(), problem };
        let image = |shape: &[usize]| -> Result<[usize; 3]> {
            <[usize; 3]>::try_from(shape)
                .map_err(|_| err(format!("needs an image [c, h, w], receives {shape:?}")))
        };
        let window = |size: usize, pad: usize, k: usize, s: usize| -> Result<usize> {
            (size + 2 * pad).checked_sub(k).map(|d| d / s + 1).ok_or_else(|| {
                err(format!(
                    "its {k}×{k} window does not fit the {size}-pixel map (padding {pad}): input {shape:?}"
                ))
            })
        };
        Ok(match layer {
            SpecLayer::Dense { name, out, bias, .. } => {
                let &[d] = shape.as_slice() else {
                    return Err(err(format!(
                        "needs a flat input, receives {shape:?} (a flatten layer first?)"
                    )));
                };
                self.need(&here, format!("{name}.weight"), vec![*out, d])?;
                if *bias {
                    self.need(&here, format!("{name}.bias"), vec![*out])?;
                }
                vec![*out]
            }
            SpecLayer::Conv { name, out, kernel, stride, padding, bias, .. } => {
                let [c, h, w] = image(&shape)?;
                let (h2, w2) =
                    (window(h, *padding, *kernel, *stride)?, window(w, *padding, *kernel, *stride)?);
                self.need(&here, format!("{name}.weight"), vec![*out, c, *kernel, *kernel])?;
                if *bias {
                    self.need(&here, format!("{name}.bias"), vec![*out])?;
                }
                vec![*out, h2, w2]
            }
            SpecLayer::BatchNorm { name, affine } => {
                let features = shape[0];
                if *affine {
                    self.need(&here, format!("{name}.weight"), vec![features])?;
                    self.need(&here, format!("{name}.bias"), vec![features])?;
                }
                self.need(&here, format!("{name}.running_mean"), vec![features])?;
                self.need(&here, format!("{name}.running_var"), vec![features])?;
                shape
            }
            SpecLayer::Sign | SpecLayer::HardTanh | SpecLayer::Relu => shape,
            SpecLayer::Residual { body, shortcut } => {
                let main = self.layers(&format!("{at}.body"), body, shape.clone())?;
                let side = self.layers(&format!("{at}.shortcut"), shortcut, shape)?;
                if main != side {
                    return Err(err(format!("its body gives shape {main:?} but its shortcut {side:?}")));
                }
                main
            }
            SpecLayer::MaxPool { kernel, stride, padding } => {
                let [c, h, w] = image(&shape)?;
                vec![c, window(h, *padding, *kernel, *stride)?, window(w, *padding, *kernel, *stride)?]
            }
            SpecLayer::AvgPool { kernel, stride } => {
                let [c, h, w] = image(&shape)?;
                vec![c, window(h, 0, *kernel, *stride)?, window(w, 0, *kernel, *stride)?]
            }
            SpecLayer::GlobalAvgPool => vec![image(&shape)?[0]],
            SpecLayer::Flatten => vec![
                shape
                    .iter()
                    .try_fold(1usize, |a, &d| a.checked_mul(d))
                    .ok_or_else(|| err(format!("the size of its input {shape:?} overflows")))?,
            ],
        })
    }
}

/// The tensors of a weights file that a spec uses, as `f32` values with their shapes, by key.
#[derive(Clone, Debug, PartialEq)]
pub struct Weights {
    /// Key → (shape, row-major values).
    pub tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
    /// Keys in the file that the spec's `ignore` patterns leave out.
    pub ignored: Vec<String>,
    /// SHA-256 of the file's bytes as read.
    pub sha256: String,
}

/// Reads the safetensors file `path` and checks it against `expected`: every expected tensor present, of type
/// F32 (or F64 holding values that are exactly `f32`s, the type of model files), of the expected shape, with
/// finite values and non-negative running variances; every other tensor matched by an `ignore` pattern.
pub fn read(path: &Path, expected: &[Expected], ignore: &[String]) -> Result<Weights> {
    if !fsio::exists(path)? {
        return Err(Error::Missing { path: path.to_path_buf(), what: "weights file" });
    }
    let bytes = fsio::read(path)?;
    let st = SafeTensors::deserialize(&bytes)
        .map_err(|e| Error::format(path, format!("not a valid safetensors file: {e}")))?;
    let err = |layer: &str, problem: String| Error::Import {
        path: path.to_path_buf(),
        layer: layer.to_string(),
        problem,
    };
    let mut tensors = BTreeMap::new();
    for e in expected {
        let key = &e.key;
        let Ok(view) = st.tensor(key) else {
            return Err(err(
                &e.layer,
                format!("tensor `{key}` (shape {:?}) is missing from the weights", e.shape),
            ));
        };
        if view.shape() != e.shape {
            return Err(err(
                &e.layer,
                format!("tensor `{key}` has shape {:?}, the spec needs {:?}", view.shape(), e.shape),
            ));
        }
        let values: Vec<f32> = match view.dtype() {
            Dtype::F32 => {
                view.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
            }
            Dtype::F64 => {
                let wide: Vec<f64> = view
                    .data()
                    .chunks_exact(8)
                    .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                    .collect();
                if let Some(v) = wide.iter().find(|v| v.is_finite() && f64::from(**v as f32) != **v) {
                    return Err(err(
                        &e.layer,
                        format!(
                            "tensor `{key}` is F64 and holds {v:e}, which f32 (the type of model files) cannot hold \
                             exactly; convert the weights to float32 first"
                        ),
                    ));
                }
                wide.iter().map(|v| *v as f32).collect()
            }
            other => {
                return Err(err(
                    &e.layer,
                    format!("tensor `{key}` has type {other:?}; the spec's tensors must be F32 (or F64)"),
                ));
            }
        };
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(err(
                &e.layer,
                format!("tensor `{key}` holds a non-finite value ({}) at index {i}", values[i]),
            ));
        }
        if key.ends_with(".running_var")
            && let Some(v) = values.iter().find(|v| **v < 0.0)
        {
            return Err(err(&e.layer, format!("tensor `{key}` holds a negative running variance {v}")));
        }
        tensors.insert(key.clone(), (e.shape.clone(), values));
    }
    let mut ignored = Vec::new();
    let mut extra = Vec::new();
    for name in st.names() {
        if tensors.contains_key(name) {
            continue;
        }
        if ignore.iter().any(|p| glob(p, name)) {
            ignored.push(name.to_string());
        } else {
            extra.push(name.to_string());
        }
    }
    ignored.sort();
    extra.sort();
    if let Some(first) = extra.first() {
        let owners: BTreeSet<&str> = expected.iter().map(|e| e.layer.as_str()).collect();
        let owner = first.rsplit_once('.').and_then(|(prefix, _)| {
            owners.iter().find(|l| l.contains(&format!("`{prefix}`"))).map(|l| l.to_string())
        });
        let list = extra.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ");
        let problem = match owner {
            Some(_) => format!(
                "tensor `{first}` is not one this layer uses (all unused tensors: {list}); list unused tensors under \
                 `ignore` in the spec if they are not part of the function"
            ),
            None => format!(
                "no layer of the spec uses the tensor(s) {list}; list them under `ignore` if they are not part of \
                 the function"
            ),
        };
        return Err(err(owner.as_deref().unwrap_or("weights"), problem));
    }
    Ok(Weights { tensors, ignored, sha256: fsio::sha256_hex(&bytes) })
}

/// Whether `name` matches `pattern`, in which `*` stands for any run of characters (none included).
pub fn glob(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, rest)) => {
            let Some(tail) = name.strip_prefix(head) else { return false };
            (0..=tail.len()).filter(|&i| tail.is_char_boundary(i)).any(|i| glob(rest, &tail[i..]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_patterns() {
        assert!(glob("*.num_batches_tracked", "layer1.0.bn1.num_batches_tracked"));
        assert!(glob("bn1.num_batches_tracked", "bn1.num_batches_tracked"));
        assert!(!glob("bn1.num_batches_tracked", "bn2.num_batches_tracked"));
        assert!(glob("layer*.bn*.num_*", "layer2.1.bn2.num_batches_tracked"));
        assert!(!glob("*.weight", "conv1.bias"));
        assert!(glob("*", ""));
    }
}

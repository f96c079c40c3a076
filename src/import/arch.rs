//! Reading a spec as one of lcr-verify's architectures.
//!
//! A run directory holds a network of one of the three architectures training builds (`mlp`, `cnn`, `resnet`;
//! see [`crate::model`]), because every stage rebuilds the candle model from `model.safetensors` and its recorded
//! [`ModelSpec`]. So an import reads the architecture's settings off the spec (widths, units per stage, which
//! ends are real, the weight scaling), builds the layer list that architecture has, and compares the two layer by
//! layer: the first layer that differs is refused, with the layer the architecture has there. A match gives the
//! renaming of every tensor into the architecture's own keys.

use super::layer::{SpecLayer, child, label};
use super::spec::NetSpec;
use crate::error::{Error, Result};
use crate::model::{Arch, ModelSpec, WeightScaling};
use crate::train::{RawConfig, TrainConfig};

/// A spec read as one of the architectures.
#[derive(Clone, Debug, PartialEq)]
pub struct Mapping {
    /// The configuration that describes the network (its training keys keep their defaults: nothing was trained).
    pub config: TrainConfig,
    /// The architecture, as the model file records it.
    pub model: ModelSpec,
    /// (key in the weights file, key in the model file), in layer order.
    pub renames: Vec<(String, String)>,
    /// Model keys with no tensor in the weights file: γ and β of BatchNorm layers without `affine`, filled with
    /// 1 and 0.
    pub constants: Vec<(String, f32)>,
}

/// Reads `spec` as one of the architectures (see the module documentation).
pub fn map(spec: &NetSpec) -> Result<Mapping> {
    refuse_unused_kinds(spec, "", &spec.layers)?;
    let config = infer(spec, &spec.layers)?;
    let model = config.model_spec();
    let template = template(&model);
    let mut m = Mapping { config, model, renames: Vec::new(), constants: Vec::new() };
    compare(spec, "the spec", &positions("", &spec.layers, true), &template, &mut m)?;
    Ok(m)
}

/// The layers with their positions; with `top`, every flatten that receives a flat input is left out (the
/// identity: PyTorch's `view` after a global pooling).
fn positions<'a>(prefix: &str, layers: &'a [SpecLayer], top: bool) -> Vec<(String, &'a SpecLayer)> {
    let mut flat = false;
    let mut out = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        match l {
            SpecLayer::Flatten if flat && top => continue,
            SpecLayer::Flatten | SpecLayer::Dense { .. } | SpecLayer::GlobalAvgPool => flat = true,
            _ => {}
        }
        out.push((child(prefix, i), l));
    }
    out
}

fn refuse_unused_kinds(spec: &NetSpec, prefix: &str, layers: &[SpecLayer]) -> Result<()> {
    for (i, l) in layers.iter().enumerate() {
        let at = child(prefix, i);
        match l {
            SpecLayer::Relu | SpecLayer::AvgPool { .. } => {
                return Err(Error::Import {
                    path: spec.path.clone(),
                    layer: label(&at, l),
                    problem: format!(
                        "the verification IR has {} layers, but a run directory holds one of lcr-verify's \
                         architectures (mlp, cnn, resnet), and none of them has one",
                        l.kind()
                    ),
                });
            }
            SpecLayer::Residual { body, shortcut } => {
                refuse_unused_kinds(spec, &format!("{at}.body"), body)?;
                refuse_unused_kinds(spec, &format!("{at}.shortcut"), shortcut)?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// Every layer with weights, depth first, in order.
fn weighted(layers: &[SpecLayer], out: &mut Vec<SpecLayer>) {
    for l in layers {
        match l {
            SpecLayer::Dense { .. } | SpecLayer::Conv { .. } => out.push(l.clone()),
            SpecLayer::Residual { body, shortcut } => {
                weighted(body, out);
                weighted(shortcut, out);
            }
            _ => {}
        }
    }
}

fn binary_of(l: &SpecLayer) -> Option<WeightScaling> {
    match l {
        SpecLayer::Dense { binary, .. } | SpecLayer::Conv { binary, .. } => *binary,
        _ => None,
    }
}

fn contains_sign(layers: &[SpecLayer]) -> bool {
    layers.iter().any(|l| match l {
        SpecLayer::Sign => true,
        SpecLayer::Residual { body, shortcut } => contains_sign(body) || contains_sign(shortcut),
        _ => false,
    })
}

/// The configuration whose architecture the spec would be: settings read off the layers, checked as training
/// checks them.
fn infer(spec: &NetSpec, layers: &[SpecLayer]) -> Result<TrainConfig> {
    let err = |problem: String| Error::Import { path: spec.path.clone(), layer: "layers".into(), problem };
    if !contains_sign(layers) {
        return Err(
            err("no sign layer: a run directory holds a binary network with sign activations".into()),
        );
    }
    let mut params = Vec::new();
    weighted(layers, &mut params);
    let scalings: Vec<WeightScaling> = params.iter().filter_map(binary_of).collect();
    if let Some(w) = scalings.iter().find(|w| **w != scalings[0]) {
        return Err(err(format!(
            "binary layers scale their weights in different ways ({} and {}); a run directory has one scaling for \
             all of them",
            scalings[0].name(),
            w.name()
        )));
    }
    let arch = if layers.iter().any(|l| matches!(l, SpecLayer::Residual { .. })) {
        Arch::Resnet
    } else if params.iter().any(|l| matches!(l, SpecLayer::Conv { .. })) {
        Arch::Cnn
    } else {
        Arch::Mlp
    };
    let out = |l: &SpecLayer| match l {
        SpecLayer::Dense { out, .. } | SpecLayer::Conv { out, .. } => *out,
        _ => 0,
    };
    let (widths, blocks) = match arch {
        Arch::Mlp => (params.iter().take(params.len().saturating_sub(1)).map(out).collect(), None),
        Arch::Cnn => (params.iter().filter(|l| matches!(l, SpecLayer::Conv { .. })).map(out).collect(), None),
        Arch::Resnet => {
            let mut widths = Vec::new();
            let mut first_stage = 0;
            for l in layers {
                let SpecLayer::Residual { body, .. } = l else { continue };
                let Some(SpecLayer::Conv { out, stride, .. }) =
                    body.iter().find(|b| matches!(b, SpecLayer::Conv { .. }))
                else {
                    continue;
                };
                if widths.is_empty() || *stride != 1 {
                    widths.push(*out);
                }
                if widths.len() == 1 {
                    first_stage += 1;
                }
            }
            (widths, Some(first_stage))
        }
    };
    let raw = RawConfig {
        dataset: Some(spec.dataset),
        data_dir: spec.data_dir.clone(),
        arch: Some(arch),
        widths: Some(widths),
        blocks,
        weight_scaling: Some(scalings.first().copied().unwrap_or(WeightScaling::None)),
        sign_zero: Some(spec.sign_zero),
        real_first: Some(params.first().is_none_or(|l| binary_of(l).is_none())),
        real_last: Some(params.last().is_none_or(|l| binary_of(l).is_none())),
        ..RawConfig::default()
    };
    raw.check().map_err(|e| err(format!("read as lcr-verify's {} architecture: {e}", arch.name())))
}

fn dense(name: &str, out: usize, bias: bool, binary: Option<WeightScaling>) -> SpecLayer {
    SpecLayer::Dense { name: name.into(), out, bias, binary }
}

fn conv(name: &str, out: usize, kernel: usize, stride: usize, binary: Option<WeightScaling>) -> SpecLayer {
    SpecLayer::Conv { name: name.into(), out, kernel, stride, padding: kernel / 2, bias: false, binary }
}

fn bn(name: &str) -> SpecLayer {
    SpecLayer::BatchNorm { name: name.into(), affine: true }
}

/// The layers of the architecture `m`, named with its own keys (the layers [`crate::export`] writes).
pub fn template(m: &ModelSpec) -> Vec<SpecLayer> {
    let bin = |binary: bool| binary.then_some(m.weight_scaling);
    let w = &m.widths;
    let pool = SpecLayer::MaxPool { kernel: 2, stride: 2, padding: 0 };
    let mut t = Vec::new();
    match m.arch {
        Arch::Mlp => {
            t.extend([SpecLayer::Flatten, dense("fc0", w[0], false, bin(!m.real_first)), bn("bn0")]);
            for (k, &width) in w.iter().enumerate().skip(1) {
                t.extend([
                    SpecLayer::Sign,
                    dense(&format!("fc{k}"), width, false, bin(true)),
                    bn(&format!("bn{k}")),
                ]);
            }
            t.extend([SpecLayer::Sign, dense("head", m.classes, true, bin(!m.real_last))]);
        }
        Arch::Cnn => {
            t.extend([conv("conv0", w[0], 3, 1, bin(!m.real_first)), pool.clone(), bn("bn0")]);
            for (k, &width) in w.iter().enumerate().skip(1) {
                let c = conv(&format!("conv{k}"), width, 3, 1, bin(true));
                t.extend([SpecLayer::Sign, c, pool.clone(), bn(&format!("bn{k}"))]);
            }
            t.extend([
                SpecLayer::Flatten,
                SpecLayer::Sign,
                dense("head", m.classes, true, bin(!m.real_last)),
            ]);
        }
        Arch::Resnet => {
            t.extend([conv("stem.conv", w[0], 3, 1, bin(!m.real_first)), bn("stem.bn"), SpecLayer::HardTanh]);
            let mut channels = w[0];
            for (s, &width) in w.iter().enumerate() {
                for u in 0..m.blocks {
                    let name = format!("s{s}.u{u}");
                    let stride = if s > 0 && u == 0 { 2 } else { 1 };
                    let body = vec![
                        SpecLayer::Sign,
                        conv(&format!("{name}.conv"), width, 3, stride, bin(true)),
                        bn(&format!("{name}.bn")),
                    ];
                    let shortcut = if stride != 1 || channels != width {
                        vec![
                            conv(&format!("{name}.down.conv"), width, 1, stride, None),
                            bn(&format!("{name}.down.bn")),
                        ]
                    } else {
                        Vec::new()
                    };
                    t.extend([SpecLayer::Residual { body, shortcut }, SpecLayer::HardTanh]);
                    channels = width;
                }
            }
            t.extend([
                SpecLayer::GlobalAvgPool,
                bn("head_bn"),
                dense("head", m.classes, true, bin(!m.real_last)),
            ]);
        }
    }
    t
}

/// The layer as a spec would write it, without its name.
fn describe(l: &SpecLayer) -> String {
    let binary = |b: &Option<WeightScaling>| match b {
        None => String::new(),
        Some(WeightScaling::None) => ", binary = \"plain\"".into(),
        Some(s) => format!(", binary = \"{}\"", s.name()),
    };
    let fields = match l {
        SpecLayer::Dense { out, bias, binary: b, .. } => format!(", out = {out}, bias = {bias}{}", binary(b)),
        SpecLayer::Conv { out, kernel, stride, padding, bias, binary: b, .. } => format!(
            ", out = {out}, kernel = {kernel}, stride = {stride}, padding = {padding}, bias = {bias}{}",
            binary(b)
        ),
        SpecLayer::MaxPool { kernel, stride, padding } => {
            format!(", kernel = {kernel}, stride = {stride}, padding = {padding}")
        }
        SpecLayer::AvgPool { kernel, stride } => format!(", kernel = {kernel}, stride = {stride}"),
        SpecLayer::Residual { body, shortcut } => {
            format!(" (a body of {} layers, a shortcut of {})", body.len(), shortcut.len())
        }
        _ => String::new(),
    };
    format!("{{ kind = \"{}\"{fields} }}", l.kind())
}

/// `l` without what may differ between a spec and the architecture: names, and whether BatchNorm stores γ, β.
fn bare(l: &SpecLayer) -> SpecLayer {
    let mut l = l.clone();
    match &mut l {
        SpecLayer::Dense { name, .. } | SpecLayer::Conv { name, .. } => name.clear(),
        SpecLayer::BatchNorm { name, affine } => {
            name.clear();
            *affine = true;
        }
        _ => {}
    }
    l
}

fn summary(m: &ModelSpec) -> String {
    let units =
        if m.arch == Arch::Resnet { format!(", {} units per stage", m.blocks) } else { String::new() };
    format!(
        "lcr-verify's {} architecture (widths {:?}{units}, {} first layer, {} classifier, {})",
        m.arch.name(),
        m.widths,
        if m.real_first { "real" } else { "binary" },
        if m.real_last { "real" } else { "binary" },
        match m.weight_scaling {
            WeightScaling::None => "plain sign weights",
            WeightScaling::Mean => "XNOR-Net weight scaling",
            WeightScaling::Irnet => "IR-Net weight scaling",
        }
    )
}

/// Compares the user's layers (with their positions) with the architecture's; `owner` names the list in messages
/// when it is empty.
fn compare(
    spec: &NetSpec,
    owner: &str,
    user: &[(String, &SpecLayer)],
    arch: &[SpecLayer],
    m: &mut Mapping,
) -> Result<()> {
    let reads_as = summary(&m.model);
    let err = |layer: String, problem: String| Error::Import {
        path: spec.path.clone(),
        layer,
        problem: format!("{problem}; the spec reads as {reads_as}"),
    };
    for i in 0..user.len().max(arch.len()) {
        let ((at, u), a) = match (user.get(i), arch.get(i)) {
            (Some(u), Some(a)) => (u, a),
            (Some((at, u)), None) => {
                return Err(err(label(at, u), "the architecture has no more layers here".into()));
            }
            (None, Some(a)) => {
                let last = user.last().map_or(owner.to_string(), |(at, l)| label(at, l));
                return Err(err(
                    last,
                    format!("the layers end here, but the architecture goes on with {}", describe(a)),
                ));
            }
            (None, None) => unreachable!("i is below the longer length"),
        };
        if let (SpecLayer::Residual { body, shortcut }, SpecLayer::Residual { body: ab, shortcut: asc }) =
            (u, a)
        {
            let here = label(at, u);
            compare(
                spec,
                &format!("{here}, its body"),
                &positions(&format!("{at}.body"), body, false),
                ab,
                m,
            )?;
            let side = positions(&format!("{at}.shortcut"), shortcut, false);
            compare(spec, &format!("{here}, its shortcut"), &side, asc, m)?;
            continue;
        }
        if bare(u) != bare(a) {
            return Err(err(label(at, u), format!("the architecture has {} here", describe(a))));
        }
        rename(u, a, m);
    }
    Ok(())
}

fn rename(user: &SpecLayer, arch: &SpecLayer, m: &mut Mapping) {
    let (Some(from), Some(to)) = (user.name(), arch.name()) else { return };
    let mut pair = |a: &str, b: &str| m.renames.push((format!("{from}.{a}"), format!("{to}.{b}")));
    match user {
        SpecLayer::Dense { bias, .. } | SpecLayer::Conv { bias, .. } => {
            pair("weight", "weight");
            if *bias {
                pair("bias", "bias");
            }
        }
        SpecLayer::BatchNorm { affine, .. } => {
            if *affine {
                pair("weight", "gamma");
                pair("bias", "beta");
            }
            pair("running_mean", "running_mean");
            pair("running_var", "running_var");
            if !affine {
                m.constants.push((format!("{to}.gamma"), 1.0));
                m.constants.push((format!("{to}.beta"), 0.0));
            }
        }
        _ => {}
    }
}

//! Export of a verification [`Net`] to an ONNX graph (and, in [`vnnlib`], of robustness questions about it to
//! VNN-LIB), so that other verifiers and runtimes can be run on the very function lcr-verify certifies.
//!
//! The graph computes one of the three functions in IEEE binary64 (`double`) with standard operators of
//! operator set 17: `MatMul` and `Add` for dense layers, `Mul` and `Add` for the folded BatchNorm, `Clip(−1, 1)`
//! for hardtanh, `Sign` for the deployed sign (as `Sign(Sign(x) + 0.5)` when sign(0) = +1, the IR's default:
//! ONNX's `Sign` maps 0 to 0), `Relu`, `MaxPool`, `Flatten`, `ReduceMean` for global average pooling, and `Add`
//! for residual blocks. Convolutions and average pooling are written as shifted `Slice`s of the padded input
//! (an im2col) followed by a `MatMul` or a `Sum`, because common runtimes (ONNX Runtime among them) have no
//! `double` kernel for `Conv` or `AveragePool`. The input is the network's normalised input
//! ((p/255 − mean)/std per channel, CHW) with a free batch dimension `N`; the output `logits` is `[N, classes]`.
//! The same sums in another order: the logits agree with [`Net::forward`] to rounding
//! (`tests/onnx.rs` runs the graph in ONNX Runtime where it is installed).

pub mod proto;
pub mod stage;
pub mod vnnlib;

use prost::Message;

use crate::error::{Error, Result};
use crate::ir::{Function, Layer, Net, SignZero, layer_path};
use proto::{
    AttributeProto, Dimension, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto,
    TensorProto, TensorShapeProto, TensorTypeProto, TypeProto, ValueInfoProto, attribute_type, data_type,
};

/// The ONNX operator set the graph uses.
pub const OPSET: i64 = 17;
/// The ONNX IR version written (the one of operator set 17).
pub const IR_VERSION: i64 = 8;
/// Name of the graph input.
pub const INPUT: &str = "input";
/// Name of the graph output.
pub const OUTPUT: &str = "logits";

/// Builds nodes and initializers with fresh value names.
struct Builder {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    next: usize,
}

fn ints(name: &str, values: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        ints: values.to_vec(),
        r#type: attribute_type::INTS,
        ..Default::default()
    }
}

fn int(name: &str, value: i64) -> AttributeProto {
    AttributeProto { name: name.into(), i: value, r#type: attribute_type::INT, ..Default::default() }
}

fn dims(shape: &[usize]) -> Vec<i64> {
    shape.iter().map(|&d| d as i64).collect()
}

impl Builder {
    fn fresh(&mut self, stem: &str) -> String {
        self.next += 1;
        format!("{stem}_{}", self.next)
    }

    fn node(&mut self, op: &str, inputs: &[&str], attribute: Vec<AttributeProto>) -> String {
        let out = self.fresh(&op.to_lowercase());
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![out.clone()],
            name: format!("{out}_node"),
            op_type: op.into(),
            attribute,
        });
        out
    }

    fn doubles(&mut self, stem: &str, shape: &[usize], data: &[f64]) -> String {
        debug_assert_eq!(shape.iter().product::<usize>(), data.len());
        let name = self.fresh(stem);
        self.initializers.push(TensorProto {
            dims: dims(shape),
            data_type: data_type::DOUBLE,
            name: name.clone(),
            raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        });
        name
    }

    fn int64s(&mut self, stem: &str, data: &[i64]) -> String {
        let name = self.fresh(stem);
        self.initializers.push(TensorProto {
            dims: vec![data.len() as i64],
            data_type: data_type::INT64,
            name: name.clone(),
            raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        });
        name
    }

    fn scalar(&mut self, stem: &str, value: f64) -> String {
        self.doubles(stem, &[], &[value])
    }

    /// `x[:, :, a::s, b::s]` cut to `oh × ow` (the window offset (a, b) of every output position).
    fn window(&mut self, x: &str, a: usize, b: usize, stride: usize, oh: usize, ow: usize) -> String {
        let starts = self.int64s("starts", &[a as i64, b as i64]);
        let ends =
            self.int64s("ends", &[(a + stride * (oh - 1) + 1) as i64, (b + stride * (ow - 1) + 1) as i64]);
        let axes = self.int64s("axes", &[2, 3]);
        let steps = self.int64s("steps", &[stride as i64, stride as i64]);
        self.node("Slice", &[x, &starts, &ends, &axes, &steps], vec![])
    }

    fn clip(&mut self, x: &str) -> String {
        let (lo, hi) = (self.scalar("minus_one", -1.0), self.scalar("one", 1.0));
        self.node("Clip", &[x, &lo, &hi], vec![])
    }

    /// One layer on value `x` of per-sample shape `shape`; returns the output value and shape.
    fn layer(
        &mut self,
        path: &str,
        layer: &Layer,
        x: &str,
        shape: &[usize],
        f: Function,
        sign_zero: SignZero,
    ) -> Result<(String, Vec<usize>)> {
        let out_shape = crate::ir::validate::layer_output(path, layer, shape, true)?;
        let y = match layer {
            Layer::Flatten => self.node("Flatten", &[x], vec![int("axis", 1)]),
            Layer::Dense { bias, .. } => {
                let w = layer.dense_weight(f).expect("a dense layer has a weight");
                let (rows, cols) = (w.nrows(), w.ncols());
                // Wᵀ row-major [in, out] is W column-major: the matrix's own storage order.
                let wt = self.doubles("weight", &[cols, rows], w.as_slice());
                let y = self.node("MatMul", &[x, &wt], vec![]);
                match bias {
                    Some(b) => {
                        let b = self.doubles("bias", &[rows], b.as_slice());
                        self.node("Add", &[&y, &b], vec![])
                    }
                    None => y,
                }
            }
            Layer::Conv2d { bias, stride, padding, .. } => {
                let k = layer.conv_kernel(f).expect("a convolution has a kernel");
                let [o, c, kh, kw] = k.dims();
                let (oh, ow) = (out_shape[1], out_shape[2]);
                let padded = if *padding > 0 {
                    let p = *padding as i64;
                    let pads = self.int64s("pads", &[0, 0, p, p, 0, 0, p, p]);
                    self.node("Pad", &[x, &pads], vec![])
                } else {
                    x.to_string()
                };
                let mut cols = Vec::with_capacity(kh * kw);
                for a in 0..kh {
                    for b in 0..kw {
                        cols.push(self.window(&padded, a, b, *stride, oh, ow));
                    }
                }
                let refs: Vec<&str> = cols.iter().map(String::as_str).collect();
                // [N, kh·kw·c, oh, ow]: channel (a·kw + b)·c + ch holds input channel ch at offset (a, b).
                let stacked = self.node("Concat", &refs, vec![int("axis", 1)]);
                let flat_shape = self.int64s("shape", &[0, (kh * kw * c) as i64, -1]);
                let flat = self.node("Reshape", &[&stacked, &flat_shape], vec![]);
                let rows = self.node("Transpose", &[&flat], vec![ints("perm", &[0, 2, 1])]);
                let mut m = vec![0.0; kh * kw * c * o];
                for a in 0..kh {
                    for b in 0..kw {
                        for ch in 0..c {
                            for out in 0..o {
                                m[((a * kw + b) * c + ch) * o + out] = k.at(out, ch, a, b);
                            }
                        }
                    }
                }
                let m = self.doubles("kernel", &[kh * kw * c, o], &m);
                let prod = self.node("MatMul", &[&rows, &m], vec![]);
                let chw = self.node("Transpose", &[&prod], vec![ints("perm", &[0, 2, 1])]);
                let shape4 = self.int64s("shape", &[0, o as i64, oh as i64, ow as i64]);
                let y = self.node("Reshape", &[&chw, &shape4], vec![]);
                match bias {
                    Some(b) => {
                        let b = self.doubles("bias", &[o, 1, 1], b);
                        self.node("Add", &[&y, &b], vec![])
                    }
                    None => y,
                }
            }
            Layer::Affine { scale, shift } => {
                let at = if shape.len() == 1 { vec![scale.len()] } else { vec![scale.len(), 1, 1] };
                let s = self.doubles("scale", &at, scale);
                let t = self.doubles("shift", &at, shift);
                let y = self.node("Mul", &[x, &s], vec![]);
                self.node("Add", &[&y, &t], vec![])
            }
            Layer::Sign => match (f, sign_zero) {
                (Function::Deployed, SignZero::Zero) => self.node("Sign", &[x], vec![]),
                (Function::Deployed, SignZero::PlusOne) => {
                    // sign(x) ∈ {−1, 0, 1}; adding 1/2 and taking the sign again sends 0 to +1.
                    let s = self.node("Sign", &[x], vec![]);
                    let half = self.scalar("half", 0.5);
                    let shifted = self.node("Add", &[&s, &half], vec![]);
                    self.node("Sign", &[&shifted], vec![])
                }
                _ => self.clip(x),
            },
            Layer::HardTanh => self.clip(x),
            Layer::Relu => self.node("Relu", &[x], vec![]),
            Layer::Residual { body, shortcut } => {
                let (b, _) = self.layers(&format!("{path}.body"), body, x, shape, f, sign_zero)?;
                let (s, _) = self.layers(&format!("{path}.shortcut"), shortcut, x, shape, f, sign_zero)?;
                self.node("Add", &[&b, &s], vec![])
            }
            Layer::MaxPool { kernel, stride, padding } => {
                let (k, s, p) = (*kernel as i64, *stride as i64, *padding as i64);
                self.node(
                    "MaxPool",
                    &[x],
                    vec![
                        ints("kernel_shape", &[k, k]),
                        ints("strides", &[s, s]),
                        ints("pads", &[p, p, p, p]),
                    ],
                )
            }
            Layer::AvgPool { kernel, stride } => {
                let (oh, ow) = (out_shape[1], out_shape[2]);
                let mut parts = Vec::with_capacity(kernel * kernel);
                for a in 0..*kernel {
                    for b in 0..*kernel {
                        parts.push(self.window(x, a, b, *stride, oh, ow));
                    }
                }
                let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
                let sum = self.node("Sum", &refs, vec![]);
                let count = self.scalar("count", (kernel * kernel) as f64);
                self.node("Div", &[&sum, &count], vec![])
            }
            Layer::GlobalAvgPool => {
                self.node("ReduceMean", &[x], vec![ints("axes", &[2, 3]), int("keepdims", 0)])
            }
        };
        Ok((y, out_shape))
    }

    fn layers(
        &mut self,
        prefix: &str,
        layers: &[Layer],
        x: &str,
        shape: &[usize],
        f: Function,
        sign_zero: SignZero,
    ) -> Result<(String, Vec<usize>)> {
        let (mut x, mut shape) = (x.to_string(), shape.to_vec());
        for (i, layer) in layers.iter().enumerate() {
            (x, shape) = self.layer(&layer_path(prefix, i), layer, &x, &shape, f, sign_zero)?;
        }
        Ok((x, shape))
    }
}

fn value_info(name: &str, shape: &[usize]) -> ValueInfoProto {
    let mut dim = vec![Dimension { dim_value: None, dim_param: Some("N".into()) }];
    dim.extend(shape.iter().map(|&d| Dimension { dim_value: Some(d as i64), dim_param: None }));
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TensorTypeProto {
                elem_type: data_type::DOUBLE,
                shape: Some(TensorShapeProto { dim }),
            }),
        }),
    }
}

/// The ONNX model of `net`'s function `f`, encoded; `metadata` lands in the model's `metadata_props`.
pub fn to_onnx(net: &Net, f: Function, metadata: &[(String, String)]) -> Result<Vec<u8>> {
    net.validate()?;
    let mut b = Builder { nodes: Vec::new(), initializers: Vec::new(), next: 0 };
    let (last, shape) = b.layers("", &net.layers, INPUT, &net.input_shape, f, net.sign_zero)?;
    if shape != [net.classes] {
        return Err(Error::not_applicable(
            "onnx-export",
            format!("the network ends in shape {shape:?}, not [{}]", net.classes),
        ));
    }
    // Name the last value `logits` with an Identity, so the output's name never depends on the layers.
    b.nodes.push(NodeProto {
        input: vec![last],
        output: vec![OUTPUT.into()],
        name: "output_node".into(),
        op_type: "Identity".into(),
        attribute: vec![],
    });
    let graph = GraphProto {
        node: b.nodes,
        name: format!("lcr_verify_{}", f.name()),
        initializer: b.initializers,
        doc_string: format!("The {} function of a network exported by lcr-verify.", f.name()),
        input: vec![value_info(INPUT, &net.input_shape)],
        output: vec![value_info(OUTPUT, &[net.classes])],
    };
    let model = ModelProto {
        ir_version: IR_VERSION,
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: OPSET }],
        producer_name: "lcr-verify".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        doc_string: String::new(),
        graph: Some(graph),
        metadata_props: metadata
            .iter()
            .map(|(k, v)| StringStringEntryProto { key: k.clone(), value: v.clone() })
            .collect(),
    };
    Ok(model.encode_to_vec())
}

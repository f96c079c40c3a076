//! The deployed logits of a run's network through the IR on the first N test images, written beside the inputs
//! so that ONNX Runtime can be compared against them (`scripts/onnx_parity.py`).
//!
//! ```text
//! cargo run --release --example onnx_parity -- RUN_DIR N OUT_DIR
//! ```
//! Writes `OUT_DIR/x.bin` (N × input, f64 little-endian, normalised as the model sees them),
//! `OUT_DIR/ir.bin` (N × classes) and `OUT_DIR/shape.txt` (N and the input shape).

use candle_core::Device;
use lcr_verify::ir::Function;
use lcr_verify::run_dir::RunDir;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [run, n, out] = &args[..] else { anyhow::bail!("usage: onnx_parity RUN_DIR N OUT_DIR") };
    let run = RunDir::new(run);
    let (model, meta) = run.load_model(&Device::Cpu)?;
    let net = lcr_verify::export::export(&model)?;
    let data = run.load_dataset(&meta, None)?;
    let n = n.parse::<usize>()?.min(data.test.len());
    let idx: Vec<usize> = (0..n).collect();
    let x: Vec<f64> = meta.normalization.values(&data.test, &idx)?.iter().map(|&v| v as f64).collect();
    let d = net.input_len();
    let mut logits = Vec::with_capacity(n * net.classes);
    for k in 0..n {
        logits.extend(net.forward(&x[k * d..(k + 1) * d], Function::Deployed)?);
    }
    let out = std::path::Path::new(out);
    std::fs::create_dir_all(out)?;
    let bytes = |v: &[f64]| v.iter().flat_map(|f| f.to_le_bytes()).collect::<Vec<u8>>();
    std::fs::write(out.join("x.bin"), bytes(&x))?;
    std::fs::write(out.join("ir.bin"), bytes(&logits))?;
    let shape: Vec<String> =
        std::iter::once(n).chain(net.input_shape.iter().copied()).map(|s| s.to_string()).collect();
    std::fs::write(out.join("shape.txt"), shape.join(" ") + "\n")?;
    Ok(())
}

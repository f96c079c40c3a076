//! Gradient-ascent lower bounds of a trained run's surrogate (ℓ∞ margins) under given options, against the
//! sampled gradients on the same sample: a tuning aid.
//!
//! ```text
//! cargo run --release --example ascent_probe -- RUN_DIR [SAMPLES] [STARTS] [STEPS] [STEP] [TAU0] [TAU1]
//! ```

use std::time::Instant;

use candle_core::Device;
use lcr_verify::bounds::Norm;
use lcr_verify::bounds::ascent::{AscentOptions, gradient_ascent};
use lcr_verify::bounds::chain::Chain;
use lcr_verify::bounds::sampled::{SampledOptions, sampled_gradient};
use lcr_verify::ir::Function;
use lcr_verify::run_dir::RunDir;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, d: f64| args.get(i).and_then(|s| s.parse::<f64>().ok()).unwrap_or(d);
    let run = RunDir::new(args.first().expect("RUN_DIR"));
    let (model, meta) = run.load_model(&Device::Cpu)?;
    let net = lcr_verify::export::export(&model)?;
    let data = run.load_dataset(&meta, None)?;
    let n = arg(1, 64.0) as usize;
    let idx: Vec<usize> = (0..n).collect();
    let flat = meta.normalization.values(&data.test, &idx)?;
    let sample: Vec<Vec<f64>> =
        flat.chunks(net.input_len()).map(|c| c.iter().map(|&v| v as f64).collect()).collect();
    let f = Function::Surrogate;
    let chain = Chain::from_net(&net, f, 1 << 28)?;
    let s = sampled_gradient(&chain, f, Norm::LinfMargin, &sample, &SampledOptions::default())?;
    println!("sampled {:.2} ({:.1} s)", s.value, s.seconds);
    let opts = AscentOptions {
        starts_per_pair: arg(2, 4.0) as usize,
        steps: arg(3, 120.0) as usize,
        step: arg(4, 0.05),
        tau: (arg(5, 0.5), arg(6, 0.02)),
        ..AscentOptions::default()
    };
    let t = Instant::now();
    let a = gradient_ascent(&chain, f, Norm::LinfMargin, &sample, &opts)?;
    println!("ascent {:.2} ({:.1} s) {opts:?}", a.value, t.elapsed().as_secs_f64());
    Ok(())
}

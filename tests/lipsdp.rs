//! LipSDP-Neuron and the sequential bound (proofs/lipsdp.md).
mod common;

use common::*;
use lcr_verify::bounds::chain::Chain;
use lcr_verify::bounds::lipsdp_form::LipForm;
use lcr_verify::bounds::lipsdp_lmi::certify_multipliers;
use lcr_verify::bounds::lipsdp_solve::{SolveOptions, solve};
use lcr_verify::ir::{Function, Layer, Net, SignZero};
use nalgebra::DMatrix;

/// The LipSDP project's 2-10-30-20-2 ReLU network (tests/fixtures/lipsdp, MIT).
fn fixture() -> Net {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/lipsdp/random_weights.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut layers = Vec::new();
    let all = v["layers"].as_array().unwrap();
    for (k, l) in all.iter().enumerate() {
        let rows: Vec<Vec<f64>> = serde_json::from_value(l["weights"].clone()).unwrap();
        let w = DMatrix::from_fn(rows.len(), rows[0].len(), |i, j| rows[i][j]);
        layers.push(Layer::Dense { weight: w, latent: None, bias: None });
        if k + 1 < all.len() {
            layers.push(Layer::Relu);
        }
    }
    Net { input_shape: vec![2], classes: 2, sign_zero: SignZero::PlusOne, layers }
}

#[test]
fn probe() {
    let net = fixture();
    let chain = Chain::from_net(&net, Function::Surrogate, 1 << 20).unwrap();
    let form = LipForm::from_chain(&chain).unwrap();
    let t = std::time::Instant::now();
    let sol = solve(&form, &SolveOptions::default(), None, &|s| eprintln!("{s}")).unwrap();
    eprintln!("solve {:?} rho {} sqrt {} steps {}", t.elapsed(), sol.rho, sol.rho.sqrt(), sol.newton_steps);
    let c = certify_multipliers(&form, sol.rho, &sol.lambda).unwrap();
    eprintln!("cert {c:?}");
}

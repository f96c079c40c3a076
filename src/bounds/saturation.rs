//! The product of layer norms over the input domain, with saturated units pruned (theorem S11,
//! `proofs/spectral.md`).
//!
//! An activation unit whose pre-activation interval over the domain D lies on one flat piece (hardtanh: ≤ −1 or
//! ≥ 1; ReLU: ≤ 0) outputs a constant σ on D. Replacing it by that constant — its column of the next dense layer
//! folded into that layer's bias, its row of the dense layer before it (and its affine factor) set to zero —
//! gives a net g with g = f on D and fewer live units, so Lip(f; D) ≤ Lip(g; ℝⁿ) ≤ the product of g's layer
//! norms (theorem S1 on g). The intervals are those of the chain over D (`super::interval::forward`,
//! theorem F4), so a unit counts as saturated only when it provably is. Dense nets only (dense, affine, flatten
//! and activation layers): the unit of a chain's activation step is then the unit of the net's activation layer.

use std::time::Instant;

use nalgebra::DVector;
use serde_json::json;

use super::bound::{Bound, Norm, Scope};
use super::chain::{Chain, Step};
use super::interval::{Interval, forward};
use super::layer_norm::SpectralOptions;
use super::spectral::spectral_product;
use crate::error::{Error, Result};
use crate::ir::{Function, Layer, Net};

/// Per activation layer (in order), the constant output of each unit saturated over the domain (`None` when the
/// unit is live somewhere in it).
pub type Saturated = Vec<Vec<Option<f64>>>;

/// The saturated units of `chain` over the box [lo, hi] (theorem F4 boxes).
pub fn saturated_units(chain: &Chain, lo: &[f64], hi: &[f64]) -> Saturated {
    let boxes = forward(chain, &Interval::new(lo.to_vec(), hi.to_vec()));
    chain
        .steps
        .iter()
        .enumerate()
        .filter_map(|(s, step)| match step {
            Step::Act(a) => Some(
                boxes[s]
                    .lo
                    .iter()
                    .zip(&boxes[s].hi)
                    .map(|(&l, &u)| (a.stable(l, u) == Some(false)).then(|| a.apply(u)))
                    .collect(),
            ),
            _ => None,
        })
        .collect()
}

fn is_activation(layer: &Layer) -> bool {
    matches!(layer, Layer::Sign | Layer::HardTanh | Layer::Relu)
}

/// The net g of theorem S11 for `function`: every saturated unit's column of the next dense layer folded into
/// its bias as σ·column, then zeroed together with the unit's row of the last dense layer before it and its
/// factor in any affine layer between. Both the deployed and the latent weights are pruned; the bias uses the
/// weights of `function`, so g = f on the domain for that function.
///
/// Theorem S11 (proofs/spectral.md); checked by tests/spectral.rs::pruned_net_agrees_on_the_domain.
pub fn pruned_net(net: &Net, function: Function, saturated: &Saturated) -> Result<Net> {
    if let Some(l) = net.layers.iter().find(|l| {
        !matches!(l, Layer::Dense { .. } | Layer::Affine { .. } | Layer::Flatten) && !is_activation(l)
    }) {
        return Err(Error::not_applicable(
            "spectral-product (domain)",
            format!("saturation pruning handles dense nets only; this net has a {} layer", l.kind()),
        ));
    }
    let acts = net.layers.iter().filter(|l| is_activation(l)).count();
    if acts != saturated.len() {
        return Err(Error::config(
            "saturated units",
            format!("{} activation layers but {} saturation lists", acts, saturated.len()),
        ));
    }
    let mut g = net.clone();
    let mut act = 0;
    for i in 0..g.layers.len() {
        if !is_activation(&g.layers[i]) {
            continue;
        }
        let sat = &saturated[act];
        act += 1;
        if sat.iter().all(Option::is_none) {
            continue;
        }
        // Before: zero the unit's row of the last dense layer and its factor in the affine layers after it.
        for layer in g.layers[..i].iter_mut().rev() {
            match layer {
                Layer::Affine { scale, shift } => {
                    check_width(sat.len(), scale.len())?;
                    for (u, _) in sat.iter().enumerate().filter(|(_, s)| s.is_some()) {
                        (scale[u], shift[u]) = (0.0, 0.0);
                    }
                }
                Layer::Dense { weight, latent, bias } => {
                    check_width(sat.len(), weight.nrows())?;
                    for (u, _) in sat.iter().enumerate().filter(|(_, s)| s.is_some()) {
                        weight.row_mut(u).fill(0.0);
                        if let Some(l) = latent {
                            l.row_mut(u).fill(0.0);
                        }
                        if let Some(b) = bias {
                            b[u] = 0.0;
                        }
                    }
                    break;
                }
                _ => {}
            }
        }
        // After: fold σ·column into the next dense layer's bias, then zero the column.
        if let Some(Layer::Dense { weight, latent, bias }) =
            g.layers[i + 1..].iter_mut().find(|l| matches!(l, Layer::Dense { .. }))
        {
            check_width(sat.len(), weight.ncols())?;
            let used = match (function, latent.as_ref()) {
                (Function::Latent, Some(l)) => l.clone(),
                _ => weight.clone(),
            };
            let b = bias.get_or_insert_with(|| DVector::zeros(weight.nrows()));
            for (u, s) in sat.iter().enumerate() {
                if let Some(sigma) = s {
                    *b += used.column(u) * *sigma;
                    weight.column_mut(u).fill(0.0);
                    if let Some(l) = latent {
                        l.column_mut(u).fill(0.0);
                    }
                }
            }
        }
    }
    Ok(g)
}

fn check_width(units: usize, width: usize) -> Result<()> {
    if units != width {
        return Err(Error::config(
            "saturated units",
            format!("{units} units against a layer of width {width}"),
        ));
    }
    Ok(())
}

/// The certified product bound of `net` over the domain [lo, hi] (normalised inputs): the spectral product of
/// the pruned net of theorem S11, labelled [`Scope::Domain`], with the number of pruned units in
/// `detail.saturated_units`.
///
/// Theorem S11 (proofs/spectral.md); checked by tests/spectral.rs::domain_product_holds_inside_the_domain.
pub fn domain_product(
    net: &Net,
    chain: &Chain,
    function: Function,
    norm: Norm,
    domain: &(Vec<f64>, Vec<f64>),
    opts: &SpectralOptions,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Bound> {
    let start = Instant::now();
    if domain.0.len() != chain.input_dim || domain.1.len() != chain.input_dim {
        return Err(Error::config("domain", format!("needs {} lower and upper ends", chain.input_dim)));
    }
    let sat = saturated_units(chain, &domain.0, &domain.1);
    let g = pruned_net(net, function, &sat)?;
    let mut b = spectral_product(&g, function, norm, opts, progress)?;
    let pruned: Vec<usize> = sat.iter().map(|s| s.iter().filter(|u| u.is_some()).count()).collect();
    b.scope = Scope::Domain;
    b.seconds = start.elapsed().as_secs_f64();
    b.detail["rule"] = json!(format!(
        "{} (S11: saturated units pruned)",
        b.detail["rule"].as_str().unwrap_or("product of certified layer norms")
    ));
    b.detail["saturated_units"] = json!(pruned.iter().sum::<usize>());
    b.detail["saturated_per_layer"] = json!(pruned);
    b.detail["domain"] = super::lp::domain_summary(&domain.0, &domain.1);
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::SignZero;
    use nalgebra::DMatrix;

    fn tiny() -> Net {
        let w1 = DMatrix::from_row_slice(2, 2, &[1.0, 0.0, 0.0, 1.0]);
        let w2 = DMatrix::from_row_slice(1, 2, &[2.0, 3.0]);
        Net {
            input_shape: vec![2],
            classes: 1,
            sign_zero: SignZero::PlusOne,
            layers: vec![
                Layer::Dense { weight: w1, latent: None, bias: Some(DVector::from_vec(vec![0.0, 5.0])) },
                Layer::HardTanh,
                Layer::Dense { weight: w2, latent: None, bias: None },
            ],
        }
    }

    #[test]
    fn a_unit_above_one_is_replaced_by_its_constant() {
        let net = tiny();
        let chain = Chain::from_net(&net, Function::Surrogate, 1 << 20).unwrap();
        let sat = saturated_units(&chain, &[-1.0, -1.0], &[1.0, 1.0]);
        assert_eq!(sat, vec![vec![None, Some(1.0)]]);
        let g = pruned_net(&net, Function::Surrogate, &sat).unwrap();
        let Layer::Dense { weight, bias, .. } = &g.layers[2] else { panic!() };
        assert_eq!(weight[(0, 1)], 0.0);
        assert_eq!(bias.as_ref().unwrap()[0], 3.0);
        for x in [[-1.0, 1.0], [0.5, -0.25], [1.0, 0.0]] {
            assert_eq!(
                net.forward(&x, Function::Surrogate).unwrap(),
                g.forward(&x, Function::Surrogate).unwrap()
            );
        }
    }
}

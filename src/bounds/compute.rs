//! Every applicable method on every requested function of a [`Net`]: the computation under the `bound` stage.

use serde::{Deserialize, Serialize};

use super::ascent::{AscentOptions, gradient_ascent};
use super::bab::{BabOptions, bab_bound};
use super::bound::{Bound, Method, Norm, Scope};
use super::chain::Chain;
use super::conversion::linf_from_l2;
use super::exact::{ExactOptions, exact_patterns};
use super::layer_norm::SpectralOptions;
use super::lipsdp::{LipSdpOptions, lipsdp_bound};
use super::lp::{LpMode, LpOptions, lp_bound};
use super::regions::{RegionOptions, region_witnesses, regions_bound};
use super::retention::{RetentionOptions, retention_bounds};
use super::sampled::{SampledOptions, sampled_gradient};
use super::saturation::domain_product;
use super::sequential::{SequentialOptions, sequential_bound};
use super::spectral::spectral_product;
use crate::error::{Error, Result};
use crate::ir::{Function, Net};

/// Which methods to run. Written to files as the list of their names (`["spectral", "lp"]`), the names the
/// command line takes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "Vec<String>", try_from = "Vec<String>")]
pub struct Methods {
    /// Certified spectral (and ℓ1/ℓ∞) products.
    pub spectral: bool,
    /// Retention-matrix estimates (needs a sample and binary layers).
    pub retention: bool,
    /// LipLP bounds (feed-forward nets within the LP size limits).
    pub lp: bool,
    /// Exact pattern enumeration and region enumeration (tiny nets).
    pub exact: bool,
    /// Sampled-gradient lower bounds (feed-forward nets).
    pub sampled: bool,
    /// Gradient-ascent lower bounds (feed-forward nets).
    pub ascent: bool,
    /// LipSDP-Neuron ℓ2 bounds (feed-forward nets within the SDP size limit).
    pub lipsdp: bool,
    /// The closed-form sequential LipSDP ℓ2 bound (feed-forward nets).
    pub sequential: bool,
    /// Branch and bound on the LipLP relaxation, `lp-bab` (ℓ∞ margins; budgeted per pair, so not in the
    /// default list: it runs when asked for by name).
    pub bab: bool,
}

impl Default for Methods {
    fn default() -> Self {
        Methods {
            spectral: true,
            retention: true,
            lp: true,
            exact: true,
            sampled: true,
            ascent: true,
            lipsdp: true,
            sequential: true,
            bab: false,
        }
    }
}

impl Methods {
    /// No method switched on (a base for a list).
    pub fn none() -> Self {
        Methods {
            spectral: false,
            retention: false,
            lp: false,
            exact: false,
            sampled: false,
            ascent: false,
            lipsdp: false,
            sequential: false,
            bab: false,
        }
    }

    /// The names of the methods switched on (`spectral`, `retention`, `lp`, `exact`, `sampled`, `ascent`,
    /// `lipsdp`, `sequential`, `bab`).
    pub fn names(&self) -> Vec<&'static str> {
        [
            (self.spectral, "spectral"),
            (self.retention, "retention"),
            (self.lp, "lp"),
            (self.exact, "exact"),
            (self.sampled, "sampled"),
            (self.ascent, "ascent"),
            (self.lipsdp, "lipsdp"),
            (self.sequential, "sequential"),
            (self.bab, "bab"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect()
    }
}

impl From<Methods> for Vec<String> {
    fn from(m: Methods) -> Self {
        m.names().into_iter().map(String::from).collect()
    }
}

impl TryFrom<Vec<String>> for Methods {
    type Error = String;

    fn try_from(names: Vec<String>) -> Result<Self, String> {
        let mut m = Methods::none();
        for n in &names {
            let on = match n.as_str() {
                "spectral" => &mut m.spectral,
                "retention" => &mut m.retention,
                "lp" => &mut m.lp,
                "exact" => &mut m.exact,
                "sampled" => &mut m.sampled,
                "ascent" => &mut m.ascent,
                "lipsdp" => &mut m.lipsdp,
                "sequential" => &mut m.sequential,
                "bab" | "lp-bab" => &mut m.bab,
                other => {
                    return Err(format!(
                        "unknown method `{other}` (spectral, retention, lp, exact, sampled, ascent, lipsdp, \
                         sequential, bab)"
                    ));
                }
            };
            *on = true;
        }
        Ok(m)
    }
}

/// Everything `compute_bounds` can be told.
#[derive(Clone, Debug, PartialEq)]
pub struct BoundOptions {
    /// Functions to bound (`deployed` has no finite Lipschitz constant and is only used by retention).
    pub functions: Vec<Function>,
    /// Methods to run.
    pub methods: Methods,
    /// Norms of the spectral products, the exact values and the sampled lower bounds.
    pub norms: Vec<Norm>,
    /// Norms of the LP (ℓ∞ and/or ℓ1 margins).
    pub lp_norms: Vec<Norm>,
    /// Global LP, or local around the first sample with this radius as well.
    pub lp_local_radius: Option<f64>,
    /// Input domain for the local LP box (e.g. (0, 1) for pixels).
    pub lp_domain: Option<(f64, f64)>,
    /// The input domain D, per coordinate (the normalised pixel box): with it, the methods with a domain scope
    /// also bound the Lipschitz constant over D ([`super::Scope::Domain`]).
    pub domain: Option<(Vec<f64>, Vec<f64>)>,
    /// Hold the local LP bound to the global one ([`capped_by_global`]); off only where the pairs of one call
    /// are a part of the whole (a shard: the merge caps the joined bounds).
    pub lp_cap_local: bool,
    /// Largest unrolled convolution (entries) for the chain methods.
    pub max_unrolled: usize,
    /// Per-layer spectral options.
    pub spectral: SpectralOptions,
    /// Retention options.
    pub retention: RetentionOptions,
    /// LP options.
    pub lp: LpOptions,
    /// Enumeration limits.
    pub exact: ExactOptions,
    /// Region-enumeration limits.
    pub regions: RegionOptions,
    /// Sampled-gradient options.
    pub sampled: SampledOptions,
    /// Gradient-ascent options.
    pub ascent: AscentOptions,
    /// LipSDP-Neuron options.
    pub lipsdp: LipSdpOptions,
    /// Sequential-bound options.
    pub sequential: SequentialOptions,
    /// Branch-and-bound budgets.
    pub bab: BabOptions,
}

impl Default for BoundOptions {
    fn default() -> Self {
        BoundOptions {
            functions: vec![Function::Surrogate, Function::Latent],
            methods: Methods::default(),
            norms: vec![Norm::L2, Norm::L2Margin, Norm::LinfMargin],
            lp_norms: vec![Norm::LinfMargin],
            lp_local_radius: None,
            lp_domain: None,
            domain: None,
            lp_cap_local: true,
            max_unrolled: 4_000_000,
            spectral: SpectralOptions::default(),
            retention: RetentionOptions::default(),
            lp: LpOptions::default(),
            exact: ExactOptions::default(),
            regions: RegionOptions::default(),
            sampled: SampledOptions::default(),
            ascent: AscentOptions::default(),
            lipsdp: LipSdpOptions::default(),
            sequential: SequentialOptions::default(),
            bab: BabOptions::default(),
        }
    }
}

/// A method that did not run, and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Skipped {
    /// The method.
    pub method: Method,
    /// The function, when the reason is specific to one.
    pub function: Option<Function>,
    /// The norm, when specific to one.
    pub norm: Option<Norm>,
    /// Why, in words (the size limit, the unsupported layer, ...).
    pub reason: String,
    /// The `bound` request that tried it (set in `bounds.json`, as on [`Bound::request`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<super::BoundRequest>,
}

/// The result of [`compute_bounds`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Bounds {
    /// One entry per bound.
    pub bounds: Vec<Bound>,
    /// Methods that did not apply.
    pub skipped: Vec<Skipped>,
}

impl Bounds {
    /// Records `r` as a bound, or as skipped when the method does not apply ([`Error::TooLarge`],
    /// [`Error::NotApplicable`]); any other error, a bad option value among them, is returned.
    fn take(
        &mut self,
        method: Method,
        function: Option<Function>,
        norm: Option<Norm>,
        r: Result<Bound>,
    ) -> Result<()> {
        match r {
            Ok(b) => self.bounds.push(b),
            Err(e @ (Error::TooLarge { .. } | Error::NotApplicable { .. })) => {
                let reason = e.to_string();
                // The same refusal for several norms is recorded once, without a norm.
                match self
                    .skipped
                    .iter_mut()
                    .find(|s| s.method == method && s.function == function && s.reason == reason)
                {
                    Some(s) => s.norm = None,
                    None => self.skipped.push(Skipped { method, function, norm, reason, request: None }),
                }
            }
            Err(e) => return Err(e),
        }
        Ok(())
    }
}

/// A local (or domain-scope) bound no larger than the global bound of the same function and norm: every pair
/// constant above the global one is replaced by it. The global constant holds on all of the input space, so on
/// every ball and on the domain too, and
/// the smaller of two valid bounds is valid; the entry's `detail.capped_by_global` says when this happened and
/// what the local LP gave.
pub fn capped_by_global(mut local: Bound, global: &Bound) -> Bound {
    let before = local.value;
    let mut capped = 0usize;
    for p in &mut local.pairs {
        if let Some(g) = global.pair_value(p.t, p.j)
            && g < p.value
        {
            p.value = g;
            capped += 1;
        }
    }
    let from_pairs = local.pairs.iter().map(|p| p.value).fold(f64::NEG_INFINITY, f64::max);
    let value = if local.pairs.is_empty() { local.value } else { from_pairs };
    local.value = value.min(global.value);
    if capped > 0 || local.value < before {
        local.detail["capped_by_global"] = serde_json::json!({
            "local_lp_value": before,
            "pairs_capped": capped,
            "note": "the global bound holds on every ball and on the domain, so where this LP gave more, the global constant stands",
        });
    }
    local
}

/// Runs every selected method that applies to `net`; `sample` (inputs, flat CHW) feeds retention matrices,
/// sampled gradients and the local LP. Methods that do not apply to `net` (too large, a layer they do not handle)
/// are listed in [`Bounds::skipped`]; an invalid net or option value is an error, never a skipped entry.
///
/// Each method names its theorem (index: proofs/README.md); checked by
/// tests/bounds.rs::all_methods_run_on_a_small_binary_mlp.
pub fn compute_bounds(
    net: &Net,
    opts: &BoundOptions,
    sample: Option<&[Vec<f64>]>,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Bounds> {
    net.validate()?;
    if let Some((i, x)) = sample.into_iter().flatten().enumerate().find(|(_, x)| x.len() != net.input_len()) {
        return Err(Error::Shape {
            context: format!("sample {i}"),
            expected: net.input_shape.clone(),
            found: vec![x.len()],
        });
    }
    let mut out = Bounds::default();
    let m = &opts.methods;
    if opts.functions.contains(&Function::Deployed) {
        out.skipped.push(Skipped {
            request: None,
            method: Method::SpectralProduct,
            function: Some(Function::Deployed),
            norm: None,
            reason: "the deployed (sign) network is discontinuous: it has no finite Lipschitz constant"
                .into(),
        });
    }
    for &f in opts.functions.iter().filter(|f| **f != Function::Deployed) {
        if m.spectral {
            for &norm in &opts.norms {
                progress(&format!("spectral product, {} {}", f.name(), norm.name()));
                out.take(
                    Method::SpectralProduct,
                    Some(f),
                    Some(norm),
                    spectral_product(net, f, norm, &opts.spectral, progress),
                )?;
            }
        }
        let domain_product_on = m.spectral && opts.domain.is_some();
        let chain_methods = m.lp || m.exact || m.sampled || m.ascent || m.lipsdp || m.sequential || m.bab;
        if !(chain_methods || domain_product_on) {
            continue;
        }
        let chain = match Chain::from_net(net, f, opts.max_unrolled) {
            Ok(c) => Some(c),
            Err(e @ (Error::TooLarge { .. } | Error::NotApplicable { .. })) => {
                for (on, method) in [
                    (domain_product_on, Method::SpectralProduct),
                    (m.lp, Method::LpGlobal),
                    (m.exact, Method::ExactPatterns),
                    (m.sampled, Method::SampledGradient),
                    (m.ascent, Method::GradientAscent),
                    (m.sequential, Method::LipSdpSequential),
                    (m.lipsdp, Method::LipSdpNeuron),
                    (m.bab, Method::LpBab),
                ] {
                    if on {
                        out.skipped.push(Skipped {
                            request: None,
                            method,
                            function: Some(f),
                            norm: None,
                            reason: e.to_string(),
                        });
                    }
                }
                None
            }
            Err(e) => return Err(e),
        };
        let Some(chain) = chain else { continue };
        if let (true, Some(domain)) = (m.spectral, &opts.domain) {
            for &norm in &opts.norms {
                progress(&format!("spectral product over the domain, {} {}", f.name(), norm.name()));
                let b = domain_product(net, &chain, f, norm, domain, &opts.spectral, progress);
                out.take(Method::SpectralProduct, Some(f), Some(norm), b)?;
            }
        }
        if m.sampled {
            for &norm in &opts.norms {
                progress(&format!("sampled gradients, {} {}", f.name(), norm.name()));
                let b = sampled_gradient(&chain, f, norm, sample.unwrap_or(&[]), &opts.sampled);
                out.take(Method::SampledGradient, Some(f), Some(norm), b)?;
            }
        }
        if m.ascent {
            for &norm in &opts.norms {
                progress(&format!("gradient ascent, {} {}", f.name(), norm.name()));
                let b = gradient_ascent(&chain, f, norm, sample.unwrap_or(&[]), &opts.ascent);
                out.take(Method::GradientAscent, Some(f), Some(norm), b)?;
            }
        }
        let l2_norms = opts.norms.iter().filter(|n| matches!(n, Norm::L2 | Norm::L2Margin));
        for &norm in l2_norms {
            if m.sequential {
                progress(&format!("sequential LipSDP bound, {} {}", f.name(), norm.name()));
                let b = sequential_bound(&chain, f, norm, &opts.sequential);
                out.take(Method::LipSdpSequential, Some(f), Some(norm), b)?;
            }
            if m.lipsdp {
                progress(&format!("LipSDP-Neuron, {} {}", f.name(), norm.name()));
                let b = lipsdp_bound(&chain, f, norm, &opts.lipsdp, progress);
                out.take(Method::LipSdpNeuron, Some(f), Some(norm), b)?;
            }
        }
        if m.exact {
            for &norm in &opts.norms {
                progress(&format!("exact enumeration, {} {}", f.name(), norm.name()));
                out.take(
                    Method::ExactPatterns,
                    Some(f),
                    Some(norm),
                    exact_patterns(&chain, f, norm, &opts.exact),
                )?;
            }
            // The regions are the same for every norm: enumerate once.
            match region_witnesses(&chain, &opts.regions) {
                Ok(w) => {
                    for &norm in &opts.norms {
                        out.bounds.push(regions_bound(&chain, f, norm, &w, &opts.regions));
                    }
                }
                Err(e) => out.take(Method::ExactRegions, Some(f), None, Err(e))?,
            }
        }
        if m.lp {
            for &norm in &opts.lp_norms {
                let global = lp_bound(&chain, f, norm, &LpMode::Global, &opts.lp, progress);
                let cap = global.as_ref().ok().cloned();
                out.take(Method::LpGlobal, Some(f), Some(norm), global)?;
                if let Some((lo, hi)) = &opts.domain {
                    let mode = LpMode::Domain { lo: lo.clone(), hi: hi.clone() };
                    let on_domain =
                        lp_bound(&chain, f, norm, &mode, &opts.lp, progress).map(|d| match &cap {
                            Some(g) => capped_by_global(d, g),
                            None => d,
                        });
                    out.take(Method::LpGlobal, Some(f), Some(norm), on_domain)?;
                }
                if let (Some(r), Some(x)) = (opts.lp_local_radius, sample.and_then(|s| s.first())) {
                    let mode = LpMode::Local { center: x.clone(), radius: r, domain: opts.lp_domain };
                    let local = lp_bound(&chain, f, norm, &mode, &opts.lp, progress);
                    let local = local.map(|l| match &cap {
                        Some(g) if opts.lp_cap_local => capped_by_global(l, g),
                        _ => l,
                    });
                    out.take(Method::LpLocal, Some(f), Some(norm), local)?;
                }
            }
        }
        if m.bab {
            for &norm in &opts.lp_norms {
                progress(&format!("branch and bound, {} {}", f.name(), norm.name()));
                let b = bab_bound(&chain, f, norm, &opts.bab, progress);
                out.take(Method::LpBab, Some(f), Some(norm), b)?;
            }
        }
    }
    // ℓ∞ margin constants from the ℓ2 entries just computed, where ℓ∞ margins were asked for (theorem S12).
    if opts.norms.contains(&Norm::LinfMargin) {
        for &f in opts.functions.iter().filter(|f| **f != Function::Deployed) {
            for scope in [Scope::Network, Scope::Domain] {
                if let Some(b) = linf_from_l2(&out.bounds, f, scope, net.input_len(), net.classes) {
                    out.bounds.push(b);
                }
            }
        }
    }
    if m.retention {
        match sample {
            Some(s) if !s.is_empty() && net.has_binary_layers() => {
                match retention_bounds(net, s, &opts.retention, &opts.spectral, progress) {
                    Ok(bs) => out.bounds.extend(bs),
                    Err(e @ (Error::TooLarge { .. } | Error::NotApplicable { .. })) => {
                        out.skipped.push(Skipped {
                            request: None,
                            method: Method::RetentionReleased,
                            function: Some(Function::Deployed),
                            norm: None,
                            reason: e.to_string(),
                        })
                    }
                    Err(e) => return Err(e),
                }
            }
            _ => out.skipped.push(Skipped {
                request: None,
                method: Method::RetentionReleased,
                function: Some(Function::Deployed),
                norm: None,
                reason: "needs a data sample and binary layers".into(),
            }),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bounds::{PairConstant, Scope, Soundness};

    fn lp(method: Method, pairs: &[(usize, usize, f64)]) -> Bound {
        Bound {
            method,
            function: Function::Surrogate,
            soundness: Soundness::Certified,
            norm: Norm::LinfMargin,
            scope: if method == Method::LpLocal { Scope::LocalBox } else { Scope::Network },
            value: pairs.iter().map(|p| p.2).fold(0.0, f64::max),
            pairs: pairs.iter().map(|&(t, j, value)| PairConstant { t, j, value }).collect(),
            per_layer: Vec::new(),
            seconds: 0.0,
            detail: serde_json::json!({}),
            request: None,
        }
    }

    #[test]
    fn a_local_bound_never_exceeds_the_global_one_pair_by_pair() {
        let global = lp(Method::LpGlobal, &[(0, 1, 2.0), (0, 2, 5.0), (1, 2, 3.0)]);
        let local = lp(Method::LpLocal, &[(0, 1, 1.0), (0, 2, 1e300), (1, 2, 4.0)]);
        let c = capped_by_global(local, &global);
        assert_eq!(c.pairs.iter().map(|p| p.value).collect::<Vec<_>>(), vec![1.0, 5.0, 3.0]);
        assert_eq!(c.value, 5.0);
        assert_eq!(c.detail["capped_by_global"]["pairs_capped"], 2);
        assert_eq!(c.detail["capped_by_global"]["local_lp_value"], 1e300);
        // A local bound below the global one is left as it is, with no note.
        let tight = lp(Method::LpLocal, &[(0, 1, 1.0), (0, 2, 1.5), (1, 2, 0.5)]);
        let c = capped_by_global(tight.clone(), &global);
        assert_eq!(c, tight);
    }
}

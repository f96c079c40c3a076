//! The Lipschitz section: every bound by method with its function, soundness and scope; the tightness of each
//! certified bound against the best proven lower bound; the retention proxies against the exact layer norms.

use super::chart::{Bars, Chart};
use super::collect::RunData;
use super::group::Group;
use super::metric::{Coverage, Metric};
use super::number::Rounding::{Down, Nearest, Up};
use super::table::{Cell, Soundness, Style, Table};
use super::{Plot, Section};
use crate::bounds::{Bound, LayerPart, Method, Norm, Scope, Soundness as BoundSoundness};
use crate::ir::Function;

/// What identifies one bound across runs: method, function, norm, scope and the method's variant (the
/// retention proxies' side and granularity, a local LP's box).
#[derive(Clone, Debug, PartialEq)]
pub struct Key {
    method: Method,
    function: Function,
    norm: Norm,
    scope: Scope,
    variant: String,
    soundness: BoundSoundness,
}

fn variant(b: &Bound) -> String {
    let d = &b.detail;
    let mut parts = Vec::new();
    if let Some(side) = d.get("side").and_then(|s| s.as_str()) {
        parts.push(format!("side {side}"));
    }
    if let Some(g) = d.get("granularity").and_then(|s| s.as_str()) {
        parts.push(g.to_string());
    }
    if let Some(r) = d.get("mode").and_then(|m| m.get("local_radius")).and_then(|r| r.as_f64()) {
        parts.push(format!("box radius {r}"));
    }
    parts.join(", ")
}

impl Key {
    fn of(b: &Bound) -> Key {
        Key {
            method: b.method,
            function: b.function,
            norm: b.norm,
            scope: b.scope,
            variant: variant(b),
            soundness: b.soundness,
        }
    }

    fn find<'a>(&self, r: &'a RunData) -> Option<&'a Bound> {
        r.bounds.get()?.bounds.iter().find(|b| Key::of(b) == *self)
    }

    fn order(&self) -> (usize, usize, usize, String) {
        (function_rank(self.function), norm_rank(self.norm), method_rank(self.method), self.variant.clone())
    }

    fn method_text(&self) -> String {
        if self.variant.is_empty() {
            self.method.name().into()
        } else {
            format!("{} ({})", self.method.name(), self.variant)
        }
    }

    /// The bound's figure: rounded up when it is an upper bound, down when a lower one.
    fn metric(&self) -> Metric {
        let k = self.clone();
        let name = format!("Lipschitz {} {}", self.method_text(), self.norm.name());
        Metric::new(
            name,
            Some(self.function),
            self.soundness.into(),
            style(self.soundness),
            move |r: &RunData| k.find(r).map(|b| b.value),
        )
    }
}

fn style(s: BoundSoundness) -> Style {
    Style::sig(
        4,
        match s {
            BoundSoundness::Certified => Up,
            BoundSoundness::Lower => Down,
            BoundSoundness::Estimate => Nearest,
        },
    )
}

/// Display order of functions: deployed, surrogate, latent.
pub fn function_rank(f: Function) -> usize {
    [Function::Deployed, Function::Surrogate, Function::Latent].iter().position(|x| *x == f).unwrap_or(9)
}

fn norm_rank(n: Norm) -> usize {
    [Norm::L2, Norm::L2Margin, Norm::LinfMargin, Norm::L1Margin].iter().position(|x| *x == n).unwrap_or(9)
}

fn method_rank(m: Method) -> usize {
    [
        Method::SpectralProduct,
        Method::LipSdpSequential,
        Method::LipSdpNeuron,
        Method::LpGlobal,
        Method::LpLocal,
        Method::LpBab,
        Method::NormConversion,
        Method::ExactPatterns,
        Method::ExactRegions,
        Method::SampledGradient,
        Method::GradientAscent,
        Method::RetentionReleased,
        Method::RetentionConverged,
        Method::RetentionNormalised,
    ]
    .iter()
    .position(|x| *x == m)
    .unwrap_or(99)
}

/// The scope's name, as in `bounds.json`.
fn scope_name(s: Scope) -> &'static str {
    s.name()
}

/// Every bound key of a group's runs, in display order.
fn keys(g: &Group) -> Vec<Key> {
    let mut out: Vec<Key> = Vec::new();
    for b in g.runs.iter().filter_map(|r| r.bounds.get()).flat_map(|f| f.bounds.iter()) {
        let k = Key::of(b);
        if !out.contains(&k) {
            out.push(k);
        }
    }
    out.sort_by_key(Key::order);
    out
}

fn is_retention(m: Method) -> bool {
    matches!(m, Method::RetentionReleased | Method::RetentionConverged | Method::RetentionNormalised)
}

/// The headline bounds: every certified or lower bound of network scope.
pub fn headlines(groups: &[Group]) -> Vec<Metric> {
    let mut ks: Vec<Key> = Vec::new();
    for k in groups.iter().flat_map(keys) {
        if k.scope == Scope::Network && k.soundness != BoundSoundness::Estimate && !ks.contains(&k) {
            ks.push(k);
        }
    }
    ks.sort_by_key(Key::order);
    ks.iter().map(Key::metric).collect()
}

/// The best proven lower bound of network scope for (function, norm) in one run.
fn best_lower(r: &RunData, function: Function, norm: Norm) -> Option<f64> {
    r.bounds
        .get()?
        .bounds
        .iter()
        .filter(|b| b.function == function && b.norm == norm && b.scope == Scope::Network)
        .filter(|b| b.soundness == BoundSoundness::Lower && b.value.is_finite())
        .map(|b| b.value)
        .reduce(f64::max)
}

/// The Lipschitz section.
pub fn section(groups: &[Group]) -> Section {
    let cover = Coverage::of(groups, |r| r.bounds.status());
    if cover.present == 0 {
        return Section::not_run(
            "bounds",
            "Lipschitz bounds",
            "not run: no run directory holds a current bounds.json".into(),
        );
    }
    let mut rows = Vec::new();
    let mut tight = Vec::new();
    for g in groups {
        for k in keys(g) {
            let m = k.metric();
            rows.push(vec![
                Cell::text(&g.label),
                Cell::text(k.method_text()),
                Cell::text(k.norm.name()),
                Cell::text(scope_name(k.scope)),
                m.cell(g),
            ]);
            if k.soundness == BoundSoundness::Certified && k.scope == Scope::Network {
                let (f, n) = (k.function, k.norm);
                let lower = Metric::new(
                    "",
                    Some(f),
                    Soundness::Lower,
                    style(BoundSoundness::Lower),
                    move |r: &RunData| best_lower(r, f, n),
                );
                let kk = k.clone();
                let ratio = Metric::new(
                    "",
                    Some(f),
                    Soundness::Estimate,
                    Style::sig(3, Nearest),
                    move |r: &RunData| Some(kk.find(r)?.value / best_lower(r, f, n)?),
                );
                tight.push(vec![
                    Cell::text(&g.label),
                    Cell::text(k.method_text()),
                    Cell::text(n.name()),
                    m.cell(g),
                    lower.cell(g),
                    ratio.cell(g),
                ]);
            }
        }
    }
    let bounds = Table {
        id: "bounds".into(),
        title: "Lipschitz bounds by method".into(),
        note: format!(
            "Each bound of bounds.json with the function it bounds, its soundness and its scope (network: all \
             inputs; binary-layer-product: the product of the binary layers' norms, not a Lipschitz constant of \
             the network; local-box: inputs in a box around one image). Norms: l2 is the whole logit map's ℓ2 \
             constant; the -margin norms are the largest class-pair margin constant for that input norm. Values \
             are in the normalised input space; certified values are printed rounded up, lower ones down.{}",
            cover.note("bounds.json")
        ),
        columns: ["configuration", "method", "norm", "scope", "value"].map(String::from).to_vec(),
        rows,
    };
    let tightness = Table {
        id: "tightness".into(),
        title: "Tightness: certified bound / best lower bound".into(),
        note: "Per run, each certified network-scope bound divided by the largest proven lower bound of the same \
               function and norm (sampled gradients, region enumeration), then summarised over seeds. Since the \
               true constant lies between the two, the ratio is at least how far the certified bound is from the \
               truth: 1 is exact, large is loose. It is a plain quotient, an estimate."
            .into(),
        columns: ["configuration", "certified method", "norm", "certified bound", "best lower bound",
            "certified / lower"]
            .map(String::from)
            .to_vec(),
        rows: tight,
    };
    let (retention, plots) = retention(groups);
    let mut tables = vec![bounds];
    if !tightness.rows.is_empty() {
        tables.push(tightness);
    }
    tables.extend(retention);
    Section {
        id: "bounds".into(),
        title: "Lipschitz bounds".into(),
        intro: String::new(),
        not_run: None,
        tables,
        plots,
    }
}

/// The exact norm a retention entry's layer part is compared with, and whether it is a certified upper bound
/// (one layer's certified factor) rather than a product of several.
fn exact_sigma(p: &LayerPart) -> Option<(f64, bool)> {
    let d = &p.detail;
    let v = d.get("exact_sigma").or_else(|| d.get("exact_sigma_upper"))?.as_f64()?;
    Some((v, single_layer(&p.kind)))
}

/// Whether a retention part spans one binary layer (`binary layer k`, `layer a->a+1`, `stage a->a+1`).
fn single_layer(kind: &str) -> bool {
    if kind.starts_with("binary layer") {
        return true;
    }
    let Some((a, b)) = kind.rsplit(' ').next().and_then(|s| s.split_once("->")) else { return false };
    matches!((a.parse::<i64>(), b.parse::<i64>()), (Ok(a), Ok(b)) if b - a == 1)
}

fn retention(groups: &[Group]) -> (Vec<Table>, Vec<Plot>) {
    let mut rows = Vec::new();
    let mut plots = Vec::new();
    for g in groups {
        let ks: Vec<Key> = keys(g).into_iter().filter(|k| is_retention(k.method)).collect();
        let mut layers: Vec<String> = Vec::new();
        let mut exact_series: Vec<Option<f64>> = Vec::new();
        let mut series: Vec<(String, Vec<Option<f64>>)> = Vec::new();
        for k in &ks {
            let parts: Vec<String> = g
                .runs
                .iter()
                .filter_map(|r| k.find(r))
                .flat_map(|b| b.per_layer.iter().map(|p| p.layer.clone()))
                .fold(Vec::new(), |mut v, l| {
                    if !v.contains(&l) {
                        v.push(l);
                    }
                    v
                });
            let mut proxy_means = Vec::new();
            for layer in &parts {
                let (kk, ll) = (k.clone(), layer.clone());
                let part = move |r: &RunData| -> Option<LayerPart> {
                    kk.find(r)?.per_layer.iter().find(|p| p.layer == ll).cloned()
                };
                let (p1, p2, p3) = (part.clone(), part.clone(), part.clone());
                let certified =
                    g.runs.iter().filter_map(p1).filter_map(|p| exact_sigma(&p)).all(|(_, single)| single);
                let proxy = Metric::new(
                    "",
                    Some(k.function),
                    k.soundness.into(),
                    style(k.soundness),
                    move |r: &RunData| p2(r).map(|p| p.value),
                );
                let sigma = Metric::new(
                    "",
                    None,
                    if certified { Soundness::Certified } else { Soundness::Estimate },
                    Style::sig(4, if certified { Up } else { Nearest }),
                    move |r: &RunData| p3(r).and_then(|p| exact_sigma(&p)).map(|x| x.0),
                );
                let ratio =
                    Metric::new("", None, Soundness::Estimate, Style::sig(3, Nearest), move |r: &RunData| {
                        let p = part(r)?;
                        Some(p.value / exact_sigma(&p)?.0)
                    });
                rows.push(vec![
                    Cell::text(&g.label),
                    Cell::text(k.method_text()),
                    Cell::text(layer),
                    proxy.cell(g),
                    sigma.cell(g),
                    ratio.cell(g),
                ]);
                if !layers.contains(layer) {
                    layers.push(layer.clone());
                    exact_series.push(sigma.summary(g).mean());
                }
                proxy_means.push((layer.clone(), proxy.summary(g).mean()));
            }
            let label = format!("{} ({})", k.method_text(), k.soundness.name());
            series.push((
                label,
                layers.iter().map(|l| proxy_means.iter().find(|x| &x.0 == l).and_then(|x| x.1)).collect(),
            ));
        }
        if !layers.is_empty() {
            let mut all = vec![("exact layer norm σ (certified)".to_string(), exact_series)];
            all.extend(series.into_iter().map(|(n, mut v)| {
                v.resize(layers.len(), None);
                (n, v)
            }));
            plots.push(Plot {
                id: format!("retention-{}", g.slug),
                title: format!("Retention proxies vs exact layer norm: {}", g.label),
                caption: "Per binary layer, its exact spectral norm σ (a certified upper bound, from the bounds' \
                          layer factors) beside each retention-matrix proxy (estimate; the normalised one is a \
                          proven lower bound on σ); means over seeds, log scale. A proxy near σ retains the layer's \
                          Lipschitz constant; far above or below, it does not."
                    .into(),
                chart: Chart::Bars(Bars {
                    categories: layers.iter().map(|l| format!("layer {l}")).collect(),
                    series: all,
                    y_label: "value (log scale)".into(),
                    y_log: true,
                }),
            });
        }
    }
    if rows.is_empty() {
        return (Vec::new(), plots);
    }
    let table = Table {
        id: "retention".into(),
        title: "Retention proxies against the exact layer norms".into(),
        note: "For each binary layer, the retention-matrix proxy of the LCR regulariser (estimate; the normalised \
               variant is a proven lower bound on the layer's σ), the layer's exact spectral norm σ (the \
               certified upper factor the spectral bound uses; a product over a stage is an estimate), and their \
               ratio. A ratio of 1 means the proxy retains the layer's norm."
            .into(),
        columns: ["configuration", "proxy", "layer", "proxy value", "exact norm σ", "proxy / σ"]
            .map(String::from)
            .to_vec(),
        rows,
    };
    (vec![table], plots)
}

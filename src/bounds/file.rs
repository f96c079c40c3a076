//! `RUN_DIR/bounds.json` and the readable table of the bounds.

use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::compute::{Bounds, Skipped};
use super::{Bound, Method, SolveStatus};
use crate::error::{Error, Result};
use crate::ir::{Layer, Net, SignZero};

/// Version of the `bounds.json` layout. Readers accept only their own format (an earlier file is refused with a
/// message saying to re-run `bound`; `bound` itself replaces it).
///
/// 2: each entry's class-pair constants are the typed list `pairs` (format 1 kept them in `detail.pairs`).
/// 3: `meta.methods` and `meta.request.methods` are lists of method names (`["spectral", "lp"]`); every entry and
/// every skipped entry records the request that computed it (`request`); a later `bound` call keeps the entries
/// of the same model file that it does not recompute, so the file may hold entries of several requests.
pub const BOUNDS_FORMAT: u32 = 3;

/// What the bounds are about, summarised.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NetSummary {
    /// Input shape.
    pub input_shape: Vec<usize>,
    /// Number of classes.
    pub classes: usize,
    /// The recorded sign(0) convention.
    pub sign_zero: SignZero,
    /// Top-level layer kinds.
    pub layers: Vec<String>,
}

impl NetSummary {
    /// The summary of `net`.
    pub fn of(net: &Net) -> Self {
        NetSummary {
            input_shape: net.input_shape.clone(),
            classes: net.classes,
            sign_zero: net.sign_zero,
            layers: net.layers.iter().map(Layer::kind).map(String::from).collect(),
        }
    }
}

/// The contents of `bounds.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BoundsFile {
    /// [`BOUNDS_FORMAT`].
    pub format: u32,
    /// lcr-verify version that wrote it.
    pub version: String,
    /// Provenance filled by the caller (seed, dataset checksum, model file, options).
    pub meta: serde_json::Value,
    /// The network.
    pub net: NetSummary,
    /// Number of samples used by the data-dependent methods.
    pub sample_size: usize,
    /// One entry per bound.
    pub bounds: Vec<Bound>,
    /// Methods that did not apply, with the reason.
    pub skipped: Vec<Skipped>,
}

impl BoundsFile {
    /// Wraps computed bounds with their provenance.
    pub fn new(net: &Net, bounds: Bounds, sample_size: usize, meta: serde_json::Value) -> Self {
        BoundsFile {
            format: BOUNDS_FORMAT,
            version: env!("CARGO_PKG_VERSION").to_string(),
            meta,
            net: NetSummary::of(net),
            sample_size,
            bounds: bounds.bounds,
            skipped: bounds.skipped,
        }
    }

    /// Writes the file atomically (temporary file, then rename).
    pub fn write(&self, path: &Path) -> Result<()> {
        crate::fsio::write_json_atomic(path, self)
    }

    /// Reads and checks a file written by [`BoundsFile::write`]; a file of another format is refused with a
    /// message that says how to rewrite it.
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = crate::fsio::read(path)?;
        let format = Self::format_of(&bytes).map_err(|e| Error::format(path, e.to_string()))?;
        if format != BOUNDS_FORMAT {
            let run_dir = path.parent().map_or_else(|| "RUN_DIR".into(), |d| d.display().to_string());
            return Err(Error::format(
                path,
                format!(
                    "bounds format {format}, written by {} lcr-verify (this one reads format {BOUNDS_FORMAT}); \
                     re-run `lcr-verify bound {run_dir}` to rewrite it",
                    if format < BOUNDS_FORMAT { "an earlier" } else { "a later" }
                ),
            ));
        }
        serde_json::from_slice(&bytes).map_err(|e| Error::format(path, e.to_string()))
    }

    /// Whether `path` holds bounds in the current format (`false` for an earlier or a later one); an unreadable
    /// or malformed file is an error.
    pub fn is_current(path: &Path) -> Result<bool> {
        let bytes = crate::fsio::read(path)?;
        let format = Self::format_of(&bytes).map_err(|e| Error::format(path, e.to_string()))?;
        Ok(format == BOUNDS_FORMAT)
    }

    /// This file's entries over those of `earlier` (bounds of the same model file): an earlier bound is kept unless
    /// this file has a bound of the same method, function, norm and scope (then this file's stand, all of them); an
    /// earlier skipped entry is kept unless this file tried the same method and function (a bound or a skipped
    /// entry, for that norm or for all). Kept entries come first, in their order. A local LP bound and a
    /// domain-scope LP bound are then held to the network-scope LP bound of the same function and norm (see
    /// [`super::capped_by_global`]), whichever call made each. `meta.earlier.kept_entries` counts what was kept.
    pub fn merged_over(mut self, earlier: BoundsFile) -> BoundsFile {
        let key = |b: &Bound| (b.method, b.function, b.norm, b.scope);
        let recomputed = |b: &Bound| self.bounds.iter().any(|n| key(n) == key(b));
        let kept: Vec<Bound> = earlier.bounds.into_iter().filter(|b| !recomputed(b)).collect();
        let tried = |s: &Skipped| {
            let same = |m: Method, f: Option<crate::ir::Function>, n: Option<super::Norm>| {
                m == s.method && f == s.function && (s.norm.is_none() || n.is_none() || n == s.norm)
            };
            self.bounds.iter().any(|b| same(b.method, Some(b.function), Some(b.norm)))
                || self.skipped.iter().any(|k| same(k.method, k.function, k.norm))
        };
        let kept_skipped: Vec<Skipped> = earlier.skipped.into_iter().filter(|s| !tried(s)).collect();
        self.meta["earlier"] = serde_json::json!({ "kept_entries": kept.len() + kept_skipped.len() });
        self.bounds = kept.into_iter().chain(self.bounds).collect();
        self.skipped = kept_skipped.into_iter().chain(self.skipped).collect();
        let globals: Vec<Bound> = self
            .bounds
            .iter()
            .filter(|b| b.method == Method::LpGlobal && b.scope == super::Scope::Network)
            .cloned()
            .collect();
        let held = |b: &Bound| {
            b.method == Method::LpLocal || (b.method == Method::LpGlobal && b.scope == super::Scope::Domain)
        };
        for b in self.bounds.iter_mut().filter(|b| held(b)) {
            if let Some(g) = globals.iter().find(|g| (g.function, g.norm) == (b.function, b.norm)) {
                *b = super::capped_by_global(b.clone(), g);
            }
        }
        self
    }

    /// The `format` field alone, so that a file of another format is named as such rather than as malformed.
    pub(crate) fn format_of(bytes: &[u8]) -> serde_json::Result<u32> {
        #[derive(Deserialize)]
        struct Format {
            format: u32,
        }
        serde_json::from_slice::<Format>(bytes).map(|f| f.format)
    }
}

fn note(b: &Bound) -> String {
    let d = &b.detail;
    if let Some(g) = d.get("per_pair").and_then(|p| p.as_array()) {
        let n = g.len();
        let statuses: std::collections::BTreeSet<SolveStatus> = g
            .iter()
            .filter_map(|p| serde_json::from_value(p["lp"]["multiplier_solve"]["status"].clone()).ok())
            .collect();
        let statuses: Vec<String> = statuses.iter().map(SolveStatus::to_string).collect();
        return format!("{n} pairs, solver {}", statuses.join("/"));
    }
    if let Some(side) = d.get("side").and_then(|s| s.as_str()) {
        return format!("side {side}, {}", d["granularity"].as_str().unwrap_or(""));
    }
    if let (Some(n), Some(from)) = (d.get("input_dimension"), d.get("from").and_then(|f| f.as_array())) {
        let sources: Vec<String> = from
            .iter()
            .filter(|f| f["pairs_taken"].as_u64() != Some(0))
            .map(|f| {
                format!(
                    "{} {} ({} pairs)",
                    f["method"].as_str().unwrap_or("?"),
                    f["norm"].as_str().unwrap_or("?"),
                    f["pairs_taken"]
                )
            })
            .collect();
        return format!("√{n} × {}", sources.join(", "));
    }
    if let Some(l) = d.get("leaves") {
        return format!("{l} patterns");
    }
    if let Some(u) = d.get("points_used") {
        return format!("{u} points");
    }
    let gaps: Vec<f64> =
        b.per_layer.iter().filter_map(|p| p.detail.get("gap").and_then(|g| g.as_f64())).collect();
    if !gaps.is_empty() {
        return format!("max layer gap {:.2e}", gaps.iter().fold(0.0f64, |m, g| m.max(*g)));
    }
    String::new()
}

/// A Markdown table of the bounds (every value with both labels), then the skipped methods.
pub fn render_table(bounds: &[Bound], skipped: &[Skipped]) -> String {
    let mut s = String::from("| method | function | soundness | norm | scope | value | seconds | note |\n");
    s.push_str("|---|---|---|---|---|---:|---:|---|\n");
    for b in bounds {
        let scope = match b.scope {
            super::Scope::Network => "network",
            super::Scope::BinaryLayerProduct => "binary-layer product",
            super::Scope::LocalBox => "local box",
            super::Scope::Domain => "domain",
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {:.6e} | {:.3} | {} |",
            b.method.name(),
            b.function.name(),
            b.soundness.name(),
            b.norm.name(),
            scope,
            b.value,
            b.seconds,
            note(b)
        );
    }
    if !skipped.is_empty() {
        s.push_str("\nSkipped:\n");
        for k in skipped {
            let f = k.function.map_or(String::new(), |f| format!(" ({})", f.name()));
            let _ = writeln!(s, "- {}{f}: {}", k.method.name(), k.reason);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bounds::{BoundRequest, NormChoice, PairConstant, Scope, Soundness};
    use crate::ir::Function;

    fn entry(
        method: Method,
        function: Function,
        norm: super::super::Norm,
        value: f64,
        req: &BoundRequest,
    ) -> Bound {
        Bound {
            method,
            function,
            soundness: Soundness::Certified,
            norm,
            scope: if method == Method::LpLocal { Scope::LocalBox } else { Scope::Network },
            value,
            pairs: vec![PairConstant { t: 0, j: 1, value }],
            per_layer: Vec::new(),
            seconds: 0.0,
            detail: serde_json::json!({}),
            request: Some(req.clone()),
        }
    }

    fn file(bounds: Vec<Bound>, skipped: Vec<Skipped>) -> BoundsFile {
        let summary =
            NetSummary { input_shape: vec![2], classes: 2, sign_zero: SignZero::PlusOne, layers: vec![] };
        BoundsFile {
            format: BOUNDS_FORMAT,
            version: "test".into(),
            meta: serde_json::json!({ "model_sha256": "abc" }),
            net: summary,
            sample_size: 1,
            bounds,
            skipped,
        }
    }

    #[test]
    fn a_later_call_keeps_what_it_does_not_recompute_and_replaces_what_it_does() {
        use super::super::Norm::{L2, LinfMargin};
        let linf = BoundRequest { norms: NormChoice::Linf, ..Default::default() };
        let l2 = BoundRequest { norms: NormChoice::L2, ..Default::default() };
        let s = Function::Surrogate;
        let first = file(
            vec![
                entry(Method::SpectralProduct, s, LinfMargin, 4.0, &linf),
                entry(Method::LpGlobal, s, LinfMargin, 2.0, &linf),
            ],
            vec![Skipped {
                method: Method::ExactPatterns,
                function: Some(s),
                norm: None,
                reason: "too large".into(),
                request: Some(linf.clone()),
            }],
        );
        let second = file(vec![entry(Method::SpectralProduct, s, L2, 9.0, &l2)], vec![]);
        let merged = second.merged_over(first.clone());
        let keys: Vec<_> =
            merged.bounds.iter().map(|b| (b.method, b.norm, b.request.clone().unwrap().norms)).collect();
        assert_eq!(
            keys,
            vec![
                (Method::SpectralProduct, LinfMargin, NormChoice::Linf),
                (Method::LpGlobal, LinfMargin, NormChoice::Linf),
                (Method::SpectralProduct, L2, NormChoice::L2),
            ]
        );
        assert_eq!(merged.skipped.len(), 1, "the skipped exact method was not tried again");
        assert_eq!(merged.meta["earlier"]["kept_entries"], 3);
        // The same request again replaces its entries instead of adding to them.
        let again = file(
            vec![entry(Method::SpectralProduct, s, LinfMargin, 3.5, &linf)],
            vec![Skipped {
                method: Method::ExactPatterns,
                function: Some(s),
                norm: Some(LinfMargin),
                reason: "still too large".into(),
                request: Some(linf.clone()),
            }],
        );
        let merged = again.merged_over(merged);
        assert_eq!(merged.bounds.len(), 3);
        let spectral: Vec<f64> = merged
            .bounds
            .iter()
            .filter(|b| (b.method, b.norm) == (Method::SpectralProduct, LinfMargin))
            .map(|b| b.value)
            .collect();
        assert_eq!(spectral, vec![3.5]);
        assert_eq!(
            merged.skipped.iter().map(|k| k.reason.as_str()).collect::<Vec<_>>(),
            vec!["still too large"]
        );
    }

    #[test]
    fn a_kept_local_bound_is_held_to_a_later_global_one() {
        use super::super::Norm::LinfMargin;
        let req = BoundRequest::default();
        let s = Function::Surrogate;
        let first = file(vec![entry(Method::LpLocal, s, LinfMargin, 7.0, &req)], vec![]);
        let second = file(vec![entry(Method::LpGlobal, s, LinfMargin, 5.0, &req)], vec![]);
        let merged = second.merged_over(first);
        let local = merged.bounds.iter().find(|b| b.method == Method::LpLocal).unwrap();
        assert_eq!((local.value, local.pairs[0].value), (5.0, 5.0));
        assert_eq!(local.detail["capped_by_global"]["local_lp_value"], 7.0);
    }
}

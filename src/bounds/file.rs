//! `RUN_DIR/bounds.json` and the readable table of the bounds.

use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::compute::{Bounds, Skipped};
use super::{Bound, SolveStatus};
use crate::error::{Error, Result};
use crate::ir::{Layer, Net, SignZero};

/// Version of the `bounds.json` layout.
///
/// 2: each entry's class-pair constants are the typed list `pairs` (format 1 kept them in `detail.pairs`).
pub const BOUNDS_FORMAT: u32 = 2;

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

    /// The `format` field alone, so that a file of another format is named as such rather than as malformed.
    fn format_of(bytes: &[u8]) -> serde_json::Result<u32> {
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

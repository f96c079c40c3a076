//! Charts as data, drawn as SVG: lines or points on linear or log axes (with an optional y = x line), a heat map,
//! grouped bars. Nothing here knows about runs; `plots` turns run data into charts.

use super::number::{self, Precision, Rounding};
use super::svg::{Anchor, Svg};

/// Series colours (Okabe–Ito, without black and yellow): every one far from grey, so drawn marks can be told
/// from grid lines and background by colour alone.
pub const PALETTE: [&str; 7] = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#882255"];

/// One series of an x–y chart.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// The legend entry.
    pub name: String,
    /// (x, y) points; non-finite ones (and non-positive ones on a log axis) are not drawn.
    pub points: Vec<(f64, f64)>,
    /// Index into [`PALETTE`] (taken modulo its length).
    pub colour: usize,
    /// Dashed line.
    pub dashed: bool,
}

/// An x–y chart.
#[derive(Clone, Debug, PartialEq)]
pub struct XyChart {
    /// The x axis's label.
    pub x_label: String,
    /// The y axis's label.
    pub y_label: String,
    /// Log x axis.
    pub x_log: bool,
    /// Log y axis.
    pub y_log: bool,
    /// Points instead of lines.
    pub points: bool,
    /// Draw y = x (both axes then share one range).
    pub diagonal: bool,
    /// The series.
    pub series: Vec<Series>,
}

/// A heat map of fractions (printed in percent in each cell).
#[derive(Clone, Debug, PartialEq)]
pub struct Heatmap {
    /// Row names (top to bottom).
    pub rows: Vec<String>,
    /// Column names.
    pub columns: Vec<String>,
    /// values[row][column].
    pub values: Vec<Vec<Option<f64>>>,
    /// What the colour shows.
    pub value_label: String,
}

/// Grouped bars.
#[derive(Clone, Debug, PartialEq)]
pub struct Bars {
    /// One group of bars per category.
    pub categories: Vec<String>,
    /// (legend entry, one value per category).
    pub series: Vec<(String, Vec<Option<f64>>)>,
    /// The y axis's label.
    pub y_label: String,
    /// Log y axis.
    pub y_log: bool,
}

/// A chart.
#[derive(Clone, Debug, PartialEq)]
pub enum Chart {
    /// Lines or points.
    Xy(XyChart),
    /// A heat map.
    Heat(Heatmap),
    /// Grouped bars.
    Bars(Bars),
}

const W: f64 = 760.0;
const H: f64 = 420.0;
const AREA: [f64; 4] = [80.0, 40.0, 450.0, 320.0];

/// A linear or log axis mapping data to pixels.
#[derive(Clone, Copy, Debug)]
struct Scale {
    lo: f64,
    hi: f64,
    log: bool,
    p0: f64,
    p1: f64,
}

impl Scale {
    fn t(&self, v: f64) -> f64 {
        if self.log { v.log10() } else { v }
    }

    fn px(&self, v: f64) -> f64 {
        let (a, b) = (self.t(self.lo), self.t(self.hi));
        self.p0 + (self.t(v) - a) / (b - a) * (self.p1 - self.p0)
    }

    fn ok(&self, v: f64) -> bool {
        v.is_finite() && (!self.log || v > 0.0)
    }

    /// A scale over `values` with round ends, and its ticks.
    fn fit(values: impl Iterator<Item = f64>, log: bool, p0: f64, p1: f64) -> (Scale, Vec<f64>) {
        let vals: Vec<f64> = values.filter(|v| v.is_finite() && (!log || *v > 0.0)).collect();
        let (mut lo, mut hi) =
            vals.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
        if vals.is_empty() {
            (lo, hi) = if log { (1.0, 10.0) } else { (0.0, 1.0) };
        }
        if log {
            let (mut a, mut b) = (lo.log10().floor(), hi.log10().ceil());
            if a == b {
                a -= 1.0;
                b += 1.0;
            }
            let every = ((b - a) / 6.0).ceil().max(1.0);
            let ticks = (0..=((b - a) as i64))
                .filter(|k| *k as f64 % every == 0.0)
                .map(|k| 10f64.powf(a + k as f64))
                .collect();
            return (Scale { lo: 10f64.powf(a), hi: 10f64.powf(b), log, p0, p1 }, ticks);
        }
        if lo == hi {
            let pad = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
            (lo, hi) = (lo - pad, hi + pad);
        }
        let step = nice_step((hi - lo) / 5.0);
        let (a, b) = ((lo / step).floor() * step, (hi / step).ceil() * step);
        let n = ((b - a) / step).round() as i64;
        let ticks = (0..=n).map(|k| a + k as f64 * step).collect();
        (Scale { lo: a, hi: b, log, p0, p1 }, ticks)
    }
}

/// 1, 2 or 5 times a power of ten, at least `raw`.
fn nice_step(raw: f64) -> f64 {
    let e = raw.log10().floor();
    let base = 10f64.powf(e);
    [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * base).find(|s| *s >= raw * 0.999).unwrap_or(10.0 * base)
}

/// A tick label: plain decimals (trailing zeros dropped), and `1e-5` for log ticks outside 1e-3..1e4.
fn tick_label(v: f64, log: bool) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let e = v.abs().log10().round();
    if log && !(-3.0..=4.0).contains(&e) {
        return format!("1e{}", e as i64);
    }
    let s = format!("{v:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.to_string() }
}

/// The SVG text of `chart`, titled `title`; `id` makes its clip path's id unique within a page.
pub fn render(chart: &Chart, id: &str, title: &str) -> String {
    match chart {
        Chart::Xy(c) => xy(c, id, title),
        Chart::Heat(h) => heat(h, title),
        Chart::Bars(b) => bars(b, id, title),
    }
}

fn frame(svg: &mut Svg, title: &str, x_label: &str, y_label: &str) {
    let [x, y, w, h] = AREA;
    svg.text((x, 22.0), title, 14.0, Anchor::Start, 0.0);
    svg.text((x + w / 2.0, y + h + 42.0), x_label, 12.0, Anchor::Middle, 0.0);
    svg.text((18.0, y + h / 2.0), y_label, 12.0, Anchor::Middle, -90.0);
    svg.rect(x, y, w, h, "none", Some("#888888"));
}

fn x_ticks(svg: &mut Svg, s: &Scale, ticks: &[f64]) {
    let [_, y, _, h] = AREA;
    for &t in ticks {
        let px = s.px(t);
        svg.line((px, y), (px, y + h), "#e4e4e4", 1.0, false);
        svg.text((px, y + h + 18.0), &tick_label(t, s.log), 11.0, Anchor::Middle, 0.0);
    }
}

fn y_ticks(svg: &mut Svg, s: &Scale, ticks: &[f64]) {
    let [x, _, w, _] = AREA;
    for &t in ticks {
        let py = s.px(t);
        svg.line((x, py), (x + w, py), "#e4e4e4", 1.0, false);
        svg.text((x - 6.0, py + 4.0), &tick_label(t, s.log), 11.0, Anchor::End, 0.0);
    }
}

/// How a legend entry shows its series.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Key {
    Line { dashed: bool },
    Point,
    Square,
}

/// A legend entry: name, colour index, key.
type Entry = (String, usize, Key);

/// The document width that fits the plot area and the legend's longest entry (text at about 6.2 px per
/// character at 11 px).
fn width_for(entries: &[Entry]) -> f64 {
    let longest = entries.iter().map(|e| e.0.chars().count()).max().unwrap_or(0) as f64;
    (AREA[0] + AREA[2] + 20.0 + 30.0 + longest * 6.2 + 10.0).max(W)
}

fn legend(svg: &mut Svg, entries: &[Entry]) {
    let x = AREA[0] + AREA[2] + 20.0;
    for (k, (name, colour, key)) in entries.iter().enumerate() {
        let y = AREA[1] + 10.0 + 18.0 * k as f64;
        let c = PALETTE[colour % PALETTE.len()];
        match key {
            Key::Point => svg.circle((x + 12.0, y - 4.0), 4.0, c, 1.0),
            Key::Square => svg.rect(x + 6.0, y - 10.0, 12.0, 12.0, c, None),
            Key::Line { dashed } => svg.line((x, y - 4.0), (x + 24.0, y - 4.0), c, 2.0, *dashed),
        }
        svg.text((x + 30.0, y), name, 11.0, Anchor::Start, 0.0);
    }
}

fn xy(c: &XyChart, id: &str, title: &str) -> String {
    let [x, y, w, h] = AREA;
    let xs = c.series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
    let ys = c.series.iter().flat_map(|s| s.points.iter().map(|p| p.1));
    let ((sx, tx), (sy, ty)) = if c.diagonal {
        let all: Vec<f64> = xs.chain(ys).collect();
        (Scale::fit(all.iter().copied(), c.x_log, x, x + w), Scale::fit(all.into_iter(), c.y_log, y + h, y))
    } else {
        (Scale::fit(xs, c.x_log, x, x + w), Scale::fit(ys, c.y_log, y + h, y))
    };
    let key = |s: &Series| if c.points { Key::Point } else { Key::Line { dashed: s.dashed } };
    let entries: Vec<Entry> = c.series.iter().map(|s| (s.name.clone(), s.colour, key(s))).collect();
    let mut svg = Svg::new(width_for(&entries), H, AREA);
    let clip = format!("clip-{id}");
    svg.clip_to_area(&clip);
    x_ticks(&mut svg, &sx, &tx);
    y_ticks(&mut svg, &sy, &ty);
    frame(&mut svg, title, &c.x_label, &c.y_label);
    if c.diagonal {
        let (a, b) = (sx.lo.max(sy.lo), sx.hi.min(sy.hi));
        svg.open("reference", Some(&clip));
        svg.line((sx.px(a), sy.px(a)), (sx.px(b), sy.px(b)), "#555555", 1.0, true);
        svg.close();
        svg.text((x + w - 4.0, y + 14.0), "dashed: y = x", 11.0, Anchor::End, 0.0);
    }
    svg.open("marks", Some(&clip));
    for s in &c.series {
        let colour = PALETTE[s.colour % PALETTE.len()];
        let pts: Vec<(f64, f64)> =
            s.points.iter().filter(|p| sx.ok(p.0) && sy.ok(p.1)).map(|p| (sx.px(p.0), sy.px(p.1))).collect();
        if c.points {
            for p in &pts {
                svg.circle(*p, 2.5, colour, 0.6);
            }
        } else if pts.len() == 1 {
            svg.circle(pts[0], 3.0, colour, 1.0);
        } else if !pts.is_empty() {
            svg.polyline(&pts, colour, 2.0, s.dashed);
        }
    }
    svg.close();
    legend(&mut svg, &entries);
    svg.finish(title)
}

/// Viridis, sampled: chromatic at both ends, so every cell counts as drawn.
const VIRIDIS: [(f64, f64, f64); 5] =
    [(68.0, 1.0, 84.0), (59.0, 82.0, 139.0), (33.0, 145.0, 140.0), (94.0, 201.0, 98.0), (253.0, 231.0, 37.0)];

fn viridis(t: f64) -> String {
    let t = t.clamp(0.0, 1.0) * (VIRIDIS.len() - 1) as f64;
    let k = (t.floor() as usize).min(VIRIDIS.len() - 2);
    let f = t - k as f64;
    let (a, b) = (VIRIDIS[k], VIRIDIS[k + 1]);
    let mix = |p: f64, q: f64| (p + (q - p) * f).round() as u8;
    format!("#{:02x}{:02x}{:02x}", mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

fn heat(hm: &Heatmap, title: &str) -> String {
    let (cell_w, cell_h) = (64.0, 20.0);
    let (x, y) = (150.0, 40.0);
    let (w, h) = (cell_w * hm.columns.len() as f64, cell_h * hm.rows.len() as f64);
    let width = (x + w + 140.0).max(420.0);
    let mut svg = Svg::new(width, y + h + 60.0, [x, y, w, h]);
    svg.text((10.0, 22.0), title, 14.0, Anchor::Start, 0.0);
    let max = hm.values.iter().flatten().flatten().fold(0.0f64, |m, v| m.max(*v));
    let top = if max > 0.0 { max } else { 1.0 };
    for (j, c) in hm.columns.iter().enumerate() {
        svg.text((x + cell_w * (j as f64 + 0.5), y + h + 16.0), c, 11.0, Anchor::Middle, 0.0);
    }
    for (i, r) in hm.rows.iter().enumerate() {
        svg.text((x - 6.0, y + cell_h * (i as f64 + 0.7)), r, 11.0, Anchor::End, 0.0);
    }
    svg.open("marks", None);
    for (i, row) in hm.values.iter().enumerate() {
        for (j, v) in row.iter().enumerate() {
            let (cx, cy) = (x + cell_w * j as f64, y + cell_h * i as f64);
            match v {
                Some(v) => svg.rect(cx, cy, cell_w - 1.0, cell_h - 1.0, &viridis(v / top), None),
                None => svg.rect(cx, cy, cell_w - 1.0, cell_h - 1.0, "#f4f4f4", None),
            }
        }
    }
    svg.close();
    for (i, row) in hm.values.iter().enumerate() {
        for (j, v) in row.iter().enumerate() {
            let at = (x + cell_w * (j as f64 + 0.5), y + cell_h * (i as f64 + 0.7));
            let label = v.map_or("-".to_string(), |v| {
                number::format(v, 2, Precision::Decimals(1), Rounding::Nearest, true)
            });
            // Light text on the dark half of the scale.
            let fill = if v.is_some_and(|v| v / top < 0.55) { "#ffffff" } else { "#111111" };
            svg.text_in(at, &label, 10.0, Anchor::Middle, 0.0, fill);
        }
    }
    // The colour bar.
    let bx = x + w + 20.0;
    for k in 0..20 {
        let t = 1.0 - k as f64 / 19.0;
        svg.rect(bx, y + k as f64 * (h / 20.0), 14.0, h / 20.0 + 0.5, &viridis(t), None);
    }
    svg.text((bx + 18.0, y + 10.0), &format!("{:.1}%", 100.0 * top), 10.0, Anchor::Start, 0.0);
    svg.text((bx + 18.0, y + h), "0%", 10.0, Anchor::Start, 0.0);
    svg.text((x + w / 2.0, y + h + 40.0), &hm.value_label, 12.0, Anchor::Middle, 0.0);
    svg.finish(title)
}

fn bars(b: &Bars, id: &str, title: &str) -> String {
    let [x, y, w, h] = AREA;
    let values = b.series.iter().flat_map(|s| s.1.iter().flatten().copied());
    let (sy, ty) = Scale::fit(values, b.y_log, y + h, y);
    let entries: Vec<Entry> =
        b.series.iter().enumerate().map(|(k, s)| (s.0.clone(), k, Key::Square)).collect();
    let mut svg = Svg::new(width_for(&entries), H, AREA);
    let clip = format!("clip-{id}");
    svg.clip_to_area(&clip);
    y_ticks(&mut svg, &sy, &ty);
    frame(&mut svg, title, "", &b.y_label);
    let n_cat = b.categories.len().max(1) as f64;
    let slot = w / n_cat;
    let bar_w = (slot * 0.8) / b.series.len().max(1) as f64;
    for (i, c) in b.categories.iter().enumerate() {
        svg.text((x + slot * (i as f64 + 0.5), y + h + 18.0), c, 11.0, Anchor::Middle, 0.0);
    }
    let base = if b.y_log { sy.lo } else { 0.0f64.clamp(sy.lo, sy.hi) };
    svg.open("marks", Some(&clip));
    for (k, (_, vals)) in b.series.iter().enumerate() {
        for (i, v) in vals.iter().enumerate() {
            let Some(v) = v.filter(|v| sy.ok(*v)) else { continue };
            let bx = x + slot * i as f64 + slot * 0.1 + bar_w * k as f64;
            let (top, bottom) = (sy.px(v).min(sy.px(base)), sy.px(v).max(sy.px(base)));
            svg.rect(bx, top, bar_w * 0.9, (bottom - top).max(1.0), PALETTE[k % PALETTE.len()], None);
        }
    }
    svg.close();
    legend(&mut svg, &entries);
    svg.finish(title)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_steps_and_log_ticks() {
        assert_eq!(nice_step(0.23), 0.5);
        assert_eq!(nice_step(1.0), 1.0);
        let (s, t) = Scale::fit([0.002, 0.7].into_iter(), true, 0.0, 100.0);
        assert_eq!((s.lo, s.hi), (1e-3, 1.0));
        assert_eq!(t.len(), 4);
        assert_eq!(tick_label(1e-5, true), "1e-5");
        assert_eq!(tick_label(0.01, true), "0.01");
    }

    #[test]
    fn viridis_ends() {
        assert_eq!(viridis(0.0), "#440154");
        assert_eq!(viridis(1.0), "#fde725");
    }
}

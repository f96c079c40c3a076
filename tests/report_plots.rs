//! Every SVG plot of the report parses and draws: rendered with a pure-Rust renderer (resvg, built without its
//! text and system-font features, so no font is needed and none is looked for), its plot area must hold drawn
//! data marks. Marks are told from the white background and the grey grid by colour: every series colour and
//! every heat-map colour is far from grey, so a pixel whose channels differ by more than [`CHROMA`] is a mark.
//! Text is left out of the check (without fonts it is not drawn); a blank chart is shown to fail it.

mod common;

use std::fs;
use std::path::Path;

use common::*;
use lcr_verify::report::chart::{Chart, Heatmap, Series, XyChart, render};
use lcr_verify::report::{ReportRequest, run};
use resvg::{tiny_skia, usvg};

/// The channel spread that makes a pixel coloured: grey and white have none, the palette's colours over 80.
const CHROMA: u8 = 60;
/// Coloured pixels a plot must draw in its plot area.
const MIN_DRAWN: usize = 30;

/// The `data-plot-area` rectangle the writer records on the root element.
fn plot_area(svg: &str) -> [f64; 4] {
    let start = svg.find("data-plot-area=\"").expect("data-plot-area") + "data-plot-area=\"".len();
    let end = start + svg[start..].find('"').unwrap();
    let v: Vec<f64> = svg[start..end].split(' ').map(|x| x.parse().unwrap()).collect();
    [v[0], v[1], v[2], v[3]]
}

/// Parses and renders `svg`, then counts the coloured pixels inside its plot area.
fn drawn_pixels(svg: &str) -> usize {
    let tree = usvg::Tree::from_str(svg, &usvg::Options::default()).expect("the SVG parses");
    let size = tree.size().to_int_size();
    let mut pixmap = tiny_skia::Pixmap::new(size.width(), size.height()).expect("a non-empty canvas");
    resvg::render(&tree, tiny_skia::Transform::default(), &mut pixmap.as_mut());
    let [x, y, w, h] = plot_area(svg);
    let width = size.width() as usize;
    let mut n = 0;
    for (i, p) in pixmap.pixels().iter().enumerate() {
        let (px, py) = ((i % width) as f64 + 0.5, (i / width) as f64 + 0.5);
        if px < x || py < y || px > x + w || py > y + h || p.alpha() < 200 {
            continue;
        }
        let (r, g, b) = (p.red(), p.green(), p.blue());
        if r.max(g).max(b) - r.min(g).min(b) > CHROMA {
            n += 1;
        }
    }
    n
}

#[test]
fn every_plot_of_the_report_parses_and_draws_its_data() {
    let root = tempfile::tempdir().unwrap();
    let runs = write_study(root.path());
    let out = root.path().join("report");
    run(&ReportRequest { runs, formats: vec![], out: Some(out.clone()) }).unwrap();
    let mut plots: Vec<_> = fs::read_dir(out.join("plots")).unwrap().map(|e| e.unwrap().path()).collect();
    plots.sort();
    // Each kind of plot the issue asks for is there.
    for prefix in ["radii-", "accuracy-", "corruption-", "retention-", "training-"] {
        assert!(plots.iter().any(|p| name(p).starts_with(prefix)), "no {prefix}* plot");
    }
    for p in &plots {
        let svg = fs::read_to_string(p).unwrap();
        let drawn = drawn_pixels(&svg);
        assert!(drawn >= MIN_DRAWN, "{}: only {drawn} coloured pixels in the plot area", name(p));
    }
}

fn name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

fn xy(points: Vec<(f64, f64)>) -> Chart {
    Chart::Xy(XyChart {
        x_label: "x".into(),
        y_label: "y".into(),
        x_log: false,
        y_log: false,
        points: false,
        diagonal: true,
        series: vec![Series { name: "series".into(), points, colour: 0, dashed: false }],
    })
}

#[test]
fn a_chart_without_data_fails_the_check() {
    assert_eq!(drawn_pixels(&render(&xy(vec![]), "empty", "no data")), 0);
    assert!(drawn_pixels(&render(&xy(vec![(0.0, 0.0), (1.0, 1.0)]), "one", "a line")) >= MIN_DRAWN);
    let heat = Chart::Heat(Heatmap {
        rows: vec!["a".into()],
        columns: vec!["s1".into(), "s2".into()],
        values: vec![vec![Some(0.0), Some(0.5)]],
        value_label: "error".into(),
    });
    // Both ends of the colour scale count as drawn, a zero error too.
    assert!(drawn_pixels(&render(&heat, "heat", "two cells")) >= 2 * MIN_DRAWN);
}

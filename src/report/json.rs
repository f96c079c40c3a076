//! JSON, for tools: the whole report, every number with its printed text, labels, rounding and exact values
//! (non-finite values as `null`), plots by file with their captions.

use serde_json::{Value, json};

use super::Report;
use super::table::{Cell, Table};

fn cell(c: &Cell) -> Value {
    match c {
        Cell::Text(s) => json!({ "text": s }),
        Cell::Number(n) => json!({
            "text": n.text(),
            "function": n.function.map(|f| f.name()),
            "soundness": n.soundness,
            "rounding": n.style.rounding,
            "percent": n.style.percent,
            "n": n.summary.n(),
            "mean": n.summary.mean(),
            "sd": n.summary.sd(),
            "values": n.summary.values,
        }),
        Cell::Diff(d) => json!({
            "text": d.text(),
            "function": d.function.map(|f| f.name()),
            "soundness": d.soundness,
            "percent": d.style.percent,
            "difference": d.diff.mean,
            "spread": d.diff.spread,
            "paired": d.diff.paired,
            "n": d.diff.n,
            "values": d.diff.values,
            "verdict": d.diff.verdict,
        }),
    }
}

fn table(t: &Table) -> Value {
    json!({
        "id": t.id,
        "title": t.title,
        "note": t.note,
        "columns": t.columns,
        "rows": t.rows.iter().map(|r| r.iter().map(cell).collect::<Vec<_>>()).collect::<Vec<_>>(),
    })
}

/// The whole report as pretty JSON with a trailing newline.
pub fn render(report: &Report) -> String {
    let sections: Vec<Value> = report
        .sections
        .iter()
        .map(|s| {
            json!({
                "id": s.id,
                "title": s.title,
                "intro": s.intro,
                "not_run": s.not_run,
                "tables": s.tables.iter().map(table).collect::<Vec<_>>(),
                "plots": s.plots.iter().map(|p| json!({
                    "id": p.id, "file": format!("plots/{}.svg", p.id), "title": p.title, "caption": p.caption,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let v = json!({
        "title": report.title,
        "generator": report.generator,
        "legend": super::LEGEND,
        "sections": sections,
    });
    serde_json::to_string_pretty(&v).unwrap_or_else(|_| "{}".into()) + "\n"
}

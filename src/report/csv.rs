//! CSV, for tools: one line per number, with its table, row, column, labels, rounding, and the exact values
//! (mean, sd, each seed's) beside the printed text.

use super::Report;
use super::table::{Cell, Table};

/// A field quoted when it holds a comma, a quote or a line break (RFC 4180).
fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}

/// An exact value: Rust's shortest round-trip text, empty for none.
fn exact(v: Option<f64>) -> String {
    v.map_or(String::new(), |v| v.to_string())
}

const HEADER: &str =
    "section,table,row,column,kind,text,function,soundness,rounding,n,mean,sd,values,verdict";

fn lines(section: &str, t: &Table, out: &mut Vec<String>) {
    for row in &t.rows {
        let lead = row.iter().take_while(|c| matches!(c, Cell::Text(_))).count();
        let key: Vec<String> = row[..lead].iter().map(Cell::bare_text).collect();
        let key = key.join(" / ");
        for (c, cell) in row.iter().enumerate().skip(lead) {
            let column = t.columns.get(c).map_or("", String::as_str);
            let labels = cell.labels();
            let function = labels.and_then(|l| l.0).map_or("", |f| f.name());
            let soundness = labels.map_or("", |l| l.1.name());
            let (kind, rounding, n, mean, sd, values, verdict) = match cell {
                Cell::Text(_) => ("text", String::new(), String::new(), None, None, String::new(), ""),
                Cell::Number(x) => (
                    "number",
                    format!("{:?}", x.style.rounding).to_lowercase(),
                    x.summary.n().to_string(),
                    x.summary.mean(),
                    x.summary.sd(),
                    x.summary
                        .values
                        .iter()
                        .map(|v| format!("{}:{}", v.seed, v.value))
                        .collect::<Vec<_>>()
                        .join(";"),
                    "",
                ),
                Cell::Diff(d) => (
                    "difference",
                    "nearest".into(),
                    d.diff.n.to_string(),
                    Some(d.diff.mean),
                    d.diff.spread,
                    d.diff
                        .values
                        .iter()
                        .map(|v| format!("{}:{}", v.seed, v.value))
                        .collect::<Vec<_>>()
                        .join(";"),
                    d.diff.verdict.statement(),
                ),
            };
            let fields = [
                section.to_string(),
                t.id.clone(),
                key.clone(),
                column.to_string(),
                kind.to_string(),
                cell.bare_text(),
                function.to_string(),
                soundness.to_string(),
                rounding,
                n,
                exact(mean),
                exact(sd),
                values,
                verdict.to_string(),
            ];
            out.push(fields.iter().map(|f| field(f)).collect::<Vec<_>>().join(","));
        }
    }
}

/// The whole report; a section that did not run is one line of kind `not-run`.
pub fn render(report: &Report) -> String {
    let mut out = vec![HEADER.to_string()];
    for s in &report.sections {
        if let Some(why) = &s.not_run {
            out.push(format!("{},,,,not-run,{},,,,,,,,", field(&s.id), field(why)));
        }
        for t in &s.tables {
            lines(&s.id, t, &mut out);
        }
    }
    out.join("\n") + "\n"
}

//! Markdown, for reading: a heading per section, each table after its note on how to read it, plots linked from
//! `plots/` with their captions.

use std::fmt::Write as _;

use super::Report;
use super::table::Table;

/// `|` escaped so a cell stays one cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|")
}

/// One table in GitHub-flavoured Markdown (numbers right-aligned), every number with its labels.
pub fn table(t: &Table) -> String {
    let l = t.layout();
    let mut s = format!("### {}\n\n{}\n\n", t.title, t.note);
    let _ = writeln!(s, "| {} |", l.headers.iter().map(|h| cell(h)).collect::<Vec<_>>().join(" | "));
    let rule: Vec<&str> = l.numeric.iter().map(|&n| if n { "---:" } else { "---" }).collect();
    let _ = writeln!(s, "|{}|", rule.join("|"));
    for r in &l.rows {
        let _ = writeln!(s, "| {} |", r.iter().map(|c| cell(c)).collect::<Vec<_>>().join(" | "));
    }
    s
}

/// The whole report.
pub fn render(report: &Report) -> String {
    let mut s = format!("# {}\n\nWritten by {}.\n", report.title, report.generator);
    for sec in &report.sections {
        let _ = write!(s, "\n## {}\n\n", sec.title);
        if let Some(why) = &sec.not_run {
            let _ = writeln!(s, "{why}.");
            continue;
        }
        if !sec.intro.is_empty() {
            let _ = writeln!(s, "{}\n", sec.intro);
        }
        for (k, t) in sec.tables.iter().enumerate() {
            if k > 0 {
                s.push('\n');
            }
            s.push_str(&table(t));
        }
        for p in &sec.plots {
            let _ = write!(s, "\n![{}](plots/{}.svg)\n\n*{}*\n", p.title, p.id, p.caption);
        }
    }
    s
}

//! LaTeX, for papers: one compilable document (pdfLaTeX; packages booktabs and adjustbox) with one booktabs
//! table per report table, its note below it, every number with its labels. Wide tables are shrunk to the text
//! width, never enlarged.

use std::fmt::Write as _;

use super::Report;
use super::table::Table;

/// `s` with LaTeX's special characters escaped and the report's non-ASCII symbols as math.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\textbackslash{}"),
            '&' | '%' | '$' | '#' | '_' | '{' | '}' => {
                out.push('\\');
                out.push(c);
            }
            '~' => out.push_str("\\textasciitilde{}"),
            '^' => out.push_str("\\textasciicircum{}"),
            '|' => out.push_str("\\textbar{}"),
            '<' => out.push_str("\\textless{}"),
            '>' => out.push_str("\\textgreater{}"),
            'ε' => out.push_str("$\\varepsilon$"),
            '±' => out.push_str("$\\pm$"),
            'λ' => out.push_str("$\\lambda$"),
            'σ' => out.push_str("$\\sigma$"),
            'ρ' => out.push_str("$\\rho$"),
            'Σ' => out.push_str("$\\Sigma$"),
            'ℓ' => out.push_str("$\\ell$"),
            '∞' => out.push_str("$\\infty$"),
            '·' => out.push_str("$\\cdot$"),
            '≤' => out.push_str("$\\leq$"),
            '≥' => out.push_str("$\\geq$"),
            '−' => out.push_str("$-$"),
            '√' => out.push_str("$\\surd$"),
            '²' => out.push_str("$^2$"),
            '→' => out.push_str("$\\to$"),
            '–' => out.push_str("--"),
            '—' => out.push_str("---"),
            c => out.push(c),
        }
    }
    out
}

/// Prose escaped, with `code` spans in typewriter type.
fn prose(s: &str) -> String {
    s.split('`')
        .enumerate()
        .map(|(k, part)| if k % 2 == 1 { format!("\\texttt{{{}}}", escape(part)) } else { escape(part) })
        .collect()
}

/// One table as a `table` float with a booktabs `tabular`.
pub fn table(t: &Table) -> String {
    let l = t.layout();
    let spec: String = l.numeric.iter().map(|&n| if n { 'r' } else { 'l' }).collect();
    let mut s = String::from("\\begin{table}[htbp]\n\\centering\\small\n");
    let _ = writeln!(s, "\\caption{{{}}}\\label{{tab:{}}}", escape(&t.title), t.id);
    let _ =
        writeln!(s, "\\begin{{adjustbox}}{{max width=\\textwidth}}\n\\begin{{tabular}}{{{spec}}}\n\\toprule");
    let _ = writeln!(
        s,
        "{} \\\\\n\\midrule",
        l.headers.iter().map(|h| escape(h)).collect::<Vec<_>>().join(" & ")
    );
    for r in &l.rows {
        let _ = writeln!(s, "{} \\\\", r.iter().map(|c| escape(c)).collect::<Vec<_>>().join(" & "));
    }
    s.push_str("\\bottomrule\n\\end{tabular}\n\\end{adjustbox}\n");
    let _ = writeln!(s, "\\par\\smallskip\\footnotesize {}\n\\end{{table}}", prose(&t.note));
    s
}

/// The whole report as a document.
pub fn render(report: &Report) -> String {
    let mut s = String::from(
        "\\documentclass{article}\n\\usepackage[utf8]{inputenc}\n\\usepackage[T1]{fontenc}\n\
         \\usepackage{booktabs}\n\\usepackage{adjustbox}\n\\usepackage[margin=2cm]{geometry}\n\
         \\begin{document}\n",
    );
    let _ = writeln!(
        s,
        "\\section*{{{}}}\n{}. {}\n",
        escape(&report.title),
        escape(&report.generator),
        prose(super::LEGEND)
    );
    for sec in &report.sections {
        let _ = writeln!(s, "\\subsection*{{{}}}", escape(&sec.title));
        if let Some(why) = &sec.not_run {
            let _ = writeln!(s, "{}.\n", escape(why));
            continue;
        }
        if !sec.intro.is_empty() && sec.id != "runs" {
            let _ = writeln!(s, "{}\n", prose(&sec.intro));
        }
        for t in &sec.tables {
            s.push_str(&table(t));
        }
        s.push_str("\\clearpage\n");
    }
    s.push_str("\\end{document}\n");
    s
}

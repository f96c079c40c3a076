//! One self-contained HTML page for sharing a study: the tables, the plots as inline SVG, a small stylesheet,
//! and nothing fetched from anywhere.
//!
//! A short script checks the page once loaded: every plot has a size and draws at least one data mark (an
//! element of its `g.marks` with a non-empty box). It writes the verdict into the element `#render-check`
//! (`data-status` `ok` or `failed`), which the browser test reads from the rendered DOM.

use std::fmt::Write as _;

use super::Report;
use super::svg::escape;
use super::table::Table;

const STYLE: &str = "body{font-family:sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;color:#222;\
line-height:1.4}table{border-collapse:collapse;margin:0.5rem 0 1.5rem;font-size:0.85rem}\
th,td{border-bottom:1px solid #ddd;padding:0.25rem 0.5rem;vertical-align:top}th{text-align:left;\
border-bottom:2px solid #888}td.num{text-align:right;white-space:nowrap}p.note{font-size:0.9rem;color:#444}\
figure{margin:1rem 0 2rem}figcaption{font-size:0.85rem;color:#444;max-width:48rem}\
.not-run{color:#a33}#render-check{font-size:0.8rem;color:#666}";

const SCRIPT: &str = r#"(function () {
  var out = document.getElementById('render-check');
  function report(problems, plots) {
    out.setAttribute('data-status', problems.length === 0 ? 'ok' : 'failed');
    out.textContent = problems.length === 0
      ? 'render-check: ok, ' + plots + ' plot(s) drawn'
      : 'render-check: failed: ' + problems.join('; ');
  }
  window.addEventListener('error', function (e) { report(['script error: ' + e.message], 0); });
  window.addEventListener('load', function () {
    var problems = [];
    var svgs = document.querySelectorAll('figure svg');
    for (var i = 0; i < svgs.length; i++) {
      var svg = svgs[i];
      var name = svg.getAttribute('data-plot') || ('plot ' + (i + 1));
      var box = svg.getBoundingClientRect();
      if (!(box.width > 0 && box.height > 0)) { problems.push(name + ': no size'); continue; }
      var marks = svg.querySelectorAll('g.marks > *');
      var drawn = 0;
      for (var k = 0; k < marks.length; k++) {
        var b = marks[k].getBBox();
        if (b.width > 0 || b.height > 0) { drawn++; }
      }
      if (drawn === 0) { problems.push(name + ': nothing drawn'); }
    }
    var expected = parseInt(out.getAttribute('data-expected'), 10);
    if (svgs.length !== expected) { problems.push(svgs.length + ' plots on the page, ' + expected + ' expected'); }
    report(problems, svgs.length);
  });
})();"#;

/// Prose escaped, with `code` spans as `<code>`.
fn prose(s: &str) -> String {
    let mut out = String::new();
    for (k, part) in escape(s).split('`').enumerate() {
        if k % 2 == 1 {
            out.push_str(&format!("<code>{part}</code>"));
        } else {
            out.push_str(part);
        }
    }
    out
}

fn table(t: &Table) -> String {
    let l = t.layout();
    let mut s = format!(
        "<h3 id=\"{}\">{}</h3>\n<p class=\"note\">{}</p>\n<table>\n<thead><tr>",
        t.id,
        escape(&t.title),
        prose(&t.note)
    );
    for h in &l.headers {
        let _ = write!(s, "<th>{}</th>", escape(h));
    }
    s.push_str("</tr></thead>\n<tbody>\n");
    for r in &l.rows {
        s.push_str("<tr>");
        for (c, v) in r.iter().enumerate() {
            let class = if l.numeric.get(c).copied().unwrap_or(false) { " class=\"num\"" } else { "" };
            let _ = write!(s, "<td{class}>{}</td>", escape(v));
        }
        s.push_str("</tr>\n");
    }
    s.push_str("</tbody>\n</table>\n");
    s
}

/// The whole page.
pub fn render(report: &Report) -> String {
    let plots = report.plots().count();
    let mut s = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n\
         <style>{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n<p>Written by {}.</p>\n",
        escape(&report.title),
        escape(&report.title),
        escape(&report.generator)
    );
    for sec in &report.sections {
        let _ = writeln!(s, "<section id=\"{}\">\n<h2>{}</h2>", sec.id, escape(&sec.title));
        if let Some(why) = &sec.not_run {
            let _ = writeln!(s, "<p class=\"not-run\">{}.</p>\n</section>", escape(why));
            continue;
        }
        if !sec.intro.is_empty() {
            let _ = writeln!(s, "<p>{}</p>", prose(&sec.intro));
        }
        for t in &sec.tables {
            s.push_str(&table(t));
        }
        for p in &sec.plots {
            let svg = p.svg().replacen("<svg ", &format!("<svg data-plot=\"{}\" ", p.id), 1);
            let _ = writeln!(
                s,
                "<figure id=\"plot-{}\">\n{svg}<figcaption>{}</figcaption>\n</figure>",
                p.id,
                prose(&p.caption)
            );
        }
        s.push_str("</section>\n");
    }
    let _ = writeln!(
        s,
        "<p id=\"render-check\" data-status=\"pending\" data-expected=\"{plots}\">render-check: pending (the page's \
         script did not run)</p>\n<script>\n{SCRIPT}\n</script>\n</body>\n</html>"
    );
    s
}

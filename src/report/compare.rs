//! LCR minus baseline: every headline figure of a regularised configuration against its baseline's, the
//! difference with its spread over seeds, and whether the difference exceeds that spread.

use super::group::{Comparison, Group};
use super::metric::Metric;
use super::stats::Difference;
use super::table::{Cell, DiffCell, Number, Table};
use super::{Section, accuracy, bounds, corruption, radii, training};

/// Every headline figure, in report order.
fn headlines(groups: &[Group]) -> Vec<Metric> {
    let mut v = training::headlines();
    v.extend(bounds::headlines(groups));
    v.extend(accuracy::headlines(groups));
    v.extend(radii::headlines(groups));
    v.extend(corruption::headlines(groups));
    v
}

/// The comparison section.
pub fn section(groups: &[Group], comparisons: &[Comparison]) -> Section {
    let title = "LCR minus baseline";
    if comparisons.is_empty() {
        return Section::not_run(
            "compare",
            title,
            "not run: the runs hold no configuration with λ > 0 together with a baseline (λ = 0) that agrees \
             with it on every key outside the regulariser's"
                .into(),
        );
    }
    let metrics = headlines(groups);
    let mut tables = Vec::new();
    for (k, c) in comparisons.iter().enumerate() {
        let (t, b) = (&groups[c.treatment], &groups[c.baseline]);
        let mut rows = Vec::new();
        for m in &metrics {
            let (st, sb) = (m.summary(t), m.summary(b));
            if st.n() == 0 && sb.n() == 0 {
                continue;
            }
            let number = |summary| {
                Cell::Number(Number { summary, style: m.style, function: m.function, soundness: m.soundness })
            };
            let diff = Difference::of(&st, &sb);
            let verdict = diff.as_ref().map_or("-", |d| d.verdict.statement());
            rows.push(vec![
                Cell::text(&m.name),
                number(sb),
                number(st),
                match diff {
                    Some(diff) => Cell::Diff(DiffCell {
                        diff,
                        style: m.style,
                        function: m.function,
                        soundness: m.soundness,
                    }),
                    None => Cell::text("-"),
                },
                Cell::text(verdict),
            ]);
        }
        tables.push(Table {
            id: if comparisons.len() == 1 { "compare".into() } else { format!("compare-{}", k + 1) },
            title: format!("{} minus {}", t.label, b.label),
            note: "Each headline figure of the regularised configuration and of its baseline (mean ± sd over \
                   seeds), their difference (regularised − baseline), and the spread the difference is judged \
                   against: with seeds in common, the difference is the mean of the per-seed differences and the \
                   spread their sample sd; otherwise √(sd² + sd²) of the two sides. A difference exceeds the spread \
                   when its size is larger; with one seed there is no spread to judge by. The labels are the \
                   compared figures'; a difference of two bounds is not itself a bound, and is rounded to the \
                   nearest."
                .into(),
            columns: ["figure", "baseline", "regularised", "difference", "against the seed spread"]
                .map(String::from)
                .to_vec(),
            rows,
        });
    }
    Section {
        id: "compare".into(),
        title: title.into(),
        intro: String::new(),
        not_run: None,
        tables,
        plots: vec![],
    }
}

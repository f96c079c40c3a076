//! A small SVG writer: the elements the plots need, coordinates with two decimals, text escaped.
//!
//! Text is SVG `<text>` with the generic `sans-serif` family, so a page or a viewer draws it with whatever font it
//! has and nothing is embedded or fetched. The data marks of a plot sit in a `<g class="marks">` element inside the
//! plot area that the root element names in `data-plot-area="x y width height"`: a check (a renderer test, the HTML
//! page's own script) can find what must be drawn without reading any text.

use std::fmt::Write as _;

/// An SVG document being written.
pub struct Svg {
    width: f64,
    height: f64,
    area: [f64; 4],
    body: String,
}

/// A number as SVG text: two decimals, no `-0.00`.
pub fn num(v: f64) -> String {
    let s = format!("{v:.2}");
    if s == "-0.00" { "0.00".into() } else { s }
}

/// `s` with the five XML special characters escaped.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Where text is anchored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Anchor {
    /// At its start.
    Start,
    /// At its middle.
    Middle,
    /// At its end.
    End,
}

impl Svg {
    /// A `width × height` document whose plot area is `area` = [x, y, width, height].
    pub fn new(width: f64, height: f64, area: [f64; 4]) -> Svg {
        Svg { width, height, area, body: String::new() }
    }

    /// A rectangle.
    pub fn rect(&mut self, x: f64, y: f64, w: f64, h: f64, fill: &str, stroke: Option<&str>) {
        let stroke = stroke.map_or(String::new(), |s| format!(" stroke=\"{s}\" stroke-width=\"1\""));
        let _ = writeln!(
            self.body,
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{fill}\"{stroke}/>",
            num(x),
            num(y),
            num(w.max(0.0)),
            num(h.max(0.0))
        );
    }

    /// A straight line.
    pub fn line(&mut self, from: (f64, f64), to: (f64, f64), stroke: &str, width: f64, dashed: bool) {
        let dash = if dashed { " stroke-dasharray=\"6 4\"" } else { "" };
        let _ = writeln!(
            self.body,
            "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{stroke}\" stroke-width=\"{}\"{dash}/>",
            num(from.0),
            num(from.1),
            num(to.0),
            num(to.1),
            num(width)
        );
    }

    /// A polyline through `points`.
    pub fn polyline(&mut self, points: &[(f64, f64)], stroke: &str, width: f64, dashed: bool) {
        let pts: Vec<String> = points.iter().map(|(x, y)| format!("{},{}", num(*x), num(*y))).collect();
        let dash = if dashed { " stroke-dasharray=\"6 4\"" } else { "" };
        let _ = writeln!(
            self.body,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{stroke}\" stroke-width=\"{}\"{dash}/>",
            pts.join(" "),
            num(width)
        );
    }

    /// A filled circle.
    pub fn circle(&mut self, c: (f64, f64), r: f64, fill: &str, opacity: f64) {
        let _ = writeln!(
            self.body,
            "<circle cx=\"{}\" cy=\"{}\" r=\"{}\" fill=\"{fill}\" fill-opacity=\"{}\"/>",
            num(c.0),
            num(c.1),
            num(r),
            num(opacity)
        );
    }

    /// Text at (x, y) (the baseline), rotated by `rotate` degrees about that point.
    pub fn text(&mut self, at: (f64, f64), s: &str, size: f64, anchor: Anchor, rotate: f64) {
        self.text_in(at, s, size, anchor, rotate, "#222222");
    }

    /// [`Svg::text`] in colour `fill`.
    pub fn text_in(&mut self, at: (f64, f64), s: &str, size: f64, anchor: Anchor, rotate: f64, fill: &str) {
        let anchor = match anchor {
            Anchor::Start => "start",
            Anchor::Middle => "middle",
            Anchor::End => "end",
        };
        let rot = if rotate == 0.0 {
            String::new()
        } else {
            format!(" transform=\"rotate({} {} {})\"", num(rotate), num(at.0), num(at.1))
        };
        let _ = writeln!(
            self.body,
            "<text x=\"{}\" y=\"{}\" font-size=\"{}\" text-anchor=\"{anchor}\" fill=\"{fill}\"{rot}>{}</text>",
            num(at.0),
            num(at.1),
            num(size),
            escape(s)
        );
    }

    /// Opens a group with a class (and a clip path, by id).
    pub fn open(&mut self, class: &str, clip: Option<&str>) {
        let clip = clip.map_or(String::new(), |c| format!(" clip-path=\"url(#{c})\""));
        let _ = writeln!(self.body, "<g class=\"{class}\"{clip}>");
    }

    /// Closes the last group.
    pub fn close(&mut self) {
        self.body.push_str("</g>\n");
    }

    /// A clip path with id `id` over the plot area.
    pub fn clip_to_area(&mut self, id: &str) {
        let [x, y, w, h] = self.area;
        let _ = writeln!(
            self.body,
            "<defs><clipPath id=\"{id}\"><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/></clipPath></defs>",
            num(x),
            num(y),
            num(w),
            num(h)
        );
    }

    /// The document's text, with a `<title>` for `title`.
    pub fn finish(self, title: &str) -> String {
        let [x, y, w, h] = self.area;
        format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" viewBox=\"0 0 {} {}\" \
             font-family=\"sans-serif\" data-plot-area=\"{} {} {} {}\">\n<title>{}</title>\n\
             <rect x=\"0\" y=\"0\" width=\"{}\" height=\"{}\" fill=\"#ffffff\"/>\n{}</svg>\n",
            num(self.width),
            num(self.height),
            num(self.width),
            num(self.height),
            num(x),
            num(y),
            num(w),
            num(h),
            escape(title),
            num(self.width),
            num(self.height),
            self.body
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_numbers_fixed() {
        let mut s = Svg::new(100.0, 50.0, [10.0, 5.0, 80.0, 40.0]);
        s.text((1.0, 2.0), "a < b & \"c\"", 10.0, Anchor::Start, 0.0);
        let out = s.finish("t&t");
        assert!(out.contains("a &lt; b &amp; &quot;c&quot;"), "{out}");
        assert!(out.contains("<title>t&amp;t</title>"));
        assert!(out.contains("data-plot-area=\"10.00 5.00 80.00 40.00\""));
        assert_eq!(num(-0.0001), "0.00");
    }
}

//! The report's HTML page in a real browser: headless Chromium (Debian's `chromium`, installed by `.ci/run`)
//! loads the page from disk, the page's own script checks that every plot has a size and draws a data mark and
//! writes its verdict into `#render-check`, and the test reads the rendered DOM. Any console message (a script
//! error included) fails the test; the page logs none.
//!
//! Without Chromium on the machine the tests print a note and pass, unless `LCR_VERIFY_REQUIRE_BROWSER` is set
//! (`.ci/run` sets it), in which case they fail.

mod common;

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use lcr_verify::report::{ReportRequest, run};

/// The browser, if there is one.
fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    for name in ["chromium", "chromium-browser"] {
        if let Some(p) = std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file()) {
            return Some(p);
        }
    }
    if std::env::var_os("LCR_VERIFY_REQUIRE_BROWSER").is_some() {
        panic!("LCR_VERIFY_REQUIRE_BROWSER is set but no chromium is on the PATH (apt-get install chromium)");
    }
    // Written to the standard error handle itself, which the test harness does not capture, so that the note
    // shows even though the test passes.
    let _ = writeln!(
        std::io::stderr(),
        "\n*** NOTE: chromium is not installed: the HTML report was NOT checked in a browser. ***\n\
         *** Install it (apt-get install chromium) or set LCR_VERIFY_REQUIRE_BROWSER=1 to make this fail. ***\n"
    );
    None
}

/// What the browser made of a page: the rendered DOM and its console lines.
struct Rendered {
    dom: String,
    console: Vec<String>,
}

/// Loads `page` in headless Chromium (at most 120 s) and returns the DOM after the load handlers ran.
fn render(browser: &Path, page: &Path, profile: &Path) -> Rendered {
    let o = Command::new("timeout")
        .arg("120")
        .arg(browser)
        .args([
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("running chromium");
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "chromium failed ({:?}):\n{stderr}", o.status.code());
    let console = stderr.lines().filter(|l| l.contains(":CONSOLE")).map(String::from).collect();
    Rendered { dom: String::from_utf8_lossy(&o.stdout).into_owned(), console }
}

/// The `data-status` of `#render-check` and its text.
fn verdict(dom: &str) -> (String, String) {
    let at = dom.find("id=\"render-check\"").expect("#render-check in the DOM");
    let tag_end = at + dom[at..].find('>').unwrap();
    let tag = &dom[at..tag_end];
    let s = tag.find("data-status=\"").expect("data-status") + "data-status=\"".len();
    let status = tag[s..s + tag[s..].find('"').unwrap()].to_string();
    let text_end = tag_end + dom[tag_end..].find("</p>").unwrap();
    (status, dom[tag_end + 1..text_end].to_string())
}

#[test]
fn the_html_report_renders_every_plot_without_console_errors() {
    let Some(browser) = chromium() else { return };
    let root = tempfile::tempdir().unwrap();
    let runs = write_study(root.path());
    let out = root.path().join("report");
    run(&ReportRequest { runs, formats: vec![], out: Some(out.clone()) }).unwrap();
    let page = out.join("report.html");
    let plots = fs::read_dir(out.join("plots")).unwrap().count();
    let r = render(&browser, &page, &root.path().join("profile"));
    assert!(r.console.is_empty(), "console messages:\n{}", r.console.join("\n"));
    let (status, text) = verdict(&r.dom);
    assert_eq!(status, "ok", "{text}");
    assert_eq!(text, format!("render-check: ok, {plots} plot(s) drawn"));
    // The page is self-contained: nothing is fetched.
    let html = fs::read_to_string(&page).unwrap();
    for needle in ["src=", "href=", "@import", "url(http"] {
        assert!(!html.contains(needle), "report.html refers to something outside it ({needle})");
    }
}

#[test]
fn a_blank_plot_and_a_console_error_are_caught() {
    let Some(browser) = chromium() else { return };
    let root = tempfile::tempdir().unwrap();
    let runs = write_study(root.path());
    let out = root.path().join("report");
    run(&ReportRequest { runs, formats: vec![lcr_verify::report::Format::Html], out: Some(out.clone()) })
        .unwrap();
    let html = fs::read_to_string(out.join("report.html")).unwrap();
    // The first plot loses its data marks (its marks group renamed), and the page logs an error.
    let broken = html.replacen("<g class=\"marks\"", "<g class=\"no-marks\"", 1).replacen(
        "</body>",
        "<script>console.error('injected');</script>\n</body>",
        1,
    );
    let page = root.path().join("broken.html");
    fs::write(&page, broken).unwrap();
    let r = render(&browser, &page, &root.path().join("profile"));
    let (status, text) = verdict(&r.dom);
    assert_eq!(status, "failed", "{text}");
    assert!(text.contains("training-ce: nothing drawn"), "{text}");
    assert!(r.console.iter().any(|l| l.contains("injected")), "{:?}", r.console);
}

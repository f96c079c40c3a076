//! Progress bars on standard error, shared by the long stages.

use indicatif::{ProgressBar, ProgressStyle};

/// A bar counting `total` images, or a hidden one when `enabled` is false. indicatif draws nothing when standard
/// error is not a terminal.
pub fn images(total: u64, enabled: bool) -> ProgressBar {
    if !enabled {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{msg:>24} [{bar:40}] {pos}/{len} images, {per_sec}, eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar
}

//! Fixtures shared by the integration tests.
#![allow(dead_code, unused_imports)]

mod files;
mod images;
mod nets;
mod report_runs;

pub use files::*;
pub use images::*;
pub use nets::*;
pub use report_runs::*;

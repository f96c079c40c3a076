//! Fixtures shared by the integration tests.
#![allow(dead_code, unused_imports)]

mod files;
mod nets;

pub use files::*;
pub use nets::*;

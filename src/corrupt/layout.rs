//! Benchmark file layouts.

//! Preview grid.

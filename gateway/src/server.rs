//! Filled in by the data-plane work.

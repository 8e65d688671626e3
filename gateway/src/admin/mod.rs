//! Admin API: filled in by the admin work.

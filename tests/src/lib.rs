//! End-to-end harness: starts the real binaries on free ports in temp dirs.

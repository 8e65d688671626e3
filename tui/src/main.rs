//! The `apisix-tui` binary.

fn main() {}

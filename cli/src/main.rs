//! `apisixctl`: the command-line client of the gateway's Admin and Control APIs.

fn main() {}

//! Property tests (proptest, stable Rust, run by `cargo test` and `make test`): each module
//! checks one component against a plain model of what it must do, over random inputs.
//!
//! - `router`: stream route matching against an oracle written from REFERENCE.md §5.
//! - `balancer`: roundrobin follows the weights within 1 % (priorities included); chash moves
//!   at most 1/N + 5 % of the keys when one of N nodes goes.
//! - `proxy_header`: PROXY protocol v1/v2 encode → parse gives the addresses back.
//! - `env_substitution`: `${{VAR}}` never changes the YAML document's structure.
//!
//! A failure prints the shrunk input; proptest saves its seed next to the test file
//! (`properties/<module>.proptest-regressions`) and replays it first on the next run: commit
//! that file with the fix. `PROPTEST_CASES=5000 cargo test -p apisix-gateway --test
//! properties` runs a longer search.

#[path = "properties/balancer.rs"]
mod balancer;
#[path = "properties/env_substitution.rs"]
mod env_substitution;
#[path = "properties/proxy_header.rs"]
mod proxy_header;
#[path = "properties/router.rs"]
mod router;

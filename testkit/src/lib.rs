//! Test support shared by the workspace's test crates (`apisix-gateway`, `apisixctl` and
//! `apisix-tui` as a dev-dependency, and the `e2e` crate). Never a dependency of a shipped
//! binary.
//!
//! Layout:
//! - [`wait`]: bounded waits: [`wait::within`] (one step), [`wait::eventually`] and
//!   [`wait::until`] (polling a condition), the step timeout and poll interval.
//! - [`ports`]: free ports below the ephemeral range, never handed out twice per process.
//! - [`programs`]: locating system programs (etcd, mariadbd, ...) and workspace binaries in
//!   the target dir; process log helpers.
//! - [`ctl`]: running the real `apisixctl` with a clean environment.
//! - [`certs`]: a throw-away PKI (rcgen): a CA, leaves signed by it, TLS client configs.
//! - [`backends`]: TCP and UDP echo and tagged backends on 127.0.0.1 port 0.
//! - [`dns`]: a DNS server on 127.0.0.1 whose A / AAAA answers a test sets, removes
//!   (`NXDOMAIN`) or withholds (timeouts).
//! - [`client`]: TCP client steps with a timeout each (connect, greeting line, echo round
//!   trip, expect the peer to close).
//! - [`http_double`]: a recording HTTP/1.1 server whose answers a closure chooses (an Admin
//!   or Control API double for the CLI and TUI tests).
//! - [`etcd`]: a real single-node etcd, a real 3-member loopback cluster, and a relay that
//!   swallows a member's answers.
//!
//! Every wait has a timeout; no sleep is used as synchronisation.

pub mod backends;
pub mod certs;
pub mod client;
pub mod ctl;
pub mod dns;
pub mod etcd;
pub mod http_double;
pub mod ports;
pub mod programs;
pub mod wait;

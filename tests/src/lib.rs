//! End-to-end harness: starts the real binaries on free ports in temp dirs, against real
//! backends, a real etcd and a real MariaDB, and gives tests small typed handles on them.
//!
//! Layout (the first seven come from the shared `testkit` crate, re-exported under the names the
//! tests use):
//! - [`ports`]: free-port probing (TCP and UDP), never handing out the same port twice.
//! - [`wait`]: polling with a deadline (the only way tests wait for anything).
//! - [`tools`]: locating system programs (etcd, mariadbd, ...); a missing one fails the test
//!   with the package to install.
//! - [`backends`]: TCP echo / greeting servers and a UDP echo server that count connections.
//! - [`client`]: TCP client helpers with timeouts (read a greeting, echo round trips, expect
//!   the gateway to close the connection).
//! - [`etcd`]: a throwaway single-node etcd ([`etcd::EtcdServer`]).
//! - [`dns`]: a DNS server on 127.0.0.1 whose answers the test sets ([`dns::DnsServer`]).
//! - [`gateway`]: [`gateway::Gateway`], the real `apisix-gateway` process in a temp prefix, with
//!   Admin API helpers and lifecycle controls (kill -9, restart, SIGTERM, reload).
//! - [`tmux`]: a terminal program in a detached tmux session (screen capture, keys).
//! - [`mariadb`]: a throwaway MariaDB server and the `mariadb` command-line client.
//! - [`netns`]: a test bed of hosts on one machine (network namespaces, bridges, veths under
//!   `198.18.0.0/15`), swept and torn down by name.
//! - [`cluster`]: a real 3-member etcd cluster, one member per host (leader, revision, kill,
//!   restart, cut off).
//! - [`fault_relay`]: a TCP relay in front of an upstream node that injects faults (delay,
//!   drop, reset, blackhole) switched at run time.
//! - [`fleet`]: etcd cluster + gateways + echo nodes on their own hosts, with Admin churn,
//!   long-lived sessions and convergence measurements for the fault scenarios.
//!
//! Every wait has a timeout; no sleep is used as synchronisation.

pub mod cluster;
pub mod fault_relay;
pub mod fleet;
pub mod gateway;
pub mod mariadb;
pub mod netns;
pub mod tmux;

pub use testkit::programs as tools;
pub use testkit::wait::STEP_TIMEOUT;
pub use testkit::{backends, client, dns, etcd, ports, wait};

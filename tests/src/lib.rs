//! End-to-end harness: starts the real binaries on free ports in temp dirs, against real
//! backends, a real etcd and a real MariaDB, and gives tests small typed handles on them.
//!
//! Layout:
//! - [`ports`]: free-port probing (TCP and UDP), never handing out the same port twice.
//! - [`wait`]: polling with a deadline (the only way tests wait for anything).
//! - [`tools`]: locating system programs (etcd, mariadbd, ...); a missing one fails the test
//!   with the package to install.
//! - [`gateway`]: [`gateway::Gateway`], the real `apisix-gateway` process in a temp prefix, with
//!   Admin API helpers and lifecycle controls (kill -9, restart, SIGTERM, reload).
//! - [`backends`]: TCP echo / greeting servers and a UDP echo server that count connections.
//! - [`client`]: TCP client helpers with timeouts (read a greeting, echo round trips, expect
//!   the gateway to close the connection).
//! - [`tmux`]: a terminal program in a detached tmux session (screen capture, keys).
//! - [`mariadb`]: a throwaway MariaDB server and the `mariadb` command-line client.
//! - [`etcd`]: a throwaway single-node etcd.
//!
//! Every wait has a timeout; no sleep is used as synchronisation.

pub mod backends;
pub mod client;
pub mod etcd;
pub mod gateway;
pub mod mariadb;
pub mod ports;
pub mod tmux;
pub mod tools;
pub mod wait;

/// The default time limit for one network step (connect, read a reply, an Admin API call).
pub const STEP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

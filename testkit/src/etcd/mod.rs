//! Real etcd for the store tests (package `etcd-server`; a missing binary fails the test
//! naming it).
//!
//! - [`server`]: [`EtcdServer`], one member on free ports in a temp dir, plain or TLS; kill
//!   and start again on the same data; keys through the v3 JSON gateway.
//! - [`cluster`]: [`EtcdCluster`], three members on loopback with kill -9 / restart of single
//!   members and leader discovery.
//! - [`swallow_relay`]: [`SwallowRelay`], a TCP relay in front of one member that can swallow
//!   the member's answers.

pub mod cluster;
pub mod server;
pub mod swallow_relay;

pub use cluster::EtcdCluster;
pub use server::EtcdServer;
pub use swallow_relay::{endpoint_addr, SwallowRelay};

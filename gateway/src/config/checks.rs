//! Cross-section rules, run after every section was read: role rules, the servers each mode
//! turns off, the stream `prometheus` plugin's export server, and port conflicts.
//!
//! Port conflicts use APISIX's text, `<name> <port> conflicts with <other>`, with APISIX's
//! names (`admin port`, `control port`, `prometheus port`); like APISIX those three compare
//! ports only. Stream listeners (`stream_proxy.tcp port`, `stream_proxy.udp port`) are ours:
//! they conflict when the ports are equal and the addresses overlap (equal, or one is a
//! wildcard); UDP only conflicts with UDP.

use std::net::SocketAddr;

use serde_json::Value;

use super::reader::Reader;
use super::{Config, ProxyMode, Role};

/// Applies the rules; forced settings are changed in `config` (with a warning when the user
/// asked otherwise), violations are errors.
pub fn run(r: &mut Reader<'_>, config: &mut Config) {
    roles(r, config);
    if config.proxy_mode == ProxyMode::Stream && config.deployment.role != Role::ControlPlane {
        if config.admin.enabled || config.control.enabled {
            r.warn(
                "apisix.proxy_mode: \"stream\" has no http subsystem, so the Admin API and the \
                 Control API are off (as in APISIX); use \"http&stream\" to keep them",
            );
        }
        config.admin.enabled = false;
        config.control.enabled = false;
    }
    if config.stream.plugins.iter().any(|p| p == "prometheus")
        && !config.prometheus.enable_export_server
    {
        r.error("L4 prometheus metric should be exposed via export server");
    }
    ports(r, config);
}

fn roles(r: &mut Reader<'_>, config: &mut Config) {
    match config.deployment.role {
        Role::DataPlane => {
            if matches!(r.value("apisix.enable_admin"), Some(Value::Bool(true))) {
                r.warn("apisix.enable_admin: ignored, a data_plane never serves the Admin API");
            }
            config.admin.enabled = false;
        }
        Role::ControlPlane => {
            if matches!(r.value("apisix.enable_admin"), Some(Value::Bool(false))) {
                r.warn("apisix.enable_admin: ignored, a control_plane always serves the Admin API");
            }
            config.admin.enabled = true;
            if config.proxy_mode.stream_enabled()
                && !(config.stream.tcp.is_empty() && config.stream.udp.is_empty())
            {
                r.error(
                    "apisix.stream_proxy: a control_plane does not proxy traffic; remove the \
                     stream listeners or use deployment.role traditional or data_plane",
                );
            }
        }
        Role::Traditional => {}
    }
}

/// One listening port and who owns it.
struct Claim {
    name: &'static str,
    addr: SocketAddr,
    udp: bool,
    /// APISIX's servers compare ports only.
    port_only: bool,
}

fn clashes(a: &Claim, b: &Claim) -> bool {
    if a.udp != b.udp || a.addr.port() != b.addr.port() {
        return false;
    }
    if a.port_only && b.port_only {
        return true;
    }
    let (x, y) = (a.addr.ip(), b.addr.ip());
    x == y || x.is_unspecified() || y.is_unspecified()
}

fn ports(r: &mut Reader<'_>, config: &Config) {
    let mut claims: Vec<Claim> = Vec::new();
    let mut claim = |r: &mut Reader<'_>, new: Claim| {
        if let Some(owner) = claims.iter().find(|c| clashes(c, &new)) {
            r.error(format!(
                "{} {} conflicts with {}",
                new.name,
                new.addr.port(),
                owner.name
            ));
            return;
        }
        claims.push(new);
    };
    let server = |name, addr| Claim {
        name,
        addr,
        udp: false,
        port_only: true,
    };
    if config.admin.enabled {
        claim(r, server("admin port", config.admin.listen));
    }
    if config.control.enabled {
        claim(r, server("control port", config.control.listen));
    }
    if config.prometheus.enable_export_server {
        claim(r, server("prometheus port", config.prometheus.export_addr));
    }
    for listen in &config.stream.tcp {
        claim(
            r,
            Claim {
                name: "stream_proxy.tcp port",
                addr: listen.addr,
                udp: false,
                port_only: false,
            },
        );
    }
    for addr in &config.stream.udp {
        claim(
            r,
            Claim {
                name: "stream_proxy.udp port",
                addr: *addr,
                udp: true,
                port_only: false,
            },
        );
    }
}
